// The daemon's seams for one cashier call (call_seams.hpp): each action a
// flow names becomes a ledger job, a read, a gateway call with its codec, or
// a card check; each outcome goes back as the flow's event.
#include "tools/settled/call_seams.hpp"

#include "offline/flow_ledger.hpp"
#include "protocol/cashier/mask.hpp"
#include "tools/settled/clock.hpp"
#include "tools/settled/insurer_calls.hpp"
#include "tools/settled/records.hpp"
#include "tools/settled/replies.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

namespace settle::daemon {

using json::Json;

namespace {

// Whether a change queues work for the line worker (a reversal, a stay's
// item): it is woken for it.
bool queues_reversal(const flow::LedgerChange& c) {
  if (const auto* f = std::get_if<flow::RecordCallFailed>(&c)) return f->outcome == flow::CallOutcome::in_doubt;
  if (const auto* o = std::get_if<flow::RecordOffline>(&c))
    return o->in_doubt_msgid.has_value() || o->settlement.visit == VisitType::inpatient;
  if (const auto* a = std::get_if<flow::RecordAdmission>(&c)) return a->stay.mode == Mode::offline;
  if (const auto* l = std::get_if<flow::RecordStayLines>(&c)) return !l->sending;
  if (const auto* t = std::get_if<flow::StayItemSent>(&c)) return !t->taken;
  return false;
}

}  // namespace

CallSeams::CallSeams(Service& service, const cashier::SessionInfo& session, std::optional<reader::CardIdentity> card)
    : svc_(service), session_(session), card_(std::move(card)), conventions_(&service.conventions_) {}

FlowSeams CallSeams::seams() { return FlowSeams{*this, *this, *this, *this, &svc_.p_.metrics}; }

void CallSeams::start_card_check() {
  if (!card_) return;  // an e-voucher or an ID number: nothing at the reader to check
  // Offline, the flow asks the red list next (the store's lookups are
  // thread-safe); a card that failed its check is never looked up.
  const redlist::Store* list = svc_.network_.accepts_online_work() ? nullptr : svc_.p_.redlist;
  auto job = [cards = &svc_.p_.cards, window = session_.window, card_sn = card_->card_sn, card_no = card_->card_no, list] {
    CardCheck c{cards->check_same_card(window, card_sn), std::nullopt};
    if (c.card && list != nullptr) c.listed.emplace(list->lookup(card_no));
    return c;
  };
  card_check_.emplace(Pending<CardCheck>::start_on(svc_.p_.card_pool, svc_.ioc_.get_executor(), std::move(job)));
}

flow::Budget CallSeams::budget() const {
  const NetworkConfig& n = svc_.p_.config.network;
  return flow::Budget{now_ms() + n.offline_deadline_ms + n.offline_reserve_ms, n.offline_reserve_ms};
}

// ---- the ledger ----

awaitable<flow::Committed> CallSeams::commit(const flow::LedgerChange& change) {
  const bool reversal = queues_reversal(change);
  auto job = [change, conv = conventions_, at = now_ms()](sql::Db& db) {
    return ledger::apply_change(db, change, *conv, at);
  };
  auto r = co_await ledger_write(svc_.p_.ledger, std::move(job));
  if (r && reversal) svc_.reversal_wakeup_.cancel();  // the line worker forwards it now
  if (!r && !ledger::is_stale_offline(r.error()))
    spdlog::error("ledger: {} failed: {}", flow::change_name(change), r.error().message);
  co_return ledger::committed(r);
}

void CallSeams::start(const flow::LedgerChange& change) {
  SETTLE_ASSERT(!started_.has_value());
  started_queues_reversal_ = queues_reversal(change);
  started_name_ = flow::change_name(change);
  auto job = [change, conv = conventions_, at = now_ms()](sql::Db& db) {
    return ledger::apply_change(db, change, *conv, at);
  };
  started_.emplace(
      Pending<sql::Result<ledger::Applied>>::start(svc_.p_.ledger, svc_.ioc_.get_executor(), std::move(job)));
}

awaitable<flow::Committed> CallSeams::finish_started() {
  SETTLE_ASSERT(started_.has_value());
  auto r = co_await started_->get();
  started_.reset();
  if (r && started_queues_reversal_) svc_.reversal_wakeup_.cancel();
  if (!r) spdlog::error("ledger: {} failed: {}", started_name_, r.error().message);
  co_return ledger::committed(r);
}

awaitable<std::int64_t> CallSeams::reversals_open(const std::string& psn_no) {
  // None pending or in flight for anyone, as counted after the last commit
  // (which ran before any caller learnt of it): no read of the person's.
  if (svc_.p_.work != nullptr && svc_.p_.work->no_open_reversals()) co_return 0;
  auto job = [psn = psn_no](sql::Db& db) { return ledger::pending_reversals_for(db, psn); };
  auto n = co_await ledger_read(svc_.p_.ledger, svc_.p_.db_pool, std::move(job));
  if (!n) {
    // Unknown: as if one were open, so nothing new is sent for the person.
    spdlog::error("ledger: reading the open reversals failed: {}", n.error().message);
    co_return 1;
  }
  if (*n > 0) svc_.reversal_wakeup_.cancel();  // they go first: the line worker forwards them now
  co_return *n;
}

awaitable<flow::OutstandingFigures> CallSeams::outstanding(flow::Ms now, VisitType visit) {
  // Outpatient: the figures of the last commit, kept by the writer.
  if (visit == VisitType::outpatient && svc_.p_.work != nullptr) {
    if (const auto o = svc_.p_.work->outpatient_outstanding()) co_return ledger::outstanding_figures_of(*o, now);
  }
  auto job = [now, visit](sql::Db& db) { return ledger::outstanding_figures(db, now, visit); };
  auto f = co_await ledger_read(svc_.p_.ledger, svc_.p_.db_pool, std::move(job));
  if (!f) {
    // Figures that never match: the writer refuses an estimate made against them.
    spdlog::error("ledger: reading the outstanding offline figures failed: {}", f.error().message);
    flow::OutstandingFigures unknown;
    unknown.count = -1;
    co_return unknown;
  }
  co_return *f;
}

awaitable<flow::OpenStayFound> CallSeams::open_stay(const flow::OpenStay& q) {
  auto job = [psn = q.psn_no, card = q.card_no](sql::Db& db) { return ledger::open_stay_of(db, psn, card); };
  auto r = co_await ledger_read(svc_.p_.ledger, svc_.p_.db_pool, std::move(job));
  if (!r) {
    // Unknown: as if one were open (a second admission must never be made).
    spdlog::error("ledger: reading the person's open stay failed: {}", r.error().message);
    co_return flow::OpenStayFound{std::int64_t{-1}};
  }
  co_return flow::OpenStayFound{*r};
}

awaitable<flow::LinesFound> CallSeams::lines_held(const flow::LinesHeld& q) {
  auto job = [adm = q.adm_id, sns = q.feedetl_sns](sql::Db& db) { return ledger::lines_held(db, adm, sns); };
  auto r = co_await ledger_read(svc_.p_.ledger, svc_.p_.db_pool, std::move(job));
  if (!r) {
    // Unknown: the ledger's own checks refuse a duplicate when the lines are written.
    spdlog::error("ledger: reading the stay's lines failed: {}", r.error().message);
    co_return flow::LinesFound{};
  }
  co_return flow::LinesFound{std::move(*r)};
}

// ---- the insurer ----

std::string CallSeams::new_msgid() { return svc_.p_.gateway.next_msgid(); }

awaitable<flow::PersonFound> CallSeams::person(const flow::FindPerson& f) {
  const bool online = f.online;
  const bool fresh = f.fresh;
  const flow::Ms deadline = f.deadline_at;
  flow::PersonFound found;
  if (!online) {
    // The red list decides (it lists cards: without one, nobody is on it);
    // else what the insurer said of this card at this window before.
    if (!card_) co_return found;
    std::optional<PersonView> listed;
    if (listed_) {
      listed = svc_.redlist_view(card_->card_no, *listed_);
      listed_.reset();
    } else {
      listed = co_await svc_.redlist_person(card_->card_no);
    }
    if (listed) {
      found.person = listed->engine_person();
      found.psn_no = listed->base.psn_no;
      found.from_redlist = true;
      co_return found;
    }
    const WindowSession& ws = svc_.session_of(session_.connection_id);
    if (ws.person && !ws.person->from_redlist && ws.card && ws.card->card_no == card_->card_no) {
      found.person = ws.person->engine_person();
      found.psn_no = ws.person->base.psn_no;
    }
    co_return found;
  }
  Reply refusal;
  auto v = co_await svc_.person_of(session_, fresh, refusal, deadline);
  if (v && !v->from_redlist) {
    found.person = v->engine_person();
    found.psn_no = v->base.psn_no;
    found.insuplc_admdvs = v->insu.insuplc_admdvs;
    co_return found;
  }
  // From the red list: the insurer was not reached.
  if (v || (refusal.error && is_unanswered(refusal.error->error.reason))) {
    found.unanswered = true;
    found.clock_refused = svc_.p_.gateway.clock_skew().refusing();
    co_return found;
  }
  if (refusal.error) {
    found.refusal = refusal.error->error;
    const Json& data = refusal.error->data;
    if (data.contains("infcode"))
      found.insurer_refusal = flow::InsurerRefusal{data.value("infcode", std::int64_t{-1}), data.value("err_msg", std::string())};
  }
  co_return found;
}

awaitable<flow::InsurerReply> CallSeams::call(const flow::InsurerCall& in) {
  const flow::InsurerCall c = in;
  const flow::Ms left = c.deadline_at - now();
  if (left <= 0) {
    flow::InsurerReply none;
    none.outcome = flow::CallOutcome::unreachable;
    none.detail = fmt::format("no time left for {} within the cashier call's budget", flow::txn_code(c.txn));
    co_return none;
  }
  EncodedCall enc = encode_call(c, svc_.p_.policy, now_ms());
  if (enc.cannot) {
    flow::InsurerReply no;
    no.outcome = flow::CallOutcome::refused;
    no.detail = *enc.cannot;
    co_return no;
  }
  CallSpec spec;
  spec.opter = session_.operator_name;
  spec.opter_name = session_.operator_name;
  if (!c.request_id.empty()) spec.request_id = c.request_id;
  if (!c.psn_no.empty()) spec.psn_no = c.psn_no;
  // The envelope's insured area: the person's (a cross-region patient's calls go to that area's fund).
  spec.insuplc_admdvs = c.insuplc_admdvs;
  spec.timeout_ms = static_cast<std::uint32_t>(std::min<flow::Ms>(left, std::numeric_limits<std::uint32_t>::max()));
  spec.infno = std::move(enc.infno);
  spec.input = std::move(enc.input);
  if (flow::reversed_when_lost(c.txn)) {
    spec.moves_money = true;
    spec.msgid = c.msgid;  // made durable by the flow
  }
  const std::string infno = spec.infno;
  const CallResult r = co_await svc_.p_.gateway.call(std::move(spec));
  svc_.p_.metrics.insurer_call(infno, outcome_label(r), r.elapsed_ms * 1000LL);
  co_return reply_of(c.txn, r, c.msgid);
}

// ---- the card ----

awaitable<Status> CallSeams::check_card() {
  if (!card_) co_return Ok{};  // an e-voucher or an ID number is not at the reader
  std::optional<Status> st;
  if (card_check_) {
    CardCheck c = co_await card_check_->get();
    card_check_.reset();
    st.emplace(std::move(c.card));
    listed_ = std::move(c.listed);
  } else {
    auto job = [cards = &svc_.p_.cards, window = session_.window, card_sn = card_->card_sn] {
      return cards->check_same_card(window, card_sn);
    };
    st.emplace(co_await on_pool(svc_.p_.card_pool, std::move(job)));
  }
  // Another card: the window's session starts over (read the card again).
  if (!*st && st->error().reason == Reason::card_mismatch) svc_.session_of(session_.connection_id) = WindowSession{};
  co_return std::move(*st);
}

// ---- the clock ----

flow::Ms CallSeams::now() { return now_ms(); }

}  // namespace settle::daemon
