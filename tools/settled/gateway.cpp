// InsurerGateway: msgid → ledger → TLS client → envelope decode, with the
// sign-in handled once for all callers and the line's state fed on the way.
#include "tools/settled/gateway.hpp"

#include "protocol/insurer/redlist_fast.hpp"

#include "engine/flow.hpp"

#include "offline/ledger_ops.hpp"
#include "protocol/insurer/codecs.hpp"
#include "protocol/insurer/signing.hpp"
#include "tools/settled/clock.hpp"

#include <boost/asio/redirect_error.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace settle::daemon {
namespace {

LineOutcome line_outcome(insurer::OutcomeClass c) {
  switch (c) {
    case insurer::OutcomeClass::answered: return LineOutcome::answered;
    case insurer::OutcomeClass::unreachable: return LineOutcome::unreachable;
    case insurer::OutcomeClass::in_doubt: return LineOutcome::in_doubt;
  }
  return LineOutcome::unreachable;
}

bool refused_for_sign_no(const CallResult& r) {
  return r.answered() && r.response && r.response->infcode != insurer::infcode_ok &&
         r.response->err_msg.find("not signed in") != std::string::npos;
}

}  // namespace

bool moves_money(std::string_view infno) noexcept { return flow::moves_money(infno); }

bool refused_for_timestamp(unsigned http_status, std::string_view err_msg) noexcept {
  return http_status == 401 && err_msg.find(insurer::header_timestamp) != std::string_view::npos;
}

HttpReplyClass classify_http_reply(unsigned http_status, ReplyEnvelope envelope, bool moves_money) noexcept {
  // The rule is the engine's (flow::classify_reply); this maps it onto what the gateway keeps of the reply.
  const bool readable = envelope != ReplyEnvelope::none;
  switch (flow::classify_reply(static_cast<int>(http_status), readable, envelope == ReplyEnvelope::ok, moves_money)) {
    case flow::CallOutcome::ok: return HttpReplyClass::envelope;
    case flow::CallOutcome::refused: return readable && envelope == ReplyEnvelope::refusal ? HttpReplyClass::envelope
                                                                                            : HttpReplyClass::refusal;
    case flow::CallOutcome::in_doubt:
    case flow::CallOutcome::unreachable: return HttpReplyClass::in_doubt;
  }
  return HttpReplyClass::in_doubt;
}

sql::Status record_outcome(sql::Db& db, const CallResult& r, std::int64_t at_ms) {
  switch (r.kind) {
    case insurer::OutcomeClass::answered:
      return ledger::mark_answered(db, r.msgid, at_ms, r.response ? r.response->infcode : insurer::infcode_error,
                                   r.response ? std::optional<std::string_view>(r.response->err_msg) : std::nullopt);
    case insurer::OutcomeClass::in_doubt:
      return ledger::mark_in_doubt(db, r.msgid, at_ms);
    case insurer::OutcomeClass::unreachable:
      return ledger::mark_unsent(db, r.msgid, at_ms);
  }
  return settle::Ok{};
}

InsurerGateway::InsurerGateway(asio::any_io_executor ex, std::shared_ptr<insurer::Client> client,
                               ledger::Ledger& ledger, ledger::MsgidAllocator& msgids, const Config& config,
                               LineListener on_line)
    : ex_(ex),
      client_(std::move(client)),
      ledger_(ledger),
      msgids_(msgids),
      config_(config),
      on_line_(std::move(on_line)) {}

std::string InsurerGateway::next_msgid() { return msgids_.next(insurer_civil_time(now_ms())); }

