// The card holder's PIN while it exists in this process: digits only, held in
// a fixed buffer that is wiped when it dies, packed into BCD only for the one
// VERIFY APDU that needs it. Also the reading of VERIFY's status words.
#pragma once

#include "engine/result.hpp"
#include "reader/apdu.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace settle::reader {

inline constexpr std::size_t pin_min_digits = 4;
inline constexpr std::size_t pin_max_digits = 12;

// Overwrites memory in a way the compiler may not drop as a dead store.
void secure_wipe(void* data, std::size_t size) noexcept;
void secure_wipe(std::string& s) noexcept;
void secure_wipe(Bytes& b) noexcept;

class Pin {
 public:
  // Validates 4-12 ASCII digits. The error never repeats the input.
  static Result<Pin> from_digits(std::string_view digits);
  // As from_digits, then wipes `digits` (the caller's copy) whatever the outcome.
  static Result<Pin> take(std::string& digits);

  Pin(Pin&& other) noexcept;
  Pin& operator=(Pin&& other) noexcept;
  Pin(const Pin&) = delete;
  Pin& operator=(const Pin&) = delete;
  ~Pin();

  std::size_t size() const noexcept { return len_; }

  // Packed BCD, two digits a byte, high nibble first, an odd length padded
  // with F: "12345" -> 12 34 5F. Writes into `out` (at least 6 bytes) and
  // returns the number of bytes written.
  std::size_t pack_bcd(std::span<std::uint8_t> out) const noexcept;

 private:
  Pin() = default;
  std::array<char, pin_max_digits> digits_{};
  std::size_t len_ = 0;
};

// What the card said about a PIN.
struct PinVerdict {
  enum class Kind : std::uint8_t { verified, wrong, blocked };
  Kind kind = Kind::wrong;
  int retries_left = -1;  // for `wrong`: tries left, -1 if the card did not say
  friend bool operator==(const PinVerdict&, const PinVerdict&) = default;
};

// 9000 verified; 63Cx wrong with x tries left (63C0 is blocked); 6300 wrong,
// count unknown; 6983 blocked; 6984 (PIN invalidated) blocked. 6A83/6A88 (no
// such PIN on the card) and anything else are CARD_UNREADABLE.
Result<PinVerdict> pin_verdict_from_sw(std::uint16_t status);

}  // namespace settle::reader
