// The cashier's close-out sheet (closeout_sheet_html): what it prints for a
// shift with online and offline settlements, a refund and a correction, a
// preview and a day report; escaping; the page size; every check of the
// figures it makes before printing, and the amount in capitals.
#include "tools/settled/closeout_sheet.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

using namespace settle;
using namespace settle::daemon;
using json::Json;

namespace {

const std::string kDigest = "9f2c1a3b5d6e7f80112233445566778899aabbccddeeff00112233445566beef";

Json group(int count, const char* total, const char* fund, const char* account, const char* cash) {
  return Json{{"count", count}, {"total", total}, {"fund", fund}, {"account", account}, {"cash", cash}};
}

Json settlement_item(const char* id, const char* time, const char* mode, const char* state, const char* receipt,
                     const char* total, const char* fund, const char* account, const char* cash) {
  return Json{{"kind", "settlement"}, {"id", id},           {"time", time},   {"mode", mode},
              {"state", state},       {"visit", "outpatient"}, {"receipt_no", receipt}, {"total", total},
              {"fund", fund},         {"account", account}, {"cash", cash}};
}

// A recorded morning shift: two online settlements and one offline, a refund
// of the first, and a correction of the offline one. Every figure is distinct
// enough to be found on its own.
Json shift() {
  return Json{
      {"closeout_id", "7"},
      {"operator", "c001"},
      {"window", "W01"},
      {"date", nullptr},
      {"from", "2026-03-01T08:01:10+08:00"},
      {"to", "2026-03-01T12:00:00+08:00"},
      {"recorded_at", "2026-03-01T12:00:05+08:00"},
      {"digest", kDigest},
      {"settlements", group(3, "269.60", "120.00", "49.60", "100.00")},
      {"online", group(2, "199.60", "86.41", "49.60", "63.59")},
      {"offline", group(1, "70.00", "33.59", "0.00", "36.41")},
      {"refunds", group(1, "16.00", "0.00", "0.00", "16.00")},
      {"cash_taken", "100.00"},
      {"cash_paid_back", "16.00"},
      {"cash_to_hand_over", "84.00"},
      {"corrections", Json::array({Json{{"correction_id", "2"},
                                        {"setl_id", "14"},
                                        {"action", "amounts"},
                                        {"reason", "离线结算经医保中心确认，统筹基金少付 3.00 元"},
                                        {"recorded_by", "s001"},
                                        {"approved_by", "a001"},
                                        {"approved_at", "2026-03-01T11:40:00+08:00"},
                                        {"fund_delta", "-3.00"},
                                        {"account_delta", "0.00"},
                                        {"cash_delta", "3.00"}},
                                   Json{{"correction_id", "5"},
                                        {"setl_id", "13"},
                                        {"action", "account_split"},
                                        {"reason", "个人账户支付少记 0.50 元"},
                                        {"recorded_by", "s002"},
                                        {"approved_by", nullptr},
                                        {"approved_at", nullptr},
                                        {"fund_delta", "0.00"},
                                        {"account_delta", "0.50"},
                                        {"cash_delta", "-0.50"}}})},
      {"items",
       Json::array({settlement_item("12", "2026-03-01T08:01:10+08:00", "online", "partly_refunded",
                                    "R20260301080110000012", "89.60", "46.41", "0.00", "43.19"),
                    settlement_item("13", "2026-03-01T09:15:00+08:00", "online", "settled", "R20260301091500000013",
                                    "110.00", "40.00", "49.60", "20.40"),
                    settlement_item("14", "2026-03-01T10:02:30+08:00", "offline", "offline_pending",
                                    "F20260301100230000014", "70.00", "33.59", "0.00", "36.41"),
                    Json{{"kind", "refund"},
                         {"id", "3"},
                         {"setl_id", "12"},
                         {"time", "2026-03-01T10:20:00+08:00"},
                         {"total", "16.00"},
                         {"fund", "0.00"},
                         {"account", "0.00"},
                         {"cash", "16.00"}}})}};
}

Json preview() {
  Json c = shift();
  c["closeout_id"] = nullptr;
  c["recorded_at"] = nullptr;
  c["digest"] = nullptr;
  return c;
}

CloseoutSheetOptions options() {
  CloseoutSheetOptions o;
  o.hospital_name = "北京市示范医院";
  o.hospital_code = "H11010500001";
  o.printed_at = "2026-03-01T12:01:00+08:00";
  return o;
}

std::string render(const Json& c, const CloseoutSheetOptions& o = options()) {
  auto html = closeout_sheet_html(c, o);
  REQUIRE_MESSAGE(html.ok(), html.error().message);
  return *html;
}

bool has(const std::string& html, const std::string& s) { return html.find(s) != std::string::npos; }

// The cells of the summary row labelled `label`: "count|total|fund|account|cash".
std::string summary_row(const std::string& html, const std::string& label) {
  const auto at = html.find("<th>" + label + "</th>");
  REQUIRE_MESSAGE(at != std::string::npos, label);
  const auto end = html.find("</tr>", at);
  std::string cells;
  for (auto td = html.find("<td", at); td < end; td = html.find("<td", td + 1)) {
    const auto open = html.find('>', td) + 1;
    if (!cells.empty()) cells += '|';
    cells += html.substr(open, html.find("</td>", open) - open);
  }
  return cells;
}

// The value after a label in the cash table or the header.
std::string value_of(const std::string& html, const std::string& label) {
  const auto at = html.find(">" + label + "</th>");
  REQUIRE_MESSAGE(at != std::string::npos, label);
  const auto open = html.find('>', html.find("<td", at)) + 1;
  return html.substr(open, html.find("</td>", open) - open);
}

// The error of rendering `c`; REQUIREs a refusal.
Error refusal(const Json& c, const CloseoutSheetOptions& o = options()) {
  auto html = closeout_sheet_html(c, o);
  REQUIRE_FALSE(html.ok());
  return html.error();
}

}  // namespace

