// settlectl inpatient without a daemon: lines files in both shapes and their
// errors, each command's params and option errors, the stay as text (masked
// card, amounts as the daemon wrote them), and get --all's pager over pages.
#include "tools/settlectl/format.hpp"
#include "tools/settlectl/inpatient.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

using namespace settle;
using namespace settle::tools;
using json::Json;

namespace {

std::string error_of(const Result<Json>& r) {
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

bool contains(const std::string& hay, std::string_view needle) { return hay.find(needle) != std::string::npos; }

constexpr const char* kLines = R"([
  {"feedetl_sn": "1", "code": "250101001", "name": "血常规", "class": "A", "amount": 12.30},
  {"feedetl_sn": 2, "code": "X01", "name": "床位费", "class": "B", "amount": "80.5", "selfpay_ratio": 0.10},
  {"feedetl_sn": "3", "code": "C9", "name": "自费药", "class": "C", "amount": "1234.56"}
])";

}  // namespace

TEST_CASE("a lines file as [...] and as {\"lines\": [...]} gives the same lines, amounts as decimal text") {
  auto a = parse_inpatient_lines(kLines, "lines file a.json");
  auto b = parse_inpatient_lines(std::string(R"({"lines": )") + kLines + "}", "lines file b.json");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a == *b);
  REQUIRE(a->size() == 3);
  const Json& l0 = (*a)[0];
  CHECK(l0["feedetl_sn"] == "1");
  CHECK(l0["amount"] == "12.30");  // a JSON number 12.30 is sent as the exact text, never a double
  CHECK_FALSE(l0.contains("selfpay_ratio"));
  CHECK((*a)[1]["feedetl_sn"] == "2");  // a whole number is taken as its digits
  CHECK((*a)[1]["amount"] == "80.50");
  CHECK((*a)[1]["selfpay_ratio"] == "0.1");
  CHECK((*a)[2]["amount"] == "1234.56");
  CHECK((*a)[2]["name"] == "自费药");
  // What is sent holds no exact-number placeholders: plain JSON.
  CHECK(dump_exact(*a, -1) == a->dump());
}

TEST_CASE("a lines file is read from a path or from stdin for -") {
  char path[] = "/tmp/settlectl_lines_XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  { std::ofstream(path) << kLines; }
  std::istringstream none;
  auto from_file = read_inpatient_lines(path, none);
  REQUIRE(from_file.ok());
  std::istringstream in(std::string(R"({"lines": )") + kLines + "}");
  auto from_stdin = read_inpatient_lines("-", in);
  REQUIRE(from_stdin.ok());
  CHECK(*from_file == *from_stdin);
  std::remove(path);

  const std::string missing = error_of(read_inpatient_lines("/nonexistent/lines.json", none));
  CHECK(missing == "--lines: cannot read the lines file /nonexistent/lines.json");
}

