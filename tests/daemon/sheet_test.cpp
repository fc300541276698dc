// The patient's settlement sheet (settlement_sheet_html): what it prints for
// an online and an offline settlement and for a refund, its reasons for
// people, escaping, the page size, and its refusals.
#include "tools/settled/sheet.hpp"

#include "engine/split.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace settle;
using namespace settle::daemon;
using json::Json;

namespace {

// An online outpatient settlement that used the personal account, shaped as
// settle.get answers it.
Json online_detail() {
  return Json{
      {"setl_id", "1042"},
      {"receipt_no", "R20261122103045000123"},
      {"time", "2026-11-22T10:30:45+08:00"},
      {"window", "W02"},
      {"operator", "zhang.san"},
      {"card_no", "E12345678"},
      {"mode", "online"},
      {"state", "settled"},
      {"total", "169.60"},
      {"fund", "98.37"},
      {"account", "50.00"},
      {"cash", "21.23"},
      {"reasons", Json::array({"account_insufficient"})},
      {"psn_no", "P110105000001"},
      {"insutype", "310"},
      {"med_type", "11"},
      {"fulamt_ownpay", "12.00"},
      {"preselfpay", "4.76"},
      {"inscp", "152.84"},
      {"deductible_part", "0.00"},
      {"insurer", {{"setl_id", "S9000123"}, {"mdtrt_id", "M77"}, {"msgid", "H110105000012026112210304500123"}}},
      {"clearing_date", "2026-11-22"},
      {"offline_reason", nullptr},
      {"resettles_setl_id", nullptr},
      {"lines",
       Json::array({Json{{"code", "250101001"}, {"name", "血常规"}, {"class", "A"}, {"amount", "60.00"}},
                    Json{{"code", "XJ01CA04"}, {"name", "阿莫西林胶囊"}, {"class", "B"}, {"amount", "97.60"},
                         {"selfpay_ratio", "0.05"}},
                    Json{{"code", "C0001"}, {"name", "一次性口罩"}, {"class", "C"}, {"amount", "12.00"}}})},
      {"refunds", Json::array()},
      {"adjustments", Json::array()},
      {"uploads", Json::array()},
      {"history", Json::array()}};
}

// An offline settlement stored while the insurer was unreachable.
Json offline_detail() {
  Json d = online_detail();
  d["setl_id"] = "1043";
  d["receipt_no"] = "F20261122110000000007";
  d["mode"] = "offline";
  d["state"] = "offline_pending";
  d["fund"] = "118.37";
  d["account"] = "0.00";
  d["cash"] = "51.23";
  d["reasons"] = Json::array({"offline_network_down"});
  d["offline_reason"] = "offline_network_down";
  d["insurer"] = Json{{"setl_id", nullptr}, {"mdtrt_id", nullptr}, {"msgid", nullptr}};
  return d;
}

// The online settlement after one line refund.
Json refunded_detail() {
  Json d = online_detail();
  d["state"] = "partly_refunded";
  d["refunds"] = Json::array({Json{{"refund_id", "7"},
                                   {"setl_id", "1042"},
                                   {"time", "2026-11-22T15:01:02+08:00"},
                                   {"refund_total", "97.60"},
                                   {"fund", "61.11"},
                                   {"account", "15.26"},
                                   {"cash", "21.23"},
                                   {"insurer_refund_id", "RF556"},
                                   {"msgid", "H110105000012026112215010200777"},
                                   {"lines", Json::array({Json{{"code", "XJ01CA04"}, {"amount", "97.60"}}})}}});
  return d;
}

SheetOptions options() {
  SheetOptions o;
  o.hospital_name = "北京市示范医院";
  o.hospital_code = "H11010500001";
  o.printed_at = "2026-11-22T10:31:00+08:00";
  return o;
}

std::string render(const Json& d, const SheetOptions& o = options()) {
  auto html = settlement_sheet_html(d, o);
  REQUIRE_MESSAGE(html.ok(), html.error().message);
  return *html;
}

bool has(const std::string& html, const std::string& s) { return html.find(s) != std::string::npos; }

// The split table's cell of one label: "<th>label</th><td class=...>amount</td>".
std::string split_cell(const std::string& html, const std::string& label) {
  const auto at = html.find(">" + label + "</th>");
  REQUIRE_MESSAGE(at != std::string::npos, label);
  const auto open = html.find('>', html.find("<td", at)) + 1;
  return html.substr(open, html.find("</td>", open) - open);
}

}  // namespace

