// PC/SC part 10 (secure PIN entry) as bytes: the reader's answer to
// CM_IOCTL_GET_FEATURE_REQUEST and the PIN_VERIFY_STRUCTURE sent with
// FEATURE_VERIFY_PIN_DIRECT. Pure, so both are tested without a PIN pad.
#pragma once

#include "engine/result.hpp"
#include "reader/apdu.hpp"
#include "reader/profile.hpp"

#include <cstdint>
#include <optional>
#include <span>

namespace settle::reader {

namespace feature {
inline constexpr std::uint8_t verify_pin_direct = 0x06;
inline constexpr std::uint8_t modify_pin_direct = 0x07;
}  // namespace feature

// The control codes a reader advertised; absent features stay nullopt.
struct ReaderFeatures {
  std::optional<std::uint32_t> verify_pin_direct;
  std::optional<std::uint32_t> modify_pin_direct;
  friend bool operator==(const ReaderFeatures&, const ReaderFeatures&) = default;
};

// The feature list is a run of TLVs: tag (1 byte), length (always 4), control
// code (4 bytes, big endian). Anything else is a malformed answer.
Result<ReaderFeatures> parse_features(std::span<const std::uint8_t> tlv);

struct PinPadParams {
  std::uint8_t timeout_s = 30;  // bTimerOut: how long the pad waits for the holder
  std::uint8_t min_digits = 6;
  std::uint8_t max_digits = 6;  // the pad's PIN block holds this many digits (BCD, F-padded)
  std::uint16_t lang_id = 0x0804;  // zh-CN prompts
};

// The PIN_VERIFY_STRUCTURE (pcsc-lite reader.h, CCID 6.1.11 fields, little
// endian) for VERIFY with the PIN typed on the pad: BCD, left justified, in a
// block of ceil(max_digits/2) bytes prefilled with FF, validated by the OK key.
Bytes build_pin_verify_structure(const PinPadParams& params, const CardProfile& profile);

// Status words a PIN pad adds to the card's: 6400 entry timed out, 6401
// cancelled by the holder, 6402 the two entries differ, 6403 wrong length.
bool pinpad_entry_failed(std::uint16_t status) noexcept;

}  // namespace settle::reader
