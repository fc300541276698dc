// The red-list sync driver: pages 9303 through the insurer gateway, applies
// each page to the red-list store on its own worker thread (never on the
// io_context), reports progress, and runs the schedule (a full snapshot while
// the list is empty, then deltas every [redlist] sync_interval_s).
#pragma once

#include "engine/result.hpp"
#include "offline/redlist.hpp"
#include "tools/settled/async.hpp"
#include "tools/settled/config.hpp"
#include "tools/settled/gateway.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace settle::daemon {

struct RedlistSyncOutcome {
  redlist::Info info;        // the store after the sync
  std::int64_t applied = 0;  // entries received and applied
  std::int64_t took_ms = 0;
  bool full = false;
};

// applied so far, and the total once page 1 said it.
using RedlistProgress = std::function<void(std::int64_t applied, std::optional<std::int64_t> total)>;

class RedlistSyncer {
 public:
  RedlistSyncer(asio::io_context& ioc, redlist::Store& store, InsurerGateway& gateway, const Config& config);
  ~RedlistSyncer();
  RedlistSyncer(const RedlistSyncer&) = delete;
  RedlistSyncer& operator=(const RedlistSyncer&) = delete;

  // One sync (full, or a delta from the store's version; full anyway while
  // the store has never been synced). Errors: INVALID_STATE (a sync is
  // running), INSURER_UNREACHABLE / IN_DOUBT / INSURER_REJECTED (the insurer
  // did not give a page), INVALID_REQUEST (a page was refused), STORAGE_FAILED.
  // On any error the store keeps its previous version whole.
  awaitable<Result<RedlistSyncOutcome>> sync(bool full, const RedlistProgress& progress);

  // The schedule; returns after stop().
  awaitable<void> run_schedule();
  void stop();

  // Told after every sync, done or failed (the metrics count them).
  std::function<void(bool full, bool ok)> on_synced;

 private:
  awaitable<Result<RedlistSyncOutcome>> sync_once(bool full, const RedlistProgress& progress);
  awaitable<void> drop_sync(std::shared_ptr<redlist::Sync>& sync);
  struct PendingApply;
  std::shared_ptr<PendingApply> start_apply(const std::shared_ptr<redlist::Sync>& sync, insurer::RedList::Output page);
  awaitable<Status> finish_apply(const std::shared_ptr<PendingApply>& p);

  asio::io_context& ioc_;
  redlist::Store& store_;
  InsurerGateway& gateway_;
  const Config& config_;
  asio::thread_pool worker_{1};  // every Store::Sync call runs here
  asio::steady_timer wakeup_;
  bool stopping_ = false;
};

}  // namespace settle::daemon
