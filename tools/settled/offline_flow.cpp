// The offline fallback (断网持卡本地红名单结算): settle.commit without the
// insurer against the local red list and the offline limits, the line worker
// that probes a dead line and forwards stored work once it is back (reversals
// first, then offline settlements oldest first in 9302 batches), and uploads.flush.
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

// Records per 9302 call (the codec allows insurer::max_offline_batch), and
// the charge lines of one call: at most ~1 KB of JSON a line, so a batch
// stays near 2 MB, half the envelope's body limit (docs/offline.md).
constexpr int upload_batch = 500;
constexpr std::int64_t upload_batch_lines = 2000;
static_assert(upload_batch <= static_cast<int>(insurer::max_offline_batch));

SplitReason cause_reason(OfflineCause c) {
  switch (c) {
    case OfflineCause::network_down: return SplitReason::offline_network_down;
    case OfflineCause::in_doubt: return SplitReason::offline_in_doubt;
    case OfflineCause::insurer_error: return SplitReason::offline_insurer_error;
    case OfflineCause::reader_failure: return SplitReason::offline_reader_failure;
  }
  return SplitReason::offline_network_down;
}

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
  st.offline_reason = std::string(split_reason_name(cause_reason(cause)));
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

// ---- forwarding stored work -------------------------------------------------------------

