// The offline fallback (断网持卡本地红名单结算): settle.commit without the
// insurer against the local red list and the offline limits, and the line's
// state changes. Forwarding the stored work is forwarder.cpp's.
#include "offline/ledger_ops.hpp"
#include "protocol/cashier/mask.hpp"
#include "protocol/engine_json.hpp"
#include "tools/settled/clock.hpp"
#include "tools/settled/records.hpp"
#include "tools/settled/replies.hpp"
#include "tools/settled/service.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace settle::daemon {

using json::Json;

namespace {

std::int64_t age_s(std::optional<std::int64_t> oldest_ms, std::int64_t now) {
  return oldest_ms ? std::max<std::int64_t>(0, (now - *oldest_ms) / 1000) : 0;
}

// The insurance type to split a person with who is not on the red list: the
// one the insurer gave at this window before, else the policy's first.
std::string fallback_insutype(const Policy& policy, const std::optional<std::string>& seen) {
  if (seen && policy.find(*seen, VisitType::outpatient) != nullptr) return *seen;
  for (const auto& [key, params] : policy.entries())
    if (key.second == VisitType::outpatient) return key.first;
  return seen.value_or("");
}

}  // namespace

void Service::network_moved(std::optional<NetworkState> changed) {
  if (!changed) return;
  if (*changed == NetworkState::online)
    spdlog::info("insurer line: online");
  else
    spdlog::warn("insurer line: {}", network_state_name(*changed));
  if (on_network_changed) on_network_changed(*changed);
  reversal_wakeup_.cancel();  // the line worker looks again at once
}

awaitable<std::optional<PersonView>> Service::redlist_person(const std::string& card_no) {
  if (p_.redlist == nullptr) co_return std::nullopt;
  auto job = [store = p_.redlist, card_no] { return store->lookup(card_no); };
  auto found = co_await on_pool(p_.db_pool, std::move(job));
  if (!found) {
    spdlog::error("red list: lookup of card {} failed: {}", cashier::mask_card_no(card_no), found.error().message);
    co_return std::nullopt;
  }
  if (!found->has_value()) co_return std::nullopt;
  const redlist::Entry& e = **found;
  PersonView v;
  v.base.psn_no = e.psn_no;
  v.insu.insutype = e.insutype;
  v.insu.flags = e.flags;
  v.insu.balc = Amount::zero();  // the red list carries no balance; the account is never used offline
  v.insu.deductible_used = e.deductible_used;
  v.insu.fund_paid_ytd = e.fund_paid_ytd;
  v.as_of_ms = p_.redlist->info().synced_at_ms;
  v.from_redlist = true;
  co_return v;
}

// ---- settle.commit offline ------------------------------------------------------------

