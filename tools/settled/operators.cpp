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

ledger::AuditEntry entry(const cashier::Actor& by, std::string_view action, std::string object, std::string detail,
                         std::int64_t at) {
  ledger::AuditEntry e;
  e.at_ms = at;
  e.operator_name = by.operator_name;
  e.window = by.window;
  e.source = by.source;
  e.action = std::string(action);
  e.object = std::move(object);
  e.detail = std::move(detail);
  e.outcome = "ok";
  return e;
}

cashier::SourceLock source_lock(const ledger::LoginSourceRow& r) {
  cashier::SourceLock l;
  l.source = r.source;
  l.failed_attempts = static_cast<int>(r.failed_attempts);
  l.locked = r.locked_since_ms.has_value();
  if (r.locked_since_ms) l.locked_since = from_ms(*r.locked_since_ms);
  if (r.locked_until_ms) l.locked_until = from_ms(*r.locked_until_ms);
  return l;
}

std::string operator_object(std::string_view name) { return fmt::format("operator {}", name); }

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
  rec.disabled = r.disabled;
  rec.must_change_password = r.must_change_password;
  return std::optional<cashier::OperatorRecord>{rec};
}

Result<std::vector<cashier::OperatorSummary>> LedgerOperatorStore::list() {
  using Rows = std::pair<std::vector<ledger::OperatorRow>, std::vector<ledger::LoginSourceRow>>;
  auto rows = ledger_.read([](sql::Db& db) -> sql::Result<Rows> {
    auto ops = ledger::list_operators(db);
    if (!ops) return ops.error();
    auto sources = ledger::list_login_sources(db);
    if (!sources) return sources.error();
    return Rows{std::move(*ops), std::move(*sources)};
  });
  if (!rows) return rows.error().to_error();
  std::vector<cashier::OperatorSummary> out;
  for (const auto& r : rows->first) {
    cashier::OperatorSummary o;
    o.name = r.name;
    o.role = cashier::role_from_name(r.role).value_or(cashier::Role::cashier);
    o.disabled = r.disabled;
    o.must_change_password = r.must_change_password;
    o.created = from_ms(r.created_at_ms);
    o.updated = from_ms(r.updated_at_ms);
    for (const auto& l : rows->second)
      if (l.operator_name == r.name) o.sources.push_back(source_lock(l));
    out.push_back(std::move(o));
  }
  return out;
}

Result<cashier::SourceLock> LedgerOperatorStore::source_state(std::string_view name, std::string_view source) {
  auto row = ledger_.read([n = std::string(name), src = std::string(source)](sql::Db& db) {
    return ledger::find_login_source(db, n, src);
  });
  if (!row) return row.error().to_error();
  if (!row->has_value()) return cashier::SourceLock{std::string(source)};
  return source_lock(**row);
}

Result<int> LedgerOperatorStore::record_failed_attempt(std::string_view name, const cashier::Actor& at) {
  const std::int64_t now = now_ms();
  auto n = ledger_.write_wait([n = std::string(name), at, now](sql::Db& db) -> sql::Result<std::int64_t> {
    auto count = ledger::add_failed_login(db, n, at.source, now);
    if (!count) return count.error();
    auto e = entry(at, "login_failed", operator_object(n), fmt::format("failed attempt {} from {}", *count, at.source),
                   now);
    e.outcome = "LOGIN_FAILED";
    auto a = ledger::append_audit(db, e);
    if (!a) return a.error();
    return *count;
  });
  if (!n) return n.error().to_error();
  return static_cast<int>(*n);
}

Status LedgerOperatorStore::lock(std::string_view name, const cashier::Actor& at,
                                 std::optional<cashier::SystemTime> until) {
  const std::optional<std::int64_t> until_ms = until ? std::optional<std::int64_t>(to_ms(*until)) : std::nullopt;
  return change(
      [n = std::string(name), src = at.source, until_ms](sql::Db& db, std::int64_t now) {
        return ledger::lock_login_source(db, n, src, until_ms, now);
      },
      at, "locked_out", operator_object(name),
      until_ms ? fmt::format("locked for logins from {} until {}", at.source, iso_time(*until_ms))
               : fmt::format("locked for logins from {} until an administrator unlocks", at.source));
}