awaitable<std::int64_t> Service::flush_uploads() {
  // Reversals go first: while one is pending nothing is uploaded.
  auto job0 = [](sql::Db& db) { return ledger::open_work(db); };
  auto work = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job0));
  if (!work) co_return -1;
  if (work->pending_reversals > 0 || work->pending_uploads == 0 || stopping_) co_return work->pending_uploads;
  if (network_.state() == NetworkState::offline) co_return work->pending_uploads;

  // One 9302 batch is at the insurer at a time, so the batches arrive oldest
  // first and each person's settlements in the order they were made. The
  // daemon's own work overlaps it: while batch N is at the insurer, one
  // ledger transaction records the answer to batch N-1 and claims batch N+1,
  // which is then encoded; N+1 is sent as soon as N's answer is in (after a
  // check that no reversal has become due meanwhile).
  struct Prepared {
    std::vector<ledger::UploadItem> items;
    std::vector<std::string> local_ids;
    json::Json input;
  };
  const auto prepare = [this](std::vector<ledger::UploadItem> items) {
    Prepared b;
    insurer::OfflineUpload::Input in;
    in.records.reserve(items.size());
    for (const ledger::UploadItem& u : items) {
      const ledger::Settlement& st = u.settlement;
      auto payload = json::parse(u.item.payload, "outbox payload");
      insurer::OfflineRecord rec;
      rec.local_id = payload ? payload->value("local_id", std::string()) : std::string();
      if (rec.local_id.empty()) rec.local_id = st.request_id;
      rec.psn_no = st.psn_no.value_or("");
      rec.card_no = st.card_no;
      rec.insutype = st.insutype.value_or("");
      rec.med_type = st.med_type;
      rec.setl_time = insurer::inf_time_text(st.created_at_ms / 1000);
      rec.reason_code = st.offline_reason.value_or("offline_network_down");
      rec.medfee_sumamt = st.total;
      rec.est_fund_pay = st.fund;
      rec.psn_cash_pay = st.cash;
      const std::vector<ChargeLine> lines = charge_lines_of(u.lines);
      const PolicyParams* params = p_.policy.find(rec.insutype, VisitType::outpatient);
      if (params == nullptr) params = &p_.policy.entries().begin()->second;
      rec.lines = fee_details(lines, FeeContext{"", rec.psn_no, st.receipt_no, rec.setl_time}, p_.policy, *params);
      b.local_ids.push_back(rec.local_id);
      in.records.push_back(std::move(rec));
    }
    b.input = in.encode();
    b.items = std::move(items);
    return b;
  };
  // The batch at the insurer: its result, and a timer cancelled when it is in.
  struct Flight {
    explicit Flight(const asio::any_io_executor& ex) : done(ex) {}
    asio::steady_timer done;
    std::optional<CallResult> result;
  };
  // Recorded in the transaction that claims the next batch.
  struct Answered {
    std::vector<ledger::UploadResult> results;
    std::string msgid;
    std::int64_t at = 0;
  };
  struct Recorded {
    std::int64_t accepted = 0, rejected = 0, adjusted = 0;
    std::vector<ledger::UploadItem> next;  // the next batch, claimed in the same transaction
  };
  // Records a batch's answers (inside the caller's transaction) and counts them.
  const auto record_answers = [](sql::Db& db, const std::vector<ledger::UploadResult>& results, std::int64_t at,
                                 Recorded& rec) -> sql::Status {
    SETTLE_SQL_TRY(ledger::record_upload_results(db, results, at));
    for (const auto& x : results) {
      (x.accepted ? rec.accepted : rec.rejected) += 1;
      if (x.adjustment) ++rec.adjusted;
    }
    return settle::Ok{};
  };
  const auto report = [this](const Answered& a, const Recorded& rec) {
    p_.metrics.upload("accepted", rec.accepted);
    if (rec.rejected > 0) p_.metrics.upload("rejected", rec.rejected);
    spdlog::info("uploads: {} offline settlements forwarded: {} accepted ({} with an adjustment), {} rejected",
                 a.results.size(), rec.accepted, rec.adjusted, rec.rejected);
    if (rec.rejected > 0)
      spdlog::warn("uploads: {} offline settlements were rejected by the insurer; see settle.list state=offline_rejected",
                   rec.rejected);
  };
  const auto left = [this]() -> awaitable<std::int64_t> {
    // What is left: items waiting for their retry time, or stopped early.
    auto job_left = [](sql::Db& db) { return ledger::open_work(db); };
    auto l = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job_left));
    co_return l ? l->pending_uploads : -1;
  };

  // The line worker and uploads.flush both forward: only one of them sends
  // at a time (the other reports what is left and comes back later).
  if (uploads_running_) co_return work->pending_uploads;
  uploads_running_ = true;
  struct Running {
    bool& flag;
    ~Running() { flag = false; }
  } running{uploads_running_};

  const std::int64_t first_at = now_ms();
  auto job1 = [first_at](sql::Db& db) { return ledger::claim_uploads(db, first_at, upload_batch, upload_batch_lines); };
  auto first = co_await ledger_write(p_.ledger, std::move(job1));
  if (!first) {
    spdlog::error("uploads: cannot read the outbox: {}", first.error().message);
    co_return -1;
  }
  Prepared cur = prepare(std::move(*first));
  bool checked = true;  // the first batch was claimed after open_work found no reversal
  std::optional<Answered> answered;
  for (;;) {
    if (!cur.items.empty() && !checked) {
      // Claimed while the batch before was at the insurer: a reversal that
      // became due since goes first.
      auto job_rev = [](sql::Db& db) { return ledger::reversal_open(db); };
      auto blocked = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job_rev));
      if (!blocked || *blocked || stopping_ || network_.state() == NetworkState::offline) {
        std::vector<std::int64_t> ids;
        for (const auto& u : cur.items) ids.push_back(u.item.item_id);
        const std::int64_t at = now_ms();
        auto job_back = [ids, at](sql::Db& db) { return ledger::release_claimed(db, ids, at, at); };
        (void)co_await ledger_write(p_.ledger, std::move(job_back));
        cur.items.clear();
      }
    }
    if (cur.items.empty()) {
      if (answered) {
        auto a = std::move(*answered);
        answered.reset();
        const std::int64_t at = a.at;
        auto job_rec = [results = a.results, at, record_answers](sql::Db& db) -> sql::Result<Recorded> {
          Recorded r;
          SETTLE_SQL_TRY(record_answers(db, results, at, r));
          return r;
        };
        auto recorded = co_await ledger_write(p_.ledger, std::move(job_rec));
        if (!recorded) {
          // The items stay in flight until the next start requeues them; the
          // insurer answers the repeated local ids with the same results.
          spdlog::critical("ledger: could not record the insurer's answer to 9302 msgid {}: {}", a.msgid,
                           recorded.error().message);
          co_return -1;
        }
        report(a, *recorded);
      }
      co_return co_await left();
    }

    // Send this batch; meanwhile record the previous answer and claim the next.
    auto spec = std::make_shared<CallSpec>();
    spec->infno = std::string(insurer::OfflineUpload::infno);
    spec->input = std::move(cur.input);
    auto flight = std::make_shared<Flight>(ioc_.get_executor());
    auto send = [this, flight, spec]() -> awaitable<void> {
      CallSpec call = std::move(*spec);
      CallResult r = co_await p_.gateway.call(std::move(call));
      flight->result = std::move(r);
      flight->done.cancel();
    };
    asio::co_spawn(ioc_, send, asio::detached);
    const auto wait_flight = [flight]() -> awaitable<void> {
      while (!flight->result) {
        boost::system::error_code ec;
        flight->done.expires_at(asio::steady_timer::time_point::max());
        co_await flight->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
    };

    const bool go_on = !stopping_ && network_.state() != NetworkState::offline;
    const std::int64_t claim_at = now_ms();
    std::optional<Answered> prev = std::move(answered);
    answered.reset();
    std::vector<ledger::UploadResult> prev_results = prev ? prev->results : std::vector<ledger::UploadResult>{};
    const std::int64_t prev_at = prev ? prev->at : claim_at;
    auto job3 = [results = std::move(prev_results), prev_at, claim_at, go_on,
                 record_answers](sql::Db& db) -> sql::Result<Recorded> {
      Recorded rec;
      if (!results.empty()) SETTLE_SQL_TRY(record_answers(db, results, prev_at, rec));
      if (go_on) {
        auto blocked = ledger::reversal_open(db);
        if (!blocked) return blocked.error();
        if (!*blocked) {
          auto next = ledger::claim_uploads(db, claim_at, upload_batch, upload_batch_lines);
          if (!next) return next.error();
          rec.next = std::move(*next);
        }
      }
      return rec;
    };
    auto recorded = co_await ledger_write(p_.ledger, std::move(job3));
    if (!recorded) {
      spdlog::critical("ledger: could not record the insurer's answer to 9302 msgid {} or claim the next batch: {}",
                       prev ? prev->msgid : std::string("-"), recorded.error().message);
      co_await wait_flight();  // its items stay in flight until the next start, as the earlier ones
      co_return -1;
    }
    if (prev) report(*prev, *recorded);
    Prepared next = prepare(std::move(recorded->next));

    co_await wait_flight();
    const CallResult r = std::move(*flight->result);
    p_.metrics.insurer_call("9302", outcome_label(r), r.elapsed_ms * 1000LL);
    const std::int64_t at = now_ms();

    std::optional<insurer::OfflineUpload::Output> out;
    std::string why;
    if (r.succeeded()) {
      auto o = insurer::OfflineUpload::Output::decode(r.response->output);
      if (!o) {
        why = "unreadable 9302 reply: " + o.error().message;
      } else if (o->results.size() != cur.local_ids.size()) {
        why = fmt::format("9302 reply has {} results for {} records", o->results.size(), cur.local_ids.size());
      } else {
        for (std::size_t i = 0; i < cur.local_ids.size() && why.empty(); ++i)
          if (o->results[i].local_id != cur.local_ids[i])
            why = fmt::format("9302 reply's result {} is for \"{}\", not \"{}\"", i, o->results[i].local_id,
                              cur.local_ids[i]);
        if (why.empty()) out = std::move(*o);
      }
    } else {
      why = r.answered() ? (r.response ? fmt::format("infcode {}: {}", r.response->infcode, r.response->err_msg)
                                       : std::string("unreadable reply"))
                         : fmt::format("{}: {}", outcome_label(r), r.detail);
    }
    if (!out) {
      // Not forwarded: every record of the batch is tried again later (the
      // insurer answers a repeated local id with its first result); the next
      // batch, claimed but not sent, waits as long, so that it does not go first.
      const std::int64_t attempt = std::max<std::int64_t>(1, cur.items.front().item.attempts);
      std::int64_t delay = p_.config.reversal.retry_initial_ms;
      for (std::int64_t k = 1; k < attempt && delay < p_.config.reversal.retry_max_ms; ++k) delay *= 2;
      delay = std::min<std::int64_t>(delay, p_.config.reversal.retry_max_ms);
      std::vector<std::int64_t> ids, unsent;
      for (const auto& u : cur.items) ids.push_back(u.item.item_id);
      for (const auto& u : next.items) unsent.push_back(u.item.item_id);
      auto job2 = [ids, unsent, at, delay, why](sql::Db& db) -> sql::Status {
        for (std::int64_t id : ids)
          SETTLE_SQL_TRY(ledger::complete_outbox(db, id, ledger::OutboxOutcome::retry, at, at + delay, why));
        return ledger::release_claimed(db, unsent, at + delay, at);
      };
      (void)co_await ledger_write(p_.ledger, std::move(job2));
      p_.metrics.upload("retry", static_cast<std::int64_t>(ids.size()));
      spdlog::warn("uploads: {} offline settlements not forwarded ({}); retry in {} ms", ids.size(), why, delay);
      co_return work->pending_uploads;
    }

    // The insurer's answer is final for each record; recorded with the next claim.
    Answered a;
    a.msgid = r.msgid;
    a.at = at;
    a.results.reserve(cur.items.size());
    for (std::size_t i = 0; i < cur.items.size(); ++i) {
      const ledger::UploadItem& u = cur.items[i];
      const insurer::OfflineResult& res = out->results[i];
      ledger::UploadResult x;
      x.item_id = u.item.item_id;
      x.setl_id = u.settlement.setl_id;
      const Amount local_fund = u.settlement.fund, local_cash = u.settlement.cash;
      if (res.status == "accepted") {
        x.accepted = true;
        x.insurer_setl_id = res.setl_id;
        x.detail = fmt::format("accepted by the insurer as {} (9302 msgid {})", res.setl_id, a.msgid);
        if (res.fund_pay_sumamt != local_fund || res.psn_cash_pay != local_cash || !res.acct_pay.is_zero()) {
          ledger::Adjustment adj;
          adj.setl_id = u.settlement.setl_id;
          adj.kind = ledger::AdjustmentKind::offline_upload;
          adj.local_fund = local_fund;
          adj.insurer_fund = res.fund_pay_sumamt;
          adj.local_account = Amount::zero();
          adj.insurer_account = res.acct_pay;
          adj.local_cash = local_cash;
          adj.insurer_cash = res.psn_cash_pay;
          adj.note = fmt::format("offline estimate: fund {}, cash {}; insurer: fund {}, cash {} (9302 msgid {})",
                                 format_amount(local_fund), format_amount(local_cash),
                                 format_amount(res.fund_pay_sumamt), format_amount(res.psn_cash_pay), a.msgid);
          adj.created_at_ms = at;
          x.adjustment = std::move(adj);
        }
      } else {
        x.detail = fmt::format("rejected by the insurer: {}: {} (9302 msgid {})", res.rej_reason, res.err_msg, a.msgid);
        x.outbox_error = fmt::format("rejected: {}", res.rej_reason);
      }
      a.results.push_back(std::move(x));
    }
    answered = std::move(a);
    cur = std::move(next);
    checked = false;
  }
}

