// The typed operations over the schema of schema.cpp: SQL text, binding and
// row mapping live here and nowhere else. Statements come from the
// connection's cache, so a hot operation compiles its SQL once.
#include "offline/ledger_ops.hpp"

#include "offline/rows.hpp"
#include "offline/stay_ops.hpp"

#include <fmt/format.h>

#include <array>
#include <utility>

namespace settle::ledger {
namespace {

template <class E, std::size_t N>
using Names = std::array<std::pair<E, std::string_view>, N>;

template <class E, std::size_t N>
std::string_view lookup(const Names<E, N>& names, E e) noexcept {
  for (const auto& [v, n] : names)
    if (v == e) return n;
  return "?";
}

template <class E, std::size_t N>
std::optional<E> parse(const Names<E, N>& names, std::string_view s) noexcept {
  for (const auto& [v, n] : names)
    if (n == s) return v;
  return std::nullopt;
}

constexpr Names<RequestState, 2> kRequestStates{{{RequestState::in_progress, "in_progress"},
                                                  {RequestState::answered, "answered"}}};
constexpr Names<MessageState, 7> kMessageStates{{{MessageState::written, "written"},
                                                  {MessageState::sent, "sent"},
                                                  {MessageState::answered, "answered"},
                                                  {MessageState::in_doubt, "in_doubt"},
                                                  {MessageState::reversed, "reversed"},
                                                  {MessageState::unsent, "unsent"},
                                                  {MessageState::abandoned, "abandoned"}}};
constexpr Names<SettlementState, 7> kSettlementStates{{{SettlementState::settled, "settled"},
                                                        {SettlementState::offline_pending, "offline_pending"},
                                                        {SettlementState::offline_accepted, "offline_accepted"},
                                                        {SettlementState::offline_rejected, "offline_rejected"},
                                                        {SettlementState::refunded, "refunded"},
                                                        {SettlementState::partly_refunded, "partly_refunded"},
                                                        {SettlementState::undone, "undone"}}};
constexpr Names<Mode, 2> kModes{{{Mode::online, "online"}, {Mode::offline, "offline"}}};
constexpr Names<VisitType, 2> kVisitTypes{{{VisitType::outpatient, "outpatient"},
                                            {VisitType::inpatient, "inpatient"}}};
constexpr Names<LineClass, 3> kLineClasses{{{LineClass::a, "A"}, {LineClass::b, "B"}, {LineClass::c, "C"}}};
constexpr Names<OutboxKind, 2> kOutboxKinds{{{OutboxKind::reversal, "reversal"},
                                              {OutboxKind::offline_upload, "offline_upload"}}};
constexpr Names<OutboxState, 5> kOutboxStates{{{OutboxState::pending, "pending"},
                                                {OutboxState::in_flight, "in_flight"},
                                                {OutboxState::done, "done"},
                                                {OutboxState::failed, "failed"},
                                                {OutboxState::parked, "parked"}}};
constexpr Names<AdjustmentKind, 2> kAdjustmentKinds{{{AdjustmentKind::offline_upload, "offline_upload"},
                                                      {AdjustmentKind::correction, "correction"}}};
constexpr Names<Entity, 7> kEntities{{{Entity::request, "request"},
                                       {Entity::message, "message"},
                                       {Entity::settlement, "settlement"},
                                       {Entity::refund, "refund"},
                                       {Entity::outbox, "outbox"},
                                       {Entity::ledger, "ledger"},
                                       {Entity::stay, "stay"}}};

// A stored name that the schema's CHECK allows but this build cannot map is
// a programmer error (schema and code out of step).
template <class E, std::size_t N>
E must_parse(const Names<E, N>& names, std::string_view s) {
  auto v = parse(names, s);
  SETTLE_ASSERT(v.has_value());
  return *v;
}


std::string join_reasons(const std::vector<std::string>& reasons) {
  std::string out;
  for (const auto& r : reasons) {
    SETTLE_ASSERT(r.find(',') == std::string::npos);
    if (!out.empty()) out += ',';
    out += r;
  }
  return out;
}

std::vector<std::string> split_reasons(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const auto comma = s.find(',');
    out.emplace_back(s.substr(0, comma));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

Amount fen_at(const sql::Statement& st, int col) { return Amount::fen(st.column_int64(col)); }

// Inserts one event row (used by every state change).
sql::Status add_event(sql::Db& db, std::int64_t at_ms, Entity entity, std::string_view entity_id,
                      std::optional<std::string_view> from, std::string_view to, std::string_view detail = {}) {
  auto st = db.cached(
      "INSERT INTO events(at_ms, entity, entity_id, from_state, to_state, detail) VALUES(?1,?2,?3,?4,?5,?6)");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(at_ms, name(entity), entity_id, from, to, detail));
  return (*st)->run();
}

// ---- row mapping --------------------------------------------------------------

constexpr std::string_view kRequestCols =
    "request_id, method, payload_hash, state, answer, operator_id, window_id, created_at_ms, answered_at_ms";
Request read_request(const sql::Statement& st) {
  Request r;
  r.request_id = st.column_text(0);
  r.method = st.column_text(1);
  r.payload_hash = st.column_text(2);
  r.state = must_parse(kRequestStates, st.column_text_view(3));
  r.answer = st.column_opt_text(4);
  r.operator_id = st.column_opt_text(5);
  r.window_id = st.column_opt_text(6);
  r.created_at_ms = st.column_int64(7);
  r.answered_at_ms = st.column_opt_int64(8);
  return r;
}

constexpr std::string_view kMessageCols =
    "msgid, infno, state, request_id, reverses_msgid, infcode, err_msg, created_at_ms, updated_at_ms, psn_no, "
    "insuplc_admdvs";
Message read_message(const sql::Statement& st) {
  Message m;
  m.msgid = st.column_text(0);
  m.infno = st.column_text(1);
  m.state = must_parse(kMessageStates, st.column_text_view(2));
  m.request_id = st.column_opt_text(3);
  m.reverses_msgid = st.column_opt_text(4);
  m.infcode = st.column_opt_int64(5);
  m.err_msg = st.column_opt_text(6);
  m.created_at_ms = st.column_int64(7);
  m.updated_at_ms = st.column_int64(8);
  m.psn_no = st.column_opt_text(9);
  m.insuplc_admdvs = st.column_text(10);
  return m;
}

constexpr std::string_view kSettlementCols =
    "setl_id, request_id, window_id, operator_id, card_no, card_sn, psn_no, insutype, visit_type, med_type, "
    "mode, total_fen, fund_fen, account_fen, cash_fen, fulamt_ownpay_fen, preselfpay_fen, inscp_fen, "
    "deductible_part_fen, reasons, insurer_setl_id, mdtrt_id, msgid, receipt_no, state, created_at_ms, "
    "clearing_date, offline_reason, resettles_setl_id, adm_id, stay_lines_upto, stay_cancels_upto, cert_type, "
    "insuplc_admdvs, facts";
// `base`: the index of setl_id (the settlement's columns after others in a join).
Settlement read_settlement_at(const sql::Statement& st, int base) {
  Settlement s;
  s.setl_id = st.column_int64(base + 0);
  s.request_id = st.column_text(base + 1);
  s.window_id = st.column_text(base + 2);
  s.operator_id = st.column_text(base + 3);
  s.card_no = st.column_text(base + 4);
  s.card_sn = st.column_opt_text(base + 5);
  s.psn_no = st.column_opt_text(base + 6);
  s.insutype = st.column_opt_text(base + 7);
  s.visit_type = must_parse(kVisitTypes, st.column_text_view(base + 8));
  s.med_type = st.column_text(base + 9);
  s.mode = must_parse(kModes, st.column_text_view(base + 10));
  s.total = fen_at(st, base + 11);
  s.fund = fen_at(st, base + 12);
  s.account = fen_at(st, base + 13);
  s.cash = fen_at(st, base + 14);
  s.fulamt_ownpay = fen_at(st, base + 15);
  s.preselfpay = fen_at(st, base + 16);
  s.inscp = fen_at(st, base + 17);
  s.deductible_part = fen_at(st, base + 18);
  s.reasons = split_reasons(st.column_text_view(base + 19));
  s.insurer_setl_id = st.column_opt_text(base + 20);
  s.mdtrt_id = st.column_opt_text(base + 21);
  s.msgid = st.column_opt_text(base + 22);
  s.receipt_no = st.column_text(base + 23);
  s.state = must_parse(kSettlementStates, st.column_text_view(base + 24));
  s.created_at_ms = st.column_int64(base + 25);
  s.clearing_date = st.column_text(base + 26);
  s.offline_reason = st.column_opt_text(base + 27);
  s.resettles_setl_id = st.column_opt_int64(base + 28);
  s.adm_id = st.column_opt_int64(base + 29);
  if (const auto upto = st.column_opt_int64(base + 30))
    s.stay_lines = StayLinesRef{*upto, st.column_opt_int64(base + 31).value_or(0), {}};
  s.cert_type = static_cast<int>(st.column_int64(base + 32));
  s.insuplc_admdvs = st.column_text(base + 33);
  s.facts = st.column_opt_text(base + 34);
  return s;
}

Settlement read_settlement(const sql::Statement& st) { return read_settlement_at(st, 0); }

constexpr std::string_view kRefundCols =
    "refund_id, request_id, setl_id, window_id, operator_id, refund_total_fen, fund_fen, account_fen, "
    "cash_fen, insurer_refund_id, msgid, created_at_ms, clearing_date";
Refund read_refund(const sql::Statement& st) {
  Refund r;
  r.refund_id = st.column_int64(0);
  r.request_id = st.column_text(1);
  r.setl_id = st.column_int64(2);
  r.window_id = st.column_text(3);
  r.operator_id = st.column_text(4);
  r.total = fen_at(st, 5);
  r.fund = fen_at(st, 6);
  r.account = fen_at(st, 7);
  r.cash = fen_at(st, 8);
  r.insurer_refund_id = st.column_opt_text(9);
  r.msgid = st.column_opt_text(10);
  r.created_at_ms = st.column_int64(11);
  r.clearing_date = st.column_text(12);
  return r;
}

constexpr std::string_view kAdjustmentCols =
    "adj_id, setl_id, kind, local_fund_fen, insurer_fund_fen, local_account_fen, insurer_account_fen, "
    "local_cash_fen, insurer_cash_fen, msgid, note, created_at_ms";
Adjustment read_adjustment(const sql::Statement& st) {
  Adjustment a;
  a.adj_id = st.column_int64(0);
  a.setl_id = st.column_int64(1);
  a.kind = must_parse(kAdjustmentKinds, st.column_text_view(2));
  a.local_fund = fen_at(st, 3);
  a.insurer_fund = fen_at(st, 4);
  a.local_account = fen_at(st, 5);
  a.insurer_account = fen_at(st, 6);
  a.local_cash = fen_at(st, 7);
  a.insurer_cash = fen_at(st, 8);
  a.msgid = st.column_opt_text(9);
  a.note = st.column_text(10);
  a.created_at_ms = st.column_int64(11);
  return a;
}

constexpr std::string_view kOutboxCols =
    "item_id, kind, setl_id, ref_msgid, payload, state, attempts, next_attempt_at_ms, last_error, "
    "created_at_ms, updated_at_ms, refusals";
OutboxItem read_outbox(const sql::Statement& st) {
  OutboxItem o;
  o.item_id = st.column_int64(0);
  o.kind = must_parse(kOutboxKinds, st.column_text_view(1));
  o.setl_id = st.column_opt_int64(2);
  o.ref_msgid = st.column_opt_text(3);
  o.payload = st.column_text(4);
  o.state = must_parse(kOutboxStates, st.column_text_view(5));
  o.attempts = st.column_int64(6);
  o.next_attempt_at_ms = st.column_int64(7);
  o.last_error = st.column_opt_text(8);
  o.created_at_ms = st.column_int64(9);
  o.updated_at_ms = st.column_int64(10);
  o.refusals = st.column_int64(11);
  return o;
}

constexpr std::string_view kEventCols = "event_id, at_ms, entity, entity_id, from_state, to_state, detail";
Event read_event(const sql::Statement& st) {
  Event e;
  e.event_id = st.column_int64(0);
  e.at_ms = st.column_int64(1);
  e.entity = must_parse(kEntities, st.column_text_view(2));
  e.entity_id = st.column_text(3);
  e.from_state = st.column_opt_text(4);
  e.to_state = st.column_text(5);
  e.detail = st.column_text(6);
  return e;
}

}  // namespace

std::string_view name(RequestState v) noexcept { return lookup(kRequestStates, v); }
std::string_view name(MessageState v) noexcept { return lookup(kMessageStates, v); }
std::string_view name(SettlementState v) noexcept { return lookup(kSettlementStates, v); }
std::string_view name(Mode v) noexcept { return lookup(kModes, v); }
std::string_view name(VisitType v) noexcept { return lookup(kVisitTypes, v); }
std::string_view name(LineClass v) noexcept { return lookup(kLineClasses, v); }
std::string_view name(OutboxKind v) noexcept { return lookup(kOutboxKinds, v); }
std::string_view name(OutboxState v) noexcept { return lookup(kOutboxStates, v); }
std::string_view name(AdjustmentKind v) noexcept { return lookup(kAdjustmentKinds, v); }
std::string_view name(Entity v) noexcept { return lookup(kEntities, v); }
std::optional<SettlementState> parse_settlement_state(std::string_view s) noexcept {
  return parse(kSettlementStates, s);
}
std::optional<MessageState> parse_message_state(std::string_view s) noexcept { return parse(kMessageStates, s); }

// ---- requests -----------------------------------------------------------------

sql::Result<RecordedRequest> record_request(sql::Db& db, const Request& r) {
  auto st = db.cached(
      "INSERT INTO requests(request_id, method, payload_hash, state, operator_id, window_id, created_at_ms) "
      "VALUES(?1,?2,?3,'in_progress',?4,?5,?6) ON CONFLICT(request_id) DO NOTHING");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(r.request_id, r.method, r.payload_hash, r.operator_id, r.window_id,
                                 r.created_at_ms));
  SETTLE_SQL_TRY((*st)->run());
  if (db.changes() == 0) {
    auto existing = find_request(db, r.request_id);
    if (!existing) return existing.error();
    SETTLE_ASSERT(existing->has_value());
    return RecordedRequest{false, std::move(**existing)};
  }
  // No event row: the request log's row is its own history (docs/ledger.md, "v2").
  Request stored = r;
  stored.state = RequestState::in_progress;
  stored.answer.reset();
  stored.answered_at_ms.reset();
  return RecordedRequest{true, std::move(stored)};
}

