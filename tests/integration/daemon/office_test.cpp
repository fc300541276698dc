// The insurance office's and the cashier's day end to end over the real
// socket: operators administered while a window keeps settling, a flood of
// bad logins from another user that cannot lock the cashier out, the audit
// trail of a scripted shift (every action, never a PIN), and the settlement
// sheet the daemon renders, printed by headless Chromium.
#include "tests/support/daemon_harness.hpp"
#include "tests/support/pdf_print.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <thread>

namespace settle::office_e2e {
namespace {

using settle::testing::Json;
using settle::testing::Operator;
using settle::testing::reason_of;
using settle::testing::result_of;
using settle::testing::RpcClient;
using settle::testing::Stack;
using Clock = std::chrono::steady_clock;

std::unique_ptr<Stack> g_stack;

Stack& stack() {
  if (!g_stack) {
    g_stack = std::make_unique<Stack>("daemon-office");
    g_stack->extra_config = R"(
[network]
probe_interval_ms = 200
failures_to_offline = 1
offline_deadline_ms = 1000
)";
    g_stack->start_all({settle::testing::person(1), settle::testing::person(2)});
    g_stack->insert_card(0, settle::testing::person(1));
    g_stack->insert_card(1, settle::testing::person(2));
  }
  REQUIRE_MESSAGE(g_stack->daemon_alive(), "settled exited: " << g_stack->daemon_log());
  return *g_stack;
}

Json lines() {
  return Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "25.00"}},
                      Json{{"code", "86900001"}, {"name", "阿莫西林胶囊"}, {"class", "B"}, {"amount", "48.60"}},
                      Json{{"code", "C0001"}, {"name", "自费营养品"}, {"class", "C"}, {"amount", "16.00"}}});
}

// A cashier at W01 with the card read; settles one visit per call.
struct Window {
  std::unique_ptr<RpcClient> c;
  int n = 0;
  explicit Window(Stack& s) : c(s.session(Stack::cashier)) { REQUIRE(c->call("card.read").contains("result")); }
  Json settle(const std::string& tag) {
    const Json r = c->call("settle.commit", Json{{"request_id", fmt::format("{}-{}", tag, ++n)}, {"lines", lines()}});
    REQUIRE_MESSAGE(r.contains("result"), r.dump());
    return r["result"];
  }
};

Json op_of(const Json& list, const std::string& name) {
  for (const auto& o : list["result"]["operators"])
    if (o["operator"] == name) return o;
  FAIL("operator " << name << " not listed: " << list.dump());
  return Json();
}

// Waits until audit.list (as `who`) holds entries satisfying `done`.
Json audit_until(RpcClient& who, const Json& params, const std::function<bool(const Json&)>& done) {
  const auto until = Clock::now() + std::chrono::seconds(10);
  Json last;
  while (Clock::now() < until) {
    last = who.call("audit.list", params);
    REQUIRE_MESSAGE(last.contains("result"), last.dump());
    if (done(last["result"]["entries"])) return last["result"]["entries"];
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  FAIL("the audit trail did not get there: " << last.dump());
  return Json();
}

}  // namespace

