// Role table, scrypt password hashes (EVP_PBE_scrypt, random salt, constant
// time compare), password policy and the login/lockout rules. OpenSSL errors
// are translated here, once, into INTERNAL.
#include "protocol/cashier/auth.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <vector>

namespace settle::cashier {
namespace {

constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;
// Bounds on parameters read back from a stored hash: a damaged or hostile
// record must not make a login allocate gigabytes.
constexpr std::uint64_t kMaxN = std::uint64_t{1} << 20;
constexpr std::uint64_t kMaxR = 32;
constexpr std::uint64_t kMaxP = 16;
// Most distinct unknown operator names whose failures are remembered.
constexpr std::size_t kMaxUnknownNames = 4096;

std::string b64_encode(const std::vector<unsigned char>& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::vector<unsigned char>> b64_decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0 || text.size() > 1024) return std::nullopt;
  std::vector<unsigned char> out(text.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t len = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts padding bytes as output: take them off.
  if (text.back() == '=') --len;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 12) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

std::uint64_t scrypt_maxmem(std::uint64_t n, std::uint64_t r, std::uint64_t p) {
  return 128 * n * r + 128 * r * p + 256 * r + (std::uint64_t{1} << 20);
}

Status scrypt(std::string_view password, const std::vector<unsigned char>& salt, std::uint64_t n, std::uint64_t r,
              std::uint64_t p, std::vector<unsigned char>& out) {
  const int rc = EVP_PBE_scrypt(password.data(), password.size(), salt.data(), salt.size(), n, r, p,
                                scrypt_maxmem(n, r, p), out.data(), out.size());
  if (rc != 1) return make_error(Reason::internal, "", "password hashing failed (OpenSSL scrypt)");
  return Ok{};
}

std::vector<std::string_view> split_dollar(std::string_view s) {
  std::vector<std::string_view> parts;
  while (parts.size() < 8) {
    const auto pos = s.find('$');
    parts.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) break;
    s.remove_prefix(pos + 1);
  }
  return parts;
}

bool contains_ci(std::string_view hay, std::string_view needle) {
  if (needle.empty() || needle.size() > hay.size()) return false;
  auto lower = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    bool same = true;
    for (std::size_t k = 0; k < needle.size() && same; ++k) same = lower(hay[i + k]) == lower(needle[k]);
    if (same) return true;
  }
  return false;
}

}  // namespace

std::string_view role_name(Role r) noexcept {
  switch (r) {
    case Role::cashier: return "cashier";
    case Role::supervisor: return "supervisor";
    case Role::auditor: return "auditor";
  }
  return "?";
}

std::optional<Role> role_from_name(std::string_view s) noexcept {
  if (s == "cashier") return Role::cashier;
  if (s == "supervisor") return Role::supervisor;
  if (s == "auditor") return Role::auditor;
  return std::nullopt;
}

bool allowed_without_login(Method m) noexcept { return m == Method::engine_status || m == Method::session_login; }

bool role_may_call(Role r, Method m) noexcept {
  const bool cashier = r == Role::cashier, supervisor = r == Role::supervisor, auditor = r == Role::auditor;
  switch (m) {
    // Every role: the session itself, status, events, reading the ledger.
    case Method::session_login:
    case Method::session_logout:
    case Method::engine_status:
    case Method::events_subscribe:
    case Method::settle_get:
    case Method::settle_list:
    case Method::inpatient_get:
    case Method::inpatient_list:
      return true;
    // Work at a payment window: cashiers and supervisors.
    case Method::card_read:
    case Method::card_verify_pin:
    case Method::person_query:
    case Method::account_history:
    case Method::settle_preview:
    case Method::settle_commit:
    case Method::settle_refund:
    case Method::settle_resettle:
    case Method::inpatient_admit:
    case Method::inpatient_add_lines:
    case Method::inpatient_preview:
    case Method::inpatient_discharge:
    case Method::inpatient_undo_discharge:
    case Method::inpatient_cancel_lines:
    case Method::inpatient_undo_admit:
      return cashier || supervisor;
    case Method::recon_run:  // cashier-api.md: supervisor/auditor
      return supervisor || auditor;
    case Method::uploads_flush:  // cashier-api.md: supervisor
    case Method::redlist_sync:   // extension (cashier-api-notes.md): supervisor
    case Method::outbox_parked:  // extensions (cashier-api-notes.md, "Parked items"): supervisor
    case Method::outbox_retry:
    case Method::outbox_resolve:
      return supervisor;
  }
  return false;
}

std::string format_iso8601_local(SystemTime t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&secs, &tm);
  const long off_s = tm.tm_gmtoff;
  const long off_abs = off_s < 0 ? -off_s : off_s;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, off_s < 0 ? '-' : '+', off_abs / 3600, (off_abs % 3600) / 60);
}

