// The social security card application over any APDU channel: select SSSE,
// read the holder's records, verify the PIN. It knows the card, not PC/SC, so
// it is tested with a scripted channel and runs unchanged over pcscd.
#pragma once

#include "engine/result.hpp"
#include "reader/apdu.hpp"
#include "reader/pin.hpp"
#include "reader/profile.hpp"
#include "reader/records.hpp"

#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace settle::reader {

// One APDU round trip. Implementations return module errors (removed,
// absent, ...) for transport failures; the raw answer otherwise.
class CardChannel {
 public:
  virtual ~CardChannel() = default;
  virtual Result<Bytes> transmit(std::span<const std::uint8_t> command) = 0;
};

// Receives one redacted line per exchange ("INS=B2 SW=9000").
using ApduLog = std::function<void(std::string_view line)>;

// A chain of 61xx answers longer than this is a misbehaving card.
inline constexpr int max_get_response_chain = 8;

class CardApp {
 public:
  CardApp(CardChannel& channel, const CardProfile& profile, ApduLog log = {});

  // SELECT the SSSE application by DF name (61xx answered with GET RESPONSE).
  Status select_ssse();
  // Only the card identification code (selects SSSE and the EF first).
  Result<std::string> read_card_sn();
  // All holder records, validated and cross-checked. Never partial.
  Result<CardIdentity> read_identity();
  // VERIFY with the PIN in packed BCD; the APDU buffer is wiped after use.
  Result<PinVerdict> verify_pin(const Pin& pin);

  // One exchange with 61xx/6Cxx handled; public for the raw latency bench.
  Result<Response> exchange(std::span<const std::uint8_t> command);

 private:
  Status select_ef(std::uint16_t fid);
  Result<Bytes> read_value(const RecordSpec& spec, std::string_view field);

  CardChannel& channel_;
  const CardProfile& profile_;
  ApduLog log_;
  std::uint16_t current_ef_ = 0;
};

}  // namespace settle::reader
