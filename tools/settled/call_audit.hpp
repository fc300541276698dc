// What the audit trail keeps of one cashier call: the operator, window and
// source, the method, the object it touched (settlement, stay, person, card),
// the outcome and a line for people. Never a PIN, a password or an ID number.
#pragma once

#include "offline/ledger_ops.hpp"
#include "protocol/cashier/server.hpp"

#include <optional>
#include <string>
#include <vector>

namespace settle::daemon {

// What the audit keeps of a call's params, taken before the call runs: the
// ids it names and a line for people (never a PIN or a password; the
// params themselves are not kept).
struct CallAuditSeed {
  cashier::Method method = cashier::Method::engine_status;
  std::vector<std::string> object;  // "key value" parts
  std::string detail;
};

// The seed of a call, or nullopt for calls that are not audited here
// (engine.status; the server's own session and operator methods, which the
// server and the operator store audit).
std::optional<CallAuditSeed> call_audit_seed(cashier::Method method, const cashier::MethodParams& params);

// The audit entry of a seeded call once answered.
ledger::AuditEntry call_audit_entry(const cashier::SessionInfo& session, const CallAuditSeed& seed,
                                    const cashier::Reply& reply, std::int64_t at_ms);

}  // namespace settle::daemon
