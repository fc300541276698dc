// Fuzz target for the cashier line framing: any byte stream, cut into reads
// of varying sizes, must give the same frames as framing the whole stream
// at once (lines, one report per over-long line, the last line at the end).
#include "protocol/cashier/framer.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using settle::cashier::LineFramer;

namespace {

std::vector<std::string> reference(const std::string& input, std::size_t max) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= input.size()) {
    const auto nl = input.find('\n', pos);
    const std::string seg = input.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (seg.size() > max) {
      out.push_back("O");
    } else if (nl != std::string::npos || !seg.empty()) {
      out.push_back("L:" + seg);
    }
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t max = 1 + data[0] % 64;
  std::uint32_t state = data[1] | 1U;
  const std::string input(reinterpret_cast<const char*>(data + 2), size - 2);

  LineFramer framer(max);
  std::vector<std::string> got;
  for (std::size_t pos = 0; pos < input.size();) {
    state = state * 1103515245U + 12345U;
    const std::size_t n = 1 + (state >> 16) % 32;
    framer.feed(std::string_view(input).substr(pos, n));
    pos += n;
    while (auto f = framer.next()) {
      if (f->kind == LineFramer::Frame::Kind::line && f->text.size() > max) std::abort();
      got.push_back(f->kind == LineFramer::Frame::Kind::line ? "L:" + f->text : "O");
    }
    if (framer.has_pending_input()) std::abort();
  }
  if (auto f = framer.finish()) got.push_back("L:" + f->text);
  if (got != reference(input, max)) {
    std::fprintf(stderr, "framing differs from the reference (max %zu)\n", max);
    std::abort();
  }
  return 0;
}