sql::Status answer_request(sql::Db& db, std::string_view request_id, std::string_view answer, std::int64_t at_ms) {
  auto st = db.cached(
      "UPDATE requests SET state = 'answered', answer = ?2, answered_at_ms = ?3 "
      "WHERE request_id = ?1 AND state = 'in_progress'");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(request_id, answer, at_ms));
  SETTLE_SQL_TRY((*st)->run());
  if (db.changes() == 0) {
    auto existing = find_request(db, request_id);
    if (!existing) return existing.error();
    if (!existing->has_value()) return not_found(fmt::format("request {} is not recorded", request_id));
    return invalid_state(fmt::format("request {} already has its answer", request_id));
  }
  return settle::Ok{};
}

sql::Result<std::optional<Request>> find_request(sql::Db& db, std::string_view request_id) {
  return select_one<Request>(db, fmt::format("SELECT {} FROM requests WHERE request_id = ?1", kRequestCols),
                             read_request, request_id);
}

// ---- insurer messages ---------------------------------------------------------

namespace {

// The message's row as it is given. The area's column (v12) is named only
// when there is one: a message without it is the same row in an older ledger.
sql::Status insert_message(sql::Db& db, const Message& m) {
  auto st = db.cached(m.insuplc_admdvs.empty()
                          ? "INSERT INTO insurer_messages(msgid, infno, state, request_id, reverses_msgid, created_at_ms, "
                            "updated_at_ms, psn_no, infcode, err_msg) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
                          : "INSERT INTO insurer_messages(msgid, infno, state, request_id, reverses_msgid, created_at_ms, "
                            "updated_at_ms, psn_no, infcode, err_msg, insuplc_admdvs) "
                            "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(m.msgid, m.infno, name(m.state), m.request_id, m.reverses_msgid, m.created_at_ms,
                                 m.updated_at_ms, m.psn_no, m.infcode, m.err_msg));
  if (!m.insuplc_admdvs.empty()) SETTLE_SQL_TRY((*st)->bind(11, m.insuplc_admdvs));
  return (*st)->run();
}

}  // namespace

sql::Status record_message(sql::Db& db, const Message& m) {
  Message written = m;
  written.state = MessageState::written;
  written.updated_at_ms = m.created_at_ms;
  written.infcode.reset();
  written.err_msg.reset();
  SETTLE_SQL_TRY(insert_message(db, written));
  return add_event(db, m.created_at_ms, Entity::message, m.msgid, std::nullopt, "written", m.infno);
}

sql::Status record_query(sql::Db& db, const Message& m) {
  if (m.state != MessageState::answered && m.state != MessageState::unsent && m.state != MessageState::abandoned)
    return invalid_state(fmt::format("msgid {}: a query is written answered, unsent or abandoned, not {}", m.msgid,
                                     name(m.state)));
  SETTLE_SQL_TRY(insert_message(db, m));
  return add_event(db, m.updated_at_ms, Entity::message, m.msgid, std::nullopt, name(m.state),
                   m.infcode ? fmt::format("{}, infcode {}", m.infno, *m.infcode) : m.infno);
}

sql::Status set_message_state(sql::Db& db, std::string_view msgid, MessageState to, std::int64_t at_ms,
                              std::optional<std::int64_t> infcode, std::optional<std::string_view> err_msg) {
  auto cur = find_message(db, msgid);
  if (!cur) return cur.error();
  if (!cur->has_value()) return not_found(fmt::format("msgid {} is not recorded", msgid));
  const MessageState from = (*cur)->state;
  auto st = db.cached(
      "UPDATE insurer_messages SET state = ?2, updated_at_ms = ?3, infcode = coalesce(?4, infcode), "
      "err_msg = coalesce(?5, err_msg) WHERE msgid = ?1");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(msgid, name(to), at_ms, infcode, err_msg));
  if (auto s = (*st)->run(); !s) {
    if (s.is(sql::Errc::trigger))
      return invalid_state(fmt::format("msgid {}: {} -> {} is not allowed", msgid, name(from), name(to)));
    return s;
  }
  return add_event(db, at_ms, Entity::message, msgid, name(from), name(to),
                   infcode ? fmt::format("infcode {}", *infcode) : std::string());
}

sql::Result<std::optional<Message>> find_message(sql::Db& db, std::string_view msgid) {
  return select_one<Message>(db, fmt::format("SELECT {} FROM insurer_messages WHERE msgid = ?1", kMessageCols),
                             read_message, msgid);
}

// The open states, exactly as the partial index insurer_messages_open names
// them: a query that repeats this term reads that index (the few messages
// still open) instead of the whole table, which grows with every call.
constexpr std::string_view kOpenMessageStates = "state IN ('written', 'sent', 'in_doubt')";

