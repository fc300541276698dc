// What the audit trail keeps of one cashier call: the operator, window and
// source, the method, the object it touched (settlement, stay, person, card),
// the outcome and a line for people. Never a PIN, a password or an ID number.
#pragma once

#include "offline/ledger_ops.hpp"
#include "protocol/cashier/server.hpp"

#include <optional>

namespace settle::daemon {

// The audit entry of a call the Service answered, or nullopt for calls that
// are not audited here (engine.status; the server's own session and
// operator methods, which the operator store audits as they change).
std::optional<ledger::AuditEntry> call_audit_entry(const cashier::SessionInfo& session, cashier::Method method,
                                                   const cashier::MethodParams& params, const cashier::Reply& reply,
                                                   std::int64_t at_ms);

}  // namespace settle::daemon
