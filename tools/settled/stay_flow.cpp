// The inpatient methods (inpatient.*): each claims its request, reads its
// stay under the stay's lock, runs its flow (engine/stay_flows.hpp) through
// the call's seams and answers how it ended; and the stay's reads (preview,
// get, list).
#include "engine/stay_flows.hpp"
#include "offline/flow_ledger.hpp"
#include "offline/stay_ops.hpp"
#include "protocol/engine_json.hpp"
#include "tools/settled/call_seams.hpp"
#include "tools/settled/clock.hpp"
#include "tools/settled/key_lock.hpp"
#include "tools/settled/logging.hpp"
#include "tools/settled/records.hpp"
#include "tools/settled/replies.hpp"
#include "tools/settled/service.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace settle::daemon {

using json::Json;

namespace {

// One request that changes a stay at a time: each decides on what the one
// before it left.
using StayLock = KeyLock<std::int64_t>;

Reply busy(std::int64_t adm_id) {
  return fail(Reason::invalid_state, "adm_id",
              fmt::format("another request of stay {} is in progress; ask again in a moment", adm_id));
}

Reply no_stay(std::string_view adm_id) { return fail(Reason::not_found, "adm_id", fmt::format("no stay \"{}\"", adm_id)); }

// A time the cashier gave, or now.
std::optional<std::int64_t> time_or_now(const std::optional<std::string>& t) {
  if (!t) return now_ms();
  return parse_iso_time(*t);
}

// The window's credential as the admission lock knows it ("card:…", "e-voucher:…", "id:…").
std::string credential_key(const HeldIdentity& held) {
  return fmt::format("{}:{}", flow::cert_type_name(held.cert_type), held.cert_no);
}

Json stay_items_json(const std::vector<ledger::StayItem>& items) {
  Json arr = Json::array();
  for (const ledger::StayItem& i : items) {
    Json j{{"item_id", i.item_id}, {"kind", ledger::name(i.kind)}, {"state", ledger::name(i.state)}, {"attempts", i.attempts}};
    if (i.request_id) j["request_id"] = *i.request_id;
    if (i.setl_id) j["setl_id"] = std::to_string(*i.setl_id);
    if (i.last_error) j["last_error"] = *i.last_error;
    arr.push_back(std::move(j));
  }
  return arr;
}

Json stay_summary(const ledger::StayRow& r) {
  Json j = stay_answer(r.stay);
  j["admit_time"] = iso_time(r.stay.admit_at);
  j["discharge_time"] = r.stay.discharge_at != 0 ? Json(iso_time(r.stay.discharge_at)) : Json(nullptr);
  j["lines_count"] = r.live_count;
  j["cancelled_count"] = r.cancelled_count;
  j["total_so_far"] = json::amount_value(r.live_total);
  return j;
}

}  // namespace

awaitable<WindowPerson> Service::window_person(const cashier::SessionInfo& s) {
  WindowPerson out;
  if (const WindowSession& ws = session_of(s.connection_id); ws.person) {
    out.psn_no = ws.person->base.psn_no;
    co_return out;
  }
  // Not known since the credential was given (or since the balance moved):
  // asked now; the flow's own question has the answer from the window then.
  Reply refusal;
  auto v = co_await person_of(s, false, refusal);
  if (v) out.psn_no = v->base.psn_no;
  else out.refusal = refusal;
  out.unanswered = (v && v->from_redlist) || (!v && refusal.error && is_unanswered(refusal.error->error.reason));
  co_return out;
}

awaitable<std::optional<flow::StayView>> Service::stay_of(const std::string& adm_id, bool with_lines,
                                                          const std::string& request_id, Reply& refusal) {
  const auto id = parse_setl_id(adm_id);
  std::optional<sql::Result<std::optional<flow::StayView>>> v;
  if (id) {
    auto job = [id = *id, with_lines](sql::Db& db) { return ledger::stay_view(db, id, with_lines); };
    v.emplace(co_await ledger_read(p_.ledger, p_.db_pool, std::move(job)));
    if (!*v) {
      refusal = fail(v->error().to_error());
      co_return std::nullopt;
    }
  }
  if (!v || !(**v).has_value()) {
    // Arguments of a coroutine are named objects (a temporary would be gone
    // when it resumes).
    // (No co_await inside a conditional expression: GCC 12 miscompiles it.)
    const Reply unknown = no_stay(adm_id);
    if (request_id.empty()) {
      refusal = unknown;
    } else {
      Reply stored = co_await answer_final(request_id, unknown);
      refusal = std::move(stored);
    }
    co_return std::nullopt;
  }
  co_return std::move(**v);
}