TEST_CASE("a recorded shift: header, summary, cash to hand over, correction, items, signatures") {
  const std::string html = render(shift());
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(has(html, "<html lang=\"zh-CN\">"));
  CHECK(has(html, "<meta charset=\"utf-8\">"));
  CHECK(has(html, "<title>收费员日结单</title>"));
  CHECK(has(html, "<h2>收费员日结单</h2>"));
  CHECK_FALSE(has(html, "收费员日报"));
  CHECK_FALSE(has(html, "预览"));
  CHECK(has(html, "<h1>北京市示范医院</h1>"));
  CHECK(has(html, "定点医疗机构编码：H11010500001"));
  CHECK(value_of(html, "日结单号") == "7");
  CHECK(value_of(html, "收费员") == "c001");
  CHECK(value_of(html, "收费窗口") == "W01");
  CHECK(value_of(html, "日结时间") == "2026-03-01 12:00:05");
  CHECK(value_of(html, "起止时间") == "2026-03-01 08:01:10 至 2026-03-01 12:00:00");
  // The digest: its first 16 digits in fours, and in full.
  CHECK(has(html, "<th>校验码</th><td colspan=\"5\"><span class=\"digest\">9f2c 1a3b 5d6e 7f80</span>　"
                  "<span class=\"small\">" + kDigest + "</span></td>"));
  // Three label/value pairs to a row; the period takes two, the digest a row.
  CHECK(has(html, "<tr><th>日结单号</th><td>7</td><th>收费员</th><td>c001</td><th>收费窗口</th><td>W01</td></tr>"));
  CHECK(has(html, "<tr><th>起止时间</th><td colspan=\"3\">"));

  // The summary: the input figures, by row.
  CHECK(summary_row(html, "联网结算") == "2|199.60|86.41|49.60|63.59");
  CHECK(summary_row(html, "离线结算") == "1|70.00|33.59|0.00|36.41");
  CHECK(summary_row(html, "结算合计") == "3|269.60|120.00|49.60|100.00");
  CHECK(summary_row(html, "退费") == "1|16.00|0.00|0.00|16.00");
  CHECK(has(html, "<tr class=\"total\"><th>结算合计</th>"));
  // Cash: taken, paid back, and prominently the cash to hand over, in figures and in capitals.
  CHECK(value_of(html, "现金收入") == "100.00");
  CHECK(value_of(html, "现金退出") == "16.00");
  CHECK(has(html, "<th class=\"hand\">应交现金</th><td class=\"num hand\">84.00</td>"));
  CHECK(has(html, "应交现金（大写）：<b>捌拾肆元整</b>"));
  CHECK(has(html, "应交现金 84.00 ＝ 现金收入 100.00 － 现金退出 16.00"));

  // The correction, signed, with its reason and people, and what it does not change.
  CHECK(has(html, "更正（共 2 笔）"));
  CHECK(has(html, "<tr><td class=\"c\">2</td><td class=\"c\">14</td><td>更正金额</td><td class=\"num\">-3.00</td>"
                  "<td class=\"num\">0.00</td><td class=\"num\">+3.00</td></tr>"));
  CHECK(has(html, "原因：离线结算经医保中心确认，统筹基金少付 3.00 元　登记人：s001　审批人：a001（2026-03-01 11:40:00）"));
  // An undo is named; an action the sheet has no name for is printed as it is; no approval yet: dashes.
  {
    Json u = shift();
    u["corrections"][0]["action"] = "undo";
    CHECK(has(render(u), "<td class=\"c\">14</td><td>撤销结算</td>"));
  }
  CHECK(has(html, "<tr><td class=\"c\">5</td><td class=\"c\">13</td><td>account_split</td><td class=\"num\">0.00</td>"
                  "<td class=\"num\">+0.50</td><td class=\"num\">-0.50</td></tr>"));
  CHECK(has(html, "原因：个人账户支付少记 0.50 元　登记人：s002　审批人：—（—）"));
  CHECK(has(html, "更正改变账务记录中的结算金额，不改变本单的现金收入、现金退出和应交现金"));

  // The items: time of day only (the close-out's own day), kind, numbers, amounts.
  CHECK(has(html, "明细（结算 3 笔，退费 1 笔）"));
  CHECK(has(html, "<thead><tr><th>序号</th><th>时间</th>"));
  CHECK(has(html, "<tr><td class=\"c\">1</td><td class=\"c\">08:01:10</td><td>联网·部分退费</td>"
                  "<td class=\"id\">R20260301080110000012</td><td class=\"c\">12</td><td class=\"num\">89.60</td>"
                  "<td class=\"num\">46.41</td><td class=\"num\">0.00</td><td class=\"num\">43.19</td></tr>"));
  CHECK(has(html, "<td>联网</td><td class=\"id\">R20260301091500000013</td>"));
  CHECK(has(html, "<td>离线·待确认</td><td class=\"id\">F20260301100230000014</td>"));
  CHECK(has(html, "<tr><td class=\"c\">4</td><td class=\"c\">10:20:00</td><td>退费</td><td class=\"id\">退费单 3</td>"
                  "<td class=\"c\">12</td><td class=\"num\">16.00</td>"));
  CHECK(has(html, "<td colspan=\"5\">结算合计 3 笔</td><td class=\"num\">269.60</td>"));
  CHECK(has(html, "<td colspan=\"5\">退费合计 1 笔</td><td class=\"num\">16.00</td>"));

  // The foot: print time and the signature lines.
  CHECK(has(html, "打印时间：2026-03-01 12:01:00"));
  CHECK(has(html, "收费员签字："));
  CHECK(has(html, "复核人签字："));
  CHECK(has(html, "<span>日期：____________</span>"));
  // The page footer names the close-out; the header row repeats (a thead).
  CHECK(has(html, "content: \"收费员日结单　日结单号 7　收费员 c001　第 \" counter(page) \" 页／共 \" counter(pages)"));
  // Self-contained.
  CHECK_FALSE(has(html, "<script"));
  CHECK_FALSE(has(html, "<link"));
  CHECK_FALSE(has(html, "src="));
  CHECK_FALSE(has(html, "http"));
  CHECK_FALSE(has(html, "url("));
}