Result<std::string> hash_password(std::string_view password, const KdfParams& params) {
  SETTLE_ASSERT(params.n >= 2 && (params.n & (params.n - 1)) == 0 && params.n <= kMaxN);
  SETTLE_ASSERT(params.r >= 1 && params.r <= kMaxR && params.p >= 1 && params.p <= kMaxP);
  std::vector<unsigned char> salt(kSaltBytes);
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1)
    return make_error(Reason::internal, "", "no random bytes for a password salt (OpenSSL RAND_bytes)");
  std::vector<unsigned char> hash(kHashBytes);
  if (auto s = scrypt(password, salt, params.n, params.r, params.p, hash); !s) return s.error();
  return fmt::format("scrypt${}${}${}${}${}", params.n, params.r, params.p, b64_encode(salt), b64_encode(hash));
}

Result<bool> verify_password(std::string_view password, std::string_view encoded) {
  const auto damaged = [](std::string_view what) {
    return make_error(Reason::internal, "", fmt::format("stored password hash is damaged ({})", what));
  };
  const auto parts = split_dollar(encoded);
  if (parts.size() != 6 || parts[0] != "scrypt") return damaged("format");
  const auto n = parse_u64(parts[1]), r = parse_u64(parts[2]), p = parse_u64(parts[3]);
  if (!n || !r || !p || *n < 2 || (*n & (*n - 1)) != 0 || *n > kMaxN || *r < 1 || *r > kMaxR || *p < 1 || *p > kMaxP)
    return damaged("parameters");
  const auto salt = b64_decode(parts[4]);
  const auto want = b64_decode(parts[5]);
  if (!salt || !want || salt->empty() || want->size() < 16) return damaged("encoding");
  std::vector<unsigned char> got(want->size());
  if (auto s = scrypt(password, *salt, *n, *r, *p, got); !s) return s.error();
  return CRYPTO_memcmp(got.data(), want->data(), got.size()) == 0;
}