TEST_CASE("a malformed lines file is refused with the line and field named") {
  const auto err = [](std::string_view text) { return error_of(parse_inpatient_lines(text, "lines file x.json")); };
  CHECK(contains(err(R"([{"feedetl_sn": "1", "code": "A1", )"), "invalid JSON in lines file x.json at byte"));
  CHECK(err(R"([{"feedetl_sn": "1", "code": "A1", "name": "n", "class": "A", "amount": "1"},
                {"feedetl_sn": "2", "code": "A2", "name": "n", "class": "D", "amount": "1"}])") ==
        "lines file x.json: lines[1].class: class must be \"A\", \"B\" or \"C\", got \"D\"");
  CHECK(err(R"([{"code": "A1", "name": "n", "class": "A", "amount": "1"}])") ==
        "lines file x.json: lines[0].feedetl_sn: required field is missing (the line's number in the stay)");
  CHECK(err(R"([{"feedetl_sn": "7", "code": "A1", "name": "n", "class": "A", "amount": "1"},
                {"feedetl_sn": 7, "code": "A2", "name": "n", "class": "A", "amount": "1"}])") ==
        "lines file x.json: lines[1].feedetl_sn: \"7\" is given twice (also lines[0])");
  CHECK(err(R"([{"feedetl_sn": "1", "code": "A1", "name": "n", "class": "A", "amount": "1", "selfpay_ratio": "0.1"}])") ==
        "lines file x.json: lines[0].selfpay_ratio: only class B lines have a self-pay ratio");
  CHECK(contains(err(R"([{"feedetl_sn": "1", "code": "A1", "name": "n", "class": "A", "amount": 1.234}])"),
                 "lines file x.json: lines[0].amount"));
  CHECK(contains(err(R"([{"feedetl_sn": "1", "code": "A1", "class": "A", "amount": "1"}])"),
                 "lines file x.json: lines[0].name"));
  CHECK(contains(err(R"([{"feedetl_sn": "1", "code": "A1", "name": "n", "class": "A", "amount": "1", "qty": 2}])"),
                 "lines file x.json: lines[0].qty"));
  CHECK(contains(err(R"([{"feedetl_sn": "a b", "code": "A1", "name": "n", "class": "A", "amount": "1"}])"),
                 "lines file x.json: lines[0].feedetl_sn: a line number is 1 to 30 printable ASCII"));
  CHECK(err("[]") == "lines file x.json: no charge lines (1 to 500 in one batch)");
  CHECK(err(R"({"items": []})") == "lines file x.json: unknown member \"items\" (expected [...] or {\"lines\": [...]})");
  CHECK(err("\"x\"") == "lines file x.json: expected [...] or {\"lines\": [...]} of charge lines, got string");
  CHECK(err("[1]") ==
        "lines file x.json: lines[0]: expected an object {feedetl_sn, code, name, class, amount}, got number");

  std::string many = "[";
  for (int i = 0; i < 501; ++i)
    many += (i ? "," : "") + std::string(R"({"feedetl_sn": ")") + std::to_string(i) +
            R"(", "code": "A", "name": "n", "class": "A", "amount": "1"})";
  many += "]";
  auto r = parse_inpatient_lines(many, "lines file x.json");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().reason == Reason::limit_exceeded);
  CHECK(r.error().message == "lines file x.json: 501 charge lines, at most 500 in one batch");
}