awaitable<Reply> Service::settle_offline(const cashier::SessionInfo& s, const reader::CardIdentity& card,
                                         const cashier::SettleCommitParams& p, OfflineCause cause,
                                         std::optional<CallResult> failed) {
  const std::string request_id = p.request_id;
  const std::optional<PersonView> listed = co_await redlist_person(card.card_no);
  Person person;
  std::optional<std::string> psn_no;
  std::optional<std::string> insutype;
  if (listed) {
    person = listed->engine_person();
    psn_no = listed->base.psn_no;
    insutype = listed->insu.insutype;
  } else {
    const WindowSession& ws = session_of(s.connection_id);
    if (ws.person && !ws.person->from_redlist && ws.card && ws.card->card_no == card.card_no) {
      psn_no = ws.person->base.psn_no;
      insutype = ws.person->insu.insutype;
    }
    person.insutype = fallback_insutype(p_.policy, insutype);
  }
  const std::int64_t at = now_ms();
  const OfflineLimits limits = p_.config.offline_limits;
  SplitOptions opts;
  opts.visit = VisitType::outpatient;
  opts.use_account = false;
  opts.offline = OfflineContext{cause, listed.has_value(), Amount::zero(), 0, 0, limits};
  // The lines and the policy are checked once here; the limits are applied in
  // the write below, against the outstanding figures of that moment.
  const auto checked = split(p_.policy, person, p.lines, opts);
  const PolicyParams* params = p_.policy.find(person.insutype, VisitType::outpatient);
  if (!checked || params == nullptr) {
    const Reply refusal = checked ? fail(Reason::invalid_request, "lines",
                                         fmt::format("no policy for insurance type \"{}\"", person.insutype))
                                  : fail(checked.error());
    auto job0 = [failed, psn = psn_no.value_or(""), request_id, answer = answer_text(refusal), at](sql::Db& db) -> sql::Status {
      if (failed) {
        if (failed->in_doubt()) {
          SETTLE_SQL_TRY(record_in_doubt_with_reversal(db, *failed, psn, at));
        } else {
          SETTLE_SQL_TRY(record_outcome(db, *failed, at));
        }
      }
      return ledger::answer_request(db, request_id, answer, at);
    };
    auto w = co_await ledger_write(p_.ledger, std::move(job0));
    if (!w) co_return fail(w.error().to_error());
    co_return refusal;
  }

  // A number of its own (never sent) for the receipt. The upload's local id is
  // the request_id, as 2207's medins_setl_id is online: the insurer keeps one
  // effective settlement per id.
  const std::string number = p_.gateway.next_msgid();
  ledger::Settlement st;
  st.request_id = request_id;
  st.window_id = s.window;
  st.operator_id = s.operator_name;
  st.card_no = card.card_no;
  st.card_sn = card.card_sn;
  st.psn_no = psn_no;
  st.insutype = insutype ? insutype : std::optional<std::string>(person.insutype);
  st.visit_type = ledger::VisitType::outpatient;
  st.med_type = p.med_type;
  st.mode = ledger::Mode::offline;
  st.receipt_no = "F" + number.substr(12);
  st.state = ledger::SettlementState::offline_pending;
  st.created_at_ms = at;
  st.clearing_date = clearing_date(at);
  st.offline_reason = std::string(split_reason_name(offline_cause_reason(cause)));
  const std::vector<ledger::SettlementLine> rows = ledger_lines(p_.policy, *params, p.lines);
  const std::string payload = Json{{"local_id", request_id}}.dump();
  const Policy* policy = &p_.policy;
  const std::vector<ChargeLine> lines = p.lines;
  const bool on_redlist = listed.has_value();
  auto job = [failed, psn = psn_no.value_or(""), st, rows, payload, policy, person, lines, cause, on_redlist, limits,
              request_id, at](sql::Db& db) mutable -> sql::Result<std::pair<ledger::Settlement, std::int64_t>> {
    if (failed) {
      if (failed->in_doubt()) {
        SETTLE_SQL_TRY(record_in_doubt_with_reversal(db, *failed, psn, at));
      } else {
        SETTLE_SQL_TRY(record_outcome(db, *failed, at));
      }
    }
    auto out = ledger::offline_outstanding_tracked(db);
    if (!out) return out.error();
    SplitOptions o;
    o.visit = VisitType::outpatient;
    o.use_account = false;
    o.offline = OfflineContext{cause, on_redlist, out->fund, out->count, age_s(out->oldest_created_ms, at), limits};
    auto sp = split(*policy, person, lines, o);
    if (!sp) return sql::DbError{sql::Errc::invalid_state, 0, sp.error().message};
    st.total = sp->total;
    st.fund = sp->fund;
    st.account = sp->account;
    st.cash = sp->cash;
    st.fulamt_ownpay = sp->fulamt_ownpay;
    st.preselfpay = sp->preselfpay;
    st.inscp = sp->inscp;
    st.deductible_part = sp->deductible_part;
    for (SplitReason r : sp->reasons) st.reasons.emplace_back(split_reason_name(r));
    auto id = ledger::record_settlement(db, st, rows);
    if (!id) return id.error();
    auto q = ledger::enqueue_outbox(db, ledger::OutboxKind::offline_upload, *id, std::nullopt, payload, at);
    if (!q) return q.error();
    SETTLE_SQL_TRY(ledger::answer_request(db, st.request_id, answer_text(Reply::ok(commit_answer(st, *id, std::nullopt))), at));
    return std::pair{st, *id};
  };
  auto done = co_await ledger_write(p_.ledger, std::move(job));
  if (!done) {
    spdlog::critical("ledger: could not record the offline settlement of request {}: {}", request_id,
                     done.error().message);
    p_.metrics.settlement("offline", "error");
    // A 2207 that went unanswered may have settled: it must never run again.
    if (failed && failed->in_doubt())
      co_return co_await unrecorded_outcome(*failed, psn_no.value_or(""), request_id, done.error().message);
    co_return fail(done.error().to_error());
  }
  const auto& [recorded, setl_id] = *done;
  p_.metrics.settlement("offline", "stored");
  spdlog::warn("window {}: settlement {} offline ({}), total {} (fund estimate {}, cash {}); stored for upload",
               s.window, setl_id, fmt::join(recorded.reasons, ","), format_amount(recorded.total),
               format_amount(recorded.fund), format_amount(recorded.cash));
  co_return Reply::ok(commit_answer(recorded, setl_id, std::nullopt));
}

}  // namespace settle::daemon
