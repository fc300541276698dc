// The settlement sheet printed by a real browser: headless Chromium prints
// the HTML to PDF, poppler reads the text back, and every figure, the title,
// the hospital and the offline sentence must be on the page (A5: one page).
// The cashier's close-out likewise: a shift's on one A4 page with every
// summary figure, a long one over several pages with the page footer.
#include "tests/support/pdf_print.hpp"
#include "tools/settled/closeout_sheet.hpp"
#include "tools/settled/sheet.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

using namespace settle;
using namespace settle::daemon;
using json::Json;
using namespace settle::testing;

namespace fs = std::filesystem;

namespace {

const std::string kDir = SETTLE_BINARY_DIR "/tests/daemon/sheet_browser";

// An offline settlement of ten lines; the figures of the split differ from
// every line amount (a figure missing from the split cannot be mistaken for
// a line's).
Json offline_detail() {
  Json lines = Json::array();
  const std::array<const char*, 10> names{"血常规",       "尿常规",     "肝功能全套", "胸部正位片", "心电图",
                                          "阿莫西林胶囊", "布洛芬缓释胶囊", "复方甘草片", "一次性口罩", "静脉输液"};
  const std::array<const char*, 10> amounts{"21.00", "12.50", "86.00", "73.40", "25.00",
                                            "31.80", "18.60", "9.90",  "3.30",  "45.00"};
  const std::array<const char*, 10> classes{"A", "A", "A", "A", "A", "B", "B", "B", "C", "C"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    Json l{{"code", "ITEM" + std::to_string(1000 + i)},
           {"name", names[i]},
           {"class", classes[i]},
           {"amount", amounts[i]}};
    if (std::string(classes[i]) == "B") l["selfpay_ratio"] = "0.1";
    lines.push_back(l);
  }
  // 326.50 in all: fund 247.18 (estimate), cash 79.32; class C 48.30, class B
  // self-paid 10% of 60.30.
  return Json{{"setl_id", "2051"},
              {"receipt_no", "F20261122110000000913"},
              {"time", "2026-11-22T11:00:00+08:00"},
              {"window", "W03"},
              {"operator", "li.si"},
              {"card_no", "E98765432"},
              {"mode", "offline"},
              {"state", "offline_pending"},
              {"total", "326.50"},
              {"fund", "247.18"},
              {"account", "0.00"},
              {"cash", "79.32"},
              {"reasons", Json::array({"offline_network_down"})},
              {"psn_no", "P110105000777"},
              {"insutype", "390"},
              {"med_type", "11"},
              {"fulamt_ownpay", "48.30"},
              {"preselfpay", "6.03"},
              {"inscp", "272.17"},
              {"deductible_part", "0.00"},
              {"insurer", {{"setl_id", nullptr}, {"mdtrt_id", nullptr}, {"msgid", nullptr}}},
              {"clearing_date", "2026-11-22"},
              {"offline_reason", "offline_network_down"},
              {"resettles_setl_id", nullptr},
              {"lines", lines},
              {"refunds", Json::array()},
              {"adjustments", Json::array()},
              {"uploads", Json::array()},
              {"history", Json::array()}};
}

SheetOptions options() {
  SheetOptions o;
  o.hospital_name = "北京市示范医院";
  o.hospital_code = "H11010500001";
  o.printed_at = "2026-11-22T11:00:05+08:00";
  return o;
}

}  // namespace

TEST_CASE("the A5 sheet of an offline settlement of ten lines prints on one page with every figure") {
  const Json d = offline_detail();
  auto html = settlement_sheet_html(d, options());
  REQUIRE_MESSAGE(html.ok(), html.error().message);
  const fs::path pdf = print_pdf(kDir, "offline_a5", *html);

  const std::string info = pdf_info(pdf);
  CHECK_MESSAGE(pdf_pages(info) == 1, info);
  CHECK_MESSAGE(info.find("(A5)") != std::string::npos, info);

  const std::string fonts = pdf_fonts(pdf);
  CHECK_MESSAGE(cjk_font_used(fonts), "no CJK font in the PDF (install fonts-wqy-zenhei):\n" << fonts);

  const std::string text = pdf_text(pdf);
  INFO(text);
  CHECK(has_text(text, "北京市示范医院"));
  CHECK(has_text(text, "医疗保险结算单"));
  CHECK(has_text(text, "H11010500001"));
  CHECK(has_text(text, "F20261122110000000913"));
  CHECK(has_text(text, "城乡居民基本医疗保险"));
  CHECK(has_text(text, "离线结算：统筹基金支付金额为估算，以医保中心确认为准。"));
  CHECK(has_text(text, "医保网络中断，本次为离线结算"));
  CHECK(has_text(text, "本单据仅供患者留存"));
  CHECK(has_text(text, "收费员签章"));
  CHECK(has_text(text, "2026-11-2211:00:05"));  // the print time (spaces squeezed)
  // The page footer.
  CHECK(has_text(text, "收据号 F20261122110000000913"));
  CHECK(has_text(text, "第 1 页／共 1 页"));
  for (const Json& l : d["lines"]) {
    CHECK_MESSAGE(has_amount(text, l["amount"].get<std::string>()), l["amount"]);
    CHECK_MESSAGE(has_text(text, l["name"].get<std::string>()), l["name"]);
  }
  for (const char* key : {"total", "fund", "account", "cash", "fulamt_ownpay", "preselfpay", "inscp"})
    CHECK_MESSAGE(has_amount(text, d[key].get<std::string>()), key);
  CHECK(has_text(text, "医疗总费用"));
  CHECK(has_text(text, "统筹基金支付"));
  CHECK(has_text(text, "个人账户支付"));
  CHECK(has_text(text, "现金支付"));
  CHECK(has_text(text, "10%"));
  // No header or footer of the browser's own (date, file URL).
  CHECK(text.find("file://") == std::string::npos);
  CHECK(text.find(".html") == std::string::npos);
}

