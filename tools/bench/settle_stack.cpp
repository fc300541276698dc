// The settlement stack the bench's end-to-end sections share (see
// settle_stack.hpp): child processes, pcscd and virtual cards, the cashier
// client, raw SQLite commits (one row, or a settlement's rows through the
// ledger's statements), timed loops and the simulator's control endpoint.
#include "tools/bench/settle_stack.hpp"
#include "tools/bench/raw_ops.hpp"

#include "tests/support/pcsc_harness.hpp"
#include "tools/insurer-sim/control_client.hpp"

#include "offline/ledger.hpp"
#include "offline/ledger_ops.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace settle::bench::stack {

using namespace std::chrono_literals;

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

namespace {

std::string id_number(const std::string& first17) {
  static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static const char check[] = "10X98765432";
  int sum = 0;
  for (std::size_t i = 0; i < 17; ++i) sum += (first17[i] - '0') * weights[i];
  return first17 + check[sum % 11];
}

}  // namespace

Person person(int n) {
  return Person{fmt::format("S{:08}", n + 1), fmt::format("5E77{:012X}", n + 1),
                id_number(fmt::format("11010519700101{:03}", n + 1)), fmt::format("结算{}", n + 1), ""};
}

// ---- Child ---------------------------------------------------------------------------

Child::Child(std::vector<std::string> args, const std::string& out, const std::string& err, const std::string& cwd) {
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

int Child::wait_exit(std::chrono::milliseconds wait) {
  const auto until = Clock::now() + wait;
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (Clock::now() > until) return -1;
    std::this_thread::sleep_for(10ms);
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

bool Child::running() {
  int status = 0;
  return pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == 0;
}

void Child::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  if (wait_exit(10s) < 0 && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  pid_ = -1;
}

int run_tool(std::vector<std::string> args, const std::string& out) {
  Child c(std::move(args), out, out + ".err");
  const int rc = c.wait_exit(60s);
  if (rc != 0) throw std::runtime_error(fmt::format("{} failed: {}", out, slurp(out + ".err")));
  return rc;
}

std::smatch wait_for(const std::string& file, const std::regex& re, Child& c, const std::string& what,
                     std::chrono::seconds limit) {
  for (const auto until = Clock::now() + limit; Clock::now() < until;) {
    static thread_local std::string text;
    text = slurp(file);
    std::smatch m;
    if (std::regex_search(text, m, re)) return m;
    if (!c.running()) throw std::runtime_error(what + " exited at start: " + text);
    std::this_thread::sleep_for(10ms);
  }
  throw std::runtime_error(what + " did not become ready");
}

// ---- Cashier -------------------------------------------------------------------------

Cashier::Cashier(const std::string& path) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    throw std::runtime_error("cannot connect to " + path);
}

Cashier::~Cashier() {
  if (fd_ >= 0) ::close(fd_);
}

Json Cashier::call(const std::string& method, const Json& params) {
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

const Json& visit_lines() {
  static const Json lines = Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "25.00"}},
                                         Json{{"code", "86900001"}, {"name", "阿莫西林胶囊"}, {"class", "B"}, {"amount", "48.60"}}});
  return lines;
}

// ---- RawSqlite -----------------------------------------------------------------------

bool RawSqlite::open(const std::string& path) {
  auto db = sql::Db::open(path, {.vfs = std::string(kBareVfs)});
  if (!db) return fmt::print(stderr, "raw: {}\n", db.error().message), false;
  db_ = std::move(db).value();
  auto setup = db_.exec(
      "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
      "CREATE TABLE t(id INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, payload TEXT NOT NULL)");
  if (!setup) return fmt::print(stderr, "raw: {}\n", setup.error().message), false;
  for (int i = 0; i < 20; ++i) commit();
  return true;
}

