// The inpatient flows (stay_flows.hpp), made of the steps of flow_steps.hpp.
// Awaiters are named before they are awaited: GCC 12 mishandles temporaries
// in co_await.
#include "engine/stay_flows.hpp"

#include "engine/flow_steps.hpp"
#include "engine/limits.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace settle::flow {

namespace {

// A refusal decided from the ledger alone: the request's final answer. (Its
// arguments are named objects: GCC 12 destroys a temporary passed by value
// to a coroutine twice.)
BasicFlow<Outcome> refuse(std::string request_id, Error e) {
  auto fin = store_final(std::move(request_id), Answer::fail(std::move(e)));
  auto done = fin.run();
  co_return co_await done;
}

// One admission at a time: the request's end when the person has a stay
// open (a final refusal, its field and sentence the caller's, given the
// stay's id), or when the ledger cannot tell; nothing when none is open.
// (Named arguments only, as for `refuse`.)
BasicFlow<std::optional<Outcome>> no_open_stay(std::string request_id, std::string psn_no, std::string card_no,
                                               std::string field, std::string why) {
  auto a = ask(OpenStay{std::move(psn_no), std::move(card_no)});
  const auto open = take<OpenStayFound>(co_await a).adm_id;
  if (!open) co_return std::nullopt;
  if (*open < 0)
    co_return Outcome{Answer::fail(make_error(Reason::storage_failed, "ledger",
                                              "the ledger could not tell whether the person has an open stay; nothing "
                                              "was done"),
                                   false),
                      std::nullopt};
  Error refusal = make_error(Reason::invalid_state, std::move(field), fmt::format(fmt::runtime(why), *open));
  auto fin = refuse(std::move(request_id), std::move(refusal));
  auto done = fin.run();
  co_return co_await done;
}

Error stay_state_error(const StayView& v, std::string_view what) {
  return make_error(Reason::invalid_state, "adm_id",
                    fmt::format("stay {} is {}: {}", v.stay.adm_id, stay_state_name(v.stay.state), what));
}

// No admission without the insurer but by the card: the red list, which
// names the person offline, is kept by card.
Error no_offline_admission(CertType cert) {
  return make_error(Reason::insurer_unreachable, "credential",
                    fmt::format("an admission without the insurer needs the medical-insurance card (the red list is kept "
                                "by card), and the patient was identified by {}: nothing was admitted or stored; admit "
                                "again when the line is back, or with the card",
                                cert == CertType::id_no ? "ID number" : "e-voucher"));
}

StayAnswer stay_answer(const StayView& v) {
  StayAnswer a;
  a.stay = v.stay;
  a.lines_count = v.live_count;
  a.total_so_far = v.live_total;
  return a;
}

}  // namespace

std::vector<ChargeLine> charge_lines(const std::vector<StayLine>& lines) {
  std::vector<ChargeLine> out;
  out.reserve(lines.size());
  for (const StayLine& l : lines) out.push_back(l.line);
  return out;
}

std::optional<Error> not_stays_person(const StayRecord& stay, const std::string& card_no, const std::string& psn_no) {
  const bool cards = !stay.card_no.empty() && !card_no.empty();
  const bool persons = !stay.psn_no.empty() && !psn_no.empty();
  if (cards && stay.card_no != card_no)
    return make_error(Reason::card_mismatch, "card", "the card at the window is not the stay's");
  if (persons && stay.psn_no != psn_no)
    return make_error(Reason::card_mismatch, "credential",
                      fmt::format("the credential at the window is not of stay {}'s person", stay.adm_id));
  if (cards || persons) return std::nullopt;
  if (stay.psn_no.empty())
    return make_error(Reason::card_mismatch, "card",
                      fmt::format("stay {} was admitted by a card the insurer has not named a person for yet: only that "
                                  "card, read at the window, acts on it",
                                  stay.adm_id));
  return make_error(Reason::card_mismatch, "credential",
                    fmt::format("the window holds no credential known to be of stay {}'s person: read the stay's card, "
                                "or give the person's e-voucher or ID number",
                                stay.adm_id));
}

