// Store-and-forward, its one owner: start-up recovery, reversals (冲正,
// 2601) and offline uploads (9302) forwarded with the policy of
// engine/store_forward.hpp (backoff, parking after refusals, one at a time
// after a refused batch), the line worker, uploads.flush and the parked
// items' methods (outbox.parked, outbox.retry, outbox.resolve).
#include "tools/settled/forwarder.hpp"

#include "offline/ledger_ops.hpp"
#include "protocol/cashier/mask.hpp"
#include "protocol/engine_json.hpp"
#include "tools/settled/clock.hpp"
#include "tools/settled/insurer_calls.hpp"
#include "tools/settled/logging.hpp"
#include "tools/settled/records.hpp"
#include "tools/settled/replies.hpp"
#include "tools/settled/service.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace settle::daemon {

using json::Json;

ForwardPolicy forward_policy(const ReversalConfig& c) noexcept {
  return ForwardPolicy{c.retry_initial_ms, c.retry_max_ms, c.park_after_refusals};
}

ForwardAnswer failed_call_answer(const CallResult& r) noexcept {
  return r.answered() ? ForwardAnswer::refused : ForwardAnswer::unanswered;
}

std::string failure_reason(const CallResult& r) {
  if (!r.answered()) return fmt::format("{}: {}", outcome_label(r), r.detail);
  if (!r.response) return "unreadable reply";
  return fmt::format("infcode {}: {}", r.response->infcode, r.response->err_msg);
}

// ---- reversals and recovery ---------------------------------------------------------

awaitable<Result<std::int64_t>> Service::recover() {
  const std::int64_t at = now_ms();
  auto job20 = [at](sql::Db& db) { return ledger::requeue_in_flight(db, at); };
  auto requeued = co_await ledger_write(p_.ledger, std::move(job20));
  if (!requeued) co_return requeued.error().to_error();
  std::int64_t count = 0;
  for (auto state : {ledger::MessageState::written, ledger::MessageState::sent}) {
    auto job21 = [state](sql::Db& db) { return ledger::list_messages(db, state); };
    auto msgs = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job21));
    if (!msgs) co_return msgs.error().to_error();
    for (const ledger::Message& m : *msgs) {
      // The person is found at the insurer by the original msgid; psn_no
      // (recorded with the message) lets that person's next request find
      // this reversal first.
      auto job22 = [m, conv = &conventions_, at](sql::Db& db) { return ledger::recover_message(db, m, *conv, at); };
      auto w = co_await ledger_write(p_.ledger, std::move(job22));
      if (!w) co_return w.error().to_error();
      if (*w) {
        ++count;
        spdlog::warn("recovery: msgid {} ({}) was sent without a recorded outcome; its reversal is queued", m.msgid, m.infno);
      }
    }
  }
  if (*requeued > 0) spdlog::info("recovery: {} queued uploads/reversals were in flight and are queued again", *requeued);
  co_return count;
}