bool RawSqlite::commit() {
  auto tx = sql::Transaction::begin(db_, sql::TxKind::immediate);
  if (!tx) return false;
  auto st = db_.cached("INSERT INTO t(request_id, payload) VALUES(?1, ?2)");
  if (!st || !(*st)->bind_all(fmt::format("raw-{}", ++n_), "payload-hash").ok() || !(*st)->run().ok()) return false;
  return tx->commit().ok();
}

bool RawLedgerRows::open(const std::string& path) {
  {
    auto made = ledger::Ledger::open(path);
    if (!made) return fmt::print(stderr, "raw rows: {}\n", made.error().message), false;
  }  // closed again: the rows are written on a connection of this thread's own,
     // through SQLite's own VFS as every raw operation (the ledger's writer gathers its WAL writes)
  auto db = ledger::open_connection(path, {.mode = sql::OpenMode::read_write, .vfs = std::string(kBareVfs)});
  if (!db) return fmt::print(stderr, "raw rows: {}\n", db.error().message), false;
  db_ = std::move(db).value();
  // The writer's own settings.
  if (auto setup = ledger::configure_writer(db_); !setup)
    return fmt::print(stderr, "raw rows: {}\n", setup.error().message), false;
  for (int i = 0; i < 10; ++i)
    if (!settle(true)) return false;
  return true;
}

namespace {
bool rows_failed(const sql::DbError& e) { return fmt::print(stderr, "raw rows: {}\n", e.message), false; }
}  // namespace

bool RawLedgerRows::claim() {
  ledger::Request r;
  r.request_id = fmt::format("raw-rows-{}", ++n_);
  r.method = "settle.commit";
  r.payload_hash = std::string(64, 'a');
  r.operator_id = "c001";
  r.window_id = "W01";
  r.created_at_ms = unix_now_s() * 1000;
  auto tx = sql::Transaction::begin(db_, sql::TxKind::immediate);
  if (!tx) return rows_failed(tx.error());
  if (auto q = ledger::record_request(db_, r); !q) return rows_failed(q.error());
  if (auto c = tx->commit(); !c) return rows_failed(c.error());
  request_id_ = r.request_id;
  return true;
}