// ---- inpatient.admit --------------------------------------------------------------

awaitable<Reply> Service::inpatient_admit(const cashier::SessionInfo& s, const cashier::Call& call,
                                          const cashier::InpatientAdmitParams& p) {
  if (!session_of(s.connection_id).holds_any())
    co_return fail(Reason::card_absent, "card",
                   "an admission needs the patient's credential: read the card (card.read), or give the e-voucher "
                   "(credential.scan) or the ID number (credential.id) first");
  const auto admit_at = time_or_now(p.admit_time);
  if (!admit_at) co_return fail(Reason::invalid_request, "admit_time", "admit_time: expected an ISO 8601 time with offset");
  // One admission of a person at a time: each checks that the person has no
  // open stay. Keyed by the credential and by the person the insurer (or the
  // red list) named for it, so a card and the same person's e-voucher at two
  // windows wait for each other.
  const WindowPerson person = co_await window_person(s);
  const WindowSession& ws = session_of(s.connection_id);
  if (!ws.holds_any())
    co_return fail(Reason::card_absent, "card", "the credential was taken back while the person was asked; give it again");
  const HeldIdentity held = identity_of(ws);
  const std::optional<reader::CardIdentity> held_card = ws.card;
  const KeyLock<std::string> admitting(admitting_, credential_key(held));
  std::optional<KeyLock<std::string>> admitting_person;  // the person not known: the credential alone
  if (!person.psn_no.empty()) admitting_person.emplace(admitting_, "person:" + person.psn_no);
  if (!admitting.taken() || (admitting_person && !admitting_person->taken()))
    co_return fail(Reason::invalid_state, "card", "another admission of this person is in progress; ask again in a moment");
  CallSeams seams(*this, s, held_card);
  seams.start_card_check();
  if (auto early = co_await claim_request(call, s)) {
    (void)co_await seams.check_card();
    co_return *early;
  }
  flow::AdmitInput in;
  in.request_id = p.request_id;
  in.window = s.window;
  in.operator_id = s.operator_name;
  if (held_card) {
    in.card_no = held_card->card_no;
    in.card_sn = held_card->card_sn;
  }
  in.dept = p.dept;
  in.dept_name = p.dept_name.value_or("");
  in.diagnosis = p.diagnosis;
  in.diagnosis_name = p.diagnosis_name.value_or("");
  in.admit_at = *admit_at;
  // The insurer left the person's question unanswered just now: not asked again (the red list, or no admission).
  in.line_online = network_.accepts_online_work() && !person.unanswered;
  in.budget = seams.budget();
  in.profile = &p_.config.insurer.profile;
  in.cert_type = held.cert_type;
  in.cert_no = held.cert_no;
  in.insuplc_admdvs = held.insuplc_admdvs;
  in.facts = visit_facts(p.visit);
  if (const WindowSession& now = session_of(s.connection_id); now.person) in.insuplc_admdvs = now.person->insu.insuplc_admdvs;
  flow::Flow f = flow::admit_flow(std::move(in));
  const flow::Outcome out = co_await drive(f, seams.seams());
  const Reply reply = co_await flow_answer(out, p.request_id);
  if (out.answer.ok() && out.answer.stay)
    spdlog::info("window {}: stay {} admitted ({}), department {}", s.window, out.answer.stay->stay.adm_id,
                 mode_name(out.answer.stay->stay.mode), p.dept);
  release_request(p.request_id);
  co_return reply;
}

// ---- inpatient.add_lines / inpatient.cancel_lines ----------------------------------

