// InsurerGateway: msgid → ledger → TLS client → envelope decode, with the
// sign-in handled once for all callers and the line's state fed on the way.
#include "tools/settled/gateway.hpp"

#include "protocol/insurer/redlist_fast.hpp"

#include "offline/ledger_ops.hpp"
#include "protocol/insurer/codecs.hpp"
#include "tools/settled/clock.hpp"

#include <boost/asio/redirect_error.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

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

bool moves_money(std::string_view infno) noexcept {
  return infno == "2207" || infno == "2208" || infno == "2304" || infno == "2305" || infno == "9301";
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

sql::Status record_in_doubt_with_reversal(sql::Db& db, const CallResult& r, std::string_view psn_no,
                                          std::int64_t at_ms) {
  SETTLE_SQL_TRY(ledger::mark_in_doubt(db, r.msgid, at_ms));
  const json::Json payload{{"psn_no", psn_no}, {"oinfno", r.infno}};
  auto id = ledger::enqueue_outbox(db, ledger::OutboxKind::reversal, std::nullopt, r.msgid, payload.dump(), at_ms);
  if (!id) return id.error();
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
      on_line_(std::move(on_line)),
      sign_in_done_(ex) {}

std::string InsurerGateway::next_msgid() { return msgids_.next(insurer_civil_time(now_ms())); }

awaitable<CallResult> InsurerGateway::send(const CallSpec& spec, const std::string& msgid) {
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
    if (out.http_status != 200) {
      // The insurer's front end refused the request (signature, certificate): nothing was processed.
      auto decoded = insurer::decode_response(out.body, msgid);
      if (decoded) {
        r.response = std::move(*decoded);
      } else {
        r.response = insurer::Response{};
        r.response->infcode = insurer::infcode_error;
        r.response->inf_refmsgid = msgid;
        r.response->err_msg = fmt::format("HTTP {} from the insurer", out.http_status);
      }
    } else if (auto decoded = spec.keep_body ? insurer::decode_response_head(out.body, msgid)
                                             : insurer::decode_response(out.body, msgid);
               decoded) {
      r.response = std::move(*decoded);
      if (spec.keep_body) r.body = out.body;
    } else {
      // A reply we cannot read may hide an effect: treat it as no reply.
      r.kind = insurer::OutcomeClass::in_doubt;
      r.detail = fmt::format("unreadable reply: {}", decoded.error().message);
    }
  }
  if (on_line_) on_line_(line_outcome(r.kind));
  co_return std::move(r);
}

awaitable<bool> InsurerGateway::ensure_signed_in() {
  if (!sign_no_.empty()) co_return true;
  if (signing_in_) {
    // Another call is signing in: wait for it (the timer is cancelled when it ends).
    boost::system::error_code ec;
    sign_in_done_.expires_at(asio::steady_timer::time_point::max());
    co_await sign_in_done_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    co_return !sign_no_.empty();
  }
  const CallResult r = co_await sign_in();
  co_return r.succeeded();
}

awaitable<CallResult> InsurerGateway::sign_in() {
  signing_in_ = true;
  CallSpec spec;
  spec.infno = std::string(insurer::SignIn::infno);
  insurer::SignIn::Input in;
  in.opter_no = "settled";
  in.mac = "00:00:00:00:00:00";
  in.ip = "127.0.0.1";
  spec.input = in.encode();
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
  signing_in_ = false;
  sign_in_done_.cancel();
  co_return r;
}

awaitable<CallResult> InsurerGateway::call(CallSpec spec) {
  const bool is_sign_in = spec.infno == insurer::SignIn::infno;
  if (!is_sign_in && !co_await ensure_signed_in()) {
    CallResult r;
    r.kind = insurer::OutcomeClass::unreachable;
    r.infno = spec.infno;
    r.detail = "could not sign in to the insurer (9001)";
    co_return r;
  }

  for (int attempt = 0;; ++attempt) {
    // A msgid the caller recorded is used for the first attempt only.
    const bool preset = attempt == 0 && spec.msgid.has_value();
    const std::string msgid = preset ? *spec.msgid : next_msgid();
    ledger::Message m;
    m.msgid = msgid;
    m.infno = spec.infno;
    m.request_id = spec.request_id;
    m.reverses_msgid = spec.reverses_msgid;
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
    } else {
      ledger_write_detached(ledger_, [m](sql::Db& db) { return ledger::record_message(db, m); },
                            [msgid](const sql::DbError& e) {
                              spdlog::error("ledger: recording msgid {} failed: {}", msgid, e.message);
                            });
    }

    CallResult r = co_await send(spec, msgid);
    if (!spec.moves_money) {
      // A query (or a reversal) whose reply was lost has nothing to undo and is
      // asked again with a new msgid: abandoned, as start-up recovery closes it,
      // not in doubt (which only a reversal would ever clear).
      const std::int64_t at = now_ms();
      // The outcome without the reply's output (a 3202 page is large; the
      // ledger records only the infcode and err_msg).
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
    }
    // A refusal for the sign-in means nothing was processed: sign in again, once.
    if (!is_sign_in && attempt == 0 && refused_for_sign_no(r)) {
      if (spec.moves_money) {
        const std::int64_t at = now_ms();
        auto job2 = [r, at](sql::Db& db) { return record_outcome(db, r, at); };
        (void)co_await ledger_write(ledger_, std::move(job2));
      }
      sign_no_.clear();
      if (!co_await ensure_signed_in()) co_return r;
      continue;
    }
    co_return std::move(r);
  }
}

}  // namespace settle::daemon
