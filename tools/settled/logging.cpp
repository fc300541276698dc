// The redacting sink: every formatted line passes through redact() before it
// reaches stderr.
#include "tools/settled/logging.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>

namespace settle::daemon {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

class RedactingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit RedactingSink(std::shared_ptr<spdlog::sinks::sink> inner) : inner_(std::move(inner)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string clean = redact(std::string_view(msg.payload.data(), msg.payload.size()));
    spdlog::details::log_msg copy(msg.time, msg.source, msg.logger_name, msg.level, clean);
    inner_->log(copy);
  }
  void flush_() override { inner_->flush(); }

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
};

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

void setup_logging(const std::string& level) {
  auto inner = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  inner->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
  auto sink = std::make_shared<RedactingSink>(inner);
  auto logger = std::make_shared<spdlog::logger>("settled", sink);
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace settle::daemon
