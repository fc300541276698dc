// settled: the settlement daemon's main. Reads the config, opens the ledger,
// wires the insurer link, the card readers and the cashier server into the
// service, recovers what a crash left in doubt, and runs until SIGTERM.
#include "offline/ledger.hpp"
#include "offline/ledger_ops.hpp"
#include "offline/office_ops.hpp"
#include "offline/outage_ops.hpp"
#include "offline/redlist.hpp"
#include "offline/storage_key.hpp"
#include "tools/settled/redlist_sync.hpp"
#include "offline/msgid.hpp"
#include "protocol/cashier/server.hpp"
#include "protocol/policy_file.hpp"
#include "reader/card_service.hpp"
#include "reader/watcher.hpp"
#include "tools/settled/async.hpp"
#include "tools/settled/chain_keeper.hpp"
#include "tools/settled/notify.hpp"
#include "tools/settled/check_files.hpp"
#include "tools/settled/clock.hpp"
#include "tools/settled/config.hpp"
#include "tools/settled/gateway.hpp"
#include "tools/settled/live_work.hpp"
#include "tools/settled/logging.hpp"
#include "tools/settled/metrics.hpp"
#include "tools/settled/notices.hpp"
#include "tools/settled/operators.hpp"
#include "tools/settled/reload.hpp"
#include "tools/common/version.hpp"
#include "tools/settled/service.hpp"
#include "tools/settled/start_keepalive.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <malloc.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <thread>

namespace asio = boost::asio;
using namespace settle;
using namespace settle::daemon;

