// The simulated insurer's transactions: sign-in, person info, e-voucher
// decode, visits and lines, stays (admission, line cancel, discharge, undo),
// preview/settle/undo, reversal, partial refund, offline upload,
// reconciliation, history, red list; each as the profile (regional or
// national) has it.
// Each request runs in one IMMEDIATE transaction that also records the msgid
// with its first answer, so a repeated msgid gets that answer and no effect.
#include "tools/insurer-sim/insurer.hpp"

#include "engine/limits.hpp"
#include "engine/refund.hpp"
#include "engine/split.hpp"
#include "protocol/engine_json.hpp"
#include "protocol/insurer/detail_fast.hpp"
#include "protocol/insurer/fields.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <map>
#include <random>
#include <set>
#include <vector>

namespace settle::sim {
namespace {

using insurer::Request;
using json::Json;

// ---- ids ----
std::string setl_id_of(std::int64_t id) { return fmt::format("S{:015}", id); }
std::string mdtrt_id_of(std::int64_t id) { return fmt::format("M{:015}", id); }
std::string refd_id_of(std::int64_t id) { return fmt::format("R{:015}", id); }

std::optional<std::int64_t> parse_id(std::string_view text, char prefix) {
  if (text.size() != 16 || text[0] != prefix) return std::nullopt;
  std::int64_t v = 0;
  for (char c : text.substr(1)) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// A business refusal: infcode -1 with this message, nothing changed.
Error refuse(std::string_view field, std::string message) {
  return make_error(Reason::insurer_rejected, std::string(field), std::move(message));
}
bool is_storage(const Error& e) { return e.reason == Reason::storage_failed || e.reason == Reason::internal; }

#define SIM_TRY(var, expr)                \
  auto var##_r = (expr);                  \
  if (!var##_r) return var##_r.error();   \
  auto& var = *var##_r

#define SIM_CHECK(expr)                                         \
  do {                                                          \
    auto sim_check_r_ = (expr);                                 \
    if (!sim_check_r_) return db_error(sim_check_r_.error());   \
  } while (0)

#define SIM_OK(expr)                             \
  do {                                           \
    auto sim_ok_r_ = (expr);                     \
    if (!sim_ok_r_) return sim_ok_r_.error();    \
  } while (0)

struct SettlementRow {
  std::int64_t id = 0;
  std::string msgid, infno, fixmedins_code, medins_setl_id, psn_no;
  std::int64_t visit_id = 0;
  std::string chrg_bchno, insutype;
  VisitType visit = VisitType::outpatient;
  bool use_account = false;
  std::string origin = "online", local_id;
  Parts parts;
  Amount fulamt, preselfpay, inscp, deductible_part;
  Person before;
  std::string lines_json;
  std::string state = "effective", setl_time, clr_date;
  std::string area;  // the person's insured area (written, not read back by read_settlement)
};

struct RefundRow {
  std::int64_t id = 0;
  std::string kind, msgid, infno;
  std::int64_t setl_id = 0;
  std::string medins_refd_id;
  Parts parts;
  Amount deductible_back;
  std::string lines_json = "[]";
  std::string state = "effective", time;
};

constexpr std::string_view kSetlColumns =
    "id, msgid, infno, fixmedins_code, medins_setl_id, psn_no, visit_id, chrg_bchno, insutype, visit, use_account, "
    "origin, local_id, total, fund, account, cash, fulamt, preselfpay, inscp, deductible_part, balance_before, "
    "deductible_used_before, fund_paid_ytd_before, flags_before, lines_json, state, setl_time, clr_date";

SettlementRow read_settlement(const sql::Statement& s) {
  SettlementRow r;
  r.id = s.column_int64(0);
  r.msgid = s.column_text(1);
  r.infno = s.column_text(2);
  r.fixmedins_code = s.column_text(3);
  r.medins_setl_id = s.column_text(4);
  r.psn_no = s.column_text(5);
  r.visit_id = s.column_int64(6);
  r.chrg_bchno = s.column_text(7);
  r.insutype = s.column_text(8);
  r.visit = s.column_int64(9) == 2 ? VisitType::inpatient : VisitType::outpatient;
  r.use_account = s.column_int64(10) != 0;
  r.origin = s.column_text(11);
  r.local_id = s.column_text(12);
  r.parts = Parts{Amount::fen(s.column_int64(13)), Amount::fen(s.column_int64(14)), Amount::fen(s.column_int64(15)),
                  Amount::fen(s.column_int64(16))};
  r.fulamt = Amount::fen(s.column_int64(17));
  r.preselfpay = Amount::fen(s.column_int64(18));
  r.inscp = Amount::fen(s.column_int64(19));
  r.deductible_part = Amount::fen(s.column_int64(20));
  r.before.insutype = r.insutype;
  r.before.balance = Amount::fen(s.column_int64(21));
  r.before.deductible_used = Amount::fen(s.column_int64(22));
  r.before.fund_paid_ytd = Amount::fen(s.column_int64(23));
  r.before.flags = PersonFlags::from_bits(static_cast<std::uint8_t>(s.column_int64(24)));
  r.lines_json = s.column_text(25);
  r.state = s.column_text(26);
  r.setl_time = s.column_text(27);
  r.clr_date = s.column_text(28);
  return r;
}

RefundRow read_refund(const sql::Statement& s) {
  RefundRow r;
  r.id = s.column_int64(0);
  r.kind = s.column_text(1);
  r.msgid = s.column_text(2);
  r.infno = s.column_text(3);
  r.setl_id = s.column_int64(4);
  r.medins_refd_id = s.column_text(5);
  r.parts = Parts{Amount::fen(s.column_int64(6)), Amount::fen(s.column_int64(7)), Amount::fen(s.column_int64(8)),
                  Amount::fen(s.column_int64(9))};
  r.deductible_back = Amount::fen(s.column_int64(10));
  r.lines_json = s.column_text(11);
  r.state = s.column_text(12);
  r.time = s.column_text(13);
  return r;
}

constexpr std::string_view kRefundColumns =
    "id, kind, msgid, infno, setl_id, medins_refd_id, total, fund, account, cash, deductible_back, lines_json, state, "
    "time";

// States of an inpatient visit (an outpatient visit stays "open"):
// admitted -> discharged (2402) -> settled (2304, 9302); settled -> admitted
// (2305); admitted/discharged -> undone (2404) or reversed (2601 of its 2401).
constexpr std::string_view kOpen = "open";
constexpr std::string_view kAdmitted = "admitted";
constexpr std::string_view kDischarged = "discharged";
constexpr std::string_view kSettled = "settled";
constexpr std::string_view kUndone = "undone";
constexpr std::string_view kReversed = "reversed";

struct VisitRow {
  std::int64_t id = 0;
  std::string psn_no, insutype;
  VisitType visit = VisitType::outpatient;
  std::string state, med_type, ipt_otp_no, begntime, endtime;
  std::string area;  // the person's insured area when the visit was opened ("" in an older file)
  std::string dept_code, dise_codg;
};

constexpr std::string_view kVisitColumns =
    "id, psn_no, insutype, visit, state, med_type, ipt_otp_no, begntime, endtime, insuplc_admdvs, dept_code, dise_codg";

VisitRow read_visit(const sql::Statement& s) {
  VisitRow v;
  v.id = s.column_int64(0);
  v.psn_no = s.column_text(1);
  v.insutype = s.column_text(2);
  v.visit = s.column_int64(3) == 2 ? VisitType::inpatient : VisitType::outpatient;
  v.state = s.column_text(4);
  v.med_type = s.column_text(5);
  v.ipt_otp_no = s.column_text(6);
  v.begntime = s.column_text(7);
  v.endtime = s.column_text(8);
  v.area = s.column_text(9);
  v.dept_code = s.column_text(10);
  v.dise_codg = s.column_text(11);
  return v;
}

// The visit named by `mdtrt_id`, if it exists.
Result<std::optional<VisitRow>> find_visit(sql::Db& db, std::string_view mdtrt_id) {
  const auto id = parse_id(mdtrt_id, 'M');
  if (!id) return std::optional<VisitRow>{};
  auto st = db.cached(fmt::format("SELECT {} FROM visits WHERE id = ?1", kVisitColumns));
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind(1, *id));
  auto row = (*st)->step();
  if (!row) return db_error(row.error());
  if (!*row) return std::optional<VisitRow>{};
  std::optional<VisitRow> v = read_visit(**st);
  (*st)->reset();
  return v;
}

Result<VisitRow> load_visit(sql::Db& db, std::string_view mdtrt_id, VisitType expected) {
  SIM_TRY(v, find_visit(db, mdtrt_id));
  if (!v) return refuse("mdtrt_id", fmt::format("mdtrt_id \"{}\" does not exist", mdtrt_id));
  if (v->visit != expected)
    return refuse("mdtrt_id", fmt::format("mdtrt_id \"{}\" is an {} visit", mdtrt_id, visit_type_name(v->visit)));
  return std::move(*v);
}

// The lines of a visit a settlement takes: live (not cancelled) and not settled.
struct OpenLines {
  std::vector<ChargeLine> lines;
  std::vector<std::string> sns;
  Amount total;
};

// Live lines of a visit (settled or not): how many and their total.
struct LiveLines {
  std::int64_t count = 0;
  Amount total;
  std::int64_t cancelled = 0;
};

// What a settlement took from the deductible accumulator: an outpatient
// settlement adds its deductible part to the year's; an inpatient one does
// not (its deductible is per stay), so undo and reversal give back only that.
Amount deductible_taken(const SettlementRow& s) {
  return s.visit == VisitType::inpatient ? Amount::zero() : s.deductible_part;
}

// Everything one request needs; lives for one handle() call.
class Tx {
 public:
  Tx(Store& store, const Policy& policy, SimProfile profile, const Request& req, std::int64_t now_ms)
      : st_(store), db_(store.db()), policy_(policy), profile_(profile), req_(req), now_ms_(now_ms),
        now_text_(insurer::inf_time_text(now_ms / 1000)) {}

  Result<Json> dispatch();
  std::string effect_kind = "none";
  std::int64_t effect_id = 0;
  // The output's text when the transaction wrote it directly (3202 pages);
  // dispatch() then answers null.
  std::string output_text;
  // err_msg of a successful answer: why it changed nothing (an idempotent
  // repeat, a reversal with no effect).
  std::string note;

 private:
  // ---- data access ----
  Result<SettlementRow> settlement(std::int64_t id);
  Result<std::vector<RefundRow>> refunds_of(std::int64_t setl_id, bool effective_only);
  Result<std::int64_t> insert_settlement(const SettlementRow& r);
  Status set_settlement_state(std::int64_t id, std::string_view state);
  Result<std::int64_t> insert_refund(const RefundRow& r);
  Status log_account(const PersonRow& p, std::string_view kind, std::string_view ref_id, Amount amount);
  Result<PersonRow> person_for(std::string_view psn_no);
  // The credential names the person: the card number, the ID number, or an
  // e-voucher token of this person still good.
  Status check_cert(const PersonRow& p, std::string_view cert_type, std::string_view cert_no);
  // The personal account may be used with this credential: a card (the PIN
  // verified by the hospital), an e-voucher whose patient authorised it; an
  // ID number never.
  Status check_account_use(std::string_view cert_type, std::string_view cert_no);
  // The envelope's insuplc_admdvs is the person's insured area ("" = an
  // older file's visit: not checked).
  Status check_area(std::string_view person_area, std::string_view psn_no);
  // The same for the person named by psn_no (a reversal's original's person).
  Status check_person_area(std::string_view psn_no);
  struct EcToken {
    std::string psn_no;
    bool acct_auth = false;
    std::int64_t expires_ms = 0;
  };
  Result<std::optional<EcToken>> ec_token(std::string_view token);
  Status set_visit_state(std::int64_t visit_id, std::string_view state);
  // The effective settlement of a visit, if any.
  Result<std::optional<std::int64_t>> standing_settlement(std::int64_t visit_id);
  Result<OpenLines> open_lines(std::int64_t visit_id, std::string_view chrg_bchno);
  // A stay's lines added (2301) or cancelled (2302): counted on its visit (a
  // settlement keeps the count it saw) and, when the visit keeps them, its
  // live lines' count and figures moved.
  Status lines_changed(std::int64_t visit_id, std::int64_t n, std::int64_t live_delta, const LineFigures& added,
                       const LineFigures& taken);
  // The stay's live lines' count and figures as its visit keeps them (each
  // line's figures taken when it was uploaded); none for a visit of a file
  // written before visits kept them.
  Result<std::optional<std::pair<std::int64_t, LineFigures>>> kept_figures(std::int64_t visit_id);
  // What a stay's settlement splits: its live lines' count and figures (kept,
  // or summed from its lines for an older visit).
  Result<std::pair<std::int64_t, LineFigures>> stay_figures(std::int64_t visit_id, const PolicyParams& params);
  Result<LiveLines> live_lines(std::int64_t visit_id);
  // How many lines of a visit are live: the index alone (lines_live), no row read.
  Result<std::int64_t> live_count(std::int64_t visit_id);
  // Why an inpatient visit cannot change any more (settled, undone, reversed).
  Result<std::string> closed_reason(const VisitRow& v);
  // Inserts the settlement, marks its lines and moves the person's money.
  // Books a settlement of `lines_taken` lines: an outpatient batch's lines
  // marked with it; a stay's not (the visit's state says it is settled), the
  // visit's count of line changes kept with it instead.
  Result<std::int64_t> book_settlement(const SettlementRow& row, std::size_t lines_taken, PersonRow& p, const Split& s);

  // ---- transactions ----
  Result<Json> sign_in();
  Result<Json> sign_out();
  Result<Json> person_info();
  Result<Json> ec_query();
  Result<Json> open_visit(VisitType visit);
  Result<Json> upload_lines(VisitType visit);
  Result<Json> cancel_lines();
  Result<Json> discharge();
  Result<Json> undo_admission();
  Result<Json> settle(VisitType visit, bool preview);
  Result<Json> undo(VisitType visit);
  Result<Json> reversal();
  Result<Json> daily_totals();
  Result<Json> detail();
  Result<Json> account_history();
  Result<Json> partial_refund();
  Result<Json> offline_upload();
  Result<json::Json> red_list();

  Result<insurer::OfflineResult> offline_record(const insurer::OfflineRecord& rec);
  // A med_type "21" record: the admission it names discharged and settled over its live lines.
  Result<insurer::OfflineResult> offline_stay(const insurer::OfflineRecord& rec, PersonRow p, insurer::OfflineResult res);
  // Opens the visit of an accepted 9302 record with its lines; its id.
  Result<std::int64_t> open_offline_visit(const insurer::OfflineRecord& rec, const PersonRow& p, VisitType visit);
  // Restores the effect of a settlement / refund (reversal).
  Result<insurer::Reversal::Output> reverse_settlement(SettlementRow s, insurer::Reversal::Output out);
  Result<insurer::Reversal::Output> reverse_refund(std::int64_t refund_id, insurer::Reversal::Output out);
  Result<insurer::Reversal::Output> reverse_admission(std::int64_t visit_id, insurer::Reversal::Output out);

  Store& st_;
  sql::Db& db_;
  const Policy& policy_;
  SimProfile profile_;
  const Request& req_;
  std::int64_t now_ms_;
  std::string now_text_;
};

Parts left_of(const SettlementRow& s, const std::vector<RefundRow>& refunds) {
  std::vector<Parts> r;
  for (const RefundRow& x : refunds) r.push_back(x.parts);
  return remaining(s.parts, r);
}

Result<SettlementRow> Tx::settlement(std::int64_t id) {
  auto st = db_.cached(fmt::format("SELECT {} FROM settlements WHERE id = ?1", kSetlColumns));
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind(1, id));
  auto row = (*st)->step();
  if (!row) return db_error(row.error());
  if (!*row) return refuse("setl_id", fmt::format("settlement \"{}\" does not exist", setl_id_of(id)));
  SettlementRow r = read_settlement(**st);
  (*st)->reset();
  return r;
}

Result<std::vector<RefundRow>> Tx::refunds_of(std::int64_t setl_id, bool effective_only) {
  auto st = db_.cached(fmt::format("SELECT {} FROM refunds WHERE setl_id = ?1 ORDER BY id", kRefundColumns));
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind(1, setl_id));
  std::vector<RefundRow> out;
  for (;;) {
    auto row = (*st)->step();
    if (!row) return db_error(row.error());
    if (!*row) break;
    RefundRow r = read_refund(**st);
    if (!effective_only || r.state == "effective") out.push_back(std::move(r));
  }
  return out;
}

Result<std::int64_t> Tx::insert_settlement(const SettlementRow& r) {
  auto st = db_.cached(fmt::format(
      "INSERT INTO settlements({}, insuplc_admdvs) VALUES (NULL,?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,"
      "?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27,?28,?29)",
      kSetlColumns));
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind_all(r.msgid, r.infno, r.fixmedins_code, r.medins_setl_id, r.psn_no, r.visit_id, r.chrg_bchno,
                            r.insutype, static_cast<std::int64_t>(r.visit), static_cast<std::int64_t>(r.use_account),
                            r.origin, r.local_id, r.parts.total.fen(), r.parts.fund.fen(), r.parts.account.fen(),
                            r.parts.cash.fen(), r.fulamt.fen(), r.preselfpay.fen(), r.inscp.fen(),
                            r.deductible_part.fen(), r.before.balance.fen(), r.before.deductible_used.fen(),
                            r.before.fund_paid_ytd.fen(), static_cast<std::int64_t>(r.before.flags.bits()),
                            r.lines_json, r.state, r.setl_time, r.clr_date, r.area));
  SIM_CHECK((*st)->run());
  return db_.last_insert_rowid();
}

