// settled as systemd runs it, with real files and a real process:
// --check-config on every file the config names (each failure naming the
// option and the file), readiness and reload through a real NOTIFY_SOCKET.
#include "tests/support/notify_socket.hpp"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Run {
  int status = -1;
  std::string out, err;
};

// A folder with a valid config, the test PKI, a policy and a secret.
struct Site {
  fs::path dir;
  Site() {
    char tmpl[] = "/tmp/settled-service-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    REQUIRE(std::system(fmt::format("{}/tools/gen-test-pki.sh '{}/pki' >/dev/null", SETTLE_SOURCE_DIR, dir.string())
                            .c_str()) == 0);
    fs::copy_file(fs::path(SETTLE_SOURCE_DIR) / "docs/examples/policy.toml", dir / "policy.toml");
    std::ofstream(dir / "secret") << "test-secret\n";
    fs::permissions(dir / "secret", fs::perms::owner_read | fs::perms::owner_write);
    fs::create_directories(dir / "run");
    write_config("");
  }
  ~Site() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  Site(const Site&) = delete;
  Site& operator=(const Site&) = delete;

  fs::path config() const { return dir / "settled.toml"; }
  fs::path socket() const { return dir / "run" / "cashier.sock"; }

  // `insurer_files`: the [insurer] file keys, replaced wholesale when given.
  void write_config(const std::string& extra, const std::string& insurer_files = "") const {
    const std::string files = insurer_files.empty() ? "ca_file = \"pki/ca.crt\"\ncert_file = \"pki/client.crt\"\n"
                                                      "key_file = \"pki/client.key\"\nsecret_file = \"secret\"\n"
                                                    : insurer_files;
    std::ofstream(config()) << fmt::format(R"([daemon]
data_dir = "data"
policy = "policy.toml"
[institution]
code = "H11010500001"
name = "Test Hospital"
area = "110105"
insurer_area = "110105"
[insurer]
host = "127.0.0.1"
port = 9
server_name = "insurer.test"
paasid = "H11010500001"
{files}[cashier]
socket = "run/cashier.sock"
{extra})",
                                           fmt::arg("files", files), fmt::arg("extra", extra));
  }

  Run check() const {
    Run r;
    const std::string out = (dir / "check.out").string(), err = (dir / "check.err").string();
    const int rc = std::system(
        fmt::format("'{}' --config '{}' --check-config >'{}' 2>'{}'", SETTLED_PATH, config().string(), out, err)
            .c_str());
    r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }
};

