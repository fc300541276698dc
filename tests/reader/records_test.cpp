// Record unwrapping and the validation of every element, as tables of bytes.
#include "reader/errors.hpp"
#include "reader/records.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace settle;
using namespace settle::reader;

namespace {
Bytes b(std::string_view s) { return Bytes(s.begin(), s.end()); }
}  // namespace

TEST_CASE("TLV records: tag, length, value, padding") {
  struct Row {
    Bytes raw;
    std::uint8_t record;
    bool ok;
    Bytes value;
  };
  const Row rows[] = {
      {{0x07, 0x03, 'A', 'B', 'C'}, 0x07, true, b("ABC")},
      {{0x07, 0x05, 'A', 'B', 'C', 0x00, 0x00}, 0x07, true, b("ABC")},      // padded value
      {{0x07, 0x05, 'A', 'B', 'C', 0xFF, 0x20}, 0x07, true, b("ABC")},
      {{0x07, 0x03, 'A', 'B', 'C', 0x00, 0xFF}, 0x07, true, b("ABC")},      // padding after value
      {{0x07, 0x00}, 0x07, true, {}},
      {{0x08, 0x03, 'A', 'B', 'C'}, 0x07, false, {}},                       // wrong tag
      {{0x07, 0x09, 'A', 'B', 'C'}, 0x07, false, {}},                       // length beyond data
      {{0x07}, 0x07, false, {}},                                            // no length byte
      {{}, 0x07, false, {}},
      {{0x07, 0x02, 'A', 'B', 'C'}, 0x07, false, {}},                       // data after value
  };
  for (const auto& row : rows) {
    auto r = unwrap_record(row.raw, row.record, "card_no");
    CHECK(r.ok() == row.ok);
    if (r.ok()) CHECK(*r == row.value);
    if (!r.ok()) {
      CHECK(r.error().reason == Reason::card_unreadable);
      CHECK(r.error().field == "card_no");
    }
  }
}

TEST_CASE("GB 11643 check digit, mod 11-2, X for 10") {
  struct Row {
    std::string_view id;
    bool valid;
  };
  const Row rows[] = {
      {"11010519491231002X", true},   // the standard's own example
      {"440524188001010014", true},   // the standard's second example
      {"110101199003070134", true},
      {"11010519491231002x", false},  // lower-case x is normalised by parse_id_no, not here
      {"110105194912310021", false},
      {"440524188001010015", false},
      {"44052418800101001", false},
      {"4405241880010100140", false},
      {"44052418800101A014", false},
  };
  for (const auto& row : rows) CHECK_MESSAGE(id_check_digit_valid(row.id) == row.valid, row.id);
  CHECK(id_check_char("11010519491231002") == 'X');
  CHECK(id_check_char("1101051949123100") == '?');
}

TEST_CASE("ID numbers from the card") {
  CHECK(*parse_id_no(b("11010519491231002X")) == "11010519491231002X");
  CHECK(*parse_id_no(b("11010519491231002x")) == "11010519491231002X");
  const char* bad[] = {"110105194912310021", "11010519491231002", "1101051949123100A1", "110105194913310027",
                       "11010519491231002Y"};
  for (const char* s : bad) {
    auto r = parse_id_no(b(s));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == Reason::card_unreadable);
    CHECK(r.error().field == "id_no");
  }
  // Month 13 with a correct check digit still fails: the date inside is checked.
  std::string m13 = "11010519491331000";
  m13.push_back(id_check_char(m13));
  CHECK_FALSE(parse_id_no(b(m13)).ok());
}

TEST_CASE("GBK names come out as UTF-8") {
  struct Row {
    Bytes gbk;
    std::string utf8;
  };
  const Row rows[] = {
      {{0xD5, 0xC5, 0xCE, 0xB0}, "张伟"},
      {{0xC5, 0xB7, 0xD1, 0xF4, 0xC4, 0xC8, 0xC4, 0xC8}, "欧阳娜娜"},
      {{0xCD, 0xF5, 0x88, 0xD2}, "王堃"},  // 堃 is GBK, not GB2312
      {{0xC0, 0xEE, 0x95, 0x34, 0xB2, 0x35}, "李𠮷"},  // four-byte GB18030 sequence
      {{'L', 'I', ' ', 'M', 'I', 'N', 'G'}, "LI MING"},
  };
  for (const auto& row : rows) {
    auto r = gbk_to_utf8(row.gbk, "name");
    REQUIRE_MESSAGE(r.ok(), row.utf8);
    CHECK(*r == row.utf8);
  }
  const Bytes bad[] = {
      {0xD5},                    // lead byte without trail
      {0xD5, 0xC5, 0xCE},        // truncated second character
      {0xD5, 0x0A},              // invalid trail byte
      {0xFF, 0xFF},              // not GBK at all
      {0x41, 0x0A, 0x42},        // control character
      {},                        // empty
  };
  for (const auto& g : bad) {
    auto r = gbk_to_utf8(g, "name");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == Reason::card_unreadable);
    CHECK(r.error().field == "name");
  }
}

TEST_CASE("ASCII fields, gender and birth date") {
  CHECK(*parse_ascii_field(b("A12345678"), 9, 9, "card_no") == "A12345678");
  CHECK_FALSE(parse_ascii_field(b("A1234567"), 9, 9, "card_no").ok());
  CHECK_FALSE(parse_ascii_field(b("A1234567-"), 9, 9, "card_no").ok());
  CHECK_FALSE(parse_ascii_field(Bytes{'A', 0xC9, '1', '2', '3', '4', '5', '6', '7'}, 9, 9, "card_no").ok());

  CHECK(*parse_gender(b("1")) == Gender::male);
  CHECK(*parse_gender(b("2")) == Gender::female);
  CHECK(*parse_gender(b("9")) == Gender::unstated);
  CHECK_FALSE(parse_gender(b("3")).ok());
  CHECK_FALSE(parse_gender(b("12")).ok());

  CHECK(*parse_birth_date(Bytes{0x19, 0x90, 0x03, 0x07}) == BirthDate{1990, 3, 7});
  CHECK(*parse_birth_date(Bytes{0x20, 0x00, 0x02, 0x29}) == BirthDate{2000, 2, 29});
  CHECK_FALSE(parse_birth_date(Bytes{0x19, 0x00, 0x02, 0x29}).ok());  // 1900 was not a leap year
  CHECK_FALSE(parse_birth_date(Bytes{0x19, 0x90, 0x13, 0x07}).ok());
  CHECK_FALSE(parse_birth_date(Bytes{0x19, 0x9A, 0x03, 0x07}).ok());
  CHECK_FALSE(parse_birth_date(Bytes{0x19, 0x90, 0x03}).ok());
}

TEST_CASE("birth date and gender must agree with the ID number") {
  CardIdentity id;
  id.id_no = "11010519491231002X";  // born 1949-12-31, digit 17 = 2: female
  id.birth_date = {1949, 12, 31};
  id.gender = Gender::female;
  CHECK(check_consistency(id).ok());
  id.gender = Gender::male;
  CHECK(check_consistency(id).error().field == "gender");
  id.gender = Gender::unstated;
  CHECK(check_consistency(id).ok());
  id.birth_date = {1949, 12, 30};
  CHECK(check_consistency(id).error().field == "birth_date");
}

TEST_CASE("ID numbers are masked for logs and responses") {
  CHECK(mask_id_no("11010519491231002X") == "110105********002X");
  CHECK(mask_id_no("1234") == "****");
}
