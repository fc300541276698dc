// The paper emergency ledger's re-entry over the socket (reentry.record,
// reentry.approve, reentry.refuse, reentry.list, reentry.get): a batch
// checked row by row and entered whole, decided by a second person; on
// approval each row an offline settlement the forwarder uploads (docs/reentry.md).
#include "engine/flows.hpp"
#include "offline/reentry_ops.hpp"
#include "protocol/cashier/mask.hpp"
#include "tools/settled/clock.hpp"
#include "tools/settled/replies.hpp"
#include "tools/settled/service.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <map>

namespace settle::daemon {
namespace {

using json::Json;


Json batch_json(const ledger::ReentryBatch& b) {
  return Json{{"batch_id", b.batch_id},
              {"batch_ref", b.batch_ref},
              {"state", b.state},
              {"entered_by", b.entered_by},
              {"entered_at", iso_time(b.entered_at_ms)},
              {"rows", b.row_count},
              {"total", json::amount_value(b.total)},
              {"cash", json::amount_value(b.cash)},
              {"decided_by", b.decided_by ? Json(*b.decided_by) : Json(nullptr)},
              {"decided_at", time_or_null(b.decided_at_ms)},
              {"note", b.decision_note}};
}

Json batch_detail_json(const ledger::ReentryBatch& b, bool mask) {
  Json out = batch_json(b);
  Json items = Json::array();
  for (std::size_t i = 0; i < b.rows.size(); ++i) {
    const ledger::ReentryRow& r = b.rows[i];
    Json lines = Json::array();
    for (const ledger::ReentryLine& l : r.lines)
      lines.push_back(Json{{"code", l.code}, {"name", l.name}, {"class", l.cls}, {"amount", json::amount_value(l.amount)}});
    const Amount fund_claimed = r.total() - r.cash;
    Json row{{"row", r.row_no},
             {"at", iso_time(r.at_ms)},
             {"window", r.window_id},
             {"operator", r.operator_id},
             {"card_no", mask ? cashier::mask_card_no(r.card_no) : r.card_no},
             {"psn_name", r.psn_name},
             {"lines", std::move(lines)},
             {"total", json::amount_value(r.total())},
             {"cash", json::amount_value(r.cash)},
             {"fund_claimed", json::amount_value(fund_claimed)},
             {"setl_id", nullptr},
             {"fund_estimate", nullptr}};
    if (i < b.setl_ids.size() && b.setl_ids[i]) row["setl_id"] = std::to_string(*b.setl_ids[i]);
    if (i < b.estimate_funds.size() && b.estimate_funds[i])
      row["fund_estimate"] = json::amount_value(*b.estimate_funds[i]);
    items.push_back(std::move(row));
  }
  out["items"] = std::move(items);
  return out;
}

std::string class_name(LineClass c) { return c == LineClass::a ? "A" : c == LineClass::b ? "B" : "C"; }

}  // namespace

awaitable<Reply> Service::reentry_record(const cashier::SessionInfo& s, const cashier::ReentryRecordParams& p) {
  const std::int64_t now = now_ms();
  ledger::ReentryInput in;
  in.batch_ref = p.batch_ref.value_or(fmt::format("{}-{}", s.operator_name, iso_time(now)));
  // Every row is read and checked before anything is written; the first bad
  // row refuses the whole batch, naming its number (from 1) and field.
  const auto refuse_row = [](std::size_t index, const Error& e) {
    return Reply::fail(e, Json{{"row", index + 1}});
  };
  for (std::size_t i = 0; i < p.rows.size(); ++i) {
    const std::string path = fmt::format("rows[{}]", i);
    auto row = cashier::parse_reentry_row(p.rows[i], path);
    if (!row) {
      Error e = row.error();
      e.message = fmt::format("row {}: {}", i + 1, e.message);
      co_return refuse_row(i, e);
    }
    ledger::ReentryRow r;
    r.row_no = static_cast<std::int64_t>(i + 1);
    const auto at = parse_iso_time(row->at);
    if (!at) co_return refuse_row(i, make_error(Reason::invalid_request, path + ".at",
                                                fmt::format("row {}: {}.at: not a time", i + 1, path)));
    r.at_ms = *at;
    r.window_id = std::move(row->window);
    r.operator_id = std::move(row->operator_name);
    r.card_no = std::move(row->card_no);
    r.psn_name = std::move(row->psn_name);
    for (const ChargeLine& l : row->lines) r.lines.push_back(ledger::ReentryLine{l.code, l.name, class_name(l.cls), l.amount});
    r.cash = row->cash;
    in.rows.push_back(std::move(r));
  }
  if (auto problem = ledger::validate_reentry(in, now)) {
    if (problem->row_no == 0) co_return fail(Reason::invalid_request, problem->field, problem->field + ": " + problem->message);
    const std::size_t i = static_cast<std::size_t>(problem->row_no - 1);
    const std::string field = fmt::format("rows[{}].{}", i, problem->field);
    co_return refuse_row(i, make_error(Reason::invalid_request, field,
                                       fmt::format("row {}: {} {}", problem->row_no, field, problem->message)));
  }
  auto job = [in, by = s.operator_name, now](sql::Db& db) -> sql::Result<std::pair<ledger::ReentryRecorded, ledger::ReentryBatch>> {
    auto rec = ledger::record_reentry(db, in, by, now);
    if (!rec) return rec.error();
    auto b = ledger::get_reentry(db, rec->batch_id, false);
    if (!b) return b.error();
    return std::make_pair(*rec, std::move(**b));
  };
  auto out = co_await ledger_write(p_.ledger, std::move(job));
  if (!out) co_return fail(out.error().to_error());
  const auto& [rec, batch] = *out;
  if (!rec.inserted) {
    const std::string what = rec.duplicate_of == "batch_ref" ? fmt::format("batch_ref \"{}\"", in.batch_ref)
                                                             : std::string("the same rows");
    co_return Reply::fail(
        make_error(Reason::duplicate_request_conflict, rec.duplicate_of == "batch_ref" ? "batch_ref" : "rows",
                   fmt::format("{} was entered already as batch {} ({}, {})", what, batch.batch_id, batch.batch_ref,
                               batch.state)),
        Json{{"batch_id", batch.batch_id}, {"batch_ref", batch.batch_ref}, {"state", batch.state}});
  }
  spdlog::info("re-entry batch {} ({}) entered by {}: {} rows, total {}, cash {}; waits for a second person",
               batch.batch_id, batch.batch_ref, s.operator_name, batch.row_count, format_amount(batch.total),
               format_amount(batch.cash));
  work_added("reentry_waiting", Json{{"batch_id", batch.batch_id}, {"batch_ref", batch.batch_ref}});
  co_return Reply::ok(batch_json(batch));
}

awaitable<Reply> Service::reentry_decide(const cashier::SessionInfo& s, std::int64_t id, bool approve,
                                         const std::string& note) {
  std::map<std::int64_t, ledger::ReentryEstimate> estimates;
  if (approve) {
    // The offline rules' estimate of each row: the red list's entry as it
    // is now (the list keeps no history) within the offline limits now.
    auto job = [id](sql::Db& db) -> sql::Result<std::pair<std::optional<ledger::ReentryBatch>, ledger::OfflineOutstanding>> {
      auto b = ledger::get_reentry(db, id);
      if (!b) return b.error();
      auto o = ledger::offline_outstanding(db);
      if (!o) return o.error();
      return std::make_pair(std::move(*b), *o);
    };
    auto read = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
    if (!read) co_return fail(read.error().to_error());
    if (read->first && read->first->state == "entered") {
      const std::int64_t now = now_ms();
      Amount outstanding = read->second.fund;
      std::int64_t count = read->second.count;
      const std::int64_t oldest_age =
          read->second.oldest_created_ms ? std::max<std::int64_t>(0, (now - *read->second.oldest_created_ms) / 1000) : 0;
      for (const ledger::ReentryRow& r : read->first->rows) {
        auto v = co_await redlist_person(r.card_no);
        Person who = v ? v->engine_person() : Person{};
        if (who.insutype.empty())
          for (const auto& [key, params] : p_.policy.entries())
            if (key.second == VisitType::outpatient) {
              who.insutype = key.first;
              break;
            }
        std::vector<ChargeLine> lines;
        for (const ledger::ReentryLine& l : r.lines)
          lines.push_back(ChargeLine{l.code, l.name, l.cls == "A" ? LineClass::a : l.cls == "B" ? LineClass::b : LineClass::c,
                                     l.amount, std::nullopt});
        SplitOptions opts;
        opts.visit = VisitType::outpatient;
        opts.use_account = false;
        opts.offline = OfflineContext{OfflineCause::network_down, v.has_value(), outstanding, count, oldest_age,
                                      p_.config.offline_limits};
        auto split_result = split(p_.policy, who, lines, opts);
        if (!split_result) {
          Error e = split_result.error();
          co_return Reply::fail(e, Json{{"row", r.row_no}});
        }
        ledger::ReentryEstimate e;
        e.fund = split_result->fund;
        e.fulamt_ownpay = split_result->fulamt_ownpay;
        e.preselfpay = split_result->preselfpay;
        e.inscp = split_result->inscp;
        e.deductible_part = split_result->deductible_part;
        for (SplitReason reason : split_result->reasons)
          if (reason != SplitReason::offline_network_down) e.reasons.emplace_back(split_reason_name(reason));
        // Not on the list: the policy's first insurance type, as a live offline settlement.
        e.insutype = who.insutype;
        if (v) e.psn_no = v->base.psn_no;
        const auto applied = flow::applied_lines(p_.policy, who.insutype, lines, VisitType::outpatient);
        for (const ChargeLine& l : applied) e.selfpay_ratio_ppm.push_back(l.selfpay_ratio ? l.selfpay_ratio->ppm() : 0);
        outstanding += r.total() - r.cash;
        ++count;
        estimates.emplace(r.row_no, std::move(e));
      }
    }
  }
  const std::int64_t at = now_ms();
  auto job = [id, approve, by = s.operator_name, note, at, estimates](sql::Db& db) {
    return ledger::decide_reentry(db, id, approve, by, note, at, [](std::int64_t ms) { return clearing_date(ms); },
                                  [&estimates](const ledger::ReentryRow& r) {
                                    auto it = estimates.find(r.row_no);
                                    return it == estimates.end() ? ledger::ReentryEstimate{} : it->second;
                                  });
  };
  auto b = co_await ledger_write(p_.ledger, std::move(job));
  if (!b) {
    Error e = b.error().to_error();
    if (e.reason == Reason::not_found) e.field = "batch_id";
    co_return fail(std::move(e));
  }
  spdlog::warn("re-entry batch {} ({}) {} by {} (entered by {}){}", id, b->batch_ref, approve ? "approved" : "refused",
               s.operator_name, b->entered_by, approve ? fmt::format(": {} offline settlements queued for upload", b->row_count) : "");
  // The uploads are queued: the line worker takes them at once.
  if (approve) reversal_wakeup_.cancel();
  co_return Reply::ok(batch_detail_json(*b, s.role == cashier::Role::auditor));
}

awaitable<Reply> Service::reentry_list(const cashier::ReentryListParams& p) {
  auto job = [state = p.state.value_or(""), limit = static_cast<int>(p.limit)](sql::Db& db) {
    return ledger::list_reentries(db, state, limit);
  };
  auto rows = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
  if (!rows) co_return fail(rows.error().to_error());
  Json list = Json::array();
  for (const auto& b : *rows) list.push_back(batch_json(b));
  co_return Reply::ok(Json{{"batches", std::move(list)}});
}

awaitable<Reply> Service::reentry_get(const cashier::SessionInfo& s, const cashier::ReentryGetParams& p) {
  auto job = [id = p.batch_id](sql::Db& db) { return ledger::get_reentry(db, id); };
  auto b = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
  if (!b) co_return fail(b.error().to_error());
  if (!b->has_value())
    co_return fail(Reason::not_found, "batch_id", fmt::format("re-entry batch {} does not exist", p.batch_id));
  co_return Reply::ok(batch_detail_json(**b, s.role == cashier::Role::auditor));
}

}  // namespace settle::daemon
