// apply_reloadable: the config keys a running daemon takes on SIGHUP (each
// is read again at its next use, on the daemon's one I/O thread), and the
// ones it names as needing a restart.
#include "tools/settled/reload.hpp"

namespace settle::daemon {
namespace {

struct Diff {
  Config& running;
  const Config& fresh;
  ReloadPlan plan;

  template <class T>
  void take(const char* key, T Config::*member) {
    take_value(key, running.*member, fresh.*member);
  }
  template <class T>
  void take_value(const char* key, T& now, const T& next) {
    if (now == next) return;
    now = next;
    plan.applied.emplace_back(key);
  }
  template <class T>
  void keep(const char* key, const T& now, const T& next) {
    if (!(now == next)) plan.restart_needed.emplace_back(key);
  }
  void limits(const char* where, OfflineLimits& now, const OfflineLimits& next) {
    const std::string w(where);
    take_value((w + ".per_settlement_fund_max").c_str(), now.per_settlement_fund_max, next.per_settlement_fund_max);
    take_value((w + ".outstanding_fund_max").c_str(), now.outstanding_fund_max, next.outstanding_fund_max);
    take_value((w + ".outstanding_count_max").c_str(), now.outstanding_count_max, next.outstanding_count_max);
    take_value((w + ".max_age_s").c_str(), now.max_age_s, next.max_age_s);
  }
};

}  // namespace

ReloadPlan apply_reloadable(Config& running, const Config& fresh) {
  Diff d{running, fresh, {}};
  Config& r = running;
  const Config& f = fresh;

  // Read again at each use: taken now.
  d.take("daemon.log_level", &Config::log_level);
  d.take("daemon.policy", &Config::policy_file);
  d.take("readers.max_card_wait_ms", &Config::max_card_wait_ms);
  d.limits("offline", r.offline_limits, f.offline_limits);
  d.limits("offline.inpatient", r.inpatient_offline_limits, f.inpatient_offline_limits);
  d.take_value("reversal.retry_initial_ms", r.reversal.retry_initial_ms, f.reversal.retry_initial_ms);
  d.take_value("reversal.retry_max_ms", r.reversal.retry_max_ms, f.reversal.retry_max_ms);
  d.take_value("reversal.park_after_refusals", r.reversal.park_after_refusals, f.reversal.park_after_refusals);
  d.take_value("network.probe_interval_ms", r.network.probe_interval_ms, f.network.probe_interval_ms);
  d.take_value("network.offline_deadline_ms", r.network.offline_deadline_ms, f.network.offline_deadline_ms);
  d.take_value("network.offline_reserve_ms", r.network.offline_reserve_ms, f.network.offline_reserve_ms);
  d.take_value("notices.file", r.notices.file, f.notices.file);  // the texts themselves: main.cpp's reload

  // Taken at start (sockets, connections, files open, state built from them).
  d.keep("daemon.data_dir", r.data_dir, f.data_dir);
  d.keep("institution.code", r.institution.code, f.institution.code);
  d.keep("institution.name", r.institution.name, f.institution.name);
  d.keep("institution.area", r.institution.area, f.institution.area);
  d.keep("institution.insurer_area", r.institution.insurer_area, f.institution.insurer_area);
  d.keep("insurer.host", r.insurer.host, f.insurer.host);
  d.keep("insurer.port", r.insurer.port, f.insurer.port);
  d.keep("insurer.server_name", r.insurer.server_name, f.insurer.server_name);
  d.keep("insurer.target", r.insurer.target, f.insurer.target);
  d.keep("insurer.ca_file", r.insurer.ca_file, f.insurer.ca_file);
  d.keep("insurer.cert_file", r.insurer.cert_file, f.insurer.cert_file);
  d.keep("insurer.key_file", r.insurer.key_file, f.insurer.key_file);
  d.keep("insurer.paasid", r.insurer.paasid, f.insurer.paasid);
  d.keep("insurer.secret_file", r.insurer.secret, f.insurer.secret);  // the secret itself, or the file named
  d.keep("insurer.secret_file", r.insurer.secret_file, f.insurer.secret_file);
  d.keep("insurer.pool_size", r.insurer.pool_size, f.insurer.pool_size);
  d.keep("insurer.connect_timeout_ms", r.insurer.connect_timeout_ms, f.insurer.connect_timeout_ms);
  d.keep("insurer.request_timeout_ms", r.insurer.request_timeout_ms, f.insurer.request_timeout_ms);
  d.keep("insurer.profile", true, same_profile(r.insurer.profile, f.insurer.profile));  // with offline and preview
  d.keep("cashier.socket", r.cashier.socket_path, f.cashier.socket_path);
  d.keep("cashier.tcp", r.cashier.tcp_address, f.cashier.tcp_address);
  d.keep("cashier.tcp", r.cashier.tcp_port, f.cashier.tcp_port);
  d.keep("cashier.max_connections", r.cashier.max_connections, f.cashier.max_connections);
  d.keep("cashier.lockout_s", r.cashier.lockout, f.cashier.lockout);
  d.keep("cashier.login_timeout_s", r.cashier.login_timeout, f.cashier.login_timeout);
  d.keep("cashier.session_idle_s", r.cashier.session_idle, f.cashier.session_idle);
  d.keep("cashier.source_failures_per_minute", r.cashier.source_failures_per_minute,
         f.cashier.source_failures_per_minute);
  d.keep("cashier.unauthenticated_calls_per_second", r.cashier.unauthenticated_calls_per_second,
         f.cashier.unauthenticated_calls_per_second);
  d.keep("readers.windows", r.windows, f.windows);
  d.keep("metrics.listen", r.metrics_address, f.metrics_address);
  d.keep("metrics.listen", r.metrics_port, f.metrics_port);
  d.keep("network.failures_to_offline", r.network.failures_to_offline, f.network.failures_to_offline);
  d.keep("redlist.path", r.redlist.path, f.redlist.path);
  d.keep("redlist.sync_interval_s", r.redlist.sync_interval_s, f.redlist.sync_interval_s);
  d.keep("redlist.page_size", r.redlist.page_size, f.redlist.page_size);
  d.keep("ledger.checkpoint_key", r.ledger.checkpoint_key, f.ledger.checkpoint_key);
  d.keep("ledger.checkpoint_interval_s", r.ledger.checkpoint_interval_s, f.ledger.checkpoint_interval_s);
  d.keep("storage.key_file", r.storage.key_file, f.storage.key_file);
  d.keep("notify", r.notify, f.notify);

  // One name per key, in the order found.
  auto& need = d.plan.restart_needed;
  for (std::size_t i = 0; i < need.size(); ++i)
    for (std::size_t j = need.size(); j-- > i + 1;)
      if (need[j] == need[i]) need.erase(need.begin() + static_cast<std::ptrdiff_t>(j));
  return d.plan;
}

}  // namespace settle::daemon
