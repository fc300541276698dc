// settlectl split / refund driven as the insurance office would: JSON on
// stdin, a policy file, table or JSON out, exit status telling the outcome.
#include "protocol/json.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace {

struct Run {
  int status = -1;
  std::string out;
  std::string err;
};

Run settlectl(const std::string& args, const std::string& stdin_text) {
  const std::string dir = SETTLE_BINARY_DIR "/tests/tools";
  const std::string in = dir + "/trial_in.json";
  const std::string err = dir + "/trial_err.txt";
  std::ofstream(in) << stdin_text;
  const std::string cmd = std::string(SETTLECTL_PATH) + " " + args + " < " + in + " 2> " + err;
  Run r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream e(err);
  r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  return r;
}

const std::string policy = "--policy " SETTLE_SOURCE_DIR "/docs/examples/policy.toml";

std::string example() {
  std::ifstream f(SETTLE_SOURCE_DIR "/docs/examples/trial-split.json");
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("split prints a readable table") {
  const Run r = settlectl("split " + policy, example());
  CHECK(r.status == 0);
  CHECK(has(r.out, "fund pays (统筹基金)"));
  CHECK(has(r.out, "63.21"));
  CHECK(has(r.out, "106.39"));
  CHECK(has(r.out, "普通门诊诊查费"));
  CHECK(has(r.out, "reasons: none"));
}

TEST_CASE("split --json is exact and complete") {
  const Run r = settlectl("split --json " + policy, example());
  REQUIRE(r.status == 0);
  auto j = settle::json::parse(r.out);
  REQUIRE(j.ok());
  CHECK((*j)["total"] == "169.60");
  CHECK((*j)["fund"] == "63.21");
  CHECK((*j)["account"] == "106.39");
  CHECK((*j)["cash"] == "0.00");
  CHECK((*j)["preselfpay"] == "13.29");
  CHECK((*j)["mode"] == "online");
}

TEST_CASE("deviations are explained") {
  const Run r = settlectl("split " + policy,
                          R"({"person": {"insutype": "310", "flags": ["unit_arrears"], "balance": "20.00"},
                              "lines": [{"code": "A", "class": "A", "amount": 100}],
                              "options": {"pin_verified": true}})");
  CHECK(r.status == 0);
  CHECK(has(r.out, "status_unit_arrears: employer in arrears"));
  CHECK(has(r.out, "account_insufficient"));
  const Run off = settlectl("split --json " + policy,
                            R"({"person": {"insutype": "390"}, "lines": [{"code": "A", "class": "A", "amount": "300"}],
                                "options": {"offline": {"cause": "network_down", "on_redlist": false}}})");
  auto j = settle::json::parse(off.out);
  REQUIRE(j.ok());
  CHECK((*j)["mode"] == "offline");
  CHECK((*j)["reasons"] == settle::json::Json::array({"offline_network_down", "not_on_redlist"}));
  CHECK((*j)["cash"] == "300.00");
}

TEST_CASE("bad input names the field, bad policy names the line") {
  Run r = settlectl("split " + policy, R"({"person": {"insutype": "310"}, "lines": [{"code": "A", "class": "A", "amount": 1}, {"code": "B", "class": "B", "amount": 1.234}]})");
  CHECK(r.status == 2);
  CHECK(has(r.err, "INVALID_AMOUNT: lines[1].amount: amount \"1.234\" has too many decimals"));
  r = settlectl("split " + policy, R"({"person": {"insutype": "310"}, "lines": [{"code": "A", "class": "D", "amount": 1}]})");
  CHECK(r.status == 2);
  CHECK(has(r.err, "lines[0].class"));
  r = settlectl("split " + policy, "{not json");
  CHECK(r.status == 2);
  CHECK(has(r.err, "invalid JSON in standard input"));
  const std::string bad_policy = SETTLE_BINARY_DIR "/tests/tools/bad_policy.toml";
  std::ofstream(bad_policy) << "[insutype.310.outpatient]\ndeductible = 1800.5\n";
  r = settlectl("split --policy " + bad_policy, example());
  CHECK(r.status == 2);
  CHECK(has(r.err, "bad_policy.toml:2: insutype.310.outpatient.deductible"));
}

TEST_CASE("refund: partial, repeated, then refused whole") {
  // Original: A 100 + C 20, account 500, deductible used: fund 70.00, account 50.00, cash 0.00
  const std::string original =
      R"("original": {"person": {"insutype": "310", "balance": "50.00", "deductible_used": "1800"},
                      "lines": [{"code": "A1", "class": "A", "amount": "100.00"}, {"code": "C1", "class": "C", "amount": "20.00"}],
                      "options": {"pin_verified": true}})";
  Run r = settlectl("refund --json " + policy, "{" + original + R"(, "request": {"lines": [{"code": "C1", "amount": "20.00"}]}})");
  REQUIRE(r.status == 0);
  auto j = settle::json::parse(r.out);
  REQUIRE(j.ok());
  CHECK((*j)["original"]["cash"] == "0.00");
  CHECK((*j)["original"]["account"] == "50.00");
  CHECK((*j)["refund"]["fund"] == "0.00");
  CHECK((*j)["refund"]["account"] == "20.00");  // no cash was paid, so all goes back to the account
  // Repeated: after C1 is refunded, refund 50.00 of A1: the fund takes back 35.00, the account 15.00.
  r = settlectl("refund --json " + policy, "{" + original +
                R"(, "refunds": [{"lines": [{"code": "C1", "amount": "20.00"}]}], "request": {"lines": [{"code": "A1", "amount": "50.00"}]}})");
  REQUIRE(r.status == 0);
  j = settle::json::parse(r.out);
  CHECK((*j)["refund"]["fund"] == "35.00");
  CHECK((*j)["refund"]["account"] == "15.00");
  CHECK((*j)["left_after"]["total"] == "50.00");
  // The insurer claims too little for the fund: the account would get more than it paid: refused whole.
  r = settlectl("refund " + policy, "{" + original + R"(, "request": {"refund_total": "120.00", "fund": "10.00"}})");
  CHECK(r.status == 4);
  CHECK(has(r.out, "Refund REFUSED: REFUND_EXCEEDS_ORIGINAL"));
  CHECK(has(r.out, "nothing was changed"));
  // More than is left of a line.
  r = settlectl("refund " + policy, "{" + original + R"(, "request": {"lines": [{"code": "A1", "amount": "100.01"}]}})");
  CHECK(r.status == 4);
  // Table output for people.
  r = settlectl("refund " + policy, "{" + original + R"(, "request": {}})");
  CHECK(r.status == 0);
  CHECK(has(r.out, "this refund"));
  CHECK(has(r.out, "先退现金再退个人帐户"));
}
