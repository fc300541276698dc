// Bench section "settle": online settlements end to end through the real
// settled (cashier socket → card re-check → insurer-sim over mutual TLS →
// ledger), 1 and 32 cashier connections, beside raw SQLite commits and the
// simulator's own time for the same calls, all measured in the same run.
#include "tools/bench/bench.hpp"

#include "offline/msgid.hpp"
#include "offline/sqlite.hpp"
#include "protocol/insurer/client.hpp"
#include "protocol/insurer/codecs.hpp"
#include "protocol/json.hpp"
#include "tests/support/pcsc_harness.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace settle::bench {
namespace {

using json::Json;
using namespace std::chrono_literals;

constexpr const char* institution = "H11010500001";
constexpr const char* secret = "bench-settle-secret";
constexpr const char* password = "Bench-Cashier-2026";
constexpr int windows = 2;  // vpcd offers two readers: W01 and W02

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::int64_t unix_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string id_number(const std::string& first17) {
  static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static const char check[] = "10X98765432";
  int sum = 0;
  for (std::size_t i = 0; i < 17; ++i) sum += (first17[i] - '0') * weights[i];
  return first17 + check[sum % 11];
}

struct Person {
  std::string card_no, card_sn, id_no, name, psn_no;
};

Person person(int n) {
  return Person{fmt::format("S{:08}", n + 1), fmt::format("5E77{:012X}", n + 1),
                id_number(fmt::format("11010519700101{:03}", n + 1)), fmt::format("结算{}", n + 1), ""};
}

// A child process; SIGTERM (then SIGKILL after 10 s) and reaped when dropped.
class Child {
 public:
  Child(std::vector<std::string> args, const std::string& out, const std::string& err, const std::string& cwd = "") {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
    const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error(fmt::format("cannot start {}", args[0]));
  }
  ~Child() { stop(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  // Exit status, or -1 if still running after `wait`.
  int wait_exit(std::chrono::milliseconds wait) {
    const auto until = Clock::now() + wait;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() > until) return -1;
      std::this_thread::sleep_for(10ms);
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  }
  bool running() {
    int status = 0;
    return pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == 0;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    if (wait_exit(10s) < 0 && pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

int run_tool(std::vector<std::string> args, const std::string& out) {
  Child c(std::move(args), out, out + ".err");
  const int rc = c.wait_exit(60s);
  if (rc != 0) throw std::runtime_error(fmt::format("{} failed: {}", out, slurp(out + ".err")));
  return rc;
}

// Waits until `file` matches `re`; returns the match.
std::smatch wait_for(const std::string& file, const std::regex& re, Child& c, const std::string& what) {
  for (int i = 0; i < 3000; ++i) {
    static thread_local std::string text;
    text = slurp(file);
    std::smatch m;
    if (std::regex_search(text, m, re)) return m;
    if (!c.running()) throw std::runtime_error(what + " exited at start: " + text);
    std::this_thread::sleep_for(10ms);
  }
  throw std::runtime_error(what + " did not become ready");
}

// One cashier connection: newline-delimited JSON-RPC 2.0 over the Unix socket.
class Cashier {
 public:
  explicit Cashier(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("cannot connect to " + path);
  }
  ~Cashier() {
    if (fd_ >= 0) ::close(fd_);
  }
  Cashier(const Cashier&) = delete;
  Cashier& operator=(const Cashier&) = delete;

  // The result; throws with the error's text otherwise.
  Json call(const std::string& method, const Json& params) {
    const std::int64_t id = ++next_id_;
    const std::string line =
        Json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump() + "\n";
    for (std::size_t off = 0; off < line.size();) {
      const ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("cashier socket closed while sending");
      off += static_cast<std::size_t>(n);
    }
    for (;;) {
      const auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        auto j = json::parse(std::string_view(buf_).substr(0, nl), "answer");
        buf_.erase(0, nl + 1);
        if (!j) throw std::runtime_error("unreadable answer");
        if (!j->contains("id") || (*j)["id"] != id) continue;  // a notification
        if (j->contains("error")) throw std::runtime_error(method + ": " + (*j)["error"].dump());
        return (*j)["result"];
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 60'000) <= 0) throw std::runtime_error(method + ": no answer within 60 s");
      char tmp[8192];
      const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) throw std::runtime_error(method + ": connection closed");
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string buf_;
  std::int64_t next_id_ = 0;
};

// The same lines for every visit: one class A, one class B line.
const Json& visit_lines() {
  static const Json lines = Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "25.00"}},
                                         Json{{"code", "86900001"}, {"name", "阿莫西林胶囊"}, {"class", "B"}, {"amount", "48.60"}}});
  return lines;
}

// Raw SQLite: one INSERT per IMMEDIATE transaction, WAL, synchronous=FULL (as bench ledger).
class RawSqlite {
 public:
  bool open(const std::string& path) {
    auto db = sql::Db::open(path);
    if (!db) return fmt::print(stderr, "raw: {}\n", db.error().message), false;
    db_ = std::move(db).value();
    auto setup = db_.exec(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
        "CREATE TABLE t(id INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, payload TEXT NOT NULL)");
    if (!setup) return fmt::print(stderr, "raw: {}\n", setup.error().message), false;
    for (int i = 0; i < 20; ++i) commit();
    return true;
  }
  bool commit() {
    auto tx = sql::Transaction::begin(db_, sql::TxKind::immediate);
    if (!tx) return false;
    auto st = db_.cached("INSERT INTO t(request_id, payload) VALUES(?1, ?2)");
    if (!st || !(*st)->bind_all(fmt::format("raw-{}", ++n_), "payload-hash").ok() || !(*st)->run().ok()) return false;
    return tx->commit().ok();
  }

