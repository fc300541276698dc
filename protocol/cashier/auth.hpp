// Operators, roles and logins of the cashier API: which role may call which
// method, password hashing with scrypt (OpenSSL), the password policy, the
// lockout after failed logins, and the OperatorStore port the daemon backs.
#pragma once

#include "engine/limits.hpp"
#include "engine/result.hpp"
#include "protocol/cashier/rpc.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace settle::cashier {

enum class Role : std::uint8_t { cashier = 1, supervisor = 2, auditor = 3 };
std::string_view role_name(Role r) noexcept;  // "cashier", "supervisor", "auditor"
std::optional<Role> role_from_name(std::string_view s) noexcept;

// Methods callable on a connection nobody has logged in on.
bool allowed_without_login(Method m) noexcept;
// The role table (cashier-api-notes.md lists it).
bool role_may_call(Role r, Method m) noexcept;

using SystemTime = std::chrono::system_clock::time_point;

// "2026-03-01T08:30:00+08:00" in the host's local time zone.
std::string format_iso8601_local(SystemTime t);

// --- Password hashing -------------------------------------------------------

// scrypt cost parameters. The defaults cost about 32 MiB and tens of
// milliseconds per hash; tests lower n.
struct KdfParams {
  std::uint64_t n = std::uint64_t{1} << 15;
  std::uint32_t r = 8;
  std::uint32_t p = 1;
};

// "scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>" with a 16-byte random salt
// and a 32-byte hash. Errors: INTERNAL when OpenSSL fails.
Result<std::string> hash_password(std::string_view password, const KdfParams& params = {});
// Compares in constant time. Errors: INTERNAL for a malformed or
// out-of-bounds encoded hash (a damaged record), never for a wrong password.
Result<bool> verify_password(std::string_view password, std::string_view encoded);

// Rules for a new password: 10..128 bytes, at least one letter and one digit,
// not containing the operator name, not one repeated character.
// Errors: INVALID_REQUEST with field "password" (the password is never quoted).
Status check_password_policy(std::string_view operator_name, std::string_view password);

// --- Operator records -------------------------------------------------------

struct OperatorRecord {
  std::string name;
  Role role = Role::cashier;
  std::string password_hash;  // hash_password's format
  int failed_attempts = 0;    // failed logins since the last success or lock
  std::optional<SystemTime> locked_until;
};

// Where operators live (the daemon backs it with the ledger). Calls are
// blocking and come from the server's auth thread, never the io thread.
// Errors are operating errors (STORAGE_FAILED, NOT_FOUND for unknown names
// on updates, INVALID_REQUEST for add of an existing name).
class OperatorStore {
 public:
  virtual ~OperatorStore() = default;
  virtual Result<std::optional<OperatorRecord>> find(std::string_view name) = 0;
  // Adds one failed attempt; returns the new count.
  virtual Result<int> record_failed_attempt(std::string_view name) = 0;
  virtual Status reset_failures(std::string_view name) = 0;
  // Locks until `until` and resets the failed-attempt count.
  virtual Status set_locked_until(std::string_view name, SystemTime until) = 0;
  virtual Status add(const OperatorRecord& record) = 0;
  virtual Status set_password(std::string_view name, std::string password_hash) = 0;
  // Clears the lock and the failed-attempt count.
  virtual Status unlock(std::string_view name) = 0;
};

// An OperatorStore in memory (tests, drills). Thread-safe.
class MemoryOperatorStore final : public OperatorStore {
 public:
  Result<std::optional<OperatorRecord>> find(std::string_view name) override;
  Result<int> record_failed_attempt(std::string_view name) override;
  Status reset_failures(std::string_view name) override;
  Status set_locked_until(std::string_view name, SystemTime until) override;
  Status add(const OperatorRecord& record) override;
  Status set_password(std::string_view name, std::string password_hash) override;
  Status unlock(std::string_view name) override;

 private:
  OperatorRecord* lookup(std::string_view name);
  std::mutex mutex_;
  std::map<std::string, OperatorRecord, std::less<>> records_;
};

// --- Logins -----------------------------------------------------------------

struct AuthConfig {
  int max_failed_logins = limits::max_failed_logins;
  std::chrono::seconds lockout_duration{15 * 60};
  KdfParams kdf;  // for new and changed passwords
};

struct Identity {
  std::string operator_name;
  Role role = Role::cashier;
};

struct LoginOutcome {
  std::optional<Identity> identity;  // set on success
  std::optional<RpcError> error;     // LOGIN_FAILED (attempts_left), LOCKED_OUT (until), STORAGE_FAILED
};

// Checks logins against an OperatorStore and keeps the lockout rules.
// Every call is blocking (the KDF is slow on purpose): run it off the io
// thread. Thread-safe.
class Authenticator {
 public:
  using Clock = std::function<SystemTime()>;
  Authenticator(OperatorStore& store, AuthConfig config, Clock clock = [] { return std::chrono::system_clock::now(); });

  // A wrong operator name and a wrong password look the same to the client
  // (same reason, same attempt counting, same KDF cost).
  LoginOutcome login(std::string_view operator_name, std::string_view password);

  // Administration (settlectl, the daemon's first start).
  Status add_operator(std::string_view name, Role role, std::string_view password);
  Status change_password(std::string_view name, std::string_view new_password);
  Status unlock(std::string_view name);

  const AuthConfig& config() const { return config_; }

 private:
  LoginOutcome failed(std::string_view name, int attempts, bool known);
  LoginOutcome locked(SystemTime until) const;

  OperatorStore& store_;
  AuthConfig config_;
  Clock clock_;
  std::string dummy_hash_;  // verified against for unknown names, so both cost the same
  std::mutex unknown_mutex_;
  std::map<std::string, std::pair<int, SystemTime>, std::less<>> unknown_;  // name -> (failures, locked until)
};

}  // namespace settle::cashier