Status LedgerOperatorStore::login_succeeded(std::string_view name, const cashier::Actor& at) {
  return change(
      [n = std::string(name), src = at.source](sql::Db& db, std::int64_t) {
        return ledger::clear_login_source(db, n, src);
      },
      at, "login_failures_cleared", operator_object(name), fmt::format("a login from {} succeeded", at.source));
}

Status LedgerOperatorStore::add(const cashier::OperatorRecord& record, const cashier::Actor& by) {
  ledger::OperatorRow row;
  row.name = record.name;
  row.role = std::string(cashier::role_name(record.role));
  row.password_hash = record.password_hash;
  row.disabled = record.disabled;
  row.must_change_password = record.must_change_password;
  auto s = change(
      [row](sql::Db& db, std::int64_t now) mutable {
        row.created_at_ms = now;
        row.updated_at_ms = now;
        return ledger::insert_operator(db, row);
      },
      by, "operator.add", operator_object(record.name), fmt::format("role {}", row.role));
  return s;
}

Status LedgerOperatorStore::set_password(std::string_view name, std::string password_hash, bool must_change,
                                         const cashier::Actor& by) {
  // The operator's own change (session.change_password) clears the initial
  // flag; an administrator's reset sets it, even of the administrator's own.
  const bool own = by.operator_name == name && !must_change;
  return change(
      [n = std::string(name), h = std::move(password_hash), must_change](sql::Db& db, std::int64_t now) {
        return ledger::set_operator_password(db, n, h, must_change, now);
      },
      by, own ? "session.change_password" : "operator.reset_password", operator_object(name),
      own ? "changed the own password" : "set an initial password, to be changed at the next login");
}

Status LedgerOperatorStore::unlock(std::string_view name, const cashier::Actor& by) {
  return change([n = std::string(name)](sql::Db& db, std::int64_t now) { return ledger::unlock_operator(db, n, now); },
                by, "operator.unlock", operator_object(name), "every lock and failure count cleared");
}

Status LedgerOperatorStore::set_role(std::string_view name, cashier::Role role, const cashier::Actor& by) {
  const std::string r(cashier::role_name(role));
  return change([n = std::string(name), r](sql::Db& db, std::int64_t now) { return ledger::set_operator_role(db, n, r, now); },
                by, "operator.set_role", operator_object(name), fmt::format("role {}", r));
}

Status LedgerOperatorStore::set_disabled(std::string_view name, bool disabled, const cashier::Actor& by) {
  return change(
      [n = std::string(name), disabled](sql::Db& db, std::int64_t now) {
        return ledger::set_operator_disabled(db, n, disabled, now);
      },
      by, disabled ? "operator.disable" : "operator.enable", operator_object(name),
      disabled ? "may not log in" : "may log in again");
}

Status LedgerOperatorStore::change(std::function<sql::Status(sql::Db&, std::int64_t)> fn, const cashier::Actor& by,
                                   std::string_view action, std::string object, std::string detail) {
  const std::int64_t now = now_ms();
  auto e = entry(by, action, std::move(object), std::move(detail), now);
  auto s = ledger_.write_wait([fn = std::move(fn), e, now](sql::Db& db) -> sql::Status {
    SETTLE_SQL_TRY(fn(db, now));
    auto a = ledger::append_audit(db, e);
    if (!a) return a.error();
    return settle::Ok{};
  });
  if (!s && s.error().code == sql::Errc::unique)
    return make_error(Reason::invalid_request, "operator", fmt::format("{}: exists already", e.object));
  return to_status(s);
}

}  // namespace settle::daemon
