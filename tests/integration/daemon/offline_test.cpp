// The offline fallback end to end (settlement-rules.md "Offline", "Lost
// replies"): the real daemon, the real insurer-sim with its faults switched at
// run time, virtual cards. Each fault type takes the line offline within the
// deadline; stored settlements drain to the insurer exactly once; limits; an
// accepted offline settlement is re-settled (退费重结) like an online one; the
// patient notices while the line is down, and the office's edit after SIGHUP.
#include "tests/support/daemon_harness.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <memory>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <vector>

namespace settle::offline_e2e {
namespace {

using settle::Amount;
using settle::testing::amount_at;
using settle::testing::fen;
using settle::testing::effective_at_insurer;
using settle::testing::engine_status;
using settle::testing::Json;
using settle::testing::PersonSpec;
using settle::testing::reason_of;
using settle::testing::result_of;
using settle::testing::RpcClient;
using settle::testing::Stack;
using settle::testing::wait_status;
using Clock = std::chrono::steady_clock;

constexpr int kDeadlineMs = 1000;  // [network] offline_deadline_ms below
constexpr int kPersons = 6;        // persons 1..6 are on the insurer's red list from the start

std::unique_ptr<Stack> g_stack;
int g_card = 0;

// The patient notices' file of the stack (a copy of the example, edited and
// reloaded by a case below).
std::filesystem::path notices_file() { return g_stack->dir() / "notices.toml"; }

std::string base_config() {
  return fmt::format(R"(
[network]
probe_interval_ms = 300
failures_to_offline = 1
offline_deadline_ms = {}
[reversal]
retry_initial_ms = 200
retry_max_ms = 1000
[notices]
file = "{}"
)",
                     kDeadlineMs, notices_file().string());
}

Stack& stack() {
  if (!g_stack) {
    g_stack = std::make_unique<Stack>("daemon-offline");
    std::filesystem::copy_file(SETTLE_SOURCE_DIR "/docs/examples/notices.toml", notices_file(),
                               std::filesystem::copy_options::overwrite_existing);
    g_stack->extra_config = base_config();
    std::vector<PersonSpec> persons;
    for (int n = 1; n <= kPersons; ++n) persons.push_back(settle::testing::person(n));
    g_stack->start_all(persons);
  }
  REQUIRE_MESSAGE(g_stack->daemon_alive(), "settled exited: " << g_stack->daemon_log());
  return *g_stack;
}

void place(int n) {
  if (g_card != n) {
    stack().insert_card(0, settle::testing::person(n));
    g_card = n;
  }
}

Json wait_drained(RpcClient& c, std::chrono::milliseconds deadline = std::chrono::seconds(60)) {
  return wait_status(
      c,
      [](const Json& st) {
        return st["network"] == "online" && st["pending_uploads"] == 0 && st["pending_reversals"] == 0;
      },
      deadline, "not drained");
}

void sync_redlist() {
  auto sup = stack().session(Stack::supervisor);
  const Json r = sup->call("redlist.sync", Json{{"full", true}});
  REQUIRE_MESSAGE(r.contains("result"), r.dump());
  CHECK(r["result"]["entries"].get<std::int64_t>() >= kPersons);
}

Json lines() {
  return Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "125.00"}},
                      Json{{"code", "86900001"}, {"name", "阿莫西林胶囊"}, {"class", "B"}, {"amount", "48.60"}},
                      Json{{"code", "C0001"}, {"name", "自费营养品"}, {"class", "C"}, {"amount", "16.00"}}});
}

struct Timed {
  Json response;
  std::int64_t ms = 0;
};

Timed commit(RpcClient& c, const std::string& request_id) {
  const auto t0 = Clock::now();
  Json r = c.call("settle.commit", Json{{"request_id", request_id}, {"lines", lines()}});
  return Timed{std::move(r), std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()};
}

// Commits `n` charges on `c` while the line is down: each is stored offline
// (offline_pending), request ids "<prefix>-0" ... "<prefix>-<n-1>".
void store_offline(RpcClient& c, const std::string& prefix, int n) {
  for (int k = 0; k < n; ++k) {
    const Timed t = commit(c, fmt::format("{}-{}", prefix, k));
    REQUIRE_MESSAGE(t.response.contains("result"), t.response.dump());
    REQUIRE(t.response["result"]["state"] == "offline_pending");
  }
}

bool has_reason(const Json& result, const std::string& reason) {
  for (const auto& r : result["reasons"])
    if (r == reason) return true;
  return false;
}