awaitable<CallResult> InsurerGateway::send(const CallSpec& spec, const std::string& msgid) {
  const std::int64_t sent_at = now_ms();
  insurer::RequestHeader head;
  head.infno = spec.infno;
  head.msgid = msgid;
  head.mdtrtarea_admvs = config_.institution.area;
  head.insuplc_admdvs = spec.insuplc_admdvs.empty() ? config_.institution.insurer_area : spec.insuplc_admdvs;
  head.opter = spec.opter;
  head.opter_name = spec.opter_name;
  head.inf_time = insurer::inf_time_text(now_ms() / 1000);
  head.fixmedins_code = config_.institution.code;
  head.fixmedins_name = config_.institution.name;
  head.sign_no = spec.infno == insurer::SignIn::infno ? std::string() : sign_no_;

  insurer::LinkRequest req;
  req.body = insurer::encode_request(head, spec.input);
  req.infno = spec.infno;
  req.msgid = msgid;
  req.request_timeout_ms = spec.timeout_ms;
  const insurer::Outcome out = co_await client_->post(std::move(req));

  CallResult r;
  r.kind = out.kind;
  r.msgid = msgid;
  r.infno = spec.infno;
  r.elapsed_ms = out.elapsed_ms;
  r.detail = out.detail;
  if (out.answered()) {
    auto decoded = spec.keep_body && out.http_status == 200 ? insurer::decode_response_head(out.body, msgid)
                                                            : insurer::decode_response(out.body, msgid);
    const ReplyEnvelope envelope = !decoded                                     ? ReplyEnvelope::none
                                   : decoded->infcode == insurer::infcode_ok ? ReplyEnvelope::ok
                                                                              : ReplyEnvelope::refusal;
    switch (classify_http_reply(out.http_status, envelope, spec.moves_money)) {
      case HttpReplyClass::envelope:
        r.response = std::move(*decoded);
        if (spec.keep_body) r.body = out.body;
        break;
      case HttpReplyClass::refusal:
        r.response = insurer::Response{};
        r.response->infcode = insurer::infcode_error;
        r.response->inf_refmsgid = msgid;
        r.response->err_msg = fmt::format("HTTP {} from the insurer", out.http_status);
        r.error_page = true;
        break;
      case HttpReplyClass::in_doubt:
        // A reply we cannot read, or an error status that is not the
        // insurer's refusal, may hide an effect: treat it as no reply.
        r.kind = insurer::OutcomeClass::in_doubt;
        r.detail = !decoded ? fmt::format("HTTP {} with an unreadable reply: {}", out.http_status,
                                          decoded.error().message)
                            : fmt::format("HTTP {} with infcode {}", out.http_status, decoded->infcode);
        break;
    }
  }
  if (out.clock_offset_s) clock_skew_.measured(*out.clock_offset_s, now_ms());
  if (r.answered() && r.response && r.response->infcode != insurer::infcode_ok &&
      refused_for_timestamp(out.http_status, r.response->err_msg)) {
    // Not processed: the line is not usable from this host until its clock is right.
    r.kind = insurer::OutcomeClass::unreachable;
    r.clock_refused = true;
    r.detail = fmt::format("the insurer refused the request's timestamp (this host's clock is off): {}",
                           r.response->err_msg);
    clock_skew_.refused(true, r.response->err_msg);
  } else if (r.answered()) {
    clock_skew_.refused(false);
  }
  if (on_line_) on_line_(line_outcome(r.kind), sent_at);
  co_return std::move(r);
}

namespace {

// Milliseconds left before `deadline` (0 once it has passed); none without one.
std::optional<std::uint32_t> remaining_ms(std::optional<std::chrono::steady_clock::time_point> deadline) {
  if (!deadline) return std::nullopt;
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now()).count();
  return static_cast<std::uint32_t>(std::max<std::int64_t>(0, left));
}

}  // namespace

awaitable<bool> InsurerGateway::ensure_signed_in(std::optional<Clock::time_point> deadline) {
  if (!sign_no_.empty()) co_return true;
  if (signing_in_ > 0) {
    // A sign-in is under way: wait on a timer of our own, expiring at our
    // deadline, which the sign-in cancels when it ends. Waiting touches
    // nothing the other waiters wait on.
    auto mine = std::make_shared<asio::steady_timer>(ex_, deadline.value_or(Clock::time_point::max()));
    sign_in_waiters_.push_back(mine);
    while (signing_in_ > 0 && sign_no_.empty()) {
      boost::system::error_code ec;
      co_await mine->async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) break;  // our deadline: no time left to wait
    }
    std::erase(sign_in_waiters_, mine);
    co_return !sign_no_.empty();
  }
  const std::optional<std::uint32_t> budget = remaining_ms(deadline);
  if (budget && *budget == 0) co_return false;
  const CallResult r = co_await do_sign_in(budget);
  co_return r.succeeded() && !sign_no_.empty();
}

