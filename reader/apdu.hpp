// ISO 7816-4 short APDUs as bytes: building commands and splitting responses
// into data and status word. No I/O here, so every rule is tested on bytes.
#pragma once

#include "engine/result.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace settle::reader {

using Bytes = std::vector<std::uint8_t>;

// Status words the module branches on.
namespace sw {
inline constexpr std::uint16_t ok = 0x9000;
inline constexpr std::uint16_t auth_blocked = 0x6983;       // authentication method blocked
inline constexpr std::uint16_t ref_data_unusable = 0x6984;  // reference data not usable (PIN invalidated)
inline constexpr std::uint16_t ref_data_not_found = 0x6A88; // no PIN object under that reference
inline constexpr std::uint16_t record_not_found = 0x6A83;
inline constexpr std::uint16_t wrong_data = 0x6A80;
inline constexpr std::uint16_t file_not_found = 0x6A82;
inline constexpr std::uint16_t cond_not_satisfied = 0x6985;
inline constexpr std::uint8_t more_data_sw1 = 0x61;   // 61xx: xx bytes waiting, use GET RESPONSE
inline constexpr std::uint8_t wrong_le_sw1 = 0x6C;    // 6Cxx: resend with Le = xx
inline constexpr std::uint8_t counter_sw1 = 0x63;     // 63Cx: verification failed, x tries left
}  // namespace sw

// Instruction bytes the module sends.
namespace ins {
inline constexpr std::uint8_t select = 0xA4;
inline constexpr std::uint8_t read_record = 0xB2;
inline constexpr std::uint8_t get_response = 0xC0;
inline constexpr std::uint8_t verify = 0x20;
inline constexpr std::uint8_t get_challenge = 0x84;
}  // namespace ins

// A short command APDU (cases 1-4). Data up to 255 bytes, Le 1..256 (256 is
// written as 00); anything longer is a programmer error.
Bytes command_apdu(std::uint8_t cla, std::uint8_t ins, std::uint8_t p1, std::uint8_t p2,
                   std::span<const std::uint8_t> data, std::optional<unsigned> le);

Bytes select_by_df_name(std::span<const std::uint8_t> df_name);
Bytes select_by_fid(std::uint16_t fid);
Bytes read_record(std::uint8_t record_no, unsigned le);
Bytes get_response(std::uint8_t length);
Bytes get_challenge(std::uint8_t length);

struct Response {
  Bytes data;
  std::uint16_t sw = 0;

  std::uint8_t sw1() const noexcept { return static_cast<std::uint8_t>(sw >> 8); }
  std::uint8_t sw2() const noexcept { return static_cast<std::uint8_t>(sw & 0xFF); }
};

// Splits a raw response. Fewer than two bytes is CARD_UNREADABLE.
Result<Response> parse_response(std::span<const std::uint8_t> raw);

// The only form in which an APDU exchange may be logged: instruction and status
// word, never data bytes (they carry ID numbers, names and PINs).
std::string redacted_exchange(std::span<const std::uint8_t> command, std::uint16_t status);

// "6A82" for logs and error messages.
std::string sw_hex(std::uint16_t status);

}  // namespace settle::reader