bool contains(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

using settle::test::NotifySocket;

std::string wait_log(const fs::path& log, const std::string& want, int seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::string text;
  while (std::chrono::steady_clock::now() < end) {
    text = slurp(log);
    if (contains(text, want)) return text;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return text;
}

}  // namespace

TEST_CASE("--check-config: the files named by a valid config are valid") {
  Site s;
  const Run r = s.check();
  CHECK_MESSAGE(r.status == 0, r.err);
  CHECK(contains(r.out, "valid"));
}

TEST_CASE("--check-config: each problem names the option and the file, all at once") {
  Site s;
  const std::string pki = (s.dir / "pki").string();
  SUBCASE("a missing CA file") {
    s.write_config("", "ca_file = \"pki/missing-ca.crt\"\ncert_file = \"pki/client.crt\"\nkey_file = \"pki/client.key\"\n"
                       "secret_file = \"secret\"\n");
    const Run r = s.check();
    CHECK(r.status == 1);
    CHECK_MESSAGE(contains(r.err, "insurer.ca_file: " + pki + "/missing-ca.crt: cannot be read"), r.err);
  }
  SUBCASE("a CA file holding no certificate") {
    std::ofstream(s.dir / "pki" / "empty-ca.crt") << "not a certificate\n";
    s.write_config("", "ca_file = \"pki/empty-ca.crt\"\ncert_file = \"pki/client.crt\"\nkey_file = \"pki/client.key\"\n"
                       "secret_file = \"secret\"\n");
    const Run r = s.check();
    CHECK(r.status == 1);
    CHECK_MESSAGE(contains(r.err, "insurer.ca_file: " + pki + "/empty-ca.crt: holds no PEM certificate"), r.err);
  }
  SUBCASE("a client certificate that is not PEM, and a key of another certificate") {
    std::ofstream(s.dir / "pki" / "broken.crt") << "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    s.write_config("", "ca_file = \"pki/ca.crt\"\ncert_file = \"pki/broken.crt\"\nkey_file = \"pki/client.key\"\n"
                       "secret_file = \"secret\"\n");
    Run r = s.check();
    CHECK(r.status == 1);
    CHECK_MESSAGE(contains(r.err, "insurer.cert_file: " + pki + "/broken.crt: holds no PEM certificate that parses"), r.err);
    s.write_config("", "ca_file = \"pki/ca.crt\"\ncert_file = \"pki/client.crt\"\nkey_file = \"pki/other-client.key\"\n"
                       "secret_file = \"secret\"\n");
    r = s.check();
    CHECK(r.status == 1);
    CHECK_MESSAGE(contains(r.err, "insurer.key_file: " + pki + "/other-client.key: does not match the certificate " +
                                      pki + "/client.crt"),
                  r.err);
  }
  SUBCASE("key files open to other users, a configured checkpoint key missing, a broken policy: every one reported") {
    fs::permissions(s.dir / "pki" / "client.key", fs::perms::others_read, fs::perm_options::add);
    fs::permissions(s.dir / "secret", fs::perms::group_write, fs::perm_options::add);
    std::ofstream(s.dir / "policy.toml", std::ios::app) << "\n[insutype.310.outpatient]\n";
    s.write_config("[ledger]\ncheckpoint_key = \"checkpoint.key\"\n");
    const Run r = s.check();
    CHECK(r.status == 1);
    CHECK_MESSAGE(contains(r.err, "insurer.key_file: " + pki + "/client.key:"), r.err);
    CHECK_MESSAGE(contains(r.err, "insurer.secret_file: " + s.dir.string() + "/secret: mode 0620"), r.err);
    CHECK_MESSAGE(contains(r.err, "ledger.checkpoint_key: " + s.dir.string() + "/checkpoint.key: cannot be read"), r.err);
    CHECK_MESSAGE(contains(r.err, "daemon.policy: "), r.err);
    CHECK_MESSAGE(contains(r.err, "4 problem(s)"), r.err);
  }
  SUBCASE("a red list folder that does not exist") {
    s.write_config("[redlist]\npath = \"nowhere/redlist.db\"\n");
    const Run r = s.check();
    CHECK(r.status == 1);
    CHECK_MESSAGE(contains(r.err, "redlist.path: " + s.dir.string() + "/nowhere/redlist.db: its folder"), r.err);
  }
}

