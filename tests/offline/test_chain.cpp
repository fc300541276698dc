// The ledger's hash chain on a real file: every kind of row chained by the
// triggers, signed checkpoints, and the walk finding each kind of tampering
// (an edited, deleted or inserted row, a chain entry deleted or reordered, a
// chain rebuilt after an edit, a checkpoint edited) after the triggers are
// dropped on a connection without the ledger's functions, as a shell would.
#include "offline/chain.hpp"
#include "offline/ledger.hpp"
#include "sample.hpp"
#include "test_dir.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <fstream>

using namespace settle;
using namespace settle::ledger;
using settle::test::TestDir;

namespace {

constexpr std::int64_t kChainAt = 1'700'000'000'000;

struct Chained {
  TestDir dir{"chain"};
  std::string path = dir.file("ledger.db");
  std::unique_ptr<Ledger> ledger;
  std::optional<chain::Signer> signer;

  Chained() {
    auto l = Ledger::open(path);
    REQUIRE(l.ok());
    ledger = std::move(l).value();
    auto s = chain::Signer::generate(dir.file("checkpoint.key"));
    REQUIRE(s.ok());
    signer.emplace(std::move(s).value());
  }

  // A settlement with its lines, its answer, an event, an audit entry and a
  // refund: one of each kind a cashier's day writes.
  std::int64_t day(const std::string& id, std::int64_t total) {
    auto r = ledger->write_wait([=](sql::Db& db) -> sql::Result<std::int64_t> {
      auto q = record_request(db, test::sample_request(id));
      if (!q) return q.error();
      const auto lines = test::sample_lines(total);
      auto setl = record_settlement(db, test::sample_settlement(id, total, kChainAt), lines);
      if (!setl) return setl.error();
      SETTLE_SQL_TRY(answer_request(db, id, R"({"ok":true})", kChainAt + 1));
      AuditEntry a;
      a.at_ms = kChainAt + 2;
      a.operator_name = "C007";
      a.window = "W1";
      a.action = "settle.commit";
      a.detail = "settled " + id;
      auto aid = append_audit(db, a);
      if (!aid) return aid.error();
      auto rq = record_request(db, test::sample_request(id + "-r"));
      if (!rq) return rq.error();
      Refund rf;
      rf.request_id = id + "-r";
      rf.setl_id = *setl;
      rf.window_id = "W1";
      rf.operator_id = "C007";
      rf.cash = Amount::fen(100);
      rf.total = rf.cash;
      rf.created_at_ms = kChainAt + 10;
      rf.clearing_date = "2026-11-22";
      auto rid = record_refund(db, rf);
      if (!rid) return rid.error();
      SETTLE_SQL_TRY(set_settlement_state(db, *setl, SettlementState::partly_refunded, kChainAt + 10));
      return *setl;
    });
    REQUIRE(r.ok());
    return *r;
  }

  chain::Checkpoint checkpoint(std::string_view reason) {
    auto cp = ledger->write_wait([&](sql::Db& db) -> sql::Result<std::optional<chain::Checkpoint>> {
      return chain::write_checkpoint(db, *signer, reason, kChainAt + 100);
    });
    REQUIRE(cp.ok());
    REQUIRE(cp->has_value());
    return **cp;
  }

  void close() { ledger.reset(); }

  // The whole walk, or the nightly one from checkpoint `from`.
  chain::VerifyReport verify(std::optional<std::int64_t> from = {}) {
    auto db = open_connection(path, sql::OpenMode::read_only);
    REQUIRE(db.ok());
    const chain::Verifier key = chain::Verifier::of(*signer);
    auto rep = chain::verify(*db, {.key = &key, .from_checkpoint = from});
    REQUIRE_MESSAGE(rep.ok(), (rep.ok() ? "" : rep.error().message));
    return std::move(rep).value();
  }

  // What a shell can do: a connection without the ledger's functions.
  void shell(const std::string& sql) {
    auto db = sql::Db::open(path, {.mode = sql::OpenMode::read_write});
    REQUIRE(db.ok());
    auto s = db->exec(sql);
    INFO(sql);
    REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
  }

