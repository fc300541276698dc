// The outage records over the socket (outage.list, outage.get, outage.note,
// outage.record): what the office files for each outage — its period, cause,
// the work it made and what became of it, and who was told (docs/outages.md).
#include "offline/outage_ops.hpp"
#include "tools/settled/clock.hpp"
#include "tools/settled/replies.hpp"
#include "tools/settled/service.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace settle::daemon {
namespace {

json::Json outage_summary(const ledger::Outage& o, std::int64_t now) {
  const std::int64_t end = o.ended_at_ms.value_or(now);
  return json::Json{{"outage_id", o.outage_id},
                    {"kind", o.kind},
                    {"cause", o.cause},
                    {"started_at", iso_time(o.started_at_ms)},
                    {"ended_at", time_or_null(o.ended_at_ms)},
                    {"open", !o.ended_at_ms.has_value()},
                    {"duration_s", std::max<std::int64_t>(0, end - o.started_at_ms) / 1000},
                    {"end_note", o.end_note}};
}

json::Json note_json(const ledger::OutageNote& n) {
  return json::Json{{"note_id", n.note_id}, {"at", iso_time(n.at_ms)}, {"kind", n.kind},
                    {"target", n.target},   {"detail", n.detail},       {"by", n.by}};
}

json::Json figures_json(const ledger::OutageFigures& f) {
  return json::Json{
      {"offline_settlements", f.offline_settlements},
      {"offline_total", json::amount_value(f.offline_total)},
      {"offline_fund_estimate", json::amount_value(f.offline_fund)},
      {"offline_cash", json::amount_value(f.offline_cash)},
      {"uploads", json::Json{{"done", f.uploads_done}, {"waiting", f.uploads_waiting}, {"parked", f.uploads_parked}}},
      {"reversals", json::Json{{"queued", f.reversals}, {"open", f.reversals_open}}},
      {"adjustments", json::Json{{"count", f.adjustments},
                                 {"fund_difference", json::amount_value(f.adjustment_fund)},
                                 {"cash_difference", json::amount_value(f.adjustment_cash)}}}};
}

}  // namespace

awaitable<Reply> Service::outage_list(const cashier::OutageListParams& p) {
  const auto from = list_bound(p.from, "from", false);
  if (!from) co_return fail(from.error());
  const auto to = list_bound(p.to, "to", true);
  if (!to) co_return fail(to.error());
  ledger::OutageFilter f;
  f.from_ms = *from;
  f.to_ms = *to;
  f.kind = p.kind;
  f.before_id = p.cursor;
  f.limit = static_cast<int>(p.limit) + 1;
  auto job = [f](sql::Db& db) { return ledger::list_outages(db, f); };
  auto rows = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
  if (!rows) co_return fail(rows.error().to_error());
  const bool more = static_cast<std::int64_t>(rows->size()) > p.limit;
  if (more) rows->pop_back();
  const std::int64_t now = now_ms();
  json::Json list = json::Json::array();
  for (const auto& o : *rows) list.push_back(outage_summary(o, now));
  json::Json result{{"outages", std::move(list)}, {"more", more}, {"cursor", nullptr}};
  if (more) result["cursor"] = rows->back().outage_id;
  co_return Reply::ok(std::move(result));
}

awaitable<Reply> Service::outage_get(const cashier::OutageGetParams& p) {
  struct Found {
    ledger::Outage outage;
    ledger::OutageFigures figures;
    std::vector<ledger::OutageNote> notes;
  };
  const std::int64_t now = now_ms();
  auto job = [id = p.outage_id, now](sql::Db& db) -> sql::Result<std::optional<Found>> {
    auto o = ledger::get_outage(db, id);
    if (!o) return o.error();
    if (!o->has_value()) return std::optional<Found>{};
    auto f = ledger::outage_figures(db, **o, now);
    if (!f) return f.error();
    auto n = ledger::outage_notes(db, id);
    if (!n) return n.error();
    return std::optional<Found>(Found{std::move(**o), *f, std::move(*n)});
  };
  auto got = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
  if (!got) co_return fail(got.error().to_error());
  if (!got->has_value())
    co_return fail(Reason::not_found, "outage_id", fmt::format("outage {} does not exist", p.outage_id));
  json::Json doc = outage_summary((*got)->outage, now);
  doc["figures"] = figures_json((*got)->figures);
  json::Json notes = json::Json::array();
  for (const auto& n : (*got)->notes) notes.push_back(note_json(n));
  doc["notes"] = std::move(notes);
  co_return Reply::ok(std::move(doc));
}

