// The settlement sheet printed by a real browser: headless Chromium prints
// the HTML to PDF, poppler reads the text back, and every figure, the title,
// the hospital and the offline sentence must be on the page (A5: one page).
#include "tests/support/pdf_print.hpp"
#include "tools/settled/sheet.hpp"

#include <doctest/doctest.h>

#include <array>
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
