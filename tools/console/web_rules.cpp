// The console's security rules (web_rules.hpp): pure functions over strings,
// the method whitelist and the header sets of the HTTP contract
// (docs/console.md).
#include "tools/console/web_rules.hpp"

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>

namespace settle::console {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool lower_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto la = static_cast<char>(a[i] >= 'A' && a[i] <= 'Z' ? a[i] - 'A' + 'a' : a[i]);
    const auto lb = static_cast<char>(b[i] >= 'A' && b[i] <= 'Z' ? b[i] - 'A' + 'a' : b[i]);
    if (la != lb) return false;
  }
  return true;
}

bool name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

}  // namespace

std::string cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto semi = header.find(';');
    std::string_view part = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    const auto eq = part.find('=');
    if (eq == std::string_view::npos) continue;
    if (trim(part.substr(0, eq)) == name) {
      std::string_view v = trim(part.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return std::string(v);
    }
  }
  return "";
}

std::string session_cookie(std::string_view token) {
  return std::string(cookie_name) + "=" + std::string(token) + "; Path=/; Secure; HttpOnly; SameSite=Strict";
}

std::string cleared_cookie() {
  return std::string(cookie_name) + "=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict";
}

std::string base64url(const unsigned char* data, std::size_t n) {
  // OpenSSL's base64 (as the password hashes use it), then the URL alphabet
  // without padding (RFC 4648, section 5).
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size() || a.empty()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::string> static_path(std::string_view target) {
  const auto cut = target.find_first_of("?#");
  if (cut != std::string_view::npos) target = target.substr(0, cut);
  if (target.empty() || target.front() != '/') return std::nullopt;
  if (target == "/") return std::string("index.html");
  std::string_view rest = target.substr(1);
  std::string out;
  while (true) {
    const auto slash = rest.find('/');
    const std::string_view seg = rest.substr(0, slash);
    if (seg.empty() || seg.front() == '.' || seg.size() > 255) return std::nullopt;
    if (!std::all_of(seg.begin(), seg.end(), name_char)) return std::nullopt;
    if (!out.empty()) out += '/';
    out += seg;
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  if (out.size() > 1024) return std::nullopt;
  return out;
}

std::string_view content_type_of(std::string_view path) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 11> types{{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".json", "application/json; charset=utf-8"},
      {".woff2", "font/woff2"},
      {".map", "application/json; charset=utf-8"},
      {".txt", "text/plain; charset=utf-8"},
  }};
  for (const auto& [ext, type] : types)
    if (ends_with(path, ext)) return type;
  return "";
}

std::optional<ReportName> parse_report_name(std::string_view name) {
  ReportName r;
  std::string_view rest;
  if (name.substr(0, 6) == "recon-") {
    r.kind = "recon";
    rest = name.substr(6);
  } else if (name.substr(0, 6) == "drill-") {
    r.kind = "drill";
    rest = name.substr(6);
  } else {
    return std::nullopt;
  }
  std::string_view stem;
  if (ends_with(rest, ".html")) {
    r.format = "html";
    stem = rest.substr(0, rest.size() - 5);
  } else if (ends_with(rest, ".json")) {
    r.format = "json";
    stem = rest.substr(0, rest.size() - 5);
  } else {
    return std::nullopt;
  }
  if (stem.empty() || name.size() > 200 || name.find("..") != std::string_view::npos) return std::nullopt;
  if (!std::all_of(stem.begin(), stem.end(), name_char)) return std::nullopt;
  const bool date_shape = stem.size() == 10 && stem[4] == '-' && stem[7] == '-' &&
                          std::all_of(stem.begin(), stem.end(), [](char c) { return c == '-' || (c >= '0' && c <= '9'); });
  if (r.kind == "recon" && date_shape) r.date = std::string(stem);
  return r;
}

bool report_name_ok(std::string_view name) { return parse_report_name(name).has_value(); }

bool origin_ok(std::optional<std::string_view> origin, std::string_view host) {
  if (!origin) return true;
  if (host.empty()) return false;
  return lower_equal(*origin, std::string("https://") + std::string(host));
}

bool json_content_type(std::string_view content_type) {
  const auto semi = content_type.find(';');
  return lower_equal(trim(content_type.substr(0, semi)), "application/json");
}

