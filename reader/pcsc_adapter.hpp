// The edge to pcsc-lite: RAII for contexts, card handles and transactions, an
// APDU channel over SCardTransmit, and the one switch that turns SCARD_*
// codes into ReaderErrc. Internal to reader/: only reader/*.cpp include it.
#pragma once

#include "engine/result.hpp"
#include "reader/card_app.hpp"
#include "reader/errors.hpp"

#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>

#include <string>
#include <string_view>
#include <vector>

namespace settle::reader::pcsc {

// The single translation of PC/SC return codes (rc != SCARD_S_SUCCESS).
ReaderErrc translate(LONG rc) noexcept;
// An Error for a failed call: module code, the call's name, pcsc-lite's text.
Error error_of(LONG rc, std::string_view call, std::string_view reader);
bool is_service_error(LONG rc) noexcept;

class Context {
 public:
  static Result<Context> establish();
  Context(Context&& o) noexcept : ctx_(o.ctx_), valid_(o.valid_) { o.valid_ = false; }
  Context& operator=(Context&& o) noexcept;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  ~Context() { release(); }

  SCARDCONTEXT get() const noexcept { return ctx_; }
  bool valid() const noexcept { return valid_; }
  void release() noexcept;

 private:
  Context() = default;
  SCARDCONTEXT ctx_ = 0;
  bool valid_ = false;
};

// Names of the readers pcscd knows now; empty when there are none.
Result<std::vector<std::string>> list_readers(SCARDCONTEXT ctx);

// A connected card (shared mode, T=0 or T=1). Disconnects leaving the card.
class Card {
 public:
  static Result<Card> connect(SCARDCONTEXT ctx, const std::string& reader);
  Card(Card&& o) noexcept : h_(o.h_), protocol_(o.protocol_), reader_(std::move(o.reader_)), valid_(o.valid_) { o.valid_ = false; }
  Card(const Card&) = delete;
  Card& operator=(const Card&) = delete;
  Card& operator=(Card&&) = delete;
  ~Card();

  Status begin_transaction();
  void end_transaction() noexcept;
  Result<Bytes> transmit(std::span<const std::uint8_t> command);
  // SCardControl; the raw rc is returned too so callers can tell an
  // unsupported control code from a failure.
  Result<Bytes> control(DWORD code, std::span<const std::uint8_t> in, LONG* rc_out = nullptr);
  // SCARD_PRESENT etc. from SCardStatus; an error if the handle is stale.
  Result<DWORD> status();
  const std::string& reader() const noexcept { return reader_; }

 private:
  Card() = default;
  SCARDHANDLE h_ = 0;
  DWORD protocol_ = 0;
  std::string reader_;
  bool valid_ = false;
};

class Channel final : public CardChannel {
 public:
  explicit Channel(Card& card) : card_(card) {}
  Result<Bytes> transmit(std::span<const std::uint8_t> command) override { return card_.transmit(command); }

 private:
  Card& card_;
};

}  // namespace settle::reader::pcsc
