// console: the insurance office's web console, a separate process from
// settled. Reads its TOML config, serves the pages and the /api routes over
// HTTPS, and talks to settled only through the cashier socket (docs/console.md).
#include "tools/common/exit_codes.hpp"
#include "tools/common/version.hpp"
#include "tools/console/config.hpp"
#include "tools/console/http_server.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  CLI::App app{"settle-console — the insurance office's web console for settled (HTTPS, one daemon session per user)"};
  app.set_version_flag("--version", std::string("settle-console ") + settle::version);
  std::string config_path = "/etc/settled/console.toml";
  bool check_only = false;
  app.add_option("-c,--config", config_path, "config file (see docs/examples/console.toml)");
  app.add_flag("--check-config", check_only,
               "check the config and the files it names (certificate, key and its mode, folders), then exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : settle::exit_code::usage;
  }
  auto config = settle::console::load_config(config_path);
  if (!config) {
    std::cerr << "settle-console: " << config.error().message << "\n";
    return settle::exit_code::usage;
  }
  if (check_only) {
    std::cout << "settle-console: " << config_path << ": the config is valid\n";
    return settle::exit_code::ok;
  }
  std::signal(SIGPIPE, SIG_IGN);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
  try {
    return settle::console::serve(*config);
  } catch (const std::exception& e) {
    spdlog::critical("settle-console: {}", e.what());
    return 1;
  }
}
