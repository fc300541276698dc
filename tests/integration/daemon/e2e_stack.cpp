// The shared end-to-end stack (one per test program, torn down at exit) and
// the comparison of the daemon's ledger with the insurer simulator's records,
// amounts read through the project's money parser, never through double.
#include "e2e_stack.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <memory>
#include <string_view>
#include <stdexcept>

namespace settle::e2e {

using settle::testing::amount_at;
using settle::testing::reason_of;

#ifndef SETTLE_E2E_PROFILE
#define SETTLE_E2E_PROFILE "regional"
#endif

const char* profile() { return SETTLE_E2E_PROFILE; }
bool national() { return std::string_view(SETTLE_E2E_PROFILE) == "national"; }

PersonSpec who(int n) {
  PersonSpec p = settle::testing::person(n);
  p.name = n % 2 ? "张三" : "李四";
  switch (n) {
    case kCrossRegion: p.insuplc_admdvs = kElsewhere; break;
    // An account that pays part of the patient's part: the rest is cash.
    case kPartRefund:
    case kPartRefundRegional: p.balance = "40.00"; break;
    case kArrears: p.flags = {"unit_arrears"}; break;
    case kNotDesignated: p.flags = {"not_designated"}; break;
    case kSupervised: p.flags = {"supervised"}; break;
    case kTempChange: p.flags = {"temp_settle_change"}; break;
    case kPoor: p.balance = "10.00"; break;
    default: break;
  }
  return p;
}

namespace {
std::unique_ptr<Stack> g_stack;
int g_card[2] = {0, 0};
std::vector<std::string> g_extra[2];
}  // namespace

Stack& stack() {
  static std::string failed;
  if (!failed.empty()) throw std::runtime_error("the stack did not start: " + failed);
  if (!g_stack) {
    try {
      g_stack = std::make_unique<Stack>(national() ? "daemon-e2e-national" : "daemon-e2e");
      g_stack->profile = profile();
      // The line down and back quickly (the national refusal of offline work).
      if (national()) g_stack->extra_config = "[network]\nprobe_interval_ms = 300\nfailures_to_offline = 1\n";
      std::vector<PersonSpec> persons;
      for (int n = kMain; n < kCount; ++n) persons.push_back(who(n));
      g_stack->start_all(persons, {{"c_lock", "cashier", "Lockout-2026"}});
      place_card(0, kMain);
    } catch (const std::exception& e) {
      failed = e.what();
      g_stack.reset();
      throw;
    }
  }
  if (!g_stack->daemon_alive()) {
    // An earlier case brought settled down: say so, and go on with a new start.
    const std::string log = g_stack->daemon_log();
    FAIL_CHECK("settled exited during an earlier case; its log ends: " << log.substr(log.size() > 1500 ? log.size() - 1500 : 0));
    g_stack->start_daemon();
  }
  return *g_stack;
}

void place_card(int index, int n, const std::vector<std::string>& extra) {
  Stack& s = *g_stack;
  if (g_card[index] == n && g_extra[index] == extra && s.card(index) != nullptr) {
    s.card(index)->insert(true);  // a no-op when it is in
    return;
  }
  s.insert_card(index, who(n), extra);
  g_card[index] = n;
  g_extra[index] = extra;
}

Json visit_lines() {
  return Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "25.00"}},
                      Json{{"code", "86900001"}, {"name", "阿莫西林胶囊"}, {"class", "B"}, {"amount", "48.60"}},
                      Json{{"code", "250310005"}, {"name", "血常规检查"}, {"class", "B"}, {"amount", "30.00"},
                           {"selfpay_ratio", "0.20"}},
                      Json{{"code", "C0001"}, {"name", "自费营养品"}, {"class", "C"}, {"amount", "66.00"}}});
}

Json commit_params(const std::string& request_id, const Json& lines, bool use_account) {
  Json p{{"request_id", request_id}, {"lines", lines}, {"use_account", use_account}};
  if (national()) p["visit"] = visit_facts();
  return p;
}

