// Encryption at rest end to end: settled started with [storage] key_file
// settles a card and syncs the red list; engine.status and the metrics say
// the storage is encrypted; afterwards the sqlite3 shell cannot read the
// ledger, neither file holds the card number, and the daemon started without
// the key refuses to start with the message naming the missing key.
#include "tests/support/daemon_harness.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sys/stat.h>
#include <thread>

namespace {

using settle::testing::Json;
using settle::testing::result_of;
using settle::testing::Stack;
using namespace std::chrono_literals;

std::vector<char> bytes_of(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool holds(const std::filesystem::path& p, const std::string& needle) {
  const auto b = bytes_of(p);
  return std::search(b.begin(), b.end(), needle.begin(), needle.end()) != b.end();
}

}  // namespace

TEST_CASE("encryption at rest: settled with a storage key settles, and the files show nothing") {
  Stack s("crypt");
  const auto key = s.dir() / "ledger.key";
  {
    std::ofstream out(key, std::ios::binary);
    std::ifstream rnd("/dev/urandom", std::ios::binary);
    std::string secret(32, '\0');
    rnd.read(secret.data(), static_cast<std::streamsize>(secret.size()));
    out << secret;
  }
  ::chmod(key.c_str(), 0600);
  s.storage_key_file = key.string();
  const auto holder = settle::testing::person(1);
  s.start_all({holder, settle::testing::person(2)});
  s.insert_card(0, holder);

  auto sup = s.session(Stack::supervisor);
  CHECK(result_of(sup->call("engine.status"))["storage_encrypted"] == true);
  REQUIRE(result_of(sup->call("redlist.sync", Json::object(), 60s))["entries"] == 2);
  auto c = s.session(Stack::cashier);
  REQUIRE(c->call("card.read").contains("result"));
  const Json lines = Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "25.00"}}});
  CHECK(result_of(c->call("settle.commit", Json{{"request_id", "crypt-1"}, {"lines", lines}, {"use_account", false}}))["mode"] ==
        "online");
  c.reset();
  sup.reset();
  s.stop_daemon();

  const auto ledger = s.dir() / "data" / "ledger.db";
  const auto redlist = s.dir() / "data" / "redlist.db";
  for (const auto& f : {ledger, redlist}) {
    CAPTURE(f);
    REQUIRE(std::filesystem::file_size(f) > 4096);
    CHECK_FALSE(holds(f, holder.card_no));
    CHECK_FALSE(holds(f, "SQLite format 3"));
    const std::filesystem::path wal = f.string() + "-wal";
    if (std::filesystem::exists(wal)) CHECK_FALSE(holds(wal, holder.card_no));
  }
  // As someone with a copy of the files would look: strings(1) finds no card number.
  for (const auto& f : {ledger, redlist}) {
    const auto found = settle::testing::run_shell(
        fmt::format("strings -n 6 '{}' | grep -c -F '{}'", f.string(), holder.card_no), s.dir(), "strings");
    CHECK_MESSAGE(found.out.find('0') == 0, found.out);  // grep -c prints 0 (and exits 1) when nothing matches
  }
  const auto shell = settle::testing::run_shell(fmt::format("sqlite3 '{}' .tables", ledger.string()), s.dir(), "sqlite3");
  CHECK(shell.status != 0);
  CHECK_MESSAGE(shell.err.find("file is not a database") != std::string::npos, shell.err);

  // Without the key the daemon refuses to start, and names what is missing.
  const auto before = bytes_of(ledger);
  // settled.toml was written with the key: the same config without it.
  std::string conf = settle::testing::slurp(s.dir() / "settled.toml");
  const auto at = conf.find("[storage]");
  REQUIRE(at != std::string::npos);
  conf.erase(at, conf.find('\n', conf.find("key_file", at)) + 1 - at);
  { std::ofstream(s.dir() / "settled-nokey.toml") << conf; }
  const auto nokey = settle::testing::run_shell(
      fmt::format("'{}' --config '{}'", SETTLE_SETTLED_BINARY, (s.dir() / "settled-nokey.toml").string()), s.dir(),
      "nokey");
  CHECK(nokey.status != 0);
  CHECK_MESSAGE(nokey.err.find("is encrypted: the key is missing (storage.key_file or the ledger-key credential)") !=
                    std::string::npos,
                nokey.err);
  CHECK(bytes_of(ledger) == before);
}
