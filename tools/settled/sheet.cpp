// The patient's settlement and refund sheets (see sheet.hpp): the wording of
// the reasons for people, the layout (inline CSS for an A5 or A4 page) and
// the escaping of every text that comes from outside.
#include "tools/settled/sheet.hpp"

#include "engine/insutype.hpp"
#include "engine/money.hpp"
#include "tools/settled/html_util.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

namespace settle::daemon {
namespace {

using json::Json;
using html::cell;
using html::display_time;
using html::esc;
using html::Field;
using html::fields_table;
using html::read_split;
using html::text_of;

struct ReasonRow {
  std::string_view code;
  std::string_view sentence;
};

// Every reason code engine/split.hpp names (SplitReason), in its order.
constexpr std::array<ReasonRow, 22> kReasons{{
    {"status_unit_arrears", "参保单位欠费：本次统筹基金不予支付，先由个人账户支付，不足部分现金支付。"},
    {"status_not_designated", "本院不是您的定点医疗机构：本次统筹基金不予支付。"},
    {"status_supervised", "按医保规定（重点监督检查人员），本次统筹基金不予支付。"},
    {"status_temp_settle_change", "医保结算方式临时变化：本次统筹基金不予支付。"},
    {"account_frozen", "个人账户已冻结：个人负担部分以现金支付。"},
    {"account_zero", "个人账户余额为零：个人负担部分以现金支付。"},
    {"account_insufficient", "个人账户余额不足：不足部分以现金支付。"},
    {"pin_not_verified", "未验证医保卡密码，本次未使用个人账户；如需改用个人账户，可到收费处办理退费重结。"},
    {"account_skipped", "按您的选择，本次未使用个人账户；如需改用个人账户，可到收费处办理退费重结。"},
    {"offline_network_down", "医保网络中断，本次为离线结算，未使用个人账户；网络恢复后上传医保中心。"},
    {"offline_in_doubt", "医保中心未及时应答，原交易已冲正，本次为离线结算。"},
    {"offline_insurer_error", "医保中心系统故障，本次为离线结算。"},
    {"offline_reader_failure", "医保卡无法联网核验，本次为离线结算。"},
    {"not_on_redlist", "离线时无法核验参保身份（不在本院离线参保名单中），本次按自费结算，日后可办理退费重结。"},
    {"offline_limit", "已达离线结算限额，本次按自费结算，日后可办理退费重结。"},
    {"offline_limit_per_settlement", "本次统筹基金估算金额超过单笔离线结算限额。"},
    {"offline_limit_total", "待医保中心确认的离线结算统筹基金总额已达上限。"},
    {"offline_limit_count", "待上传医保中心的离线结算笔数已达上限。"},
    {"offline_limit_age", "最早一笔待上传的离线结算已超过时限。"},
    {"annual_cap_reached", "本年度统筹基金支付已达封顶线：本次统筹基金不予支付。"},
    {"annual_cap_partly", "本年度统筹基金支付达到封顶线：统筹基金仅支付至封顶线。"},
    {"offline_clock_skew", "本院系统时间与医保中心不一致，暂无法联网，本次为离线结算；时间校准后上传医保中心。"},
}};

constexpr std::string_view kOfflineEstimate = "离线结算：统筹基金支付金额为估算，以医保中心确认为准。";

// ---- names ----------------------------------------------------------------------------

std::string insutype_name(std::string_view code) { return std::string(insutype_chinese(code)); }

std::string_view med_type_name(std::string_view code) {
  if (code == "11") return "普通门诊";
  if (code == "12") return "门诊挂号";
  if (code == "13") return "急诊";
  if (code == "14") return "门诊慢特病";
  if (code == "21") return "普通住院";
  return {};
}

std::string class_name(std::string_view cls) {
  if (cls == "A") return "甲";
  if (cls == "B") return "乙";
  if (cls == "C") return "丙";
  return std::string(cls);
}

std::string state_name(std::string_view state) {
  if (state == "settled") return "已结算";
  if (state == "offline_pending") return "离线结算，待医保中心确认";
  if (state == "offline_accepted") return "离线结算，医保中心已确认";
  if (state == "offline_rejected") return "离线结算，医保中心未确认";
  if (state == "refunded") return "已全额退费";
  if (state == "partly_refunded") return "已部分退费";
  if (state == "undone") return "已撤销";
  return std::string(state);
}

// A class B self-pay ratio as a percentage ("0.1" -> "10%", "0.125" -> "12.5%");
// anything unreadable as given.
std::string ratio_percent(const Json& v) {
  auto r = json::to_ratio(v, "selfpay_ratio");
  if (!r) return v.is_string() ? v.get<std::string>() : std::string();
  const std::int64_t ppm = r->ppm();
  std::string out = std::to_string(ppm / 10'000);
  std::int64_t frac = ppm % 10'000;  // ten-thousandths of a percent
  if (frac != 0) {
    std::string digits = fmt::format("{:04}", frac);
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
    out += '.';
    out += digits;
  }
  out += '%';
  return out;
}

// ---- the figures ------------------------------------------------------------------------

struct Line {
  std::string code, name, cls, ratio;
  Amount amount;
};

Result<std::vector<Line>> read_lines(const Json& detail) {
  std::vector<Line> out;
  const Json* lines = json::find(detail, "lines");
  if (lines == nullptr || !lines->is_array()) return out;
  for (std::size_t i = 0; i < lines->size(); ++i) {
    const Json& l = (*lines)[i];
    const std::string path = fmt::format("lines[{}]", i);
    auto amount = json::get_amount(l, "amount", path);
    if (!amount) return amount.error();
    Line line{text_of(l, "code"), text_of(l, "name"), text_of(l, "class"), {}, *amount};
    if (const Json* r = json::find(l, "selfpay_ratio"); r != nullptr && !r->is_null()) line.ratio = ratio_percent(*r);
    out.push_back(std::move(line));
  }
  return out;
}

const Line* line_by_code(const std::vector<Line>& lines, std::string_view code) {
  for (const Line& l : lines)
    if (l.code == code) return &l;
  return nullptr;
}

// ---- the document -----------------------------------------------------------------------

void notes_list(std::string& out, const std::vector<std::string>& notes) {
  if (notes.empty()) return;
  out += "<div class=\"section\">说明</div>\n<ul class=\"notes\">\n";
  for (const std::string& n : notes) out += fmt::format("<li>{}</li>\n", n);
  out += "</ul>\n";
}

// The sheets' own CSS, between the shared base and foot (html_util.hpp): the
// split table and its sum line.
constexpr std::string_view kSheetCss =
    ".split { table-layout: fixed; }\n"
    ".split th { text-align: left; font-weight: normal; white-space: nowrap; padding: 0.3mm 0; }\n"
    ".split td { padding: 0.3mm 8mm 0.3mm 0; }\n"
    ".split.half { width: 60%; }\n"
    ".split.half td { padding-right: 0; }\n"
    ".split .main { font-weight: bold; }\n"
    ".sum { margin: 0.8mm 0 0; font-size: 0.9em; }\n";

// `page_label` names the sheet at the foot of every page ("收据号 R123"), with
// the page number: a long sheet's pages stay together.
std::string head(const SheetOptions& o, std::string_view title, std::string_view page_label) {
  return html::document_head({o.paper, o.hospital_name, o.hospital_code}, title, page_label,
                             {kSheetCss, html::kFootCss});
}

std::string foot(const SheetOptions& o) {
  std::string out;
  out += "<div class=\"foot\">\n";
  out += fmt::format("<div>打印时间：{}</div>\n", cell(display_time(o.printed_at)));
  out += "<div>本单据仅供患者留存核对，如有疑问请持本单到收费处咨询。</div>\n";
  out += "<div class=\"sign\"><span>收费员签章：____________</span><span>患者签名：____________</span></div>\n";
  out += "</div>\n</body>\n</html>\n";
  return out;
}

bool is_inpatient(const Json& d) {
  return text_of(d, "visit") == "inpatient" || text_of(d, "visit_type") == "inpatient" ||
         !text_of(d, "adm_id").empty() || text_of(d, "med_type") == "21";
}

std::string visit_text(const Json& d) {
  std::string out = is_inpatient(d) ? "住院" : "门诊";
  const std::string med = text_of(d, "med_type");
  const std::string_view name = med_type_name(med);
  if (!name.empty()) {
    out += fmt::format("（{}）", name);
  } else if (!med.empty()) {
    out += fmt::format("（医疗类别 {}）", esc(med));
  }
  return out;
}

// The person and the visit, common to both sheets.
void person_fields(const Json& d, std::vector<Field>& f) {
  f.push_back({"卡号", cell(text_of(d, "card_no"))});
  f.push_back({"个人编号", cell(text_of(d, "psn_no"))});
  f.push_back({"险种类型", cell(insutype_name(text_of(d, "insutype")))});
  f.push_back({"就诊类型", visit_text(d)});
  if (const std::string adm = text_of(d, "adm_id"); !adm.empty()) f.push_back({"住院号", esc(adm)});
}

std::string reason_text(std::string_view code) {
  if (auto s = sheet_reason_sentence(code)) return std::string(*s);
  return esc(code);
}

// The reason codes of a settlement: its `reasons`, then `offline_reason`
// unless already among them.
std::vector<std::string> reason_codes(const Json& d) {
  std::vector<std::string> codes;
  if (const Json* rs = json::find(d, "reasons"); rs != nullptr && rs->is_array())
    for (const Json& r : *rs)
      if (r.is_string()) codes.push_back(r.get<std::string>());
  if (const std::string off = text_of(d, "offline_reason"); !off.empty()) {
    bool seen = false;
    for (const auto& c : codes) seen = seen || c == off;
    if (!seen) codes.push_back(off);
  }
  return codes;
}

// An amount shown in a note.
std::string money(Amount a) { return format_amount(a); }

Result<std::vector<std::string>> settlement_notes(const Json& d) {
  std::vector<std::string> notes;
  const std::string state = text_of(d, "state");
  if (text_of(d, "mode") == "offline") {
    const Json* insurer = json::find(d, "insurer");
    const bool confirmed = insurer != nullptr && !text_of(*insurer, "setl_id").empty();
    if (state == "offline_rejected") {
      notes.emplace_back("离线结算：医保中心未确认本次结算，统筹基金支付部分请与医保经办机构联系处理。");
    } else if (!confirmed) {
      notes.emplace_back(kOfflineEstimate);
    } else {
      notes.emplace_back("离线结算：已经医保中心确认。");
      // The insurer's figures where they differ from the estimate (kept as an adjustment).
      if (const Json* adj = json::find(d, "adjustments"); adj != nullptr && adj->is_array())
        for (std::size_t i = 0; i < adj->size(); ++i) {
          const Json& a = (*adj)[i];
          if (text_of(a, "kind") != "offline_upload") continue;
          const std::string path = fmt::format("adjustments[{}]", i);
          auto fund = json::get_amount(a, "insurer_fund", path);
          if (!fund) return fund.error();
          auto account = json::get_amount(a, "insurer_account", path);
          if (!account) return account.error();
          auto cash = json::get_amount(a, "insurer_cash", path);
          if (!cash) return cash.error();
          notes.push_back(fmt::format("医保中心确认金额：统筹基金支付 {}，个人账户支付 {}，现金支付 {}；与本单估算不同，以医保中心确认为准。",
                                      money(*fund), money(*account), money(*cash)));
        }
    }
    notes.emplace_back("离线结算不使用个人账户，个人负担部分以现金支付。");
  }
  for (const std::string& code : reason_codes(d)) notes.push_back(reason_text(code));
  if (const std::string orig = text_of(d, "resettles_setl_id"); !orig.empty())
    notes.push_back(fmt::format("本次为原结算（结算号 {}）的退费重结。", esc(orig)));
  if (state == "refunded") notes.emplace_back("本结算已全额退费。");
  if (state == "partly_refunded") notes.emplace_back("本结算已部分退费，退费明细见下表及退费单。");
  if (state == "undone") notes.emplace_back("本结算已整笔撤销（退费重结或医保经办机构更正），请以新的结算单为准。");
  return notes;
}

void lines_table(std::string& out, const std::vector<Line>& lines, bool refund) {
  out += fmt::format("<div class=\"section\">{}（共 {} 项）</div>\n", refund ? "退费项目" : "收费项目", lines.size());
  out += "<table class=\"grid\">\n<thead><tr><th>项目编码</th><th>项目名称</th><th>类别</th>";
  out += refund ? "<th>退费金额</th>" : "<th>金额</th>";
  out += "<th>自付比例</th></tr></thead>\n<tbody>\n";
  for (const Line& l : lines)
    out += fmt::format("<tr><td>{}</td><td class=\"name\">{}</td><td class=\"c\">{}</td><td class=\"num\">{}</td>"
                       "<td class=\"c\">{}</td></tr>\n",
                       cell(l.code), cell(l.name), cell(class_name(l.cls)), format_amount(l.amount),
                       l.cls == "B" ? cell(l.ratio) : std::string());
  out += "</tbody>\n</table>\n";
}

// One row of the split table: two label/amount pairs (the second may be absent).
void split_row(std::string& out, std::string_view l1, Amount a1, bool main, std::string_view l2,
               std::optional<Amount> a2) {
  out += fmt::format("<tr><th{0}>{1}</th><td class=\"num{2}\">{3}</td>", main ? " class=\"main\"" : "", l1,
                     main ? " main" : "", format_amount(a1));
  if (a2) {
    out += fmt::format("<th>{}</th><td class=\"num\">{}</td></tr>\n", l2, format_amount(*a2));
  } else {
    out += "<th></th><td></td></tr>\n";
  }
}

Result<std::string> settlement_sheet(const Json& d, const SheetOptions& o) {
  auto split = read_split(d, "total", "");
  if (!split) return split.error();
  auto lines = read_lines(d);
  if (!lines) return lines.error();
  std::array<std::optional<Amount>, 4> parts;
  const std::array<std::string_view, 4> keys{"fulamt_ownpay", "preselfpay", "inscp", "deductible_part"};
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto a = json::get_opt_amount(d, keys[i], "");
    if (!a) return a.error();
    parts[i] = *a;
  }
  auto notes = settlement_notes(d);
  if (!notes) return notes.error();

  const std::string setl_id = text_of(d, "setl_id");
  const std::string receipt = text_of(d, "receipt_no");
  std::string out = head(o, "医疗保险结算单", fmt::format("收据号 {}", receipt.empty() ? setl_id : receipt));
  std::vector<Field> f;
  f.push_back({"收据号", cell(receipt.empty() ? setl_id : receipt)});
  f.push_back({"结算号", cell(setl_id)});
  f.push_back({"结算时间", cell(display_time(text_of(d, "time")))});
  const std::string window = text_of(d, "window");
  const std::string op = text_of(d, "operator");
  f.push_back({"窗口／收费员", fmt::format("{} ／ {}", cell(window), cell(op))});
  person_fields(d, f);
  f.push_back({"结算方式", text_of(d, "mode") == "offline" ? std::string("离线结算") : std::string("联网结算")});
  f.push_back({"结算状态", cell(state_name(text_of(d, "state")))});
  if (const Json* insurer = json::find(d, "insurer"); insurer != nullptr)
    if (const std::string id = text_of(*insurer, "setl_id"); !id.empty()) f.push_back({"医保结算号", esc(id)});
  fields_table(out, f);

  lines_table(out, *lines, false);

  out += "<div class=\"section\">费用结算</div>\n<table class=\"split\">\n";
  split_row(out, "医疗总费用", split->total, true, "全自费", parts[0]);
  split_row(out, "统筹基金支付", split->fund, false, "先行自付", parts[1]);
  split_row(out, "个人账户支付", split->account, false, "符合范围", parts[2]);
  split_row(out, "现金支付", split->cash, true, "起付线", parts[3]);
  out += "</table>\n";
  out += fmt::format("<div class=\"sum\">医疗总费用 {} ＝ 统筹基金 {} ＋ 个人账户 {} ＋ 现金 {}</div>\n",
                     format_amount(split->total), format_amount(split->fund), format_amount(split->account),
                     format_amount(split->cash));

  // The refunds made of it so far, each with its own refund sheet.
  if (const Json* refunds = json::find(d, "refunds"); refunds != nullptr && refunds->is_array() && !refunds->empty()) {
    out += "<div class=\"section\">退费记录</div>\n<table class=\"grid\">\n<thead><tr><th>退费单号</th><th>退费时间</th>"
           "<th>退费金额</th></tr></thead>\n<tbody>\n";
    for (std::size_t i = 0; i < refunds->size(); ++i) {
      const Json& r = (*refunds)[i];
      auto total = json::get_amount(r, "refund_total", fmt::format("refunds[{}]", i));
      if (!total) return total.error();
      out += fmt::format("<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>\n", cell(text_of(r, "refund_id")),
                         cell(display_time(text_of(r, "time"))), format_amount(*total));
    }
    out += "</tbody>\n</table>\n";
  }

  notes_list(out, *notes);
  out += foot(o);
  return out;
}

Result<std::string> refund_sheet(const Json& d, const Json& r, std::size_t index, const SheetOptions& o) {
  const std::string path = fmt::format("refunds[{}]", index);
  auto split = read_split(r, "refund_total", path);
  if (!split) return split.error();
  auto original = json::get_amount(d, "total", "");
  if (!original) return original.error();
  auto settled_lines = read_lines(d);
  if (!settled_lines) return settled_lines.error();
  std::vector<Line> lines;
  if (const Json* rl = json::find(r, "lines"); rl != nullptr && rl->is_array())
    for (std::size_t i = 0; i < rl->size(); ++i) {
      const Json& l = (*rl)[i];
      auto amount = json::get_amount(l, "amount", fmt::format("{}.lines[{}]", path, i));
      if (!amount) return amount.error();
      Line line{text_of(l, "code"), {}, {}, {}, *amount};
      if (const Line* s = line_by_code(*settled_lines, line.code)) {
        line.name = s->name;
        line.cls = s->cls;
        line.ratio = s->ratio;
      }
      lines.push_back(std::move(line));
    }

  const std::string setl_id = text_of(d, "setl_id");
  const std::string receipt = text_of(d, "receipt_no");
  std::string out = head(o, "医疗保险退费单", fmt::format("退费单号 {}", text_of(r, "refund_id")));
  std::vector<Field> f;
  f.push_back({"退费单号", cell(text_of(r, "refund_id"))});
  f.push_back({"退费时间", cell(display_time(text_of(r, "time")))});
  f.push_back({"原结算号", cell(setl_id)});
  f.push_back({"原收据号", cell(receipt.empty() ? setl_id : receipt)});
  f.push_back({"原结算时间", cell(display_time(text_of(d, "time")))});
  f.push_back({"原医疗总费用", format_amount(*original)});
  person_fields(d, f);
  if (const std::string id = text_of(r, "insurer_refund_id"); !id.empty()) f.push_back({"医保退费号", esc(id)});
  fields_table(out, f);

  if (lines.empty()) {
    out += "<div class=\"section\">退费项目</div>\n<div>退还原结算剩余的全部项目。</div>\n";
  } else {
    lines_table(out, lines, true);
  }

  // Cash first: the order the patient's share is paid back in.
  out += "<div class=\"section\">退费金额</div>\n<table class=\"split half\">\n";
  out += fmt::format("<tr><th class=\"main\">退费合计</th><td class=\"num main\">{}</td></tr>\n",
                     format_amount(split->total));
  out += fmt::format("<tr><th class=\"main\">退现金</th><td class=\"num main\">{}</td></tr>\n",
                     format_amount(split->cash));
  out += fmt::format("<tr><th>退个人账户</th><td class=\"num\">{}</td></tr>\n", format_amount(split->account));
  out += fmt::format("<tr><th>退统筹基金</th><td class=\"num\">{}</td></tr>\n", format_amount(split->fund));
  out += "</table>\n";
  out += fmt::format("<div class=\"sum\">退费合计 {} ＝ 退现金 {} ＋ 退个人账户 {} ＋ 退统筹基金 {}</div>\n",
                     format_amount(split->total), format_amount(split->cash), format_amount(split->account),
                     format_amount(split->fund));

  std::vector<std::string> notes;
  notes.push_back(fmt::format("退现金 {}，退个人账户 {}，退统筹基金 {}。", format_amount(split->cash),
                              format_amount(split->account), format_amount(split->fund)));
  notes.emplace_back("个人负担部分先退现金、再退个人账户（退回个人账户的不超过原结算个人账户支付）；统筹基金部分退回医保基金，金额以医保中心核定为准。");
  notes_list(out, notes);
  out += foot(o);
  return out;
}

}  // namespace

std::optional<std::string_view> sheet_reason_sentence(std::string_view code) noexcept {
  for (const auto& row : kReasons)
    if (row.code == code) return row.sentence;
  return std::nullopt;
}

Result<std::string> settlement_sheet_html(const Json& detail, const SheetOptions& options) {
  if (options.paper != "A5" && options.paper != "A4")
    return make_error(Reason::invalid_request, "paper",
                      fmt::format("paper: \"{}\" is not a paper size of the sheet (A5 or A4)", options.paper));
  if (!detail.is_object() || text_of(detail, "setl_id").empty())
    return make_error(Reason::invalid_request, "setl_id", "the settlement detail has no setl_id");
  if (!options.refund_id) return settlement_sheet(detail, options);
  if (const Json* refunds = json::find(detail, "refunds"); refunds != nullptr && refunds->is_array())
    for (std::size_t i = 0; i < refunds->size(); ++i)
      if (text_of((*refunds)[i], "refund_id") == *options.refund_id)
        return refund_sheet(detail, (*refunds)[i], i, options);
  return make_error(Reason::not_found, "refund_id",
                    fmt::format("settlement {} has no refund \"{}\"", text_of(detail, "setl_id"), *options.refund_id));
}

}  // namespace settle::daemon