TEST_CASE("a preview is marked in a banner, has no number, record time or digest") {
  const std::string html = render(preview());
  CHECK(has(html, "<div class=\"banner\">预览（未日结）"));
  CHECK(has(html, "不能作为交款凭证"));
  CHECK(value_of(html, "日结单号") == "预览，未日结");
  CHECK(value_of(html, "日结时间") == "未日结");
  CHECK_FALSE(has(html, "校验码"));
  CHECK(has(html, "收费员日结单（预览，未日结）　收费员 c001"));  // the page footer
  // Its figures are printed the same.
  CHECK(summary_row(html, "结算合计") == "3|269.60|120.00|49.60|100.00");
  CHECK(has(html, "<th class=\"hand\">应交现金</th><td class=\"num hand\">84.00</td>"));
  // A recorded one has no banner.
  CHECK_FALSE(has(render(shift()), "banner\">"));
}

TEST_CASE("a day report is titled 收费员日报 with its date, not marked as a preview") {
  // As closeout.preview answers with a date: not recorded.
  Json c = preview();
  c["date"] = "2026-03-01";
  c["from"] = "2026-03-01T08:01:10+08:00";
  c["to"] = "2026-03-02T00:00:00+08:00";
  const std::string html = render(c);
  CHECK(has(html, "<title>收费员日报</title>"));
  CHECK(has(html, "<h2>收费员日报</h2>"));
  CHECK_FALSE(has(html, "收费员日结单"));
  CHECK(value_of(html, "报表日期") == "2026-03-01");
  CHECK(value_of(html, "收费窗口") == "W01");
  CHECK(has(html, "本表汇总 2026-03-01 全天的收费（含已日结和未日结），仅作报表，不是日结记录。"));
  CHECK_FALSE(has(html, "预览"));
  CHECK_FALSE(has(html, "banner\">"));
  CHECK_FALSE(has(html, "日结单号"));
  CHECK_FALSE(has(html, "日结时间"));
  CHECK_FALSE(has(html, "校验码"));
  CHECK(has(html, "content: \"收费员日报 2026-03-01　收费员 c001　第 \""));
  CHECK(summary_row(html, "结算合计") == "3|269.60|120.00|49.60|100.00");
  // Items of the day: time of day only; an item of another day keeps its date.
  CHECK(has(html, "<td class=\"c\">08:01:10</td>"));
  c["items"][0]["time"] = "2026-02-28T23:59:00+08:00";
  CHECK(has(render(c), "<td class=\"c\">2026-02-28 23:59:00</td>"));
  // A day report may name no window (several windows).
  c["window"] = nullptr;
  CHECK(value_of(render(c), "收费窗口") == "—");
  // Were it recorded, its number, record time and digest would be printed.
  const std::string recorded = render([] {
    Json r = shift();
    r["date"] = "2026-03-01";
    return r;
  }());
  CHECK(value_of(recorded, "日结单号") == "7");
  CHECK(has(recorded, "<th>校验码</th>"));
  CHECK(has(recorded, "content: \"收费员日报 2026-03-01　日结单号 7　收费员 c001"));
}