Status Tx::set_settlement_state(std::int64_t id, std::string_view state) {
  auto st = db_.cached("UPDATE settlements SET state = ?2 WHERE id = ?1");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind_all(id, state));
  SIM_CHECK((*st)->run());
  return Ok{};
}

Result<std::int64_t> Tx::insert_refund(const RefundRow& r) {
  auto st = db_.cached(fmt::format("INSERT INTO refunds({}) VALUES (NULL,?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
                                   kRefundColumns));
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind_all(r.kind, r.msgid, r.infno, r.setl_id, r.medins_refd_id, r.parts.total.fen(),
                            r.parts.fund.fen(), r.parts.account.fen(), r.parts.cash.fen(), r.deductible_back.fen(),
                            r.lines_json, r.state, r.time));
  SIM_CHECK((*st)->run());
  return db_.last_insert_rowid();
}

Status Tx::log_account(const PersonRow& p, std::string_view kind, std::string_view ref_id, Amount amount) {
  if (amount.is_zero()) return Ok{};
  auto st = db_.cached(
      "INSERT INTO acct_log(psn_no, time, kind, ref_id, msgid, amount, balance_after) VALUES (?1,?2,?3,?4,?5,?6,?7)");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind_all(p.psn_no, now_text_, kind, ref_id, req_.head.msgid, amount.fen(), p.balance.fen()));
  SIM_CHECK((*st)->run());
  return Ok{};
}

Result<PersonRow> Tx::person_for(std::string_view psn_no) {
  auto p = st_.person_by_psn_no(psn_no);
  if (!p) return p.error();
  if (!*p) return refuse("psn_no", fmt::format("person \"{}\" does not exist", psn_no));
  return std::move(**p);
}

constexpr const char* kUnknownToken =
    "unknown e-voucher token (mdtrt_cert_type \"01\"): decode the patient's code (9401) first";

Status Tx::check_cert(const PersonRow& p, std::string_view cert_type, std::string_view cert_no) {
  if (cert_type == insurer::cert_type_card && cert_no != p.card_no)
    return refuse("mdtrt_cert_no", fmt::format("card \"{}\" is not person \"{}\"'s card", cert_no, p.psn_no));
  if (cert_type == insurer::cert_type_id_no && cert_no != p.certno)
    return refuse("mdtrt_cert_no", fmt::format("ID number does not belong to person \"{}\"", p.psn_no));
  if (cert_type == insurer::cert_type_ec) {
    SIM_TRY(t, ec_token(cert_no));
    if (!t) return refuse("mdtrt_cert_no", kUnknownToken);
    if (t->psn_no != p.psn_no)
      return refuse("mdtrt_cert_no", fmt::format("the e-voucher token is another person's, not person \"{}\"'s", p.psn_no));
    if (now_ms_ >= t->expires_ms)
      return refuse("mdtrt_cert_no", fmt::format("the e-voucher token has expired (good for {} s after the decode): "
                                                 "scan the patient's code again",
                                                 insurer::ec_token_lifetime_s));
  }
  return Ok{};
}

Status Tx::check_account_use(std::string_view cert_type, std::string_view cert_no) {
  if (cert_type == insurer::cert_type_id_no)
    return refuse("acct_used_flag", "the personal account is not used with an ID number (mdtrt_cert_type \"02\"): "
                                    "acct_used_flag must be \"0\"");
  if (cert_type == insurer::cert_type_ec) {
    SIM_TRY(t, ec_token(cert_no));
    if (t && !t->acct_auth)
      return refuse("acct_used_flag", "the patient did not authorise the personal account on the e-voucher "
                                      "(acct_auth \"0\"): acct_used_flag must be \"0\"");
  }
  return Ok{};
}

Status Tx::check_area(std::string_view person_area, std::string_view psn_no) {
  if (person_area.empty() || req_.head.insuplc_admdvs == person_area) return Ok{};
  return refuse("insuplc_admdvs", fmt::format("insured area \"{}\" (the envelope's insuplc_admdvs) is not the person's: "
                                              "person \"{}\" is insured in \"{}\" (as 1101 answers)",
                                              req_.head.insuplc_admdvs, psn_no, person_area));
}

Status Tx::check_person_area(std::string_view psn_no) {
  SIM_TRY(p, person_for(psn_no));
  return check_area(p.insuplc_admdvs, p.psn_no);
}

Result<std::optional<Tx::EcToken>> Tx::ec_token(std::string_view token) {
  auto st = db_.cached("SELECT psn_no, acct_auth, expires_ms FROM ec_codes WHERE token = ?1");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind(1, token));
  auto row = (*st)->step();
  if (!row) return db_error(row.error());
  std::optional<EcToken> out;
  if (*row) out = EcToken{(*st)->column_text(0), (*st)->column_int64(1) != 0, (*st)->column_int64(2)};
  (*st)->reset();
  return out;
}

Status Tx::set_visit_state(std::int64_t visit_id, std::string_view state) {
  auto st = db_.cached("UPDATE visits SET state = ?2 WHERE id = ?1");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind_all(visit_id, state));
  SIM_CHECK((*st)->run());
  return Ok{};
}

Result<std::optional<std::int64_t>> Tx::standing_settlement(std::int64_t visit_id) {
  auto st = db_.cached("SELECT id FROM settlements WHERE visit_id = ?1 AND state = 'effective' ORDER BY id DESC LIMIT 1");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind(1, visit_id));
  auto row = (*st)->step();
  if (!row) return db_error(row.error());
  std::optional<std::int64_t> id;
  if (*row) id = (*st)->column_int64(0);
  (*st)->reset();
  return id;
}

Result<OpenLines> Tx::open_lines(std::int64_t visit_id, std::string_view chrg_bchno) {
  // The columns as stored by 2204/2301 (the detail text is what was sent,
  // kept for the books; parsing it again per line would cost a stay of
  // thousands of lines most of its settlement time).
  auto st = db_.cached(
      "SELECT feedetl_sn, code, name, cls, amount_fen, selfpay_ppm FROM lines WHERE visit_id = ?1 AND setl_id IS NULL "
      "AND cancelled = 0 AND (?2 = '' OR chrg_bchno = ?2) ORDER BY rowid");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind_all(visit_id, chrg_bchno));
  OpenLines out;
  for (;;) {
    auto row = (*st)->step();
    if (!row) return db_error(row.error());
    if (!*row) break;
    const std::int64_t cls = (*st)->column_int64(3);
    if (cls < static_cast<std::int64_t>(LineClass::a) || cls > static_cast<std::int64_t>(LineClass::c))
      return make_error(Reason::internal, "lines", fmt::format("stored line \"{}\" has class {}", (*st)->column_text(0), cls));
    ChargeLine l;
    l.code = (*st)->column_text(1);
    l.name = (*st)->column_text(2);
    l.cls = static_cast<LineClass>(cls);
    l.amount = Amount::fen((*st)->column_int64(4));
    if (const auto ppm = (*st)->column_opt_int64(5)) l.selfpay_ratio = Ratio::ppm(*ppm);
    out.total += l.amount;
    out.sns.push_back((*st)->column_text(0));
    out.lines.push_back(std::move(l));
  }
  return out;
}

Status Tx::lines_changed(std::int64_t visit_id, std::int64_t n, std::int64_t live_delta, const LineFigures& added,
                         const LineFigures& taken) {
  if (n == 0) return Ok{};
  auto st = db_.cached(
      "UPDATE visits SET line_changes = line_changes + ?2, live_lines = live_lines + ?3, "
      "live_total_fen = live_total_fen + ?4, live_fulamt_fen = live_fulamt_fen + ?5, "
      "live_preselfpay_fen = live_preselfpay_fen + ?6 WHERE id = ?1");
  if (!st) return db_error(st.error());
  LineFigures d = added;
  d -= taken;
  SIM_CHECK((*st)->bind_all(visit_id, n, live_delta, d.total.fen(), d.fulamt_ownpay.fen(), d.preselfpay.fen()));
  SIM_CHECK((*st)->run());
  (*st)->reset();
  return Ok{};
}

Result<std::optional<std::pair<std::int64_t, LineFigures>>> Tx::kept_figures(std::int64_t visit_id) {
  auto st = db_.cached(
      "SELECT figures_kept, live_lines, live_total_fen, live_fulamt_fen, live_preselfpay_fen FROM visits WHERE id = ?1");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind(1, visit_id));
  auto row = (*st)->step();
  if (!row) return db_error(row.error());
  std::optional<std::pair<std::int64_t, LineFigures>> out;
  if (*row && (*st)->column_int64(0) != 0)
    out.emplace((*st)->column_int64(1), LineFigures{Amount::fen((*st)->column_int64(2)), Amount::fen((*st)->column_int64(3)),
                                                    Amount::fen((*st)->column_int64(4))});
  (*st)->reset();
  return out;
}

Result<std::pair<std::int64_t, LineFigures>> Tx::stay_figures(std::int64_t visit_id, const PolicyParams& params) {
  SIM_TRY(kept, kept_figures(visit_id));
  if (kept) return *kept;
  // A visit of an older file: its live lines (a stay's are never marked settled).
  SIM_TRY(taken, open_lines(visit_id, ""));
  LineFigures f;
  for (const ChargeLine& l : taken.lines) f += line_figures(policy_, params, l);
  return std::pair{static_cast<std::int64_t>(taken.lines.size()), f};
}

Result<LiveLines> Tx::live_lines(std::int64_t visit_id) {
  auto st = db_.cached(
      "SELECT coalesce(sum(cancelled = 0), 0), coalesce(sum(CASE WHEN cancelled = 0 THEN amount_fen ELSE 0 END), 0), "
      "coalesce(sum(cancelled <> 0), 0) FROM lines WHERE visit_id = ?1");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind(1, visit_id));
  auto row = (*st)->step();
  if (!row) return db_error(row.error());
  LiveLines out{(*st)->column_int64(0), Amount::fen((*st)->column_int64(1)), (*st)->column_int64(2)};
  (*st)->reset();
  return out;
}

Result<std::int64_t> Tx::live_count(std::int64_t visit_id) {
  auto st = db_.cached("SELECT count(*) FROM lines INDEXED BY lines_live WHERE visit_id = ?1 AND cancelled = 0");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind(1, visit_id));
  auto row = (*st)->step();
  if (!row) return db_error(row.error());
  const std::int64_t n = (*st)->column_int64(0);
  (*st)->reset();
  return n;
}

Result<std::string> Tx::closed_reason(const VisitRow& v) {
  const std::string mdtrt_id = mdtrt_id_of(v.id);
  if (v.state == kSettled) {
    SIM_TRY(setl, standing_settlement(v.id));
    return fmt::format("admission \"{}\" is settled (setl_id \"{}\"); undo the settlement (2305) first", mdtrt_id,
                       setl ? setl_id_of(*setl) : std::string("?"));
  }
  if (v.state == kUndone) return fmt::format("admission \"{}\" was undone (2404)", mdtrt_id);
  if (v.state == kReversed) return fmt::format("admission \"{}\" was reversed (2601)", mdtrt_id);
  return fmt::format("admission \"{}\" is {}", mdtrt_id, v.state);
}

Result<std::int64_t> Tx::book_settlement(const SettlementRow& row, std::size_t lines_taken, PersonRow& p, const Split& s) {
  SIM_TRY(id, insert_settlement(row));
  if (row.visit == VisitType::inpatient) {
    auto keep = db_.cached(
        "UPDATE settlements SET visit_line_changes = (SELECT line_changes FROM visits WHERE id = ?2) WHERE id = ?1");
    if (!keep) return db_error(keep.error());
    SIM_CHECK((*keep)->bind_all(id, row.visit_id));
    SIM_CHECK((*keep)->run());
    (*keep)->reset();
  } else {
    // The lines open_lines took, in one statement (same transaction, same predicate).
    auto mark = db_.cached(
        "UPDATE lines SET setl_id = ?3, undone_setl_id = NULL WHERE visit_id = ?1 AND setl_id IS NULL AND cancelled = 0 "
        "AND (?2 = '' OR chrg_bchno = ?2)");
    if (!mark) return db_error(mark.error());
    SIM_CHECK((*mark)->bind_all(row.visit_id, row.chrg_bchno, id));
    SIM_CHECK((*mark)->run());
    (*mark)->reset();
    if (db_.changes() != static_cast<std::int64_t>(lines_taken))
      return make_error(Reason::internal, "lines",
                        fmt::format("settlement took {} lines, {} were open", lines_taken, db_.changes()));
  }
  p.balance -= s.account;
  // The year's deductible accumulator counts outpatient settlements only: an
  // inpatient stay pays its own deductible (settlement-rules.md, "Inpatient").
  if (row.visit == VisitType::outpatient) p.deductible_used += s.deductible_part;
  p.fund_paid_ytd += s.fund;  // one annual cap for both
  SIM_OK(st_.update_person_money(p));
  SIM_OK(log_account(p, "settle", setl_id_of(id), Amount::zero() - s.account));
  return id;
}

// ---- 9001 / 9002 ----
Result<Json> Tx::sign_in() {
  SIM_TRY(in, insurer::SignIn::Input::decode(req_.input));
  SIM_TRY(n, st_.next("sign_seq"));
  insurer::SignIn::Output out{fmt::format("{}{:010}", req_.head.fixmedins_code, n), now_text_};
  auto st = db_.cached("INSERT INTO signs(sign_no, fixmedins_code, opter, signed_in_ms) VALUES (?1,?2,?3,?4)");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind_all(out.sign_no, req_.head.fixmedins_code, in.opter_no, now_ms_));
  SIM_CHECK((*st)->run());
  return out.encode();
}

Result<Json> Tx::sign_out() {
  SIM_TRY(in, insurer::SignOut::Input::decode(req_.input));
  auto st = db_.cached("UPDATE signs SET signed_out_ms = ?2 WHERE sign_no = ?1 AND signed_out_ms IS NULL");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind_all(in.sign_no, now_ms_));
  SIM_CHECK((*st)->run());
  if (db_.changes() != 1) return refuse("sign_no", fmt::format("sign_no \"{}\" is not signed in", in.sign_no));
  return insurer::SignOut::Output{now_text_}.encode();
}

