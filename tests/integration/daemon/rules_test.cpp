// Settlement rules end to end (docs/rules.md): status flags,
// an insufficient account, a skipped PIN, refunds partial/repeated/over the
// original, re-settlement; after each, the insurer's record equals the ledger's.
#include "e2e_stack.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

namespace settle::e2e {
namespace {

using settle::testing::amount_at;
using settle::testing::fen;
using settle::testing::reason_of;

Json refund(RpcClient& c, const std::string& request_id, const std::string& setl_id, const Json& lines) {
  Json params{{"request_id", request_id}, {"setl_id", setl_id}};
  if (!lines.is_null()) params["lines"] = lines;
  return c.call("settle.refund", params);
}

Json one_line(const std::string& code, const std::string& amount) {
  return Json::array({Json{{"code", code}, {"amount", amount}}});
}

TEST_CASE("status flags: the fund pays nothing, the reason is given, the insurer agrees") {
  Stack& s = stack();
  const std::pair<int, const char*> cases[] = {{kArrears, "unit_arrears"},
                                               {kNotDesignated, "not_designated"},
                                               {kSupervised, "supervised"},
                                               {kTempChange, "temp_settle_change"}};
  for (const auto& [n, flag] : cases) {
    INFO("flag " << flag);
    place_card(0, n);
    auto c = s.session(Stack::cashier);
    read_card(*c, "123456");
    const Json q = c->call("person.query");
    REQUIRE_MESSAGE(q.contains("result"), q.dump());
    CHECK(q["result"]["flags"] == Json::array({flag}));
    const Json pv = c->call("settle.preview", Json{{"lines", visit_lines()}});
    REQUIRE_MESSAGE(pv.contains("result"), pv.dump());
    const Json done = commit(*c, fmt::format("flag-{}", flag), visit_lines());
    CHECK(has_reason(done, std::string("status_") + flag));
    CHECK(amount_at(done, "fund") == fen(0));
    CHECK(amount_at(done, "fund") == amount_at(pv["result"], "fund"));
    CHECK(amount_at(done, "account") == amount_at(pv["result"], "account"));
    CHECK(amount_at(done, "cash") == amount_at(pv["result"], "cash"));
    check_agrees_with_insurer(*c, done["setl_id"].get<std::string>());
  }
}

TEST_CASE("an insufficient account pays what it holds; the rest is cash") {
  Stack& s = stack();
  place_card(0, kPoor);
  auto c = s.session(Stack::cashier);
  read_card(*c, "123456");
  const Json done = commit(*c, "poor-1", visit_lines());
  CHECK(has_reason(done, "account_insufficient"));
  CHECK(amount_at(done, "account") == fen(1000));
  CHECK(amount_at(done, "balance_after") == fen(0));
  CHECK(amount_at(done, "cash") > fen(0));
  const Json d = check_agrees_with_insurer(*c, done["setl_id"].get<std::string>());
  const Json q = c->call("person.query");
  REQUIRE(q.contains("result"));
  CHECK(amount_at(q["result"], "balance") == fen(0));
}

TEST_CASE("PIN not verified: no account payment; re-settled with the account after the PIN") {
  Stack& s = stack();
  place_card(0, kPinSkip);
  auto c = s.session(Stack::cashier);
  read_card(*c);  // no PIN
  const Json q0 = c->call("person.query");
  REQUIRE(q0.contains("result"));
  const Amount balance0 = amount_at(q0["result"], "balance");

  const Json skipped = commit(*c, "pinskip-1", visit_lines(), true);
  CHECK(has_reason(skipped, "pin_not_verified"));
  CHECK(amount_at(skipped, "account") == fen(0));
  const std::string orig = skipped["setl_id"].get<std::string>();
  check_agrees_with_insurer(*c, orig);

  const Json declined = commit(*c, "pinskip-2", visit_lines(), false);
  CHECK(has_reason(declined, "account_skipped"));
  CHECK(amount_at(declined, "account") == fen(0));
  check_agrees_with_insurer(*c, declined["setl_id"].get<std::string>());

  // Re-settlement needs the PIN.
  CHECK(reason_of(c->call("settle.resettle", Json{{"request_id", "resettle-0"}, {"setl_id", orig}})) == "PIN_REQUIRED");
  const Json v = c->call("card.verify_pin", Json{{"pin", "123456"}});
  REQUIRE_MESSAGE(v.contains("result"), v.dump());
  const Json rs = c->call("settle.resettle", Json{{"request_id", "resettle-1"}, {"setl_id", orig}});
  REQUIRE_MESSAGE(rs.contains("result"), rs.dump());
  const Json& undo = rs["result"]["undo"];
  const Json& again = rs["result"]["settlement"];
  check_parts_add_up(undo, "refund_total");
  check_parts_add_up(again);
  CHECK(undo["setl_id"] == orig);
  CHECK(amount_at(undo, "refund_total") == amount_at(skipped, "total"));
  CHECK(amount_at(undo, "cash") == amount_at(skipped, "cash"));
  CHECK(amount_at(again, "total") == amount_at(skipped, "total"));
  CHECK(amount_at(again, "account") > fen(0));
  CHECK_FALSE(has_reason(again, "pin_not_verified"));
  CHECK(amount_at(rs["result"], "cash_back") == amount_at(undo, "cash") - amount_at(again, "cash"));
  CHECK(amount_at(again, "balance_after") == balance0 - amount_at(again, "account"));

  const Json od = check_agrees_with_insurer(*c, orig);
  CHECK(od["state"] == "undone");
  const Json nd = check_agrees_with_insurer(*c, again["setl_id"].get<std::string>());
  CHECK(nd["resettles_setl_id"] == orig);
  CHECK(nd["state"] == "settled");

  // Replayed: the same answer; an undone settlement cannot be re-settled again.
  const Json rs2 = c->call("settle.resettle", Json{{"request_id", "resettle-1"}, {"setl_id", orig}});
  REQUIRE_MESSAGE(rs2.contains("result"), rs2.dump());
  CHECK(rs2["result"] == rs["result"]);
  CHECK(reason_of(c->call("settle.resettle", Json{{"request_id", "resettle-2"}, {"setl_id", orig}})) ==
        "INVALID_STATE");
  // A settlement paid with the account is not re-settled.
  CHECK(reason_of(c->call("settle.resettle", Json{{"request_id", "resettle-3"},
                                                  {"setl_id", again["setl_id"]}})) == "INVALID_STATE");
}

TEST_CASE("refunds: partial, repeated, above the original, the rest; the insurer agrees after each") {
  Stack& s = stack();
  place_card(0, kRefunds);
  auto c = s.session(Stack::cashier);
  read_card(*c, "123456");
  const Json done = commit(*c, "refunds-1", visit_lines());
  const std::string id = done["setl_id"].get<std::string>();
  CHECK(amount_at(done, "account") > fen(0));

  // The settlement a refund is made on: the original; with the national
  // profile (no 9301) each refund of part undoes it (2208) and settles the
  // kept lines anew, and the next refund is made on that new settlement.
  std::string cur = id;
  Amount total_back, account_back;
  const auto refund_part = [&](const std::string& request_id, const Json& lines, Amount expected) {
    INFO("refund " << request_id << " of settlement " << cur);
    const Json r = refund(*c, request_id, cur, lines);
    REQUIRE_MESSAGE(r.contains("result"), r.dump());
    const Json& back = r["result"];
    INFO("answer: " << back.dump());
    CHECK(back["setl_id"] == cur);
    CHECK(amount_at(back, "refund_total") == expected);
    check_parts_add_up(back, "refund_total");
    total_back += amount_at(back, "refund_total");
    account_back += amount_at(back, "account");
    // Never more to the account than the original took, refund by refund.
    CHECK(account_back <= amount_at(done, "account"));
    if (!national()) {
      CHECK_FALSE(back.contains("settlement"));
      CHECK(check_agrees_with_insurer(*c, cur)["state"] == "partly_refunded");
      return;
    }
    const Json undone = check_agrees_with_insurer(*c, cur);
    CHECK(undone["state"] == "undone");
    REQUIRE(back.contains("settlement"));
    const Json kept = check_agrees_with_insurer(*c, back["settlement"]["setl_id"].get<std::string>());
    CHECK(kept["state"] == "settled");
    CHECK(kept["resettles_setl_id"] == cur);
    // The money back is the net of the undone settlement and the new one.
    for (const char* part : {"total", "fund", "account", "cash"}) {
      CAPTURE(part);
      CHECK(amount_at(undone, part) - amount_at(kept, part) == amount_at(back, std::string(part) == "total" ? "refund_total" : part));
    }
    cur = kept["setl_id"].get<std::string>();
  };
  refund_part("refunds-r1", one_line("C0001", "30.00"), fen(3000));
  refund_part("refunds-r2", one_line("C0001", "36.00"), fen(3600));

  // The C line is used up; a class A line above its amount.
  if (national()) {
    // The kept lines settled last have no C line left; the undone settlement has nothing left.
    CHECK(reason_of(refund(*c, "refunds-r3", cur, one_line("C0001", "0.01"))) == "NOT_FOUND");
    CHECK(reason_of(refund(*c, "refunds-r3-undone", id, one_line("C0001", "0.01"))) == "REFUND_EXCEEDS_ORIGINAL");
  } else {
    CHECK(reason_of(refund(*c, "refunds-r3", id, one_line("C0001", "0.01"))) == "REFUND_EXCEEDS_ORIGINAL");
  }
  CHECK(reason_of(refund(*c, "refunds-r4", cur, one_line("110200001", "25.01"))) == "REFUND_EXCEEDS_ORIGINAL");
  CHECK(reason_of(refund(*c, "refunds-r5", cur, one_line("NOPE", "1.00"))) != "");
  check_agrees_with_insurer(*c, cur);

  // Everything left (national: the undo alone, no new settlement); the
  // account never gets back more than it paid, and all of it comes back.
  const Json r6 = refund(*c, "refunds-r6", cur, nullptr);
  REQUIRE_MESSAGE(r6.contains("result"), r6.dump());
  check_parts_add_up(r6["result"], "refund_total");
  CHECK_FALSE(r6["result"].contains("settlement"));
  total_back += amount_at(r6["result"], "refund_total");
  account_back += amount_at(r6["result"], "account");
  CHECK(total_back == amount_at(done, "total"));
  CHECK(account_back == amount_at(done, "account"));
  const Json d = check_agrees_with_insurer(*c, cur);
  if (national()) {
    CHECK(d["state"] == "undone");
    CHECK(amount_at(r6["result"], "refund_total") == amount_at(d, "total"));
  } else {
    CHECK(d["state"] == "refunded");
    Amount ledger_account_back;
    for (const auto& r : d["refunds"]) ledger_account_back += amount_at(r, "account");
    CHECK(ledger_account_back == amount_at(d, "account"));
    CHECK(d["refunds"].size() == 3);
  }
  CHECK(reason_of(refund(*c, "refunds-r7", cur, nullptr)) == "REFUND_EXCEEDS_ORIGINAL");
}

}  // namespace
}  // namespace settle::e2e
