// Card operations over pcscd: per-thread contexts, per-reader locks, one
// transaction per operation, and the rule that a failed exchange on a card
// that has since left the reader is reported as CARD_REMOVED.
#include "reader/card_service.hpp"

#include "reader/card_app.hpp"
#include "reader/errors.hpp"
#include "reader/pcsc_adapter.hpp"

#include <PCSC/reader.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace settle::reader {
namespace {

using Clock = std::chrono::steady_clock;

// pcsc-lite contexts are not for concurrent use from several threads: each
// thread that calls into the service gets its own, lazily.
thread_local std::optional<pcsc::Context> t_context;

Result<SCARDCONTEXT> thread_context() {
  if (!t_context || !t_context->valid()) {
    auto c = pcsc::Context::establish();
    if (!c) return c.error();
    t_context.emplace(std::move(*c));
  }
  return t_context->get();
}

void drop_thread_context() { t_context.reset(); }

bool is(const Error& e, ReaderErrc code) { return errc_of(e) == code; }

DWORD ms_until(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<DWORD>(left);
}

// A channel that remembers whether the transport itself failed, so a record
// that is merely malformed is not mistaken for a pulled card.
class TrackingChannel final : public CardChannel {
 public:
  explicit TrackingChannel(pcsc::Card& card) : card_(card) {}
  Result<Bytes> transmit(std::span<const std::uint8_t> command) override {
    auto r = card_.transmit(command);
    // vpcd (and some drivers) answer a pulled card with zero bytes instead of
    // an error: that is the transport failing too, not the card talking.
    if (!r || r->size() < 2) failed_ = true;
    return r;
  }
  bool failed() const noexcept { return failed_; }

 private:
  pcsc::Card& card_;
  bool failed_ = false;
};

}  // namespace

struct CardService::Impl {
  ReaderConfig cfg;
  std::map<std::string, std::unique_ptr<std::timed_mutex>, std::less<>> locks;

  // Contexts of threads blocked in wait_for_card, for cancel_waits().
  std::mutex waiting_mu;
  std::vector<SCARDCONTEXT> waiting;
  bool cancelled = false;

  Status wait_registered(SCARDCONTEXT ctx, const std::string& reader, Clock::time_point deadline) {
    {
      std::lock_guard lk(waiting_mu);
      if (cancelled) return reader_error(ReaderErrc::cancelled, "card", "the card service is shutting down");
      waiting.push_back(ctx);
    }
    Status s = wait_for_card(ctx, reader, deadline);
    std::lock_guard lk(waiting_mu);
    std::erase(waiting, ctx);
    return s;
  }

  void cancel_all() {
    std::lock_guard lk(waiting_mu);
    cancelled = true;
    for (const SCARDCONTEXT c : waiting) SCardCancel(c);
  }

  explicit Impl(ReaderConfig c) : cfg(std::move(c)) {
    SETTLE_ASSERT(cfg.profile != nullptr);
    for (const auto& [window, reader] : cfg.window_readers) {
      if (!locks.contains(reader)) locks.emplace(reader, std::make_unique<std::timed_mutex>());
    }
  }

  Result<std::string> reader_of(std::string_view window) const {
    const auto it = cfg.window_readers.find(std::string{window});
    if (it == cfg.window_readers.end()) {
      return reader_error(ReaderErrc::reader_unavailable, "window",
                          fmt::format("window '{}' has no card reader in the config", window));
    }
    return it->second;
  }

  bool is_cancelled() {
    std::lock_guard lk(waiting_mu);
    return cancelled;
  }

  // Waits until the reader shows a card or the deadline passes. Waits in
  // slices so a cancel that lands between two SCardGetStatusChange calls is
  // still seen promptly.
  Status wait_for_card(SCARDCONTEXT ctx, const std::string& reader, Clock::time_point deadline) {
    constexpr DWORD slice_ms = 500;
    SCARD_READERSTATE st{};
    st.szReader = reader.c_str();
    st.dwCurrentState = SCARD_STATE_UNAWARE;
    for (;;) {
      if (is_cancelled()) return reader_error(ReaderErrc::cancelled, "card", "the card service is shutting down");
      const LONG rc = SCardGetStatusChange(ctx, std::min(slice_ms, ms_until(deadline)), &st, 1);
      if (rc == SCARD_E_TIMEOUT) {
        if (Clock::now() < deadline) continue;
        return reader_error(ReaderErrc::timeout, "card", fmt::format("no card inserted in '{}' in time", reader));
      }
      if (rc != SCARD_S_SUCCESS) return pcsc::error_of(rc, "SCardGetStatusChange", reader);
      if (st.dwEventState & (SCARD_STATE_UNKNOWN | SCARD_STATE_UNAVAILABLE | SCARD_STATE_IGNORE)) {
        return reader_error(ReaderErrc::reader_unavailable, "reader", fmt::format("reader '{}' is not available", reader));
      }
      if ((st.dwEventState & SCARD_STATE_PRESENT) && !(st.dwEventState & SCARD_STATE_MUTE)) return Ok{};
      if (Clock::now() >= deadline) {
        return reader_error(ReaderErrc::timeout, "card", fmt::format("no card inserted in '{}' in time", reader));
      }
      st.dwCurrentState = st.dwEventState & ~static_cast<DWORD>(SCARD_STATE_CHANGED);
    }
  }