// ---- 1101 ----
// 1101 answers for any envelope area: the hospital learns the person's area here.
Result<Json> Tx::person_info() {
  SIM_TRY(in, insurer::PersonInfo::Input::decode(req_.input));
  Result<std::optional<PersonRow>> found = std::optional<PersonRow>{};
  if (in.mdtrt_cert_type == insurer::cert_type_ec) {
    SIM_TRY(t, ec_token(in.mdtrt_cert_no));
    if (!t) return refuse("mdtrt_cert_no", kUnknownToken);
    found = st_.person_by_psn_no(t->psn_no);
  } else {
    found = in.mdtrt_cert_type == insurer::cert_type_card ? st_.person_by_card_no(in.mdtrt_cert_no)
                                                          : st_.person_by_certno(in.mdtrt_cert_no);
  }
  if (!found) return found.error();
  if (!*found) return refuse("mdtrt_cert_no", fmt::format("no insured person with {} \"{}\"",
                                                         in.mdtrt_cert_type == "03" ? "card" : "ID number", in.mdtrt_cert_no));
  const PersonRow& p = **found;
  if (in.mdtrt_cert_type == insurer::cert_type_card && in.card_sn != p.card_sn)
    return refuse("card_sn", fmt::format("card_sn does not match card \"{}\"", p.card_no));
  SIM_OK(check_cert(p, in.mdtrt_cert_type, in.mdtrt_cert_no));  // an e-voucher token: still good
  if (!in.certno.empty() && in.certno != p.certno)
    return refuse("certno", fmt::format("certno is not the ID number of the person the {} names",
                                        in.mdtrt_cert_type == insurer::cert_type_ec ? "e-voucher" : "card"));
  insurer::PersonInfo::Output out;
  out.baseinfo = {p.psn_no, "01", p.certno, p.name, p.gend, p.brdy};
  out.insuinfo.push_back(
      {p.insutype, p.balance, "1", p.psn_type, p.flags, p.deductible_used, p.fund_paid_ytd, p.insuplc_admdvs});
  return out.encode();
}

// ---- 9401 ----
// The e-voucher platform's decode (cn.nhsa.ec.query), played by the insurer:
// a code minted on the control endpoint (the patient's phone) decodes within
// ec_token_lifetime_s of minting into one token for its person, good for
// ec_token_lifetime_s from the first decode; decoding the same code again
// answers the same token while it is good. No envelope area check: the
// hospital learns the area here.
Result<Json> Tx::ec_query() {
  SIM_TRY(in, insurer::EcQuery::Input::decode(req_.input));
  auto st = db_.cached("SELECT psn_no, acct_auth, minted_ms, token, expires_ms FROM ec_codes WHERE qrcode = ?1");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind(1, in.ec_qrcode));
  auto row = (*st)->step();
  if (!row) return db_error(row.error());
  if (!*row) return refuse("ec_qrcode", "not an e-voucher code this platform issued");
  const std::string psn_no = (*st)->column_text(0);
  const bool acct_auth = (*st)->column_int64(1) != 0;
  const std::int64_t minted_ms = (*st)->column_int64(2);
  const std::optional<std::string> had_token =
      (*st)->is_null(3) ? std::nullopt : std::optional<std::string>((*st)->column_text(3));
  std::int64_t expires_ms = (*st)->column_int64(4);
  (*st)->reset();
  constexpr std::int64_t life_ms = insurer::ec_token_lifetime_s * 1000;
  std::string token;
  if (had_token) {
    if (now_ms_ >= expires_ms)
      return refuse("ec_qrcode", "this e-voucher code was decoded and its token has expired: the patient shows a fresh code");
    token = *had_token;
  } else {
    if (now_ms_ >= minted_ms + life_ms)
      return refuse("ec_qrcode", fmt::format("this e-voucher code has expired ({} s after it was shown): the patient "
                                             "shows a fresh code",
                                             insurer::ec_token_lifetime_s));
    static std::mt19937_64 rng{std::random_device{}()};
    token = fmt::format("ECT{:016X}{:016X}", rng(), rng());
    expires_ms = now_ms_ + life_ms;
    auto set = db_.cached("UPDATE ec_codes SET token = ?2, expires_ms = ?3 WHERE qrcode = ?1");
    if (!set) return db_error(set.error());
    SIM_CHECK((*set)->bind_all(in.ec_qrcode, token, expires_ms));
    SIM_CHECK((*set)->run());
  }
  SIM_TRY(p, person_for(psn_no));
  insurer::EcQuery::Output out;
  out.ec_token = token;
  out.psn_cert_type = std::string(insurer::psn_cert_type_id_card);
  out.certno = p.certno;
  out.psn_name = p.name;
  out.insuplc_admdvs = p.insuplc_admdvs;
  out.acct_auth = acct_auth ? "1" : "0";
  out.expires_in = std::max<std::int64_t>(1, (expires_ms - now_ms_ + 999) / 1000);
  return out.encode();
}

// ---- 2201 / 2401 ----
Result<Json> Tx::open_visit(VisitType visit) {
  insurer::VisitOpen in;
  if (visit == VisitType::outpatient) {
    SIM_TRY(d, insurer::OutpatientRegister::Input::decode(req_.input));
    in = d;
    // The national interface requires the department and the main diagnosis of a clinic visit.
    if (profile_ == SimProfile::national && in.dept_code.empty())
      return refuse("dept_code", "dept_code is required by the national interface: the department of the visit (2201)");
    if (profile_ == SimProfile::national && in.dise_codg.empty())
      return refuse("dise_codg", "dise_codg is required by the national interface: the main diagnosis of the visit (2201)");
  } else {
    SIM_TRY(d, insurer::Admission::Input::decode(req_.input));
    in = d;
  }
  SIM_TRY(p, person_for(in.psn_no));
  SIM_OK(check_cert(p, in.mdtrt_cert_type, in.mdtrt_cert_no));
  SIM_OK(check_area(p.insuplc_admdvs, p.psn_no));
  if (in.insutype != p.insutype)
    return refuse("insutype", fmt::format("person \"{}\" is insured under \"{}\", not \"{}\"", p.psn_no, p.insutype, in.insutype));
  if (policy_.find(in.insutype, visit) == nullptr)
    return refuse("insutype", fmt::format("no policy for insurance type \"{}\", {} visits", in.insutype, visit_type_name(visit)));
  if (visit == VisitType::inpatient) {
    // One open admission (admitted, or discharged and not settled) per person;
    // the same admission number again is that admission (idempotent).
    auto open = db_.cached(
        "SELECT id, ipt_otp_no, state FROM visits WHERE psn_no = ?1 AND visit = 2 AND state IN ('admitted', 'discharged') "
        "ORDER BY id LIMIT 1");
    if (!open) return db_error(open.error());
    SIM_CHECK((*open)->bind(1, in.psn_no));
    auto row = (*open)->step();
    if (!row) return db_error(row.error());
    if (*row) {
      const std::string mdtrt_id = mdtrt_id_of((*open)->column_int64(0));
      const std::string ipt_otp_no = (*open)->column_text(1), state = (*open)->column_text(2);
      (*open)->reset();
      if (ipt_otp_no != in.ipt_otp_no)
        return refuse("psn_no", fmt::format("person \"{}\" has an open admission \"{}\" (ipt_otp_no \"{}\", {}): "
                                            "settle or undo it before another admission",
                                            p.psn_no, mdtrt_id, ipt_otp_no, state));
      note = fmt::format("admission \"{}\" of ipt_otp_no \"{}\" is open already ({}): the same mdtrt_id again",
                         mdtrt_id, ipt_otp_no, state);
      return insurer::Admission::Output{insurer::VisitOpened{mdtrt_id, p.psn_no, ipt_otp_no}}.encode();
    }
  }
  auto st = db_.cached(
      "INSERT INTO visits(psn_no, insutype, visit, med_type, ipt_otp_no, begntime, msgid, state, dept_code, dept_name, "
      "dise_codg, dise_name, figures_kept, insuplc_admdvs) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,1,?13)");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind_all(in.psn_no, in.insutype, static_cast<std::int64_t>(visit), in.med_type, in.ipt_otp_no,
                            in.begntime, req_.head.msgid, visit == VisitType::inpatient ? kAdmitted : kOpen,
                            in.dept_code, in.dept_name, in.dise_codg, in.dise_name, p.insuplc_admdvs));
  SIM_CHECK((*st)->run());
  const std::int64_t id = db_.last_insert_rowid();
  insurer::VisitOpened out{mdtrt_id_of(id), in.psn_no, in.ipt_otp_no};
  if (visit == VisitType::outpatient) return insurer::OutpatientRegister::Output{out}.encode();
  effect_kind = "admission";  // a reversal of this msgid takes the admission back
  effect_id = id;
  return insurer::Admission::Output{out}.encode();
}

// ---- 2204 / 2301 ----
Result<Json> Tx::upload_lines(VisitType visit) {
  SIM_TRY(in, insurer::FeeUploadInput::decode(req_.input));
  SIM_TRY(v, load_visit(db_, in.feedetail.front().mdtrt_id, visit));
  SIM_OK(check_area(v.area, v.psn_no));
  const PolicyParams* params = policy_.find(v.insutype, visit);
  if (params == nullptr) return refuse("insutype", "no policy for the visit's insurance type");
  const bool stay = visit == VisitType::inpatient;
  // A stay discharged without a settlement (its 2304 refused, or reversed) is
  // open again for lines: the hospital corrects it before settling.
  if (stay && v.state == kDischarged) {
    SIM_OK(set_visit_state(v.id, kAdmitted));
    v.state = std::string(kAdmitted);
  }
  if (stay && v.state != kAdmitted) {
    SIM_TRY(why, closed_reason(v));
    return refuse("mdtrt_id", why + ": no lines may be added");
  }
  insurer::FeeUploadOutput out;
  std::int64_t added = 0;
  LineFigures added_figures;
  for (std::size_t i = 0; i < in.feedetail.size(); ++i) {
    const insurer::FeeDetail& d = in.feedetail[i];
    const std::string sn_field = fmt::format("feedetail[{}].feedetl_sn", i);
    if (d.psn_no != v.psn_no)
      return refuse(fmt::format("feedetail[{}].psn_no", i), fmt::format("line {} names person \"{}\", the visit is \"{}\"'s",
                                                                     d.feedetl_sn, d.psn_no, v.psn_no));
    if (stay && d.feedetl_sn == insurer::feedetl_sn_all)
      return refuse(sn_field, "line number \"0000\" is reserved (2302: every live line)");
    const Json detail = insurer::FeeUploadInput{{d}}.encode();
    std::optional<std::int64_t> ppm;
    if (d.selfpay_prop) ppm = d.selfpay_prop->ppm();
    auto find = db_.cached(
        "SELECT detail, setl_id, code, cls, amount_fen, selfpay_ppm, cancelled FROM lines WHERE visit_id = ?1 AND "
        "feedetl_sn = ?2");
    if (!find) return db_error(find.error());
    SIM_CHECK((*find)->bind_all(v.id, d.feedetl_sn));
    auto row = (*find)->step();
    if (!row) return db_error(row.error());
    const bool held = *row;
    if (held) {
      const bool same = (*find)->column_text(0) == detail.dump();
      const bool settled = !(*find)->is_null(1);
      // A stay's line is the same line when what is charged is the same
      // (code, class, amount, ratio), whatever batch or time it came with.
      const bool same_charge = (*find)->column_text_view(2) == d.med_list_codg &&
                               (*find)->column_int64(3) == static_cast<std::int64_t>(d.cls) &&
                               (*find)->column_int64(4) == d.det_item_fee_sumamt.fen() && (*find)->column_opt_int64(5) == ppm;
      const bool cancelled = (*find)->column_int64(6) != 0;
      (*find)->reset();
      if (stay) {
        if (cancelled)
          return refuse(sn_field, fmt::format("line \"{}\" of admission \"{}\" was cancelled (2302); its number is not "
                                              "used again",
                                              d.feedetl_sn, mdtrt_id_of(v.id)));
        if (!same_charge)
          return refuse(sn_field, fmt::format("line \"{}\" of admission \"{}\" is held already with other content "
                                              "(code, class, amount or ratio); nothing of this upload is stored",
                                              d.feedetl_sn, mdtrt_id_of(v.id)));
      } else if (!same) {
        return refuse(sn_field, fmt::format("line \"{}\" was uploaded before with other content", d.feedetl_sn));
      }
      if (settled) return refuse(sn_field, fmt::format("line \"{}\" is settled already", d.feedetl_sn));
    }
    insurer::FeeResult r;
    r.feedetl_sn = d.feedetl_sn;
    r.det_item_fee_sumamt = d.det_item_fee_sumamt;
    r.cls = d.cls;
    if (d.cls == LineClass::c) {
      r.selfpay_prop = Ratio::one();
      r.fulamt_ownpay_amt = d.det_item_fee_sumamt;
    } else if (d.cls == LineClass::b) {
      r.selfpay_prop = policy_.classb_ratio(*params, d.med_list_codg, d.selfpay_prop);
      r.preselfpay_amt = mul_round_half_up(d.det_item_fee_sumamt, r.selfpay_prop);
    }
    r.inscp_scp_amt = d.det_item_fee_sumamt - r.fulamt_ownpay_amt - r.preselfpay_amt;
    if (!held) {
      // Stored with its figures as answered: a stay's settlement sums them.
      auto ins = db_.cached(
          "INSERT INTO lines(visit_id, feedetl_sn, chrg_bchno, code, name, cls, amount_fen, selfpay_ppm, detail, "
          "fulamt_fen, preselfpay_fen) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)");
      if (!ins) return db_error(ins.error());
      SIM_CHECK((*ins)->bind_all(v.id, d.feedetl_sn, d.chrg_bchno, d.med_list_codg, d.medins_list_name,
                                 static_cast<std::int64_t>(d.cls), d.det_item_fee_sumamt.fen(), ppm, detail.dump(),
                                 r.fulamt_ownpay_amt.fen(), r.preselfpay_amt.fen()));
      SIM_CHECK((*ins)->run());
      ++added;
      added_figures += LineFigures{d.det_item_fee_sumamt, r.fulamt_ownpay_amt, r.preselfpay_amt};
    }
    out.result.push_back(r);
  }
  if (stay) SIM_OK(lines_changed(v.id, added, added, added_figures, LineFigures{}));
  if (stay) {
    SIM_TRY(kept, kept_figures(v.id));
    std::int64_t live = 0;
    if (kept) {
      live = kept->first;
    } else {
      SIM_TRY(counted, live_count(v.id));
      live = counted;
    }
    if (live > static_cast<std::int64_t>(limits::max_lines_per_admission))
      return refuse("feedetail", fmt::format("admission \"{}\" would hold {} live lines, at most {} per stay",
                                             mdtrt_id_of(v.id), live, limits::max_lines_per_admission));
  }
  return out.encode();
}