bool RawLedgerRows::outcome(bool online) {
  const std::int64_t i = n_;
  const std::int64_t at = unix_now_s() * 1000;
  auto tx = sql::Transaction::begin(db_, sql::TxKind::immediate);
  if (!tx) return rows_failed(tx.error());
  ledger::Settlement st;
  st.request_id = request_id_;
  st.window_id = "W01";
  st.operator_id = "c001";
  st.card_no = "110101199001011234";
  st.card_sn = "CSN0001";
  st.psn_no = "11000019900101123400";
  st.insutype = "310";
  st.total = Amount::fen(7'360);
  st.fund = Amount::fen(4'000);
  st.cash = Amount::fen(3'360);
  st.inscp = st.total;
  st.receipt_no = "R-" + request_id_;
  st.created_at_ms = at;
  st.clearing_date = "2026-12-06";
  st.insuplc_admdvs = "110105";
  if (online) {
    const auto message = [&](const char* infno, int k) {
      ledger::Message m;
      m.msgid = fmt::format("{}{:014}{:04}", institution, i, k);
      m.infno = infno;
      m.request_id = request_id_;
      m.psn_no = st.psn_no;
      m.created_at_ms = at;
      m.updated_at_ms = at;
      return m;
    };
    for (const auto& [infno, k] : {std::pair{"2201", 1}, std::pair{"2204", 2}}) {
      ledger::Message q = message(infno, k);
      q.state = ledger::MessageState::answered;
      q.infcode = 0;
      if (auto w = ledger::record_query(db_, q); !w) return rows_failed(w.error());
    }
    const ledger::Message m = message("2207", 3);
    if (auto w = ledger::record_message(db_, m); !w) return rows_failed(w.error());
    if (auto w = ledger::mark_answered(db_, m.msgid, at, 0); !w) return rows_failed(w.error());
    st.msgid = m.msgid;
    st.insurer_setl_id = fmt::format("S{}", i);
    st.mdtrt_id = fmt::format("M{}", i);
  } else {
    st.mode = ledger::Mode::offline;
    st.state = ledger::SettlementState::offline_pending;
    st.offline_reason = "line_down";
  }
  const std::vector<ledger::SettlementLine> lines{
      {"110200001", "普通门诊诊查费", ledger::LineClass::a, Amount::fen(2'500), Ratio::ppm(0)},
      {"86900001", "阿莫西林胶囊", ledger::LineClass::b, Amount::fen(4'860), Ratio::ppm(100'000)}};
  auto setl = ledger::record_settlement(db_, st, lines);
  if (!setl) return rows_failed(setl.error());
  if (!online) {
    const std::string payload = fmt::format(R"({{"local_id":"{}"}})", request_id_);
    if (auto q = ledger::enqueue_outbox(db_, ledger::OutboxKind::offline_upload, *setl, std::nullopt, payload, at); !q)
      return rows_failed(q.error());
  }
  const std::string answer = fmt::format(
      R"({{"setl_id":"{}","mode":"{}","receipt_no":"{}","total":"73.60","fund":"40.00","account":"0.00","cash":"33.60"}})",
      *setl, online ? "online" : "offline", st.receipt_no);
  if (auto a = ledger::answer_request(db_, request_id_, answer, at); !a) return rows_failed(a.error());
  ledger::AuditEntry a;
  a.at_ms = at;
  a.operator_name = "c001";
  a.window = "W01";
  a.action = "settle.commit";
  a.detail = "settled 73.60";
  a.object = fmt::format("setl_id {}", *setl);
  a.outcome = "ok";
  a.source = "uid:0";
  if (auto w = ledger::append_audit(db_, a); !w) return rows_failed(w.error());
  if (auto c = tx->commit(); !c) return rows_failed(c.error());
  return true;
}

void first_login(const std::string& dir, const std::string& socket, const std::string& name) {
  run_tool({SETTLE_SETTLECTL_BINARY, "password", "--socket", socket, "--operator", name, "--window", "W01",
            "--password-file", dir + "/initial-password", "--new-password-file", dir + "/password"},
           dir + "/settlectl.out");
}

// ---- loops ---------------------------------------------------------------------------

std::unique_ptr<Cashier> open_window(const std::string& socket, int window) {
  auto c = std::make_unique<Cashier>(socket);
  c->call("session.login", Json{{"operator", fmt::format("c{:03}", window + 1)}, {"password", password},
                                {"window", fmt::format("W{:02}", window + 1)}});
  c->call("card.read", Json{{"timeout_ms", 2000}});
  return c;
}

Pace::Pace(std::size_t k, double think_s) : rng_(0x5e771e + k), think_(1.0 / think_s) {}

bool Pace::wait(Clock::time_point end) {
  const auto wake = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(think_(rng_)));
  if (wake >= end) return false;
  std::this_thread::sleep_until(wake);
  return true;
}

void each_window(Run& run, std::size_t count, double seconds,
                 const std::function<void(std::size_t k, Clock::time_point end, Latencies& mine)>& body) {
  std::mutex mu;
  std::string failure;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  {
    std::vector<std::jthread> threads;
    for (std::size_t k = 0; k < count; ++k)
      threads.emplace_back([&, k] {
        Latencies mine;
        try {
          body(k, end, mine);
        } catch (const std::exception& e) {
          std::lock_guard lock(mu);
          failure = e.what();
        }
        std::lock_guard lock(mu);
        run.lat.us.insert(run.lat.us.end(), mine.us.begin(), mine.us.end());
        run.count += static_cast<std::int64_t>(mine.us.size());
      });
  }
  run.seconds += std::chrono::duration<double>(Clock::now() - start).count();
  if (!failure.empty()) throw std::runtime_error(failure);
}

void commits(Run& run, std::vector<std::unique_ptr<Cashier>>& conns, double seconds, std::atomic<std::int64_t>& seq,
             const std::string& mode, std::optional<std::int64_t> limit, double think_s) {
  std::atomic<std::int64_t> left{limit.value_or(0)};
  each_window(run, conns.size(), seconds, [&](std::size_t k, Clock::time_point end, Latencies& mine) {
    Cashier* cashier = conns[k].get();
    std::optional<Pace> pace;
    if (think_s > 0) pace.emplace(k, think_s);
    while (limit ? left.fetch_sub(1) > 0 : Clock::now() < end) {
      if (pace && !pace->wait(limit ? Clock::time_point::max() : end)) break;
      const auto t0 = Clock::now();
      const Json r = cashier->call("settle.commit", Json{{"request_id", fmt::format("bench-{}", ++seq)},
                                                        {"lines", visit_lines()},
                                                        {"use_account", false}});
      const auto took = Clock::now() - t0;
      // Counted only when the answer is the expected one.
      if (!r.contains("setl_id") || (mode != "any" && r.value("mode", std::string()) != mode))
        throw std::runtime_error("unexpected answer " + r.dump());
      mine.add(took);
    }
  });
}

void timed_by(Run& run, double seconds, const std::function<Clock::duration()>& op) {
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end) {
    run.lat.add(op());
    ++run.count;
  }
  run.seconds += std::chrono::duration<double>(Clock::now() - start).count();
}

void timed(Run& run, double seconds, const std::function<void()>& op) {
  timed_by(run, seconds, [&op] {
    const auto t0 = Clock::now();
    op();
    return Clock::now() - t0;
  });
}

double timed_cpu(Run& run, double seconds, const std::function<void()>& op) {
  const double cpu0 = raw::thread_cpu_ms();
  timed(run, seconds, op);
  return raw::thread_cpu_ms() - cpu0;
}

SimProcess start_sim(const std::string& dir, const std::string& pki, const std::string& secret_text,
                     const std::string& sync) {
  SimProcess s;
  s.child = std::make_unique<Child>(
      std::vector<std::string>{SETTLE_SIM_BINARY, "serve", "--db", dir + "/insurer.db", "--listen", "127.0.0.1:0",
                               "--control", "127.0.0.1:0", "--cert", pki + "/server.crt", "--key", pki + "/server.key",
                               "--ca", pki + "/ca.crt", "--secret", secret_text, "--paasid", institution, "--policy",
                               std::string(SETTLE_SOURCE_DIR) + "/docs/examples/policy.toml", "--sync", sync},
      dir + "/insurer.out", dir + "/insurer.err");
  const auto m = wait_for(dir + "/insurer.out",
                          std::regex(R"(listening on 127\.0\.0\.1:(\d+) control 127\.0\.0\.1:(\d+))"), *s.child,
                          "insurer-sim");
  s.port = std::stoi(m[1].str());
  s.control_port = std::stoi(m[2].str());
  return s;
}

std::string settled_toml(const std::string& pki, int sim_port, const std::string& rest) {
  return fmt::format(
      R"([daemon]
data_dir = "data"
policy = "{src}/docs/examples/policy.toml"
[institution]
code = "{inst}"
name = "Bench Hospital"
area = "110105"
insurer_area = "110105"
[cashier]
socket = "data/cashier.sock"
[insurer]
host = "127.0.0.1"
port = {port}
server_name = "insurer.test"
ca_file = "{pki}/ca.crt"
cert_file = "{pki}/client.crt"
key_file = "{pki}/client.key"
paasid = "{inst}"
secret_file = "secret"
{rest})",
      fmt::arg("src", SETTLE_SOURCE_DIR), fmt::arg("inst", institution), fmt::arg("port", sim_port),
      fmt::arg("pki", pki), fmt::arg("rest", rest));
}

// ---- SettleStack ---------------------------------------------------------------------

SettleStack::SettleStack(const std::string& dir, const StackOptions& opts) : dir_(dir), pki_(dir + "/pki") {
  if (std::system(fmt::format("{}/tools/gen-test-pki.sh '{}' >/dev/null", SETTLE_SOURCE_DIR, pki_).c_str()) != 0)
    throw std::runtime_error("gen-test-pki.sh failed");
  // ---- the insurer simulator, with one person per window
  for (int w = 0; w < windows; ++w) {
    persons_.push_back(person(w));
    const Person& p = persons_.back();
    run_tool({SETTLE_SIM_BINARY, "add-person", "--db", dir + "/insurer.db", "--card-no", p.card_no, "--card-sn",
              p.card_sn, "--id-no", p.id_no, "--name", p.name, "--insutype", "310", "--balance", "500.00",
              "--deductible-used", "1800.00"},
             dir + "/add-person.out");
  }
  SimProcess sim = start_sim(dir, pki_, secret, opts.sim_sync);
  sim_ = std::move(sim.child);
  sim_port_ = sim.port;
  control_port_ = sim.control_port;

  // ---- pcscd and one virtual card per reader
  pcscd_ = std::make_unique<testing::Pcscd>();
  for (int w = 0; w < windows; ++w) {
    const Person& p = persons_[static_cast<std::size_t>(w)];
    cards_.push_back(std::make_unique<testing::VirtualCard>(
        w, std::vector<std::string>{"--card-no", p.card_no, "--card-sn", p.card_sn, "--id-no", p.id_no, "--name",
                                    p.name, "--pin", "123456"}));
  }

  // ---- settled
  std::ofstream(dir + "/secret") << secret << "\n";
  std::ofstream(dir + "/password") << password << "\n";
  std::ofstream(dir + "/initial-password") << "Init-" << password << "\n";
  std::ofstream(dir + "/settled.toml") << settled_toml(
      pki_, sim_port_,
      fmt::format("pool_size = {}\n[readers.windows]\n\"W01\" = \"{}\"\n\"W02\" = \"{}\"\n{}\n{}", opts.pool,
                  testing::vpcd_reader_name(0), testing::vpcd_reader_name(1), opts.extra_config,
                  opts.redlist_sync ? "" : "[redlist]\nsync_interval_s = 0\n")) +
      "[metrics]\nlisten = \"127.0.0.1:0\"\n";
  std::filesystem::create_directories(dir + "/data");
  if (!opts.ledger_seed.empty()) {
    // The ledger with what its WAL still holds, and the key its chain
    // checkpoints are signed with (made by settled beside the ledger).
    const std::filesystem::path seed(opts.ledger_seed);
    std::filesystem::copy_file(seed, dir + "/data/ledger.db");
    for (const auto& [from, to] : {std::pair{seed.string() + "-wal", dir + "/data/ledger.db-wal"},
                                   std::pair{(seed.parent_path() / "checkpoint.key").string(), dir + "/data/checkpoint.key"}})
      if (std::filesystem::exists(from)) std::filesystem::copy_file(from, to);
  }
  if (!opts.redlist_seed.empty()) std::filesystem::copy_file(opts.redlist_seed, dir + "/data/redlist.db");
  if (!opts.ledger_seed.empty() || !opts.redlist_seed.empty()) {
    // Copies of years of data leave gigabytes in the page cache to be written
    // back: on the disk before settled starts, not under the runs timed next.
    const int fd = ::open((dir + "/data").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || ::syncfs(fd) != 0) {
      const int err = errno;
      if (fd >= 0) ::close(fd);
      throw std::runtime_error(fmt::format("{}/data: could not write the seeded files to disk: {}", dir,
                                           std::strerror(err)));
    }
    ::close(fd);
  }
  std::vector<std::pair<std::string, std::string>> ops;
  for (int w = 0; w < windows; ++w) ops.emplace_back(fmt::format("c{:03}", w + 1), "cashier");
  if (opts.supervisor) ops.emplace_back("s001", "supervisor");
  for (const auto& [name, role] : ops)
    if (opts.ledger_seed.empty())  // a seeded ledger has them already (bench fixtures adds them)
      run_tool({SETTLE_SETTLECTL_BINARY, "operator", "add", "--ledger", dir + "/data/ledger.db", "--name", name,
                "--role", role, "--initial-password-file", dir + "/initial-password"},
               dir + "/settlectl.out");
  daemon_ = std::make_unique<Child>(std::vector<std::string>{SETTLE_SETTLED_BINARY, "--config", dir + "/settled.toml"},
                                    dir + "/settled.out", dir + "/settled.log", dir);
  // A seeded ledger whose last run did not end in a clean stop is checked before serving (a minute for gigabytes).
  (void)wait_for(dir + "/settled.out", std::regex("ready on"), *daemon_, "settled", opts.ledger_seed.empty() ? 30s : 900s);
  socket_ = dir + "/data/cashier.sock";
  metrics_port_ = std::stoi(wait_for(dir + "/settled.log", std::regex(R"(metrics: serving http://127\.0\.0\.1:(\d+)/)"),
                                     *daemon_, "settled's metrics", 30s)[1]
                                .str());
  for (const auto& [name, role] : ops) first_login(dir, socket_, name);
}

SettleStack::~SettleStack() { stop(); }

void SettleStack::stop() {
  if (daemon_) daemon_->stop();
  cards_.clear();
  pcscd_.reset();
  if (sim_) sim_->stop();
}

namespace {

// utime + stime of a process from /proc/PID/stat, in seconds (0 if gone).
double cpu_seconds(pid_t pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const auto close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  long long ut = 0, st = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) ut = std::stoll(f);
    if (i == 15) st = std::stoll(f);
  }
  return static_cast<double>(ut + st) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace

SettleStack::Cpu SettleStack::cpu() const {
  Cpu c;
  c.settled = daemon_ ? cpu_seconds(daemon_->pid()) : 0;
  c.sim = sim_ ? cpu_seconds(sim_->pid()) : 0;
  c.pcscd = pcscd_ ? cpu_seconds(pcscd_->pid()) : 0;
  for (const auto& card : cards_) c.cards += card ? cpu_seconds(card->pid()) : 0;
  c.bench = cpu_seconds(::getpid());
  return c;
}

SettleStack::Threads SettleStack::threads() const {
  Threads t;
  if (!daemon_) return t;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", daemon_->pid()), ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    // card-1, ledger-read-2, ...: the kind without the number
    if (const auto dash = name.find_last_of('-');
        dash != std::string::npos && dash + 1 < name.size() &&
        name.find_first_not_of("0123456789", dash + 1) == std::string::npos)
      name.erase(dash);
    ThreadFigures& k = t.by_name[name];
    std::ifstream status(task.path() / "status");
    for (std::string line; std::getline(status, line);)
      if (line.starts_with("voluntary_ctxt_switches:") || line.starts_with("nonvoluntary_ctxt_switches:"))
        k.switches += std::atof(line.substr(line.find(':') + 1).c_str());
    // schedstat: time on a CPU, time waiting for one, slices (ns, ns, count)
    std::ifstream sched(task.path() / "schedstat");
    double ran_ns = 0;
    if (sched >> ran_ns) k.cpu_ms += ran_ns / 1e6;
  }
  return t;
}

SettleStack::ThreadFigures& SettleStack::ThreadFigures::operator+=(const ThreadFigures& o) {
  switches += o.switches;
  cpu_ms += o.cpu_ms;
  return *this;
}

SettleStack::ThreadFigures& SettleStack::ThreadFigures::operator-=(const ThreadFigures& o) {
  switches -= o.switches;
  cpu_ms -= o.cpu_ms;
  return *this;
}

ThreadCpu settled_cpu_by_thread(const SettleStack::Threads& before, const SettleStack::Threads& after, std::int64_t count) {
  ThreadCpu out;
  if (count <= 0) return out;
  for (const auto& [kind, total] : after.by_name) {
    const double ms = after.since(before, kind).cpu_ms / static_cast<double>(count);
    out.ms += ms;
    if (ms >= 0.0005) out.parts += fmt::format("{}{} {:.3f}", out.parts.empty() ? "" : ", ", kind, ms);
  }
  return out;
}

void print_threads(const SettleStack::Threads& before, const SettleStack::Threads& after, std::int64_t count,
                   const std::string& run, double handoff_round_trip_us) {
  if (count <= 0) return;
  double switches = 0, handoffs = 0;
  std::string switch_parts;
  for (const auto& [kind, total] : after.by_name) {
    const double n = after.since(before, kind).switches / static_cast<double>(count);
    switches += n;
    if (kind != "card") handoffs += n;
    if (n >= 0.05) switch_parts += fmt::format("{}{} {:.1f}", switch_parts.empty() ? "" : ", ", kind, n);
  }
  const ThreadCpu cpu = settled_cpu_by_thread(before, after, count);
  fmt::print("  settled's context switches per settlement of the {}: {:.1f} ({})\n"
             "  settled's CPU per settlement by thread: {:.3f} ms ({})\n"
             "  a hand-off between two threads and back costs {:.1f} us of CPU on this machine (raw, no target); at\n"
             "  half that a switch, the {:.1f} of threads other than the card's (whose switches are PC/SC round trips,\n"
             "  made by the raw re-check too) are {:.3f} ms of settled's CPU per settlement\n\n",
             run, switches, switch_parts, cpu.ms, cpu.parts, handoff_round_trip_us, handoffs,
             handoffs * handoff_round_trip_us / 2 / 1000.0);
}

SettleStack::Cpu& SettleStack::Cpu::operator+=(const Cpu& o) {
  settled += o.settled;
  sim += o.sim;
  pcscd += o.pcscd;
  cards += o.cards;
  bench += o.bench;
  return *this;
}

SettleStack::Cpu cpu_per_settlement(const SettleStack::Cpu& before, const SettleStack::Cpu& after, std::int64_t count) {
  if (count <= 0) return {};
  const double per = 1000.0 / static_cast<double>(count);
  return {(after.settled - before.settled) * per, (after.sim - before.sim) * per, (after.pcscd - before.pcscd) * per,
          (after.cards - before.cards) * per, (after.bench - before.bench) * per};
}

SettleStack::Writes& SettleStack::Writes::operator+=(const Writes& o) {
  commits += o.commits;
  writes += o.writes;
  wal_bytes += o.wal_bytes;
  return *this;
}

std::string SettleStack::metrics_page() const {
  const sim::ControlHttpReply page = sim::control_request(static_cast<std::uint16_t>(metrics_port_), "GET", "/metrics",
                                                          std::nullopt);
  if (page.status != 200) throw std::runtime_error(fmt::format("settled's /metrics answered HTTP {}", page.status));
  return page.body;
}

SettleStack::Writes SettleStack::ledger_writes() const {
  const std::string page = metrics_page();
  const auto value = [&](const char* name) {
    std::smatch m;
    if (!std::regex_search(page, m, std::regex(std::string("\n") + name + R"( (\d+)\n)")))
      throw std::runtime_error(fmt::format("settled's /metrics has no {}", name));
    return std::stod(m[1].str());
  };
  return Writes{value("settled_ledger_commits_total"), value("settled_ledger_writes_total"),
                value("settled_ledger_wal_bytes_total")};
}

SettleStack::Steps SettleStack::flow_steps() const {
  const std::string page = metrics_page();
  Steps s;
  static const std::regex step(R"re(\nsettled_flow_step_duration_seconds_(sum|count)\{step="([a-z_]+)"\} ([0-9.e+-]+))re");
  for (auto it = std::sregex_iterator(page.begin(), page.end(), step); it != std::sregex_iterator(); ++it) {
    StepFigures& f = s.by_name[(*it)[2].str()];
    ((*it)[1].str() == "sum" ? f.seconds : f.count) = std::stod((*it)[3].str());
  }
  static const std::regex request(
      R"re(\nsettled_request_duration_seconds_(sum|count)\{method="settle\.commit"\} ([0-9.e+-]+))re");
  for (auto it = std::sregex_iterator(page.begin(), page.end(), request); it != std::sregex_iterator(); ++it) {
    StepFigures& f = s.by_name["request"];
    ((*it)[1].str() == "sum" ? f.seconds : f.count) = std::stod((*it)[2].str());
  }
  return s;  // no steps from a settled that does not time them (an older build beside this one)
}

SettleStack::StepFigures& SettleStack::StepFigures::operator+=(const StepFigures& o) {
  seconds += o.seconds;
  count += o.count;
  return *this;
}

SettleStack::StepFigures& SettleStack::StepFigures::operator-=(const StepFigures& o) {
  seconds -= o.seconds;
  count -= o.count;
  return *this;
}

void print_steps(const SettleStack::Steps& before, const SettleStack::Steps& after, std::int64_t count,
                 const std::string& run) {
  if (count <= 0 || after.by_name.size() < 2) return;
  const auto ms = [&](const std::string& step) {
    return after.since(before, step).seconds * 1000.0 / static_cast<double>(count);
  };
  const double request = ms("request");
  double steps = 0;
  std::string parts;
  for (const auto& [step, total] : after.by_name) {
    if (step == "request") continue;
    const double m = ms(step);
    steps += m;
    if (m >= 0.0005) parts += fmt::format("{}{} {:.3f}", parts.empty() ? "" : ", ", step, m);
  }
  fmt::print("  inside settled, the {} (means per settlement, its own metrics): settle.commit received to\n"
             "  answered {:.3f} ms = the steps it waited on {:.3f} ({}) + the rest {:.3f}\n\n",
             run, request, steps, parts, request - steps);
}

void print_writes(const SettleStack::Writes& before, const SettleStack::Writes& after, std::int64_t count,
                  const std::string& run) {
  const double commits = after.commits - before.commits;
  const double n = static_cast<double>(std::max<std::int64_t>(1, count));
  fmt::print("  the ledger's writer in the {}: {:.0f} commits, {:.1f} writes each, {:.1f} per settlement;\n"
             "  {:.1f} KiB of WAL per settlement\n\n",
             run, commits, commits > 0 ? (after.writes - before.writes) / commits : 0.0, (after.writes - before.writes) / n,
             (after.wal_bytes - before.wal_bytes) / 1024 / n);
}

void print_cpu(const SettleStack::Cpu& c, const std::string& run) {
  fmt::print("  CPU per settlement of the {}: settled {:.3f} ms, insurer-sim {:.3f} ms, pcscd {:.3f} ms,\n"
             "  virtual cards {:.3f} ms, this client {:.3f} ms; {:.3f} ms in all (2 cores: at most {:.0f} settlements/s)\n\n",
             run, c.settled, c.sim, c.pcscd, c.cards, c.bench, c.total(), c.total() > 0 ? 2000.0 / c.total() : 0.0);
}

std::string cpu_json(const SettleStack::Cpu& c) {
  return fmt::format(R"("settled":{:.3f},"insurer_sim":{:.3f},"pcscd":{:.3f},"virtual_cards":{:.3f},"bench":{:.3f})",
                     c.settled, c.sim, c.pcscd, c.cards, c.bench);
}

Json SettleStack::sim_control(const std::string& method, const std::string& target, const std::optional<Json>& body) {
  const sim::ControlHttpReply a = sim::control_request(static_cast<std::uint16_t>(control_port_), method, target,
                                                       body ? std::optional<std::string>(body->dump()) : std::nullopt);
  const int status = static_cast<int>(a.status);
  const std::string& b = a.body;
  if (status != 200) throw std::runtime_error(fmt::format("{} {}: HTTP {} {}", method, target, status, b));
  if (b.empty()) return Json();
  auto j = json::parse(b, "control answer");
  if (!j) throw std::runtime_error(fmt::format("{} {}: unreadable answer", method, target));
  return *j;
}

}  // namespace settle::bench::stack