  void drop_triggers() {
    auto db = sql::Db::open(path, {.mode = sql::OpenMode::read_write});
    REQUIRE(db.ok());
    auto st = db->prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger'");
    REQUIRE(st.ok());
    std::vector<std::string> names;
    while (*st->step()) names.push_back(st->column_text(0));
    st = db->prepare("SELECT 1");
    for (const auto& n : names) REQUIRE(db->exec("DROP TRIGGER " + n).ok());
  }
};

bool found(const chain::VerifyReport& r, std::string_view what, std::string_view kind) {
  for (const auto& p : r.problems)
    if (p.what == what && p.kind == kind) return true;
  return false;
}

std::string problems(const chain::VerifyReport& r) {
  std::string out;
  for (const auto& p : r.problems) out += fmt::format("[{} {} {} {}] {}\n", p.seq, p.what, p.kind, p.ref, p.message);
  return out;
}

}  // namespace

// Every ledger ever written holds digests in this encoding: a build that
// encoded a value differently would find every existing chain broken. The
// expected values were computed apart from the ledger's code, from the
// encoding docs/ledger-integrity.md gives (SHA-256 over each value as a
// type tag and its bytes).
TEST_CASE("the digest's encoding is fixed: the genesis and a row of every value type hash as documented") {
  auto db = sql::Db::open(":memory:");
  REQUIRE(db.ok());
  REQUIRE(chain::register_functions(*db).ok());
  auto genesis = db->query_text("SELECT lower(hex(settle_digest('genesis', 'settle ledger chain v1')))");
  REQUIRE(genesis.ok());
  CHECK(genesis->value_or("") == "f13c1db387ff5c7d7dbfacf3f33653d2441e70f7c4c92caa12e27a56d82874ab");
  auto mixed = db->query_text(
      "SELECT lower(hex(settle_digest('settlement', 42, -7, NULL, 1.5, x'0102', '\u5f20\u4e09')))");
  REQUIRE(mixed.ok());
  CHECK(mixed->value_or("") == "a066fe6d1b5d2495ea6316b7483e53458097091b91e4748b0efdb44473087efa");
}

