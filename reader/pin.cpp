// PIN handling with the least exposure the process can manage: one fixed
// buffer, wiped on destruction and on move, never formatted into text.
#include "reader/pin.hpp"

#include "reader/errors.hpp"

#include <fmt/format.h>

namespace settle::reader {

void secure_wipe(void* data, std::size_t size) noexcept {
  auto* p = static_cast<volatile unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) p[i] = 0;
  // Keep the stores ordered before anything the caller does next.
  __asm__ __volatile__("" : : "r"(data) : "memory");
}

void secure_wipe(std::string& s) noexcept {
  // The whole capacity: a shorter string may still hold older digits.
  if (s.capacity() > 0) secure_wipe(s.data(), s.capacity());
  s.clear();
}

void secure_wipe(Bytes& b) noexcept {
  if (b.capacity() > 0) secure_wipe(b.data(), b.capacity());
  b.clear();
}

Result<Pin> Pin::from_digits(std::string_view digits) {
  if (digits.size() < pin_min_digits || digits.size() > pin_max_digits) {
    return make_error(Reason::invalid_request, "pin",
                      fmt::format("a PIN has {}-{} digits", pin_min_digits, pin_max_digits));
  }
  Pin pin;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    const char c = digits[i];
    if (c < '0' || c > '9') {
      return make_error(Reason::invalid_request, "pin", "a PIN has digits only");  // pin's destructor wipes
    }
    pin.digits_[i] = c;
  }
  pin.len_ = digits.size();
  return pin;
}

Result<Pin> Pin::take(std::string& digits) {
  auto r = from_digits(digits);
  secure_wipe(digits);
  return r;
}

Pin::Pin(Pin&& other) noexcept : digits_(other.digits_), len_(other.len_) {
  secure_wipe(other.digits_.data(), other.digits_.size());
  other.len_ = 0;
}

Pin& Pin::operator=(Pin&& other) noexcept {
  if (this != &other) {
    digits_ = other.digits_;
    len_ = other.len_;
    secure_wipe(other.digits_.data(), other.digits_.size());
    other.len_ = 0;
  }
  return *this;
}

Pin::~Pin() {
  secure_wipe(digits_.data(), digits_.size());
  len_ = 0;
}

std::size_t Pin::pack_bcd(std::span<std::uint8_t> out) const noexcept {
  const std::size_t n = (len_ + 1) / 2;
  SETTLE_ASSERT(out.size() >= n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto hi = static_cast<unsigned>(digits_[2 * i] - '0');
    const unsigned lo = 2 * i + 1 < len_ ? static_cast<unsigned>(digits_[2 * i + 1] - '0') : 0x0Fu;
    out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return n;
}

Result<PinVerdict> pin_verdict_from_sw(std::uint16_t status) {
  using K = PinVerdict::Kind;
  if (status == sw::ok) return PinVerdict{K::verified, -1};
  if (status == sw::auth_blocked || status == sw::ref_data_unusable) return PinVerdict{K::blocked, 0};
  if (status == 0x6300) return PinVerdict{K::wrong, -1};
  if ((status & 0xFFF0) == 0x63C0) {
    const int left = status & 0x0F;
    if (left == 0) return PinVerdict{K::blocked, 0};
    return PinVerdict{K::wrong, left};
  }
  if (status == sw::record_not_found || status == sw::ref_data_not_found) {
    return reader_error(ReaderErrc::unreadable, "pin", fmt::format("card has no PIN under this reference (SW {:04X})", status));
  }
  return reader_error(ReaderErrc::unreadable, "pin", fmt::format("card refused VERIFY with SW {:04X}", status));
}

}  // namespace settle::reader
