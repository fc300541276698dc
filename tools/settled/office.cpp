// The insurance office's and the cashier's day on the socket: a cashier's
// close-out (preview, record, read, print), corrections with two-person
// review, and the office's work list of what waits for it (parked items,
// rejected offline settlements, corrections waiting for approval).
#include "offline/digest.hpp"
#include "offline/office_ops.hpp"
#include "offline/reentry_ops.hpp"
#include "offline/stay_ops.hpp"
#include "protocol/cashier/mask.hpp"
#include "tools/settled/chain_keeper.hpp"
#include "tools/settled/clock.hpp"
#include "tools/settled/closeout_doc.hpp"
#include "tools/settled/closeout_sheet.hpp"
#include "tools/settled/replies.hpp"
#include "tools/settled/service.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace settle::daemon {

using json::Json;

namespace {

Json correction_json(const ledger::CorrectionRow& c) {
  const auto amount = [](const std::optional<Amount>& a) { return a ? json::amount_value(*a) : Json(nullptr); };
  return Json{{"correction_id", std::to_string(c.correction_id)},
              {"target", c.target},
              {"setl_id", c.setl_id ? Json(std::to_string(*c.setl_id)) : Json(nullptr)},
              {"item_id", c.item_id ? Json(*c.item_id) : Json(nullptr)},
              {"action", c.action},
              {"fund", amount(c.fund)},
              {"account", amount(c.account)},
              {"cash", amount(c.cash)},
              {"reason", c.reason},
              {"recorded_by", c.recorded_by},
              {"recorded_at", iso_time(c.recorded_at_ms)},
              {"state", c.state},
              {"decided_by", c.decided_by ? Json(*c.decided_by) : Json(nullptr)},
              {"decided_at", c.decided_at_ms ? Json(iso_time(*c.decided_at_ms)) : Json(nullptr)},
              {"decision_note", c.decision_note ? Json(*c.decision_note) : Json(nullptr)}};
}

// A close-out's line in closeout.list: who, when, and the figures that matter.
Json closeout_summary(const ledger::CloseoutRow& row) {
  const Json doc = closeout_answer(row);
  return Json{{"closeout_id", doc.value("closeout_id", Json(nullptr))},
              {"operator", row.operator_name},
              {"window", row.window},
              {"from", doc.value("from", Json(nullptr))},
              {"to", doc.value("to", Json(nullptr))},
              {"recorded_at", iso_time(row.recorded_at_ms)},
              {"settlements", doc.value("settlements", Json::object())},
              {"refunds", doc.value("refunds", Json::object())},
              {"cash_to_hand_over", doc.value("cash_to_hand_over", Json(nullptr))},
              {"digest", row.digest}};
}

constexpr std::string_view kParkedWhatToDo =
    "The insurer keeps refusing it: find the cause with the insurer (its reason is given), then send it again "
    "(outbox.retry), or, once it was settled with the insurer another way, record a correction that resolves it "
    "(a second person approves it).";
constexpr std::string_view kRejectedWhatToDo =
    "The insurer rejected this offline settlement, so its fund part is not paid. Settle the patient again online "
    "(or collect the amount), then record a correction that undoes it (a second person approves it).";
constexpr std::string_view kCorrectionWhatToDo =
    "Waiting for a second person of the insurance office to approve or refuse it (correction.approve, "
    "correction.refuse); until then it changes nothing.";
constexpr std::string_view kReentryWhatToDo =
    "Settlements re-entered from the paper emergency ledger: a second person of the insurance office checks them "
    "against the paper and approves or refuses the batch (reentry.approve, reentry.refuse); until then they change "
    "nothing.";
constexpr std::string_view kReentryLateWhatToDo =
    "A re-entered settlement made in a period its operator and window had already closed out: it is counted in "
    "their next close-out; note it on the closed period's paper sheet (docs/reentry.md).";

}  // namespace

// ---- close-outs ------------------------------------------------------------------

awaitable<Reply> Service::closeout_preview(const cashier::SessionInfo& s, const cashier::CloseoutPreviewParams& p) {
  CloseoutHead head{s.operator_name, s.window, p.date, now_ms(), std::nullopt};
  std::optional<std::int64_t> from;
  if (p.date) {
    from = parse_iso_time(*p.date);
    if (!from) co_return fail(Reason::invalid_request, "date", "date: expected a calendar date YYYY-MM-DD");
    head.to_ms = *from + 86'400'000;
  }
  auto job = [op = s.operator_name, window = s.window, from, to = head.to_ms](sql::Db& db) {
    return from ? ledger::shift_items_between(db, op, window, *from, to) : ledger::unclosed_shift_items(db, op, window);
  };
  auto items = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
  if (!items) co_return fail(items.error().to_error());
  Json doc = closeout_document(*items, head);
  doc["closeout_id"] = nullptr;
  doc["digest"] = nullptr;
  co_return Reply::ok(std::move(doc));
}

