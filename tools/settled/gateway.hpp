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
#include "tools/settled/config.hpp"

#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace settle::daemon {

// Insurer transactions that move money: their msgid is durable before they
// are sent, and one left in doubt is reversed (2601).
bool moves_money(std::string_view infno) noexcept;

struct CallSpec {
  std::string infno;
  json::Json input = json::Json::object();
  std::string insuplc_admdvs;             // the person's insured area; default from the config
  std::string opter = "settled";          // operator number in the envelope
  std::string opter_name = "settled";
  std::optional<std::string> request_id;  // the cashier request this call serves
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

  bool answered() const { return kind == insurer::OutcomeClass::answered; }
  bool succeeded() const { return answered() && response && response->infcode == insurer::infcode_ok; }
  bool in_doubt() const { return kind == insurer::OutcomeClass::in_doubt; }
};

// The ledger writes that record a money-moving call's outcome; the caller
// runs them inside its own job so the outcome and its consequences (the
// settlement row, the queued reversal) are durable together.
sql::Status record_outcome(sql::Db& db, const CallResult& r, std::int64_t at_ms);
// For an in-doubt call: marks it and queues its reversal (2601) for psn_no.
sql::Status record_in_doubt_with_reversal(sql::Db& db, const CallResult& r, std::string_view psn_no,
                                          std::int64_t at_ms);

class InsurerGateway {
 public:
  using LineListener = std::function<void(LineOutcome)>;

  InsurerGateway(asio::any_io_executor ex, std::shared_ptr<insurer::Client> client, ledger::Ledger& ledger,
                 ledger::MsgidAllocator& msgids, const Config& config, LineListener on_line);

  // One call. Never throws; every failure is in the result. A storage failure
  // before sending is reported as unreachable (nothing was sent).
  awaitable<CallResult> call(CallSpec spec);

  // 9001 now (the probe, and after a "not signed in" refusal).
  awaitable<CallResult> sign_in();

  std::string next_msgid();
  const std::string& sign_no() const { return sign_no_; }

 private:
  awaitable<CallResult> send(const CallSpec& spec, const std::string& msgid);
  awaitable<bool> ensure_signed_in();

  asio::any_io_executor ex_;
  std::shared_ptr<insurer::Client> client_;
  ledger::Ledger& ledger_;
  ledger::MsgidAllocator& msgids_;
  const Config& config_;
  LineListener on_line_;
  std::string sign_no_;
  bool signing_in_ = false;
  asio::steady_timer sign_in_done_;
};

}  // namespace settle::daemon
