// Store-and-forward's daemon side: how an insurer call's result is read as
// an answer for engine/store_forward.hpp's decisions, the policy from the
// config, and the sizes of 9302 batches. The forwarding itself (recovery,
// reversals, uploads, the line worker, uploads.flush, the parked items'
// methods) is Service's, in forwarder.cpp.
#pragma once

#include "engine/store_forward.hpp"
#include "protocol/insurer/codecs.hpp"
#include "tools/settled/config.hpp"
#include "tools/settled/gateway.hpp"

#include <cstdint>
#include <string>

namespace settle::daemon {

// Records per 9302 call (the codec allows insurer::max_offline_batch), and
// the charge lines of one call: at most ~1 KB of JSON a line, so a batch
// stays near 2 MB, half the envelope's body limit (docs/offline.md).
inline constexpr int upload_batch = 500;
inline constexpr std::int64_t upload_batch_lines = 2000;
static_assert(upload_batch <= static_cast<int>(insurer::max_offline_batch));

ForwardPolicy forward_policy(const ReversalConfig& c) noexcept;

// What a call that did not give a usable answer was: refused (answered, with
// infcode != 0 or a reply that cannot be read) or unanswered (unreachable,
// in doubt). A reply with infcode 0 whose output cannot be decoded (or does
// not match the request) is refused too: the caller says so itself.
ForwardAnswer failed_call_answer(const CallResult& r) noexcept;

// The reason kept with an item that was not acknowledged: the insurer's
// infcode and message, or why nothing usable came back.
std::string failure_reason(const CallResult& r);

}  // namespace settle::daemon
