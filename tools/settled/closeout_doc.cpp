// Sums of a shift's items: settlements by mode and payer part at the figures
// they were charged with, refunds at what went back, cash taken less cash
// paid back; corrections listed with what they changed in the ledger (they
// change no cash in the drawer).
#include "tools/settled/closeout_doc.hpp"

#include "tools/settled/clock.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace settle::daemon {

using json::Json;

namespace {

struct Sums {
  std::int64_t count = 0;
  Amount total, fund, account, cash;
  void add(Amount t, Amount f, Amount a, Amount c) {
    ++count;
    total += t;
    fund += f;
    account += a;
    cash += c;
  }
  Json json() const {
    return Json{{"count", count},
                {"total", json::amount_value(total)},
                {"fund", json::amount_value(fund)},
                {"account", json::amount_value(account)},
                {"cash", json::amount_value(cash)}};
  }
};

}  // namespace

std::optional<std::int64_t> first_item_ms(const ledger::ShiftItems& items) {
  std::optional<std::int64_t> first;
  const auto see = [&first](std::int64_t at) { first = first ? std::min(*first, at) : at; };
  for (const auto& s : items.settlements) see(s.at_ms);
  for (const auto& r : items.refunds) see(r.at_ms);
  for (const auto& c : items.corrections) see(c.approved_at_ms);
  return first;
}

Json closeout_document(const ledger::ShiftItems& items, const CloseoutHead& head) {
  Sums all, online, offline, refunds;
  Json list = Json::array();
  for (const auto& s : items.settlements) {
    all.add(s.total, s.fund, s.account, s.cash);
    (s.mode == "offline" ? offline : online).add(s.total, s.fund, s.account, s.cash);
    list.push_back(Json{{"kind", "settlement"},
                        {"id", std::to_string(s.setl_id)},
                        {"time", iso_time(s.at_ms)},
                        {"mode", s.mode},
                        {"state", s.state},
                        {"visit", s.visit},
                        {"receipt_no", s.receipt_no},
                        {"total", json::amount_value(s.total)},
                        {"fund", json::amount_value(s.fund)},
                        {"account", json::amount_value(s.account)},
                        {"cash", json::amount_value(s.cash)}});
  }
  for (const auto& r : items.refunds) {
    refunds.add(r.total, r.fund, r.account, r.cash);
    list.push_back(Json{{"kind", "refund"},
                        {"id", std::to_string(r.refund_id)},
                        {"setl_id", std::to_string(r.setl_id)},
                        {"time", iso_time(r.at_ms)},
                        {"total", json::amount_value(r.total)},
                        {"fund", json::amount_value(r.fund)},
                        {"account", json::amount_value(r.account)},
                        {"cash", json::amount_value(r.cash)}});
  }
  Json corrections = Json::array();
  for (const auto& c : items.corrections)
    corrections.push_back(Json{{"correction_id", std::to_string(c.correction_id)},
                               {"setl_id", std::to_string(c.setl_id)},
                               {"action", c.action},
                               {"reason", c.reason},
                               {"recorded_by", c.recorded_by},
                               {"approved_by", c.approved_by},
                               {"approved_at", iso_time(c.approved_at_ms)},
                               {"fund_delta", json::amount_value(c.fund_delta)},
                               {"account_delta", json::amount_value(c.account_delta)},
                               {"cash_delta", json::amount_value(c.cash_delta)}});
  const auto first = first_item_ms(items);
  return Json{{"operator", head.operator_name},
              {"window", head.window},
              {"date", head.date ? Json(*head.date) : Json(nullptr)},
              {"from", first ? Json(iso_time(*first)) : Json(nullptr)},
              {"to", iso_time(head.to_ms)},
              {"recorded_at", head.recorded_at_ms ? Json(iso_time(*head.recorded_at_ms)) : Json(nullptr)},
              {"settlements", all.json()},
              {"online", online.json()},
              {"offline", offline.json()},
              {"refunds", refunds.json()},
              {"cash_taken", json::amount_value(all.cash)},
              {"cash_paid_back", json::amount_value(refunds.cash)},
              {"cash_to_hand_over", json::amount_value(all.cash - refunds.cash)},
              {"corrections", std::move(corrections)},
              {"items", std::move(list)}};
}

Json closeout_answer(const ledger::CloseoutRow& row) {
  auto doc = json::parse(row.document);
  Json out = doc ? std::move(*doc) : Json::object();
  out["closeout_id"] = std::to_string(row.closeout_id);
  out["digest"] = row.digest;
  out["request_id"] = row.request_id;
  return out;
}

}  // namespace settle::daemon
