// Store-and-forward policy, pure: what the insurer's answer to one stored item
// (a reversal 冲正, or an offline upload in a 9302 batch) does to it, when it is
// tried again, when it gives up and is parked for the insurance office, and
// whether the line may leave `draining`. No clock, no ledger: times come in.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace settle {

struct ForwardPolicy {
  std::int64_t retry_initial_ms = 1000;  // first retry after this, doubling
  std::int64_t retry_max_ms = 60'000;    // never longer than this between tries
  // Refusals before an item is parked: the insurer answered and said no this
  // many times. Unanswered tries never count: a dead line is the probe's
  // business, not the item's.
  std::int64_t park_after_refusals = 5;
};

// What one try of one stored item came to.
enum class ForwardAnswer : std::uint8_t {
  acknowledged,  // the insurer took it (a reversal acknowledged, an upload record accepted or rejected on its merits)
  refused,       // answered with a refusal of the call itself (infcode != 0), or a reply we cannot read
  unanswered,    // nothing came back (unreachable, lost reply, timeout): the line's problem
};

enum class ForwardVerdict : std::uint8_t {
  done,   // finished; nothing more to send
  retry,  // pending again, due at `next_attempt_at_ms`
  park,   // given up: parked with the insurer's reason, reported, the rest flows past it
};
std::string_view forward_verdict_name(ForwardVerdict v) noexcept;  // "done", "retry", "park"

struct ForwardDecision {
  ForwardVerdict verdict = ForwardVerdict::retry;
  std::int64_t next_attempt_at_ms = 0;  // retry only
  std::int64_t refusals = 0;            // the item's refusals after this try
};

// The wait before try number `tries + 1` after `tries` unsuccessful tries (>= 1):
// initial, doubling, capped at retry_max_ms.
std::int64_t retry_delay_ms(const ForwardPolicy& p, std::int64_t tries) noexcept;

// The item has been tried `tries` times (this one included) and refused
// `refusals_before` times before this one.
ForwardDecision decide_forward(const ForwardPolicy& p, ForwardAnswer answer, std::int64_t tries,
                               std::int64_t refusals_before, std::int64_t now_ms) noexcept;

// A 9302 batch refused as a whole (the call, not its records) says nothing of
// which record the insurer objects to: the next tries go one item at a time,
// so only the item the insurer refuses alone is ever parked and the others
// flow. Returns the size of the next batch to claim.
std::int64_t next_upload_batch_size(std::int64_t max_batch, bool last_batch_refused_whole) noexcept;
// Whether refusals of a batch count against its items: only a lone item's.
constexpr bool refusal_counts_against_items(std::int64_t batch_size) noexcept { return batch_size == 1; }

// Draining ends when nothing that may still go through is waiting: pending or
// in-flight reversals and uploads. Parked items never hold the line.
constexpr bool drained(std::int64_t open_reversals, std::int64_t open_uploads) noexcept {
  return open_reversals == 0 && open_uploads == 0;
}

}  // namespace settle
