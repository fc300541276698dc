// PC/SC part 10 feature lists and the PIN_VERIFY_STRUCTURE, on bytes.
#include "reader/errors.hpp"
#include "reader/part10.hpp"

#include <doctest/doctest.h>

using namespace settle;
using namespace settle::reader;

TEST_CASE("feature TLVs give the control codes") {
  // As a CCID pinpad reader answers: VERIFY_PIN_DIRECT, MODIFY_PIN_DIRECT,
  // IFD_PIN_PROPERTIES, GET_TLV_PROPERTIES.
  const Bytes tlv{0x06, 0x04, 0x42, 0x33, 0x00, 0x06, 0x07, 0x04, 0x42, 0x33, 0x00, 0x07,
                  0x0A, 0x04, 0x42, 0x33, 0x00, 0x0A, 0x12, 0x04, 0x42, 0x33, 0x00, 0x12};
  auto f = parse_features(tlv);
  REQUIRE(f.ok());
  CHECK(f->verify_pin_direct == 0x42330006u);
  CHECK(f->modify_pin_direct == 0x42330007u);

  auto none = parse_features(Bytes{0x12, 0x04, 0x42, 0x33, 0x00, 0x12});
  REQUIRE(none.ok());
  CHECK_FALSE(none->verify_pin_direct.has_value());
  CHECK(parse_features(Bytes{})->verify_pin_direct == std::nullopt);
}

TEST_CASE("malformed feature lists are errors") {
  const Bytes bad[] = {
      {0x06},                                // header cut
      {0x06, 0x04, 0x42, 0x33, 0x00},        // value cut
      {0x06, 0x02, 0x42, 0x33},              // wrong length
      {0x06, 0x04, 0x42, 0x33, 0x00, 0x06, 0x07},
  };
  for (const auto& b : bad) {
    auto f = parse_features(b);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().reason == Reason::card_unreadable);
  }
}

TEST_CASE("PIN_VERIFY_STRUCTURE for a 6-digit BCD PIN") {
  const Bytes s = build_pin_verify_structure(PinPadParams{}, kDefaultProfile);
  const Bytes expected{
      30, 30,          // bTimerOut, bTimerOut2
      0x81,            // bytes, position 0, left, BCD
      0x03,            // 3-byte PIN block, no length field
      0x00,            // bmPINLengthFormat
      0x06, 0x06,      // wPINMaxExtraDigit: max 6, min 6
      0x02,            // OK key validates
      0x01,            // one message
      0x04, 0x08,      // wLangId 0x0804
      0x00,            // bMsgIndex
      0x00, 0x00, 0x00,
      0x08, 0x00, 0x00, 0x00,  // ulDataLength = 8
      0x00, 0x20, 0x00, 0x00, 0x03, 0xFF, 0xFF, 0xFF};
  CHECK(s == expected);
}

TEST_CASE("PIN_VERIFY_STRUCTURE for 4-8 digits") {
  PinPadParams p;
  p.min_digits = 4;
  p.max_digits = 8;
  p.timeout_s = 15;
  const Bytes s = build_pin_verify_structure(p, kDefaultProfile);
  REQUIRE(s.size() == 19 + 9);
  CHECK(s[0] == 15);
  CHECK(s[3] == 0x04);
  CHECK(s[5] == 8);
  CHECK(s[6] == 4);
  CHECK(s[15] == 9);
  CHECK(Bytes(s.begin() + 19, s.end()) == Bytes{0x00, 0x20, 0x00, 0x00, 0x04, 0xFF, 0xFF, 0xFF, 0xFF});
  CHECK(pinpad_entry_failed(0x6400));
  CHECK(pinpad_entry_failed(0x6401));
  CHECK_FALSE(pinpad_entry_failed(0x63C2));
}