// The next network.changed notification saying `network` (earlier ones are skipped).
bool wait_network_note(RpcClient& c, const std::string& network, std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  while (Clock::now() < until) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    const auto note = c.wait_notification("network.changed", left);
    if (!note) return false;
    if ((*note)["params"]["network"] == network) return true;
  }
  return false;
}

Json get(RpcClient& c, const std::string& setl_id) {
  const Json r = c.call("settle.get", Json{{"setl_id", setl_id}});
  REQUIRE_MESSAGE(r.contains("result"), r.dump());
  return r["result"];
}

TEST_CASE("each fault type takes the line offline within the deadline; stored settlements drain exactly once") {
  Stack& s = stack();
  sync_redlist();
  place(1);
  auto c = s.session(Stack::cashier);
  auto watch = s.session(Stack::supervisor);
  REQUIRE(watch->call("events.subscribe", Json{{"topics", Json::array({"network"})}}).contains("result"));
  REQUIRE(c->call("card.read").contains("result"));
  REQUIRE(c->call("card.verify_pin", Json{{"pin", "123456"}}).contains("result"));
  // An online settlement first: refunds of it are refused while offline.
  const Timed online = commit(*c, "off-online-1");
  REQUIRE_MESSAGE(online.response.contains("result"), online.response.dump());
  REQUIRE(online.response["result"]["mode"] == "online");
  const std::string online_id = online.response["result"]["setl_id"].get<std::string>();

  // Each fault, with the sign-in probe failing too so that the line stays
  // offline until the faults are cleared.
  const std::tuple<const char*, const char*, const char*> faults[] = {
      {"refuse", "refuse", "offline_network_down"},
      {"stall", "stall", "offline_network_down"},
      {"lost_reply:count=1,infno=2207", "drop_request:infno=9001", "offline_in_doubt"}};
  int round = 0;
  std::string first_offline_id;
  for (const auto& [fault, probe_fault, reason] : faults) {
    ++round;
    INFO("fault " << fault);
    wait_drained(*c);
    s.set_faults({fault, probe_fault});
    const std::string rid = fmt::format("off-{}-a", round);
    const Timed first = commit(*c, rid);
    REQUIRE_MESSAGE(first.response.contains("result"), first.response.dump());
    const Json& a = first.response["result"];
    CHECK(a["mode"] == "offline");
    CHECK(a["state"] == "offline_pending");
    CHECK(has_reason(a, reason));
    CHECK(amount_at(a, "account") == fen(0));
    CHECK(amount_at(a, "fund") + amount_at(a, "cash") == amount_at(a, "total"));
    CHECK(amount_at(a, "fund") > fen(0));  // on the red list: the fund's estimate
    // One wait on the dead line at most (plus the machine's scheduling).
    CHECK_MESSAGE(first.ms < kDeadlineMs + 1500, "the first offline commit took " << first.ms << " ms");
    CHECK(wait_network_note(*watch, "offline", std::chrono::seconds(5)));
    CHECK(engine_status(*c)["network"] == "offline");
    if (round == 1) first_offline_id = a["setl_id"].get<std::string>();

    // While offline nobody waits on the line.
    const Timed second = commit(*c, fmt::format("off-{}-b", round));
    REQUIRE_MESSAGE(second.response.contains("result"), second.response.dump());
    CHECK(has_reason(second.response["result"], "offline_network_down"));
    CHECK_MESSAGE(second.ms < 500, "an offline commit took " << second.ms << " ms");
    const Json q = c->call("person.query");
    REQUIRE_MESSAGE(q.contains("result"), q.dump());
    CHECK(q["result"]["source"] == "redlist");
    // Offline the balance is unknown, not zero.
    CHECK(q["result"]["balance"].is_null());
    CHECK(q["result"]["balance_known"] == false);
    // The line wins over the settlement's state (cashier API: OFFLINE_REFUND_FORBIDDEN before NOT_REFUNDABLE_YET).
    CHECK(reason_of(c->call("settle.refund", Json{{"request_id", fmt::format("off-{}-r1", round)},
                                                  {"setl_id", a["setl_id"]}})) == "OFFLINE_REFUND_FORBIDDEN");
    CHECK(reason_of(c->call("settle.refund", Json{{"request_id", fmt::format("off-{}-r2", round)},
                                                  {"setl_id", online_id},
                                                  {"lines", Json::array({Json{{"code", "C0001"}, {"amount", "1.00"}}})}})) ==
          "OFFLINE_REFUND_FORBIDDEN");
    CHECK(engine_status(*c)["pending_uploads"].get<std::int64_t>() >= 2);

    s.clear_faults();
    wait_drained(*c);
    CHECK(wait_network_note(*watch, "online", std::chrono::seconds(5)));
    for (const auto& id : {a["setl_id"], second.response["result"]["setl_id"]}) {
      const Json d = get(*c, id.get<std::string>());
      CHECK(d["state"] == "offline_accepted");
      CHECK_FALSE(d["insurer"]["setl_id"].is_null());
    }
    // Exactly one effective charge per request_id at the insurer.
    CHECK(effective_at_insurer(stack(), rid) == 1);
    CHECK(effective_at_insurer(stack(), fmt::format("off-{}-b", round)) == 1);
    // The same request_id again: the first answer, nothing more.
    const Timed again = commit(*c, rid);
    REQUIRE(again.response.contains("result"));
    CHECK(again.response["result"]["setl_id"] == a["setl_id"]);
    CHECK(effective_at_insurer(stack(), rid) == 1);
  }
  // The lost reply's 2207 was reversed at the insurer.
  const Json rep = s.report("medins_setl_id=off-3-a");
  int reversed = 0;
  for (const auto& st : rep["settlements"])
    if (st["origin"] == "online" && st["state"] == "reversed") ++reversed;
  CHECK(reversed == 1);
  // An offline settlement once accepted is refunded online like any other.
  const Json refund = c->call("settle.refund", Json{{"request_id", "off-1-refund"}, {"setl_id", first_offline_id}});
  REQUIRE_MESSAGE(refund.contains("result"), refund.dump());
  CHECK(get(*c, first_offline_id)["state"] == "refunded");
}

