// pcsc-lite calls with their failures translated at this edge. Nothing above
// this file sees an SCARD_* value.
#include "reader/pcsc_adapter.hpp"

#include <PCSC/pcsclite.h>
#include <fmt/format.h>

namespace settle::reader::pcsc {

ReaderErrc translate(LONG rc) noexcept {
  switch (rc) {
    case SCARD_E_NO_SMARTCARD:
      return ReaderErrc::absent;
    case SCARD_W_REMOVED_CARD:
    case SCARD_W_RESET_CARD:  // someone reset it: whatever we verified on it is gone
      return ReaderErrc::removed;
    case SCARD_W_UNRESPONSIVE_CARD:
    case SCARD_W_UNPOWERED_CARD:
    case SCARD_W_UNSUPPORTED_CARD:
    case SCARD_E_CARD_UNSUPPORTED:
    case SCARD_E_PROTO_MISMATCH:
    case SCARD_E_INVALID_ATR:
    case SCARD_E_NOT_TRANSACTED:
    case SCARD_E_UNSUPPORTED_FEATURE:
      return ReaderErrc::unreadable;
    case SCARD_E_UNKNOWN_READER:
    case SCARD_E_READER_UNAVAILABLE:
    case SCARD_E_NO_READERS_AVAILABLE:
    case SCARD_E_SHARING_VIOLATION:
    case SCARD_E_READER_UNSUPPORTED:
    case SCARD_E_DUPLICATE_READER:
      return ReaderErrc::reader_unavailable;
    case SCARD_E_NO_SERVICE:
    case SCARD_E_SERVICE_STOPPED:
    case SCARD_E_INVALID_HANDLE:  // the context died with the pcscd that issued it
    case SCARD_F_COMM_ERROR:
      return ReaderErrc::service_down;
    case SCARD_E_TIMEOUT:
      return ReaderErrc::timeout;
    case SCARD_E_CANCELLED:
      return ReaderErrc::cancelled;
    default:
      return ReaderErrc::internal;
  }
}

bool is_service_error(LONG rc) noexcept { return translate(rc) == ReaderErrc::service_down; }

Error error_of(LONG rc, std::string_view call, std::string_view reader) {
  return reader_error(translate(rc), "reader",
                      fmt::format("{} on '{}': {} (0x{:08X})", call, reader, pcsc_stringify_error(rc),
                                  static_cast<std::uint32_t>(rc)));
}

Result<Context> Context::establish() {
  Context c;
  const LONG rc = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &c.ctx_);
  if (rc != SCARD_S_SUCCESS) return error_of(rc, "SCardEstablishContext", "pcscd");
  c.valid_ = true;
  return c;
}

Context& Context::operator=(Context&& o) noexcept {
  if (this != &o) {
    release();
    ctx_ = o.ctx_;
    valid_ = o.valid_;
    o.valid_ = false;
  }
  return *this;
}

void Context::release() noexcept {
  if (valid_) SCardReleaseContext(ctx_);
  valid_ = false;
}

Result<std::vector<std::string>> list_readers(SCARDCONTEXT ctx) {
  // The list can change between the size query and the read; retry a few times.
  for (int attempt = 0; attempt < 3; ++attempt) {
    DWORD len = 0;
    LONG rc = SCardListReaders(ctx, nullptr, nullptr, &len);
    if (rc == SCARD_E_NO_READERS_AVAILABLE) return std::vector<std::string>{};
    if (rc != SCARD_S_SUCCESS) return error_of(rc, "SCardListReaders", "*");
    std::string buf(len, '\0');
    rc = SCardListReaders(ctx, nullptr, buf.data(), &len);
    if (rc == SCARD_E_INSUFFICIENT_BUFFER) continue;
    if (rc == SCARD_E_NO_READERS_AVAILABLE) return std::vector<std::string>{};
    if (rc != SCARD_S_SUCCESS) return error_of(rc, "SCardListReaders", "*");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < len && buf[i] != '\0';) {
      const std::size_t end = buf.find('\0', i);
      out.emplace_back(buf.substr(i, end - i));
      i = end + 1;
    }
    return out;
  }
  return reader_error(ReaderErrc::internal, "reader", "reader list kept changing while it was read");
}

Result<Card> Card::connect(SCARDCONTEXT ctx, const std::string& reader) {
  Card c;
  c.reader_ = reader;
  const LONG rc = SCardConnect(ctx, reader.c_str(), SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                               &c.h_, &c.protocol_);
  if (rc != SCARD_S_SUCCESS) return error_of(rc, "SCardConnect", reader);
  c.valid_ = true;
  return c;
}

Card::~Card() {
  if (valid_) SCardDisconnect(h_, SCARD_LEAVE_CARD);
}

Status Card::begin_transaction() {
  const LONG rc = SCardBeginTransaction(h_);
  if (rc != SCARD_S_SUCCESS) return error_of(rc, "SCardBeginTransaction", reader_);
  return Ok{};
}

void Card::end_transaction() noexcept { SCardEndTransaction(h_, SCARD_LEAVE_CARD); }

Result<Bytes> Card::transmit(std::span<const std::uint8_t> command) {
  const SCARD_IO_REQUEST* pci = protocol_ == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
  Bytes out(258);
  DWORD len = static_cast<DWORD>(out.size());
  const LONG rc = SCardTransmit(h_, pci, command.data(), static_cast<DWORD>(command.size()), nullptr, out.data(), &len);
  if (rc != SCARD_S_SUCCESS) return error_of(rc, "SCardTransmit", reader_);
  out.resize(len);
  return out;
}

Result<Bytes> Card::control(DWORD code, std::span<const std::uint8_t> in, LONG* rc_out) {
  Bytes out(MAX_BUFFER_SIZE);
  DWORD len = 0;
  const LONG rc = SCardControl(h_, code, in.data(), static_cast<DWORD>(in.size()), out.data(),
                               static_cast<DWORD>(out.size()), &len);
  if (rc_out) *rc_out = rc;
  if (rc != SCARD_S_SUCCESS) return error_of(rc, "SCardControl", reader_);
  out.resize(len);
  return out;
}

Result<DWORD> Card::status() {
  char name[MAX_READERNAME];
  DWORD name_len = sizeof name;
  DWORD state = 0;
  DWORD protocol = 0;
  BYTE atr[MAX_ATR_SIZE];
  DWORD atr_len = sizeof atr;
  const LONG rc = SCardStatus(h_, name, &name_len, &state, &protocol, atr, &atr_len);
  if (rc != SCARD_S_SUCCESS) return error_of(rc, "SCardStatus", reader_);
  return state;
}

}  // namespace settle::reader::pcsc