namespace {

// Logged once: to the journal under systemd (as critical), else on stderr.
int fail_start(const std::string& what) {
  log_start_failure(what);
  return 1;
}

// Why the ledger cannot be written, in the office's words: what its file
// system says (read-only, or no space left) first, else SQLite's error class.
std::optional<std::string> storage_cause(const std::string& ledger_path, std::optional<sql::Errc> code) {
  struct statvfs fs {};
  std::string probe = ledger_path;
  if (::statvfs(probe.c_str(), &fs) != 0) {
    probe = std::filesystem::path(ledger_path).parent_path().string();
    if (probe.empty() || ::statvfs(probe.c_str(), &fs) != 0) fs = {};
  }
  const bool read_only = (fs.f_flag & ST_RDONLY) != 0 || code == sql::Errc::read_only;
  const bool full = (fs.f_frsize > 0 && fs.f_bavail * fs.f_frsize < 64 * 1024) || code == sql::Errc::disk_full;
  if (read_only)
    return std::string("it is read-only (the file, its folder or the file system); make it writable for the daemon's "
                       "user, then start again");
  if (full) return std::string("the disk holding it is full; free space on it, then start again");
  if (code) return std::string("the disk failed; check the disk and the system log, then start again");
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  // Keep up to 16 MiB free per malloc arena instead of handing it back to the
  // kernel after every burst: with glibc's defaults each settlement gave back
  // and faulted in again ~70 pages, a fifth of the daemon's CPU
  // (docs/operations.md, "Memory"). Setting it also fixes glibc's mmap
  // threshold at 128 KiB, so every larger block (a long stay's lines at its
  // discharge) was mapped and faulted in anew: blocks up to 4 MiB come from
  // the arenas instead, which halved a 10,000-line discharge.
  ::mallopt(M_TRIM_THRESHOLD, 16 << 20);
  ::mallopt(M_MMAP_THRESHOLD, 4 << 20);
  CLI::App app{"settled — the hospital's medical-insurance card settlement daemon"};
  app.set_version_flag("--version", std::string("settled ") + settle::version);
  std::string config_path = "/etc/settled/settled.toml";
  bool check_only = false;
  app.add_option("-c,--config", config_path, "config file (see docs/examples/settled.toml)");
  app.add_flag("--check-config", check_only,
               "check the config and every file it names (policy, TLS certificates and keys, key files' modes, the "
               "data folder), then exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  auto config = load_config(config_path);
  if (!config) return fail_start(config.error().message);
  if (check_only) {
    // Every problem at once, each naming the option and the file.
    std::vector<std::string> problems;
    auto checked_policy = load_policy_file(config->policy_file);
    if (!checked_policy) problems.push_back(fmt::format("daemon.policy: {}", checked_policy.error().message));
    if (auto checked_notices = load_notices(config->notices.file); !checked_notices)
      problems.push_back(fmt::format("notices.file: {}", checked_notices.error().message));
    for (const FileProblem& p : check_config_files(*config)) problems.push_back(p.text());
    if (auto source = sql::key_source(config->storage.key_file)) {
      if (auto key = sql::StorageKey::load(*source); !key)
        problems.push_back(fmt::format("storage.key_file: {}", key.error().message));
    }
    if (!problems.empty()) {
      for (const std::string& p : problems) std::cerr << "settled: " << config_path << ": " << p << "\n";
      std::cerr << "settled: " << config_path << ": " << problems.size() << " problem(s); the daemon would not start\n";
      return 1;
    }
  }
  auto policy = load_policy_file(config->policy_file);
  if (!policy) return fail_start(policy.error().message);
  auto notices = load_notices(config->notices.file);
  if (!notices) return fail_start(fmt::format("notices.file: {}", notices.error().message));
  // The storage key: [storage] key_file, else the ledger-key credential.
  sql::Key storage_key;
  if (auto source = sql::key_source(config->storage.key_file)) {
    auto key = sql::StorageKey::load(*source);
    if (!key) return fail_start(key.error().message);
    storage_key = *key;
  }
  if (check_only) {
    std::cout << "settled: " << config_path << ", " << config->policy_file << " and the files they name are valid"
              << fmt::format("; the patient notices ({}) are valid", notices->source)
              << (storage_key ? fmt::format("; the storage key {} is usable", storage_key->source()) : "") << "\n";
    return 0;
  }
  setup_logging(config->log_level);
  if (!storage_key)
    spdlog::warn("the ledger and the red list are not encrypted at rest: no [storage] key_file and no ledger-key "
                 "credential (docs/encryption.md)");

  // data_dir is the daemon's alone: made 0700 when it does not exist (the
  // package and the unit's StateDirectory= make it so too); an existing
  // folder keeps the mode the site gave it.
  std::error_code ec;
  const bool made_data_dir = std::filesystem::create_directories(config->data_dir, ec);
  if (ec) return fail_start(fmt::format("cannot create data_dir {}: {}", config->data_dir, ec.message()));
  if (made_data_dir) ::chmod(config->data_dir.c_str(), 0700);

  // Under systemd the start may outlast TimeoutStartSec on a large ledger
  // (its copy and migration after an upgrade, its page checks after an
  // unclean stop): systemd is told to wait, step by step, until ready.
  StartKeepalive keepalive;
  keepalive.step("opening the ledger (after an upgrade or an unclean stop this can take minutes)");

  // The open work is counted after every commit, on the writer: engine.status
  // and the metrics read it from memory.
  LiveWork live_work;
  ledger::LedgerOptions ledger_options;
  ledger_options.key = storage_key;
  ledger_options.writer.after_commit = [&live_work](sql::Db& db) { live_work.refresh(db); };
  // After a clean stop the files' page checks (seconds for years of data)
  // run once the socket answers, not before (docs/ledger.md, "Start-up").
  ledger_options.check = ledger::IntegrityCheck::after_unclean_stop;
  auto ledger = ledger::Ledger::open(config->ledger_path, ledger_options);
  if (!ledger) {
    const ledger::OpenProblem problem = ledger.error().problem;
    if (problem == ledger::OpenProblem::storage || problem == ledger::OpenProblem::cannot_open) {
      if (const auto cause = storage_cause(config->ledger_path, std::nullopt))
        return fail_start(fmt::format("ledger {} cannot be written: {} ({})", config->ledger_path, *cause,
                                      ledger.error().message));
    }
    return fail_start(ledger.error().message);
  }
  ledger::Ledger& led = **ledger;
  if (auto counted = led.read([&live_work](sql::Db& db) -> sql::Status {
        live_work.refresh(db, false);
        return Ok{};
      });
      !counted)
    return fail_start(fmt::format("ledger {}: {}", config->ledger_path, counted.error().message));
  // The ledger must take a write before any cashier is served: a full disk
  // or a read-only file is found now, at start, not at a patient's charge.
  // The write is the start's own line in the ledger's history.
  // A run before this one that ended without a clean stop is an outage of
  // its own (docs/outages.md), from its last sign of life to this start.
  auto unclean = led.read([](sql::Db& db) { return ledger::unclean_stop(db); });
  if (!unclean) return fail_start(fmt::format("ledger {}: {}", config->ledger_path, unclean.error().message));
  if (*unclean)
    spdlog::warn("settled: the last run ended without a clean stop (last seen working {} ms ago); recorded as an outage",
                 now_ms() - **unclean);
  {
    auto started = led.write_wait([at = now_ms(), last = *unclean](sql::Db& db) -> sql::Status {
      if (last) {
        auto ended = ledger::end_outages(db, ledger::OutageKind::line, *last, "settled stopped while the line was offline");
        if (!ended) return ended.error();
        auto crash = ledger::record_outage(db, ledger::OutageKind::crash,
                                           "settled stopped without a clean stop (crash, kill or power loss)", *last, at,
                                           "started again; start-up recovery reverses the calls left in doubt");
        if (!crash) return crash.error();
      }
      auto e = ledger::append_event(db, ledger::Event{0, at, ledger::Entity::ledger, "settled", std::nullopt, "started", ""});
      if (!e) return e.error();
      return Ok{};
    });
    if (!started)
      return fail_start(fmt::format("ledger {} cannot be written: {} ({})", config->ledger_path,
                                    storage_cause(config->ledger_path, started.error().code).value_or("?"),
                                    started.error().message));
  }
  const bool checks_deferred = led.integrity_check_deferred();
  keepalive.step("opening the red list");
  auto redlist = redlist::Store::open(config->redlist.path, storage_key, !checks_deferred);
  if (!redlist) return fail_start(redlist.error().message);

  auto highest = led.read([&](sql::Db& db) { return ledger::highest_msgid(db, config->institution.code); });
  if (!highest) return fail_start(fmt::format("ledger {}: {}", config->ledger_path, highest.error().message));
  auto msgids = ledger::MsgidAllocator::create(config->institution.code, *highest);
  if (!msgids) return fail_start(msgids.error().message);
  // A query's msgid is written to the ledger only with its reply (and
  // without waiting): after a restart, skip the current second so none sent
  // by the last run can be issued twice.
  (void)msgids->next(insurer_civil_time(now_ms() + 1000));

  asio::io_context ioc(1);
  // SIGHUP (systemctl reload settled): the policy file and the config keys
  // that may change while running (reload.hpp) are read again, on this
  // thread, between two requests' steps. A file that does not load changes
  // nothing: the running config and policy stay, and the log says why.
  asio::signal_set reload_signal(ioc, SIGHUP);
  bool serving = false;  // READY=1 sent: a reload before it (during recovery) must not announce readiness
  std::function<void(const boost::system::error_code&, int)> on_reload;
  on_reload = [&](const boost::system::error_code& e, int) {
    if (e) return;
    if (serving) notify_systemd("RELOADING=1");
    auto fresh = load_config(config_path);
    auto fresh_policy = fresh ? load_policy_file(fresh->policy_file) : Result<Policy>(fresh.error());
    if (!fresh) {
      spdlog::error("reload: {}; nothing was changed: the running config and policy stay in force", fresh.error().message);
    } else if (!fresh_policy) {
      spdlog::error("reload: policy {}: {}; nothing was changed: the running config and policy stay in force",
                    fresh->policy_file, fresh_policy.error().message);
    } else {
      *policy = std::move(*fresh_policy);
      const ReloadPlan plan = apply_reloadable(*config, *fresh);
      spdlog::set_level(spdlog::level::from_str(config->log_level));
      spdlog::info("reload: policy {} (\"{}\", version {}) in force; config {}: {}", config->policy_file, policy->name,
                   policy->version, config_path,
                   plan.applied.empty() ? std::string("no reloadable key changed")
                                        : fmt::format("changed {}", fmt::join(plan.applied, ", ")));
      if (!plan.restart_needed.empty())
        spdlog::warn("reload: changed in {} but in force only after a restart (systemctl restart settled): {}",
                     config_path, fmt::join(plan.restart_needed, ", "));
    }
    // The patient notices: read again on every reload; a file that does not
    // load leaves the texts in force as they were.
    auto fresh_notices = load_notices(fresh ? fresh->notices.file : config->notices.file);
    if (!fresh_notices) {
      spdlog::error("reload: notices: {}; the patient notices from {} stay in force", fresh_notices.error().message,
                    notices->source);
    } else {
      *notices = std::move(*fresh_notices);
      spdlog::info("reload: patient notices from {} in force ({} notices)", notices->source, notices->notices.size());
    }
    if (serving) notify_systemd("READY=1");
    reload_signal.async_wait(on_reload);
  };
  reload_signal.async_wait(on_reload);
  // The hash chain's checkpoint key, and a checkpoint of the chain as this
  // start finds it (a crash leaves the last writes after the last checkpoint).
  auto chain_keeper = ChainKeeper::open(ioc, *config, led);
  if (!chain_keeper) return fail_start(chain_keeper.error().message);
  (*chain_keeper)->checkpoint_now("start");
  const std::size_t card_threads = std::max<std::size_t>(2, config->windows.size());
  asio::thread_pool card_pool(card_threads);
  asio::thread_pool db_pool(2);
  name_pool_threads(card_pool, card_threads, "card");
  name_pool_threads(db_pool, 2, "ledger-read");

  insurer::ClientConfig cc;
  cc.host = config->insurer.host;
  cc.port = config->insurer.port;
  cc.server_name = config->insurer.server_name;
  cc.target = config->insurer.target;
  cc.ca_file = config->insurer.ca_file;
  cc.cert_file = config->insurer.cert_file;
  cc.key_file = config->insurer.key_file;
  cc.pool_size = config->insurer.pool_size;
  cc.request_timeout_ms = config->insurer.request_timeout_ms;
  // A cashier never waits on a dead line longer than the offline deadline:
  // neither for a pooled connection nor for a new one.
  cc.pool_wait_timeout_ms = std::min(config->insurer.request_timeout_ms, config->network.offline_deadline_ms);
  cc.connect_timeout_ms = std::min(config->insurer.connect_timeout_ms, config->network.offline_deadline_ms);
  cc.paasid = config->insurer.paasid;
  cc.secret = config->insurer.secret;
  auto client = insurer::Client::create(ioc.get_executor(), cc);
  if (!client) return fail_start(client.error().message);

  reader::ReaderConfig rc;
  rc.window_readers = config->windows;
  rc.max_card_wait = std::chrono::milliseconds(config->max_card_wait_ms);
  reader::CardService cards(rc);

  Metrics metrics;
  Service* service_ptr = nullptr;
  InsurerGateway gateway(ioc.get_executor(), *client, led, *msgids, *config, [&service_ptr](LineOutcome o, std::int64_t sent_at_ms) {
    if (service_ptr != nullptr) service_ptr->on_line_outcome(o, sent_at_ms);
  });

  cashier::Server* server_ptr = nullptr;
  reader::ReaderWatcher watcher(config->windows, [&ioc, &server_ptr](reader::ReaderEvent ev) {
    asio::post(ioc, [&server_ptr, ev] {
      if (server_ptr == nullptr) return;
      if (ev.kind == reader::ReaderEvent::Kind::card_inserted)
        server_ptr->notify(cashier::Topic::card, "card.inserted", json::Json{{"window", ev.window}});
      else if (ev.kind == reader::ReaderEvent::Kind::card_removed)
        server_ptr->notify(cashier::Topic::card, "card.removed", json::Json{{"window", ev.window}});
      // Reader events are logged once, by the watcher.
    });
  });

  RedlistSyncer redlist_syncer(ioc, **redlist, gateway, *config);
  Service service(ioc, ServiceParts{*config, *policy, led, gateway, cards, watcher, card_pool, db_pool, metrics,
                                    redlist->get(), &redlist_syncer, chain_keeper->get(), &live_work, &*notices});
  service_ptr = &service;

  LedgerOperatorStore operators(led);
  cashier::AuthConfig ac;
  if (config->cashier.lockout.count() > 0) ac.lockout_duration = config->cashier.lockout;
  ac.source_failures_per_minute = static_cast<int>(config->cashier.source_failures_per_minute);
  cashier::Authenticator auth(operators, ac);

  cashier::ServerConfig sc;
  sc.unix_path = config->cashier.socket_path;
  sc.tcp_address = config->cashier.tcp_address;
  sc.tcp_port = config->cashier.tcp_port;
  sc.max_connections = config->cashier.max_connections;
  sc.login_timeout = config->cashier.login_timeout;
  sc.session_idle_timeout = config->cashier.session_idle;
  sc.unauthenticated_calls_per_second = static_cast<int>(config->cashier.unauthenticated_calls_per_second);
  sc.window_known = [&config](std::string_view w) { return config->windows.contains(std::string(w)); };
  sc.log = [](std::string_view line) { spdlog::info("cashier: {}", line); };
  sc.refused = [&service](const cashier::SessionInfo& s, std::string_view method, const Error& e,
                          std::string_view operator_given) { service.audit_refusal(s, method, e, operator_given); };
  cashier::Server server(ioc, sc, auth, service);
  server_ptr = &server;
  service.notify_connection = [&server](std::uint64_t id, std::string method, json::Json params) {
    server.notify_connection(id, std::move(method), std::move(params));
  };
  // The hooks of [notify] (docs/notifications.md), told on their own thread;
  // each attempt about the line is written to its outage record.
  Notifier notifier(config->notify, json::Json{{"code", config->institution.code}, {"name", config->institution.name}});
  if (Status st = notifier.start(); !st) return fail_start(st.error().message);
  notifier.on_attempt = [&led](const Notifier::Attempt& a) {
    if (a.event != NotifyEvent::line_offline && a.event != NotifyEvent::line_online) return;
    ledger::OutageNote n;
    n.at_ms = a.at_ms;
    n.kind = a.ok ? "notified" : "notify_failed";
    n.target = a.hook;
    n.detail = fmt::format("{}, attempt {}: {}{}", notify_event_name(a.event), a.attempt, a.detail,
                           !a.ok && a.last ? "; given up" : "");
    n.by = "settled";
    led.write(
        [n](sql::Db& db) mutable -> sql::Status {
          ledger::OutageFilter f;
          f.kind = "line";
          f.limit = 1;
          auto newest = ledger::list_outages(db, f);
          if (!newest) return newest.error();
          if (newest->empty()) return Ok{};
          n.outage_id = newest->front().outage_id;
          auto id = ledger::add_outage_note(db, n);
          if (!id) return id.error();
          return Ok{};
        },
        [](const sql::Status& r) {
          if (!r) spdlog::error("notify: the attempt could not be written to the outage record: {}", r.error().message);
        });
  };
  service.on_network_changed = [&server, &notifier, &service](NetworkState s) {
    server.notify(cashier::Topic::network, "network.changed", json::Json{{"network", network_state_name(s)}});
    if (s == NetworkState::offline)
      notifier.post(NotifyEvent::line_offline,
                    json::Json{{"line", "offline"},
                               {"cause", service.line_cause() == OfflineCause::clock_skew
                                             ? "the insurer refuses this host's request times (clock skew)"
                                             : "the insurer is unreachable"}});
    else if (s == NetworkState::online)
      notifier.post(NotifyEvent::line_online, json::Json{{"line", "online"}});
  };
  service.on_work_added = [&server, &notifier](json::Json item) {
    if (item.value("kind", std::string()).rfind("parked", 0) == 0) {
      // What the office needs to find it; no person's data leaves the host.
      json::Json f = json::Json::object();
      for (const char* k : {"kind", "queue", "item_id", "adm_id", "msgid", "reason", "since", "what_to_do"})
        if (item.contains(k)) f[k] = item[k];
      notifier.post(NotifyEvent::parked, std::move(f));
    }
    server.notify(cashier::Topic::work, "work.added", std::move(item));
  };
  redlist_syncer.on_synced = [&metrics](bool full, bool ok) { metrics.redlist_sync(full, ok); };
  metrics.gauges = [&led, &service, &server, &gateway, &live_work, &store = **redlist]() {
    Metrics::Gauges g;
    const ledger::OpenWork w = live_work.get();
    g.in_doubt = w.in_doubt;
    g.pending_reversals = w.pending_reversals;
    g.pending_uploads = w.pending_uploads;
    g.parked_reversals = w.parked_reversals;
    g.parked_uploads = w.parked_uploads;
    if (auto n = led.read([](sql::Db& db) { return ledger::work_count(db); })) g.work_items = *n;
    g.network_state = static_cast<std::int64_t>(service.network());
    g.storage_encrypted = led.encrypted() ? 1 : 0;
    g.connections = static_cast<std::int64_t>(server.connection_count());
    g.clock_skew_s = gateway.clock_skew().offset_s();
    g.clock_refused = gateway.clock_skew().refusing() ? 1 : 0;
    const redlist::Info list = store.info();
    g.redlist_version = list.version;
    g.redlist_entries = list.entries;
    g.redlist_synced_at_ms = list.synced_at_ms;
    g.now_ms = now_ms();
    const ledger::WriterStats written = led.writer_stats();
    g.ledger_commits = written.transactions;
    g.ledger_writes = written.jobs_committed;
    g.ledger_wal_bytes = written.wal_bytes;
    return g;
  };

  // The page checks left from the open (after a clean stop): on a thread of
  // their own while the windows work. A damaged file stops the daemon without
  // a clean stop, so the next start checks it first and refuses it clearly.
  std::atomic<bool> checks_stop{false};
  std::atomic<bool> damaged{false};
  std::thread page_checks;
  auto run_page_checks = [&] {
    pthread_setname_np(pthread_self(), "page-checks");
    const auto t0 = std::chrono::steady_clock::now();
    // The red list first: only its syncs write to it. The ledger's checks
    // hold back the WAL the windows' commits write to, so they go table by
    // table and the whole file's waits for quieter windows
    // (Ledger::check_deferred).
    auto list_found = (*redlist)->check_integrity(&checks_stop);
    if (checks_stop) return;
    ledger::Ledger::DeferredCheck how;
    how.log = [](const std::string& line) { spdlog::info("settled: after a clean stop, {}", line); };
    auto ledger_found = led.check_deferred(checks_stop, how);
    if (checks_stop) return;
    const auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string problems;
    if (!ledger_found || !ledger_found->empty())
      problems += fmt::format("ledger {}: {}", config->ledger_path,
                              ledger_found ? *ledger_found : ledger_found.error().message);
    if (!list_found || !list_found->empty())
      problems += fmt::format("{}red list {}: {}", problems.empty() ? "" : "; ", config->redlist.path,
                              list_found ? *list_found : list_found.error().message);
    if (problems.empty()) {
      spdlog::info("settled: page checks of the ledger and the red list after a clean stop: sound ({:.1f} s)", took);
      return;
    }
    spdlog::critical("settled: a file failed its page check ({}); stopping: restore it from the backup "
                     "(docs/operations.md, \"Backups\")",
                     problems);
    damaged = true;
    std::raise(SIGTERM);
  };

  // Start-up recovery comes before the first cashier request.
  bool recovered = false;
  asio::steady_timer redlist_age_timer(ioc);
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        keepalive.step("recovering what the last run left in doubt");
        const Result<std::int64_t> r = co_await service.recover();
        if (!r) {
          spdlog::critical("settled: recovery failed: {}", r.error().message);
          ioc.stop();
          co_return;
        }
        if (*r > 0) spdlog::warn("recovery: {} request(s) were in doubt; their reversals are queued", *r);
        recovered = true;
        if (Status st = server.start(); !st) {
          spdlog::critical("settled: cashier server: {}", st.error().message);
          ioc.stop();
          co_return;
        }
        spdlog::info("settled: insurer profile {} (offline settlement {}, insurer preview {})",
                     flow::profile_name(config->insurer.profile.name), config->insurer.profile.offline ? "on" : "off",
                     config->insurer.profile.preview ? "on" : "off");
        spdlog::info("settled: serving cashiers on {}{}", config->cashier.socket_path,
                     server.tcp_port() ? fmt::format(" and 127.0.0.1:{}", *server.tcp_port()) : std::string());
        std::cout << "settled: ready on " << config->cashier.socket_path << std::endl;
        // systemd (Type=notify): ready once the socket listens.
        keepalive.stop();
        notify_systemd("READY=1\nSTATUS=serving cashiers on " + config->cashier.socket_path);
        serving = true;
        if (checks_deferred) page_checks = std::thread(run_page_checks);
        asio::co_spawn(ioc, service.run_line(), asio::detached);
        // Without offline settlement (the profile's [insurer] offline) the red list is not kept.
        if (config->insurer.profile.offline) asio::co_spawn(ioc, redlist_syncer.run_schedule(), asio::detached);
        asio::co_spawn(ioc, (*chain_keeper)->run_schedule(), asio::detached);
        // The red list's age against [notify] redlist_stale_after_s, once a minute.
        if (notifier.any_hook_for(NotifyEvent::redlist_stale) && config->insurer.profile.offline)
          asio::co_spawn(
              ioc,
              [&]() -> asio::awaitable<void> {
                for (;;) {
                  const redlist::Info list = (*redlist)->info();
                  notifier.redlist_seen(list.synced_at_ms, now_ms(), list.version);
                  redlist_age_timer.expires_after(std::chrono::seconds(60));
                  auto [waited] = co_await redlist_age_timer.async_wait(asio::as_tuple(asio::use_awaitable));
                  if (waited) co_return;
                }
              },
              asio::detached);
      },
      asio::detached);
  watcher.start();
  if (config->metrics_address)
    asio::co_spawn(ioc, serve_metrics(ioc, *config->metrics_address, config->metrics_port, metrics), asio::detached);