TEST_CASE("an accepted offline settlement is re-settled with the account (退费重结): undone at the insurer, settled again") {
  Stack& s = stack();
  sync_redlist();
  place(5);
  auto c = s.session(Stack::cashier);
  wait_drained(*c);
  REQUIRE(c->call("card.read").contains("result"));  // no PIN: the account is not used
  s.set_faults({"refuse"});
  const Timed off = commit(*c, "off-resettle-1");
  REQUIRE_MESSAGE(off.response.contains("result"), off.response.dump());
  const Json& a = off.response["result"];
  REQUIRE(a["state"] == "offline_pending");
  CHECK(amount_at(a, "account") == fen(0));
  const std::string orig = a["setl_id"].get<std::string>();

  // The line back: the upload is accepted, with the visit the insurer opened for it.
  s.clear_faults();
  wait_drained(*c);
  const Json accepted = get(*c, orig);
  REQUIRE(accepted["state"] == "offline_accepted");
  REQUIRE(accepted["insurer"]["setl_id"].is_string());
  const std::string insurer_orig = accepted["insurer"]["setl_id"].get<std::string>();
  Json at_insurer;
  const Json before = s.report("setl_id=" + insurer_orig);  // named: the loop reads into it
  for (const auto& st : before["settlements"]) at_insurer = st;
  REQUIRE_MESSAGE(at_insurer.is_object(), "the insurer has no settlement " << insurer_orig);
  CHECK(at_insurer["origin"] == "offline_upload");
  CHECK(at_insurer["state"] == "effective");
  CHECK_FALSE(at_insurer["mdtrt_id"].get<std::string>().empty());
  CHECK(accepted["insurer"]["mdtrt_id"] == at_insurer["mdtrt_id"]);
  const Amount cash_paid = amount_at(at_insurer, "psn_cash_pay");  // the insurer's figure, which the undo gives back

  // Re-settled with the personal account once the PIN is verified.
  const Json v = c->call("card.verify_pin", Json{{"pin", "123456"}});
  REQUIRE_MESSAGE(v.contains("result"), v.dump());
  const Json rs = c->call("settle.resettle", Json{{"request_id", "off-resettle-2"}, {"setl_id", orig}});
  REQUIRE_MESSAGE(rs.contains("result"), rs.dump());
  const Json& undo = rs["result"]["undo"];
  const Json& again = rs["result"]["settlement"];
  CHECK(undo["setl_id"] == orig);
  CHECK(amount_at(undo, "refund_total") == amount_at(a, "total"));
  CHECK(amount_at(undo, "cash") == cash_paid);
  CHECK(amount_at(again, "total") == amount_at(a, "total"));
  CHECK(again["mode"] == "online");
  CHECK(again["state"] == "settled");
  CHECK(amount_at(again, "account") > fen(0));
  CHECK(amount_at(again, "fund") + amount_at(again, "account") + amount_at(again, "cash") == amount_at(again, "total"));
  CHECK(amount_at(rs["result"], "cash_back") == cash_paid - amount_at(again, "cash"));
  const std::string fresh = again["setl_id"].get<std::string>();

  // The insurer's books: the offline settlement undone by a 2208, the new one in force.
  const Json rep = s.report();
  Json old_row, new_row;
  std::size_t undos = 0;
  const Json fresh_detail = get(*c, fresh);
  REQUIRE(fresh_detail["insurer"]["setl_id"].is_string());
  for (const auto& st : rep["settlements"]) {
    if (st["setl_id"] == insurer_orig) old_row = st;
    if (st["setl_id"] == fresh_detail["insurer"]["setl_id"]) new_row = st;
  }
  for (const auto& r : rep["refunds"])
    if (r["setl_id"] == insurer_orig && r["kind"] == "undo" && r["state"] == "effective") {
      ++undos;
      CHECK(amount_at(r, "total") == amount_at(a, "total"));
    }
  REQUIRE(old_row.is_object());
  REQUIRE(new_row.is_object());
  CHECK(old_row["state"] == "undone");
  CHECK(undos == 1);
  CHECK(new_row["state"] == "effective");
  CHECK(new_row["origin"] == "online");
  CHECK(amount_at(new_row, "medfee_sumamt") == amount_at(again, "total"));
  CHECK(amount_at(new_row, "fund_pay_sumamt") == amount_at(again, "fund"));
  CHECK(amount_at(new_row, "acct_pay") == amount_at(again, "account"));
  CHECK(amount_at(new_row, "psn_cash_pay") == amount_at(again, "cash"));
  CHECK(effective_at_insurer(s, "off-resettle-1") == 0);
  CHECK(effective_at_insurer(s, "off-resettle-2") == 1);

  // The ledger: the original undone (its undo recorded), the new one settled and linked to it.
  const Json od = get(*c, orig);
  CHECK(od["state"] == "undone");
  REQUIRE(od["refunds"].size() == 1);
  CHECK(amount_at(od["refunds"][0], "refund_total") == amount_at(a, "total"));
  CHECK(fresh_detail["state"] == "settled");
  CHECK(fresh_detail["resettles_setl_id"] == orig);
  CHECK(fresh_detail["insurer"]["mdtrt_id"] == new_row["mdtrt_id"]);
}

