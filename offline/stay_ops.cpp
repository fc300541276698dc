// The ledger's operations on inpatient stays (stay_ops.hpp). Every state
// change of a stay or of a stay item appends its event in the same
// transaction, as the other ledger operations do.
#include "offline/stay_ops.hpp"

#include "offline/flow_ledger.hpp"
#include "offline/rows.hpp"

#include <fmt/format.h>

namespace settle::ledger {
namespace {


sql::Status event(sql::Db& db, std::int64_t at, Entity entity, std::string id, std::optional<std::string> from,
                  std::string to, std::string detail) {
  Event e;
  e.at_ms = at;
  e.entity = entity;
  e.entity_id = std::move(id);
  e.from_state = std::move(from);
  e.to_state = std::move(to);
  e.detail = std::move(detail);
  auto r = append_event(db, e);
  if (!r) return r.error();
  return settle::Ok{};
}

constexpr std::string_view kStayCols =
    "adm_id, request_id, window_id, operator_id, card_no, card_sn, psn_no, insutype, dept, dept_name, diagnosis, "
    "diagnosis_name, admit_at_ms, discharge_at_ms, mode, state, mdtrt_id, msgid, flag, live_count, live_total_fen, "
    "cancelled_count, created_at_ms, updated_at_ms, insuplc_admdvs";

StayRow read_stay(const sql::Statement& st) {
  StayRow r;
  flow::StayRecord& s = r.stay;
  s.adm_id = st.column_int64(0);
  s.request_id = st.column_text(1);
  s.window = st.column_text(2);
  s.operator_id = st.column_text(3);
  s.card_no = st.column_text(4);
  s.card_sn = st.column_text(5);
  s.psn_no = st.column_text(6);
  s.insutype = st.column_text(7);
  s.dept = st.column_text(8);
  s.dept_name = st.column_text(9);
  s.diagnosis = st.column_text(10);
  s.diagnosis_name = st.column_text(11);
  s.admit_at = st.column_int64(12);
  s.discharge_at = st.column_opt_int64(13).value_or(0);
  s.mode = st.column_text_view(14) == "offline" ? settle::Mode::offline : settle::Mode::online;
  s.state = flow::stay_state_from_name(st.column_text_view(15)).value_or(flow::StayState::admitted);
  s.mdtrt_id = st.column_text(16);
  s.msgid = st.column_text(17);
  s.flag = st.column_text(18);
  r.live_count = st.column_int64(19);
  r.live_total = Amount::fen(st.column_int64(20));
  r.cancelled_count = st.column_int64(21);
  r.created_at_ms = st.column_int64(22);
  r.updated_at_ms = st.column_int64(23);
  s.insuplc_admdvs = st.column_text(24);
  return r;
}

constexpr std::string_view kItemCols =
    "item_id, adm_id, kind, request_id, setl_id, state, attempts, refusals, next_attempt_at_ms, last_error, "
    "created_at_ms, updated_at_ms";

constexpr std::array<std::pair<StayItemKind, std::string_view>, 4> kItemKinds{{{StayItemKind::admission, "admission"},
                                                                              {StayItemKind::lines, "lines"},
                                                                              {StayItemKind::cancel, "cancel"},
                                                                              {StayItemKind::discharge, "discharge"}}};
constexpr std::array<std::pair<StayItemState, std::string_view>, 5> kItemStates{{{StayItemState::pending, "pending"},
                                                                                {StayItemState::in_flight, "in_flight"},
                                                                                {StayItemState::done, "done"},
                                                                                {StayItemState::parked, "parked"},
                                                                                {StayItemState::closed, "closed"}}};

// A name the schema's CHECK allows.
template <class E, std::size_t N>
E parse_name(const std::array<std::pair<E, std::string_view>, N>& names, std::string_view s) {
  const auto v = parse_in(names, s);
  SETTLE_ASSERT(v && "a name the schema's CHECK allows");
  return v ? *v : names[0].first;
}

StayItem read_item(const sql::Statement& st) {
  StayItem i;
  i.item_id = st.column_int64(0);
  i.adm_id = st.column_int64(1);
  i.kind = parse_name(kItemKinds, st.column_text_view(2));
  i.request_id = st.column_opt_text(3);
  i.setl_id = st.column_opt_int64(4);
  i.state = parse_name(kItemStates, st.column_text_view(5));
  i.attempts = st.column_int64(6);
  i.refusals = st.column_int64(7);
  i.next_attempt_at_ms = st.column_int64(8);
  i.last_error = st.column_opt_text(9);
  i.created_at_ms = st.column_int64(10);
  i.updated_at_ms = st.column_int64(11);
  return i;
}


flow::StayLine read_line_at(const sql::Statement& st, int base) {
  flow::StayLine l;
  l.feedetl_sn = st.column_text(base);
  l.line.code = st.column_text(base + 1);
  l.line.name = st.column_text(base + 2);
  l.line.cls = line_class_from_name(st.column_text_view(base + 3)).value_or(settle::LineClass::a);
  l.line.amount = Amount::fen(st.column_int64(base + 4));
  if (auto ppm = st.column_opt_int64(base + 5)) l.line.selfpay_ratio = Ratio::ppm(*ppm);
  return l;
}
constexpr std::string_view kLineCols = "feedetl_sn, code, name, class, amount_fen, selfpay_ratio_ppm";

}  // namespace

std::string_view name(StayItemKind k) noexcept { return name_in(kItemKinds, k); }
std::string_view name(StayItemState s) noexcept { return name_in(kItemStates, s); }

sql::Result<std::int64_t> insert_stay(sql::Db& db, const flow::StayRecord& s, std::int64_t at_ms) {
  if (s.card_no.empty() && s.psn_no.empty())
    return invalid_state(fmt::format("admission {} names neither a card nor a person", s.request_id));
  // The area's column (v12) is named only when there is one (the same row
  // in an older ledger without it).
  const bool area = !s.insuplc_admdvs.empty();
  auto st = db.cached(
      area ? "INSERT INTO stays(request_id, window_id, operator_id, card_no, card_sn, psn_no, insutype, dept, dept_name, "
             "diagnosis, diagnosis_name, admit_at_ms, mode, state, mdtrt_id, msgid, created_at_ms, updated_at_ms, "
             "insuplc_admdvs) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,'admitted',?14,?15,?16,?16,?17)"
           : "INSERT INTO stays(request_id, window_id, operator_id, card_no, card_sn, psn_no, insutype, dept, dept_name, "
             "diagnosis, diagnosis_name, admit_at_ms, mode, state, mdtrt_id, msgid, created_at_ms, updated_at_ms) "
             "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,'admitted',?14,?15,?16,?16)");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(s.request_id, s.window, s.operator_id, s.card_no, opt(s.card_sn), opt(s.psn_no),
                                 opt(s.insutype), s.dept, s.dept_name, s.diagnosis, s.diagnosis_name, s.admit_at,
                                 std::string_view(s.mode == settle::Mode::offline ? "offline" : "online"), opt(s.mdtrt_id),
                                 opt(s.msgid), at_ms));
  if (area) SETTLE_SQL_TRY((*st)->bind(17, s.insuplc_admdvs));
  SETTLE_SQL_TRY((*st)->run());
  const std::int64_t id = db.last_insert_rowid();
  SETTLE_SQL_TRY(event(db, at_ms, Entity::stay, std::to_string(id), std::nullopt, "admitted",
                       fmt::format("{} admission, request {}", s.mode == settle::Mode::offline ? "offline" : "online",
                                   s.request_id)));
  return id;
}

