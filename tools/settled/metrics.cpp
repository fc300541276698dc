// Metrics registry (every labelled series registered at 0 from the start) and
// its Boost.Beast HTTP server for Prometheus scrapes: loopback only, one GET
// route, bounded request head, no request bodies, a few connections at once.
#include "tools/settled/metrics.hpp"

#include "engine/network_state.hpp"
#include "protocol/cashier/rpc.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>

namespace settle::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// HELP text of every family the registry holds (counters and histograms).
struct FamilyHelp {
  std::string_view name;
  std::string_view help;
};
constexpr std::array<FamilyHelp, 12> kFamilies{{
    {"settled_settlements_total", "Outpatient and discharge settlements by mode (online, offline) and outcome."},
    {"settled_refunds_total", "Refunds (退费) by outcome."},
    {"settled_insurer_calls_total", "Calls to the insurer by transaction (infno) and outcome."},
    {"settled_reversals_total", "Reversal (冲正) attempts by outcome."},
    {"settled_uploads_total", "Offline settlements forwarded to the insurer (9302) by outcome."},
    {"settled_audit_failures_total", "Audit entries that could not be written."},
    {"settled_work_items_added_total", "Items added to the insurance office's work list, by kind."},
    {"settled_redlist_syncs_total", "Red list (黑名单) downloads (9303) by kind (full, delta) and outcome (ok, failed)."},
    {"settled_closeouts_total", "Cashier close-outs (收费员日结) recorded."},
    {"settled_insurer_call_duration_seconds", "Time of one insurer call, sending to answer or failure."},
    {"settled_request_duration_seconds", "Time of one cashier request, received to answered."},
    {"settled_flow_step_duration_seconds", "Time a money-moving cashier request waited on one step, by step."},
}};

std::string_view help_of(std::string_view family) {
  for (const auto& f : kFamilies)
    if (f.name == family) return f.help;
  return "";
}

// Transactions the daemon sends (protocol/insurer/codecs.hpp).
constexpr std::array<std::string_view, 23> kInfnos{"1101", "2201", "2204", "2206", "2207", "2208", "2301", "2302",
                                                   "2303", "2304", "2305", "2401", "2402", "2404", "2601", "3201",
                                                   "3202", "9001", "9002", "9302", "9303", "9304", "9401"};

std::string seconds(std::int64_t us) {
  std::string s = fmt::format("{}.{:06}", us / 1'000'000, us % 1'000'000);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

std::string label(std::string_view key, std::string_view value) { return fmt::format("{}=\"{}\"", key, value); }

void family_head(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// A family of one series without labels, its value read at the scrape
// (a gauge, or a counter kept elsewhere).
template <class V>
void one_series(std::string& out, std::string_view name, std::string_view type, std::string_view help, V value) {
  family_head(out, name, type, help);
  out += fmt::format("{} {}\n", name, value);
}

void gauge(std::string& out, std::string_view name, std::string_view help, std::int64_t value) {
  one_series(out, name, "gauge", help, value);
}

}  // namespace

void Histogram::observe_us(std::int64_t us) {
  for (std::size_t i = 0; i < bounds_us.size(); ++i)
    if (us <= bounds_us[i]) ++counts_[i];
  ++count_;
  sum_us_ += us;
}

void Histogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  for (std::size_t i = 0; i < bounds_us.size(); ++i)
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, seconds(bounds_us[i]), counts_[i]);
  out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, count_);
  const std::string braces = labels.empty() ? std::string() : fmt::format("{{{}}}", labels);
  out += fmt::format("{}_sum{} {}\n", name, braces, seconds(sum_us_));
  out += fmt::format("{}_count{} {}\n", name, braces, count_);
}

