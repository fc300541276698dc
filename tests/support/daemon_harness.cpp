// The end-to-end stack: child processes (insurer-sim, settled, settlectl)
// started with fork/exec and PR_SET_PDEATHSIG, their ready lines, the
// simulator's control endpoint over loopback HTTP, and the cashier socket.
#include "tests/support/daemon_harness.hpp"

#include "tools/insurer-sim/control_client.hpp"

#include "tests/support/harness_checks.hpp"
#include <fmt/format.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace settle::testing {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

// fork/exec with stdout and stderr to files; the child dies with this process.
pid_t spawn(const std::vector<std::string>& args, const fs::path& out, const fs::path& err,
            const fs::path& cwd = {}) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (o >= 0) ::dup2(o, 1);
    if (e >= 0) ::dup2(e, 2);
    const int nul = ::open("/dev/null", O_RDONLY);
    if (nul >= 0) ::dup2(nul, 0);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Runs a command to its end (bounded), returns its exit status; output to files.
int run(const std::vector<std::string>& args, const fs::path& out, const fs::path& err,
        std::chrono::seconds deadline = std::chrono::seconds(60)) {
  const pid_t pid = spawn(args, out, err);
  const auto until = Clock::now() + deadline;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (Clock::now() > until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      throw std::runtime_error("timed out: " + args.front());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void end_process(pid_t& pid, int sig, std::chrono::seconds grace) {
  if (pid <= 0) return;
  ::kill(pid, sig);
  const auto until = Clock::now() + grace;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid = -1;
}

// json::parse keeps every number as its text; integers become plain JSON
// integers here (ids, counts), other numbers stay exact for json::get_amount.
void integers_plain(Json& j) {
  if (json::is_raw_number(j)) {
    const std::string_view t = json::raw_number_text(j);
    const bool integer = !t.empty() && t.size() < 19 &&
                         t.find_first_not_of("-0123456789") == std::string_view::npos;
    if (integer) j = Json(std::stoll(std::string(t)));
    return;
  }
  if (j.is_object() || j.is_array())
    for (auto& v : j) integers_plain(v);
}

Json parse_or_throw(const std::string& text) {
  auto j = json::parse(text, "answer");
  if (!j) throw std::runtime_error("not JSON: " + text.substr(0, 300) + ": " + j.error().message);
  Json out = std::move(*j);
  integers_plain(out);
  return out;
}

}  // namespace

// ---- persons -----------------------------------------------------------------------

std::string id_number(const std::string& first17) {
  static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static const char check[] = "10X98765432";
  int sum = 0;
  for (std::size_t i = 0; i < 17; ++i) sum += (first17[i] - '0') * weights[i];
  return first17 + check[sum % 11];
}

PersonSpec person(int n) {
  PersonSpec p;
  p.card_no = fmt::format("E{:08d}", n);
  p.card_sn = fmt::format("{:016X}", 0xE2E0000000000000ULL + static_cast<unsigned>(n));
  p.id_no = id_number(fmt::format("110105198001{:02d}{:03d}", 1 + n % 28, n % 1000));
  return p;
}

Amount fen(std::int64_t f) { return Amount::fen(f); }

std::string reason_of(const Json& r) {
  if (!r.contains("error")) return "";
  const Json& e = r["error"];
  if (!e.contains("data") || !e["data"].is_object() || !e["data"].contains("reason")) return "(no reason)";
  return e["data"]["reason"].get<std::string>();
}

Json result_of(const Json& response) {
  REQUIRE_MESSAGE(response.contains("result"), response.dump());
  return response["result"];
}

Json engine_status(RpcClient& c) {
  // Before a login a client may ask a few times a second: past it, it waits
  // as the answer says and asks again.
  for (int i = 0; i < 20; ++i) {
    const Json r = c.call("engine.status");
    if (reason_of(r) != "LIMIT_EXCEEDED") return result_of(r);
    const std::int64_t wait = r["error"]["data"].value("retry_after_ms", std::int64_t{100});
    std::this_thread::sleep_for(std::chrono::milliseconds(std::clamp<std::int64_t>(wait, 10, 1000)));
  }
  FAIL("engine.status is still refused LIMIT_EXCEEDED");
  return Json();
}

Json wait_status(RpcClient& c, const std::function<bool(const Json&)>& ok, std::chrono::milliseconds deadline,
                 const std::string& what) {
  const auto until = Clock::now() + deadline;
  Json st;
  while (Clock::now() < until) {
    st = engine_status(c);
    if (ok(st)) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL(what << ": engine.status is still " << st.dump());
  return st;
}

int effective_at_insurer(const Stack& s, const std::string& request_id) {
  const Json rep = s.report("medins_setl_id=" + request_id);  // named: the loop reads into it
  int n = 0;
  for (const auto& row : rep["settlements"])
    if (row["medins_setl_id"] == request_id && row["state"] == "effective") ++n;
  return n;
}

Amount amount_at(const Json& obj, const std::string& key) {
  auto a = json::get_amount(obj, key, key);
  if (!a) throw std::runtime_error(fmt::format("amount {}: {} in {}", key, a.error().message, obj.dump()));
  return *a;
}

// ---- RpcClient ---------------------------------------------------------------------

RpcClient::RpcClient(const std::string& socket_path) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("socket failed");
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof a.sun_path) throw std::runtime_error("socket path too long: " + socket_path);
  std::memcpy(a.sun_path, socket_path.c_str(), socket_path.size() + 1);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {  // NOLINT
    const std::string why = std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("connect " + socket_path + ": " + why);
  }
}

