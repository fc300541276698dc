// Line framing apart from sockets: lines split anywhere across reads, the
// over-long line reported once and skipped, the last line at end of stream.
#include "protocol/cashier/framer.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

using namespace settle::cashier;

namespace {

// "L:<text>" for a line, "O" for an oversized one.
std::vector<std::string> frame_all(LineFramer& f, const std::vector<std::string>& chunks, bool eof) {
  std::vector<std::string> out;
  for (const auto& c : chunks) {
    f.feed(c);
    while (auto fr = f.next()) out.push_back(fr->kind == LineFramer::Frame::Kind::line ? "L:" + fr->text : "O");
    CHECK_FALSE(f.has_pending_input());
  }
  if (eof) {
    if (auto fr = f.finish()) out.push_back("L:" + fr->text);
  }
  return out;
}

// What framing must give, computed on the whole input at once.
std::vector<std::string> reference(const std::string& input, std::size_t max, bool eof) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= input.size()) {
    const auto nl = input.find('\n', pos);
    const std::string seg = input.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (seg.size() > max) {
      out.push_back("O");
    } else if (nl != std::string::npos || (eof && !seg.empty())) {
      out.push_back("L:" + seg);
    }
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("lines split across reads come out whole") {
  LineFramer f(64);
  CHECK(frame_all(f, {"ab", "c\nde", "f\n\n", "g"}, false) == std::vector<std::string>{"L:abc", "L:def", "L:"});
  CHECK(f.finish()->text == "g");
}

TEST_CASE("an over-long line is reported once, as soon as it passes the limit") {
  LineFramer f(4);
  f.feed("abcdef");
  auto fr = f.next();
  REQUIRE(fr.has_value());
  CHECK(fr->kind == LineFramer::Frame::Kind::oversized);  // before its newline has arrived
  CHECK_FALSE(f.next().has_value());
  CHECK(frame_all(f, {"gh", "ij\nok\n"}, false) == std::vector<std::string>{"L:ok"});
  // Exactly at the limit is a line.
  CHECK(frame_all(f, {"abcd\n"}, false) == std::vector<std::string>{"L:abcd"});
  // An over-long last line is not given again at the end of the stream.
  CHECK(frame_all(f, {"abcdefg"}, true) == std::vector<std::string>{"O"});
}

TEST_CASE("clear drops what was fed and not framed") {
  LineFramer f(64);
  f.feed("one\ntwo\nthree\n");
  CHECK(f.next()->text == "one");
  f.clear();
  CHECK_FALSE(f.has_pending_input());
  CHECK_FALSE(f.next().has_value());
}

TEST_CASE("any chunking gives the same frames as framing the whole input") {
  const auto seed = std::random_device{}();
  CAPTURE(seed);  // printed on failure; rerun with it to reproduce
  std::mt19937 rng(seed);
  const std::string alphabet = "ab\n\n\r{}";
  for (int round = 0; round < 2000; ++round) {
    const std::size_t max = 1 + rng() % 12;
    std::string input;
    const std::size_t len = rng() % 80;
    for (std::size_t i = 0; i < len; ++i) input += alphabet[rng() % alphabet.size()];
    std::vector<std::string> chunks;
    for (std::size_t pos = 0; pos < input.size();) {
      const std::size_t n = 1 + rng() % 10;
      chunks.push_back(input.substr(pos, n));
      pos += n;
    }
    const bool eof = rng() % 2 == 0;
    LineFramer f(max);
    CAPTURE(input);
    CAPTURE(max);
    CHECK(frame_all(f, chunks, eof) == reference(input, max, eof));
  }
}
