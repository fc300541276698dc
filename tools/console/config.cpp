// Reads the console's TOML config ([console] table) through the project's
// checked TOML reader, and checks the files it names.
#include "tools/console/config.hpp"

#include "protocol/toml_reader.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace settle::console {

namespace {

std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || p.front() == '/' || base_dir.empty()) return p;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

Status config_error(std::string_view source, std::string_view key, std::string_view what) {
  return make_error(Reason::invalid_config, std::string(key), fmt::format("{}: {}: {}", source, key, what));
}

}  // namespace

Result<Config> parse_config(std::string_view text, std::string_view source, const std::string& base_dir) {
  const TomlReader rd(source);
  auto parsed = rd.parse(text);
  if (!parsed) return parsed.error();
  const toml::table& root = *parsed;
  if (Status s = rd.only_keys(root, "", {"console"}); !s) return s.error();
  auto table = rd.opt_table(root, "console", "console");
  if (!table) return table.error();
  if (*table == nullptr) return rd.error_at(nullptr, "console", "the [console] table is required");
  const toml::table& t = **table;
  if (Status s = rd.only_keys(t, "console",
                              {"listen", "cert_file", "key_file", "socket", "web_dir", "reports_dir",
                               "session_idle_s", "max_sessions", "login_failures_per_minute", "hospital"});
      !s)
    return s.error();

  Config c;
  // listen: "host:port", the host an IPv4 literal or a bracketed IPv6 one.
  if (auto v = rd.opt_string(t, "listen", "console.listen"); !v) {
    return v.error();
  } else if (v->has_value()) {
    const std::string& s = **v;
    const auto colon = s.rfind(':');
    std::string host = colon == std::string::npos ? "" : s.substr(0, colon);
    const std::string port = colon == std::string::npos ? "" : s.substr(colon + 1);
    const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
    if (bracketed) host = host.substr(1, host.size() - 2);
    unsigned char buf[16];
    const bool v4 = !bracketed && inet_pton(AF_INET, host.c_str(), buf) == 1;
    const bool v6 = bracketed && inet_pton(AF_INET6, host.c_str(), buf) == 1;
    const bool digits = !port.empty() && port.size() <= 5 &&
                        port.find_first_not_of("0123456789") == std::string::npos;
    if (!(v4 || v6) || !digits || std::stoul(port) == 0 || std::stoul(port) > 65535)
      return rd.error_at(t.get("listen"), "console.listen",
                         fmt::format("write an IP address and a port, e.g. \"127.0.0.1:8443\" or \"[::1]:8443\", "
                                     "got \"{}\"",
                                     s));
    c.listen_host = host;
    c.listen_port = static_cast<std::uint16_t>(std::stoul(port));
  }

  struct PathKey {
    const char* key;
    std::string* out;
    bool required;
  };
  for (const PathKey& pk : {PathKey{"cert_file", &c.cert_file, true}, PathKey{"key_file", &c.key_file, true},
                            PathKey{"socket", &c.socket, false}, PathKey{"web_dir", &c.web_dir, false},
                            PathKey{"reports_dir", &c.reports_dir, false}}) {
    const std::string key = toml_key("console", pk.key);
    auto v = rd.opt_string(t, pk.key, key);
    if (!v) return v.error();
    if (!v->has_value()) {
      if (pk.required) return rd.error_at(nullptr, key, "required (a PEM file path)");
      continue;
    }
    if ((*v)->empty()) return rd.error_at(t.get(pk.key), key, "must not be empty");
    *pk.out = resolve(base_dir, **v);
  }

  struct UintKey {
    const char* key;
    unsigned* out;
    std::int64_t min, max;
  };
  for (const UintKey& uk : {UintKey{"session_idle_s", &c.session_idle_s, 30, 86400},
                            UintKey{"max_sessions", &c.max_sessions, 1, 1024},
                            UintKey{"login_failures_per_minute", &c.login_failures_per_minute, 1, 1000}}) {
    auto v = rd.opt_int(t, uk.key, toml_key("console", uk.key), uk.min, uk.max);
    if (!v) return v.error();
    if (v->has_value()) *uk.out = static_cast<unsigned>(**v);
  }

  if (auto v = rd.opt_string(t, "hospital", "console.hospital"); !v) {
    return v.error();
  } else if (v->has_value()) {
    if ((*v)->size() > 200) return rd.error_at(t.get("hospital"), "console.hospital", "at most 200 bytes");
    for (char ch : **v)
      if (static_cast<unsigned char>(ch) < 0x20)
        return rd.error_at(t.get("hospital"), "console.hospital", "no control characters");
    c.hospital = **v;
  }
  return c;
}

Status check_files(const Config& c, std::string_view source) {
  struct stat st {};
  if (::stat(c.cert_file.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(c.cert_file.c_str(), R_OK) != 0)
    return config_error(source, "console.cert_file", fmt::format("{} is not a readable file", c.cert_file));
  if (::stat(c.key_file.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(c.key_file.c_str(), R_OK) != 0)
    return config_error(source, "console.key_file", fmt::format("{} is not a readable file", c.key_file));
  if ((st.st_mode & 077) != 0)
    return config_error(source, "console.key_file",
                        fmt::format("{} may be read or written by its group or others (mode {:o}): chmod 600 it",
                                    c.key_file, st.st_mode & 07777));
  if (::stat(c.web_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return config_error(source, "console.web_dir", fmt::format("{} is not a folder", c.web_dir));
  if (::stat(c.reports_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return config_error(source, "console.reports_dir", fmt::format("{} is not a folder", c.reports_dir));
  return Ok{};
}

Result<Config> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Reason::invalid_config, "config", fmt::format("{}: cannot be read", path));
  std::stringstream ss;
  ss << in.rdbuf();
  const auto base = std::filesystem::absolute(path).parent_path().string();
  auto c = parse_config(ss.str(), path, base);
  if (!c) return c.error();
  if (Status s = check_files(*c, path); !s) return s.error();
  return c;
}

}  // namespace settle::console
