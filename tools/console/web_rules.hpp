// The console's security rules as pure functions (no I/O, no Boost): cookie
// parsing, static path and report name checks, the Origin and Content-Type
// checks, the /api/call method whitelist, the response headers, the per-IP
// login throttle, token encoding and comparison. Unit-tested on their own.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace settle::console {

inline constexpr std::string_view cookie_name = "settle_console";
inline constexpr std::size_t max_body_bytes = 64 * 1024;

// The value of cookie `name` in a Cookie header ("a=1; settle_console=X"), or "".
std::string cookie_value(std::string_view header, std::string_view name);

// Set-Cookie for a new session, and the one that clears it (Max-Age=0).
std::string session_cookie(std::string_view token);
std::string cleared_cookie();

// base64url without padding (RFC 4648 section 5).
std::string base64url(const unsigned char* data, std::size_t n);

// Equal strings, in time independent of where they differ (CRYPTO_memcmp).
bool same_secret(std::string_view a, std::string_view b);

// The file under web_dir a request target names ("/" -> "index.html",
// "/vendor/uPlot.min.js" -> "vendor/uPlot.min.js"; query and fragment
// dropped), or nullopt: "..", hidden segments (".x"), empty segments, percent
// escapes, backslashes and characters outside [A-Za-z0-9._-] are refused.
std::optional<std::string> static_path(std::string_view target);

// The Content-Type of a static file by its extension, or "" (not served).
std::string_view content_type_of(std::string_view path);

// A report file name the console serves: ^(recon|drill)-[A-Za-z0-9._-]+\.(html|json)$
// (and never ".." inside).
bool report_name_ok(std::string_view name);
// kind "recon"|"drill", date (YYYY-MM-DD of a recon report, else ""), format "html"|"json".
struct ReportName {
  std::string kind, date, format;
};
std::optional<ReportName> parse_report_name(std::string_view name);

// Origin, when present, must be "https://" + Host.
bool origin_ok(std::optional<std::string_view> origin, std::string_view host);
// Content-Type application/json (parameters such as charset allowed).
bool json_content_type(std::string_view content_type);

// Whether /api/call may forward this method.
bool method_offered(std::string_view method);
const std::vector<std::string_view>& offered_methods();

// The headers every response carries, and the Content-Security-Policy of the
// two kinds of sandboxed documents (a report, a printable sheet).
enum class Page { normal, report, sheet };
std::vector<std::pair<std::string_view, std::string_view>> security_headers(Page page);

// The HTTP status of a daemon error reason (/api/login and /api/sheet).
unsigned status_of_reason(std::string_view reason);

// {"error":{"reason":R,"message":M}} (console errors).
std::string error_body(std::string_view reason, std::string_view message);

// A client address's failed logins in the last minute; `limit` of them block
// more logins until the oldest is a minute old.
class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LoginThrottle(unsigned limit) : limit_(limit) {}
  // Seconds to wait (>= 1) while `ip` is blocked, else nullopt.
  std::optional<std::int64_t> blocked(const std::string& ip, Clock::time_point now);
  void failed(const std::string& ip, Clock::time_point now);
  std::size_t tracked() const { return failures_.size(); }

 private:
  void prune(const std::string& ip, Clock::time_point now);
  unsigned limit_;
  std::map<std::string, std::deque<Clock::time_point>> failures_;
};

}  // namespace settle::console
