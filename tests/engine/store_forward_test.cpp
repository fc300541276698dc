// The store-and-forward policy and the settlement state table, as tables:
// one row per case, the expected outcome last.
#include "engine/settlement_state.hpp"
#include "engine/store_forward.hpp"

#include <doctest/doctest.h>

using namespace settle;

TEST_CASE("retry delays double from the initial wait up to the cap") {
  const ForwardPolicy p{1000, 60'000, 5};
  struct Row {
    std::int64_t tries, delay_ms;
  };
  for (const Row& r : {Row{1, 1000}, Row{2, 2000}, Row{3, 4000}, Row{6, 32'000}, Row{7, 60'000}, Row{400, 60'000}}) {
    CAPTURE(r.tries);
    CHECK(retry_delay_ms(p, r.tries) == r.delay_ms);
  }
}

TEST_CASE("an item is parked after the insurer refused it park_after_refusals times; unanswered tries never count") {
  const ForwardPolicy p{1000, 60'000, 3};
  struct Row {
    ForwardAnswer answer;
    std::int64_t tries, refusals_before;
    ForwardVerdict verdict;
    std::int64_t refusals_after, next_at;
  };
  const Row rows[] = {
      {ForwardAnswer::acknowledged, 1, 0, ForwardVerdict::done, 0, 0},
      {ForwardAnswer::acknowledged, 9, 2, ForwardVerdict::done, 2, 0},
      {ForwardAnswer::unanswered, 1, 0, ForwardVerdict::retry, 0, 10'000 + 1000},
      {ForwardAnswer::unanswered, 50, 2, ForwardVerdict::retry, 2, 10'000 + 60'000},
      {ForwardAnswer::refused, 1, 0, ForwardVerdict::retry, 1, 10'000 + 1000},
      {ForwardAnswer::refused, 2, 1, ForwardVerdict::retry, 2, 10'000 + 2000},
      {ForwardAnswer::refused, 3, 2, ForwardVerdict::park, 3, 0},
      {ForwardAnswer::refused, 40, 2, ForwardVerdict::park, 3, 0},
  };
  for (const Row& r : rows) {
    CAPTURE(r.tries);
    CAPTURE(r.refusals_before);
    const ForwardDecision d = decide_forward(p, r.answer, r.tries, r.refusals_before, 10'000);
    CHECK(d.verdict == r.verdict);
    CHECK(d.refusals == r.refusals_after);
    if (r.verdict == ForwardVerdict::retry) CHECK(d.next_attempt_at_ms == r.next_at);
  }
}

TEST_CASE("park_after_refusals 0 never parks") {
  const ForwardPolicy p{1000, 60'000, 0};
  CHECK(decide_forward(p, ForwardAnswer::refused, 1000, 999, 0).verdict == ForwardVerdict::retry);
}

TEST_CASE("a batch refused whole is retried one item at a time; only a lone item's refusals count") {
  CHECK(next_upload_batch_size(500, false) == 500);
  CHECK(next_upload_batch_size(500, true) == 1);
  CHECK(next_upload_batch_size(0, false) == 1);
  CHECK(refusal_counts_against_items(1));
  CHECK_FALSE(refusal_counts_against_items(2));
}

TEST_CASE("parked items never hold the line in draining") {
  CHECK(drained(0, 0));
  CHECK_FALSE(drained(1, 0));
  CHECK_FALSE(drained(0, 1));
}

TEST_CASE("the settlement state table") {
  // Every state's name round-trips.
  for (SettlementState s : all_settlement_states) CHECK(settlement_state_from_name(settlement_state_name(s)) == s);
  CHECK_FALSE(settlement_state_from_name("nope").has_value());
  // What the cashier may do, derived from the one table.
  struct Row {
    SettlementState s;
    bool refundable, resettleable;
  };
  const Row rows[] = {
      {SettlementState::settled, true, true},
      {SettlementState::partly_refunded, true, true},
      {SettlementState::offline_accepted, true, true},
      {SettlementState::offline_pending, false, false},
      {SettlementState::offline_rejected, false, false},
      {SettlementState::refunded, false, false},
      {SettlementState::undone, false, false},
  };
  for (const Row& r : rows) {
    CAPTURE(settlement_state_name(r.s));
    CHECK(refundable(r.s) == r.refundable);
    CHECK(resettleable(r.s) == r.resettleable);
  }
  // No state moves to itself, nothing leaves refunded or undone.
  for (const auto& m : settlement_moves) {
    CHECK(m.from != m.to);
    CHECK(m.from != SettlementState::refunded);
    CHECK(m.from != SettlementState::undone);
  }
}