TEST_CASE("a person not on the red list settles offline as self-pay") {
  Stack& s = stack();
  auto c = s.session(Stack::cashier);
  wait_drained(*c);
  PersonSpec late = settle::testing::person(40);
  s.add_person(late);  // known to the insurer, not on the daemon's copy of the list
  s.insert_card(0, late);
  g_card = 40;
  REQUIRE(c->call("card.read").contains("result"));
  s.set_faults({"refuse"});
  const Timed t = commit(*c, "off-late-1");
  REQUIRE_MESSAGE(t.response.contains("result"), t.response.dump());
  const Json& a = t.response["result"];
  CHECK(has_reason(a, "not_on_redlist"));
  CHECK(amount_at(a, "fund") == fen(0));
  CHECK(amount_at(a, "cash") == amount_at(a, "total"));
  s.clear_faults();
  // settlectl uploads flush: forwards it now, progress on stderr, the counts left as JSON.
  const settle::testing::ProgramRun ctl = s.settlectl_as(Stack::supervisor, "uploads flush");
  INFO("stdout: " << ctl.out << "\nstderr: " << ctl.err);
  CHECK(ctl.status == 0);
  CHECK(ctl.err.find("uploads: 100% (") != std::string::npos);  // the bar ends full
  const auto answer = settle::json::parse(ctl.out, "settlectl output");
  REQUIRE(answer);
  CHECK((*answer)["pending_uploads"] == 0);
  CHECK((*answer)["network"] == "online");
  wait_drained(*c);
  const Json d = get(*c, a["setl_id"].get<std::string>());
  CHECK(d["state"] == "offline_accepted");
  // The insurer pays its part after all: the difference is an adjustment, reported.
  REQUIRE(d["adjustments"].size() == 1);
  CHECK(amount_at(d["adjustments"][0], "insurer_fund") > fen(0));
  CHECK(effective_at_insurer(stack(), "off-late-1") == 1);
}