TEST_CASE("each command's params, and option errors named before anything is sent") {
  InpatientCommand c;
  c.action = "admit";
  c.request_id = "adm-0001";
  c.dept = "0301";
  c.dept_name = "心内科";
  c.diagnosis = "I21.9";
  c.admit_time = "2026-03-01T08:30:00+08:00";
  auto p = inpatient_params(c);
  REQUIRE(p.ok());
  CHECK(*p == Json{{"request_id", "adm-0001"}, {"dept", "0301"}, {"dept_name", "心内科"}, {"diagnosis", "I21.9"},
                   {"admit_time", "2026-03-01T08:30:00+08:00"}});
  CHECK(inpatient_method("admit") == "inpatient.admit");
  CHECK(inpatient_needs_card("admit"));
  c.admit_time = "2026-03-01 08:30";
  CHECK(contains(error_of(inpatient_params(c)), "--admit-time: expected an ISO 8601 date-time with offset"));
  c.admit_time.clear();
  c.request_id = std::string(65, 'r');
  CHECK(error_of(inpatient_params(c)) == "--request-id: must be 1 to 64 characters, got 65");

  InpatientCommand add;
  add.action = "add-lines";
  add.request_id = "b-1";
  add.adm_id = "42";
  auto lines = parse_inpatient_lines(kLines, "x");
  REQUIRE(lines.ok());
  p = inpatient_params(add, *lines);
  REQUIRE(p.ok());
  CHECK((*p)["adm_id"] == "42");
  CHECK((*p)["lines"].size() == 3);
  CHECK(inpatient_method("add-lines") == "inpatient.add_lines");
  CHECK_FALSE(inpatient_needs_card("add-lines"));
  add.adm_id = "4 2";
  CHECK(error_of(inpatient_params(add, *lines)) == "--adm-id: must be printable ASCII without spaces");

  InpatientCommand cancel;
  cancel.action = "cancel-lines";
  cancel.request_id = "c-1";
  cancel.adm_id = "42";
  cancel.feedetl_sn = {"3", "5"};
  p = inpatient_params(cancel);
  REQUIRE(p.ok());
  CHECK((*p)["feedetl_sn"] == Json::array({"3", "5"}));
  cancel.feedetl_sn = {"3", "3"};
  CHECK(error_of(inpatient_params(cancel)) == "--feedetl-sn: \"3\" is given twice");

  InpatientCommand dis;
  dis.action = "discharge";
  dis.request_id = "d-1";
  dis.adm_id = "42";
  dis.no_account = true;
  p = inpatient_params(dis);
  REQUIRE(p.ok());
  CHECK(*p == Json{{"request_id", "d-1"}, {"adm_id", "42"}, {"use_account", false}});
  CHECK_FALSE(inpatient_wants_pin(dis, true));  // no PIN without the account
  dis.no_account = false;
  CHECK(inpatient_wants_pin(dis, true));
  CHECK_FALSE(inpatient_wants_pin(dis, false));

  InpatientCommand undo;
  undo.action = "undo-admit";
  undo.request_id = "u-1";
  undo.adm_id = "42";
  p = inpatient_params(undo);
  REQUIRE(p.ok());
  CHECK(*p == Json{{"request_id", "u-1"}, {"adm_id", "42"}});
  CHECK(inpatient_needs_card("undo-admit"));
  CHECK(inpatient_needs_card("undo-discharge"));

  InpatientCommand get;
  get.action = "get";
  get.adm_id = "42";
  get.limit = 50;
  p = inpatient_params(get);
  REQUIRE(p.ok());
  CHECK(*p == Json{{"adm_id", "42"}, {"limit", 50}});
  CHECK_FALSE(p->contains("request_id"));
  get.limit = 501;
  CHECK(error_of(inpatient_params(get)) == "--limit: lines per page, 1 to 500, got 501");

  InpatientCommand list;
  list.action = "list";
  list.state = "admitted";
  list.from = "2026-03-01";
  p = inpatient_params(list);
  REQUIRE(p.ok());
  CHECK(*p == Json{{"state", "admitted"}, {"from", "2026-03-01"}});
  list.state = "open";
  CHECK(error_of(inpatient_params(list)) ==
        "--state: one of admitted, discharged, undone, admission_rejected; got \"open\"");
}

