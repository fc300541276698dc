// A flow's insurer call as the national interface's transaction (its infno
// and input, from the codecs) and the gateway's result as the flow's reply:
// shared by the cashier calls' seams and the forwarder of stays.
#pragma once

#include "engine/flow.hpp"
#include "engine/policy.hpp"
#include "tools/settled/gateway.hpp"

#include <optional>
#include <string>

namespace settle::daemon {

// The transaction of a call, or why it cannot be made (a refusal of ours:
// nothing is sent).
struct EncodedCall {
  std::string infno;
  json::Json input;
  std::optional<std::string> cannot;
};
EncodedCall encode_call(const flow::InsurerCall& c, const Policy& policy, std::int64_t now_ms);

// What one gateway call came to, as the flow reads it: the reply's output
// decoded for the call that was made. An output that cannot be read proves
// nothing: a call reversed when lost is then in doubt, any other is refused.
flow::InsurerReply reply_of(flow::Txn txn, const CallResult& r, const std::string& given_msgid);

}  // namespace settle::daemon