TEST_CASE("an online settlement with the account: header, lines, split and reason") {
  const std::string html = render(online_detail());
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(has(html, "<html lang=\"zh-CN\">"));
  CHECK(has(html, "<meta charset=\"utf-8\">"));
  CHECK(has(html, "医疗保险结算单"));
  CHECK_FALSE(has(html, "医疗保险退费单"));
  CHECK(has(html, "北京市示范医院"));
  CHECK(has(html, "H11010500001"));
  CHECK(has(html, "R20261122103045000123"));
  CHECK(has(html, "<th>结算号</th><td>1042</td>"));
  CHECK(has(html, "2026-11-22 10:30:45"));
  CHECK(has(html, "W02"));
  CHECK(has(html, "zhang.san"));
  CHECK(has(html, "E12345678"));
  CHECK(has(html, "P110105000001"));
  CHECK(has(html, "职工基本医疗保险"));
  CHECK(has(html, "门诊（普通门诊）"));
  CHECK(has(html, "联网结算"));
  CHECK(has(html, "S9000123"));
  // The lines: class in Chinese, the class B ratio as a percentage.
  CHECK(has(html, "血常规"));
  CHECK(has(html, "<td class=\"c\">甲</td><td class=\"num\">60.00</td>"));
  CHECK(has(html, "<td class=\"c\">乙</td><td class=\"num\">97.60</td><td class=\"c\">5%</td>"));
  CHECK(has(html, "<td class=\"c\">丙</td><td class=\"num\">12.00</td>"));
  CHECK(has(html, "共 3 项"));
  // The parts shown are the inputs, and they add up.
  CHECK(split_cell(html, "医疗总费用") == "169.60");
  CHECK(split_cell(html, "统筹基金支付") == "98.37");
  CHECK(split_cell(html, "个人账户支付") == "50.00");
  CHECK(split_cell(html, "现金支付") == "21.23");
  CHECK(split_cell(html, "全自费") == "12.00");
  CHECK(split_cell(html, "先行自付") == "4.76");
  CHECK(split_cell(html, "符合范围") == "152.84");
  CHECK(split_cell(html, "起付线") == "0.00");
  CHECK(has(html, "医疗总费用 169.60 ＝ 统筹基金 98.37 ＋ 个人账户 50.00 ＋ 现金 21.23"));
  CHECK(has(html, "个人账户余额不足：不足部分以现金支付。"));
  CHECK_FALSE(has(html, "估算"));
  // Footer.
  CHECK(has(html, "打印时间：2026-11-22 10:31:00"));
  CHECK(has(html, "本单据仅供患者留存"));
  CHECK(has(html, "收费员签章"));
  // Self-contained: no scripts, nothing fetched.
  CHECK_FALSE(has(html, "<script"));
  CHECK_FALSE(has(html, "src="));
  CHECK_FALSE(has(html, "href="));
  CHECK_FALSE(has(html, "url("));
  CHECK_FALSE(has(html, "@import"));
}

TEST_CASE("amounts as JSON numbers are read as their text") {
  auto d = json::parse(R"({"setl_id": 9, "total": 10.10, "fund": 7, "account": 0, "cash": 3.10,
                           "lines": [{"code": "X", "name": "n", "class": "A", "amount": 10.10}]})");
  REQUIRE(d.ok());
  const std::string html = render(*d);
  CHECK(split_cell(html, "医疗总费用") == "10.10");
  CHECK(split_cell(html, "统筹基金支付") == "7.00");
  CHECK(split_cell(html, "现金支付") == "3.10");
  // Without receipt_no the receipt number is the settlement id.
  CHECK(has(html, "<th>收据号</th><td>9</td>"));
}

TEST_CASE("an offline settlement: the fund is an estimate, the account unused, the reasons in words") {
  Json d = offline_detail();
  d["reasons"] = Json::array({"offline_network_down", "not_on_redlist", "brand_new_code"});
  const std::string html = render(d);
  CHECK(has(html, "F20261122110000000007"));
  CHECK(has(html, "离线结算：统筹基金支付金额为估算，以医保中心确认为准。"));
  CHECK(has(html, "离线结算不使用个人账户"));
  CHECK(has(html, "离线结算，待医保中心确认"));
  CHECK(has(html, "医保网络中断，本次为离线结算"));
  CHECK(has(html, "不在本院离线参保名单中"));
  // An unknown code is printed as it is, never dropped.
  CHECK(has(html, "<li>brand_new_code</li>"));
  // offline_reason repeats a code of reasons: said once.
  const std::string once = "医保网络中断";
  CHECK(html.find(once) == html.rfind(once));
  CHECK(split_cell(html, "统筹基金支付") == "118.37");
  CHECK(split_cell(html, "个人账户支付") == "0.00");
  CHECK(split_cell(html, "现金支付") == "51.23");
  CHECK(has(html, "<th>结算方式</th><td>离线结算</td>"));
}

