// Sample rows for ledger tests: a request and a settlement that satisfy every
// constraint of the schema, varied by a number.
#pragma once

#include "offline/ledger_ops.hpp"

#include <fmt/format.h>

namespace settle::test {

inline ledger::Request sample_request(const std::string& id, std::int64_t at_ms = 1'700'000'000'000) {
  ledger::Request r;
  r.request_id = id;
  r.method = "settle.commit";
  r.payload_hash = "hash-" + id;
  r.operator_id = "C007";
  r.window_id = "W1";
  r.created_at_ms = at_ms;
  return r;
}

// A settlement of `total` fen: 60% fund, 30% account, rest cash.
inline ledger::Settlement sample_settlement(const std::string& request_id, std::int64_t total = 10'000,
                                            std::int64_t at_ms = 1'700'000'000'000) {
  ledger::Settlement s;
  s.request_id = request_id;
  s.window_id = "W1";
  s.operator_id = "C007";
  s.card_no = "110101199001011234";
  s.card_sn = "SN0001";
  s.psn_no = "P0001";
  s.insutype = "310";
  s.total = Amount::fen(total);
  s.fund = Amount::fen(total * 6 / 10);
  s.account = Amount::fen(total * 3 / 10);
  s.cash = s.total - s.fund - s.account;
  s.inscp = s.total;
  s.reasons = {};
  s.receipt_no = "R-" + request_id;
  s.created_at_ms = at_ms;
  s.clearing_date = "2026-11-22";
  return s;
}

// The same settlement made offline (network down): no account part, the
// rest cash, waiting to be forwarded.
inline ledger::Settlement sample_offline_settlement(const std::string& request_id, std::int64_t total = 10'000,
                                                    std::int64_t at_ms = 1'700'000'000'000) {
  ledger::Settlement s = sample_settlement(request_id, total, at_ms);
  s.mode = ledger::Mode::offline;
  s.account = Amount::fen(0);
  s.cash = s.total - s.fund;
  s.offline_reason = "network_down";
  s.state = ledger::SettlementState::offline_pending;
  return s;
}

inline std::vector<ledger::SettlementLine> sample_lines(std::int64_t total = 10'000) {
  return {{"A001", "consultation", ledger::LineClass::a, Amount::fen(total / 2), Ratio::ppm(0)},
          {"B001", "medicine", ledger::LineClass::b, Amount::fen(total - total / 2), Ratio::ppm(100'000)}};
}

// Records request + settlement in one job; returns the setl_id.
inline sql::Result<std::int64_t> record_sample(sql::Db& db, const std::string& request_id, std::int64_t total = 10'000) {
  auto r = ledger::record_request(db, sample_request(request_id));
  if (!r) return r.error();
  const auto lines = sample_lines(total);
  return ledger::record_settlement(db, sample_settlement(request_id, total), lines);
}

}  // namespace settle::test