TEST_CASE("every text from outside is escaped") {
  Json c = shift();
  c["corrections"][0]["reason"] = "<script>alert(\"x\")</script> & 'y'";
  c["operator"] = "c<u>01";
  c["items"][0]["receipt_no"] = "R<i>1";
  c["corrections"][0]["action"] = "<img src=x>";
  CloseoutSheetOptions o = options();
  o.hospital_name = "示范医院 <A&B>";
  const std::string html = render(c, o);
  CHECK_FALSE(has(html, "<script"));
  CHECK_FALSE(has(html, "<u>"));
  CHECK_FALSE(has(html, "<i>"));
  CHECK_FALSE(has(html, "<img"));
  CHECK(has(html, "原因：&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"));
  CHECK(has(html, "c&lt;u&gt;01"));
  CHECK(has(html, "R&lt;i&gt;1"));
  CHECK(has(html, "&lt;img src=x&gt;"));
  CHECK(has(html, "<h1>示范医院 &lt;A&amp;B&gt;</h1>"));
  // In the page footer (a CSS string) the operator is hex-escaped: no "<" and no quote.
  CHECK(has(html, "收费员 c\\3c u\\3e 01"));
}

TEST_CASE("the paper: A4 by default, A5, nothing else") {
  const std::string a4 = render(shift());
  CHECK(has(a4, "@page { size: A4; margin: 15mm 15mm 15mm 15mm;"));
  CloseoutSheetOptions o = options();
  o.paper = "A5";
  const std::string a5 = render(shift(), o);
  CHECK(has(a5, "@page { size: A5; margin: 8mm 8mm 8mm 8mm;"));
  CHECK_FALSE(has(a5, "size: A4"));
  o.paper = "Letter";
  const Error e = refusal(shift(), o);
  CHECK(e.reason == Reason::invalid_request);
  CHECK(e.field == "paper");
}

