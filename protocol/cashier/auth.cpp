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

// The stored form: scrypt$N$r$p$salt$hash (base64).
std::string encode_hash(const KdfParams& params, const std::vector<unsigned char>& salt,
                        const std::vector<unsigned char>& hash) {
  return fmt::format("scrypt${}${}${}${}${}", params.n, params.r, params.p, b64_encode(salt), b64_encode(hash));
}

}  // namespace

std::string_view role_name(Role r) noexcept {
  switch (r) {
    case Role::cashier: return "cashier";
    case Role::supervisor: return "supervisor";
    case Role::auditor: return "auditor";
    case Role::admin: return "admin";
  }
  return "?";
}

std::optional<Role> role_from_name(std::string_view s) noexcept {
  if (s == "cashier") return Role::cashier;
  if (s == "supervisor") return Role::supervisor;
  if (s == "auditor") return Role::auditor;
  if (s == "admin") return Role::admin;
  return std::nullopt;
}

bool allowed_without_login(Method m) noexcept { return m == Method::engine_status || m == Method::session_login; }

bool allowed_before_password_change(Method m) noexcept {
  return m == Method::engine_status || m == Method::session_login || m == Method::session_logout ||
         m == Method::session_change_password;
}

bool role_may_call(Role r, Method m) noexcept {
  const bool cashier = r == Role::cashier, supervisor = r == Role::supervisor, auditor = r == Role::auditor,
             admin = r == Role::admin;
  switch (m) {
    // Every role: the session itself and the daemon's status.
    case Method::session_login:
    case Method::session_logout:
    case Method::session_change_password:
    case Method::engine_status:
    case Method::events_subscribe:
      return true;
    // Reading the ledger: everyone who works with settlements (not the
    // administrator of operators, who has no need to see patients' data).
    case Method::settle_get:
    case Method::settle_list:
    case Method::settle_sheet:
    case Method::inpatient_get:
    case Method::inpatient_list:
      return !admin;
    // Work at a payment window: cashiers and supervisors.
    case Method::card_read:
    case Method::credential_scan:
    case Method::credential_id:
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
    case Method::redlist_sync:   // docs/cashier-api.md: supervisor
    case Method::outbox_parked:  // docs/cashier-api.md, docs/offline.md "Parked items": supervisor
    case Method::outbox_retry:
    case Method::outbox_resolve:
      return supervisor;
    // Operators: the administrator only.
    case Method::operator_list:
    case Method::operator_add:
    case Method::operator_reset_password:
    case Method::operator_unlock:
    case Method::operator_set_role:
    case Method::operator_disable:
    case Method::operator_enable:
      return admin;
    // The audit trail: auditors and the administrator.
    case Method::audit_list:
      return auditor || admin;
    // A cashier's own shift (the session's operator and window).
    case Method::closeout_preview:
    case Method::closeout_record:
      return cashier || supervisor;
    // Close-outs: a cashier sees its own, the office every one.
    case Method::closeout_get:
    case Method::closeout_list:
    case Method::closeout_sheet:
      return cashier || supervisor || auditor;
    // Corrections and the work list: the insurance office (a second person
    // of these roles approves what one records).
    case Method::correction_record:
    case Method::correction_approve:
    case Method::correction_refuse:
    case Method::correction_list:
    case Method::work_list:
      return supervisor || auditor;
    // Outage records: the office reads them and notes who was told.
    case Method::outage_list:
    case Method::outage_get:
    case Method::outage_note:
    case Method::outage_record:
      return supervisor || auditor;
    // The patient notices: every role (a window shows them, the office prints them).
    case Method::notice_get:
      return true;
    // Settlements re-entered from the paper emergency ledger: entered by one
    // of the office, approved or refused by another (docs/reentry.md).
    case Method::reentry_record:
    case Method::reentry_approve:
    case Method::reentry_refuse:
    case Method::reentry_list:
    case Method::reentry_get:
      return supervisor || auditor;
    // Who works at which window: the office (not the patients' data).
    case Method::session_list:
      return supervisor || auditor || admin;
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
  return encode_hash(params, salt, hash);
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

Status check_password_policy(std::string_view operator_name, std::string_view password, std::string_view field) {
  const auto bad = [field](std::string_view rule) {
    return make_error(Reason::invalid_request, std::string(field), fmt::format("{}: {}", field, rule));
  };
  if (password.size() < 10) return bad("must be at least 10 characters");
  if (password.size() > 128) return bad("must be at most 128 bytes");
  const auto any = [&](auto pred) {
    return std::any_of(password.begin(), password.end(), [&](char c) { return pred(static_cast<unsigned char>(c)); });
  };
  if (any([](unsigned char u) { return u < 0x20 || u == 0x7F; })) return bad("must not contain control characters");
  const bool upper = any([](unsigned char u) { return u >= 'A' && u <= 'Z'; });
  const bool lower = any([](unsigned char u) { return u >= 'a' && u <= 'z'; });
  const bool digit = any([](unsigned char u) { return u >= '0' && u <= '9'; });
  const bool special = any([](unsigned char u) { return u >= 0x21 && u < 0x7F && std::isalnum(u) == 0; });
  if (!upper || !lower || !digit || !special)
    return bad("must contain an upper-case letter, a lower-case letter, a digit and a special character");
  if (std::all_of(password.begin(), password.end(), [&](char c) { return c == password.front(); }))
    return bad("must not be one repeated character");
  if (operator_name.size() >= 3 && contains_ci(password, operator_name)) return bad("must not contain the operator name");
  return Ok{};
}

// --- Operators as the API shows them ---------------------------------------------

namespace {
Json source_lock_json(const SourceLock& l) {
  return Json{{"source", l.source},
              {"failed_attempts", l.failed_attempts},
              {"locked", l.locked},
              {"locked_since", l.locked_since ? Json(format_iso8601_local(*l.locked_since)) : Json(nullptr)},
              {"until", l.locked_until ? Json(format_iso8601_local(*l.locked_until)) : Json(nullptr)}};
}

}  // namespace

Json operator_json(const OperatorSummary& o) {
  Json sources = Json::array();
  for (const auto& l : o.sources) sources.push_back(source_lock_json(l));
  const bool locked = std::any_of(o.sources.begin(), o.sources.end(), [](const SourceLock& l) { return l.locked; });
  return Json{{"operator", o.name},
              {"role", std::string(role_name(o.role))},
              {"disabled", o.disabled},
              {"password_change_required", o.must_change_password},
              {"locked", locked},
              {"sources", std::move(sources)},
              {"created", format_iso8601_local(o.created)},
              {"updated", format_iso8601_local(o.updated)}};
}

// --- MemoryOperatorStore ------------------------------------------------------

namespace {
Error unknown_operator(std::string_view name) {
  return make_error(Reason::not_found, "operator", fmt::format("operator \"{}\" does not exist", name));
}
}  // namespace

MemoryOperatorStore::Entry* MemoryOperatorStore::lookup(std::string_view name) {
  const auto it = records_.find(name);
  return it == records_.end() ? nullptr : &it->second;
}

Result<std::optional<OperatorRecord>> MemoryOperatorStore::find(std::string_view name) {
  std::lock_guard lock(mutex_);
  const Entry* e = lookup(name);
  if (e == nullptr) return std::optional<OperatorRecord>{};
  return std::optional<OperatorRecord>{e->record};
}

Result<std::vector<OperatorSummary>> MemoryOperatorStore::list() {
  std::lock_guard lock(mutex_);
  std::vector<OperatorSummary> out;
  for (const auto& [name, e] : records_) {
    OperatorSummary s;
    s.name = name;
    s.role = e.record.role;
    s.disabled = e.record.disabled;
    s.must_change_password = e.record.must_change_password;
    for (const auto& [src, l] : e.sources) s.sources.push_back(l);
    out.push_back(std::move(s));
  }
  return out;
}

Result<SourceLock> MemoryOperatorStore::source_state(std::string_view name, std::string_view source) {
  std::lock_guard lock(mutex_);
  Entry* e = lookup(name);
  if (e == nullptr) return unknown_operator(name);
  const auto it = e->sources.find(source);
  if (it == e->sources.end()) return SourceLock{std::string(source)};
  return it->second;
}

Result<int> MemoryOperatorStore::record_failed_attempt(std::string_view name, const Actor& at) {
  std::lock_guard lock(mutex_);
  Entry* e = lookup(name);
  if (e == nullptr) return unknown_operator(name);
  SourceLock& l = e->sources[at.source];
  l.source = at.source;
  return ++l.failed_attempts;
}

Status MemoryOperatorStore::lock(std::string_view name, const Actor& at, std::optional<SystemTime> until) {
  std::lock_guard lock(mutex_);
  Entry* e = lookup(name);
  if (e == nullptr) return unknown_operator(name);
  SourceLock& l = e->sources[at.source];
  l.source = at.source;
  l.failed_attempts = 0;
  l.locked = true;
  l.locked_since = std::chrono::system_clock::now();
  l.locked_until = until;
  return Ok{};
}

Status MemoryOperatorStore::login_succeeded(std::string_view name, const Actor& at) {
  std::lock_guard lock(mutex_);
  Entry* e = lookup(name);
  if (e == nullptr) return unknown_operator(name);
  e->sources.erase(at.source);
  return Ok{};
}

Status MemoryOperatorStore::add(const OperatorRecord& record, const Actor& /*by*/) {
  std::lock_guard lock(mutex_);
  if (lookup(record.name) != nullptr)
    return make_error(Reason::invalid_request, "operator", fmt::format("operator \"{}\" already exists", record.name));
  records_.emplace(record.name, Entry{record, {}});
  return Ok{};
}

Status MemoryOperatorStore::set_password(std::string_view name, std::string password_hash, bool must_change,
                                         const Actor& /*by*/) {
  std::lock_guard lock(mutex_);
  Entry* e = lookup(name);
  if (e == nullptr) return unknown_operator(name);
  e->record.password_hash = std::move(password_hash);
  e->record.must_change_password = must_change;
  return Ok{};
}

Status MemoryOperatorStore::unlock(std::string_view name, const Actor& /*by*/) {
  std::lock_guard lock(mutex_);
  Entry* e = lookup(name);
  if (e == nullptr) return unknown_operator(name);
  e->sources.clear();
  return Ok{};
}

Status MemoryOperatorStore::set_role(std::string_view name, Role role, const Actor& /*by*/) {
  std::lock_guard lock(mutex_);
  Entry* e = lookup(name);
  if (e == nullptr) return unknown_operator(name);
  e->record.role = role;
  return Ok{};
}

Status MemoryOperatorStore::set_disabled(std::string_view name, bool disabled, const Actor& /*by*/) {
  std::lock_guard lock(mutex_);
  Entry* e = lookup(name);
  if (e == nullptr) return unknown_operator(name);
  e->record.disabled = disabled;
  return Ok{};
}

// --- SourceRate -------------------------------------------------------------------

SourceRate::SourceRate(int limit, std::chrono::milliseconds window, std::size_t max_sources)
    : limit_(limit), window_(window), max_sources_(max_sources) {
  SETTLE_ASSERT(limit_ >= 1 && window_.count() > 0 && max_sources_ >= 1);
}

bool SourceRate::limited_locked(SystemTime now, std::string_view source) {
  const auto it = events_.find(source);
  if (it == events_.end()) return false;
  auto& times = it->second;
  std::erase_if(times, [&](SystemTime t) { return now - t >= window_; });
  if (times.empty()) {
    events_.erase(it);
    return false;
  }
  return static_cast<int>(times.size()) >= limit_;
}

bool SourceRate::limited(SystemTime now, std::string_view source) {
  std::lock_guard lock(mutex_);
  return limited_locked(now, source);
}

void SourceRate::note(SystemTime now, std::string_view source) {
  std::lock_guard lock(mutex_);
  auto it = events_.find(source);
  if (it == events_.end()) {
    if (events_.size() >= max_sources_) events_.clear();
    it = events_.emplace(std::string(source), std::vector<SystemTime>{}).first;
  }
  it->second.push_back(now);
}

bool SourceRate::take(SystemTime now, std::string_view source) {
  {
    std::lock_guard lock(mutex_);
    if (limited_locked(now, source)) return false;
  }
  note(now, source);
  return true;
}

std::chrono::milliseconds SourceRate::retry_after(SystemTime now, std::string_view source) {
  std::lock_guard lock(mutex_);
  const auto it = events_.find(source);
  if (it == events_.end() || it->second.empty()) return std::chrono::milliseconds(0);
  const auto left = it->second.front() + window_ - now;
  return std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(left));
}

// --- Authenticator ----------------------------------------------------------------

Authenticator::Authenticator(OperatorStore& store, AuthConfig config, Clock clock)
    : store_(store),
      config_(std::move(config)),
      clock_(std::move(clock)),
      source_failures_(std::max(1, config_.source_failures_per_minute), std::chrono::minutes(1), kMaxUnknownNames) {
  SETTLE_ASSERT(config_.max_failed_logins >= 1 && config_.source_failures_per_minute >= 1);
  // Random bytes in the stored form with this config's parameters: checking a
  // password against them costs what checking an operator's hash does, and no
  // password hashes to them (a chance of 2^-256). Nothing is hashed here, so a
  // start does not wait for a scrypt run (about 0.17 s of CPU).
  std::vector<unsigned char> salt(kSaltBytes), bytes(kHashBytes);
  SETTLE_ASSERT(RAND_bytes(salt.data(), static_cast<int>(salt.size())) == 1 &&
                RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) == 1);
  dummy_hash_ = encode_hash(config_.kdf, salt, bytes);
}

