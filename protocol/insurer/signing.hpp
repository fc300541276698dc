// Request signing of the insurer link (insurer-protocol.md, "Signing" under
// "Transport"): HMAC-SHA256 over timestamp + nonce + body with a per-institution
// secret. The Signer makes the x-tif-* headers on the hospital side; the
// Verifier checks them on the insurer side, with a bounded replay cache.
#pragma once

#include "engine/result.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace settle::insurer {

// Header names, lower case as HTTP/1.1 field names compare case-insensitively.
inline constexpr std::string_view header_paasid = "x-tif-paasid";
inline constexpr std::string_view header_timestamp = "x-tif-timestamp";
inline constexpr std::string_view header_nonce = "x-tif-nonce";
inline constexpr std::string_view header_signature = "x-tif-signature";

// A request's timestamp may be this far from the verifier's clock, either
// way; a nonce is remembered at least this long (insurer-protocol.md: 300 s).
inline constexpr std::int64_t signature_window_s = 300;
// Random bytes in a nonce (sent as 32 hex digits).
inline constexpr std::size_t nonce_bytes = 16;
// Longest nonce and paasid a verifier accepts.
inline constexpr std::size_t max_nonce_len = 64;
inline constexpr std::size_t max_paasid_len = 64;
// Replay cache entries a verifier keeps by default. At 300 s per entry this
// admits 330 signed requests per second, sustained, before refusing.
inline constexpr std::size_t default_replay_cache_entries = 100'000;

// Seconds since the Unix epoch. Injected so tests can move time.
using Clock = std::function<std::int64_t()>;
Clock system_clock();

// The HTTP Date header (IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT"): the
// insurer's clock as every reply carries it. The client measures this host's
// clock against it, since the signature window is measured against that clock.
std::string http_date(std::int64_t unix_s);
// Seconds since the epoch, or none when the text is not an IMF-fixdate.
std::optional<std::int64_t> parse_http_date(std::string_view text);

// The four x-tif-* header values of one request.
struct SignedHeaders {
  std::string paasid;
  std::string timestamp;  // decimal seconds since the Unix epoch
  std::string nonce;      // 32 lower-case hex digits
  std::string signature;  // 64 lower-case hex digits
};

// HMAC-SHA256 of message under key, as 64 lower-case hex digits.
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

// The signature of one request: hmac_sha256_hex(secret, timestamp + nonce + body).
std::string request_signature(std::string_view secret, std::string_view timestamp,
                              std::string_view nonce, std::string_view body);

// Client side: makes the headers for a body. Thread-safe: the HMAC keyed
// with the secret is set up once and copied for each request; each thread
// draws its nonces from random bytes fetched a few hundred at a time. Not
// for use across fork() (a child would repeat its parent's next nonces).
class Signer {
 public:
  Signer(std::string paasid, std::string secret, Clock clock = system_clock());

  // Fails (INTERNAL) only if the system's random generator or the HMAC fails.
  Result<SignedHeaders> sign(std::string_view body) const;

  const std::string& paasid() const noexcept { return paasid_; }

 private:
  struct Keyed;  // the HMAC keyed with the secret, never changed after construction
  std::string paasid_;
  std::shared_ptr<const Keyed> keyed_;
  Clock clock_;
};

// One institution the verifier knows.
struct Institution {
  std::string paasid;
  std::string secret;
};

// Server side: checks a request's headers against its body. Refusals are
// UNAUTHENTICATED with `field` naming the header at fault. A nonce is
// remembered only once the signature is proven, so unsigned traffic cannot
// fill the cache. Thread-safe.
class Verifier {
 public:
  explicit Verifier(std::vector<Institution> institutions, Clock clock = system_clock(),
                    std::size_t max_cache_entries = default_replay_cache_entries);

  // Headers as received: empty strings for absent headers.
  Status verify(const SignedHeaders& headers, std::string_view body);

  // Nonces remembered now, after forgetting expired ones (tests, metrics).
  std::size_t cache_size();

 private:
  void forget_expired(std::int64_t now_s);

  std::map<std::string, std::string, std::less<>> secrets_;  // paasid -> secret
  Clock clock_;
  std::size_t max_cache_entries_;

  mutable std::mutex mu_;
  // "paasid\nnonce" -> the second after which a replay would be refused by
  // its timestamp anyway; the multimap orders the same entries by expiry.
  std::unordered_map<std::string, std::int64_t> seen_;
  std::multimap<std::int64_t, std::string> by_expiry_;
};

}  // namespace settle::insurer
