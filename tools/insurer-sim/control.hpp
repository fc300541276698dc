// The control endpoint's requests (docs/insurer-sim.md, "Control endpoint"):
// faults, counters, the money report, persons, visits and injected
// reconciliation differences. Routing only; the transport is in server.cpp.
#pragma once

#include "protocol/json.hpp"
#include "tools/insurer-sim/faults.hpp"
#include "tools/insurer-sim/insurer.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace settle::sim {

// Counters kept by the network side.
struct NetCounters {
  std::int64_t connections = 0;
  std::int64_t refused_connections = 0;
  std::int64_t refused_signature = 0;
  std::int64_t bad_requests = 0;
  // The simulator's own time per transaction: from the request read to its
  // answer handed to TLS (signature check, work, the commit it waits for),
  // summed in microseconds, and how many answers that sum covers.
  std::map<std::string, std::int64_t> processing_us;
  std::map<std::string, std::int64_t> processed;
};

struct ControlAnswer {
  unsigned status = 200;
  json::Json body = json::Json::object();
};

struct ControlContext {
  Insurer& insurer;
  FaultSet& faults;
  NetCounters& net;
};

ControlAnswer control_handle(ControlContext& ctx, std::string_view method, std::string_view target,
                             std::string_view body);

}  // namespace settle::sim