LoginOutcome Authenticator::locked(std::optional<SystemTime> until) const {
  Json data = Json::object();
  data["until"] = until ? Json(format_iso8601_local(*until)) : Json(nullptr);
  const std::string msg =
      until ? fmt::format("locked after {} failed logins from this client, until {}", config_.max_failed_logins,
                          format_iso8601_local(*until))
            : fmt::format("locked after {} failed logins from this client; an administrator must unlock it",
                          config_.max_failed_logins);
  return LoginOutcome{std::nullopt, domain_error(make_error(Reason::locked_out, "operator", msg), std::move(data))};
}

LoginOutcome Authenticator::failed(int attempts) const {
  const int left = std::max(0, config_.max_failed_logins - attempts);
  Json data = Json::object();
  data["attempts_left"] = left;
  return LoginOutcome{
      std::nullopt,
      domain_error(make_error(Reason::login_failed, "", fmt::format("wrong operator or password ({} attempts left)", left)),
                   std::move(data))};
}

LoginOutcome Authenticator::throttled(SystemTime now, std::string_view source) {
  const auto wait_ms = source_failures_.retry_after(now, source).count();
  const std::int64_t wait = std::max<std::int64_t>(1, (wait_ms + 999) / 1000);
  Json data = Json::object();
  data["retry_after_s"] = wait;
  return LoginOutcome{
      std::nullopt,
      domain_error(make_error(Reason::limit_exceeded, "",
                              fmt::format("too many failed logins from this client in a minute; try again in {} s",
                                          wait)),
                   std::move(data))};
}

