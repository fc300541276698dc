// Seeded property tests over thousands of random charges and random refund
// sequences: parts always add up, nothing is negative, refunds never exceed
// the original or its account part, and a refused refund changes nothing.
// SETTLE_SEED=<n> in the environment replays a run; the seed is printed.
#include "fixtures.hpp"

#include "engine/refund.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <random>
#include <set>
#include <vector>

using namespace settle;
using namespace settle::test;

namespace {

std::uint64_t seed_from_env() {
  if (const char* s = std::getenv("SETTLE_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

struct Gen {
  std::mt19937_64 rng;
  std::int64_t between(std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); }
  bool chance(int percent) { return between(1, 100) <= percent; }

  Amount amount() {
    switch (between(0, 3)) {
      case 0: return Amount::fen(between(0, 99));             // fen-level edges
      case 1: return Amount::fen(between(0, 50'000));         // everyday
      case 2: return Amount::fen(between(0, 5'000'000));      // large
      default: return Amount::fen(between(0, 2'000'000'000)); // very large
    }
  }
  std::vector<ChargeLine> lines() {
    std::vector<ChargeLine> out(static_cast<std::size_t>(between(1, chance(5) ? 500 : 12)));
    for (std::size_t i = 0; i < out.size(); ++i) {
      out[i].code = "I" + std::to_string(between(0, 20));
      out[i].cls = static_cast<LineClass>(between(1, 3));
      out[i].amount = amount();
      if (out[i].cls == LineClass::b && chance(30)) out[i].selfpay_ratio = Ratio::ppm(between(0, 1'000'000));
    }
    return out;
  }
  Person person() {
    Person p;
    p.insutype = chance(50) ? "310" : "390";
    p.flags = PersonFlags::from_bits(static_cast<std::uint8_t>(chance(70) ? 0 : between(0, 31)));
    p.balance = chance(20) ? Amount::zero() : amount();
    p.deductible_used = Amount::fen(between(0, 300'000));
    p.fund_paid_ytd = Amount::fen(between(0, 2'500'000));
    return p;
  }
  SplitOptions options() {
    SplitOptions o;
    o.use_account = chance(85);
    o.pin_verified = chance(85);
    if (chance(25)) {
      OfflineContext c;
      c.cause = static_cast<OfflineCause>(between(1, 4));
      c.on_redlist = chance(70);
      c.outstanding_fund = Amount::fen(between(0, 5'000'000));
      c.outstanding_count = between(0, 2'100);
      c.oldest_age_s = between(0, 100'000);
      o.offline = c;
    }
    return o;
  }
};

}  // namespace

TEST_CASE("random charges: the split always adds up") {
  const std::uint64_t seed = seed_from_env();
  MESSAGE("SETTLE_SEED=" << seed);
  Gen g{std::mt19937_64(seed)};
  const Policy policy = worked_policy();
  for (int i = 0; i < 5000; ++i) {
    const auto lines = g.lines();
    const Person p = g.person();
    const SplitOptions o = g.options();
    auto r = split(policy, p, lines, o);
    if (!r) {
      // Only the documented refusal: a total above the per-settlement limit.
      REQUIRE(r.error().reason == Reason::limit_exceeded);
      continue;
    }
    const Split& s = *r;
    INFO("seed " << seed << " case " << i);
    REQUIRE(s.fund + s.account + s.cash == s.total);
    REQUIRE(!s.fund.is_negative());
    REQUIRE(!s.account.is_negative());
    REQUIRE(!s.cash.is_negative());
    REQUIRE(s.fulamt_ownpay + s.preselfpay + s.inscp == s.total);
    REQUIRE(s.fund <= s.inscp);
    REQUIRE(s.account <= max(Amount::zero(), p.balance));
    if (o.offline) REQUIRE(s.account.is_zero());
    if (p.flags.fund_stopped()) REQUIRE(s.fund.is_zero());
    if (!o.use_account || !o.pin_verified) REQUIRE(s.account.is_zero());
    REQUIRE(s.reasons.size() == std::set<SplitReason>(s.reasons.begin(), s.reasons.end()).size());
  }
}

TEST_CASE("random refund sequences never exceed the original") {
  const std::uint64_t seed = seed_from_env();
  MESSAGE("SETTLE_SEED=" << seed);
  Gen g{std::mt19937_64(seed)};
  const Policy policy = worked_policy();
  int refused = 0;
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    INFO("seed " << seed << " case " << i);
    const auto lines = g.lines();
    const Person p = g.person();
    SplitOptions o = g.options();
    o.offline.reset();
    auto s = split(policy, p, lines, o);
    if (!s) continue;
    const Parts original = parts_of(*s);
    std::vector<Parts> done;
    std::vector<LineRefund> done_lines;
    for (int step = 0; step < 8; ++step) {
      const Parts left = remaining(original, done);
      std::vector<LineRefund> req;
      if (g.chance(70)) {
        const ChargeLine& l = lines[static_cast<std::size_t>(g.between(0, static_cast<std::int64_t>(lines.size()) - 1))];
        req.push_back({l.code, Amount::fen(g.between(1, std::max<std::int64_t>(1, l.amount.fen())))});
      }
      auto plan = plan_line_refund(lines, done_lines, req);
      Amount total;
      Amount fund_r;
      if (plan) {
        total = plan->refund_total;
        fund_r = *fund_share_of_line_refund(policy, p, o, *plan, left.fund);
      } else {
        // Ask for something arbitrary instead: the arithmetic must refuse it whole or accept it.
        total = Amount::fen(g.between(1, left.total.fen() + 100));
        fund_r = Amount::fen(g.between(0, total.fen()));
      }
      if (g.chance(10)) fund_r = Amount::fen(g.between(0, total.fen()));  // an insurer with its own view
      // The rules restated independently: when must this refund be refused?
      const Amount patient = total - fund_r;
      const bool must_refuse = total > left.total || fund_r > total || fund_r > left.fund ||
                               (patient - min(patient, left.cash)) > left.account;
      auto r = split_refund(original, done, total, fund_r);
      REQUIRE(r.ok() == !must_refuse);
      if (!r) {
        ++refused;
        REQUIRE(r.error().reason == Reason::refund_exceeds_original);
        continue;  // `done` is untouched: the refused refund is not part of the history
      }
      ++accepted;
      REQUIRE(r->consistent());
      REQUIRE(r->total == total);
      REQUIRE(r->total <= left.total);
      REQUIRE(r->account <= left.account);
      REQUIRE(r->cash <= left.cash);
      REQUIRE(r->fund <= left.fund);
      // Cash first: the account is touched only when the cash left is used up.
      if (!r->account.is_zero()) REQUIRE(r->cash == left.cash);
      done.push_back(*r);
      if (plan) done_lines.insert(done_lines.end(), req.begin(), req.end());
      if (plan && req.empty()) break;
      const Parts after = remaining(original, done);
      REQUIRE(after.consistent());
    }
  }
  MESSAGE("refunds accepted " << accepted << ", refused " << refused);
  CHECK(accepted > 1000);
  CHECK(refused > 10);
}
