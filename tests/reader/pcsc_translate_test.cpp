// The one translation of SCARD_* codes: each code a reader or pcscd can
// return lands on the module code the cashier's reason depends on.
#include "reader/errors.hpp"
#include "reader/pcsc_adapter.hpp"

#include <doctest/doctest.h>

using namespace settle;
using namespace settle::reader;

TEST_CASE("SCARD codes map to module codes and cashier reasons") {
  struct Row {
    LONG rc;
    ReaderErrc code;
    Reason reason;
  };
  const Row rows[] = {
      {SCARD_E_NO_SMARTCARD, ReaderErrc::absent, Reason::card_absent},
      {SCARD_W_REMOVED_CARD, ReaderErrc::removed, Reason::card_removed},
      {SCARD_W_RESET_CARD, ReaderErrc::removed, Reason::card_removed},
      {SCARD_E_NOT_TRANSACTED, ReaderErrc::unreadable, Reason::card_unreadable},
      {SCARD_W_UNRESPONSIVE_CARD, ReaderErrc::unreadable, Reason::card_unreadable},
      {SCARD_W_UNPOWERED_CARD, ReaderErrc::unreadable, Reason::card_unreadable},
      {SCARD_E_PROTO_MISMATCH, ReaderErrc::unreadable, Reason::card_unreadable},
      {SCARD_E_UNKNOWN_READER, ReaderErrc::reader_unavailable, Reason::reader_unavailable},
      {SCARD_E_READER_UNAVAILABLE, ReaderErrc::reader_unavailable, Reason::reader_unavailable},
      {SCARD_E_NO_READERS_AVAILABLE, ReaderErrc::reader_unavailable, Reason::reader_unavailable},
      {SCARD_E_SHARING_VIOLATION, ReaderErrc::reader_unavailable, Reason::reader_unavailable},
      {SCARD_E_NO_SERVICE, ReaderErrc::service_down, Reason::reader_unavailable},
      {SCARD_E_SERVICE_STOPPED, ReaderErrc::service_down, Reason::reader_unavailable},
      {SCARD_E_INVALID_HANDLE, ReaderErrc::service_down, Reason::reader_unavailable},
      {SCARD_F_COMM_ERROR, ReaderErrc::service_down, Reason::reader_unavailable},
      {SCARD_E_TIMEOUT, ReaderErrc::timeout, Reason::card_absent},
      {SCARD_E_CANCELLED, ReaderErrc::cancelled, Reason::reader_unavailable},
      {SCARD_E_INSUFFICIENT_BUFFER, ReaderErrc::internal, Reason::internal},
      {SCARD_F_INTERNAL_ERROR, ReaderErrc::internal, Reason::internal},
  };
  for (const auto& row : rows) {
    CHECK_MESSAGE(pcsc::translate(row.rc) == row.code, pcsc_stringify_error(row.rc));
    const Error e = pcsc::error_of(row.rc, "SCardTransmit", "Virtual PCD 00 00");
    CHECK(e.reason == row.reason);
    CHECK(errc_of(e) == row.code);
    CHECK(e.message.find("Virtual PCD 00 00") != std::string::npos);
  }
  CHECK(pcsc::is_service_error(SCARD_E_NO_SERVICE));
  CHECK_FALSE(pcsc::is_service_error(SCARD_W_REMOVED_CARD));
}
