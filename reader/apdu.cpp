// Short APDU encoding and response splitting (ISO 7816-4 clause 5), plus the
// redacted one-line form used in logs.
#include "reader/apdu.hpp"

#include "reader/errors.hpp"

#include <fmt/format.h>

namespace settle::reader {

Bytes command_apdu(std::uint8_t cla, std::uint8_t ins_byte, std::uint8_t p1, std::uint8_t p2,
                   std::span<const std::uint8_t> data, std::optional<unsigned> le) {
  SETTLE_ASSERT(data.size() <= 255);
  SETTLE_ASSERT(!le || (*le >= 1 && *le <= 256));
  Bytes out{cla, ins_byte, p1, p2};
  out.reserve(4 + 1 + data.size() + 1);
  if (!data.empty()) {
    out.push_back(static_cast<std::uint8_t>(data.size()));
    out.insert(out.end(), data.begin(), data.end());
  }
  if (le) out.push_back(static_cast<std::uint8_t>(*le == 256 ? 0 : *le));
  return out;
}

Bytes select_by_df_name(std::span<const std::uint8_t> df_name) {
  SETTLE_ASSERT(!df_name.empty() && df_name.size() <= 16);
  return command_apdu(0x00, ins::select, 0x04, 0x00, df_name, std::nullopt);
}

Bytes select_by_fid(std::uint16_t fid) {
  const std::uint8_t id[2] = {static_cast<std::uint8_t>(fid >> 8), static_cast<std::uint8_t>(fid & 0xFF)};
  return command_apdu(0x00, ins::select, 0x00, 0x00, id, std::nullopt);
}

Bytes read_record(std::uint8_t record_no, unsigned le) {
  SETTLE_ASSERT(record_no != 0);
  // P2 = 04: record number given in P1, current EF.
  return command_apdu(0x00, ins::read_record, record_no, 0x04, {}, le);
}

Bytes get_response(std::uint8_t length) {
  return command_apdu(0x00, ins::get_response, 0x00, 0x00, {}, length == 0 ? 256u : length);
}

Bytes get_challenge(std::uint8_t length) {
  SETTLE_ASSERT(length != 0);
  return command_apdu(0x00, ins::get_challenge, 0x00, 0x00, {}, length);
}

Result<Response> parse_response(std::span<const std::uint8_t> raw) {
  if (raw.size() < 2) {
    return reader_error(ReaderErrc::unreadable, "apdu",
                        fmt::format("card answered {} byte(s), a response needs a status word", raw.size()));
  }
  Response r;
  r.data.assign(raw.begin(), raw.end() - 2);
  r.sw = static_cast<std::uint16_t>((raw[raw.size() - 2] << 8) | raw[raw.size() - 1]);
  return r;
}

std::string redacted_exchange(std::span<const std::uint8_t> command, std::uint16_t status) {
  if (command.size() < 4) return fmt::format("INS=?? SW={:04X}", status);
  return fmt::format("INS={:02X} SW={:04X}", command[1], status);
}

std::string sw_hex(std::uint16_t status) { return fmt::format("{:04X}", status); }

}  // namespace settle::reader
