// Refund and re-settlement arithmetic, as tables: cash first then account,
// the account never above what is left of the original's account payment,
// refusals whole with their reason.
#include "fixtures.hpp"

#include "engine/refund.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace settle;
using namespace settle::test;

namespace {
Parts parts(const char* total, const char* fund, const char* account, const char* cash) {
  return Parts{yuan(total), yuan(fund), yuan(account), yuan(cash)};
}
}  // namespace

TEST_CASE("refund split table") {
  struct Row {
    const char* name;
    Parts original;
    std::vector<Parts> before;
    const char* refund_total;
    const char* fund_r;
    // expected: fund, account, cash, or a refusal
    const char* fund;
    const char* account;
    const char* cash;
    Reason refused;
  };
  const Parts orig = parts("100.00", "70.00", "20.00", "10.00");
  const std::vector<Row> rows = {
      {"full refund", orig, {}, "100.00", "70.00", "70.00", "20.00", "10.00", Reason::internal},
      {"partial: cash first", orig, {}, "15.00", "7.00", "7.00", "0.00", "8.00", Reason::internal},
      {"partial: then account", orig, {}, "40.00", "14.00", "14.00", "16.00", "10.00", Reason::internal},
      {"repeated partial uses what is left of cash",
       orig, {parts("15.00", "7.00", "0.00", "8.00")}, "15.00", "7.00", "7.00", "6.00", "2.00", Reason::internal},
      {"last partial takes exactly the rest",
       orig, {parts("40.00", "14.00", "16.00", "10.00")}, "60.00", "56.00", "56.00", "4.00", "0.00", Reason::internal},
      {"above what is left of the original",
       orig, {parts("40.00", "14.00", "16.00", "10.00")}, "60.01", "56.00", "", "", "", Reason::refund_exceeds_original},
      {"account part above the original's account payment",
       orig, {}, "35.00", "0.00", "", "", "", Reason::refund_exceeds_original},
      {"account part above what is left of it",
       orig, {parts("28.00", "0.00", "18.00", "10.00")}, "5.00", "0.00", "", "", "", Reason::refund_exceeds_original},
      {"fund share above the refund", orig, {}, "10.00", "10.01", "", "", "", Reason::refund_exceeds_original},
      {"fund share above what the fund holds",
       orig, {parts("80.00", "70.00", "0.00", "10.00")}, "20.00", "0.01", "", "", "", Reason::refund_exceeds_original},
      {"zero refund", orig, {}, "0.00", "0.00", "", "", "", Reason::invalid_request},
      {"self-pay original (no account) refunds only cash",
       parts("50.00", "0.00", "0.00", "50.00"), {}, "20.00", "0.00", "0.00", "0.00", "20.00", Reason::internal},
      {"account-only original",
       parts("50.00", "0.00", "50.00", "0.00"), {}, "20.00", "0.00", "0.00", "20.00", "0.00", Reason::internal},
  };
  for (const Row& r : rows) {
    CAPTURE(r.name);
    auto res = split_refund(r.original, r.before, yuan(r.refund_total), yuan(r.fund_r));
    if (r.refused != Reason::internal) {
      REQUIRE_FALSE(res.ok());
      CHECK(res.error().reason == r.refused);
      continue;
    }
    REQUIRE(res.ok());
    CHECK(format_amount(res->fund) == r.fund);
    CHECK(format_amount(res->account) == r.account);
    CHECK(format_amount(res->cash) == r.cash);
    CHECK(res->consistent());
  }
}