awaitable<void> Service::run_line() {
  while (!stopping_) {
    const std::int64_t now = now_ms();
    std::int64_t wait_ms = 1000;
    if (network_.state() == NetworkState::offline) {
      // The probe: a sign-in answered takes the line to draining (the gateway reports it).
      if (now - last_probe_ms_ >= p_.config.network.probe_interval_ms) {
        last_probe_ms_ = now;
        const CallResult r = co_await p_.gateway.sign_in();
        p_.metrics.insurer_call("9001", outcome_label(r), r.elapsed_ms * 1000LL);
      }
      if (network_.state() == NetworkState::offline)
        wait_ms = std::max<std::int64_t>(1, p_.config.network.probe_interval_ms - (now_ms() - last_probe_ms_));
      else
        wait_ms = 0;
    } else {
      const std::int64_t reversals = co_await flush_reversals();
      const std::int64_t uploads = reversals == 0 ? co_await flush_uploads() : -1;
      if (network_.state() == NetworkState::draining && reversals == 0 && uploads == 0)
        network_moved(network_.on_drained(now_ms()));
      if (network_.state() == NetworkState::draining) wait_ms = 200;  // due items come back soon
      wait_ms = std::min<std::int64_t>(wait_ms, p_.config.reversal.retry_initial_ms);
    }
    if (stopping_) break;
    if (wait_ms <= 0) continue;
    boost::system::error_code ec;
    reversal_wakeup_.expires_after(std::chrono::milliseconds(wait_ms));
    co_await reversal_wakeup_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

// ---- uploads.flush --------------------------------------------------------------------

awaitable<Reply> Service::uploads_flush(const cashier::SessionInfo& s) {
  // uploads.progress {pending_reversals, pending_uploads} on the caller's
  // connection every 200 ms while the flush runs.
  auto running = std::make_shared<bool>(true);
  auto ticker = std::make_shared<asio::steady_timer>(ioc_);
  const auto report = [this, conn = s.connection_id, running, ticker]() -> awaitable<void> {
    while (*running) {
      auto job = [](sql::Db& db) { return ledger::open_work(db); };
      auto work = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
      if (work && *running && notify_connection)
        notify_connection(conn, "uploads.progress",
                          Json{{"pending_reversals", work->pending_reversals}, {"pending_uploads", work->pending_uploads}});
      boost::system::error_code ec;
      ticker->expires_after(std::chrono::milliseconds(200));
      co_await ticker->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  };
  asio::co_spawn(ioc_, report, asio::detached);
  struct Stop {
    std::shared_ptr<bool> running;
    std::shared_ptr<asio::steady_timer> ticker;
    ~Stop() {
      *running = false;
      ticker->cancel();
    }
  } stop_ticker{running, ticker};

  if (network_.state() == NetworkState::offline) {
    const CallResult r = co_await p_.gateway.sign_in();
    p_.metrics.insurer_call("9001", outcome_label(r), r.elapsed_ms * 1000LL);
  }
  // Forward until nothing is left, or nothing moved for two seconds (items
  // the line worker holds in flight finish meanwhile; backoff waits are not
  // waited out).
  std::int64_t last_left = -1;
  auto last_move = std::chrono::steady_clock::now();
  while (network_.state() != NetworkState::offline && !stopping_) {
    const std::int64_t reversals = co_await flush_reversals();
    const std::int64_t uploads = reversals == 0 ? co_await flush_uploads() : -1;
    if (network_.state() == NetworkState::draining && reversals == 0 && uploads == 0)
      network_moved(network_.on_drained(now_ms()));
    if (reversals < 0 || (reversals == 0 && uploads <= 0)) break;
    const std::int64_t left = reversals + std::max<std::int64_t>(0, uploads);
    if (left != last_left) {
      last_left = left;
      last_move = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_move > std::chrono::seconds(2)) {
      break;
    }
    boost::system::error_code ec;
    asio::steady_timer pause(ioc_);
    pause.expires_after(std::chrono::milliseconds(100));
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  auto job = [](sql::Db& db) { return ledger::open_work(db); };
  auto work = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
  if (!work) co_return fail(work.error().to_error());
  co_return Reply::ok(Json{{"network", network_state_name(network_.state())},
                           {"pending_reversals", work->pending_reversals},
                           {"pending_uploads", work->pending_uploads},
                           {"in_doubt", work->in_doubt}});
}

}  // namespace settle::daemon
