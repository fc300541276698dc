// The daemon's metrics in Prometheus text format (docs/monitoring/README.md),
// served over HTTP on a loopback port: settlements by mode and outcome,
// insurer calls, latency histograms in seconds, and gauges read at scrape
// time (in doubt, queues, parked items, the line, the red list).
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
  // Upper bounds in microseconds (rendered in seconds: 0.001 … 30).
  static constexpr std::array<std::int64_t, 14> bounds_us{1'000,   2'500,   5'000,     10'000,    25'000,
                                                          50'000,  100'000, 250'000,   500'000,   1'000'000,
                                                          2'500'000, 5'000'000, 10'000'000, 30'000'000};
  void observe_us(std::int64_t us);
  void render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::array<std::uint64_t, bounds_us.size()> counts_{};
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
    // Date); absent (NaN) before any reply. 1 while the insurer refuses our timestamps.
    std::optional<std::int64_t> clock_skew_s;
    std::int64_t clock_refused = 0;
    // The red list held: its version (0 = never synced), persons on it, and
    // when it was last downloaded (Unix ms, 0 = never).
    std::int64_t redlist_version = 0;
    std::int64_t redlist_entries = 0;
    std::int64_t redlist_synced_at_ms = 0;
    std::int64_t now_ms = 0;  // the scrape's time, for the red list's age
    // The ledger's writer since the daemon's start (start-up's own writes
    // included): group commits, the writes (jobs) they made durable, and the
    // bytes they wrote to the WAL.
    std::uint64_t ledger_commits = 0;
    std::uint64_t ledger_writes = 0;
    std::uint64_t ledger_wal_bytes = 0;
  };

  // Every family's series are registered at 0 here, so a scrape before any
  // traffic shows them all.
  Metrics();

  // settled_settlements_total{mode, outcome}: outcome is settled, stored
  // (offline), rejected, in_doubt, unreachable, refused, error.
  void settlement(std::string_view mode, std::string_view outcome);
  void refund(std::string_view outcome);
  // settled_insurer_calls_total{infno, outcome} and its latency.
  void insurer_call(std::string_view infno, std::string_view outcome, std::int64_t elapsed_us);
  // settled_request_duration_seconds{method}: cashier requests end to end.
  void request(std::string_view method, std::int64_t elapsed_us);
  // settled_flow_step_duration_seconds{step}: one step a money-moving request
  // (settle.commit, a refund, a stay's) waited on, one of flow_steps: where a
  // window's time goes (the request's claim, the card's re-check, an insurer
  // call with its records, a ledger commit...). Another name is a bug: ignored.
  static constexpr std::array<std::string_view, 9> flow_steps{
      "claim",  "card_check",  "person",        "reversals_open", "offline_figures",
      "stay_reads", "ledger_commit", "ledger_await", "insurer_call"};
  void flow_step(std::string_view step, std::int64_t elapsed_us);
  void reversal(std::string_view outcome);
  void upload(std::string_view outcome, std::int64_t n);  // offline settlements forwarded (9302)
  void audit_failed();  // settled_audit_failures_total: audit entries that could not be written
  // settled_work_items_added_total{kind}: items added to the office's work list.
  void work_added(std::string_view kind);
  // settled_redlist_syncs_total{kind = full|delta, outcome = ok|failed}.
  void redlist_sync(bool full, bool ok);
  void closeout_recorded();  // settled_closeouts_total

  // Read at every scrape (must be quick and thread-safe).
  std::function<Gauges()> gauges;

  std::string render() const;

 private:
  void add(std::string_view family, const std::string& labels, std::uint64_t n);

  mutable std::mutex mu_;
  // family -> labels ("mode=\"online\",outcome=\"settled\"") -> value
  std::map<std::string, std::map<std::string, std::uint64_t>, std::less<>> counters_;
  std::map<std::string, std::map<std::string, Histogram>, std::less<>> histograms_;
  std::array<Histogram*, flow_steps.size()> step_histograms_{};  // into histograms_ (its nodes never move)
};

// The HTTP answer to one request line: GET /metrics gives the page (200),
// anything else 404. Exposed for tests of the routing.
struct MetricsReply {
  unsigned status = 404;
  std::string body;
};
MetricsReply answer_metrics_request(std::string_view method, std::string_view target, const Metrics& metrics);

// Serves GET /metrics on address:port (loopback only) with Boost.Beast until
// the io_context stops; a request's head is limited to 8 KiB, bodies refused.
boost::asio::awaitable<void> serve_metrics(boost::asio::io_context& ioc, std::string address, std::uint16_t port,
                                           const Metrics& metrics);

}  // namespace settle::daemon