TEST_CASE("the A4 refund sheet prints its figures cash first") {
  Json d = offline_detail();
  d["state"] = "partly_refunded";
  d["insurer"]["setl_id"] = "S4400321";
  d["refunds"] = Json::array({Json{{"refund_id", "88"},
                                   {"setl_id", "2051"},
                                   {"time", "2026-11-23T09:15:00+08:00"},
                                   {"refund_total", "50.40"},
                                   {"fund", "37.71"},
                                   {"account", "0.00"},
                                   {"cash", "12.69"},
                                   {"insurer_refund_id", "RF9001"},
                                   {"msgid", nullptr},
                                   {"lines", Json::array({Json{{"code", "ITEM1005"}, {"amount", "31.80"}},
                                                          Json{{"code", "ITEM1006"}, {"amount", "18.60"}}})}}});
  SheetOptions o = options();
  o.paper = "A4";
  o.refund_id = "88";
  auto html = settlement_sheet_html(d, o);
  REQUIRE_MESSAGE(html.ok(), html.error().message);
  const fs::path pdf = print_pdf(kDir, "refund_a4", *html);

  const std::string info = pdf_info(pdf);
  CHECK_MESSAGE(info.find("(A4)") != std::string::npos, info);
  CHECK_MESSAGE(pdf_pages(info) == 1, info);

  CHECK(cjk_font_used(pdf_fonts(pdf)));

  const std::string text = pdf_text(pdf);
  INFO(text);
  CHECK(has_text(text, "北京市示范医院"));
  CHECK(has_text(text, "医疗保险退费单"));
  CHECK(has_text(text, "F20261122110000000913"));  // the original's receipt number
  CHECK(has_text(text, "阿莫西林胶囊"));
  CHECK(has_text(text, "布洛芬缓释胶囊"));
  CHECK_FALSE(has_text(text, "血常规"));
  for (const char* a : {"50.40", "37.71", "12.69", "31.80", "18.60", "326.50"}) CHECK_MESSAGE(has_amount(text, a), a);
  CHECK(has_text(text, "退现金12.69，退个人账户0.00，退统筹基金37.71。"));
}

namespace {

// The figures of a group of items, summed exactly.
struct Sum {
  int count = 0;
  Amount total, fund, account, cash;

