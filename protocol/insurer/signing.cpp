// HMAC-SHA256 request signing and verification for the insurer link. OpenSSL
// is reached here only through its EVP_MAC HMAC, RAND_bytes() and
// CRYPTO_memcmp(); the verifier's replay cache is bounded by entries and
// forgets by time.
#include "protocol/insurer/signing.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <utility>

namespace settle::insurer {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

std::string to_hex(const unsigned char* data, std::size_t n) {
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(hex_digits[data[i] >> 4]);
    out.push_back(hex_digits[data[i] & 0x0f]);
  }
  return out;
}

bool is_nonce_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
         c == '_';
}

Error refused(std::string_view header, std::string message) {
  return make_error(Reason::unauthenticated, std::string(header), std::move(message));
}

// Decimal seconds, digits only, no sign, at most 12 digits (year 33658).
bool parse_timestamp(std::string_view text, std::int64_t& out) {
  if (text.empty() || text.size() > 12) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size();
}

}  // namespace

Clock system_clock() {
  return [] {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
}

namespace {

constexpr std::array<std::string_view, 7> kDays{"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};  // 1970-01-01 was a Thursday
constexpr std::array<std::string_view, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool digits(std::string_view t, std::size_t at, std::size_t n, int& out) {
  if (at + n > t.size()) return false;
  out = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (t[i] < '0' || t[i] > '9') return false;
    out = out * 10 + (t[i] - '0');
  }
  return true;
}

}  // namespace

std::string http_date(std::int64_t unix_s) {
  const std::int64_t days = unix_s >= 0 ? unix_s / 86400 : (unix_s - 86399) / 86400;
  const std::int64_t secs = unix_s - days * 86400;
  // civil_from_days
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
  const auto wd = static_cast<std::size_t>(((days % 7) + 7) % 7);
  return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", kDays[wd], d, kMonths[m - 1], y, secs / 3600,
                     secs / 60 % 60, secs % 60);
}

std::optional<std::int64_t> parse_http_date(std::string_view t) {
  // "Sun, 06 Nov 1994 08:49:37 GMT": 29 characters exactly.
  if (t.size() != 29 || t[3] != ',' || t[4] != ' ' || t[7] != ' ' || t[11] != ' ' || t[16] != ' ' || t[19] != ':' ||
      t[22] != ':' || t.substr(25) != " GMT")
    return std::nullopt;
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0;
  if (!digits(t, 5, 2, day) || !digits(t, 12, 4, year) || !digits(t, 17, 2, hh) || !digits(t, 20, 2, mm) ||
      !digits(t, 23, 2, ss))
    return std::nullopt;
  unsigned month = 0;
  for (unsigned i = 0; i < kMonths.size(); ++i)
    if (t.substr(8, 3) == kMonths[i]) month = i + 1;
  if (month == 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  return days_from_civil(year, month, static_cast<unsigned>(day)) * 86400 + hh * 3600 + mm * 60 + ss;
}

namespace {

// HMAC, fetched once: a fetch by name at every use is a search of OpenSSL's
// provider tables under a lock.
EVP_MAC* hmac_algorithm() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  SETTLE_ASSERT(mac != nullptr);
  return mac;
}

using MacCtx = std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)>;

// A context keyed for HMAC-SHA256 (null when OpenSSL refuses).
MacCtx keyed_hmac(std::string_view key) {
  MacCtx ctx(EVP_MAC_CTX_new(hmac_algorithm()), &EVP_MAC_CTX_free);
  if (!ctx) return ctx;
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  // A null key pointer with length 0 is not accepted by every OpenSSL version.
  static const unsigned char empty = 0;
  const auto* key_ptr = key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_MAC_init(ctx.get(), key_ptr, key.size(), params) != 1) ctx.reset();
  return ctx;
}

// The MAC of `parts` in order, finishing `ctx`: 64 hex digits, or "" when
// OpenSSL fails (or `ctx` is null).
std::string finish_hex(EVP_MAC_CTX* ctx, std::initializer_list<std::string_view> parts) {
  if (ctx == nullptr) return {};
  for (std::string_view p : parts)
    if (!p.empty() && EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(p.data()), p.size()) != 1)
      return {};
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  std::size_t mac_len = 0;
  if (EVP_MAC_final(ctx, mac.data(), &mac_len, mac.size()) != 1 || mac_len != 32) return {};
  return to_hex(mac.data(), mac_len);
}

// The same on a copy of the keyed context `keyed`, left as it was so that
// threads may share it.
std::string copy_hex(const EVP_MAC_CTX* keyed, std::initializer_list<std::string_view> parts) {
  if (keyed == nullptr) return {};
  const MacCtx ctx(EVP_MAC_CTX_dup(keyed), &EVP_MAC_CTX_free);
  return finish_hex(ctx.get(), parts);
}

// A nonce's random bytes, drawn from a per-thread buffer refilled a few
// hundred bytes at a time: one call into the generator for 32 nonces.
bool nonce_bytes_into(unsigned char* out) {
  constexpr std::size_t kBuffer = 32 * nonce_bytes;
  thread_local std::array<unsigned char, kBuffer> pool{};
  thread_local std::size_t used = kBuffer;
  if (used == kBuffer) {
    if (RAND_bytes(pool.data(), static_cast<int>(pool.size())) != 1) return false;
    used = 0;
  }
  std::memcpy(out, pool.data() + used, nonce_bytes);
  OPENSSL_cleanse(pool.data() + used, nonce_bytes);  // each byte is handed out once
  used += nonce_bytes;
  return true;
}

// A one-off MAC under `key`: its own keyed context, finished without a copy.
std::string one_off_hex(std::string_view key, std::initializer_list<std::string_view> parts) {
  const MacCtx ctx = keyed_hmac(key);
  std::string hex = finish_hex(ctx.get(), parts);
  SETTLE_ASSERT(hex.size() == 64);
  return hex;
}

}  // namespace

