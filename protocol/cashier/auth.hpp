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
#include <utility>
#include <vector>

namespace settle::cashier {

enum class Role : std::uint8_t { cashier = 1, supervisor = 2, auditor = 3, admin = 4 };
std::string_view role_name(Role r) noexcept;  // "cashier", "supervisor", "auditor", "admin"
std::optional<Role> role_from_name(std::string_view s) noexcept;

// Methods callable on a connection nobody has logged in on.
bool allowed_without_login(Method m) noexcept;
// Methods a session that must change its password first may call.
bool allowed_before_password_change(Method m) noexcept;
// The role table (docs/cashier-api.md, "Roles", lists it).
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

// Rules for a new password: 10..128 bytes with an upper-case letter, a
// lower-case letter, a digit and a special character (printable ASCII that is
// neither), no control characters, not containing the operator name, not one
// repeated character. Errors: INVALID_REQUEST with field `field` (the
// password is never quoted).
Status check_password_policy(std::string_view operator_name, std::string_view password,
                             std::string_view field = "password");

// --- Operator records -------------------------------------------------------

struct OperatorRecord {
  std::string name;
  Role role = Role::cashier;
  std::string password_hash;  // hash_password's format
  bool disabled = false;      // may not log in (kept: their actions stay attributable)
  bool must_change_password = true;  // an initial or reset password: changed at the next login
};

// Failed logins of one operator from one source (see LoginContext). A lock
// with no `until` lasts until an administrator unlocks the operator.
struct SourceLock {
  std::string source;
  int failed_attempts = 0;  // since the last success, lock or unlock
  bool locked = false;
  std::optional<SystemTime> locked_since = std::nullopt;
  std::optional<SystemTime> locked_until = std::nullopt;
};

// An operator as administration lists it (no password hash).
struct OperatorSummary {
  std::string name;
  Role role = Role::cashier;
  bool disabled = false;
  bool must_change_password = false;
  std::vector<SourceLock> sources = {};  // sources with failures or a lock
  SystemTime created{};
  SystemTime updated{};
};

// An operator as operator.list answers it: {operator, role, disabled,
// password_change_required, locked, sources: [{source, failed_attempts,
// locked, locked_since, until}], created, updated}.
Json operator_json(const OperatorSummary& o);

// Who made a change, for the audit trail: an operator at a window, from a
// source; settlectl on a stopped daemon is "settlectl" at no window.
struct Actor {
  std::string operator_name;
  std::string window;
  std::string source;
};

// Where operators live (the daemon backs it with the ledger). Calls are
// blocking and come from the server's auth thread, never the io thread.
// Every change is audited with its Actor in the same write. Errors are
// operating errors (STORAGE_FAILED; NOT_FOUND for unknown names on updates;
// INVALID_REQUEST for add of an existing name).
class OperatorStore {
 public:
  virtual ~OperatorStore() = default;
  virtual Result<std::optional<OperatorRecord>> find(std::string_view name) = 0;
  virtual Result<std::vector<OperatorSummary>> list() = 0;
  // The failures and lock of `name` from `source` (zero and unlocked if none).
  virtual Result<SourceLock> source_state(std::string_view name, std::string_view source) = 0;
  // Adds one failed attempt from the source; returns the new count.
  virtual Result<int> record_failed_attempt(std::string_view name, const Actor& at) = 0;
  // Locks `name` for logins from at.source (until unset: until unlocked).
  virtual Status lock(std::string_view name, const Actor& at, std::optional<SystemTime> until) = 0;
  // A login succeeded: clears that source's failures.
  virtual Status login_succeeded(std::string_view name, const Actor& at) = 0;
  virtual Status add(const OperatorRecord& record, const Actor& by) = 0;
  virtual Status set_password(std::string_view name, std::string password_hash, bool must_change,
                              const Actor& by) = 0;
  // Clears every source's lock and failures of the operator.
  virtual Status unlock(std::string_view name, const Actor& by) = 0;
  virtual Status set_role(std::string_view name, Role role, const Actor& by) = 0;
  virtual Status set_disabled(std::string_view name, bool disabled, const Actor& by) = 0;
};

// An OperatorStore in memory (tests, drills). Thread-safe.
class MemoryOperatorStore final : public OperatorStore {
 public:
  Result<std::optional<OperatorRecord>> find(std::string_view name) override;
  Result<std::vector<OperatorSummary>> list() override;
  Result<SourceLock> source_state(std::string_view name, std::string_view source) override;
  Result<int> record_failed_attempt(std::string_view name, const Actor& at) override;
  Status lock(std::string_view name, const Actor& at, std::optional<SystemTime> until) override;
  Status login_succeeded(std::string_view name, const Actor& at) override;
  Status add(const OperatorRecord& record, const Actor& by) override;
  Status set_password(std::string_view name, std::string password_hash, bool must_change, const Actor& by) override;
  Status unlock(std::string_view name, const Actor& by) override;
  Status set_role(std::string_view name, Role role, const Actor& by) override;
  Status set_disabled(std::string_view name, bool disabled, const Actor& by) override;