awaitable<Reply> Service::inpatient_lines(const cashier::SessionInfo& s, const cashier::Call& call,
                                          const std::string& request_id, const std::string& adm_id,
                                          const std::vector<flow::StayLine>& added,
                                          const std::vector<std::string>& cancelled) {
  const auto id = parse_setl_id(adm_id);
  if (!id) co_return no_stay(adm_id);
  const StayLock lock(changing_stays_, *id);
  if (!lock.taken()) co_return busy(*id);
  // No card: lines are charged to the stay, not at the window.
  CallSeams seams(*this, s, reader::CardIdentity{});
  if (auto early = co_await claim_request(call, s)) co_return *early;
  Reply reply = co_await [&]() -> awaitable<Reply> {
    Reply not_it;
    auto stay = co_await stay_of(adm_id, false, request_id, not_it);
    if (!stay) co_return not_it;
    flow::StayLinesInput in;
    in.request_id = request_id;
    in.stay = std::move(*stay);
    in.added = added;
    in.cancelled = cancelled;
    in.line_online = network_.accepts_online_work();
    in.budget = seams.budget();
    flow::Flow f = flow::stay_lines_flow(std::move(in));
    const flow::Outcome out = co_await drive(f, seams.seams());
    co_return co_await flow_answer(out, request_id);
  }();
  release_request(request_id);
  co_return reply;
}

// ---- inpatient.preview --------------------------------------------------------------

awaitable<Reply> Service::inpatient_preview(const cashier::SessionInfo& s, const cashier::InpatientPreviewParams& p) {
  Reply refusal;
  const std::string no_request;
  auto stay = co_await stay_of(p.adm_id, true, no_request, refusal);
  if (!stay) co_return refusal;
  auto v = co_await person_of(s, false, refusal);
  if (!v) co_return refusal;
  const WindowSession& ws = session_of(s.connection_id);
  const std::string window_card = ws.card ? ws.card->card_no : std::string();
  if (auto no = flow::not_stays_person(stay->stay, window_card, v->base.psn_no)) co_return fail(*no);
  const HeldIdentity held = identity_of(ws);
  SplitOptions opts;
  opts.visit = VisitType::inpatient;
  opts.use_account = p.use_account;
  // The account by the credential, as at the discharge: the card with its
  // PIN, the e-voucher when authorised, the ID number never.
  opts.pin_verified = ws.pin_verified;
  if (held.cert_type == flow::CertType::ec_voucher) {
    opts.pin_verified = held.acct_auth;
    if (p.use_account && !held.acct_auth) opts.no_account = SplitReason::account_not_authorised;
  } else if (held.cert_type == flow::CertType::id_no) {
    opts.pin_verified = false;
    if (p.use_account) opts.no_account = SplitReason::account_not_by_id;
  }
  if (v->from_redlist || stay->stay.mdtrt_id.empty() || stay->open_items > 0 || !network_.accepts_online_work()) {
    // What inpatient.discharge would store now: the red list's estimate within the inpatient limits.
    auto job = [now = now_ms()](sql::Db& db) { return ledger::outstanding_figures(db, now, VisitType::inpatient); };
    auto f = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
    if (!f) co_return fail(f.error().to_error());
    opts.offline = OfflineContext{OfflineCause::network_down, v->from_redlist, f->fund, f->count, f->oldest_age_s,
                                  p_.config.inpatient_offline_limits};
  }
  auto split = flow::stay_preview(p_.policy, v->engine_person(), *stay, opts);
  if (!split) co_return fail(split.error());
  Json j = json::split_to_json(*split);
  j["adm_id"] = std::to_string(stay->stay.adm_id);
  j["lines_count"] = stay->live_count;
  co_return Reply::ok(std::move(j));
}

// ---- inpatient.discharge -------------------------------------------------------------