const std::vector<std::string_view>& offered_methods() {
  static const std::vector<std::string_view> methods{
      "engine.status",      "session.change_password", "notice.get",        "settle.get",
      "settle.list",        "settle.sheet",            "inpatient.get",     "inpatient.list",
      "closeout.preview",   "closeout.record",         "closeout.get",      "closeout.list",
      "closeout.sheet",     "recon.run",               "uploads.flush",     "redlist.sync",
      "outbox.parked",      "outbox.retry",            "outbox.resolve",    "correction.record",
      "correction.approve", "correction.refuse",       "correction.list",   "work.list",
      "outage.list",        "outage.get",              "outage.note",       "outage.record",
      "reentry.record",     "reentry.approve",         "reentry.refuse",    "reentry.list",
      "reentry.get",        "operator.list",           "operator.add",      "operator.reset_password",
      "operator.unlock",    "operator.set_role",       "operator.disable",  "operator.enable",
      "audit.list",         "session.list"};
  return methods;
}

bool method_offered(std::string_view method) {
  const auto& m = offered_methods();
  return std::find(m.begin(), m.end(), method) != m.end();
}

std::vector<std::pair<std::string_view, std::string_view>> security_headers(Page page) {
  std::vector<std::pair<std::string_view, std::string_view>> h;
  switch (page) {
    case Page::normal:
      h.emplace_back("Content-Security-Policy",
                     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                     "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; "
                     "base-uri 'none'");
      break;
    case Page::report:
      h.emplace_back("Content-Security-Policy",
                     "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:");
      break;
    case Page::sheet:
      h.emplace_back("Content-Security-Policy",
                     "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'");
      break;
  }
  h.emplace_back("X-Content-Type-Options", "nosniff");
  if (page == Page::sheet)
    h.emplace_back("X-Frame-Options", "SAMEORIGIN");
  else
    h.emplace_back("X-Frame-Options", "DENY");
  h.emplace_back("Referrer-Policy", "no-referrer");
  h.emplace_back("Strict-Transport-Security", "max-age=31536000");
  return h;
}

unsigned status_of_reason(std::string_view reason) {
  if (reason == "LOGIN_FAILED" || reason == "UNAUTHENTICATED") return 401;
  if (reason == "LOCKED_OUT") return 423;
  if (reason == "LIMIT_EXCEEDED") return 429;
  if (reason == "FORBIDDEN" || reason == "PASSWORD_CHANGE_REQUIRED") return 403;
  if (reason == "NOT_FOUND") return 404;
  if (reason == "INVALID_REQUEST" || reason == "INVALID_AMOUNT") return 400;
  if (reason == "DAEMON_UNREACHABLE") return 502;
  if (reason == "INTERNAL" || reason == "STORAGE_FAILED") return 500;
  return 409;
}

std::string error_body(std::string_view reason, std::string_view message) {
  nlohmann::json j{{"error", {{"reason", reason}, {"message", message}}}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void LoginThrottle::prune(const std::string& ip, Clock::time_point now) {
  auto it = failures_.find(ip);
  if (it == failures_.end()) return;
  while (!it->second.empty() && now - it->second.front() >= std::chrono::minutes(1)) it->second.pop_front();
  if (it->second.empty()) failures_.erase(it);
}

std::optional<std::int64_t> LoginThrottle::blocked(const std::string& ip, Clock::time_point now) {
  prune(ip, now);
  const auto it = failures_.find(ip);
  if (limit_ == 0 || it == failures_.end() || it->second.size() < limit_) return std::nullopt;
  const auto wait = std::chrono::ceil<std::chrono::seconds>(it->second.front() + std::chrono::minutes(1) - now);
  return std::max<std::int64_t>(1, wait.count());
}

void LoginThrottle::failed(const std::string& ip, Clock::time_point now) {
  prune(ip, now);
  auto& q = failures_[ip];
  q.push_back(now);
  while (q.size() > std::max(limit_, 1U)) q.pop_front();
  // Addresses seen once and never again: drop the stalest when the map grows.
  if (failures_.size() > 4096) {
    for (auto it = failures_.begin(); it != failures_.end();) {
      if (now - it->second.back() >= std::chrono::minutes(1))
        it = failures_.erase(it);
      else
        ++it;
    }
  }
}

}  // namespace settle::console
