// Newline framing of the cashier wire, apart from any socket: bytes in as
// they are read, lines out, an over-long line reported once and its rest
// dropped up to the next newline without being kept.
#pragma once

#include "engine/limits.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace settle::cashier {

class LineFramer {
 public:
  explicit LineFramer(std::size_t max_line_bytes = limits::max_request_line_bytes);

  struct Frame {
    enum class Kind { line, oversized };
    Kind kind = Kind::line;
    std::string text;  // the line without its '\n' (empty for oversized)
  };

  // Adds bytes as read. The caller feeds again only once next() has used up
  // what it was given (has_pending_input() is false), so at most one read
  // is held besides the line being assembled (at most max_line_bytes).
  void feed(std::string_view bytes);
  bool has_pending_input() const { return pos_ < pending_.size(); }
  // A line has begun and its newline has not come yet.
  bool has_partial_line() const { return !line_.empty() || discarding_; }

  // The next frame, or nullopt when more bytes are needed. An over-long
  // line gives one `oversized` frame as soon as it passes the limit.
  std::optional<Frame> next();
  // At the end of the stream: the last line if it had no newline.
  std::optional<Frame> finish();
  // Drops everything fed and not yet framed.
  void clear();

  std::size_t max_line_bytes() const { return max_; }

 private:
  std::size_t max_;
  std::string pending_;  // fed, not yet framed, from pos_
  std::size_t pos_ = 0;
  std::string line_;        // the line being assembled
  bool discarding_ = false;  // skipping the rest of an over-long line
};

}  // namespace settle::cashier