sql::Result<std::vector<Message>> list_messages(sql::Db& db, MessageState state) {
  const bool open = state == MessageState::written || state == MessageState::sent || state == MessageState::in_doubt;
  const std::string sql =
      open ? fmt::format("SELECT {} FROM insurer_messages INDEXED BY insurer_messages_open WHERE {} AND state = ?1 "
                         "ORDER BY msgid",
                         kMessageCols, kOpenMessageStates)
           : fmt::format("SELECT {} FROM insurer_messages WHERE state = ?1 ORDER BY msgid", kMessageCols);
  return select_all<Message>(db, sql, read_message, name(state));
}

sql::Result<std::optional<std::string>> highest_msgid(sql::Db& db, std::string_view institution_code) {
  // msgids are fixed-width digits after the institution code, so the
  // greatest string is the latest msgid; the range keeps it on the index.
  auto st = db.cached("SELECT max(msgid) FROM insurer_messages WHERE msgid > ?1 AND msgid < ?1 || '~'");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind(1, institution_code));
  auto row = (*st)->step();
  if (!row) return row.error();
  auto v = (*st)->column_opt_text(0);
  (*st)->reset();
  return v;
}

// ---- settlements --------------------------------------------------------------

namespace {

// A discharge settlement by reference must name exactly its stay's live
// lines of the moment, whose total is the settlement's.
sql::Status check_stay_lines(sql::Db& db, const Settlement& s) {
  auto st = db.cached("SELECT live_count, cancelled_count, live_total_fen FROM stays WHERE adm_id = ?1");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind(1, *s.adm_id));
  auto row = (*st)->step();
  if (!row) return row.error();
  if (!*row) return invalid_state(fmt::format("settlement of stay {}: no such stay", *s.adm_id));
  const std::int64_t live = (*st)->column_int64(0), cancelled = (*st)->column_int64(1), total = (*st)->column_int64(2);
  (*st)->reset();
  const StayLinesRef& r = *s.stay_lines;
  if (r.lines_upto != live + cancelled || r.cancels_upto != cancelled || total != s.total.fen())
    return invalid_state(fmt::format("settlement of stay {} names lines up to {} less {} cancelled for {}; the stay holds {} "
                                     "lines, {} cancelled, {} live for {}",
                                     *s.adm_id, r.lines_upto, r.cancels_upto, format_amount(s.total), live + cancelled,
                                     cancelled, live, format_amount(Amount::fen(total))));
  return Ok{};
}

}  // namespace

sql::Result<std::int64_t> record_settlement(sql::Db& db, const Settlement& s, std::span<const SettlementLine> lines) {
  // adm_id (v4) is named only for a stay's settlement, and its lines by
  // reference (v5) only when given: an outpatient one is the same row as
  // before v4 (and can still be written to an older file).
  SETTLE_ASSERT(!s.stay_lines || (s.adm_id && lines.empty()));
  if (s.stay_lines) SETTLE_SQL_TRY(check_stay_lines(db, s));
  static constexpr std::string_view kCols =
      "request_id, window_id, operator_id, card_no, card_sn, psn_no, insutype, visit_type, med_type, mode, total_fen, "
      "fund_fen, account_fen, cash_fen, fulamt_ownpay_fen, preselfpay_fen, inscp_fen, deductible_part_fen, reasons, "
      "insurer_setl_id, mdtrt_id, msgid, receipt_no, state, created_at_ms, clearing_date, offline_reason, "
      "resettles_setl_id";
  static constexpr std::string_view kValues =
      "?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27,?28";
  // The v11 columns are named only when they hold more than their defaults
  // (a card, no area, no facts): such a row is the same as before v11.
  const bool v11 = s.cert_type != 3 || !s.insuplc_admdvs.empty() || s.facts.has_value();
  std::string cols(kCols), values(kValues);
  if (s.adm_id) cols += ", adm_id", values += ",?29";
  if (s.stay_lines) cols += ", stay_lines_upto, stay_cancels_upto", values += ",?30,?31";
  if (v11) cols += ", cert_type, insuplc_admdvs, facts", values += ",?32,?33,?34";
  auto st = db.cached(fmt::format("INSERT INTO settlements({}) VALUES({})", cols, values));
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(s.request_id, s.window_id, s.operator_id, s.card_no, s.card_sn, s.psn_no,
                                 s.insutype, name(s.visit_type), s.med_type, name(s.mode), s.total.fen(),
                                 s.fund.fen(), s.account.fen(), s.cash.fen(), s.fulamt_ownpay.fen(),
                                 s.preselfpay.fen(), s.inscp.fen(), s.deductible_part.fen(),
                                 join_reasons(s.reasons), s.insurer_setl_id, s.mdtrt_id, s.msgid, s.receipt_no,
                                 name(s.state), s.created_at_ms, s.clearing_date, s.offline_reason,
                                 s.resettles_setl_id));
  if (s.adm_id) SETTLE_SQL_TRY((*st)->bind(29, *s.adm_id));
  if (s.stay_lines) {
    SETTLE_SQL_TRY((*st)->bind(30, s.stay_lines->lines_upto));
    SETTLE_SQL_TRY((*st)->bind(31, s.stay_lines->cancels_upto));
  }
  if (v11) {
    SETTLE_SQL_TRY((*st)->bind(32, static_cast<std::int64_t>(s.cert_type)));
    SETTLE_SQL_TRY((*st)->bind(33, s.insuplc_admdvs));
    SETTLE_SQL_TRY((*st)->bind(34, s.facts));
  }
  SETTLE_SQL_TRY((*st)->run());
  const std::int64_t id = db.last_insert_rowid();
  auto line = db.cached(
      "INSERT INTO settlement_lines(setl_id, line_no, code, name, class, amount_fen, selfpay_ratio_ppm) "
      "VALUES(?1,?2,?3,?4,?5,?6,?7)");
  if (!line) return line.error();
  std::int64_t no = 0;
  for (const SettlementLine& l : lines) {
    (*line)->reset();
    SETTLE_SQL_TRY((*line)->bind_all(id, ++no, l.code, l.name, name(l.cls), l.amount.fen(), l.selfpay_ratio.ppm()));
    SETTLE_SQL_TRY((*line)->run());
  }
  if (s.stay_lines && !s.stay_lines->classb_ratios.empty()) {
    auto ratio = db.cached("INSERT INTO settlement_classb_ratios(setl_id, code, selfpay_ratio_ppm) VALUES(?1,?2,?3)");
    if (!ratio) return ratio.error();
    for (const auto& [code, r] : s.stay_lines->classb_ratios) {
      (*ratio)->reset();
      SETTLE_SQL_TRY((*ratio)->bind_all(id, code, r.ppm()));
      SETTLE_SQL_TRY((*ratio)->run());
    }
  }
  SETTLE_SQL_TRY(add_event(db, s.created_at_ms, Entity::settlement, std::to_string(id), std::nullopt, name(s.state),
                           fmt::format("{} request {}", name(s.mode), s.request_id)));
  return id;
}

sql::Status set_settlement_state(sql::Db& db, std::int64_t setl_id, SettlementState to, std::int64_t at_ms,
                                 std::string_view detail) {
  auto cur = db.cached("SELECT state FROM settlements WHERE setl_id = ?1");
  if (!cur) return cur.error();
  SETTLE_SQL_TRY((*cur)->bind(1, setl_id));
  auto row = (*cur)->step();
  if (!row) return row.error();
  if (!*row) return not_found(fmt::format("settlement {} is not recorded", setl_id));
  const SettlementState from = must_parse(kSettlementStates, (*cur)->column_text_view(0));
  (*cur)->reset();
  auto st = db.cached("UPDATE settlements SET state = ?2 WHERE setl_id = ?1");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(setl_id, name(to)));
  if (auto s = (*st)->run(); !s) {
    if (s.is(sql::Errc::trigger))
      return invalid_state(fmt::format("settlement {}: {} -> {} is not allowed", setl_id, name(from), name(to)));
    return s;
  }
  return add_event(db, at_ms, Entity::settlement, std::to_string(setl_id), name(from), name(to), detail);
}

sql::Status set_settlement_insurer_ids(sql::Db& db, std::int64_t setl_id, std::string_view insurer_setl_id,
                                       std::optional<std::string_view> mdtrt_id, std::int64_t at_ms) {
  auto st = db.cached(
      "UPDATE settlements SET insurer_setl_id = ?2, mdtrt_id = coalesce(?3, mdtrt_id) WHERE setl_id = ?1");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(setl_id, insurer_setl_id, mdtrt_id));
  if (auto s = (*st)->run(); !s) {
    if (s.is(sql::Errc::trigger)) return invalid_state(fmt::format("settlement {}: {}", setl_id, s.error().message));
    return s;
  }
  if (db.changes() == 0) return not_found(fmt::format("settlement {} is not recorded", setl_id));
  auto cur = db.cached("SELECT state FROM settlements WHERE setl_id = ?1");
  if (!cur) return cur.error();
  SETTLE_SQL_TRY((*cur)->bind(1, setl_id));
  SETTLE_SQL_TRY((*cur)->step());
  const std::string state = (*cur)->column_text(0);
  (*cur)->reset();
  return add_event(db, at_ms, Entity::settlement, std::to_string(setl_id), state, state,
                   fmt::format("insurer setl_id {}", insurer_setl_id));
}

// ---- refunds, adjustments, events ----------------------------------------------

