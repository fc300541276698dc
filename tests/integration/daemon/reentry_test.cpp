// The paper emergency ledger re-entered end to end: a CSV with a bad line is
// refused whole by settlectl naming the line and column, nothing stored; a
// good batch entered by a supervisor is approved by an auditor (not by its
// enterer), uploaded, accepted by insurer-sim, and the day reconciles.
#include "tests/support/daemon_harness.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <thread>

namespace settle::reentry_e2e {
namespace {

using settle::testing::Json;
using settle::testing::reason_of;
using settle::testing::result_of;
using settle::testing::Stack;

// Beijing time some minutes ago, as written on the paper ledger.
std::string paper_time(int minutes_ago) {
  const std::time_t t = std::time(nullptr) - minutes_ago * 60 + 8 * 3600;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%d %H:%M", &tm);
  return b;
}

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

}  // namespace

TEST_CASE("reentry: a CSV refused whole at its bad line; a batch approved by a second person, uploaded, reconciled") {
  Stack s("daemon-reentry");
  s.start_all({settle::testing::person(1)});
  const std::string card = settle::testing::person(1).card_no;
  const std::string header = "no,at,window,operator,card_no,psn_name,code,name,class,amount,cash\n";
  const std::string t1 = paper_time(6), t2 = paper_time(4);

  // A bad class on line 4: nothing of the file is stored.
  const auto bad = s.dir() / "bad.csv";
  write_file(bad, "\xEF\xBB\xBF" + header +
                      fmt::format("1,{},W03,c001,{},张三,110200001,普通门诊诊查费,A,25.00,73.60\n", t1, card) +
                      "1,,,,,,86900001,阿莫西林胶囊,B,48.60,\n" +
                      fmt::format("2,{},W03,c001,{},,250310005,血常规检查,X,30.00,30.00\n", t2, card));
  const auto refused = s.settlectl_as(Stack::supervisor, "reentry import '" + bad.string() + "'");
  CHECK(refused.status == 2);
  const Json err = Json::parse(refused.out, nullptr, false);
  INFO(refused.out << refused.err);
  REQUIRE(err.is_object());
  CHECK(err["error"]["field"] == "class");
  CHECK(err["error"]["message"].get<std::string>().find("line 4, column class") != std::string::npos);

  // Over the socket the daemon names the row: row 2's cash above its total.
  auto sup = s.session(Stack::supervisor, "W02");
  const Json over = sup->call(
      "reentry.record",
      Json{{"rows", Json::array({Json{{"at", fmt::format("{}:00+08:00", t1).replace(10, 1, "T")}, {"window", "W03"},
                                      {"operator", "c001"}, {"card_no", card},
                                      {"lines", Json::array({Json{{"code", "A1"}, {"name", "诊查费"}, {"class", "A"}, {"amount", "5.00"}}})},
                                      {"cash", "5.00"}},
                                 Json{{"at", fmt::format("{}:00+08:00", t2).replace(10, 1, "T")}, {"window", "W03"},
                                      {"operator", "c001"}, {"card_no", card},
                                      {"lines", Json::array({Json{{"code", "A1"}, {"name", "诊查费"}, {"class", "A"}, {"amount", "5.00"}}})},
                                      {"cash", "6.00"}}})}});
  CHECK(reason_of(over) == "INVALID_REQUEST");
  CHECK(over["error"]["data"]["row"] == 2);
  CHECK(over["error"]["data"]["field"] == "rows[1].cash");
  CHECK(result_of(sup->call("reentry.list"))["batches"].empty());

  // The good file: two settlements, cash as taken (the first all in cash,
  // the second only the self-paid part).
  const auto good = s.dir() / "good.csv";
  write_file(good, header +
                       fmt::format("1,{},W03,c001,{},张三,110200001,普通门诊诊查费,A,25.00,73.60\n", t1, card) +
                       "1,,,,,,86900001,阿莫西林胶囊,B,48.60,\n" +
                       fmt::format("2,{},W03,c001,{},,250310005,血常规检查,A,30.00,6.00\n", t2, card));
  const auto imported = s.settlectl_as(Stack::supervisor, "reentry import --batch-ref PAPER-W03-1 '" + good.string() + "'");
  INFO(imported.out << imported.err);
  REQUIRE(imported.status == 0);
  const Json batch = Json::parse(imported.out);
  const std::int64_t id = batch["batch_id"].get<std::int64_t>();
  CHECK(batch["state"] == "entered");
  CHECK(batch["rows"] == 2);
  // Entered twice: refused, naming the first.
  const auto twice = s.settlectl_as(Stack::supervisor, "reentry import --batch-ref PAPER-W03-1b '" + good.string() + "'");
  CHECK(twice.status == 4);
  CHECK(twice.out.find(fmt::format("batch {}", id)) != std::string::npos);

  // Not by the person who entered it.
  CHECK(reason_of(sup->call("reentry.approve", Json{{"batch_id", id}})) == "INVALID_STATE");
  const auto approved = s.settlectl_as(Stack::auditor, fmt::format("reentry approve --id {} --note checked", id));
  INFO(approved.out << approved.err);
  REQUIRE(approved.status == 0);
  const Json done = Json::parse(approved.out);
  CHECK(done["state"] == "approved");
  REQUIRE(done["items"].size() == 2);
  const std::string setl = done["items"][0]["setl_id"].get<std::string>();

  // Uploaded by the forwarder and accepted by the insurer.
  REQUIRE(result_of(sup->call("uploads.flush")).is_object());
  Json detail;
  for (int i = 0; i < 100; ++i) {
    detail = result_of(sup->call("settle.get", Json{{"setl_id", setl}}));
    if (detail["state"] != "offline_pending") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(detail["state"] == "offline_accepted");
  CHECK(detail["mode"] == "offline");
  CHECK(detail["offline_reason"] == "reentered");
  CHECK(detail["cash"] == "73.60");
  CHECK(detail["time"].get<std::string>().substr(11, 5) == t1.substr(11, 5));

  // The day reconciles with the insurer's figures.
  auto aud = s.session(Stack::auditor, "W02");
  const Json recon = aud->call("recon.run", Json{{"date", detail["clearing_date"]}});
  REQUIRE_MESSAGE(recon.contains("result"), recon.dump());
  CHECK_MESSAGE(recon["result"]["balanced"] == true, recon.dump());
}

}  // namespace settle::reentry_e2e
