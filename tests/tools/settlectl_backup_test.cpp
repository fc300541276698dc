// settlectl backup and restore as IT staff run them: an encrypted ledger and
// red list copied while another process keeps writing the ledger, the copies
// encrypted, checked and summed in the manifest; restore refused while the
// ledger's lock is held, then done with the files kept aside and, as root,
// their owner kept (a ledger owned by `nobody`), also after operator --ledger.
#include "offline/redlist.hpp"
#include "offline/storage_key.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace {

struct Run {
  int status = -1;
  std::string out, err;
};

Run sh(const std::string& cmd, const std::string& dir) {
  const std::string err = dir + "/err.txt";
  Run r;
  FILE* p = popen((cmd + " 2> " + err).c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream e(err);
  r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  return r;
}

bool file_holds(const std::string& path, const std::string& needle) {
  std::ifstream in(path, std::ios::binary);
  const std::string b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return b.find(needle) != std::string::npos;
}

struct stat stat_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st;
}

}  // namespace

TEST_CASE("settlectl backup while a writer runs, restore refused while the ledger is in use, then restored") {
  const std::string dir = SETTLE_BINARY_DIR "/tests/tools/backup-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/data");
  const std::string data = dir + "/data", ledger = data + "/ledger.db", redlist = data + "/redlist.db";
  const std::string key = dir + "/ledger.key", ctl = SETTLECTL_PATH;
  {
    std::ofstream(key, std::ios::binary) << std::string(32, 'b');
    ::chmod(key.c_str(), 0600);
    std::ofstream(dir + "/pw") << "Init-Password-1\n";
  }
  ::unsetenv("CREDENTIALS_DIRECTORY");
  const std::string files =
      " -c " + dir + "/none.toml --ledger " + ledger + " --redlist " + redlist + " --key-file " + key;
  const std::string on_ledger =
      " --ledger " + ledger + " --key-file " + key + " --initial-password-file " + dir + "/pw";
  REQUIRE(sh(ctl + " operator add --name supervisor1 --role supervisor" + on_ledger, dir).status == 0);
  {
    auto k = settle::sql::StorageKey::load(key);
    REQUIRE(k.ok());
    auto store = settle::redlist::Store::open(redlist, *k);
    REQUIRE(store.ok());
  }

  // A real writer: another process adding operators to the ledger, one
  // settlectl run after another, while the backup copies it.
  const pid_t writer = ::fork();
  REQUIRE(writer >= 0);
  if (writer == 0) {
    for (int i = 0; i < 400 && !std::filesystem::exists(dir + "/stop"); ++i) {
      const std::string cmd =
          ctl + " operator add --name writer" + std::to_string(i) + " --role cashier" + on_ledger + " > /dev/null 2>&1";
      if (std::system(cmd.c_str()) != 0) {
      }
    }
    ::_exit(0);
  }
  ::usleep(300'000);
  const Run b = sh(ctl + " backup --to " + dir + "/b1" + files, dir);
  const Run b2 = sh(ctl + " backup --json --to " + dir + "/b2" + files, dir);
  std::ofstream(dir + "/stop") << "\n";
  ::waitpid(writer, nullptr, 0);
  INFO(b.out, b.err);
  REQUIRE(b.status == 0);
  CHECK(b.err.find("checking the copy") != std::string::npos);  // progress on stderr
  CHECK(b.out.find("chain intact") != std::string::npos);
  REQUIRE(b2.status == 0);
  const auto m = nlohmann::json::parse(b2.out);
  CHECK(m["encrypted"] == true);
  REQUIRE(m["files"].size() == 2);
  CHECK(m["files"][0]["file"] == "ledger.db");
  CHECK(m["files"][0]["integrity"] == "ok");
  CHECK(m["files"][0]["chain"]["intact"] == true);
  CHECK(m["files"][0]["chain"]["entries"].get<long>() > 0);
  CHECK(m["files"][0]["sha256"].get<std::string>().size() == 64);
  CHECK(m["files"][1]["file"] == "redlist.db");
  CHECK(m["files"][1]["schema_version"].get<long>() >= 1);
  // The copy stays encrypted: no plaintext, no SQLite header, and the manifest says the same.
  CHECK_FALSE(file_holds(dir + "/b1/ledger.db", "supervisor1"));
  CHECK_FALSE(file_holds(dir + "/b1/ledger.db", "SQLite format 3"));
  CHECK(nlohmann::json::parse(std::ifstream(dir + "/b1/manifest.json"))["checked"] == true);
  // Never over an older backup.
  CHECK(sh(ctl + " backup --to " + dir + "/b1" + files, dir).status == 2);

  // After the backup: an operator the restore takes away again.
  REQUIRE(sh(ctl + " operator add --name after_backup --role cashier" + on_ledger, dir).status == 0);

  // Refused while the ledger is in use (settled holds its .lock while it runs).
  {
    const int fd = ::open((ledger + ".lock").c_str(), O_RDWR | O_CREAT, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
    const Run refused = sh(ctl + " restore --json --from " + dir + "/b1" + files, dir);
    ::close(fd);
    CHECK(refused.status == 5);
    const auto e = nlohmann::json::parse(refused.out);
    CHECK(e["error"]["exit_code"] == 5);
    CHECK(e["error"]["message"].get<std::string>().find("stop settled first") != std::string::npos);
    CHECK(sh(ctl + " operator list --ledger " + ledger + " --key-file " + key, dir).out.find("after_backup") !=
          std::string::npos);  // nothing changed
  }
  // A damaged copy is refused before anything is touched.
  std::filesystem::copy(dir + "/b1", dir + "/bad");
  {
    std::fstream f(dir + "/bad/ledger.db", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5000);
    f.write("XXXXXXXX", 8);
  }
  const Run bad = sh(ctl + " restore --from " + dir + "/bad" + files, dir);
  CHECK(bad.status == 1);
  CHECK(bad.err.find("nothing was changed") != std::string::npos);

  // As root: the live files belong to `nobody`, as they would to settled's user.
  const bool root = ::geteuid() == 0;
  const passwd* nobody = ::getpwnam("nobody");
  if (root && nobody != nullptr)
    for (const auto& e : std::filesystem::directory_iterator(data))
      REQUIRE(::chown(e.path().c_str(), nobody->pw_uid, nobody->pw_gid) == 0);
  const Run r = sh(ctl + " restore --from " + dir + "/b1" + files, dir);
  INFO(r.out, r.err);
  REQUIRE(r.status == 0);
  const Run listed = sh(ctl + " operator list --ledger " + ledger + " --key-file " + key, dir);
  CHECK(listed.out.find("supervisor1") != std::string::npos);
  CHECK(listed.out.find("after_backup") == std::string::npos);
  int kept = 0;
  for (const auto& e : std::filesystem::directory_iterator(data))
    if (e.path().filename().string().starts_with("ledger.db.before-restore-")) ++kept;
  CHECK(kept >= 1);
  CHECK(sh(ctl + " ledger verify --ledger " + ledger + " --key-file " + key, dir).status == 0);
  if (root && nobody != nullptr) {
    // Restored files and those operator --ledger wrote afterwards keep settled's user.
    REQUIRE(sh(ctl + " operator add --name after_restore --role cashier" + on_ledger, dir).status == 0);
    for (const char* f : {"/ledger.db", "/ledger.db.lock", "/redlist.db"}) {
      INFO(f);
      CHECK(stat_of(data + f).st_uid == nobody->pw_uid);
    }
    for (const char* f : {"/ledger.db-wal", "/ledger.db-shm"})
      if (std::filesystem::exists(data + f)) CHECK(stat_of(data + f).st_uid == nobody->pw_uid);
  } else {
    MESSAGE("not root: the owner checks are left out");
  }
  std::filesystem::remove_all(dir);
}