sql::Result<std::int64_t> record_refund(sql::Db& db, const Refund& r) {
  auto st = db.cached(
      "INSERT INTO refunds(request_id, setl_id, window_id, operator_id, refund_total_fen, fund_fen, account_fen, "
      "cash_fen, insurer_refund_id, msgid, created_at_ms, clearing_date) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(r.request_id, r.setl_id, r.window_id, r.operator_id, r.total.fen(), r.fund.fen(),
                                 r.account.fen(), r.cash.fen(), r.insurer_refund_id, r.msgid, r.created_at_ms,
                                 r.clearing_date));
  SETTLE_SQL_TRY((*st)->run());
  const std::int64_t id = db.last_insert_rowid();
  auto line = db.cached("INSERT INTO refund_lines(refund_id, line_no, code, amount_fen) VALUES(?1,?2,?3,?4)");
  if (!line) return line.error();
  std::int64_t no = 0;
  for (const RefundLine& l : r.lines) {
    (*line)->reset();
    SETTLE_SQL_TRY((*line)->bind_all(id, ++no, l.code, l.amount.fen()));
    SETTLE_SQL_TRY((*line)->run());
  }
  SETTLE_SQL_TRY(add_event(db, r.created_at_ms, Entity::refund, std::to_string(id), std::nullopt, "recorded",
                           fmt::format("settlement {} refund {} fen", r.setl_id, r.total.fen())));
  return id;
}

sql::Result<std::int64_t> record_adjustment(sql::Db& db, const Adjustment& a) {
  auto st = db.cached(
      "INSERT INTO adjustments(setl_id, kind, local_fund_fen, insurer_fund_fen, local_account_fen, "
      "insurer_account_fen, local_cash_fen, insurer_cash_fen, msgid, note, created_at_ms) "
      "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(a.setl_id, name(a.kind), a.local_fund.fen(), a.insurer_fund.fen(),
                                 a.local_account.fen(), a.insurer_account.fen(), a.local_cash.fen(),
                                 a.insurer_cash.fen(), a.msgid, a.note, a.created_at_ms));
  SETTLE_SQL_TRY((*st)->run());
  return db.last_insert_rowid();
}

sql::Result<std::int64_t> append_event(sql::Db& db, const Event& e) {
  SETTLE_SQL_TRY(add_event(db, e.at_ms, e.entity, e.entity_id, e.from_state, e.to_state, e.detail));
  return db.last_insert_rowid();
}

sql::Result<std::vector<Event>> list_events(sql::Db& db, Entity entity, std::string_view entity_id) {
  return select_all<Event>(
      db, fmt::format("SELECT {} FROM events WHERE entity = ?1 AND entity_id = ?2 ORDER BY event_id", kEventCols),
      read_event, name(entity), entity_id);
}

// ---- outbox -------------------------------------------------------------------

sql::Result<std::int64_t> enqueue_outbox(sql::Db& db, OutboxKind kind, std::optional<std::int64_t> setl_id,
                                         std::optional<std::string_view> ref_msgid, std::string_view payload,
                                         std::int64_t at_ms) {
  SETTLE_ASSERT(kind != OutboxKind::reversal || ref_msgid.has_value());
  SETTLE_ASSERT(kind != OutboxKind::offline_upload || setl_id.has_value());
  // Only uploads name a settlement (get_settlement finds them by the upload index).
  SETTLE_ASSERT(kind != OutboxKind::reversal || !setl_id.has_value());
  // The kind is written into each query, not bound: a partial index matched
  // against a bound value makes SQLite compile the statement again at every
  // run (outbox_one_reversal, outbox_one_upload).
  auto existing = kind == OutboxKind::reversal
                      ? db.cached("SELECT item_id FROM outbox WHERE kind = 'reversal' AND ref_msgid = ?1")
                      : db.cached("SELECT item_id FROM outbox WHERE kind = 'offline_upload' AND setl_id = ?1");
  if (!existing) return existing.error();
  if (kind == OutboxKind::reversal)
    SETTLE_SQL_TRY((*existing)->bind(1, ref_msgid));
  else
    SETTLE_SQL_TRY((*existing)->bind(1, setl_id));
  auto row = (*existing)->step();
  if (!row) return row.error();
  if (*row) {
    const std::int64_t id = (*existing)->column_int64(0);
    (*existing)->reset();
    return id;
  }
  auto st = db.cached(
      "INSERT INTO outbox(kind, priority, setl_id, ref_msgid, payload, state, next_attempt_at_ms, created_at_ms, "
      "updated_at_ms) VALUES(?1, CASE ?1 WHEN 'reversal' THEN 0 ELSE 1 END, ?2, ?3, ?4, 'pending', ?5, ?5, ?5)");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(name(kind), setl_id, ref_msgid, payload, at_ms));
  SETTLE_SQL_TRY((*st)->run());
  const std::int64_t id = db.last_insert_rowid();
  SETTLE_SQL_TRY(add_event(db, at_ms, Entity::outbox, std::to_string(id), std::nullopt, "pending",
                           kind == OutboxKind::reversal ? fmt::format("reversal of {}", *ref_msgid)
                                                        : fmt::format("upload of settlement {}", *setl_id)));
  return id;
}

sql::Result<std::vector<OutboxItem>> claim_outbox(sql::Db& db, std::int64_t now_ms, int limit,
                                                  std::optional<OutboxKind> only) {
  // priority is 0 for reversals, 1 for uploads (the schema's CHECK).
  const int lo = only == OutboxKind::offline_upload ? 1 : 0;
  const int hi = only == OutboxKind::reversal ? 0 : 1;
  // Uploads alone (one priority): the open-items index holds them in item_id
  // order, so a claim reads about `limit` entries; through outbox_ready
  // (ordered by next attempt) it would read and sort every due upload.
  auto items = lo == hi
                   ? select_all<OutboxItem>(
                         db,
                         fmt::format("SELECT {} FROM outbox INDEXED BY outbox_open "
                                     "WHERE state IN ('pending', 'in_flight') AND state = 'pending' "
                                     "AND priority = ?3 AND ?4 = ?3 AND next_attempt_at_ms <= ?1 "
                                     "ORDER BY item_id LIMIT ?2",
                                     kOutboxCols),
                         read_outbox, now_ms, limit, lo, hi)
                   : select_all<OutboxItem>(
                         db,
                         fmt::format("SELECT {} FROM outbox WHERE state = 'pending' AND priority BETWEEN ?3 AND ?4 "
                                     "AND next_attempt_at_ms <= ?1 ORDER BY priority, item_id LIMIT ?2",
                                     kOutboxCols),
                         read_outbox, now_ms, limit, lo, hi);
  if (!items) return items.error();
  auto st = db.cached(
      "UPDATE outbox SET state = 'in_flight', attempts = attempts + 1, updated_at_ms = ?2 WHERE item_id = ?1");
  if (!st) return st.error();
  for (OutboxItem& it : *items) {
    (*st)->reset();
    SETTLE_SQL_TRY((*st)->bind_all(it.item_id, now_ms));
    SETTLE_SQL_TRY((*st)->run());
    it.state = OutboxState::in_flight;
    it.attempts += 1;
    it.updated_at_ms = now_ms;
  }
  return items;
}

sql::Result<std::vector<UploadItem>> claim_uploads(sql::Db& db, std::int64_t now_ms, int limit, std::int64_t max_lines) {
  // The items with their settlements in one walk of the open-items index (as
  // claim_outbox's uploads-only claim), then each settlement's lines.
  std::string cols;
  for (std::string_view c : {kOutboxCols, kSettlementCols}) {
    const char* prefix = c == kOutboxCols ? "o." : "s.";
    std::size_t at = 0;
    while (at < c.size()) {
      std::size_t end = c.find(',', at);
      if (end == std::string_view::npos) end = c.size();
      std::string_view col = c.substr(at, end - at);
      while (!col.empty() && col.front() == ' ') col.remove_prefix(1);
      if (!cols.empty()) cols += ", ";
      cols += prefix;
      cols += col;
      at = end + 1;
    }
  }
  // Strictly oldest first: the walk stops at the first item not yet due (one
  // waiting for its retry), so that nothing stored after it goes before it.
  auto pick = db.cached(fmt::format(
      "SELECT {} FROM outbox o INDEXED BY outbox_open JOIN settlements s ON s.setl_id = o.setl_id "
      "WHERE o.state IN ('pending', 'in_flight') AND o.state = 'pending' AND o.priority = 1 "
      "ORDER BY o.item_id LIMIT ?1",
      cols));
  if (!pick) return pick.error();
  SETTLE_SQL_TRY((*pick)->bind_all(limit));
  std::vector<UploadItem> out;
  out.reserve(static_cast<std::size_t>(std::max(limit, 0)));
  constexpr int kOutboxColumns = 12;
  for (;;) {
    auto more = (*pick)->step();
    if (!more) return more.error();
    if (!*more) break;
    UploadItem u;
    u.item = read_outbox(**pick);
    if (u.item.next_attempt_at_ms > now_ms) break;
    u.settlement = read_settlement_at(**pick, kOutboxColumns);
    // One insured area a batch (the envelope names one): the batch ends at
    // the first of another area, which goes first in the next.
    if (!out.empty() && u.settlement.insuplc_admdvs != out.front().settlement.insuplc_admdvs) break;
    out.push_back(std::move(u));
  }
  (*pick)->reset();
  auto claim = db.cached(
      "UPDATE outbox SET state = 'in_flight', attempts = attempts + 1, updated_at_ms = ?2 WHERE item_id = ?1");
  if (!claim) return claim.error();
  auto lines = db.cached(
      "SELECT code, name, class, amount_fen, selfpay_ratio_ppm FROM settlement_lines WHERE setl_id = ?1 ORDER BY line_no");
  if (!lines) return lines.error();
  std::int64_t total_lines = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    UploadItem& u = out[i];
    (*lines)->reset();
    SETTLE_SQL_TRY((*lines)->bind(1, u.settlement.setl_id));
    for (;;) {
      auto more = (*lines)->step();
      if (!more) return more.error();
      if (!*more) break;
      const sql::Statement& st = **lines;
      u.lines.push_back(SettlementLine{st.column_text(0), st.column_text(1), must_parse(kLineClasses, st.column_text_view(2)),
                                       Amount::fen(st.column_int64(3)), Ratio::ppm(st.column_int64(4))});
    }
    (*lines)->reset();
    total_lines += static_cast<std::int64_t>(u.lines.size());
    if (i > 0 && total_lines > max_lines) {
      out.resize(i);  // this one and the rest stay pending for the next batch
      break;
    }
    (*claim)->reset();
    SETTLE_SQL_TRY((*claim)->bind_all(u.item.item_id, now_ms));
    SETTLE_SQL_TRY((*claim)->run());
    u.item.state = OutboxState::in_flight;
    u.item.attempts += 1;
    u.item.updated_at_ms = now_ms;
  }
  return out;
}

