// Operator records and audit entries through the ledger's typed operations;
// every change also leaves an audit entry in the same transaction.
#include "tools/settled/operators.hpp"

#include "offline/ledger_ops.hpp"
#include "tools/settled/clock.hpp"

#include <fmt/format.h>

namespace settle::daemon {
namespace {

std::int64_t to_ms(cashier::SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

cashier::SystemTime from_ms(std::int64_t ms) { return cashier::SystemTime(std::chrono::milliseconds(ms)); }

Status to_status(const sql::Status& s) {
  if (!s) return s.error().to_error();
  return settle::Ok{};
}

ledger::AuditEntry entry(std::string_view op, std::string_view action, std::string detail, std::int64_t at) {
  ledger::AuditEntry e;
  e.at_ms = at;
  e.operator_name = std::string(op);
  e.action = std::string(action);
  e.detail = std::move(detail);
  return e;
}

}  // namespace

Result<std::optional<cashier::OperatorRecord>> LedgerOperatorStore::find(std::string_view name) {
  auto row = ledger_.read([n = std::string(name)](sql::Db& db) { return ledger::find_operator(db, n); });
  if (!row) return row.error().to_error();
  if (!row->has_value()) return std::optional<cashier::OperatorRecord>{};
  const ledger::OperatorRow& r = **row;
  cashier::OperatorRecord rec;
  rec.name = r.name;
  rec.role = cashier::role_from_name(r.role).value_or(cashier::Role::cashier);
  rec.password_hash = r.password_hash;
  rec.failed_attempts = static_cast<int>(r.failed_attempts);
  if (r.locked_until_ms) rec.locked_until = from_ms(*r.locked_until_ms);
  return std::optional<cashier::OperatorRecord>{rec};
}

Result<int> LedgerOperatorStore::record_failed_attempt(std::string_view name) {
  const std::int64_t at = now_ms();
  auto n = ledger_.write_wait([n = std::string(name), at](sql::Db& db) -> sql::Result<std::int64_t> {
    auto count = ledger::add_failed_login(db, n, at);
    if (!count) return count.error();
    auto a = ledger::append_audit(db, entry(n, "login_failed", fmt::format("failed attempt {}", *count), at));
    if (!a) return a.error();
    return *count;
  });
  if (!n) return n.error().to_error();
  return static_cast<int>(*n);
}

Status LedgerOperatorStore::reset_failures(std::string_view name) {
  const std::int64_t at = now_ms();
  return to_status(ledger_.write_wait([n = std::string(name), at](sql::Db& db) -> sql::Status {
    SETTLE_SQL_TRY(ledger::reset_failed_logins(db, n, at));
    auto a = ledger::append_audit(db, entry(n, "login", "", at));
    if (!a) return a.error();
    return settle::Ok{};
  }));
}

Status LedgerOperatorStore::set_locked_until(std::string_view name, cashier::SystemTime until) {
  const std::int64_t at = now_ms();
  const std::int64_t until_ms = to_ms(until);
  return to_status(ledger_.write_wait([n = std::string(name), at, until_ms](sql::Db& db) -> sql::Status {
    SETTLE_SQL_TRY(ledger::lock_operator(db, n, until_ms, at));
    auto a = ledger::append_audit(db, entry(n, "locked_out", fmt::format("until {}", iso_time(until_ms)), at));
    if (!a) return a.error();
    return settle::Ok{};
  }));
}

Status LedgerOperatorStore::add(const cashier::OperatorRecord& record) {
  const std::int64_t at = now_ms();
  ledger::OperatorRow row;
  row.name = record.name;
  row.role = std::string(cashier::role_name(record.role));
  row.password_hash = record.password_hash;
  row.created_at_ms = at;
  row.updated_at_ms = at;
  auto s = ledger_.write_wait([row, at](sql::Db& db) -> sql::Status {
    SETTLE_SQL_TRY(ledger::insert_operator(db, row));
    auto a = ledger::append_audit(db, entry(row.name, "operator_added", fmt::format("role {}", row.role), at));
    if (!a) return a.error();
    return settle::Ok{};
  });
  if (!s && s.error().code == sql::Errc::unique)
    return make_error(Reason::invalid_request, "operator", fmt::format("operator \"{}\" exists already", record.name));
  return to_status(s);
}

Status LedgerOperatorStore::set_password(std::string_view name, std::string password_hash) {
  const std::int64_t at = now_ms();
  return to_status(ledger_.write_wait([n = std::string(name), h = std::move(password_hash), at](sql::Db& db) -> sql::Status {
    SETTLE_SQL_TRY(ledger::set_operator_password(db, n, h, at));
    auto a = ledger::append_audit(db, entry(n, "password_changed", "", at));
    if (!a) return a.error();
    return settle::Ok{};
  }));
}

Status LedgerOperatorStore::unlock(std::string_view name) {
  const std::int64_t at = now_ms();
  return to_status(ledger_.write_wait([n = std::string(name), at](sql::Db& db) -> sql::Status {
    SETTLE_SQL_TRY(ledger::unlock_operator(db, n, at));
    auto a = ledger::append_audit(db, entry(n, "unlocked", "", at));
    if (!a) return a.error();
    return settle::Ok{};
  }));
}

Status audit(ledger::Ledger& ledger, std::string_view operator_name, std::string_view window, std::string_view action,
             std::string_view detail) {
  ledger::AuditEntry e = entry(operator_name, action, std::string(detail), now_ms());
  e.window = std::string(window);
  return to_status(ledger.write_wait([e](sql::Db& db) -> sql::Status {
    auto a = ledger::append_audit(db, e);
    if (!a) return a.error();
    return settle::Ok{};
  }));
}

}  // namespace settle::daemon
