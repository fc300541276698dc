// The ledger's hash chain end to end (docs/ledger-integrity.md): the real
// settled writes its signed checkpoints at start, close-out, reconciliation,
// on its schedule and at a clean stop; a settlement line edited with the
// sqlite3 shell while it is stopped is named by the next recon.run (and the
// reconcile program exits 6) and no reconciliation checkpoint follows; keys
// from systemd credentials (ledger-key, checkpoint-key) and no key files.
#include "tests/support/daemon_harness.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using settle::testing::Json;
using settle::testing::PersonSpec;
using settle::testing::result_of;
using settle::testing::run_shell;
using settle::testing::slurp;
using settle::testing::Stack;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

Json chain_lines() {
  return Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "25.00"}},
                      Json{{"code", "86900001"}, {"name", "阿莫西林胶囊"}, {"class", "B"}, {"amount", "48.60"}}});
}

// One visit of person p at W01; returns settle.get's detail.
Json settle_visit(Stack& s, const PersonSpec& p, const std::string& request_id) {
  s.insert_card(0, p);
  auto c = s.session(Stack::cashier, "W01");
  REQUIRE(c->call("card.read", Json{{"timeout_ms", 5000}}).contains("result"));
  REQUIRE(c->call("card.verify_pin", Json{{"pin", p.pin}}).contains("result"));
  const Json r = result_of(c->call("settle.commit", Json{{"request_id", request_id}, {"lines", chain_lines()}}));
  return result_of(c->call("settle.get", Json{{"setl_id", r["setl_id"]}}));
}

