// The card application against a scripted card behind the CardChannel seam:
// the APDU sequence, 61xx/6Cxx handling, validation, PIN answers, and that a
// failure at any step yields an error and never part of an identity.
#include "reader/card_app.hpp"
#include "reader/errors.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <map>
#include <vector>

using namespace settle;
using namespace settle::reader;

namespace {

Bytes tlv(std::uint8_t tag, const Bytes& value, std::size_t pad_to) {
  Bytes out;
  out.reserve(2 + pad_to);
  out.push_back(tag);
  out.push_back(static_cast<std::uint8_t>(pad_to));
  for (std::size_t i = 0; i < pad_to; ++i) out.push_back(i < value.size() ? value.at(i) : std::uint8_t{0x00});
  return out;
}
Bytes ascii(std::string_view s) { return Bytes(s.begin(), s.end()); }

// A card that answers from tables. Faults are injected per test.
class ScriptedCard final : public CardChannel {
 public:
  std::map<std::pair<std::uint16_t, std::uint8_t>, Bytes> records;
  std::vector<Bytes> sent;
  bool select_answers_61 = true;
  bool le_must_match = false;         // answer 6Cxx when Le differs
  int fail_after = -1;                // transport error from the Nth command on
  ReaderErrc fail_with = ReaderErrc::removed;
  std::array<std::uint8_t, 3> pin{0x12, 0x34, 0x56};
  int tries = 3;

  Result<Bytes> transmit(std::span<const std::uint8_t> c) override {
    sent.emplace_back(c.begin(), c.end());
    if (fail_after >= 0 && static_cast<int>(sent.size()) > fail_after) {
      return reader_error(fail_with, "card", "scripted transport failure");
    }
    if (c.size() < 4) return Bytes{0x67, 0x00};
    const std::span<const std::uint8_t> cmd = c;
    if (cmd[1] == 0xA4 && cmd[2] == 0x04) {
      selected_app_ = true;
      ef_ = 0;
      if (select_answers_61) {
        pending_ = Bytes{0x6F, 0x03, 0x84, 0x01, 0x01};
        return Bytes{0x61, static_cast<std::uint8_t>(pending_.size())};
      }
      return Bytes{0x90, 0x00};
    }
    if (cmd[1] == 0xC0) {
      Bytes out = pending_;
      pending_.clear();
      out.push_back(0x90);
      out.push_back(0x00);
      return out;
    }
    if (cmd[1] == 0xA4 && cmd[2] == 0x00) {
      if (!selected_app_) return Bytes{0x6A, 0x82};
      if (cmd.size() < 7) return Bytes{0x67, 0x00};
      ef_ = static_cast<std::uint16_t>((cmd[5] << 8) | cmd[6]);
      return Bytes{0x90, 0x00};
    }
    if (cmd[1] == 0xB2) {
      const auto it = records.find({ef_, cmd[2]});
      if (it == records.end()) return Bytes{0x6A, 0x83};
      if (le_must_match && cmd.size() >= 5 && cmd[4] != it->second.size()) {
        return Bytes{0x6C, static_cast<std::uint8_t>(it->second.size())};
      }
      Bytes out = it->second;
      out.push_back(0x90);
      out.push_back(0x00);
      return out;
    }
    if (cmd[1] == 0x20) {
      if (tries == 0) return Bytes{0x69, 0x83};
      const auto given = cmd.subspan(std::min<std::size_t>(5, cmd.size()));
      if (std::equal(given.begin(), given.end(), pin.begin(), pin.end())) {
        tries = 3;
        return Bytes{0x90, 0x00};
      }
      --tries;
      if (tries == 0) return Bytes{0x69, 0x83};
      return Bytes{0x63, static_cast<std::uint8_t>(0xC0 | tries)};
    }
    return Bytes{0x6D, 0x00};
  }

 private:
  bool selected_app_ = false;
  std::uint16_t ef_ = 0;
  Bytes pending_;
};

void fill_zhang_wei(ScriptedCard& c) {
  c.records[{0xEF05, 0x01}] = tlv(0x01, ascii("110000D156000005"), 16);
  c.records[{0xEF05, 0x02}] = tlv(0x02, ascii("1"), 1);
  c.records[{0xEF05, 0x07}] = tlv(0x07, ascii("A12345678"), 9);
  c.records[{0xEF06, 0x08}] = tlv(0x08, ascii("11010519491231002X"), 18);
  c.records[{0xEF06, 0x09}] = tlv(0x09, Bytes{0xD5, 0xC5, 0xCE, 0xB0}, 30);
  c.records[{0xEF06, 0x0A}] = tlv(0x0A, ascii("2"), 1);
  c.records[{0xEF06, 0x0D}] = tlv(0x0D, Bytes{0x19, 0x49, 0x12, 0x31}, 4);
}

}  // namespace