  // SIGTERM / SIGINT: stop taking requests, answer those in flight (their
  // outcomes are written before they are answered), then stop.
  asio::signal_set signals(ioc, SIGTERM, SIGINT);
  // A money call whose outcome the ledger cannot take: stop (non-zero, so the
  // unit restarts) and let start-up recovery reverse it.
  bool fatal = false;
  service.on_fatal = [&] {
    fatal = true;
    std::raise(SIGTERM);
  };
  signals.async_wait([&](const boost::system::error_code& e, int sig) {
    if (e) return;
    spdlog::info("settled: signal {}, finishing the requests in flight", sig);
    notify_systemd("STOPPING=1\nSTATUS=finishing the requests in flight");
    reload_signal.cancel();
    service.stop();
    redlist_syncer.stop();
    (*chain_keeper)->stop();
    redlist_age_timer.cancel();
    watcher.stop();
    server.stop(cashier::StopMode::drain, [&] {
      (*client)->close();
      ioc.stop();
    });
  });

  ioc.run();
  checks_stop = true;
  if (page_checks.joinable()) page_checks.join();
  card_pool.join();
  db_pool.join();
  notifier.stop();
  // A clean stop, in the ledger: the next start finds no crash. An outage of
  // the line still open ends here (the next start cannot know when it ended).
  // A damaged file gets none: the next start checks its pages first.
  if (damaged) {
    spdlog::critical("settled: stopped: a file failed its page check");
    return 1;
  }
  if (auto stopped = led.write_wait([at = now_ms()](sql::Db& db) -> sql::Status {
        auto ended = ledger::end_outages(db, ledger::OutageKind::line, at, "settled stopped while the line was offline");
        if (!ended) return ended.error();
        auto e = ledger::append_event(db, ledger::Event{0, at, ledger::Entity::ledger, "settled", std::nullopt, "stopped", ""});
        if (!e) return e.error();
        return Ok{};
      });
      !stopped)
    spdlog::error("settled: the clean stop could not be recorded: {}", stopped.error().message);
  (*chain_keeper)->checkpoint_now("stop");
  spdlog::info("settled: stopped{}", recovered ? "" : " before recovery finished");
  if (fatal) {
    spdlog::critical("settled: stopped: a call's outcome could not be recorded; start again to reverse it");
    return 75;  // EX_TEMPFAIL
  }
  return recovered ? 0 : 1;
}
