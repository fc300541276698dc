// settlectl ledger verify as IT would run it after someone edited the ledger
// file with the sqlite3 shell: the triggers dropped, then a settlement's
// money edited, a refund deleted, an audit entry inserted, two chain entries
// swapped, the newest entries cut off. Each is named; the untouched file
// passes; exit status 0 intact, 1 broken.
#include "offline/chain.hpp"
#include "offline/ledger.hpp"
#include "protocol/json.hpp"
#include "tests/offline/sample.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
using namespace settle;

namespace {

struct Run {
  int status = -1;
  std::string out;
};

Run sh(const std::string& cmd) {
  Run r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

const fs::path kDir = fs::path(SETTLE_BINARY_DIR) / "tests/tools/ledger-verify";

// A ledger with two settlements, a refund, answers, audit entries and a
// signed checkpoint, with its key beside it.
void make_ledger() {
  fs::remove_all(kDir);
  fs::create_directories(kDir / "base");
  auto l = ledger::Ledger::open((kDir / "base/ledger.db").string());
  REQUIRE(l.ok());
  auto key = ledger::chain::Signer::generate((kDir / "base/checkpoint.key").string());
  REQUIRE(key.ok());
  for (const std::string id : {"v1", "v2"}) {
    auto r = (*l)->write_wait([&](sql::Db& db) -> sql::Result<std::int64_t> {
      auto setl = test::record_sample(db, id, 12'345);
      if (!setl) return setl.error();
      SETTLE_SQL_TRY(ledger::answer_request(db, id, R"({"ok":true})", 1'700'000'000'100));
      ledger::AuditEntry a;
      a.at_ms = 1'700'000'000'200;
      a.operator_name = "c001";
      a.window = "W01";
      a.action = "settle.commit";
      a.detail = "settled " + id;
      auto aid = ledger::append_audit(db, a);
      if (!aid) return aid.error();
      auto rq = ledger::record_request(db, test::sample_request(id + "-r"));
      if (!rq) return rq.error();
      ledger::Refund rf;
      rf.request_id = id + "-r";
      rf.setl_id = *setl;
      rf.window_id = "W1";
      rf.operator_id = "C007";
      rf.cash = Amount::fen(300);
      rf.total = rf.cash;
      rf.created_at_ms = 1'700'000'000'300;
      rf.clearing_date = "2026-11-22";
      return ledger::record_refund(db, rf);
    });
    REQUIRE(r.ok());
  }
  auto cp = (*l)->write_wait([&](sql::Db& db) {
    return ledger::chain::write_checkpoint(db, *key, "test", 1'700'000'001'000);
  });
  REQUIRE(cp.ok());
}

// A copy of the ledger edited by the sqlite3 shell after dropping every trigger.
std::string tampered(const std::string& name, const std::string& sql) {
  const fs::path dir = kDir / name;
  fs::create_directories(dir);
  fs::copy_file(kDir / "base/ledger.db", dir / "ledger.db", fs::copy_options::overwrite_existing);
  fs::copy_file(kDir / "base/checkpoint.key", dir / "checkpoint.key", fs::copy_options::overwrite_existing);
  fs::permissions(dir / "checkpoint.key", fs::perms::owner_read | fs::perms::owner_write);
  const std::string script = (dir / "edit.sql").string();
  {
    std::ofstream f(script);
    f << ".bail on\n"
         ".headers off\n"
         ".mode list\n"
         ".output " << (dir / "drop.sql").string() << "\n"
         "SELECT 'DROP TRIGGER ' || name || ';' FROM sqlite_schema WHERE type = 'trigger';\n"
         ".output stdout\n"
         ".read " << (dir / "drop.sql").string() << "\n"
      << sql << "\n";
  }
  const Run r = sh(fmt::format("sqlite3 {} < {}", (dir / "ledger.db").string(), script));
  INFO(r.out);
  REQUIRE(r.status == 0);
  return (dir / "ledger.db").string();
}

json::Json verify(const std::string& ledger, int expect_status) {
  const Run r = sh(fmt::format("{} ledger verify --ledger {} --json", SETTLECTL_PATH, ledger));
  INFO(r.out);
  REQUIRE(r.status == expect_status);
  return json::Json::parse(r.out);
}

std::string first(const json::Json& j, const char* field) {
  REQUIRE(!j["problems"].empty());
  return j["problems"][0][field].get<std::string>();
}

}  // namespace

TEST_CASE("settlectl ledger verify names each kind of tampering done with the sqlite3 shell") {
  make_ledger();

  SUBCASE("untouched: intact, the checkpoint's signature checked") {
    const auto j = verify((kDir / "base/ledger.db").string(), 0);
    CHECK(j["intact"] == true);
    CHECK(j["key_checked"] == true);
    CHECK(j["checkpoints_signed"] == 1);
    // And people's output says so.
    const Run r = sh(fmt::format("{} ledger verify --ledger {}", SETTLECTL_PATH, (kDir / "base/ledger.db").string()));
    CHECK(r.status == 0);
    CHECK(r.out.find("INTACT") != std::string::npos);
  }
  SUBCASE("a settlement's cash edited") {
    const auto j = verify(tampered("edited", "UPDATE settlements SET cash_fen = cash_fen - 100, total_fen = "
                                             "total_fen - 100 WHERE setl_id = 1;"),
                          1);
    CHECK(first(j, "what") == "edited");
    CHECK(first(j, "kind") == "settlement");
    CHECK(first(j, "ref") == "1");
  }
  SUBCASE("a refund deleted") {
    const auto j = verify(tampered("deleted", "DELETE FROM refunds WHERE refund_id = 2;"), 1);
    CHECK(first(j, "what") == "deleted");
    CHECK(first(j, "kind") == "refund");
    CHECK(first(j, "ref") == "2");
  }
  SUBCASE("an audit entry inserted") {
    const auto j = verify(tampered("inserted", "INSERT INTO audit(at_ms, operator_name, action, detail) "
                                               "VALUES(1700000000500, 'c001', 'settle.refund', 'never happened');"),
                          1);
    CHECK(first(j, "what") == "inserted");
    CHECK(first(j, "kind") == "audit");
  }
  SUBCASE("two chain entries swapped (reordered)") {
    const auto j = verify(tampered("reordered", "UPDATE chain SET seq = seq + 1000000 WHERE seq IN (5, 6); "
                                                "UPDATE chain SET seq = 6 WHERE seq = 1000005; "
                                                "UPDATE chain SET seq = 5 WHERE seq = 1000006;"),
                          1);
    CHECK(first(j, "what") == "link");
    CHECK(j["problems"][0]["seq"] == 5);
  }
  SUBCASE("the newest entries cut off with their rows") {
    const auto j = verify(tampered("truncated", "DELETE FROM chain WHERE seq > (SELECT max(head_seq) - 3 FROM "
                                                "chain_checkpoints);"),
                          1);
    bool checkpoint_named = false;
    for (const auto& p : j["problems"]) checkpoint_named |= p["what"] == "checkpoint";
    CHECK(checkpoint_named);
  }
}