// ---- 2302 ----
Result<Json> Tx::cancel_lines() {
  SIM_TRY(in, insurer::CancelLines::Input::decode(req_.input));
  SIM_TRY(v, load_visit(db_, in.mdtrt_id, VisitType::inpatient));
  if (in.psn_no != v.psn_no) return refuse("psn_no", fmt::format("visit \"{}\" is not person \"{}\"'s", in.mdtrt_id, in.psn_no));
  SIM_OK(check_area(v.area, v.psn_no));
  if (v.state == kDischarged) {  // not settled: open again for corrections (as 2301)
    SIM_OK(set_visit_state(v.id, kAdmitted));
    v.state = std::string(kAdmitted);
  }
  if (v.state != kAdmitted) {
    SIM_TRY(why, closed_reason(v));
    return refuse("mdtrt_id", why + ": no line may be cancelled");
  }
  insurer::CancelLines::Output out;
  out.mdtrt_id = in.mdtrt_id;
  if (in.feedetl_sn.size() == 1 && in.feedetl_sn.front() == insurer::feedetl_sn_all) {
    auto all = db_.cached("SELECT feedetl_sn FROM lines WHERE visit_id = ?1 AND cancelled = 0 AND setl_id IS NULL ORDER BY rowid");
    if (!all) return db_error(all.error());
    SIM_CHECK((*all)->bind(1, v.id));
    for (;;) {
      auto row = (*all)->step();
      if (!row) return db_error(row.error());
      if (!*row) break;
      out.cancelled.push_back((*all)->column_text(0));
    }
  } else {
    // Every line named must be the stay's; one already cancelled is listed again.
    auto find = db_.cached("SELECT setl_id FROM lines WHERE visit_id = ?1 AND feedetl_sn = ?2");
    if (!find) return db_error(find.error());
    for (std::size_t i = 0; i < in.feedetl_sn.size(); ++i) {
      const std::string& sn = in.feedetl_sn[i];
      SIM_CHECK((*find)->bind_all(v.id, sn));
      auto row = (*find)->step();
      if (!row) return db_error(row.error());
      const bool found = *row, settled = found && !(*find)->is_null(0);
      (*find)->reset();
      if (!found)
        return refuse(fmt::format("feedetl_sn[{}]", i),
                      fmt::format("line \"{}\" does not exist in admission \"{}\"; nothing was cancelled", sn, in.mdtrt_id));
      if (settled)
        return refuse(fmt::format("feedetl_sn[{}]", i), fmt::format("line \"{}\" is settled; nothing was cancelled", sn));
      out.cancelled.push_back(sn);
    }
  }
  auto cancel = db_.cached(
      "UPDATE lines SET cancelled = 1 WHERE visit_id = ?1 AND feedetl_sn = ?2 AND cancelled = 0 "
      "RETURNING amount_fen, fulamt_fen, preselfpay_fen");
  if (!cancel) return db_error(cancel.error());
  std::int64_t changed = 0;
  bool figured = true;  // every line cancelled has the figures it was uploaded with
  LineFigures taken;
  for (const std::string& sn : out.cancelled) {
    SIM_CHECK((*cancel)->bind_all(v.id, sn));
    auto row = (*cancel)->step();
    if (!row) return db_error(row.error());
    if (*row) {
      ++changed;
      figured = figured && !(*cancel)->is_null(1) && !(*cancel)->is_null(2);
      taken += LineFigures{Amount::fen((*cancel)->column_int64(0)), Amount::fen((*cancel)->column_int64(1)),
                           Amount::fen((*cancel)->column_int64(2))};
      SIM_CHECK((*cancel)->step());  // to its end: the change is made
    }
    (*cancel)->reset();
  }
  SIM_OK(lines_changed(v.id, changed, -changed, LineFigures{}, taken));
  if (!figured) {
    // A line of an older file: the visit's figures are summed from its lines from now on.
    auto stop = db_.cached("UPDATE visits SET figures_kept = 0 WHERE id = ?1");
    if (!stop) return db_error(stop.error());
    SIM_CHECK((*stop)->bind(1, v.id));
    SIM_CHECK((*stop)->run());
    (*stop)->reset();
  }
  return out.encode();
}

// ---- 2402 ----
Result<Json> Tx::discharge() {
  SIM_TRY(in, insurer::Discharge::Input::decode(req_.input));
  SIM_TRY(v, load_visit(db_, in.mdtrt_id, VisitType::inpatient));
  if (in.psn_no != v.psn_no) return refuse("psn_no", fmt::format("visit \"{}\" is not person \"{}\"'s", in.mdtrt_id, in.psn_no));
  SIM_OK(check_area(v.area, v.psn_no));
  if (in.insutype != v.insutype)
    return refuse("insutype", fmt::format("visit \"{}\" is under insurance type \"{}\"", in.mdtrt_id, v.insutype));
  if (v.state == kDischarged) {
    note = fmt::format("admission \"{}\" is discharged already (endtime {})", in.mdtrt_id, v.endtime);
    return insurer::Discharge::Output{in.mdtrt_id}.encode();
  }
  if (v.state != kAdmitted) {
    SIM_TRY(why, closed_reason(v));
    return refuse("mdtrt_id", why + ": it cannot be discharged");
  }
  if (in.endtime < v.begntime)
    return refuse("endtime", fmt::format("endtime {} is before the admission's begntime {}", in.endtime, v.begntime));
  auto st = db_.cached("UPDATE visits SET state = ?2, endtime = ?3, dscg_way = ?4 WHERE id = ?1");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind_all(v.id, kDischarged, in.endtime, in.dscg_way));
  SIM_CHECK((*st)->run());
  return insurer::Discharge::Output{in.mdtrt_id}.encode();
}

// ---- 2404 ----
Result<Json> Tx::undo_admission() {
  SIM_TRY(in, insurer::UndoAdmission::Input::decode(req_.input));
  SIM_TRY(v, load_visit(db_, in.mdtrt_id, VisitType::inpatient));
  if (in.psn_no != v.psn_no) return refuse("psn_no", fmt::format("visit \"{}\" is not person \"{}\"'s", in.mdtrt_id, in.psn_no));
  SIM_OK(check_area(v.area, v.psn_no));
  if (v.state == kUndone) {
    note = fmt::format("admission \"{}\" was undone already", in.mdtrt_id);
    return insurer::UndoAdmission::Output{in.mdtrt_id}.encode();
  }
  if (v.state != kAdmitted && v.state != kDischarged) {
    SIM_TRY(why, closed_reason(v));
    return refuse("mdtrt_id", why + ": it cannot be undone");
  }
  SIM_TRY(setl, standing_settlement(v.id));
  if (setl)
    return refuse("mdtrt_id", fmt::format("admission \"{}\" has a standing settlement \"{}\": undo it (2305) first",
                                          in.mdtrt_id, setl_id_of(*setl)));
  SIM_TRY(live, live_lines(v.id));
  if (live.count > 0)
    return refuse("mdtrt_id", fmt::format("admission \"{}\" has {} live lines (total {}): cancel them (2302) first",
                                          in.mdtrt_id, live.count, format_amount(live.total)));
  SIM_OK(set_visit_state(v.id, kUndone));
  return insurer::UndoAdmission::Output{in.mdtrt_id}.encode();
}

// ---- settle / preview ----
Result<Json> Tx::settle(VisitType visit, bool preview) {
  SIM_TRY(in, insurer::SettleInput::decode(req_.input));
  SIM_TRY(v, load_visit(db_, in.mdtrt_id, visit));
  if (in.psn_no != v.psn_no) return refuse("psn_no", fmt::format("visit \"{}\" is not person \"{}\"'s", in.mdtrt_id, in.psn_no));
  if (in.insutype != v.insutype) return refuse("insutype", fmt::format("visit \"{}\" is under insurance type \"{}\"", in.mdtrt_id, v.insutype));
  SIM_TRY(p, person_for(in.psn_no));
  SIM_OK(check_cert(p, in.mdtrt_cert_type, in.mdtrt_cert_no));
  SIM_OK(check_area(p.insuplc_admdvs, p.psn_no));
  if (in.acct_used_flag == "1") SIM_OK(check_account_use(in.mdtrt_cert_type, in.mdtrt_cert_no));
  const bool stay = visit == VisitType::inpatient;
  if (!stay && profile_ == SimProfile::national) {
    // The national interface settles a clinic visit with its department and main diagnosis (2201).
    if (v.dept_code.empty())
      return refuse("dept_code", fmt::format("visit \"{}\" was registered without dept_code: the national interface "
                                             "settles a visit with its department (2201 dept_code)",
                                             in.mdtrt_id));
    if (v.dise_codg.empty())
      return refuse("dise_codg", fmt::format("visit \"{}\" was registered without a diagnosis: the national interface "
                                             "settles a visit with its main diagnosis (2201 dise_codg)",
                                             in.mdtrt_id));
  }
  if (stay) {
    // A discharge settlement takes every live line of the stay, once, after 2402.
    if (!in.chrg_bchno.empty())
      return refuse("chrg_bchno", "an inpatient settlement takes every live line of the stay: chrg_bchno must be empty");
    if (v.state != kAdmitted && v.state != kDischarged) {
      SIM_TRY(why, closed_reason(v));
      return refuse("mdtrt_id", why);
    }
    if (!preview && v.state != kDischarged)
      return refuse("mdtrt_id", fmt::format("admission \"{}\" is not discharged: discharge (2402) first", in.mdtrt_id));
  }

  // The person as stored: for a stay the engine takes the deductible per stay.
  Person person{p.insutype, p.flags, p.balance, p.deductible_used, p.fund_paid_ytd};
  SplitOptions opt;
  opt.visit = visit;
  opt.use_account = in.acct_used_flag == "1";
  opt.pin_verified = true;  // acct_used_flag "1" is sent only after the hospital verified the PIN
  const PolicyParams* params = policy_.find(p.insutype, visit);
  if (params == nullptr)
    return refuse("insutype", fmt::format("no {} policy for insurance type \"{}\"", visit_type_name(visit), p.insutype));

  // What this settlement takes: the stay's live lines (by the figures each
  // line was uploaded with, kept on the visit), or the visit's unsettled
  // lines (of the batch) for an outpatient visit.
  std::int64_t count = 0;
  LineFigures figures;
  std::vector<ChargeLine> lines;
  if (stay) {
    SIM_TRY(kept, stay_figures(v.id, *params));
    std::tie(count, figures) = kept;
  } else {
    SIM_TRY(taken, open_lines(v.id, in.chrg_bchno));
    lines = std::move(taken.lines);
    count = static_cast<std::int64_t>(lines.size());
    figures.total = taken.total;
  }
  if (count == 0)
    return refuse("chrg_bchno", fmt::format("visit \"{}\" has no {} lines{}", in.mdtrt_id, stay ? "live" : "unsettled",
                                            in.chrg_bchno.empty() ? "" : fmt::format(" in batch \"{}\"", in.chrg_bchno)));
  if (figures.total != in.medfee_sumamt)
    return refuse("medfee_sumamt", stay ? fmt::format("medfee_sumamt {} is not the total {} of the stay's {} live (not "
                                                      "cancelled) lines",
                                                      format_amount(in.medfee_sumamt), format_amount(figures.total), count)
                                        : fmt::format("medfee_sumamt {} is not the {} of the uploaded lines",
                                                      format_amount(in.medfee_sumamt), format_amount(figures.total)));
  auto split_r = stay ? split_figures(policy_, person, figures, opt) : split(policy_, person, lines, opt);
  if (!split_r) return refuse(split_r.error().field, split_r.error().message);
  Split& s = *split_r;
  // exp_content.acct_pay_max (national only; the regional insurer does not
  // know the extension and ignores it): the account pays at most the cap,
  // the rest of the patient's part is cash. With the cap at the original's
  // account part, the national refund of part (2208, then this settlement of
  // the kept lines) gives the patient what the regional 9301 gives: see
  // partial_refund() for the cases where the two differ.
  if (profile_ == SimProfile::national && in.exp_content.acct_pay_max && s.account > *in.exp_content.acct_pay_max) {
    const Amount over = s.account - *in.exp_content.acct_pay_max;
    s.account -= over;
    s.cash += over;
  }
  if (s.account > p.balance)
    return refuse("acct_pay", fmt::format("account payment {} is above the balance {}", format_amount(s.account),
                                          format_amount(p.balance)));

  insurer::SetlInfo info;
  info.mdtrt_id = in.mdtrt_id;
  info.psn_no = p.psn_no;
  info.medfee_sumamt = s.total;
  info.fulamt_ownpay_amt = s.fulamt_ownpay;
  info.preselfpay_amt = s.preselfpay;
  info.inscp_scp_amt = s.inscp;
  info.act_pay_dedc = s.deductible_part;
  info.hifp_pay = s.fund;
  info.fund_pay_sumamt = s.fund;
  info.psn_part_amt = s.total - s.fund;
  info.acct_pay = s.account;
  info.psn_cash_pay = s.cash;
  info.balc = p.balance - s.account;
  info.medins_setl_id = in.medins_setl_id;
  info.setl_time = now_text_;
  if (preview) {
    SIM_OK(insurer::check_setlinfo(info, "setlinfo", false));
    return insurer::SettleOutput{info}.encode();
  }

  SettlementRow row;
  row.msgid = req_.head.msgid;
  row.infno = req_.head.infno;
  row.fixmedins_code = req_.head.fixmedins_code;
  row.medins_setl_id = in.medins_setl_id;
  row.psn_no = p.psn_no;
  row.visit_id = v.id;
  row.chrg_bchno = in.chrg_bchno;
  row.insutype = p.insutype;
  row.visit = visit;
  row.use_account = opt.use_account;
  row.parts = parts_of(s);
  row.fulamt = s.fulamt_ownpay;
  row.preselfpay = s.preselfpay;
  row.inscp = s.inscp;
  row.deductible_part = s.deductible_part;
  row.before = person;
  // A stay's settlement takes the visit's live lines as they stand (none can
  // change while it is settled); an outpatient one keeps its batch's lines.
  row.lines_json = stay ? "[]" : json::lines_to_json(lines).dump();
  row.setl_time = now_text_;
  row.clr_date = now_text_.substr(0, 10);
  row.area = p.insuplc_admdvs;
  SIM_TRY(id, book_settlement(row, static_cast<std::size_t>(count), p, s));
  if (stay) SIM_OK(set_visit_state(v.id, kSettled));
  info.setl_id = setl_id_of(id);
  SIM_OK(insurer::check_setlinfo(info, "setlinfo", true));
  effect_kind = "settle";
  effect_id = id;
  return insurer::SettleOutput{info}.encode();
}

// Gives back `left` of settlement s to the person (undo and reversal).
Status give_back(Store& st, PersonRow& p, const Parts& left, Amount deductible_back) {
  p.balance += left.account;
  p.fund_paid_ytd = max(Amount::zero(), p.fund_paid_ytd - left.fund);
  p.deductible_used = max(Amount::zero(), p.deductible_used - deductible_back);
  return st.update_person_money(p);
}

Status release_lines(sql::Db& db, std::int64_t setl_id) {
  auto st = db.cached("UPDATE lines SET setl_id = NULL, undone_setl_id = ?1 WHERE setl_id = ?1");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind(1, setl_id));
  SIM_CHECK((*st)->run());
  return Ok{};
}

// ---- 2208 / 2305 ----
Result<Json> Tx::undo(VisitType visit) {
  SIM_TRY(in, insurer::UndoInput::decode(req_.input));
  const auto id = parse_id(in.setl_id, 'S');
  if (!id) return refuse("setl_id", fmt::format("settlement \"{}\" does not exist", in.setl_id));
  SIM_TRY(s, settlement(*id));
  if (s.psn_no != in.psn_no) return refuse("psn_no", fmt::format("settlement \"{}\" is not person \"{}\"'s", in.setl_id, in.psn_no));
  if (s.visit_id == 0 || mdtrt_id_of(s.visit_id) != in.mdtrt_id)
    return refuse("mdtrt_id", fmt::format("settlement \"{}\" is not of visit \"{}\"", in.setl_id, in.mdtrt_id));
  if (s.visit != visit) return refuse("setl_id", fmt::format("settlement \"{}\" is an {} settlement", in.setl_id, visit_type_name(s.visit)));
  if (s.state != "effective") return refuse("setl_id", fmt::format("settlement \"{}\" is {}", in.setl_id, s.state));
  SIM_TRY(refunds, refunds_of(s.id, true));
  const Parts left = left_of(s, refunds);
  SIM_TRY(p, person_for(s.psn_no));
  SIM_OK(check_area(p.insuplc_admdvs, p.psn_no));
  RefundRow r;
  r.kind = "undo";
  r.msgid = req_.head.msgid;
  r.infno = req_.head.infno;
  r.setl_id = s.id;
  r.parts = left;
  r.deductible_back = deductible_taken(s);
  r.time = now_text_;
  SIM_TRY(rid, insert_refund(r));
  SIM_OK(set_settlement_state(s.id, "undone"));
  SIM_OK(release_lines(db_, s.id));
  // The stay is open again: lines may be added or cancelled, then 2402 and 2304.
  if (s.visit == VisitType::inpatient) SIM_OK(set_visit_state(s.visit_id, kAdmitted));
  SIM_OK(give_back(st_, p, left, r.deductible_back));
  SIM_OK(log_account(p, "undo", refd_id_of(rid), left.account));
  effect_kind = "refund";
  effect_id = rid;
  insurer::UndoOutput out{refd_id_of(rid), in.setl_id, left.total, left.fund, left.account, left.cash, p.balance};
  return out.encode();
}