TEST_CASE("every row of the day is chained, checkpoints are signed, and an untouched ledger verifies") {
  Chained c;
  c.day("a1", 10'000);
  c.checkpoint("test");
  c.day("a2", 20'000);
  c.checkpoint("closeout");
  c.close();
  const auto r = c.verify();
  INFO(problems(r));
  CHECK(r.ok());
  CHECK(r.counts.at("settlement") == 2);
  CHECK(r.counts.at("settlement_line") == 4);
  CHECK(r.counts.at("settlement_state") == 4);  // recorded, then partly refunded
  CHECK(r.counts.at("answer") == 2);
  CHECK(r.counts.at("refund") == 2);
  CHECK(r.counts.at("audit") == 2);
  CHECK(r.counts.at("checkpoint") == 2);
  CHECK(r.checkpoints == 2);
  CHECK(r.checkpoints_signed == 2);
  CHECK(r.head_seq == r.entries - 1);
}

TEST_CASE("a shell without the ledger's functions cannot write a chained table even with the old triggers gone") {
  Chained c;
  c.day("a1", 10'000);
  c.close();
  auto db = sql::Db::open(c.path, {.mode = sql::OpenMode::read_write});
  REQUIRE(db.ok());
  REQUIRE(db->exec("DROP TRIGGER audit_no_update").ok());
  auto s = db->exec(
      "INSERT INTO audit(at_ms, operator_name, action) VALUES(1, 'x', 'forged')");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message.find("settle_digest") != std::string::npos);
}

TEST_CASE("the walk names each kind of tampering") {
  Chained c;
  const auto s1 = c.day("a1", 10'000);
  c.day("a2", 20'000);
  c.checkpoint("test");
  c.close();
  REQUIRE(c.verify().ok());
  c.drop_triggers();

  SUBCASE("a settlement's money edited") {
    c.shell(fmt::format("UPDATE settlements SET cash_fen = cash_fen + 100, total_fen = total_fen + 100 "
                        "WHERE setl_id = {}",
                        s1));
    const auto r = c.verify();
    INFO(problems(r));
    REQUIRE_FALSE(r.ok());
    CHECK(r.problems.front().what == "edited");
    CHECK(r.problems.front().kind == "settlement");
    CHECK(r.problems.front().ref == std::to_string(s1));
  }
  SUBCASE("a settlement's state moved back") {
    c.shell(fmt::format("UPDATE settlements SET state = 'settled' WHERE setl_id = {}", s1));
    const auto r = c.verify();
    INFO(problems(r));
    CHECK(found(r, "edited", "settlement_state"));
  }
  SUBCASE("a refund deleted") {
    c.shell("DELETE FROM refunds WHERE refund_id = (SELECT min(refund_id) FROM refunds)");
    const auto r = c.verify();
    INFO(problems(r));
    REQUIRE_FALSE(r.ok());
    CHECK(r.problems.front().what == "deleted");
    CHECK(r.problems.front().kind == "refund");
  }
  SUBCASE("an audit entry inserted past the chain") {
    c.shell("INSERT INTO audit(at_ms, operator_name, action) VALUES(1, 'x', 'forged')");
    const auto r = c.verify();
    INFO(problems(r));
    REQUIRE_FALSE(r.ok());
    CHECK(found(r, "inserted", "audit"));
  }
  SUBCASE("a chain entry deleted with its row") {
    c.shell("DELETE FROM audit WHERE audit_id = (SELECT min(audit_id) FROM audit); "
            "DELETE FROM chain WHERE kind = 'audit' AND seq = (SELECT min(seq) FROM chain WHERE kind = 'audit')");
    const auto r = c.verify();
    INFO(problems(r));
    REQUIRE_FALSE(r.ok());
    CHECK(r.problems.front().what == "gap");
    bool counted = false;  // the checkpoint counted one audit entry more up to its head
    for (const auto& p : r.problems) counted = counted || (p.what == "checkpoint" && p.message.find("audit") != std::string::npos);
    CHECK(counted);
  }
  SUBCASE("two chain entries swapped") {
    c.shell("UPDATE chain SET seq = seq + 1000000 WHERE seq IN (3, 4); UPDATE chain SET seq = 4 WHERE seq = 1000003; "
            "UPDATE chain SET seq = 3 WHERE seq = 1000004");
    const auto r = c.verify();
    INFO(problems(r));
    REQUIRE_FALSE(r.ok());
    CHECK(r.problems.front().what == "link");
    CHECK(r.problems.front().seq == 3);
  }
  SUBCASE("the chain rebuilt after an edit, by someone with the digest but not the key") {
    c.shell(fmt::format("UPDATE settlements SET cash_fen = cash_fen + 100, total_fen = total_fen + 100 "
                        "WHERE setl_id = {}",
                        s1));
    auto db = open_connection(c.path, sql::OpenMode::read_write);
    REQUIRE(db.ok());
    // Recompute every entry from the edited settlement's on, as the triggers would.
    auto from = db->query_int64(fmt::format("SELECT seq FROM chain WHERE kind = 'settlement' AND ref = '{}'", s1));
    REQUIRE(from.ok());
    REQUIRE(db->exec(fmt::format(
                         "CREATE TEMP TABLE later AS SELECT seq, kind, ref, content FROM chain WHERE seq >= {0}; "
                         "DELETE FROM chain WHERE seq >= {0}; "
                         "UPDATE temp.later SET content = (SELECT settle_digest('settlement', setl_id, request_id, "
                         "window_id, operator_id, card_no, card_sn, psn_no, insutype, visit_type, med_type, mode, "
                         "total_fen, fund_fen, account_fen, cash_fen, fulamt_ownpay_fen, preselfpay_fen, inscp_fen, "
                         "deductible_part_fen, reasons, msgid, receipt_no, created_at_ms, clearing_date, "
                         "offline_reason, resettles_setl_id, adm_id, stay_lines_upto, stay_cancels_upto) "
                         "FROM settlements WHERE setl_id = {1}) WHERE seq = {0}",
                         from->value_or(0), s1))
                .ok());
    auto st = db->prepare("SELECT kind, ref, content FROM temp.later ORDER BY seq");
    REQUIRE(st.ok());
    auto add = db->prepare(
        "INSERT INTO chain(seq, kind, ref, content, hash) SELECT h.seq + 1, ?1, ?2, ?3, "
        "settle_digest('link', h.hash, h.seq + 1, ?1, ?2, ?3) FROM (SELECT seq, hash FROM chain ORDER BY seq DESC "
        "LIMIT 1) AS h");
    REQUIRE(add.ok());
    while (*st->step()) {
      add->reset();
      REQUIRE(add->bind(1, st->column_text(0)).ok());
      REQUIRE(add->bind(2, st->column_text(1)).ok());
      const auto blob = st->column_blob(2);
      REQUIRE(add->bind(3, sql::BytesView(blob)).ok());
      REQUIRE(add->run().ok());
    }
    const auto r = c.verify();
    INFO(problems(r));
    REQUIRE_FALSE(r.ok());
    CHECK(r.problems.front().what == "checkpoint");
  }
  SUBCASE("a checkpoint edited") {
    c.shell("UPDATE chain_checkpoints SET counts = replace(counts, 'refund=2', 'refund=1')");
    const auto r = c.verify();
    INFO(problems(r));
    REQUIRE_FALSE(r.ok());
    CHECK(found(r, "signature", "checkpoint"));
  }
}

// The nightly walk starts from the last reconciliation's checkpoint and, for
// each kind whose rows are numbered as they are written, looks for rows
// without an entry above the top that checkpoint signed: the rows written
// since. What it leaves to the whole walk is pinned here too.
TEST_CASE("the walk from a checkpoint looks for unchained rows above the tops it signed") {
  Chained c;
  const auto s1 = c.day("a1", 10'000);
  const auto before = c.checkpoint("schedule");
  // A request still open when the night's checkpoint is signed: its answer
  // comes after, on a row numbered below the top.
  REQUIRE(c.ledger->write_wait([](sql::Db& db) { return record_request(db, test::sample_request("open")); }).ok());
  const auto night = c.checkpoint("reconciliation");
  CHECK(before.tops.find(fmt::format("settlement={}", s1)) != std::string::npos);
  CHECK(night.tops.find("answer=") != std::string::npos);
  CHECK(night.message().rfind("settle ledger checkpoint v2\n", 0) == 0);
  REQUIRE(c.ledger->write_wait([](sql::Db& db) { return answer_request(db, "open", R"({"ok":true})", kChainAt + 200); })
              .ok());
  const auto s2 = c.day("a2", 20'000);
  c.close();
  {
    const auto r = c.verify(night.checkpoint_id);
    INFO(problems(r));
    CHECK(r.ok());
    CHECK(r.checkpoints == 1);  // the night's: the one before was checked by an earlier walk
    CHECK(r.checkpoints_signed == 1);
    CHECK(r.counts.at("answer") == 3);  // a1, open (answered since), a2; the refunds' requests are still open
  }
  c.drop_triggers();
  const auto forge_line = [&c](std::int64_t setl_id) {
    c.shell(fmt::format("INSERT INTO settlement_lines(setl_id, line_no, code, name, class, amount_fen, "
                        "selfpay_ratio_ppm) VALUES({}, 99, 'X', 'forged', 'A', 1, 0)",
                        setl_id));
  };

  SUBCASE("an audit entry inserted past the chain since") {
    c.shell("INSERT INTO audit(at_ms, operator_name, action) VALUES(1, 'x', 'forged')");
    const auto r = c.verify(night.checkpoint_id);
    INFO(problems(r));
    CHECK(found(r, "inserted", "audit"));
  }
  SUBCASE("a line added to a settlement written since") {
    forge_line(s2);
    const auto r = c.verify(night.checkpoint_id);
    INFO(problems(r));
    REQUIRE_FALSE(r.ok());
    CHECK(r.problems.front().what == "inserted");
    CHECK(r.problems.front().kind == "settlement_line");
    CHECK(r.problems.front().ref == fmt::format("{}:99", s2));
  }
  SUBCASE("an answer stored past the chain") {
    c.shell("UPDATE requests SET state = 'answered', answer = '{}', answered_at_ms = 1 WHERE request_id = 'a2-r'");
    const auto r = c.verify(night.checkpoint_id);
    INFO(problems(r));
    CHECK(found(r, "inserted", "answer"));
  }
  SUBCASE("a row slipped in under a top, or a checkpoint before the night's edited: left to the whole walk") {
    forge_line(s1);
    c.shell(fmt::format("UPDATE chain_checkpoints SET reason = 'edited' WHERE checkpoint_id = {}",
                        before.checkpoint_id));
    const auto nightly = c.verify(night.checkpoint_id);
    INFO(problems(nightly));
    CHECK(nightly.ok());
    const auto whole = c.verify();
    INFO(problems(whole));
    CHECK(found(whole, "inserted", "settlement_line"));
    CHECK(found(whole, "signature", "checkpoint"));
  }
}

TEST_CASE("a checkpoint signed before v13 still verifies after the migration, and a walk from it counts whole") {
  TestDir dir("chain-v12");
  const std::string path = dir.file("ledger.db");
  auto signer = chain::Signer::generate(dir.file("checkpoint.key"));
  REQUIRE(signer.ok());
  std::int64_t cp_id = 0;
  {
    LedgerOptions o;
    o.migrations = migrations().subspan(0, 12);
    auto l = Ledger::open(path, o);
    REQUIRE(l.ok());
    auto r = (*l)->write_wait([&](sql::Db& db) -> sql::Result<std::optional<chain::Checkpoint>> {
      for (const char* id : {"old1", "old2"}) {
        auto q = record_request(db, test::sample_request(id));
        if (!q) return q.error();
        auto setl = record_settlement(db, test::sample_settlement(id, 5000, kChainAt), test::sample_lines(5000));
        if (!setl) return setl.error();
        SETTLE_SQL_TRY(answer_request(db, id, R"({"ok":true})", kChainAt + 1));
      }
      SETTLE_SQL_TRY(record_request(db, test::sample_request("old-open")));
      return chain::write_checkpoint(db, *signer, "reconciliation", kChainAt + 100);
    });
    REQUIRE(r.ok());
    REQUIRE(r->has_value());
    CHECK((**r).tops.empty());
    cp_id = (**r).checkpoint_id;
  }
  {
    auto l = Ledger::open(path);
    REQUIRE(l.ok());
    REQUIRE((*l)->schema_version() == current_schema_version());
    // The open request is answered after the migration; a new one comes.
    auto w = (*l)->write_wait([](sql::Db& db) -> sql::Status {
      SETTLE_SQL_TRY(answer_request(db, "old-open", R"({"ok":true})", kChainAt + 300));
      SETTLE_SQL_TRY(record_request(db, test::sample_request("new")));
      return answer_request(db, "new", R"({"ok":true})", kChainAt + 301);
    });
    REQUIRE(w.ok());
  }
  auto db = open_connection(path, sql::OpenMode::read_write);
  REQUIRE(db.ok());
  // Every request kept, numbered, still named by the rows naming it.
  CHECK(db->query_int64("SELECT count(*) FROM requests WHERE seq IS NOT NULL")->value_or(0) == 4);
  CHECK(db->query_int64("SELECT max(seq) FROM requests WHERE request_id = 'new'")->value_or(0) == 4);
  CHECK(db->query_int64("SELECT count(*) FROM pragma_foreign_key_check")->value_or(-1) == 0);
  CHECK_FALSE(db->exec("INSERT INTO requests(request_id, method, payload_hash, state, created_at_ms) "
                       "VALUES('new', 'settle.commit', 'h', 'in_progress', 1)")
                  .ok());
  const chain::Verifier key = chain::Verifier::of(*signer);
  auto whole = chain::verify(*db, {.key = &key});
  REQUIRE(whole.ok());
  INFO(problems(*whole));
  CHECK(whole->ok());
  CHECK(whole->checkpoints_signed == 1);
  CHECK(whole->counts.at("answer") == 4);
  // Past the chain, then walked from the old checkpoint (no tops: counted whole).
  auto sh = sql::Db::open(path, {.mode = sql::OpenMode::read_write});
  REQUIRE(sh.ok());
  REQUIRE(sh->exec("DROP TRIGGER chain_settlement_line_insert").ok());
  REQUIRE(sh->exec("INSERT INTO settlement_lines(setl_id, line_no, code, name, class, amount_fen, selfpay_ratio_ppm) "
                   "VALUES(1, 99, 'X', 'forged', 'A', 1, 0)")
              .ok());
  auto nightly = chain::verify(*db, {.key = &key, .from_checkpoint = cp_id});
  REQUIRE(nightly.ok());
  INFO(problems(*nightly));
  CHECK(found(*nightly, "inserted", "settlement_line"));
}

TEST_CASE("the checkpoint key is refused when others may read it; a public key verifies") {
  TestDir dir("chain-key");
  const std::string key = dir.file("k.pem");
  auto s = chain::Signer::generate(key);
  REQUIRE(s.ok());
  CHECK(chain::Signer::generate(key).ok() == false);  // never overwritten
  ::chmod(key.c_str(), 0644);
  auto open = chain::Signer::load(key);
  REQUIRE_FALSE(open.ok());
  CHECK(open.error().message.find("open to other users") != std::string::npos);
  ::chmod(key.c_str(), 0600);
  REQUIRE(chain::Signer::load(key).ok());
  {
    std::ofstream pub(dir.file("k.pub"));
    pub << s->public_pem();
  }
  auto v = chain::Verifier::load(dir.file("k.pub"));
  REQUIRE(v.ok());
  CHECK(v->key_id() == s->key_id());
  const auto sig = s->sign("hello");
  CHECK(v->verify("hello", sig));
  CHECK_FALSE(v->verify("hellO", sig));
}

TEST_CASE("a v6 ledger with data is chained when it is migrated, and verifies") {
  TestDir dir("chain-migrate");
  const std::string path = dir.file("ledger.db");
  {
    LedgerOptions o;
    o.migrations = migrations().subspan(0, 6);
    auto l = Ledger::open(path, o);
    REQUIRE(l.ok());
    auto r = (*l)->write_wait([](sql::Db& db) -> sql::Result<std::int64_t> {
      auto q = record_request(db, test::sample_request("old"));
      if (!q) return q.error();
      const auto lines = test::sample_lines(5000);
      return record_settlement(db, test::sample_settlement("old", 5000, kChainAt), lines);
    });
    REQUIRE(r.ok());
  }
  {
    auto l = Ledger::open(path);
    REQUIRE(l.ok());
    CHECK((*l)->schema_version() == current_schema_version());
  }
  auto db = open_connection(path, sql::OpenMode::read_only);
  REQUIRE(db.ok());
  auto r = chain::verify(*db);
  REQUIRE(r.ok());
  INFO(problems(*r));
  CHECK(r->ok());
  CHECK(r->counts.at("settlement") == 1);
  CHECK(r->counts.at("settlement_line") == 2);
  CHECK_FALSE(r->key_checked);
}

// From v14 the triggers read the chain's head from chain_head instead of the
// chain's end (three temporary tables fewer at every chained row): the
// migration starts it at the chain's last entry, every append moves it, and
// nothing else can.
TEST_CASE("a v13 chain goes on through chain_head after the migration; the head moves only to the entry after it") {
  TestDir dir("chain-head");
  const std::string path = dir.file("ledger.db");
  const auto day = [](Ledger& l, const std::string& id) {
    auto r = l.write_wait([id](sql::Db& db) -> sql::Result<std::int64_t> {
      auto q = record_request(db, test::sample_request(id));
      if (!q) return q.error();
      SETTLE_SQL_TRY(answer_request(db, id, R"({"ok":true})", kChainAt + 1));
      return record_settlement(db, test::sample_settlement(id, 5000, kChainAt), test::sample_lines(5000));
    });
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
  };
  {
    LedgerOptions o;
    o.migrations = migrations().subspan(0, 13);
    auto l = Ledger::open(path, o);
    REQUIRE(l.ok());
    day(**l, "before");
  }
  auto l = Ledger::open(path);
  REQUIRE(l.ok());
  CHECK((*l)->schema_version() == current_schema_version());
  day(**l, "after");
  l->reset();

  auto db = sql::Db::open(path, {.mode = sql::OpenMode::read_write});
  REQUIRE(db.ok());
  REQUIRE(chain::register_functions(*db).ok());
  auto at_end = db->query_int64(
      "SELECT count(*) FROM chain_head AS h JOIN chain AS c ON c.seq = h.seq AND c.hash = h.hash "
      "WHERE h.seq = (SELECT max(seq) FROM chain)");
  REQUIRE(at_end.ok());
  CHECK(at_end->value_or(0) == 1);
  auto r = chain::verify(*db);
  REQUIRE(r.ok());
  INFO(problems(*r));
  CHECK(r->ok());
  CHECK(r->counts.at("settlement") == 2);
  CHECK(r->counts.at("answer") == 2);

  // Only an append moves the head, and only to the entry it wrote.
  for (const char* moved : {"UPDATE chain_head SET seq = seq + 1, hash = zeroblob(32)",
                            "UPDATE chain_head SET seq = seq - 1, hash = (SELECT c.hash FROM chain AS c "
                            "WHERE c.seq = (SELECT seq - 1 FROM chain_head))",
                            "UPDATE chain_head SET hash = zeroblob(32)", "DELETE FROM chain_head",
                            "INSERT INTO chain_head(id, seq, hash) VALUES (2, 0, zeroblob(32))"}) {
    INFO(moved);
    CHECK_FALSE(db->exec(moved).ok());
  }
}
