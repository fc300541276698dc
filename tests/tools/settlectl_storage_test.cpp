// settlectl ledger encrypt / rekey / status run as the IT staff would, on a
// ledger made by `settlectl operator add --ledger` (no daemon): afterwards
// the sqlite3 shell cannot read it, the operators are still there with the
// key, a missing or wrong key is named, and rekey moves it to the new key.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>

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

void write_key(const std::string& path, char fill) {
  std::ofstream(path, std::ios::binary) << std::string(32, fill);
  ::chmod(path.c_str(), 0600);
}

bool file_holds(const std::string& path, const std::string& needle) {
  std::ifstream in(path, std::ios::binary);
  const std::string b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return b.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("settlectl ledger encrypt, status, operator list with the key, rekey") {
  const std::string dir = SETTLE_BINARY_DIR "/tests/tools/storage-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string ledger = dir + "/ledger.db", key = dir + "/ledger.key", next = dir + "/ledger.key.new";
  const std::string ctl = SETTLECTL_PATH;
  write_key(key, 'k');
  write_key(next, 'n');
  { std::ofstream(dir + "/pw") << "Init-Password-1\n"; }
  // No config here: the files and the key are named on the command line, and
  // no credential of the environment leaks in.
  ::unsetenv("CREDENTIALS_DIRECTORY");
  const std::string noconf = " -c " + dir + "/none.toml";
  REQUIRE(sh(ctl + " operator add --ledger " + ledger + " --name supervisor1 --role supervisor --initial-password-file " +
                 dir + "/pw",
             dir)
              .status == 0);
  REQUIRE(file_holds(ledger, "supervisor1"));  // plain, as made
  CHECK(sh(ctl + " ledger status --ledger " + ledger + " --key-file " + key + noconf, dir).out.find("plain") !=
        std::string::npos);

  Run enc = sh(ctl + " ledger encrypt --ledger " + ledger + " --key-file " + key + noconf, dir);
  INFO(enc.out, enc.err);
  REQUIRE(enc.status == 0);
  CHECK(enc.out.find("encrypted (") != std::string::npos);
  CHECK_FALSE(file_holds(ledger, "supervisor1"));
  CHECK_FALSE(file_holds(ledger, "SQLite format 3"));
  // Again: nothing to do.
  CHECK(sh(ctl + " ledger encrypt --ledger " + ledger + " --key-file " + key + noconf, dir).out.find("already encrypted") !=
        std::string::npos);
  CHECK(sh(ctl + " ledger status --ledger " + ledger + " --key-file " + key + noconf, dir).out.find("encrypted with this key") !=
        std::string::npos);
  const Run shell = sh("sqlite3 " + ledger + " .tables", dir);
  CHECK(shell.status != 0);
  CHECK(shell.err.find("file is not a database") != std::string::npos);

  const Run listed = sh(ctl + " operator list --ledger " + ledger + " --key-file " + key, dir);
  CHECK(listed.status == 0);
  CHECK(listed.out.find("supervisor1") != std::string::npos);
  const Run nokey = sh(ctl + " operator list --ledger " + ledger, dir);
  CHECK(nokey.status != 0);
  CHECK(nokey.err.find("is encrypted: the key is missing") != std::string::npos);
  const Run wrong = sh(ctl + " operator list --ledger " + ledger + " --key-file " + next, dir);
  CHECK(wrong.status != 0);
  CHECK(wrong.err.find("cannot be decrypted with this key") != std::string::npos);
  ::chmod(key.c_str(), 0644);
  const Run open_key = sh(ctl + " operator list --ledger " + ledger + " --key-file " + key, dir);
  CHECK(open_key.status != 0);
  CHECK(open_key.err.find("is open to other users") != std::string::npos);
  ::chmod(key.c_str(), 0600);

  const Run re = sh(ctl + " ledger rekey --ledger " + ledger + " --key-file " + key + " --new-key " + next + noconf, dir);
  INFO(re.out, re.err);
  CHECK(re.status == 0);
  CHECK(sh(ctl + " operator list --ledger " + ledger + " --key-file " + next, dir).out.find("supervisor1") !=
        std::string::npos);
  CHECK(sh(ctl + " operator list --ledger " + ledger + " --key-file " + key, dir).status != 0);
  std::filesystem::remove_all(dir);
}
