// Shared fixtures of the engine tests: the worked-example policy (employees
// 310 outpatient: deductible 1800.00, fund 70 %, cap 20000.00, class B 10 %).
#pragma once

#include "engine/split.hpp"

#include <string>

namespace settle::test {

inline Amount yuan(const char* s) { return parse_amount(s, "test").value(); }

inline Policy worked_policy() {
  Policy p;
  p.set("310", VisitType::outpatient,
        PolicyParams{yuan("1800.00"), Ratio::ppm(700'000), yuan("20000.00"), Ratio::ppm(100'000)});
  p.set("310", VisitType::inpatient,
        PolicyParams{yuan("1300.00"), Ratio::ppm(850'000), yuan("500000.00"), Ratio::ppm(100'000)});
  p.set("390", VisitType::outpatient,
        PolicyParams{yuan("100.00"), Ratio::ppm(500'000), yuan("3000.00"), Ratio::ppm(100'000)});
  p.set_classb_ratio("B-20", Ratio::ppm(200'000));
  return p;
}

inline ChargeLine line(const char* code, LineClass c, const char* amount) {
  return ChargeLine{code, std::string("item ") + code, c, yuan(amount), std::nullopt};
}

}  // namespace settle::test