LoginOutcome Authenticator::login(std::string_view operator_name, std::string_view password, const LoginContext& ctx) {
  const auto storage = [](const Error& e) {
    return LoginOutcome{std::nullopt, domain_error(make_error(Reason::storage_failed, "", e.message))};
  };
  const SystemTime now = clock_();
  // A source that keeps failing is slowed before any password is checked:
  // its guesses then cost it time, and count against nobody.
  if (source_failures_.limited(now, ctx.source)) return throttled(now, ctx.source);
  const Actor at{std::string(operator_name), ctx.window, ctx.source};
  const auto lock_until = [&]() -> std::optional<SystemTime> {
    if (!config_.lockout_duration) return std::nullopt;
    return now + *config_.lockout_duration;
  };

  auto found = store_.find(operator_name);
  if (!found) return storage(found.error());

  if (!found->has_value()) {
    // Unknown name: same cost, same answers, same lockout as a known one.
    (void)verify_password(password, dummy_hash_);
    source_failures_.note(now, ctx.source);
    std::lock_guard lock(memory_mutex_);
    const auto key = std::make_pair(std::string(operator_name), ctx.source);
    if (unknown_.size() >= kMaxUnknownNames && unknown_.find(key) == unknown_.end()) unknown_.clear();
    UnknownState& u = unknown_[key];
    if (u.locked && (!u.until || *u.until > now)) return locked(u.until);
    if (++u.failures >= config_.max_failed_logins) {
      u = UnknownState{0, true, lock_until()};
      return locked(u.until);
    }
    return failed(u.failures);
  }

  const OperatorRecord& rec = **found;
  auto state = store_.source_state(rec.name, ctx.source);
  if (!state) return storage(state.error());
  if (state->locked && (!state->locked_until || *state->locked_until > now)) {
    // Checked against the operator's own hash (the same cost as every other
    // answer; the answer is LOCKED_OUT either way): a guess at a locked name
    // counts against the source's throttle, so that a source cannot keep the
    // KDF busy with logins of a name it locked; the operator's own password
    // does not (a locked cashier trying again does not slow her terminal).
    const auto right = verify_password(password, rec.password_hash);
    if (!(right && *right)) source_failures_.note(now, ctx.source);
    return locked(state->locked_until);
  }

  auto ok = verify_password(password, rec.password_hash);
  if (ok && *ok) {
    if (state->failed_attempts != 0 || state->locked) {
      if (auto s = store_.login_succeeded(rec.name, at); !s) return storage(s.error());
    }
    if (rec.disabled)
      return LoginOutcome{std::nullopt,
                          domain_error(make_error(Reason::forbidden, "operator",
                                                  fmt::format("operator \"{}\" is disabled", rec.name)))};
    return LoginOutcome{Identity{rec.name, rec.role, rec.must_change_password}, std::nullopt};
  }
  // A damaged stored hash counts as a failed attempt (and is the daemon's to log).
  source_failures_.note(now, ctx.source);
  auto attempts = store_.record_failed_attempt(rec.name, at);
  if (!attempts) return storage(attempts.error());
  if (*attempts >= config_.max_failed_logins) {
    const auto until = lock_until();
    if (auto s = store_.lock(rec.name, at, until); !s) return storage(s.error());
    return locked(until);
  }
  return failed(*attempts);
}

