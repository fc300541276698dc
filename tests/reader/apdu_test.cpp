// APDU encoding, response splitting and the redacted log form, on bytes.
#include "reader/apdu.hpp"
#include "reader/errors.hpp"
#include "reader/profile.hpp"

#include <doctest/doctest.h>

using namespace settle;
using namespace settle::reader;

TEST_CASE("select by DF name is the profile's APDU, byte for byte") {
  const Bytes expected{0x00, 0xA4, 0x04, 0x00, 0x0F, 0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E,
                       0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF};
  CHECK(select_by_df_name(kSsseDfName) == expected);
}

TEST_CASE("commands of each case") {
  CHECK(select_by_fid(0xEF05) == Bytes{0x00, 0xA4, 0x00, 0x00, 0x02, 0xEF, 0x05});
  CHECK(read_record(0x09, 0x20) == Bytes{0x00, 0xB2, 0x09, 0x04, 0x20});
  CHECK(read_record(0x01, 0x12) == Bytes{0x00, 0xB2, 0x01, 0x04, 0x12});
  CHECK(get_response(0x1C) == Bytes{0x00, 0xC0, 0x00, 0x00, 0x1C});
  CHECK(get_response(0x00) == Bytes{0x00, 0xC0, 0x00, 0x00, 0x00});  // 256
  CHECK(get_challenge(8) == Bytes{0x00, 0x84, 0x00, 0x00, 0x08});
  CHECK(command_apdu(0x80, 0xCA, 0x9F, 0x7F, {}, std::nullopt) == Bytes{0x80, 0xCA, 0x9F, 0x7F});
  CHECK(command_apdu(0x00, 0xB0, 0, 0, {}, 256u) == Bytes{0x00, 0xB0, 0, 0, 0x00});
}

TEST_CASE("responses split into data and status word") {
  const Bytes raw{0x01, 0x02, 0x03, 0x90, 0x00};
  auto r = parse_response(raw);
  REQUIRE(r.ok());
  CHECK(r->data == Bytes{1, 2, 3});
  CHECK(r->sw == 0x9000);
  CHECK(r->sw1() == 0x90);

  const Bytes only_sw{0x6A, 0x82};
  auto e = parse_response(only_sw);
  REQUIRE(e.ok());
  CHECK(e->data.empty());
  CHECK(e->sw == 0x6A82);

  for (const Bytes& bad : {Bytes{}, Bytes{0x90}}) {
    auto f = parse_response(bad);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().reason == Reason::card_unreadable);
    CHECK(errc_of(f.error()) == ReaderErrc::unreadable);
  }
}

TEST_CASE("the log form carries INS and SW and no data byte") {
  const Bytes verify{0x00, 0x20, 0x00, 0x00, 0x03, 0x12, 0x34, 0x56};
  const std::string line = redacted_exchange(verify, 0x63C2);
  CHECK(line == "INS=20 SW=63C2");
  CHECK(line.find("12") == std::string::npos);
  CHECK(line.find("56") == std::string::npos);
  CHECK(redacted_exchange(Bytes{0x00}, 0x6F00) == "INS=?? SW=6F00");
}

TEST_CASE("module error codes map to cashier reasons") {
  CHECK(errc_reason(ReaderErrc::absent) == Reason::card_absent);
  CHECK(errc_reason(ReaderErrc::removed) == Reason::card_removed);
  CHECK(errc_reason(ReaderErrc::unreadable) == Reason::card_unreadable);
  CHECK(errc_reason(ReaderErrc::reader_unavailable) == Reason::reader_unavailable);
  CHECK(errc_reason(ReaderErrc::service_down) == Reason::reader_unavailable);
  CHECK(errc_reason(ReaderErrc::timeout) == Reason::card_absent);
  const Error e = reader_error(ReaderErrc::service_down, "reader", "pcscd gone");
  CHECK(e.message == "service_down: pcscd gone");
  CHECK(errc_of(e) == ReaderErrc::service_down);
  CHECK_FALSE(errc_of(make_error(Reason::card_removed, "", "removed")).has_value());
}