TEST_CASE("operators are added, locked, unlocked and changed over the socket while a window keeps settling") {
  Stack& s = stack();
  Window w(s);
  auto adm = s.session(Stack::admin);
  w.settle("ops");

  // Added while running; the first login must change the initial password.
  const Json add = adm->call("operator.add", Json{{"operator", "c002"}, {"role", "cashier"}, {"password", "First-Pw-002"}});
  REQUIRE_MESSAGE(add.contains("result"), add.dump());
  auto c2 = s.connect();
  const Json first = c2->login("c002", "First-Pw-002", "W02");
  CHECK(first["result"]["password_change_required"] == true);
  CHECK(reason_of(c2->call("card.read")) == "PASSWORD_CHANGE_REQUIRED");
  const Json changed = c2->call("session.change_password", Json{{"password", "First-Pw-002"}, {"new_password", "Own-Pw-0002"}});
  REQUIRE_MESSAGE(changed.contains("result"), changed.dump());
  w.settle("ops");

  // Locked by three wrong passwords; the window goes on; an unlock frees it.
  auto guess = s.connect();
  for (int i = 0; i < 2; ++i) CHECK(reason_of(guess->login("c002", "Wrong-" + std::to_string(i), "W02")) == "LOGIN_FAILED");
  const Json lock = guess->login("c002", "Wrong-9", "W02");
  CHECK(reason_of(lock) == "LOCKED_OUT");
  CHECK(lock["error"]["data"]["until"].is_null());
  CHECK(guess->wait_closed(std::chrono::seconds(10)));
  w.settle("ops");
  CHECK(op_of(adm->call("operator.list"), "c002")["locked"] == true);
  CHECK(reason_of(s.connect()->login("c002", "Own-Pw-0002", "W02")) == "LOCKED_OUT");
  CHECK(result_of(adm->call("operator.unlock", Json{{"operator", "c002"}}))["locked"] == false);
  auto c2b = s.connect();
  CHECK(c2b->login("c002", "Own-Pw-0002", "W02").contains("result"));

  // A new role ends the session; disabled, the operator cannot log in.
  CHECK(result_of(adm->call("operator.set_role", Json{{"operator", "c002"}, {"role", "supervisor"}}))["role"] ==
        "supervisor");
  const auto note = c2b->wait_notification("session.expired", std::chrono::seconds(10));
  REQUIRE(note.has_value());
  CHECK((*note)["params"]["reason"] == "operator.set_role");
  CHECK(reason_of(c2b->call("person.query")) == "UNAUTHENTICATED");
  CHECK(result_of(adm->call("operator.disable", Json{{"operator", "c002"}}))["disabled"] == true);
  CHECK(reason_of(s.connect()->login("c002", "Own-Pw-0002", "W02")) == "FORBIDDEN");
  w.settle("ops");

  // settlectl speaks to the running daemon as the administrator, and refuses
  // the ledger file while settled holds it.
  const auto listed = s.settlectl_as(Stack::admin, "operator list");
  CHECK_MESSAGE(listed.status == 0, listed.err);
  CHECK(listed.out.find("\"c002\"") != std::string::npos);
  const auto on_file = settle::testing::run_shell(
      fmt::format("{} operator unlock --ledger {} --name c002", SETTLE_SETTLECTL_BINARY,
                  (s.dir() / "data" / "ledger.db").string()),
      s.dir(), "settlectl-ledger");
  CHECK(on_file.status == 5);  // a local file in use (docs/operations.md, "Exit codes")
  CHECK(on_file.err.find("settled is running") != std::string::npos);
  // With --json the failure is a JSON object on stdout.
  const auto on_file_json = settle::testing::run_shell(
      fmt::format("{} operator unlock --json --ledger {} --name c002", SETTLE_SETTLECTL_BINARY,
                  (s.dir() / "data" / "ledger.db").string()),
      s.dir(), "settlectl-ledger-json");
  CHECK(on_file_json.status == 5);
  const auto error = settle::json::parse(on_file_json.out, "settlectl --json error");
  REQUIRE(error);
  CHECK((*error)["error"]["reason"] == "LOCAL_FILE");
  CHECK((*error)["error"]["field"] == "--ledger");
  CHECK((*error)["error"]["exit_code"] == 5);
  // Every one of these changes is in the audit trail, by the administrator.
  auto aud = s.session(Stack::auditor);
  const Json by_admin = audit_until(*aud, Json{{"operator", Stack::admin.name}}, [](const Json& e) {
    std::set<std::string> a;
    for (const auto& x : e) a.insert(x["action"].get<std::string>());
    return a.count("operator.add") && a.count("operator.unlock") && a.count("operator.set_role") &&
           a.count("operator.disable");
  });
  for (const auto& e : by_admin)
    if (e["action"].get<std::string>().rfind("operator.", 0) == 0) CHECK(e["object"] == "operator c002");
}