sql::Result<std::optional<StayRow>> find_stay(sql::Db& db, std::int64_t adm_id) {
  auto r = select_all<StayRow>(db, fmt::format("SELECT {} FROM stays WHERE adm_id = ?1", kStayCols), read_stay, adm_id);
  if (!r) return r.error();
  if (r->empty()) return std::optional<StayRow>{};
  return std::optional<StayRow>(std::move(r->front()));
}

sql::Result<std::optional<std::int64_t>> open_stay_of(sql::Db& db, std::string_view psn_no, std::string_view card_no) {
  auto r = select_all<std::int64_t>(
      db,
      // The index holds the admitted stays only: the ward's patients, not the years'.
      "SELECT adm_id FROM stays INDEXED BY stays_open_person WHERE state = 'admitted' AND "
      // An empty person or card (a stay admitted by e-voucher has no card) matches nothing.
      "((?1 <> '' AND psn_no = ?1) OR (?2 <> '' AND card_no = ?2)) ORDER BY adm_id LIMIT 1",
      [](const sql::Statement& s) { return s.column_int64(0); }, psn_no, card_no);
  if (!r) return r.error();
  if (r->empty()) return std::optional<std::int64_t>{};
  return std::optional<std::int64_t>(r->front());
}

sql::Status set_stay_state(sql::Db& db, std::int64_t adm_id, flow::StayState to, std::int64_t at_ms, std::string_view detail) {
  auto cur = find_stay(db, adm_id);
  if (!cur) return cur.error();
  if (!cur->has_value()) return not_found(fmt::format("no stay {}", adm_id));
  const std::string from(flow::stay_state_name((**cur).stay.state));
  auto st = db.cached(
      "UPDATE stays SET state = ?2, updated_at_ms = ?3, "
      "discharge_at_ms = CASE WHEN ?2 = 'discharged' THEN ?3 ELSE discharge_at_ms END WHERE adm_id = ?1");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(adm_id, flow::stay_state_name(to), at_ms));
  SETTLE_SQL_TRY((*st)->run());
  return event(db, at_ms, Entity::stay, std::to_string(adm_id), from, std::string(flow::stay_state_name(to)), std::string(detail));
}

