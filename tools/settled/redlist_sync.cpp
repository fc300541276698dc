// The red-list sync driver: 9303 pages from the gateway into a
// redlist::Store::Sync on a worker thread, with progress and a schedule.
#include "tools/settled/redlist_sync.hpp"

#include "protocol/insurer/redlist_fast.hpp"
#include "tools/settled/clock.hpp"

#include <boost/asio/redirect_error.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

namespace settle::daemon {

namespace {

// How long the schedule waits after a failed sync before trying again.
constexpr std::int64_t kRetryAfterFailureS = 60;
// The first scheduled sync comes this long after start (recovery goes first).
constexpr std::int64_t kFirstSyncDelayS = 2;

}  // namespace

RedlistSyncer::RedlistSyncer(asio::io_context& ioc, redlist::Store& store, InsurerGateway& gateway,
                             const Config& config)
    : ioc_(ioc), store_(store), gateway_(gateway), config_(config), wakeup_(ioc) {
  name_pool_threads(worker_, 1, "redlist-sync");
}

RedlistSyncer::~RedlistSyncer() { worker_.join(); }

void RedlistSyncer::stop() {
  stopping_ = true;
  wakeup_.cancel();
}

awaitable<Result<RedlistSyncOutcome>> RedlistSyncer::sync(bool full, const RedlistProgress& p) {
  const bool whole = full || store_.info().version == 0;
  Result<RedlistSyncOutcome> r = co_await sync_once(whole, p);
  if (r)
    spdlog::info("red list: {} sync to version {} ({} entries received, {} on the list) in {} ms",
                 whole ? "full" : "delta", r->info.version, r->applied, r->info.entries, r->took_ms);
  else
    spdlog::warn("red list: {} sync failed, version {} kept: {}", whole ? "full" : "delta", store_.info().version,
                 r.error().message);
  if (on_synced) on_synced(whole, static_cast<bool>(r));
  co_return r;
}

// A page being applied on the worker; `result` is set (on the io_context)
// when it is done, and `done` cancelled to wake a waiter.
struct RedlistSyncer::PendingApply {
  explicit PendingApply(asio::io_context& ioc) : done(ioc) { done.expires_at(asio::steady_timer::time_point::max()); }
  asio::steady_timer done;
  std::optional<Status> result;
  std::int64_t entries = 0;
};

std::shared_ptr<RedlistSyncer::PendingApply> RedlistSyncer::start_apply(const std::shared_ptr<redlist::Sync>& sync,
                                                                        insurer::RedList::Output page) {
  auto p = std::make_shared<PendingApply>(ioc_);
  p->entries = static_cast<std::int64_t>(page.entries.size());
  asio::post(worker_, [this, p, sync, page = std::move(page)] {
    Status s = sync->add(page);
    asio::post(ioc_, [p, s = std::move(s)] {
      p->result = s;
      p->done.cancel();
    });
  });
  return p;
}

awaitable<Status> RedlistSyncer::finish_apply(const std::shared_ptr<PendingApply>& p) {
  if (!p->result) {
    boost::system::error_code ec;
    co_await p->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return *p->result;
}

// Pages are pipelined: page n+1 is fetched and decoded (on the io_context)
// while page n is applied on the worker. The worker runs jobs in order, so
// dropping the sync after an error always comes after the pending apply.
awaitable<Result<RedlistSyncOutcome>> RedlistSyncer::sync_once(bool full, const RedlistProgress& progress) {
  const auto started = std::chrono::steady_clock::now();
  auto begin_job = [this, full] { return store_.begin_sync(full); };
  auto begun = co_await on_pool(worker_, std::move(begin_job));
  if (!begun) co_return begun.error();
  std::shared_ptr<redlist::Sync> sync = std::move(*begun);
  const std::int64_t since = sync->since_version();
  std::int64_t to_version = 0, page_num = 1, applied = 0;
  std::optional<std::int64_t> total;
  std::shared_ptr<PendingApply> pending;
  for (;;) {
    if (stopping_) {
      co_await drop_sync(sync);
      co_return make_error(Reason::insurer_unreachable, "redlist", "the daemon is stopping; the sync was abandoned");
    }
    insurer::RedList::Input in;
    in.since_version = since;
    in.to_version = to_version;
    in.page_num = page_num;
    in.page_size = config_.redlist.page_size;
    CallSpec spec;
    spec.infno = std::string(insurer::RedList::infno);
    spec.input = in.encode();
    spec.keep_body = true;
    const CallResult r = co_await gateway_.call(std::move(spec));
    if (!r.succeeded()) {
      co_await drop_sync(sync);
      if (r.answered() && r.response)
        co_return make_error(Reason::insurer_rejected, fmt::format("infcode={}", r.response->infcode),
                             fmt::format("9303 page {}: the insurer answered: {}", in.page_num,
                                         r.response->err_msg.empty() ? r.detail : r.response->err_msg));
      co_return make_error(Reason::insurer_unreachable, "insurer",
                           fmt::format("9303 page {}: no answer from the insurer ({})", in.page_num, r.detail));
    }
    auto page = insurer::decode_red_list_reply(r.body, r.msgid);
    if (!page) {
      co_await drop_sync(sync);
      Error e = page.error();
      e.message = fmt::format("9303 page {} refused: {}", in.page_num, e.message);
      co_return e;
    }
    if (page_num == 1) {
      to_version = page->version;
      total = page->total;
    }
    if (pending) {
      const Status added = co_await finish_apply(pending);
      if (!added) {
        co_await drop_sync(sync);
        co_return added.error();
      }
      applied += pending->entries;
      if (progress) progress(applied, total);
    }
    const bool last = !page->more;
    pending = start_apply(sync, std::move(*page));
    ++page_num;
    if (last) break;
  }
  const Status added = co_await finish_apply(pending);
  if (!added) {
    co_await drop_sync(sync);
    co_return added.error();
  }
  applied += pending->entries;
  if (progress) progress(applied, total);
  const std::int64_t at = now_ms();
  auto commit_job = [sync, at] { return sync->commit(at); };
  auto info = co_await on_pool(worker_, std::move(commit_job));
  RedlistSyncOutcome out;
  out.applied = applied;
  out.full = full;
  co_await drop_sync(sync);
  if (!info) co_return info.error();
  out.info = *info;
  out.took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  co_return out;
}

// Whatever happens, the sync object is released on the worker (an
// uncommitted one rolls back or removes its fresh file there).
awaitable<void> RedlistSyncer::drop_sync(std::shared_ptr<redlist::Sync>& sync) {
  auto job = [s = std::move(sync)]() mutable {
    s.reset();
    return 0;
  };
  (void)co_await on_pool(worker_, std::move(job));
}

awaitable<void> RedlistSyncer::run_schedule() {
  if (config_.redlist.sync_interval_s == 0) co_return;
  std::int64_t wait_s = kFirstSyncDelayS;
  while (!stopping_) {
    wakeup_.expires_after(std::chrono::seconds(wait_s));
    boost::system::error_code ec;
    co_await wakeup_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) break;
    const RedlistProgress none;
    const Result<RedlistSyncOutcome> r = co_await sync(false, none);
    wait_s = r ? static_cast<std::int64_t>(config_.redlist.sync_interval_s)
               : std::min<std::int64_t>(kRetryAfterFailureS, config_.redlist.sync_interval_s);
  }
}

}  // namespace settle::daemon