LoginOutcome Authenticator::change_own_password(std::string_view operator_name, std::string_view current,
                                                std::string_view new_password, const LoginContext& ctx) {
  if (auto s = check_password_policy(operator_name, new_password, "new_password"); !s)
    return LoginOutcome{std::nullopt, RpcError{rpc_invalid_params, s.error(), Json::object()}};
  if (current == new_password)
    return LoginOutcome{std::nullopt, RpcError{rpc_invalid_params,
                                               make_error(Reason::invalid_request, "new_password",
                                                          "new_password: must differ from the current password"),
                                               Json::object()}};
  LoginOutcome checked = login(operator_name, current, ctx);
  if (checked.error) return checked;
  auto hash = hash_password(new_password, config_.kdf);
  if (!hash) return LoginOutcome{std::nullopt, domain_error(hash.error())};
  const Actor by{std::string(operator_name), ctx.window, ctx.source};
  if (auto s = store_.set_password(operator_name, std::move(*hash), false, by); !s)
    return LoginOutcome{std::nullopt, domain_error(make_error(Reason::storage_failed, "", s.error().message))};
  checked.identity->must_change_password = false;
  return checked;
}

namespace {
Status valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return make_error(Reason::invalid_request, "operator", "operator: must be 1 to 64 bytes");
  const bool printable = std::all_of(name.begin(), name.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7F;
  });
  if (!printable) return make_error(Reason::invalid_request, "operator", "operator: no spaces or control characters");
  return Ok{};
}
}  // namespace