awaitable<Reply> Service::closeout_record(const cashier::SessionInfo& s, const cashier::CloseoutRecordParams& p) {
  ledger::CloseoutRow head;
  head.request_id = p.request_id;
  head.operator_name = s.operator_name;
  head.window = s.window;
  head.source = s.source;
  head.recorded_at_ms = now_ms();
  const ChainKeeper* chain = p_.chain;
  auto job = [head, chain](sql::Db& db) {
    auto recorded = ledger::record_closeout(db, head, [](const ledger::ShiftItems& items, ledger::CloseoutRow& row) {
      const CloseoutHead h{row.operator_name, row.window, std::nullopt, row.recorded_at_ms, row.recorded_at_ms};
      row.document = closeout_document(items, h).dump();
      row.digest = digest::sha256_hex(row.document);
      row.from_ms = first_item_ms(items);
      row.to_ms = row.recorded_at_ms;
    });
    // The close-out signed into the chain's record (docs/ledger-integrity.md).
    if (recorded && chain != nullptr) chain->checkpoint_in(db, "closeout");
    return recorded;
  };
  auto row = co_await ledger_write(p_.ledger, std::move(job));
  if (!row) co_return fail(row.error().to_error());
  Json doc = closeout_answer(*row);
  p_.metrics.closeout_recorded();
  spdlog::info("window {}: close-out {} of {} recorded: {} settlements, {} refunds, cash to hand over {}", s.window,
               row->closeout_id, s.operator_name, doc["settlements"].value("count", 0), doc["refunds"].value("count", 0),
               doc.value("cash_to_hand_over", std::string()));
  co_return Reply::ok(std::move(doc));
}

awaitable<Reply> Service::closeout_get(const cashier::SessionInfo& s, const cashier::CloseoutGetParams& p) {
  co_return co_await closeout_of(s, p.closeout_id);
}

awaitable<Reply> Service::closeout_of(const cashier::SessionInfo& s, const std::optional<std::string>& closeout_id) {
  if (!closeout_id) {
    const cashier::CloseoutPreviewParams preview{};
    co_return co_await closeout_preview(s, preview);
  }
  const auto id = parse_setl_id(*closeout_id);  // the same decimal id form
  const auto missing = [&] {
    return fail(Reason::not_found, "closeout_id", fmt::format("close-out {} does not exist", *closeout_id));
  };
  if (!id) co_return missing();
  auto job = [id = *id](sql::Db& db) { return ledger::find_closeout(db, id); };
  auto row = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
  if (!row) co_return fail(row.error().to_error());
  // A cashier reads its own close-outs only (another's is as if it did not exist).
  if (!row->has_value() || (s.role == cashier::Role::cashier && (*row)->operator_name != s.operator_name))
    co_return missing();
  co_return Reply::ok(closeout_answer(**row));
}

awaitable<Reply> Service::closeout_list(const cashier::SessionInfo& s, const cashier::CloseoutListParams& p) {
  ledger::CloseoutFilter f;
  const auto from = list_bound(p.from, "from", false);
  if (!from) co_return fail(from.error());
  const auto to = list_bound(p.to, "to", true);
  if (!to) co_return fail(to.error());
  f.from_ms = *from;
  f.to_ms = *to;
  f.operator_name = s.role == cashier::Role::cashier ? s.operator_name : p.operator_name.value_or("");
  f.window = p.window.value_or("");
  f.before_id = p.cursor;
  f.limit = static_cast<int>(p.limit) + 1;
  auto job = [f](sql::Db& db) { return ledger::list_closeouts(db, f); };
  auto rows = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
  if (!rows) co_return fail(rows.error().to_error());
  const bool more = static_cast<std::int64_t>(rows->size()) > p.limit;
  if (more) rows->pop_back();
  Json list = Json::array();
  for (const auto& r : *rows) list.push_back(closeout_summary(r));
  Json result{{"closeouts", std::move(list)}, {"more", more}, {"cursor", nullptr}};
  if (more) result["cursor"] = rows->back().closeout_id;
  co_return Reply::ok(std::move(result));
}

