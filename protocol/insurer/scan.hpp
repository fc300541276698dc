// The strict single-pass JSON scanner of the fast decoders (9303, 3202 pages):
// ASCII strings without escapes, integers without fraction, known keys once,
// read in place; whatever it refuses goes to the generic codecs.
#pragma once

#include "engine/money.hpp"
#include "protocol/insurer/envelope.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace settle::insurer::scan {

inline constexpr std::size_t kIdLen = 64;  // codecs.cpp id_len

class Scan {
 public:
  explicit Scan(std::string_view s) : s_(s) {}

  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    ws();
    return i_ < s_.size() && s_[i_] == c;
  }
  bool at_end() {
    ws();
    return i_ == s_.size();
  }
  // A string of printable ASCII without escapes.
  bool str(std::string_view& out) {
    if (!eat('"')) return false;
    const std::size_t start = i_;
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        out = s_.substr(start, i_ - start);
        ++i_;
        return true;
      }
      if (c == '\\' || c < 0x20 || c >= 0x7f) return false;
      ++i_;
    }
    return false;
  }
  // An integer: optional '-', no leading zero, at most 18 digits, no fraction/exponent.
  bool integer(std::int64_t& out) {
    ws();
    bool neg = false;
    if (i_ < s_.size() && s_[i_] == '-') {
      neg = true;
      ++i_;
    }
    const std::size_t start = i_;
    std::int64_t v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      if (i_ - start == 18) return false;  // a 19th digit: beyond what is read here (and near int64's end)
      v = v * 10 + (s_[i_++] - '0');
    }
    const std::size_t n = i_ - start;
    if (n == 0 || (n > 1 && s_[start] == '0') || (neg && v == 0)) return false;
    if (i_ < s_.size() && (s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E')) return false;
    out = neg ? -v : v;
    return true;
  }
  bool boolean(bool& out) {
    ws();
    if (s_.substr(i_, 4) == "true") {
      i_ += 4;
      out = true;
      return true;
    }
    if (s_.substr(i_, 5) == "false") {
      i_ += 5;
      out = false;
      return true;
    }
    return false;
  }
  // Any value of the strict subset (validated, discarded).
  bool skip() {
    ws();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '"') {
      std::string_view v;
      return str(v);
    }
    if (c == '{') return object([&](std::string_view) { return skip(); });
    if (c == '[') return array([&] { return skip(); });
    if (c == '-' || (c >= '0' && c <= '9')) {
      std::int64_t v = 0;
      return integer(v);
    }
    bool b = false;
    if (boolean(b)) return true;
    if (s_.substr(i_, 4) != "null") return false;
    i_ += 4;
    return true;
  }
  // Walks an object: key(k) is called with the cursor before each value and
  // must consume it (returning false bails out).
  // The nesting counts from the document's root, as json::parse counts it:
  // a document nested deeper than json::max_depth is refused here too.
  template <class F>
  bool object(F&& key) {
    if (!eat('{') || !enter()) return false;
    if (eat('}')) return leave();
    do {
      std::string_view k;
      if (!str(k) || !eat(':') || !key(k)) return false;
    } while (eat(','));
    return eat('}') && leave();
  }
  template <class F>
  bool array(F&& item) {
    if (!eat('[') || !enter()) return false;
    if (eat(']')) return leave();
    do {
      if (!item()) return false;
    } while (eat(','));
    return eat(']') && leave();
  }

 private:
  bool enter() { return ++depth_ <= json::max_depth; }
  bool leave() {
    --depth_;
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
  int depth_ = 0;  // objects and arrays open at the cursor
};

// Marks a known key as seen; false when it was seen already.
inline bool once(unsigned& seen, unsigned bit) {
  if (seen & bit) return false;
  seen |= bit;
  return true;
}

inline bool amount(Scan& sc, Amount& out) {
  std::string_view text;
  if (!sc.str(text)) return false;
  auto a = parse_amount(text, "amount", Sign::non_negative);
  if (!a) return false;
  out = *a;
  return true;
}

// A JSON array of at most `limit` elements into `out`, each read by
// item(sc, element); more elements than that is a refusal.
template <class T, class Item>
bool page_array(Scan& sc, std::vector<T>& out, std::size_t limit, Item&& item) {
  out.reserve(limit);
  return sc.array([&] {
    if (out.size() >= limit) return false;
    out.emplace_back();
    return item(sc, out.back());
  });
}

// The envelope; `output` is handed to on_output (which must consume it).
template <class F>
bool envelope(Scan& sc, std::string_view sent_msgid, Response& r, F&& on_output) {
  unsigned seen = 0;
  const bool ok = sc.object([&](std::string_view k) {
    std::string_view v;
    if (k == "infcode") {
      return once(seen, 1) && sc.integer(r.infcode) && r.infcode == infcode_ok;  // errors: the generic path
    }
    if (k == "inf_refmsgid") {
      if (!once(seen, 2) || !sc.str(v) || v.size() > 64 || v != sent_msgid) return false;
      r.inf_refmsgid.assign(v);
      return true;
    }
    if (k == "refmsg_time" || k == "respond_time" || k == "err_msg") {
      const unsigned bit = k == "refmsg_time" ? 4 : k == "respond_time" ? 8 : 16;
      if (!once(seen, bit) || !sc.str(v) || v.size() > (bit == 16 ? 2000U : 32U)) return false;
      (bit == 4 ? r.refmsg_time : bit == 8 ? r.respond_time : r.err_msg).assign(v);
      return true;
    }
    if (k == "output") return once(seen, 32) && sc.peek('{') && on_output();
    return sc.skip();
  });
  return ok && (seen & 1) && (seen & 2) && (seen & 32) && sc.at_end();
}

// A reply whose output is {"data": ...} read by `data(sc, out)` in one pass;
// anything the scanner is unsure of (or an error reply) goes to `fallback()`,
// the generic decoder, so the result and its errors are the codec's own.
template <class Out, class Data, class Fallback>
auto decode_data_reply(std::string_view body, std::string_view sent_msgid, bool* fast_path, Data&& data,
                       Fallback&& fallback) -> decltype(fallback()) {
  if (body.size() <= max_body_bytes) {
    Scan sc(body);
    Response r;
    Out o;
    unsigned seen = 0;
    const bool ok = envelope(sc, sent_msgid, r, [&] {
      return sc.object([&](std::string_view k) {
        if (k == "data") return once(seen, 1) && data(sc, o);
        return sc.skip();
      });
    });
    if (ok && seen == 1) {
      if (fast_path != nullptr) *fast_path = true;
      return o;
    }
  }
  if (fast_path != nullptr) *fast_path = false;
  return fallback();
}

}  // namespace settle::insurer::scan
