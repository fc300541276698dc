// The watcher thread's loop. It owns one PC/SC context (its own thread's),
// waits on all configured readers plus the PnP pseudo reader, derives card
// and reader transitions from the state words, and rebuilds its context when
// pcscd goes away. Events go out through the sink in the order they happen.
#include "reader/watcher.hpp"

#include "reader/pcsc_adapter.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <pthread.h>
#include <thread>

namespace settle::reader {

std::string_view event_kind_name(ReaderEvent::Kind k) noexcept {
  switch (k) {
    case ReaderEvent::Kind::card_inserted: return "card_inserted";
    case ReaderEvent::Kind::card_removed: return "card_removed";
    case ReaderEvent::Kind::reader_available: return "reader_available";
    case ReaderEvent::Kind::reader_unavailable: return "reader_unavailable";
  }
  return "?";
}

namespace {
constexpr const char* kPnpReader = "\\\\?PnP?\\Notification";

struct Watched {
  std::string reader;
  std::vector<std::string> windows;
  bool reader_present = false;
  bool card_present = false;
  DWORD last_state = SCARD_STATE_UNAWARE;
};
}  // namespace

struct ReaderWatcher::Impl {
  EventSink sink;
  WatcherOptions opt;
  std::vector<Watched> watched;  // touched by the thread; snapshot() copies under mu

  mutable std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  bool finished = false;  // run() has returned
  bool service_up = false;
  std::optional<pcsc::Context> ctx;  // guarded by mu for SCardCancel from stop()
  DWORD pnp_state = SCARD_STATE_UNAWARE;  // last PnP state seen (thread only)
  bool pnp_supported = true;
  std::thread thread;

  Impl(const std::map<std::string, std::string>& window_readers, EventSink s, WatcherOptions o)
      : sink(std::move(s)), opt(o) {
    for (const auto& wr : window_readers) {
      const std::string& window = wr.first;
      const std::string& reader = wr.second;  // named, not bound: lambdas capture it
      auto it = std::find_if(watched.begin(), watched.end(), [&](const Watched& w) { return w.reader == reader; });
      if (it == watched.end()) {
        watched.push_back(Watched{reader, {window}});
      } else {
        it->windows.push_back(window);
      }
    }
  }

  void emit(ReaderEvent::Kind kind, const Watched& w) {
    for (const auto& window : w.windows) {
      // Cards coming and going, a reader appearing: routine, at debug. A
      // window losing its reader is a fault the office must see.
      spdlog::log(kind == ReaderEvent::Kind::reader_unavailable ? spdlog::level::warn : spdlog::level::debug,
                  "reader '{}' window '{}': {}", w.reader, window, event_kind_name(kind));
      sink(ReaderEvent{kind, window, w.reader});
    }
  }

  // Moves one reader to a new (reader present, card present) pair, emitting
  // the transitions in a sensible order.
  void set_state(Watched& w, bool reader_present, bool card_present) {
    bool card_before = w.card_present;
    bool reader_before = w.reader_present;
    {
      std::lock_guard lk(mu);
      w.reader_present = reader_present;
      w.card_present = reader_present && card_present;
    }
    if (card_before && !w.card_present) emit(ReaderEvent::Kind::card_removed, w);
    if (reader_before && !reader_present) emit(ReaderEvent::Kind::reader_unavailable, w);
    if (!reader_before && reader_present) emit(ReaderEvent::Kind::reader_available, w);
    if (!card_before && w.card_present) emit(ReaderEvent::Kind::card_inserted, w);
  }

  bool should_stop() {
    std::lock_guard lk(mu);
    return stopping;
  }

  // Sleeps for the backoff unless stop() comes first; true if stopping.
  bool pause() {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, opt.reconnect_backoff, [this] { return stopping; });
  }

  void service_lost() {
    {
      std::lock_guard lk(mu);
      if (ctx) ctx->release();
      ctx.reset();
      service_up = false;
    }
    pnp_state = SCARD_STATE_UNAWARE;
    pnp_supported = true;
    for (auto& w : watched) {
      set_state(w, false, false);
      w.last_state = SCARD_STATE_UNAWARE;
    }
  }

  void run() {
    pthread_setname_np(pthread_self(), "card-watcher");
    bool logged_down = false;
    while (!should_stop()) {
      // 1. A context with pcscd.
      SCARDCONTEXT handle = 0;
      {
        auto c = pcsc::Context::establish();
        if (!c) {
          if (!logged_down) spdlog::warn("reader watcher: {}", c.error().message);
          logged_down = true;
          service_lost();
          if (pause()) break;
          continue;
        }
        std::lock_guard lk(mu);
        if (stopping) break;
        ctx.emplace(std::move(*c));
        handle = ctx->get();
        service_up = true;
      }
      if (logged_down) spdlog::info("reader watcher: pcscd is back");
      logged_down = false;
      // 2. Watch until pcscd goes away or stop() is called.
      if (watch(handle)) {
        service_lost();
        if (pause()) break;
      }
    }
    std::lock_guard lk(mu);
    if (ctx) ctx->release();
    ctx.reset();
    finished = true;
    cv.notify_all();
  }

