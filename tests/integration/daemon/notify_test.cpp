// Notifications end to end (docs/notifications.md): the real daemon, the
// insurer-sim cut and restored, real webhook receivers (HTTPS with the test
// CA, plain HTTP that never answers) and a command hook. The windows never
// wait on a hook; every attempt about the line is in its outage record.
#include "tests/support/daemon_harness.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>
#include <vector>

extern char** environ;

namespace settle::notify_e2e {
namespace {

using settle::testing::Json;
using settle::testing::reason_of;
using settle::testing::RpcClient;
using settle::testing::Stack;
using settle::testing::wait_status;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// A webhook_receiver.py of its own, stopped with the test.
class Receiver {
 public:
  // tls12_ciphers: a TLS 1.2 server offering only these suites.
  Receiver(const fs::path& dir, const std::string& name, bool tls, int fail_first, const std::string& tls12_ciphers = "")
      : log_(dir / (name + ".log")) {
    const fs::path port_file = dir / (name + ".port");
    std::vector<std::string> args{"python3", SETTLE_SOURCE_DIR "/tests/integration/daemon/webhook_receiver.py",
                                  "--log", log_.string(), "--port-file", port_file.string(),
                                  "--fail-first", std::to_string(fail_first)};
    if (tls) {
      const fs::path pki = fs::path(SETTLE_BINARY_DIR) / "pki";
      args.insert(args.end(), {"--cert", (pki / "server.crt").string(), "--key", (pki / "server.key").string()});
      if (!tls12_ciphers.empty()) args.insert(args.end(), {"--tls12-ciphers", tls12_ciphers});
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    REQUIRE(::posix_spawnp(&pid_, "python3", nullptr, nullptr, argv.data(), environ) == 0);
    for (int i = 0; i < 200 && !fs::exists(port_file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    REQUIRE_MESSAGE(fs::exists(port_file), "the webhook receiver did not start");
    std::ifstream(port_file) >> port_;
  }
  ~Receiver() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  int port() const { return port_; }
  std::vector<Json> requests() const {
    std::vector<Json> out;
    std::ifstream in(log_);
    for (std::string l; std::getline(in, l);)
      if (!l.empty()) out.push_back(Json::parse(l));
    return out;
  }
  // The first request told of `event` with `status`, waited for up to `deadline`.
  std::optional<Json> wait_for(const std::string& event, int status, std::chrono::milliseconds deadline) const {
    const auto until = Clock::now() + deadline;
    do {
      for (const Json& r : requests())
        if (r["body"]["event"] == event && r["status"] == status) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (Clock::now() < until);
    return std::nullopt;
  }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  int port_ = 0;
};

Json lines() {
  return Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "125.00"}},
                      Json{{"code", "C0001"}, {"name", "自费营养品"}, {"class", "C"}, {"amount", "16.00"}}});
}

std::int64_t timed_commit(RpcClient& c, const std::string& rid, Json* answer = nullptr) {
  const auto t0 = Clock::now();
  const Json r = c.call("settle.commit", Json{{"request_id", rid}, {"lines", lines()}});
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  REQUIRE_MESSAGE(r.contains("result"), r.dump());
  if (answer != nullptr) *answer = r["result"];
  return ms;
}

TEST_CASE("the line offline and back: the hooks are told within seconds, retried, each attempt on record; no window waits") {
  Stack s("daemon-notify");
  const fs::path dir = s.dir();
  Receiver office(dir, "office", true, 1);  // HTTPS; its first answer is a 500
  Receiver stalled(dir, "stalled", false, 0);
  // CBC suites only (with SHA-256 and SHA-1 MACs): the webhook is refused as the insurer link refuses them.
  Receiver legacy(dir, "legacy", true, 0, "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA");
  const fs::path cmd_log = dir / "pager.log";
  s.extra_config = fmt::format(R"(
[network]
probe_interval_ms = 300
failures_to_offline = 1
offline_deadline_ms = 1000
[reversal]
retry_initial_ms = 50
retry_max_ms = 100
park_after_refusals = 2
[notify]
redlist_stale_after_s = 0
[[notify.hook]]
name = "office"
events = ["line_offline", "line_online", "parked"]
url = "https://127.0.0.1:{}/flaky"
ca_file = "{}"
timeout_ms = 3000
attempts = 3
[[notify.hook]]
name = "stalled"
events = ["line_offline", "line_online"]
url = "http://127.0.0.1:{}/stall"
timeout_ms = 500
attempts = 2
[[notify.hook]]
name = "legacy"
events = ["line_offline"]
url = "https://127.0.0.1:{}/cbc"
ca_file = "{}"
attempts = 1
[[notify.hook]]
name = "pager"
events = ["line_offline", "line_online"]
command = ["/bin/sh", "-c", "cat >> '{}'; echo >> '{}'; echo \"$SETTLE_EVENT\" >> '{}.events'"]
[[notify.hook]]
name = "missing"
events = ["line_offline"]
command = ["/nonexistent/page-it"]
attempts = 1
)",
                               office.port(), (fs::path(SETTLE_BINARY_DIR) / "pki" / "ca.crt").string(), stalled.port(),
                               legacy.port(), (fs::path(SETTLE_BINARY_DIR) / "pki" / "ca.crt").string(),
                               cmd_log.string(), cmd_log.string(), cmd_log.string());
  s.start_all({settle::testing::person(1)});
  s.insert_card(0, settle::testing::person(1));
  auto c = s.session(Stack::cashier);
  auto office_session = s.session(Stack::supervisor);
  REQUIRE(c->call("card.read").contains("result"));
  CHECK(timed_commit(*c, "ntf-online") < 3000);

