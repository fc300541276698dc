// Blocking card operations for a payment window: read the holder, verify the
// PIN (typed at the terminal or on the reader's PIN pad), re-check that the
// card is still the same one. Called from worker threads, never an event loop.
#pragma once

#include "engine/result.hpp"
#include "reader/config.hpp"
#include "reader/pin.hpp"
#include "reader/records.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace settle::reader {

// Threading: every call blocks (PC/SC round trips, waits for a card). Call
// from worker threads. Each thread uses its own PC/SC context (created on the
// thread's first call, re-established after pcscd restarts, released when the
// thread ends); operations on one reader are serialised by a per-reader lock
// and each multi-APDU sequence runs inside one PC/SC transaction. Calls for
// different readers run in parallel.
class CardService {
 public:
  explicit CardService(ReaderConfig config);
  ~CardService();
  CardService(const CardService&) = delete;
  CardService& operator=(const CardService&) = delete;

  const ReaderConfig& config() const noexcept;

  // The reader configured for a window; READER_UNAVAILABLE if none.
  Result<std::string> reader_of(std::string_view window) const;

  // Reads and validates the card at the window, waiting up to `wait_for_card`
  // (capped by config.max_card_wait) for one to be inserted.
  // CARD_ABSENT, CARD_REMOVED, CARD_UNREADABLE, READER_UNAVAILABLE.
  Result<CardIdentity> read_card(std::string_view window, std::chrono::milliseconds wait_for_card);

  // Only the card identification code.
  Result<std::string> read_card_sn(std::string_view window);

  // Before committing: the card in the reader must still be the one read
  // (same card_sn). CARD_MISMATCH if another card is there.
  Status check_same_card(std::string_view window, std::string_view card_sn);

  // VERIFY with a PIN from the cashier terminal; the Pin is wiped on return.
  // The card's answer is the value (verified / wrong with tries left /
  // blocked); transport and card failures are errors.
  Result<PinVerdict> verify_pin(std::string_view window, Pin pin);

  // Whether the window's reader advertises FEATURE_VERIFY_PIN_DIRECT.
  Result<bool> has_pinpad(std::string_view window);
  // VERIFY with the PIN typed on the reader's pad. PIN_REQUIRED if the holder
  // let the pad time out or cancelled; READER_UNAVAILABLE without a pad.
  Result<PinVerdict> verify_pin_on_pinpad(std::string_view window);

  // Whether a card is in the window's reader now (no APDU sent).
  Result<bool> card_present(std::string_view window);

  // For shutdown: wakes every call waiting for a card (SCardCancel on the
  // waiting threads' contexts) and makes later waits fail at once; they
  // return READER_UNAVAILABLE (module code cancelled). Thread-safe.
  void cancel_waits();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace settle::reader