awaitable<std::int64_t> Service::flush_reversals() {
  const std::int64_t now = now_ms();
  auto job23 = [now](sql::Db& db) { return ledger::claim_outbox(db, now, 32, ledger::OutboxKind::reversal); };
  auto items = co_await ledger_write(p_.ledger, std::move(job23));
  if (!items) {
    spdlog::error("reversals: cannot read the outbox: {}", items.error().message);
    co_return -1;
  }
  const ForwardPolicy policy = forward_policy(p_.config.reversal);
  for (const ledger::OutboxItem& item : *items) {
    if (!item.ref_msgid) continue;  // the schema requires it for reversals
    auto payload = json::parse(item.payload, "outbox payload");
    insurer::Reversal::Input in;
    in.omsgid = *item.ref_msgid;
    in.psn_no = payload ? payload->value("psn_no", std::string()) : std::string();
    in.oinfno = payload ? payload->value("oinfno", std::string()) : std::string();
    CallSpec spec;
    spec.infno = std::string(insurer::Reversal::infno);
    spec.input = in.encode();
    spec.reverses_msgid = in.omsgid;
    // The insured area the original's envelope carried (queued with it; none: the hospital's).
    spec.insuplc_admdvs = payload ? payload->value("insuplc_admdvs", std::string()) : std::string();
    const CallResult r = co_await p_.gateway.call(std::move(spec));
    p_.metrics.insurer_call("2601", outcome_label(r), r.elapsed_ms * 1000LL);
    const std::int64_t at = now_ms();
    std::optional<insurer::Reversal::Output> out;
    if (r.succeeded()) {
      auto o = insurer::Reversal::Output::decode(r.response->output);
      if (o) out = *o;
    }
    const ForwardAnswer answer = out ? ForwardAnswer::acknowledged
                                 : r.succeeded() ? ForwardAnswer::refused  // infcode 0, output unreadable
                                                 : failed_call_answer(r);
    const ForwardDecision d = decide_forward(policy, answer, item.attempts, item.refusals, at);
    const std::string omsgid = in.omsgid;
    if (d.verdict == ForwardVerdict::done) {
      auto job25 = [item, omsgid, at](sql::Db& db) -> sql::Status {
        SETTLE_SQL_TRY(ledger::mark_reversed(db, omsgid, at));
        return ledger::complete_outbox(db, item.item_id, ledger::OutboxOutcome::done, at);
      };
      auto w = co_await ledger_write(p_.ledger, std::move(job25));
      if (!w) spdlog::error("reversals: recording the reversal of {} failed: {}", omsgid, w.error().message);
      p_.metrics.reversal(insurer::reversal_result_name(out->result));
      log_with(spdlog::level::info, LogFields{.infno = "2601", .msgid = omsgid}, "reversal of msgid {} acknowledged: {}",
               omsgid, insurer::reversal_result_name(out->result));
      continue;
    }
    const std::string why = r.succeeded() ? std::string("unreadable 2601 reply") : failure_reason(r);
    if (d.verdict == ForwardVerdict::park) {
      // Refused too often: out of the queue, so that it holds back neither
      // the uploads nor the line; a supervisor retries or resolves it.
      auto job_park = [item, at, why, n = d.refusals](sql::Db& db) {
        return ledger::complete_outbox(db, item.item_id, ledger::OutboxOutcome::park, at, 0, why, n);
      };
      auto w = co_await ledger_write(p_.ledger, std::move(job_park));
      if (!w) spdlog::error("reversals: parking the reversal of {} failed: {}", omsgid, w.error().message);
      p_.metrics.reversal("parked");
      log_with(spdlog::level::warn, LogFields{.infno = "2601", .msgid = omsgid},
               "reversal of msgid {} parked after {} refusals by the insurer ({}); outbox item {} waits for a "
               "supervisor (settlectl parked list)",
               omsgid, d.refusals, why, item.item_id);
      work_added("parked_reversal",
                 Json{{"queue", "outbox"}, {"item_id", item.item_id}, {"msgid", omsgid}, {"reason", why}});
      continue;
    }
    // Not acknowledged: try again later, doubling the wait.
    auto job26 = [item, at, d, why](sql::Db& db) {
      return ledger::complete_outbox(db, item.item_id, ledger::OutboxOutcome::retry, at, d.next_attempt_at_ms, why,
                                     d.refusals);
    };
    (void)co_await ledger_write(p_.ledger, std::move(job26));
    p_.metrics.reversal("retry");
    log_with(spdlog::level::warn, LogFields{.infno = "2601", .msgid = omsgid},
             "reversal of msgid {} not acknowledged ({}); retry in {} ms", omsgid, why, d.next_attempt_at_ms - at);
  }
  auto job27 = [](sql::Db& db) { return ledger::open_work(db); };
  auto work = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job27));
  co_return work ? work->pending_reversals : -1;
}

// ---- forwarding stored work -------------------------------------------------------------