TEST_CASE("each offline limit makes the settlement self-pay with its reason") {
  Stack& s = stack();
  place(2);
  s.set_faults({"refuse"});
  const std::pair<const char*, const char*> cases[] = {
      {"per_settlement_fund_max = \"0.01\"\n", "offline_limit_per_settlement"},
      {"outstanding_count_max = 0\n", "offline_limit_count"},
      {"outstanding_fund_max = \"0.01\"\n", "offline_limit_total"},
      {"max_age_s = 1\n", "offline_limit_age"},
  };
  int i = 0;
  for (const auto& [limit, reason] : cases) {
    INFO("limit " << limit);
    s.stop_daemon();
    s.extra_config = base_config() + "[offline]\n" + limit;
    s.start_daemon();
    auto c = s.session(Stack::cashier);
    REQUIRE(c->call("card.read").contains("result"));
    if (std::string(reason) == "offline_limit_age") {
      // Something stored and older than the limit.
      const Timed older = commit(*c, "off-limit-age-0");
      REQUIRE(older.response.contains("result"));
      std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    }
    const Timed t = commit(*c, fmt::format("off-limit-{}", ++i));
    REQUIRE_MESSAGE(t.response.contains("result"), t.response.dump());
    const Json& a = t.response["result"];
    CHECK(a["mode"] == "offline");
    CHECK(has_reason(a, "offline_limit"));
    CHECK(has_reason(a, reason));
    CHECK(amount_at(a, "fund") == fen(0));
    CHECK(amount_at(a, "cash") == amount_at(a, "total"));
  }
  s.stop_daemon();
  s.extra_config = base_config();
  s.start_daemon();
  s.clear_faults();
  auto c = s.session(Stack::cashier);
  wait_drained(*c);
  for (int k = 1; k <= i; ++k) CHECK(effective_at_insurer(stack(), fmt::format("off-limit-{}", k)) == 1);
}

TEST_CASE("a drain cut by the insurer failing again and by SIGKILL resumes without duplicates") {
  Stack& s = stack();
  place(3);
  auto c = s.session(Stack::cashier);
  wait_drained(*c);
  REQUIRE(c->call("card.read").contains("result"));
  s.set_faults({"refuse"});
  constexpr int kStored = 1100;  // three 9302 batches of at most 500
  store_offline(*c, "off-drain", kStored);
  CHECK(engine_status(*c)["pending_uploads"].get<std::int64_t>() >= kStored);
  // Back, but the first upload's reply is lost and the second is refused.
  s.set_faults({"lost_reply:count=1,infno=9302", "error:count=1,infno=9302"});
  wait_status(*c, [](const Json& st) { return st["pending_uploads"].get<std::int64_t>() < kStored; },
              std::chrono::seconds(30), "nothing uploaded");
  s.kill_daemon();
  s.start_daemon();
  s.clear_faults();
  c = s.session(Stack::cashier);
  wait_drained(*c);
  const Json rep = s.report();
  std::map<std::string, int> effective;
  std::vector<int> order;  // as the insurer numbered them on arrival
  for (const auto& st : rep["settlements"]) {
    if (st["state"] == "effective") ++effective[st["medins_setl_id"].get<std::string>()];
    const std::string local = st["local_id"].get<std::string>();
    if (local.rfind("off-drain-", 0) == 0) order.push_back(std::stoi(local.substr(10)));
  }
  for (int k = 0; k < kStored; ++k) {
    const std::string rid = fmt::format("off-drain-{}", k);
    INFO(rid);
    CHECK(effective[rid] == 1);
  }
  // Through the lost reply, the refused batch, the kill and the restart, the
  // settlements reached the insurer in the order they were made.
  REQUIRE(order.size() == static_cast<std::size_t>(kStored));
  for (int k = 0; k < kStored; ++k) {
    INFO("position " << k);
    REQUIRE(order[static_cast<std::size_t>(k)] == k);
  }
  const Json list = c->call("settle.list", Json{{"from", "2000-01-01"}, {"to", "2100-01-01"}, {"state", "offline_pending"}});
  REQUIRE(list.contains("result"));
  CHECK(list["result"]["settlements"].empty());
}

