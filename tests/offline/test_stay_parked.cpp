// A stay's parked items and the office's hand on them (offline/stay_ops): an
// item refused until parked holds the stay's later items parked behind it;
// the list names what each waits for; a supervisor retries or resolves only
// the first one, which releases the rest; an admission is never resolved
// without the insurer; a stay admitted by card alone gets its person once.
#include "offline/flow_ledger.hpp"
#include "offline/ledger.hpp"
#include "offline/stay_ops.hpp"
#include "sample.hpp"
#include "sample_stay.hpp"
#include "test_dir.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>
#include <vector>

namespace settle::stay_parked_test {
namespace {

using namespace settle::ledger;
using settle::test::TestDir;

std::unique_ptr<Ledger> open_or_fail(const std::string& path) {
  auto l = Ledger::open(path, LedgerOptions{});
  if (!l) FAIL(l.error().message);
  return std::move(l).value();
}

struct Queued {
  std::int64_t adm_id = 0;
  std::vector<std::int64_t> items;  // admission, batch 1, batch 2
};

// A stay admitted offline by card alone, with two batches queued behind its admission.
Queued offline_stay(Ledger& l) {
  auto r = l.write_wait([](sql::Db& db) -> sql::Result<Queued> {
    Queued q;
    for (const char* id : {"adm-1", "b-1", "b-2"}) {
      auto req = record_request(db, test::sample_request(id));
      if (!req) return req.error();
    }
    auto adm = insert_stay(db, test::sample_stay("adm-1"), 1'000);
    if (!adm) return adm.error();
    q.adm_id = *adm;
    auto a = enqueue_stay_item(db, q.adm_id, StayItemKind::admission, std::nullopt, std::nullopt, false, 1'000, 1'000);
    if (!a) return a.error();
    q.items.push_back(*a);
    for (std::string_view b : {"b-1", "b-2"}) {
      settle::flow::StayLine one;
      one.feedetl_sn = std::string(b) + "-1";
      one.line = settle::ChargeLine{"250101001", "床位费", settle::LineClass::a, Amount::fen(5'000), std::nullopt};
      const std::vector<settle::flow::StayLine> lines{one};
      auto add = add_stay_lines(db, q.adm_id, b, lines, 1'000);
      if (!add) return add.error();
      auto i = enqueue_stay_item(db, q.adm_id, StayItemKind::lines, b, std::nullopt, false, 1'000, 1'000);
      if (!i) return i.error();
      q.items.push_back(*i);
    }
    return q;
  });
  REQUIRE_MESSAGE(r.ok(), r.error().message);
  return *r;
}

StayItem item_of(Ledger& l, std::int64_t adm_id, std::int64_t item_id) {
  auto all = l.read([adm_id](sql::Db& db) { return stay_items_of(db, adm_id); });
  REQUIRE(all.ok());
  for (const StayItem& i : *all)
    if (i.item_id == item_id) return i;
  FAIL("no item " << item_id);
  return {};
}

// Claims the next item and parks it (the insurer refused it for good).
void claim_and_park(Ledger& l, std::int64_t expect_item, std::int64_t at) {
  auto c = l.write_wait([at](sql::Db& db) { return claim_stay_item(db, at); });
  REQUIRE(c.ok());
  REQUIRE(c->has_value());
  REQUIRE((**c).item_id == expect_item);
  REQUIRE(l.write_wait([expect_item, at](sql::Db& db) {
             return finish_stay_item(db, expect_item, StayItemOutcome::park, at, 0, "infcode -1: refused", 3);
           }).ok());
}

}  // namespace

TEST_CASE("a parked stay item holds the stay's later items; a supervisor retries the first and releases them all") {
  TestDir d("stay-parked-retry");
  auto l = open_or_fail(d.file("ledger.db"));
  const Queued q = offline_stay(*l);
  claim_and_park(*l, q.items[0], 2'000);

  auto parked = l->read([](sql::Db& db) { return list_parked_stay_items(db); });
  REQUIRE(parked.ok());
  REQUIRE(parked->size() == 3);
  CHECK((*parked)[0].item.item_id == q.items[0]);
  CHECK_FALSE((*parked)[0].behind.has_value());
  CHECK((*parked)[0].psn_no.empty());
  CHECK((*parked)[1].behind == q.items[0]);
  CHECK((*parked)[2].behind == q.items[0]);
  // Nothing of the stay is claimed while its first item is parked.
  auto none = l->write_wait([](sql::Db& db) { return claim_stay_item(db, 3'000); });
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());

  // Only the first item is the supervisor's to act on.
  auto behind = l->write_wait([id = q.items[1]](sql::Db& db) { return retry_parked_stay_item(db, id, "S001", 3'000); });
  REQUIRE_FALSE(behind.ok());
  CHECK(behind.error().code == sql::Errc::invalid_state);
  CHECK(behind.error().message.find(fmt::format("waits behind item {}", q.items[0])) != std::string::npos);
  auto missing = l->write_wait([](sql::Db& db) { return retry_parked_stay_item(db, 999, "S001", 3'000); });
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == sql::Errc::not_found);

  REQUIRE(l->write_wait([id = q.items[0]](sql::Db& db) { return retry_parked_stay_item(db, id, "S001", 4'000); }).ok());
  for (std::int64_t id : q.items) {
    const StayItem it = item_of(*l, q.adm_id, id);
    CHECK(it.state == StayItemState::pending);
    CHECK(it.refusals == 0);
    CHECK(it.next_attempt_at_ms == 4'000);
  }
  // Retried twice is refused: it is pending now, not parked.
  auto again = l->write_wait([id = q.items[0]](sql::Db& db) { return retry_parked_stay_item(db, id, "S001", 4'100); });
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == sql::Errc::invalid_state);
  // The admission goes first again.
  auto next = l->write_wait([](sql::Db& db) { return claim_stay_item(db, 5'000); });
  REQUIRE(next.ok());
  REQUIRE(next->has_value());
  CHECK((**next).item_id == q.items[0]);
}

TEST_CASE("a parked batch is resolved by the office with a note; an admission is not resolved without the insurer") {
  TestDir d("stay-parked-resolve");
  auto l = open_or_fail(d.file("ledger.db"));
  const Queued q = offline_stay(*l);
  claim_and_park(*l, q.items[0], 2'000);
  auto adm = l->write_wait([id = q.items[0]](sql::Db& db) {
    return resolve_parked_stay_item(db, id, "S001", "entered at the insurer's portal", 3'000);
  });
  REQUIRE_FALSE(adm.ok());
  CHECK(adm.error().code == sql::Errc::invalid_state);
  CHECK(adm.error().message.find("admission") != std::string::npos);
  CHECK(item_of(*l, q.adm_id, q.items[0]).state == StayItemState::parked);

  // The admission taken after a retry; the first batch is parked in its turn.
  REQUIRE(l->write_wait([id = q.items[0]](sql::Db& db) { return retry_parked_stay_item(db, id, "S001", 3'000); }).ok());
  auto c = l->write_wait([](sql::Db& db) { return claim_stay_item(db, 3'100); });
  REQUIRE(c.ok());
  REQUIRE(c->has_value());
  REQUIRE(l->write_wait([id = q.items[0]](sql::Db& db) {
             return finish_stay_item(db, id, StayItemOutcome::done, 3'200);
           }).ok());
  claim_and_park(*l, q.items[1], 3'300);
  CHECK(item_of(*l, q.adm_id, q.items[2]).state == StayItemState::parked);

  REQUIRE(l->write_wait([id = q.items[1]](sql::Db& db) {
             return resolve_parked_stay_item(db, id, "S001", "batch entered at the insurer's portal", 4'000);
           }).ok());
  CHECK(item_of(*l, q.adm_id, q.items[1]).state == StayItemState::done);
  CHECK(item_of(*l, q.adm_id, q.items[2]).state == StayItemState::pending);
  auto ev = l->read([adm_id = q.adm_id](sql::Db& db) -> sql::Result<std::int64_t> {
    auto n = db.query_int64(fmt::format(
        "SELECT count(*) FROM events WHERE entity = 'stay' AND entity_id = '{}' AND detail LIKE '%resolved by S001 without "
        "the insurer: batch entered%'",
        adm_id));
    if (!n) return n.error();
    return n->value_or(0);
  });
  REQUIRE(ev.ok());
  CHECK(*ev == 1);
}

TEST_CASE("an admission the insurer takes without a visit id is counted as refused and parks, not retried for ever") {
  TestDir d("stay-no-visit");
  auto l = open_or_fail(d.file("ledger.db"));
  const Queued q = offline_stay(*l);
  const ForwardPolicy policy;  // parks after 5 refusals
  settle::flow::InsurerReply ok_without_visit;
  ok_without_visit.outcome = settle::flow::CallOutcome::ok;  // and no mdtrt_id
  std::vector<ForwardVerdict> verdicts;
  std::int64_t at = 2'000;
  for (int i = 0; i < 8 && (verdicts.empty() || verdicts.back() == ForwardVerdict::retry); ++i, at += 3'600'000) {
    auto v = l->write_wait([&](sql::Db& db) -> sql::Result<ForwardVerdict> {
      auto w = claim_stay_work(db, at);
      if (!w) return w.error();
      REQUIRE(w->has_value());
      CHECK((**w).item.item_id == q.items[0]);
      return finish_stay_work(db, **w, ok_without_visit, policy, at);
    });
    REQUIRE_MESSAGE(v.ok(), v.error().message);
    verdicts.push_back(*v);
  }
  CHECK(verdicts == std::vector<ForwardVerdict>{ForwardVerdict::retry, ForwardVerdict::retry, ForwardVerdict::retry,
                                                ForwardVerdict::retry, ForwardVerdict::park});
  const StayItem admission = item_of(*l, q.adm_id, q.items[0]);
  CHECK(admission.state == StayItemState::parked);
  CHECK(admission.last_error.value_or("").find("without a visit id") != std::string::npos);
  auto row = l->read([adm = q.adm_id](sql::Db& db) { return find_stay(db, adm); });
  REQUIRE(row.ok());
  REQUIRE(row->has_value());
  CHECK((**row).stay.mdtrt_id.empty());
}

TEST_CASE("a stay admitted by card alone takes the person the insurer names, once") {
  TestDir d("stay-person");
  auto l = open_or_fail(d.file("ledger.db"));
  const Queued q = offline_stay(*l);
  REQUIRE(l->write_wait([adm = q.adm_id](sql::Db& db) { return set_stay_person(db, adm, "P0009", "310", 2'000); }).ok());
  // The same answer again (a retried forward) changes nothing.
  REQUIRE(l->write_wait([adm = q.adm_id](sql::Db& db) { return set_stay_person(db, adm, "P0009", "310", 2'100); }).ok());
  auto other = l->write_wait([adm = q.adm_id](sql::Db& db) { return set_stay_person(db, adm, "P0010", "310", 2'200); });
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().code == sql::Errc::invalid_state);
  auto row = l->read([adm = q.adm_id](sql::Db& db) { return find_stay(db, adm); });
  REQUIRE(row.ok());
  REQUIRE(row->has_value());
  CHECK((**row).stay.psn_no == "P0009");
  CHECK((**row).stay.insutype == "310");
  // The forwarder's call for the admission now names the person.
  auto w = l->write_wait([](sql::Db& db) { return claim_stay_work(db, 3'000); });
  REQUIRE(w.ok());
  REQUIRE(w->has_value());
  CHECK((**w).call.psn_no == "P0009");
  CHECK((**w).card_sn == "SN0009");
}

TEST_CASE("the open stay of a person: by person, or by card; an empty card (admitted by e-voucher) matches no one") {
  TestDir d("stay-open-of");
  auto l = open_or_fail(d.file("ledger.db"));
  // Person P0001 admitted by e-voucher: no card.
  auto adm = l->write_wait([](sql::Db& db) -> sql::Result<std::int64_t> {
    auto req = record_request(db, test::sample_request("adm-ec"));
    if (!req) return req.error();
    settle::flow::StayRecord st = test::sample_stay("adm-ec", "P0001");
    st.card_no.clear();
    st.card_sn.clear();
    return insert_stay(db, st, 1'000);
  });
  REQUIRE(adm.ok());
  const auto open_of = [&](std::string psn, std::string card) {
    auto r = l->read([psn, card](sql::Db& db) { return open_stay_of(db, psn, card); });
    REQUIRE(r.ok());
    return *r;
  };
  CHECK(open_of("P0001", "") == std::optional<std::int64_t>(*adm));
  CHECK(open_of("P0001", "E00000001") == std::optional<std::int64_t>(*adm));
  // Another person by e-voucher or ID number (no card), or nobody: not that stay.
  CHECK_FALSE(open_of("P0002", "").has_value());
  CHECK_FALSE(open_of("", "").has_value());
  CHECK_FALSE(open_of("P0002", "E00000002").has_value());
}

TEST_CASE("admitted stays without a card: one per person (v12), several persons at once; a card's stay stays one per card") {
  TestDir d("stay-no-card");
  auto l = open_or_fail(d.file("ledger.db"));
  const auto admit = [&](std::string request, std::string psn, std::string card) {
    return l->write_wait([=](sql::Db& db) -> sql::Result<std::int64_t> {
      auto req = record_request(db, test::sample_request(request));
      if (!req) return req.error();
      settle::flow::StayRecord st = test::sample_stay(request, psn);
      st.card_no = card;
      if (card.empty()) st.card_sn.clear();
      return insert_stay(db, st, 1'000);
    });
  };
  // Two persons admitted by e-voucher or ID number at once (both with card_no '').
  REQUIRE(admit("adm-1", "P0001", "").ok());
  REQUIRE(admit("adm-2", "P0002", "").ok());
  // The same person twice without a card: refused by the ledger itself.
  CHECK_FALSE(admit("adm-3", "P0001", "").ok());
  // A card's stay: one admitted per card, whoever the person.
  REQUIRE(admit("adm-4", "P0003", "E00000003").ok());
  CHECK_FALSE(admit("adm-5", "P0004", "E00000003").ok());
  // Nobody at all: refused, naming the admission.
  auto none = admit("adm-6", "", "");
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message.find("adm-6") != std::string::npos);
}

}  // namespace settle::stay_parked_test