sql::Status release_claimed(sql::Db& db, std::span<const std::int64_t> item_ids, std::int64_t next_attempt_at_ms,
                            std::int64_t at_ms) {
  auto st = db.cached(
      "UPDATE outbox SET state = 'pending', attempts = max(attempts - 1, 0), next_attempt_at_ms = ?2, "
      "updated_at_ms = ?3 WHERE item_id = ?1 AND state = 'in_flight'");
  if (!st) return st.error();
  for (std::int64_t id : item_ids) {
    (*st)->reset();
    SETTLE_SQL_TRY((*st)->bind_all(id, next_attempt_at_ms, at_ms));
    SETTLE_SQL_TRY((*st)->run());
    if (db.changes() == 0) return invalid_state(fmt::format("outbox item {} is not in flight", id));
  }
  return settle::Ok{};
}

sql::Status record_upload_results(sql::Db& db, std::span<const UploadResult> results, std::int64_t at_ms) {
  auto accept = db.cached(
      "UPDATE settlements SET insurer_setl_id = ?2, mdtrt_id = coalesce(?3, mdtrt_id), state = 'offline_accepted' "
      "WHERE setl_id = ?1 AND state = 'offline_pending' AND insurer_setl_id IS NULL AND mdtrt_id IS NULL");
  if (!accept) return accept.error();
  auto reject = db.cached(
      "UPDATE settlements SET state = 'offline_rejected' WHERE setl_id = ?1 AND state = 'offline_pending'");
  if (!reject) return reject.error();
  static constexpr std::string_view pending = "offline_pending";
  for (const UploadResult& r : results) {
    const std::string id = std::to_string(r.setl_id);
    if (r.accepted) {
      // An insurer that gives no visit leaves the column NULL (not re-settleable).
      const std::optional<std::string_view> mdtrt_id =
          r.mdtrt_id.empty() ? std::nullopt : std::optional<std::string_view>(r.mdtrt_id);
      (*accept)->reset();
      SETTLE_SQL_TRY((*accept)->bind_all(r.setl_id, r.insurer_setl_id, mdtrt_id));
      SETTLE_SQL_TRY((*accept)->run());
      if (db.changes() == 1) {
        // The same two events as set_settlement_insurer_ids and set_settlement_state write.
        SETTLE_SQL_TRY(add_event(db, at_ms, Entity::settlement, id, pending, pending,
                                 fmt::format("insurer setl_id {}", r.insurer_setl_id)));
        SETTLE_SQL_TRY(add_event(db, at_ms, Entity::settlement, id, pending, name(SettlementState::offline_accepted),
                                 r.detail));
      } else {
        // Not an offline settlement waiting for its answer: the one-at-a-time
        // operations say why (not recorded, ids set before, or the state).
        SETTLE_SQL_TRY(set_settlement_insurer_ids(db, r.setl_id, r.insurer_setl_id, mdtrt_id, at_ms));
        SETTLE_SQL_TRY(set_settlement_state(db, r.setl_id, SettlementState::offline_accepted, at_ms, r.detail));
      }
      if (r.adjustment) {
        auto adj = record_adjustment(db, *r.adjustment);
        if (!adj) return adj.error();
      }
    } else {
      (*reject)->reset();
      SETTLE_SQL_TRY((*reject)->bind_all(r.setl_id));
      SETTLE_SQL_TRY((*reject)->run());
      if (db.changes() == 1) {
        SETTLE_SQL_TRY(add_event(db, at_ms, Entity::settlement, id, pending, name(SettlementState::offline_rejected),
                                 r.detail));
      } else {
        SETTLE_SQL_TRY(set_settlement_state(db, r.setl_id, SettlementState::offline_rejected, at_ms, r.detail));
      }
    }
    // A stay's discharge is forwarded as a stay item (stay_ops), not through the outbox.
    if (r.item_id != 0) SETTLE_SQL_TRY(complete_outbox(db, r.item_id, OutboxOutcome::done, at_ms, 0, r.outbox_error));
  }
  return settle::Ok{};
}

sql::Status complete_outbox(sql::Db& db, std::int64_t item_id, OutboxOutcome outcome, std::int64_t at_ms,
                            std::int64_t next_attempt_at_ms, std::string_view error,
                            std::optional<std::int64_t> refusals) {
  const std::string_view to = outcome == OutboxOutcome::done     ? "done"
                              : outcome == OutboxOutcome::failed ? "failed"
                              : outcome == OutboxOutcome::park   ? "parked"
                                                                 : "pending";
  // A parked item keeps its reason: the caller must say why.
  SETTLE_ASSERT(outcome != OutboxOutcome::park || !error.empty());
  auto st = db.cached(
      "UPDATE outbox SET state = ?2, updated_at_ms = ?3, "
      "next_attempt_at_ms = CASE WHEN ?2 = 'pending' THEN ?4 ELSE next_attempt_at_ms END, "
      "last_error = CASE WHEN ?5 = '' THEN last_error ELSE ?5 END, "
      "refusals = coalesce(?6, refusals) "
      "WHERE item_id = ?1 AND state = 'in_flight'");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(item_id, to, at_ms, next_attempt_at_ms, error, refusals));
  SETTLE_SQL_TRY((*st)->run());
  if (db.changes() == 0) return invalid_state(fmt::format("outbox item {} is not in flight", item_id));
  const std::string detail =
      outcome == OutboxOutcome::park ? fmt::format("parked after {} refusals: {}", refusals.value_or(0), error)
                                     : std::string(error);
  return add_event(db, at_ms, Entity::outbox, std::to_string(item_id), "in_flight", to, detail);
}

namespace {
constexpr std::string_view kParkedTerm = "state = 'parked'";
}  // namespace

sql::Result<std::vector<ParkedItem>> list_parked(sql::Db& db) {
  std::string cols;
  for (std::string_view c = kOutboxCols; !c.empty();) {
    const std::size_t comma = c.find(',');
    std::string_view col = c.substr(0, comma);
    while (!col.empty() && col.front() == ' ') col.remove_prefix(1);
    cols += fmt::format("{}o.{}", cols.empty() ? "" : ", ", col);
    c = comma == std::string_view::npos ? std::string_view{} : c.substr(comma + 1);
  }
  return select_all<ParkedItem>(
      db,
      fmt::format("SELECT {}, coalesce(s.psn_no, CASE WHEN json_valid(o.payload) THEN json_extract(o.payload, "
                  "'$.psn_no') END) FROM outbox o INDEXED BY outbox_parked LEFT JOIN settlements s ON "
                  "s.setl_id = o.setl_id WHERE o.{} ORDER BY o.kind DESC, o.item_id",
                  cols, kParkedTerm),
      [](const sql::Statement& st) {
        ParkedItem p{read_outbox(st), st.column_opt_text(12)};
        if (p.psn_no && p.psn_no->empty()) p.psn_no.reset();
        return p;
      });
}

sql::Result<std::optional<OutboxItem>> find_outbox(sql::Db& db, std::int64_t item_id) {
  return select_one<OutboxItem>(db, fmt::format("SELECT {} FROM outbox WHERE item_id = ?1", kOutboxCols),
                                read_outbox, item_id);
}

namespace {
// The one check of retry_parked and resolve_parked: the item exists and is parked.
sql::Status must_be_parked(sql::Db& db, std::int64_t item_id) {
  auto item = find_outbox(db, item_id);
  if (!item) return item.error();
  if (!item->has_value()) return not_found(fmt::format("outbox item {} does not exist", item_id));
  if ((*item)->state != OutboxState::parked)
    return invalid_state(fmt::format("outbox item {} is {}, not parked", item_id, name((*item)->state)));
  return settle::Ok{};
}
}  // namespace

sql::Status retry_parked(sql::Db& db, std::int64_t item_id, std::string_view by_operator, std::int64_t at_ms) {
  SETTLE_SQL_TRY(must_be_parked(db, item_id));
  // Due now, with its refusals counted from zero again: the supervisor has
  // seen the reason and asks for new tries.
  auto st = db.cached(
      "UPDATE outbox SET state = 'pending', next_attempt_at_ms = ?2, refusals = 0, updated_at_ms = ?2 "
      "WHERE item_id = ?1 AND state = 'parked'");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(item_id, at_ms));
  SETTLE_SQL_TRY((*st)->run());
  return add_event(db, at_ms, Entity::outbox, std::to_string(item_id), "parked", "pending",
                   fmt::format("retried by {}", by_operator));
}

sql::Status resolve_parked(sql::Db& db, std::int64_t item_id, std::string_view by_operator, std::string_view note,
                           std::int64_t at_ms) {
  SETTLE_ASSERT(!note.empty());
  SETTLE_SQL_TRY(must_be_parked(db, item_id));
  auto st = db.cached("UPDATE outbox SET state = 'done', updated_at_ms = ?2 WHERE item_id = ?1 AND state = 'parked'");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(item_id, at_ms));
  SETTLE_SQL_TRY((*st)->run());
  return add_event(db, at_ms, Entity::outbox, std::to_string(item_id), "parked", "done",
                   fmt::format("resolved by {}: {}", by_operator, note));
}

