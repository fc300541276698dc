// Reading and validating the daemon's config file. Every key has a default
// or is required; values are range-checked; paths are resolved against the
// config file's folder; the insurer secret is read from its own file.
#include "tools/settled/config.hpp"

#include "protocol/toml_reader.hpp"
#include "tools/common/paths.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace settle::daemon {
namespace {

namespace fs = std::filesystem;

std::string resolve(const std::string& base, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute()) return p;
  return (fs::path(base) / p).lexically_normal().string();
}

bool all_digits(std::string_view s) {
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return !s.empty();
}

bool alnum(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return false;
  return !s.empty();
}

// "127.0.0.1:7700" -> address and port; loopback addresses only.
Status parse_listen(const TomlReader& rd, const toml::table& t, std::string_view k, std::string_view key,
                    std::optional<std::string>& address, std::uint16_t& port) {
  auto v = rd.opt_string(t, k, key);
  if (!v) return v.error();
  if (!v->has_value() || (*v)->empty()) return Ok{};
  const std::string& s = **v;
  const auto colon = s.rfind(':');
  std::string host = colon == std::string::npos ? s : s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string p = colon == std::string::npos ? "" : s.substr(colon + 1);
  if (host != "127.0.0.1" && host != "::1" && host != "localhost")
    return rd.error_at(t.get(k), key, fmt::format("\"{}\" is not a loopback address (use 127.0.0.1 or ::1)", host));
  if (!all_digits(p) || p.size() > 5 || std::stoul(p) > 65535)
    return rd.error_at(t.get(k), key, fmt::format("write address:port, e.g. \"127.0.0.1:7700\", got \"{}\"", s));
  address = host == "localhost" ? "127.0.0.1" : host;
  port = static_cast<std::uint16_t>(std::stoul(p));
  return Ok{};
}

template <class T>
Status read_uint(const TomlReader& rd, const toml::table& t, std::string_view k, std::string_view where, T& out,
                 std::int64_t min, std::int64_t max) {
  auto v = rd.opt_int(t, k, toml_key(where, k), min, max);
  if (!v) return v.error();
  if (v->has_value()) out = static_cast<T>(**v);
  return Ok{};
}

Status read_file_text(const TomlReader& rd, const toml::node* n, std::string_view key, const std::string& path,
                      std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return rd.error_at(n, key, fmt::format("cannot read \"{}\"", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) out.pop_back();
  if (out.empty()) return rd.error_at(n, key, fmt::format("\"{}\" is empty", path));
  return Ok{};
}

// An array of strings (a hook's command or events).
Result<std::vector<std::string>> string_array(const TomlReader& rd, const toml::node* n, const std::string& key) {
  const toml::array* a = n != nullptr ? n->as_array() : nullptr;
  if (a == nullptr) return rd.error_at(n, key, "expected an array of quoted strings, e.g. [\"a\", \"b\"]");
  std::vector<std::string> out;
  for (const auto& e : *a) {
    const auto* v = e.as_string();
    if (v == nullptr) return rd.error_at(&e, key, "expected an array of quoted strings");
    out.push_back(v->get());
  }
  return out;
}

// "http(s)://host[:port]/path": the parts a webhook needs; false if not one.
bool webhook_url(std::string_view url) {
  const bool https = url.rfind("https://", 0) == 0;
  if (!https && url.rfind("http://", 0) != 0) return false;
  const std::string_view rest = url.substr(https ? 8 : 7);
  const auto slash = rest.find('/');
  const std::string_view host = rest.substr(0, slash);
  if (host.empty() || host.find_first_of(" @?#") != std::string_view::npos) return false;
  for (char ch : url)
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f) return false;
  return true;
}

