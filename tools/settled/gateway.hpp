// The insurer gateway: every call to the insurer goes through here. It issues
// the msgid, writes it to the ledger (durably before sending when the call
// moves money), signs in when needed, sends through the pooled TLS client,
// decodes the envelope, and reports each outcome to the line's state machine.
#pragma once

#include "engine/network_state.hpp"
#include "offline/ledger.hpp"
#include "offline/msgid.hpp"
#include "protocol/insurer/client.hpp"
#include "protocol/insurer/envelope.hpp"
#include "tools/settled/async.hpp"
#include "tools/settled/clock_skew.hpp"
#include "tools/settled/config.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace settle::daemon {

// Insurer transactions that move money: their msgid is durable before they
// are sent, and one left in doubt is reversed (2601).
bool moves_money(std::string_view infno) noexcept;

// What the body of an HTTP reply turned out to be.
enum class ReplyEnvelope : std::uint8_t {
  none,     // not a decodable envelope (a proxy's HTML page, garbage, nothing)
  refusal,  // an envelope with a non-zero infcode
  ok,       // an envelope with infcode 0
};

// Whether an answered reply is the insurer's refusal of the request's
// timestamp: HTTP 401 with its refusal naming x-tif-timestamp (the signature
// window, insurer-protocol.md). Such a request was not processed.
bool refused_for_timestamp(unsigned http_status, std::string_view err_msg) noexcept;

// How the gateway takes one HTTP reply.
enum class HttpReplyClass : std::uint8_t {
  envelope,  // the decoded envelope is the answer, as it is
  refusal,   // an answered refusal of the call (infcode -1, "HTTP <status> from the insurer")
  in_doubt,  // the request may have had its effect: a money-moving call is reversed
};

// The rule, in one place. HTTP 200: the envelope is the answer; a body that
// does not decode may hide an effect (in doubt). Any other status: only the
// insurer's own refusal envelope proves that nothing was processed; anything
// else (a 502/504 page from a proxy that may have come after the insurer did
// the work) leaves a money-moving call in doubt, and is a refusal of any
// other call (a query is asked again; a 2601 reversal or a 9302 upload that
// did not succeed is retried later, never taken as done).
HttpReplyClass classify_http_reply(unsigned http_status, ReplyEnvelope envelope, bool moves_money) noexcept;

struct CallSpec {
  std::string infno;
  json::Json input = json::Json::object();
  std::string insuplc_admdvs;             // the person's insured area; default from the config
  std::string opter = "settled";          // operator number in the envelope
  std::string opter_name = "settled";
  std::optional<std::string> request_id;  // the cashier request this call serves
  std::optional<std::string> psn_no;      // the person it is for (kept with a money call's msgid, for its reversal)
  std::optional<std::string> reverses_msgid;
  bool moves_money = false;  // msgid durable before sending; the caller records the outcome
  std::optional<std::string> msgid;       // issued and recorded by the caller (moves_money only)
  std::optional<std::uint32_t> timeout_ms;
  // Large replies (9303): only the envelope is decoded here; the body is kept
  // in CallResult::body for the caller's own decoder.
  bool keep_body = false;
};

struct CallResult {
  insurer::OutcomeClass kind = insurer::OutcomeClass::unreachable;
  std::string msgid;
  std::string infno;
  std::optional<insurer::Response> response;  // answered with a readable envelope
  std::string detail;                          // why, for logs and errors
  std::uint32_t elapsed_ms = 0;
  std::string body;  // the reply body, with CallSpec::keep_body
  // Answered by an HTTP error page instead of the insurer's envelope (a
  // gateway's 5xx): refused, nothing done, the insurer's system failing.
  bool error_page = false;
  // The insurer refused the request for its timestamp (HTTP 401 naming
  // x-tif-timestamp: this host's clock is off by more than its window), or
  // the sign-in the call waited for was refused so. Nothing was done: the
  // result is `unreachable`, the line not usable from this host.
  bool clock_refused = false;

  bool answered() const { return kind == insurer::OutcomeClass::answered; }
  bool succeeded() const { return answered() && response && response->infcode == insurer::infcode_ok; }
  bool in_doubt() const { return kind == insurer::OutcomeClass::in_doubt; }
};

// The ledger writes that record a money-moving call's outcome; the caller
// runs them inside its own job so the outcome and its consequences (the
// settlement row, the queued reversal) are durable together.
sql::Status record_outcome(sql::Db& db, const CallResult& r, std::int64_t at_ms);

class InsurerGateway {
 public:
  // Each call's outcome for the line, with the time it was sent.
  using LineListener = std::function<void(LineOutcome, std::int64_t sent_at_ms)>;

  InsurerGateway(asio::any_io_executor ex, std::shared_ptr<insurer::Client> client, ledger::Ledger& ledger,
                 ledger::MsgidAllocator& msgids, const Config& config, LineListener on_line);

  // One call. Never throws; every failure is in the result. A storage failure
  // before sending is reported as unreachable (nothing was sent). With
  // CallSpec::timeout_ms the whole call keeps to it: waiting for a sign-in,
  // the sign-in itself and the request share that budget.
  awaitable<CallResult> call(CallSpec spec);

  // 9001 now (the probe). Callers waiting for a sign-in are woken when it ends.
  awaitable<CallResult> sign_in();

  std::string next_msgid();
  const std::string& sign_no() const { return sign_no_; }
  // This host's clock against the insurer's, from its replies.
  const ClockSkew& clock_skew() const { return clock_skew_; }

 private:
  using Clock = std::chrono::steady_clock;

  awaitable<CallResult> send(const CallSpec& spec, const std::string& msgid);
  // Signs in unless signed in; joins a sign-in already under way. Gives up at
  // `deadline` (the caller's budget), which also bounds its own 9001.
  awaitable<bool> ensure_signed_in(std::optional<Clock::time_point> deadline);
  awaitable<CallResult> do_sign_in(std::optional<std::uint32_t> timeout_ms);

  asio::any_io_executor ex_;
  std::shared_ptr<insurer::Client> client_;
  ledger::Ledger& ledger_;
  ledger::MsgidAllocator& msgids_;
  const Config& config_;
  LineListener on_line_;
  ClockSkew clock_skew_;
  std::string sign_no_;
  // Sign-ins (9001) under way, and one timer per caller waiting for them:
  // each timer expires at its caller's deadline and is cancelled when a
  // sign-in ends. Shared with the waiting coroutine so that a cancel never
  // reaches a timer that is gone. At most one per call in progress.
  int signing_in_ = 0;
  std::vector<std::shared_ptr<asio::steady_timer>> sign_in_waiters_;
};

}  // namespace settle::daemon