// Each check of the figures, on a close-out that is otherwise the valid shift:
// the shift itself renders, so each refusal is the change's doing.
TEST_CASE("figures that do not add up are refused, naming the field") {
  REQUIRE(closeout_sheet_html(shift(), options()).ok());
  REQUIRE(closeout_sheet_html(preview(), options()).ok());
  Json c = shift();
  std::string field;
  std::string says;

  SUBCASE("settlements: parts not the total") {
    c["settlements"]["fund"] = "121.00";
    field = "settlements.total";
    says = "settlements.total: fund 121.00 + account 49.60 + cash 100.00 is not the total 269.60";
  }
  SUBCASE("online: parts not the total") {
    c["online"]["cash"] = "63.58";
    field = "online.total";
    says = "is not the total 199.60";
  }
  SUBCASE("offline: parts not the total") {
    c["offline"]["total"] = "70.01";
    field = "offline.total";
    says = "is not the total 70.01";
  }
  SUBCASE("refunds: parts not the total") {
    c["refunds"]["account"] = "1.00";
    field = "refunds.total";
    says = "fund 0.00 + account 1.00 + cash 16.00 is not the total 16.00";
  }
  SUBCASE("online + offline is not settlements: count") {
    c["online"]["count"] = 3;
    field = "settlements.count";
    says = "settlements.count: online 3 + offline 1 is not 3";
  }
  SUBCASE("online + offline is not settlements: total") {
    c["online"]["total"] = "200.60";
    c["online"]["cash"] = "64.59";
    field = "settlements.total";
    says = "settlements.total: online 200.60 + offline 70.00 is not 269.60";
  }
  SUBCASE("online + offline is not settlements: one part (parts still adding up)") {
    c["offline"]["fund"] = "32.59";
    c["offline"]["cash"] = "37.41";
    field = "settlements.fund";
    says = "settlements.fund: online 86.41 + offline 32.59 is not 120.00";
  }
  SUBCASE("online + offline is not settlements: account") {
    c["online"]["account"] = "48.60";
    c["online"]["cash"] = "64.59";
    field = "settlements.account";
    says = "settlements.account: online 48.60 + offline 0.00 is not 49.60";
  }
  SUBCASE("cash_taken is not settlements.cash") {
    c["cash_taken"] = "99.00";
    c["cash_to_hand_over"] = "83.00";
    field = "cash_taken";
    says = "cash_taken: 99.00 is not settlements.cash 100.00";
  }
  SUBCASE("cash_paid_back is not refunds.cash") {
    c["cash_paid_back"] = "15.00";
    c["cash_to_hand_over"] = "85.00";
    field = "cash_paid_back";
    says = "cash_paid_back: 15.00 is not refunds.cash 16.00";
  }
  SUBCASE("cash_to_hand_over is not cash_taken - cash_paid_back") {
    c["cash_to_hand_over"] = "116.00";
    field = "cash_to_hand_over";
    says = "cash_to_hand_over: 116.00 is not cash_taken 100.00 - cash_paid_back 16.00";
  }
  SUBCASE("the settlement items do not sum to settlements: one figure") {
    c["items"][1]["fund"] = "39.00";
    c["items"][1]["cash"] = "21.40";
    field = "items";
    says = "items: the settlement items' fund adds up to 119.00, not settlements.fund 120.00";
  }
  SUBCASE("the settlement items do not sum to settlements: count") {
    c["items"].push_back(settlement_item("15", "2026-03-01T11:00:00+08:00", "online", "settled", "R15", "0.00", "0.00",
                                         "0.00", "0.00"));
    field = "items";
    says = "items: 4 settlement items, not settlements.count 3";
  }
  SUBCASE("the refund items do not sum to refunds: count") {
    c["items"].erase(3);
    field = "items";
    says = "items: 0 refund items, not refunds.count 1";
  }
  SUBCASE("the refund items do not sum to refunds: total") {
    c["items"][3]["total"] = "15.00";
    c["items"][3]["cash"] = "15.00";
    field = "items";
    says = "items: the refund items' total adds up to 15.00, not refunds.total 16.00";
  }
  SUBCASE("an item's parts are not its total") {
    c["items"][2]["account"] = "0.01";
    field = "items[2].total";
    says = "items[2].total: fund 33.59 + account 0.01 + cash 36.41 is not the total 70.00";
  }
  SUBCASE("an unreadable amount: three decimals") {
    c["settlements"]["cash"] = "100.001";
    field = "settlements.cash";
  }
  SUBCASE("an unreadable amount: a floating-point JSON number") {
    c["cash_taken"] = 100.0;
    field = "cash_taken";
    says = "expected an amount";
  }
  SUBCASE("an unreadable amount: negative where it cannot be") {
    c["refunds"]["fund"] = "-1.00";
    field = "refunds.fund";
  }
  SUBCASE("an unreadable amount: missing") {
    c.erase("cash_paid_back");
    field = "cash_paid_back";
  }
  SUBCASE("an unreadable amount: an item's") {
    c["items"][0]["cash"] = "43,19";
    field = "items[0].cash";
  }
  SUBCASE("an unreadable amount: a correction's delta") {
    c["corrections"][0]["cash_delta"] = "+3.00";
    field = "corrections[0].cash_delta";
  }

  const Error e = refusal(c);
  CHECK(e.reason == Reason::invalid_amount);
  CHECK(e.field == field);
  CHECK_MESSAGE(e.message.find(says) != std::string::npos, e.message);
}

