// The settlement flows' driver: runs one flow (engine/flows.hpp, engine/stay_flows.hpp) to its end,
// doing each action it asks for through four seams (the ledger, the insurer,
// the card at the window, the clock) and feeding the outcome back, each
// step's time to the metrics. The daemon's seams are call_seams.hpp's; a test
// may give its own.
#pragma once

#include "engine/flow.hpp"
#include "tools/settled/async.hpp"
#include "tools/settled/metrics.hpp"

#include <string>

namespace settle::daemon {

// Arguments come by reference into the flow's action, which stays as it is
// until the flow is fed (GCC 12 destroys temporaries passed by value to a
// coroutine twice); a seam copies what it keeps past its first suspension.

// The ledger: the flows' named changes and the reads they decide on.
class LedgerSeam {
 public:
  virtual ~LedgerSeam() = default;
  // One named change, durable (or failed) when this returns.
  virtual awaitable<flow::Committed> commit(const flow::LedgerChange& change) = 0;
  // A change started now and awaited later with finish_started(); one at a time.
  virtual void start(const flow::LedgerChange& change) = 0;
  virtual awaitable<flow::Committed> finish_started() = 0;
  // This person's reversals not yet acknowledged (they go first at the insurer).
  virtual awaitable<std::int64_t> reversals_open(const std::string& psn_no) = 0;
  // The offline figures the limits are measured against (of a visit type).
  virtual awaitable<flow::OutstandingFigures> outstanding(flow::Ms now, VisitType visit) = 0;
  // The person's (or card's) open stay.
  virtual awaitable<flow::OpenStayFound> open_stay(const flow::OpenStay& q) = 0;
  // Which of a stay's line numbers are held already.
  virtual awaitable<flow::LinesFound> lines_held(const flow::LinesHeld& q) = 0;
};

// The insurer: its calls, the card holder (its 1101 online, or its red list
// kept here when offline), and fresh msgids.
class InsurerSeam {
 public:
  virtual ~InsurerSeam() = default;
  virtual std::string new_msgid() = 0;
  virtual awaitable<flow::PersonFound> person(const flow::FindPerson& f) = 0;
  virtual awaitable<flow::InsurerReply> call(const flow::InsurerCall& c) = 0;
};

// The card at the window.
class CardsSeam {
 public:
  virtual ~CardsSeam() = default;
  // Whether the card in the window's reader is still the one read.
  virtual awaitable<Status> check_card() = 0;
};

class ClockSeam {
 public:
  virtual ~ClockSeam() = default;
  virtual flow::Ms now() = 0;
};

struct FlowSeams {
  LedgerSeam& ledger;
  InsurerSeam& insurer;
  CardsSeam& cards;
  ClockSeam& clock;
  // Where each step's time goes (settled_flow_step_duration_seconds); none in a test.
  Metrics* metrics = nullptr;
};

// Runs `flow` (held by the caller) to its end and returns how it ended.
awaitable<flow::Outcome> drive(flow::Flow& flow, FlowSeams seams);

}  // namespace settle::daemon