TEST_CASE("a full read through SELECT (61xx) and every record") {
  ScriptedCard card;
  fill_zhang_wei(card);
  std::vector<std::string> log;
  CardApp app(card, kDefaultProfile, [&](std::string_view l) { log.emplace_back(l); });
  auto id = app.read_identity();
  REQUIRE_MESSAGE(id.ok(), (id.ok() ? "" : id.error().message));
  CHECK(id->card_sn == "110000D156000005");
  CHECK(id->card_type == "1");
  CHECK(id->card_no == "A12345678");
  CHECK(id->id_no == "11010519491231002X");
  CHECK(id->name == "张伟");
  CHECK(id->gender == Gender::female);
  CHECK(id->birth_date == BirthDate{1949, 12, 31});
  // SELECT, GET RESPONSE, SELECT EF05, 3 records, SELECT EF06, 4 records.
  REQUIRE(card.sent.size() == 11);
  CHECK(card.sent[0] == select_by_df_name(kSsseDfName));
  CHECK(card.sent[1] == Bytes{0x00, 0xC0, 0x00, 0x00, 0x05});
  CHECK(card.sent[2] == select_by_fid(0xEF05));
  CHECK(card.sent[3] == read_record(0x01, 0x12));
  CHECK(card.sent[6] == select_by_fid(0xEF06));
  CHECK(card.sent[8] == read_record(0x09, 0x20));
  REQUIRE(log.size() == 11);
  CHECK(log[0] == "INS=A4 SW=6105");
  for (const auto& l : log) CHECK(l.size() == std::string_view("INS=A4 SW=9000").size());
}

TEST_CASE("6Cxx: the read is repeated with the Le the card asks for") {
  ScriptedCard card;
  fill_zhang_wei(card);
  card.records[{0xEF05, 0x07}] = tlv(0x07, ascii("A12345678"), 12);  // longer record than the profile's Le
  card.le_must_match = true;
  CardApp app(card, kDefaultProfile);
  auto sn = app.read_card_sn();
  REQUIRE(sn.ok());
  auto id = app.read_identity();
  // card_no is 12 value bytes with padding: still 9 characters after stripping.
  REQUIRE_MESSAGE(id.ok(), (id.ok() ? "" : id.error().message));
  CHECK(id->card_no == "A12345678");
}

TEST_CASE("card_sn alone reads only what it needs") {
  ScriptedCard card;
  fill_zhang_wei(card);
  card.select_answers_61 = false;
  CardApp app(card, kDefaultProfile);
  auto sn = app.read_card_sn();
  REQUIRE(sn.ok());
  CHECK(*sn == "110000D156000005");
  CHECK(card.sent.size() == 3);
}

TEST_CASE("a card without the SSSE application is unreadable") {
  struct NoApp final : CardChannel {
    Result<Bytes> transmit(std::span<const std::uint8_t>) override { return Bytes{0x6A, 0x82}; }
  } card;
  CardApp app(card, kDefaultProfile);
  auto id = app.read_identity();
  REQUIRE_FALSE(id.ok());
  CHECK(id.error().reason == Reason::card_unreadable);
  CHECK(id.error().message.find("6A82") != std::string::npos);
}

TEST_CASE("every malformed record makes the whole read fail, naming the field") {
  struct Row {
    std::pair<std::uint16_t, std::uint8_t> key;
    Bytes raw;
    std::string field;
  };
  const Row rows[] = {
      {{0xEF06, 0x08}, tlv(0x08, ascii("110105194912310021"), 18), "id_no"},    // check digit
      {{0xEF06, 0x08}, tlv(0x08, ascii("1101051949123100"), 18), "id_no"},      // short
      {{0xEF06, 0x09}, tlv(0x09, Bytes{0xD5, 0xC5, 0xCE}, 30), "name"},         // cut GBK
      {{0xEF06, 0x09}, Bytes{0x09, 0x40, 0xD5, 0xC5}, "name"},                  // length beyond data
      {{0xEF06, 0x09}, Bytes{0x0B, 0x02, 0xD5, 0xC5}, "name"},                  // wrong tag
      {{0xEF05, 0x07}, tlv(0x07, ascii("A1234567"), 9), "card_no"},             // 8 chars
      {{0xEF05, 0x01}, tlv(0x01, ascii("110000D1560000"), 16), "card_sn"},
      {{0xEF06, 0x0A}, tlv(0x0A, ascii("1"), 1), "gender"},                     // disagrees with ID
      {{0xEF06, 0x0D}, tlv(0x0D, Bytes{0x19, 0x49, 0x12, 0x30}, 4), "birth_date"},  // disagrees with ID
      {{0xEF06, 0x0D}, tlv(0x0D, Bytes{0x19, 0x49, 0x1A, 0x30}, 4), "birth_date"},  // not BCD
  };
  for (const auto& row : rows) {
    ScriptedCard card;
    fill_zhang_wei(card);
    card.records[row.key] = row.raw;
    CardApp app(card, kDefaultProfile);
    auto id = app.read_identity();
    REQUIRE_FALSE_MESSAGE(id.ok(), row.field);
    CHECK(id.error().reason == Reason::card_unreadable);
    CHECK_MESSAGE(id.error().field == row.field, id.error().message);
  }
  ScriptedCard missing;
  fill_zhang_wei(missing);
  missing.records.erase({0xEF06, 0x0D});
  CardApp app(missing, kDefaultProfile);
  auto id = app.read_identity();
  REQUIRE_FALSE(id.ok());
  CHECK(id.error().field == "birth_date");
  CHECK(id.error().message.find("6A83") != std::string::npos);
}