awaitable<Reply> Service::closeout_sheet(const cashier::SessionInfo& s, const cashier::CloseoutSheetParams& p) {
  Reply got = co_await closeout_of(s, p.closeout_id);
  if (got.error) co_return got;
  CloseoutSheetOptions o;
  o.hospital_name = p_.config.institution.name;
  o.hospital_code = p_.config.institution.code;
  o.paper = p.paper;
  o.printed_at = iso_time(now_ms());
  auto html = closeout_sheet_html(*got.result, o);
  if (!html) co_return Reply::fail(html.error());
  co_return Reply::ok(Json{{"closeout_id", got.result->value("closeout_id", Json(nullptr))},
                           {"paper", p.paper},
                           {"content_type", "text/html; charset=utf-8"},
                           {"html", std::move(*html)}});
}

// ---- corrections --------------------------------------------------------------------

awaitable<Reply> Service::correction_record(const cashier::SessionInfo& s, const cashier::CorrectionRecordParams& p) {
  ledger::CorrectionRow c;
  c.target = p.target;
  if (p.setl_id) {
    const auto id = parse_setl_id(*p.setl_id);
    if (!id) co_return fail(Reason::not_found, "setl_id", fmt::format("settlement {} does not exist", *p.setl_id));
    c.setl_id = *id;
  }
  c.item_id = p.item_id;
  c.action = p.action;
  c.fund = p.fund;
  c.account = p.account;
  c.cash = p.cash;
  c.reason = p.reason;
  c.recorded_by = s.operator_name;
  c.recorded_at_ms = now_ms();
  auto job = [c](sql::Db& db) { return ledger::insert_correction(db, c); };
  auto id = co_await ledger_write(p_.ledger, std::move(job));
  if (!id) co_return fail(id.error().to_error());
  c.correction_id = *id;
  Json out = correction_json(c);
  spdlog::info("correction {} recorded by {}: {} of {} {}; waits for a second person's approval", c.correction_id,
               s.operator_name, c.action, c.target,
               c.setl_id ? std::to_string(*c.setl_id) : std::to_string(c.item_id.value_or(0)));
  work_added("correction_waiting", Json{{"correction_id", out["correction_id"]}, {"reason", c.reason}});
  co_return Reply::ok(std::move(out));
}

awaitable<Reply> Service::correction_decide(const cashier::SessionInfo& s, std::int64_t id, bool approve,
                                            const std::string& note) {
  const std::int64_t at = now_ms();
  auto job = [id, approve, by = s.operator_name, note, at](sql::Db& db) {
    return ledger::decide_correction(db, id, approve, by, note, at);
  };
  auto c = co_await ledger_write(p_.ledger, std::move(job));
  if (!c) {
    Error e = c.error().to_error();
    if (e.reason == Reason::not_found) e.field = "correction_id";
    co_return fail(std::move(e));
  }
  spdlog::warn("correction {} {} by {} (recorded by {})", id, approve ? "approved" : "refused", s.operator_name,
               c->recorded_by);
  // A resolved stay item lets the stay's later items go now.
  if (approve && c->target != "settlement") reversal_wakeup_.cancel();
  co_return Reply::ok(correction_json(*c));
}

awaitable<Reply> Service::correction_list(const cashier::CorrectionListParams& p) {
  auto job = [state = p.state.value_or(""), limit = static_cast<int>(p.limit)](sql::Db& db) {
    return ledger::list_corrections(db, state, limit);
  };
  auto rows = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
  if (!rows) co_return fail(rows.error().to_error());
  Json list = Json::array();
  for (const auto& c : *rows) list.push_back(correction_json(c));
  co_return Reply::ok(Json{{"corrections", std::move(list)}});
}

// ---- the work list ------------------------------------------------------------------