TEST_CASE("a stay as text: the card as masked by the daemon, amounts exactly as written") {
  auto stay = json::parse(R"({
    "adm_id": "42", "state": "discharged", "mode": "online", "mdtrt_id": "MD2026030100042",
    "psn_no": "43000000000000000001", "card_no": "A1*****78", "insutype": "310",
    "dept": "0301", "dept_name": "心内科", "diagnosis": "I21.9", "diagnosis_name": "急性心肌梗死",
    "admit_time": "2026-03-01T08:30:00+08:00", "discharge_time": "2026-03-09T10:00:00+08:00",
    "lines_count": 3, "cancelled_count": 1, "total_so_far": "1326.86", "pending_uploads": 0,
    "settlements": [{"setl_id": "S100", "state": "settled", "mode": "online", "total": "1326.86",
                     "fund": 1000.10, "account": "200.00", "cash": "126.76"}],
    "flag": null,
    "lines": [
      {"feedetl_sn": "1", "code": "250101001", "name": "血常规", "class": "A", "amount": "12.30",
       "batch_request_id": "b-1", "cancelled": false, "uploaded": true},
      {"feedetl_sn": "2", "code": "X01", "name": "床位费", "class": "B", "amount": 80.50, "selfpay_ratio": "0.1",
       "batch_request_id": "b-1", "cancelled": true, "uploaded": true}],
    "next_cursor": "L2"})");
  REQUIRE(stay.ok());
  const std::string text = inpatient_text("get", *stay);
  CHECK(contains(text, "A1*****78"));
  CHECK(contains(text, "1326.86"));
  CHECK(contains(text, "1000.10"));  // an exact number keeps its trailing zero
  CHECK(contains(text, "80.50"));
  CHECK_FALSE(contains(text, "80.5 "));
  CHECK(contains(text, "0301 心内科"));
  CHECK(contains(text, "MD2026030100042"));
  CHECK(contains(text, "more: --cursor L2 (or --all for everything)"));
  CHECK_FALSE(contains(text, "flag"));

  // The lines table: one row per line, amounts right-aligned as decimal text.
  const std::string table = stay_lines_table((*stay)["lines"]);
  std::istringstream rows(table);
  std::vector<std::string> lines;
  for (std::string l; std::getline(rows, l);) lines.push_back(l);
  REQUIRE(lines.size() == 4);  // title, rule, two lines
  CHECK(contains(lines[0], "feedetl_sn"));
  CHECK(contains(lines[2], "血常规"));
  CHECK(contains(lines[2], "12.30"));
  CHECK(contains(lines[3], "80.50"));
  CHECK(contains(lines[3], "0.1"));
  CHECK(lines[2].find("12.30") + 5 == lines[3].find("80.50") + 5);  // right-aligned in one column

  // An offline admission without the insurer's visit id yet.
  auto admitted = json::parse(R"({"adm_id": "43", "mode": "offline", "mdtrt_id": null, "state": "admitted"})");
  REQUIRE(admitted.ok());
  const std::string adm = inpatient_text("admit", *admitted);
  CHECK(contains(adm, "43"));
  CHECK(contains(adm, "offline"));
  CHECK(contains(adm, "- (comes when the admission is forwarded)"));

  auto listed = json::parse(R"({"stays": [{"adm_id": "42", "state": "admitted", "mode": "online", "card_no": "A1*****78",
                                            "dept": "0301", "admit_time": "2026-03-01T08:30:00+08:00",
                                            "lines_count": 3, "total_so_far": 1326.80}], "next_cursor": null})");
  REQUIRE(listed.ok());
  const std::string list = inpatient_text("list", *listed);
  CHECK(contains(list, "A1*****78"));
  CHECK(contains(list, "1326.80"));
}

TEST_CASE("get --all follows next_cursor to the end over scripted pages") {
  // Page 1 is the stay with lines 1-2, then 3-4, then 5 with no next_cursor.
  std::vector<Json> pages;
  for (const char* text : {
           R"({"adm_id": "42", "state": "admitted", "total_so_far": "50.00", "lines": [{"feedetl_sn": "1"}, {"feedetl_sn": "2"}], "next_cursor": "c2"})",
           R"({"adm_id": "42", "state": "admitted", "total_so_far": "50.00", "lines": [{"feedetl_sn": "3"}, {"feedetl_sn": "4"}], "next_cursor": "c3"})",
           R"({"adm_id": "42", "state": "admitted", "total_so_far": "50.00", "lines": [{"feedetl_sn": "5", "amount": 10.10}], "next_cursor": null})"}) {
    auto j = json::parse(text);
    REQUIRE(j.ok());
    pages.push_back(*j);
  }
  std::vector<Json> sent;
  const PageFetch fetch = [&](const Json& p) {
    sent.push_back(p);
    const std::size_t i = sent.size() - 1;
    if (i >= pages.size()) return Answer{std::nullopt, Failure{1, "asked past the last page"}};
    return Answer{pages[i], std::nullopt};
  };
  Answer a = follow_pages(Json{{"adm_id", "42"}, {"limit", 2}}, fetch, "lines");
  REQUIRE(a);
  REQUIRE(sent.size() == 3);
  CHECK_FALSE(sent[0].contains("cursor"));
  CHECK(sent[1] == Json{{"adm_id", "42"}, {"limit", 2}, {"cursor", "c2"}});
  CHECK(sent[2]["cursor"] == "c3");
  const Json& all = a.value();
  REQUIRE(all["lines"].size() == 5);
  for (std::size_t i = 0; i < 5; ++i) CHECK(all["lines"][i]["feedetl_sn"] == std::to_string(i + 1));
  CHECK(all["next_cursor"].is_null());
  CHECK(all["total_so_far"] == "50.00");
  CHECK(contains(dump_exact(all), "\"amount\": 10.10"));  // --json writes the exact number as it came
  CHECK_FALSE(contains(inpatient_text("get", all), "more:"));

  // A single page (no next_cursor) is one call.
  sent.clear();
  pages.erase(pages.begin(), pages.begin() + 2);
  a = follow_pages(Json{{"adm_id", "42"}}, fetch, "lines");
  REQUIRE(a);
  CHECK(sent.size() == 1);
  CHECK(a.value()["lines"].size() == 1);
}