// [notify] and its [[notify.hook]] entries (docs/notifications.md).
Status parse_notify(const TomlReader& rd, const toml::table& nt, const std::string& base_dir, NotifyConfig& out) {
  if (Status s = rd.only_keys(nt, "notify", {"hook", "redlist_stale_after_s"}); !s) return s.error();
  if (Status s = read_uint(rd, nt, "redlist_stale_after_s", "notify", out.redlist_stale_after_s, 0, 30 * 86'400); !s)
    return s.error();
  const toml::node* hooks = nt.get("hook");
  if (hooks == nullptr) return Ok{};
  const toml::array* arr = hooks->as_array();
  if (arr == nullptr || !arr->is_array_of_tables())
    return rd.error_at(hooks, "notify.hook", "write each hook as its own [[notify.hook]] table");
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::table& h = *arr->get(i)->as_table();
    const std::string where = fmt::format("notify.hook[{}]", i);
    if (Status s = rd.only_keys(h, where, {"name", "events", "command", "url", "ca_file", "timeout_ms", "attempts"}); !s)
      return s.error();
    NotifyHook hook;
    auto name = rd.string(h, "name", where + ".name");
    if (!name) return name.error();
    hook.name = *name;
    if (hook.name.empty() || hook.name.size() > 40 ||
        hook.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
            std::string::npos)
      return rd.error_at(h.get("name"), where + ".name", "1-40 letters, digits, '-', '_' or '.'");
    for (const NotifyHook& other : out.hooks)
      if (other.name == hook.name)
        return rd.error_at(h.get("name"), where + ".name", fmt::format("\"{}\" names an earlier hook too", hook.name));
    auto events = string_array(rd, h.get("events"), where + ".events");
    if (!events) {
      if (h.get("events") == nullptr)
        return rd.error_at(&h, where + ".events",
                           "required: the events to be told of (line_offline, line_online, parked, redlist_stale)");
      return events.error();
    }
    for (const std::string& e : *events) {
      const auto ev = parse_notify_event(e);
      if (!ev)
        return rd.error_at(h.get("events"), where + ".events",
                           fmt::format("\"{}\" is not an event (line_offline, line_online, parked, redlist_stale)", e));
      hook.events.push_back(*ev);
    }
    if (hook.events.empty()) return rd.error_at(h.get("events"), where + ".events", "names no event");
    if (h.get("command") != nullptr) {
      auto cmd = string_array(rd, h.get("command"), where + ".command");
      if (!cmd) return cmd.error();
      if (cmd->empty() || !fs::path(cmd->front()).is_absolute())
        return rd.error_at(h.get("command"), where + ".command",
                           "the first word is the program, by its absolute path (e.g. [\"/usr/local/bin/page-it\", \"--urgent\"])");
      hook.command = std::move(*cmd);
    }
    auto url = rd.opt_string(h, "url", where + ".url");
    if (!url) return url.error();
    if (url->has_value()) {
      if (!webhook_url(**url))
        return rd.error_at(h.get("url"), where + ".url",
                           fmt::format("\"{}\" is not an http:// or https:// address of a host", **url));
      hook.url = **url;
    }
    if (hook.command.empty() == hook.url.empty())
      return rd.error_at(&h, where, "give a hook either a command or a url (one of them)");
    auto ca = rd.opt_string(h, "ca_file", where + ".ca_file");
    if (!ca) return ca.error();
    if (ca->has_value()) {
      if (hook.url.rfind("https://", 0) != 0)
        return rd.error_at(h.get("ca_file"), where + ".ca_file", "only for an https:// url");
      if ((*ca)->empty()) return rd.error_at(h.get("ca_file"), where + ".ca_file", "must not be empty");
      hook.ca_file = resolve(base_dir, **ca);
    }
    if (Status s = read_uint(rd, h, "timeout_ms", where, hook.timeout_ms, 100, 60'000); !s) return s.error();
    if (Status s = read_uint(rd, h, "attempts", where, hook.attempts, 1, 20); !s) return s.error();
    out.hooks.push_back(std::move(hook));
  }
  return Ok{};
}

// [insurer] profile, offline, preview: the profile's capabilities, with the
// two overrides the office may set.
Status read_profile(const TomlReader& rd, const toml::table& is, flow::InsurerProfile& out) {
  auto name = rd.opt_string(is, "profile", "insurer.profile");
  if (!name) return name.error();
  out = flow::regional_profile();
  if (name->has_value()) {
    const auto known = flow::profile_from_name(**name);
    if (!known)
      return rd.error_at(is.get("profile"), "insurer.profile",
                         fmt::format("\"{}\" is not a profile; write \"regional\" or \"national\"", **name));
    if (*known == flow::ProfileName::national) out = flow::national_profile();
  }
  auto offline = rd.opt_bool(is, "offline", "insurer.offline");
  if (!offline) return offline.error();
  if (offline->has_value()) out.offline = **offline;
  auto preview = rd.opt_bool(is, "preview", "insurer.preview");
  if (!preview) return preview.error();
  if (preview->has_value()) out.preview = **preview;
  return Ok{};
}

}  // namespace


std::string_view notify_event_name(NotifyEvent e) noexcept {
  switch (e) {
    case NotifyEvent::line_offline: return "line_offline";
    case NotifyEvent::line_online: return "line_online";
    case NotifyEvent::parked: return "parked";
    case NotifyEvent::redlist_stale: return "redlist_stale";
  }
  return "?";
}

std::optional<NotifyEvent> parse_notify_event(std::string_view s) noexcept {
  for (auto e : {NotifyEvent::line_offline, NotifyEvent::line_online, NotifyEvent::parked, NotifyEvent::redlist_stale})
    if (notify_event_name(e) == s) return e;
  return std::nullopt;
}

bool same_profile(const flow::InsurerProfile& a, const flow::InsurerProfile& b) noexcept {
  return a.name == b.name && a.line_refund == b.line_refund && a.preview == b.preview && a.offline == b.offline &&
         a.account_cap == b.account_cap && a.account_history == b.account_history;
}

Result<Config> parse_config(std::string_view text, std::string_view source, const std::string& base_dir) {
  const TomlReader rd(source);
  auto parsed = rd.parse(text);
  if (!parsed) return parsed.error();
  const toml::table& root = *parsed;
  if (Status s = rd.only_keys(root, "", {"daemon", "institution", "insurer", "cashier", "readers", "metrics",
                                         "reversal", "network", "offline", "redlist", "ledger", "storage",
                                         "notify", "notices"});
      !s)
    return s.error();

  Config c;
  c.source = std::string(source);

  // [daemon]
  auto daemon = rd.opt_table(root, "daemon", "daemon");
  if (!daemon) return daemon.error();
  if (*daemon == nullptr) return rd.error_at(nullptr, "daemon", "the [daemon] table with data_dir and policy is required");
  const toml::table& d = **daemon;
  if (Status s = rd.only_keys(d, "daemon", {"data_dir", "policy", "log_level"}); !s) return s.error();
  auto data_dir = rd.string(d, "data_dir", "daemon.data_dir");
  if (!data_dir) return data_dir.error();
  c.data_dir = resolve(base_dir, *data_dir);
  c.ledger_path = (fs::path(c.data_dir) / "ledger.db").string();
  auto policy = rd.string(d, "policy", "daemon.policy");
  if (!policy) return policy.error();
  c.policy_file = resolve(base_dir, *policy);
  auto level = rd.opt_string(d, "log_level", "daemon.log_level");
  if (!level) return level.error();
  if (level->has_value()) {
    const std::string& l = **level;
    if (l != "trace" && l != "debug" && l != "info" && l != "warn" && l != "error")
      return rd.error_at(d.get("log_level"), "daemon.log_level", "one of trace, debug, info, warn, error");
    c.log_level = l;
  }

  // [institution]
  auto inst = rd.opt_table(root, "institution", "institution");
  if (!inst) return inst.error();
  if (*inst == nullptr) return rd.error_at(nullptr, "institution", "the [institution] table is required");
  const toml::table& in = **inst;
  if (Status s = rd.only_keys(in, "institution", {"code", "name", "area", "insurer_area"}); !s) return s.error();
  for (auto [k, slot] : {std::pair{"code", &c.institution.code}, std::pair{"name", &c.institution.name},
                         std::pair{"area", &c.institution.area}, std::pair{"insurer_area", &c.institution.insurer_area}}) {
    auto v = rd.string(in, k, toml_key("institution", k));
    if (!v) return v.error();
    *slot = std::move(*v);
  }
  if (c.institution.code.size() != 12 || !alnum(c.institution.code))
    return rd.error_at(in.get("code"), "institution.code", "the institution code (定点医药机构编号) has 12 letters or digits");
  if (c.institution.area.size() != 6 || !all_digits(c.institution.area))
    return rd.error_at(in.get("area"), "institution.area", "an area code (医保区划) has 6 digits");
  if (c.institution.insurer_area.size() != 6 || !all_digits(c.institution.insurer_area))
    return rd.error_at(in.get("insurer_area"), "institution.insurer_area", "an area code (医保区划) has 6 digits");

  // [insurer]
  auto ins = rd.opt_table(root, "insurer", "insurer");
  if (!ins) return ins.error();
  if (*ins == nullptr) return rd.error_at(nullptr, "insurer", "the [insurer] table is required");
  const toml::table& is = **ins;
  if (Status s = rd.only_keys(is, "insurer", {"host", "port", "server_name", "target", "ca_file", "cert_file",
                                              "key_file", "paasid", "secret_file", "pool_size",
                                              "connect_timeout_ms", "request_timeout_ms", "profile", "offline",
                                              "preview"});
      !s)
    return s.error();
  for (auto [k, slot] : {std::pair{"host", &c.insurer.host}, std::pair{"ca_file", &c.insurer.ca_file},
                         std::pair{"cert_file", &c.insurer.cert_file}, std::pair{"key_file", &c.insurer.key_file},
                         std::pair{"paasid", &c.insurer.paasid}}) {
    auto v = rd.string(is, k, toml_key("insurer", k));
    if (!v) return v.error();
    *slot = std::move(*v);
  }
  c.insurer.ca_file = resolve(base_dir, c.insurer.ca_file);
  c.insurer.cert_file = resolve(base_dir, c.insurer.cert_file);
  c.insurer.key_file = resolve(base_dir, c.insurer.key_file);
  for (auto [k, slot] : {std::pair{"server_name", &c.insurer.server_name}, std::pair{"target", &c.insurer.target}}) {
    auto v = rd.opt_string(is, k, toml_key("insurer", k));
    if (!v) return v.error();
    if (v->has_value()) *slot = std::move(**v);
  }
  auto secret_file = rd.string(is, "secret_file", "insurer.secret_file");
  if (!secret_file) return secret_file.error();
  if (Status s = read_file_text(rd, is.get("secret_file"), "insurer.secret_file", resolve(base_dir, *secret_file),
                                c.insurer.secret);
      !s)
    return s.error();
  c.insurer.secret_file = resolve(base_dir, *secret_file);
  if (Status s = read_uint(rd, is, "port", "insurer", c.insurer.port, 1, 65535); !s) return s.error();
  if (Status s = read_uint(rd, is, "pool_size", "insurer", c.insurer.pool_size, 1, 64); !s) return s.error();
  if (Status s = read_uint(rd, is, "connect_timeout_ms", "insurer", c.insurer.connect_timeout_ms, 50, 600'000); !s)
    return s.error();
  if (Status s = read_uint(rd, is, "request_timeout_ms", "insurer", c.insurer.request_timeout_ms, 50, 600'000); !s)
    return s.error();
  if (Status s = read_profile(rd, is, c.insurer.profile); !s) return s.error();

  // [cashier]
  c.cashier.socket_path = default_cashier_socket;
  auto cash = rd.opt_table(root, "cashier", "cashier");
  if (!cash) return cash.error();
  if (*cash != nullptr) {
    const toml::table& ct = **cash;
    if (Status s = rd.only_keys(ct, "cashier", {"socket", "tcp", "max_connections", "lockout_s", "login_timeout_s", "session_idle_s",
                                         "source_failures_per_minute", "unauthenticated_calls_per_second"}); !s) return s.error();
    auto sock = rd.opt_string(ct, "socket", "cashier.socket");
    if (!sock) return sock.error();
    if (sock->has_value()) c.cashier.socket_path = resolve(base_dir, **sock);
    if (Status s = parse_listen(rd, ct, "tcp", "cashier.tcp", c.cashier.tcp_address, c.cashier.tcp_port); !s)
      return s.error();
    if (Status s = read_uint(rd, ct, "max_connections", "cashier", c.cashier.max_connections, 1, 4096); !s)
      return s.error();
    std::int64_t lockout = c.cashier.lockout.count();
    if (Status s = read_uint(rd, ct, "lockout_s", "cashier", lockout, 0, 86'400); !s) return s.error();
    c.cashier.lockout = std::chrono::seconds(lockout);
    std::int64_t login_timeout = c.cashier.login_timeout.count();
    if (Status s = read_uint(rd, ct, "login_timeout_s", "cashier", login_timeout, 1, 3600); !s) return s.error();
    c.cashier.login_timeout = std::chrono::seconds(login_timeout);
    std::int64_t idle = c.cashier.session_idle.count();
    if (Status s = read_uint(rd, ct, "session_idle_s", "cashier", idle, 0, 86'400); !s) return s.error();
    c.cashier.session_idle = std::chrono::seconds(idle);
    if (Status s = read_uint(rd, ct, "source_failures_per_minute", "cashier", c.cashier.source_failures_per_minute, 1,
                             1000);
        !s)
      return s.error();
    if (Status s = read_uint(rd, ct, "unauthenticated_calls_per_second", "cashier",
                             c.cashier.unauthenticated_calls_per_second, 1, 10'000);
        !s)
      return s.error();
  }

  // [readers]
  auto readers = rd.opt_table(root, "readers", "readers");
  if (!readers) return readers.error();
  if (*readers != nullptr) {
    const toml::table& rt = **readers;
    if (Status s = rd.only_keys(rt, "readers", {"windows", "max_card_wait_ms"}); !s) return s.error();
    if (Status s = read_uint(rd, rt, "max_card_wait_ms", "readers", c.max_card_wait_ms, 0, 600'000); !s)
      return s.error();
    auto windows = rd.opt_table(rt, "windows", "readers.windows");
    if (!windows) return windows.error();
    if (*windows != nullptr) {
      for (const auto& [w, reader] : **windows) {
        const std::string key = toml_key("readers.windows", w.str());
        const auto* name = reader.as_string();
        if (name == nullptr || name->get().empty())
          return rd.error_at(&reader, key, "expected the PC/SC reader name as pcsc_scan shows it");
        if (w.str().empty() || w.str().size() > 32)
          return rd.error_at(&reader, key, "a window name has 1 to 32 characters");
        c.windows[std::string(w.str())] = name->get();
      }
    }
  }

  // [metrics]
  auto metrics = rd.opt_table(root, "metrics", "metrics");
  if (!metrics) return metrics.error();
  if (*metrics != nullptr) {
    if (Status s = rd.only_keys(**metrics, "metrics", {"listen"}); !s) return s.error();
    if (Status s = parse_listen(rd, **metrics, "listen", "metrics.listen", c.metrics_address, c.metrics_port); !s)
      return s.error();
  }

  // [reversal]
  auto rev = rd.opt_table(root, "reversal", "reversal");
  if (!rev) return rev.error();
  if (*rev != nullptr) {
    if (Status s = rd.only_keys(**rev, "reversal", {"retry_initial_ms", "retry_max_ms", "park_after_refusals"});
        !s)
      return s.error();
    if (Status s = read_uint(rd, **rev, "retry_initial_ms", "reversal", c.reversal.retry_initial_ms, 10, 3'600'000); !s)
      return s.error();
    if (Status s = read_uint(rd, **rev, "retry_max_ms", "reversal", c.reversal.retry_max_ms, 10, 3'600'000); !s)
      return s.error();
    if (Status s = read_uint(rd, **rev, "park_after_refusals", "reversal", c.reversal.park_after_refusals, 0, 1000); !s)
      return s.error();
    if (c.reversal.retry_max_ms < c.reversal.retry_initial_ms)
      return rd.error_at((*rev)->get("retry_max_ms"), "reversal.retry_max_ms", "must not be below retry_initial_ms");
  }

  // [network]
  auto net = rd.opt_table(root, "network", "network");
  if (!net) return net.error();
  if (*net != nullptr) {
    if (Status s = rd.only_keys(**net, "network", {"probe_interval_ms", "failures_to_offline", "offline_deadline_ms",
                                                 "offline_reserve_ms"});
        !s)
      return s.error();
    if (Status s = read_uint(rd, **net, "probe_interval_ms", "network", c.network.probe_interval_ms, 100, 600'000); !s)
      return s.error();
    if (Status s = read_uint(rd, **net, "failures_to_offline", "network", c.network.failures_to_offline, 1, 100); !s)
      return s.error();
    if (Status s = read_uint(rd, **net, "offline_deadline_ms", "network", c.network.offline_deadline_ms, 50, 60'000); !s)
      return s.error();
    if (Status s = read_uint(rd, **net, "offline_reserve_ms", "network", c.network.offline_reserve_ms, 50, 10'000); !s)
      return s.error();
  }

  // [offline]
  auto off = rd.opt_table(root, "offline", "offline");
  if (!off) return off.error();
  // The limits of one table: [offline] (outpatient), [offline.inpatient].
  const auto read_limits = [&](const toml::table& t, const char* where, OfflineLimits& l, bool outer) -> Status {
    const Status keys = outer ? rd.only_keys(t, where,
                                             {"per_settlement_fund_max", "outstanding_fund_max", "outstanding_count_max",
                                              "max_age_s", "inpatient"})
                              : rd.only_keys(t, where,
                                             {"per_settlement_fund_max", "outstanding_fund_max", "outstanding_count_max",
                                              "max_age_s"});
    if (!keys) return keys.error();
    for (auto [k, slot] : {std::pair{"per_settlement_fund_max", &l.per_settlement_fund_max},
                           std::pair{"outstanding_fund_max", &l.outstanding_fund_max}}) {
      auto a = rd.opt_amount(t, k, toml_key(where, k));
      if (!a) return a.error();
      if (a->has_value()) *slot = **a;
    }
    if (Status s = read_uint(rd, t, "outstanding_count_max", where, l.outstanding_count_max, 0, 10'000'000); !s)
      return s.error();
    if (Status s = read_uint(rd, t, "max_age_s", where, l.max_age_s, 0, 30 * 86'400); !s) return s.error();
    return Ok{};
  };
  if (*off != nullptr) {
    const toml::table& ot = **off;
    if (Status s = read_limits(ot, "offline", c.offline_limits, true); !s) return s.error();
    auto inp = rd.opt_table(ot, "inpatient", "offline.inpatient");
    if (!inp) return inp.error();
    if (*inp != nullptr)
      if (Status s = read_limits(**inp, "offline.inpatient", c.inpatient_offline_limits, false); !s) return s.error();
  }

  // [redlist]
  c.redlist.path = (fs::path(c.data_dir) / "redlist.db").string();
  auto red = rd.opt_table(root, "redlist", "redlist");
  if (!red) return red.error();
  if (*red != nullptr) {
    const toml::table& rt = **red;
    if (Status s = rd.only_keys(rt, "redlist", {"path", "sync_interval_s", "page_size"}); !s) return s.error();
    auto path = rd.opt_string(rt, "path", "redlist.path");
    if (!path) return path.error();
    if (path->has_value()) {
      if ((*path)->empty()) return rd.error_at(rt.get("path"), "redlist.path", "must not be empty");
      c.redlist.path = resolve(base_dir, **path);
      if (c.redlist.path == c.ledger_path)
        return rd.error_at(rt.get("path"), "redlist.path", "must not be the ledger's file (the red list has its own)");
    }
    if (Status s = read_uint(rd, rt, "sync_interval_s", "redlist", c.redlist.sync_interval_s, 0, 7 * 86'400); !s)
      return s.error();
    if (Status s = read_uint(rd, rt, "page_size", "redlist", c.redlist.page_size, 1, 1000); !s) return s.error();
  }

  // [ledger]: the hash chain's checkpoints (docs/ledger-integrity.md).
  auto lt = rd.opt_table(root, "ledger", "ledger");
  if (!lt) return lt.error();
  if (*lt != nullptr) {
    const toml::table& l = **lt;
    if (Status s = rd.only_keys(l, "ledger", {"checkpoint_key", "checkpoint_interval_s"}); !s) return s.error();
    auto key = rd.opt_string(l, "checkpoint_key", "ledger.checkpoint_key");
    if (!key) return key.error();
    if (key->has_value()) {
      if ((*key)->empty()) return rd.error_at(l.get("checkpoint_key"), "ledger.checkpoint_key", "must not be empty");
      c.ledger.checkpoint_key = resolve(base_dir, **key);
    }
    if (Status s = read_uint(rd, l, "checkpoint_interval_s", "ledger", c.ledger.checkpoint_interval_s, 10, 86'400);
        !s)
      return s.error();
  }

  // [storage]
  auto sto = rd.opt_table(root, "storage", "storage");
  if (!sto) return sto.error();
  if (*sto != nullptr) {
    const toml::table& stt = **sto;
    if (Status s = rd.only_keys(stt, "storage", {"key_file"}); !s) return s.error();
    auto key = rd.opt_string(stt, "key_file", "storage.key_file");
    if (!key) return key.error();
    if (key->has_value()) {
      if ((*key)->empty()) return rd.error_at(stt.get("key_file"), "storage.key_file", "must not be empty");
      c.storage.key_file = resolve(base_dir, **key);
    }
  }

  // [notify]
  auto nt = rd.opt_table(root, "notify", "notify");
  if (!nt) return nt.error();
  if (*nt != nullptr)
    if (Status s = parse_notify(rd, **nt, base_dir, c.notify); !s) return s.error();
  // [notices]: the patient notices' file (docs/patient-notices.md).
  auto nct = rd.opt_table(root, "notices", "notices");
  if (!nct) return nct.error();
  if (*nct != nullptr) {
    const toml::table& ntt = **nct;
    if (Status s = rd.only_keys(ntt, "notices", {"file"}); !s) return s.error();
    auto file = rd.opt_string(ntt, "file", "notices.file");
    if (!file) return file.error();
    if (file->has_value()) {
      if ((*file)->empty())
        return rd.error_at(ntt.get("file"), "notices.file", "must not be empty (leave it out for the built-in texts)");
      c.notices.file = resolve(base_dir, **file);
    }
  }
  return c;
}

Result<Config> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Reason::invalid_config, "config", fmt::format("{}: cannot open the config file", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string base = fs::absolute(fs::path(path)).parent_path().string();
  return parse_config(ss.str(), path, base);
}

}  // namespace settle::daemon
