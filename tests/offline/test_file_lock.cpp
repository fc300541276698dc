// The sidecar lock of offline/file_lock.hpp: one holder at a time (a second
// open of PATH.lock is refused even in the same process), released when the
// holder goes, and a lock file that cannot be made named in the error.
#include "offline/file_lock.hpp"
#include "test_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <sys/stat.h>
#include <utility>

using settle::sql::Errc;
using settle::sql::FileLock;
using settle::test::TestDir;

TEST_CASE("a file's lock has one holder until it goes") {
  TestDir d("file-lock");
  const std::string path = d.file("data.db");
  auto first = FileLock::take(path);
  REQUIRE(first.ok());
  CHECK(first->created());
  CHECK(first->fd() >= 0);
  struct stat st {};
  REQUIRE(::stat((path + ".lock").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto second = FileLock::take(path);
  REQUIRE_FALSE(second.ok());
  CHECK(second.is(Errc::busy));
  CHECK(second.error().message == "is open in another process (its .lock is held)");

  // Moved, it is still held; the moved-from object releases nothing.
  FileLock moved = std::move(*first);
  first = FileLock{};
  CHECK(FileLock::take(path).is(Errc::busy));

  moved = FileLock{};  // released
  auto third = FileLock::take(path);
  REQUIRE(third.ok());
  CHECK_FALSE(third->created());  // the file was there
}

TEST_CASE("a lock file that cannot be made is named in the error") {
  TestDir d("file-lock-missing");
  const std::string path = d.file("no-such-folder/data.db");
  auto lock = FileLock::take(path);
  REQUIRE_FALSE(lock.ok());
  CHECK(lock.is(Errc::io));
  CHECK(lock.error().message.find("cannot create its lock file " + path + ".lock: ") == 0);
  CHECK_FALSE(std::filesystem::exists(path + ".lock"));
}