Status check_password_policy(std::string_view operator_name, std::string_view password) {
  const auto bad = [](std::string msg) { return make_error(Reason::invalid_request, "password", std::move(msg)); };
  if (password.size() < 10) return bad("password: must be at least 10 characters");
  if (password.size() > 128) return bad("password: must be at most 128 bytes");
  const bool letter = std::any_of(password.begin(), password.end(),
                                  [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; });
  const bool digit = std::any_of(password.begin(), password.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!letter || !digit) return bad("password: must contain at least one letter and one digit");
  if (std::all_of(password.begin(), password.end(), [&](char c) { return c == password.front(); }))
    return bad("password: must not be one repeated character");
  if (operator_name.size() >= 3 && contains_ci(password, operator_name))
    return bad("password: must not contain the operator name");
  const bool control = std::any_of(password.begin(), password.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
  if (control) return bad("password: must not contain control characters");
  return Ok{};
}

// --- MemoryOperatorStore ------------------------------------------------------

OperatorRecord* MemoryOperatorStore::lookup(std::string_view name) {
  const auto it = records_.find(name);
  return it == records_.end() ? nullptr : &it->second;
}

Result<std::optional<OperatorRecord>> MemoryOperatorStore::find(std::string_view name) {
  std::lock_guard lock(mutex_);
  const OperatorRecord* r = lookup(name);
  if (r == nullptr) return std::optional<OperatorRecord>{};
  return std::optional<OperatorRecord>{*r};
}

namespace {
Error unknown_operator(std::string_view name) {
  return make_error(Reason::not_found, "operator", fmt::format("operator \"{}\" does not exist", name));
}
}  // namespace

Result<int> MemoryOperatorStore::record_failed_attempt(std::string_view name) {
  std::lock_guard lock(mutex_);
  OperatorRecord* r = lookup(name);
  if (r == nullptr) return unknown_operator(name);
  return ++r->failed_attempts;
}

Status MemoryOperatorStore::reset_failures(std::string_view name) {
  std::lock_guard lock(mutex_);
  OperatorRecord* r = lookup(name);
  if (r == nullptr) return unknown_operator(name);
  r->failed_attempts = 0;
  return Ok{};
}

Status MemoryOperatorStore::set_locked_until(std::string_view name, SystemTime until) {
  std::lock_guard lock(mutex_);
  OperatorRecord* r = lookup(name);
  if (r == nullptr) return unknown_operator(name);
  r->locked_until = until;
  r->failed_attempts = 0;
  return Ok{};
}

Status MemoryOperatorStore::add(const OperatorRecord& record) {
  std::lock_guard lock(mutex_);
  if (lookup(record.name) != nullptr)
    return make_error(Reason::invalid_request, "operator", fmt::format("operator \"{}\" already exists", record.name));
  records_.emplace(record.name, record);
  return Ok{};
}

Status MemoryOperatorStore::set_password(std::string_view name, std::string password_hash) {
  std::lock_guard lock(mutex_);
  OperatorRecord* r = lookup(name);
  if (r == nullptr) return unknown_operator(name);
  r->password_hash = std::move(password_hash);
  return Ok{};
}

Status MemoryOperatorStore::unlock(std::string_view name) {
  std::lock_guard lock(mutex_);
  OperatorRecord* r = lookup(name);
  if (r == nullptr) return unknown_operator(name);
  r->locked_until.reset();
  r->failed_attempts = 0;
  return Ok{};
}

// --- Authenticator ----------------------------------------------------------------

Authenticator::Authenticator(OperatorStore& store, AuthConfig config, Clock clock)
    : store_(store), config_(std::move(config)), clock_(std::move(clock)) {
  SETTLE_ASSERT(config_.max_failed_logins >= 1);
  auto dummy = hash_password("not a password of anybody", config_.kdf);
  SETTLE_ASSERT(dummy.ok());
  dummy_hash_ = std::move(*dummy);
}

LoginOutcome Authenticator::locked(SystemTime until) const {
  Json data = Json::object();
  data["until"] = format_iso8601_local(until);
  return LoginOutcome{std::nullopt,
                      domain_error(make_error(Reason::locked_out, "operator",
                                              fmt::format("too many failed logins: locked until {}",
                                                          format_iso8601_local(until))),
                                   std::move(data))};
}

LoginOutcome Authenticator::failed(std::string_view /*name*/, int attempts, bool /*known*/) {
  const int left = std::max(0, config_.max_failed_logins - attempts);
  Json data = Json::object();
  data["attempts_left"] = left;
  return LoginOutcome{
      std::nullopt,
      domain_error(make_error(Reason::login_failed, "", fmt::format("wrong operator or password ({} attempts left)", left)),
                   std::move(data))};
}

LoginOutcome Authenticator::login(std::string_view operator_name, std::string_view password) {
  const auto storage = [](const Error& e) {
    return LoginOutcome{std::nullopt, domain_error(make_error(Reason::storage_failed, "", e.message))};
  };
  const SystemTime now = clock_();
  auto found = store_.find(operator_name);
  if (!found) return storage(found.error());

  if (!found->has_value()) {
    // Unknown name: same cost, same answers, same lockout as a known one.
    (void)verify_password(password, dummy_hash_);
    std::lock_guard lock(unknown_mutex_);
    if (unknown_.size() >= kMaxUnknownNames && unknown_.find(operator_name) == unknown_.end()) unknown_.clear();
    auto& [count, until] = unknown_[std::string(operator_name)];
    if (until > now) return locked(until);
    if (++count >= config_.max_failed_logins) {
      count = 0;
      until = now + config_.lockout_duration;
      return locked(until);
    }
    return failed(operator_name, count, false);
  }

  const OperatorRecord& rec = **found;
  if (rec.locked_until && *rec.locked_until > now) return locked(*rec.locked_until);

  auto ok = verify_password(password, rec.password_hash);
  if (ok && *ok) {
    if (rec.failed_attempts != 0) {
      if (auto s = store_.reset_failures(rec.name); !s) return storage(s.error());
    }
    return LoginOutcome{Identity{rec.name, rec.role}, std::nullopt};
  }
  // A damaged stored hash counts as a failed attempt (and is the daemon's to log).
  auto attempts = store_.record_failed_attempt(rec.name);
  if (!attempts) return storage(attempts.error());
  if (*attempts >= config_.max_failed_logins) {
    const SystemTime until = now + config_.lockout_duration;
    if (auto s = store_.set_locked_until(rec.name, until); !s) return storage(s.error());
    return locked(until);
  }
  return failed(rec.name, *attempts, true);
}

Status Authenticator::add_operator(std::string_view name, Role role, std::string_view password) {
  if (name.empty() || name.size() > 64) return make_error(Reason::invalid_request, "operator", "operator: must be 1 to 64 bytes");
  if (auto s = check_password_policy(name, password); !s) return s;
  auto hash = hash_password(password, config_.kdf);
  if (!hash) return hash.error();
  return store_.add(OperatorRecord{std::string(name), role, std::move(*hash), 0, std::nullopt});
}

Status Authenticator::change_password(std::string_view name, std::string_view new_password) {
  if (auto s = check_password_policy(name, new_password); !s) return s;
  auto hash = hash_password(new_password, config_.kdf);
  if (!hash) return hash.error();
  return store_.set_password(name, std::move(*hash));
}

Status Authenticator::unlock(std::string_view name) { return store_.unlock(name); }

}  // namespace settle::cashier
