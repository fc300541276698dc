// The daemon's log: spdlog through one redacting sink that masks anything
// shaped like an ID number (a net under the code's own masking: card numbers
// partly, PINs and names never logged). Under systemd (stderr is the journal,
// JOURNAL_STREAM) each event goes through the journal API with its priority
// and structured fields; elsewhere one readable line with a +08:00 time.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace settle::daemon {

// Masks every 18-character ID number in `text` (17 digits and a digit or X)
// as 110101********123X.
std::string redact(std::string_view text);

// What an event is about, attached to its log line: in the journal as the
// fields WINDOW, OPERATOR, REQUEST_ID, SETL_ID, INFNO, MSGID (empty ones left
// out); a terminal line shows only the message, which names them already.
struct LogFields {
  std::string window{};
  std::string operator_name{};
  std::string request_id{};
  std::string setl_id{};
  std::string infno{};
  std::string msgid{};
};

namespace detail {
// The fields of the event being logged on this thread (set only for the
// duration of one synchronous spdlog call, so never across a co_await).
extern thread_local const LogFields* current_fields;
struct FieldsScope {
  explicit FieldsScope(const LogFields& f) : saved(current_fields) { current_fields = &f; }
  ~FieldsScope() { current_fields = saved; }
  FieldsScope(const FieldsScope&) = delete;
  FieldsScope& operator=(const FieldsScope&) = delete;
  const LogFields* saved;
};
}  // namespace detail

// spdlog::log(level, ...) with `fields` attached to this one event.
template <typename... Args>
void log_with(spdlog::level::level_enum level, const LogFields& fields, fmt::format_string<Args...> format,
              Args&&... args) {
  const detail::FieldsScope scope(fields);
  spdlog::log(level, format, std::forward<Args>(args)...);
}

// Where the log goes: the journal when stderr is the journal stream systemd
// set up (JOURNAL_STREAM="dev:ino" names stderr's device and inode), else a
// line on stderr.
enum class LogTarget { line, journal };
LogTarget detect_log_target(const char* journal_stream, int fd);

// syslog priority of an spdlog level: critical 2, error 3, warn 4, info 6,
// debug and trace 7.
int journal_priority(spdlog::level::level_enum level);

// The journal fields of one event ("KEY=value"): MESSAGE (redacted), PRIORITY,
// SYSLOG_IDENTIFIER=settled, and the non-empty LogFields (redacted too).
std::vector<std::string> journal_fields(spdlog::level::level_enum level, std::string_view message,
                                        const LogFields* fields);

// One readable line: "2026-03-01T08:30:00.123+08:00 warning <message>\n" with
// the time in the hospital's zone (UTC+8) whatever the host's zone is.
std::string format_line(std::chrono::system_clock::time_point at, spdlog::level::level_enum level,
                        std::string_view message);

// Sends one event's fields to the journal; returns < 0 (-errno) on failure.
// The default is sd_journal_sendv (which drops the entry and returns 0 when
// no journal socket exists); tests pass their own to see what is sent.
using JournalSend = std::function<int(const std::vector<std::string>& fields)>;
int send_to_journal(const std::vector<std::string>& fields);

// The sinks: the journal one falls back to a line on `fallback` when a send fails.
std::shared_ptr<spdlog::sinks::sink> make_journal_sink(JournalSend send, std::FILE* fallback);
std::shared_ptr<spdlog::sinks::sink> make_line_sink(std::FILE* out);

// Installs the daemon's logger as spdlog's default, at `level`, to the
// journal or to stderr (detect_log_target).
void setup_logging(const std::string& level);

// A start-up failure, logged once as critical (the logger set up at info if
// setup_logging has not run yet).
void log_start_failure(std::string_view what);

}  // namespace settle::daemon
