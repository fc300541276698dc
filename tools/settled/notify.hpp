// Notifications (docs/notifications.md): the hooks of [notify] told when the
// insurer line goes offline or comes back, an item is parked for the office,
// or the red list grows stale — a command run or an HTTP(S) webhook posted to,
// retried, on a thread of its own so that a slow or dead hook never holds a window.
#pragma once

#include "protocol/json.hpp"
#include "tools/settled/config.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace settle::daemon {

class Notifier {
 public:
  // One attempt to tell one hook, as it ended.
  struct Attempt {
    std::string hook;
    NotifyEvent event = NotifyEvent::line_offline;
    int attempt = 0;       // 1, 2, ...
    bool ok = false;
    bool last = false;     // no attempt follows (told, or given up)
    std::string detail;    // "HTTP 200", "exit 0", "timed out after 5000 ms", ...
    std::int64_t at_ms = 0;
  };

  // `hospital` goes into every event's body ({code, name}).
  Notifier(NotifyConfig config, json::Json hospital);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Starts the notifier's thread. Errors (a CA file that cannot be read) name
  // the hook; nothing is started then.
  Status start();
  // Stops the thread: notices still waiting are dropped, and logged.
  void stop();

  // Tells every hook that asked for `e`; `fields` are added to the body.
  // From any thread; never blocks.
  void post(NotifyEvent e, json::Json fields);
  // The red list's last good sync (0 = never): redlist_stale is told once
  // when its age passes the limit, and again only after a fresh sync.
  void redlist_seen(std::int64_t synced_at_ms, std::int64_t now_ms, std::int64_t version);

  // Called on the notifier's thread after each attempt (the outage record).
  std::function<void(const Attempt&)> on_attempt;

  bool any_hook_for(NotifyEvent e) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool redlist_told_ = false;
};

// The body's one-line summary for people (Chinese, then English).
std::string notify_summary(NotifyEvent e, const json::Json& fields);

}  // namespace settle::daemon