void read_card(RpcClient& c, const std::string& pin) {
  const Json r = c.call("card.read", Json{{"timeout_ms", 5000}});
  REQUIRE_MESSAGE(r.contains("result"), r.dump());
  if (!pin.empty()) {
    const Json v = c.call("card.verify_pin", Json{{"pin", pin}});
    REQUIRE_MESSAGE(v.contains("result"), v.dump());
    REQUIRE(v["result"]["verified"] == true);
  }
}

Json commit(RpcClient& c, const std::string& request_id, const Json& lines, bool use_account) {
  const Json r = c.call("settle.commit", commit_params(request_id, lines, use_account));
  REQUIRE_MESSAGE(r.contains("result"), r.dump());
  check_parts_add_up(r["result"]);
  return r["result"];
}

void check_parts_add_up(const Json& obj, const char* total_key) {
  CHECK_MESSAGE(amount_at(obj, "fund") + amount_at(obj, "account") + amount_at(obj, "cash") == amount_at(obj, total_key),
                obj.dump());
}

bool has_reason(const Json& result, const std::string& reason) {
  for (const auto& r : result["reasons"])
    if (r == reason) return true;
  return false;
}

Json check_agrees_with_insurer(RpcClient& c, const std::string& setl_id) {
  const Json got = c.call("settle.get", Json{{"setl_id", setl_id}});
  REQUIRE_MESSAGE(got.contains("result"), got.dump());
  const Json& d = got["result"];
  INFO("ledger: " << d.dump());
  REQUIRE(d["insurer"]["setl_id"].is_string());
  const std::string insurer_setl_id = d["insurer"]["setl_id"].get<std::string>();
  const Json rep = stack().report();
  Json s;
  for (const auto& row : rep["settlements"])
    if (row["setl_id"] == insurer_setl_id) s = row;
  INFO("insurer: " << s.dump());
  REQUIRE_MESSAGE(s.is_object(), "the insurer has no settlement " << insurer_setl_id);
  CHECK(s["msgid"] == d["insurer"]["msgid"]);
  CHECK(s["mdtrt_id"] == d["insurer"]["mdtrt_id"]);
  CHECK(amount_at(s, "medfee_sumamt") == amount_at(d, "total"));
  CHECK(amount_at(s, "fund_pay_sumamt") == amount_at(d, "fund"));
  CHECK(amount_at(s, "acct_pay") == amount_at(d, "account"));
  CHECK(amount_at(s, "psn_cash_pay") == amount_at(d, "cash"));
  check_parts_add_up(d);
  const std::string state = d["state"].get<std::string>();
  CHECK(s["state"] == (state == "undone" ? "undone" : "effective"));

  // Every refund the ledger holds is one the insurer holds, to the fen.
  Amount lt, lf, la, lc;
  for (const auto& r : d["refunds"]) {
    check_parts_add_up(r, "refund_total");
    lt += amount_at(r, "refund_total");
    lf += amount_at(r, "fund");
    la += amount_at(r, "account");
    lc += amount_at(r, "cash");
  }
  Amount it, iff, ia, ic;
  std::size_t effective = 0;
  for (const auto& r : rep["refunds"]) {
    if (r["setl_id"] != insurer_setl_id || r["state"] != "effective") continue;
    ++effective;
    it += amount_at(r, "total");
    iff += amount_at(r, "fund");
    ia += amount_at(r, "account");
    ic += amount_at(r, "cash");
  }
  CHECK(effective == d["refunds"].size());
  CHECK(lt == it);
  CHECK(lf == iff);
  CHECK(la == ia);
  CHECK(lc == ic);
  if (state == "refunded") CHECK(lt == amount_at(d, "total"));
  if (state == "partly_refunded") CHECK(lt < amount_at(d, "total"));
  if (state == "settled") CHECK(d["refunds"].empty());
  return d;
}

}  // namespace settle::e2e