awaitable<Reply> Service::inpatient_discharge(const cashier::SessionInfo& s, const cashier::Call& call,
                                              const cashier::InpatientDischargeParams& p) {
  const WindowSession& ws = session_of(s.connection_id);
  if (!ws.holds_any())
    co_return fail(Reason::card_absent, "card",
                   "the discharge settlement needs a credential of the stay's person: read the card (card.read), or give "
                   "the e-voucher (credential.scan) or the ID number (credential.id) first");
  const auto id = parse_setl_id(p.adm_id);
  if (!id) co_return no_stay(p.adm_id);
  const auto discharge_at = time_or_now(p.discharge_time);
  if (!discharge_at)
    co_return fail(Reason::invalid_request, "discharge_time", "discharge_time: expected an ISO 8601 time with offset");
  const StayLock lock(changing_stays_, *id);
  if (!lock.taken()) co_return busy(*id);
  const bool pin_verified = ws.pin_verified;
  const HeldIdentity held = identity_of(ws);
  const std::optional<reader::CardIdentity> held_card = ws.card;
  CallSeams seams(*this, s, held_card);
  seams.start_card_check();
  if (auto early = co_await claim_request(call, s)) {
    (void)co_await seams.check_card();
    co_return *early;
  }
  Reply reply = co_await [&]() -> awaitable<Reply> {
    Reply not_it;
    auto stay = co_await stay_of(p.adm_id, true, p.request_id, not_it);
    if (!stay) {
      (void)co_await seams.check_card();
      co_return not_it;
    }
    flow::DischargeInput in;
    in.request_id = p.request_id;
    in.window = s.window;
    in.operator_id = s.operator_name;
    if (held_card) {
      in.card_no = held_card->card_no;
      in.card_sn = held_card->card_sn;
    }
    // The stay's person: the window's card is the stay's, or its person is asked
    // (without a card, why it could not be had is the answer: an expired e-voucher, the line down).
    if (!held_card || held_card->card_no != stay->stay.card_no) {
      const WindowPerson person = co_await window_person(s);
      if (!held_card && person.psn_no.empty() && person.refusal) co_return *person.refusal;
      in.psn_no = person.psn_no;
    } else if (const WindowSession& now = session_of(s.connection_id); now.person) {
      in.psn_no = now.person->base.psn_no;
    }
    in.stay = std::move(*stay);
    in.use_account = p.use_account;
    in.pin_verified = pin_verified;
    in.discharge_at = *discharge_at;
    in.line_online = network_.accepts_online_work();
    in.line_cause = line_cause();
    in.budget = seams.budget();
    in.limits = p_.config.inpatient_offline_limits;
    in.policy = &p_.policy;
    in.profile = &p_.config.insurer.profile;
    in.cert_type = held.cert_type;
    in.cert_no = held.cert_no;
    in.acct_auth = held.acct_auth;
    in.insuplc_admdvs = held.insuplc_admdvs;
    if (const WindowSession& now = session_of(s.connection_id); now.person) in.insuplc_admdvs = now.person->insu.insuplc_admdvs;
    flow::Flow f = flow::discharge_flow(std::move(in));
    const flow::Outcome out = co_await drive(f, seams.seams());
    if (out.answer.ok() && out.answer.settlement) {
      const flow::SettlementRecord& st = *out.answer.settlement;
      p_.metrics.settlement(std::string(mode_name(st.mode)), st.mode == Mode::online ? "settled" : "stored");
      log_with(spdlog::level::info,
               LogFields{s.window, s.operator_name, p.request_id, std::to_string(st.setl_id),
                         st.mode == Mode::online ? "2304" : "", st.msgid},
               "window {}: stay {} discharged, settlement {} {} total {} (fund {}, account {}, cash {})", s.window,
               st.adm_id, st.setl_id, mode_name(st.mode), format_amount(st.parts.total), format_amount(st.parts.fund),
               format_amount(st.parts.account), format_amount(st.parts.cash));
      if (st.mode == Mode::online) session_of(s.connection_id).person.reset();  // the balance moved
    }
    co_return co_await flow_answer(out, p.request_id);
  }();
  release_request(p.request_id);
  co_return reply;
}

// ---- inpatient.undo_discharge / inpatient.undo_admit -------------------------------------

