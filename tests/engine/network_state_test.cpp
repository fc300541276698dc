// The line's state machine: failures take it offline, answers and probes
// bring it to draining, a finished drain brings it online; a failure of a
// call sent before the present state began is not counted.
#include "engine/network_state.hpp"

#include <doctest/doctest.h>

using namespace settle;

TEST_CASE("online -> offline -> draining -> online") {
  NetworkStateMachine m(2, 1000);
  CHECK(m.state() == NetworkState::online);
  CHECK(m.accepts_online_work());
  CHECK_FALSE(m.on_outcome(LineOutcome::unreachable, 1100).has_value());  // one failure is not an outage
  CHECK_FALSE(m.on_outcome(LineOutcome::answered, 1200).has_value());     // and an answer resets the count
  CHECK_FALSE(m.on_outcome(LineOutcome::in_doubt, 1300).has_value());
  CHECK(m.on_outcome(LineOutcome::unreachable, 1400) == NetworkState::offline);
  CHECK(m.since_ms() == 1400);
  CHECK_FALSE(m.accepts_online_work());
  CHECK_FALSE(m.on_probe(false, 2000).has_value());
  CHECK(m.state() == NetworkState::offline);
  CHECK(m.on_probe(true, 3000) == NetworkState::draining);
  CHECK_FALSE(m.accepts_online_work());
  CHECK(m.on_drained(4000) == NetworkState::online);
  CHECK(m.since_ms() == 4000);
  CHECK_FALSE(m.on_drained(5000).has_value());
}

TEST_CASE("a failure while draining goes straight back offline") {
  NetworkStateMachine m(3, 0);
  for (int i = 0; i < 3; ++i) (void)m.on_outcome(LineOutcome::unreachable, i);
  CHECK(m.state() == NetworkState::offline);
  CHECK(m.on_outcome(LineOutcome::answered, 10) == NetworkState::draining);
  CHECK(m.on_outcome(LineOutcome::in_doubt, 11) == NetworkState::offline);
}

TEST_CASE("threshold of one") {
  NetworkStateMachine m(1, 0);
  CHECK(m.on_outcome(LineOutcome::in_doubt, 5) == NetworkState::offline);
  CHECK(network_state_name(m.state()) == "offline");
}

TEST_CASE("a call sent during the outage that fails after the line came back does not take it offline again") {
  NetworkStateMachine m(1, 0);
  CHECK(m.on_outcome(LineOutcome::unreachable, 100, 90) == NetworkState::offline);
  CHECK(m.on_probe(true, 1000) == NetworkState::draining);
  // A probe sent at 500, while offline, times out now: it says nothing of the line.
  CHECK_FALSE(m.on_outcome(LineOutcome::in_doubt, 1500, 500).has_value());
  CHECK(m.state() == NetworkState::draining);
  CHECK(m.on_drained(2000) == NetworkState::online);
  CHECK_FALSE(m.on_outcome(LineOutcome::in_doubt, 2600, 600).has_value());
  CHECK(m.state() == NetworkState::online);
  // A call sent since it came back that fails counts.
  CHECK(m.on_outcome(LineOutcome::in_doubt, 3000, 2500) == NetworkState::offline);
}