TEST_CASE("the pager stops on a failed page, a repeated cursor or a page without its items") {
  const auto page = [](const char* text) {
    auto j = json::parse(text);
    REQUIRE(j.ok());
    return *j;
  };
  int calls = 0;
  // The daemon gone on page 2: its failure (exit 3) is passed on.
  Answer a = follow_pages(Json{{"adm_id", "42"}}, [&](const Json&) {
    ++calls;
    if (calls == 1) return Answer{page(R"({"lines": [{"feedetl_sn": "1"}], "next_cursor": "c2"})"), std::nullopt};
    return Answer{std::nullopt, Failure{3, "settled closed the connection"}};
  }, "lines");
  REQUIRE_FALSE(a);
  CHECK(a.error().status == 3);
  CHECK(a.error().message == "settled closed the connection");

  // The same cursor again: stopped instead of looping.
  calls = 0;
  a = follow_pages(Json{{"adm_id", "42"}}, [&](const Json&) {
    ++calls;
    return Answer{page(R"({"lines": [], "next_cursor": "c2"})"), std::nullopt};
  }, "lines");
  REQUIRE_FALSE(a);
  CHECK(calls == 2);
  CHECK(a.error().status == 3);  // the daemon did not answer properly
  CHECK(a.error().reason == "BAD_ANSWER");
  CHECK(a.error().message == "page 2 gave the cursor \"c2\" again: stopped instead of going round forever");

  calls = 0;
  a = follow_pages(Json::object(), [&](const Json&) {
    ++calls;
    return Answer{page(calls == 1 ? R"({"stays": [{"adm_id": "1"}], "next_cursor": "c2"})" : R"({"next_cursor": null})"),
                  std::nullopt};
  });
  REQUIRE_FALSE(a);
  CHECK(a.error().message == "page 2 of the answer has no stays array");

  // list: the items key found on the first page.
  calls = 0;
  a = follow_pages(Json{{"state", "admitted"}}, [&](const Json&) {
    ++calls;
    return Answer{page(calls == 1 ? R"({"stays": [{"adm_id": "1"}], "next_cursor": "c2"})"
                                  : R"({"stays": [{"adm_id": "2"}], "next_cursor": ""})"),
                  std::nullopt};
  });
  REQUIRE(a);
  CHECK(a.value()["stays"].size() == 2);
}

TEST_CASE("dump_exact writes what dump(2) writes, and exact numbers as their text") {
  auto j = json::parse(R"({"b": [1, true, null, "x", {}], "a": {"z": [], "y": "文"}, "n": 0.10})");
  REQUIRE(j.ok());
  Json plain = *j;
  plain["n"] = "0.10";
  std::string expected = plain.dump(2);
  expected.replace(expected.find("\"0.10\""), 6, "0.10");
  CHECK(dump_exact(*j) == expected);
  CHECK(dump_exact(*j, -1) == R"({"a":{"y":"文","z":[]},"b":[1,true,null,"x",{}],"n":0.10})");
  CHECK(str(*j, "n") == "0.10");
  CHECK(str(*j, "missing").empty());
  CHECK(str_or_dash(*j, "missing") == "-");
}