TEST_CASE("a transport failure at any step returns that error and no identity") {
  for (int n = 0; n < 11; ++n) {
    ScriptedCard card;
    fill_zhang_wei(card);
    card.fail_after = n;
    CardApp app(card, kDefaultProfile);
    auto id = app.read_identity();
    REQUIRE_FALSE_MESSAGE(id.ok(), "failure after command ", n);
    CHECK(id.error().reason == Reason::card_removed);
  }
}

TEST_CASE("a 61xx chain that never ends is cut off") {
  struct Endless final : CardChannel {
    Result<Bytes> transmit(std::span<const std::uint8_t>) override { return Bytes{0x00, 0x61, 0x01}; }
  } card;
  CardApp app(card, kDefaultProfile);
  auto s = app.select_ssse();
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().reason == Reason::card_unreadable);
}

TEST_CASE("PIN: right, wrong down to blocked, blocked stays blocked") {
  ScriptedCard card;
  fill_zhang_wei(card);
  CardApp app(card, kDefaultProfile);
  using K = PinVerdict::Kind;
  auto right = Pin::from_digits("123456");
  REQUIRE(right.ok());
  auto wrong = Pin::from_digits("654321");
  REQUIRE(wrong.ok());
  CHECK(*app.verify_pin(*right) == PinVerdict{K::verified, -1});
  CHECK(card.sent.back() == Bytes{0x00, 0x20, 0x00, 0x00, 0x03, 0x12, 0x34, 0x56});
  CHECK(*app.verify_pin(*wrong) == PinVerdict{K::wrong, 2});
  CHECK(*app.verify_pin(*wrong) == PinVerdict{K::wrong, 1});
  CHECK(*app.verify_pin(*wrong) == PinVerdict{K::blocked, 0});
  CHECK(*app.verify_pin(*right) == PinVerdict{K::blocked, 0});
  auto odd = Pin::from_digits("12345");
  REQUIRE(odd.ok());
  (void)app.verify_pin(*odd);
  CHECK(card.sent.back() == Bytes{0x00, 0x20, 0x00, 0x00, 0x03, 0x12, 0x34, 0x5F});
}

TEST_CASE("PIN verification interrupted by removal is an error, not a verdict") {
  ScriptedCard card;
  fill_zhang_wei(card);
  card.fail_after = 2;  // SELECT and GET RESPONSE pass, VERIFY fails
  CardApp app(card, kDefaultProfile);
  auto pin = Pin::from_digits("123456");
  REQUIRE(pin.ok());
  auto v = app.verify_pin(*pin);
  REQUIRE_FALSE(v.ok());
  CHECK(v.error().reason == Reason::card_removed);
}

TEST_CASE("6Cxx to a command without Le (SELECT) is its answer: the command is never sent again changed") {
  // The fix's reason: the resend wrote the card's xx over the command's last
  // byte, the last byte of the DF name or of the EF's id (SELECT EF05 became
  // SELECT EF06 on a 6C06).
  struct SixC final : CardChannel {
    std::vector<Bytes> sent;
    std::size_t answer_6c_to = 0;  // the command (0-based) answered 6C06
    Result<Bytes> transmit(std::span<const std::uint8_t> c) override {
      sent.emplace_back(c.begin(), c.end());
      if (sent.size() - 1 == answer_6c_to) return Bytes{0x6C, 0x06};
      return Bytes{0x90, 0x00};
    }
  };
  SUBCASE("SELECT by DF name") {
    SixC card;
    CardApp app(card, kDefaultProfile);
    auto id = app.read_identity();
    REQUIRE_FALSE(id.ok());
    CHECK(id.error().reason == Reason::card_unreadable);
    CHECK(id.error().message.find("6C06") != std::string::npos);
    REQUIRE(card.sent.size() == 1);
    CHECK(card.sent[0] == select_by_df_name(kSsseDfName));
  }
  SUBCASE("SELECT EF05") {
    SixC card;
    card.answer_6c_to = 1;
    CardApp app(card, kDefaultProfile);
    auto id = app.read_identity();
    REQUIRE_FALSE(id.ok());
    CHECK(id.error().message.find("SELECT EF EF05 answered 6C06") != std::string::npos);
    REQUIRE(card.sent.size() == 2);
    CHECK(card.sent[1] == select_by_fid(0xEF05));
  }
}
