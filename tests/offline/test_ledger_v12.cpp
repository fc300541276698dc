// Schema v12: a v11 ledger migrated in place keeps its messages and stays
// (no insured area: the hospital's); a msgid made durable names the area its
// envelope carries, and its reversal (queued by a failed call or at start-up)
// goes with it; a stay names its person's area (set once, chained), its
// forwarded items carry it; an upload batch holds one area.
#include "offline/chain.hpp"
#include "offline/flow_ledger.hpp"
#include "offline/ledger.hpp"
#include "offline/schema.hpp"
#include "offline/stay_ops.hpp"
#include "sample.hpp"
#include "sample_stay.hpp"
#include "test_dir.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>

using namespace settle;
using namespace settle::ledger;
using settle::test::TestDir;

namespace {

std::string msgid_v12(int n) { return fmt::format("H0000000000000{:016}", n); }

FlowConventions v12_conventions() {
  FlowConventions c;
  c.answer_text = [](const flow::Answer& a) { return a.ok() ? std::string("ok") : std::string("error"); };
  c.clearing_date = [](std::int64_t) { return std::string("2026-12-04"); };
  c.receipt_no = [](const flow::SettlementRecord& r) { return "F" + r.request_id; };
  return c;
}

// The pending reversals' payloads by the msgid they reverse (claimed).
std::map<std::string, std::string> reversal_payloads(sql::Db& db) {
  std::map<std::string, std::string> out;
  auto items = claim_outbox(db, 1'000'000'000'000'000, 100, OutboxKind::reversal);
  REQUIRE(items.ok());
  for (const OutboxItem& i : *items) out[i.ref_msgid.value_or("")] = i.payload;
  return out;
}

}  // namespace

TEST_CASE("a v11 ledger migrates to v12 in place: reversals and a stay's items go with the person's insured area") {
  TestDir d("ledger-v11-v12");
  const std::string path = d.file("ledger.db");
  const std::vector<Migration> upto_v11(migrations().begin(), migrations().begin() + 11);
  std::int64_t old_adm = 0;
  {
    LedgerOptions v11;
    v11.migrations = upto_v11;
    auto l = Ledger::open(path, v11);
    if (!l) FAIL(l.error().message);
    CHECK((*l)->schema_version() == 11);
    // As the v11 build wrote them: a message sent without an outcome, a stay.
    auto w = (*l)->write_wait([&](sql::Db& db) -> sql::Status {
      SETTLE_SQL_TRY(record_request(db, test::sample_request("v11-settle")));
      Message m;
      m.msgid = msgid_v12(1);
      m.infno = "2207";
      m.request_id = "v11-settle";
      m.psn_no = "P0001";
      m.created_at_ms = m.updated_at_ms = 100;
      SETTLE_SQL_TRY(record_message(db, m));
      SETTLE_SQL_TRY(record_request(db, test::sample_request("v11-adm")));
      auto adm = insert_stay(db, test::sample_stay("v11-adm", "P0001"), 200);
      if (!adm) return adm.error();
      old_adm = *adm;
      return settle::Ok{};
    });
    REQUIRE(w.ok());
  }
  auto opened = Ledger::open(path);
  if (!opened) FAIL(opened.error().message);
  auto l = std::move(opened).value();
  CHECK(l->schema_version() == current_schema_version());
  CHECK(current_schema_version() >= 12);
  CHECK(std::filesystem::exists(path + ".v11.bak"));
  // The copy holds what the ledger holds: its owner's alone, whatever the umask.
  CHECK((std::filesystem::status(path + ".v11.bak").permissions() &
         (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) == std::filesystem::perms::none);
  const FlowConventions conv = v12_conventions();

  std::int64_t new_adm = 0;
  auto w = l->write_wait([&](sql::Db& db) -> sql::Status {
    // The rows before: no area.
    auto old = find_message(db, msgid_v12(1));
    if (!old) return old.error();
    REQUIRE(old->has_value());
    CHECK((**old).insuplc_admdvs.empty());
    // A settle call of a person insured elsewhere: its msgid names the area.
    SETTLE_SQL_TRY(record_request(db, test::sample_request("v12-settle")));
    auto written = apply_change(db, flow::WriteMsgid{msgid_v12(2), flow::Txn::settle, "v12-settle", "P0002", "320506"}, conv, 300);
    if (!written) return written.error();
    auto got = find_message(db, msgid_v12(2));
    if (!got) return got.error();
    REQUIRE(got->has_value());
    CHECK((**got).insuplc_admdvs == "320506");
    // Its reply lost: in doubt, the reversal queued with the area.
    flow::RecordCallFailed lost;
    lost.msgid = msgid_v12(2);
    lost.txn = flow::Txn::settle;
    lost.outcome = flow::CallOutcome::in_doubt;
    lost.psn_no = "P0002";
    lost.request_id = "v12-settle";
    auto failed = apply_change(db, lost, conv, 400);
    if (!failed) return failed.error();
    // A refund's msgid of the same person, sent when settled stopped: found at start-up.
    SETTLE_SQL_TRY(record_request(db, test::sample_request("v12-refund")));
    auto refund = apply_change(db, flow::WriteMsgid{msgid_v12(3), flow::Txn::refund, "v12-refund", "P0002", "320506"}, conv, 500);
    if (!refund) return refund.error();
    auto open = list_messages(db, MessageState::written);
    if (!open) return open.error();
    CHECK(open->size() == 2);  // the v11 one and the refund's
    for (const Message& m : *open)
      if (auto r = recover_message(db, m, conv, 600); !r) return r.error();
    const auto payloads = reversal_payloads(db);
    REQUIRE(payloads.size() == 3);
    CHECK(payloads.at(msgid_v12(1)) == R"({"psn_no":"P0001","oinfno":"2207"})");  // before v12: the hospital's
    CHECK(payloads.at(msgid_v12(2)) == R"({"psn_no":"P0002","oinfno":"2207","insuplc_admdvs":"320506"})");
    CHECK(payloads.at(msgid_v12(3)) == R"({"psn_no":"P0002","oinfno":"9301","insuplc_admdvs":"320506"})");

    // A stay of a person insured elsewhere names the area; its items carry it.
    SETTLE_SQL_TRY(record_request(db, test::sample_request("v12-adm")));
    flow::StayRecord st = test::sample_stay("v12-adm", "P0002");
    st.card_no = "E00000010";
    st.mode = settle::Mode::offline;
    st.insuplc_admdvs = "320506";
    auto adm = insert_stay(db, st, 700);
    if (!adm) return adm.error();
    new_adm = *adm;
    auto q = enqueue_stay_item(db, new_adm, StayItemKind::admission, std::nullopt, std::nullopt, false, 700, 700);
    if (!q) return q.error();
    auto work = claim_stay_work(db, 800);
    if (!work) return work.error();
    REQUIRE(work->has_value());
    CHECK((**work).item.adm_id == new_adm);
    CHECK((**work).call.insuplc_admdvs == "320506");
    // The stay before v12 learns its area once (from 1101); it is kept after.
    SETTLE_SQL_TRY(set_stay_person(db, old_adm, "P0001", "310", 900, "110108"));
    SETTLE_SQL_TRY(set_stay_person(db, old_adm, "P0001", "310", 950, "320506"));
    auto back = find_stay(db, old_adm);
    if (!back) return back.error();
    REQUIRE(back->has_value());
    CHECK((**back).stay.insuplc_admdvs == "110108");
    CHECK((**back).stay.psn_no == "P0001");
    return settle::Ok{};
  });
  if (!w) FAIL(w.error().message);

  auto check = l->read([&](sql::Db& db) -> sql::Status {
    auto report = chain::verify(db);
    REQUIRE(report.ok());
    for (const auto& p : report->problems) INFO(p.message);
    CHECK(report->ok());
    CHECK(report->counts["stay_area"] == 2);  // the new stay, and the old one's area learnt
    return settle::Ok{};
  });
  REQUIRE(check.ok());
  // Fixed once written.
  CHECK_FALSE(l->write_wait([&](sql::Db& db) {
                 return db.exec(fmt::format("UPDATE insurer_messages SET insuplc_admdvs = '110108' WHERE msgid = '{}'",
                                            msgid_v12(2)));
               }).ok());
  CHECK_FALSE(l->write_wait([&](sql::Db& db) {
                 return db.exec(fmt::format("UPDATE stays SET insuplc_admdvs = '110108' WHERE adm_id = {}", new_adm));
               }).ok());
}

TEST_CASE("an upload batch holds one insured area: the next area's settlements go in the next batch, in order") {
  TestDir d("ledger-v12-uploads");
  auto opened = Ledger::open(d.file("ledger.db"));
  if (!opened) FAIL(opened.error().message);
  auto l = std::move(opened).value();
  auto w = l->write_wait([&](sql::Db& db) -> sql::Status {
    const char* areas[] = {"", "", "320506", "320506", ""};
    for (int i = 0; i < 5; ++i) {
      const std::string req = fmt::format("off-{}", i);
      SETTLE_SQL_TRY(record_request(db, test::sample_request(req)));
      Settlement s = test::sample_offline_settlement(req);
      s.insuplc_admdvs = areas[i];
      auto id = record_settlement(db, s, test::sample_lines());
      if (!id) return id.error();
      auto q = enqueue_outbox(db, OutboxKind::offline_upload, *id, std::nullopt, "{}", 100 + i);
      if (!q) return q.error();
    }
    std::vector<std::vector<std::string>> batches;
    for (;;) {
      auto b = claim_uploads(db, 1'000, 10);
      if (!b) return b.error();
      if (b->empty()) break;
      std::vector<std::string> ids;
      for (const UploadItem& u : *b) ids.push_back(u.settlement.request_id + "@" + u.settlement.insuplc_admdvs);
      batches.push_back(ids);
    }
    CHECK(batches == std::vector<std::vector<std::string>>{
                         {"off-0@", "off-1@"}, {"off-2@320506", "off-3@320506"}, {"off-4@"}});
    return settle::Ok{};
  });
  if (!w) FAIL(w.error().message);
}