  // After a transport failure: is the card still there? pcscd notices a
  // pulled card only on its next poll, so wait a bounded moment for it.
  bool card_gone(SCARDCONTEXT ctx, pcsc::Card& card) const {
    auto s = card.status();
    if (!s) return is(s.error(), ReaderErrc::removed) || is(s.error(), ReaderErrc::absent);
    if (!(*s & SCARD_PRESENT)) return true;
    SCARD_READERSTATE st{};
    st.szReader = card.reader().c_str();
    st.dwCurrentState = SCARD_STATE_UNAWARE;
    const auto deadline = Clock::now() + cfg.removal_settle;
    for (;;) {
      const LONG rc = SCardGetStatusChange(ctx, ms_until(deadline), &st, 1);
      if (rc != SCARD_S_SUCCESS) return false;
      if (st.dwEventState & SCARD_STATE_EMPTY) return true;
      // Another card already in: the one we talked to left all the same.
      if ((st.dwEventState >> 16) != 0 && st.dwCurrentState != SCARD_STATE_UNAWARE &&
          (st.dwEventState >> 16) != (st.dwCurrentState >> 16)) {
        return true;
      }
      if (Clock::now() >= deadline) return false;
      st.dwCurrentState = st.dwEventState & ~static_cast<DWORD>(SCARD_STATE_CHANGED);
    }
  }

  // Connects to the card in `reader`, waiting for one until `deadline`.
  Result<pcsc::Card> connect(const std::string& reader, Clock::time_point deadline) {
    bool context_renewed = false;
    bool waited = false;
    for (;;) {
      auto ctx = thread_context();
      if (!ctx) return ctx.error();
      auto c = pcsc::Card::connect(*ctx, reader);
      if (c) return c;
      if (is(c.error(), ReaderErrc::service_down) && !context_renewed) {
        // pcscd restarted since this thread's context was made: renew once.
        drop_thread_context();
        context_renewed = true;
        continue;
      }
      if (is(c.error(), ReaderErrc::service_down)) drop_thread_context();
      if (!is(c.error(), ReaderErrc::absent)) return c.error();
      if (Clock::now() >= deadline) {
        return reader_error(ReaderErrc::absent, "card", fmt::format("no card in reader '{}'", reader));
      }
      if (waited) std::this_thread::sleep_for(std::chrono::milliseconds{20});  // shown present, not connectable yet
      if (auto w = wait_registered(*ctx, reader, deadline); !w) return w.error();
      waited = true;
    }
  }

  enum class Retry : std::uint8_t { never, once };

  // Runs `op` on the window's card inside one transaction, under the
  // reader's lock. A transport failure on a card that has since left is
  // CARD_REMOVED. With Retry::once (reads only: they change nothing on the
  // card), a transport failure on a card still shown present is retried
  // once on a fresh connection: that is how a card swapped faster than
  // pcscd polls the reader is reached and then recognised by its card_sn.
  template <class T, class F>
  Result<T> with_card(std::string_view window, std::chrono::milliseconds wait, Retry retry, F&& op) {
    auto reader = reader_of(window);
    if (!reader) return reader.error();
    auto& lock = *locks.find(*reader)->second;
    std::unique_lock guard(lock, std::defer_lock);
    if (!guard.try_lock_for(cfg.reader_lock_wait)) {
      return reader_error(ReaderErrc::reader_unavailable, "reader",
                          fmt::format("reader '{}' stayed busy with another operation", *reader));
    }
    const auto deadline = Clock::now() + std::min(wait, cfg.max_card_wait);

    for (int attempt = 0;; ++attempt) {
      auto card = connect(*reader, deadline);
      if (!card) return card.error();
      if (auto b = card->begin_transaction(); !b) return b.error();
      TrackingChannel channel(*card);
      const std::string& name = card->reader();
      CardApp app(channel, *cfg.profile, [&name](std::string_view line) { spdlog::debug("card '{}': {}", name, line); });
      Result<T> r = op(app, *card);
      card->end_transaction();
      if (r) return r;
      if (is(r.error(), ReaderErrc::service_down)) {
        drop_thread_context();
        return r;
      }
      if (!channel.failed() || is(r.error(), ReaderErrc::removed)) return r;
      auto ctx = thread_context();
      if (ctx && card_gone(*ctx, *card)) {
        return reader_error(ReaderErrc::removed, "card", fmt::format("card left reader '{}' during the operation", *reader));
      }
      if (retry == Retry::never || attempt == 1) return r;
      spdlog::info("card '{}': transport failed on a card still present; reconnecting once", *reader);
    }
  }
};