 private:
  sql::Db db_;
  std::int64_t n_ = 0;
};

// The simulator's time for the calls one settlement makes (1101, 2201, 2204,
// 2207), measured as the insurer bench does: a pooled mutual-TLS client of
// our own, one call after the other, the same inputs as the daemon's.
class DirectInsurer {
 public:
  DirectInsurer(const insurer::ClientConfig& cfg, const Person& p) : person_(p) {
    auto c = insurer::SyncClient::create(cfg);
    if (!c) throw std::runtime_error(c.error().message);
    client_ = std::move(*c);
    // The insurer wants the institution's code in front; starting from a year
    // far ahead keeps these msgids apart from the daemon's (which use the clock).
    auto m = ledger::MsgidAllocator::create(institution, std::string(institution) + "20990101000000" + "0001");
    if (!m) throw std::runtime_error(m.error().message);
    msgids_.emplace(std::move(*m));
    insurer::SignIn::Input in{"bench", "00:00:00:00:00:00", "127.0.0.1"};
    sign_no_ = call<insurer::SignIn>(in).sign_no;
  }

  void settle_once() {
    insurer::PersonInfo::Input q;
    q.mdtrt_cert_type = std::string(insurer::cert_type_card);
    q.mdtrt_cert_no = person_.card_no;
    q.card_sn = person_.card_sn;
    q.certno = person_.id_no;
    q.psn_name = person_.name;
    const auto who = call<insurer::PersonInfo>(q);
    const std::string psn_no = who.baseinfo.psn_no;
    const std::string insutype = who.insuinfo.front().insutype;
    ++visits_;
    const std::string now_text = insurer::inf_time_text(unix_now_s());
    insurer::OutpatientRegister::Input reg;
    reg.psn_no = psn_no;
    reg.insutype = insutype;
    reg.mdtrt_cert_type = std::string(insurer::cert_type_card);
    reg.mdtrt_cert_no = person_.card_no;
    reg.med_type = "11";
    reg.ipt_otp_no = fmt::format("DIRECT{}", visits_);
    reg.begntime = now_text;
    reg.dept_code = "OP";
    reg.dept_name = "门诊";
    const auto opened = call<insurer::OutpatientRegister>(reg);
    insurer::FeeUploadInput up;
    Amount total;
    int sn = 0;
    for (const Json& l : visit_lines()) {
      insurer::FeeDetail d;
      d.feedetl_sn = std::to_string(++sn);
      d.mdtrt_id = opened.mdtrt_id;
      d.psn_no = psn_no;
      d.chrg_bchno = "B1";
      d.fee_ocur_time = now_text;
      d.med_list_codg = l["code"].get<std::string>();
      d.medins_list_codg = d.med_list_codg;
      d.medins_list_name = l["name"].get<std::string>();
      auto a = json::get_amount(l, "amount", "lines");
      if (!a) throw std::runtime_error(a.error().message);
      d.det_item_fee_sumamt = *a;
      d.cnt = "1";
      d.pric = *a;
      d.cls = l["class"] == "A" ? LineClass::a : LineClass::b;
      if (d.cls == LineClass::b) d.selfpay_prop = Ratio::ppm(150'000);  // policy.toml's ratio for 86900001
      total += *a;
      up.feedetail.push_back(std::move(d));
    }
    (void)call<insurer::OutpatientLines>(up);
    insurer::SettleInput s;
    s.psn_no = psn_no;
    s.mdtrt_cert_type = std::string(insurer::cert_type_card);
    s.mdtrt_cert_no = person_.card_no;
    s.med_type = "11";
    s.medfee_sumamt = total;
    s.mdtrt_id = opened.mdtrt_id;
    s.chrg_bchno = "B1";
    s.insutype = insutype;
    s.acct_used_flag = "0";
    s.medins_setl_id = fmt::format("DIRECT-{}", visits_);
    (void)call<insurer::OutpatientSettle>(s);
  }

 private:
  template <class T>
  typename T::Output call(const typename T::Input& in) {
    insurer::RequestHeader h;
    h.infno = std::string(T::infno);
    h.msgid = msgids_->next(ledger::from_seconds(unix_now_s() + 8 * 3600));
    h.mdtrtarea_admvs = "110105";
    h.insuplc_admdvs = "110105";
    h.opter = "bench";
    h.opter_name = "bench";
    h.inf_time = insurer::inf_time_text(unix_now_s());
    h.fixmedins_code = institution;
    h.fixmedins_name = "Bench Hospital";
    h.sign_no = sign_no_;
    const std::string msgid = h.msgid;
    auto o = client_->post(insurer::LinkRequest{insurer::encode_call<T>(h, in), std::string(T::infno), msgid, std::nullopt});
    if (!o.answered()) throw std::runtime_error(fmt::format("{} not answered: {}", T::infno, o.detail));
    auto out = insurer::decode_reply<T>(o.body, msgid);
    if (!out.ok()) throw std::runtime_error(fmt::format("{} refused: {}", T::infno, out.error().message));
    return std::move(*out);
  }

  Person person_;
  std::unique_ptr<insurer::SyncClient> client_;
  std::optional<ledger::MsgidAllocator> msgids_;
  std::string sign_no_;
  int visits_ = 0;
};

struct Run {
  std::string name;
  int connections = 1;
  std::int64_t count = 0;
  double seconds = 0;
  Latencies lat;
  double rate() const { return seconds > 0 ? static_cast<double>(count) / seconds : 0; }
};

// A connection logged in at its window with its own card read.
std::unique_ptr<Cashier> open_window(const std::string& socket, int window) {
  auto c = std::make_unique<Cashier>(socket);
  c->call("session.login", Json{{"operator", fmt::format("c{:03}", window + 1)}, {"password", password},
                                {"window", fmt::format("W{:02}", window + 1)}});
  c->call("card.read", Json{{"timeout_ms", 2000}});
  return c;
}

// Commits from `conns` connections (connection i at window i % 2) for `seconds`.
void commits(Run& run, std::vector<std::unique_ptr<Cashier>>& conns, double seconds, std::atomic<std::int64_t>& seq) {
  std::mutex mu;
  std::string failure;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  {
    std::vector<std::jthread> threads;
    for (auto& c : conns)
      threads.emplace_back([&, cashier = c.get()] {
        Latencies mine;
        std::int64_t n = 0;
        try {
          while (Clock::now() < end) {
            const auto t0 = Clock::now();
            const Json r = cashier->call("settle.commit", Json{{"request_id", fmt::format("bench-{}", ++seq)},
                                                              {"lines", visit_lines()},
                                                              {"use_account", false}});
            mine.add(Clock::now() - t0);
            if (!r.contains("setl_id") || r.value("mode", std::string()) != "online")
              throw std::runtime_error("unexpected answer " + r.dump());
            ++n;
          }
        } catch (const std::exception& e) {
          std::lock_guard lock(mu);
          failure = e.what();
        }
        std::lock_guard lock(mu);
        run.lat.us.insert(run.lat.us.end(), mine.us.begin(), mine.us.end());
        run.count += n;
      });
  }
  run.seconds += std::chrono::duration<double>(Clock::now() - start).count();
  if (!failure.empty()) throw std::runtime_error(failure);
}

// Runs op repeatedly for `seconds`, one at a time.
void timed(Run& run, double seconds, const std::function<void()>& op) {
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end) {
    const auto t0 = Clock::now();
    op();
    run.lat.add(Clock::now() - t0);
    ++run.count;
  }
  run.seconds += std::chrono::duration<double>(Clock::now() - start).count();
}

int run_settle(const Context& ctx) {
  ScratchDir scratch(ctx, "bench-settle");
  const std::string dir = scratch.path();
  const std::string fs = filesystem_type(dir);
  const std::string pki = scratch.file("pki");
  if (std::system(fmt::format("{}/tools/gen-test-pki.sh '{}' >/dev/null", SETTLE_SOURCE_DIR, pki).c_str()) != 0) {
    fmt::print(stderr, "settle: gen-test-pki.sh failed\n");
    return 2;
  }
  // bench settle -- [CONNECTIONS [POOL]]: cashier connections of the wide run (32),
  // settled's pooled TLS connections to the insurer ([insurer] pool_size, 16).
  const int many = ctx.args.empty() ? 32 : std::max(2, std::atoi(ctx.args[0].c_str()));
  const int pool = ctx.args.size() < 2 ? 16 : std::max(1, std::atoi(ctx.args[1].c_str()));
  std::vector<Run> runs(4);
  Run& raw = runs[0];
  Run& direct = runs[1];
  Run& one = runs[2];
  Run& wide = runs[3];
  raw.name = "raw SQLite, 1 insert per transaction";
  direct.name = "insurer-sim alone: 1101+2201+2204+2207";
  one.name = "settle.commit, 1 connection";
  wide.name = fmt::format("settle.commit, {} connections", many);
  wide.connections = many;
  try {
    // ---- the insurer simulator, with one person per window
    std::vector<Person> persons;
    for (int w = 0; w < windows; ++w) {
      persons.push_back(person(w));
      const Person& p = persons.back();
      run_tool({SETTLE_SIM_BINARY, "add-person", "--db", dir + "/insurer.db", "--card-no", p.card_no, "--card-sn",
                p.card_sn, "--id-no", p.id_no, "--name", p.name, "--insutype", "310", "--balance", "500.00",
                "--deductible-used", "1800.00"},
               dir + "/add-person.out");
    }
    Child sim({SETTLE_SIM_BINARY, "serve", "--db", dir + "/insurer.db", "--listen", "127.0.0.1:0", "--control",
               "127.0.0.1:0", "--cert", pki + "/server.crt", "--key", pki + "/server.key", "--ca", pki + "/ca.crt",
               "--secret", secret, "--paasid", institution, "--policy",
               std::string(SETTLE_SOURCE_DIR) + "/docs/examples/policy.toml"},
              dir + "/insurer.out", dir + "/insurer.err");
    const auto m = wait_for(dir + "/insurer.out", std::regex(R"(listening on 127\.0\.0\.1:(\d+) control)"), sim,
                            "insurer-sim");
    const int sim_port = std::stoi(m[1].str());

    // ---- pcscd and one virtual card per reader
    testing::Pcscd pcscd;
    std::vector<std::unique_ptr<testing::VirtualCard>> cards;
    for (int w = 0; w < windows; ++w) {
      const Person& p = persons[static_cast<std::size_t>(w)];
      cards.push_back(std::make_unique<testing::VirtualCard>(
          w, std::vector<std::string>{"--card-no", p.card_no, "--card-sn", p.card_sn, "--id-no", p.id_no, "--name",
                                      p.name, "--pin", "123456"}));
    }

    // ---- settled
    std::ofstream(dir + "/secret") << secret << "\n";
    std::ofstream(dir + "/password") << password << "\n";
    std::ofstream(dir + "/settled.toml") << fmt::format(
        R"([daemon]
data_dir = "data"
policy = "{src}/docs/examples/policy.toml"
[institution]
code = "{inst}"
name = "Bench Hospital"
area = "110105"
insurer_area = "110105"
[insurer]
host = "127.0.0.1"
port = {port}
server_name = "insurer.test"
ca_file = "{pki}/ca.crt"
cert_file = "{pki}/client.crt"
key_file = "{pki}/client.key"
paasid = "{inst}"
secret_file = "secret"
pool_size = {pool}
[readers.windows]
"W01" = "{r0}"
"W02" = "{r1}"
)",
        fmt::arg("src", SETTLE_SOURCE_DIR), fmt::arg("inst", institution), fmt::arg("port", sim_port),
        fmt::arg("pki", pki), fmt::arg("pool", pool), fmt::arg("r0", testing::vpcd_reader_name(0)), fmt::arg("r1", testing::vpcd_reader_name(1)));
    std::filesystem::create_directories(dir + "/data");
    for (int w = 0; w < windows; ++w)
      run_tool({SETTLE_SETTLECTL_BINARY, "operator", "add", "--ledger", dir + "/data/ledger.db", "--name",
                fmt::format("c{:03}", w + 1), "--role", "cashier", "--password-file", dir + "/password"},
               dir + "/settlectl.out");
    Child daemon({SETTLE_SETTLED_BINARY, "--config", dir + "/settled.toml"}, dir + "/settled.out",
                 dir + "/settled.log", dir);
    (void)wait_for(dir + "/settled.out", std::regex("ready on"), daemon, "settled");
    const std::string socket = dir + "/data/cashier.sock";

    insurer::ClientConfig cfg;
    cfg.host = "127.0.0.1";
    cfg.port = static_cast<std::uint16_t>(sim_port);
    cfg.server_name = "insurer.test";
    cfg.ca_file = pki + "/ca.crt";
    cfg.cert_file = pki + "/client.crt";
    cfg.key_file = pki + "/client.key";
    cfg.paasid = institution;
    cfg.secret = secret;
    cfg.pool_size = 4;
    DirectInsurer sim_alone(cfg, persons[0]);
    RawSqlite raw_db;
    if (!raw_db.open(scratch.file("raw.db"))) return 2;

    std::atomic<std::int64_t> seq{0};
    std::vector<std::unique_ptr<Cashier>> single;
    single.push_back(open_window(socket, 0));
    // Warm up: the daemon's sign-in, pooled TLS connections, caches.
    for (int i = 0; i < 5; ++i) sim_alone.settle_once();
    {
      Run warm;
      commits(warm, single, 0.3, seq);
    }
    // Raw commits, the simulator alone and the 1-connection settlements
    // alternate in short slices so that a neighbour's I/O burst weighs on all.
    const int slices = std::max(1, static_cast<int>(ctx.seconds / 0.5));
    const double slice = ctx.seconds / slices;
    for (int k = 0; k < slices; ++k) {
      timed(raw, slice, [&] {
        if (!raw_db.commit()) throw std::runtime_error("raw SQLite commit failed");
      });
      timed(direct, slice, [&] { sim_alone.settle_once(); });
      commits(one, single, slice, seq);
    }
    // The wide run: `many` connections, half at each window, each with its own login and card read.
    std::vector<std::unique_ptr<Cashier>> conns;
    for (int i = 0; i < many; ++i) conns.push_back(open_window(socket, i % windows));
    commits(wide, conns, ctx.seconds, seq);
    conns.clear();
    single.clear();
    // One more raw slice after the wide run (the disk may have drifted).
    timed(raw, slice, [&] {
      if (!raw_db.commit()) throw std::runtime_error("raw SQLite commit failed");
    });
    daemon.stop();
    sim.stop();
  } catch (const std::exception& e) {
    fmt::print(stderr, "settle: {}\n  (files in {})\n", e.what(), dir);
    return 2;
  }