TEST_CASE("an offline settlement the insurer accepted with other figures") {
  Json d = offline_detail();
  d["state"] = "offline_accepted";
  d["insurer"]["setl_id"] = "S9000999";
  d["adjustments"] = Json::array({Json{{"kind", "offline_upload"},
                                       {"local_fund", "118.37"},
                                       {"insurer_fund", "110.00"},
                                       {"local_account", "0.00"},
                                       {"insurer_account", "0.00"},
                                       {"local_cash", "51.23"},
                                       {"insurer_cash", "59.60"},
                                       {"note", ""},
                                       {"time", "2026-11-23T02:00:00+08:00"}}});
  const std::string html = render(d);
  CHECK(has(html, "离线结算：已经医保中心确认。"));
  CHECK(has(html, "医保中心确认金额：统筹基金支付 110.00，个人账户支付 0.00，现金支付 59.60"));
  CHECK_FALSE(has(html, "离线结算：统筹基金支付金额为估算"));
  // The offline_accepted settlement rejected instead: the office handles it.
  d["state"] = "offline_rejected";
  d["insurer"]["setl_id"] = nullptr;
  CHECK(has(render(d), "医保中心未确认本次结算"));
}

TEST_CASE("every reason code of the engine has a sentence for people") {
  for (int n = 1; n <= 22; ++n) {
    const auto name = split_reason_name(static_cast<SplitReason>(n));
    REQUIRE(name != "unknown");
    CHECK_MESSAGE(sheet_reason_sentence(name).has_value(), name);
  }
  CHECK(has(std::string(*sheet_reason_sentence("pin_not_verified")), "未验证医保卡密码"));
  CHECK(has(std::string(*sheet_reason_sentence("account_skipped")), "按您的选择"));
  CHECK(has(std::string(*sheet_reason_sentence("account_zero")), "余额为零"));
  CHECK_FALSE(sheet_reason_sentence("no_such_reason").has_value());
}

TEST_CASE("states and re-settlement are told") {
  Json d = online_detail();
  d["state"] = "refunded";
  d["resettles_setl_id"] = "1001";
  d["reasons"] = Json::array({"pin_not_verified"});
  std::string html = render(d);
  CHECK(has(html, "本结算已全额退费。"));
  CHECK(has(html, "本次为原结算（结算号 1001）的退费重结。"));
  CHECK(has(html, "未验证医保卡密码"));
  d["state"] = "undone";
  CHECK(has(render(d), "本结算已整笔撤销"));
  // A settlement sheet lists the refunds made of it.
  html = render(refunded_detail());
  CHECK(has(html, "退费记录"));
  CHECK(has(html, "<td>7</td><td>2026-11-22 15:01:02</td><td class=\"num\">97.60</td>"));
  CHECK(has(html, "本结算已部分退费"));
}

TEST_CASE("insurance types, visit types and times") {
  Json d = online_detail();
  d["insutype"] = "390";
  CHECK(has(render(d), "城乡居民基本医疗保险"));
  d["insutype"] = "320";
  CHECK(has(render(d), "公务员医疗补助"));
  d["insutype"] = "330";  // the national table (engine/insutype) names every type
  CHECK(has(render(d), "大额医疗费用补助"));
  d["insutype"] = "999";  // a code outside it: as given
  CHECK(has(render(d), "<th>险种类型</th><td>999</td>"));
  d["insutype"] = nullptr;
  CHECK(has(render(d), "<th>险种类型</th><td>—</td>"));
  // An inpatient discharge settlement.
  d["visit"] = "inpatient";
  d["adm_id"] = "31";
  d["med_type"] = "21";
  std::string html = render(d);
  CHECK(has(html, "住院（普通住院）"));
  CHECK(has(html, "<th>住院号</th><td>31</td>"));
  d.erase("visit");
  d.erase("adm_id");
  CHECK(has(render(d), "住院（普通住院）"));  // med_type 21 alone
  d["med_type"] = "14";
  CHECK(has(render(d), "门诊（门诊慢特病）"));
  d["med_type"] = "9Z";
  CHECK(has(render(d), "门诊（医疗类别 9Z）"));
  // A time in another zone keeps its offset.
  d["time"] = "2026-11-22T02:30:45.123Z";
  CHECK(has(render(d), "2026-11-22 02:30:45 Z"));
}

