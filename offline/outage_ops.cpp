// Outage records on the ledger (outages, outage_notes; schema v8): opened,
// ended and noted by settled and the office, listed and counted for the
// office's record and the insurance centre's export.
#include "offline/outage_ops.hpp"

#include "offline/rows.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <utility>

namespace settle::ledger {
namespace {

constexpr std::array<std::pair<OutageKind, std::string_view>, 6> kOutageKinds{{{OutageKind::line, "line"},
                                                                              {OutageKind::crash, "crash"},
                                                                              {OutageKind::drill, "drill"},
                                                                              {OutageKind::storage, "storage"},
                                                                              {OutageKind::reader, "reader"},
                                                                              {OutageKind::network, "network"}}};
constexpr std::array<std::pair<OutageNoteKind, std::string_view>, 4> kNoteKinds{{{OutageNoteKind::notified, "notified"},
                                                                                {OutageNoteKind::notify_failed, "notify_failed"},
                                                                                {OutageNoteKind::told, "told"},
                                                                                {OutageNoteKind::note, "note"}}};

constexpr std::string_view kOutageCols = "outage_id, kind, cause, started_at_ms, ended_at_ms, end_note";

Outage read_outage(sql::Statement& st) {
  Outage o;
  o.outage_id = st.column_int64(0);
  o.kind = st.column_text(1);
  o.cause = st.column_text(2);
  o.started_at_ms = st.column_int64(3);
  if (!st.is_null(4)) o.ended_at_ms = st.column_int64(4);
  o.end_note = st.column_text(5);
  return o;
}

OutageNote read_note(sql::Statement& st) {
  OutageNote n;
  n.note_id = st.column_int64(0);
  n.outage_id = st.column_int64(1);
  n.at_ms = st.column_int64(2);
  n.kind = st.column_text(3);
  n.target = st.column_text(4);
  n.detail = st.column_text(5);
  n.by = st.column_text(6);
  return n;
}

// One row of integers from a query (every column an integer).
template <std::size_t N, class... Args>
sql::Result<std::array<std::int64_t, N>> ints(sql::Db& db, const std::string& text, const Args&... args) {
  auto row = select_one<std::array<std::int64_t, N>>(
      db, text,
      [](sql::Statement& st) {
        std::array<std::int64_t, N> out{};
        for (std::size_t i = 0; i < N; ++i) out[i] = st.column_int64(static_cast<int>(i));
        return out;
      },
      args...);
  if (!row) return row.error();
  return row->value_or(std::array<std::int64_t, N>{});
}

}  // namespace

std::string_view name(OutageKind k) noexcept { return name_in(kOutageKinds, k); }
std::optional<OutageKind> parse_outage_kind(std::string_view s) noexcept { return parse_in(kOutageKinds, s); }
std::string_view name(OutageNoteKind k) noexcept { return name_in(kNoteKinds, k); }
std::optional<OutageNoteKind> parse_outage_note_kind(std::string_view s) noexcept { return parse_in(kNoteKinds, s); }

sql::Result<std::int64_t> open_outage(sql::Db& db, OutageKind kind, std::string_view cause, std::int64_t at_ms) {
  auto open = ints<1>(db, "SELECT coalesce(max(outage_id), 0) FROM outages WHERE kind = ?1 AND ended_at_ms IS NULL",
                      name(kind));
  if (!open) return open.error();
  if ((*open)[0] != 0) return (*open)[0];
  auto st = db.cached("INSERT INTO outages(kind, cause, started_at_ms) VALUES(?1, ?2, ?3)");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(name(kind), cause, at_ms));
  SETTLE_SQL_TRY((*st)->run());
  return db.last_insert_rowid();
}

sql::Result<std::vector<std::int64_t>> end_outages(sql::Db& db, OutageKind kind, std::int64_t at_ms,
                                                   std::string_view note) {
  auto open = select_all<std::int64_t>(
      db, "SELECT outage_id FROM outages WHERE kind = ?1 AND ended_at_ms IS NULL ORDER BY outage_id",
      [](sql::Statement& st) { return st.column_int64(0); }, name(kind));
  if (!open) return open.error();
  auto st = db.cached("UPDATE outages SET ended_at_ms = max(started_at_ms, ?2), end_note = ?3 WHERE outage_id = ?1");
  if (!st) return st.error();
  for (std::int64_t id : *open) {
    (*st)->reset();
    SETTLE_SQL_TRY((*st)->bind_all(id, at_ms, note));
    SETTLE_SQL_TRY((*st)->run());
  }
  return std::move(*open);
}