awaitable<std::int64_t> Service::flush_uploads() {
  // An insurer profile without offline settlement has no 9302: nothing is
  // stored to upload, and nothing is (the line never waits for it).
  if (!p_.config.insurer.profile.offline) co_return 0;
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
    std::string insuplc_admdvs;  // the batch's one insured area (claim_uploads), "" the hospital's
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
    if (!items.empty()) b.insuplc_admdvs = items.front().settlement.insuplc_admdvs;
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
    for (const auto& x : a.results)
      if (!x.accepted)
        work_added("rejected_offline_settlement",
                   Json{{"setl_id", std::to_string(x.setl_id)}, {"reason", x.outbox_error}});
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
  // After a batch refused whole, its items go one at a time (below).
  const auto batch_size = [this] {
    return static_cast<int>(next_upload_batch_size(upload_batch, lone_uploads_through_ > 0));
  };
  const ForwardPolicy policy = forward_policy(p_.config.reversal);
  auto job1 = [first_at, n = batch_size()](sql::Db& db) {
    return ledger::claim_uploads(db, first_at, n, upload_batch_lines);
  };
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
    spec->insuplc_admdvs = cur.insuplc_admdvs;
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
    auto job3 = [results = std::move(prev_results), prev_at, claim_at, go_on, n = batch_size(),
                 record_answers](sql::Db& db) -> sql::Result<Recorded> {
      Recorded rec;
      if (!results.empty()) SETTLE_SQL_TRY(record_answers(db, results, prev_at, rec));
      if (go_on) {
        auto blocked = ledger::reversal_open(db);
        if (!blocked) return blocked.error();
        if (!*blocked) {
          auto next = ledger::claim_uploads(db, claim_at, n, upload_batch_lines);
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
      // batch, claimed but not sent, waits as long, so that it does not go
      // first. A batch refused whole says nothing of which record the insurer
      // objects to: its items go one at a time from now on, and only a lone
      // item's refusals count, so only the item refused alone is ever parked.
      const ForwardAnswer answer = r.succeeded() ? ForwardAnswer::refused : failed_call_answer(r);
      const bool counts = refusal_counts_against_items(static_cast<std::int64_t>(cur.items.size()));
      if (answer == ForwardAnswer::refused && !counts)
        lone_uploads_through_ = std::max(lone_uploads_through_, cur.items.back().item.item_id);
      struct Verdict {
        std::int64_t item_id;
        std::int64_t setl_id;
        ForwardDecision d;
      };
      std::vector<Verdict> verdicts;
      std::int64_t release_at = at;
      for (const auto& u : cur.items) {
        const ForwardAnswer a = answer == ForwardAnswer::refused && !counts ? ForwardAnswer::unanswered : answer;
        const ForwardDecision d = decide_forward(policy, a, u.item.attempts, u.item.refusals, at);
        if (d.verdict == ForwardVerdict::retry) release_at = std::max(release_at, d.next_attempt_at_ms);
        verdicts.push_back(Verdict{u.item.item_id, u.settlement.setl_id, d});
      }
      std::vector<std::int64_t> unsent;
      for (const auto& u : next.items) unsent.push_back(u.item.item_id);
      auto job2 = [verdicts, unsent, at, release_at, why](sql::Db& db) -> sql::Status {
        for (const Verdict& v : verdicts)
          SETTLE_SQL_TRY(ledger::complete_outbox(
              db, v.item_id, v.d.verdict == ForwardVerdict::park ? ledger::OutboxOutcome::park : ledger::OutboxOutcome::retry,
              at, v.d.next_attempt_at_ms, why, v.d.refusals));
        return ledger::release_claimed(db, unsent, release_at, at);
      };
      auto w = co_await ledger_write(p_.ledger, std::move(job2));
      if (!w) {
        spdlog::critical("ledger: could not record the refusal of 9302 msgid {}: {}", r.msgid, w.error().message);
        co_return -1;
      }
      std::int64_t retried = 0;
      for (const Verdict& v : verdicts) {
        if (v.d.verdict != ForwardVerdict::park) {
          ++retried;
          continue;
        }
        p_.metrics.upload("parked", 1);
        log_with(spdlog::level::warn, LogFields{.setl_id = std::to_string(v.setl_id), .infno = "9302", .msgid = r.msgid},
                 "uploads: the offline settlement {} parked after {} refusals by the insurer ({}); outbox item {} "
                 "waits for a supervisor (settlectl parked list); the uploads behind it go on",
                 v.setl_id, v.d.refusals, why, v.item_id);
        work_added("parked_upload", Json{{"queue", "outbox"}, {"item_id", v.item_id},
                                         {"setl_id", std::to_string(v.setl_id)}, {"reason", why}});
        if (v.item_id >= lone_uploads_through_) lone_uploads_through_ = 0;  // the suspects are through
      }
      if (retried > 0) {
        p_.metrics.upload("retry", retried);
        log_with(spdlog::level::warn, LogFields{.infno = "9302", .msgid = r.msgid},
                 "uploads: {} offline settlements not forwarded ({}){}; retry in {} ms", retried, why,
                 answer == ForwardAnswer::refused && !counts ? ", refused whole: one at a time from now on" : "",
                 release_at - at);
      }
      co_return co_await left();
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
        x.mdtrt_id = res.mdtrt_id;  // its undo (2208, re-settlement) names it; none from an older insurer
        x.detail = res.mdtrt_id.empty()
                       ? fmt::format("accepted by the insurer as {} (9302 msgid {}), without a visit id: it can be "
                                     "refunded, not re-settled",
                                     res.setl_id, a.msgid)
                       : fmt::format("accepted by the insurer as {} in visit {} (9302 msgid {})", res.setl_id,
                                     res.mdtrt_id, a.msgid);
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
    // A lone item answered on its merits: once the last of a refused batch's
    // items is through, batches are whole again.
    if (lone_uploads_through_ > 0 && cur.items.back().item.item_id >= lone_uploads_through_) lone_uploads_through_ = 0;
    answered = std::move(a);
    cur = std::move(next);
    checked = false;
  }
}

// ---- stays, in order within each stay --------------------------------------------

awaitable<flow::InsurerReply> Service::stay_person(ledger::StayWork& w) {
  insurer::PersonInfo::Input in;
  in.mdtrt_cert_type = std::string(insurer::cert_type_card);
  in.mdtrt_cert_no = w.call.card_no;
  in.card_sn = w.card_sn;
  CallSpec spec;
  spec.infno = std::string(insurer::PersonInfo::infno);
  spec.input = in.encode();
  spec.request_id = w.call.request_id;
  const CallResult r = co_await p_.gateway.call(std::move(spec));
  p_.metrics.insurer_call("1101", outcome_label(r), r.elapsed_ms * 1000LL);
  flow::InsurerReply out;
  if (!r.answered()) {
    out.outcome = flow::CallOutcome::unreachable;
    out.detail = fmt::format("the person query (1101) for card {}: {}", cashier::mask_card_no(w.call.card_no),
                             unanswered_error(r).message);
    co_return out;
  }
  out.outcome = flow::CallOutcome::refused;
  if (!r.succeeded()) {
    const Reply why = rejected_reply(r);
    out.detail = fmt::format("the insurer knows no person for card {} (1101): {}", cashier::mask_card_no(w.call.card_no),
                             why.error ? why.error->error.message : std::string("refused"));
    co_return out;
  }
  auto o = insurer::PersonInfo::Output::decode(r.response->output);
  if (!o || o->insuinfo.empty()) {
    out.detail = fmt::format("the insurer's 1101 reply for card {}: {}", cashier::mask_card_no(w.call.card_no),
                             o ? std::string("no insurance record") : o.error().message);
    co_return out;
  }
  w.call.psn_no = o->baseinfo.psn_no;
  w.call.insutype = o->insuinfo.front().insutype;
  if (w.call.insuplc_admdvs.empty()) w.call.insuplc_admdvs = o->insuinfo.front().insuplc_admdvs;
  out.outcome = flow::CallOutcome::ok;
  co_return out;
}

awaitable<std::int64_t> Service::flush_stay_items() {
  const auto open = [this]() -> awaitable<std::int64_t> {
    auto job = [](sql::Db& db) { return ledger::stay_item_counts(db); };
    auto c = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
    co_return c ? c->open : -1;
  };
  if (stays_running_ || stopping_ || network_.state() == NetworkState::offline) co_return co_await open();
  stays_running_ = true;
  struct Running {
    bool& flag;
    ~Running() { flag = false; }
  } running{stays_running_};
  const ForwardPolicy policy = forward_policy(p_.config.reversal);
  while (!stopping_ && network_.state() != NetworkState::offline) {
    // Reversals go first: an admission left in doubt is reversed before it is sent again.
    auto job_rev = [](sql::Db& db) { return ledger::reversal_open(db); };
    auto rev = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job_rev));
    if (!rev || *rev) break;
    auto job = [at = now_ms()](sql::Db& db) { return ledger::claim_stay_work(db, at); };
    auto work = co_await ledger_write(p_.ledger, std::move(job));
    if (!work) {
      spdlog::error("ledger: claiming a stay's item failed: {}", work.error().message);
      co_return -1;
    }
    if (!work->has_value()) break;
    ledger::StayWork w = std::move(**work);
    flow::InsurerReply reply;
    // A stay admitted offline by card alone: the insurer names its person
    // (1101) before the admission goes, and the stay keeps that person. A
    // stay with a card but no insured area recorded (admitted without it)
    // learns the person's area the same way, once, before its item goes.
    bool person_known = !(w.call.txn == flow::Txn::admit && w.call.psn_no.empty());
    const bool area_unknown = w.call.insuplc_admdvs.empty() && !w.call.card_no.empty();
    bool asked = true;  // false: 1101 went unanswered (the item waits, as the line's problem)
    if (!person_known || area_unknown) {
      const std::string psn_no = w.call.psn_no, insutype = w.call.insutype;
      const flow::InsurerReply who = co_await stay_person(w);
      if (person_known) {
        // Only the area is learnt, and only when 1101 names the stay's person.
        if (who.outcome == flow::CallOutcome::ok && w.call.psn_no != psn_no) w.call.insuplc_admdvs.clear();
        w.call.psn_no = psn_no;
        w.call.insutype = insutype;
      }
      if (who.outcome == flow::CallOutcome::ok && (!person_known || !w.call.insuplc_admdvs.empty())) {
        auto set = [adm_id = w.item.adm_id, psn_no = w.call.psn_no, insutype = w.call.insutype,
                    area = w.call.insuplc_admdvs, at = now_ms()](sql::Db& db) {
          return ledger::set_stay_person(db, adm_id, psn_no, insutype, at, area);
        };
        auto stored = co_await ledger_write(p_.ledger, std::move(set));
        if (stored) {
          person_known = true;
        } else {
          reply.outcome = flow::CallOutcome::refused;
          reply.detail = stored.error().message;
          person_known = false;
        }
      } else if (!person_known) {
        reply = who;
      } else if (who.outcome == flow::CallOutcome::unreachable) {
        reply = who;
        asked = false;
      }
      // (a person the insurer does not name by the card: the item goes with the hospital's area, as before)
    }
    EncodedCall enc = person_known && asked ? encode_call(w.call, p_.policy, now_ms()) : EncodedCall{};
    if (!person_known || !asked) {
      // reply says why: the 1101 went unanswered or named nobody
    } else if (enc.cannot) {
      reply.outcome = flow::CallOutcome::refused;
      reply.detail = *enc.cannot;
    } else {
      CallSpec spec;
      spec.infno = std::move(enc.infno);
      spec.input = std::move(enc.input);
      spec.request_id = w.call.request_id;
      if (!w.call.psn_no.empty()) spec.psn_no = w.call.psn_no;
      spec.insuplc_admdvs = w.call.insuplc_admdvs;  // the stay's person's ("" the hospital's)
      const CallResult r = co_await p_.gateway.call(std::move(spec));
      p_.metrics.insurer_call(r.infno, outcome_label(r), r.elapsed_ms * 1000LL);
      reply = reply_of(w.call.txn, r, {});
    }
    const std::int64_t at = now_ms();
    auto done = [w, reply, policy, at](sql::Db& db) { return ledger::finish_stay_work(db, w, reply, policy, at); };
    auto f = co_await ledger_write(p_.ledger, std::move(done));
    if (!f) {
      spdlog::critical("ledger: could not record the insurer's answer to stay {}'s item {} ({}): {}", w.item.adm_id,
                       w.item.item_id, flow::txn_code(w.call.txn), f.error().message);
      co_return -1;
    }
    if (reply.outcome == flow::CallOutcome::ok) {
      spdlog::info("stays: stay {}'s {} forwarded ({}){}", w.item.adm_id, ledger::name(w.item.kind),
                   flow::txn_code(w.call.txn), reply.rejected.empty() ? "" : "; rejected: " + reply.rejected);
      if (!reply.rejected.empty() && w.item.setl_id)
        work_added("rejected_offline_settlement",
                   Json{{"setl_id", std::to_string(*w.item.setl_id)}, {"reason", reply.rejected}});
    } else {
      if (*f == ForwardVerdict::park)
        work_added(fmt::format("parked_stay_{}", ledger::name(w.item.kind)),
                   Json{{"queue", "stay"}, {"item_id", w.item.item_id}, {"adm_id", std::to_string(w.item.adm_id)},
                        {"reason", reply.detail}});
      spdlog::warn("stays: stay {}'s {} not forwarded ({} {}: {})", w.item.adm_id, ledger::name(w.item.kind),
                   flow::txn_code(w.call.txn), flow::call_outcome_name(reply.outcome), reply.detail);
      if (reply.outcome != flow::CallOutcome::refused) break;  // the line's problem: later
    }
  }
  co_return co_await open();
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
      const std::int64_t stays = reversals == 0 ? co_await flush_stay_items() : -1;
      // Parked items are not counted: they never hold the line in draining.
      if (network_.state() == NetworkState::draining && drained(reversals, uploads) && stays == 0)
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
    const std::int64_t stays = reversals == 0 ? co_await flush_stay_items() : -1;
    if (network_.state() == NetworkState::draining && drained(reversals, uploads) && stays == 0)
      network_moved(network_.on_drained(now_ms()));
    if (reversals < 0 || (reversals == 0 && uploads <= 0 && stays <= 0)) break;
    const std::int64_t left = reversals + std::max<std::int64_t>(0, uploads) + std::max<std::int64_t>(0, stays);
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

// ---- parked items (supervisors) ---------------------------------------------------------

namespace {
std::string_view queue_name(bool stay) { return stay ? "stay" : "outbox"; }
}  // namespace

awaitable<Reply> Service::outbox_parked(const cashier::SessionInfo&) {
  auto job = [](sql::Db& db) { return ledger::list_parked(db); };
  auto parked = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
  if (!parked) co_return fail(parked.error().to_error());
  Json items = Json::array();
  for (const ledger::ParkedItem& p : *parked) {
    const ledger::OutboxItem& it = p.item;
    Json j{{"item_id", it.item_id},
           {"kind", ledger::name(it.kind)},
           {"psn_no_masked", p.psn_no ? Json(cashier::mask_card_no(*p.psn_no)) : Json(nullptr)},
           {"refusals", it.refusals},
           {"attempts", it.attempts},
           {"reason", it.last_error.value_or("")},
           {"since", iso_time(it.updated_at_ms)}};
    if (it.kind == ledger::OutboxKind::reversal)
      j["msgid"] = it.ref_msgid.value_or("");
    else
      j["setl_id"] = std::to_string(it.setl_id.value_or(0));
    j["queue"] = "outbox";
    items.push_back(std::move(j));
  }
  auto job_stays = [](sql::Db& db) { return ledger::list_parked_stay_items(db); };
  auto stays = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job_stays));
  if (!stays) co_return fail(stays.error().to_error());
  for (const ledger::ParkedStayItem& p : *stays) {
    const ledger::StayItem& it = p.item;
    Json j{{"queue", "stay"},
           {"item_id", it.item_id},
           {"kind", fmt::format("stay_{}", ledger::name(it.kind))},
           {"adm_id", std::to_string(it.adm_id)},
           {"psn_no_masked", p.psn_no.empty() ? Json(nullptr) : Json(cashier::mask_card_no(p.psn_no))},
           {"refusals", it.refusals},
           {"attempts", it.attempts},
           {"reason", it.last_error.value_or("")},
           {"since", iso_time(it.updated_at_ms)},
           {"behind", p.behind ? Json(*p.behind) : Json(nullptr)}};
    if (it.request_id) j["request_id"] = *it.request_id;
    if (it.setl_id) j["setl_id"] = std::to_string(*it.setl_id);
    items.push_back(std::move(j));
  }
  co_return Reply::ok(Json{{"items", std::move(items)}});
}