TEST_CASE("line refunds") {
  const std::vector<ChargeLine> lines{line("A1", LineClass::a, "60.00"), line("B1", LineClass::b, "30.00"),
                                      line("C1", LineClass::c, "10.00"), line("A1", LineClass::a, "5.00")};
  SUBCASE("everything left") {
    auto p = plan_line_refund(lines, {}, {});
    REQUIRE(p.ok());
    CHECK(format_amount(p->refund_total) == "105.00");
    CHECK(p->remaining_after.empty());
  }
  SUBCASE("some lines, a code spread over two lines") {
    const std::vector<LineRefund> req{{"A1", yuan("62.00")}, {"C1", yuan("10.00")}};
    auto p = plan_line_refund(lines, {}, req);
    REQUIRE(p.ok());
    CHECK(format_amount(p->refund_total) == "72.00");
    REQUIRE(p->remaining_after.size() == 2);
    CHECK(p->remaining_after[0].code == "B1");
    CHECK(format_amount(p->remaining_after[1].amount) == "3.00");
  }
  SUBCASE("after earlier refunds") {
    const std::vector<LineRefund> before{{"A1", yuan("65.00")}};
    auto over = plan_line_refund(lines, before, std::vector<LineRefund>{{"A1", yuan("0.01")}});
    CHECK(over.error().reason == Reason::refund_exceeds_original);
    CHECK(over.error().field == "lines[0].amount");
    auto rest = plan_line_refund(lines, before, {});
    CHECK(format_amount(rest->refund_total) == "40.00");
  }
  SUBCASE("unknown code and bad amounts") {
    CHECK(plan_line_refund(lines, {}, std::vector<LineRefund>{{"X9", yuan("1.00")}}).error().reason == Reason::not_found);
    CHECK(plan_line_refund(lines, {}, std::vector<LineRefund>{{"A1", yuan("0.00")}}).error().reason ==
          Reason::invalid_request);
    const std::vector<LineRefund> all{{"A1", yuan("65.00")}, {"B1", yuan("30.00")}, {"C1", yuan("10.00")}};
    CHECK(plan_line_refund(lines, all, {}).error().reason == Reason::refund_exceeds_original);
  }
  SUBCASE("the fund's share is what the remaining lines no longer need") {
    const Policy policy = worked_policy();
    const Person at{"310", {}, yuan("500.00"), yuan("1800.00"), yuan("0")};
    const SplitOptions opts{VisitType::outpatient, true, true, std::nullopt};
    auto orig = split(policy, at, lines, opts);
    REQUIRE(orig.ok());
    // A1 65 + B1 30 (27 in range) + C1 10: inscp 92.00, fund 64.40
    CHECK(format_amount(orig->fund) == "64.40");
    auto p = plan_line_refund(lines, {}, std::vector<LineRefund>{{"C1", yuan("10.00")}});
    auto f = fund_share_of_line_refund(policy, at, opts, *p, orig->fund);
    CHECK(format_amount(*f) == "0.00");  // class C: the fund paid nothing for it
    auto p2 = plan_line_refund(lines, {}, std::vector<LineRefund>{{"A1", yuan("60.00")}});
    auto f2 = fund_share_of_line_refund(policy, at, opts, *p2, orig->fund);
    CHECK(format_amount(*f2) == "42.00");
    auto p3 = plan_line_refund(lines, {}, {});
    CHECK(format_amount(*fund_share_of_line_refund(policy, at, opts, *p3, orig->fund)) == "64.40");
  }
}

TEST_CASE("re-settlement gives the cash difference back") {
  const Policy policy = worked_policy();
  const Person p{"310", {}, yuan("500.00"), yuan("1800.00"), yuan("0")};
  const std::vector<ChargeLine> lines{line("A1", LineClass::a, "100.00")};
  // Paid without the account (PIN skipped): fund 70, cash 30.
  auto first = split(policy, p, lines, SplitOptions{VisitType::outpatient, false, false, std::nullopt});
  REQUIRE(first.ok());
  auto again = split(policy, p, lines, SplitOptions{VisitType::outpatient, true, true, std::nullopt});
  auto r = resettle(parts_of(*first), {}, *again);
  REQUIRE(r.ok());
  CHECK(r->undo == parts_of(*first));
  CHECK(format_amount(r->settlement.account) == "30.00");
  CHECK(format_amount(r->cash_back) == "30.00");

  // Offline self-pay (fund 0, cash 100) re-settled online: the fund now pays too.
  const Parts offline_selfpay = parts("100.00", "0.00", "0.00", "100.00");
  auto r2 = resettle(offline_selfpay, {}, *again);
  CHECK(format_amount(r2->cash_back) == "100.00");

  // Balance short: patient still pays some cash, gets back the difference.
  const Person poor{"310", {}, yuan("10.00"), yuan("1800.00"), yuan("0")};
  auto short_split = split(policy, poor, lines, SplitOptions{VisitType::outpatient, true, true, std::nullopt});
  CHECK(format_amount(resettle(parts_of(*first), {}, *short_split)->cash_back) == "10.00");

  // Totals must match what is left; a fully refunded original cannot be re-settled.
  CHECK(resettle(parts_of(*first), std::vector<Parts>{parts_of(*first)}, *again).error().reason == Reason::invalid_state);
  CHECK(resettle(parts("90.00", "63.00", "0.00", "27.00"), {}, *again).error().reason == Reason::invalid_request);
}