// ---- 2601 ----
Result<insurer::Reversal::Output> Tx::reverse_settlement(SettlementRow s, insurer::Reversal::Output out) {
  if (s.state != "effective") {
    out.result = insurer::ReversalResult::no_effect;
    return out;
  }
  SIM_TRY(refunds, refunds_of(s.id, true));
  const Parts left = left_of(s, refunds);
  SIM_TRY(p, person_for(s.psn_no));
  SIM_OK(set_settlement_state(s.id, "reversed"));
  SIM_OK(release_lines(db_, s.id));
  // A stay whose settlement is reversed is discharged and unsettled again.
  if (s.visit == VisitType::inpatient && s.visit_id != 0) SIM_OK(set_visit_state(s.visit_id, kDischarged));
  SIM_OK(give_back(st_, p, left, deductible_taken(s)));
  SIM_OK(log_account(p, "reversal", setl_id_of(s.id), left.account));
  out.result = insurer::ReversalResult::reversed;
  out.medfee_sumamt = left.total;
  out.fund_pay_sumamt = left.fund;
  out.acct_pay = left.account;
  out.psn_cash_pay = left.cash;
  return out;
}

Result<insurer::Reversal::Output> Tx::reverse_refund(std::int64_t refund_id, insurer::Reversal::Output out) {
  auto st = db_.cached(fmt::format("SELECT {} FROM refunds WHERE id = ?1", kRefundColumns));
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind(1, refund_id));
  auto row = (*st)->step();
  if (!row) return db_error(row.error());
  if (!*row) return make_error(Reason::internal, "omsgid", "msgid names a refund that does not exist");
  RefundRow r = read_refund(**st);
  (*st)->reset();
  SIM_TRY(s, settlement(r.setl_id));
  SIM_OK(check_person_area(s.psn_no));
  const bool restorable = r.state == "effective" &&
                          ((r.kind == "undo" && s.state == "undone") || (r.kind == "refund" && s.state == "effective"));
  if (!restorable) {
    out.result = insurer::ReversalResult::no_effect;
    return out;
  }
  SIM_TRY(p, person_for(s.psn_no));
  if (p.balance < r.parts.account)
    return refuse("omsgid", fmt::format("the account balance {} no longer covers the {} to take back",
                                        format_amount(p.balance), format_amount(r.parts.account)));
  if (r.kind == "undo") {
    // The lines must not have been settled again since the undo.
    auto doc = json::parse(s.lines_json, "stored lines");
    if (!doc || !doc->is_array()) return make_error(Reason::internal, "lines", "stored lines are not a JSON array");
    const bool stay = s.visit == VisitType::inpatient && s.visit_id != 0;
    if (stay) {
      // The stay must be as the undo left it: not settled again, not closed,
      // its live lines the settlement's (none added or cancelled since: the
      // visit counts its line changes, the settlement kept the count it saw).
      SIM_TRY(v, find_visit(db_, mdtrt_id_of(s.visit_id)));
      if (!v) return make_error(Reason::internal, "mdtrt_id", "a settlement names a visit that does not exist");
      if (v->state == kSettled) {
        SIM_TRY(again, standing_settlement(v->id));
        return refuse("omsgid", fmt::format("admission \"{}\" was settled again (setl_id \"{}\") since the undo; the "
                                            "undo cannot be reversed",
                                            mdtrt_id_of(v->id), again ? setl_id_of(*again) : std::string("?")));
      }
      if (v->state != kAdmitted && v->state != kDischarged) {
        SIM_TRY(why, closed_reason(*v));
        return refuse("omsgid", why + "; the undo of its settlement cannot be reversed");
      }
      auto seen = db_.cached(
          "SELECT s.visit_line_changes, v.line_changes FROM settlements s JOIN visits v ON v.id = s.visit_id "
          "WHERE s.id = ?1");
      if (!seen) return db_error(seen.error());
      SIM_CHECK((*seen)->bind(1, s.id));
      auto sr = (*seen)->step();
      if (!sr) return db_error(sr.error());
      const std::int64_t then = (*seen)->column_int64(0), now = (*seen)->column_int64(1);
      (*seen)->reset();
      if (then != now)
        return refuse("omsgid", fmt::format("the lines of admission \"{}\" changed since the undo ({} line(s) added or "
                                            "cancelled); the undo cannot be reversed",
                                            mdtrt_id_of(v->id), now - then));
    } else {
      // An outpatient batch: its lines, marked with the settlement again.
      auto free_lines = db_.cached("SELECT count(*) FROM lines WHERE undone_setl_id = ?1 AND setl_id IS NULL");
      if (!free_lines) return db_error(free_lines.error());
      SIM_CHECK((*free_lines)->bind(1, s.id));
      auto fr = (*free_lines)->step();
      if (!fr) return db_error(fr.error());
      const std::int64_t n = (*free_lines)->column_int64(0);
      (*free_lines)->reset();
      if (n != static_cast<std::int64_t>(doc->size()))
        return refuse("omsgid", "the undone settlement's lines were settled again; the undo cannot be reversed");
      auto relink = db_.cached("UPDATE lines SET setl_id = ?1, undone_setl_id = NULL WHERE undone_setl_id = ?1");
      if (!relink) return db_error(relink.error());
      SIM_CHECK((*relink)->bind(1, s.id));
      SIM_CHECK((*relink)->run());
    }
    SIM_OK(set_settlement_state(s.id, "effective"));
    if (stay) SIM_OK(set_visit_state(s.visit_id, kSettled));
  }
  auto upd = db_.cached("UPDATE refunds SET state = 'reversed' WHERE id = ?1");
  if (!upd) return db_error(upd.error());
  SIM_CHECK((*upd)->bind(1, r.id));
  SIM_CHECK((*upd)->run());
  p.balance -= r.parts.account;
  p.fund_paid_ytd += r.parts.fund;
  p.deductible_used += r.deductible_back;
  SIM_OK(st_.update_person_money(p));
  SIM_OK(log_account(p, "reversal", refd_id_of(r.id), Amount::zero() - r.parts.account));
  out.result = insurer::ReversalResult::reversed;
  out.medfee_sumamt = r.parts.total;
  out.fund_pay_sumamt = r.parts.fund;
  out.acct_pay = r.parts.account;
  out.psn_cash_pay = r.parts.cash;
  return out;
}

Result<insurer::Reversal::Output> Tx::reverse_admission(std::int64_t visit_id, insurer::Reversal::Output out) {
  const std::string mdtrt_id = mdtrt_id_of(visit_id);
  SIM_TRY(v, find_visit(db_, mdtrt_id));
  if (!v) return make_error(Reason::internal, "omsgid", "msgid names a visit that does not exist");
  out.result = insurer::ReversalResult::no_effect;
  if (v->state != kAdmitted && v->state != kDischarged) {
    SIM_TRY(why, closed_reason(*v));
    note = why + ": the admission stands as it is";
    return out;
  }
  SIM_TRY(setl, standing_settlement(v->id));
  SIM_TRY(live, live_lines(v->id));
  if (setl || live.count > 0) {
    note = setl ? fmt::format("admission \"{}\" has a standing settlement \"{}\": it is not reversed", mdtrt_id,
                              setl_id_of(*setl))
                : fmt::format("admission \"{}\" has {} live lines (total {}): it is not reversed", mdtrt_id, live.count,
                              format_amount(live.total));
    return out;
  }
  SIM_OK(set_visit_state(v->id, kReversed));
  out.result = insurer::ReversalResult::reversed;
  return out;
}

Result<Json> Tx::reversal() {
  SIM_TRY(in, insurer::Reversal::Input::decode(req_.input));
  if (in.omsgid.compare(0, insurer::fixmedins_code_len, req_.head.fixmedins_code) != 0)
    return refuse("omsgid", "a reversal may name only the institution's own msgids");
  insurer::Reversal::Output out;
  out.omsgid = in.omsgid;
  out.oinfno = in.oinfno;
  auto st = db_.cached("SELECT infno, effect_kind, effect_id, state FROM msgids WHERE msgid = ?1");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind(1, in.omsgid));
  auto row = (*st)->step();
  if (!row) return db_error(row.error());
  if (!*row) {
    // Never processed: burn the msgid so that a late original is refused.
    auto burn = db_.cached(
        "INSERT INTO msgids(msgid, infno, effect_kind, effect_id, state, infcode, err_msg, output, received_ms) "
        "VALUES (?1, ?2, 'none', 0, 'burnt', -1, 'msgid was reversed before it arrived', '{}', ?3)");
    if (!burn) return db_error(burn.error());
    SIM_CHECK((*burn)->bind_all(in.omsgid, in.oinfno, now_ms_));
    SIM_CHECK((*burn)->run());
    out.result = insurer::ReversalResult::not_found;
  } else {
    const std::string infno = (*st)->column_text(0), kind = (*st)->column_text(1), state = (*st)->column_text(3);
    const std::int64_t eid = (*st)->column_int64(2);
    (*st)->reset();
    if (infno != in.oinfno)
      return refuse("oinfno", fmt::format("msgid \"{}\" was a {} request, not {}", in.omsgid, infno, in.oinfno));
    if (state == "burnt") {
      out.result = insurer::ReversalResult::not_found;
    } else if (state == "reversed") {
      out.result = insurer::ReversalResult::already_reversed;
    } else {
      if (kind == "settle") {
        SIM_TRY(s, settlement(eid));
        if (!in.psn_no.empty() && in.psn_no != s.psn_no)
          return refuse("psn_no", fmt::format("msgid \"{}\" is not person \"{}\"'s", in.omsgid, in.psn_no));
        SIM_OK(check_person_area(s.psn_no));
        SIM_TRY(o, reverse_settlement(s, out));
        out = o;
      } else if (kind == "refund") {
        SIM_TRY(o, reverse_refund(eid, out));
        out = o;
      } else if (kind == "admission") {
        SIM_TRY(v, find_visit(db_, mdtrt_id_of(eid)));
        if (v && !in.psn_no.empty() && in.psn_no != v->psn_no)
          return refuse("psn_no", fmt::format("msgid \"{}\" is not person \"{}\"'s", in.omsgid, in.psn_no));
        if (v) SIM_OK(check_person_area(v->psn_no));
        SIM_TRY(o, reverse_admission(eid, out));
        out = o;
      } else {
        out.result = insurer::ReversalResult::no_effect;
        // The stay's other calls are idempotent: the hospital repeats them (or
        // undoes them by their own transaction) instead.
        if (infno == "2301" || infno == "2302" || infno == "2402" || infno == "2404")
          note = fmt::format("a {} is not reversed: repeat it (it is idempotent) or undo it by its own transaction", infno);
        else if (infno == "2401")
          note = fmt::format("msgid \"{}\" opened no admission (it was refused, or answered an open one again)", in.omsgid);
      }
      auto mark = db_.cached("UPDATE msgids SET state = 'reversed' WHERE msgid = ?1");
      if (!mark) return db_error(mark.error());
      SIM_CHECK((*mark)->bind(1, in.omsgid));
      SIM_CHECK((*mark)->run());
    }
  }
  auto log = db_.cached("INSERT INTO reversals(msgid, omsgid, oinfno, rslt, time) VALUES (?1,?2,?3,?4,?5)");
  if (!log) return db_error(log.error());
  SIM_CHECK((*log)->bind_all(req_.head.msgid, in.omsgid, in.oinfno, insurer::reversal_result_name(out.result), now_text_));
  SIM_CHECK((*log)->run());
  return out.encode();
}

// ---- 9301 ----
Result<Json> Tx::partial_refund() {
  SIM_TRY(in, insurer::PartialRefund::Input::decode(req_.input));
  const auto id = parse_id(in.setl_id, 'S');
  if (!id) return refuse("setl_id", fmt::format("settlement \"{}\" does not exist", in.setl_id));
  SIM_TRY(s, settlement(*id));
  if (s.psn_no != in.psn_no) return refuse("psn_no", fmt::format("settlement \"{}\" is not person \"{}\"'s", in.setl_id, in.psn_no));
  if (s.state != "effective") return refuse("setl_id", fmt::format("settlement \"{}\" is {}", in.setl_id, s.state));
  if (s.visit == VisitType::inpatient)
    return refuse("setl_id", fmt::format("settlement \"{}\" is an inpatient settlement: it is refunded only whole, by "
                                         "undo (2305) and settling again",
                                         in.setl_id));
  SIM_TRY(p, person_for(s.psn_no));
  SIM_OK(check_area(p.insuplc_admdvs, p.psn_no));
  if (in.mdtrt_cert_no != p.card_no)
    return refuse("mdtrt_cert_no", "the card presented is not the card of the original settlement");
  SIM_TRY(refunds, refunds_of(s.id, true));
  auto doc = json::parse(s.lines_json, "stored lines");
  if (!doc) return make_error(Reason::internal, "lines", doc.error().message);
  SIM_TRY(original_lines, json::lines_from_json(*doc, "lines"));
  std::vector<LineRefund> before;
  std::vector<Parts> before_parts;
  for (const RefundRow& r : refunds) {
    auto rd = json::parse(r.lines_json, "stored refund lines");
    if (!rd) return make_error(Reason::internal, "lines", rd.error().message);
    SIM_TRY(rl, json::line_refunds_from_json(*rd, "lines"));
    before.insert(before.end(), rl.begin(), rl.end());
    before_parts.push_back(r.parts);
  }
  std::vector<LineRefund> request;
  for (const insurer::RefundLine& l : in.lines) request.push_back({l.med_list_codg, l.amount});
  auto plan = plan_line_refund(original_lines, before, request);
  if (!plan) return refuse(plan.error().field, plan.error().message);
  if (request.empty()) {
    // Everything left, code by code, so later refunds see what went.
    std::map<std::string, Amount> left;
    for (const ChargeLine& l : original_lines) left[l.code] += l.amount;
    for (const LineRefund& r : before) left[r.code] -= r.amount;
    for (const auto& [code, amount] : left)
      if (amount.fen() > 0) request.push_back({code, amount});
  }
  // The fund's share: the kept lines split with the person as at the
  // original (s.before) and the original's options; the patient's part comes
  // back cash first, then account (split_refund).
  //
  // The national interface has no 9301: the hospital undoes the whole
  // original (2208) and settles the kept lines again (2207) with the account
  // only if the original used it, capped at the original's account part
  // (exp_content.acct_pay_max). The money back is then the same as here,
  // fund, account and cash to the fen, when all of these hold:
  //  - the person's accumulators (deductible_used, fund_paid_ytd) and flags
  //    at the new 2207 (after the 2208 gave the original's back) are those
  //    at the original: no other settlement, refund or undo of the person in
  //    between. Otherwise the new split sees another deductible room or
  //    annual-cap room (another fund) or a flag that stops the fund;
  //  - the account is not frozen in between (the new 2207 could not use it:
  //    the patient pays the whole patient part in cash);
  //  - the policy is the same (both compute with the current policy file).
  // The balance never binds: after the 2208 it holds at least the
  // original's account part, which is the cap. Clamps: here fund_r is
  // clamped to [0, refund]; with this project's split the clamp does not
  // bite (the fund of fewer lines is never above the fund of all, and falls
  // by at most the lines' amount), and if it did 2207 would not clamp.
  // One state difference remains even then: 9301 leaves the original's
  // deductible part counted in the person's deductible_used, while
  // 2208 + 2207 count only the kept lines' deductible part; they differ when
  // the kept lines do not use the whole deductible room (the person's next
  // settlement then sees another deductible).
  SplitOptions opt;
  opt.visit = s.visit;
  opt.use_account = s.use_account;
  opt.pin_verified = true;
  const Parts left = remaining(s.parts, before_parts);
  auto fund_r = fund_share_of_line_refund(policy_, s.before, opt, *plan, left.fund);
  if (!fund_r) return refuse(fund_r.error().field, fund_r.error().message);
  auto parts = split_refund(s.parts, before_parts, plan->refund_total, *fund_r);
  if (!parts) return refuse(parts.error().field, parts.error().message);
  RefundRow r;
  r.kind = "refund";
  r.msgid = req_.head.msgid;
  r.infno = req_.head.infno;
  r.setl_id = s.id;
  r.medins_refd_id = in.medins_refd_id;
  r.parts = *parts;
  r.lines_json = json::line_refunds_to_json(request).dump();
  r.time = now_text_;
  SIM_TRY(rid, insert_refund(r));
  p.balance += parts->account;
  p.fund_paid_ytd = max(Amount::zero(), p.fund_paid_ytd - parts->fund);
  SIM_OK(st_.update_person_money(p));
  SIM_OK(log_account(p, "refund", refd_id_of(rid), parts->account));
  effect_kind = "refund";
  effect_id = rid;
  insurer::PartialRefund::Output out{refd_id_of(rid), in.setl_id, parts->total, parts->fund, parts->account,
                                     parts->cash, p.balance};
  return out.encode();
}