sql::Status set_stay_visit(sql::Db& db, std::int64_t adm_id, std::string_view mdtrt_id, std::int64_t at_ms) {
  auto st = db.cached("UPDATE stays SET mdtrt_id = ?2, flag = NULL, updated_at_ms = ?3 WHERE adm_id = ?1");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(adm_id, mdtrt_id, at_ms));
  SETTLE_SQL_TRY((*st)->run());
  if (db.changes() == 0) return not_found(fmt::format("no stay {}", adm_id));
  return event(db, at_ms, Entity::stay, std::to_string(adm_id), std::nullopt, "admitted",
               fmt::format("the insurer admitted it: mdtrt_id {}", mdtrt_id));
}

sql::Status set_stay_flag(sql::Db& db, std::int64_t adm_id, std::optional<std::string_view> flag, std::int64_t at_ms) {
  auto st = db.cached("UPDATE stays SET flag = ?2, updated_at_ms = ?3 WHERE adm_id = ?1");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(adm_id, flag, at_ms));
  SETTLE_SQL_TRY((*st)->run());
  return event(db, at_ms, Entity::stay, std::to_string(adm_id), std::nullopt, flag ? "flagged" : "unflagged",
               std::string(flag.value_or("")));
}

sql::Status set_stay_person(sql::Db& db, std::int64_t adm_id, std::string_view psn_no, std::string_view insutype,
                            std::int64_t at_ms, std::string_view insuplc_admdvs) {
  SETTLE_ASSERT(!psn_no.empty());
  auto cur = find_stay(db, adm_id);
  if (!cur) return cur.error();
  if (!cur->has_value()) return not_found(fmt::format("no stay {}", adm_id));
  const flow::StayRecord& st = (**cur).stay;
  // The area is learnt once: a stay that has one keeps it.
  const bool new_area = !insuplc_admdvs.empty() && st.insuplc_admdvs.empty();
  const bool new_person = !(st.psn_no == psn_no && st.insutype == insutype);
  if (!new_person && !new_area) return settle::Ok{};
  if (!st.psn_no.empty() && st.psn_no != psn_no)
    return invalid_state(fmt::format("stay {} is person {}'s, the insurer names person {} for card {}", adm_id, st.psn_no,
                                     psn_no, st.card_no));
  auto up = db.cached(
      "UPDATE stays SET psn_no = ?2, insutype = ?3, updated_at_ms = ?4, "
      "insuplc_admdvs = CASE WHEN insuplc_admdvs = '' THEN ?5 ELSE insuplc_admdvs END WHERE adm_id = ?1");
  if (!up) return up.error();
  (*up)->reset();
  SETTLE_SQL_TRY((*up)->bind_all(adm_id, psn_no, insutype, at_ms, new_area ? insuplc_admdvs : std::string_view()));
  SETTLE_SQL_TRY((*up)->run());
  return event(db, at_ms, Entity::stay, std::to_string(adm_id), std::nullopt, "person",
               new_area ? fmt::format("the insurer names person {} (insurance type {}, insured in {}) for card {}", psn_no,
                                      insutype, insuplc_admdvs, st.card_no)
                        : fmt::format("the insurer names person {} (insurance type {}) for card {}", psn_no, insutype,
                                      st.card_no));
}

sql::Status add_stay_lines(sql::Db& db, std::int64_t adm_id, std::string_view request_id,
                           std::span<const flow::StayLine> lines, std::int64_t at_ms) {
  auto cur = find_stay(db, adm_id);
  if (!cur) return cur.error();
  if (!cur->has_value()) return not_found(fmt::format("no stay {}", adm_id));
  std::int64_t no = (**cur).live_count + (**cur).cancelled_count;
  auto ins = db.cached(
      "INSERT INTO stay_lines(adm_id, feedetl_sn, line_no, code, name, class, amount_fen, selfpay_ratio_ppm, added_by) "
      "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)");
  if (!ins) return ins.error();
  std::int64_t total = 0;
  for (const flow::StayLine& l : lines) {
    (*ins)->reset();
    SETTLE_SQL_TRY((*ins)->bind_all(adm_id, l.feedetl_sn, ++no, l.line.code, l.line.name, line_class_name(l.line.cls),
                                    l.line.amount.fen(), nullptr, request_id));
    if (l.line.selfpay_ratio) SETTLE_SQL_TRY((*ins)->bind(8, l.line.selfpay_ratio->ppm()));
    auto r = (*ins)->run();
    if (!r) {
      if (r.error().code == sql::Errc::unique)
        return invalid_state(fmt::format("stay {} already holds line number \"{}\"", adm_id, l.feedetl_sn));
      return r.error();
    }
    total += l.line.amount.fen();
  }
  auto up = db.cached(
      "UPDATE stays SET live_count = live_count + ?2, live_total_fen = live_total_fen + ?3, updated_at_ms = ?4 "
      "WHERE adm_id = ?1");
  if (!up) return up.error();
  (*up)->reset();
  SETTLE_SQL_TRY((*up)->bind_all(adm_id, static_cast<std::int64_t>(lines.size()), total, at_ms));
  SETTLE_SQL_TRY((*up)->run());
  return event(db, at_ms, Entity::stay, std::to_string(adm_id), std::nullopt, "lines",
               fmt::format("{} line(s) added ({}) by request {}", lines.size(), format_amount(Amount::fen(total)), request_id));
}