TEST_CASE("a refund sheet: its total and split cash first, the original, the lines refunded") {
  SheetOptions o = options();
  o.refund_id = "7";
  const std::string html = render(refunded_detail(), o);
  CHECK(has(html, "医疗保险退费单"));
  CHECK_FALSE(has(html, "医疗保险结算单"));
  CHECK(has(html, "<th>退费单号</th><td>7</td>"));
  CHECK(has(html, "<th>原结算号</th><td>1042</td>"));
  CHECK(has(html, "<th>原收据号</th><td>R20261122103045000123</td>"));
  CHECK(has(html, "<th>原医疗总费用</th><td>169.60</td>"));
  CHECK(has(html, "2026-11-22 15:01:02"));
  CHECK(has(html, "RF556"));
  // The refunded line, named and classed from the settlement's lines.
  CHECK(has(html, "<td>XJ01CA04</td><td class=\"name\">阿莫西林胶囊</td><td class=\"c\">乙</td><td class=\"num\">97.60</td>"));
  CHECK_FALSE(has(html, "血常规"));
  CHECK(split_cell(html, "退费合计") == "97.60");
  CHECK(split_cell(html, "退现金") == "21.23");
  CHECK(split_cell(html, "退个人账户") == "15.26");
  CHECK(split_cell(html, "退统筹基金") == "61.11");
  CHECK(has(html, "退现金 21.23，退个人账户 15.26，退统筹基金 61.11。"));
  // Cash is said first.
  CHECK(html.find("退现金") < html.find("退个人账户"));
  CHECK(html.find("退个人账户") < html.find("退统筹基金"));
  CHECK(has(html, "本单据仅供患者留存"));
}

TEST_CASE("a refund of everything left has no lines of its own") {
  Json d = refunded_detail();
  d["refunds"][0]["lines"] = Json::array();
  SheetOptions o = options();
  o.refund_id = "7";
  CHECK(has(render(d, o), "退还原结算剩余的全部项目"));
}

TEST_CASE("a refund id the settlement does not have is NOT_FOUND") {
  SheetOptions o = options();
  o.refund_id = "8";
  auto r = settlement_sheet_html(refunded_detail(), o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().reason == Reason::not_found);
  CHECK(r.error().field == "refund_id");
  o.refund_id = "7";
  r = settlement_sheet_html(online_detail(), o);  // no refunds at all
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().reason == Reason::not_found);
}

TEST_CASE("every text from outside is escaped") {
  Json d = online_detail();
  d["lines"][0]["name"] = "<script>alert(1)</script>";
  d["lines"][1]["code"] = "A&B\"'";
  d["operator"] = "<b>op</b>";
  d["reasons"] = Json::array({"<img src=x>"});
  d["receipt_no"] = "R1\"}</style><script>";  // also in the style sheet's page footer
  SheetOptions o = options();
  o.hospital_name = "示范<医院>";
  const std::string html = render(d, o);
  CHECK_FALSE(has(html, "<script>"));
  CHECK(has(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
  CHECK(has(html, "A&amp;B&quot;&#39;"));
  CHECK(has(html, "&lt;b&gt;op&lt;/b&gt;"));
  CHECK(has(html, "&lt;img src=x&gt;"));
  CHECK_FALSE(has(html, "<img"));
  CHECK(has(html, "示范&lt;医院&gt;"));
  CHECK(html.find("</style>") == html.rfind("</style>"));
  CHECK(has(html, "content: \"收据号 R1\\22 \\7d \\3c \\2f style\\3e \\3c script\\3e 　第 \" counter(page)"));
  CHECK(has(html, "<th>收据号</th><td>R1&quot;}&lt;/style&gt;&lt;script&gt;</td>"));
}

TEST_CASE("the page is A5 or A4") {
  CHECK(has(render(online_detail()), "@page { size: A5;"));
  // Every page names the sheet and its number.
  CHECK(has(render(online_detail()),
            "content: \"收据号 R20261122103045000123　第 \" counter(page) \" 页／共 \" counter(pages)"));
  SheetOptions o = options();
  o.paper = "A4";
  const std::string a4 = render(online_detail(), o);
  CHECK(has(a4, "@page { size: A4;"));
  CHECK_FALSE(has(a4, "size: A5"));
  o.paper = "Letter";
  auto r = settlement_sheet_html(online_detail(), o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().reason == Reason::invalid_request);
  CHECK(r.error().field == "paper");
}

TEST_CASE("figures that do not add up, or are not amounts, are refused") {
  Json d = online_detail();
  d["cash"] = "21.24";
  auto r = settlement_sheet_html(d, options());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().reason == Reason::invalid_amount);
  CHECK(r.error().field == "total");
  d = online_detail();
  d["fund"] = 98.37;  // a double: never taken for money
  r = settlement_sheet_html(d, options());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().reason == Reason::invalid_amount);
  CHECK(r.error().field == "fund");
  d = refunded_detail();
  d["refunds"][0]["cash"] = "1.00";
  SheetOptions o = options();
  o.refund_id = "7";
  r = settlement_sheet_html(d, o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().field == "refunds[0].refund_total");
  r = settlement_sheet_html(Json::array(), options());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().reason == Reason::invalid_request);
}
