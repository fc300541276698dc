// The split, as a table: one row per rule case of settlement-rules.md with
// its worked figures (policy in fixtures.hpp), expected figures last.
#include "fixtures.hpp"

#include "engine/limits.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace settle;
using namespace settle::test;
using LC = LineClass;
using SR = SplitReason;

namespace {

struct Case {
  const char* name;
  std::vector<ChargeLine> lines;
  Person person;
  SplitOptions options;
  // expected
  const char* fulamt_ownpay;
  const char* preselfpay;
  const char* inscp;
  const char* deductible_part;
  const char* fund;
  const char* account;
  const char* cash;
  std::vector<SR> reasons;
};

Person person(const char* balance, const char* ded_used, const char* fund_ytd, PersonFlags flags = {},
              const char* insutype = "310") {
  return Person{insutype, flags, yuan(balance), yuan(ded_used), yuan(fund_ytd)};
}
PersonFlags flag(PersonFlag f) { return PersonFlags{}.set(f); }
SplitOptions online() { return SplitOptions{VisitType::outpatient, true, true, std::nullopt}; }
SplitOptions offline(OfflineContext c) { SplitOptions o = online(); o.offline = c; return o; }
OfflineContext redlisted(OfflineCause cause = OfflineCause::network_down) {
  OfflineContext c;
  c.cause = cause;
  c.on_redlist = true;
  return c;
}

}  // namespace

