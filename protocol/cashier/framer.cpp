// LineFramer: the one place that decides where a cashier request line ends
// and when it is too long; the server and the fuzz target both use it.
#include "protocol/cashier/framer.hpp"

#include "engine/result.hpp"

namespace settle::cashier {

LineFramer::LineFramer(std::size_t max_line_bytes) : max_(max_line_bytes) { SETTLE_ASSERT(max_ >= 1); }

void LineFramer::feed(std::string_view bytes) {
  SETTLE_ASSERT(!has_pending_input() && "feed only after next() used up the previous bytes");
  pending_.assign(bytes.data(), bytes.size());
  pos_ = 0;
}

std::optional<LineFramer::Frame> LineFramer::next() {
  while (pos_ < pending_.size()) {
    const std::size_t nl = pending_.find('\n', pos_);
    const std::size_t end = nl == std::string::npos ? pending_.size() : nl;
    if (discarding_) {
      pos_ = nl == std::string::npos ? end : nl + 1;
      if (nl != std::string::npos) discarding_ = false;
      continue;
    }
    if (line_.size() + (end - pos_) > max_) {
      line_.clear();
      line_.shrink_to_fit();
      if (nl == std::string::npos) {
        discarding_ = true;
        pos_ = end;
      } else {
        pos_ = nl + 1;
      }
      return Frame{Frame::Kind::oversized, {}};
    }
    line_.append(pending_, pos_, end - pos_);
    if (nl == std::string::npos) {
      pos_ = end;
      break;
    }
    pos_ = nl + 1;
    Frame f{Frame::Kind::line, std::move(line_)};
    line_.clear();
    return f;
  }
  return std::nullopt;
}

std::optional<LineFramer::Frame> LineFramer::finish() {
  SETTLE_ASSERT(!has_pending_input() && "finish after next() used up the input");
  if (discarding_ || line_.empty()) return std::nullopt;
  Frame f{Frame::Kind::line, std::move(line_)};
  line_.clear();
  return f;
}

void LineFramer::clear() {
  pending_.clear();
  pos_ = 0;
}

}  // namespace settle::cashier