Result<Split> stay_preview(const Policy& policy, const Person& person, const StayView& stay, const SplitOptions& options) {
  if (stay.stay.state != StayState::admitted) return stay_state_error(stay, "there is nothing to preview");
  if (stay.live_lines.empty())
    return make_error(Reason::invalid_state, "adm_id", fmt::format("stay {} has no live charge line", stay.stay.adm_id));
  SplitOptions o = options;
  o.visit = VisitType::inpatient;
  return split(policy, person, stay.live_lines, o);
}

// ---- inpatient.admit -------------------------------------------------------------------

Flow admit_flow(AdmitInput in) {
  {
    auto a = ask(CheckCard{});
    auto card = take<CardChecked>(co_await a);
    if (!card.status) co_return Outcome{Answer::fail(card.status.error(), false), std::nullopt};
  }
  bool online = in.line_online;
  // The e-voucher and the ID number admit online only (no_offline_admission).
  const bool by_card = in.cert_type == CertType::card;
  std::string psn_no;
  std::string insutype;
  // The person's insured area: on the admission's call, its reversal and
  // every later call of the stay (from the window, or the insurer's 1101).
  std::string area = in.insuplc_admdvs;
  if (online) {
    auto a = ask(FindPerson{true, in.budget.insurer_deadline()});
    auto found = take<PersonFound>(co_await a);
    if (found.unanswered) {
      online = false;
    } else if (!found.person) {
      co_return Outcome{person_refused(found, make_error(Reason::not_found, "card", "no such person")), std::nullopt};
    } else {
      psn_no = found.psn_no;
      insutype = found.person->insutype;
      if (area.empty()) area = found.insuplc_admdvs;
    }
  }
  if (!online && !by_card) co_return Outcome{Answer::fail(no_offline_admission(in.cert_type), false), std::nullopt};
  if (!online) {
    // The red list names the person when it can; else the stay is the card's.
    auto a = ask(FindPerson{false, 0});
    auto found = take<PersonFound>(co_await a);
    if (found.person) {
      psn_no = found.psn_no;
      insutype = found.person->insutype;
    }
  }
  {
    const std::string field = "card";
    const std::string why = "the person has an open stay (adm_id {}): one admission at a time; discharge or undo it first";
    auto check = no_open_stay(in.request_id, psn_no, in.card_no, field, why);
    auto checking = check.run();
    if (auto end = co_await checking) co_return std::move(*end);
  }
  if (online && !by_card) {
    // Not stored to be forwarded after the reversal: it waits for it.
    auto first = reversals_first(psn_no, "admit the patient");
    auto waiting = first.run();
    if (auto no = co_await waiting) co_return Outcome{std::move(*no), std::nullopt};
  } else if (online) {
    auto a = ask(ReversalsOpen{psn_no});
    // An earlier call of this person is still being reversed: it goes first,
    // so the admission is stored and forwarded after it.
    if (take<ReversalsCount>(co_await a).open > 0) online = false;
  }

  StayRecord st;
  st.request_id = in.request_id;
  st.window = in.window;
  st.operator_id = in.operator_id;
  st.card_no = in.card_no;
  st.card_sn = in.card_sn;
  st.psn_no = psn_no;
  st.insutype = insutype;
  st.dept = in.dept;
  st.dept_name = in.dept_name;
  st.diagnosis = in.diagnosis;
  st.diagnosis_name = in.diagnosis_name;
  st.admit_at = in.admit_at;
  st.insuplc_admdvs = area;
  std::optional<std::string> in_doubt_msgid;
  std::optional<std::string> unsent_msgid;
  OfflineCause cause = OfflineCause::network_down;

  if (online) {
    auto issue = durable_msgid(Txn::admit, in.request_id, psn_no, area);
    auto issuing = issue.run();
    DurableMsgid durable = co_await issuing;
    if (durable.error) co_return Outcome{Answer::fail(*durable.error, false), std::nullopt};
    std::string msgid = durable.msgid;
    InsurerCall c;
    c.txn = Txn::admit;
    c.msgid = msgid;
    c.deadline_at = in.budget.insurer_deadline();
    c.request_id = in.request_id;
    c.psn_no = psn_no;
    c.card_no = in.card_no;
    c.insutype = insutype;
    c.med_type = "21";
    c.visit_ref = in.request_id;
    c.dept = in.dept;
    c.dept_name = in.dept_name;
    c.diagnosis = in.diagnosis;
    c.diagnosis_name = in.diagnosis_name;
    c.at = in.admit_at;
    c.cert_type = in.cert_type;
    c.cert_no = in.cert_no;
    c.insuplc_admdvs = area;
    c.facts = in.facts;
    auto a = ask(Call{std::move(c)});
    InsurerReply r = take<Replied>(co_await a).reply;
    if (!r.carried_by.empty()) msgid = r.carried_by;
    if (r.outcome == CallOutcome::ok && r.mdtrt_id.empty()) {
      // An admission without its visit id cannot be used: reversed, and refused.
      Answer no = Answer::fail(make_error(Reason::insurer_rejected, "insurer",
                                          "the insurer's 2401 answer gives no visit id (mdtrt_id); it is being reversed (冲正)"));
      auto fin = reverse_call(msgid, Txn::admit, psn_no, in.request_id, std::move(no));
      auto done = fin.run();
      co_return co_await done;
    }
    if (r.outcome == CallOutcome::ok) {
      st.mode = Mode::online;
      st.mdtrt_id = r.mdtrt_id;
      st.msgid = msgid;
      Answer yes;
      yes.stay = StayAnswer{StayAnswer::Kind::admitted, st, 0, Amount::zero(), 0, true};
      auto b = ask(Commit{RecordAdmission{st, std::nullopt, std::nullopt, yes}});
      auto w = take<Committed>(co_await b);
      if (w.status) {
        yes.stay->stay.adm_id = w.id;
        co_return Outcome{std::move(yes), std::nullopt};
      }
      Answer held = Answer::fail(make_error(Reason::in_doubt, "ledger",
                                            fmt::format("the insurer admitted the patient but the ledger could not record it "
                                                        "({}); the admission is being reversed (冲正): admit again with a new "
                                                        "request id once the status shows nothing in doubt",
                                                        w.status.error().message)));
      auto fin = reverse_call(msgid, Txn::admit, psn_no, in.request_id, std::move(held));
      auto done = fin.run();
      co_return co_await done;
    }
    if (r.outcome == CallOutcome::refused) {
      Error unsent = make_error(Reason::insurer_unreachable, "insurer", "nothing was sent");
      auto fin = call_failed(msgid, Txn::admit, r, psn_no, in.request_id, std::move(unsent));
      auto done = fin.run();
      co_return co_await done;
    }
    if (!by_card) {
      // Not stored offline: the admission in doubt is reversed, one never sent closed.
      Error no = no_offline_admission(in.cert_type);
      if (r.outcome == CallOutcome::in_doubt) {
        Answer held = Answer::fail(make_error(Reason::in_doubt, "insurer",
                                              fmt::format("the insurer did not answer the admission (2401); it is being "
                                                          "reversed (冲正). {}",
                                                          no.message)));
        auto fin = reverse_call(msgid, Txn::admit, psn_no, in.request_id, std::move(held));
        auto done = fin.run();
        co_return co_await done;
      }
      RecordCallFailed rec = failed_call(msgid, Txn::admit, CallOutcome::unreachable, psn_no, in.request_id, std::nullopt);
      Answer again = Answer::fail(std::move(no), false);
      auto fin = record_failed(std::move(rec), std::move(again), true);
      auto done = fin.run();
      co_return co_await done;
    }
    if (r.outcome == CallOutcome::in_doubt) {
      in_doubt_msgid = msgid;
      cause = OfflineCause::in_doubt;
    } else {
      unsent_msgid = msgid;
    }
  }

  // Offline: stored with its admission queued (after the reversal of a 2401
  // left in doubt), forwarded when the line is back.
  (void)cause;
  st.mode = Mode::offline;
  Answer yes;
  yes.stay = StayAnswer{StayAnswer::Kind::admitted, st, 0, Amount::zero(), 0, false};
  auto b = ask(Commit{RecordAdmission{st, in_doubt_msgid, unsent_msgid, yes}});
  auto w = take<Committed>(co_await b);
  if (w.status) {
    yes.stay->stay.adm_id = w.id;
    co_return Outcome{std::move(yes), std::nullopt};
  }
  if (in_doubt_msgid) {
    Answer held = Answer::fail(make_error(Reason::in_doubt, "ledger",
                                          fmt::format("the insurer did not answer the admission and the ledger could not "
                                                      "store it ({}); it is being reversed (冲正)",
                                                      w.status.error().message)));
    auto fin = reverse_call(*in_doubt_msgid, Txn::admit, psn_no, in.request_id, std::move(held));
    auto done = fin.run();
    co_return co_await done;
  }
  std::optional<RecordCallFailed> close;
  if (unsent_msgid) close = failed_call(*unsent_msgid, Txn::admit, CallOutcome::unreachable, psn_no, in.request_id, std::nullopt);
  co_return Outcome{Answer::fail(w.status.error(), false), close};
}

