// The daemon's sinks: a journal sink (sd_journal_sendv, priority and fields)
// and a line sink (one +08:00 time per line); both redact before writing.
#include "tools/settled/logging.hpp"

#include <spdlog/sinks/base_sink.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace settle::daemon {

namespace detail {
thread_local const LogFields* current_fields = nullptr;
}  // namespace detail

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view payload(const spdlog::details::log_msg& msg) { return {msg.payload.data(), msg.payload.size()}; }

void write_line(std::FILE* out, const spdlog::details::log_msg& msg) {
  const std::string line = format_line(msg.time, msg.level, redact(payload(msg)));
  std::fwrite(line.data(), 1, line.size(), out);
}

class LineSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit LineSink(std::FILE* out) : out_(out) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override { write_line(out_, msg); }
  void flush_() override { std::fflush(out_); }

 private:
  std::FILE* out_;
};

class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  JournalSink(JournalSend send, std::FILE* fallback) : send_(std::move(send)), fallback_(fallback) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (send_(journal_fields(msg.level, payload(msg), detail::current_fields)) < 0) write_line(fallback_, msg);
  }
  void flush_() override { std::fflush(fallback_); }

 private:
  JournalSend send_;
  std::FILE* fallback_;
};

bool installed = false;

}  // namespace

std::string redact(std::string_view text) {
  std::string out(text);
  std::size_t i = 0;
  while (i + 18 <= out.size()) {
    // An ID number: 17 digits then a digit or X, not part of a longer digit run.
    bool id = (i == 0 || !is_digit(out[i - 1]));
    for (std::size_t k = 0; id && k < 17; ++k) id = is_digit(out[i + k]);
    id = id && (is_digit(out[i + 17]) || out[i + 17] == 'X' || out[i + 17] == 'x');
    id = id && (i + 18 == out.size() || !is_digit(out[i + 18]));
    if (id) {
      for (std::size_t k = 6; k < 14; ++k) out[i + k] = '*';
      i += 18;
    } else {
      ++i;
    }
  }
  return out;
}

LogTarget detect_log_target(const char* journal_stream, int fd) {
  if (journal_stream == nullptr) return LogTarget::line;
  const std::string_view v(journal_stream);
  const auto colon = v.find(':');
  if (colon == std::string_view::npos) return LogTarget::line;
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  const auto d = std::from_chars(v.data(), v.data() + colon, dev);
  const auto i = std::from_chars(v.data() + colon + 1, v.data() + v.size(), ino);
  if (d.ec != std::errc{} || d.ptr != v.data() + colon || i.ec != std::errc{} || i.ptr != v.data() + v.size())
    return LogTarget::line;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return LogTarget::line;
  return (static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino)
             ? LogTarget::journal
             : LogTarget::line;
}

int journal_priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::critical: return 2;
    case spdlog::level::err: return 3;
    case spdlog::level::warn: return 4;
    case spdlog::level::info: return 6;
    default: return 7;
  }
}

std::vector<std::string> journal_fields(spdlog::level::level_enum level, std::string_view message,
                                        const LogFields* fields) {
  std::vector<std::string> out;
  out.push_back("MESSAGE=" + redact(message));
  out.push_back("PRIORITY=" + std::to_string(journal_priority(level)));
  out.emplace_back("SYSLOG_IDENTIFIER=settled");
  if (fields != nullptr) {
    const auto add = [&out](std::string_view key, const std::string& value) {
      if (!value.empty()) out.push_back(std::string(key) + "=" + redact(value));
    };
    add("WINDOW", fields->window);
    add("OPERATOR", fields->operator_name);
    add("REQUEST_ID", fields->request_id);
    add("SETL_ID", fields->setl_id);
    add("INFNO", fields->infno);
    add("MSGID", fields->msgid);
  }
  return out;
}

std::string format_line(std::chrono::system_clock::time_point at, spdlog::level::level_enum level,
                        std::string_view message) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
  const auto local_ms = ms + 8LL * 3600 * 1000;  // the hospital's zone, UTC+8 (no daylight saving)
  auto secs = static_cast<std::time_t>(local_ms / 1000);
  auto frac = local_ms % 1000;
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char stamp[32];
  const std::size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  const auto name = spdlog::level::to_string_view(level);
  std::string out;
  out.reserve(n + message.size() + 24);
  out.append(stamp, n);
  out += fmt::format(".{:03}+08:00 {} ", frac, std::string_view(name.data(), name.size()));
  // One event, one line: a newline inside the message is shown as " | ".
  for (const char c : message) {
    if (c == '\n')
      out += " | ";
    else if (c != '\r')
      out += c;
  }
  out += '\n';
  return out;
}

int send_to_journal(const std::vector<std::string>& fields) {
  std::vector<struct iovec> iov(fields.size());
  for (std::size_t i = 0; i < fields.size(); ++i) {
    iov[i].iov_base = const_cast<char*>(fields[i].data());  // NOLINT: sd_journal_sendv does not write
    iov[i].iov_len = fields[i].size();
  }
  return ::sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
}

std::shared_ptr<spdlog::sinks::sink> make_journal_sink(JournalSend send, std::FILE* fallback) {
  return std::make_shared<JournalSink>(std::move(send), fallback);
}

std::shared_ptr<spdlog::sinks::sink> make_line_sink(std::FILE* out) { return std::make_shared<LineSink>(out); }

void setup_logging(const std::string& level) {
  const LogTarget target = detect_log_target(std::getenv("JOURNAL_STREAM"), 2);
  auto sink = target == LogTarget::journal ? make_journal_sink(send_to_journal, stderr) : make_line_sink(stderr);
  auto logger = std::make_shared<spdlog::logger>("settled", std::move(sink));
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  installed = true;
}

void log_start_failure(std::string_view what) {
  if (!installed) setup_logging("info");
  spdlog::critical("settled: {}", what);
  spdlog::default_logger()->flush();
}

}  // namespace settle::daemon
