// Operators and logins: scrypt hashes, the password policy, lockout after
// three failures with its expiry, unlock, the role table, and masking.
#include "protocol/cashier/auth.hpp"
#include "protocol/cashier/mask.hpp"
#include "protocol/cashier/params.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace settle;
using namespace settle::cashier;
using namespace std::chrono_literals;

namespace {

// Cheap parameters: the tests check behaviour, not cost.
constexpr KdfParams kFast{std::uint64_t{1} << 10, 8, 1};

struct Fixture {
  MemoryOperatorStore store;
  SystemTime now = SystemTime{} + 1'000'000h;
  Authenticator auth{store, AuthConfig{3, 600s, kFast}, [this] { return now; }};

  Fixture() {
    REQUIRE(auth.add_operator("zhang", Role::cashier, "Window42pass").ok());
    REQUIRE(auth.add_operator("li", Role::supervisor, "Superv1sor!x").ok());
    REQUIRE(auth.add_operator("wang", Role::auditor, "Aud1tor-pass").ok());
  }
};

}  // namespace

TEST_CASE("hash format and verification") {
  auto h = hash_password("Correct horse 9", kFast);
  REQUIRE(h.ok());
  CHECK(h->rfind("scrypt$1024$8$1$", 0) == 0);
  CHECK(verify_password("Correct horse 9", *h).value());
  CHECK_FALSE(verify_password("Correct horse 8", *h).value());
  CHECK_FALSE(verify_password("", *h).value());
  // A random salt: the same password hashes differently.
  auto h2 = hash_password("Correct horse 9", kFast);
  REQUIRE(h2.ok());
  CHECK(*h != *h2);
  CHECK(verify_password("Correct horse 9", *h2).value());
}

TEST_CASE("damaged stored hashes are errors, not crashes or matches") {
  const char* damaged[] = {"", "scrypt", "bcrypt$1$2$3$a$b", "scrypt$1000$8$1$AAAA$AAAA", "scrypt$1024$8$1$!!!$AAAA",
                           "scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                           "scrypt$1024$0$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                           "scrypt$1024$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA"};
  for (const char* d : damaged) {
    CAPTURE(d);
    auto r = verify_password("x", d);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == Reason::internal);
  }
}

TEST_CASE("password policy for new passwords") {
  CHECK(check_password_policy("zhang", "Window42pass").ok());
  const char* weak[] = {"short1", "onlyletterslong", "1234567890123", "aaaaaaaaaaaa", "myZhang2026pw", "tab\there12345"};
  for (const char* pw : weak) {
    CAPTURE(pw);
    auto s = check_password_policy("zhang", pw);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().field == "password");
    CHECK(s.error().message.find(pw) == std::string::npos);
  }
  CHECK_FALSE(check_password_policy("zhang", std::string(129, 'a') + "1").ok());
  MemoryOperatorStore store;
  Authenticator auth{store, AuthConfig{3, 600s, kFast}};
  CHECK(auth.add_operator("zhao", Role::cashier, "weak").error().field == "password");
  CHECK_FALSE(store.find("zhao").value().has_value());
}

TEST_CASE("login succeeds with the right password and gives the role") {
  Fixture f;
  auto ok = f.auth.login("li", "Superv1sor!x");
  REQUIRE(ok.identity.has_value());
  CHECK(ok.identity->operator_name == "li");
  CHECK(ok.identity->role == Role::supervisor);
  CHECK_FALSE(ok.error.has_value());
}

TEST_CASE("three failures lock the operator; the lock expires; success resets the count") {
  Fixture f;
  auto r1 = f.auth.login("zhang", "wrong-1");
  REQUIRE(r1.error.has_value());
  CHECK(r1.error->error.reason == Reason::login_failed);
  CHECK(r1.error->data["attempts_left"] == 2);
  auto r2 = f.auth.login("zhang", "wrong-2");
  CHECK(r2.error->data["attempts_left"] == 1);
  auto r3 = f.auth.login("zhang", "wrong-3");
  REQUIRE(r3.error.has_value());
  CHECK(r3.error->error.reason == Reason::locked_out);
  const std::string until = r3.error->data["until"].get<std::string>();
  CHECK(is_iso_datetime_offset(until));
  // Locked: even the right password is refused, and says until when.
  auto r4 = f.auth.login("zhang", "Window42pass");
  REQUIRE(r4.error.has_value());
  CHECK(r4.error->error.reason == Reason::locked_out);
  CHECK(r4.error->data["until"] == until);
  // After the lockout time the right password works again.
  f.now += 601s;
  auto r5 = f.auth.login("zhang", "Window42pass");
  REQUIRE(r5.identity.has_value());
  auto rec = f.store.find("zhang").value();
  CHECK(rec->failed_attempts == 0);
  // The expired lock does not count: one more failure leaves two attempts.
  CHECK(f.auth.login("zhang", "nope").error->data["attempts_left"] == 2);
  CHECK(f.auth.login("zhang", "Window42pass").identity.has_value());
  CHECK(f.store.find("zhang").value()->failed_attempts == 0);
  // One failure, then success: the count starts again from zero.
  CHECK(f.auth.login("zhang", "nope").error->data["attempts_left"] == 2);
  CHECK(f.auth.login("zhang", "Window42pass").identity.has_value());
  CHECK(f.auth.login("zhang", "nope").error->data["attempts_left"] == 2);
}

