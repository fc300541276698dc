// Fuzz target for the policy file parsed from a buffer: a Policy within the
// rules that reads back the same once written, or an INVALID_CONFIG error
// naming the file; never an exception or a crash (docs/fuzzing.md).
#include "engine/limits.hpp"
#include "protocol/policy_file.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace settle;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

bool amount_ok(Amount a) { return a.fen() >= 0 && a.fen() <= limits::amount_max_fen; }
bool ratio_ok(Ratio r) { return r.ppm() >= 0 && r.ppm() <= limits::ratio_denominator; }

// A TOML basic string: quotes, backslashes and control characters escaped
// (keys are always written quoted, so any key reads back as itself).
std::string quoted(std::string_view v) {
  std::string out = "\"";
  for (const char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04X", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

// The policy as a policy file: amounts and ratios as quoted decimals.
std::string write_policy(const Policy& p) {
  std::string out = "name = " + quoted(p.name) + "\nversion = " + quoted(p.version) + "\n";
  if (!p.classb_by_code().empty()) {
    out += "[classb_ratios]\n";
    for (const auto& [code, r] : p.classb_by_code()) out += quoted(code) + " = " + quoted(format_ratio(r)) + "\n";
  }
  for (const auto& [key, params] : p.entries()) {
    out += "[insutype." + quoted(key.first) + "." + std::string(visit_type_name(key.second)) + "]\n";
    out += "deductible = " + quoted(format_amount(params.deductible)) + "\n";
    out += "fund_ratio = " + quoted(format_ratio(params.fund_ratio)) + "\n";
    out += "annual_cap = " + quoted(format_amount(params.annual_cap)) + "\n";
    out += "classb_selfpay_ratio = " + quoted(format_ratio(params.classb_selfpay_ratio)) + "\n";
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto p = parse_policy(text, "policy.toml");
  if (!p) {
    const Error& e = p.error();
    require(e.reason == Reason::invalid_config, "policy errors are INVALID_CONFIG");
    require(e.message.rfind("policy.toml", 0) == 0, "policy errors start with the file's name");
    return 0;
  }
  require(!p->entries().empty(), "a policy has at least one entry");
  for (const auto& [key, params] : p->entries()) {
    require(amount_ok(params.deductible) && amount_ok(params.annual_cap), "policy amounts are within range");
    require(ratio_ok(params.fund_ratio) && ratio_ok(params.classb_selfpay_ratio), "policy ratios are 0..1");
    require(p->find(key.first, key.second) == &params, "every entry is found by its key");
  }
  for (const auto& [code, r] : p->classb_by_code()) require(ratio_ok(r), "class B ratios are 0..1");

  const std::string again_text = write_policy(*p);
  auto again = parse_policy(again_text, "policy.toml");
  if (!again) {
    std::fprintf(stderr, "%s\n---\n%s\n", again.error().message.c_str(), again_text.c_str());
    require(false, "an accepted policy written back reads back");
  }
  require(again->name == p->name && again->version == p->version, "name and version read back");
  require(again->entries() == p->entries(), "the entries read back the same");
  require(again->classb_by_code() == p->classb_by_code(), "the class B ratios read back the same");
  return 0;
}