  // Returns true when the context is lost (pcscd down), false on stop.
  bool watch(SCARDCONTEXT handle) {
    while (!should_stop()) {
      auto names = pcsc::list_readers(handle);
      if (!names) {
        if (errc_of(names.error()) == ReaderErrc::service_down) return true;
        spdlog::warn("reader watcher: {}", names.error().message);
        if (pause()) return false;
        continue;
      }
      std::vector<Watched*> present;
      for (auto& w : watched) {
        const bool listed = std::find(names->begin(), names->end(), w.reader) != names->end();
        if (listed) {
          present.push_back(&w);
        } else {
          set_state(w, false, false);
          w.last_state = SCARD_STATE_UNAWARE;
        }
      }
      const LONG rc = wait_round(handle, present);
      if (rc == SCARD_E_CANCELLED) return false;
      if (pcsc::is_service_error(rc)) {
        spdlog::warn("reader watcher: pcscd went away ({})", pcsc_stringify_error(rc));
        return true;
      }
      // A reader vanished between listing and waiting, or pcscd answered
      // something unexpected: relist after a pause rather than spin.
      if (rc != SCARD_S_SUCCESS) {
        if (rc != SCARD_E_UNKNOWN_READER) spdlog::warn("reader watcher: {}", pcsc_stringify_error(rc));
        if (pause()) return false;
      }
    }
    return false;
  }

  // Waits for changes on the present readers until the reader set changes
  // (PnP) or an error; returns the code that ended the round.
  LONG wait_round(SCARDCONTEXT handle, const std::vector<Watched*>& present) {
    std::vector<SCARD_READERSTATE> states(present.size() + 1);
    for (std::size_t i = 0; i < present.size(); ++i) {
      states[i].szReader = present[i]->reader.c_str();
      states[i].dwCurrentState = present[i]->last_state;
    }
    SCARD_READERSTATE& pnp = states.back();
    pnp.szReader = kPnpReader;
    pnp.dwCurrentState = pnp_supported ? pnp_state : SCARD_STATE_IGNORE;
    while (!should_stop()) {
      const LONG rc = SCardGetStatusChange(handle, static_cast<DWORD>(opt.poll_timeout.count()), states.data(),
                                           static_cast<DWORD>(states.size()));
      // Without PnP notifications, new readers are found by relisting each round.
      if (rc == SCARD_E_TIMEOUT && !pnp_supported) return SCARD_S_SUCCESS;
      if (rc == SCARD_E_TIMEOUT) continue;
      if (rc == SCARD_E_UNKNOWN_READER) return rc;  // a reader vanished between list and wait: relist
      if (rc != SCARD_S_SUCCESS) return rc;
      for (std::size_t i = 0; i < present.size(); ++i) {
        Watched& w = *present[i];
        const DWORD ev = states[i].dwEventState;
        if (!(ev & SCARD_STATE_CHANGED) && w.last_state != SCARD_STATE_UNAWARE) continue;
        if (ev & SCARD_STATE_UNKNOWN) {  // the reader is gone: relist
          set_state(w, false, false);
          w.last_state = SCARD_STATE_UNAWARE;
          return SCARD_E_UNKNOWN_READER;
        }
        if (ev & (SCARD_STATE_UNAVAILABLE | SCARD_STATE_IGNORE)) {
          // Listed but failing (driver trouble): unavailable until its state changes.
          set_state(w, false, false);
          w.last_state = ev & ~static_cast<DWORD>(SCARD_STATE_CHANGED);
          states[i].dwCurrentState = w.last_state;
          continue;
        }
        const bool card = (ev & SCARD_STATE_PRESENT) != 0;
        // The high 16 bits count card events: a change while "present" both
        // times means a card was swapped between two looks.
        const bool swapped = card && w.card_present && w.last_state != SCARD_STATE_UNAWARE &&
                             (ev >> 16) != (w.last_state >> 16);
        if (swapped) set_state(w, true, false);
        set_state(w, true, card);
        w.last_state = ev & ~static_cast<DWORD>(SCARD_STATE_CHANGED);
        states[i].dwCurrentState = w.last_state;
      }
      if (pnp_supported && (pnp.dwEventState & SCARD_STATE_UNKNOWN)) {  // no PnP support in this pcscd
        pnp_supported = false;
        return SCARD_S_SUCCESS;
      }
      if (pnp_supported && (pnp.dwEventState & SCARD_STATE_CHANGED)) {
        // The reader set changed (the first round after a new context always
        // reports once): remember where we are and relist.
        pnp_state = pnp.dwEventState & ~static_cast<DWORD>(SCARD_STATE_CHANGED);
        return SCARD_S_SUCCESS;
      }
    }
    return SCARD_E_CANCELLED;
  }
};

ReaderWatcher::ReaderWatcher(std::map<std::string, std::string> window_readers, EventSink sink, WatcherOptions options)
    : impl_(std::make_unique<Impl>(window_readers, std::move(sink), options)) {}

ReaderWatcher::~ReaderWatcher() { stop(); }

void ReaderWatcher::start() {
  SETTLE_ASSERT(!impl_->thread.joinable());
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = false;
    impl_->finished = false;
  }
  impl_->thread = std::thread([this] { impl_->run(); });
}

void ReaderWatcher::stop() {
  {
    std::unique_lock lk(impl_->mu);
    impl_->stopping = true;
    // The thread may be between two waits when the first cancel lands, so
    // cancel again until it has left its loop (each wait also checks
    // `stopping` before it starts).
    while (impl_->thread.joinable() && !impl_->finished) {
      if (impl_->ctx && impl_->ctx->valid()) SCardCancel(impl_->ctx->get());
      impl_->cv.notify_all();
      impl_->cv.wait_for(lk, std::chrono::milliseconds{20});
    }
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::vector<ReaderStatus> ReaderWatcher::snapshot() const {
  std::vector<ReaderStatus> out;
  std::lock_guard lk(impl_->mu);
  for (const auto& w : impl_->watched) {
    for (const auto& window : w.windows) out.push_back(ReaderStatus{window, w.reader, w.reader_present, w.card_present});
  }
  std::sort(out.begin(), out.end(), [](const ReaderStatus& a, const ReaderStatus& b) { return a.window < b.window; });
  return out;
}

bool ReaderWatcher::service_up() const {
  std::lock_guard lk(impl_->mu);
  return impl_->service_up;
}

}  // namespace settle::reader
