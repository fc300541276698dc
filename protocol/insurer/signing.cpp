// HMAC-SHA256 request signing and verification for the insurer link. OpenSSL
// is reached here only through HMAC(), RAND_bytes() and CRYPTO_memcmp(); the
// verifier's replay cache is bounded by entries and forgets by time.
#include "protocol/insurer/signing.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <chrono>
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

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  // A null key pointer with length 0 is not accepted by every OpenSSL version.
  static const unsigned char empty = 0;
  const auto* key_ptr = key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data());
  const auto* msg_ptr =
      message.empty() ? &empty : reinterpret_cast<const unsigned char*>(message.data());
  SETTLE_ASSERT(key.size() <= static_cast<std::size_t>(INT32_MAX));
  const unsigned char* r = HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()), msg_ptr,
                                message.size(), mac.data(), &mac_len);
  SETTLE_ASSERT(r != nullptr && mac_len == 32);
  return to_hex(mac.data(), mac_len);
}

std::string request_signature(std::string_view secret, std::string_view timestamp,
                              std::string_view nonce, std::string_view body) {
  std::string message;
  message.reserve(timestamp.size() + nonce.size() + body.size());
  message.append(timestamp).append(nonce).append(body);
  return hmac_sha256_hex(secret, message);
}

Signer::Signer(std::string paasid, std::string secret, Clock clock)
    : paasid_(std::move(paasid)), secret_(std::move(secret)), clock_(std::move(clock)) {
  SETTLE_ASSERT(!paasid_.empty() && paasid_.size() <= max_paasid_len);
  SETTLE_ASSERT(!secret_.empty());
  SETTLE_ASSERT(clock_);
}

Result<SignedHeaders> Signer::sign(std::string_view body) const {
  std::array<unsigned char, nonce_bytes> raw{};
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    return make_error(Reason::internal, std::string(header_nonce),
                      "the system random generator failed to make a nonce");
  }
  SignedHeaders h;
  h.paasid = paasid_;
  h.timestamp = std::to_string(clock_());
  h.nonce = to_hex(raw.data(), raw.size());
  h.signature = request_signature(secret_, h.timestamp, h.nonce, body);
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
