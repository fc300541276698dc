// The reader module's own error codes: every PC/SC failure and every card
// answer the module cannot use ends up as one of these, then as a
// settle::Error whose reason is the cashier API's (CARD_ABSENT, ...).
#pragma once

#include "engine/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace settle::reader {

enum class ReaderErrc : std::uint8_t {
  absent = 1,              // no card in the reader
  removed = 2,             // the card left (or was reset) during the operation
  unreadable = 3,          // the card answered with an error or with bytes that make no sense
  reader_unavailable = 4,  // the reader is unknown, gone, or held by someone else
  service_down = 5,        // pcscd is not running or stopped under us
  timeout = 6,             // no card arrived before the deadline
  cancelled = 7,           // the wait was cancelled (shutdown)
  internal = 8,            // a PC/SC failure that points at a bug or a broken host
};

// "removed", "service_down", ...
std::string_view errc_name(ReaderErrc e) noexcept;

// The cashier API reason a module error is reported as.
Reason errc_reason(ReaderErrc e) noexcept;

// A settle::Error for a module error. The message starts with the module code
// name so logs keep the finer distinction (service_down vs reader_unavailable).
Error reader_error(ReaderErrc e, std::string field, std::string_view detail);

// The module code an Error was made from (parsed back from the message
// prefix); nullopt for errors that did not come from reader_error().
std::optional<ReaderErrc> errc_of(const Error& e) noexcept;

}  // namespace settle::reader