TEST_CASE("a supervisor unlock ends the lockout at once") {
  Fixture f;
  for (int i = 0; i < 3; ++i) (void)f.auth.login("zhang", "bad");
  CHECK(f.auth.login("zhang", "Window42pass").error->error.reason == Reason::locked_out);
  REQUIRE(f.auth.unlock("zhang").ok());
  CHECK(f.auth.login("zhang", "Window42pass").identity.has_value());
  CHECK(f.auth.unlock("nobody").error().reason == Reason::not_found);
}

TEST_CASE("unknown operators answer like known ones") {
  Fixture f;
  auto a = f.auth.login("ghost", "whatever");
  REQUIRE(a.error.has_value());
  CHECK(a.error->error.reason == Reason::login_failed);
  CHECK(a.error->data["attempts_left"] == 2);
  CHECK(a.error->error.message == f.auth.login("zhang", "bad").error->error.message);
  (void)f.auth.login("ghost", "whatever");
  CHECK(f.auth.login("ghost", "whatever").error->error.reason == Reason::locked_out);
}

TEST_CASE("changing a password applies the policy and takes effect") {
  Fixture f;
  CHECK(f.auth.change_password("zhang", "short").error().field == "password");
  REQUIRE(f.auth.change_password("zhang", "Another9pass").ok());
  CHECK(f.auth.login("zhang", "Window42pass").error.has_value());
  CHECK(f.auth.login("zhang", "Another9pass").identity.has_value());
  CHECK(f.auth.change_password("nobody", "Another9pass").error().reason == Reason::not_found);
  CHECK(f.auth.add_operator("zhang", Role::cashier, "Window42pass").error().reason == Reason::invalid_request);
}

TEST_CASE("role table") {
  CHECK(allowed_without_login(Method::engine_status));
  CHECK(allowed_without_login(Method::session_login));
  CHECK_FALSE(allowed_without_login(Method::settle_get));
  CHECK_FALSE(allowed_without_login(Method::session_logout));

  CHECK(role_may_call(Role::cashier, Method::settle_commit));
  CHECK(role_may_call(Role::cashier, Method::settle_refund));
  CHECK_FALSE(role_may_call(Role::cashier, Method::recon_run));
  CHECK_FALSE(role_may_call(Role::cashier, Method::uploads_flush));
  CHECK(role_may_call(Role::supervisor, Method::recon_run));
  CHECK(role_may_call(Role::supervisor, Method::uploads_flush));
  CHECK(role_may_call(Role::supervisor, Method::settle_commit));
  CHECK(role_may_call(Role::auditor, Method::recon_run));
  CHECK(role_may_call(Role::auditor, Method::settle_get));
  CHECK(role_may_call(Role::auditor, Method::settle_list));
  CHECK_FALSE(role_may_call(Role::auditor, Method::settle_commit));
  CHECK_FALSE(role_may_call(Role::auditor, Method::card_verify_pin));
  CHECK_FALSE(role_may_call(Role::auditor, Method::uploads_flush));
  CHECK(role_may_call(Role::supervisor, Method::redlist_sync));
  CHECK_FALSE(role_may_call(Role::cashier, Method::redlist_sync));
  CHECK_FALSE(role_may_call(Role::auditor, Method::redlist_sync));
  for (int i = 0; i < method_count; ++i) {
    const auto m = static_cast<Method>(i);
    CAPTURE(method_name(m));
    // Every method is callable by someone; the supervisor can do everything but nothing the table forgets.
    CHECK((role_may_call(Role::cashier, m) || role_may_call(Role::supervisor, m) || role_may_call(Role::auditor, m)));
  }
  CHECK(role_from_name("auditor") == Role::auditor);
  CHECK_FALSE(role_from_name("root").has_value());
}

TEST_CASE("ID and card number masking") {
  CHECK(mask_id_no("11010119900307123X") == "110101********123X");
  CHECK(mask_id_no("110101900307123") == "110101*****7123");
  CHECK(mask_id_no("1234567890") == "**********");
  CHECK(mask_id_no("") == "");
  CHECK(mask_card_no("A12345678") == "A1*****78");
  CHECK(mask_card_no("1234") == "****");
  CHECK(looks_like_id_no("11010119900307123X"));
  CHECK(looks_like_id_no("110101900307123"));
  CHECK_FALSE(looks_like_id_no("110101********123X"));
  CHECK_FALSE(looks_like_id_no("A12345678"));

  Json r = Json::parse(R"({"psn_name":"张三","id_no_masked":"11010119900307123X","card_no":"A12345678",
                          "list":[{"certno":"110101199003071234","note":"11010119900307123X"}]})");
  mask_id_numbers(r);
  CHECK(r["id_no_masked"] == "110101********123X");
  CHECK(r["list"][0]["certno"] == "110101********1234");
  CHECK(r["list"][0]["note"] == "11010119900307123X");  // not an ID field: left alone
  CHECK(r["card_no"] == "A12345678");
}