sql::Status cancel_stay_lines(sql::Db& db, std::int64_t adm_id, std::string_view request_id,
                              std::span<const std::string> feedetl_sns, std::int64_t at_ms) {
  auto cur = find_stay(db, adm_id);
  if (!cur) return cur.error();
  if (!cur->has_value()) return not_found(fmt::format("no stay {}", adm_id));
  // Each cancelled line is numbered in the stay's order of cancellation (a
  // settlement names the cancellations before it by that number).
  std::int64_t cancel_no = (**cur).cancelled_count;
  auto find = db.cached("SELECT amount_fen, cancelled_by FROM stay_lines WHERE adm_id = ?1 AND feedetl_sn = ?2");
  if (!find) return find.error();
  auto mark = db.cached("UPDATE stay_lines SET cancelled_by = ?3, cancel_no = ?4 WHERE adm_id = ?1 AND feedetl_sn = ?2");
  if (!mark) return mark.error();
  std::int64_t total = 0;
  for (const std::string& sn : feedetl_sns) {
    (*find)->reset();
    SETTLE_SQL_TRY((*find)->bind_all(adm_id, sn));
    auto row = (*find)->step();
    if (!row) return row.error();
    if (!*row) {
      (*find)->reset();
      return not_found(fmt::format("stay {} has no line number \"{}\"", adm_id, sn));
    }
    const std::int64_t amount = (*find)->column_int64(0);
    const bool cancelled = !(*find)->is_null(1);
    (*find)->reset();
    if (cancelled) return invalid_state(fmt::format("line number \"{}\" of stay {} is cancelled already", sn, adm_id));
    (*mark)->reset();
    SETTLE_SQL_TRY((*mark)->bind_all(adm_id, sn, request_id, ++cancel_no));
    SETTLE_SQL_TRY((*mark)->run());
    total += amount;
  }
  auto up = db.cached(
      "UPDATE stays SET live_count = live_count - ?2, live_total_fen = live_total_fen - ?3, "
      "cancelled_count = cancelled_count + ?2, updated_at_ms = ?4 WHERE adm_id = ?1");
  if (!up) return up.error();
  (*up)->reset();
  SETTLE_SQL_TRY((*up)->bind_all(adm_id, static_cast<std::int64_t>(feedetl_sns.size()), total, at_ms));
  SETTLE_SQL_TRY((*up)->run());
  return event(db, at_ms, Entity::stay, std::to_string(adm_id), std::nullopt, "lines",
               fmt::format("{} line(s) cancelled ({}) by request {}", feedetl_sns.size(), format_amount(Amount::fen(total)),
                           request_id));
}

sql::Result<std::vector<flow::HeldLine>> lines_held(sql::Db& db, std::int64_t adm_id, std::span<const std::string> feedetl_sns) {
  auto find = db.cached("SELECT amount_fen, cancelled_by FROM stay_lines WHERE adm_id = ?1 AND feedetl_sn = ?2");
  if (!find) return find.error();
  std::vector<flow::HeldLine> out;
  for (const std::string& sn : feedetl_sns) {
    (*find)->reset();
    SETTLE_SQL_TRY((*find)->bind_all(adm_id, sn));
    auto row = (*find)->step();
    if (!row) return row.error();
    if (*row) out.push_back(flow::HeldLine{sn, !(*find)->is_null(1), Amount::fen((*find)->column_int64(0))});
    (*find)->reset();
  }
  return out;
}

sql::Result<std::vector<StayLineRow>> stay_lines_page(sql::Db& db, std::int64_t adm_id, std::int64_t after_line_no,
                                                      std::int64_t limit) {
  return select_all<StayLineRow>(
      db,
      "SELECT l.feedetl_sn, l.code, l.name, l.class, l.amount_fen, l.selfpay_ratio_ppm, l.line_no, l.added_by, "
      "l.cancelled_by, (SELECT i.state = 'done' FROM stay_items i INDEXED BY stay_items_request "
      "WHERE i.adm_id = l.adm_id AND i.request_id = l.added_by AND i.kind = 'lines') "
      "FROM stay_lines l WHERE l.adm_id = ?1 AND l.line_no > ?2 ORDER BY l.line_no LIMIT ?3",
      [](const sql::Statement& st) {
        StayLineRow r;
        r.line = read_line_at(st, 0);
        r.line_no = st.column_int64(6);
        r.added_by = st.column_text(7);
        r.cancelled_by = st.column_opt_text(8);
        r.uploaded = st.column_int64(9) != 0;
        return r;
      },
      adm_id, after_line_no, limit);
}

