// The daemon's insurer gateway against the real simulator process: many
// first calls sharing one slow sign-in (one 9001, every call answered; each
// waiter within its own deadline), HTTP error pages (502/504) met by
// money-moving calls, queries and reversals, and what the ledger keeps of
// each kind of call.
#include "tests/integration/insurer/sim_harness.hpp"

#include "offline/ledger.hpp"
#include "offline/ledger_ops.hpp"
#include "offline/msgid.hpp"
#include "tests/offline/test_dir.hpp"
#include "tools/settled/config.hpp"
#include "tools/settled/gateway.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

using namespace settle;
using namespace settle::testing;
using daemon::CallResult;
using daemon::CallSpec;
namespace asio = boost::asio;

namespace {

using Clock = std::chrono::steady_clock;

// The card serial the simulator harness gives a card number (sim_harness.cpp).
std::string card_sn_for(const std::string& card_no) {
  std::string sn;
  for (char c : card_no) sn += fmt::format("{:02x}", static_cast<unsigned char>(c));
  sn.resize(32, '0');
  return sn;
}

std::int64_t by_infno(const nlohmann::json& counters, const char* infno) {
  const auto& by = counters.at("by_infno");
  return by.contains(infno) ? by.at(infno).get<std::int64_t>() : 0;
}

nlohmann::json settlement_by_msgid(const nlohmann::json& report, const std::string& msgid) {
  for (const auto& s : report.at("settlements"))
    if (s.at("msgid") == msgid) return s;
  return nullptr;
}

// A simulator, a ledger and a gateway on one io_context, as the daemon wires them.
struct Stack {
  explicit Stack(const std::string& name, std::vector<std::string> faults = {})
      : dir(name), sim(dir.path() / "sim", SimOptions{std::move(faults)}) {
    auto led = ledger::Ledger::open(dir.file("ledger.db"));
    REQUIRE_MESSAGE(led.ok(), led.error().message);
    ledger = std::move(*led);
    auto a = ledger::MsgidAllocator::create(institution, std::nullopt);
    REQUIRE(a.ok());
    msgids.emplace(std::move(*a));
    config.institution.code = institution;
    config.institution.name = "Test Hospital";
    config.institution.area = "110105";
    config.institution.insurer_area = "110105";
    auto c = insurer::Client::create(ioc.get_executor(), sim.client_config());
    REQUIRE_MESSAGE(c.ok(), c.error().message);
    client = std::move(*c);
    gateway = std::make_unique<daemon::InsurerGateway>(ioc.get_executor(), client, *ledger, *msgids, config,
                                                       [](settle::LineOutcome, std::int64_t) {});
  }
  ~Stack() {
    gateway.reset();
    if (client) client->close();
  }

  // Runs the calls at once, each started `stagger_ms` after the one before;
  // returns each result with its time from its own start.
  struct Timed {
    CallResult result;
    std::int64_t elapsed_ms = 0;
  };
  std::vector<Timed> run(const std::vector<CallSpec>& specs, int stagger_ms = 0) {
    std::vector<Timed> out(specs.size());
    std::size_t done = 0;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      asio::co_spawn(
          ioc,
          [this, &specs, &out, &done, i, stagger_ms]() -> asio::awaitable<void> {
            if (stagger_ms > 0 && i > 0) {
              asio::steady_timer t(ioc, std::chrono::milliseconds(stagger_ms * static_cast<int>(i)));
              co_await t.async_wait(asio::use_awaitable);
            }
            const auto start = Clock::now();
            CallSpec spec = specs[i];
            out[i].result = co_await gateway->call(std::move(spec));
            out[i].elapsed_ms =
                std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
            if (++done == specs.size()) ioc.stop();
          },
          asio::detached);
    }
    ioc.restart();
    ioc.run_for(std::chrono::seconds(60));
    REQUIRE_MESSAGE(done == specs.size(), "calls still running after 60 s");
    return out;
  }

  CallResult run_one(const CallSpec& spec) { return run({spec}).front().result; }

