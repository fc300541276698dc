// Bridges from the daemon's io_context coroutines to its blocking parts: the
// ledger's group-commit writer (completes on the writer thread), ledger reads
// and card operations (run on worker pools). Each resumes the coroutine on
// its own executor, so service state is only touched on the io_context.
//
// These are plain functions returning the awaitable (not coroutines): the
// job travels into the initiation by move, never as a coroutine parameter
// (GCC 12 destroys temporaries passed by value to a coroutine twice).
#pragma once

#include "offline/ledger.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>
#include <pthread.h>

#include <latch>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace settle::daemon {

namespace asio = boost::asio;
using asio::awaitable;

// Names each of a pool's `threads` threads "<prefix>-1", "<prefix>-2", ... (as
// `top -H` and perf show them). Each naming task waits until all have
// started, so each runs on a thread of its own; `threads` must be the
// pool's size, and the pool idle. Returns once all are named.
inline void name_pool_threads(asio::thread_pool& pool, std::size_t threads, std::string_view prefix) {
  // Shared with the tasks: the last count_down may still touch its latch
  // after the wait below has returned.
  struct Latches {
    explicit Latches(std::ptrdiff_t n) : started(n), named(n) {}
    std::latch started;
    std::latch named;
  };
  auto l = std::make_shared<Latches>(static_cast<std::ptrdiff_t>(threads));
  for (std::size_t i = 1; i <= threads; ++i) {
    asio::post(pool, [l, name = fmt::format("{}-{}", prefix, i).substr(0, 15)] {
      pthread_setname_np(pthread_self(), name.c_str());
      l->started.arrive_and_wait();
      l->named.count_down();
    });
  }
  l->named.wait();
}

// Runs `fn(db)` as one job of the ledger's group commit and resumes when it
// is durable (or failed). R is the job's sql::Result/Status type. `touches`:
// untracked for a job that changes no figure LiveWork reads (Writer::Touches).
template <class F, class R = std::invoke_result_t<F&, sql::Db&>>
awaitable<R> ledger_write(ledger::Ledger& ledger, F fn,
                          ledger::Writer::Touches touches = ledger::Writer::Touches::tracked) {
  return asio::async_initiate<const asio::use_awaitable_t<>, void(R)>(
      [&ledger, touches](auto handler, F job) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto ex = asio::get_associated_executor(*h);
        ledger.write(
            std::move(job),
            [h, ex](R r) mutable {
              asio::post(ex, [h, r = std::move(r)]() mutable { std::move (*h)(std::move(r)); });
            },
            touches);
      },
      asio::use_awaitable, std::move(fn));
}

// Queues `fn(db)` without waiting for it (writes whose durability nobody waits
// on, e.g. a query's message). `on_error` runs on the writer thread.
template <class F, class E>
void ledger_write_detached(ledger::Ledger& ledger, F fn, E on_error,
                           ledger::Writer::Touches touches = ledger::Writer::Touches::tracked) {
  using R = std::invoke_result_t<F&, sql::Db&>;
  ledger.write(
      std::move(fn),
      [on_error = std::move(on_error)](R r) mutable {
        if (!r.ok()) on_error(r.error());
      },
      touches);
}

// Runs `fn()` on `pool` and resumes with its result on the caller's executor.
template <class F, class R = std::invoke_result_t<F&>>
awaitable<R> on_pool(asio::thread_pool& pool, F fn) {
  return asio::async_initiate<const asio::use_awaitable_t<>, void(R)>(
      [&pool](auto handler, F work) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto ex = asio::get_associated_executor(*h);
        asio::post(pool, [h, ex, work = std::move(work)]() mutable {
          R r = work();
          asio::post(ex, [h, r = std::move(r)]() mutable { std::move (*h)(std::move(r)); });
        });
      },
      asio::use_awaitable, std::move(fn));
}

// A ledger read on the worker pool.
template <class F, class R = std::invoke_result_t<F&, sql::Db&>>
awaitable<R> ledger_read(ledger::Ledger& ledger, asio::thread_pool& pool, F fn) {
  return on_pool(pool, [&ledger, fn = std::move(fn)]() mutable { return ledger.read(fn); });
}

// Work started now and awaited later: a ledger write whose commit overlaps
// the insurer round trips that do not depend on it, or a card check (on the
// card pool) that overlaps the request's own claim.
template <class R>
class Pending {
 public:
  template <class F>
  static Pending start(ledger::Ledger& ledger, asio::any_io_executor ex, F fn) {
    Pending p;
    p.st_ = std::make_shared<State>(ex);
    p.st_->timer.expires_at(asio::steady_timer::time_point::max());
    ledger.write(std::move(fn), [st = p.st_, ex](R r) mutable { deliver(st, ex, std::move(r)); });
    return p;
  }
  template <class F>
  static Pending start_on(asio::thread_pool& pool, asio::any_io_executor ex, F fn) {
    Pending p;
    p.st_ = std::make_shared<State>(ex);
    p.st_->timer.expires_at(asio::steady_timer::time_point::max());
    asio::post(pool, [st = p.st_, ex, fn = std::move(fn)]() mutable { deliver(st, ex, fn()); });
    return p;
  }
  awaitable<R> get() {
    if (!st_->value) {
      boost::system::error_code ec;
      co_await st_->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return std::move(*st_->value);
  }

 private:
  struct State {
    explicit State(asio::any_io_executor ex) : timer(ex) {}
    std::optional<R> value;
    asio::steady_timer timer;
  };
  static void deliver(const std::shared_ptr<State>& st, asio::any_io_executor ex, R r) {
    asio::post(ex, [st, r = std::move(r)]() mutable {
      st->value.emplace(std::move(r));
      st->timer.cancel();
    });
  }
  std::shared_ptr<State> st_;
};

}  // namespace settle::daemon