TEST_CASE("one person's offline settlements reach the insurer in the order they were made, in several batches") {
  Stack& s = stack();
  place(4);
  auto c = s.session(Stack::cashier);
  wait_drained(*c);
  const std::size_t log_from = s.daemon_log().size();
  REQUIRE(c->call("card.read").contains("result"));
  s.set_faults({"refuse"});
  constexpr int kStored = 1100;  // three 9302 batches of at most 500
  store_offline(*c, "off-order", kStored);
  s.clear_faults();
  wait_drained(*c, std::chrono::seconds(120));
  // The insurer numbers its settlements as they arrive: ordered by its ids,
  // the uploads are this person's settlements in the order they were made.
  const Json rep = s.report();
  std::vector<int> order;
  std::set<std::string> persons;
  for (const auto& st : rep["settlements"]) {
    const std::string local = st["local_id"].get<std::string>();
    if (local.rfind("off-order-", 0) != 0) continue;
    CHECK(st["origin"] == "offline_upload");
    CHECK(st["state"] == "effective");
    persons.insert(st["psn_no"].get<std::string>());
    order.push_back(std::stoi(local.substr(10)));
  }
  CHECK(persons.size() == 1);
  REQUIRE(order.size() == static_cast<std::size_t>(kStored));
  for (int k = 0; k < kStored; ++k) {
    INFO("position " << k);
    REQUIRE(order[static_cast<std::size_t>(k)] == k);
  }
  // More than one batch, none larger than the drain's 500.
  const std::string log = s.daemon_log().substr(log_from);
  int batches = 0;
  for (std::size_t at = log.find("offline settlements forwarded"); at != std::string::npos;
       at = log.find("offline settlements forwarded", at + 1)) {
    const std::size_t line = log.rfind("uploads: ", at);
    REQUIRE(line != std::string::npos);
    const int n = std::stoi(log.substr(line + 9, at - line - 9));
    CHECK(n <= 500);
    ++batches;
  }
  CHECK(batches >= 3);
}

// Every insurer call answered just under the deadline: the calls of one
// cashier call share one budget, so the commit is answered offline within it
// instead of online after three or four deadlines' worth of waiting.
TEST_CASE("a slow insurer: one cashier call's insurer calls share one budget") {
  Stack& s = stack();
  auto c = s.session(Stack::cashier);
  wait_drained(*c);
  place(2);
  REQUIRE(c->call("card.read").contains("result"));
  // Signed in, and the person's 1101 answer fresh at the window.
  REQUIRE(c->call("person.query").contains("result"));
  const int each_ms = kDeadlineMs * 9 / 10;
  s.set_faults({fmt::format("delay:ms={},infno=2201", each_ms), fmt::format("delay:ms={},infno=2204", each_ms),
                fmt::format("delay:ms={},infno=2207", each_ms)});
  const Timed t = commit(*c, "off-slow-1");
  s.clear_faults();
  REQUIRE_MESSAGE(t.response.contains("result"), t.response.dump());
  // 2201, 2204 and 2207 at 900 ms each would take 2.7 s; the budget is
  // 1,000 ms for the insurer and 500 ms for the offline commit (plus the
  // machine's scheduling).
  CHECK_MESSAGE(t.ms < 3 * each_ms - 500, "the commit took " << t.ms << " ms");
  CHECK(t.response["result"]["mode"] == "offline");
  wait_drained(*c);
  CHECK(effective_at_insurer(s, "off-slow-1") == 1);
}