sql::Result<std::vector<settle::ChargeLine>> live_lines(sql::Db& db, std::int64_t adm_id) {
  // What the split needs only: a discharge reads every live line of the stay,
  // in the table's own order (one pass over the stay's range of rows, not a
  // lookup per line through the line-number index; the split does not depend
  // on the order).
  return select_all<settle::ChargeLine>(
      db,
      "SELECT code, class, amount_fen, selfpay_ratio_ppm FROM stay_lines WHERE adm_id = ?1 AND cancelled_by IS NULL",
      [](const sql::Statement& st) {
        settle::ChargeLine l;
        l.code = st.column_text(0);
        l.cls = line_class_from_name(st.column_text_view(1)).value_or(settle::LineClass::a);
        l.amount = Amount::fen(st.column_int64(2));
        if (auto ppm = st.column_opt_int64(3)) l.selfpay_ratio = Ratio::ppm(*ppm);
        return l;
      },
      adm_id);
}

sql::Result<std::vector<flow::StayLine>> batch_lines(sql::Db& db, std::int64_t adm_id, std::string_view request_id) {
  return select_all<flow::StayLine>(
      db, fmt::format("SELECT {} FROM stay_lines WHERE adm_id = ?1 AND added_by = ?2 ORDER BY line_no", kLineCols),
      [](const sql::Statement& st) { return read_line_at(st, 0); }, adm_id, request_id);
}

sql::Result<std::vector<std::string>> batch_cancelled(sql::Db& db, std::int64_t adm_id, std::string_view request_id) {
  return select_all<std::string>(
      db, "SELECT feedetl_sn FROM stay_lines WHERE adm_id = ?1 AND cancelled_by = ?2 ORDER BY line_no",
      [](const sql::Statement& st) { return st.column_text(0); }, adm_id, request_id);
}

// ---- stay items --------------------------------------------------------------

sql::Result<std::int64_t> enqueue_stay_item(sql::Db& db, std::int64_t adm_id, StayItemKind kind,
                                            std::optional<std::string_view> request_id, std::optional<std::int64_t> setl_id,
                                            bool in_flight, std::int64_t at_ms, std::int64_t due_at_ms) {
  // Behind a parked item of the stay, a new one waits parked too.
  auto behind = select_all<std::int64_t>(
      db,
      "SELECT item_id FROM stay_items INDEXED BY stay_items_open WHERE adm_id = ?1 "
      "AND state IN ('pending', 'in_flight', 'parked') AND state = 'parked' ORDER BY item_id LIMIT 1",
      [](const sql::Statement& s) { return s.column_int64(0); }, adm_id);
  if (!behind) return behind.error();
  const StayItemState state = !behind->empty() ? StayItemState::parked
                              : in_flight     ? StayItemState::in_flight
                                              : StayItemState::pending;
  const std::optional<std::string> why =
      behind->empty() ? std::nullopt
                      : std::optional<std::string>(fmt::format("waits behind item {} (parked)", behind->front()));
  auto st = db.cached(
      "INSERT INTO stay_items(adm_id, kind, request_id, setl_id, state, attempts, next_attempt_at_ms, last_error, "
      "created_at_ms, updated_at_ms) VALUES(?1,?2,?3,?4,?5,?6,?9,?8,?7,?7)");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(adm_id, name(kind), request_id, setl_id, name(state),
                                 static_cast<std::int64_t>(state == StayItemState::in_flight ? 1 : 0), at_ms, why,
                                 due_at_ms));
  SETTLE_SQL_TRY((*st)->run());
  const std::int64_t id = db.last_insert_rowid();
  SETTLE_SQL_TRY(event(db, at_ms, Entity::stay, std::to_string(adm_id), std::nullopt, std::string(name(state)),
                       fmt::format("item {} ({}) queued{}{}", id, name(kind), why ? ": " : "", why.value_or(""))));
  return id;
}

sql::Result<std::int64_t> open_stay_items(sql::Db& db, std::int64_t adm_id) {
  auto r = select_all<std::int64_t>(
      db,
      "SELECT count(*) FROM stay_items INDEXED BY stay_items_open WHERE adm_id = ?1 "
      "AND state IN ('pending', 'in_flight', 'parked')",
      [](const sql::Statement& s) { return s.column_int64(0); }, adm_id);
  if (!r) return r.error();
  return r->front();
}