Metrics::Metrics() {
  for (const auto outcome : {"settled", "rejected", "in_doubt", "unreachable", "refused", "error"})
    counters_["settled_settlements_total"][label("mode", "online") + "," + label("outcome", outcome)] = 0;
  counters_["settled_settlements_total"][label("mode", "offline") + "," + label("outcome", "stored")] = 0;
  for (const auto outcome : {"refunded", "rejected", "in_doubt", "unreachable", "refused", "error"})
    counters_["settled_refunds_total"][label("outcome", outcome)] = 0;
  for (const auto infno : kInfnos) {
    for (const auto outcome : {"answered", "rejected", "unreachable", "in_doubt"})
      counters_["settled_insurer_calls_total"][label("infno", infno) + "," + label("outcome", outcome)] = 0;
    histograms_["settled_insurer_call_duration_seconds"][label("infno", infno)];
  }
  for (const auto outcome : {"reversed", "already_reversed", "not_found", "no_effect", "retry", "parked"})
    counters_["settled_reversals_total"][label("outcome", outcome)] = 0;
  for (const auto outcome : {"accepted", "rejected", "retry", "parked"})
    counters_["settled_uploads_total"][label("outcome", outcome)] = 0;
  counters_["settled_audit_failures_total"][""] = 0;
  for (const auto kind : {"parked_reversal", "parked_upload", "rejected_offline_settlement", "correction_waiting"})
    counters_["settled_work_items_added_total"][label("kind", kind)] = 0;
  for (const auto kind : {"full", "delta"})
    for (const auto outcome : {"ok", "failed"})
      counters_["settled_redlist_syncs_total"][label("kind", kind) + "," + label("outcome", outcome)] = 0;
  counters_["settled_closeouts_total"][""] = 0;
  for (int m = 0; m < cashier::method_count; ++m)
    histograms_["settled_request_duration_seconds"]
               [label("method", cashier::method_name(static_cast<cashier::Method>(m)))];
  for (std::size_t i = 0; i < flow_steps.size(); ++i)
    step_histograms_[i] = &histograms_["settled_flow_step_duration_seconds"][label("step", flow_steps[i])];
}

void Metrics::add(std::string_view family, const std::string& labels, std::uint64_t n) {
  const std::lock_guard lock(mu_);
  auto it = counters_.find(family);
  if (it == counters_.end()) it = counters_.emplace(std::string(family), std::map<std::string, std::uint64_t>{}).first;
  it->second[labels] += n;
}

void Metrics::settlement(std::string_view mode, std::string_view outcome) {
  add("settled_settlements_total", label("mode", mode) + "," + label("outcome", outcome), 1);
}

void Metrics::refund(std::string_view outcome) { add("settled_refunds_total", label("outcome", outcome), 1); }

void Metrics::insurer_call(std::string_view infno, std::string_view outcome, std::int64_t elapsed_us) {
  add("settled_insurer_calls_total", label("infno", infno) + "," + label("outcome", outcome), 1);
  const std::lock_guard lock(mu_);
  histograms_["settled_insurer_call_duration_seconds"][label("infno", infno)].observe_us(elapsed_us);
}

void Metrics::request(std::string_view method, std::int64_t elapsed_us) {
  const std::lock_guard lock(mu_);
  histograms_["settled_request_duration_seconds"][label("method", method)].observe_us(elapsed_us);
}

void Metrics::flow_step(std::string_view step, std::int64_t elapsed_us) {
  const auto* at = std::find(flow_steps.begin(), flow_steps.end(), step);
  if (at == flow_steps.end()) return;
  const std::lock_guard lock(mu_);
  step_histograms_[static_cast<std::size_t>(at - flow_steps.begin())]->observe_us(elapsed_us);
}

void Metrics::reversal(std::string_view outcome) { add("settled_reversals_total", label("outcome", outcome), 1); }

void Metrics::upload(std::string_view outcome, std::int64_t n) {
  add("settled_uploads_total", label("outcome", outcome), static_cast<std::uint64_t>(n));
}

void Metrics::audit_failed() { add("settled_audit_failures_total", "", 1); }

void Metrics::work_added(std::string_view kind) { add("settled_work_items_added_total", label("kind", kind), 1); }

void Metrics::redlist_sync(bool full, bool ok) {
  add("settled_redlist_syncs_total", label("kind", full ? "full" : "delta") + "," + label("outcome", ok ? "ok" : "failed"),
      1);
}

void Metrics::closeout_recorded() { add("settled_closeouts_total", "", 1); }