// ---- inpatient.add_lines / inpatient.cancel_lines ----------------------------------------

Flow stay_lines_flow(StayLinesInput in) {
  const bool adding = !in.added.empty();
  SETTLE_ASSERT(adding != !in.cancelled.empty());
  const StayView& v = in.stay;
  if (v.stay.state != StayState::admitted) {
    Error refusal = stay_state_error(v, adding ? "no line can be added to it"
                                                                : "no line of it can be cancelled");
    auto fin = refuse(in.request_id, std::move(refusal));
    auto done = fin.run();
    co_return co_await done;
  }
  // The request's own checks: line numbers once each, lines well formed, the stay's size.
  std::optional<Error> bad;
  std::vector<std::string> sns;
  Amount taken_back;  // cancel: the live lines' amounts
  {
    std::set<std::string> seen;
    const std::size_t n = adding ? in.added.size() : in.cancelled.size();
    for (std::size_t i = 0; i < n && !bad; ++i) {
      const std::string& sn = adding ? in.added[i].feedetl_sn : in.cancelled[i];
      const std::string field = adding ? fmt::format("lines[{}].feedetl_sn", i) : fmt::format("feedetl_sn[{}]", i);
      if (sn.empty() || sn.size() > limits::max_feedetl_sn_len)
        bad = make_error(Reason::invalid_request, field,
                         fmt::format("a line number is 1 to {} characters", limits::max_feedetl_sn_len));
      else if (!seen.insert(sn).second)
        bad = make_error(Reason::invalid_request, field, fmt::format("line number \"{}\" is given twice", sn));
      sns.push_back(sn);
    }
  }
  if (!bad && adding) {
    if (Status s = validate_lines(charge_lines(in.added)); !s) bad = s.error();
  }
  if (!bad && adding &&
      static_cast<std::size_t>(v.live_count + v.cancelled_count) + in.added.size() > limits::max_lines_per_admission)
    bad = make_error(Reason::limit_exceeded, "lines",
                     fmt::format("a stay holds at most {} lines; stay {} has {}", limits::max_lines_per_admission, v.stay.adm_id,
                                 v.live_count + v.cancelled_count));
  if (!bad) {
    auto a = ask(LinesHeld{v.stay.adm_id, sns});
    const auto held = take<LinesFound>(co_await a).held;
    std::set<std::string> present, cancelled;
    for (const HeldLine& h : held) {
      present.insert(h.feedetl_sn);
      if (h.cancelled) cancelled.insert(h.feedetl_sn);
      else if (!adding) taken_back += h.amount;
    }
    for (std::size_t i = 0; i < sns.size() && !bad; ++i) {
      const std::string field = adding ? fmt::format("lines[{}].feedetl_sn", i) : fmt::format("feedetl_sn[{}]", i);
      if (adding && present.contains(sns[i]))
        bad = make_error(Reason::invalid_request, field,
                         fmt::format("stay {} already holds line number \"{}\"", v.stay.adm_id, sns[i]));
      else if (!adding && !present.contains(sns[i]))
        bad = make_error(Reason::not_found, field, fmt::format("stay {} has no line number \"{}\"", v.stay.adm_id, sns[i]));
      else if (!adding && cancelled.contains(sns[i]))
        bad = make_error(Reason::invalid_request, field, fmt::format("line number \"{}\" is cancelled already", sns[i]));
    }
  }
  if (bad) {
    auto fin = refuse(in.request_id, std::move(*bad));
    auto done = fin.run();
    co_return co_await done;
  }

  // What the stay comes to with this request.
  StayAnswer after = stay_answer(v);
  after.kind = adding ? StayAnswer::Kind::lines_added : StayAnswer::Kind::lines_cancelled;
  if (adding) {
    for (const StayLine& l : in.added) after.total_so_far += l.line.amount;
    after.lines_count += static_cast<std::int64_t>(in.added.size());
    after.changed = static_cast<std::int64_t>(in.added.size());
  } else {
    after.total_so_far -= taken_back;
    after.lines_count -= static_cast<std::int64_t>(in.cancelled.size());
    after.changed = static_cast<std::int64_t>(in.cancelled.size());
  }
  // Sent now when the insurer has the stay and nothing of it waits before.
  const bool sending = in.line_online && !v.stay.mdtrt_id.empty() && v.open_items == 0;
  Answer yes;
  yes.stay = after;
  std::int64_t item = 0;
  {
    auto a = ask(Commit{RecordStayLines{v.stay.adm_id, in.request_id, in.added, in.cancelled, sending,
                                        in.budget.deadline_at, yes}});
    auto w = take<Committed>(co_await a);
    if (!w.status) co_return Outcome{Answer::fail(w.status.error(), false), std::nullopt};
    item = w.id;
  }
  if (!sending) co_return Outcome{std::move(yes), std::nullopt};

  InsurerCall c;
  c.txn = adding ? Txn::stay_lines : Txn::cancel_lines;
  c.deadline_at = in.budget.insurer_deadline();
  c.request_id = in.request_id;
  c.psn_no = v.stay.psn_no;
  c.card_no = v.stay.card_no;
  c.insutype = v.stay.insutype;
  c.insuplc_admdvs = v.stay.insuplc_admdvs;
  c.mdtrt_id = v.stay.mdtrt_id;
  c.adm_id = v.stay.adm_id;
  c.visit_ref = in.request_id;
  c.stay_lines = in.added;
  c.feedetl_sns = in.cancelled;
  auto a = ask(Call{std::move(c)});
  const InsurerReply r = take<Replied>(co_await a).reply;
  const bool taken = r.outcome == CallOutcome::ok;
  // Not taken: the item goes back to the queue and the forwarder sends it
  // (2301 and 2302 may be sent again: the insurer takes a line number once).
  auto b = ask(Commit{StayItemSent{item, taken, taken ? std::string() : std::string(call_outcome_name(r.outcome)) + ": " + r.detail}});
  (void)take<Committed>(co_await b);  // not recorded: the item is taken back at start-up and sent again
  yes.stay->sent = taken;
  co_return Outcome{std::move(yes), std::nullopt};
}