sql::Result<StayItemCounts> stay_item_counts(sql::Db& db) {
  auto r = select_all<StayItemCounts>(
      db,
      "SELECT (SELECT count(*) FROM stay_items INDEXED BY stay_items_open WHERE state IN ('pending', 'in_flight', 'parked') "
      "AND state <> 'parked'), "
      "(SELECT count(*) FROM stay_items INDEXED BY stay_items_open WHERE state IN ('pending', 'in_flight', 'parked') "
      "AND state = 'parked')",
      [](const sql::Statement& s) { return StayItemCounts{s.column_int64(0), s.column_int64(1)}; });
  if (!r) return r.error();
  return r->front();
}

sql::Result<std::optional<StayItem>> claim_stay_item(sql::Db& db, std::int64_t now_ms) {
  auto r = select_all<StayItem>(
      db,
      fmt::format("SELECT {} FROM stay_items i INDEXED BY stay_items_ready WHERE i.state = 'pending' "
                  "AND i.next_attempt_at_ms <= ?1 AND NOT EXISTS (SELECT 1 FROM stay_items e INDEXED BY stay_items_open "
                  "WHERE e.adm_id = i.adm_id AND e.item_id < i.item_id AND e.state IN ('pending', 'in_flight', 'parked')) "
                  "ORDER BY i.next_attempt_at_ms, i.item_id LIMIT 1",
                  kItemCols),
      read_item, now_ms);
  if (!r) return r.error();
  if (r->empty()) return std::optional<StayItem>{};
  StayItem it = r->front();
  auto st = db.cached("UPDATE stay_items SET state = 'in_flight', attempts = attempts + 1, updated_at_ms = ?2 WHERE item_id = ?1");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(it.item_id, now_ms));
  SETTLE_SQL_TRY((*st)->run());
  it.state = StayItemState::in_flight;
  it.attempts += 1;
  return std::optional<StayItem>(std::move(it));
}

sql::Status finish_stay_item(sql::Db& db, std::int64_t item_id, StayItemOutcome outcome, std::int64_t at_ms,
                             std::int64_t next_attempt_at_ms, std::string_view error, std::optional<std::int64_t> refusals) {
  const std::string_view to = outcome == StayItemOutcome::done ? "done" : outcome == StayItemOutcome::park ? "parked" : "pending";
  SETTLE_ASSERT(outcome != StayItemOutcome::park || !error.empty());
  auto st = db.cached(
      "UPDATE stay_items SET state = ?2, updated_at_ms = ?3, "
      "next_attempt_at_ms = CASE WHEN ?2 = 'pending' THEN ?4 ELSE next_attempt_at_ms END, "
      "last_error = CASE WHEN ?5 = '' THEN last_error ELSE ?5 END, refusals = coalesce(?6, refusals) "
      "WHERE item_id = ?1 AND state = 'in_flight' RETURNING adm_id, kind");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(item_id, to, at_ms, next_attempt_at_ms, error, refusals));
  auto row = (*st)->step();
  if (!row) return row.error();
  if (!*row) {
    (*st)->reset();
    return invalid_state(fmt::format("stay item {} is not in flight", item_id));
  }
  const std::int64_t adm_id = (*st)->column_int64(0);
  const std::string kind = (*st)->column_text(1);
  (*st)->reset();
  SETTLE_SQL_TRY(event(db, at_ms, Entity::stay, std::to_string(adm_id), "in_flight", std::string(to),
                       fmt::format("item {} ({}){}{}", item_id, kind, error.empty() ? "" : ": ", error)));
  if (outcome != StayItemOutcome::park) return settle::Ok{};
  // The stay's later items wait behind it, parked too.
  auto later = db.cached(
      "UPDATE stay_items SET state = 'parked', last_error = ?3, updated_at_ms = ?4 "
      "WHERE adm_id = ?1 AND item_id > ?2 AND state = 'pending'");
  if (!later) return later.error();
  (*later)->reset();
  SETTLE_SQL_TRY((*later)->bind_all(adm_id, item_id, fmt::format("waits behind item {} (parked)", item_id), at_ms));
  SETTLE_SQL_TRY((*later)->run());
  if (db.changes() == 0) return settle::Ok{};
  return event(db, at_ms, Entity::stay, std::to_string(adm_id), "pending", "parked",
               fmt::format("{} later item(s) wait behind item {}", db.changes(), item_id));
}

