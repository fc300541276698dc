// Faults the simulator plays on purpose (docs/insurer-sim.md, "Faults"):
// parsed from "kind:p=0.3,count=5,ms=200,status=502", switched at run time from the
// control endpoint, decided per connection / per request with seeded dice.
#pragma once

#include "engine/result.hpp"
#include "protocol/json.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace settle::sim {

enum class FaultKind : std::uint8_t {
  refuse,
  stall,
  drop_request,
  lost_reply,
  error,
  garbage,
  delay,
  http_error_before,  // answers HTTP <status> with an HTML page, without processing the request
  http_error_after,   // processes and commits the request, then answers HTTP <status> with an HTML page
};
std::string_view fault_kind_name(FaultKind k) noexcept;

struct Fault {
  FaultKind kind = FaultKind::error;
  std::int64_t p_ppm = 1'000'000;  // probability in parts per million
  std::int64_t count = -1;         // remaining firings, -1 = unlimited
  std::int64_t delay_ms = 0;       // delay only
  int http_status = 502;           // http_error_before / http_error_after only
  std::string infno;               // only requests of this transaction ("" = every request)
  std::string message;             // error only: the err_msg answered ("" = "simulated insurer error")
  std::int64_t fired = 0;
};

// "lost_reply:p=0.3,count=5" -> Fault. INVALID_REQUEST naming the part at fault.
// `msg=` (error only) comes last and takes the rest of the spec as it is,
// commas and control characters included.
Result<Fault> parse_fault(std::string_view spec);
std::string fault_text(const Fault& f);

// What to do with one request.
struct RequestFaults {
  std::optional<FaultKind> action;  // any kind but refuse and delay
  std::int64_t delay_ms = 0;
  int http_status = 0;              // with http_error_before / http_error_after
  std::string error_msg;            // with error: the err_msg to answer
};

class FaultSet {
 public:
  explicit FaultSet(std::uint64_t seed) : rng_(seed) {}

  void replace(std::vector<Fault> faults) { faults_ = std::move(faults); }
  void add(Fault f) { faults_.push_back(f); }
  void clear() { faults_.clear(); }
  const std::vector<Fault>& faults() const { return faults_; }

  // Per accepted connection: should it be reset before TLS?
  bool refuse_connection();
  // Whether a refuse fault is active (count not used up): requests on
  // connections opened before are then closed unanswered, so a line that goes
  // down does not live on in pooled connections.
  bool refusing() const;
  // Per request read; `infno_of` is asked (once) only when a fault names a transaction.
  RequestFaults for_request(const std::function<std::string()>& infno_of = {});

  json::Json to_json() const;
  const std::map<std::string, std::int64_t>& fired() const { return fired_; }

  // The simulator's clock less the real one, in seconds (--clock-offset-s,
  // POST /clock): a simulator whose clock is off. Its signature check, its
  // replies' Date header and its records all use the moved clock.
  std::int64_t clock_offset_s() const { return clock_offset_s_; }
  void set_clock_offset_s(std::int64_t s) { clock_offset_s_ = s; }

 private:
  bool roll(Fault& f);
  std::vector<Fault> faults_;
  std::mt19937_64 rng_;
  std::map<std::string, std::int64_t> fired_;
  std::int64_t clock_offset_s_ = 0;
};

}  // namespace settle::sim
