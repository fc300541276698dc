// The cashier API contract (docs/cashier-api.md) end to end: every
// method and error reason over the real socket of a real settled, with the
// real insurer-sim and virtual cards; framing, pipelining, idempotency.
#include "e2e_stack.hpp"
#include "protocol/cashier/version.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <regex>
#include <set>
#include <thread>
#include <tuple>

namespace settle::e2e {
namespace {

using settle::testing::amount_at;
using settle::testing::reason_of;
using namespace std::chrono_literals;

const Json& data_of(const Json& r) { return r["error"]["data"]; }

void check_error(const Json& r, const std::string& reason, const std::string& field = "") {
  INFO("answer: " << r.dump());
  REQUIRE(r.contains("error"));
  CHECK(reason_of(r) == reason);
  CHECK(r["error"]["code"].is_number_integer());
  CHECK(r["error"]["message"].is_string());
  if (!field.empty()) CHECK(data_of(r).value("field", "") == field);
}

TEST_CASE("engine.status answers before login; session.login/logout bind a connection") {
  Stack& s = stack();
  place_card(0, kMain);
  auto c = s.connect();
  const auto w01_present = [](const Json& st) {
    for (const auto& rd : st["readers"])
      if (rd["window"] == "W01") return rd["card_present"].get<bool>();
    return false;
  };
  // The reader watcher sees a card just placed a moment later (pcscd's event).
  const Json r = settle::testing::wait_status(*c, w01_present, 10s, "W01's card is not seen as present");
  CHECK(r["network"].is_string());
  CHECK(r["api_version"] == std::string(settle::cashier::api_version));
  for (const char* k : {"since", "pending_reversals", "pending_uploads", "in_doubt", "readers"}) CHECK(r.contains(k));

  check_error(c->call("card.read"), "UNAUTHENTICATED");
  check_error(c->call("session.logout"), "UNAUTHENTICATED");

  const Json in = c->login(Stack::cashier.name, Stack::cashier.password, "W01");
  REQUIRE_MESSAGE(in.contains("result"), in.dump());
  CHECK(in["result"]["operator"] == Stack::cashier.name);
  CHECK(in["result"]["role"] == "cashier");
  CHECK(in["result"]["window"] == "W01");

  const Json out = c->call("session.logout");
  REQUIRE_MESSAGE(out.contains("result"), out.dump());
  CHECK(out["result"] == Json::object());
  check_error(c->call("card.read"), "UNAUTHENTICATED");

  // A window that is not configured is a field error, not a failed login.
  check_error(c->login(Stack::cashier.name, Stack::cashier.password, "W77"), "INVALID_REQUEST", "window");
}

TEST_CASE("LOGIN_FAILED counts down, then LOCKED_OUT until an administrator unlocks, even with the right password") {
  Stack& s = stack();
  auto c = s.connect();
  const Json f1 = c->login("c_lock", "wrong-1", "W01");
  check_error(f1, "LOGIN_FAILED");
  CHECK(data_of(f1)["attempts_left"] == 2);
  const Json f2 = c->login("c_lock", "wrong-2", "W01");
  check_error(f2, "LOGIN_FAILED");
  CHECK(data_of(f2)["attempts_left"] == 1);
  const Json f3 = c->login("c_lock", "wrong-3", "W01");
  check_error(f3, "LOCKED_OUT");
  CHECK(data_of(f3)["until"].is_null());  // the default: until an administrator unlocks
  // Three failed logins close the connection; a new one finds the lock.
  CHECK(c->wait_closed(std::chrono::seconds(10)));
  auto c2 = s.connect();
  check_error(c2->login("c_lock", "Lockout-2026", "W01"), "LOCKED_OUT");
  // An unknown operator is answered like a wrong password.
  const Json u = c2->login("nobody", "x", "W01");
  check_error(u, "LOGIN_FAILED");
  CHECK(data_of(u)["attempts_left"] == 2);
  // The administrator unlocks over the socket while the daemon runs.
  auto adm = s.session(Stack::admin);
  const Json un = adm->call("operator.unlock", Json{{"operator", "c_lock"}});
  REQUIRE_MESSAGE(un.contains("result"), un.dump());
  CHECK(un["result"]["locked"] == false);
  auto c3 = s.connect();
  CHECK(c3->login("c_lock", "Lockout-2026", "W01").contains("result"));
}

TEST_CASE("roles: FORBIDDEN names the role; inpatient methods name what is wrong; uploads.flush answers the counts") {
  Stack& s = stack();
  auto aud = s.session(Stack::auditor);
  const Json f = aud->call("card.read");
  check_error(f, "FORBIDDEN");
  CHECK(data_of(f)["role"] == "auditor");
  check_error(aud->call("settle.commit", commit_params("forbidden-1", visit_lines())), "FORBIDDEN");
  check_error(aud->call("uploads.flush"), "FORBIDDEN");

  auto cash = s.session(Stack::cashier);
  check_error(cash->call("recon.run", Json{{"date", "2026-03-01"}}), "FORBIDDEN");
  check_error(cash->call("uploads.flush"), "FORBIDDEN");
  // The inpatient methods are served (tests/integration/daemon/inpatient_test.cpp): each names what is wrong.
  for (const auto& [method, params, reason] : std::vector<std::tuple<std::string, Json, std::string>>{
           {"inpatient.admit", Json{{"request_id", "adm-1"}, {"dept", "内科"}}, "INVALID_REQUEST"},
           {"inpatient.add_lines", Json{{"request_id", "adm-2"}, {"adm_id", "1"}, {"lines", visit_lines()}}, "INVALID_REQUEST"},
           {"inpatient.preview", Json{{"adm_id", "1"}}, "NOT_FOUND"},
           {"inpatient.discharge", Json{{"request_id", "adm-3"}, {"adm_id", "1"}}, "CARD_ABSENT"},
           {"inpatient.undo_discharge", Json{{"request_id", "adm-4"}, {"adm_id", "1"}}, "CARD_ABSENT"},
           {"inpatient.undo_admit", Json{{"request_id", "adm-5"}, {"adm_id", "99"}}, "NOT_FOUND"},
           {"inpatient.get", Json{{"adm_id", "99"}}, "NOT_FOUND"}}) {
    INFO(method);
    check_error(cash->call(method, params), reason);
  }
  auto sup = s.session(Stack::supervisor);
  // recon.run is served (tests/integration/daemon/recon_e2e_test.cpp): a day with nothing balances.
  const Json rs = sup->call("recon.run", Json{{"date", "2026-03-01"}});
  REQUIRE_MESSAGE(rs.contains("result"), rs.dump());
  CHECK(rs["result"]["balanced"] == true);
  const Json flushed = sup->call("uploads.flush");
  REQUIRE_MESSAGE(flushed.contains("result"), flushed.dump());
  CHECK(flushed["result"]["pending_uploads"] == 0);
  CHECK(flushed["result"]["network"] == "online");
  const Json ra = aud->call("recon.run", Json{{"date", "2026-03-01"}});
  REQUIRE_MESSAGE(ra.contains("result"), ra.dump());
  CHECK(ra["result"]["date"] == "2026-03-01");
}

TEST_CASE("card.read, person.query, account.history (NOT_SUPPORTED by the national profile); ID numbers masked") {
  Stack& s = stack();
  place_card(0, kMain);
  const PersonSpec p = who(kMain);
  auto c = s.session(Stack::cashier);
  const Json r = c->call("card.read", Json{{"timeout_ms", 5000}});
  REQUIRE_MESSAGE(r.contains("result"), r.dump());
  CHECK(r["result"]["card_no"] == p.card_no);
  CHECK(r["result"]["card_sn"] == p.card_sn);
  CHECK(r["result"]["psn_name"] == p.name);
  CHECK(r["result"]["id_no_masked"] == p.id_no.substr(0, 6) + "********" + p.id_no.substr(14));
  CHECK(r.dump().find(p.id_no) == std::string::npos);

  const Json q = c->call("person.query");
  REQUIRE_MESSAGE(q.contains("result"), q.dump());
  CHECK(q["result"]["psn_name"] == p.name);
  CHECK(q["result"]["insutype"] == p.insutype);
  CHECK(q["result"]["source"] == "insurer");
  CHECK(q["result"]["flags"] == Json::array());
  const std::string psn_no = q["result"]["psn_no"].get<std::string>();
  const auto at_insurer = s.sim_control("GET", "/persons/" + psn_no);
  REQUIRE(at_insurer.status == 200);
  CHECK(amount_at(q["result"], "balance") == amount_at(at_insurer.body, "balance"));
  CHECK(q.dump().find(p.id_no) == std::string::npos);
  check_error(c->call("person.query", Json{{"card_no", "Z99999999"}}), "NOT_FOUND", "card_no");

  const Json h = c->call("account.history", Json{{"from", "2020-01-01"}, {"to", "2100-01-01"}});
  if (national()) {
    // 9304 is the regional interface's extension: refused, naming the profile, nothing asked.
    check_error(h, "NOT_SUPPORTED", "insurer");
    CHECK(h["error"]["message"].get<std::string>().find("national") != std::string::npos);
  } else {
    REQUIRE_MESSAGE(h.contains("result"), h.dump());
    CHECK(amount_at(h["result"], "balance") == amount_at(q["result"], "balance"));
    CHECK(h["result"]["transactions"].is_array());
  }
  // The params are checked first, in both profiles.
  check_error(c->call("account.history", Json{{"from", "yesterday"}}), "INVALID_REQUEST", "from");
}

TEST_CASE("credential.id: the person by ID number (1101 by 02), one credential at a time, bad numbers named") {
  Stack& s = stack();
  place_card(0, kOther);
  const PersonSpec p = who(kOther);
  auto c = s.session(Stack::cashier);
  // A wrong check character, a wrong length, another window: refused before anything is asked.
  std::string wrong = p.id_no;
  wrong[17] = wrong[17] == '0' ? '1' : '0';
  check_error(c->call("credential.id", Json{{"id_no", wrong}}), "INVALID_REQUEST", "id_no");
  check_error(c->call("credential.id", Json{{"id_no", p.id_no.substr(0, 17)}}), "INVALID_REQUEST", "id_no");
  check_error(c->call("credential.id", Json{{"id_no", p.id_no}, {"window", "W02"}}), "INVALID_REQUEST", "window");

  // The card first: then the ID number replaces it (its PIN with it).
  const Json card = c->call("card.read", Json{{"timeout_ms", 5000}});
  REQUIRE_MESSAGE(card.contains("result"), card.dump());
  CHECK(card["result"]["cert_type"] == "card");
  const Json r = c->call("credential.id", Json{{"id_no", p.id_no}, {"window", "W01"}});
  REQUIRE_MESSAGE(r.contains("result"), r.dump());
  CHECK(r["result"]["cert_type"] == "id");
  CHECK(r["result"]["card_no"].is_null());
  CHECK(r["result"]["psn_name"] == p.name);
  CHECK(r["result"]["insutype"] == p.insutype);
  CHECK(r["result"]["acct_auth"] == false);
  CHECK(r["result"]["id_no_masked"] == p.id_no.substr(0, 6) + "********" + p.id_no.substr(14));
  CHECK(r.dump().find(p.id_no) == std::string::npos);
  // The calls that follow act on the ID number: person.query answers for it;
  // the PIN is the card's, and no card is held now.
  const Json q = c->call("person.query");
  REQUIRE_MESSAGE(q.contains("result"), q.dump());
  CHECK(q["result"]["psn_no"] == r["result"]["psn_no"]);
  check_error(c->call("card.verify_pin", Json{{"pin", p.pin}}), "CARD_ABSENT");
  // An ID number the insurer does not know: refused, and nothing is held after it.
  const std::string unknown = settle::testing::id_number("11010519700101999");
  const Json nobody = c->call("credential.id", Json{{"id_no", unknown}});
  check_error(nobody, "INSURER_REJECTED");
  check_error(c->call("person.query"), "CARD_ABSENT");
  // And the card again replaces the ID number.
  const Json back = c->call("card.read", Json{{"timeout_ms", 5000}});
  REQUIRE_MESSAGE(back.contains("result"), back.dump());
  CHECK(back["result"]["card_no"] == p.card_no);
}

TEST_CASE("a settlement by ID number: no card, never the account, the insurer's records agree") {
  Stack& s = stack();
  const PersonSpec p = who(kPinCard);
  auto c = s.session(Stack::cashier);
  const Json held = c->call("credential.id", Json{{"id_no", p.id_no}});
  REQUIRE_MESSAGE(held.contains("result"), held.dump());
  const Json st = commit(*c, "api-id-commit-1", visit_lines(), true);
  CHECK(st["state"] == "settled");
  CHECK(st["cert_type"] == "id");
  CHECK(st["cross_region"] == false);
  CHECK(amount_at(st, "account") == Amount{});  // by ID number never from the account
  CHECK(amount_at(st, "fund") > Amount{});
  const Json d = check_agrees_with_insurer(*c, st["setl_id"].get<std::string>());
  CHECK(d["cert_type"] == "id");
  CHECK(d.dump().find(p.id_no) == std::string::npos);
}

TEST_CASE("events.subscribe: card.removed and card.inserted from the virtual card") {
  Stack& s = stack();
  place_card(0, kMain);
  auto c = s.session(Stack::cashier);
  const Json sub = c->call("events.subscribe", Json{{"topics", {"card"}}});
  REQUIRE_MESSAGE(sub.contains("result"), sub.dump());
  auto other = s.session(Stack::cashier, "W02");  // not subscribed: hears nothing
  s.card(0)->remove(true);
  auto removed = c->wait_notification("card.removed", 20s);
  REQUIRE(removed.has_value());
  CHECK((*removed)["params"]["window"] == "W01");
  CHECK_FALSE(removed->contains("id"));
  s.card(0)->insert(true);
  auto inserted = c->wait_notification("card.inserted", 20s);
  REQUIRE(inserted.has_value());
  CHECK((*inserted)["params"]["window"] == "W01");
  // The unsubscribed connection still answers, and has no notification queued.
  REQUIRE(other->call("engine.status").contains("result"));
  CHECK_FALSE(other->wait_notification("card.removed", 200ms).has_value());
}

TEST_CASE("card errors: CARD_ABSENT, CARD_REMOVED, CARD_UNREADABLE, READER_UNAVAILABLE") {
  Stack& s = stack();
  s.drop_card(1);
  {
    auto c = s.session(Stack::cashier, "W02");
    check_error(c->call("card.read", Json{{"timeout_ms", 300}}), "CARD_ABSENT");
    check_error(c->call("settle.commit", commit_params("absent-1", visit_lines())), "CARD_ABSENT");
  }
  {
    auto c = s.session(Stack::cashier, "W09");
    check_error(c->call("card.read", Json{{"timeout_ms", 300}}), "READER_UNAVAILABLE");
  }
  {
    place_card(0, kMain);
    auto c = s.session(Stack::cashier);
    read_card(*c);
    // Pulled between operations: nothing is at the reader.
    s.card(0)->remove(true);
    check_error(c->call("card.verify_pin", Json{{"pin", "123456"}}), "CARD_ABSENT");
    s.card(0)->insert(true);
    // Pulled while the card is being read: each APDU answered a second late,
    // the card pulled well inside the read.
    REQUIRE(s.card(0)->command("delay 1000").rfind("ok", 0) == 0);
    const std::int64_t id = c->send("card.read", Json{{"timeout_ms", 0}});
    std::this_thread::sleep_for(1500ms);
    s.card(0)->remove(false);
    check_error(c->wait_id(id), "CARD_REMOVED");
    s.card(0)->command("delay 0");
    s.card(0)->insert(true);
  }
  {
    place_card(1, kOther, {"--malformed", "no-app"});
    auto c = s.session(Stack::cashier, "W02");
    check_error(c->call("card.read", Json{{"timeout_ms", 5000}}), "CARD_UNREADABLE");
    s.drop_card(1);
  }
}

TEST_CASE("card.verify_pin: PIN_WRONG with retries_left, then verified; PIN_BLOCKED") {
  Stack& s = stack();
  place_card(1, kPinCard, {"--tries", "3"});
  {
    auto c = s.session(Stack::cashier, "W02");
    check_error(c->call("card.verify_pin", Json{{"pin", "123456"}}), "CARD_ABSENT");  // not read yet
    read_card(*c);
    const Json w = c->call("card.verify_pin", Json{{"pin", "000000"}});
    check_error(w, "PIN_WRONG");
    CHECK(data_of(w)["retries_left"] == 2);
    CHECK(w.dump().find("000000") == std::string::npos);
    check_error(c->call("card.verify_pin", Json{{"pin", "12a4"}}), "INVALID_REQUEST", "pin");
    const Json ok = c->call("card.verify_pin", Json{{"pin", "123456"}});
    REQUIRE_MESSAGE(ok.contains("result"), ok.dump());
    CHECK(ok["result"]["verified"] == true);
  }
  place_card(1, kBlocked, {"--blocked"});
  {
    auto c = s.session(Stack::cashier, "W02");
    read_card(*c);
    check_error(c->call("card.verify_pin", Json{{"pin", "123456"}}), "PIN_BLOCKED");
  }
  s.drop_card(1);
}

TEST_CASE("params: INVALID_REQUEST names the field, INVALID_AMOUNT, LIMIT_EXCEEDED at 501 lines") {
  Stack& s = stack();
  place_card(0, kMain);
  auto c = s.session(Stack::cashier);
  read_card(*c);
  check_error(c->call("settle.preview", Json::object()), "INVALID_REQUEST", "lines");
  check_error(c->call("settle.preview", Json{{"lines", Json::array()}}), "INVALID_REQUEST", "lines");
  Json bad_class = visit_lines();
  bad_class[1]["class"] = "D";
  check_error(c->call("settle.preview", Json{{"lines", bad_class}}), "INVALID_REQUEST", "lines[1].class");
  check_error(c->call("settle.preview", Json{{"lines", visit_lines()}, {"use_acount", false}}), "INVALID_REQUEST",
              "use_acount");
  check_error(c->call("settle.commit", Json{{"lines", visit_lines()}}), "INVALID_REQUEST", "request_id");
  check_error(c->call("settle.get", Json{{"setl_id", 12}}), "INVALID_REQUEST", "setl_id");
  for (const Json& amount : {Json("1.234"), Json("-1.00"), Json("1e2"), Json("abc")}) {
    Json lines = visit_lines();
    lines[0]["amount"] = amount;
    INFO("amount " << amount.dump());
    check_error(c->call("settle.preview", Json{{"lines", lines}}), "INVALID_AMOUNT", "lines[0].amount");
  }
  Json many = Json::array();
  for (int i = 0; i < 501; ++i)
    many.push_back(Json{{"code", fmt::format("L{:04d}", i)}, {"name", "项目"}, {"class", "A"}, {"amount", "1.00"}});
  check_error(c->call("settle.preview", Json{{"lines", many}}), "LIMIT_EXCEEDED", "lines");
  check_error(c->call("settle.commit", commit_params("limit-501", many)), "LIMIT_EXCEEDED", "lines");
  many.erase(many.size() - 1);
  const Json ok500 = c->call("settle.preview", Json{{"lines", many}});
  REQUIRE_MESSAGE(ok500.contains("result"), ok500.dump().substr(0, 500));
  CHECK(amount_at(ok500["result"], "total") == settle::testing::fen(500 * 100));
}

TEST_CASE("settle.preview, commit, get, refund, CARD_MISMATCH, NOT_FOUND, INSURER_REJECTED") {
  Stack& s = stack();
  place_card(0, kMain);
  auto c = s.session(Stack::cashier);
  read_card(*c, "123456");
  const Json pv = c->call("settle.preview", Json{{"lines", visit_lines()}});
  REQUIRE_MESSAGE(pv.contains("result"), pv.dump());
  for (const char* k : {"total", "fund", "account", "cash", "fulamt_ownpay", "preselfpay", "inscp", "deductible_part",
                        "mode", "reasons"})
    CHECK_MESSAGE(pv["result"].contains(k), k);
  check_parts_add_up(pv["result"]);
  CHECK(amount_at(pv["result"], "total") == settle::testing::fen(16960));

  const Json done = commit(*c, "api-commit-1", visit_lines());
  CHECK(done["mode"] == "online");
  CHECK(done["state"] == "settled");
  CHECK(done["receipt_no"].is_string());
  CHECK(amount_at(done, "total") == amount_at(pv["result"], "total"));
  CHECK(amount_at(done, "fund") == amount_at(pv["result"], "fund"));
  CHECK(amount_at(done, "account") == amount_at(pv["result"], "account"));
  REQUIRE(done.contains("balance_after"));
  const std::string setl_id = done["setl_id"].get<std::string>();
  for (const char* k : {"total", "fund", "account", "cash", "balance_after"}) {
    INFO(k);
    CHECK(std::regex_match(done[k].get<std::string>(), std::regex(R"(\d+\.\d\d)")));
  }
  const Json detail = check_agrees_with_insurer(*c, setl_id);
  CHECK(detail["lines"].size() == 4);
  CHECK(detail["window"] == "W01");
  CHECK(detail["operator"] == Stack::cashier.name);

  // The insurer's balance is the answer's balance_after: account.history shows
  // it (regional; the national profile has no account history).
  const Json q = c->call("person.query");
  REQUIRE_MESSAGE(q.contains("result"), q.dump());
  const auto person = s.sim_control("GET", "/persons/" + q["result"]["psn_no"].get<std::string>());
  REQUIRE(person.status == 200);
  CHECK(amount_at(person.body, "balance") == amount_at(done, "balance_after"));
  const Json h = c->call("account.history");
  if (national()) {
    check_error(h, "NOT_SUPPORTED", "insurer");
  } else {
    REQUIRE_MESSAGE(h.contains("result"), h.dump());
    CHECK(amount_at(h["result"], "balance") == amount_at(done, "balance_after"));
  }

  check_error(c->call("settle.get", Json{{"setl_id", "999999"}}), "NOT_FOUND", "setl_id");
  check_error(c->call("settle.refund", Json{{"request_id", "api-refund-nf"}, {"setl_id", "999999"}}), "NOT_FOUND");

  // The auditor reads the same settlement.
  auto aud = s.session(Stack::auditor);
  const Json ag = aud->call("settle.get", Json{{"setl_id", setl_id}});
  REQUIRE_MESSAGE(ag.contains("result"), ag.dump());
  CHECK(ag["result"]["total"] == detail["total"]);

  // Another card at the window: CARD_MISMATCH, nothing refunded.
  place_card(0, kMismatch);
  auto c2 = s.session(Stack::cashier);
  read_card(*c2);
  check_error(c2->call("settle.refund", Json{{"request_id", "api-refund-mm"}, {"setl_id", setl_id}}), "CARD_MISMATCH");
  CHECK(check_agrees_with_insurer(*c2, setl_id)["refunds"].empty());

  // The original card: a refund of one line.
  place_card(0, kMain);
  auto c3 = s.session(Stack::cashier);
  read_card(*c3);
  const Json rf = c3->call("settle.refund", Json{{"request_id", "api-refund-1"}, {"setl_id", setl_id},
                                                 {"lines", Json::array({Json{{"code", "C0001"}, {"amount", "66.00"}}})}});
  REQUIRE_MESSAGE(rf.contains("result"), rf.dump());
  const Json& back = rf["result"];
  INFO("refund: " << back.dump());
  CHECK(back["setl_id"] == setl_id);
  CHECK(amount_at(back, "refund_total") == settle::testing::fen(6600));
  check_parts_add_up(back, "refund_total");
  CHECK(amount_at(back, "account") <= amount_at(done, "account"));
  if (national()) {
    // No 9301: the original undone (2208), the kept lines settled anew; the
    // money back is the net of the two, as the insurer holds them.
    CHECK(check_agrees_with_insurer(*c3, setl_id)["state"] == "undone");
    REQUIRE(back.contains("settlement"));
    check_parts_add_up(back["settlement"]);
    const std::string kept_id = back["settlement"]["setl_id"].get<std::string>();
    CHECK(kept_id != setl_id);
    const Json kept = check_agrees_with_insurer(*c3, kept_id);
    CHECK(kept["state"] == "settled");
    CHECK(kept["resettles_setl_id"] == setl_id);
    CHECK(kept["lines"].size() == 3);
    CHECK(amount_at(kept, "total") == amount_at(done, "total") - settle::testing::fen(6600));
    for (const char* part : {"fund", "account", "cash"}) {
      CAPTURE(part);
      CHECK(amount_at(done, part) - amount_at(kept, part) == amount_at(back, part));
    }
  } else {
    CHECK_FALSE(back.contains("settlement"));
    CHECK(check_agrees_with_insurer(*c3, setl_id)["state"] == "partly_refunded");
  }

  // The insurer answers an error to the visit's registration (2201; the
  // person's 1101 answer is fresh in the session): INSURER_REJECTED with its
  // infcode and err_msg, and no settlement at the insurer.
  REQUIRE(c3->call("person.query").contains("result"));
  s.set_faults({"error:count=1"});
  const Json rej = c3->call("settle.commit", commit_params("api-commit-rejected", visit_lines(), false));
  s.clear_faults();
  check_error(rej, "INSURER_REJECTED");
  INFO("rejected: " << rej.dump());
  REQUIRE(rej["error"].contains("data"));
  CHECK(data_of(rej).value("infcode", Json()) == -1);
  CHECK(data_of(rej).value("err_msg", Json()).is_string());
  CHECK(s.report("medins_setl_id=api-commit-rejected")["settlements"].empty());
  // Replayed: the same refusal, nothing sent again.
  CHECK(c3->call("settle.commit", commit_params("api-commit-rejected", visit_lines(), false)) ["error"] == rej["error"]);
}

TEST_CASE("INSURER_REJECTED on the person query (1101) carries infcode and err_msg") {
  Stack& s = stack();
  place_card(0, kMain);
  auto c = s.session(Stack::cashier);
  read_card(*c);
  s.set_faults({"error:count=1"});
  const Json rej = c->call("person.query");
  s.clear_faults();
  check_error(rej, "INSURER_REJECTED");
  INFO("rejected: " << rej.dump());
  REQUIRE(rej["error"].contains("data"));
  CHECK(data_of(rej).value("infcode", Json()) == -1);
  CHECK(data_of(rej).value("err_msg", Json()).is_string());
}

TEST_CASE("settle.list pages with a cursor through every settlement once") {
  Stack& s = stack();
  place_card(0, kMain);
  auto c = s.session(Stack::cashier);
  read_card(*c);
  for (int i = 0; i < 3; ++i) commit(*c, fmt::format("list-{}", i), visit_lines(), false);
  auto aud = s.session(Stack::auditor);
  const Json all = aud->call("settle.list", Json{{"from", "2020-01-01"}, {"to", "2100-01-01"}, {"limit", 500}});
  REQUIRE_MESSAGE(all.contains("result"), all.dump());
  const std::size_t total = all["result"]["settlements"].size();
  REQUIRE(total >= 3);
  std::set<std::string> seen;
  Json cursor = nullptr;
  int pages = 0;
  do {
    Json params{{"from", "2020-01-01"}, {"to", "2100-01-01"}, {"limit", 2}};
    if (!cursor.is_null()) params["cursor"] = cursor;
    const Json page = aud->call("settle.list", params);
    REQUIRE_MESSAGE(page.contains("result"), page.dump());
    CHECK(page["result"]["settlements"].size() <= 2);
    for (const auto& st : page["result"]["settlements"]) {
      CHECK(seen.insert(st["setl_id"].get<std::string>()).second);
      check_parts_add_up(st);
    }
    cursor = page["result"]["cursor"];
    REQUIRE(++pages <= static_cast<int>(total) + 2);
  } while (!cursor.is_null());
  CHECK(seen.size() == total);
  // Filters.
  const Json w02 = aud->call("settle.list", Json{{"from", "2020-01-01"}, {"to", "2100-01-01"}, {"window", "W02"}});
  REQUIRE(w02.contains("result"));
  for (const auto& st : w02["result"]["settlements"]) CHECK(st["window"] == "W02");
  const Json settled = aud->call("settle.list", Json{{"from", "2020-01-01"}, {"to", "2100-01-01"}, {"state", "settled"}});
  REQUIRE(settled.contains("result"));
  for (const auto& st : settled["result"]["settlements"]) CHECK(st["state"] == "settled");
  check_error(aud->call("settle.list", Json{{"from", "2020-01-01"}, {"to", "2100-01-01"}, {"state", "lost"}}),
              "INVALID_REQUEST", "state");
  check_error(aud->call("settle.list", Json{{"from", "2020-01-01"}}), "INVALID_REQUEST", "to");
}

TEST_CASE("framing: pipelined requests answered by id; bad lines answered, 10 in a row disconnect") {
  Stack& s = stack();
  place_card(0, kMain);
  auto c = s.session(Stack::cashier);
  // Pipelined: all sent before any answer is read.
  std::vector<std::pair<std::int64_t, std::string>> sent;
  for (int i = 0; i < 8; ++i) {
    const std::string bogus = fmt::format("{}", 900000 + i);
    sent.emplace_back(c->send("settle.get", Json{{"setl_id", bogus}}), bogus);
  }
  const std::int64_t status_id = c->send("engine.status");
  for (auto it = sent.rbegin(); it != sent.rend(); ++it) {
    const Json r = c->wait_id(it->first);
    check_error(r, "NOT_FOUND");
    CHECK(r["error"]["message"].get<std::string>().find(it->second) != std::string::npos);
  }
  CHECK(c->wait_id(status_id).contains("result"));
  // Ids are echoed exactly.
  c->send_line(R"({"jsonrpc":"2.0","id":"a-1","method":"engine.status","params":{}})");
  CHECK(c->wait_id("a-1").contains("result"));

  // Bad lines: each answered, the connection keeps working.
  c->send_line(std::string(70 * 1024, 'x'));
  Json r = c->next_response();
  check_error(r, "LIMIT_EXCEEDED");
  CHECK(r["id"].is_null());
  CHECK(data_of(r)["limit_bytes"] == 65536);
  c->send_line(R"({"jsonrpc":"2.0","id":5,"method":)");
  r = c->next_response();
  check_error(r, "INVALID_REQUEST");
  CHECK(r["error"]["code"] == -32700);
  CHECK(r["id"].is_null());
  c->send_line(R"({"jsonrpc":"1.0","id":6,"method":"engine.status"})");
  r = c->next_response();
  check_error(r, "INVALID_REQUEST");
  CHECK(r["error"]["code"] == -32600);
  c->send_line(R"({"jsonrpc":"2.0","id":7,"method":"no.such"})");
  r = c->wait_id(7);
  check_error(r, "INVALID_REQUEST", "method");
  CHECK(r["error"]["code"] == -32601);
  c->send_line(R"({"jsonrpc":"2.0","id":8,"method":"card.read","params":{"timeout_ms":"soon"}})");
  r = c->wait_id(8);
  check_error(r, "INVALID_REQUEST", "timeout_ms");
  CHECK(r["error"]["code"] == -32602);
  CHECK(c->call("engine.status").contains("result"));

  // Nine bad lines and a good one: still connected; then ten in a row: answered, then closed.
  for (int i = 0; i < 9; ++i) c->send_line("not json");
  for (int i = 0; i < 9; ++i) check_error(c->next_response(), "INVALID_REQUEST");
  CHECK(c->call("engine.status").contains("result"));
  for (int i = 0; i < 10; ++i) c->send_line("not json");
  for (int i = 0; i < 10; ++i) check_error(c->next_response(), "INVALID_REQUEST");
  CHECK(c->wait_closed(20s));
  // The daemon still serves others.
  auto d = s.connect();
  CHECK(d->call("engine.status").contains("result"));
}

TEST_CASE("idempotency: same request_id and params answer the first result, also after a restart") {
  Stack& s = stack();
  place_card(0, kIdem);
  auto c = s.session(Stack::cashier);
  read_card(*c, "123456");
  // "12.3" as a string, then 12.30 as a number: the same params.
  Json lines = Json::array({Json{{"code", "110200001"}, {"name", "诊查费"}, {"class", "A"}, {"amount", "12.3"}},
                            Json{{"code", "C0001"}, {"name", "自费"}, {"class", "C"}, {"amount", "20.00"}}});
  const Json first = commit(*c, "idem-1", lines);
  CHECK(amount_at(first, "total") == settle::testing::fen(3230));
  // (With the national profile the params carry the visit's facts, as commit_params() adds them.)
  c->send_line(R"({"jsonrpc":"2.0","id":"again","method":"settle.commit","params":{"request_id":"idem-1","lines":[)"
               R"({"code":"110200001","name":"诊查费","class":"A","amount":12.30},)"
               R"({"code":"C0001","name":"自费","class":"C","amount":"20"}],"use_account":true)" +
               (national() ? R"(,"visit":)" + visit_facts().dump() : std::string()) + "}}");
  const Json again = c->wait_id("again");
  REQUIRE_MESSAGE(again.contains("result"), again.dump());
  CHECK(again["result"] == first);
  // Different params under the same request_id.
  Json other = lines;
  other[0]["amount"] = "12.31";
  check_error(c->call("settle.commit", commit_params("idem-1", other)), "DUPLICATE_REQUEST_CONFLICT", "request_id");
  // The same request_id with another method is a conflict too.
  check_error(c->call("settle.refund", Json{{"request_id", "idem-1"}, {"setl_id", first["setl_id"]}}),
              "DUPLICATE_REQUEST_CONFLICT");
  // A refund replayed answers the same refund.
  const Json rf1 = c->call("settle.refund", Json{{"request_id", "idem-refund-1"}, {"setl_id", first["setl_id"]},
                                                 {"lines", Json::array({Json{{"code", "C0001"}, {"amount", "5"}}})}});
  REQUIRE_MESSAGE(rf1.contains("result"), rf1.dump());
  check_parts_add_up(rf1["result"], "refund_total");
  CHECK(amount_at(rf1["result"], "account") <= amount_at(first, "account"));
  // National: the refund's new settlement of the kept lines (12.30 and 15.00).
  CHECK(rf1["result"].contains("settlement") == national());

  // After a restart: the same answers, nothing sent to the insurer again.
  const Json before = s.report();
  s.restart_daemon();
  auto c2 = s.session(Stack::cashier);
  read_card(*c2, "123456");
  const Json replay = c2->call("settle.commit", commit_params("idem-1", lines));
  REQUIRE_MESSAGE(replay.contains("result"), replay.dump());
  CHECK(replay["result"] == first);
  const Json rf2 = c2->call("settle.refund", Json{{"request_id", "idem-refund-1"}, {"setl_id", first["setl_id"]},
                                                  {"lines", Json::array({Json{{"code", "C0001"}, {"amount", "5.00"}}})}});
  REQUIRE_MESSAGE(rf2.contains("result"), rf2.dump());
  CHECK(rf2["result"] == rf1["result"]);
  check_error(c2->call("settle.commit", commit_params("idem-1", other)), "DUPLICATE_REQUEST_CONFLICT", "request_id");
  const Json after = s.report();
  CHECK(after["settlements"].size() == before["settlements"].size());
  CHECK(after["refunds"].size() == before["refunds"].size());
  CHECK(after["totals"] == before["totals"]);
  CHECK(check_agrees_with_insurer(*c2, first["setl_id"].get<std::string>())["state"] ==
        (national() ? "undone" : "partly_refunded"));
  if (national()) {
    const Json kept = check_agrees_with_insurer(*c2, rf1["result"]["settlement"]["setl_id"].get<std::string>());
    CHECK(amount_at(kept, "total") == settle::testing::fen(2730));
  }

  // After kill -9 too.
  s.kill_daemon();
  s.start_daemon();
  auto c3 = s.session(Stack::cashier);
  read_card(*c3, "123456");
  const Json replay2 = c3->call("settle.commit", commit_params("idem-1", lines));
  REQUIRE_MESSAGE(replay2.contains("result"), replay2.dump());
  CHECK(replay2["result"] == first);
  CHECK(s.report()["totals"] == before["totals"]);
}

}  // namespace
}  // namespace settle::e2e
