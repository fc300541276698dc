// The red list end to end: the real settled syncing 9303 from the real
// insurer-sim (mutual TLS) on redlist.sync, with progress notifications,
// engine.status's redlist fields, a delta after persons were added at the
// simulator, the simulator failing mid-sync (the old version stays), and
// `settlectl redlist sync`. The list's file is read directly to check content.
#include "offline/sqlite.hpp"
#include "tests/support/daemon_harness.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace {

using settle::testing::Json;
using settle::testing::PersonSpec;
using settle::testing::reason_of;
using settle::testing::Stack;
using namespace std::chrono_literals;

// What the daemon's red-list file holds (read-only, beside the daemon).
struct FileView {
  std::int64_t version = -1, entries = -1, rows = -1;
};
FileView read_list(const Stack& s) {
  FileView v;
  auto db = settle::sql::Db::open((s.dir() / "data" / "redlist.db").string(), {.mode = settle::sql::OpenMode::read_only});
  REQUIRE_MESSAGE(db, db.error().message);
  v.version = db->query_int64("SELECT value FROM meta WHERE key = 'version'")->value_or(-1);
  v.entries = db->query_int64("SELECT value FROM meta WHERE key = 'entries'")->value_or(-1);
  v.rows = db->query_int64("SELECT count(*) FROM entries")->value_or(-1);
  return v;
}

bool on_list(const Stack& s, const std::string& card_no) {
  auto db = settle::sql::Db::open((s.dir() / "data" / "redlist.db").string(), {.mode = settle::sql::OpenMode::read_only});
  REQUIRE(db);
  auto st = db->prepare("SELECT count(*) FROM entries WHERE card_no = ?1");
  REQUIRE(st);
  REQUIRE(st->bind(1, card_no));
  REQUIRE(st->step());
  return st->column_int64(0) == 1;
}

}  // namespace