TEST_CASE("split rule table") {
  const Policy policy = worked_policy();
  SplitOptions no_pin = online();
  no_pin.pin_verified = false;
  SplitOptions skip = online();
  skip.use_account = false;
  OfflineContext lim_per = redlisted();
  lim_per.limits.per_settlement_fund_max = yuan("50.00");
  OfflineContext lim_total = redlisted();
  lim_total.outstanding_fund = yuan("49990.00");  // limit 50000.00
  OfflineContext lim_count = redlisted();
  lim_count.outstanding_count = 2000;  // limit 2000
  OfflineContext lim_age = redlisted();
  lim_age.oldest_age_s = 24 * 3600 + 1;
  OfflineContext not_listed = redlisted();
  not_listed.on_redlist = false;

  const ChargeLine a100 = line("A1", LC::a, "100.00");
  const std::vector<Case> cases = {
      // Line classes, deductible already used up: only the ratio applies.
      {"class A", {a100}, person("500.00", "1800.00", "0"), online(),
       "0.00", "0.00", "100.00", "0.00", "70.00", "30.00", "0.00", {}},
      {"class B default 10 %", {line("B1", LC::b, "100.00")}, person("500.00", "1800.00", "0"), online(),
       "0.00", "10.00", "90.00", "0.00", "63.00", "37.00", "0.00", {}},
      {"class B item ratio 20 %", {line("B-20", LC::b, "100.00")}, person("500.00", "1800.00", "0"), online(),
       "0.00", "20.00", "80.00", "0.00", "56.00", "44.00", "0.00", {}},
      {"class C", {line("C1", LC::c, "100.00")}, person("500.00", "1800.00", "0"), online(),
       "100.00", "0.00", "0.00", "0.00", "0.00", "100.00", "0.00", {}},
      {"mixed A+B+C", {line("A1", LC::a, "200.00"), line("B-20", LC::b, "150.00"), line("C1", LC::c, "50.00")},
       person("500.00", "1800.00", "0"), online(),
       "50.00", "30.00", "320.00", "0.00", "224.00", "176.00", "0.00", {}},
      // Deductible (起付线).
      {"deductible unused", {a100}, person("500.00", "0", "0"), online(),
       "0.00", "0.00", "100.00", "100.00", "0.00", "100.00", "0.00", {}},
      {"deductible partly used", {a100}, person("500.00", "1750.00", "0"), online(),
       "0.00", "0.00", "100.00", "50.00", "35.00", "65.00", "0.00", {}},
      {"deductible fully used", {a100}, person("500.00", "1800.00", "0"), online(),
       "0.00", "0.00", "100.00", "0.00", "70.00", "30.00", "0.00", {}},
      // Annual cap (封顶线).
      {"cap reached", {a100}, person("500.00", "1800.00", "20000.00"), online(),
       "0.00", "0.00", "100.00", "0.00", "0.00", "100.00", "0.00", {SR::annual_cap_reached}},
      {"cap partly", {a100}, person("500.00", "1800.00", "19980.00"), online(),
       "0.00", "0.00", "100.00", "0.00", "20.00", "80.00", "0.00", {SR::annual_cap_partly}},
      // Status flags (基金不记账): no fund, no deductible consumed, account first.
      {"unit arrears", {a100}, person("500.00", "0", "0", flag(PersonFlag::unit_arrears)), online(),
       "0.00", "0.00", "100.00", "0.00", "0.00", "100.00", "0.00", {SR::status_unit_arrears}},
      {"not designated", {a100}, person("60.00", "1800.00", "0", flag(PersonFlag::not_designated)), online(),
       "0.00", "0.00", "100.00", "0.00", "0.00", "60.00", "40.00",
       {SR::status_not_designated, SR::account_insufficient}},
      {"supervised", {a100}, person("500.00", "1800.00", "0", flag(PersonFlag::supervised)), online(),
       "0.00", "0.00", "100.00", "0.00", "0.00", "100.00", "0.00", {SR::status_supervised}},
      {"temporary settle change", {a100}, person("500.00", "1800.00", "0", flag(PersonFlag::temp_settle_change)),
       online(), "0.00", "0.00", "100.00", "0.00", "0.00", "100.00", "0.00", {SR::status_temp_settle_change}},
      // The personal account.
      {"account sufficient", {a100}, person("30.00", "1800.00", "0"), online(),
       "0.00", "0.00", "100.00", "0.00", "70.00", "30.00", "0.00", {}},
      {"account insufficient", {a100}, person("10.00", "1800.00", "0"), online(),
       "0.00", "0.00", "100.00", "0.00", "70.00", "10.00", "20.00", {SR::account_insufficient}},
      {"account zero", {a100}, person("0.00", "1800.00", "0"), online(),
       "0.00", "0.00", "100.00", "0.00", "70.00", "0.00", "30.00", {SR::account_zero}},
      {"account frozen", {a100}, person("500.00", "1800.00", "0", flag(PersonFlag::account_frozen)), online(),
       "0.00", "0.00", "100.00", "0.00", "70.00", "0.00", "30.00", {SR::account_frozen}},
      {"PIN not verified", {a100}, person("500.00", "1800.00", "0"), no_pin,
       "0.00", "0.00", "100.00", "0.00", "70.00", "0.00", "30.00", {SR::pin_not_verified}},
      {"account skipped by the cashier", {a100}, person("500.00", "1800.00", "0"), skip,
       "0.00", "0.00", "100.00", "0.00", "70.00", "0.00", "30.00", {SR::account_skipped}},
      // Offline (断网): account never used; fund estimate for red-listed persons within limits.
      {"offline red-listed", {a100}, person("500.00", "1800.00", "0"), offline(redlisted()),
       "0.00", "0.00", "100.00", "0.00", "70.00", "0.00", "30.00", {SR::offline_network_down}},
      {"offline in doubt", {a100}, person("500.00", "1800.00", "0"), offline(redlisted(OfflineCause::in_doubt)),
       "0.00", "0.00", "100.00", "0.00", "70.00", "0.00", "30.00", {SR::offline_in_doubt}},
      {"offline not on the red list", {a100}, person("500.00", "1800.00", "0"), offline(not_listed),
       "0.00", "0.00", "100.00", "0.00", "0.00", "0.00", "100.00", {SR::offline_network_down, SR::not_on_redlist}},
      {"offline limit per settlement", {a100}, person("500.00", "1800.00", "0"), offline(lim_per),
       "0.00", "0.00", "100.00", "0.00", "0.00", "0.00", "100.00",
       {SR::offline_network_down, SR::offline_limit, SR::offline_limit_per_settlement}},
      {"offline limit total", {a100}, person("500.00", "1800.00", "0"), offline(lim_total),
       "0.00", "0.00", "100.00", "0.00", "0.00", "0.00", "100.00",
       {SR::offline_network_down, SR::offline_limit, SR::offline_limit_total}},
      {"offline limit count", {a100}, person("500.00", "1800.00", "0"), offline(lim_count),
       "0.00", "0.00", "100.00", "0.00", "0.00", "0.00", "100.00",
       {SR::offline_network_down, SR::offline_limit, SR::offline_limit_count}},
      {"offline limit age", {a100}, person("500.00", "1800.00", "0"), offline(lim_age),
       "0.00", "0.00", "100.00", "0.00", "0.00", "0.00", "100.00",
       {SR::offline_network_down, SR::offline_limit, SR::offline_limit_age}},
      {"offline with a fund-stop flag", {a100}, person("500.00", "1800.00", "0", flag(PersonFlag::supervised)),
       offline(redlisted()), "0.00", "0.00", "100.00", "0.00", "0.00", "0.00", "100.00",
       {SR::offline_network_down, SR::status_supervised}},
      // Rounding: class B half up per line, fund floored.
      {"half up: 0.05 x 10 % = 0.005 -> 0.01", {line("B1", LC::b, "0.05")}, person("500.00", "1800.00", "0"), online(),
       "0.00", "0.01", "0.04", "0.00", "0.02", "0.03", "0.00", {}},
      {"half up: 0.04 x 10 % = 0.004 -> 0.00", {line("B1", LC::b, "0.04")}, person("500.00", "1800.00", "0"), online(),
       "0.00", "0.00", "0.04", "0.00", "0.02", "0.02", "0.00", {}},
      {"half up per line, not on the sum", {line("B1", LC::b, "0.05"), line("B2", LC::b, "0.05")},
       person("500.00", "1800.00", "0"), online(), "0.00", "0.02", "0.08", "0.00", "0.05", "0.05", "0.00", {}},
      {"floor: 0.01 x 70 % = 0.007 -> 0.00", {line("A1", LC::a, "0.01")}, person("500.00", "1800.00", "0"), online(),
       "0.00", "0.00", "0.01", "0.00", "0.00", "0.01", "0.00", {}},
      {"floor: 0.03 x 70 % = 0.021 -> 0.02", {line("A1", LC::a, "0.03")}, person("500.00", "1800.00", "0"), online(),
       "0.00", "0.00", "0.03", "0.00", "0.02", "0.01", "0.00", {}},
      {"line ratio overrides the policy", {ChargeLine{"B-20", "b", LC::b, yuan("100.00"), Ratio::ppm(300'000)}},
       person("500.00", "1800.00", "0"), online(), "0.00", "30.00", "70.00", "0.00", "49.00", "51.00", "0.00", {}},
      // Zero-amount charge: valid, everything zero.
      {"zero-amount lines", {line("A1", LC::a, "0.00"), line("C1", LC::c, "0")}, person("500.00", "0", "0"), online(),
       "0.00", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00", {}},
      {"zero balance and nothing to pay", {line("A1", LC::a, "0.00")}, person("0.00", "0", "0"), online(),
       "0.00", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00", {}},
      // Residents 390: deductible 100, 50 %, cap 3000.
      {"residents' policy", {line("A1", LC::a, "300.00")}, person("0.00", "0", "0", {}, "390"), online(),
       "0.00", "0.00", "300.00", "100.00", "100.00", "0.00", "200.00", {SR::account_zero}},
  };

  for (const Case& c : cases) {
    CAPTURE(c.name);
    auto r = split(policy, c.person, c.lines, c.options);
    REQUIRE(r.ok());
    const Split& s = *r;
    CHECK(format_amount(s.fulamt_ownpay) == c.fulamt_ownpay);
    CHECK(format_amount(s.preselfpay) == c.preselfpay);
    CHECK(format_amount(s.inscp) == c.inscp);
    CHECK(format_amount(s.deductible_part) == c.deductible_part);
    CHECK(format_amount(s.fund) == c.fund);
    CHECK(format_amount(s.account) == c.account);
    CHECK(format_amount(s.cash) == c.cash);
    CHECK(s.reasons == c.reasons);
    CHECK(s.fund + s.account + s.cash == s.total);
    CHECK(s.mode == (c.options.offline ? Mode::offline : Mode::online));
  }
}

TEST_CASE("500 lines are accepted, 501 are not") {
  const Policy policy = worked_policy();
  std::vector<ChargeLine> lines(limits::max_lines_per_settlement, line("A1", LC::a, "1.00"));
  auto r = split(policy, Person{"310", {}, yuan("1000.00"), yuan("1800.00"), yuan("0")}, lines, online());
  REQUIRE(r.ok());
  CHECK(format_amount(r->total) == "500.00");
  CHECK(format_amount(r->fund) == "350.00");
  lines.push_back(line("A1", LC::a, "1.00"));
  auto bad = split(policy, Person{"310", {}, yuan("1000.00"), yuan("0"), yuan("0")}, lines, online());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().reason == Reason::limit_exceeded);
  CHECK(bad.error().field == "lines");
}

TEST_CASE("lines split by their summed figures as they split line by line; a sum that cannot be is refused") {
  const Policy policy = worked_policy();
  const PolicyParams* params = policy.find("310", VisitType::inpatient);
  REQUIRE(params != nullptr);
  // Odd amounts: each class B line's self-paid part rounds on its own.
  std::vector<ChargeLine> lines;
  for (int i = 0; i < 40; ++i) {
    const LineClass c = i % 3 == 0 ? LC::a : i % 3 == 1 ? LC::b : LC::c;
    ChargeLine l{i % 2 == 0 ? "B7" : "A1", "item", c, Amount::fen(101 + 37 * i), std::nullopt};
    if (c == LC::b && i % 4 == 1) l.selfpay_ratio = Ratio::ppm(333'333);
    lines.push_back(l);
  }
  LineFigures f;
  for (const ChargeLine& l : lines) f += line_figures(policy, *params, l);
  SplitOptions o = online();
  o.visit = VisitType::inpatient;
  for (const Person& who : {Person{"310", {}, yuan("50.00"), yuan("0"), yuan("0")},
                            Person{"310", flag(PersonFlag::unit_arrears), yuan("0"), yuan("0"), yuan("0")}}) {
    auto by_lines = split(policy, who, lines, o);
    auto by_sum = split_figures(policy, who, f, o);
    REQUIRE(by_lines.ok());
    REQUIRE(by_sum.ok());
    CHECK(*by_sum == *by_lines);
  }
  // Taking a line's figures out is the split without it.
  LineFigures less = f;
  less -= line_figures(policy, *params, lines.back());
  const std::vector<ChargeLine> fewer(lines.begin(), lines.end() - 1);
  const Person who{"310", {}, yuan("50.00"), yuan("0"), yuan("0")};
  CHECK(*split_figures(policy, who, less, o) == *split(policy, who, fewer, o));

  LineFigures broken = f;
  broken.preselfpay = broken.total;
  CHECK(split_figures(policy, who, broken, o).error().reason == Reason::internal);
  LineFigures huge{Amount::fen(limits::amount_max_fen + 1), Amount::zero(), Amount::zero()};
  CHECK(split_figures(policy, who, huge, o).error().reason == Reason::limit_exceeded);
}

TEST_CASE("bad input is refused with the field named") {
  const Policy policy = worked_policy();
  const Person p{"310", {}, yuan("10.00"), yuan("0"), yuan("0")};
  auto empty = split(policy, p, std::vector<ChargeLine>{}, online());
  CHECK(empty.error().reason == Reason::invalid_request);
  CHECK(empty.error().field == "lines");

  auto no_code = split(policy, p, std::vector<ChargeLine>{line("", LC::a, "1.00")}, online());
  CHECK(no_code.error().field == "lines[0].code");

  std::vector<ChargeLine> ratio_on_a{line("A1", LC::a, "1.00"), line("A2", LC::a, "1.00")};
  ratio_on_a[1].selfpay_ratio = Ratio::ppm(100'000);
  CHECK(split(policy, p, ratio_on_a, online()).error().field == "lines[1].selfpay_ratio");

  std::vector<ChargeLine> too_much{line("A1", LC::a, "10000000000.00"), line("A2", LC::a, "0.01")};
  CHECK(split(policy, p, too_much, online()).error().reason == Reason::limit_exceeded);

  Person unknown = p;
  unknown.insutype = "999";
  auto np = split(policy, unknown, std::vector<ChargeLine>{line("A1", LC::a, "1.00")}, online());
  CHECK(np.error().reason == Reason::invalid_config);
  CHECK(np.error().message.find("999") != std::string::npos);
}

TEST_CASE("reason and flag names are stable") {
  CHECK(split_reason_name(SR::status_unit_arrears) == "status_unit_arrears");
  CHECK(split_reason_name(SR::pin_not_verified) == "pin_not_verified");
  CHECK(split_reason_name(SR::offline_network_down) == "offline_network_down");
  CHECK(split_reason_name(SR::offline_in_doubt) == "offline_in_doubt");
  CHECK(split_reason_name(SR::not_on_redlist) == "not_on_redlist");
  CHECK(split_reason_name(SR::offline_limit) == "offline_limit");
  for (int i = 1; i <= 21; ++i) {
    const auto r = static_cast<SR>(i);
    CHECK(split_reason_from_name(split_reason_name(r)) == r);
  }
  for (int i = 0; i < person_flag_count; ++i) {
    const auto f = static_cast<PersonFlag>(i);
    CHECK(person_flag_from_name(person_flag_name(f)) == f);
  }
  CHECK(PersonFlags{}.set(PersonFlag::supervised).set(PersonFlag::account_frozen).names() ==
        std::vector<std::string_view>{"supervised", "account_frozen"});
}
