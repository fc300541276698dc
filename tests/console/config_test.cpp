// The console's config reader: defaults, every key, and the errors naming
// the key (unknown keys, bad values, missing files, a key file others may read).
#include "tools/console/config.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace settle::console;
namespace fs = std::filesystem;

namespace {

std::string error_of(const std::string& text) {
  auto c = parse_config(text, "console.toml", "/etc/settled");
  return c ? std::string() : c.error().message;
}

const std::string kMinimal = "[console]\ncert_file = \"console.crt\"\nkey_file = \"/k/console.key\"\n";

}  // namespace

TEST_CASE("a minimal config takes the defaults; relative paths from the config's folder") {
  auto c = parse_config(kMinimal, "console.toml", "/etc/settled");
  REQUIRE(c);
  CHECK(c->listen_host == "127.0.0.1");
  CHECK(c->listen_port == 8443);
  CHECK(c->cert_file == "/etc/settled/console.crt");
  CHECK(c->key_file == "/k/console.key");
  CHECK(c->socket == "/run/settled/cashier.sock");
  CHECK(c->web_dir == "/usr/share/settle/console");
  CHECK(c->reports_dir == "/var/lib/settle-reports");
  CHECK(c->session_idle_s == 900);
  CHECK(c->max_sessions == 64);
  CHECK(c->login_failures_per_minute == 3);
  CHECK(c->hospital.empty());
}

TEST_CASE("every key read") {
  auto c = parse_config(kMinimal +
                            "listen = \"[::1]:9443\"\nsocket = \"/s.sock\"\nweb_dir = \"web\"\n"
                            "reports_dir = \"/r\"\nsession_idle_s = 60\nmax_sessions = 5\n"
                            "login_failures_per_minute = 7\nhospital = \"示例医院\"\n",
                        "console.toml", "/etc/settled");
  REQUIRE(c);
  CHECK(c->listen_host == "::1");
  CHECK(c->listen_port == 9443);
  CHECK(c->socket == "/s.sock");
  CHECK(c->web_dir == "/etc/settled/web");
  CHECK(c->session_idle_s == 60);
  CHECK(c->max_sessions == 5);
  CHECK(c->login_failures_per_minute == 7);
  CHECK(c->hospital == "示例医院");
}

TEST_CASE("errors name the key") {
  CHECK(error_of("").find("console") != std::string::npos);
  CHECK(error_of("[consol]\n").find("consol") != std::string::npos);
  CHECK(error_of(kMinimal + "lisen = \"1\"\n").find("console.lisen") != std::string::npos);
  CHECK(error_of("[console]\nkey_file = \"k\"\n").find("console.cert_file") != std::string::npos);
  CHECK(error_of("[console]\ncert_file = \"c\"\n").find("console.key_file") != std::string::npos);
  for (const char* listen : {"localhost:8443", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "::1:8443", "1.2.3:1"})
    CHECK_MESSAGE(error_of(kMinimal + "listen = \"" + listen + "\"\n").find("console.listen") != std::string::npos,
                  listen);
  CHECK(error_of(kMinimal + "session_idle_s = 5\n").find("console.session_idle_s") != std::string::npos);
  CHECK(error_of(kMinimal + "max_sessions = \"9\"\n").find("console.max_sessions") != std::string::npos);
  CHECK(error_of(kMinimal + "login_failures_per_minute = 0\n").find("console.login_failures_per_minute") !=
        std::string::npos);
  CHECK(error_of(kMinimal + "web_dir = \"\"\n").find("console.web_dir") != std::string::npos);
  CHECK(error_of(kMinimal + "hospital = \"a\\nb\"\n").find("console.hospital") != std::string::npos);
  CHECK(error_of("[console\n").find("console.toml:1") != std::string::npos);
}

TEST_CASE("load_config checks the files: a key others may read is refused") {
  const fs::path dir = fs::temp_directory_path() / ("console-config-test-" + std::to_string(::getpid()));
  fs::create_directories(dir / "web");
  fs::create_directories(dir / "reports");
  std::ofstream(dir / "c.crt") << "x";
  std::ofstream(dir / "c.key") << "x";
  ::chmod((dir / "c.key").c_str(), 0600);
  const std::string text = "[console]\ncert_file = \"c.crt\"\nkey_file = \"c.key\"\nweb_dir = \"web\"\n"
                           "reports_dir = \"reports\"\n";
  std::ofstream(dir / "console.toml") << text;
  auto ok = load_config((dir / "console.toml").string());
  CHECK_MESSAGE(ok, (ok ? "" : ok.error().message));

  ::chmod((dir / "c.key").c_str(), 0640);
  auto readable = load_config((dir / "console.toml").string());
  REQUIRE_FALSE(readable);
  CHECK(readable.error().message.find("console.key_file") != std::string::npos);
  CHECK(readable.error().message.find("chmod 600") != std::string::npos);
  ::chmod((dir / "c.key").c_str(), 0600);

  fs::remove(dir / "c.crt");
  auto missing = load_config((dir / "console.toml").string());
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("console.cert_file") != std::string::npos);
  std::ofstream(dir / "c.crt") << "x";

  fs::remove_all(dir / "reports");
  auto no_reports = load_config((dir / "console.toml").string());
  REQUIRE_FALSE(no_reports);
  CHECK(no_reports.error().message.find("console.reports_dir") != std::string::npos);

  auto no_file = load_config((dir / "absent.toml").string());
  REQUIRE_FALSE(no_file);
  CHECK(no_file.error().message.find("absent.toml") != std::string::npos);
  fs::remove_all(dir);
}