RpcClient::~RpcClient() {
  if (fd_ >= 0) ::close(fd_);
}

void RpcClient::send_line(const std::string& line) {
  if (transcript) transcript('>', line);
  const std::string data = line + "\n";
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    off += static_cast<std::size_t>(n);
  }
}

std::int64_t RpcClient::send(const std::string& method, const Json& params) {
  const std::int64_t id = next_id_++;
  send_line(Json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump());
  return id;
}

bool RpcClient::read_some(Clock::time_point until) {
  if (eof_) return false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
  if (left <= 0) return false;
  pollfd p{fd_, POLLIN, 0};
  const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
  if (r <= 0) return r == 0;  // keep waiting on timeout slices
  char tmp[65536];
  const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
  if (n <= 0) {
    if (n < 0 && errno == EINTR) return true;
    eof_ = true;
    return false;
  }
  buf_.append(tmp, static_cast<std::size_t>(n));
  std::size_t nl;
  while ((nl = buf_.find('\n')) != std::string::npos) {
    const std::string line = buf_.substr(0, nl);
    buf_.erase(0, nl + 1);
    if (line.empty()) continue;
    if (transcript) transcript('<', line);
    Json j = parse_or_throw(line);
    if (j.contains("id"))
      responses_.push_back(std::move(j));
    else
      notifications_.push_back(std::move(j));
  }
  return true;
}

Json RpcClient::wait_id(const Json& id, std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  for (;;) {
    for (auto it = responses_.begin(); it != responses_.end(); ++it)
      if ((*it)["id"] == id) {
        Json r = std::move(*it);
        responses_.erase(it);
        return r;
      }
    if (eof_) throw std::runtime_error("connection closed while waiting for id " + id.dump());
    if (Clock::now() > until) throw std::runtime_error("no answer for id " + id.dump() + " before the deadline");
    read_some(until);
  }
}

Json RpcClient::next_response(std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  for (;;) {
    if (!responses_.empty()) {
      Json r = std::move(responses_.front());
      responses_.pop_front();
      return r;
    }
    if (eof_) throw std::runtime_error("connection closed while waiting for an answer");
    if (Clock::now() > until) throw std::runtime_error("no answer before the deadline");
    read_some(until);
  }
}

Json RpcClient::call(const std::string& method, const Json& params, std::chrono::milliseconds deadline) {
  return wait_id(send(method, params), deadline);
}