// The reasons of the ledger's checkpoints, oldest first, read by the sqlite3 shell (settled stopped).
std::vector<std::string> checkpoint_reasons(const Stack& s) {
  const auto r = run_shell(fmt::format("sqlite3 -readonly '{}' 'SELECT reason FROM chain_checkpoints ORDER BY checkpoint_id'",
                                       (s.dir() / "data" / "ledger.db").string()),
                           s.dir(), "reasons");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  std::vector<std::string> out;
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

std::size_t count_of(const std::vector<std::string>& v, const std::string& what) {
  return static_cast<std::size_t>(std::count(v.begin(), v.end(), what));
}

bool wait_log(const Stack& s, const std::string& what, std::chrono::seconds deadline) {
  const auto until = Clock::now() + deadline;
  while (Clock::now() < until) {
    if (s.daemon_log().find(what) != std::string::npos) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

void write_secret(const fs::path& p, const std::string& text) {
  { std::ofstream(p, std::ios::binary) << text; }
  ::chmod(p.c_str(), 0600);
}

// CREDENTIALS_DIRECTORY for this process and what it starts, unset again at the end.
struct CredentialsDir {
  explicit CredentialsDir(const fs::path& d) { ::setenv("CREDENTIALS_DIRECTORY", d.c_str(), 1); }
  ~CredentialsDir() { ::unsetenv("CREDENTIALS_DIRECTORY"); }
  CredentialsDir(const CredentialsDir&) = delete;
  CredentialsDir& operator=(const CredentialsDir&) = delete;
};

}  // namespace

TEST_CASE("checkpoints at start, close-out, reconciliation, on the schedule and at stop; an edited line breaks the next recon.run") {
  Stack s("chain-e2e");
  s.extra_config = "[ledger]\ncheckpoint_interval_s = 10\n";
  const PersonSpec first = settle::testing::person(61), second = settle::testing::person(62);
  s.start_all({first, second});
  CHECK(wait_log(s, "(start): chain entry", 5s));

  const Json visit = settle_visit(s, first, "chain-1");
  const std::string date = visit["clearing_date"].get<std::string>();
  {
    auto c = s.session(Stack::cashier, "W01");
    (void)result_of(c->call("closeout.record", Json{{"request_id", "chain-co-1"}}));
  }
  auto sup = s.session(Stack::supervisor, "W01");
  const Json run1 = result_of(sup->call("recon.run", Json{{"date", date}}));
  INFO("recon.run: " << run1.dump());
  CHECK(run1["balanced"] == true);
  CHECK(run1["ledger_chain"]["intact"] == true);
  CHECK(run1["ledger_chain"]["problems"].empty());
  CHECK(run1["ledger_chain"]["checkpoints_signed"] == run1["ledger_chain"]["checkpoints"]);

  // After the reconciliation's checkpoint: the visit the ledger's editor will change.
  settle_visit(s, second, "chain-2");
  const std::string schedule_after = s.daemon_log();
  const auto seen = [&] { return s.daemon_log().substr(schedule_after.size()).find("(schedule): chain entry") != std::string::npos; };
  const auto until = Clock::now() + 25s;
  while (!seen() && Clock::now() < until) std::this_thread::sleep_for(100ms);
  REQUIRE_MESSAGE(seen(), "no scheduled checkpoint within 25 s of a settlement (interval 10 s): " << s.daemon_log());
  {
    auto c = s.session(Stack::cashier, "W01");  // the chain grows once more (the login's audit): the stop signs it
  }
  sup.reset();
  s.stop_daemon();
  std::vector<std::string> reasons = checkpoint_reasons(s);
  INFO("checkpoints: " << fmt::format("{}", fmt::join(reasons, ", ")));
  REQUIRE_FALSE(reasons.empty());
  CHECK(reasons.size() >= 5);
  CHECK(reasons.front() == "start");
  CHECK(reasons.back() == "stop");
  CHECK(count_of(reasons, "start") == 1);
  CHECK(count_of(reasons, "closeout") == 1);
  CHECK(count_of(reasons, "reconciliation") == 1);
  CHECK(count_of(reasons, "schedule") >= 1);
  CHECK(std::find(reasons.begin(), reasons.end(), "closeout") < std::find(reasons.begin(), reasons.end(), "reconciliation"));
  const auto reconciled = std::find(reasons.begin(), reasons.end(), "reconciliation");
  CHECK(std::find(reconciled, reasons.end(), "schedule") != reasons.end());  // one after the second visit
  CHECK(std::string(s.daemon_log()).find("(stop): chain entry") != std::string::npos);

  // The settlement line of the second visit edited with the sqlite3 shell: the
  // trigger that keeps its lines fixed dropped first, the chain's own left (the
  // daemon goes on chaining what it writes, the reconciliation's checkpoint among it).
  const fs::path ledger = s.dir() / "data" / "ledger.db";
  {
    std::ofstream f(s.dir() / "edit.sql");
    f << ".bail on\n.headers off\n.mode list\n.output " << (s.dir() / "drop.sql").string() << "\n"
      << "SELECT 'DROP TRIGGER ' || name || ';' FROM sqlite_schema WHERE type = 'trigger' "
         "AND tbl_name = 'settlement_lines' AND name NOT LIKE 'chain_%';\n"
      << ".output stdout\n.read " << (s.dir() / "drop.sql").string() << "\n"
      << "UPDATE settlement_lines SET amount_fen = amount_fen - 100 "
         "WHERE setl_id = (SELECT max(setl_id) FROM settlements) AND line_no = 1;\n"
      << "SELECT changes();\n";
  }
  const auto edit = run_shell(fmt::format("sqlite3 '{}' < '{}'", ledger.string(), (s.dir() / "edit.sql").string()),
                              s.dir(), "edit");
  REQUIRE_MESSAGE(edit.status == 0, edit.err);
  REQUIRE(edit.out.find('1') != std::string::npos);

  s.start_daemon();
  sup = s.session(Stack::supervisor, "W01");
  const Json run2 = result_of(sup->call("recon.run", Json{{"date", date}}));
  INFO("recon.run after the edit: " << run2.dump());
  CHECK(run2["ledger_chain"]["intact"] == false);
  REQUIRE_FALSE(run2["ledger_chain"]["problems"].empty());
  const std::string problem = run2["ledger_chain"]["problems"][0].get<std::string>();
  CHECK(problem.find("settlement_line") != std::string::npos);
  CHECK(problem.find("(edited)") != std::string::npos);
  CHECK(s.daemon_log().find("the ledger's hash chain is broken") != std::string::npos);

  // The reconcile program, as the nightly service runs it: the chain line, exit 6 (balanced or not).
  const fs::path creds = s.dir() / "recon.credentials";
  { std::ofstream(creds) << "operator=" << Stack::supervisor.name << "\npassword=" << Stack::supervisor.password << "\nwindow=W01\n"; }
  const auto rec = run_shell(fmt::format("{} --socket {} --credentials {} --date {}", SETTLE_RECONCILE_BINARY,
                                         s.socket_path(), creds.string(), date),
                             s.dir(), "reconcile");
  INFO("reconcile: " << rec.out << rec.err);
  CHECK(rec.status == 6);
  CHECK(rec.out.find("Ledger chain: BROKEN, the first problem of ") != std::string::npos);
  CHECK(rec.out.find(problem) != std::string::npos);

  sup.reset();
  s.stop_daemon();
  reasons = checkpoint_reasons(s);
  CHECK(count_of(reasons, "reconciliation") == 1);  // neither broken run wrote one (the chain grew: logins)
  CHECK(reasons.back() == "stop");
}

TEST_CASE("keys from systemd credentials: the ledger encrypted with ledger-key, the checkpoints signed by checkpoint-key") {
  Stack s("chain-creds");
  const fs::path creds = s.dir() / "credentials";
  fs::create_directories(creds);
  {
    std::ifstream rnd("/dev/urandom", std::ios::binary);
    std::string secret(32, '\0');
    rnd.read(secret.data(), static_cast<std::streamsize>(secret.size()));
    write_secret(creds / "ledger-key", secret);
  }
  const fs::path pub = s.dir() / "checkpoint.pub", other_pub = s.dir() / "other.pub";
  for (const auto& [key, public_key] : {std::pair{creds / "checkpoint-key", pub}, std::pair{s.dir() / "other.key", other_pub}}) {
    const auto made = run_shell(fmt::format("{} ledger keygen --out '{}' --public-out '{}'", SETTLE_SETTLECTL_BINARY,
                                            key.string(), public_key.string()),
                                s.dir(), "keygen");
    REQUIRE_MESSAGE(made.status == 0, made.err);
  }
  // No key file in the config ([storage] and [ledger] left out): settled, and
  // settlectl before it, find both keys in $CREDENTIALS_DIRECTORY as under systemd.
  const CredentialsDir env(creds);
  const PersonSpec p = settle::testing::person(63);
  s.start_all({p});
  const std::string conf = slurp(s.dir() / "settled.toml");
  REQUIRE(conf.find("[storage]") == std::string::npos);
  REQUIRE(conf.find("checkpoint_key") == std::string::npos);
  const Json visit = settle_visit(s, p, "creds-1");
  {
    auto sup = s.session(Stack::supervisor, "W01");
    CHECK(result_of(sup->call("engine.status"))["storage_encrypted"] == true);
    CHECK(result_of(sup->call("recon.run", Json{{"date", visit["clearing_date"]}}))["ledger_chain"]["intact"] == true);
  }
  const fs::path ledger = s.dir() / "data" / "ledger.db";
  const auto verify = [&](const fs::path& key) {
    return run_shell(fmt::format("{} ledger verify --ledger '{}' --checkpoint-key '{}' --json", SETTLE_SETTLECTL_BINARY,
                                 ledger.string(), key.string()),
                     s.dir(), "verify");
  };
  // Beside the running daemon, the storage key from the credential (no --key-file).
  const auto live = verify(pub);
  INFO("verify: " << live.out << live.err);
  CHECK(live.status == 0);
  s.stop_daemon();

  const auto ok = verify(pub);
  INFO("verify after stop: " << ok.out << ok.err);
  REQUIRE(ok.status == 0);
  const Json j = Json::parse(ok.out);
  CHECK(j["intact"] == true);
  CHECK(j["key_checked"] == true);
  CHECK(j["checkpoints"].get<int>() >= 3);  // start, reconciliation, stop
  CHECK(j["checkpoints_signed"] == j["checkpoints"]);
  CHECK(j["last_checkpoint"]["reason"] == "stop");
  const std::string key_id = j["key_id"].get<std::string>();
  CHECK(s.daemon_log().find("signed by key " + key_id) != std::string::npos);
  // Not made beside the ledger: the credential was used.
  CHECK_FALSE(fs::exists(s.dir() / "data" / "checkpoint.key"));
  CHECK(s.daemon_log().find("made a new checkpoint key") == std::string::npos);
  // Another key's public half does not vouch for them.
  const auto wrong = verify(other_pub);
  CHECK(wrong.status == 1);
  CHECK(wrong.out.find("\"what\":\"signature\"") != std::string::npos);

  // The ledger is encrypted: the sqlite3 shell cannot read it, and without the credential neither can verify.
  const auto shell = run_shell(fmt::format("sqlite3 -readonly '{}' .tables", ledger.string()), s.dir(), "sqlite3");
  CHECK(shell.status != 0);
  CHECK_MESSAGE(shell.err.find("file is not a database") != std::string::npos, shell.err);
  ::unsetenv("CREDENTIALS_DIRECTORY");
  const auto nokey = verify(pub);
  CHECK(nokey.status == 5);
  CHECK_MESSAGE(nokey.out.find("is encrypted: the key is missing") != std::string::npos, nokey.out);
}
