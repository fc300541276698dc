// MsgidAllocator: format, many ids in one second, the clock going back, and
// seeding from the ledger after a restart. Time is injected, never read.
#include "offline/ledger.hpp"
#include "offline/msgid.hpp"
#include "test_dir.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace settle;
using namespace settle::ledger;

namespace {
constexpr std::string_view kInst = "H11010500001";
const CivilTime kNoon{2026, 11, 22, 10, 30, 45};

MsgidAllocator make(std::optional<std::string_view> highest = std::nullopt) {
  auto a = MsgidAllocator::create(std::string(kInst), highest);
  REQUIRE(a.ok());
  return std::move(a).value();
}
}  // namespace

TEST_CASE("civil time arithmetic round-trips and rolls over days, months, years, leap days") {
  CHECK(to_seconds({1970, 1, 1, 0, 0, 0}) == 0);
  CHECK(from_seconds(to_seconds(kNoon)) == kNoon);
  CHECK(from_seconds(to_seconds({2026, 12, 31, 23, 59, 59}) + 1) == CivilTime{2027, 1, 1, 0, 0, 0});
  CHECK(from_seconds(to_seconds({2028, 2, 28, 23, 59, 59}) + 1) == CivilTime{2028, 2, 29, 0, 0, 0});
  CHECK(from_seconds(to_seconds({2100, 2, 28, 23, 59, 59}) + 1) == CivilTime{2100, 3, 1, 0, 0, 0});
}

TEST_CASE("the first msgid has the documented shape") {
  auto a = make();
  CHECK_FALSE(a.last().has_value());
  CHECK(a.next(kNoon) == "H11010500001202611221030450001");
  CHECK(a.next(kNoon) == "H11010500001202611221030450002");
  CHECK(a.next({2026, 11, 22, 10, 30, 46}) == "H11010500001202611221030460001");
  CHECK(a.last() == "H11010500001202611221030460001");
}

TEST_CASE("more than 9999 requests in one second borrow the next seconds, never repeating") {
  auto a = make();
  std::set<std::string> seen;
  std::string prev;
  for (int i = 0; i < 25'000; ++i) {
    const std::string id = a.next(kNoon);
    REQUIRE(id.size() == 30);
    REQUIRE(id > prev);
    prev = id;
    seen.insert(id);
  }
  CHECK(seen.size() == 25'000);
  CHECK(*seen.begin() == "H11010500001202611221030450001");
  CHECK(seen.count("H11010500001202611221030459999") == 1);
  CHECK(seen.count("H11010500001202611221030460001") == 1);  // borrowed
  CHECK(prev == "H11010500001202611221030475002");  // 25000 = 9999 + 9999 + 5002
  // When the real clock reaches a borrowed second, the ids keep climbing.
  CHECK(a.next({2026, 11, 22, 10, 30, 46}) == "H11010500001202611221030475003");
  CHECK(a.next({2026, 11, 22, 10, 30, 48}) == "H11010500001202611221030480001");
}

TEST_CASE("the clock going backwards never produces a smaller msgid") {
  auto a = make();
  const std::string before = a.next(kNoon);
  const std::string back1 = a.next({2026, 11, 22, 10, 29, 0});  // one and a half minutes back
  const std::string back2 = a.next({2025, 1, 1, 0, 0, 0});      // a year back
  CHECK(back1 > before);
  CHECK(back2 > back1);
  CHECK(back2 == "H11010500001202611221030450003");
  // Sequence exhaustion while the clock is behind borrows forward too.
  std::string prev = back2;
  for (int i = 0; i < 10'000; ++i) {
    const std::string id = a.next({2026, 11, 22, 10, 0, 0});
    REQUIRE(id > prev);
    prev = id;
  }
  CHECK(prev.substr(12, 14) == "20261122103046");
}

TEST_CASE("seeding: after a restart the allocator continues above the ledger's highest msgid") {
  // A seed in the future of the clock (the clock went back over a restart).
  auto a = make("H11010500001202611221030459998");
  CHECK(a.next(kNoon) == "H11010500001202611221030459999");
  CHECK(a.next({2026, 11, 22, 9, 0, 0}) == "H11010500001202611221030460001");
  auto b = make("H11010500001202611221030450007");
  CHECK(b.next({2026, 11, 22, 10, 31, 0}) == "H11010500001202611221031000001");

  // Through a real ledger: record, close, reopen, seed from highest_msgid.
  settle::test::TestDir d("msgid-restart");
  const std::string path = d.file("ledger.db");
  std::string last_issued;
  {
    auto l = Ledger::open(path);
    REQUIRE(l.ok());
    auto alloc = make();
    for (int i = 0; i < 12'000; ++i) {
      Message m;
      m.msgid = alloc.next(kNoon);
      m.infno = "2207";
      m.created_at_ms = i;
      last_issued = m.msgid;
      (*l)->write([m](sql::Db& db) { return record_message(db, m); }, [](const sql::Status& s) { CHECK(s.ok()); });
    }
  }
  auto l = Ledger::open(path);
  REQUIRE(l.ok());
  auto high = (*l)->read([](sql::Db& db) { return highest_msgid(db, kInst); });
  REQUIRE(high.ok());
  REQUIRE(high->has_value());
  CHECK(**high == last_issued);
  auto seeded = make(**high);
  const std::string next = seeded.next(kNoon);  // same wall second as before the restart
  CHECK(next > last_issued);
  Message m;
  m.msgid = next;
  m.infno = "2207";
  CHECK((*l)->write_wait([m](sql::Db& db) { return record_message(db, m); }).ok());
}

TEST_CASE("malformed institution codes and seeds are refused") {
  CHECK(MsgidAllocator::create("H1101050000", std::nullopt).is(sql::Errc::other));    // 11 chars
  CHECK(MsgidAllocator::create("H11010500001X", std::nullopt).is(sql::Errc::other));  // 13
  CHECK(MsgidAllocator::create("H1101050000-", std::nullopt).is(sql::Errc::other));
  CHECK(MsgidAllocator::create(std::string(kInst), "H11010500001202613221030450001").is(sql::Errc::other));
  CHECK(MsgidAllocator::create(std::string(kInst), "H11010500001202611221030450000").is(sql::Errc::other));
  CHECK(MsgidAllocator::create(std::string(kInst), "X11010500001202611221030450001").is(sql::Errc::other));
  CHECK(MsgidAllocator::create(std::string(kInst), "H1101050000120261122103045001").is(sql::Errc::other));
  CHECK(MsgidAllocator::parse("H11010500001202611221030450042", kInst) ==
        std::pair<std::int64_t, int>{to_seconds(kNoon), 42});
}
