// Names of the reader module's error codes and how each one reaches the
// cashier: one table, so a new code cannot be added without its reason.
#include "reader/errors.hpp"

#include <array>
#include <utility>

namespace settle::reader {
namespace {

struct Row {
  ReaderErrc code;
  std::string_view name;
  Reason reason;
};

constexpr std::array<Row, 8> kRows{{
    {ReaderErrc::absent, "absent", Reason::card_absent},
    {ReaderErrc::removed, "removed", Reason::card_removed},
    {ReaderErrc::unreadable, "unreadable", Reason::card_unreadable},
    {ReaderErrc::reader_unavailable, "reader_unavailable", Reason::reader_unavailable},
    {ReaderErrc::service_down, "service_down", Reason::reader_unavailable},
    // A wait for a card that ran out: CARD_ABSENT is "no card within the timeout".
    {ReaderErrc::timeout, "timeout", Reason::card_absent},
    {ReaderErrc::cancelled, "cancelled", Reason::reader_unavailable},
    {ReaderErrc::internal, "internal", Reason::internal},
}};

const Row& row(ReaderErrc e) noexcept {
  for (const auto& r : kRows) {
    if (r.code == e) return r;
  }
  SETTLE_ASSERT(false && "ReaderErrc without a row");
  return kRows[0];
}

}  // namespace

std::string_view errc_name(ReaderErrc e) noexcept { return row(e).name; }

Reason errc_reason(ReaderErrc e) noexcept { return row(e).reason; }

Error reader_error(ReaderErrc e, std::string field, std::string_view detail) {
  std::string msg{errc_name(e)};
  msg += ": ";
  msg += detail;
  return make_error(errc_reason(e), std::move(field), std::move(msg));
}

std::optional<ReaderErrc> errc_of(const Error& e) noexcept {
  for (const auto& r : kRows) {
    const std::string_view m = e.message;
    if (r.reason == e.reason && m.size() > r.name.size() && m.substr(0, r.name.size()) == r.name &&
        m.substr(r.name.size(), 2) == ": ") {
      return r.code;
    }
  }
  return std::nullopt;
}

}  // namespace settle::reader
