// Request signing on bytes: known HMAC-SHA256 vectors (RFC 4231 and one made
// with the openssl command line), signing from several threads, tampering,
// clock skew both ways, replayed nonces, and the replay cache's bound and
// forgetting.
#include "protocol/insurer/signing.hpp"

#include <doctest/doctest.h>

#include <cctype>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace settle;
using namespace settle::insurer;

namespace {

struct FakeClock {
  std::shared_ptr<std::int64_t> now = std::make_shared<std::int64_t>(1'763'800'000);
  Clock clock() const {
    return [n = now] { return *n; };
  }
};

bool refused_on(const Status& s, std::string_view header, std::string_view words) {
  return !s.ok() && s.error().reason == Reason::unauthenticated && s.error().field == header &&
         s.error().message.find(words) != std::string::npos;
}

}  // namespace

TEST_CASE("HMAC-SHA256 matches RFC 4231 vectors") {
  CHECK(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There") ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a key longer than the block size is hashed first.
  CHECK(hmac_sha256_hex(std::string(131, '\xaa'),
                        "Test Using Larger Than Block-Size Key - Hash Key First") ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  CHECK(hmac_sha256_hex("", "") ==
        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST_CASE("request signature covers timestamp, nonce and body in that order") {
  // printf '%s' '1763800000abcdef0123456789abcdef0123456789{"infno":"9001"}' |
  //   openssl dgst -sha256 -hmac 'institution-secret'
  CHECK(request_signature("institution-secret", "1763800000", "abcdef0123456789abcdef0123456789",
                          R"({"infno":"9001"})") ==
        "718b319ed7eb4164399763d8385ca49bdaf7bfb05ab3dc87e0be85f5baed16aa");
}

TEST_CASE("signer makes fresh nonces and a verifiable signature") {
  FakeClock fc;
  Signer signer("H11010500001", "institution-secret", fc.clock());
  Verifier verifier({{"H11010500001", "institution-secret"}}, fc.clock());
  std::set<std::string> nonces;
  for (int i = 0; i < 50; ++i) {
    const std::string body = R"({"infno":"2207","n":)" + std::to_string(i) + "}";
    auto h = signer.sign(body);
    REQUIRE(h.ok());
    CHECK(h->paasid == "H11010500001");
    CHECK(h->timestamp == "1763800000");
    CHECK(h->nonce.size() == 2 * nonce_bytes);
    CHECK(h->signature.size() == 64);
    CHECK(h->signature == request_signature("institution-secret", h->timestamp, h->nonce, body));
    CHECK(nonces.insert(h->nonce).second);
    CHECK(verifier.verify(*h, body).ok());
  }
  CHECK(verifier.cache_size() == 50);
}

// The keyed HMAC is shared by every thread that signs through one Signer,
// and each thread draws its nonces from a buffer of its own: signatures made
// side by side must all verify, and no nonce may come twice, within a thread
// or across them (several buffers' worth each).
TEST_CASE("signing from several threads at once: every signature verifies, no nonce repeats") {
  FakeClock fc;
  const Signer signer("H11010500001", "institution-secret", fc.clock());
  constexpr int kThreads = 4;
  constexpr int kEach = 200;
  std::vector<std::vector<SignedHeaders>> made(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&signer, &made, t] {
      for (int i = 0; i < kEach; ++i) {
        auto h = signer.sign(R"({"infno":"2207","n":)" + std::to_string(t * kEach + i) + "}");
        if (h) made[static_cast<std::size_t>(t)].push_back(*h);
      }
    });
  }
  for (auto& th : threads) th.join();
  Verifier verifier({{"H11010500001", "institution-secret"}}, fc.clock());
  std::set<std::string> nonces;
  for (int t = 0; t < kThreads; ++t) {
    REQUIRE(made[static_cast<std::size_t>(t)].size() == kEach);
    for (int i = 0; i < kEach; ++i) {
      const SignedHeaders& h = made[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)];
      CHECK(nonces.insert(h.nonce).second);
      CHECK(verifier.verify(h, R"({"infno":"2207","n":)" + std::to_string(t * kEach + i) + "}").ok());
    }
  }
  CHECK(nonces.size() == kThreads * kEach);
}

TEST_CASE("tampered body, header or secret is refused") {
  FakeClock fc;
  Signer signer("H1", "secret-a", fc.clock());
  Verifier verifier({{"H1", "secret-a"}, {"H2", "secret-b"}}, fc.clock());
  const std::string body = R"({"medfee_sumamt":"100.00"})";
  auto h = signer.sign(body).value();

  CHECK(refused_on(verifier.verify(h, R"({"medfee_sumamt":"900.00"})"), header_signature, "does not match"));
  CHECK(refused_on(verifier.verify(h, body + " "), header_signature, "does not match"));

  auto bad = h;
  bad.signature[0] = bad.signature[0] == 'a' ? 'b' : 'a';
  CHECK(refused_on(verifier.verify(bad, body), header_signature, "does not match"));
  bad = h;
  bad.signature.pop_back();
  CHECK(refused_on(verifier.verify(bad, body), header_signature, "does not match"));
  bad = h;
  for (auto& c : bad.signature) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (bad.signature != h.signature) {
    CHECK(refused_on(verifier.verify(bad, body), header_signature, "does not match"));
  }
  bad = h;
  bad.timestamp = std::to_string(*fc.now + 1);
  CHECK(refused_on(verifier.verify(bad, body), header_signature, "does not match"));
  bad = h;
  bad.nonce[3] = bad.nonce[3] == '0' ? '1' : '0';
  CHECK(refused_on(verifier.verify(bad, body), header_signature, "does not match"));
  // Another institution's paasid with this one's secret.
  bad = h;
  bad.paasid = "H2";
  CHECK(refused_on(verifier.verify(bad, body), header_signature, "does not match"));
  bad = h;
  bad.paasid = "H3";
  CHECK(refused_on(verifier.verify(bad, body), header_paasid, "unknown institution 'H3'"));

  // None of the refusals burnt the nonce: the genuine request still passes once.
  CHECK(verifier.cache_size() == 0);
  CHECK(verifier.verify(h, body).ok());
}

TEST_CASE("missing and malformed headers are named") {
  FakeClock fc;
  Verifier verifier({{"H1", "s"}}, fc.clock());
  Signer signer("H1", "s", fc.clock());
  auto h = signer.sign("x").value();
  auto bad = h;
  bad.paasid.clear();
  CHECK(refused_on(verifier.verify(bad, "x"), header_paasid, "missing"));
  bad = h;
  bad.timestamp.clear();
  CHECK(refused_on(verifier.verify(bad, "x"), header_timestamp, "missing"));
  bad = h;
  bad.nonce.clear();
  CHECK(refused_on(verifier.verify(bad, "x"), header_nonce, "missing"));
  bad = h;
  bad.signature.clear();
  CHECK(refused_on(verifier.verify(bad, "x"), header_signature, "missing"));
  for (const char* ts : {"-1763800000", "1763800000.5", " 1763800000", "17638e5", "1234567890123", "abc"}) {
    bad = h;
    bad.timestamp = ts;
    CAPTURE(ts);
    CHECK(refused_on(verifier.verify(bad, "x"), header_timestamp, "decimal seconds"));
  }
  bad = h;
  bad.nonce = "abc def";
  CHECK(refused_on(verifier.verify(bad, "x"), header_nonce, "only letters"));
  bad = h;
  bad.nonce = std::string(max_nonce_len + 1, 'a');
  CHECK(refused_on(verifier.verify(bad, "x"), header_nonce, "too long"));
}

TEST_CASE("timestamps more than 300 s off are refused, at the edge accepted") {
  FakeClock fc;
  Verifier verifier({{"H1", "s"}}, fc.clock());
  auto signed_at = [&](std::int64_t t) {
    std::int64_t at = t;
    Signer s("H1", "s", [at] { return at; });
    return s.sign("body").value();
  };
  const std::int64_t now = *fc.now;
  CHECK(verifier.verify(signed_at(now - signature_window_s), "body").ok());
  CHECK(verifier.verify(signed_at(now + signature_window_s), "body").ok());
  CHECK(refused_on(verifier.verify(signed_at(now - signature_window_s - 1), "body"),
                   header_timestamp, "301 s in the past"));
  CHECK(refused_on(verifier.verify(signed_at(now + signature_window_s + 1), "body"),
                   header_timestamp, "301 s in the future"));
  CHECK(refused_on(verifier.verify(signed_at(0), "body"), header_timestamp, "in the past"));
}

TEST_CASE("a replayed nonce is refused for as long as its timestamp is acceptable") {
  FakeClock fc;
  Verifier verifier({{"H1", "s"}, {"H2", "t"}}, fc.clock());
  // Signed by a sender whose clock runs 300 s ahead: the widest case.
  const std::int64_t ahead = *fc.now + signature_window_s;
  Signer ahead_signer("H1", "s", [ahead] { return ahead; });
  auto h = ahead_signer.sign("body").value();
  CHECK(verifier.verify(h, "body").ok());
  CHECK(refused_on(verifier.verify(h, "body"), header_nonce, "already used"));

  // Replays keep being refused while the timestamp stays inside the window...
  for (std::int64_t step : {1, 299, 300}) {
    *fc.now += step;
    CAPTURE(*fc.now);
    CHECK(refused_on(verifier.verify(h, "body"), header_nonce, "already used"));
  }
  // ...and once it is not, the timestamp check takes over.
  *fc.now += 1;
  CHECK(refused_on(verifier.verify(h, "body"), header_timestamp, "in the past"));
  CHECK(verifier.cache_size() == 0);

  // The same nonce under another institution is a different request.
  Signer s1("H1", "s", fc.clock());
  auto h1 = s1.sign("b").value();
  SignedHeaders h2{"H2", h1.timestamp, h1.nonce, request_signature("t", h1.timestamp, h1.nonce, "b")};
  CHECK(verifier.verify(h1, "b").ok());
  CHECK(verifier.verify(h2, "b").ok());
}

TEST_CASE("replay cache is bounded and forgets entries older than the window") {
  FakeClock fc;
  Verifier verifier({{"H1", "s"}}, fc.clock(), 3);
  Signer signer("H1", "s", fc.clock());
  auto a = signer.sign("a").value();
  CHECK(verifier.verify(a, "a").ok());
  *fc.now += 100;
  CHECK(verifier.verify(signer.sign("b").value(), "b").ok());
  CHECK(verifier.verify(signer.sign("c").value(), "c").ok());
  CHECK(verifier.cache_size() == 3);
  // Full: a fresh request cannot be proven new, so it is refused, and nothing
  // already remembered is pushed out (the replay of `a` stays refused).
  auto d = signer.sign("d").value();
  CHECK(refused_on(verifier.verify(d, "d"), header_nonce, "replay cache full"));
  CHECK(refused_on(verifier.verify(a, "a"), header_nonce, "already used"));
  CHECK(verifier.cache_size() == 3);

  // When `a` leaves the window its entry is forgotten and room is made.
  *fc.now += 201;
  CHECK(verifier.verify(d, "d").ok());
  CHECK(verifier.cache_size() == 3);
  *fc.now += signature_window_s + 1;
  CHECK(verifier.verify(signer.sign("e").value(), "e").ok());
  CHECK(verifier.cache_size() == 1);
}

TEST_CASE("the HTTP Date header: IMF-fixdate both ways, anything else refused") {
  CHECK(http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110's example
  CHECK(http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(http_date(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");
  CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == std::optional<std::int64_t>(784111777));
  for (std::int64_t t : {std::int64_t{0}, std::int64_t{951782399}, std::int64_t{1'763'800'000}, std::int64_t{4'102'444'800}})
    CHECK(parse_http_date(http_date(t)) == std::optional<std::int64_t>(t));
  CHECK_FALSE(parse_http_date("").has_value());
  CHECK_FALSE(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT").has_value());  // RFC 850: obsolete
  CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC").has_value());
  CHECK_FALSE(parse_http_date("Sun, 06 Xyz 1994 08:49:37 GMT").has_value());
  CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT").has_value());
}
