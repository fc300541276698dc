// Unit tests of the red-list store (offline/redlist.*): full snapshots,
// deltas, page checks, interrupted syncs (destroyed, and a child process
// killed with SIGKILL), concurrent lookups, damaged and foreign files.
#include "offline/redlist.hpp"
#include "offline/sqlite.hpp"
#include "tests/offline/test_dir.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace settle;
using settle::insurer::RedList;
using settle::insurer::RedListEntry;

namespace {

RedListEntry person(int n, std::string op = "upsert", std::int64_t fen = 0) {
  return RedListEntry{fmt::format("G{:08}", n), fmt::format("11{:014}", n), n % 3 ? "310" : "390",
                      PersonFlags::from_bits(static_cast<std::uint8_t>(n % 2)), Amount::fen(fen + n),
                      Amount::fen(2 * n), std::move(op)};
}

// Cuts `all` into pages of `size` as the insurer would answer them.
std::vector<RedList::Output> pages(std::int64_t since, std::int64_t version, const std::vector<RedListEntry>& all,
                                   std::size_t size) {
  std::vector<RedList::Output> out;
  for (std::size_t at = 0, num = 1; at < all.size() || num == 1; at += size, ++num) {
    RedList::Output p;
    p.since_version = since;
    p.version = version;
    p.page_num = static_cast<std::int64_t>(num);
    p.total = static_cast<std::int64_t>(all.size());
    const std::size_t end = std::min(all.size(), at + size);
    p.entries.assign(all.begin() + static_cast<std::ptrdiff_t>(std::min(at, all.size())),
                     all.begin() + static_cast<std::ptrdiff_t>(end));
    p.more = end < all.size();
    out.push_back(std::move(p));
    if (end >= all.size()) break;
  }
  return out;
}

std::vector<RedListEntry> persons(int from, int to, std::int64_t fen = 0) {
  std::vector<RedListEntry> v;
  for (int n = from; n <= to; ++n) v.push_back(person(n, "upsert", fen));
  return v;
}

// Runs a whole sync; returns the commit's outcome.
Result<redlist::Info> sync_all(redlist::Store& s, bool full, const std::vector<RedList::Output>& ps,
                               std::int64_t now = 1000) {
  auto sync = s.begin_sync(full);
  if (!sync) return sync.error();
  for (const auto& p : ps)
    if (auto a = (*sync)->add(p); !a) return a.error();
  return (*sync)->commit(now);
}

std::optional<redlist::Entry> find(const redlist::Store& s, int n) {
  auto r = s.lookup(fmt::format("G{:08}", n));
  REQUIRE(r);
  return *r;
}

}  // namespace

TEST_CASE("a new red list is empty at version 0, and a second process is kept out") {
  test::TestDir dir("redlist");
  auto s = redlist::Store::open(dir.file("redlist.db"));
  REQUIRE(s);
  CHECK((*s)->info().version == 0);
  CHECK((*s)->info().entries == 0);
  CHECK((*s)->info().synced_at_ms == 0);
  CHECK_FALSE(find(**s, 1));
  auto again = redlist::Store::open(dir.file("redlist.db"));
  REQUIRE_FALSE(again);
  CHECK(again.error().message.find("another process") != std::string::npos);
}

TEST_CASE("full snapshot, then deltas with upserts and deletes") {
  test::TestDir dir("redlist");
  const std::string path = dir.file("redlist.db");
  {
    auto s = redlist::Store::open(path);
    REQUIRE(s);
    auto info = sync_all(**s, true, pages(0, 7, persons(1, 2500), 1000), 111);
    REQUIRE_MESSAGE(info, info.error().message);
    CHECK(info->version == 7);
    CHECK(info->entries == 2500);
    CHECK((*s)->info().synced_at_ms == 111);
    auto e = find(**s, 1234);
    REQUIRE(e);
    CHECK(e->psn_no == "1100000000001234");
    CHECK(e->insutype == "310");
    CHECK(e->flags == PersonFlags::from_bits(0));
    CHECK(e->deductible_used == Amount::fen(1234));
    CHECK(e->fund_paid_ytd == Amount::fen(2468));
    CHECK_FALSE(find(**s, 2501));

    // Delta 7 -> 9: two changed, one new, one deleted, one delete of an unknown card.
    std::vector<RedListEntry> d{person(10, "upsert", 5000), person(2501), person(20, "delete"),
                                person(99999, "delete"), person(11, "upsert", 7000)};
    info = sync_all(**s, false, pages(7, 9, d, 2), 222);
    REQUIRE_MESSAGE(info, info.error().message);
    CHECK(info->version == 9);
    CHECK(info->entries == 2500);  // +1 new, -1 deleted
    CHECK(find(**s, 10)->deductible_used == Amount::fen(5010));
    CHECK(find(**s, 11)->deductible_used == Amount::fen(7011));
    CHECK(find(**s, 2501));
    CHECK_FALSE(find(**s, 20));

    // A delta with nothing in it still records the sync's time.
    info = sync_all(**s, false, pages(9, 9, {}, 1000), 333);
    REQUIRE_MESSAGE(info, info.error().message);
    CHECK(info->version == 9);
    CHECK(info->synced_at_ms == 333);
  }
  // Reopened: everything is on disk.
  auto s = redlist::Store::open(path);
  REQUIRE(s);
  CHECK((*s)->info().version == 9);
  CHECK((*s)->info().entries == 2500);
  CHECK((*s)->info().synced_at_ms == 333);
  CHECK(find(**s, 10)->deductible_used == Amount::fen(5010));
  CHECK_FALSE(find(**s, 20));

  // A second full snapshot replaces the list (entries not in it are gone).
  auto info = sync_all(**s, true, pages(0, 12, persons(3000, 3099), 40), 444);
  REQUIRE_MESSAGE(info, info.error().message);
  CHECK(info->entries == 100);
  CHECK_FALSE(find(**s, 10));
  CHECK(find(**s, 3050));
  CHECK_FALSE(std::filesystem::exists(redlist::fresh_path(path)));
}