TEST_CASE("red list: full sync, delta after new persons, insurer failing mid-sync, settlectl") {
  Stack s("redlist");
  s.redlist_config = "sync_interval_s = 0\npage_size = 2\n";
  std::vector<PersonSpec> persons;
  for (int n = 1; n <= 30; ++n) persons.push_back(settle::testing::person(n));
  s.start_all(persons);

  auto sup = s.session(Stack::supervisor);
  Json st = sup->call("engine.status");
  REQUIRE_MESSAGE(st.contains("result"), st.dump());
  CHECK(st["result"]["redlist_version"] == 0);
  CHECK(st["result"]["redlist_age_s"].is_null());

  // Cashiers may not sync; bad params are named.
  auto cashier = s.session(Stack::cashier);
  CHECK(reason_of(cashier->call("redlist.sync")) == "FORBIDDEN");
  Json bad = sup->call("redlist.sync", Json{{"full", "yes"}});
  CHECK(reason_of(bad) == "INVALID_REQUEST");
  CHECK(bad["error"]["data"]["field"] == "full");

  // 1. The first sync is a full snapshot, page by page, with progress.
  Json r = sup->call("redlist.sync", Json::object(), 120s);
  REQUIRE_MESSAGE(r.contains("result"), r.dump());
  const std::int64_t v1 = r["result"]["version"].get<std::int64_t>();
  CHECK(v1 >= 30);
  CHECK(r["result"]["entries"] == 30);
  CHECK(r["result"]["applied"] == 30);
  CHECK(r["result"]["full"] == true);
  int notes = 0;
  std::int64_t last_applied = -1;
  while (auto n = sup->wait_notification("redlist.progress", 200ms)) {
    ++notes;
    CHECK((*n)["params"]["total"] == 30);
    CHECK((*n)["params"]["applied"].get<std::int64_t>() > last_applied);
    last_applied = (*n)["params"]["applied"].get<std::int64_t>();
  }
  CHECK(notes >= 1);
  CHECK(last_applied == 30);
  st = sup->call("engine.status");
  CHECK(st["result"]["redlist_version"] == v1);
  CHECK(st["result"]["redlist_age_s"].is_number_integer());
  FileView f = read_list(s);
  CHECK(f.version == v1);
  CHECK(f.entries == 30);
  CHECK(f.rows == 30);
  CHECK(on_list(s, persons[7].card_no));

  // 2. Persons added at the insurer arrive with the next delta.
  for (int n = 31; n <= 35; ++n) s.add_person(settle::testing::person(n));
  r = sup->call("redlist.sync", Json::object(), 120s);
  REQUIRE_MESSAGE(r.contains("result"), r.dump());
  const std::int64_t v2 = r["result"]["version"].get<std::int64_t>();
  CHECK(v2 == v1 + 5);
  CHECK(r["result"]["applied"] == 5);
  CHECK(r["result"]["entries"] == 35);
  CHECK(r["result"]["full"] == false);
  CHECK(on_list(s, settle::testing::person(33).card_no));
  while (sup->wait_notification("redlist.progress", 100ms)) {
  }

  // 3. The insurer fails half-way through a full snapshot: the old version stays whole.
  for (int n = 36; n <= 40; ++n) s.add_person(settle::testing::person(n));
  s.set_faults({"delay:ms=40"});
  const auto id = sup->send("redlist.sync", Json{{"full", true}});
  auto first = sup->wait_notification("redlist.progress", 30s);
  REQUIRE(first.has_value());
  s.set_faults({"delay:ms=40", "error"});
  r = sup->wait_id(Json(id), 120s);
  s.clear_faults();
  INFO(r.dump());
  CHECK(reason_of(r) == "INSURER_REJECTED");
  CHECK(r["error"]["message"].get<std::string>().find("9303 page") != std::string::npos);
  f = read_list(s);
  CHECK(f.version == v2);
  CHECK(f.entries == 35);
  CHECK(f.rows == 35);
  CHECK_FALSE(on_list(s, settle::testing::person(38).card_no));
  CHECK_FALSE(std::filesystem::exists(s.dir() / "data" / "redlist.db.new"));
  st = sup->call("engine.status");
  CHECK(st["result"]["redlist_version"] == v2);
  while (sup->wait_notification("redlist.progress", 100ms)) {
  }

  // 4. settlectl redlist sync: progress on stderr, the answer as JSON.
  const settle::testing::ProgramRun ctl = s.settlectl_as(Stack::supervisor, "redlist sync");
  INFO("stdout: " << ctl.out << "\nstderr: " << ctl.err);
  REQUIRE(ctl.status == 0);
  auto answer = settle::json::parse(ctl.out, "settlectl output");
  REQUIRE(answer);
  CHECK((*answer)["version"] == v2 + 5);
  CHECK((*answer)["entries"] == 40);
  CHECK((*answer)["applied"] == 5);
  CHECK(ctl.err.find("red list: 100% (5 / 5 entries)") != std::string::npos);
  CHECK(on_list(s, settle::testing::person(38).card_no));
  f = read_list(s);
  CHECK(f.rows == 40);

  // 5. The list survives a restart of the daemon; with a schedule
  // (sync_interval_s = 1) the daemon takes a new person by itself.
  s.add_person(settle::testing::person(41));
  s.stop_daemon();
  s.redlist_config = "sync_interval_s = 1\n";
  s.start_daemon();
  auto again = s.connect();
  st = again->call("engine.status");
  CHECK(st["result"]["redlist_version"].get<std::int64_t>() >= v2 + 5);
  std::int64_t seen = 0;
  for (int i = 0; i < 100 && seen != v2 + 6; ++i) {
    std::this_thread::sleep_for(200ms);
    seen = again->call("engine.status")["result"]["redlist_version"].get<std::int64_t>();
  }
  CHECK(seen == v2 + 6);
  CHECK(read_list(s).rows == 41);
}