namespace {
// One row of (count, fund_fen, oldest created_at_ms) into OfflineOutstanding.
sql::Result<OfflineOutstanding> read_outstanding(sql::Statement& st) {
  st.reset();
  auto row = st.step();
  if (!row) return row.error();
  OfflineOutstanding out;
  out.count = st.column_int64(0);
  out.fund = Amount::fen(st.column_int64(1));
  if (!st.is_null(2)) out.oldest_created_ms = st.column_int64(2);
  st.reset();
  return out;
}
}  // namespace

sql::Result<OfflineOutstanding> offline_outstanding(sql::Db& db, VisitType visit) {
  auto st = db.cached(
      "SELECT count(*), coalesce(sum(fund_fen), 0), min(created_at_ms) FROM settlements "
      "WHERE state = 'offline_pending' AND visit_type = ?1");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(name(visit)));
  return read_outstanding(**st);
}

namespace {

// A running figure of one table's rows meeting a condition, kept on one
// connection (the writer's): sums in a TEMP table, kept by TEMP triggers on
// the table (made on first use, inside the caller's transaction if there is
// one, so they roll back with it), and summed again from the table whenever
// another connection has committed since (PRAGMA data_version). `cond` and
// `values` name the row as {r}; a value "1" counts.
struct Tracked {
  std::string_view name;                  // the TEMP table
  std::string_view table;                 // main.<table>
  std::string_view from;                  // the recount's FROM, the row named r
  std::string_view cond;                  // the rows counted
  std::string_view changing;              // UPDATE OF these columns
  std::vector<std::string_view> values;   // summed
};

std::string on_row(std::string_view text, std::string_view row) {
  return fmt::format(fmt::runtime(text), fmt::arg("r", row));
}

std::string tracked_sql(const Tracked& t) {
  std::string cols, zeros, add, remove, change;
  for (std::size_t i = 0; i < t.values.size(); ++i) {
    const std::string_view v = t.values[i];
    const std::string sep = i == 0 ? "" : ", ";
    cols += fmt::format("v{} INTEGER NOT NULL, ", i);
    zeros += "0, ";
    add += sep + fmt::format("v{0} = v{0} + ({1})", i, on_row(v, "NEW"));
    remove += sep + fmt::format("v{0} = v{0} - ({1})", i, on_row(v, "OLD"));
    change += sep + fmt::format("v{0} = v{0} - (CASE WHEN {1} THEN {2} ELSE 0 END) + (CASE WHEN {3} THEN {4} ELSE 0 END)",
                                i, on_row(t.cond, "OLD"), on_row(v, "OLD"), on_row(t.cond, "NEW"), on_row(v, "NEW"));
  }
  return fmt::format(
      "CREATE TEMP TABLE {0} (id INTEGER PRIMARY KEY CHECK (id = 1), {2}data_version INTEGER NOT NULL);"
      "INSERT INTO {0} VALUES (1, {3}-1);"
      "CREATE TEMP TRIGGER {0}_insert AFTER INSERT ON main.{1} WHEN {4} BEGIN UPDATE {0} SET {5} WHERE id = 1; END;"
      "CREATE TEMP TRIGGER {0}_update AFTER UPDATE OF {6} ON main.{1} WHEN ({7}) OR ({4}) BEGIN "
      "UPDATE {0} SET {8} WHERE id = 1; END;"
      "CREATE TEMP TRIGGER {0}_delete AFTER DELETE ON main.{1} WHEN {7} BEGIN UPDATE {0} SET {9} WHERE id = 1; END;",
      t.name, t.table, cols, zeros, on_row(t.cond, "NEW"), add, t.changing, on_row(t.cond, "OLD"), change, remove);
}

// The figures of `t` now, as counted on this connection.
sql::Result<std::vector<std::int64_t>> tracked_sums(sql::Db& db, const Tracked& t) {
  auto version = db.cached("PRAGMA data_version");
  if (!version) return version.error();
  (*version)->reset();
  auto vr = (*version)->step();
  if (!vr) return vr.error();
  const std::int64_t data_version = (*version)->column_int64(0);
  (*version)->reset();
  auto made = db.cached("SELECT count(*) FROM sqlite_temp_master WHERE type = 'table' AND name = ?1");
  if (!made) return made.error();
  (*made)->reset();
  SETTLE_SQL_TRY((*made)->bind_all(t.name));
  auto mr = (*made)->step();
  if (!mr) return mr.error();
  const bool exists = (*made)->column_int64(0) != 0;
  (*made)->reset();
  if (!exists) SETTLE_SQL_TRY(db.exec(tracked_sql(t)));
  std::string cols;
  for (std::size_t i = 0; i < t.values.size(); ++i) cols += fmt::format("v{}, ", i);
  auto read = db.cached(fmt::format("SELECT {}data_version FROM {} WHERE id = 1", cols, t.name));
  if (!read) return read.error();
  for (int pass = 0; pass < 2; ++pass) {
    (*read)->reset();
    auto rr = (*read)->step();
    if (!rr) return rr.error();
    if (!*rr) return sql::DbError{sql::Errc::other, 0, fmt::format("{}: its row is missing", t.name)};
    const auto n = static_cast<int>(t.values.size());
    if ((*read)->column_int64(n) == data_version) {
      std::vector<std::int64_t> out;
      for (int i = 0; i < n; ++i) out.push_back((*read)->column_int64(i));
      (*read)->reset();
      return out;
    }
    (*read)->reset();
    // First use, or another connection wrote since: sum them once.
    std::string sums;
    for (std::string_view v : t.values) sums += fmt::format("coalesce(sum({}), 0), ", on_row(v, "r"));
    std::string set;
    for (std::size_t i = 0; i < t.values.size(); ++i) set += fmt::format("v{}, ", i);
    auto recount = db.cached(fmt::format("UPDATE {0} SET ({1}data_version) = (SELECT {2}?1 FROM {3} WHERE {4}) WHERE id = 1",
                                         t.name, set, sums, t.from, on_row(t.cond, "r")));
    if (!recount) return recount.error();
    SETTLE_SQL_TRY((*recount)->bind_all(data_version));
    SETTLE_SQL_TRY((*recount)->run());
    (*recount)->reset();
  }
  return sql::DbError{sql::Errc::other, 0, fmt::format("{}: not counted", t.name)};
}

// The outpatient offline settlements stored: count and estimated fund.
const Tracked kOfflineTotals{"offline_totals", "settlements", "settlements AS r",
                             "{r}.state = 'offline_pending' AND {r}.visit_type = 'outpatient'", "state, fund_fen",
                             {"1", "{r}.fund_fen"}};
// The outbox's open items (pending or in flight), every kind.
const Tracked kOpenOutbox{"outbox_open_count", "outbox", "outbox AS r INDEXED BY outbox_open",
                          "{r}.state IN ('pending', 'in_flight')", "state", {"1"}};

}  // namespace

sql::Result<OfflineOutstanding> offline_outstanding_tracked(sql::Db& db) {
  auto sums = tracked_sums(db, kOfflineTotals);
  if (!sums) return sums.error();
  auto st = db.cached(
      "SELECT ?1, ?2, (SELECT min(created_at_ms) FROM settlements WHERE state = 'offline_pending' "
      "AND visit_type = 'outpatient')");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all((*sums)[0], (*sums)[1]));
  return read_outstanding(**st);
}

sql::Result<std::int64_t> requeue_in_flight(sql::Db& db, std::int64_t at_ms) {
  auto ids = select_all<std::int64_t>(
      db,
      "SELECT item_id FROM outbox INDEXED BY outbox_open WHERE state IN ('pending','in_flight') "
      "AND state = 'in_flight' ORDER BY item_id",
      [](const sql::Statement& s) { return s.column_int64(0); });
  if (!ids) return ids.error();
  for (std::int64_t id : *ids)
    SETTLE_SQL_TRY(complete_outbox(db, id, OutboxOutcome::retry, at_ms, at_ms, "in flight at start-up"));
  // And the stays' items (stay_ops).
  auto stays = requeue_stay_items(db, at_ms);
  if (!stays) return stays.error();
  return static_cast<std::int64_t>(ids->size()) + *stays;
}

namespace {

// The open work; `open` is the outbox's open items when the caller counted
// them already (the writer keeps that figure), else they are counted here.
sql::Result<OpenWork> count_open_work(sql::Db& db, std::optional<std::int64_t> open) {
  // Through the outbox's partial indexes, without reading the open items'
  // rows: all open items (outbox_open alone), pending reversals (outbox_ready,
  // priority 0) and reversals in flight (the few in-flight rows); the uploads
  // are the rest. Counting uploads by kind read every open row (tens of ms at
  // 100,000 queued, for each engine.status). The messages in doubt come from
  // insurer_messages_open: without it, every status read the whole table.
  // The first count is made only when ?1 is NULL (CASE evaluates one branch).
  static const std::string sql = fmt::format(
      "SELECT CASE WHEN ?1 IS NULL THEN (SELECT count(*) FROM outbox INDEXED BY outbox_open "
      "WHERE state IN ('pending','in_flight')) ELSE ?1 END, "
      "(SELECT count(*) FROM outbox INDEXED BY outbox_ready WHERE state = 'pending' AND priority = 0), "
      "(SELECT count(*) FROM outbox INDEXED BY outbox_open WHERE state IN ('pending','in_flight') "
      "AND state = 'in_flight' AND kind = 'reversal'), "
      "(SELECT count(*) FROM insurer_messages INDEXED BY insurer_messages_open WHERE {} AND state = 'in_doubt'), "
      "(SELECT count(*) FROM outbox INDEXED BY outbox_parked WHERE {} AND kind = 'reversal'), "
      "(SELECT count(*) FROM outbox INDEXED BY outbox_parked WHERE {} AND kind = 'offline_upload'), "
      "(SELECT count(*) FROM stay_items INDEXED BY stay_items_open WHERE state IN ('pending', 'in_flight', 'parked') "
      "AND state <> 'parked'), "
      "(SELECT count(*) FROM stay_items INDEXED BY stay_items_open WHERE state IN ('pending', 'in_flight', 'parked') "
      "AND state = 'parked')",
      kOpenMessageStates, kParkedTerm, kParkedTerm);
  auto st = db.cached(sql);
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind(1, open));
  auto row = (*st)->step();
  if (!row) return row.error();
  const std::int64_t all_open = (*st)->column_int64(0);
  const std::int64_t reversals = (*st)->column_int64(1) + (*st)->column_int64(2);
  // A stay's items (its admission, lines, offline discharge) are uploads too.
  OpenWork w{reversals, all_open - reversals + (*st)->column_int64(6), (*st)->column_int64(3), (*st)->column_int64(4),
             (*st)->column_int64(5) + (*st)->column_int64(7)};
  (*st)->reset();
  return w;
}

}  // namespace

