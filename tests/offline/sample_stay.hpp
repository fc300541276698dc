// A sample stay for the ledger's stay tests (apart from sample.hpp: the
// engine's flow types would clash with settle::ledger's in the unity batches
// of the tests that do not use stays).
#pragma once

#include "engine/flow.hpp"

#include <string>

namespace settle::test {

// A stay admitted by request `request_id` at window W1 by C007 with card
// E00000009 (department 0301, diagnosis K35.8, at 1,000 ms); online for
// person `psn_no`, or offline by card alone when none is given.
inline flow::StayRecord sample_stay(const std::string& request_id, const std::string& psn_no = {}) {
  flow::StayRecord st;
  st.request_id = request_id;
  st.window = "W1";
  st.operator_id = "C007";
  st.card_no = "E00000009";
  st.card_sn = "SN0009";
  st.dept = "0301";
  st.diagnosis = "K35.8";
  st.admit_at = 1'000;
  st.mode = psn_no.empty() ? settle::Mode::offline : settle::Mode::online;
  if (!psn_no.empty()) {
    st.psn_no = psn_no;
    st.insutype = "310";
  }
  return st;
}

}  // namespace settle::test