// ---- inpatient.discharge ---------------------------------------------------------------

Flow discharge_flow(DischargeInput in) {
  SETTLE_ASSERT(in.policy != nullptr);
  const StayView& v = in.stay;
  if (v.stay.state != StayState::admitted) {
    Error refusal = stay_state_error(v, v.stay.state == StayState::discharged
                                                             ? "undo its discharge settlement first to settle it again"
                                                             : "it cannot be discharged");
    auto fin = refuse(in.request_id, std::move(refusal));
    auto done = fin.run();
    co_return co_await done;
  }
  if (v.live_lines.empty()) {
    Error refusal = make_error(Reason::invalid_state, "adm_id",
                                                fmt::format("stay {} has no live charge line to settle; undo the admission "
                                                            "instead",
                                                            v.stay.adm_id));
    auto fin = refuse(in.request_id, std::move(refusal));
    auto done = fin.run();
    co_return co_await done;
  }
  {
    auto a = ask(CheckCard{});
    auto card = take<CardChecked>(co_await a);
    if (!card.status) co_return Outcome{Answer::fail(card.status.error(), false), std::nullopt};
  }
  // The stay's person at the window: by person, and by card where both have one.
  if (auto no = not_stays_person(v.stay, in.card_no, in.psn_no))
    co_return Outcome{Answer::fail(std::move(*no), false), std::nullopt};
  // Without offline settlement the discharge waits for the insurer to have
  // the whole stay (its admission and every batch being forwarded).
  // So does a discharge without the card (the offline settlement is the card's).
  const bool no_offline = !profile_or_regional(in.profile).offline || in.cert_type != CertType::card;
  if (no_offline && in.line_online && (v.stay.mdtrt_id.empty() || v.open_items > 0))
    co_return Outcome{Answer::fail(make_error(Reason::invalid_state, "adm_id",
                                              fmt::format("stay {} has {} item(s) still being forwarded to the insurer and "
                                                          "{}: discharge once they are",
                                                          v.stay.adm_id, std::max<std::int64_t>(v.open_items, 1),
                                                          !profile_or_regional(in.profile).offline
                                                              ? "this insurer has no offline settlement"
                                                              : "without the card there is no offline settlement")),
                                   false),
                      std::nullopt};

  ChargeRequest charge;
  charge.of = RecordOf{in.request_id, in.window, in.operator_id, in.card_no, in.card_sn, "21", VisitType::inpatient,
                       v.stay.adm_id};
  // Settled by reference to the stay's lines: those numbered up to its last,
  // less the cancelled ones so far (the ledger checks they are still that).
  charge.of.stay_lines = StayLinesRef{v.live_count + v.cancelled_count, v.cancelled_count, {}};
  charge.lines = std::move(in.stay.live_lines);  // (v is in.stay: not read after this)
  charge.use_account = in.use_account;
  charge.pin_verified = in.pin_verified;
  // Online only when the insurer has the whole stay: its admission and every batch.
  charge.online = in.line_online && !v.stay.mdtrt_id.empty() && v.open_items == 0;
  if (!in.line_online) charge.offline_cause = in.line_cause;
  charge.fresh_person = true;
  charge.psn_no = v.stay.psn_no;
  charge.insutype = v.stay.insutype;
  charge.mdtrt_id = v.stay.mdtrt_id;
  charge.at = in.discharge_at;
  charge.budget = in.budget;
  charge.limits = in.limits;
  charge.policy = in.policy;
  charge.profile = in.profile;
  charge.acct_auth = in.acct_auth;
  charge.of.cert_type = in.cert_type;
  charge.of.cert_no = in.cert_no;
  charge.of.insuplc_admdvs = in.insuplc_admdvs.empty() ? v.stay.insuplc_admdvs : in.insuplc_admdvs;
  charge.of.facts = in.facts;
  auto settling = settle_charge(std::move(charge));
  auto r = settling.run();
  co_return co_await r;
}