TEST_CASE("cash to hand over may be negative: more paid back than taken") {
  Json c = shift();
  c["refunds"] = group(2, "216.00", "100.00", "0.00", "116.00");
  c["items"].push_back(Json{{"kind", "refund"},
                            {"id", "4"},
                            {"setl_id", "9"},
                            {"time", "2026-03-01T11:00:00+08:00"},
                            {"total", "200.00"},
                            {"fund", "100.00"},
                            {"account", "0.00"},
                            {"cash", "100.00"}});
  c["cash_paid_back"] = "116.00";
  c["cash_to_hand_over"] = "-16.00";
  const std::string html = render(c);
  CHECK(has(html, "<th class=\"hand\">应交现金</th><td class=\"num hand\">-16.00</td>"));
  CHECK(has(html, "应交现金（大写）：<b>负壹拾陆元整</b>"));
}

TEST_CASE("a shift without items") {
  Json c = shift();
  c["from"] = nullptr;
  c["corrections"] = Json::array();
  for (const char* g : {"settlements", "online", "offline", "refunds"}) c[g] = group(0, "0.00", "0.00", "0.00", "0.00");
  c["cash_taken"] = "0.00";
  c["cash_paid_back"] = "0.00";
  c["cash_to_hand_over"] = "0.00";
  c["items"] = Json::array();
  const std::string html = render(c);
  CHECK(value_of(html, "起止时间") == "— 至 2026-03-01 12:00:00");
  CHECK(has(html, "本期无结算、退费记录。"));
  CHECK_FALSE(has(html, "<table class=\"grid items\">"));
  CHECK_FALSE(has(html, "更正（"));
  CHECK(has(html, "应交现金（大写）：<b>零元整</b>"));
}