awaitable<Reply> Service::inpatient_undo_discharge(const cashier::SessionInfo& s, const cashier::Call& call,
                                                   const cashier::InpatientUndoDischargeParams& p) {
  const WindowSession& ws = session_of(s.connection_id);
  if (!ws.holds_any())
    co_return fail(Reason::card_absent, "card",
                   "the undo of a discharge needs a credential of the stay's person: read the card (card.read), or give "
                   "the e-voucher (credential.scan) or the ID number (credential.id) first");
  const auto id = parse_setl_id(p.adm_id);
  if (!id) co_return no_stay(p.adm_id);
  const StayLock lock(changing_stays_, *id);
  if (!lock.taken()) co_return busy(*id);
  CallSeams seams(*this, s, ws.card);
  const std::string card_no = ws.card ? ws.card->card_no : std::string();
  std::string psn_no = ws.person ? ws.person->base.psn_no : std::string();
  if (auto early = co_await claim_request(call, s)) co_return *early;
  Reply reply = co_await [&]() -> awaitable<Reply> {
    Reply not_it;
    auto stay = co_await stay_of(p.adm_id, false, p.request_id, not_it);
    if (!stay) co_return not_it;
    // The stay's person: the window's card is the stay's, or its person is asked.
    const bool by_its_card = !card_no.empty() && card_no == stay->stay.card_no &&
                             (!stay->settlement || stay->settlement->settlement.cert_type == flow::CertType::card);
    if (psn_no.empty() && !by_its_card) {
      const WindowPerson person = co_await window_person(s);
      // (With the line down the flow answers: the undo is made online only.)
      if (card_no.empty() && person.psn_no.empty() && person.refusal && network_.state() == NetworkState::online)
        co_return *person.refusal;
      psn_no = person.psn_no;
    }
    flow::UndoDischargeInput in;
    in.request_id = p.request_id;
    in.psn_no = psn_no;
    in.window = s.window;
    in.operator_id = s.operator_name;
    in.card_no = card_no;
    in.stay = std::move(*stay);
    // Online only: not while the line is down or its stored work is being forwarded.
    in.line_online = network_.state() == NetworkState::online;
    in.budget = seams.budget();
    in.profile = &p_.config.insurer.profile;
    flow::Flow f = flow::undo_discharge_flow(std::move(in));
    const flow::Outcome out = co_await drive(f, seams.seams());
    if (out.answer.ok()) session_of(s.connection_id).person.reset();
    co_return co_await flow_answer(out, p.request_id);
  }();
  release_request(p.request_id);
  co_return reply;
}

awaitable<Reply> Service::inpatient_undo_admit(const cashier::SessionInfo& s, const cashier::Call& call,
                                               const cashier::InpatientUndoAdmitParams& p) {
  const auto id = parse_setl_id(p.adm_id);
  if (!id) co_return no_stay(p.adm_id);
  const StayLock lock(changing_stays_, *id);
  if (!lock.taken()) co_return busy(*id);
  CallSeams seams(*this, s, reader::CardIdentity{});
  if (auto early = co_await claim_request(call, s)) co_return *early;
  Reply reply = co_await [&]() -> awaitable<Reply> {
    Reply not_it;
    auto stay = co_await stay_of(p.adm_id, false, p.request_id, not_it);
    if (!stay) co_return not_it;
    flow::UndoAdmitInput in;
    in.request_id = p.request_id;
    in.stay = std::move(*stay);
    in.line_online = network_.state() == NetworkState::online;
    in.budget = seams.budget();
    flow::Flow f = flow::undo_admit_flow(std::move(in));
    const flow::Outcome out = co_await drive(f, seams.seams());
    co_return co_await flow_answer(out, p.request_id);
  }();
  release_request(p.request_id);
  co_return reply;
}

// ---- inpatient.get / inpatient.list -------------------------------------------------------

