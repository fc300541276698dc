// PIN validation, packed BCD, wiping, and the reading of VERIFY's answers.
#include "reader/errors.hpp"
#include "reader/pin.hpp"

#include <doctest/doctest.h>

#include <array>

using namespace settle;
using namespace settle::reader;

TEST_CASE("PIN digits are packed BCD, odd lengths padded with F") {
  struct Row {
    std::string_view digits;
    Bytes packed;
  };
  const Row rows[] = {
      {"123456", {0x12, 0x34, 0x56}},
      {"12345", {0x12, 0x34, 0x5F}},
      {"0000", {0x00, 0x00}},
      {"9876543210", {0x98, 0x76, 0x54, 0x32, 0x10}},
      {"123456789012", {0x12, 0x34, 0x56, 0x78, 0x90, 0x12}},
      {"1234567", {0x12, 0x34, 0x56, 0x7F}},
  };
  for (const auto& row : rows) {
    auto pin = Pin::from_digits(row.digits);
    REQUIRE(pin.ok());
    std::array<std::uint8_t, 6> out{};
    const std::size_t n = pin->pack_bcd(out);
    CHECK(Bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n)) == row.packed);
  }
}

TEST_CASE("PINs outside 4-12 digits are refused without echoing them") {
  for (std::string_view bad : {"", "123", "1234567890123", "12a456", "12 456", "１２３４５６"}) {
    auto pin = Pin::from_digits(bad);
    REQUIRE_FALSE(pin.ok());
    CHECK(pin.error().reason == Reason::invalid_request);
    CHECK(pin.error().field == "pin");
    if (bad.size() >= 4) CHECK(pin.error().message.find(bad) == std::string::npos);
  }
}

TEST_CASE("take() wipes the caller's copy, valid or not") {
  std::string s = "246810";
  auto pin = Pin::take(s);
  REQUIRE(pin.ok());
  CHECK(s.empty());
  CHECK(pin->size() == 6);
  std::string bad = "12x4";
  CHECK_FALSE(Pin::take(bad).ok());
  CHECK(bad.empty());
}

TEST_CASE("moving a Pin leaves nothing in the source") {
  auto a = Pin::from_digits("1357");
  REQUIRE(a.ok());
  Pin b = std::move(*a);
  CHECK(b.size() == 4);
  CHECK(a->size() == 0);  // NOLINT: checking the moved-from state on purpose
}

TEST_CASE("secure_wipe zeroes the whole buffer") {
  std::array<std::uint8_t, 16> buf{};
  buf.fill(0xA5);
  secure_wipe(buf.data(), buf.size());
  for (auto v : buf) CHECK(v == 0);
  Bytes v{1, 2, 3};
  secure_wipe(v);
  CHECK(v.empty());
}

TEST_CASE("VERIFY status words") {
  using K = PinVerdict::Kind;
  struct Row {
    std::uint16_t sw;
    bool ok;
    K kind;
    int left;
  };
  const Row rows[] = {
      {0x9000, true, K::verified, -1}, {0x63C2, true, K::wrong, 2}, {0x63C1, true, K::wrong, 1},
      {0x63C0, true, K::blocked, 0},   {0x6983, true, K::blocked, 0}, {0x6984, true, K::blocked, 0},
      {0x6300, true, K::wrong, -1},    {0x6A83, false, K::wrong, 0},  {0x6A88, false, K::wrong, 0},
      {0x6D00, false, K::wrong, 0},    {0x6F00, false, K::wrong, 0},
  };
  for (const auto& row : rows) {
    auto v = pin_verdict_from_sw(row.sw);
    CHECK(v.ok() == row.ok);
    if (v.ok()) {
      CHECK(v->kind == row.kind);
      CHECK(v->retries_left == row.left);
    } else {
      CHECK(v.error().reason == Reason::card_unreadable);
    }
  }
}