TEST_CASE("a flood of bad logins and idle connections from another user cannot lock the cashier out") {
  Stack& s = stack();
  if (::getuid() != 0) {
    MESSAGE("not root: the flood from another user id is not run");
    return;
  }
  int ready[2], hold[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(hold) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The attacker: user nobody, in the socket's group (it can reach the socket).
    ::close(ready[0]);
    ::close(hold[1]);
    if (::setgroups(0, nullptr) != 0 || ::setgid(0) != 0 || ::setuid(65534) != 0) ::_exit(90);
    int failed = 0, locked = 0, limited = 0;
    std::vector<std::unique_ptr<RpcClient>> idle;
    try {
      for (int round = 0; round < 4; ++round) {
        for (const char* name : {"c001", "s001", "a001", "adm1", "ghost"}) {
          auto c = std::make_unique<RpcClient>(s.socket_path());
          for (int i = 0; i < 3; ++i) {
            Json r;
            try {
              r = c->login(name, fmt::format("Guess-{}-{}", round, i), "W01");
            } catch (const std::exception&) {
              break;  // closed after its third failure
            }
            const std::string why = reason_of(r);
            failed += why == "LOGIN_FAILED";
            locked += why == "LOCKED_OUT";
            limited += why == "LIMIT_EXCEEDED";
          }
        }
      }
      for (int i = 0; i < 70; ++i) idle.push_back(std::make_unique<RpcClient>(s.socket_path()));
    } catch (const std::exception&) {
      ::_exit(91);
    }
    const std::string tally = fmt::format("{} {} {}\n", failed, locked, limited);
    if (::write(ready[1], tally.data(), tally.size()) < 0) ::_exit(92);
    char b;
    (void)::read(hold[0], &b, 1);  // keeps the idle connections until the parent is done
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(hold[0]);
  char buf[64] = {};
  const ssize_t n = ::read(ready[0], buf, sizeof buf - 1);
  REQUIRE(n > 0);
  int failed = 0, locked = 0, limited = 0;
  REQUIRE(std::sscanf(buf, "%d %d %d", &failed, &locked, &limited) == 3);
  INFO("attacker's answers: " << failed << " failed, " << locked << " locked, " << limited << " rate-limited");
  // The source was slowed: most guesses were refused unchecked.
  CHECK(limited > 0);
  CHECK(failed + locked <= 6);

  // The cashier, from her own terminal, logs in and settles while the
  // attacker still holds 70 idle connections.
  Window w(s);
  CHECK(w.settle("flood")["mode"] == "online");
  auto adm = s.session(Stack::admin);
  const Json list = adm->call("operator.list");
  for (const auto& o : list["result"]["operators"])
    for (const auto& src : o["sources"]) CHECK(src["source"] == "uid:65534");  // locks name the attacker only

  ::close(hold[1]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  // Clear what the flood left for the other cases.
  for (const auto& o : list["result"]["operators"])
    if (!o["sources"].empty()) (void)adm->call("operator.unlock", Json{{"operator", o["operator"]}});
}

TEST_CASE("the audit trail holds every action of a scripted shift, with window and object, and never a PIN") {
  Stack& s = stack();
  auto c = s.session(Stack::cashier);
  const auto started = Clock::now();
  (void)started;
  REQUIRE(c->call("card.read").contains("result"));
  CHECK(reason_of(c->call("card.verify_pin", Json{{"pin", "654321"}})) == "PIN_WRONG");
  REQUIRE(c->call("card.verify_pin", Json{{"pin", "123456"}}).contains("result"));
  REQUIRE(c->call("person.query").contains("result"));
  REQUIRE(c->call("account.history").contains("result"));
  REQUIRE(c->call("settle.preview", Json{{"lines", lines()}}).contains("result"));
  const Json a = result_of(c->call("settle.commit", Json{{"request_id", "shift-1"}, {"lines", lines()}}));
  const std::string setl = a["setl_id"].get<std::string>();
  REQUIRE(c->call("settle.get", Json{{"setl_id", setl}}).contains("result"));
  REQUIRE(c->call("settle.list", Json{{"from", "2000-01-01"}, {"to", "2099-12-31"}}).contains("result"));
  REQUIRE(c->call("settle.sheet", Json{{"setl_id", setl}}).contains("result"));
  const Json refund = result_of(c->call(
      "settle.refund", Json{{"request_id", "shift-r1"}, {"setl_id", setl},
                            {"lines", Json::array({Json{{"code", "C0001"}, {"amount", "16.00"}}})}}));
  const Json adm_stay = result_of(
      c->call("inpatient.admit", Json{{"request_id", "shift-adm"}, {"dept", "0301"}, {"diagnosis", "K35.8"}}));
  const std::string adm_id = adm_stay["adm_id"].get<std::string>();
  REQUIRE(c->call("inpatient.add_lines",
                  Json{{"request_id", "shift-lines"}, {"adm_id", adm_id},
                       {"lines", Json::array({Json{{"feedetl_sn", "1"}, {"code", "250101001"}, {"name", "住院床位费"},
                                                   {"class", "A"}, {"amount", "300.00"}}})}})
              .contains("result"));
  const Json dis = result_of(c->call("inpatient.discharge", Json{{"request_id", "shift-dis"}, {"adm_id", adm_id}}));
  auto sup = s.session(Stack::supervisor);
  REQUIRE(sup->call("uploads.flush").contains("result"));
  REQUIRE(sup->call("redlist.sync").contains("result"));
  // A wrong password at the cashier's name, from another connection.
  (void)s.connect()->login(Stack::cashier.name, "Not-Her-Pw-1", "W02");

  auto aud = s.session(Stack::auditor);
  const std::vector<std::string> wanted{"card.read",      "card.verify_pin",    "person.query",   "account.history",
                                        "settle.preview", "settle.commit",      "settle.get",     "settle.list",
                                        "settle.sheet",   "settle.refund",      "inpatient.admit", "inpatient.add_lines",
                                        "inpatient.discharge", "login_failed"};
  const Json mine = audit_until(*aud, Json{{"operator", Stack::cashier.name}, {"limit", 500}}, [&](const Json& e) {
    std::set<std::string> got;
    for (const auto& x : e) got.insert(x["action"].get<std::string>());
    for (const auto& w : wanted)
      if (!got.count(w)) return false;
    return true;
  });
  bool pin_wrong = false, pin_ok = false;
  for (const auto& e : mine) {
    const std::string action = e["action"].get<std::string>();
    // The shift's calls at W01 (the failed login came from W02).
    if (action.find('.') != std::string::npos && action != "session.login") CHECK(e["window"] == "W01");
    if (action == "settle.commit" && e["object"].get<std::string>().find("request_id shift-1") != std::string::npos) {
      CHECK(e["object"].get<std::string>().find("setl_id " + setl) != std::string::npos);
      CHECK(e["detail"].get<std::string>().find(a["total"].get<std::string>()) != std::string::npos);
    }
    if (action == "settle.refund" && e["outcome"] == "ok")
      CHECK(e["object"].get<std::string>().find("refund_id " + refund["refund_id"].get<std::string>()) !=
            std::string::npos);
    if (action == "inpatient.discharge" && e["outcome"] == "ok")
      CHECK(e["object"].get<std::string>().find("setl_id " + dis["setl_id"].get<std::string>()) != std::string::npos);
    if (action == "card.verify_pin") {
      pin_wrong |= e["outcome"] == "PIN_WRONG" && e["detail"].get<std::string>().find("tries left") != std::string::npos;
      pin_ok |= e["outcome"] == "ok";
    }
    if (action == "login_failed") CHECK(e["source"].get<std::string>().rfind("uid:", 0) == 0);
  }
  CHECK(pin_wrong);
  CHECK(pin_ok);
  const Json sup_entries =
      audit_until(*aud, Json{{"operator", Stack::supervisor.name}}, [](const Json& e) {
        std::set<std::string> got;
        for (const auto& x : e) got.insert(x["action"].get<std::string>());
        return got.count("uploads.flush") && got.count("redlist.sync");
      });
  CHECK(sup_entries.size() >= 2);

  // The whole trail, as the auditor exports it: no PIN, no password anywhere.
  const auto csv = settle::testing::run_shell(
      fmt::format("{} audit --csv --socket {} --operator {} --window W01 --password-file {}", SETTLE_SETTLECTL_BINARY,
                  s.socket_path(), Stack::auditor.name, (s.dir() / ("password-" + Stack::auditor.name)).string()),
      s.dir(), "settlectl-audit-csv");
  REQUIRE_MESSAGE(csv.status == 0, csv.err);
  CHECK(csv.out.rfind("\xEF\xBB\xBF" "audit_id,time,operator,window,source,action,object,outcome,detail\r\n", 0) == 0);
  CHECK(csv.out.find("settle.commit") != std::string::npos);
  const auto all = s.settlectl_as(Stack::auditor, "audit");
  REQUIRE(all.status == 0);
  for (const std::string& secret : {std::string("123456"), std::string("654321"), Stack::cashier.password,
                                    std::string("Not-Her-Pw-1"), std::string("First-Pw-002")}) {
    CHECK_MESSAGE(csv.out.find(secret) == std::string::npos, secret);
    CHECK_MESSAGE(all.out.find(secret) == std::string::npos, secret);
  }
  // A cashier may not read the trail; the refusal is in it, and so is a
  // failed login under a name that does not exist.
  CHECK(reason_of(c->call("audit.list")) == "FORBIDDEN");
  (void)s.connect()->login("nobody-x", "Whatever-1!", "W01");
  (void)audit_until(*aud, Json{{"action", "audit.list"}, {"operator", Stack::cashier.name}}, [](const Json& e) {
    for (const auto& x : e)
      if (x["outcome"] == "FORBIDDEN") return true;
    return false;
  });
  (void)audit_until(*aud, Json{{"action", "session.login"}, {"operator", "nobody-x"}}, [](const Json& e) {
    for (const auto& x : e)
      if (x["outcome"] == "LOGIN_FAILED") return true;
    return false;
  });
}

TEST_CASE("settle.sheet: the daemon's sheet of a real settlement, printed by headless Chromium") {
  Stack& s = stack();
  Window w(s);
  const Json r = w.settle("sheet");
  const std::string setl = r["setl_id"].get<std::string>();
  const Json got = result_of(w.c->call("settle.get", Json{{"setl_id", setl}}));
  const Json sheet = result_of(w.c->call("settle.sheet", Json{{"setl_id", setl}, {"paper", "A5"}}));
  CHECK(sheet["content_type"] == "text/html; charset=utf-8");
  const auto pdf = settle::testing::print_pdf(s.dir() / "sheets", "settlement-" + setl, sheet["html"].get<std::string>());
  const std::string text = settle::testing::pdf_text(pdf);
  INFO(text);
  CHECK(settle::testing::pdf_pages(settle::testing::pdf_info(pdf)) == 1);
  CHECK(settle::testing::has_text(text, "医疗保险结算单"));
  CHECK(settle::testing::has_text(text, got["receipt_no"].get<std::string>()));
  for (const char* key : {"total", "fund", "account", "cash"})
    CHECK_MESSAGE(settle::testing::has_amount(text, got[key].get<std::string>()), key);
  for (const auto& l : lines()) CHECK(settle::testing::has_text(text, l["name"].get<std::string>()));
  // settlectl writes the same sheet to a file for the terminal's printer.
  const auto file = s.dir() / "sheets" / ("settlectl-" + setl + ".html");
  const auto run = s.settlectl_as(Stack::cashier, fmt::format("sheet {} --out '{}'", setl, file.string()));
  CHECK_MESSAGE(run.status == 0, run.err);
  CHECK(settle::testing::slurp(file).find("医疗保险结算单") != std::string::npos);
  // Unknown settlements and refunds are named.
  CHECK(reason_of(w.c->call("settle.sheet", Json{{"setl_id", "99999"}})) == "NOT_FOUND");
  const Json bad_refund = w.c->call("settle.sheet", Json{{"setl_id", setl}, {"refund_id", "99999"}});
  CHECK(reason_of(bad_refund) == "NOT_FOUND");
  CHECK(bad_refund["error"]["data"]["field"] == "refund_id");
  CHECK(reason_of(w.c->call("settle.sheet", Json{{"setl_id", setl}, {"paper", "B5"}})) == "INVALID_REQUEST");
}

namespace {

// Sums of settlements or refunds as the close-out counts them.
struct Sums {
  std::int64_t count = 0;
  Amount total, fund, account, cash;
  void add(const Json& r, const char* total_key = "total") {
    ++count;
    total += settle::testing::amount_at(r, total_key);
    fund += settle::testing::amount_at(r, "fund");
    account += settle::testing::amount_at(r, "account");
    cash += settle::testing::amount_at(r, "cash");
  }
  void check(const Json& g) const {
    CHECK(g["count"] == count);
    CHECK(settle::testing::amount_at(g, "total") == total);
    CHECK(settle::testing::amount_at(g, "fund") == fund);
    CHECK(settle::testing::amount_at(g, "account") == account);
    CHECK(settle::testing::amount_at(g, "cash") == cash);
  }
};

}  // namespace

TEST_CASE("a shift's close-out is the sum of its settlements and refunds to the fen, is signed once, never changes; "
          "a late correction goes into the next one") {
  Stack& s = stack();
  // The cashier at window W02 (person 2's card), a shift of its own.
  auto c = s.session(Stack::cashier, "W02");
  auto sup = s.session(Stack::supervisor);
  auto aud = s.session(Stack::auditor);
  REQUIRE(c->call("card.read").contains("result"));
  // Whatever this window held before is closed first.
  (void)result_of(c->call("closeout.record", Json{{"request_id", "co-before"}}));
  CHECK(result_of(c->call("closeout.preview"))["items"].empty());

  Sums online, offline, refunds;
  std::vector<Json> made;
  for (int i = 0; i < 2; ++i) {
    const Json r = result_of(c->call("settle.commit", Json{{"request_id", fmt::format("co-on-{}", i)}, {"lines", lines()}}));
    online.add(r);
    made.push_back(r);
  }
  REQUIRE(c->call("card.verify_pin", Json{{"pin", "123456"}}).contains("result"));
  const Json with_account = result_of(c->call("settle.commit", Json{{"request_id", "co-acct"}, {"lines", lines()}}));
  CHECK(settle::testing::amount_at(with_account, "account") > settle::testing::fen(0));
  online.add(with_account);
  // The line goes down: one offline settlement.
  s.set_faults({"refuse"});
  const Json off = result_of(c->call("settle.commit", Json{{"request_id", "co-off"}, {"lines", lines()}}));
  CHECK(off["mode"] == "offline");
  offline.add(off);
  s.clear_faults();
  settle::testing::wait_status(
      *sup, [](const Json& j) { return j["network"] == "online" && j["pending_uploads"] == 0; },
      std::chrono::seconds(30), "the offline settlement was not uploaded");
  // A refund of the self-paid line of the first settlement.
  const Json refund = result_of(c->call(
      "settle.refund", Json{{"request_id", "co-ref"}, {"setl_id", made[0]["setl_id"]},
                            {"lines", Json::array({Json{{"code", "C0001"}, {"amount", "16.00"}}})}}));
  refunds.add(refund, "refund_total");

  Sums all = online;
  all.count += offline.count;
  all.total += offline.total;
  all.fund += offline.fund;
  all.account += offline.account;
  all.cash += offline.cash;
  const Json preview = result_of(c->call("closeout.preview"));
  CHECK(preview["closeout_id"].is_null());
  all.check(preview["settlements"]);
  online.check(preview["online"]);
  offline.check(preview["offline"]);
  refunds.check(preview["refunds"]);
  CHECK(settle::testing::amount_at(preview, "cash_taken") == all.cash);
  CHECK(settle::testing::amount_at(preview, "cash_paid_back") == refunds.cash);
  CHECK(settle::testing::amount_at(preview, "cash_to_hand_over") == all.cash - refunds.cash);
  CHECK(preview["items"].size() == 5);  // four settlements, one refund

  // Recorded: the same figures, a digest; the same request again is the same close-out.
  const Json rec = result_of(c->call("closeout.record", Json{{"request_id", "co-shift-1"}}));
  for (const char* k : {"settlements", "online", "offline", "refunds", "cash_to_hand_over", "items"})
    CHECK_MESSAGE(rec[k] == preview[k], k);
  CHECK(rec["digest"].get<std::string>().size() == 64);
  const std::string co_id = rec["closeout_id"].get<std::string>();
  CHECK(result_of(c->call("closeout.record", Json{{"request_id", "co-shift-1"}}))["closeout_id"] == co_id);
  CHECK(result_of(c->call("closeout.preview"))["items"].empty());

  // The ledger refuses to change it. (The daemon runs: the shell waits for
  // its write lock, else "database is locked" would be the refusal.)
  const auto tamper = settle::testing::run_shell(
      fmt::format("sqlite3 -cmd '.timeout 10000' '{}' \"UPDATE closeouts SET document = '{{}}' WHERE closeout_id = {}\"",
                  (s.dir() / "data" / "ledger.db").string(), co_id),
      s.dir(), "sqlite-tamper");
  CHECK(tamper.status != 0);
  CHECK_MESSAGE(tamper.err.find("never changes") != std::string::npos, tamper.err);

  // A correction: recorded by the supervisor, refused when the same person approves it.
  const std::string setl = made[1]["setl_id"].get<std::string>();
  const Json corr = result_of(sup->call(
      "correction.record",
      Json{{"target", "settlement"}, {"setl_id", setl}, {"action", "amounts"},
           {"fund", format_amount(settle::testing::amount_at(made[1], "fund") + settle::testing::fen(100))},
           {"account", format_amount(settle::testing::amount_at(made[1], "account"))},
           {"cash", format_amount(settle::testing::amount_at(made[1], "cash") - settle::testing::fen(100))},
           {"reason", "the insurer's record counts 1.00 more from the fund"}}));
  CHECK(corr["state"] == "recorded");
  const std::int64_t corr_id = std::stoll(corr["correction_id"].get<std::string>());
  CHECK(reason_of(sup->call("correction.approve", Json{{"correction_id", corr_id}})) == "INVALID_STATE");
  // Figures that do not add up to the total are refused at once.
  CHECK(reason_of(sup->call("correction.record",
                            Json{{"target", "settlement"}, {"setl_id", setl}, {"action", "amounts"}, {"fund", "0.00"},
                                 {"account", "0.00"}, {"cash", "0.01"}, {"reason", "x"}})) == "INVALID_STATE");
  // Until approved it changes nothing, and it waits on the work list.
  CHECK(result_of(c->call("closeout.preview"))["corrections"].empty());
  bool listed = false;
  const Json work = result_of(sup->call("work.list"));
  for (const auto& w : work["items"])
    listed |= w["kind"] == "correction_waiting" && w["correction_id"] == corr["correction_id"];
  CHECK_MESSAGE(listed, work.dump());
  CHECK(work["count"] == work["items"].size());
  const Json ok = result_of(aud->call("correction.approve", Json{{"correction_id", corr_id}}));
  CHECK(ok["state"] == "approved");
  const Json detail = result_of(sup->call("settle.get", Json{{"setl_id", setl}}));
  bool adjusted = false;
  for (const auto& a : detail["adjustments"]) adjusted |= a["kind"] == "correction";
  CHECK(adjusted);
  // The next close-out carries the correction; the recorded one is as it was.
  const Json next = result_of(c->call("closeout.preview"));
  REQUIRE(next["corrections"].size() == 1);
  CHECK(next["corrections"][0]["cash_delta"] == "-1.00");
  CHECK(next["corrections"][0]["fund_delta"] == "1.00");
  CHECK(next["settlements"]["count"] == 0);
  CHECK(next["cash_to_hand_over"] == "0.00");
  const Json again = result_of(c->call("closeout.get", Json{{"closeout_id", co_id}}));
  CHECK(again["digest"] == rec["digest"]);
  CHECK(again["items"] == rec["items"]);
  // The reconciliation counts the corrected figures for that settlement.
  const Json recon = result_of(sup->call("recon.run", Json{{"date", detail["clearing_date"]}}));
  bool seen = false;
  for (const auto& d : recon["differences"])
    if (d.contains("local") && d["local"].is_object() && d["local"].value("local_setl_id", "") == setl)
      seen = settle::testing::amount_at(d["local"], "cash") == settle::testing::amount_at(made[1], "cash") - settle::testing::fen(100);
  CHECK_MESSAGE(seen, recon.dump());

  // The printed close-out, its CSV, and who may see it.
  const Json sheet = result_of(c->call("closeout.sheet", Json{{"closeout_id", co_id}}));
  const auto pdf = settle::testing::print_pdf(s.dir() / "sheets", "closeout-" + co_id, sheet["html"].get<std::string>());
  const std::string text = settle::testing::pdf_text(pdf);
  INFO(text);
  CHECK(settle::testing::has_text(text, "收费员日结单"));
  CHECK(settle::testing::has_amount(text, rec["cash_to_hand_over"].get<std::string>()));
  CHECK(settle::testing::has_amount(text, rec["settlements"]["total"].get<std::string>()));
  const auto csv = settle::testing::run_shell(
      fmt::format("{} closeout get --id {} --csv --socket {} --operator {} --window W02 --password-file {}",
                  SETTLE_SETTLECTL_BINARY, co_id, s.socket_path(), Stack::cashier.name,
                  (s.dir() / ("password-" + Stack::cashier.name)).string()),
      s.dir(), "settlectl-closeout-csv");
  REQUIRE_MESSAGE(csv.status == 0, csv.err);
  CHECK(std::count(csv.out.begin(), csv.out.end(), '\n') == 6);  // header and five items
  bool sup_sees = false;
  const Json cos = result_of(sup->call("closeout.list", Json{{"operator", Stack::cashier.name}}));
  for (const auto& x : cos["closeouts"]) sup_sees |= x["closeout_id"] == co_id;
  CHECK_MESSAGE(sup_sees, cos.dump());
  // A day's report of today holds the shift's items too.
  const Json day = result_of(c->call("closeout.preview", Json{{"date", detail["clearing_date"]}}));
  CHECK(day["settlements"]["count"].get<std::int64_t>() >= 4);
}

TEST_CASE("corrections of parked items and the work list: events, two people, what to do") {
  Stack& s = stack();
  auto sup = s.session(Stack::supervisor);
  auto aud = s.session(Stack::auditor);
  REQUIRE(sup->call("events.subscribe", Json{{"topics", Json::array({"work"})}}).contains("result"));
  CHECK(reason_of(s.session(Stack::cashier)->call("events.subscribe", Json{{"topics", Json::array({"work"})}})) ==
        "FORBIDDEN");
  // A correction of something that is not parked, or does not exist, is named.
  CHECK(reason_of(sup->call("correction.record", Json{{"target", "outbox"}, {"item_id", 99999}, {"action", "resolve"},
                                                      {"reason", "x"}})) == "NOT_FOUND");
  CHECK(reason_of(sup->call("correction.record", Json{{"target", "settlement"}, {"setl_id", "1"}, {"action", "undo"},
                                                      {"reason", "not rejected"}})) == "INVALID_STATE");
  const Json bad = sup->call("correction.record", Json{{"target", "settlement"}, {"setl_id", "1"}, {"action", "resolve"},
                                                      {"reason", "x"}});
  CHECK(reason_of(bad) == "INVALID_REQUEST");
  CHECK(bad["error"]["data"]["field"] == "action");
  // A recorded correction is announced to the office's consoles.
  const Json first = result_of(sup->call("settle.get", Json{{"setl_id", "1"}}));
  const Json corr = result_of(sup->call(
      "correction.record", Json{{"target", "settlement"}, {"setl_id", "1"}, {"action", "amounts"}, {"fund", first["total"]},
                                {"account", "0.00"}, {"cash", "0.00"}, {"reason", "the fund paid it all"}}));
  const std::int64_t corr_id = std::stoll(corr["correction_id"].get<std::string>());
  const auto note = sup->wait_notification("work.added", std::chrono::seconds(10));
  REQUIRE(note.has_value());
  CHECK((*note)["params"]["kind"] == "correction_waiting");
  // Refused by a second person: nothing changes, and it leaves the work list.
  const Json refused = result_of(aud->call("correction.refuse", Json{{"correction_id", corr_id}, {"note", "no evidence"}}));
  CHECK(refused["state"] == "refused");
  for (const auto& w : result_of(sup->call("work.list"))["items"]) CHECK(w["correction_id"] != corr["correction_id"]);
  CHECK(reason_of(aud->call("correction.approve", Json{{"correction_id", corr_id}})) == "INVALID_STATE");
  // A refused correction left the settlement as it was.
  bool adjusted = false;
  for (const auto& a : result_of(sup->call("settle.get", Json{{"setl_id", "1"}}))["adjustments"])
    adjusted |= a["kind"] == "correction";
  CHECK_FALSE(adjusted);
  // Cashiers may not record or decide corrections.
  auto c = s.session(Stack::cashier);
  CHECK(reason_of(c->call("correction.list")) == "FORBIDDEN");
  CHECK(reason_of(c->call("work.list")) == "FORBIDDEN");
}

TEST_CASE("the insurer's system failing (an error page on the registration) settles offline with that reason; "
          "person.query offline says the balance is unknown") {
  Stack& s = stack();
  Window w(s);
  auto sup = s.session(Stack::supervisor);
  s.set_faults({"http_error_before:infno=2201,status=503"});
  const auto t0 = Clock::now();
  const Json r = w.settle("sys-err");
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  s.clear_faults();
  CHECK(r["mode"] == "offline");
  bool reason = false;
  for (const auto& x : r["reasons"]) reason |= x == "offline_insurer_error";
  CHECK_MESSAGE(reason, r.dump());
  CHECK(settle::testing::amount_at(r, "account") == settle::testing::fen(0));
  CHECK_MESSAGE(took < 3000, "the window waited " << took << " ms");
  // The line itself stayed online: the next charge goes to the insurer.
  CHECK(w.settle("sys-err-after")["mode"] == "online");
  // The sheet tells the patient why.
  const Json sheet = result_of(w.c->call("settle.sheet", Json{{"setl_id", r["setl_id"]}}));
  CHECK(sheet["html"].get<std::string>().find("医保中心系统故障") != std::string::npos);
  settle::testing::wait_status(
      *sup, [](const Json& j) { return j["pending_uploads"] == 0; }, std::chrono::seconds(30), "not uploaded");
}

}  // namespace settle::office_e2e