Status Authenticator::add_operator(std::string_view name, Role role, std::string_view password, const Actor& by) {
  if (auto s = valid_name(name); !s) return s;
  if (auto s = check_password_policy(name, password); !s) return s;
  auto hash = hash_password(password, config_.kdf);
  if (!hash) return hash.error();
  return store_.add(OperatorRecord{std::string(name), role, std::move(*hash), false, true}, by);
}

Status Authenticator::reset_password(std::string_view name, std::string_view password, const Actor& by) {
  if (auto s = check_password_policy(name, password); !s) return s;
  auto hash = hash_password(password, config_.kdf);
  if (!hash) return hash.error();
  if (auto s = store_.set_password(name, std::move(*hash), true, by); !s) return s;
  return store_.unlock(name, by);
}

Status Authenticator::unlock(std::string_view name, const Actor& by) { return store_.unlock(name, by); }

Status Authenticator::keeps_an_admin(std::string_view name, std::optional<Role> new_role, bool disabling) {
  auto all = store_.list();
  if (!all) return all.error();
  int others = 0;
  bool target_is_enabled_admin = false;
  for (const auto& o : *all) {
    if (o.role != Role::admin || o.disabled) continue;
    if (o.name == name) {
      target_is_enabled_admin = true;
    } else {
      ++others;
    }
  }
  const bool loses = disabling || (new_role && *new_role != Role::admin);
  if (target_is_enabled_admin && loses && others == 0)
    return make_error(Reason::invalid_state, "operator",
                      fmt::format("operator \"{}\" is the last enabled administrator", name));
  return Ok{};
}

Status Authenticator::set_role(std::string_view name, Role role, const Actor& by) {
  if (auto s = keeps_an_admin(name, role, false); !s) return s;
  return store_.set_role(name, role, by);
}

Status Authenticator::set_disabled(std::string_view name, bool disabled, const Actor& by) {
  if (disabled) {
    if (auto s = keeps_an_admin(name, std::nullopt, true); !s) return s;
  }
  return store_.set_disabled(name, disabled, by);
}

Result<std::vector<OperatorSummary>> Authenticator::list() { return store_.list(); }

}  // namespace settle::cashier