awaitable<Reply> Service::work_list() {
  struct Work {
    std::vector<ledger::ParkedItem> parked;
    std::vector<ledger::ParkedStayItem> stays;
    std::vector<ledger::RejectedSettlement> rejected;
    std::vector<ledger::CorrectionRow> waiting;
    std::vector<ledger::ReentryBatch> reentries;       // entered, waiting for a second person
    std::vector<ledger::ReentryLateItem> reentry_late;  // re-entered into a period already closed out
  };
  auto job = [](sql::Db& db) -> sql::Result<Work> {
    Work w;
    auto parked = ledger::list_parked(db);
    if (!parked) return parked.error();
    w.parked = std::move(*parked);
    auto stays = ledger::list_parked_stay_items(db);
    if (!stays) return stays.error();
    w.stays = std::move(*stays);
    auto rejected = ledger::rejected_settlements(db);
    if (!rejected) return rejected.error();
    w.rejected = std::move(*rejected);
    auto waiting = ledger::list_corrections(db, "recorded", 1000);
    if (!waiting) return waiting.error();
    w.waiting = std::move(*waiting);
    auto reentries = ledger::list_reentries(db, "entered", 1000);
    if (!reentries) return reentries.error();
    w.reentries = std::move(*reentries);
    auto late = ledger::reentries_after_closeout(db);
    if (!late) return late.error();
    w.reentry_late = std::move(*late);
    return w;
  };
  auto w = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
  if (!w) co_return fail(w.error().to_error());
  // The open correction of each target, so an item shows what is under way.
  const auto open_of = [&w](std::string_view target, std::int64_t id) -> Json {
    for (const auto& c : w->waiting)
      if (c.target == target && (target == "settlement" ? c.setl_id == id : c.item_id == id))
        return std::to_string(c.correction_id);
    return nullptr;
  };
  Json items = Json::array();
  for (const auto& p : w->parked) {
    const ledger::OutboxItem& it = p.item;
    Json j{{"kind", it.kind == ledger::OutboxKind::reversal ? "parked_reversal" : "parked_upload"},
           {"queue", "outbox"},
           {"item_id", it.item_id},
           {"reason", it.last_error.value_or("")},
           {"since", iso_time(it.updated_at_ms)},
           {"refusals", it.refusals},
           {"what_to_do", kParkedWhatToDo},
           {"correction", open_of("outbox", it.item_id)}};
    if (it.setl_id) j["setl_id"] = std::to_string(*it.setl_id);
    if (it.ref_msgid) j["msgid"] = *it.ref_msgid;
    items.push_back(std::move(j));
  }
  for (const auto& p : w->stays) {
    const ledger::StayItem& it = p.item;
    items.push_back(Json{{"kind", fmt::format("parked_stay_{}", ledger::name(it.kind))},
                         {"queue", "stay"},
                         {"item_id", it.item_id},
                         {"adm_id", std::to_string(it.adm_id)},
                         {"reason", it.last_error.value_or("")},
                         {"since", iso_time(it.updated_at_ms)},
                         {"refusals", it.refusals},
                         {"behind", p.behind ? Json(*p.behind) : Json(nullptr)},
                         {"what_to_do", kParkedWhatToDo},
                         {"correction", open_of("stay", it.item_id)}});
  }
  for (const auto& r : w->rejected)
    items.push_back(Json{{"kind", "rejected_offline_settlement"},
                         {"setl_id", std::to_string(r.setl_id)},
                         {"reason", r.reason},
                         {"since", iso_time(r.at_ms)},
                         {"psn_no_masked", r.psn_no.empty() ? Json(nullptr) : Json(cashier::mask_card_no(r.psn_no))},
                         {"total", json::amount_value(r.total)},
                         {"fund", json::amount_value(r.fund)},
                         {"cash", json::amount_value(r.cash)},
                         {"what_to_do", kRejectedWhatToDo},
                         {"correction", r.open_correction ? Json(std::to_string(*r.open_correction)) : Json(nullptr)}});
  for (const auto& c : w->waiting) {
    Json j = correction_json(c);
    j["kind"] = "correction_waiting";
    j["since"] = iso_time(c.recorded_at_ms);
    j["what_to_do"] = kCorrectionWhatToDo;
    items.push_back(std::move(j));
  }
  for (const auto& b : w->reentries)
    items.push_back(Json{{"kind", "reentry_waiting"},
                         {"batch_id", b.batch_id},
                         {"batch_ref", b.batch_ref},
                         {"entered_by", b.entered_by},
                         {"since", iso_time(b.entered_at_ms)},
                         {"rows", b.row_count},
                         {"total", json::amount_value(b.total)},
                         {"cash", json::amount_value(b.cash)},
                         {"what_to_do", kReentryWhatToDo}});
  for (const auto& r : w->reentry_late)
    items.push_back(Json{{"kind", "reentry_after_closeout"},
                         {"batch_id", r.batch_id},
                         {"row", r.row_no},
                         {"setl_id", std::to_string(r.setl_id)},
                         {"at", iso_time(r.at_ms)},
                         {"operator", r.operator_id},
                         {"window", r.window_id},
                         {"closeout_id", std::to_string(r.closeout_id)},
                         {"total", json::amount_value(r.total)},
                         {"cash", json::amount_value(r.cash)},
                         {"what_to_do", kReentryLateWhatToDo}});
  const std::size_t count = items.size();
  co_return Reply::ok(Json{{"items", std::move(items)}, {"count", count}});
}

void Service::work_added(std::string_view kind, Json item) {
  p_.metrics.work_added(kind);
  item["kind"] = std::string(kind);
  if (on_work_added) on_work_added(std::move(item));
}

}  // namespace settle::daemon