std::string Metrics::render() const {
  std::string out;
  if (gauges) {
    const Gauges g = gauges();
    gauge(out, "settled_in_doubt", "Insurer requests sent without a reply and not yet reversed.", g.in_doubt);
    gauge(out, "settled_pending_reversals", "Reversals (冲正) queued and not yet acknowledged.", g.pending_reversals);
    gauge(out, "settled_pending_uploads", "Offline settlements waiting for upload.", g.pending_uploads);
    family_head(out, "settled_parked_items", "gauge",
                "Reversals and offline uploads the insurer refused too often, parked for a supervisor (outbox.parked).");
    out += fmt::format("settled_parked_items{{kind=\"reversal\"}} {}\n", g.parked_reversals);
    out += fmt::format("settled_parked_items{{kind=\"offline_upload\"}} {}\n", g.parked_uploads);
    gauge(out, "settled_network_state", "The insurer line: 1 online, 2 offline, 3 draining.", g.network_state);
    family_head(out, "settled_line_state", "gauge", "The insurer line: 1 for the state it is in, 0 for the others.");
    for (const auto s : {NetworkState::online, NetworkState::offline, NetworkState::draining})
      out += fmt::format("settled_line_state{{state=\"{}\"}} {}\n", network_state_name(s),
                         g.network_state == static_cast<std::int64_t>(s) ? 1 : 0);
    gauge(out, "settled_cashier_connections", "Open cashier connections.", g.connections);
    gauge(out, "settled_work_items",
          "Items on the insurance office's work list (parked, rejected, corrections waiting for approval).",
          g.work_items);
    gauge(out, "settled_storage_encrypted",
          "1 when the ledger and the red list are encrypted at rest (docs/encryption.md), 0 when they are plain files.",
          g.storage_encrypted);
    family_head(out, "settled_insurer_clock_skew_seconds", "gauge",
                "The insurer's clock less this host's (from its replies' Date), NaN before any reply: past 60 s an "
                "alert, past 300 s the insurer refuses every request.");
    out += g.clock_skew_s ? fmt::format("settled_insurer_clock_skew_seconds {}\n", *g.clock_skew_s)
                          : std::string("settled_insurer_clock_skew_seconds NaN\n");
    gauge(out, "settled_insurer_clock_refused",
          "1 while the insurer refuses this host's request timestamps (the line is offline for it).", g.clock_refused);
    gauge(out, "settled_redlist_version", "The red list (黑名单) version held; 0 before the first download.",
          g.redlist_version);
    gauge(out, "settled_redlist_entries", "Persons on the red list held.", g.redlist_entries);
    family_head(out, "settled_redlist_last_sync_timestamp_seconds", "gauge",
                "When the red list was last downloaded (Unix time); 0 before the first download.");
    out += fmt::format("settled_redlist_last_sync_timestamp_seconds {}\n", seconds(g.redlist_synced_at_ms * 1000));
    family_head(out, "settled_redlist_age_seconds", "gauge",
                "Seconds since the red list was last downloaded; +Inf before the first download.");
    out += g.redlist_synced_at_ms > 0
               ? fmt::format("settled_redlist_age_seconds {}\n",
                             seconds(std::max<std::int64_t>(0, g.now_ms - g.redlist_synced_at_ms) * 1000))
               : std::string("settled_redlist_age_seconds +Inf\n");
    one_series(out, "settled_ledger_commits_total", "counter",
               "The ledger's group commits (one transaction and one flush each) since settled started.",
               g.ledger_commits);
    one_series(out, "settled_ledger_writes_total", "counter",
               "Writes (a settlement's record, its answer, an audit entry, ...) the ledger's commits made durable "
               "since settled started.",
               g.ledger_writes);
    one_series(out, "settled_ledger_wal_bytes_total", "counter",
               "Bytes of pages the ledger's commits wrote to its write-ahead log since settled started.",
               g.ledger_wal_bytes);
  }
  const std::lock_guard lock(mu_);
  for (const auto& [family, series] : counters_) {
    family_head(out, family, "counter", help_of(family));
    for (const auto& [labels, value] : series)
      out += labels.empty() ? fmt::format("{} {}\n", family, value) : fmt::format("{}{{{}}} {}\n", family, labels, value);
  }
  for (const auto& [family, series] : histograms_) {
    family_head(out, family, "histogram", help_of(family));
    for (const auto& [labels, h] : series) h.render(out, family, labels);
  }
  return out;
}

