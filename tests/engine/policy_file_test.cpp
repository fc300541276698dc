// The policy file: the example in docs/ loads, and each kind of mistake a
// person editing it can make is an error naming the line and the key.
#include "protocol/policy_file.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace settle;

TEST_CASE("the example policy loads") {
  auto p = load_policy_file(std::string(SETTLE_SOURCE_DIR) + "/docs/examples/policy.toml");
  REQUIRE(p.ok());
  const PolicyParams* op = p->find("310", VisitType::outpatient);
  REQUIRE(op != nullptr);
  CHECK(format_amount(op->deductible) == "1800.00");
  CHECK(op->fund_ratio == Ratio::ppm(700'000));
  CHECK(p->find("390", VisitType::inpatient) != nullptr);
  CHECK(p->classb_ratio(*op, "250310005", std::nullopt) == Ratio::ppm(200'000));
  CHECK(p->version == "2026.1");
}

TEST_CASE("mistakes are errors with line and key") {
  const char* head = "[insutype.310.outpatient]\n";
  struct Row { std::string text; const char* expect; };
  const Row rows[] = {
      {std::string(head) + "deductible = 1800.5\nfund_ratio = \"0.7\"\nannual_cap = \"1\"\nclassb_selfpay_ratio = \"0.1\"\n",
       "policy.toml:2: insutype.310.outpatient.deductible: write amounts as a quoted decimal"},
      {std::string(head) + "deductible = \"1800\"\nfund_ratio = 0.7\nannual_cap = \"1\"\nclassb_selfpay_ratio = \"0.1\"\n",
       "policy.toml:3: insutype.310.outpatient.fund_ratio: write ratios as a quoted decimal"},
      {std::string(head) + "deductible = \"1800\"\nfund_ratio = \"1.7\"\nannual_cap = \"1\"\nclassb_selfpay_ratio = \"0.1\"\n",
       "policy.toml:3: insutype.310.outpatient.fund_ratio: ratio \"1.7\" is above 1"},
      {std::string(head) + "deductible = \"1800.123\"\nfund_ratio = \"0.7\"\nannual_cap = \"1\"\nclassb_selfpay_ratio = \"0.1\"\n",
       "policy.toml:2: insutype.310.outpatient.deductible: amount \"1800.123\" has too many decimals"},
      {std::string(head) + "deductible = \"1800\"\nfund_ratio = \"0.7\"\nclassb_selfpay_ratio = \"0.1\"\n",
       "insutype.310.outpatient.annual_cap: required amount is missing"},
      {std::string(head) + "deductible = \"1800\"\nfund_ratio = \"0.7\"\nannual_cap = \"1\"\nclassb_selfpay_ratio = \"0.1\"\nfund_ration = \"1\"\n",
       "policy.toml:6: insutype.310.outpatient.fund_ration: unknown key"},
      {"[insutype.310.outpatent]\ndeductible = \"1\"\n", "insutype.310.outpatent: unknown key"},
      {"name = \"x\"\n", "insutype: at least one"},
      // An insurance type without a visit type's table gave a policy with no
      // parameters at all (or none for that type) and was accepted.
      {"[insutype.310]\n", "policy.toml:1: insutype.310: at least one [insutype.310.<outpatient|inpatient>] table"},
      {"[insutype.3metricsatient]#key_filed10\"\n", "insutype.3metricsatient: at least one"},
      {std::string(head) + "deductible = \"1\"\nfund_ratio = \"0.7\"\nannual_cap = \"1\"\nclassb_selfpay_ratio = \"0.1\"\n"
                           "[insutype.390]\n",
       "policy.toml:6: insutype.390: at least one"},
      {"[insutype.310.outpatient\n", "policy.toml:1:"},
      {"[classb_ratios]\n\"X1\" = \"2\"\n[insutype.310.outpatient]\n", "policy.toml:2: classb_ratios.X1: ratio \"2\" is above 1"},
  };
  for (const Row& r : rows) {
    CAPTURE(r.text);
    auto p = parse_policy(r.text, "policy.toml");
    REQUIRE_FALSE(p.ok());
    CHECK(p.error().reason == Reason::invalid_config);
    CHECK_MESSAGE(p.error().message.find(r.expect) != std::string::npos, p.error().message);
  }
  CHECK(load_policy_file("/nonexistent/policy.toml").error().message.find("cannot open") != std::string::npos);
}
