// Decimal parsing and printing of amounts and ratios: every accepted and
// every rejected form of the Money rules, with the field named in errors.
#include "engine/limits.hpp"
#include "engine/money.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace settle;

TEST_CASE("accepted amount forms") {
  struct Row { const char* text; std::int64_t fen; };
  const Row rows[] = {
      {"0", 0},       {"0.0", 0},       {"0.00", 0},      {"1", 100},          {"12", 1200},
      {"12.3", 1230}, {"12.30", 1230},  {"12.03", 1203},  {"0.01", 1},         {"0.1", 10},
      {"999.99", 99999}, {"10000000000", 1'000'000'000'000}, {"10000000000.00", 1'000'000'000'000},
  };
  for (const Row& r : rows) {
    INFO(r.text);
    auto a = parse_amount(r.text, "amount");
    REQUIRE(a.ok());
    CHECK(a->fen() == r.fen);
  }
}

TEST_CASE("rejected amount forms name the field and the problem") {
  struct Row { const char* text; const char* why; };
  const Row rows[] = {
      {"", "is empty"},
      {"1.234", "too many decimals"},
      {"0.001", "too many decimals"},
      {"1e3", "exponent"},
      {"1E3", "exponent"},
      {"1.5e2", "exponent"},
      {"-1", "negative"},
      {"-0.01", "negative"},
      {"+1", "not a decimal number"},
      {" 1", "not a decimal number"},
      {"1 ", "not a decimal number"},
      {"01", "leading zero"},
      {"00.5", "leading zero"},
      {".5", "not a decimal number"},
      {"5.", "no digits after the decimal point"},
      {"NaN", "not a decimal number"},
      {"nan", "not a decimal number"},
      {"Infinity", "not a decimal number"},
      {"1,00", "not a decimal number"},
      {"0x10", "not a decimal number"},
      {"--1", "negative"},
      {"1.2.3", "not a decimal number"},
      {"\xef\xbc\x91", "not a decimal number"},  // fullwidth digit one
      {"10000000000.01", "above the limit"},
      {"99999999999999999999999", "above the limit"},
  };
  for (const Row& r : rows) {
    INFO(r.text);
    auto a = parse_amount(r.text, "lines[2].amount");
    REQUIRE_FALSE(a.ok());
    CHECK(a.error().reason == Reason::invalid_amount);
    CHECK(a.error().field == "lines[2].amount");
    CHECK(a.error().message.find("lines[2].amount") == 0);
    CHECK(a.error().message.find(r.why) != std::string::npos);
  }
}

TEST_CASE("negative amounts where allowed") {
  CHECK(parse_amount("-12.30", "adj", Sign::any).value().fen() == -1230);
  CHECK(parse_amount("-0", "adj", Sign::any).value().fen() == 0);
  CHECK_FALSE(parse_amount("-", "adj", Sign::any).ok());
  CHECK_FALSE(parse_amount("-10000000000.01", "adj", Sign::any).ok());
}

TEST_CASE("printing always has two decimals and round-trips") {
  CHECK(format_amount(Amount::fen(0)) == "0.00");
  CHECK(format_amount(Amount::fen(5)) == "0.05");
  CHECK(format_amount(Amount::fen(1230)) == "12.30");
  CHECK(format_amount(Amount::fen(-5)) == "-0.05");
  CHECK(format_amount(Amount::fen(INT64_MIN)) == "-92233720368547758.08");
  for (std::int64_t f : std::initializer_list<std::int64_t>{0, 1, 99, 100, 123456789, limits::amount_max_fen}) {
    CHECK(parse_amount(format_amount(Amount::fen(f)), "x").value().fen() == f);
  }
}

TEST_CASE("ratios are exact") {
  CHECK(parse_ratio("0.10", "r").value().ppm() == 100'000);
  CHECK(parse_ratio("1", "r").value() == Ratio::one());
  CHECK(parse_ratio("1.000000", "r").value() == Ratio::one());
  CHECK(parse_ratio("0.000001", "r").value().ppm() == 1);
  CHECK(parse_ratio("0.875", "r").value().ppm() == 875'000);
  for (const char* bad : {"1.000001", "2", "-0.1", "0.1234567", "1e-1", "", ".5", "0.1 "}) {
    INFO(bad);
    auto r = parse_ratio(bad, "selfpay_ratio");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().field == "selfpay_ratio");
  }
  CHECK(parse_ratio("3", "k", true).error().reason == Reason::invalid_config);
  CHECK(format_ratio(Ratio::ppm(100'000)) == "0.1");
  CHECK(format_ratio(Ratio::ppm(875'000)) == "0.875");
  CHECK(format_ratio(Ratio::one()) == "1");
  CHECK(format_ratio(Ratio::ppm(0)) == "0");
}

TEST_CASE("multiplication rounds half up or floors, exactly") {
  CHECK(mul_round_half_up(Amount::fen(5), Ratio::ppm(100'000)).fen() == 1);    // 0.5 fen -> 1
  CHECK(mul_round_half_up(Amount::fen(4), Ratio::ppm(100'000)).fen() == 0);    // 0.4 fen -> 0
  CHECK(mul_round_half_up(Amount::fen(105), Ratio::ppm(100'000)).fen() == 11); // 10.5 -> 11
  CHECK(mul_floor(Amount::fen(3), Ratio::ppm(700'000)).fen() == 2);            // 2.1 -> 2
  CHECK(mul_floor(Amount::fen(1), Ratio::ppm(700'000)).fen() == 0);
  CHECK(mul_floor(Amount::fen(limits::amount_max_fen), Ratio::one()).fen() == limits::amount_max_fen);
  CHECK(mul_round_half_up(Amount::fen(limits::amount_max_fen), Ratio::ppm(999'999)).fen() == 999'999'000'000);
}
