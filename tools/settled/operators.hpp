// The cashier operators kept in the ledger: the OperatorStore the cashier
// server's logins and administration use, each change written with its
// audit entry.
#pragma once

#include "offline/ledger.hpp"
#include "protocol/cashier/auth.hpp"

#include <functional>
#include <string>
#include <string_view>

namespace settle::daemon {

class LedgerOperatorStore final : public cashier::OperatorStore {
 public:
  explicit LedgerOperatorStore(ledger::Ledger& ledger) : ledger_(ledger) {}

  Result<std::optional<cashier::OperatorRecord>> find(std::string_view name) override;
  Result<std::vector<cashier::OperatorSummary>> list() override;
  Result<cashier::SourceLock> source_state(std::string_view name, std::string_view source) override;
  Result<int> record_failed_attempt(std::string_view name, const cashier::Actor& at) override;
  Status lock(std::string_view name, const cashier::Actor& at, std::optional<cashier::SystemTime> until) override;
  Status login_succeeded(std::string_view name, const cashier::Actor& at) override;
  Status add(const cashier::OperatorRecord& record, const cashier::Actor& by) override;
  Status set_password(std::string_view name, std::string password_hash, bool must_change,
                      const cashier::Actor& by) override;
  Status unlock(std::string_view name, const cashier::Actor& by) override;
  Status set_role(std::string_view name, cashier::Role role, const cashier::Actor& by) override;
  Status set_disabled(std::string_view name, bool disabled, const cashier::Actor& by) override;

 private:
  // Runs one change and its audit entry in one durable write.
  Status change(std::function<sql::Status(sql::Db&, std::int64_t)> fn, const cashier::Actor& by,
                std::string_view action, std::string object, std::string detail);
  ledger::Ledger& ledger_;
};

}  // namespace settle::daemon