 private:
  struct Entry {
    OperatorRecord record;
    std::map<std::string, SourceLock, std::less<>> sources;
  };
  Entry* lookup(std::string_view name);
  std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> records_;
};

// --- Per-source rates ---------------------------------------------------------

// Events of each source (the peer as the kernel names it) within a sliding
// window: failed logins in a minute, calls before a login in a second. A
// source at its limit is refused until its oldest event leaves the window;
// one source's events never count against another. At most max_sources
// sources are remembered (past it, all are forgotten at once). Thread-safe.
class SourceRate {
 public:
  SourceRate(int limit, std::chrono::milliseconds window, std::size_t max_sources = 4096);
  // Whether the source has `limit` events within the window now.
  bool limited(SystemTime now, std::string_view source);
  // Counts one event of the source.
  void note(SystemTime now, std::string_view source);
  // Counts one event unless the source is at its limit; false when it is.
  bool take(SystemTime now, std::string_view source);
  // How long until the source's oldest event leaves the window (0 if none).
  std::chrono::milliseconds retry_after(SystemTime now, std::string_view source);
  int limit() const noexcept { return limit_; }

 private:
  bool limited_locked(SystemTime now, std::string_view source);
  const int limit_;
  const std::chrono::milliseconds window_;
  const std::size_t max_sources_;
  std::mutex mutex_;
  std::map<std::string, std::vector<SystemTime>, std::less<>> events_;
};

// --- Logins -----------------------------------------------------------------

struct AuthConfig {
  int max_failed_logins = limits::max_failed_logins;
  // How long a lock lasts; unset (the default): until an administrator unlocks.
  std::optional<std::chrono::seconds> lockout_duration;
  // Failed logins one source may make in a minute; past it the source's logins
  // are answered LIMIT_EXCEEDED unchecked and count against nobody.
  int source_failures_per_minute = 6;
  KdfParams kdf;  // for new and changed passwords
};

// Where a login comes from. `source` names the peer as the kernel tells it
// ("uid:1001"): failures lock an operator only for logins from that source,
// so a peer that guesses cannot lock a cashier out of another peer's terminal.
struct LoginContext {
  std::string source;
  std::string window;
};

struct Identity {
  std::string operator_name;
  Role role = Role::cashier;
  bool must_change_password = false;
};

struct LoginOutcome {
  std::optional<Identity> identity;  // set on success
  // LOGIN_FAILED (attempts_left), LOCKED_OUT (until, null: until unlocked),
  // LIMIT_EXCEEDED (retry_after_s), FORBIDDEN (disabled), STORAGE_FAILED
  std::optional<RpcError> error;
};

// Checks logins against an OperatorStore and keeps the lockout rules, and
// carries out operator administration. Every call is blocking (the KDF is
// slow on purpose): run it off the io thread. Thread-safe.
class Authenticator {
 public:
  using Clock = std::function<SystemTime()>;
  Authenticator(OperatorStore& store, AuthConfig config, Clock clock = [] { return std::chrono::system_clock::now(); });

  // A wrong operator name and a wrong password look the same to the client
  // (same reason, same attempt counting, same KDF cost).
  LoginOutcome login(std::string_view operator_name, std::string_view password, const LoginContext& ctx);

  // The operator's own change: the current password is checked as a login
  // (a wrong one counts against the source); the new one must meet the
  // policy and differ from it. Clears must_change_password.
  LoginOutcome change_own_password(std::string_view operator_name, std::string_view current,
                                   std::string_view new_password, const LoginContext& ctx);

  // Administration (the admin role over the socket; settlectl on a stopped
  // daemon). New and reset passwords are initial: changed at the next login.
  Status add_operator(std::string_view name, Role role, std::string_view password, const Actor& by);
  Status reset_password(std::string_view name, std::string_view password, const Actor& by);  // also unlocks
  Status unlock(std::string_view name, const Actor& by);
  // Refused (INVALID_STATE) when it would leave no enabled administrator.
  Status set_role(std::string_view name, Role role, const Actor& by);
  Status set_disabled(std::string_view name, bool disabled, const Actor& by);
  Result<std::vector<OperatorSummary>> list();

  const AuthConfig& config() const { return config_; }
  // What an unknown name's password is checked against: a stored hash of
  // this config's parameters that no password matches.
  const std::string& unknown_name_hash() const { return dummy_hash_; }

 private:
  LoginOutcome failed(int attempts) const;
  LoginOutcome locked(std::optional<SystemTime> until) const;
  LoginOutcome throttled(SystemTime now, std::string_view source);
  Status keeps_an_admin(std::string_view name, std::optional<Role> new_role, bool disabling);

  OperatorStore& store_;
  AuthConfig config_;
  Clock clock_;
  std::string dummy_hash_;  // verified against for unknown names, so both cost the same
  std::mutex memory_mutex_;
  // (name, source) -> (failures, locked, until) of names that do not exist
  struct UnknownState {
    int failures = 0;
    bool locked = false;
    std::optional<SystemTime> until = std::nullopt;
  };
  std::map<std::pair<std::string, std::string>, UnknownState> unknown_;
  SourceRate source_failures_;  // failed logins of each source in the last minute
};

}  // namespace settle::cashier
