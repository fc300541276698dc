// The cashier operators and the audit trail, kept in the ledger: the
// OperatorStore the cashier server's logins use, and the append-only record
// of operator actions (logins, lockouts, settlements, refunds, changes).
#pragma once

#include "offline/ledger.hpp"
#include "protocol/cashier/auth.hpp"

#include <string>
#include <string_view>

namespace settle::daemon {

class LedgerOperatorStore final : public cashier::OperatorStore {
 public:
  explicit LedgerOperatorStore(ledger::Ledger& ledger) : ledger_(ledger) {}

  Result<std::optional<cashier::OperatorRecord>> find(std::string_view name) override;
  Result<int> record_failed_attempt(std::string_view name) override;
  Status reset_failures(std::string_view name) override;
  Status set_locked_until(std::string_view name, cashier::SystemTime until) override;
  Status add(const cashier::OperatorRecord& record) override;
  Status set_password(std::string_view name, std::string password_hash) override;
  Status unlock(std::string_view name) override;

 private:
  ledger::Ledger& ledger_;
};

// Appends one operator action to the audit trail (waits until durable).
Status audit(ledger::Ledger& ledger, std::string_view operator_name, std::string_view window, std::string_view action,
             std::string_view detail);

}  // namespace settle::daemon