sql::Result<OpenWork> open_work(sql::Db& db) { return count_open_work(db, std::nullopt); }

sql::Result<OpenWork> open_work_tracked(sql::Db& db) {
  auto open = tracked_sums(db, kOpenOutbox);
  if (!open) return open.error();
  return count_open_work(db, open->front());
}

sql::Result<bool> reversal_open(sql::Db& db) {
  auto st = db.cached(
      "SELECT EXISTS (SELECT 1 FROM outbox INDEXED BY outbox_open_reversals "
      "WHERE kind = 'reversal' AND state IN ('pending','in_flight'))");
  if (!st) return st.error();
  (*st)->reset();
  auto row = (*st)->step();
  if (!row) return row.error();
  const bool open = (*st)->column_int64(0) != 0;
  (*st)->reset();
  return open;
}

sql::Result<std::int64_t> pending_reversals_for(sql::Db& db, std::string_view psn_no) {
  auto st = db.cached(
      "SELECT count(*) FROM outbox INDEXED BY outbox_open_reversals "
      "WHERE kind = 'reversal' AND state IN ('pending','in_flight') "
      "AND json_valid(payload) AND json_extract(payload, '$.psn_no') = ?1");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(psn_no));
  auto row = (*st)->step();
  if (!row) return row.error();
  const std::int64_t n = (*st)->column_int64(0);
  (*st)->reset();
  return n;
}

// ---- operators and the audit trail ---------------------------------------------

namespace {

constexpr std::string_view kOperatorCols =
    "name, role, password_hash, disabled, must_change_password, created_at_ms, updated_at_ms";

OperatorRow read_operator(sql::Statement& st) {
  OperatorRow r;
  r.name = st.column_text(0);
  r.role = st.column_text(1);
  r.password_hash = st.column_text(2);
  r.disabled = st.column_int64(3) != 0;
  r.must_change_password = st.column_int64(4) != 0;
  r.created_at_ms = st.column_int64(5);
  r.updated_at_ms = st.column_int64(6);
  return r;
}

constexpr std::string_view kLoginSourceCols =
    "operator_name, source, failed_attempts, locked_since_ms, locked_until_ms, updated_at_ms";

LoginSourceRow read_login_source(sql::Statement& st) {
  LoginSourceRow r;
  r.operator_name = st.column_text(0);
  r.source = st.column_text(1);
  r.failed_attempts = st.column_int64(2);
  r.locked_since_ms = st.column_opt_int64(3);
  r.locked_until_ms = st.column_opt_int64(4);
  r.updated_at_ms = st.column_int64(5);
  return r;
}

constexpr std::string_view kAuditCols =
    "audit_id, at_ms, operator_name, window_id, action, detail, object, outcome, source";

AuditEntry read_audit(sql::Statement& st) {
  AuditEntry e;
  e.audit_id = st.column_int64(0);
  e.at_ms = st.column_int64(1);
  e.operator_name = st.column_text(2);
  e.window = st.column_text(3);
  e.action = st.column_text(4);
  e.detail = st.column_text(5);
  e.object = st.column_text(6);
  e.outcome = st.column_text(7);
  e.source = st.column_text(8);
  return e;
}

// Runs an UPDATE of one operator; not_found when no row changed.
template <class... Args>
sql::Status update_operator(sql::Db& db, std::string_view name, std::string_view sql_text, const Args&... args) {
  auto st = db.cached(sql_text);
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(name, args...));
  SETTLE_SQL_TRY((*st)->run());
  if (db.changes() != 1) return not_found(fmt::format("operator \"{}\" is not known", name));
  return settle::Ok{};
}

}  // namespace

sql::Result<std::optional<OperatorRow>> find_operator(sql::Db& db, std::string_view name) {
  return select_one<OperatorRow>(db, fmt::format("SELECT {} FROM operators WHERE name = ?1", kOperatorCols),
                                 read_operator, name);
}

sql::Result<std::vector<OperatorRow>> list_operators(sql::Db& db) {
  return select_all<OperatorRow>(db, fmt::format("SELECT {} FROM operators ORDER BY name", kOperatorCols),
                                 read_operator);
}

sql::Status insert_operator(sql::Db& db, const OperatorRow& r) {
  auto st = db.cached(
      "INSERT INTO operators(name, role, password_hash, disabled, must_change_password, created_at_ms, "
      "updated_at_ms) VALUES(?1,?2,?3,?4,?5,?6,?7)");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(r.name, r.role, r.password_hash, std::int64_t{r.disabled ? 1 : 0},
                                 std::int64_t{r.must_change_password ? 1 : 0}, r.created_at_ms, r.updated_at_ms));
  return (*st)->run();
}

sql::Status set_operator_password(sql::Db& db, std::string_view name, std::string_view password_hash,
                                  bool must_change, std::int64_t at_ms) {
  return update_operator(
      db, name, "UPDATE operators SET password_hash = ?2, must_change_password = ?3, updated_at_ms = ?4 WHERE name = ?1",
      password_hash, std::int64_t{must_change ? 1 : 0}, at_ms);
}

sql::Status set_operator_role(sql::Db& db, std::string_view name, std::string_view role, std::int64_t at_ms) {
  return update_operator(db, name, "UPDATE operators SET role = ?2, updated_at_ms = ?3 WHERE name = ?1", role, at_ms);
}

sql::Status set_operator_disabled(sql::Db& db, std::string_view name, bool disabled, std::int64_t at_ms) {
  return update_operator(db, name, "UPDATE operators SET disabled = ?2, updated_at_ms = ?3 WHERE name = ?1",
                         std::int64_t{disabled ? 1 : 0}, at_ms);
}

sql::Status unlock_operator(sql::Db& db, std::string_view name, std::int64_t at_ms) {
  SETTLE_SQL_TRY(update_operator(db, name, "UPDATE operators SET updated_at_ms = ?2 WHERE name = ?1", at_ms));
  auto st = db.cached("DELETE FROM login_sources WHERE operator_name = ?1");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(name));
  return (*st)->run();
}

sql::Result<std::optional<LoginSourceRow>> find_login_source(sql::Db& db, std::string_view name,
                                                             std::string_view source) {
  return select_one<LoginSourceRow>(
      db, fmt::format("SELECT {} FROM login_sources WHERE operator_name = ?1 AND source = ?2", kLoginSourceCols),
      read_login_source, name, source);
}

sql::Result<std::vector<LoginSourceRow>> list_login_sources(sql::Db& db) {
  return select_all<LoginSourceRow>(
      db, fmt::format("SELECT {} FROM login_sources ORDER BY operator_name, source", kLoginSourceCols),
      read_login_source);
}

sql::Result<std::int64_t> add_failed_login(sql::Db& db, std::string_view name, std::string_view source,
                                           std::int64_t at_ms) {
  auto st = db.cached(
      "INSERT INTO login_sources(operator_name, source, failed_attempts, updated_at_ms) VALUES(?1, ?2, 1, ?3) "
      "ON CONFLICT(operator_name, source) DO UPDATE SET failed_attempts = failed_attempts + 1, updated_at_ms = ?3");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(name, source, at_ms));
  SETTLE_SQL_TRY((*st)->run());
  auto row = find_login_source(db, name, source);
  if (!row) return row.error();
  if (!row->has_value()) return not_found(fmt::format("operator \"{}\" is not known", name));
  return (*row)->failed_attempts;
}

sql::Status lock_login_source(sql::Db& db, std::string_view name, std::string_view source,
                              std::optional<std::int64_t> until_ms, std::int64_t at_ms) {
  auto st = db.cached(
      "INSERT INTO login_sources(operator_name, source, failed_attempts, locked_since_ms, locked_until_ms, "
      "updated_at_ms) VALUES(?1, ?2, 0, ?4, ?3, ?4) ON CONFLICT(operator_name, source) DO UPDATE SET "
      "failed_attempts = 0, locked_since_ms = ?4, locked_until_ms = ?3, updated_at_ms = ?4");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(name, source, until_ms, at_ms));
  return (*st)->run();
}

sql::Status clear_login_source(sql::Db& db, std::string_view name, std::string_view source) {
  auto st = db.cached("DELETE FROM login_sources WHERE operator_name = ?1 AND source = ?2");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(name, source));
  return (*st)->run();
}

sql::Result<std::int64_t> append_audit(sql::Db& db, const AuditEntry& e) {
  auto st = db.cached(
      "INSERT INTO audit(at_ms, operator_name, window_id, action, detail, object, outcome, source) "
      "VALUES(?1,?2,?3,?4,?5,?6,?7,?8)");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(e.at_ms, e.operator_name, e.window, e.action, e.detail, e.object, e.outcome, e.source));
  SETTLE_SQL_TRY((*st)->run());
  return db.last_insert_rowid();
}