std::optional<Json> RpcClient::wait_notification(const std::string& method, std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  for (;;) {
    for (auto it = notifications_.begin(); it != notifications_.end(); ++it)
      if ((*it).value("method", "") == method) {
        Json r = std::move(*it);
        notifications_.erase(it);
        return r;
      }
    if (eof_ || Clock::now() > until) return std::nullopt;
    read_some(until);
  }
}

bool RpcClient::wait_closed(std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  while (!eof_ && Clock::now() < until) read_some(until);
  return eof_;
}

Json RpcClient::login(const std::string& op, const std::string& password, const std::string& window) {
  return call("session.login", Json{{"operator", op}, {"password", password}, {"window", window}});
}

// ---- Stack -------------------------------------------------------------------------

Stack::Stack(const std::string& name) {
  dir_ = fs::path(SETTLE_BINARY_DIR) / "e2e" / fmt::format("{}-{}", name, ::getpid());
  fs::remove_all(dir_);
  fs::create_directories(dir_ / "data");
  pki_dir_ = fs::path(SETTLE_BINARY_DIR) / "pki";
  const int rc = run({"/bin/sh", "-c", std::string(SETTLE_SOURCE_DIR) + "/tools/gen-test-pki.sh '" + pki_dir_.string() + "'"},
                     dir_ / "pki.out", dir_ / "pki.err", std::chrono::seconds(120));
  if (rc != 0) throw std::runtime_error("gen-test-pki.sh failed: " + slurp(dir_ / "pki.err"));
  write_file(dir_ / "secret", "e2e-shared-secret-0001\n");
}

Stack::~Stack() {
  end_process(daemon_pid_, SIGKILL, std::chrono::seconds(10));
  cards_.clear();
  pcscd_.reset();
  end_process(sim_pid_, SIGTERM, std::chrono::seconds(10));
}

std::string Stack::pki(const std::string& f) const { return (pki_dir_ / f).string(); }

void Stack::add_person(const PersonSpec& p) {
  if (sim_pid_ <= 0) {
    std::vector<std::string> args = {SETTLE_SIM_BINARY, "add-person", "--db", (dir_ / "insurer.db").string(),
                                     "--card-no", p.card_no, "--card-sn", p.card_sn, "--id-no", p.id_no,
                                     "--name", p.name, "--insutype", p.insutype, "--balance", p.balance,
                                     "--deductible-used", p.deductible_used};
    if (!p.flags.empty()) {
      std::string f;
      for (const auto& x : p.flags) f += (f.empty() ? "" : ",") + x;
      args.push_back("--flags");
      args.push_back(f);
    }
    if (!p.insuplc_admdvs.empty()) args.insert(args.end(), {"--insuplc-admdvs", p.insuplc_admdvs});
    const int rc = run(args, dir_ / "add-person.out", dir_ / "add-person.err");
    if (rc != 0) throw std::runtime_error("insurer-sim add-person failed: " + slurp(dir_ / "add-person.err"));
    return;
  }
  Json body{{"card_no", p.card_no}, {"card_sn", p.card_sn}, {"id_no", p.id_no}, {"name", p.name},
            {"insutype", p.insutype}, {"balance", p.balance}, {"deductible_used", p.deductible_used},
            {"flags", p.flags}};
  if (!p.insuplc_admdvs.empty()) body["insuplc_admdvs"] = p.insuplc_admdvs;
  const auto r = sim_control("POST", "/persons", body);
  if (r.status != 200) throw std::runtime_error("POST /persons: " + r.body.dump());
}