// The outage records (docs/outages.md): the line's outage opened when it goes
// offline and ended when the stored work is through, with that work counted;
// a note of who was told; a run killed without a clean stop found at the next
// start as an outage of its own, from its last sign of life.
TEST_CASE("each outage is on record: the line's with its offline work, a kill's at the next start") {
  Stack& s = stack();
  place(4);
  auto c = s.session(Stack::cashier);
  auto office = s.session(Stack::supervisor);
  wait_drained(*c);
  auto outages = [&](const std::string& kind) {
    const Json r = office->call("outage.list", Json{{"from", "2000-01-01"}, {"to", "2100-01-01"}, {"kind", kind}});
    REQUIRE_MESSAGE(r.contains("result"), r.dump());
    return r["result"]["outages"];
  };
  // A cashier does not read them.
  CHECK(reason_of(c->call("outage.list", Json::object())) == "FORBIDDEN");
  const std::size_t lines_before = outages("line").size();
  for (const auto& o : outages("line")) CHECK(o["open"] == false);  // every earlier case ended its outage

  REQUIRE(c->call("card.read").contains("result"));
  s.set_faults({"refuse", "refuse"});
  const Timed first = commit(*c, "off-outage-1");
  REQUIRE_MESSAGE(first.response.contains("result"), first.response.dump());
  REQUIRE(first.response["result"]["mode"] == "offline");
  REQUIRE(commit(*c, "off-outage-2").response.contains("result"));
  Json open_line;
  wait_status(
      *office,
      [&](const Json&) {
        const Json l = outages("line");
        if (l.size() != lines_before + 1 || l[0]["open"] != true) return false;
        open_line = l[0];
        return true;
      },
      std::chrono::seconds(10), "no open line outage");
  CHECK(open_line["ended_at"].is_null());
  CHECK(open_line["cause"].get<std::string>().find("unreachable") != std::string::npos);
  const std::int64_t id = open_line["outage_id"].get<std::int64_t>();
  Json got = office->call("outage.get", Json{{"outage_id", id}});
  REQUIRE_MESSAGE(got.contains("result"), got.dump());
  CHECK(got["result"]["figures"]["offline_settlements"] == 2);
  CHECK(got["result"]["figures"]["uploads"]["waiting"] == 2);
  const Amount total = amount_at(first.response["result"], "total");
  CHECK(amount_at(got["result"]["figures"], "offline_total") == total + total);

  // Who was told, in the record and the audit trail.
  const Json note = office->call("outage.note", Json{{"outage_id", id}, {"target", "信息科"}, {"detail", "电话 8801"}});
  REQUIRE_MESSAGE(note.contains("result"), note.dump());
  CHECK(reason_of(office->call("outage.note", Json{{"outage_id", id + 1000}, {"target", "x"}})) == "NOT_FOUND");

  s.clear_faults();
  wait_drained(*c);
  wait_status(
      *office, [&](const Json&) { return outages("line")[0]["open"] == false; }, std::chrono::seconds(10),
      "the line's outage did not end");
  got = office->call("outage.get", Json{{"outage_id", id}});
  REQUIRE(got.contains("result"));
  const Json& g = got["result"];
  CHECK(g["figures"]["uploads"]["done"] == 2);
  CHECK(g["figures"]["uploads"]["waiting"] == 0);
  CHECK(g["ended_at"].get<std::string>() >= g["started_at"].get<std::string>());  // whole seconds
  REQUIRE(g["notes"].size() == 1);
  CHECK(g["notes"][0]["target"] == "信息科");
  CHECK(g["notes"][0]["by"] == Stack::supervisor.name);
  // The office's export: one CSV row per outage with its figures and notes.
  const auto exported = s.settlectl_as(Stack::supervisor, "outage export --from 2000-01-01 --to 2100-01-01 --kind line");
  REQUIRE_MESSAGE(exported.status == 0, exported.err);
  const Json rows = Json::parse(exported.out)["outages"];
  REQUIRE(rows.size() == lines_before + 1);
  CHECK(rows[0]["notes"][0]["target"] == "信息科");
  const auto shown = s.settlectl_as(Stack::supervisor, fmt::format("outage show --id {}", id));
  REQUIRE_MESSAGE(shown.status == 0, shown.err);
  CHECK(Json::parse(shown.out)["figures"]["uploads"]["done"] == 2);

  // An outage only people saw, recorded afterwards by the office.
  const Json net = office->call("outage.record", Json{{"kind", "network"},
                                                      {"cause", "交换机故障"},
                                                      {"started_at", "2026-01-05T09:10:00+08:00"},
                                                      {"ended_at", "2026-01-05T09:40:00+08:00"},
                                                      {"note", "纸质台账"}});
  REQUIRE_MESSAGE(net.contains("result"), net.dump());
  CHECK(net["result"]["kind"] == "network");
  CHECK(net["result"]["duration_s"] == 1800);
  const Json net_got = office->call("outage.get", Json{{"outage_id", net["result"]["outage_id"]}});
  REQUIRE(net_got.contains("result"));
  CHECK(net_got["result"]["notes"][0]["by"] == Stack::supervisor.name);
  CHECK(reason_of(office->call("outage.record", Json{{"kind", "network"}, {"cause", "x"},
                                                     {"started_at", "2026-01-05T10:00:00+08:00"},
                                                     {"ended_at", "2026-01-05T09:00:00+08:00"}})) == "INVALID_REQUEST");
  CHECK(reason_of(office->call("outage.record", Json{{"kind", "crash"}, {"cause", "x"},
                                                     {"started_at", "2026-01-05T09:00:00+08:00"},
                                                     {"ended_at", "2026-01-05T10:00:00+08:00"}})) == "INVALID_REQUEST");
  CHECK(reason_of(c->call("outage.record", Json{{"kind", "network"}, {"cause", "x"},
                                                {"started_at", "2026-01-05T09:00:00+08:00"},
                                                {"ended_at", "2026-01-05T10:00:00+08:00"}})) == "FORBIDDEN");

  // Killed: the next start records the run's end as a crash outage, over by
  // the time the daemon serves again.
  const std::size_t crashes_before = outages("crash").size();
  s.kill_daemon();
  s.start_daemon();
  office = s.session(Stack::supervisor);
  const Json crashes = outages("crash");
  REQUIRE(crashes.size() == crashes_before + 1);
  CHECK(crashes[0]["open"] == false);
  CHECK(crashes[0]["ended_at"].get<std::string>() >= crashes[0]["started_at"].get<std::string>());
  // A clean stop and start adds none.
  s.stop_daemon();
  s.start_daemon();
  office = s.session(Stack::supervisor);
  CHECK(outages("crash").size() == crashes_before + 1);
}

