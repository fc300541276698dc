// Fuzz target for what the card says: CardApp over a scripted channel fed
// by the input, and the record parsers (TLV, GBK, ID, dates) and the
// reader's feature list on raw bytes (docs/fuzzing.md).
#include "reader/card_app.hpp"
#include "reader/errors.hpp"
#include "reader/part10.hpp"
#include "reader/pin.hpp"
#include "reader/profile.hpp"
#include "reader/records.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

using namespace settle;
using namespace settle::reader;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

// The card's answers, in order: each is one length byte and that many bytes.
// Once they run out the card is gone.
class ScriptedChannel final : public CardChannel {
 public:
  explicit ScriptedChannel(std::span<const std::uint8_t> script) : script_(script) {}
  Result<Bytes> transmit(std::span<const std::uint8_t> command) override {
    require(command.size() >= 4 && command.size() <= 5 + 255 + 1, "commands are short APDUs");
    const Bytes cmd(command.begin(), command.end());
    // After 6Cxx ("wrong Le, xx available") a command is sent again only with
    // Le = xx, and only if it had an Le: its data never changes.
    if (last_sw_ >> 8 == 0x6C && cmd.size() == last_.size() && cmd.size() >= 5 &&
        std::equal(cmd.begin(), cmd.begin() + 4, last_.begin()) && cmd != last_) {
      require(has_le(last_), "only a command with an Le is sent again after 6Cxx");
      require(std::equal(cmd.begin(), cmd.end() - 1, last_.begin()) && cmd.back() == (last_sw_ & 0xFF),
              "the command sent again after 6Cxx differs in its Le only");
    }
    last_ = cmd;
    last_sw_ = 0;
    ++sent_;
    if (pos_ >= script_.size()) return reader_error(ReaderErrc::removed, "card", "the script ended");
    const std::size_t n = std::min<std::size_t>(script_[pos_], script_.size() - pos_ - 1);
    Bytes answer(script_.begin() + static_cast<std::ptrdiff_t>(pos_ + 1),
                 script_.begin() + static_cast<std::ptrdiff_t>(pos_ + 1 + n));
    pos_ += 1 + n;
    if (answer.size() >= 2) last_sw_ = static_cast<unsigned>(answer[answer.size() - 2] << 8 | answer.back());
    return answer;
  }
  int sent() const { return sent_; }

 private:
  // ISO 7816-3 cases 2 and 4: header and Le, or header, Lc, data and Le.
  static bool has_le(const Bytes& c) { return c.size() == 5 || (c.size() > 5 && c.size() == 6u + c[4]); }

  std::span<const std::uint8_t> script_;
  std::size_t pos_ = 0;
  int sent_ = 0;
  Bytes last_;
  unsigned last_sw_ = 0;
};

// Well-formed UTF-8 without C0/C1 controls, DEL or private-use characters.
bool clean_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const int n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || i + static_cast<std::size_t>(n) > s.size()) return false;
    char32_t cp = n == 1 ? b : n == 2 ? (b & 0x1Fu) : n == 3 ? (b & 0x0Fu) : (b & 0x07u);
    for (int k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3Fu);
    }
    const char32_t min = n == 1 ? 0 : n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || (cp >= 0xE000 && cp <= 0xF8FF)) return false;
    i += static_cast<std::size_t>(n);
  }
  return true;
}

bool alnum(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return false;
  return true;
}

void check_error(const Error& e) {
  require(!e.message.empty(), "reader errors have a message");
  require(errc_of(e).has_value(), "reader errors carry the module's code");
}

void check_identity(const CardIdentity& id, const CardProfile& p) {
  require(id.card_sn.size() == p.card_sn_len && alnum(id.card_sn), "card_sn has the profile's length, alphanumeric");
  require(id.card_type.size() == 1 && alnum(id.card_type), "card_type is one letter or digit");
  require(id.card_no.size() == p.card_no_len && alnum(id.card_no), "card_no has the profile's length");
  require(id_check_digit_valid(id.id_no), "the ID number's check digit is right");
  require(!id.name.empty() && clean_utf8(id.name), "the name is clean UTF-8");
  require(valid_date(id.birth_date.year, id.birth_date.month, id.birth_date.day), "the birth date is a date");
  require(check_consistency(id).ok(), "birth date and gender agree with the ID number");
  const std::string masked = mask_id_no(id.id_no);
  require(masked.size() == 18 && masked.substr(6, 8) == "********", "the masked ID hides the birth date");
}

void card_app(int op, std::span<const std::uint8_t> script) {
  ScriptedChannel ch(script);
  CardApp app(ch, kDefaultProfile, [](std::string_view line) {
    require(line.size() <= 32 && line.rfind("INS=", 0) == 0, "APDU log lines name only INS and SW");
  });
  if (op == 0) {
    auto id = app.read_identity();
    if (id) check_identity(*id, kDefaultProfile);
    else check_error(id.error());
  } else if (op == 1) {
    auto sn = app.read_card_sn();
    if (sn) require(sn->size() == kDefaultProfile.card_sn_len && alnum(*sn), "card_sn is read whole");
    else check_error(sn.error());
  } else {
    auto pin = Pin::from_digits("123456");
    require(pin.ok(), "a six-digit PIN is valid");
    auto v = app.verify_pin(*pin);
    if (v) require(v->kind != PinVerdict::Kind::wrong || v->retries_left != 0, "a wrong PIN with no tries left is blocked");
    else check_error(v.error());
  }
  // SELECT, two EFs, seven records: each with at most one 6Cxx resend and a
  // bounded GET RESPONSE chain.
  require(ch.sent() <= 10 * (2 + max_get_response_chain), "the exchanges are bounded");
}

void records(std::span<const std::uint8_t> in) {
  // gbk_to_utf8 over everything.
  auto text = gbk_to_utf8(in, "name");
  if (text) require(clean_utf8(*text) && !text->empty(), "decoded GBK is clean UTF-8");
  else check_error(text.error());
  if (in.empty()) return;
  // unwrap_record with the first byte as record number, then every element
  // parser on the value.
  auto v = unwrap_record(in.subspan(1), in[0], "field");
  if (!v) {
    check_error(v.error());
    return;
  }
  require(v->size() <= in.size() - 1, "a record's value is inside the record");
  require(v->empty() || (v->back() != 0x00 && v->back() != 0xFF && v->back() != 0x20), "padding is stripped");
  if (auto s = parse_ascii_field(*v, 1, 32, "card_no")) require(alnum(*s), "ASCII fields are alphanumeric");
  if (auto id = parse_id_no(*v)) {
    require(id_check_digit_valid(*id), "a parsed ID number has a right check digit");
    require(id->size() == 18 && id->back() != 'x', "the check character is upper case");
  }
  if (auto g = parse_gender(*v)) require(static_cast<int>(*g) <= 9, "a gender is a GB/T 2261.1 code");
  if (auto b = parse_birth_date(*v)) require(valid_date(b->year, b->month, b->day), "a birth date is a date");
}

void features(std::span<const std::uint8_t> in) {
  auto f = parse_features(in);
  if (f) require(in.size() % 6 == 0, "a feature list is whole TLVs");
  else check_error(f.error());
}

}  // namespace

// Byte 0 picks: 0 read_identity, 1 read_card_sn, 2 verify_pin (the rest is
// the card's answers), 3 the record parsers, 4 the reader's feature list.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
    case 1:
    case 2: card_app(data[0] % 5, rest); break;
    case 3: records(rest); break;
    default: features(rest); break;
  }
  return 0;
}