// ---- 9302 ----
Result<insurer::OfflineResult> Tx::offline_record(const insurer::OfflineRecord& rec) {
  insurer::OfflineResult res;
  res.local_id = rec.local_id;
  const auto reject = [&](std::string reason, std::string msg) {
    res.status = "rejected";
    res.rej_reason = std::move(reason);
    res.err_msg = std::move(msg);
    return res;
  };
  auto found = rec.psn_no.empty() ? st_.person_by_card_no(rec.card_no) : st_.person_by_psn_no(rec.psn_no);
  if (!found) return found.error();
  if (!*found) return reject("unknown_person", fmt::format("no insured person \"{}\"", rec.psn_no.empty() ? rec.card_no : rec.psn_no));
  PersonRow p = **found;
  // The batch's envelope names one insured area: each record's person's, or
  // the home area (an offline settlement made from the red list, which has
  // no area, cannot know it).
  if (req_.head.insuplc_admdvs != default_area) SIM_OK(check_area(p.insuplc_admdvs, p.psn_no));
  if (!rec.card_no.empty() && rec.card_no != p.card_no)
    return reject("card_mismatch", fmt::format("card \"{}\" is not person \"{}\"'s", rec.card_no, p.psn_no));
  if (rec.insutype != p.insutype)
    return reject("insutype_mismatch", fmt::format("person \"{}\" is insured under \"{}\"", p.psn_no, p.insutype));
  if (rec.med_type == insurer::med_type_inpatient) return offline_stay(rec, std::move(p), std::move(res));
  std::vector<ChargeLine> lines;
  std::set<std::string> sns;
  for (const insurer::FeeDetail& d : rec.lines) {
    if (!sns.insert(d.feedetl_sn).second)
      return reject("invalid_record", fmt::format("line \"{}\" appears twice in the record", d.feedetl_sn));
    lines.push_back(insurer::to_charge_line(d));
  }
  SplitOptions opt;
  opt.visit = VisitType::outpatient;
  opt.use_account = false;  // never offline
  Person person{p.insutype, p.flags, p.balance, p.deductible_used, p.fund_paid_ytd};
  auto s = split(policy_, person, lines, opt);
  if (!s) return reject("invalid_record", s.error().message);
  // The visit the record was settled in, opened as 2201/2401 would and holding
  // its lines as 2204/2301 would, so that 2208/2305 undo it like any other.
  SIM_TRY(visit_id, open_offline_visit(rec, p, opt.visit));
  SettlementRow row;
  row.msgid = req_.head.msgid;
  row.infno = req_.head.infno;
  row.fixmedins_code = req_.head.fixmedins_code;
  row.medins_setl_id = rec.local_id;
  row.psn_no = p.psn_no;
  row.visit_id = visit_id;
  row.insutype = p.insutype;
  row.visit = opt.visit;
  row.origin = "offline_upload";
  row.local_id = rec.local_id;
  row.parts = parts_of(*s);
  row.fulamt = s->fulamt_ownpay;
  row.preselfpay = s->preselfpay;
  row.inscp = s->inscp;
  row.deductible_part = s->deductible_part;
  row.before = person;
  row.lines_json = json::lines_to_json(lines).dump();
  row.setl_time = rec.setl_time;
  row.clr_date = now_text_.substr(0, 10);
  row.area = p.insuplc_admdvs;
  SIM_TRY(id, insert_settlement(row));
  auto mark = db_.cached("UPDATE lines SET setl_id = ?2 WHERE visit_id = ?1");
  if (!mark) return db_error(mark.error());
  SIM_CHECK((*mark)->bind_all(visit_id, id));
  SIM_CHECK((*mark)->run());
  p.deductible_used += s->deductible_part;
  p.fund_paid_ytd += s->fund;
  SIM_OK(st_.update_person_money(p));
  res.status = "accepted";
  res.setl_id = setl_id_of(id);
  res.mdtrt_id = mdtrt_id_of(visit_id);
  res.medfee_sumamt = s->total;
  res.fund_pay_sumamt = s->fund;
  res.acct_pay = s->account;
  res.psn_cash_pay = s->cash;
  return res;
}

Result<insurer::OfflineResult> Tx::offline_stay(const insurer::OfflineRecord& rec, PersonRow p,
                                                insurer::OfflineResult res) {
  const auto reject = [&](std::string msg) {
    res.status = "rejected";
    res.rej_reason = "invalid_record";
    res.err_msg = std::move(msg);
    return res;
  };
  SIM_TRY(v, find_visit(db_, rec.mdtrt_id));
  if (!v) return reject(fmt::format("admission \"{}\" does not exist", rec.mdtrt_id));
  if (v->visit != VisitType::inpatient || v->psn_no != p.psn_no)
    return reject(fmt::format("\"{}\" is not an inpatient visit of person \"{}\"", rec.mdtrt_id, p.psn_no));
  if (v->state != kAdmitted && v->state != kDischarged) {
    SIM_TRY(why, closed_reason(*v));
    return reject(why);
  }
  // Settled as 2402 + 2304 would, without the account: the insurer's figures.
  SplitOptions opt;
  opt.visit = VisitType::inpatient;
  opt.use_account = false;  // never offline
  Person person{p.insutype, p.flags, p.balance, p.deductible_used, p.fund_paid_ytd};
  const PolicyParams* params = policy_.find(p.insutype, VisitType::inpatient);
  if (params == nullptr) return reject(fmt::format("no inpatient policy for insurance type \"{}\"", p.insutype));
  SIM_TRY(kept, stay_figures(v->id, *params));
  const auto& [count, figures] = kept;
  if (count == 0) return reject(fmt::format("admission \"{}\" has no live lines", rec.mdtrt_id));
  if (figures.total != rec.medfee_sumamt)
    return reject(fmt::format("medfee_sumamt {} is not the total {} of admission \"{}\"'s {} live lines",
                              format_amount(rec.medfee_sumamt), format_amount(figures.total), rec.mdtrt_id, count));
  auto s = split_figures(policy_, person, figures, opt);
  if (!s) return reject(s.error().message);
  if (v->state == kAdmitted) {
    auto st = db_.cached("UPDATE visits SET endtime = ?2, dscg_way = '1' WHERE id = ?1");
    if (!st) return db_error(st.error());
    SIM_CHECK((*st)->bind_all(v->id, rec.setl_time));
    SIM_CHECK((*st)->run());
  }
  SettlementRow row;
  row.msgid = req_.head.msgid;
  row.infno = req_.head.infno;
  row.fixmedins_code = req_.head.fixmedins_code;
  row.medins_setl_id = rec.local_id;
  row.psn_no = p.psn_no;
  row.visit_id = v->id;
  row.insutype = p.insutype;
  row.visit = VisitType::inpatient;
  row.origin = "offline_upload";
  row.local_id = rec.local_id;
  row.parts = parts_of(*s);
  row.fulamt = s->fulamt_ownpay;
  row.preselfpay = s->preselfpay;
  row.inscp = s->inscp;
  row.deductible_part = s->deductible_part;
  row.before = person;
  row.lines_json = "[]";
  row.setl_time = rec.setl_time;
  row.clr_date = now_text_.substr(0, 10);
  row.area = p.insuplc_admdvs;
  SIM_TRY(id, book_settlement(row, static_cast<std::size_t>(count), p, *s));
  SIM_OK(set_visit_state(v->id, kSettled));
  res.status = "accepted";
  res.setl_id = setl_id_of(id);
  res.mdtrt_id = rec.mdtrt_id;
  res.medfee_sumamt = s->total;
  res.fund_pay_sumamt = s->fund;
  res.acct_pay = s->account;
  res.psn_cash_pay = s->cash;
  return res;
}

Result<std::int64_t> Tx::open_offline_visit(const insurer::OfflineRecord& rec, const PersonRow& p, VisitType visit) {
  auto st = db_.cached(
      "INSERT INTO visits(psn_no, insutype, visit, med_type, ipt_otp_no, begntime, msgid, insuplc_admdvs) "
      "VALUES (?1,?2,?3,?4,?5,?6,?7,?8)");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind_all(p.psn_no, p.insutype, static_cast<std::int64_t>(visit), rec.med_type, rec.local_id,
                            rec.setl_time, req_.head.msgid, p.insuplc_admdvs));
  SIM_CHECK((*st)->run());
  const std::int64_t visit_id = db_.last_insert_rowid();
  auto ins = db_.cached(
      "INSERT INTO lines(visit_id, feedetl_sn, chrg_bchno, code, name, cls, amount_fen, selfpay_ppm, detail) "
      "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)");
  if (!ins) return db_error(ins.error());
  for (insurer::FeeDetail d : rec.lines) {
    // Stored as a 2204 upload to this visit would be (a record's lines may
    // leave the visit, person, batch and time out).
    d.mdtrt_id = mdtrt_id_of(visit_id);
    d.psn_no = p.psn_no;
    if (d.chrg_bchno.empty()) d.chrg_bchno = rec.local_id;
    if (d.fee_ocur_time.empty()) d.fee_ocur_time = rec.setl_time;
    std::optional<std::int64_t> ppm;
    if (d.selfpay_prop) ppm = d.selfpay_prop->ppm();
    (*ins)->reset();
    SIM_CHECK((*ins)->bind_all(visit_id, d.feedetl_sn, d.chrg_bchno, d.med_list_codg, d.medins_list_name,
                               static_cast<std::int64_t>(d.cls), d.det_item_fee_sumamt.fen(), ppm,
                               insurer::FeeUploadInput{{d}}.encode().dump()));
    SIM_CHECK((*ins)->run());
  }
  return visit_id;
}

Result<Json> Tx::offline_upload() {
  SIM_TRY(in, insurer::OfflineUpload::Input::decode(req_.input));
  insurer::OfflineUpload::Output out;
  for (const insurer::OfflineRecord& rec : in.records) {
    auto find = db_.cached("SELECT result FROM offline_uploads WHERE fixmedins_code = ?1 AND local_id = ?2");
    if (!find) return db_error(find.error());
    SIM_CHECK((*find)->bind_all(req_.head.fixmedins_code, rec.local_id));
    auto row = (*find)->step();
    if (!row) return db_error(row.error());
    if (*row) {
      auto doc = json::parse((*find)->column_text_view(0), "stored offline result");
      (*find)->reset();
      if (!doc) return make_error(Reason::internal, "records", doc.error().message);
      auto earlier = insurer::OfflineUpload::Output::decode(*doc);
      if (!earlier) return make_error(Reason::internal, "records", earlier.error().message);
      out.results.push_back(earlier->results.front());
      continue;
    }
    SIM_TRY(res, offline_record(rec));
    auto ins = db_.cached("INSERT INTO offline_uploads(fixmedins_code, local_id, result) VALUES (?1,?2,?3)");
    if (!ins) return db_error(ins.error());
    SIM_CHECK((*ins)->bind_all(req_.head.fixmedins_code, rec.local_id,
                               insurer::OfflineUpload::Output{{res}}.encode().dump()));
    SIM_CHECK((*ins)->run());
    out.results.push_back(res);
  }
  return out.encode();
}

// ---- 3201 / 3202 ----
struct NetRow {
  SettlementRow s;
  Parts net;
  std::string flag;
};

// Settlements of a clearing period with their amounts net of refunds (3201,
// 3202 and the report share this).
Result<std::vector<NetRow>> Tx_rows(Store& store, std::string_view begin, std::string_view end, std::string_view insutype,
                                   std::string_view clr_type) {
  auto st = store.db().prepare(fmt::format(
      "SELECT {} FROM settlements WHERE clr_date >= ?1 AND clr_date <= ?2 AND state <> 'deleted' "
      "AND (?3 = '' OR insutype = ?3) AND (?4 = 0 OR visit = ?4) ORDER BY id",
      kSetlColumns));
  if (!st) return db_error(st.error());
  const std::int64_t visit = clr_type == "11" ? 1 : clr_type == "21" ? 2 : 0;
  SIM_CHECK(st->bind_all(begin, end, insutype, visit));
  std::vector<NetRow> rows;
  for (;;) {
    auto row = st->step();
    if (!row) return db_error(row.error());
    if (!*row) break;
    rows.push_back(NetRow{read_settlement(*st), {}, "0"});
  }
  auto rs = store.db().cached(fmt::format("SELECT {} FROM refunds WHERE setl_id = ?1 AND state = 'effective'", kRefundColumns));
  if (!rs) return db_error(rs.error());
  for (NetRow& r : rows) {
    if (r.s.state != "effective") {
      r.flag = "2";
      continue;  // net zero
    }
    SIM_CHECK((*rs)->bind(1, r.s.id));
    std::vector<Parts> refunds;
    for (;;) {
      auto row = (*rs)->step();
      if (!row) return db_error(row.error());
      if (!*row) break;
      refunds.push_back(read_refund(**rs).parts);
    }
    (*rs)->reset();
    r.net = remaining(r.s.parts, refunds);
    if (!refunds.empty()) r.flag = "1";
  }
  return rows;
}

Result<Json> Tx::daily_totals() {
  SIM_TRY(in, insurer::DailyTotals::Input::decode(req_.input));
  // Two aggregates over the clearing-date index: the effective settlements,
  // and their effective refunds.
  insurer::DailyTotals::Output out;
  const std::int64_t visit = in.clr_type == "11" ? 1 : in.clr_type == "21" ? 2 : 0;
  // One group: the clearing type (clr_type) and the insured area (setl_optins; "" every area).
  constexpr std::string_view kWhere =
      "s.clr_date >= ?1 AND s.clr_date <= ?2 AND s.state = 'effective' AND (?3 = '' OR s.insutype = ?3) "
      "AND (?4 = 0 OR s.visit = ?4) AND (?5 = '' OR s.insuplc_admdvs = ?5)";
  for (int part = 0; part < 2; ++part) {
    auto st = db_.prepare(
        part == 0 ? fmt::format("SELECT count(*), coalesce(sum(s.total), 0), coalesce(sum(s.fund), 0), "
                                "coalesce(sum(s.account), 0), coalesce(sum(s.cash), 0) FROM settlements s WHERE {}",
                                kWhere)
                  : fmt::format("SELECT count(*), coalesce(sum(r.total), 0), coalesce(sum(r.fund), 0), "
                                "coalesce(sum(r.account), 0), coalesce(sum(r.cash), 0) FROM refunds r "
                                "JOIN settlements s ON s.id = r.setl_id WHERE r.state = 'effective' AND {}",
                                kWhere));
    if (!st) return db_error(st.error());
    SIM_CHECK(st->bind_all(in.stmt_begndate, in.stmt_enddate, in.insutype, visit, in.setl_optins));
    auto row = st->step();
    if (!row) return db_error(row.error());
    const std::int64_t sign = part == 0 ? 1 : -1;
    if (part == 0) out.setl_cnt = st->column_int64(0);
    out.medfee_sumamt += Amount::fen(sign * st->column_int64(1));
    out.fund_pay_sumamt += Amount::fen(sign * st->column_int64(2));
    out.acct_pay += Amount::fen(sign * st->column_int64(3));
    out.psn_cash_pay += Amount::fen(sign * st->column_int64(4));
  }
  const bool balanced = out.medfee_sumamt == in.medfee_sumamt && out.fund_pay_sumamt == in.fund_pay_sumamt &&
                        out.acct_pay == in.acct_pay && out.setl_cnt == in.fixmedins_setl_cnt;
  out.stmt_rslt = balanced ? "0" : "1";
  out.stmt_rslt_dscr = balanced ? "balanced"
                                : fmt::format("insurer: {} settlements, total {}, fund {}, account {}{}", out.setl_cnt,
                                              format_amount(out.medfee_sumamt), format_amount(out.fund_pay_sumamt),
                                              format_amount(out.acct_pay),
                                              in.setl_optins.empty() ? std::string()
                                                                     : fmt::format(" (insured area {})", in.setl_optins));
  return out.encode();
}