TEST_CASE("an interrupted sync keeps the previous version whole") {
  test::TestDir dir("redlist");
  auto s = redlist::Store::open(dir.file("redlist.db"));
  REQUIRE(s);
  REQUIRE(sync_all(**s, true, pages(0, 3, persons(1, 500), 100)));
  for (bool full : {true, false}) {
    CAPTURE(full);
    const auto ps = full ? pages(0, 8, persons(1000, 1500), 100)
                         : pages(3, 8, [] { auto v = persons(1, 300, 90000); v.push_back(person(400, "delete")); return v; }(), 100);
    {
      auto sync = (*s)->begin_sync(full);
      REQUIRE(sync);
      CHECK_FALSE((*s)->begin_sync(full));  // one at a time
      REQUIRE((*sync)->add(ps[0]));
      REQUIRE((*sync)->add(ps[1]));
      // Readers see the old version while the sync runs.
      CHECK(find(**s, 5)->deductible_used == Amount::fen(5));
      CHECK_FALSE(find(**s, 1000));
      auto early = (*sync)->commit(1);
      REQUIRE_FALSE(early);
      CHECK(early.error().message.find("incomplete") != std::string::npos);
    }  // destroyed: abandoned
    CHECK((*s)->info().version == 3);
    CHECK((*s)->info().entries == 500);
    CHECK(find(**s, 5)->deductible_used == Amount::fen(5));
    CHECK(find(**s, 400));
    CHECK_FALSE(find(**s, 1000));
  }
  // And a new sync can start after that.
  REQUIRE(sync_all(**s, false, pages(3, 4, {person(600)}, 100)));
  CHECK((*s)->info().entries == 501);
}

TEST_CASE("bad 9303 pages are refused with the field named, and nothing is applied") {
  test::TestDir dir("redlist");
  auto s = redlist::Store::open(dir.file("redlist.db"));
  REQUIRE(s);
  REQUIRE(sync_all(**s, true, pages(0, 5, persons(1, 300), 100)));

  struct Case {
    const char* name;
    bool full;
    std::function<void(std::vector<RedList::Output>&)> spoil;
    const char* field;
  };
  const std::vector<Case> cases{
      {"since_version not asked", false, [](auto& p) { p[0].since_version = 4; }, "since_version"},
      {"page 2 of another version", false, [](auto& p) { p[1].version = 7; }, "version"},
      {"total changes between pages", false, [](auto& p) { p[1].total += 1; }, "total"},
      {"page numbers skip", false, [](auto& p) { p[1].page_num = 3; }, "page_num"},
      {"more on the last page", false, [](auto& p) { p[2].more = true; }, "more"},
      {"no more before the total", false, [](auto& p) { p[0].more = false; }, "more"},
      {"more entries than the total", false, [](auto& p) { p[2].entries.push_back(person(9000)); }, "entries"},
      {"empty page before the total", false, [](auto& p) { p[1].entries.clear(); }, "entries"},
      {"same card twice in a snapshot", true, [](auto& p) { p[2].entries[0] = p[0].entries[0]; }, "entries"},
      {"entries for no change of version", false, [](auto& p) { for (auto& x : p) x.version = 5; }, "total"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    auto ps = c.full ? pages(0, 9, persons(500, 749), 100) : pages(5, 9, persons(1, 250, 70000), 100);
    c.spoil(ps);
    auto sync = (*s)->begin_sync(c.full);
    REQUIRE(sync);
    Status failed = Ok{};
    for (const auto& p : ps)
      if (failed = (*sync)->add(p); !failed) break;
    REQUIRE_FALSE(failed);
    CHECK(failed.error().field == c.field);
    CHECK(failed.error().message.find("9303 page refused") != std::string::npos);
    CHECK_FALSE((*sync)->add(ps.back()));  // poisoned
    CHECK_FALSE((*sync)->commit(1));
    sync->reset();
    CHECK((*s)->info().version == 5);
    CHECK((*s)->info().entries == 300);
    CHECK(find(**s, 1)->deductible_used == Amount::fen(1));
    CHECK_FALSE(find(**s, 500));
  }
}

TEST_CASE("lookups from many threads while full snapshots and deltas are applied") {
  test::TestDir dir("redlist");
  auto s = redlist::Store::open(dir.file("redlist.db"));
  REQUIRE(s);
  REQUIRE(sync_all(**s, true, pages(0, 1, persons(1, 2000), 500)));
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, done{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t)
    readers.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        const int n = 1 + (i * 7 + t) % 2000;
        auto r = (*s)->lookup(fmt::format("G{:08}", n));
        // Every version holds persons 1..2000; a version's entries all carry the same offset.
        if (!r || !*r || (*r)->deductible_used.fen() % 100000 != n) ++bad;
        ++done;
      }
    });
  for (int v = 2; v <= 7; ++v) {
    const bool full = v % 2 == 0;
    auto info = sync_all(**s, full, pages(full ? 0 : v - 1, v, persons(1, 2000, 100000 * v), 500));
    REQUIRE_MESSAGE(info, info.error().message);
  }
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(bad == 0);
  CHECK(done > 0);
  CHECK((*s)->info().version == 7);
  CHECK(find(**s, 77)->deductible_used == Amount::fen(700077));
}

