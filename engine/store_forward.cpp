// Store-and-forward policy: backoff, parking, and the batch size after a
// refused 9302 batch (see store_forward.hpp).
#include "engine/store_forward.hpp"

#include <algorithm>

namespace settle {

std::string_view forward_verdict_name(ForwardVerdict v) noexcept {
  switch (v) {
    case ForwardVerdict::done: return "done";
    case ForwardVerdict::retry: return "retry";
    case ForwardVerdict::park: return "park";
  }
  return "?";
}

std::int64_t retry_delay_ms(const ForwardPolicy& p, std::int64_t tries) noexcept {
  const std::int64_t cap = std::max<std::int64_t>(1, p.retry_max_ms);
  std::int64_t delay = std::clamp<std::int64_t>(p.retry_initial_ms, 1, cap);
  for (std::int64_t k = 1; k < tries && delay < cap; ++k) delay = std::min(cap, delay * 2);
  return delay;
}

ForwardDecision decide_forward(const ForwardPolicy& p, ForwardAnswer answer, std::int64_t tries,
                               std::int64_t refusals_before, std::int64_t now_ms) noexcept {
  ForwardDecision d;
  d.refusals = refusals_before;
  switch (answer) {
    case ForwardAnswer::acknowledged:
      d.verdict = ForwardVerdict::done;
      return d;
    case ForwardAnswer::refused:
      d.refusals = refusals_before + 1;
      if (p.park_after_refusals > 0 && d.refusals >= p.park_after_refusals) {
        d.verdict = ForwardVerdict::park;
        return d;
      }
      break;
    case ForwardAnswer::unanswered:
      break;
  }
  d.verdict = ForwardVerdict::retry;
  d.next_attempt_at_ms = now_ms + retry_delay_ms(p, std::max<std::int64_t>(1, tries));
  return d;
}

std::int64_t next_upload_batch_size(std::int64_t max_batch, bool last_batch_refused_whole) noexcept {
  return last_batch_refused_whole ? 1 : std::max<std::int64_t>(1, max_batch);
}

}  // namespace settle