// 3202 reads only the columns it answers with, refunds summed by SQLite; page
// 1 takes a snapshot of the period that later pages of the same query are cut
// from while nothing has changed the data (a 9102-style export, without the
// file), so paging a million rows costs one read, not one per page. The
// snapshot holds the rows' JSON text (written once, as the codec's encoder
// writes it); a page is a slice of it.
struct DetailText {
  std::string text;               // every row's object, each followed by ','
  std::vector<std::size_t> ends;  // row i is text[begin(i), ends[i]); begin(i) = i ? ends[i-1] + 1 : 0
};
struct DetailSnapshot {
  const Store* store = nullptr;
  std::int64_t generation = -1;
  std::string key;
  DetailText rows;
};
std::mutex detail_mu;
DetailSnapshot detail_snapshot;
std::atomic<std::int64_t> data_generation{0};

Result<DetailText> detail_rows(Store& store, std::string_view begin, std::string_view end, std::string_view insutype,
                               std::string_view clr_type) {
  auto st = store.db().prepare(
      "SELECT s.id, s.psn_no, coalesce(s.visit_id, 0), s.msgid, s.medins_setl_id, s.insutype, s.setl_time, s.state, "
      "s.total, s.fund, s.account, s.cash, coalesce(r.n, 0), coalesce(r.t, 0), coalesce(r.f, 0), coalesce(r.a, 0), "
      "coalesce(r.c, 0), s.insuplc_admdvs FROM settlements s LEFT JOIN (SELECT setl_id, count(*) AS n, sum(total) AS t, sum(fund) AS f, "
      "sum(account) AS a, sum(cash) AS c FROM refunds WHERE state = 'effective' GROUP BY setl_id) r ON r.setl_id = s.id "
      "WHERE s.clr_date >= ?1 AND s.clr_date <= ?2 AND s.state <> 'deleted' AND (?3 = '' OR s.insutype = ?3) "
      "AND (?4 = 0 OR s.visit = ?4) ORDER BY s.clr_date, s.id");
  if (!st) return db_error(st.error());
  const std::int64_t visit = clr_type == "11" ? 1 : clr_type == "21" ? 2 : 0;
  SIM_CHECK(st->bind_all(begin, end, insutype, visit));
  DetailText rows;
  insurer::DetailReconcile::Row r;  // reused: its strings keep their capacity
  for (;;) {
    auto row = st->step();
    if (!row) return db_error(row.error());
    if (!*row) break;
    const std::int64_t visit_id = st->column_int64(2);
    r.setl_id = setl_id_of(st->column_int64(0));
    r.psn_no = st->column_text(1);
    r.mdtrt_id = visit_id == 0 ? "" : mdtrt_id_of(visit_id);
    r.msgid = st->column_text(3);
    r.medins_setl_id = st->column_text(4);
    r.insutype = st->column_text(5);
    r.setl_time = st->column_text(6);
    r.stmt_rslt = "0";
    r.insuplc_admdvs = st->column_text(17);
    if (st->column_text_view(7) != "effective") {
      r.refd_setl_flag = "2";  // net zero
      r.medfee_sumamt = r.fund_pay_sumamt = r.acct_pay = r.psn_cash_pay = Amount::zero();
    } else {
      r.refd_setl_flag = st->column_int64(12) > 0 ? "1" : "0";
      r.medfee_sumamt = Amount::fen(st->column_int64(8) - st->column_int64(13));
      r.fund_pay_sumamt = Amount::fen(st->column_int64(9) - st->column_int64(14));
      r.acct_pay = Amount::fen(st->column_int64(10) - st->column_int64(15));
      r.psn_cash_pay = Amount::fen(st->column_int64(11) - st->column_int64(16));
    }
    insurer::append_detail_row(rows.text, r);
    rows.ends.push_back(rows.text.size());
    rows.text += ',';
  }
  return rows;
}

bool read_only(std::string_view infno) {
  return infno == "1101" || infno == "3201" || infno == "3202" || infno == "9304" || infno == "9303" ||
         infno == "2206" || infno == "2303";
}

Result<Json> Tx::detail() {
  SIM_TRY(in, insurer::DetailReconcile::Input::decode(req_.input));
  const std::string key = fmt::format("{}|{}|{}|{}", in.stmt_begndate, in.stmt_enddate, in.insutype, in.clr_type);
  std::lock_guard lock(detail_mu);
  DetailSnapshot& snap = detail_snapshot;
  if (in.page_num == 1 || snap.store != &st_ || snap.generation != data_generation.load() || snap.key != key) {
    snap = DetailSnapshot{};  // the old rows go before the new are read
    SIM_TRY(rows, detail_rows(st_, in.stmt_begndate, in.stmt_enddate, in.insutype, in.clr_type));
    snap.store = &st_;
    snap.generation = data_generation.load();
    snap.key = key;
    snap.rows = std::move(rows);
  }
  // The page's text cut from the snapshot: the same bytes as
  // DetailReconcile::Output::encode().dump(), without the document.
  const std::vector<std::size_t>& ends = snap.rows.ends;
  const auto total = static_cast<std::int64_t>(ends.size());
  const auto first = static_cast<std::size_t>(std::min((in.page_num - 1) * in.page_size, total));
  const auto last = static_cast<std::size_t>(std::min((in.page_num - 1) * in.page_size + in.page_size, total));
  std::string_view rows_text;
  if (first < last) {
    const std::size_t from = first == 0 ? 0 : ends[first - 1] + 1;
    rows_text = std::string_view(snap.rows.text).substr(from, ends[last - 1] - from);
  }
  insurer::append_detail_page(output_text, in.page_num, in.page_size, total, rows_text);
  return Json(nullptr);
}

// ---- 9304 ----
Result<Json> Tx::account_history() {
  SIM_TRY(in, insurer::AccountHistory::Input::decode(req_.input));
  SIM_TRY(p, person_for(in.psn_no));
  SIM_OK(check_area(p.insuplc_admdvs, p.psn_no));
  auto st = db_.cached(
      "SELECT time, kind, ref_id, msgid, amount, balance_after FROM acct_log WHERE psn_no = ?1 ORDER BY id DESC LIMIT ?2");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind_all(in.psn_no, in.page_size));
  insurer::AccountHistory::Output out;
  out.psn_no = p.psn_no;
  out.balc = p.balance;
  for (;;) {
    auto row = (*st)->step();
    if (!row) return db_error(row.error());
    if (!*row) break;
    out.records.push_back({(*st)->column_text(0), (*st)->column_text(1), (*st)->column_text(2), (*st)->column_text(3),
                           Amount::fen((*st)->column_int64(4)), Amount::fen((*st)->column_int64(5))});
  }
  return out.encode();
}

// ---- 9303 ----
Result<Json> Tx::red_list() {
  SIM_TRY(in, insurer::RedList::Input::decode(req_.input));
  SIM_TRY(current, st_.current("redlist_version"));
  const std::int64_t to = in.to_version == 0 ? current : in.to_version;
  if (to > current) return refuse("to_version", fmt::format("to_version {} is above the current version {}", to, current));
  insurer::RedList::Output out;
  out.since_version = in.since_version;
  out.version = to;
  out.page_num = in.page_num;
  auto count = db_.cached(
      "SELECT (SELECT count(*) FROM persons WHERE version > ?1 AND version <= ?2) + "
      "(SELECT count(*) FROM redlist_deleted WHERE ?1 > 0 AND version > ?1 AND version <= ?2)");
  if (!count) return db_error(count.error());
  SIM_CHECK((*count)->bind_all(in.since_version, to));
  auto cr = (*count)->step();
  if (!cr) return db_error(cr.error());
  out.total = (*count)->column_int64(0);
  (*count)->reset();
  auto st = db_.cached(
      "SELECT card_no, psn_no, insutype, flags, deductible_used_fen, fund_paid_ytd_fen, 'upsert', version FROM persons "
      "WHERE version > ?1 AND version <= ?2 "
      "UNION ALL SELECT card_no, psn_no, insutype, 0, 0, 0, 'delete', version FROM redlist_deleted "
      "WHERE ?1 > 0 AND version > ?1 AND version <= ?2 ORDER BY 8, 2 LIMIT ?3 OFFSET ?4");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind_all(in.since_version, to, in.page_size, (in.page_num - 1) * in.page_size));
  for (;;) {
    auto row = (*st)->step();
    if (!row) return db_error(row.error());
    if (!*row) break;
    out.entries.push_back({(*st)->column_text(0), (*st)->column_text(1), (*st)->column_text(2),
                           PersonFlags::from_bits(static_cast<std::uint8_t>((*st)->column_int64(3))),
                           Amount::fen((*st)->column_int64(4)), Amount::fen((*st)->column_int64(5)), (*st)->column_text(6)});
  }
  out.more = in.page_num * in.page_size < out.total;
  return out.encode();
}

Result<Json> Tx::dispatch() {
  const std::string& n = req_.head.infno;
  // The regional extensions are not in the national interface.
  if (profile_ == SimProfile::national && (n == "9301" || n == "9302" || n == "9303" || n == "9304"))
    return refuse("infno", fmt::format("no such transaction {} in the national interface", n));
  if (n == "9001") return sign_in();
  if (n == "9002") return sign_out();
  if (n == "1101") return person_info();
  if (n == "9401") return ec_query();
  if (n == "2201") return open_visit(VisitType::outpatient);
  if (n == "2204") return upload_lines(VisitType::outpatient);
  if (n == "2206") return settle(VisitType::outpatient, true);
  if (n == "2207") return settle(VisitType::outpatient, false);
  if (n == "2208") return undo(VisitType::outpatient);
  if (n == "2401") return open_visit(VisitType::inpatient);
  if (n == "2301") return upload_lines(VisitType::inpatient);
  if (n == "2302") return cancel_lines();
  if (n == "2402") return discharge();
  if (n == "2404") return undo_admission();
  if (n == "2303") return settle(VisitType::inpatient, true);
  if (n == "2304") return settle(VisitType::inpatient, false);
  if (n == "2305") return undo(VisitType::inpatient);
  if (n == "2601") return reversal();
  if (n == "3201") return daily_totals();
  if (n == "3202") return detail();
  if (n == "9304") return account_history();
  if (n == "9301") return partial_refund();
  if (n == "9302") return offline_upload();
  if (n == "9303") return red_list();
  return refuse("infno", fmt::format("transaction \"{}\" is not served", n));
}

Status record_msgid(sql::Db& db, const Request& req, Reply& reply, std::string_view kind, std::int64_t id,
                    std::int64_t now_ms) {
  auto st = db.cached(
      "INSERT INTO msgids(msgid, infno, effect_kind, effect_id, state, infcode, err_msg, output, received_ms) "
      "VALUES (?1,?2,?3,?4,'done',?5,?6,?7,?8)");
  if (!st) return db_error(st.error());
  if (reply.output_text.empty()) reply.output_text = reply.output.dump();
  SIM_CHECK((*st)->bind_all(req.head.msgid, req.head.infno, kind, id, reply.infcode, reply.err_msg, reply.output_text,
                            now_ms));
  SIM_CHECK((*st)->run());
  return Ok{};
}

Result<bool> signed_in(sql::Db& db, std::string_view sign_no, std::string_view fixmedins_code) {
  auto st = db.cached("SELECT 1 FROM signs WHERE sign_no = ?1 AND fixmedins_code = ?2 AND signed_out_ms IS NULL");
  if (!st) return db_error(st.error());
  SIM_CHECK((*st)->bind_all(sign_no, fixmedins_code));
  auto row = (*st)->step();
  if (!row) return db_error(row.error());
  (*st)->reset();
  return *row;
}

}  // namespace