TEST_CASE("a sync killed with SIGKILL half-way leaves the previous version whole") {
  for (bool full : {true, false}) {
    CAPTURE(full);
    test::TestDir dir("redlist");
    const std::string path = dir.file("redlist.db");
    {
      auto s = redlist::Store::open(path);
      REQUIRE(s);
      REQUIRE(sync_all(**s, true, pages(0, 3, persons(1, 5000), 1000)));
    }
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      auto s = redlist::Store::open(path);
      if (!s) ::_exit(2);
      auto sync = (*s)->begin_sync(full);
      if (!sync) ::_exit(3);
      const auto ps = pages(full ? 0 : 3, 4, persons(1, 50000, 900000), 1000);
      for (std::size_t i = 0; i < ps.size(); ++i) {
        if (!(*sync)->add(ps[i])) ::_exit(4);
        if (i == 30) {
          const char c = 'k';
          (void)!::write(fds[1], &c, 1);
          for (;;) ::pause();
        }
      }
      ::_exit(5);
    }
    ::close(fds[1]);
    char c = 0;
    const auto n = ::read(fds[0], &c, 1);
    ::close(fds[0]);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(n == 1);
    CHECK(WIFSIGNALED(status));
    auto s = redlist::Store::open(path);
    REQUIRE_MESSAGE(s, s.error().message);
    CHECK((*s)->info().version == 3);
    CHECK((*s)->info().entries == 5000);
    CHECK(find(**s, 10)->deductible_used == Amount::fen(10));
    CHECK_FALSE(find(**s, 5001));
    CHECK_FALSE(std::filesystem::exists(redlist::fresh_path(path)));
    // The store goes on syncing after the crash.
    REQUIRE(sync_all(**s, false, pages(3, 4, {person(6000)}, 10)));
    CHECK((*s)->info().entries == 5001);
  }
}

TEST_CASE("damaged and foreign files are refused and left untouched") {
  test::TestDir dir("redlist");
  auto refused = [&](const std::string& path, const char* words) {
    const auto before = test::file_hash(path);
    auto s = redlist::Store::open(path);
    REQUIRE_FALSE(s);
    CHECK(s.error().reason == Reason::storage_failed);
    CHECK(s.error().field == path);
    CHECK_MESSAGE(s.error().message.find(words) != std::string::npos, s.error().message);
    CHECK(s.error().message.find("left untouched") != std::string::npos);
    CHECK(test::file_hash(path) == before);
  };
  SUBCASE("not SQLite") {
    const std::string p = dir.file("text.db");
    std::ofstream(p) << "version = 3\nthis is a config file, not a list\n" << std::string(200, 'x');
    refused(p, "not an SQLite database");
  }
  SUBCASE("empty") {
    const std::string p = dir.file("empty.db");
    std::ofstream{p};
    refused(p, "empty");
  }
  SUBCASE("another application's SQLite file") {
    const std::string p = dir.file("other.db");
    {
      auto db = sql::Db::open(p);
      REQUIRE(db);
      REQUIRE(db->exec("CREATE TABLE t(x); INSERT INTO t VALUES (1)"));
    }
    refused(p, "another kind");
  }
  SUBCASE("a red list damaged in the middle") {
    const std::string p = dir.file("redlist.db");
    {
      auto s = redlist::Store::open(p);
      REQUIRE(s);
      REQUIRE(sync_all(**s, true, pages(0, 2, persons(1, 20000), 1000)));
    }
    {
      std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(4096 * 20 + 100);
      const std::string junk(3000, '\x5a');
      f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    refused(p, "integrity");
    // Opened without the page check (a start after a clean stop), the list
    // is usable at once, and the check made later finds the damage.
    auto later = redlist::Store::open(p, {}, false);
    REQUIRE(later);
    auto found = (*later)->check_integrity();
    CHECK_MESSAGE((!found || !found->empty()), "the damage went unseen");
  }
}
