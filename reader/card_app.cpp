// The SSSE application sequence. Each step checks the status word and the
// shape of what came back before the next; the identity is assembled only
// when every record passed, so a failure never leaves half a person.
#include "reader/card_app.hpp"

#include "reader/errors.hpp"

#include <fmt/format.h>

namespace settle::reader {
namespace {

// ISO 7816-3 cases 2 and 4 (an Le after the header, or after Lc and the
// data): the only commands 6Cxx may ask to send again with another Le.
bool has_le(std::span<const std::uint8_t> command) {
  return command.size() == 5 || (command.size() > 5 && command.size() == 6u + command[4]);
}

}  // namespace

CardApp::CardApp(CardChannel& channel, const CardProfile& profile, ApduLog log)
    : channel_(channel), profile_(profile), log_(std::move(log)) {}

Result<Response> CardApp::exchange(std::span<const std::uint8_t> command) {
  auto raw = channel_.transmit(command);
  if (!raw) return raw.error();
  auto resp = parse_response(*raw);
  if (!resp) return resp.error();
  if (log_) log_(redacted_exchange(command, resp->sw));

  // 6Cxx: wrong Le, the card tells the right one; resend once. A command
  // without Le (SELECT) has none to change: 6Cxx is then its answer.
  if (resp->sw1() == sw::wrong_le_sw1 && has_le(command)) {
    Bytes again(command.begin(), command.end());
    again.back() = resp->sw2();
    auto raw2 = channel_.transmit(again);
    if (!raw2) return raw2.error();
    resp = parse_response(*raw2);
    if (!resp) return resp.error();
    if (log_) log_(redacted_exchange(again, resp->sw));
  }

  // 61xx: more data waiting; fetch it with GET RESPONSE, bounded.
  Response total{std::move(resp->data), resp->sw};
  for (int i = 0; total.sw1() == sw::more_data_sw1; ++i) {
    if (i == max_get_response_chain) {
      return reader_error(ReaderErrc::unreadable, "apdu", "card keeps answering 61xx (GET RESPONSE chain too long)");
    }
    const Bytes gr = get_response(total.sw2());
    auto raw3 = channel_.transmit(gr);
    if (!raw3) return raw3.error();
    auto part = parse_response(*raw3);
    if (!part) return part.error();
    if (log_) log_(redacted_exchange(gr, part->sw));
    total.data.insert(total.data.end(), part->data.begin(), part->data.end());
    total.sw = part->sw;
  }
  return total;
}

Status CardApp::select_ssse() {
  auto r = exchange(select_by_df_name(profile_.ssse_df_name));
  if (!r) return r.error();
  current_ef_ = 0;
  if (r->sw != sw::ok) {
    return reader_error(ReaderErrc::unreadable, "application",
                        fmt::format("no SSSE application on the card (SELECT answered {})", sw_hex(r->sw)));
  }
  return Ok{};
}

Status CardApp::select_ef(std::uint16_t fid) {
  if (current_ef_ == fid) return Ok{};
  auto r = exchange(select_by_fid(fid));
  if (!r) return r.error();
  if (r->sw != sw::ok) {
    current_ef_ = 0;
    return reader_error(ReaderErrc::unreadable, "application",
                        fmt::format("SELECT EF {:04X} answered {}", fid, sw_hex(r->sw)));
  }
  current_ef_ = fid;
  return Ok{};
}

Result<Bytes> CardApp::read_value(const RecordSpec& spec, std::string_view field) {
  if (auto s = select_ef(spec.ef); !s) return s.error();
  auto r = exchange(read_record(spec.record_no, spec.le));
  if (!r) return r.error();
  if (r->sw != sw::ok) {
    return reader_error(ReaderErrc::unreadable, std::string{field},
                        fmt::format("{}: READ RECORD {:02X} answered {}", field, spec.record_no, sw_hex(r->sw)));
  }
  auto v = unwrap_record(r->data, spec.record_no, field);
  if (!v) return v.error();
  if (v->size() > spec.value_max) {
    return reader_error(ReaderErrc::unreadable, std::string{field},
                        fmt::format("{}: {} bytes, at most {}", field, v->size(), spec.value_max));
  }
  return v;
}

Result<std::string> CardApp::read_card_sn() {
  if (auto s = select_ssse(); !s) return s.error();
  auto v = read_value(profile_.card_sn, "card_sn");
  if (!v) return v.error();
  return parse_ascii_field(*v, profile_.card_sn_len, profile_.card_sn_len, "card_sn");
}

Result<CardIdentity> CardApp::read_identity() {
  if (auto s = select_ssse(); !s) return s.error();
  // Read everything first, in EF order, then validate; nothing leaves this
  // function unless all of it is good.
  auto sn = read_value(profile_.card_sn, "card_sn");
  if (!sn) return sn.error();
  auto type = read_value(profile_.card_type, "card_type");
  if (!type) return type.error();
  auto no = read_value(profile_.card_no, "card_no");
  if (!no) return no.error();
  auto idn = read_value(profile_.id_no, "id_no");
  if (!idn) return idn.error();
  auto name = read_value(profile_.name, "name");
  if (!name) return name.error();
  auto gender = read_value(profile_.gender, "gender");
  if (!gender) return gender.error();
  auto birth = read_value(profile_.birth_date, "birth_date");
  if (!birth) return birth.error();

  CardIdentity id;
  auto sn_s = parse_ascii_field(*sn, profile_.card_sn_len, profile_.card_sn_len, "card_sn");
  if (!sn_s) return sn_s.error();
  auto type_s = parse_ascii_field(*type, 1, 1, "card_type");
  if (!type_s) return type_s.error();
  auto no_s = parse_ascii_field(*no, profile_.card_no_len, profile_.card_no_len, "card_no");
  if (!no_s) return no_s.error();
  auto id_s = parse_id_no(*idn);
  if (!id_s) return id_s.error();
  auto name_s = gbk_to_utf8(*name, "name");
  if (!name_s) return name_s.error();
  auto g = parse_gender(*gender);
  if (!g) return g.error();
  auto b = parse_birth_date(*birth);
  if (!b) return b.error();

  id.card_sn = std::move(*sn_s);
  id.card_type = std::move(*type_s);
  id.card_no = std::move(*no_s);
  id.id_no = std::move(*id_s);
  id.name = std::move(*name_s);
  id.gender = *g;
  id.birth_date = *b;
  if (auto c = check_consistency(id); !c) return c.error();
  return id;
}

Result<PinVerdict> CardApp::verify_pin(const Pin& pin) {
  if (auto s = select_ssse(); !s) return s.error();
  std::uint8_t block[(pin_max_digits + 1) / 2] = {};
  const std::size_t n = pin.pack_bcd(block);
  Bytes cmd = command_apdu(0x00, ins::verify, 0x00, profile_.pin_reference, std::span(block, n), std::nullopt);
  secure_wipe(block, sizeof block);
  auto raw = channel_.transmit(cmd);
  secure_wipe(cmd);
  if (!raw) return raw.error();
  auto resp = parse_response(*raw);
  if (!resp) return resp.error();
  if (log_) log_(fmt::format("INS={:02X} SW={:04X}", ins::verify, resp->sw));
  return pin_verdict_from_sw(resp->sw);
}

}  // namespace settle::reader