MetricsReply answer_metrics_request(std::string_view method, std::string_view target, const Metrics& metrics) {
  if (method == "GET" && target == "/metrics") return MetricsReply{200, metrics.render()};
  return MetricsReply{404, "not found: the only page is GET /metrics\n"};
}

namespace {

constexpr std::size_t kMaxHead = 8 * 1024;      // a scrape's request head is a few hundred bytes
constexpr int kMaxConnections = 8;              // Prometheus keeps one; a few for people with curl
constexpr int kMaxRequestsPerConnection = 1000;  // then the scraper connects again
constexpr auto kIdle = std::chrono::seconds(30);

asio::awaitable<void> answer_connection(asio::ip::tcp::socket sock, const Metrics& metrics,
                                        std::shared_ptr<int> open) {
  beast::tcp_stream stream(std::move(sock));
  beast::flat_buffer buffer(2 * kMaxHead);  // room past the head's limit, so the limit is what refuses
  boost::system::error_code ec;
  for (int n = 0; n < kMaxRequestsPerConnection; ++n) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(kMaxHead));
    stream.expires_after(kIdle);
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted) break;
    http::response<http::string_body> res;
    if (ec) {
      // Too long a head, a body, or not HTTP: a clear refusal, then close.
      const bool too_long = ec == http::error::header_limit || ec == http::error::buffer_overflow;
      res.result(too_long ? http::status::request_header_fields_too_large : http::status::bad_request);
      res.body() = fmt::format("bad request: {}\n", ec.message());
      res.keep_alive(false);
    } else {
      const auto& req = parser.get();
      MetricsReply r = answer_metrics_request(std::string_view(req.method_string().data(), req.method_string().size()),
                                              std::string_view(req.target().data(), req.target().size()), metrics);
      res.result(r.status);
      res.body() = std::move(r.body);
      res.keep_alive(req.keep_alive());
    }
    res.version(11);
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.prepare_payload();
    stream.expires_after(kIdle);
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  // Our side done; what the client still sends (the rest of a refused
  // request) is read and dropped, so that closing does not reset the
  // connection before the client has read the answer.
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  std::array<char, 4096> sink{};
  std::size_t drained = 0;
  stream.expires_after(std::chrono::seconds(2));
  while (!ec && drained < 256 * 1024)
    drained += co_await stream.async_read_some(asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
  stream.socket().close(ec);
  --*open;
}

}  // namespace

asio::awaitable<void> serve_metrics(asio::io_context& ioc, std::string address, std::uint16_t port,
                                    const Metrics& metrics) {
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(address, ec);
  if (ec || !addr.is_loopback()) {
    spdlog::error("metrics: {} is not a loopback address; metrics are off", address);
    co_return;
  }
  asio::ip::tcp::acceptor acceptor(ioc);
  acceptor.open(addr.is_v4() ? asio::ip::tcp::v4() : asio::ip::tcp::v6(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind({addr, port}, ec);
  if (!ec) acceptor.listen(16, ec);
  if (ec) {
    spdlog::error("metrics: cannot listen on {}:{}: {}", address, port, ec.message());
    co_return;
  }
  spdlog::info("metrics: serving http://{}:{}/metrics", address, acceptor.local_endpoint().port());
  auto open = std::make_shared<int>(0);
  for (;;) {
    asio::ip::tcp::socket sock(ioc);
    co_await acceptor.async_accept(sock, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;
    if (*open >= kMaxConnections) {
      sock.close(ec);  // a scraper retries; nothing else should be here
      continue;
    }
    ++*open;
    asio::co_spawn(ioc, answer_connection(std::move(sock), metrics, open), asio::detached);
  }
}

}  // namespace settle::daemon