  void add(Amount t, Amount f, Amount a, Amount c) {
    ++count;
    total += t;
    fund += f;
    account += a;
    cash += c;
  }
  Sum operator+(const Sum& o) const {
    return Sum{count + o.count, total + o.total, fund + o.fund, account + o.account, cash + o.cash};
  }
  Json json() const {
    return Json{{"count", count},
                {"total", format_amount(total)},
                {"fund", format_amount(fund)},
                {"account", format_amount(account)},
                {"cash", format_amount(cash)}};
  }
};

// A recorded close-out of `n` items, one every three minutes from 08:00:
// every sixth a refund of the one before, every fourth settlement offline
// (without the personal account); amounts vary with the item. The summary is
// the items' sums, with one correction.
Json closeout_of(std::size_t n) {
  Json items = Json::array();
  Sum online, offline, refunds;
  for (std::size_t i = 0; i < n; ++i) {
    const auto k = static_cast<std::int64_t>(i);
    const std::size_t minute = i * 3;
    const std::string time = fmt::format("2026-03-01T{:02}:{:02}:{:02}+08:00", 8 + minute / 60, minute % 60, i % 60);
    if (i % 6 == 5) {
      const Amount total = Amount::fen(300 + k * 11);
      const Amount fund = k % 2 == 1 ? Amount::fen(total.fen() / 2) : Amount::zero();
      const Amount cash = total - fund;
      refunds.add(total, fund, Amount::zero(), cash);
      items.push_back(Json{{"kind", "refund"},
                           {"id", std::to_string(900 + i)},
                           {"setl_id", std::to_string(100 + i - 1)},
                           {"time", time},
                           {"total", format_amount(total)},
                           {"fund", format_amount(fund)},
                           {"account", "0.00"},
                           {"cash", format_amount(cash)}});
      continue;
    }
    const bool off = i % 4 == 3;
    const Amount total = Amount::fen(1234 + k * 977 + (k * k * 31) % 1000);
    const Amount fund = Amount::fen(total.fen() * 6 / 10);
    const Amount account = off || k % 3 == 0 ? Amount::zero() : min(Amount::fen(2000), total - fund);
    const Amount cash = total - fund - account;
    (off ? offline : online).add(total, fund, account, cash);
    items.push_back(Json{{"kind", "settlement"},
                         {"id", std::to_string(100 + i)},
                         {"time", time},
                         {"mode", off ? "offline" : "online"},
                         {"state", off ? "offline_pending" : "settled"},
                         {"visit", "outpatient"},
                         {"receipt_no", fmt::format("{}20260301{:02}{:02}00{:06}", off ? 'F' : 'R', 8 + minute / 60,
                                                    minute % 60, 100 + i)},
                         {"total", format_amount(total)},
                         {"fund", format_amount(fund)},
                         {"account", format_amount(account)},
                         {"cash", format_amount(cash)}});
  }
  const Sum settlements = online + offline;
  return Json{{"closeout_id", "7"},
              {"operator", "c001"},
              {"window", "W01"},
              {"date", nullptr},
              {"from", items.empty() ? Json(nullptr) : items[0]["time"]},
              {"to", "2026-03-01T12:00:00+08:00"},
              {"recorded_at", "2026-03-01T12:00:05+08:00"},
              {"digest", "9f2c1a3b5d6e7f80112233445566778899aabbccddeeff00112233445566beef"},
              {"settlements", settlements.json()},
              {"online", online.json()},
              {"offline", offline.json()},
              {"refunds", refunds.json()},
              {"cash_taken", format_amount(settlements.cash)},
              {"cash_paid_back", format_amount(refunds.cash)},
              {"cash_to_hand_over", format_amount(settlements.cash - refunds.cash)},
              {"corrections", Json::array({Json{{"correction_id", "2"},
                                                {"setl_id", "103"},
                                                {"action", "amounts"},
                                                {"reason", "离线结算经医保中心确认后更正统筹基金"},
                                                {"recorded_by", "s001"},
                                                {"approved_by", "a001"},
                                                {"approved_at", "2026-03-01T11:40:00+08:00"},
                                                {"fund_delta", "-3.00"},
                                                {"account_delta", "0.00"},
                                                {"cash_delta", "3.00"}}})},
              {"items", items}};
}

CloseoutSheetOptions closeout_options() {
  CloseoutSheetOptions o;
  o.hospital_name = "北京市示范医院";
  o.hospital_code = "H11010500001";
  o.printed_at = "2026-03-01T12:01:00+08:00";
  return o;
}

// The first line of the printed text that has `label` (white space ignored).
std::string line_with(const std::string& text, const std::string& label) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (has_text(line, label)) return line;
  return {};
}

// How often `what` is in the text, white space ignored.
std::size_t occurrences(const std::string& text, const std::string& what) {
  std::string squeezed;
  for (const char c : text)
    if (c != ' ' && c != '\n' && c != '\t' && c != '\f' && c != '\r') squeezed += c;
  std::size_t n = 0;
  for (auto at = squeezed.find(what); at != std::string::npos; at = squeezed.find(what, at + what.size())) ++n;
  return n;
}

// Every figure of a summary group on its row of the printed summary.
void check_summary_row(const std::string& text, const std::string& label, const Json& g) {
  const std::string line = line_with(text, label);
  INFO(label, ": ", line);
  CHECK(has_amount(line, std::to_string(g["count"].get<int>())));
  for (const char* key : {"total", "fund", "account", "cash"}) CHECK_MESSAGE(has_amount(line, g[key].get<std::string>()), key);
}

}  // namespace