  const double raw_p50 = raw.lat.percentile_ms(50);
  const double engine_p50 = one.lat.percentile_ms(50) - direct.lat.percentile_ms(50);
  std::vector<Target> targets{
      {fmt::format("{} connections settlements/s vs raw commits/s", many), wide.rate() / raw.rate(), ">=", 3.0},
      {"engine share p50 vs raw commit p50", engine_p50 / raw_p50, "<=", 1.5},
  };
  bool pass = true;
  for (const auto& t : targets) pass = pass && t.pass();

  if (ctx.json) {
    std::string out = fmt::format(R"({{"section":"settle","dir":"{}","fs":"{}","seconds":{},"runs":[)", dir, fs, ctx.seconds);
    for (std::size_t i = 0; i < runs.size(); ++i) {
      Run& r = runs[i];
      out += fmt::format(R"({}{{"name":"{}","connections":{},"count":{},"per_s":{:.1f},"p50_ms":{:.3f},"p99_ms":{:.3f}}})",
                         i ? "," : "", r.name, r.connections, r.count, r.rate(), r.lat.percentile_ms(50),
                         r.lat.percentile_ms(99));
    }
    out += fmt::format(R"(],"engine_share_p50_ms":{:.3f},"targets":[)", engine_p50);
    for (std::size_t i = 0; i < targets.size(); ++i)
      out += fmt::format(R"({}{{"what":"{}","ratio":{:.2f},"op":"{}","limit":{},"pass":{}}})", i ? "," : "",
                         targets[i].what, targets[i].value, targets[i].op, targets[i].limit, targets[i].pass());
    out += fmt::format(R"(],"pass":{}}})", pass);
    fmt::print("{}\n", out);
    return pass ? 0 : 1;
  }
  fmt::print("  scratch dir {} ({}), {:.1f} s per measurement; settled (insurer pool_size {}), insurer-sim\n"
             "  (--sync full) and this process share the machine; connections alternate between windows W01 and W02\n\n",
             dir, fs, ctx.seconds, pool);
  std::vector<std::vector<std::string>> rows{{"measurement", "count", "per s", "p50 ms", "p99 ms"}};
  for (Run& r : runs)
    rows.push_back({r.name, fmt::format("{}", r.count), fmt::format("{:.0f}", r.rate()),
                    fmt::format("{:.3f}", r.lat.percentile_ms(50)), fmt::format("{:.3f}", r.lat.percentile_ms(99))});
  rows.push_back({"engine share (1 connection p50 - insurer-sim alone p50)", "", "", fmt::format("{:.3f}", engine_p50), ""});
  print_table(rows);
  fmt::print("\n");
  print_targets(targets);
  return pass ? 0 : 1;
}

}  // namespace

SETTLE_BENCH_SECTION("settle", "online settlements through settled's socket (1 and 32 connections) vs raw commits",
                     run_settle);

}  // namespace settle::bench