CardService::CardService(ReaderConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
CardService::~CardService() = default;

const ReaderConfig& CardService::config() const noexcept { return impl_->cfg; }

Result<std::string> CardService::reader_of(std::string_view window) const { return impl_->reader_of(window); }

Result<CardIdentity> CardService::read_card(std::string_view window, std::chrono::milliseconds wait_for_card) {
  return impl_->with_card<CardIdentity>(window, wait_for_card, Impl::Retry::once,
                                        [](CardApp& app, pcsc::Card&) { return app.read_identity(); });
}

Result<std::string> CardService::read_card_sn(std::string_view window) {
  return impl_->with_card<std::string>(window, std::chrono::milliseconds{0}, Impl::Retry::once,
                                       [](CardApp& app, pcsc::Card&) { return app.read_card_sn(); });
}

Status CardService::check_same_card(std::string_view window, std::string_view card_sn) {
  auto sn = read_card_sn(window);
  if (!sn) return sn.error();
  if (*sn != card_sn) {
    return make_error(Reason::card_mismatch, "card_sn",
                      fmt::format("the card at window '{}' is not the card that was read", window));
  }
  return Ok{};
}

Result<PinVerdict> CardService::verify_pin(std::string_view window, Pin pin) {
  // Never retried: a VERIFY that reached the card may have used up a try.
  return impl_->with_card<PinVerdict>(window, std::chrono::milliseconds{0}, Impl::Retry::never,
                                      [&pin](CardApp& app, pcsc::Card&) { return app.verify_pin(pin); });
}

namespace {

// Asks the reader for its part 10 features. Readers without them (most,
// including vpcd) refuse the control code; that is "no features", not an error.
Result<ReaderFeatures> query_features(pcsc::Card& card) {
  LONG rc = SCARD_S_SUCCESS;
  auto raw = card.control(CM_IOCTL_GET_FEATURE_REQUEST, {}, &rc);
  if (!raw) {
    const ReaderErrc e = pcsc::translate(rc);
    if (e == ReaderErrc::removed || e == ReaderErrc::absent || e == ReaderErrc::service_down) return raw.error();
    return ReaderFeatures{};
  }
  return parse_features(*raw);
}

}  // namespace

Result<bool> CardService::has_pinpad(std::string_view window) {
  return impl_->with_card<bool>(window, std::chrono::milliseconds{0}, Impl::Retry::never, [](CardApp&, pcsc::Card& card) -> Result<bool> {
    auto f = query_features(card);
    if (!f) return f.error();
    return f->verify_pin_direct.has_value();
  });
}

Result<PinVerdict> CardService::verify_pin_on_pinpad(std::string_view window) {
  const ReaderConfig& cfg = impl_->cfg;
  return impl_->with_card<PinVerdict>(
      window, std::chrono::milliseconds{0}, Impl::Retry::never, [&cfg](CardApp& app, pcsc::Card& card) -> Result<PinVerdict> {
        auto f = query_features(card);
        if (!f) return f.error();
        if (!f->verify_pin_direct) {
          return reader_error(ReaderErrc::reader_unavailable, "pinpad",
                              fmt::format("reader '{}' has no PIN pad", card.reader()));
        }
        if (auto s = app.select_ssse(); !s) return s.error();
        const Bytes structure = build_pin_verify_structure(cfg.pinpad, *cfg.profile);
        auto raw = card.control(static_cast<DWORD>(*f->verify_pin_direct), structure);
        if (!raw) return raw.error();
        auto resp = parse_response(*raw);
        if (!resp) return resp.error();
        spdlog::debug("card '{}': pinpad INS={:02X} SW={:04X}", card.reader(), ins::verify, resp->sw);
        if (pinpad_entry_failed(resp->sw)) {
          return make_error(Reason::pin_required, "pin",
                            resp->sw == 0x6401 ? "the holder cancelled on the PIN pad"
                                               : "no valid PIN was entered on the PIN pad in time");
        }
        return pin_verdict_from_sw(resp->sw);
      });
}

void CardService::cancel_waits() { impl_->cancel_all(); }

Result<bool> CardService::card_present(std::string_view window) {
  auto reader = impl_->reader_of(window);
  if (!reader) return reader.error();
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto ctx = thread_context();
    if (!ctx) return ctx.error();
    SCARD_READERSTATE st{};
    st.szReader = reader->c_str();
    st.dwCurrentState = SCARD_STATE_UNAWARE;
    const LONG rc = SCardGetStatusChange(*ctx, 0, &st, 1);
    if (rc == SCARD_S_SUCCESS || rc == SCARD_E_TIMEOUT) {
      if (st.dwEventState & (SCARD_STATE_UNKNOWN | SCARD_STATE_UNAVAILABLE | SCARD_STATE_IGNORE)) {
        return reader_error(ReaderErrc::reader_unavailable, "reader", fmt::format("reader '{}' is not available", *reader));
      }
      return (st.dwEventState & SCARD_STATE_PRESENT) != 0;
    }
    if (!pcsc::is_service_error(rc)) return pcsc::error_of(rc, "SCardGetStatusChange", *reader);
    drop_thread_context();
  }
  return reader_error(ReaderErrc::service_down, "reader", "pcscd is not answering");
}

}  // namespace settle::reader