// ---- inpatient.undo_discharge -------------------------------------------------------------

Flow undo_discharge_flow(UndoDischargeInput in) {
  // The calls go to the person's insured area: the settlement's, else the stay's.
  if (in.stay.settlement && in.stay.settlement->settlement.insuplc_admdvs.empty())
    in.stay.settlement->settlement.insuplc_admdvs = in.stay.stay.insuplc_admdvs;
  const StayView& v = in.stay;
  if (v.stay.state != StayState::discharged || !v.settlement) {
    Error refusal = stay_state_error(v, "only a discharged stay's settlement can be undone");
    auto fin = refuse(in.request_id, std::move(refusal));
    auto done = fin.run();
    co_return co_await done;
  }
  const OriginalView& o = *v.settlement;
  const SettlementRecord& orig = o.settlement;
  if (auto no = not_now(o, in.card_no, in.psn_no, in.line_online, "the undo of a discharge settlement is made online only; nothing was changed"))
    co_return Outcome{std::move(*no), std::nullopt};
  if (auto no = not_stays_person(v.stay, in.card_no, in.psn_no))
    co_return Outcome{Answer::fail(std::move(*no), false), std::nullopt};
  std::optional<Error> refused;
  if (orig.state == SettlementState::offline_pending)
    refused = make_error(Reason::not_refundable_yet, "adm_id",
                         "the stay's offline discharge settlement has not been accepted by the insurer yet");
  else if (!resettleable(orig.state))
    refused = make_error(Reason::invalid_state, "adm_id",
                         fmt::format("the stay's settlement {} is {}: it cannot be undone", orig.setl_id,
                                     settlement_state_name(orig.state)));
  else if (orig.insurer_setl_id.empty() || orig.mdtrt_id.empty())
    refused = make_error(Reason::invalid_state, "adm_id",
                         "the insurer gave no settlement or visit id for the stay's settlement, so it cannot be undone "
                         "(2305); the insurance office corrects it");
  else
    refused = undo_refusal(o, "adm_id");
  if (refused) {
    auto fin = refuse(in.request_id, std::move(*refused));
    auto done = fin.run();
    co_return co_await done;
  }
  {
    auto a = ask(CheckCard{});
    auto card = take<CardChecked>(co_await a);
    if (!card.status) co_return Outcome{Answer::fail(card.status.error(), false), std::nullopt};
  }
  const std::string psn_no = orig.psn_no.empty() ? v.stay.psn_no : orig.psn_no;
  {
    // The stay opens again: not beside another one of the person's (one
    // admission at a time, here and at the insurer).
    const std::string field = "adm_id";
    const std::string why = "the person has another open stay (adm_id {}): this one cannot be opened again until that "
                            "one is discharged or undone; nothing was changed";
    auto check = no_open_stay(in.request_id, psn_no, v.stay.card_no, field, why);
    auto checking = check.run();
    if (auto end = co_await checking) co_return std::move(*end);
  }
  {
    auto first = reversals_first(psn_no, "undo the discharge settlement");
    auto waiting = first.run();
    if (auto no = co_await waiting) co_return Outcome{std::move(*no), std::nullopt};
  }
  auto rest = lines_left(o);
  if (!rest) {
    auto fin = refuse(in.request_id, rest.error());
    auto done = fin.run();
    co_return co_await done;
  }
  Answer yes;
  StayAnswer reopened = stay_answer(v);
  reopened.stay.state = StayState::admitted;
  reopened.kind = StayAnswer::Kind::reopened;
  yes.stay = reopened;
  UndoRequest u;
  u.of = RecordOf{in.request_id, in.window, in.operator_id, {}, {}, {}};
  u.original = orig;
  u.psn_no = psn_no;
  u.card_no = in.card_no;
  u.left = *left_of(o);  // checked by undo_refusal
  u.rest = *rest;
  u.deadline_at = in.budget.insurer_deadline();
  u.reopens_adm_id = v.stay.adm_id;
  u.answer = yes;
  auto undoing = undo_settlement(std::move(u));
  auto undo_run = undoing.run();
  UndoDone undone = co_await undo_run;
  if (undone.ends) co_return std::move(*undone.ends);
  yes.refund = undone.undo;
  co_return Outcome{std::move(yes), std::nullopt};
}

