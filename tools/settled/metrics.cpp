// Metrics registry and a minimal HTTP/1.1 responder for Prometheus scrapes:
// one request per connection, bounded request size, loopback only.
#include "tools/settled/metrics.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace settle::daemon {

namespace asio = boost::asio;

void Histogram::observe_us(std::int64_t us) {
  for (std::size_t i = 0; i < bounds_ms.size(); ++i)
    if (us <= bounds_ms[i] * 1000) ++counts_[i];
  ++count_;
  sum_us_ += us;
}

void Histogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  for (std::size_t i = 0; i < bounds_ms.size(); ++i)
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, bounds_ms[i], counts_[i]);
  out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, count_);
  out += fmt::format("{}_sum{{{}}} {}.{:03}\n", name, labels, sum_us_ / 1000, sum_us_ % 1000);
  out += fmt::format("{}_count{{{}}} {}\n", name, labels, count_);
}

void Metrics::settlement(std::string_view mode, std::string_view outcome) {
  const std::lock_guard lock(mu_);
  ++counters_[fmt::format("settled_settlements_total{{mode=\"{}\",outcome=\"{}\"}}", mode, outcome)];
}

void Metrics::refund(std::string_view outcome) {
  const std::lock_guard lock(mu_);
  ++counters_[fmt::format("settled_refunds_total{{outcome=\"{}\"}}", outcome)];
}

void Metrics::insurer_call(std::string_view infno, std::string_view outcome, std::int64_t elapsed_us) {
  const std::lock_guard lock(mu_);
  ++counters_[fmt::format("settled_insurer_calls_total{{infno=\"{}\",outcome=\"{}\"}}", infno, outcome)];
  histograms_[fmt::format("settled_insurer_call_duration_ms|infno=\"{}\"", infno)].observe_us(elapsed_us);
}

void Metrics::request(std::string_view method, std::int64_t elapsed_us) {
  const std::lock_guard lock(mu_);
  histograms_[fmt::format("settled_request_duration_ms|method=\"{}\"", method)].observe_us(elapsed_us);
}

void Metrics::reversal(std::string_view outcome) {
  const std::lock_guard lock(mu_);
  ++counters_[fmt::format("settled_reversals_total{{outcome=\"{}\"}}", outcome)];
}

void Metrics::upload(std::string_view outcome, std::int64_t n) {
  const std::lock_guard lock(mu_);
  counters_[fmt::format("settled_uploads_total{{outcome=\"{}\"}}", outcome)] += static_cast<std::uint64_t>(n);
}

void Metrics::audit_failed() {
  const std::lock_guard lock(mu_);
  ++counters_["settled_audit_failures_total"];
}

void Metrics::work_added(std::string_view kind) {
  const std::lock_guard lock(mu_);
  ++counters_[fmt::format("settled_work_items_added_total{{kind=\"{}\"}}", kind)];
}

std::string Metrics::render() const {
  std::string out;
  if (gauges) {
    const Gauges g = gauges();
    out += "# HELP settled_in_doubt Insurer requests sent without a reply and not yet reversed.\n# TYPE settled_in_doubt gauge\n";
    out += fmt::format("settled_in_doubt {}\n", g.in_doubt);
    out += "# HELP settled_pending_reversals Reversals (冲正) queued and not yet acknowledged.\n# TYPE settled_pending_reversals gauge\n";
    out += fmt::format("settled_pending_reversals {}\n", g.pending_reversals);
    out += "# HELP settled_pending_uploads Offline settlements waiting for upload.\n# TYPE settled_pending_uploads gauge\n";
    out += fmt::format("settled_pending_uploads {}\n", g.pending_uploads);
    out += "# HELP settled_parked_items Reversals and offline uploads the insurer refused too often, parked for a "
           "supervisor (outbox.parked).\n# TYPE settled_parked_items gauge\n";
    out += fmt::format("settled_parked_items{{kind=\"reversal\"}} {}\n", g.parked_reversals);
    out += fmt::format("settled_parked_items{{kind=\"offline_upload\"}} {}\n", g.parked_uploads);
    out += "# HELP settled_network_state The insurer line: 1 online, 2 offline, 3 draining.\n# TYPE settled_network_state gauge\n";
    out += fmt::format("settled_network_state {}\n", g.network_state);
    out += "# HELP settled_cashier_connections Open cashier connections.\n# TYPE settled_cashier_connections gauge\n";
    out += fmt::format("settled_cashier_connections {}\n", g.connections);
    out += "# HELP settled_work_items Items on the insurance office's work list (parked, rejected, corrections "
           "waiting for approval).\n# TYPE settled_work_items gauge\n";
    out += fmt::format("settled_work_items {}\n", g.work_items);
    out += "# HELP settled_storage_encrypted 1 when the ledger and the red list are encrypted at rest "
           "(docs/encryption.md), 0 when they are plain files.\n# TYPE settled_storage_encrypted gauge\n";
    out += fmt::format("settled_storage_encrypted {}\n", g.storage_encrypted);
    if (g.clock_skew_s) {
      out += "# HELP settled_insurer_clock_skew_seconds The insurer's clock less this host's (from its replies' Date): "
             "past 60 s an alert, past 300 s the insurer refuses every request.\n"
             "# TYPE settled_insurer_clock_skew_seconds gauge\n";
      out += fmt::format("settled_insurer_clock_skew_seconds {}\n", *g.clock_skew_s);
    }
    out += "# HELP settled_insurer_clock_refused 1 while the insurer refuses this host's request timestamps (the line "
           "is offline for it).\n# TYPE settled_insurer_clock_refused gauge\n";
    out += fmt::format("settled_insurer_clock_refused {}\n", g.clock_refused);
  }
  const std::lock_guard lock(mu_);
  std::string last_family;
  for (const auto& [series, value] : counters_) {
    const std::string family = series.substr(0, series.find('{'));
    if (family != last_family) {
      out += fmt::format("# TYPE {} counter\n", family);
      last_family = family;
    }
    out += fmt::format("{} {}\n", series, value);
  }
  last_family.clear();
  for (const auto& [key, h] : histograms_) {
    const auto bar = key.find('|');
    const std::string family = key.substr(0, bar);
    if (family != last_family) {
      out += fmt::format("# TYPE {} histogram\n", family);
      last_family = family;
    }
    h.render(out, family, key.substr(bar + 1));
  }
  return out;
}

namespace {

asio::awaitable<void> answer_one(asio::ip::tcp::socket sock, const Metrics& metrics) {
  boost::system::error_code ec;
  asio::streambuf buf(8192);  // a scrape request is small; a larger one is refused
  co_await asio::async_read_until(sock, buf, "\r\n\r\n", asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  std::string head(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
  std::string status = "200 OK";
  std::string body;
  if (head.rfind("GET /metrics ", 0) == 0 || head.rfind("GET / ", 0) == 0) {
    body = metrics.render();
  } else {
    status = "404 Not Found";
    body = "try GET /metrics\n";
  }
  const std::string reply = fmt::format(
      "HTTP/1.1 {}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
      status, body.size(), body);
  co_await asio::async_write(sock, asio::buffer(reply), asio::redirect_error(asio::use_awaitable, ec));
  sock.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
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
  for (;;) {
    asio::ip::tcp::socket sock(ioc);
    co_await acceptor.async_accept(sock, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;
    asio::co_spawn(ioc, answer_one(std::move(sock), metrics), asio::detached);
  }
}

}  // namespace settle::daemon
