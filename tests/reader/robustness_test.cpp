// Random bytes where the card's answers should be: every parser and the whole
// card application must answer with an error or a complete, valid result,
// never crash or hand out part of an identity. Seeded; the seed is printed.
#include "reader/card_app.hpp"
#include "reader/errors.hpp"
#include "reader/part10.hpp"
#include "reader/records.hpp"

#include <doctest/doctest.h>

#include <random>

using namespace settle;
using namespace settle::reader;

namespace {

unsigned test_seed() {
  static const unsigned seed = [] {
    if (const char* s = std::getenv("SETTLE_TEST_SEED")) return static_cast<unsigned>(std::strtoul(s, nullptr, 10));
    return static_cast<unsigned>(std::random_device{}());
  }();
  return seed;
}

Bytes random_bytes(std::mt19937& rng, std::size_t max_len) {
  std::uniform_int_distribution<std::size_t> len(0, max_len);
  Bytes b(len(rng));
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

// Answers every command with random bytes, sometimes ending in 9000 or 61xx
// so the application gets past its status checks.
class NoiseCard final : public CardChannel {
 public:
  explicit NoiseCard(std::mt19937& rng) : rng_(rng) {}
  Result<Bytes> transmit(std::span<const std::uint8_t>) override {
    Bytes b = random_bytes(rng_, 40);
    const auto pick = rng_() % 4;
    if (pick == 0 || pick == 1) {
      b.push_back(0x90);
      b.push_back(0x00);
    } else if (pick == 2) {
      b.push_back(0x61);
      b.push_back(static_cast<std::uint8_t>(rng_()));
    }
    return b;
  }

 private:
  std::mt19937& rng_;
};

}  // namespace

TEST_CASE("parsers survive random bytes") {
  const unsigned seed = test_seed();
  INFO("SETTLE_TEST_SEED=", seed);
  std::mt19937 rng(seed);
  for (int i = 0; i < 5000; ++i) {
    const Bytes b = random_bytes(rng, 48);
    auto rec = unwrap_record(b, 0x09, "name");
    if (rec.ok()) CHECK(rec->size() + 2 <= b.size());
    (void)gbk_to_utf8(b, "name");
    (void)parse_id_no(b);
    (void)parse_birth_date(b);
    (void)parse_gender(b);
    (void)parse_ascii_field(b, 1, 32, "card_no");
    auto f = parse_features(b);
    if (f.ok()) CHECK(b.size() % 6 == 0);
    auto r = parse_response(b);
    CHECK(r.ok() == (b.size() >= 2));
  }
}

TEST_CASE("the card application answers noise with errors, never half a person") {
  const unsigned seed = test_seed();
  INFO("SETTLE_TEST_SEED=", seed);
  std::mt19937 rng(seed);
  NoiseCard card(rng);
  CardApp app(card, kDefaultProfile);
  int errors = 0;
  for (int i = 0; i < 2000; ++i) {
    auto id = app.read_identity();
    if (id.ok()) {
      // Anything that gets through must be wholly valid.
      CHECK(id_check_digit_valid(id->id_no));
      CHECK(id->card_sn.size() == kDefaultProfile.card_sn_len);
      CHECK_FALSE(id->name.empty());
      CHECK(check_consistency(*id).ok());
    } else {
      ++errors;
      CHECK((id.error().reason == Reason::card_unreadable));
    }
    auto pin = Pin::from_digits("123456");
    REQUIRE(pin.ok());
    auto v = app.verify_pin(*pin);
    if (!v.ok()) CHECK(v.error().reason == Reason::card_unreadable);
  }
  CHECK(errors > 0);
}