awaitable<Reply> Service::inpatient_get(const cashier::SessionInfo& s, const cashier::InpatientGetParams& p) {
  const auto id = parse_setl_id(p.adm_id);
  if (!id) co_return no_stay(p.adm_id);
  std::int64_t after = 0;
  if (p.cursor) {
    const auto c = parse_setl_id(*p.cursor);
    if (!c) co_return fail(Reason::invalid_request, "cursor", "cursor: not a cursor this method gave");
    after = *c;
  }
  struct Read {
    std::optional<ledger::StayRow> row;
    std::vector<ledger::StayLineRow> lines;
    std::vector<ledger::StayItem> items;
    std::vector<ledger::Settlement> settlements;
  };
  auto job = [id = *id, after, limit = p.limit](sql::Db& db) -> sql::Result<Read> {
    Read r;
    auto row = ledger::find_stay(db, id);
    if (!row) return row.error();
    if (!row->has_value()) return r;
    r.row = std::move(**row);
    auto lines = ledger::stay_lines_page(db, id, after, limit);
    if (!lines) return lines.error();
    r.lines = std::move(*lines);
    auto items = ledger::stay_items_of(db, id);
    if (!items) return items.error();
    r.items = std::move(*items);
    auto setls = ledger::stay_settlements(db, id);
    if (!setls) return setls.error();
    // Each settlement's own row: its lines are the stay's, paged above.
    for (std::int64_t sid : *setls) {
      auto setl = ledger::settlement_row(db, sid);
      if (!setl) return setl.error();
      if (setl->has_value()) r.settlements.push_back(std::move(**setl));
    }
    return r;
  };
  auto r = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
  if (!r) co_return fail(r.error().to_error());
  // A cashier reads the stays admitted at its window; another window's is,
  // for it, one that does not exist.
  if (!r->row || (s.role == cashier::Role::cashier && r->row->stay.window != s.window)) co_return no_stay(p.adm_id);
  Json j = stay_summary(*r->row);
  Json lines = Json::array();
  for (const ledger::StayLineRow& l : r->lines) {
    Json line{{"feedetl_sn", l.line.feedetl_sn},
              {"code", l.line.line.code},
              {"name", l.line.line.name},
              {"class", line_class_name(l.line.line.cls)},
              {"amount", json::amount_value(l.line.line.amount)},
              {"batch_request_id", l.added_by},
              {"cancelled", l.cancelled_by.has_value()},
              {"uploaded", l.uploaded}};
    if (l.line.line.selfpay_ratio) line["selfpay_ratio"] = format_ratio(*l.line.line.selfpay_ratio);
    lines.push_back(std::move(line));
  }
  j["lines"] = std::move(lines);
  j["next_cursor"] = static_cast<std::int64_t>(r->lines.size()) == p.limit && !r->lines.empty()
                         ? Json(std::to_string(r->lines.back().line_no))
                         : Json(nullptr);
  Json setls = Json::array();
  for (const ledger::Settlement& st : r->settlements)
    setls.push_back(Json{{"setl_id", std::to_string(st.setl_id)},
                         {"state", ledger::name(st.state)},
                         {"mode", ledger::name(st.mode)},
                         {"total", json::amount_value(st.total)},
                         {"fund", json::amount_value(st.fund)},
                         {"account", json::amount_value(st.account)},
                         {"cash", json::amount_value(st.cash)}});
  j["settlements"] = std::move(setls);
  std::int64_t pending = 0;
  for (const ledger::StayItem& i : r->items)
    if (i.state == ledger::StayItemState::pending || i.state == ledger::StayItemState::in_flight ||
        i.state == ledger::StayItemState::parked)
      ++pending;
  j["pending_uploads"] = pending;
  j["uploads"] = stay_items_json(r->items);
  co_return Reply::ok(std::move(j));
}

awaitable<Reply> Service::inpatient_list(const cashier::SessionInfo& s, const cashier::InpatientListParams& p) {
  ledger::StayFilter f;
  f.state = p.state;
  f.dept = p.dept;
  const auto from = list_bound(p.from, "from", false);
  if (!from) co_return fail(from.error());
  const auto to = list_bound(p.to, "to", true);
  if (!to) co_return fail(to.error());
  f.from_ms = *from;
  f.to_ms = *to;
  if (p.cursor) {
    const auto c = parse_setl_id(*p.cursor);
    if (!c) co_return fail(Reason::invalid_request, "cursor", "cursor: not a cursor this method gave");
    f.after_adm_id = *c;
  }
  f.limit = p.limit;
  if (s.role == cashier::Role::cashier) f.window_id = s.window;  // its own window's stays only
  auto job = [f](sql::Db& db) { return ledger::list_stays(db, f); };
  auto rows = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
  if (!rows) co_return fail(rows.error().to_error());
  Json stays = Json::array();
  for (const ledger::StayRow& r : *rows) stays.push_back(stay_summary(r));
  Json out{{"stays", std::move(stays)}};
  out["next_cursor"] = static_cast<std::int64_t>(rows->size()) == p.limit && !rows->empty()
                           ? Json(std::to_string(rows->back().stay.adm_id))
                           : Json(nullptr);
  co_return Reply::ok(std::move(out));
}

}  // namespace settle::daemon