// settled started with the site's config, systemd's notify socket and its
// output in `log` (truncated).
pid_t start_settled(const Site& s, const NotifySocket& notify, const fs::path& log) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setenv("NOTIFY_SOCKET", notify.path().c_str(), 1);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execl(SETTLED_PATH, SETTLED_PATH, "--config", s.config().c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// The exit status of `pid` within `seconds`, -1 if it is still running then.
int exit_within(pid_t pid, int seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return -1;
}

TEST_CASE("after a clean stop the page checks run once the socket answers; a damaged file then stops settled") {
  Site s;
  NotifySocket notify((s.dir / "notify").string());
  const fs::path log = s.dir / "settled.log";
  const fs::path ledger = s.dir / "data" / "ledger.db";
  auto start_and_stop = [&](const std::string& want) {
    const pid_t pid = start_settled(s, notify, log);
    REQUIRE_MESSAGE(contains(notify.until("READY=1", 20), "READY=1"), slurp(log));
    if (!want.empty()) CHECK_MESSAGE(contains(wait_log(log, want, 20), want), slurp(log));
    REQUIRE(::kill(pid, SIGTERM) == 0);
    CHECK(exit_within(pid, 20) == 0);
  };
  // The first start checks the new files at open; its stop is clean.
  start_and_stop("");
  CHECK_FALSE(contains(slurp(log), "after a clean stop"));
  // Pages start-up never reads (a table of someone's own), then a start after the clean stop.
  REQUIRE(std::system(fmt::format("sqlite3 '{}' \"CREATE TABLE filler(x); WITH RECURSIVE c(i) AS (SELECT 1 UNION "
                                  "ALL SELECT i + 1 FROM c WHERE i < 3000) INSERT INTO filler SELECT randomblob(900) "
                                  "FROM c; PRAGMA wal_checkpoint(TRUNCATE);\" >/dev/null",
                                  ledger.string())
                          .c_str()) == 0);
  start_and_stop("page checks of the ledger and the red list after a clean stop: sound");
  {
    // Damage in the middle of the file, in pages the start does not read.
    const auto size = fs::file_size(ledger);
    std::fstream f(ledger, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>((size / 4096 / 2) * 4096));
    for (int i = 0; i < 600; ++i) f.put(static_cast<char>(0xA5 ^ (i * 7)));
  }
  // Ready at once; the check then finds the damage and stops the daemon, with no clean stop.
  const pid_t damaged = start_settled(s, notify, log);
  REQUIRE_MESSAGE(contains(notify.until("READY=1", 20), "READY=1"), slurp(log));
  CHECK(exit_within(damaged, 30) == 1);
  CHECK_MESSAGE(contains(slurp(log), "failed its page check"), slurp(log));
  // The next start checks first and refuses the file, naming it.
  const pid_t refused = start_settled(s, notify, log);
  CHECK(exit_within(refused, 30) != 0);
  CHECK_MESSAGE(contains(slurp(log), "is damaged"), slurp(log));
  CHECK_FALSE(fs::exists(s.socket()));
}

TEST_CASE("readiness, reload on SIGHUP and stop, as systemd sees them (NOTIFY_SOCKET)") {
  Site s;
  s.write_config("[offline]\nmax_age_s = 86400\n");
  NotifySocket notify((s.dir / "notify").string());
  const fs::path log = s.dir / "settled.log";
  const pid_t pid = start_settled(s, notify, log);
  const std::string ready = notify.until("READY=1", 20);
  REQUIRE_MESSAGE(contains(ready, "READY=1"), slurp(log));
  // Before it: systemd told to wait, naming the step (a long migration or
  // page check is not cut off by TimeoutStartSec).
  CHECK_MESSAGE(contains(ready, "EXTEND_TIMEOUT_USEC=40000000\nSTATUS=starting: opening the ledger"), ready);
  CHECK(ready.find("EXTEND_TIMEOUT_USEC") < ready.find("READY=1"));
  // Ready means listening, the socket 0660.
  struct stat st {};
  REQUIRE(::stat(s.socket().c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0660);

  // A new policy version and a reloadable limit; a socket change waits for a restart.
  std::string policy = slurp(s.dir / "policy.toml");
  policy.replace(policy.find("version = \"2026.1\""), 18, "version = \"2026.2\"");
  std::ofstream(s.dir / "policy.toml", std::ios::trunc) << policy;
  std::string conf = slurp(s.config());
  conf.replace(conf.find("max_age_s = 86400"), 17, "max_age_s = 3600");
  conf.replace(conf.find("run/cashier.sock"), 16, "run/other.sock");
  std::ofstream(s.config(), std::ios::trunc) << conf;
  REQUIRE(::kill(pid, SIGHUP) == 0);
  const std::string reloaded = notify.until("READY=1", 10);
  CHECK(contains(reloaded, "RELOADING=1"));
  std::string text = wait_log(log, "version 2026.2", 10);
  CHECK_MESSAGE(contains(text, "reload: policy " + (s.dir / "policy.toml").string() +
                                   " (\"Example municipality\", version 2026.2) in force"),
                text);
  CHECK_MESSAGE(contains(text, "changed offline.max_age_s"), text);
  CHECK_MESSAGE(contains(text, "in force only after a restart (systemctl restart settled): cashier.socket"), text);
  CHECK(fs::exists(s.socket()));

  // A broken policy file: an error naming it, the running one kept, still serving.
  std::ofstream(s.dir / "policy.toml", std::ios::trunc) << "name = 3\n";
  REQUIRE(::kill(pid, SIGHUP) == 0);
  CHECK(contains(notify.until("READY=1", 10), "READY=1"));
  text = wait_log(log, "nothing was changed", 10);
  CHECK_MESSAGE(contains(text, "reload: policy " + (s.dir / "policy.toml").string() + ": "), text);
  CHECK_MESSAGE(contains(text, "nothing was changed: the running config and policy stay in force"), text);
  int status = 0;
  CHECK(::waitpid(pid, &status, WNOHANG) == 0);  // still running

  // SIGTERM: STOPPING=1, then a clean exit.
  REQUIRE(::kill(pid, SIGTERM) == 0);
  CHECK(contains(notify.until("STOPPING=1", 10), "STOPPING=1"));
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