awaitable<Reply> Service::outbox_retry(const cashier::SessionInfo& s, const cashier::OutboxRetryParams& p) {
  const std::int64_t at = now_ms();
  auto job = [id = p.item_id, stay = p.stay, who = s.operator_name, at](sql::Db& db) {
    return stay ? ledger::retry_parked_stay_item(db, id, who, at) : ledger::retry_parked(db, id, who, at);
  };
  auto w = co_await ledger_write(p_.ledger, std::move(job));
  if (!w) co_return fail(w.error().to_error());
  spdlog::info("{} item {}: retried by supervisor {}", queue_name(p.stay), p.item_id, s.operator_name);
  reversal_wakeup_.cancel();  // the line worker sends it at once
  co_return Reply::ok(Json{{"queue", queue_name(p.stay)}, {"item_id", p.item_id}, {"state", "pending"}});
}

// A parked item is closed without the insurer only by a correction: this
// records one (target outbox or stay, action resolve) with the note as its
// reason; a second person's correction.approve resolves the item.
awaitable<Reply> Service::outbox_resolve(const cashier::SessionInfo& s, const cashier::OutboxResolveParams& p) {
  cashier::CorrectionRecordParams c;
  c.target = p.stay ? "stay" : "outbox";
  c.item_id = p.item_id;
  c.action = "resolve";
  c.reason = p.note;
  Reply r = co_await correction_record(s, c);
  if (r.error) {
    if (r.error->error.field.empty()) r.error->error.field = "item_id";
    co_return r;
  }
  co_return Reply::ok(Json{{"queue", queue_name(p.stay)},
                           {"item_id", p.item_id},
                           {"state", "parked"},
                           {"correction", std::move(*r.result)}});
}

}  // namespace settle::daemon