std::string hmac_sha256_hex(std::string_view key, std::string_view message) { return one_off_hex(key, {message}); }

std::string request_signature(std::string_view secret, std::string_view timestamp,
                              std::string_view nonce, std::string_view body) {
  return one_off_hex(secret, {timestamp, nonce, body});
}

struct Signer::Keyed {
  MacCtx ctx{nullptr, &EVP_MAC_CTX_free};
};

Signer::Signer(std::string paasid, std::string secret, Clock clock)
    : paasid_(std::move(paasid)), clock_(std::move(clock)) {
  SETTLE_ASSERT(!paasid_.empty() && paasid_.size() <= max_paasid_len);
  SETTLE_ASSERT(!secret.empty());
  SETTLE_ASSERT(clock_);
  auto k = std::make_shared<Keyed>();
  k->ctx = keyed_hmac(secret);
  keyed_ = std::move(k);
  OPENSSL_cleanse(secret.data(), secret.size());
}

Result<SignedHeaders> Signer::sign(std::string_view body) const {
  std::array<unsigned char, nonce_bytes> raw{};
  if (!nonce_bytes_into(raw.data())) {
    return make_error(Reason::internal, std::string(header_nonce),
                      "the system random generator failed to make a nonce");
  }
  SignedHeaders h;
  h.paasid = paasid_;
  h.timestamp = std::to_string(clock_());
  h.nonce = to_hex(raw.data(), raw.size());
  h.signature = copy_hex(keyed_->ctx.get(), {h.timestamp, h.nonce, body});
  if (h.signature.empty())
    return make_error(Reason::internal, std::string(header_signature), "OpenSSL could not compute the request's HMAC");
  return h;
}

Verifier::Verifier(std::vector<Institution> institutions, Clock clock,
                   std::size_t max_cache_entries)
    : clock_(std::move(clock)), max_cache_entries_(max_cache_entries) {
  SETTLE_ASSERT(clock_);
  SETTLE_ASSERT(max_cache_entries_ > 0);
  for (auto& inst : institutions) {
    SETTLE_ASSERT(!inst.paasid.empty() && !inst.secret.empty());
    secrets_.insert_or_assign(std::move(inst.paasid), std::move(inst.secret));
  }
}

void Verifier::forget_expired(std::int64_t now_s) {
  while (!by_expiry_.empty() && by_expiry_.begin()->first < now_s) {
    seen_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
}

Status Verifier::verify(const SignedHeaders& h, std::string_view body) {
  if (h.paasid.empty()) return refused(header_paasid, "missing x-tif-paasid header");
  if (h.timestamp.empty()) return refused(header_timestamp, "missing x-tif-timestamp header");
  if (h.nonce.empty()) return refused(header_nonce, "missing x-tif-nonce header");
  if (h.signature.empty()) return refused(header_signature, "missing x-tif-signature header");

  if (h.paasid.size() > max_paasid_len) return refused(header_paasid, "x-tif-paasid is too long");
  const auto secret = secrets_.find(h.paasid);
  if (secret == secrets_.end()) {
    return refused(header_paasid, fmt::format("unknown institution '{}'", h.paasid));
  }

  std::int64_t ts = 0;
  if (!parse_timestamp(h.timestamp, ts)) {
    return refused(header_timestamp, "x-tif-timestamp is not decimal seconds since the epoch");
  }
  const std::int64_t now = clock_();
  if (ts < now - signature_window_s) {
    return refused(header_timestamp,
                   fmt::format("x-tif-timestamp is {} s in the past (at most {} s allowed)",
                               now - ts, signature_window_s));
  }
  if (ts > now + signature_window_s) {
    return refused(header_timestamp,
                   fmt::format("x-tif-timestamp is {} s in the future (at most {} s allowed)",
                               ts - now, signature_window_s));
  }

  if (h.nonce.size() > max_nonce_len) return refused(header_nonce, "x-tif-nonce is too long");
  for (char c : h.nonce) {
    if (!is_nonce_char(c)) {
      return refused(header_nonce, "x-tif-nonce may hold only letters, digits, '-' and '_'");
    }
  }

  const std::string expected = request_signature(secret->second, h.timestamp, h.nonce, body);
  if (h.signature.size() != expected.size() ||
      CRYPTO_memcmp(h.signature.data(), expected.data(), expected.size()) != 0) {
    return refused(header_signature, "x-tif-signature does not match the request");
  }

  // A replay is refused by the cache until its timestamp falls out of the
  // window; after that the timestamp check refuses it. So the entry lives
  // until ts + window (never less than now + window, in case the clock of the
  // sender runs behind).
  const std::int64_t expiry = std::max(ts, now) + signature_window_s;
  std::string key;
  key.reserve(h.paasid.size() + 1 + h.nonce.size());
  key.append(h.paasid).push_back('\n');
  key.append(h.nonce);

  std::lock_guard lock(mu_);
  forget_expired(now);
  if (seen_.contains(key)) {
    return refused(header_nonce, "x-tif-nonce was already used (replayed request)");
  }
  if (seen_.size() >= max_cache_entries_) {
    // Cannot prove the request is not a replay without remembering it.
    return refused(header_nonce, fmt::format("replay cache full ({} nonces in the last {} s); "
                                             "request refused, retry later",
                                             seen_.size(), signature_window_s));
  }
  seen_.emplace(key, expiry);
  by_expiry_.emplace(expiry, std::move(key));
  return Ok{};
}

std::size_t Verifier::cache_size() {
  const std::int64_t now = clock_();
  std::lock_guard lock(mu_);
  forget_expired(now);
  return seen_.size();
}

}  // namespace settle::insurer
