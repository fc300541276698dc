// Exact JSON: numbers reach amounts as their own text, errors name fields,
// and malformed or hostile documents are refused cleanly.
#include "protocol/json.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace settle;

TEST_CASE("fractional numbers keep their exact text") {
  auto j = json::parse(R"({"a": 12.30, "b": 12.3, "c": "12.30", "d": 12, "e": 1e3, "f": 0.1})");
  REQUIRE(j.ok());
  CHECK(json::is_raw_number((*j)["a"]));
  CHECK(json::raw_number_text((*j)["a"]) == "12.30");
  CHECK(json::get_amount(*j, "a", "").value() == Amount::fen(1230));
  CHECK(json::get_amount(*j, "b", "").value() == Amount::fen(1230));
  CHECK(json::get_amount(*j, "c", "").value() == Amount::fen(1230));
  CHECK(json::get_amount(*j, "d", "").value() == Amount::fen(1200));
  CHECK(json::get_amount(*j, "f", "").value() == Amount::fen(10));
  auto e = json::get_amount(*j, "e", "");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().reason == Reason::invalid_amount);
  CHECK(e.error().field == "e");
}

TEST_CASE("amount errors name the field path") {
  auto j = json::parse(R"({"lines": [{"amount": 1.234}, {"amount": -1}, {"amount": true}]})");
  REQUIRE(j.ok());
  const auto& lines = (*j)["lines"];
  auto a = json::get_amount(lines[0], "amount", "lines[0]");
  CHECK(a.error().field == "lines[0].amount");
  CHECK(a.error().message.find("too many decimals") != std::string::npos);
  CHECK(json::get_amount(lines[1], "amount", "lines[1]").error().message.find("negative") != std::string::npos);
  CHECK(json::get_amount(lines[2], "amount", "lines[2]").error().reason == Reason::invalid_amount);
  CHECK(json::get_amount(lines[1], "amount", "lines[1]", Sign::any).value() == Amount::fen(-100));
}

TEST_CASE("huge numbers are not truncated into range") {
  auto j = json::parse(R"({"a": 123456789012345678901234567890, "b": 99999999999999999999.99})");
  REQUIRE(j.ok());
  CHECK(json::get_amount(*j, "a", "").error().reason == Reason::invalid_amount);
  CHECK(json::get_amount(*j, "b", "").error().reason == Reason::invalid_amount);
  CHECK(json::get_int(*j, "a", "").error().reason == Reason::invalid_request);
}

TEST_CASE("typed accessors") {
  auto j = json::parse(R"({"s": "x", "i": 5, "f": 1.5, "b": true, "n": null})");
  REQUIRE(j.ok());
  CHECK(json::get_string(*j, "s", "").value() == "x");
  CHECK(json::get_string(*j, "f", "").error().message == "f: expected a string, got number");
  CHECK(json::get_string(*j, "missing", "p").error().field == "p.missing");
  CHECK(json::get_int(*j, "i", "").value() == 5);
  CHECK(json::get_int(*j, "f", "").error().reason == Reason::invalid_request);
  CHECK(json::get_bool(*j, "b", "").value());
  CHECK_FALSE(json::get_opt_string(*j, "n", "").value().has_value());
  CHECK(json::get_string(*j, "s", "", 0).error().message.find("longer") != std::string::npos);
}

TEST_CASE("malformed documents are refused with a position") {
  for (const char* bad : {"", "{", "{\"a\":}", "[1,2", "nul", "{\"a\":1}x", "\"\\u12\"", "{'a':1}", "NaN", "[01]"}) {
    auto j = json::parse(bad, "request");
    INFO(bad);
    REQUIRE_FALSE(j.ok());
    CHECK(j.error().reason == Reason::invalid_request);
    CHECK(j.error().message.find("invalid JSON in request") == 0);
  }
}

TEST_CASE("nesting depth is bounded") {
  std::string deep(json::max_depth, '[');
  deep += std::string(json::max_depth, ']');
  CHECK(json::parse(deep).ok());
  std::string deeper(json::max_depth + 1, '[');
  deeper += std::string(json::max_depth + 1, ']');
  auto r = json::parse(deeper);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("nested deeper") != std::string::npos);
  std::string hostile(100000, '[');
  CHECK_FALSE(json::parse(hostile).ok());
}

TEST_CASE("ratios") {
  auto j = json::parse(R"({"a": "0.10", "b": 0.875, "c": 1, "d": "1.5", "e": "0.1234567"})");
  REQUIRE(j.ok());
  CHECK(json::to_ratio((*j)["a"], "a").value() == Ratio::ppm(100000));
  CHECK(json::to_ratio((*j)["b"], "b").value() == Ratio::ppm(875000));
  CHECK(json::to_ratio((*j)["c"], "c").value() == Ratio::one());
  CHECK_FALSE(json::to_ratio((*j)["d"], "d").ok());
  CHECK_FALSE(json::to_ratio((*j)["e"], "e").ok());
}