std::vector<std::string> notice_ids(const Json& answer) {
  std::vector<std::string> out;
  for (const auto& n : answer["notices"]) out.push_back(n["id"].get<std::string>());
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

TEST_CASE("the patient notices: the offline ones while the line is down, the office's edit after SIGHUP") {
  Stack& s = stack();
  place(5);
  auto c = s.session(Stack::cashier);
  wait_drained(*c);
  const std::filesystem::path file = notices_file();
  Json r = result_of(c->call("notice.get"));
  CHECK(r["state"] == "online");
  CHECK(r["source"] == file.string());
  CHECK(notice_ids(r) == std::vector<std::string>{"consult-desk"});

  // The line down: the current state's notices are the offline ones.
  REQUIRE(c->call("card.read").contains("result"));
  s.set_faults({"refuse"});
  const Timed off = commit(*c, "off-notice-1");
  REQUIRE_MESSAGE(off.response.contains("result"), off.response.dump());
  REQUIRE(off.response["result"]["mode"] == "offline");
  r = result_of(c->call("notice.get"));
  CHECK(r["state"] == "offline");
  CHECK(r["line"] == "offline");
  for (const char* id : {"account-unavailable", "fund-estimate", "refund-needs-line", "resettle-later", "consult-desk"})
    CHECK_MESSAGE(contains(notice_ids(r), id), id << " is not answered offline");
  // The page to print, and the one notice for a refused refund; every role reads them.
  auto admin = s.session(Stack::admin);
  r = result_of(admin->call("notice.get", Json{{"format", "html"}, {"paper", "A5"}}));
  const std::string html = r["html"].get<std::string>();
  CHECK(html.find("size: A5") != std::string::npos);
  CHECK(html.find("个人账户暂不能使用") != std::string::npos);
  r = result_of(c->call("notice.get", Json{{"reason", "OFFLINE_REFUND_FORBIDDEN"}}));
  CHECK(notice_ids(r) == std::vector<std::string>{"refund-needs-line"});
  CHECK(reason_of(c->call("notice.get", Json{{"id", "no-such"}})) == "NOT_FOUND");
  CHECK(reason_of(c->call("notice.get", Json{{"state", "down"}})) == "INVALID_REQUEST");
  const auto shown = s.settlectl_as(Stack::cashier, "notice show --state offline");
  REQUIRE_MESSAGE(shown.status == 0, shown.err);
  CHECK(contains(notice_ids(Json::parse(shown.out)), "resettle-later"));

  // The office edits the file (markup in it is text); SIGHUP reads it again.
  std::ofstream(file, std::ios::trunc) << R"([[notice]]
id = "desk-moved"
title = "医保咨询台已移至二楼 <b>"
body = "请到门诊二楼医保咨询台。"
when = ["offline"]
)";
  s.reload_daemon();
  wait_status(
      *c, [&](const Json&) { return notice_ids(result_of(c->call("notice.get"))) == std::vector<std::string>{"desk-moved"}; },
      std::chrono::seconds(10), "the edited notices are not in force after SIGHUP");
  r = result_of(c->call("notice.get", Json{{"format", "html"}}));
  CHECK(r["html"].get<std::string>().find("医保咨询台已移至二楼 &lt;b&gt;") != std::string::npos);

  // A bad file on reload: the texts in force stay, the log says why.
  std::ofstream(file, std::ios::trunc) << "[[notice]]\nid = \"x\"\ntitle = \"T\"\nbody = \"B\"\nwhen = [\"ofline\"]\n";
  s.reload_daemon();
  wait_status(
      *c, [&](const Json&) { return s.daemon_log().find("the patient notices from") != std::string::npos; },
      std::chrono::seconds(10), "the refused reload is not in the log");
  const std::string log = s.daemon_log();
  CHECK(log.find("notice[1] \"x\".when: \"ofline\"") != std::string::npos);
  CHECK(notice_ids(result_of(c->call("notice.get"))) == std::vector<std::string>{"desk-moved"});

  // The example back, the line back.
  std::filesystem::copy_file(SETTLE_SOURCE_DIR "/docs/examples/notices.toml", file,
                             std::filesystem::copy_options::overwrite_existing);
  s.reload_daemon();
  s.clear_faults();
  wait_drained(*c);
  wait_status(
      *c, [&](const Json&) { return contains(notice_ids(result_of(c->call("notice.get", Json{{"state", "offline"}}))), "fund-estimate"); },
      std::chrono::seconds(10), "the example notices are not back");
}

}  // namespace
}  // namespace settle::offline_e2e