  test::TestDir dir;
  SimProcess sim;
  std::unique_ptr<ledger::Ledger> ledger;
  std::optional<ledger::MsgidAllocator> msgids;
  daemon::Config config;
  asio::io_context ioc;
  std::shared_ptr<insurer::Client> client;
  std::unique_ptr<daemon::InsurerGateway> gateway;
};

CallSpec person_query(const std::string& card_no, std::optional<std::uint32_t> timeout_ms) {
  insurer::PersonInfo::Input in;
  in.mdtrt_cert_type = std::string(insurer::cert_type_card);
  in.mdtrt_cert_no = card_no;
  in.card_sn = card_sn_for(card_no);
  CallSpec spec;
  spec.infno = std::string(insurer::PersonInfo::infno);
  spec.input = in.encode();
  spec.timeout_ms = timeout_ms;
  return spec;
}

std::string describe(const CallResult& r) {
  return fmt::format("{} {}: {}{}", r.infno, insurer::outcome_class_name(r.kind), r.detail,
                     r.response ? fmt::format(" (infcode {}: {})", r.response->infcode, r.response->err_msg) : "");
}

}  // namespace

TEST_CASE("sign-in: concurrent first calls on a fresh gateway share one slow 9001 and all succeed") {
  // The sign-in takes 800 ms; every call arrives while it is under way.
  Stack s("gateway-signin", {"delay:ms=800,infno=9001"});
  s.sim.add_person("C00000001", "100.00");
  constexpr int kCalls = 16;
  for (const std::optional<std::uint32_t> timeout : {std::optional<std::uint32_t>(10'000),
                                                    std::optional<std::uint32_t>()}) {
    CAPTURE(timeout.value_or(0));
    if (!timeout) {
      // A second fresh gateway (not signed in), the same simulator: calls without a deadline.
      s.gateway = std::make_unique<daemon::InsurerGateway>(s.ioc.get_executor(), s.client, *s.ledger, *s.msgids,
                                                           s.config, [](settle::LineOutcome, std::int64_t) {});
    }
    const std::int64_t sign_ins_before = by_infno(s.sim.counters(), "9001");
    std::vector<CallSpec> specs(kCalls, person_query("C00000001", timeout));
    const auto results = s.run(specs);
    int ok = 0;
    for (const auto& t : results) {
      CHECK_MESSAGE(t.result.succeeded(), describe(t.result));
      ok += t.result.succeeded() ? 1 : 0;
    }
    CHECK(ok == kCalls);
    CHECK(by_infno(s.sim.counters(), "9001") - sign_ins_before == 1);
    CHECK_FALSE(s.gateway->sign_no().empty());
  }
  CHECK(by_infno(s.sim.counters(), "1101") == 2 * kCalls);
}

TEST_CASE("sign-in: the signer's 9001 keeps to its caller's budget, not the link's 5 s") {
  // The sign-in answer takes 3 s; the caller has 400 ms.
  Stack s("gateway-signin-budget", {"delay:ms=3000,infno=9001"});
  s.sim.add_person("C00000001", "100.00");
  const auto results = s.run({person_query("C00000001", 400)});
  const auto& t = results.front();
  CHECK_MESSAGE(!t.result.succeeded(), describe(t.result));
  CHECK(t.result.kind == insurer::OutcomeClass::unreachable);  // the 1101 was never sent
  CHECK_MESSAGE(t.elapsed_ms < 2000, "the call waited " << t.elapsed_ms << " ms for a 400 ms budget");
  CHECK(by_infno(s.sim.counters(), "1101") == 0);
}

TEST_CASE("sign-in: a waiter gives up at its own deadline; the others still get their answer") {
  // The sign-in takes 2.5 s. The first call (no deadline) signs in; a second
  // with 20 s waits for it and is answered; a third with 300 ms waits for it
  // and gives up in time.
  Stack s("gateway-signin-waiter", {"delay:ms=2500,infno=9001"});
  s.sim.add_person("C00000001", "100.00");
  const auto results = s.run({person_query("C00000001", std::nullopt), person_query("C00000001", 20'000),
                              person_query("C00000001", 300)},
                             50);
  CHECK_MESSAGE(results[0].result.succeeded(), describe(results[0].result));
  CHECK_MESSAGE(results[1].result.succeeded(), describe(results[1].result));
  CHECK_MESSAGE(!results[2].result.succeeded(), describe(results[2].result));
  CHECK(results[2].result.kind == insurer::OutcomeClass::unreachable);
  CHECK_MESSAGE(results[2].elapsed_ms < 1500, "the waiter waited " << results[2].elapsed_ms << " ms for 300 ms");
  CHECK(by_infno(s.sim.counters(), "9001") == 1);
}

// A query's message is written once, after its reply, in its final state;
// a reversal's before it is sent, then moved on.
TEST_CASE("the ledger keeps a query's message once, with its outcome; a reversal's from before it is sent") {
  Stack s("gateway-messages");
  const std::string psn = s.sim.add_person("C00000001", "500.00");
  // The gateway's ledger writes are not awaited: one awaited write after
  // them is committed after them.
  const auto message = [&s](const std::string& msgid) {
    REQUIRE(s.ledger->write_wait([](sql::Db&) -> sql::Status { return settle::Ok{}; }).ok());
    auto m = s.ledger->read([&msgid](sql::Db& db) { return ledger::find_message(db, msgid); });
    REQUIRE(m.ok());
    REQUIRE_MESSAGE(m->has_value(), msgid);
    auto events = s.ledger->read([&msgid](sql::Db& db) { return ledger::list_events(db, ledger::Entity::message, msgid); });
    REQUIRE(events.ok());
    std::vector<std::string> states;
    for (const auto& e : *events) states.push_back(e.to_state);
    return std::pair{**m, states};
  };

  const CallResult found = s.run_one(person_query("C00000001", 5000));
  REQUIRE_MESSAGE(found.succeeded(), describe(found));
  const auto [q, q_states] = message(found.msgid);
  CHECK(q.infno == "1101");
  CHECK(q.state == ledger::MessageState::answered);
  CHECK(q.infcode == 0);
  CHECK(q_states == std::vector<std::string>{"answered"});

  s.sim.set_faults({"lost_reply:count=1,infno=1101"});
  const CallResult lost = s.run_one(person_query("C00000001", 5000));
  REQUIRE_MESSAGE(lost.in_doubt(), describe(lost));
  const auto [l, l_states] = message(lost.msgid);
  CHECK(l.state == ledger::MessageState::abandoned);
  CHECK_FALSE(l.infcode.has_value());
  CHECK(l_states == std::vector<std::string>{"abandoned"});
  s.sim.clear_faults();

  // A 2207 whose reply was lost, and its reversal: both written before
  // they were sent.
  auto sync = insurer::SyncClient::create(s.sim.client_config());
  REQUIRE(sync.ok());
  Hospital hospital(**sync, *s.msgids);
  hospital.sign_in();
  const auto visit = hospital.open_visit_with_line(psn, "C00000001", Amount::fen(10'000));
  s.sim.set_faults({"lost_reply:count=1,infno=2207"});
  CallSpec settle;
  settle.infno = std::string(insurer::OutpatientSettle::infno);
  settle.input = hospital.settle_input(visit).encode();
  settle.moves_money = true;
  settle.timeout_ms = 5000;
  const CallResult doubt = s.run_one(settle);
  REQUIRE_MESSAGE(doubt.in_doubt(), describe(doubt));
  s.sim.clear_faults();
  // The money call's outcome is its caller's to record (with its reversal queued).
  CHECK(message(doubt.msgid).second == std::vector<std::string>{"written"});
  CallSpec rev;
  rev.infno = std::string(insurer::Reversal::infno);
  rev.input = insurer::Reversal::Input{psn, doubt.msgid, "2207"}.encode();
  rev.reverses_msgid = doubt.msgid;
  const CallResult rr = s.run_one(rev);
  REQUIRE_MESSAGE(rr.succeeded(), describe(rr));
  const auto [r, r_states] = message(rr.msgid);
  CHECK(r.state == ledger::MessageState::answered);
  CHECK(r.reverses_msgid == doubt.msgid);
  CHECK(r_states == std::vector<std::string>{"written", "answered"});
}

TEST_CASE("HTTP error pages: a money-moving call is in doubt unless the insurer's envelope refused it") {
  Stack s("gateway-http-error");
  const std::string psn = s.sim.add_person("C00000001", "500.00");
  auto sync = insurer::SyncClient::create(s.sim.client_config());
  REQUIRE(sync.ok());
  Hospital hospital(**sync, *s.msgids);
  hospital.sign_in();

  const auto settle_spec = [&](const Hospital::Visit& v) {
    CallSpec spec;
    spec.infno = std::string(insurer::OutpatientSettle::infno);
    spec.input = hospital.settle_input(v).encode();
    spec.moves_money = true;
    spec.timeout_ms = 5000;
    return spec;
  };

  SUBCASE("2207 settled, then a 502 page from the proxy: in doubt, and the reversal undoes it") {
    const auto visit = hospital.open_visit_with_line(psn, "C00000001", Amount::fen(10'000));
    s.sim.set_faults({"http_error_after:count=1,infno=2207,status=502"});
    const CallResult r = s.run_one(settle_spec(visit));
    CHECK_MESSAGE(r.in_doubt(), describe(r));
    CHECK_FALSE(r.response.has_value());
    const auto row = settlement_by_msgid(s.sim.report(), r.msgid);
    REQUIRE_FALSE(row.is_null());
    CHECK(row.at("state") == "effective");  // the insurer did settle it

    // The caller's reversal (2601) of an in-doubt call undoes it.
    insurer::Reversal::Input rev{psn, r.msgid, "2207"};
    CallSpec spec;
    spec.infno = std::string(insurer::Reversal::infno);
    spec.input = rev.encode();
    spec.reverses_msgid = r.msgid;
    const CallResult rr = s.run_one(spec);
    REQUIRE_MESSAGE(rr.succeeded(), describe(rr));
    CHECK(settlement_by_msgid(s.sim.report(), r.msgid).at("state") == "reversed");
  }
  SUBCASE("2207 met by a 504 page before it reached the insurer: still in doubt (the page cannot tell)") {
    const auto visit = hospital.open_visit_with_line(psn, "C00000001", Amount::fen(10'000));
    s.sim.set_faults({"http_error_before:count=1,infno=2207,status=504"});
    const CallResult r = s.run_one(settle_spec(visit));
    CHECK_MESSAGE(r.in_doubt(), describe(r));
    CHECK(settlement_by_msgid(s.sim.report(), r.msgid).is_null());
  }
  SUBCASE("a query met by a 502 page: a refusal of the call, not a success") {
    s.sim.set_faults({"http_error_after:count=1,infno=1101,status=502"});
    const CallResult r = s.run_one(person_query("C00000001", 5000));
    REQUIRE_MESSAGE(r.answered(), describe(r));
    CHECK_FALSE(r.succeeded());
    REQUIRE(r.response.has_value());
    CHECK(r.response->infcode == insurer::infcode_error);
    CHECK(r.response->err_msg == "HTTP 502 from the insurer");
  }
  SUBCASE("a 2601 reversal met by a 502 page is not acknowledged (its caller retries it)") {
    const auto visit = hospital.open_visit_with_line(psn, "C00000001", Amount::fen(10'000));
    s.sim.set_faults({"lost_reply:count=1,infno=2207"});
    const CallResult lost = s.run_one(settle_spec(visit));
    REQUIRE_MESSAGE(lost.in_doubt(), describe(lost));
    s.sim.set_faults({"http_error_after:count=1,infno=2601,status=502"});
    insurer::Reversal::Input rev{psn, lost.msgid, "2207"};
    CallSpec spec;
    spec.infno = std::string(insurer::Reversal::infno);
    spec.input = rev.encode();
    spec.reverses_msgid = lost.msgid;
    const CallResult r = s.run_one(spec);
    CHECK_FALSE_MESSAGE(r.succeeded(), describe(r));
    // Retried later, it is acknowledged (already_reversed: the first one did its work).
    s.sim.clear_faults();
    const CallResult again = s.run_one(spec);
    CHECK_MESSAGE(again.succeeded(), describe(again));
    CHECK(settlement_by_msgid(s.sim.report(), lost.msgid).at("state") == "reversed");
  }
}
