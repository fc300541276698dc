// settlectl reentry import's CSV reader: settlements grouped by their number,
// Beijing times made ISO, a BOM and quoted cells read, and every bad line
// named by its line and column before anything is sent.
#include "tools/settlectl/reentry_csv.hpp"

#include <doctest/doctest.h>

using settle::tools::parse_reentry_csv;

namespace {

const std::string kHeader = "no,at,window,operator,card_no,psn_name,code,name,class,amount,cash\n";

std::string message_of(const std::string& text) {
  auto r = parse_reentry_csv(text);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

}  // namespace

TEST_CASE("reentry CSV: lines grouped into settlements, times in Beijing time, BOM and quotes") {
  const std::string text = "\xEF\xBB\xBF" + kHeader +
                           "1,2026-12-03 10:15,W03,c003,E00000001,张三,110200001,普通门诊诊查费,A,25.00,73.60\r\n"
                           "1,,,,,,86900001,\"阿莫西林胶囊, 0.25g\",B,48.60,\r\n"
                           "\n"
                           "2,2026-12-03 10:22:30,W03,c003,E00000002,,250310005,血常规检查,A,30,6.00\n";
  auto r = parse_reentry_csv(text);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
  REQUIRE(r->rows.size() == 2);
  CHECK(r->first_line == std::vector<std::int64_t>{2, 5});
  const auto& first = r->rows[0];
  CHECK(first["at"] == "2026-12-03T10:15:00+08:00");
  CHECK(first["psn_name"] == "张三");
  CHECK(first["cash"] == "73.60");
  REQUIRE(first["lines"].size() == 2);
  CHECK(first["lines"][1]["name"] == "阿莫西林胶囊, 0.25g");
  CHECK(r->rows[1]["at"] == "2026-12-03T10:22:30+08:00");
  CHECK_FALSE(r->rows[1].contains("psn_name"));
}

TEST_CASE("reentry CSV: a bad line is named by its line and column") {
  const std::string row1 = "1,2026-12-03 10:15,W03,c003,E00000001,,A1,诊查费,A,25.00,25.00\n";
  CHECK(message_of(kHeader + row1 + "2,2026-12-03 10:16,W03,c003,E2,,A1,诊查费,D,1.00,1.00\n")
            .find("line 3, column class") != std::string::npos);
  CHECK(message_of(kHeader + row1 + "2,2026-12-03 25:16,W03,c003,E2,,A1,诊查费,A,1.00,1.00\n").find("line 3") !=
        std::string::npos);
  CHECK(message_of(kHeader + row1 + "2,2026-12-03,W03,c003,E2,,A1,诊查费,A,1.00,1.00\n").find("column at") !=
        std::string::npos);
  CHECK(message_of(kHeader + row1 + "2,2026-12-03 10:16,W03,c003,E2,,A1,诊查费,A,1.005,1.00\n")
            .find("line 3, column amount") != std::string::npos);
  CHECK(message_of(kHeader + row1 + "1,,W04,,,,A2,检查费,A,5.00,\n").find("line 3, column window") !=
        std::string::npos);
  CHECK(message_of(kHeader + "1,,W03,c003,E1,,A1,诊查费,A,1.00,1.00\n").find("line 2, column at") !=
        std::string::npos);
  CHECK(message_of(kHeader + "x," + row1.substr(2)).find("column no") != std::string::npos);
  CHECK(message_of("no,at,window,operator,card_no,code,name,class,amount\n").find("column cash") != std::string::npos);
  CHECK(message_of("no,at,window,operator,card_no,code,name,class,amount,cash,extra\n").find("column extra") !=
        std::string::npos);
  CHECK(message_of(kHeader).find("no settlements") != std::string::npos);
  CHECK(message_of(kHeader + "1,2026-12-03 10:15,W03,c003,E1,,A1,\"open,A,1.00,1.00\n").find("not closed") !=
        std::string::npos);
  std::string many = kHeader;
  for (int i = 1; i <= 501; ++i) many += std::to_string(i) + ",2026-12-03 10:15,W03,c003,E1,,A1,x,A,1.00,1.00\n";
  CHECK(message_of(many).find("line 502, column no: more than 500") != std::string::npos);
}