ClockMs system_clock_ms() {
  return [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
}

std::string_view sim_profile_name(SimProfile p) noexcept {
  return p == SimProfile::national ? "national" : "regional";
}

std::optional<SimProfile> sim_profile_from_name(std::string_view name) noexcept {
  if (name == "regional") return SimProfile::regional;
  if (name == "national") return SimProfile::national;
  return std::nullopt;
}

Insurer::Insurer(Store& store, Policy policy, ClockMs clock, bool group_commit, SimProfile profile)
    : store_(store), policy_(std::move(policy)), clock_(std::move(clock)), group_commit_(group_commit),
      profile_(profile) {}

Status Insurer::commit() {
  if (!batch_) return Ok{};
  auto c = batch_->commit();
  batch_.reset();
  batch_writes_ = false;
  batch_bytes_ = 0;  // after a failed commit the destructor rolls the batch back
  if (!c) return db_error(c.error());
  return Ok{};
}

Result<Reply> Insurer::handle(const Request& req) {
  ++counters_.requests;
  ++counters_.by_infno[req.head.infno];
  const std::int64_t now_ms = clock_();
  sql::Db& db = store_.db();

  // A msgid seen before: its first answer, no effect.
  {
    auto st = db.cached("SELECT infno, state, infcode, err_msg, output FROM msgids WHERE msgid = ?1");
    if (!st) return db_error(st.error());
    SIM_CHECK((*st)->bind(1, req.head.msgid));
    auto row = (*st)->step();
    if (!row) return db_error(row.error());
    if (*row) {
      Reply r;
      const std::string infno = (*st)->column_text(0), state = (*st)->column_text(1);
      r.infcode = (*st)->column_int64(2);
      r.err_msg = (*st)->column_text(3);
      auto out = json::parse((*st)->column_text_view(4), "stored output");
      (*st)->reset();
      if (!out) return make_error(Reason::internal, "msgid", out.error().message);
      r.output = *out;
      r.replayed = true;
      if (state == "burnt") {
        r.infcode = insurer::infcode_error;
        r.err_msg = fmt::format("msgid \"{}\" was reversed before it arrived; it is not processed", req.head.msgid);
        r.output = Json::object();
      } else if (infno != req.head.infno) {
        r.infcode = insurer::infcode_error;
        r.err_msg = fmt::format("msgid \"{}\" was used for a {} request already", req.head.msgid, infno);
        r.output = Json::object();
      }
      ++counters_.idempotent_replays;
      return r;
    }
  }
  if (req.head.infno != insurer::SignIn::infno) {
    auto ok = signed_in(db, req.head.sign_no, req.head.fixmedins_code);
    if (!ok) return ok.error();
    if (!*ok) {
      ++counters_.refused_sign_no;
      ++counters_.answered_error;
      Reply r;
      r.infcode = insurer::infcode_error;
      r.err_msg = fmt::format("sign_no \"{}\" is not signed in (9001 first)", req.head.sign_no);
      return r;  // not recorded: the same msgid may come again after a sign-in
    }
  }

  if (!batch_) {
    auto tx = sql::Transaction::begin(db, sql::TxKind::immediate);
    if (!tx) return db_error(tx.error());
    batch_.emplace(std::move(*tx));
  }
  std::optional<sql::Savepoint> work;
  const auto open_work = [&]() -> Status {
    auto sp = sql::Savepoint::begin(db, "work");
    if (!sp) return db_error(sp.error());
    work.emplace(std::move(*sp));
    return Ok{};
  };
  if (Status s = open_work(); !s) return s.error();
  if (!read_only(req.head.infno)) {
    data_generation.fetch_add(1);
    batch_writes_ = true;
  }
  Tx t(store_, policy_, profile_, req, now_ms);
  auto out = t.dispatch();
  Reply reply;
  if (out) {
    reply.output = std::move(*out);
    reply.output_text = std::move(t.output_text);
    reply.err_msg = std::move(t.note);
  } else {
    // A storage failure: the savepoint's destructor takes this request's work back.
    if (is_storage(out.error())) return out.error();
    // A refusal: nothing of this request's work stays; the refusal is its first answer.
    if (auto rb = work->rollback(); !rb) return db_error(rb.error());
    work.reset();
    if (Status s = open_work(); !s) return s.error();
    reply.infcode = insurer::infcode_error;
    reply.err_msg = out.error().message.empty() ? std::string("refused") : out.error().message;
    t.effect_kind = "none";
    t.effect_id = 0;
  }
  // The msgid and its first answer go with the work, or neither does.
  if (Status s = record_msgid(db, req, reply, t.effect_kind, t.effect_id, now_ms); !s) return s.error();
  batch_bytes_ += reply.output_text.size();
  if (auto rel = work->release(); !rel) return db_error(rel.error());
  if (!group_commit_)
    if (Status c = commit(); !c) return c.error();
  ++(reply.infcode == insurer::infcode_ok ? counters_.answered_ok : counters_.answered_error);
  return reply;
}

Result<Json> Insurer::person_json(std::string_view psn_no) {
  auto p = store_.person_by_psn_no(psn_no);
  if (!p) return p.error();
  if (!*p) return make_error(Reason::not_found, "psn_no", fmt::format("person \"{}\" does not exist", psn_no));
  Json flags = Json::array();
  for (std::string_view n : (*p)->flags.names()) flags.push_back(std::string(n));
  return Json{{"psn_no", (*p)->psn_no},
              {"card_no", (*p)->card_no},
              {"insutype", (*p)->insutype},
              {"name", (*p)->name},
              {"flags", flags},
              {"balance", json::amount_value((*p)->balance)},
              {"deductible_used", json::amount_value((*p)->deductible_used)},
              {"fund_paid_ytd", json::amount_value((*p)->fund_paid_ytd)},
              {"insuplc_admdvs", (*p)->insuplc_admdvs},
              {"version", (*p)->version}};
}

Result<Json> Insurer::mint_ec_qr(std::string_view psn_no, bool acct_auth) {
  auto p = store_.person_by_psn_no(psn_no);
  if (!p) return p.error();
  if (!*p) return make_error(Reason::not_found, "psn_no", fmt::format("person \"{}\" does not exist", psn_no));
  static std::mt19937_64 rng{std::random_device{}()};
  const std::string code = fmt::format("ECQR{:016X}{:016X}", rng(), rng());
  sql::Db& db = store_.db();
  // Outside any open batch of requests: minted codes are durable at once.
  if (Status c = commit(); !c) return c.error();
  auto st = db.prepare("INSERT INTO ec_codes(qrcode, psn_no, acct_auth, minted_ms) VALUES (?1,?2,?3,?4)");
  if (!st) return db_error(st.error());
  SIM_CHECK(st->bind_all(code, psn_no, static_cast<std::int64_t>(acct_auth), clock_()));
  SIM_CHECK(st->run());
  data_generation.fetch_add(1);
  return Json{{"ec_qrcode", code},
              {"psn_no", std::string(psn_no)},
              {"acct_auth", acct_auth},
              {"expires_in", insurer::ec_token_lifetime_s}};
}

Result<Json> Insurer::visit_json(std::string_view mdtrt_id) {
  sql::Db& db = store_.db();
  auto v = find_visit(db, mdtrt_id);
  if (!v) return v.error();
  if (!*v) return make_error(Reason::not_found, "mdtrt_id", fmt::format("visit \"{}\" does not exist", mdtrt_id));
  const VisitRow& row = **v;
  auto lines = db.prepare(
      "SELECT coalesce(sum(cancelled = 0), 0), coalesce(sum(CASE WHEN cancelled = 0 THEN amount_fen ELSE 0 END), 0), "
      "coalesce(sum(cancelled <> 0), 0), coalesce(sum(cancelled = 0 AND (setl_id IS NOT NULL OR ?2)), 0) FROM lines "
      "WHERE visit_id = ?1");
  if (!lines) return db_error(lines.error());
  // A stay's lines are settled with its visit (they are not marked one by one).
  SIM_CHECK(lines->bind_all(row.id, static_cast<std::int64_t>(row.visit == VisitType::inpatient && row.state == kSettled)));
  auto lr = lines->step();
  if (!lr) return db_error(lr.error());
  const std::int64_t live = lines->column_int64(0), cancelled = lines->column_int64(2), settled = lines->column_int64(3);
  const Amount live_total = Amount::fen(lines->column_int64(1));
  auto extra = db.prepare("SELECT dept_code, dept_name, dise_codg, dise_name, dscg_way FROM visits WHERE id = ?1");
  if (!extra) return db_error(extra.error());
  SIM_CHECK(extra->bind(1, row.id));
  auto er = extra->step();
  if (!er) return db_error(er.error());
  Json settlements = Json::array();
  auto ss = db.prepare(fmt::format("SELECT {} FROM settlements WHERE visit_id = ?1 ORDER BY id", kSetlColumns));
  if (!ss) return db_error(ss.error());
  SIM_CHECK(ss->bind(1, row.id));
  for (;;) {
    auto r = ss->step();
    if (!r) return db_error(r.error());
    if (!*r) break;
    const SettlementRow s = read_settlement(*ss);
    settlements.push_back(Json{{"setl_id", setl_id_of(s.id)},
                               {"msgid", s.msgid},
                               {"infno", s.infno},
                               {"origin", s.origin},
                               {"state", s.state},
                               {"medfee_sumamt", json::amount_value(s.parts.total)},
                               {"fund_pay_sumamt", json::amount_value(s.parts.fund)},
                               {"acct_pay", json::amount_value(s.parts.account)},
                               {"psn_cash_pay", json::amount_value(s.parts.cash)},
                               {"act_pay_dedc", json::amount_value(s.deductible_part)},
                               {"setl_time", s.setl_time}});
  }
  return Json{{"mdtrt_id", mdtrt_id_of(row.id)},
              {"psn_no", row.psn_no},
              {"insutype", row.insutype},
              {"visit", std::string(visit_type_name(row.visit))},
              {"med_type", row.med_type},
              {"ipt_otp_no", row.ipt_otp_no},
              {"state", row.state},
              {"begntime", row.begntime},
              {"endtime", row.endtime},
              {"dept_code", extra->column_text(0)},
              {"dept_name", extra->column_text(1)},
              {"dise_codg", extra->column_text(2)},
              {"dise_name", extra->column_text(3)},
              {"dscg_way", extra->column_text(4)},
              {"lines", Json{{"live", live},
                             {"live_total", json::amount_value(live_total)},
                             {"settled", settled},
                             {"cancelled", cancelled}}},
              {"settlements", settlements}};
}

Result<Json> Insurer::report() {
  sql::Db& db = store_.db();
  Json settlements = Json::array();
  Json refunds = Json::array();
  Json reversals = Json::array();
  Parts totals;
  std::int64_t effective = 0;
  auto rows = Tx_rows(store_, "0000-00-00", "9999-99-99", "", "");
  if (!rows) return rows.error();
  std::map<std::int64_t, Parts> net_of;
  for (const NetRow& r : *rows) net_of[r.s.id] = r.net;
  auto all2 = db.prepare(fmt::format("SELECT {} FROM settlements ORDER BY id", kSetlColumns));
  if (!all2) return db_error(all2.error());
  for (;;) {
    auto row = all2->step();
    if (!row) return db_error(row.error());
    if (!*row) break;
    const SettlementRow s = read_settlement(*all2);
    const Parts net = s.state == "effective" ? net_of[s.id] : Parts{};
    Parts refunded;
    if (s.state == "effective") {
      refunded = Parts{s.parts.total - net.total, s.parts.fund - net.fund, s.parts.account - net.account,
                       s.parts.cash - net.cash};
      totals += net;
      ++effective;
    }
    settlements.push_back(Json{{"setl_id", setl_id_of(s.id)},
                               {"msgid", s.msgid},
                               {"infno", s.infno},
                               {"medins_setl_id", s.medins_setl_id},
                               {"psn_no", s.psn_no},
                               {"mdtrt_id", s.visit_id == 0 ? "" : mdtrt_id_of(s.visit_id)},
                               {"insutype", s.insutype},
                               {"origin", s.origin},
                               {"local_id", s.local_id},
                               {"state", s.state},
                               {"medfee_sumamt", json::amount_value(s.parts.total)},
                               {"fund_pay_sumamt", json::amount_value(s.parts.fund)},
                               {"acct_pay", json::amount_value(s.parts.account)},
                               {"psn_cash_pay", json::amount_value(s.parts.cash)},
                               {"refunded", Json{{"total", json::amount_value(refunded.total)},
                                                 {"fund", json::amount_value(refunded.fund)},
                                                 {"account", json::amount_value(refunded.account)},
                                                 {"cash", json::amount_value(refunded.cash)}}},
                               {"setl_time", s.setl_time}});
  }
  auto rs = db.prepare(fmt::format("SELECT {} FROM refunds ORDER BY id", kRefundColumns));
  if (!rs) return db_error(rs.error());
  for (;;) {
    auto row = rs->step();
    if (!row) return db_error(row.error());
    if (!*row) break;
    const RefundRow r = read_refund(*rs);
    refunds.push_back(Json{{"refd_id", refd_id_of(r.id)},
                           {"kind", r.kind},
                           {"msgid", r.msgid},
                           {"infno", r.infno},
                           {"setl_id", setl_id_of(r.setl_id)},
                           {"medins_refd_id", r.medins_refd_id},
                           {"state", r.state},
                           {"total", json::amount_value(r.parts.total)},
                           {"fund", json::amount_value(r.parts.fund)},
                           {"account", json::amount_value(r.parts.account)},
                           {"cash", json::amount_value(r.parts.cash)}});
  }
  auto vs = db.prepare("SELECT msgid, omsgid, oinfno, rslt, time FROM reversals ORDER BY id");
  if (!vs) return db_error(vs.error());
  for (;;) {
    auto row = vs->step();
    if (!row) return db_error(row.error());
    if (!*row) break;
    reversals.push_back(Json{{"msgid", vs->column_text(0)},
                             {"omsgid", vs->column_text(1)},
                             {"oinfno", vs->column_text(2)},
                             {"rslt", vs->column_text(3)},
                             {"time", vs->column_text(4)}});
  }
  return Json{{"settlements", settlements},
              {"refunds", refunds},
              {"reversals", reversals},
              {"totals", Json{{"effective_settlements", effective},
                              {"medfee_sumamt", json::amount_value(totals.total)},
                              {"fund_pay_sumamt", json::amount_value(totals.fund)},
                              {"acct_pay", json::amount_value(totals.account)},
                              {"psn_cash_pay", json::amount_value(totals.cash)}}}};
}

Result<Json> Insurer::inject(const Json& body) {
  data_generation.fetch_add(1);
  insurer::Fields f(body, "");
  const std::string op = f.one_of("op", {"alter_amount", "delete", "add_settlement", "set_state"});
  if (Status s = f.status(); !s) return s.error();
  sql::Db& db = store_.db();
  auto tx = sql::Transaction::begin(db, sql::TxKind::immediate);
  if (!tx) return db_error(tx.error());
  Json answer = Json::object();
  if (op == "set_state") {
    // The settlement's state only: nothing goes back to the person's account.
    const std::string setl = f.nonempty("setl_id", 20);
    const std::string state = f.one_of("state", {"effective", "undone", "reversed"});
    if (Status s = f.status(); !s) return s.error();
    const auto id = parse_id(setl, 'S');
    if (!id) return make_error(Reason::not_found, "setl_id", fmt::format("settlement \"{}\" does not exist", setl));
    auto st = db.prepare("UPDATE settlements SET state = ?2 WHERE id = ?1 AND state <> 'deleted'");
    if (!st) return db_error(st.error());
    SIM_CHECK(st->bind_all(*id, state));
    SIM_CHECK(st->run());
    if (db.changes() != 1) return make_error(Reason::not_found, "setl_id", fmt::format("settlement \"{}\" does not exist", setl));
    answer["setl_id"] = setl;
  } else if (op == "alter_amount" || op == "delete") {
    const std::string setl = f.nonempty("setl_id", 20);
    const std::string field = op == "alter_amount" ? f.one_of("field", {"fund_pay_sumamt", "acct_pay", "psn_cash_pay"}) : "";
    const Amount amount = op == "alter_amount" ? f.amount("amount") : Amount::zero();
    if (Status s = f.status(); !s) return s.error();
    const auto id = parse_id(setl, 'S');
    if (!id) return make_error(Reason::not_found, "setl_id", fmt::format("settlement \"{}\" does not exist", setl));
    std::string sql;
    if (op == "delete") {
      sql = "UPDATE settlements SET state = 'deleted' WHERE id = ?1";
    } else {
      const std::string col = field == "fund_pay_sumamt" ? "fund" : field == "acct_pay" ? "account" : "cash";
      sql = fmt::format("UPDATE settlements SET total = total - {0} + ?2, {0} = ?2 WHERE id = ?1", col);
    }
    auto st = db.prepare(sql);
    if (!st) return db_error(st.error());
    if (op == "delete") {
      SIM_CHECK(st->bind(1, *id));
    } else {
      SIM_CHECK(st->bind_all(*id, amount.fen()));
    }
    SIM_CHECK(st->run());
    if (db.changes() != 1) return make_error(Reason::not_found, "setl_id", fmt::format("settlement \"{}\" does not exist", setl));
    answer["setl_id"] = setl;
  } else {
    SettlementRow row;
    row.psn_no = f.nonempty("psn_no", 64);
    row.parts.total = f.amount("medfee_sumamt");
    row.parts.fund = f.amount("fund_pay_sumamt");
    row.parts.account = f.amount("acct_pay");
    row.parts.cash = f.amount("psn_cash_pay");
    row.setl_time = f.nonempty("setl_time", 19);
    if (Status s = f.status(); !s) return s.error();
    if (!row.parts.consistent())
      return make_error(Reason::invalid_request, "medfee_sumamt", "fund_pay_sumamt + acct_pay + psn_cash_pay must equal medfee_sumamt");
    auto p = store_.person_by_psn_no(row.psn_no);
    if (!p) return p.error();
    if (!*p) return make_error(Reason::not_found, "psn_no", fmt::format("person \"{}\" does not exist", row.psn_no));
    row.msgid = "";
    row.infno = "2207";
    row.insutype = (*p)->insutype;
    row.origin = "injected";
    row.lines_json = "[]";
    row.clr_date = row.setl_time.substr(0, 10);
    auto st = db.prepare(fmt::format(
        "INSERT INTO settlements({}, insuplc_admdvs) VALUES (NULL,?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,"
        "0,0,0,0,0,0,0,0,?17,?18,?19,?20,?21)",
        kSetlColumns));
    if (!st) return db_error(st.error());
    SIM_CHECK(st->bind_all(row.msgid, row.infno, std::string(""), row.medins_setl_id, row.psn_no, std::int64_t{0},
                           row.chrg_bchno, row.insutype, std::int64_t{1}, std::int64_t{0}, row.origin, row.local_id,
                           row.parts.total.fen(), row.parts.fund.fen(), row.parts.account.fen(), row.parts.cash.fen(),
                           row.lines_json, row.state, row.setl_time, row.clr_date, (*p)->insuplc_admdvs));
    SIM_CHECK(st->run());
    answer["setl_id"] = setl_id_of(db.last_insert_rowid());
  }
  if (auto c = tx->commit(); !c) return db_error(c.error());
  return answer;
}

}  // namespace settle::sim