sql::Result<std::int64_t> record_outage(sql::Db& db, OutageKind kind, std::string_view cause,
                                        std::int64_t started_at_ms, std::int64_t ended_at_ms,
                                        std::string_view note) {
  auto st = db.cached("INSERT INTO outages(kind, cause, started_at_ms, ended_at_ms, end_note) VALUES(?1, ?2, ?3, ?4, ?5)");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(name(kind), cause, started_at_ms, std::max(started_at_ms, ended_at_ms), note));
  SETTLE_SQL_TRY((*st)->run());
  return db.last_insert_rowid();
}

sql::Result<std::int64_t> add_outage_note(sql::Db& db, const OutageNote& n) {
  auto st = db.cached("INSERT INTO outage_notes(outage_id, at_ms, kind, target, detail, by) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(n.outage_id, n.at_ms, n.kind, n.target, n.detail, n.by));
  SETTLE_SQL_TRY((*st)->run());
  return db.last_insert_rowid();
}

sql::Result<std::vector<Outage>> list_outages(sql::Db& db, const OutageFilter& f) {
  // Only the filters given are written. "Since" is the open outages (their
  // partial index) and those ended since (outages_ended), each read through
  // its index, not the table whole.
  std::string rest;
  if (f.to_ms) rest += " AND started_at_ms < ?2";
  if (f.kind) rest += " AND kind = ?3";
  if (f.before_id) rest += " AND outage_id < ?4";
  const std::string sql =
      f.from_ms ? fmt::format("SELECT {0} FROM outages INDEXED BY outages_open WHERE ended_at_ms IS NULL{1} UNION ALL "
                              "SELECT {0} FROM outages INDEXED BY outages_ended WHERE ended_at_ms >= ?1{1} "
                              "ORDER BY outage_id DESC LIMIT ?5",
                              kOutageCols, rest)
                : fmt::format("SELECT {} FROM outages WHERE 1{} ORDER BY outage_id DESC LIMIT ?5", kOutageCols, rest);
  return select_all<Outage>(db, sql, read_outage, f.from_ms, f.to_ms, f.kind, f.before_id, f.limit);
}

sql::Result<std::optional<Outage>> get_outage(sql::Db& db, std::int64_t outage_id) {
  return select_one<Outage>(db, fmt::format("SELECT {} FROM outages WHERE outage_id = ?1", kOutageCols), read_outage,
                            outage_id);
}

sql::Result<std::vector<Outage>> open_outages(sql::Db& db) {
  return select_all<Outage>(
      db, fmt::format("SELECT {} FROM outages INDEXED BY outages_open WHERE ended_at_ms IS NULL ORDER BY outage_id", kOutageCols),
      read_outage);
}

sql::Result<std::vector<OutageNote>> outage_notes(sql::Db& db, std::int64_t outage_id) {
  return select_all<OutageNote>(db,
                                "SELECT note_id, outage_id, at_ms, kind, target, detail, by FROM outage_notes "
                                "WHERE outage_id = ?1 ORDER BY note_id",
                                read_note, outage_id);
}

sql::Result<OutageFigures> outage_figures(sql::Db& db, const Outage& o, std::int64_t now_ms) {
  const std::int64_t from = o.started_at_ms;
  const std::int64_t to = o.ended_at_ms.value_or(std::max(now_ms, o.started_at_ms));
  OutageFigures f;
  auto s = ints<4>(db,
                   "SELECT count(*), coalesce(sum(total_fen), 0), coalesce(sum(fund_fen), 0), coalesce(sum(cash_fen), 0) "
                   "FROM settlements WHERE mode = 'offline' AND created_at_ms BETWEEN ?1 AND ?2",
                   from, to);
  if (!s) return s.error();
  f.offline_settlements = (*s)[0];
  f.offline_total = Amount::fen((*s)[1]);
  f.offline_fund = Amount::fen((*s)[2]);
  f.offline_cash = Amount::fen((*s)[3]);
  auto u = ints<3>(db,
                   "SELECT coalesce(sum(o.state = 'done'), 0), coalesce(sum(o.state IN ('pending', 'in_flight')), 0), "
                   "coalesce(sum(o.state IN ('parked', 'failed')), 0) FROM outbox AS o "
                   "JOIN settlements AS s ON s.setl_id = o.setl_id WHERE o.kind = 'offline_upload' "
                   "AND s.mode = 'offline' AND s.created_at_ms BETWEEN ?1 AND ?2",
                   from, to);
  if (!u) return u.error();
  f.uploads_done = (*u)[0];
  f.uploads_waiting = (*u)[1];
  f.uploads_parked = (*u)[2];
  auto r = ints<2>(db,
                   "SELECT count(*), coalesce(sum(state <> 'done'), 0) FROM outbox "
                   "WHERE kind = 'reversal' AND created_at_ms BETWEEN ?1 AND ?2",
                   from, to);
  if (!r) return r.error();
  f.reversals = (*r)[0];
  f.reversals_open = (*r)[1];
  auto a = ints<3>(db,
                   "SELECT count(*), coalesce(sum(a.insurer_fund_fen - a.local_fund_fen), 0), "
                   "coalesce(sum(a.insurer_cash_fen - a.local_cash_fen), 0) FROM adjustments AS a "
                   "JOIN settlements AS s ON s.setl_id = a.setl_id WHERE a.kind = 'offline_upload' "
                   "AND s.mode = 'offline' AND s.created_at_ms BETWEEN ?1 AND ?2",
                   from, to);
  if (!a) return a.error();
  f.adjustments = (*a)[0];
  f.adjustment_fund = Amount::fen((*a)[1]);
  f.adjustment_cash = Amount::fen((*a)[2]);
  return f;
}

sql::Result<std::optional<std::int64_t>> unclean_stop(sql::Db& db) {
  // The last start, and whether a clean stop came after it: a "stopped"
  // event, or (ledgers written before that event existed) the checkpoint
  // settled writes as it stops.
  auto start = ints<2>(db,
                       "SELECT coalesce(max(event_id), 0), coalesce(max(at_ms), 0) FROM events WHERE event_id = "
                       "(SELECT max(event_id) FROM events WHERE entity = 'ledger' AND entity_id = 'settled' "
                       "AND to_state = 'started')");
  if (!start) return start.error();
  if ((*start)[0] == 0) return std::optional<std::int64_t>{};  // never started before
  const std::int64_t started_id = (*start)[0];
  const std::int64_t started_at = (*start)[1];
  auto stopped = ints<1>(db,
                         "SELECT count(*) FROM events WHERE event_id > ?1 AND entity = 'ledger' "
                         "AND entity_id = 'settled' AND to_state = 'stopped'",
                         started_id);
  if (!stopped) return stopped.error();
  if ((*stopped)[0] > 0) return std::optional<std::int64_t>{};
  auto stop_checkpoint = ints<1>(db,
                                 "SELECT count(*) FROM chain_checkpoints WHERE checkpoint_id = "
                                 "(SELECT max(checkpoint_id) FROM chain_checkpoints) AND reason = 'stop' AND at_ms >= ?1",
                                 started_at);
  if (!stop_checkpoint) return stop_checkpoint.error();
  if ((*stop_checkpoint)[0] > 0) return std::optional<std::int64_t>{};
  // The last sign of life: each table's newest row by its key.
  std::int64_t last = started_at;
  for (const char* q : {"SELECT at_ms FROM events ORDER BY event_id DESC LIMIT 1",
                        "SELECT at_ms FROM audit ORDER BY audit_id DESC LIMIT 1",
                        "SELECT created_at_ms FROM settlements ORDER BY setl_id DESC LIMIT 1",
                        "SELECT created_at_ms FROM refunds ORDER BY refund_id DESC LIMIT 1",
                        "SELECT at_ms FROM chain_checkpoints ORDER BY checkpoint_id DESC LIMIT 1"}) {
    auto v = db.query_int64(q);
    if (!v) return v.error();
    if (*v) last = std::max(last, **v);
  }
  return std::optional<std::int64_t>(last);
}

}  // namespace settle::ledger