awaitable<Reply> Service::outage_note(const cashier::SessionInfo& s, const cashier::OutageNoteParams& p) {
  ledger::OutageNote n;
  n.outage_id = p.outage_id;
  n.at_ms = now_ms();
  n.kind = p.kind;
  n.target = p.target;
  n.detail = p.detail;
  n.by = s.operator_name;
  auto job = [n](sql::Db& db) -> sql::Result<std::int64_t> {
    auto o = ledger::get_outage(db, n.outage_id);
    if (!o) return o.error();
    if (!o->has_value())
      return sql::DbError{sql::Errc::not_found, 0, fmt::format("outage {} does not exist", n.outage_id)};
    return ledger::add_outage_note(db, n);
  };
  auto id = co_await ledger_write(p_.ledger, std::move(job));
  if (!id) co_return fail(id.error().to_error());
  n.note_id = *id;
  spdlog::info("outage {}: {} noted by {}: {}", p.outage_id, p.kind, s.operator_name, p.target);
  co_return Reply::ok(note_json(n));
}

// An outage only people saw (the hospital's network, a reader, a drill, the
// line while settled was down), recorded with its period once it is over; the
// recording operator is its first note.
awaitable<Reply> Service::outage_record(const cashier::SessionInfo& s, const cashier::OutageRecordParams& p) {
  const auto start = parse_iso_time(p.started_at);
  if (!start) co_return fail(Reason::invalid_request, "started_at", "started_at: expected an ISO 8601 time with offset");
  const auto end = parse_iso_time(p.ended_at);
  if (!end) co_return fail(Reason::invalid_request, "ended_at", "ended_at: expected an ISO 8601 time with offset");
  const std::int64_t now = now_ms();
  if (*end < *start) co_return fail(Reason::invalid_request, "ended_at", "ended_at: before started_at");
  if (*end > now + 60'000) co_return fail(Reason::invalid_request, "ended_at", "ended_at: in the future (record an outage once it is over)");
  const auto kind = ledger::parse_outage_kind(p.kind);
  if (!kind) co_return fail(Reason::invalid_request, "kind", "kind: line, drill, storage, reader or network");
  ledger::OutageNote n;
  n.at_ms = now;
  n.kind = "note";
  n.target = "recorded afterwards";
  n.detail = p.note;
  n.by = s.operator_name;
  auto job = [k = *kind, cause = p.cause, a = *start, b = *end, n](sql::Db& db) mutable -> sql::Result<std::int64_t> {
    auto id = ledger::record_outage(db, k, cause, a, b, "");
    if (!id) return id.error();
    n.outage_id = *id;
    auto note = ledger::add_outage_note(db, n);
    if (!note) return note.error();
    return *id;
  };
  auto id = co_await ledger_write(p_.ledger, std::move(job));
  if (!id) co_return fail(id.error().to_error());
  spdlog::info("outage {}: a {} outage from {} to {} recorded by {}", *id, p.kind, p.started_at, p.ended_at,
               s.operator_name);
  ledger::Outage o;
  o.outage_id = *id;
  o.kind = p.kind;
  o.cause = p.cause;
  o.started_at_ms = *start;
  o.ended_at_ms = *end;
  co_return Reply::ok(outage_summary(o, now));
}

}  // namespace settle::daemon
