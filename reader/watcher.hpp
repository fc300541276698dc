// The reader thread: watches every configured reader with
// SCardGetStatusChange and tells the daemon when cards come and go and when
// readers (or pcscd itself) disappear and come back, without a restart.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace settle::reader {

struct ReaderEvent {
  enum class Kind : std::uint8_t {
    card_inserted,       // cashier API card.inserted {window}
    card_removed,        // cashier API card.removed {window}
    reader_available,    // the window's reader is known to pcscd (again)
    reader_unavailable,  // the reader vanished, or pcscd is down
  };
  Kind kind = Kind::card_inserted;
  std::string window;
  std::string reader;
};

std::string_view event_kind_name(ReaderEvent::Kind k) noexcept;

// Called on the watcher thread, one event at a time, in order. It must not
// block: the daemon posts the event onto its io_context and returns.
using EventSink = std::function<void(ReaderEvent)>;

struct WatcherOptions {
  // SCardGetStatusChange wait per round; stop() cancels it at once anyway.
  std::chrono::milliseconds poll_timeout{2'000};
  // Pause between attempts to reach pcscd while it is down.
  std::chrono::milliseconds reconnect_backoff{250};
};

// A window's reader as the watcher last saw it (engine.status readers[]).
struct ReaderStatus {
  std::string window;
  std::string reader;
  bool reader_present = false;
  bool card_present = false;
};

class ReaderWatcher {
 public:
  // window name -> reader name, as in ReaderConfig::window_readers.
  ReaderWatcher(std::map<std::string, std::string> window_readers, EventSink sink, WatcherOptions options = {});
  ~ReaderWatcher();  // stops the thread
  ReaderWatcher(const ReaderWatcher&) = delete;
  ReaderWatcher& operator=(const ReaderWatcher&) = delete;

  void start();
  // Cancels the pending wait (SCardCancel) and joins; returns within about
  // one PC/SC round trip. Idempotent.
  void stop();

  std::vector<ReaderStatus> snapshot() const;
  bool service_up() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace settle::reader