  // The line goes down: the window is answered offline within its budget
  // while the hooks are still being tried.
  s.set_faults({"refuse", "refuse"});
  const auto cut = Clock::now();
  Json first;
  const std::int64_t first_ms = timed_commit(*c, "ntf-1", &first);
  CHECK(first["mode"] == "offline");
  CHECK_MESSAGE(first_ms < 1000 + 1500, "the offline commit took " << first_ms << " ms");
  // The stalled hook is busy for seconds: the next commits do not wait on it.
  for (int k = 2; k <= 4; ++k) {
    const std::int64_t ms = timed_commit(*c, fmt::format("ntf-{}", k));
    CHECK_MESSAGE(ms < 500, "an offline commit took " << ms << " ms while a hook stalled");
  }
  const auto told = office.wait_for("line_offline", 200, std::chrono::seconds(8));
  REQUIRE_MESSAGE(told.has_value(), "the office's webhook was not told of the line going offline");
  CHECK(std::chrono::duration<double>(Clock::now() - cut).count() < 8.0);
  const Json& body = (*told)["body"];
  CHECK(body["line"] == "offline");
  CHECK(body["hospital"]["code"].get<std::string>().size() == 12);
  CHECK(body["summary"].get<std::string>().find("脱机") != std::string::npos);
  CHECK((*told)["event_header"] == "line_offline");
  CHECK((*told)["content_type"].get<std::string>().find("application/json") == 0);
  CHECK(office.wait_for("line_offline", 500, std::chrono::seconds(0)).has_value());  // the first answer, refused and retried
  // The command hook got the same body on its stdin and its event in the environment.
  std::string cmd_text;
  for (int i = 0; i < 100 && cmd_text.find("line_offline") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cmd_text = settle::testing::slurp(cmd_log);
  }
  CHECK(Json::parse(cmd_text.substr(0, cmd_text.find('\n')))["event"] == "line_offline");
  CHECK(settle::testing::slurp(fs::path(cmd_log.string() + ".events")).find("line_offline") != std::string::npos);

  // Back: told again.
  s.clear_faults();
  wait_status(*c, [](const Json& st) { return st["network"] == "online"; }, std::chrono::seconds(30), "the line is not back");
  const auto back = Clock::now();
  REQUIRE_MESSAGE(office.wait_for("line_online", 200, std::chrono::seconds(8)).has_value(),
                  "the office's webhook was not told of the line coming back");
  CHECK(std::chrono::duration<double>(Clock::now() - back).count() < 8.0);

  // Every attempt about this outage is on its record: the 500 and the retry,
  // the stalled hook given up after its attempts, the command, the missing program.
  const Json list = office_session->call("outage.list", Json{{"kind", "line"}, {"from", "2000-01-01"}});
  REQUIRE_MESSAGE(list.contains("result"), list.dump());
  REQUIRE(!list["result"]["outages"].empty());
  const auto outage_id = list["result"]["outages"][0]["outage_id"];
  Json notes;
  const auto has_note = [&](const std::string& kind, const std::string& target, const std::string& part) {
    for (const auto& n : notes)
      if (n["kind"] == kind && n["target"] == target && n["detail"].get<std::string>().find(part) != std::string::npos)
        return true;
    return false;
  };
  const auto until = Clock::now() + std::chrono::seconds(15);
  do {
    const Json got = office_session->call("outage.get", Json{{"outage_id", outage_id}});
    REQUIRE_MESSAGE(got.contains("result"), got.dump());
    notes = got["result"]["notes"];
    if (has_note("notify_failed", "stalled", "line_online, attempt 2") && has_note("notified", "office", "line_online"))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (Clock::now() < until);
  INFO("notes: " << notes.dump());
  CHECK(has_note("notify_failed", "office", "line_offline, attempt 1: HTTP 500"));
  CHECK(has_note("notified", "office", "line_offline, attempt 2: HTTP 200"));
  CHECK(has_note("notified", "office", "line_online, attempt 1: HTTP 200"));
  CHECK(has_note("notify_failed", "stalled", "line_offline, attempt 1: timed out after 500 ms"));
  CHECK(has_note("notify_failed", "stalled", "given up"));
  CHECK(has_note("notified", "pager", "line_offline, attempt 1: exit 0"));
  CHECK(has_note("notified", "pager", "line_online"));
  CHECK(has_note("notify_failed", "missing", "cannot run /nonexistent/page-it"));
  // The CBC-only server: the handshake refused, nothing posted to it.
  CHECK(has_note("notify_failed", "legacy", "line_offline, attempt 1: TLS handshake with 127.0.0.1"));
  CHECK(legacy.requests().empty());
  for (const auto& n : notes) CHECK(n["by"] == "settled");

  // A reversal the insurer keeps refusing is parked: the office's hook hears of it.
  s.set_faults({"lost_reply:count=1,infno=2207", "error:infno=2601", "drop_request:infno=9001"});
  timed_commit(*c, "ntf-parked");
  s.set_faults({"error:infno=2601"});  // the line back, the reversal refused until parked
  const auto parked = office.wait_for("parked", 200, std::chrono::seconds(30));
  s.clear_faults();
  REQUIRE_MESSAGE(parked.has_value(), "the office's webhook was not told of the parked reversal");
  CHECK((*parked)["body"]["kind"] == "parked_reversal");
  CHECK_FALSE((*parked)["body"]["reason"].get<std::string>().empty());
  CHECK_FALSE((*parked)["body"].contains("psn_no"));
}

}  // namespace
}  // namespace settle::notify_e2e
