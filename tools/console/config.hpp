// The console's configuration: the [console] table of its TOML file, read
// and checked (unknown keys, bad values, missing files and a key file others
// may read are errors naming the key).
#pragma once

#include "engine/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace settle::console {

struct Config {
  std::string listen_host = "127.0.0.1";  // an IPv4 or IPv6 literal
  std::uint16_t listen_port = 8443;
  std::string cert_file;
  std::string key_file;
  std::string socket = "/run/settled/cashier.sock";
  std::string web_dir = "/usr/share/settle/console";
  std::string reports_dir = "/var/lib/settle-reports";
  unsigned session_idle_s = 900;
  unsigned max_sessions = 64;
  unsigned login_failures_per_minute = 3;
  std::string hospital;
};

// Parses the text of a config file; `source` names it in errors. Relative
// paths are taken from `base_dir`. Files are checked by check_files.
Result<Config> parse_config(std::string_view text, std::string_view source, const std::string& base_dir);
// The certificate and key readable (the key by its owner only), web_dir and
// reports_dir folders. Errors name the key.
Status check_files(const Config& c, std::string_view source);
// Reads, parses and checks a file.
Result<Config> load_config(const std::string& path);

}  // namespace settle::console
