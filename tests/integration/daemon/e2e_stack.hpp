// The stack shared by the daemon's end-to-end tests (started once per test
// program: insurer-sim, pcscd, settled) and the helpers the cases share:
// card placement, charge lines, and the ledger-versus-insurer comparison.
#pragma once

#include "tests/support/daemon_harness.hpp"

#include <string>
#include <vector>

namespace settle::e2e {

using settle::testing::Json;
using settle::testing::PersonSpec;
using settle::testing::RpcClient;
using settle::testing::Stack;

// Persons the insurer knows (distinct so balances do not interfere).
enum Who : int {
  kMain = 1, kOther, kArrears, kNotDesignated, kSupervised, kTempChange, kPoor, kPinSkip, kRefunds,
  kIdem, kPinCard, kBlocked, kMismatch, kVoucher, kIdOnly, kCrossRegion, kPartRefund, kPartRefundRegional, kCount
};
PersonSpec who(int n);
// The insured area of kCrossRegion (everyone else's is the hospital's, 110105).
inline constexpr const char* kElsewhere = "440300";

// The insurer profile of this test program (SETTLE_E2E_PROFILE, compiled in:
// "regional" or "national"): settled's [insurer] profile and insurer-sim's
// --profile.
const char* profile();
bool national();

Stack& stack();
// Makes sure vpcd reader `index` holds person `n`'s card (with extra options).
void place_card(int index, int n, const std::vector<std::string>& extra = {});

// Four lines: A 25.00, B 48.60, B 30.00, C 66.00.
Json visit_lines();
// The visit's department, doctor and main diagnosis.
using settle::testing::visit_facts;
// settle.commit's params; with the national profile they carry visit_facts()
// (the national interface requires them).
Json commit_params(const std::string& request_id, const Json& lines, bool use_account = true);

// card.read, and card.verify_pin when pin is not empty; REQUIREs success.
void read_card(RpcClient& c, const std::string& pin = "");
// settle.commit; REQUIREs a result, returns it.
Json commit(RpcClient& c, const std::string& request_id, const Json& lines, bool use_account = true);

// fund + account + cash == total in an object with those keys (or refund_total).
void check_parts_add_up(const Json& obj, const char* total_key = "total");
// settle.get of setl_id agrees with the simulator's report to the fen:
// amounts, state, and every refund; returns the detail.
Json check_agrees_with_insurer(RpcClient& c, const std::string& setl_id);
bool has_reason(const Json& result, const std::string& reason);

}  // namespace settle::e2e