sql::Status mark_stay_item_sent(sql::Db& db, std::int64_t item_id, bool taken, std::int64_t at_ms) {
  if (!taken) {
    auto due = db.cached("UPDATE stay_items SET next_attempt_at_ms = ?2, updated_at_ms = ?2 WHERE item_id = ?1 AND state = 'pending'");
    if (!due) return due.error();
    (*due)->reset();
    SETTLE_SQL_TRY((*due)->bind_all(item_id, at_ms));
    return (*due)->run();
  }
  auto st = db.cached(
      "UPDATE stay_items SET state = 'done', updated_at_ms = ?2 WHERE item_id = ?1 AND state = 'pending' RETURNING adm_id, kind");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(item_id, at_ms));
  auto row = (*st)->step();
  if (!row) return row.error();
  if (!*row) {
    (*st)->reset();
    return settle::Ok{};
  }
  const std::int64_t adm_id = (*st)->column_int64(0);
  const std::string kind = (*st)->column_text(1);
  (*st)->reset();
  return event(db, at_ms, Entity::stay, std::to_string(adm_id), "pending", "done",
               fmt::format("item {} ({}) sent at the window", item_id, kind));
}

sql::Status close_stay_items(sql::Db& db, std::int64_t adm_id, std::string_view why, std::int64_t at_ms) {
  auto items = stay_items_of(db, adm_id);
  if (!items) return items.error();
  for (const StayItem& i : *items)
    if (i.state == StayItemState::in_flight)
      return invalid_state(fmt::format("stay {}'s item {} ({}) is being forwarded to the insurer now; ask again in a moment",
                                       adm_id, i.item_id, name(i.kind)));
  auto st = db.cached(
      "UPDATE stay_items SET state = 'closed', last_error = ?2, updated_at_ms = ?3 "
      "WHERE adm_id = ?1 AND state IN ('pending', 'parked')");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(adm_id, why, at_ms));
  SETTLE_SQL_TRY((*st)->run());
  if (db.changes() == 0) return settle::Ok{};
  return event(db, at_ms, Entity::stay, std::to_string(adm_id), std::nullopt, "closed",
               fmt::format("{} item(s) closed unsent: {}", db.changes(), why));
}

sql::Result<std::vector<StayItem>> stay_items_of(sql::Db& db, std::int64_t adm_id) {
  return select_all<StayItem>(db, fmt::format("SELECT {} FROM stay_items WHERE adm_id = ?1 ORDER BY item_id", kItemCols), read_item,
                        adm_id);
}

sql::Result<std::int64_t> requeue_stay_items(sql::Db& db, std::int64_t at_ms) {
  auto ids = select_all<std::int64_t>(db, "SELECT item_id FROM stay_items WHERE state = 'in_flight' ORDER BY item_id",
                                [](const sql::Statement& s) { return s.column_int64(0); });
  if (!ids) return ids.error();
  for (std::int64_t id : *ids)
    SETTLE_SQL_TRY(finish_stay_item(db, id, StayItemOutcome::retry, at_ms, at_ms, "in flight at start-up"));
  return static_cast<std::int64_t>(ids->size());
}

// ---- parked items (supervisors) --------------------------------------------------

namespace {
// The stay's earliest open item before `item_id`, if any: what it waits behind.
sql::Result<std::optional<std::int64_t>> open_item_before(sql::Db& db, std::int64_t adm_id, std::int64_t item_id) {
  auto r = select_all<std::int64_t>(db,
                              "SELECT item_id FROM stay_items INDEXED BY stay_items_open WHERE adm_id = ?1 AND item_id < ?2 "
                              "AND state IN ('pending', 'in_flight', 'parked') ORDER BY item_id LIMIT 1",
                              [](const sql::Statement& s) { return s.column_int64(0); }, adm_id, item_id);
  if (!r) return r.error();
  if (r->empty()) return std::optional<std::int64_t>{};
  return std::optional<std::int64_t>(r->front());
}

// The item, parked and first of its stay's open items, for a supervisor to act on.
sql::Result<StayItem> head_parked(sql::Db& db, std::int64_t item_id) {
  auto r = select_all<StayItem>(db, fmt::format("SELECT {} FROM stay_items WHERE item_id = ?1", kItemCols), read_item, item_id);
  if (!r) return r.error();
  if (r->empty()) return not_found(fmt::format("no stay item {}", item_id));
  const StayItem it = r->front();
  if (it.state != StayItemState::parked)
    return invalid_state(fmt::format("stay item {} is {}, not parked", item_id, name(it.state)));
  auto before = open_item_before(db, it.adm_id, item_id);
  if (!before) return before.error();
  if (*before)
    return invalid_state(fmt::format("stay item {} waits behind item {} of the same stay: act on that one first", item_id,
                                     **before));
  return it;
}

// The stay's items parked behind `item_id` go back to pending, due now.
sql::Status release_behind(sql::Db& db, const StayItem& head, std::int64_t at_ms) {
  auto st = db.cached(
      "UPDATE stay_items SET state = 'pending', next_attempt_at_ms = ?3, refusals = 0, updated_at_ms = ?3 "
      "WHERE adm_id = ?1 AND item_id > ?2 AND state = 'parked'");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(head.adm_id, head.item_id, at_ms));
  SETTLE_SQL_TRY((*st)->run());
  if (db.changes() == 0) return settle::Ok{};
  return event(db, at_ms, Entity::stay, std::to_string(head.adm_id), "parked", "pending",
               fmt::format("{} later item(s) no longer wait behind item {}", db.changes(), head.item_id));
}
}  // namespace