sql::Result<std::vector<AuditEntry>> list_audit(sql::Db& db, const AuditQuery& q) {
  // Only the filters given, as plain terms, so that SQLite can use the
  // indexes by time, operator and action (an "?1 IS NULL OR ..." term cannot).
  std::string where;
  const auto term = [&where](std::string_view t) { where += where.empty() ? " WHERE " : " AND "; where += t; };
  if (q.from_ms) term("at_ms >= ?1");
  if (q.to_ms) term("at_ms < ?2");
  if (!q.operator_name.empty()) term("operator_name = ?3");
  if (!q.action.empty()) term("action = ?4");
  if (q.before_id) term("audit_id < ?5");
  // Unused parameters are bound too (numbered parameters may go unused).
  return select_all<AuditEntry>(
      db, fmt::format("SELECT {} FROM audit{} ORDER BY audit_id DESC LIMIT ?6", kAuditCols, where), read_audit,
      q.from_ms, q.to_ms, q.operator_name, q.action, q.before_id, q.limit);
}

// ---- settlement reads ---------------------------------------------------------

sql::Result<std::vector<Settlement>> list_settlements(sql::Db& db, const SettlementFilter& f) {
  std::optional<std::string_view> state;
  if (f.state) state = name(*f.state);
  return select_all<Settlement>(
      db,
      // By the period's index, whatever the statistics say: with five years'
      // of them the planner would take the open rowid range (setl_id > ?6,
      // no sort) and read every settlement since the first.
      fmt::format("SELECT {} FROM settlements INDEXED BY settlements_created WHERE created_at_ms >= ?1 AND created_at_ms < ?2 "
                  "AND (?3 IS NULL OR state = ?3) AND (?4 IS NULL OR window_id = ?4) "
                  "AND (?5 IS NULL OR operator_id = ?5) AND setl_id > ?6 AND (?8 IS NULL OR card_no = ?8) "
                  "AND (?9 IS NULL OR receipt_no = ?9) ORDER BY setl_id LIMIT ?7",
                  kSettlementCols),
      read_settlement, f.from_ms, f.to_ms, state, f.window_id, f.operator_id, f.after_setl_id, f.limit, f.card_no,
      f.receipt_no);
}

sql::Result<std::vector<SettlementLine>> settlement_lines_of(sql::Db& db, const Settlement& s) {
  auto read = [](const sql::Statement& st) {
    return SettlementLine{st.column_text(0), st.column_text(1), must_parse(kLineClasses, st.column_text_view(2)),
                          Amount::fen(st.column_int64(3)), Ratio::ppm(st.column_int64(4))};
  };
  if (!s.stay_lines)
    return select_all<SettlementLine>(
        db, "SELECT code, name, class, amount_fen, selfpay_ratio_ppm FROM settlement_lines WHERE setl_id = ?1 ORDER BY line_no",
        read, s.setl_id);
  // By reference (v5): the stay's lines as they stood when it was settled,
  // each class B line with its own ratio or the one the policy applied.
  SETTLE_ASSERT(s.adm_id.has_value());
  return select_all<SettlementLine>(
      db,
      "SELECT l.code, l.name, l.class, l.amount_fen, CASE WHEN l.class = 'B' THEN coalesce(l.selfpay_ratio_ppm, "
      "(SELECT r.selfpay_ratio_ppm FROM settlement_classb_ratios r WHERE r.setl_id = ?1 AND r.code = l.code), 0) "
      "ELSE 0 END FROM stay_lines l INDEXED BY stay_lines_order WHERE l.adm_id = ?2 AND l.line_no <= ?3 "
      "AND (l.cancel_no IS NULL OR l.cancel_no > ?4) ORDER BY l.line_no",
      read, s.setl_id, *s.adm_id, s.stay_lines->lines_upto, s.stay_lines->cancels_upto);
}

sql::Result<std::optional<Settlement>> settlement_row(sql::Db& db, std::int64_t setl_id) {
  auto s = select_one<Settlement>(db, fmt::format("SELECT {} FROM settlements WHERE setl_id = ?1", kSettlementCols),
                                  read_settlement, setl_id);
  if (!s || !s->has_value() || !(**s).stay_lines) return s;
  auto ratios = select_all<std::pair<std::string, Ratio>>(
      db, "SELECT code, selfpay_ratio_ppm FROM settlement_classb_ratios WHERE setl_id = ?1 ORDER BY code",
      [](const sql::Statement& st) { return std::pair{st.column_text(0), Ratio::ppm(st.column_int64(1))}; }, setl_id);
  if (!ratios) return ratios.error();
  (**s).stay_lines->classb_ratios.insert(ratios->begin(), ratios->end());
  return s;
}

sql::Result<std::vector<Refund>> refunds_of(sql::Db& db, std::int64_t setl_id) {
  auto refunds = select_all<Refund>(
      db, fmt::format("SELECT {} FROM refunds WHERE setl_id = ?1 ORDER BY refund_id", kRefundCols), read_refund,
      setl_id);
  if (!refunds) return refunds;
  for (Refund& r : *refunds) {
    auto rl = select_all<RefundLine>(
        db, "SELECT code, amount_fen FROM refund_lines WHERE refund_id = ?1 ORDER BY line_no",
        [](const sql::Statement& st) { return RefundLine{st.column_text(0), Amount::fen(st.column_int64(1))}; },
        r.refund_id);
    if (!rl) return rl.error();
    r.lines = std::move(*rl);
  }
  return refunds;
}

sql::Result<std::vector<Adjustment>> adjustments_of(sql::Db& db, std::int64_t setl_id) {
  return select_all<Adjustment>(
      db, fmt::format("SELECT {} FROM adjustments WHERE setl_id = ?1 ORDER BY adj_id", kAdjustmentCols),
      read_adjustment, setl_id);
}

sql::Result<std::optional<SettlementDetail>> get_settlement(sql::Db& db, std::int64_t setl_id) {
  auto s = settlement_row(db, setl_id);
  if (!s) return s.error();
  if (!s->has_value()) return std::optional<SettlementDetail>{};
  SettlementDetail d;
  d.settlement = std::move(**s);
  auto lines = settlement_lines_of(db, d.settlement);
  if (!lines) return lines.error();
  d.lines = std::move(*lines);
  auto refunds = refunds_of(db, setl_id);
  if (!refunds) return refunds.error();
  d.refunds = std::move(*refunds);
  auto adj = adjustments_of(db, setl_id);
  if (!adj) return adj.error();
  d.adjustments = std::move(*adj);
  auto out = select_all<OutboxItem>(
      db,
      fmt::format("SELECT {} FROM outbox INDEXED BY outbox_one_upload WHERE kind = 'offline_upload' "
                  "AND setl_id = ?1 ORDER BY item_id",
                  kOutboxCols),
      read_outbox,
      setl_id);
  if (!out) return out.error();
  d.outbox = std::move(*out);
  auto ev = list_events(db, Entity::settlement, std::to_string(setl_id));
  if (!ev) return ev.error();
  d.events = std::move(*ev);
  return std::optional<SettlementDetail>(std::move(d));
}

sql::Result<std::vector<ClearingTotals>> clearing_totals(sql::Db& db, std::string_view clearing_date) {
  // One row per (insurance type, clearing type) present in either settlements
  // or refunds; a refund counts under its settlement's clearing type. (The
  // CTEs' names are no table's alias: a plan's "SCAN ds" is the CTE's.)
  return select_all<ClearingTotals>(
      db,
      "WITH day_setl AS (SELECT coalesce(insutype, '') AS insutype, "
      "  CASE visit_type WHEN 'inpatient' THEN '21' ELSE '11' END AS clr, count(*) AS n, sum(total_fen) AS t, "
      "  sum(fund_fen) AS f, sum(account_fen) AS a, sum(cash_fen) AS c FROM settlements "
      "  WHERE clearing_date = ?1 AND state NOT IN ('offline_pending', 'offline_rejected', 'undone') "
      "  GROUP BY 1, 2), "
      "day_refund AS (SELECT coalesce(s.insutype, '') AS insutype, "
      "  CASE s.visit_type WHEN 'inpatient' THEN '21' ELSE '11' END AS clr, count(*) AS n, "
      "  sum(r.refund_total_fen) AS t, sum(r.fund_fen) AS f, sum(r.account_fen) AS a, sum(r.cash_fen) AS c "
      "  FROM refunds r JOIN settlements s ON s.setl_id = r.setl_id WHERE r.clearing_date = ?1 GROUP BY 1, 2), "
      "kinds AS (SELECT insutype, clr FROM day_setl UNION SELECT insutype, clr FROM day_refund) "
      "SELECT k.insutype, k.clr, coalesce(ds.n,0), coalesce(ds.t,0), coalesce(ds.f,0), coalesce(ds.a,0), "
      "  coalesce(ds.c,0), coalesce(dr.n,0), coalesce(dr.t,0), coalesce(dr.f,0), coalesce(dr.a,0), coalesce(dr.c,0) "
      "FROM kinds k LEFT JOIN day_setl ds ON ds.insutype = k.insutype AND ds.clr = k.clr "
      "LEFT JOIN day_refund dr ON dr.insutype = k.insutype AND dr.clr = k.clr ORDER BY k.insutype, k.clr",
      [](const sql::Statement& st) {
        ClearingTotals t;
        t.insutype = st.column_text(0);
        t.clr_type = st.column_text(1);
        t.settlement_count = st.column_int64(2);
        t.total = fen_at(st, 3);
        t.fund = fen_at(st, 4);
        t.account = fen_at(st, 5);
        t.cash = fen_at(st, 6);
        t.refund_count = st.column_int64(7);
        t.refund_total = fen_at(st, 8);
        t.refund_fund = fen_at(st, 9);
        t.refund_account = fen_at(st, 10);
        t.refund_cash = fen_at(st, 11);
        return t;
      },
      clearing_date);
}

}  // namespace settle::ledger
