// Operators and logins: scrypt hashes, the password policy, the initial
// password changed at first login, lockout per source until unlocked, the
// per-source throttle, administration, the role table, and masking.
#include "protocol/cashier/auth.hpp"
#include "protocol/cashier/mask.hpp"
#include "protocol/cashier/params.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

using namespace settle;
using namespace settle::cashier;
using namespace std::chrono_literals;

namespace {

// Cheap parameters: the tests check behaviour, not cost.
constexpr KdfParams kFast{std::uint64_t{1} << 10, 8, 1};

const Actor kAdmin{"root-admin", "", "local:test"};
const LoginContext kTerminal{"uid:1000", "W01"};  // the cashier's own terminal
const LoginContext kOther{"uid:2000", "W02"};     // another client of the socket

AuthConfig config(std::optional<std::chrono::seconds> lockout = std::nullopt) {
  AuthConfig c;
  c.max_failed_logins = 3;
  c.lockout_duration = lockout;
  c.source_failures_per_minute = 6;
  c.kdf = kFast;
  return c;
}

struct Fixture {
  MemoryOperatorStore store;
  SystemTime now = SystemTime{} + 1'000'000h;
  Authenticator auth;

  explicit Fixture(AuthConfig c = config()) : auth{store, c, [this] { return now; }} {
    REQUIRE(auth.add_operator("zhang", Role::cashier, "Window42pass!", kAdmin).ok());
    REQUIRE(auth.add_operator("li", Role::supervisor, "Superv1sor!x", kAdmin).ok());
    REQUIRE(auth.add_operator("wang", Role::auditor, "Aud1tor-pass", kAdmin).ok());
    REQUIRE(auth.add_operator("root", Role::admin, "Adm1n#secret", kAdmin).ok());
  }
  LoginOutcome login(std::string_view name, std::string_view pw, const LoginContext& ctx = kTerminal) {
    return auth.login(name, pw, ctx);
  }
  // The next minute (the per-source throttle forgets older failures).
  void later() { now += 61s; }
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

TEST_CASE("password policy: upper and lower case, a digit and a special character") {
  CHECK(check_password_policy("zhang", "Window42pass!").ok());
  CHECK(check_password_policy("zhang", "Cashier-2026").ok());
  const char* weak[] = {"Short1!",        "onlyletterslong", "1234567890123", "aaaaaaaaaaaa", "myZhang2026pw!",
                        "tab\there12345A!", "window42pass!",  "WINDOW42PASS!", "Window42passx", "Window!!pass"};
  for (const char* pw : weak) {
    CAPTURE(pw);
    auto s = check_password_policy("zhang", pw);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().field == "password");
    CHECK(s.error().message.find(pw) == std::string::npos);
  }
  CHECK_FALSE(check_password_policy("zhang", std::string(129, 'a') + "A1!").ok());
  CHECK(check_password_policy("zhang", "short", "new_password").error().field == "new_password");
  MemoryOperatorStore store;
  Authenticator auth{store, config()};
  CHECK(auth.add_operator("zhao", Role::cashier, "weak", kAdmin).error().field == "password");
  CHECK_FALSE(store.find("zhao").value().has_value());
}

TEST_CASE("a new operator must change the initial password at the first login") {
  Fixture f;
  auto first = f.login("zhang", "Window42pass!");
  REQUIRE(first.identity.has_value());
  CHECK(first.identity->must_change_password);
  // The change checks the current password, the policy, and that it differs.
  auto same = f.auth.change_own_password("zhang", "Window42pass!", "Window42pass!", kTerminal);
  REQUIRE(same.error.has_value());
  CHECK(same.error->error.field == "new_password");
  auto weak = f.auth.change_own_password("zhang", "Window42pass!", "password", kTerminal);
  REQUIRE(weak.error.has_value());
  CHECK(weak.error->error.field == "new_password");
  auto wrong = f.auth.change_own_password("zhang", "not-it", "Fresh-Pass-77", kTerminal);
  REQUIRE(wrong.error.has_value());
  CHECK(wrong.error->error.reason == Reason::login_failed);
  auto ok = f.auth.change_own_password("zhang", "Window42pass!", "Fresh-Pass-77", kTerminal);
  REQUIRE(ok.identity.has_value());
  CHECK_FALSE(ok.identity->must_change_password);
  CHECK(f.login("zhang", "Window42pass!").error.has_value());
  auto again = f.login("zhang", "Fresh-Pass-77");
  REQUIRE(again.identity.has_value());
  CHECK_FALSE(again.identity->must_change_password);
  // An administrator's reset gives an initial password again.
  REQUIRE(f.auth.reset_password("zhang", "Reset-Pass-88", kAdmin).ok());
  auto after_reset = f.login("zhang", "Reset-Pass-88");
  REQUIRE(after_reset.identity.has_value());
  CHECK(after_reset.identity->must_change_password);
}

TEST_CASE("login succeeds with the right password and gives the role") {
  Fixture f;
  auto ok = f.login("li", "Superv1sor!x");
  REQUIRE(ok.identity.has_value());
  CHECK(ok.identity->operator_name == "li");
  CHECK(ok.identity->role == Role::supervisor);
  CHECK_FALSE(ok.error.has_value());
}

TEST_CASE("three failures lock the operator until an administrator unlocks it (the default)") {
  Fixture f;
  auto r1 = f.login("zhang", "wrong-1");
  REQUIRE(r1.error.has_value());
  CHECK(r1.error->error.reason == Reason::login_failed);
  CHECK(r1.error->data["attempts_left"] == 2);
  CHECK(f.login("zhang", "wrong-2").error->data["attempts_left"] == 1);
  auto r3 = f.login("zhang", "wrong-3");
  REQUIRE(r3.error.has_value());
  CHECK(r3.error->error.reason == Reason::locked_out);
  CHECK(r3.error->data["until"].is_null());
  // Locked: even the right password is refused, days later too.
  f.now += 72h;
  CHECK(f.login("zhang", "Window42pass!").error->error.reason == Reason::locked_out);
  // The administrator's unlock ends it at once.
  REQUIRE(f.auth.unlock("zhang", kAdmin).ok());
  CHECK(f.login("zhang", "Window42pass!").identity.has_value());
  CHECK(f.auth.unlock("nobody", kAdmin).error().reason == Reason::not_found);
}

TEST_CASE("a configured lock duration ends by itself; success resets the count") {
  Fixture f(config(600s));
  for (int i = 0; i < 2; ++i) (void)f.login("zhang", "bad");
  auto r3 = f.login("zhang", "bad");
  REQUIRE(r3.error->error.reason == Reason::locked_out);
  const std::string until = r3.error->data["until"].get<std::string>();
  CHECK(is_iso_datetime_offset(until));
  CHECK(f.login("zhang", "Window42pass!").error->data["until"] == until);
  f.now += 601s;
  REQUIRE(f.login("zhang", "Window42pass!").identity.has_value());
  CHECK(f.store.source_state("zhang", kTerminal.source).value().failed_attempts == 0);
  // One failure, then success: the count starts again from zero.
  CHECK(f.login("zhang", "nope").error->data["attempts_left"] == 2);
  CHECK(f.login("zhang", "Window42pass!").identity.has_value());
  CHECK(f.login("zhang", "nope").error->data["attempts_left"] == 2);
}

TEST_CASE("a lock holds for the source that failed: another client cannot lock a cashier out of her terminal") {
  Fixture f;
  // The other client guesses zhang's password three times and locks zhang for itself.
  for (int i = 0; i < 2; ++i) CHECK(f.login("zhang", "guess", kOther).error->error.reason == Reason::login_failed);
  CHECK(f.login("zhang", "guess", kOther).error->error.reason == Reason::locked_out);
  CHECK(f.login("zhang", "Window42pass!", kOther).error->error.reason == Reason::locked_out);
  // Zhang at her own terminal logs in as usual.
  CHECK(f.login("zhang", "Window42pass!", kTerminal).identity.has_value());
  // The administrator sees the lock, with its source.
  auto all = f.auth.list().value();
  const auto z = std::find_if(all.begin(), all.end(), [](const OperatorSummary& o) { return o.name == "zhang"; });
  REQUIRE(z != all.end());
  REQUIRE(z->sources.size() == 1);
  CHECK(z->sources[0].source == kOther.source);
  CHECK(z->sources[0].locked);
}

TEST_CASE("a source that keeps failing is throttled: its guesses count against nobody") {
  Fixture f;
  const char* names[] = {"zhang", "li", "wang"};
  // Six failures in a minute across names (two each: nobody is locked yet).
  for (const char* n : names)
    for (int i = 0; i < 2; ++i) CHECK(f.login(n, "guess", kOther).error->error.reason == Reason::login_failed);
  // The seventh is refused unchecked, even with the right password, and counts for nobody.
  auto t = f.login("zhang", "guess", kOther);
  REQUIRE(t.error.has_value());
  CHECK(t.error->error.reason == Reason::limit_exceeded);
  CHECK(t.error->data["retry_after_s"].get<int>() >= 1);
  CHECK(f.login("li", "Superv1sor!x", kOther).error->error.reason == Reason::limit_exceeded);
  CHECK(f.store.source_state("zhang", kOther.source).value().failed_attempts == 2);
  // Other sources are not slowed.
  CHECK(f.login("li", "Superv1sor!x", kTerminal).identity.has_value());
  // A minute later the source may try again.
  f.later();
  CHECK(f.login("li", "Superv1sor!x", kOther).identity.has_value());
}

TEST_CASE("logins of a name the source has locked count against its throttle: they cannot keep the KDF busy") {
  Fixture f;
  for (int i = 0; i < 3; ++i) (void)f.login("zhang", "guess", kOther);  // locked for kOther (3 failures)
  // Her own password while locked is refused, and does not count.
  for (int i = 0; i < 5; ++i)
    CHECK(f.login("zhang", "Window42pass!", kOther).error->error.reason == Reason::locked_out);
  for (int i = 0; i < 3; ++i) CHECK(f.login("zhang", "guess", kOther).error->error.reason == Reason::locked_out);
  // Six refused in the minute: the next is refused unchecked.
  CHECK(f.login("zhang", "guess", kOther).error->error.reason == Reason::limit_exceeded);
  CHECK(f.login("zhang", "Window42pass!", kTerminal).identity.has_value());
}

TEST_CASE("unknown operators answer like known ones") {
  Fixture f;
  auto a = f.login("ghost", "whatever");
  REQUIRE(a.error.has_value());
  CHECK(a.error->error.reason == Reason::login_failed);
  CHECK(a.error->data["attempts_left"] == 2);
  CHECK(a.error->error.message == f.login("zhang", "bad").error->error.message);
  (void)f.login("ghost", "whatever");
  const auto locked = f.login("ghost", "whatever");
  CHECK(locked.error->error.reason == Reason::locked_out);
  CHECK(locked.error->data["until"].is_null());
}

TEST_CASE("an unknown name's password is checked at the config's cost, and matches nothing") {
  // A hash the check refused as damaged would answer at once, not after a
  // scrypt run: an unknown name would then be told apart by its speed.
  Fixture f;
  const std::string& h = f.auth.unknown_name_hash();
  CHECK(h.rfind("scrypt$1024$8$1$", 0) == 0);
  for (const char* pw : {"", "whatever", "Window42pass!", "not a password of anybody"}) {
    auto v = verify_password(pw, h);
    REQUIRE(v.ok());
    CHECK_FALSE(*v);
  }
  // Random: another start's differs.
  Fixture g;
  CHECK(g.auth.unknown_name_hash() != h);
}

TEST_CASE("administration: disable, enable, roles, and the last administrator stays") {
  Fixture f;
  REQUIRE(f.auth.set_disabled("zhang", true, kAdmin).ok());
  auto d = f.login("zhang", "Window42pass!");
  REQUIRE(d.error.has_value());
  CHECK(d.error->error.reason == Reason::forbidden);
  // A wrong password of a disabled operator is just a wrong password.
  CHECK(f.login("zhang", "bad").error->error.reason == Reason::login_failed);
  REQUIRE(f.auth.set_disabled("zhang", false, kAdmin).ok());
  CHECK(f.login("zhang", "Window42pass!").identity.has_value());

  REQUIRE(f.auth.set_role("zhang", Role::supervisor, kAdmin).ok());
  CHECK(f.login("zhang", "Window42pass!").identity->role == Role::supervisor);

  // root is the only administrator: it cannot be disabled or demoted...
  CHECK(f.auth.set_disabled("root", true, kAdmin).error().reason == Reason::invalid_state);
  CHECK(f.auth.set_role("root", Role::cashier, kAdmin).error().reason == Reason::invalid_state);
  // ...until there is another.
  REQUIRE(f.auth.set_role("li", Role::admin, kAdmin).ok());
  CHECK(f.auth.set_disabled("root", true, kAdmin).ok());
  CHECK(f.auth.set_role("nobody", Role::cashier, kAdmin).error().reason == Reason::not_found);
  CHECK(f.auth.add_operator("zhang", Role::cashier, "Window42pass!", kAdmin).error().reason ==
        Reason::invalid_request);
  CHECK(f.auth.add_operator("has space", Role::cashier, "Window42pass!", kAdmin).error().field == "operator");
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
  // Operators: the administrator only; the audit trail: auditors and the administrator.
  for (Method m : {Method::operator_list, Method::operator_add, Method::operator_reset_password, Method::operator_unlock,
                   Method::operator_set_role, Method::operator_disable, Method::operator_enable}) {
    CAPTURE(method_name(m));
    CHECK(role_may_call(Role::admin, m));
    CHECK_FALSE(role_may_call(Role::supervisor, m));
    CHECK_FALSE(role_may_call(Role::cashier, m));
    CHECK_FALSE(role_may_call(Role::auditor, m));
  }
  CHECK(role_may_call(Role::auditor, Method::audit_list));
  CHECK(role_may_call(Role::admin, Method::audit_list));
  CHECK_FALSE(role_may_call(Role::supervisor, Method::audit_list));
  CHECK_FALSE(role_may_call(Role::cashier, Method::audit_list));
  // The administrator of operators reads no patient's data and moves no money.
  CHECK_FALSE(role_may_call(Role::admin, Method::settle_get));
  CHECK_FALSE(role_may_call(Role::admin, Method::settle_commit));
  CHECK_FALSE(role_may_call(Role::admin, Method::card_read));
  // The e-voucher and the ID number are credentials at a window, like the card (1.3).
  for (Method m : {Method::credential_scan, Method::credential_id}) {
    CAPTURE(method_name(m));
    CHECK(role_may_call(Role::cashier, m));
    CHECK(role_may_call(Role::supervisor, m));
    CHECK_FALSE(role_may_call(Role::auditor, m));
    CHECK_FALSE(role_may_call(Role::admin, m));
    CHECK_FALSE(allowed_without_login(m));
  }
  // Before an initial password is changed only the session's own methods.
  CHECK(allowed_before_password_change(Method::session_change_password));
  CHECK(allowed_before_password_change(Method::session_logout));
  CHECK_FALSE(allowed_before_password_change(Method::settle_commit));
  CHECK_FALSE(allowed_before_password_change(Method::operator_list));
  for (int i = 0; i < method_count; ++i) {
    const auto m = static_cast<Method>(i);
    CAPTURE(method_name(m));
    // Every method is callable by someone.
    CHECK((role_may_call(Role::cashier, m) || role_may_call(Role::supervisor, m) || role_may_call(Role::auditor, m) ||
           role_may_call(Role::admin, m)));
  }
  CHECK(role_from_name("admin") == Role::admin);
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

TEST_CASE("free text and error replies: personal numbers masked, control characters dropped, bounded") {
  // An ID number, a card number and a person number inside text; a msgid and short ids are kept.
  CHECK(mask_text("id 11010119900307123X card E00000001, psn 1100000012345678 ok") ==
        "id 110101********123X card E0*****01, psn 11************78 ok");
  CHECK(mask_text("msgid H110105000012026030108300000001 setl 12 r-0001") ==
        "msgid H110105000012026030108300000001 setl 12 r-0001");
  CHECK(mask_text("abcdefgh12") == "abcdefgh12");  // fewer than 6 digits
  CHECK(mask_text("") == "");

  const std::string raw = "refused\x01 card A12345678\r\n\tline two\x7f \xff end";
  CHECK(clean_foreign_text(raw) == "refused card A1*****78 line two \xEF\xBF\xBD end");
  const std::string longer = std::string(300, 'x') + "\xE4\xB8\xAD";
  const std::string cut = clean_foreign_text(longer, 200);
  CHECK(cut.size() <= 200);
  CHECK(cut.ends_with("\xE2\x80\xA6"));
  // A cut never splits a character.
  const std::string han = clean_foreign_text(std::string(100, 'a') + std::string(60, 'b') + "\xE4\xB8\xAD\xE4\xB8\xAD" +
                                             std::string(100, 'c'), 162);
  CHECK(han.size() <= 162);
  CHECK(json::parse(Json(han).dump(), "t").ok());

  RpcError e{1020, make_error(Reason::insurer_rejected, "insurer", "the insurer refused 1101 for 110101199003071234\x1b[0m"),
             Json{{"err_msg", "person 1100000012345678\n" + std::string(500, 'q')},
                  {"card_no", "E00000001"},
                  {"undo", {{"id_no", "110101199003071234"}}}}};
  mask_error(e);
  CHECK(e.error.message == "the insurer refused 1101 for 110101********1234[0m");
  CHECK(e.data["err_msg"].get<std::string>().rfind("person 11************78 qqq", 0) == 0);
  CHECK(e.data["err_msg"].get<std::string>().size() <= 200);
  CHECK(e.data["card_no"] == "E0*****01");
  CHECK(e.data["undo"]["id_no"] == "110101********1234");
}

TEST_CASE("a source's rate: a sliding window per source, one source never counts against another") {
  SourceRate rate(3, std::chrono::seconds(1), 2);
  const SystemTime t0{};
  CHECK(rate.take(t0, "uid:1"));
  CHECK(rate.take(t0 + 100ms, "uid:1"));
  CHECK(rate.take(t0 + 200ms, "uid:1"));
  CHECK_FALSE(rate.take(t0 + 300ms, "uid:1"));
  CHECK(rate.limited(t0 + 300ms, "uid:1"));
  CHECK(rate.retry_after(t0 + 300ms, "uid:1") == 700ms);
  CHECK(rate.take(t0 + 300ms, "uid:2"));  // another source
  CHECK(rate.take(t0 + 1000ms, "uid:1"));  // the first event left the window
  CHECK_FALSE(rate.take(t0 + 1050ms, "uid:1"));
  // Past max_sources, everything is forgotten at once (bounded memory).
  rate.note(t0 + 1060ms, "uid:3");
  CHECK(rate.take(t0 + 1060ms, "uid:1"));
}