// ---- inpatient.undo_admit -------------------------------------------------------------------

Flow undo_admit_flow(UndoAdmitInput in) {
  const StayView& v = in.stay;
  std::optional<Error> refused;
  if (v.stay.state != StayState::admitted)
    refused = stay_state_error(v, "only an open stay's admission can be undone");
  else if (v.live_count > 0)
    refused = make_error(Reason::invalid_state, "adm_id",
                         fmt::format("stay {} has {} live line(s): cancel them before the admission is undone", v.stay.adm_id,
                                     v.live_count));
  if (refused) {
    auto fin = refuse(in.request_id, std::move(*refused));
    auto done = fin.run();
    co_return co_await done;
  }
  Answer yes;
  StayAnswer undone = stay_answer(v);
  undone.stay.state = StayState::undone;
  undone.kind = StayAnswer::Kind::undone;
  yes.stay = undone;
  if (!v.stay.mdtrt_id.empty()) {
    // The insurer has the admission: it is undone there first (2404 may be
    // asked again: an undone admission answers so).
    if (!in.line_online)
      co_return Outcome{Answer::fail(make_error(Reason::insurer_unreachable, "insurer",
                                                "the insurer has this admission and is unreachable now; its undo (2404) is "
                                                "made online only: nothing was changed"),
                                     false),
                        std::nullopt};
    if (v.open_items > 0)
      co_return Outcome{Answer::fail(make_error(Reason::invalid_state, "adm_id",
                                                fmt::format("stay {} has {} item(s) still being forwarded to the insurer; "
                                                            "ask again once they are",
                                                            v.stay.adm_id, v.open_items)),
                                     false),
                        std::nullopt};
    InsurerCall c;
    c.txn = Txn::undo_admit;
    c.deadline_at = in.budget.insurer_deadline();
    c.request_id = in.request_id;
    c.psn_no = v.stay.psn_no;
    c.card_no = v.stay.card_no;
    c.insuplc_admdvs = v.stay.insuplc_admdvs;
    c.mdtrt_id = v.stay.mdtrt_id;
    c.adm_id = v.stay.adm_id;
    auto a = ask(Call{std::move(c)});
    const InsurerReply r = take<Replied>(co_await a).reply;
    // An error page is not the insurer's refusal: the undo may have been
    // made behind it, so it is asked again (below), never stored as refused.
    if (r.outcome == CallOutcome::refused && !r.system_error) {
      Answer no = refused_answer(r, Txn::undo_admit);
      auto fin = store_final(in.request_id, std::move(no));
      auto done = fin.run();
      co_return co_await done;
    }
    if (r.outcome != CallOutcome::ok)
      co_return Outcome{Answer::fail(make_error(Reason::insurer_unreachable, "insurer",
                                                fmt::format("the insurer did not answer the undo of the admission (2404: {}); "
                                                            "nothing was changed here: ask again",
                                                            r.detail)),
                                     false),
                        std::nullopt};
  }
  auto b = ask(Commit{RecordUndoAdmission{v.stay.adm_id, in.request_id, yes}});
  auto w = take<Committed>(co_await b);
  if (!w.status) co_return Outcome{Answer::fail(w.status.error(), false), std::nullopt};
  co_return Outcome{std::move(yes), std::nullopt};
}

}  // namespace settle::flow