TEST_CASE("missing or malformed parts are refused as INVALID_REQUEST") {
  Json c = shift();
  std::string field;
  SUBCASE("no operator") {
    c["operator"] = nullptr;
    field = "operator";
  }
  SUBCASE("no window for a shift") {
    c.erase("window");
    field = "window";
  }
  SUBCASE("no end of the period") {
    c["to"] = "";
    field = "to";
  }
  SUBCASE("a recorded close-out without its record time") {
    c["recorded_at"] = nullptr;
    field = "recorded_at";
  }
  SUBCASE("a recorded close-out without a digest") {
    c["digest"] = nullptr;
    field = "digest";
  }
  SUBCASE("a digest that is not 64 hex digits") {
    c["digest"] = kDigest.substr(0, 63) + "g";
    field = "digest";
  }
  SUBCASE("a summary group missing") {
    c.erase("offline");
    field = "offline";
  }
  SUBCASE("a count that is not a count") {
    c["refunds"]["count"] = -1;
    field = "refunds.count";
  }
  SUBCASE("a count more than any close-out holds (online + offline would overflow)") {
    c["online"]["count"] = INT64_MAX;
    field = "online.count";
  }
  SUBCASE("no items") {
    c.erase("items");
    field = "items";
  }
  SUBCASE("an item of another kind") {
    c["items"][1]["kind"] = "deposit";
    field = "items[1].kind";
  }
  SUBCASE("corrections that are not a list") {
    c["corrections"] = "none";
    field = "corrections";
  }
  const Error e = refusal(c);
  CHECK(e.reason == Reason::invalid_request);
  CHECK(e.field == field);
}

TEST_CASE("amounts in capitals, as written for cash") {
  const auto caps = [](std::int64_t fen) { return amount_in_capitals(Amount::fen(fen)); };
  CHECK(caps(0) == "零元整");
  CHECK(caps(8400) == "捌拾肆元整");
  CHECK(caps(1000) == "壹拾元整");
  CHECK(caps(5) == "伍分");
  CHECK(caps(50) == "伍角整");
  CHECK(caps(55) == "伍角伍分");
  CHECK(caps(8405) == "捌拾肆元零伍分");
  CHECK(caps(8450) == "捌拾肆元伍角整");
  CHECK(caps(8455) == "捌拾肆元伍角伍分");
  CHECK(caps(100530) == "壹仟零伍元叁角整");
  CHECK(caps(101000) == "壹仟零壹拾元整");
  CHECK(caps(1000000) == "壹万元整");
  CHECK(caps(1010000) == "壹万零壹佰元整");
  CHECK(caps(1001000) == "壹万零壹拾元整");
  CHECK(caps(10001000) == "壹拾万零壹拾元整");
  CHECK(caps(1010100000) == "壹仟零壹拾万壹仟元整");
  CHECK(caps(1000000100) == "壹仟万零壹元整");
  CHECK(caps(10000000000) == "壹亿元整");
  CHECK(caps(10000100000) == "壹亿零壹仟元整");
  CHECK(caps(10001000000) == "壹亿零壹万元整");
  CHECK(caps(123456789012) == "壹拾贰亿叁仟肆佰伍拾陆万柒仟捌佰玖拾元壹角贰分");
  CHECK(caps(-1600) == "负壹拾陆元整");
  CHECK(caps(-5) == "负伍分");
  CHECK(caps(INT64_MIN).rfind("负", 0) == 0);
}