TEST_CASE("the A4 close-out of a shift of twelve items prints on one page with every summary figure") {
  const Json c = closeout_of(12);
  REQUIRE(c["refunds"]["count"] == 2);
  REQUIRE(c["offline"]["count"] == 2);
  auto html = closeout_sheet_html(c, closeout_options());
  REQUIRE_MESSAGE(html.ok(), html.error().message);
  const fs::path pdf = print_pdf(kDir, "closeout_a4", *html);

  const std::string info = pdf_info(pdf);
  CHECK_MESSAGE(pdf_pages(info) == 1, info);
  CHECK_MESSAGE(info.find("(A4)") != std::string::npos, info);
  const std::string fonts = pdf_fonts(pdf);
  CHECK_MESSAGE(cjk_font_used(fonts), "no CJK font in the PDF (install fonts-wqy-zenhei):\n" << fonts);

  const std::string text = pdf_text(pdf);
  INFO(text);
  CHECK(has_text(text, "北京市示范医院"));
  CHECK(has_text(text, "收费员日结单"));
  CHECK_FALSE(has_text(text, "预览"));
  CHECK(has_text(text, "H11010500001"));
  CHECK(has_text(text, "c001"));
  CHECK(has_text(text, "W01"));
  CHECK(has_text(text, "2026-03-0108:00:00至2026-03-0112:00:00"));
  CHECK(has_text(text, "9f2c1a3b5d6e7f80"));
  // The summary, row by row: 联网, 离线, their sum, the refunds.
  check_summary_row(text, "联网结算", c["online"]);
  check_summary_row(text, "离线结算", c["offline"]);
  check_summary_row(text, "结算合计", c["settlements"]);
  check_summary_row(text, "退费", c["refunds"]);
  // The cash: taken, paid back, and the cash to hand over on its own line.
  CHECK(has_amount(line_with(text, "现金收入"), c["cash_taken"].get<std::string>()));
  CHECK(has_amount(line_with(text, "现金退出"), c["cash_paid_back"].get<std::string>()));
  const std::string hand = line_with(text, "应交现金");
  CHECK_MESSAGE(has_amount(hand, c["cash_to_hand_over"].get<std::string>()), hand);
  auto hand_over = parse_amount(c["cash_to_hand_over"].get<std::string>(), "cash_to_hand_over");
  REQUIRE(hand_over.ok());
  CHECK(has_text(line_with(text, "应交现金（大写）"), amount_in_capitals(*hand_over)));
  // The correction and its note.
  CHECK(has_text(text, "更正（共1笔）"));
  CHECK(has_text(text, "离线结算经医保中心确认后更正统筹基金"));
  CHECK(has_amount(text, "-3.00"));
  CHECK(has_amount(text, "+3.00"));
  // Every item, its number and its amounts.
  for (const Json& it : c["items"]) {
    const bool refund = it["kind"] == "refund";
    const std::string number = refund ? "退费单" + it["id"].get<std::string>() : it["receipt_no"].get<std::string>();
    CHECK_MESSAGE(has_text(text, number), number);
    for (const char* key : {"total", "fund", "cash"}) CHECK_MESSAGE(has_amount(text, it[key].get<std::string>()), key);
  }
  CHECK(has_text(text, "收费员签字"));
  CHECK(has_text(text, "复核人签字"));
  CHECK(has_text(text, "日期："));
  CHECK(has_text(text, "收费员日结单 日结单号 7 收费员 c001"));  // pdftotext prints U+3000 as a space
  CHECK(has_text(text, "第 1 页／共 1 页"));
  CHECK(text.find("file://") == std::string::npos);
}

TEST_CASE("a close-out of sixty items runs onto further pages, with the header row and the page footer on each") {
  const Json c = closeout_of(60);
  auto html = closeout_sheet_html(c, closeout_options());
  REQUIRE_MESSAGE(html.ok(), html.error().message);
  const fs::path pdf = print_pdf(kDir, "closeout_long", *html);

  const std::string info = pdf_info(pdf);
  const int pages = pdf_pages(info);
  REQUIRE_MESSAGE(pages > 1, info);
  CHECK(cjk_font_used(pdf_fonts(pdf)));

  const std::string text = pdf_text(pdf);
  INFO(text);
  for (int p = 1; p <= pages; ++p) CHECK(has_text(text, fmt::format("第 {} 页／共 {} 页", p, pages)));
  CHECK(occurrences(text, "收费员日结单日结单号7收费员c001第") == static_cast<std::size_t>(pages));
  // The item table starts on the first page, under the summary: its header
  // row is on every page. No item is lost at a page break.
  CHECK(occurrences(text, "序号时间类别单据号结算号") == static_cast<std::size_t>(pages));
  for (const Json& it : c["items"]) {
    const std::string number =
        it["kind"] == "refund" ? "退费单" + it["id"].get<std::string>() : it["receipt_no"].get<std::string>();
    CHECK_MESSAGE(has_text(text, number), number);
  }
  CHECK(has_amount(line_with(text, "应交现金"), c["cash_to_hand_over"].get<std::string>()));
  CHECK(has_text(text, "结算合计 50 笔"));
  CHECK(has_text(text, "退费合计 10 笔"));
  CHECK(has_text(text, "收费员签字"));
}