sql::Result<std::vector<ParkedStayItem>> list_parked_stay_items(sql::Db& db) {
  auto items = select_all<StayItem>(
      db,
      fmt::format("SELECT {} FROM stay_items i INDEXED BY stay_items_open WHERE i.state IN ('pending', 'in_flight', "
                  "'parked') AND i.state = 'parked' ORDER BY i.updated_at_ms, i.item_id",
                  kItemCols),
      read_item);
  if (!items) return items.error();
  std::vector<ParkedStayItem> out;
  out.reserve(items->size());
  for (StayItem& it : *items) {
    ParkedStayItem p;
    auto stay = find_stay(db, it.adm_id);
    if (!stay) return stay.error();
    if (stay->has_value()) p.psn_no = (**stay).stay.psn_no;
    auto before = open_item_before(db, it.adm_id, it.item_id);
    if (!before) return before.error();
    p.behind = *before;
    p.item = std::move(it);
    out.push_back(std::move(p));
  }
  return out;
}

sql::Status retry_parked_stay_item(sql::Db& db, std::int64_t item_id, std::string_view by_operator, std::int64_t at_ms) {
  auto head = head_parked(db, item_id);
  if (!head) return head.error();
  auto st = db.cached(
      "UPDATE stay_items SET state = 'pending', next_attempt_at_ms = ?2, refusals = 0, updated_at_ms = ?2 "
      "WHERE item_id = ?1 AND state = 'parked'");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(item_id, at_ms));
  SETTLE_SQL_TRY((*st)->run());
  SETTLE_SQL_TRY(event(db, at_ms, Entity::stay, std::to_string(head->adm_id), "parked", "pending",
                       fmt::format("item {} ({}) retried by {}", item_id, name(head->kind), by_operator)));
  return release_behind(db, *head, at_ms);
}

sql::Status resolve_parked_stay_item(sql::Db& db, std::int64_t item_id, std::string_view by_operator,
                                     std::string_view note, std::int64_t at_ms) {
  SETTLE_ASSERT(!note.empty());
  auto head = head_parked(db, item_id);
  if (!head) return head.error();
  if (head->kind == StayItemKind::admission)
    return invalid_state(fmt::format(
        "stay item {} is stay {}'s admission: everything after it needs the insurer's visit id, so it is not resolved "
        "without the insurer; retry it once the person's registration is corrected at the insurer",
        item_id, head->adm_id));
  auto st = db.cached("UPDATE stay_items SET state = 'done', updated_at_ms = ?2 WHERE item_id = ?1 AND state = 'parked'");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(item_id, at_ms));
  SETTLE_SQL_TRY((*st)->run());
  SETTLE_SQL_TRY(event(db, at_ms, Entity::stay, std::to_string(head->adm_id), "parked", "done",
                       fmt::format("item {} ({}) resolved by {} without the insurer: {}", item_id, name(head->kind),
                                   by_operator, note)));
  return release_behind(db, *head, at_ms);
}

// ---- lists ---------------------------------------------------------------------

sql::Result<std::vector<StayRow>> list_stays(sql::Db& db, const StayFilter& f) {
  return select_all<StayRow>(
      db,
      fmt::format("SELECT {} FROM stays WHERE adm_id > ?1 AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR dept = ?3) "
                  "AND (?4 IS NULL OR admit_at_ms >= ?4) AND (?5 IS NULL OR admit_at_ms < ?5) "
                  "AND (?7 IS NULL OR window_id = ?7) ORDER BY adm_id LIMIT ?6",
                  kStayCols),
      read_stay, f.after_adm_id, f.state, f.dept, f.from_ms, f.to_ms, f.limit, f.window_id);
}

sql::Result<std::optional<std::int64_t>> standing_stay_settlement(sql::Db& db, std::int64_t adm_id) {
  return select_one<std::int64_t>(
      db, "SELECT setl_id FROM settlements WHERE adm_id = ?1 AND state <> 'undone' ORDER BY setl_id DESC LIMIT 1",
      [](const sql::Statement& s) { return s.column_int64(0); }, adm_id);
}

sql::Result<std::vector<std::int64_t>> stay_settlements(sql::Db& db, std::int64_t adm_id) {
  return select_all<std::int64_t>(db, "SELECT setl_id FROM settlements WHERE adm_id = ?1 ORDER BY setl_id",
                            [](const sql::Statement& s) { return s.column_int64(0); }, adm_id);
}

}  // namespace settle::ledger