awaitable<CallResult> InsurerGateway::sign_in() { return do_sign_in(std::nullopt); }

awaitable<CallResult> InsurerGateway::do_sign_in(std::optional<std::uint32_t> timeout_ms) {
  ++signing_in_;
  CallSpec spec;
  spec.infno = std::string(insurer::SignIn::infno);
  insurer::SignIn::Input in;
  in.opter_no = "settled";
  in.mac = "00:00:00:00:00:00";
  in.ip = "127.0.0.1";
  spec.input = in.encode();
  spec.timeout_ms = timeout_ms;
  CallResult r = co_await call(spec);
  if (r.succeeded()) {
    auto out = insurer::SignIn::Output::decode(r.response->output);
    if (out) {
      sign_no_ = out->sign_no;
      spdlog::info("insurer: signed in");
    } else {
      r.kind = insurer::OutcomeClass::in_doubt;
      r.detail = out.error().message;
    }
  }
  --signing_in_;
  // Wake every waiter; each looks at sign_no_ (and at other sign-ins under way).
  for (const auto& w : sign_in_waiters_) w->cancel();
  co_return r;
}

awaitable<CallResult> InsurerGateway::call(CallSpec spec) {
  const bool is_sign_in = spec.infno == insurer::SignIn::infno;
  const std::optional<Clock::time_point> deadline =
      spec.timeout_ms ? std::optional(Clock::now() + std::chrono::milliseconds(*spec.timeout_ms)) : std::nullopt;
  // Nothing sent: the caller's recorded msgid, if any, is reported unsent.
  const auto not_sent = [&spec](std::string detail) {
    CallResult r;
    r.kind = insurer::OutcomeClass::unreachable;
    r.msgid = spec.msgid.value_or(std::string());
    r.infno = spec.infno;
    r.detail = std::move(detail);
    return r;
  };
  if (!is_sign_in && !co_await ensure_signed_in(deadline)) {
    CallResult r = not_sent(clock_skew_.refusing()
                                ? "could not sign in to the insurer (9001): it refuses this host's request timestamps"
                            : remaining_ms(deadline) == std::optional<std::uint32_t>(0)
                                ? "could not sign in to the insurer (9001) within the call's deadline"
                                : "could not sign in to the insurer (9001)");
    r.clock_refused = clock_skew_.refusing();
    co_return r;
  }

  for (int attempt = 0;; ++attempt) {
    if (attempt == 0 && remaining_ms(deadline) == std::optional<std::uint32_t>(0))
      co_return not_sent(fmt::format("no time left for {} within the call's deadline", spec.infno));
    // A msgid the caller recorded is used for the first attempt only.
    const bool preset = attempt == 0 && spec.msgid.has_value();
    const std::string msgid = preset ? *spec.msgid : next_msgid();
    ledger::Message m;
    m.msgid = msgid;
    m.infno = spec.infno;
    m.request_id = spec.request_id;
    m.psn_no = spec.psn_no;
    m.reverses_msgid = spec.reverses_msgid;
    m.insuplc_admdvs = spec.insuplc_admdvs;  // its reversal's ("" the hospital's)
    m.created_at_ms = now_ms();
    m.updated_at_ms = m.created_at_ms;
    if (preset) {
      SETTLE_ASSERT(spec.moves_money);
    } else if (spec.moves_money) {
      // The msgid is durable before a byte is sent: after a crash it is found and reversed.
      auto job1 = [m](sql::Db& db) { return ledger::record_message(db, m); };
      auto w = co_await ledger_write(ledger_, std::move(job1));
      if (!w) {
        CallResult r;
        r.kind = insurer::OutcomeClass::unreachable;
        r.msgid = msgid;
        r.infno = spec.infno;
        r.detail = fmt::format("the ledger could not record msgid {}: {}", msgid, w.error().message);
        co_return r;
      }
    } else if (spec.reverses_msgid) {
      // A reversal's msgid is written before it is sent, for the office's
      // trail of what was asked to be undone (not awaited: a reversal lost
      // is asked again).
      ledger_write_detached(ledger_, [m](sql::Db& db) { return ledger::record_message(db, m); },
                            [msgid](const sql::DbError& e) {
                              spdlog::error("ledger: recording msgid {} failed: {}", msgid, e.message);
                            });
    }
    // A query's msgid is written once, with its outcome, after the reply.

    // The request gets what is left of the call's budget (after the sign-in
    // and the ledger write); the check above keeps it from being spent.
    if (const auto left = remaining_ms(deadline)) spec.timeout_ms = std::max<std::uint32_t>(1, *left);
    const std::string sign_no_used = sign_no_;
    CallResult r = co_await send(spec, msgid);
    if (!spec.moves_money) {
      // A query or a reversal whose reply was lost has nothing to undo and is
      // asked again with a new msgid: abandoned, as start-up recovery closes
      // it, not in doubt (which only a reversal would ever clear).
      const std::int64_t at = now_ms();
      if (spec.reverses_msgid) {
        // The outcome without the reply's output.
        CallResult outcome;
        outcome.kind = r.kind;
        outcome.msgid = r.msgid;
        outcome.infno = r.infno;
        if (r.response) {
          outcome.response.emplace();
          outcome.response->infcode = r.response->infcode;
          outcome.response->err_msg = r.response->err_msg;
        }
        ledger_write_detached(ledger_,
                              [r = std::move(outcome), at](sql::Db& db) {
                                return r.in_doubt() ? ledger::mark_abandoned(db, r.msgid, at) : record_outcome(db, r, at);
                              },
                              [msgid](const sql::DbError& e) {
                                spdlog::error("ledger: recording the outcome of msgid {} failed: {}", msgid, e.message);
                              });
      } else {
        // A query's message, written once with its outcome: the infcode and
        // err_msg, not the reply's output (a 3202 page is large).
        ledger::Message q = m;
        q.updated_at_ms = at;
        q.state = r.in_doubt()                                 ? ledger::MessageState::abandoned
                  : r.kind == insurer::OutcomeClass::unreachable ? ledger::MessageState::unsent
                                                                 : ledger::MessageState::answered;
        if (r.answered()) {
          q.infcode = r.response ? r.response->infcode : insurer::infcode_error;
          if (r.response) q.err_msg = r.response->err_msg;
        }
        // Answered, unsent or abandoned: never open, never in doubt, so no
        // figure LiveWork keeps changes with it.
        ledger_write_detached(
            ledger_, [q = std::move(q)](sql::Db& db) { return ledger::record_query(db, q); },
            [msgid](const sql::DbError& e) {
              spdlog::error("ledger: recording query msgid {} failed: {}", msgid, e.message);
            },
            ledger::Writer::Touches::untracked);
      }
    }
    // A refusal for the sign-in means nothing was processed: sign in again, once.
    if (!is_sign_in && attempt == 0 && refused_for_sign_no(r)) {
      if (spec.moves_money) {
        const std::int64_t at = now_ms();
        auto job2 = [r, at](sql::Db& db) { return record_outcome(db, r, at); };
        (void)co_await ledger_write(ledger_, std::move(job2));
      }
      // Only the sign-in this request carried is dropped: another call may
      // already have signed in again.
      if (sign_no_ == sign_no_used) sign_no_.clear();
      if (!co_await ensure_signed_in(deadline)) co_return r;
      if (remaining_ms(deadline) == std::optional<std::uint32_t>(0)) co_return r;
      continue;
    }
    co_return std::move(r);
  }
}

}  // namespace settle::daemon
