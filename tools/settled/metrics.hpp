// The daemon's metrics in Prometheus text format, served on a loopback port:
// settlements by mode and outcome, insurer calls, latency histograms, and
// gauges read at scrape time (in doubt, pending reversals, network state).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace settle::daemon {

class Histogram {
 public:
  // Upper bounds in milliseconds.
  static constexpr std::array<std::int64_t, 14> bounds_ms{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000};
  void observe_us(std::int64_t us);
  void render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::array<std::uint64_t, bounds_ms.size()> counts_{};
  std::uint64_t count_ = 0;
  std::int64_t sum_us_ = 0;
};

class Metrics {
 public:
  struct Gauges {
    std::int64_t in_doubt = 0;
    std::int64_t pending_reversals = 0;
    std::int64_t pending_uploads = 0;
    std::int64_t parked_reversals = 0;  // refused too often; waiting for a supervisor (outbox.parked)
    std::int64_t parked_uploads = 0;
    std::int64_t network_state = 1;  // 1 online, 2 offline, 3 draining
    std::int64_t connections = 0;
    std::int64_t work_items = 0;  // the office's work list: parked, rejected, corrections waiting
    std::int64_t storage_encrypted = 0;  // 1 when the ledger and the red list are encrypted at rest
    // The insurer's clock less this host's, in seconds (from its replies'
    // Date); absent before any reply. 1 while the insurer refuses our timestamps.
    std::optional<std::int64_t> clock_skew_s;
    std::int64_t clock_refused = 0;
  };

  // settled_settlements_total{mode, outcome}: outcome is settled, rejected, in_doubt, unreachable, error.
  void settlement(std::string_view mode, std::string_view outcome);
  void refund(std::string_view outcome);
  // settled_insurer_calls_total{infno, outcome} and its latency.
  void insurer_call(std::string_view infno, std::string_view outcome, std::int64_t elapsed_us);
  // settled_request_duration_ms{method}: cashier requests end to end.
  void request(std::string_view method, std::int64_t elapsed_us);
  void reversal(std::string_view outcome);
  void upload(std::string_view outcome, std::int64_t n);  // offline settlements forwarded (9302)
  void audit_failed();  // settled_audit_failures_total: audit entries that could not be written
  // settled_work_items_added_total{kind}: items added to the office's work list.
  void work_added(std::string_view kind);

  // Read at every scrape (must be quick and thread-safe).
  std::function<Gauges()> gauges;

  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> counters_;  // full series name with labels -> value
  std::map<std::string, Histogram> histograms_;    // "name{labels}" -> histogram
};

// Serves GET /metrics on address:port (loopback only) until the io_context stops.
boost::asio::awaitable<void> serve_metrics(boost::asio::io_context& ioc, std::string address, std::uint16_t port,
                                           const Metrics& metrics);

}  // namespace settle::daemon
