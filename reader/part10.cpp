// Encoding and decoding of the PC/SC part 10 structures. Field layout follows
// pcsc-lite's PIN_VERIFY_STRUCTURE (packed, little endian multi-byte fields).
#include "reader/part10.hpp"

#include "reader/errors.hpp"

#include <fmt/format.h>

namespace settle::reader {

Result<ReaderFeatures> parse_features(std::span<const std::uint8_t> tlv) {
  ReaderFeatures f;
  std::size_t i = 0;
  while (i < tlv.size()) {
    if (tlv.size() - i < 2) return reader_error(ReaderErrc::unreadable, "features", "feature list ends inside a TLV header");
    const std::uint8_t tag = tlv[i];
    const std::uint8_t len = tlv[i + 1];
    if (len != 4) {
      return reader_error(ReaderErrc::unreadable, "features",
                          fmt::format("feature {:02X} has length {}, expected 4", tag, len));
    }
    if (tlv.size() - i - 2 < 4) return reader_error(ReaderErrc::unreadable, "features", "feature list ends inside a value");
    const std::uint32_t code = (std::uint32_t{tlv[i + 2]} << 24) | (std::uint32_t{tlv[i + 3]} << 16) |
                               (std::uint32_t{tlv[i + 4]} << 8) | std::uint32_t{tlv[i + 5]};
    if (tag == feature::verify_pin_direct) f.verify_pin_direct = code;
    if (tag == feature::modify_pin_direct) f.modify_pin_direct = code;
    i += 6;
  }
  return f;
}

Bytes build_pin_verify_structure(const PinPadParams& p, const CardProfile& profile) {
  SETTLE_ASSERT(p.min_digits >= 4 && p.min_digits <= p.max_digits && p.max_digits <= 12);
  const auto block = static_cast<std::uint8_t>((p.max_digits + 1) / 2);
  Bytes apdu{0x00, ins::verify, 0x00, profile.pin_reference, block};
  apdu.insert(apdu.end(), block, 0xFF);

  Bytes s;
  s.reserve(19 + apdu.size());
  s.push_back(p.timeout_s);    // bTimerOut
  s.push_back(p.timeout_s);    // bTimerOut2
  s.push_back(0x81);           // bmFormatString: byte units, PIN at data offset 0, left justified, BCD
  s.push_back(block);          // bmPINBlockString: no length field, block of `block` bytes
  s.push_back(0x00);           // bmPINLengthFormat: no length written
  s.push_back(p.max_digits);   // wPINMaxExtraDigit (LE): low byte = max
  s.push_back(p.min_digits);   //                         high byte = min
  s.push_back(0x02);           // bEntryValidationCondition: OK key
  s.push_back(0x01);           // bNumberMessage
  s.push_back(static_cast<std::uint8_t>(p.lang_id & 0xFF));  // wLangId (LE)
  s.push_back(static_cast<std::uint8_t>(p.lang_id >> 8));
  s.push_back(0x00);           // bMsgIndex
  s.push_back(0x00);           // bTeoPrologue[3]
  s.push_back(0x00);
  s.push_back(0x00);
  const auto n = static_cast<std::uint32_t>(apdu.size());  // ulDataLength (LE)
  for (int shift = 0; shift < 32; shift += 8) s.push_back(static_cast<std::uint8_t>((n >> shift) & 0xFF));
  s.insert(s.end(), apdu.begin(), apdu.end());
  return s;
}

bool pinpad_entry_failed(std::uint16_t status) noexcept { return status >= 0x6400 && status <= 0x6403; }

}  // namespace settle::reader