void Stack::start_sim() {
  REQUIRE(sim_pid_ < 0);
  const fs::path out = dir_ / "insurer.out";
  fs::remove(out);
  sim_pid_ = spawn({SETTLE_SIM_BINARY, "serve", "--db", (dir_ / "insurer.db").string(), "--listen", "127.0.0.1:0",
                    "--control", "127.0.0.1:0", "--cert", pki("server.crt"), "--key", pki("server.key"), "--ca",
                    pki("ca.crt"), "--secret", "e2e-shared-secret-0001", "--paasid", "H11010500001", "--policy",
                    std::string(SETTLE_SOURCE_DIR) + "/docs/examples/policy.toml", "--sync", "normal",
                    "--profile", profile},
                   out, dir_ / "insurer.err");
  const std::regex ready(R"(listening on 127\.0\.0\.1:(\d+) control 127\.0\.0\.1:(\d+))");
  const auto until = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < until) {
    std::smatch m;
    const std::string text = slurp(out);
    if (std::regex_search(text, m, ready)) {
      sim_port_ = static_cast<std::uint16_t>(std::stoi(m[1].str()));
      control_port_ = static_cast<std::uint16_t>(std::stoi(m[2].str()));
      return;
    }
    int status = 0;
    if (::waitpid(sim_pid_, &status, WNOHANG) == sim_pid_) {
      sim_pid_ = -1;
      FAIL("insurer-sim exited at start: " << slurp(dir_ / "insurer.err"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("insurer-sim did not print its ready line: " << slurp(dir_ / "insurer.err"));
}

void Stack::attach_sim(std::uint16_t control_port) {
  REQUIRE(sim_pid_ < 0);
  control_port_ = control_port;
}

void Stack::stop_sim() { end_process(sim_pid_, SIGTERM, std::chrono::seconds(20)); }

Stack::ControlReply Stack::sim_control(const std::string& method, const std::string& target,
                                       const std::optional<Json>& body) const {
  const sim::ControlHttpReply a =
      sim::control_request(control_port_, method, target, body ? std::optional<std::string>(body->dump()) : std::nullopt);
  ControlReply r;
  r.status = a.status;
  r.body = a.body.empty() ? Json() : parse_or_throw(a.body);
  return r;
}

void Stack::set_faults(const std::vector<std::string>& faults) const {
  const auto r = sim_control("POST", "/faults", Json{{"faults", faults}});
  REQUIRE_MESSAGE(r.status == 200, r.body.dump());
}

void Stack::clear_faults() const {
  const auto r = sim_control("DELETE", "/faults");
  REQUIRE_MESSAGE(r.status == 200, r.body.dump());
}

Json Stack::report(const std::string& query) const {
  const auto r = sim_control("GET", query.empty() ? "/report" : "/report?" + query);
  REQUIRE_MESSAGE(r.status == 200, r.body.dump());
  return r.body;
}

void Stack::start_pcscd() {
  if (!pcscd_) pcscd_ = std::make_unique<Pcscd>();
}

void Stack::restart_pcscd(std::chrono::milliseconds down) {
  REQUIRE(pcscd_ != nullptr);
  pcscd_->stop();
  std::this_thread::sleep_for(down);
  pcscd_->start();
}

VirtualCard& Stack::insert_card(int index, const PersonSpec& p, std::vector<std::string> extra) {
  drop_card(index);  // the reader is seen empty before another card goes in
  std::vector<std::string> args = {"--card-no", p.card_no, "--card-sn", p.card_sn, "--id-no", p.id_no,
                                   "--name", p.name, "--pin", p.pin};
  for (auto& e : extra) args.push_back(std::move(e));
  auto card = std::make_unique<VirtualCard>(index, std::move(args));
  VirtualCard& ref = *card;
  cards_[index] = std::move(card);
  return ref;
}

VirtualCard* Stack::card(int index) {
  auto it = cards_.find(index);
  return it == cards_.end() ? nullptr : it->second.get();
}

void Stack::drop_card(int index) {
  auto it = cards_.find(index);
  if (it == cards_.end()) return;
  it->second->stop();
  cards_.erase(it);
  wait_card_state(vpcd_reader_name(index), false, std::chrono::seconds(20));
}

// An operator's initial password, changed to its own at the first login.
std::string initial_password(const Operator& op) { return "Init-" + op.password; }

// settlectl works on the ledger file while settled is stopped, and over the
// socket as the administrator while it runs. The first login of each new
// operator changes its initial password, as a cashier would.
void Stack::add_operator(const Operator& op) {
  const fs::path pw = dir_ / fmt::format("password-{}", op.name);
  write_file(pw, op.password + "\n");
  const fs::path initial = dir_ / fmt::format("initial-password-{}", op.name);
  write_file(initial, initial_password(op) + "\n");
  int rc = 0;
  if (daemon_pid_ < 0) {
    std::vector<std::string> args{SETTLE_SETTLECTL_BINARY, "operator", "add", "--ledger",
                                  (dir_ / "data" / "ledger.db").string(), "--name", op.name, "--role", op.role,
                                  "--initial-password-file", initial.string()};
    if (!storage_key_file.empty()) args.insert(args.end(), {"--key-file", storage_key_file});
    rc = run(args, dir_ / "settlectl.out", dir_ / "settlectl.err");
  } else {
    rc = run({SETTLE_SETTLECTL_BINARY, "operator", "add", "--socket", socket_path(), "--operator", admin.name,
              "--window", "W01", "--password-file", (dir_ / fmt::format("password-{}", admin.name)).string(), "--name",
              op.name, "--role", op.role, "--initial-password-file", initial.string()},
             dir_ / "settlectl.out", dir_ / "settlectl.err");
  }
  if (rc != 0) throw std::runtime_error("settlectl operator add failed: " + slurp(dir_ / "settlectl.err"));
  first_login_.push_back(op);
  if (daemon_pid_ > 0) first_logins();
}

void Stack::first_logins() {
  for (const auto& op : first_login_) {
    RpcClient c(socket_path());
    const Json in = c.login(op.name, initial_password(op), "W01");
    REQUIRE_MESSAGE(in.contains("result"), in.dump());
    const Json changed =
        c.call("session.change_password", Json{{"password", initial_password(op)}, {"new_password", op.password}});
    REQUIRE_MESSAGE(changed.contains("result"), changed.dump());
  }
  first_login_.clear();
}

ProgramRun run_shell(const std::string& command, const fs::path& dir, const std::string& name) {
  const fs::path out = dir / (name + ".out"), err = dir / (name + ".err");
  const std::string cmd = fmt::format("{} > '{}' 2> '{}'", command, out.string(), err.string());
  const int rc = std::system(cmd.c_str());
  ProgramRun r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

ProgramRun Stack::settlectl_as(const Operator& op, const std::string& args) const {
  return run_shell(fmt::format("{} {} --socket {} --operator {} --window W01 --password-file {} --json",
                               SETTLE_SETTLECTL_BINARY, args, socket_path(), op.name,
                               (dir_ / fmt::format("password-{}", op.name)).string()),
                   dir_, "settlectl-as");
}

std::string Stack::socket_path() const { return (dir_ / "data" / "cashier.sock").string(); }

std::string Stack::daemon_log() const { return slurp(dir_ / "settled.log"); }

void Stack::start_daemon() {
  REQUIRE(daemon_pid_ < 0);
  REQUIRE(sim_port_ != 0);
  const std::string src = SETTLE_SOURCE_DIR;
  std::string conf = fmt::format(R"([daemon]
data_dir = "data"
policy = "{src}/docs/examples/policy.toml"
[institution]
code = "H11010500001"
name = "示例市第一人民医院"
area = "110105"
insurer_area = "110105"
[insurer]
host = "127.0.0.1"
port = {port}
server_name = "insurer.test"
ca_file = "{ca}"
cert_file = "{cert}"
key_file = "{key}"
paasid = "H11010500001"
secret_file = "secret"
profile = "{profile}"
{insurer_extra}[cashier]
socket = "data/cashier.sock"
lockout_s = 0
[readers]
max_card_wait_ms = 10000
[readers.windows]
"W01" = "{r0}"
"W02" = "{r1}"
"W09" = "Absent Reader 09 00"
[metrics]
listen = "127.0.0.1:0"
)",
                                 fmt::arg("src", src), fmt::arg("port", sim_port_), fmt::arg("ca", pki("ca.crt")),
                                 fmt::arg("cert", pki("client.crt")), fmt::arg("key", pki("client.key")),
                                 fmt::arg("r0", vpcd_reader_name(0)), fmt::arg("r1", vpcd_reader_name(1)),
                                 fmt::arg("insurer_extra", insurer_extra), fmt::arg("profile", profile));
  conf += "[redlist]\n" + redlist_config;
  if (!storage_key_file.empty()) conf += fmt::format("[storage]\nkey_file = \"{}\"\n", storage_key_file);
  conf += extra_config;
  write_file(dir_ / "settled.toml", conf);
  const fs::path out = dir_ / fmt::format("settled.out.{}", ++daemon_starts_);
  // SETTLED_WRAPPER (e.g. "/usr/bin/gdb -batch -ex run -ex bt --args") runs the daemon under a tool.
  std::vector<std::string> cmd;
  if (const char* w = std::getenv("SETTLED_WRAPPER"); w != nullptr && *w != '\0') {
    std::istringstream words(w);
    for (std::string word; words >> word;) cmd.push_back(word);
  }
  cmd.insert(cmd.end(), {SETTLE_SETTLED_BINARY, "--config", (dir_ / "settled.toml").string()});
  daemon_pid_ = spawn(cmd, out, dir_ / "settled.log", dir_);
  const auto until = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < until) {
    if (slurp(out).find("ready on") != std::string::npos) {
      first_logins();
      return;
    }
    int status = 0;
    if (::waitpid(daemon_pid_, &status, WNOHANG) == daemon_pid_) {
      daemon_pid_ = -1;
      FAIL("settled exited at start: " << slurp(out) << slurp(dir_ / "settled.log"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("settled did not print its ready line: " << slurp(dir_ / "settled.log"));
}

void Stack::stop_daemon() {
  REQUIRE(daemon_pid_ > 0);
  const pid_t pid = daemon_pid_;
  ::kill(pid, SIGTERM);
  int status = 0;
  const auto until = Clock::now() + std::chrono::seconds(60);
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      daemon_pid_ = -1;
      FAIL("settled did not stop on SIGTERM");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  daemon_pid_ = -1;
  CHECK_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0), "settled exit status " << status);
}

bool Stack::daemon_alive() {
  if (daemon_pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(daemon_pid_, &status, WNOHANG) != daemon_pid_) return true;
  daemon_pid_ = -1;
  return false;
}

void Stack::kill_daemon() { end_process(daemon_pid_, SIGKILL, std::chrono::seconds(10)); }

void Stack::reload_daemon() {
  REQUIRE(daemon_pid_ > 0);
  REQUIRE(::kill(daemon_pid_, SIGHUP) == 0);
}

std::unique_ptr<RpcClient> Stack::connect() const { return std::make_unique<RpcClient>(socket_path()); }

std::unique_ptr<RpcClient> Stack::session(const Operator& op, const std::string& window) const {
  auto c = connect();
  const Json r = c->login(op.name, op.password, window);
  REQUIRE_MESSAGE(r.contains("result"), r.dump());
  return c;
}

void Stack::start_all(const std::vector<PersonSpec>& persons, const std::vector<Operator>& more) {
  for (const auto& p : persons) add_person(p);
  start_sim();
  start_pcscd();
  for (const auto& op : {cashier, supervisor, auditor, admin}) add_operator(op);
  for (const auto& op : more) add_operator(op);
  start_daemon();
}

Json visit_facts() {
  return Json{{"dept_code", "A03"},
              {"dept_name", "内科"},
              {"doctor_code", "D001"},
              {"doctor_name", "李医生"},
              {"diagnoses", Json::array({Json{{"code", "J06.900"}, {"name", "急性上呼吸道感染"}}})}};
}

}  // namespace settle::testing
