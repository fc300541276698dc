// The cashier's close-out sheet (see closeout_sheet.hpp): every figure read
// exactly and checked against the others before anything is printed, then the
// header, the summary, the cash to hand over, the corrections, the item list
// and the signature lines (inline CSS for an A4 or A5 page).
#include "tools/settled/closeout_sheet.hpp"

#include "tools/settled/html_util.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace settle::daemon {
namespace {

using html::cell;
using html::display_time;
using html::esc;
using html::Split;
using html::text_of;
using json::Json;

// Items of one close-out at most: their sums stay far inside int64 (each
// amount is at most limits::amount_max_fen).
constexpr std::size_t kMaxItems = 1'000'000;

Error invalid_request(std::string field, std::string message) {
  return make_error(Reason::invalid_request, std::move(field), std::move(message));
}

// ---- the figures ------------------------------------------------------------------------

// A count and its amounts: a summary group or the sum of items.
struct Group {
  std::int64_t count = 0;
  Split split;

  void add(const Split& s) {
    ++count;
    split.total += s.total;
    split.fund += s.fund;
    split.account += s.account;
    split.cash += s.cash;
  }
};

Group operator+(const Group& a, const Group& b) {
  return Group{a.count + b.count, Split{a.split.total + b.split.total, a.split.fund + b.split.fund,
                                        a.split.account + b.split.account, a.split.cash + b.split.cash}};
}

// A figure of a group as printed: "count", "total", "fund", "account" or "cash".
constexpr std::array<std::string_view, 5> kFigures{"count", "total", "fund", "account", "cash"};

std::string figure(const Group& g, std::string_view name) {
  if (name == "count") return std::to_string(g.count);
  if (name == "total") return format_amount(g.split.total);
  if (name == "fund") return format_amount(g.split.fund);
  if (name == "account") return format_amount(g.split.account);
  return format_amount(g.split.cash);
}

// The first figure in which two groups differ (printed amounts are exact).
std::optional<std::string_view> first_difference(const Group& a, const Group& b) {
  for (const std::string_view name : kFigures)
    if (figure(a, name) != figure(b, name)) return name;
  return std::nullopt;
}

// A summary group ("settlements", "online", "offline", "refunds"): its count
// and its parts, which must add up to its total.
Result<Group> read_group(const Json& c, std::string_view key) {
  const Json* g = json::find(c, key);
  if (g == nullptr || !g->is_object())
    return invalid_request(std::string(key), fmt::format("{}: the close-out has no {} figures", key, key));
  auto count = json::get_int(*g, "count", key);
  if (!count) return count.error();
  // No more than the items can hold (so counts add without overflow).
  if (*count < 0 || *count > static_cast<std::int64_t>(kMaxItems)) {
    const std::string field = json::path_join(key, "count");
    return invalid_request(field, fmt::format("{}: {} is not a count", field, *count));
  }
  auto split = html::read_split(*g, "total", key);
  if (!split) return split.error();
  return Group{*count, *split};
}

struct Correction {
  std::string id, setl_id, action, reason, recorded_by, approved_by, approved_at;
  Amount fund, account, cash;
};

struct Item {
  bool refund = false;
  std::string id, setl_id, time, mode, state, visit, receipt_no;
  Split split;
};

struct Closeout {
  bool recorded = false;    // has a closeout_id (and so recorded_at and a digest)
  bool preview = false;     // a shift's close-out not recorded yet
  bool day_report = false;  // a day's report (closed or not; closeout.preview with a date)
  std::string id, op, window, date, from, to, recorded_at, digest;
  Group settlements, online, offline, refunds;
  Amount cash_taken, cash_paid_back, cash_to_hand_over;
  std::vector<Correction> corrections;
  std::vector<Item> items;
};

bool is_hex(std::string_view s) {
  for (const char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

Result<Closeout> read_header(const Json& c) {
  Closeout out;
  out.id = text_of(c, "closeout_id");
  out.recorded = !out.id.empty();
  out.date = text_of(c, "date");
  out.day_report = !out.date.empty();
  out.preview = !out.recorded && !out.day_report;
  out.op = text_of(c, "operator");
  out.window = text_of(c, "window");
  out.from = text_of(c, "from");
  out.to = text_of(c, "to");
  out.recorded_at = text_of(c, "recorded_at");
  out.digest = text_of(c, "digest");
  if (out.op.empty()) return invalid_request("operator", "the close-out names no operator");
  // A day report may cover the operator's shifts at several windows.
  if (out.window.empty() && !out.day_report) return invalid_request("window", "the close-out names no window");
  if (out.to.empty()) return invalid_request("to", "the close-out has no end of its period (to)");
  if (out.recorded) {
    if (out.recorded_at.empty())
      return invalid_request("recorded_at", fmt::format("close-out {} has no recorded_at", out.id));
    if (out.digest.size() != 64 || !is_hex(out.digest))
      return invalid_request("digest", fmt::format("close-out {}: the digest is not 64 hex digits", out.id));
  }
  return out;
}

Error mismatch(std::string field, std::string message) {
  return make_error(Reason::invalid_amount, std::move(field), std::move(message));
}

// The summary: each group adds up, online + offline is settlements, and the
// cash figures follow from settlements and refunds.
Result<bool> read_summary(const Json& c, Closeout& out) {
  for (auto [key, group] : std::array<std::pair<std::string_view, Group*>, 4>{
           {{"settlements", &out.settlements}, {"online", &out.online}, {"offline", &out.offline},
            {"refunds", &out.refunds}}}) {
    auto g = read_group(c, key);
    if (!g) return g.error();
    *group = *g;
  }
  if (auto d = first_difference(out.online + out.offline, out.settlements)) {
    const std::string field = json::path_join("settlements", *d);
    return mismatch(field, fmt::format("{}: online {} + offline {} is not {}", field, figure(out.online, *d),
                                       figure(out.offline, *d), figure(out.settlements, *d)));
  }

  auto taken = json::get_amount(c, "cash_taken", "");
  if (!taken) return taken.error();
  auto paid_back = json::get_amount(c, "cash_paid_back", "");
  if (!paid_back) return paid_back.error();
  // Negative when more cash was paid back (refunds of earlier settlements) than taken.
  auto hand_over = json::get_amount(c, "cash_to_hand_over", "", Sign::any);
  if (!hand_over) return hand_over.error();
  out.cash_taken = *taken;
  out.cash_paid_back = *paid_back;
  out.cash_to_hand_over = *hand_over;
  if (out.cash_taken != out.settlements.split.cash)
    return mismatch("cash_taken", fmt::format("cash_taken: {} is not settlements.cash {}", format_amount(out.cash_taken),
                                              format_amount(out.settlements.split.cash)));
  if (out.cash_paid_back != out.refunds.split.cash)
    return mismatch("cash_paid_back", fmt::format("cash_paid_back: {} is not refunds.cash {}",
                                                  format_amount(out.cash_paid_back), format_amount(out.refunds.split.cash)));
  if (out.cash_to_hand_over != out.cash_taken - out.cash_paid_back)
    return mismatch("cash_to_hand_over",
                    fmt::format("cash_to_hand_over: {} is not cash_taken {} - cash_paid_back {}",
                                format_amount(out.cash_to_hand_over), format_amount(out.cash_taken),
                                format_amount(out.cash_paid_back)));
  return true;
}

Result<bool> read_corrections(const Json& c, Closeout& out) {
  const Json* cs = json::find(c, "corrections");
  if (cs == nullptr || cs->is_null()) return true;
  if (!cs->is_array()) return invalid_request("corrections", "corrections: not a list");
  for (std::size_t i = 0; i < cs->size(); ++i) {
    const Json& k = (*cs)[i];
    const std::string path = fmt::format("corrections[{}]", i);
    if (!k.is_object()) return invalid_request(path, fmt::format("{}: not an object", path));
    Correction r;
    r.id = text_of(k, "correction_id");
    r.setl_id = text_of(k, "setl_id");
    r.action = text_of(k, "action");
    r.reason = text_of(k, "reason");
    r.recorded_by = text_of(k, "recorded_by");
    r.approved_by = text_of(k, "approved_by");
    r.approved_at = text_of(k, "approved_at");
    auto fund = json::get_amount(k, "fund_delta", path, Sign::any);
    if (!fund) return fund.error();
    auto account = json::get_amount(k, "account_delta", path, Sign::any);
    if (!account) return account.error();
    auto cash = json::get_amount(k, "cash_delta", path, Sign::any);
    if (!cash) return cash.error();
    r.fund = *fund;
    r.account = *account;
    r.cash = *cash;
    out.corrections.push_back(std::move(r));
  }
  return true;
}

// The items; their sums must be the summary's settlements and refunds.
Result<bool> read_items(const Json& c, Closeout& out) {
  const Json* items = json::find(c, "items");
  if (items == nullptr || !items->is_array()) return invalid_request("items", "the close-out has no item list");
  if (items->size() > kMaxItems)
    return invalid_request("items", fmt::format("items: {} items, more than {}", items->size(), kMaxItems));
  Group settled, refunded;
  for (std::size_t i = 0; i < items->size(); ++i) {
    const Json& j = (*items)[i];
    const std::string path = fmt::format("items[{}]", i);
    if (!j.is_object()) return invalid_request(path, fmt::format("{}: not an object", path));
    Item it;
    const std::string kind = text_of(j, "kind");
    if (kind != "settlement" && kind != "refund") {
      const std::string field = json::path_join(path, "kind");
      return invalid_request(field, fmt::format("{}: \"{}\" is neither settlement nor refund", field, kind));
    }
    it.refund = kind == "refund";
    auto split = html::read_split(j, "total", path);
    if (!split) return split.error();
    it.split = *split;
    it.id = text_of(j, "id");
    it.setl_id = text_of(j, "setl_id");
    it.time = text_of(j, "time");
    it.mode = text_of(j, "mode");
    it.state = text_of(j, "state");
    it.visit = text_of(j, "visit");
    it.receipt_no = text_of(j, "receipt_no");
    (it.refund ? refunded : settled).add(it.split);
    out.items.push_back(std::move(it));
  }
  const auto check = [](const Group& sum, const Group& group, std::string_view name,
                         std::string_view noun) -> std::optional<Error> {
    const auto d = first_difference(sum, group);
    if (!d) return std::nullopt;
    if (*d == "count")
      return mismatch("items", fmt::format("items: {} {} items, not {}.count {}", sum.count, noun, name, group.count));
    return mismatch("items", fmt::format("items: the {} items' {} adds up to {}, not {}.{} {}", noun, *d,
                                         figure(sum, *d), name, *d, figure(group, *d)));
  };
  if (auto e = check(settled, out.settlements, "settlements", "settlement")) return *e;
  if (auto e = check(refunded, out.refunds, "refunds", "refund")) return *e;
  return true;
}

// ---- the document -----------------------------------------------------------------------

constexpr std::string_view kCloseoutCss =
    "body { line-height: 1.3; }\n"
    ".banner { border: 0.6mm solid #000; text-align: center; font-weight: bold; font-size: 1.4em; "
    "letter-spacing: 0.1em; padding: 1.5mm; margin: 1mm 0 2mm; }\n"
    ".banner .why { display: block; font-weight: normal; font-size: 0.6em; letter-spacing: 0; margin-top: 0.5mm; }\n"
    ".report { text-align: center; font-size: 0.9em; margin: 0 0 1.5mm; }\n"
    ".digest { font-family: \"DejaVu Sans Mono\", \"Liberation Mono\", monospace; font-weight: bold; }\n"
    ".small { font-size: 0.75em; font-family: \"DejaVu Sans Mono\", \"Liberation Mono\", monospace; "
    "word-break: break-all; }\n"
    ".grid tbody th { text-align: left; font-weight: normal; white-space: nowrap; }\n"
    ".grid tr.total th, .grid tr.total td { font-weight: bold; }\n"
    ".summary td, .summary th { padding: 0.6mm 1.5mm; }\n"
    ".cash { border: 0.5mm solid #000; margin-top: 1mm; }\n"
    ".cash th { font-weight: normal; white-space: nowrap; padding: 1mm 2mm; text-align: right; }\n"
    ".cash td { padding: 1mm 4mm 1mm 0; text-align: left; }\n"
    ".cash th.hand, .cash td.hand { font-weight: bold; font-size: 1.5em; }\n"
    ".cash th.hand { border-left: 0.4mm solid #000; }\n"
    ".words { margin: 0.8mm 0 0; }\n"
    ".words b { letter-spacing: 0.05em; }\n"
    ".sum { margin: 0.8mm 0 0; font-size: 0.9em; }\n"
    "tbody.corr { break-inside: avoid; }\n"
    ".corr td.why { font-size: 0.9em; word-break: break-all; }\n"
    ".items { font-size: 0.85em; line-height: 1.2; }\n"
    ".items td, .items th { padding: 0.3mm 0.6mm; }\n"
    ".items th { white-space: nowrap; }\n"
    ".items td.id { word-break: break-all; }\n";

// After the shared foot CSS: the foot stays on one page, with room to sign.
constexpr std::string_view kCloseoutFootCss =
    ".foot { break-inside: avoid; }\n"
    ".sign { margin-top: 8mm; }\n";

std::string signed_amount(Amount a) {
  return a.fen() > 0 ? "+" + format_amount(a) : format_amount(a);
}

std::string mode_name(std::string_view mode) {
  if (mode == "online") return "联网";
  if (mode == "offline") return "离线";
  return esc(mode);
}

// How a settlement stands now, shortly (nothing for a plain settled one).
std::string short_state(std::string_view state) {
  if (state.empty() || state == "settled") return {};
  if (state == "offline_pending") return "待确认";
  if (state == "offline_accepted") return "已确认";
  if (state == "offline_rejected") return "未确认";
  if (state == "refunded") return "已退费";
  if (state == "partly_refunded") return "部分退费";
  if (state == "undone") return "已撤销";
  return esc(state);
}

std::string action_name(std::string_view action) {
  if (action == "amounts") return "更正金额";
  if (action == "undo") return "撤销结算";
  return cell(action);
}

// A time in the item list: only hh:mm:ss on the close-out's own day.
std::string item_time(std::string_view t, std::string_view day) {
  const std::string shown = display_time(t);
  if (!day.empty() && t.size() >= 19 && t[10] == 'T' && t.substr(0, 10) == day) return cell(shown.substr(11));
  return cell(shown);
}

// "9f2c1a3b5d6e7f80…" -> "9f2c 1a3b 5d6e 7f80": the first 16 digits, in fours.
std::string short_digest(std::string_view digest) {
  std::string out;
  for (std::size_t i = 0; i < 16 && i < digest.size(); ++i) {
    if (i > 0 && i % 4 == 0) out += ' ';
    out += digest[i];
  }
  return out;
}

std::string title_of(const Closeout& c) { return c.day_report ? "收费员日报" : "收费员日结单"; }

std::string page_label(const Closeout& c) {
  std::string label = title_of(c);
  if (c.day_report) label += ' ' + c.date;
  if (c.preview) label += "（预览，未日结）";
  if (c.recorded) label += "　日结单号 " + c.id;
  label += "　收费员 " + c.op;
  return label;
}

// A header field that takes `slots` of the three label/value pairs of a row.
struct Slot {
  std::string_view label;
  std::string value;  // already escaped
  std::size_t slots = 1;
};

// The header, three label/value pairs to a row; a field that does not fit
// in what is left of a row starts the next.
void info_rows(std::string& out, const std::vector<Slot>& fields) {
  out += "<table class=\"info\">\n<tr>";
  std::size_t used = 0;
  for (const Slot& f : fields) {
    if (used + f.slots > 3) {
      for (; used < 3; ++used) out += "<th></th><td></td>";
      out += "</tr>\n<tr>";
      used = 0;
    }
    out += f.slots == 1 ? fmt::format("<th>{}</th><td>{}</td>", f.label, f.value)
                        : fmt::format("<th>{}</th><td colspan=\"{}\">{}</td>", f.label, f.slots * 2 - 1, f.value);
    used += f.slots;
  }
  for (; used < 3; ++used) out += "<th></th><td></td>";
  out += "</tr>\n</table>\n";
}

void header_fields(std::string& out, const Closeout& c) {
  // A day's report that is not a recorded close-out has no number and no record time.
  const std::string number = c.recorded ? esc(c.id) : std::string("预览，未日结");
  std::vector<Slot> f;
  if (c.day_report) {
    f.push_back({"报表日期", esc(c.date)});
  } else {
    f.push_back({"日结单号", number});
  }
  f.push_back({"收费员", esc(c.op)});
  f.push_back({"收费窗口", cell(c.window)});
  f.push_back({"起止时间", fmt::format("{} 至 {}", cell(display_time(c.from)), cell(display_time(c.to))), 2});
  if (c.recorded || c.preview)
    f.push_back({"日结时间", c.recorded ? esc(display_time(c.recorded_at)) : std::string("未日结")});
  if (c.day_report && c.recorded) f.push_back({"日结单号", number});
  if (c.recorded)
    f.push_back({"校验码",
                 fmt::format("<span class=\"digest\">{}</span>　<span class=\"small\">{}</span>",
                             esc(short_digest(c.digest)), esc(c.digest)),
                 c.day_report ? std::size_t{2} : std::size_t{3}});
  info_rows(out, f);
}

void summary_row(std::string& out, std::string_view label, const Group& g, bool total) {
  out += fmt::format("<tr{}><th>{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
                     "<td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                     total ? " class=\"total\"" : "", label, g.count, format_amount(g.split.total),
                     format_amount(g.split.fund), format_amount(g.split.account), format_amount(g.split.cash));
}

void summary_html(std::string& out, const Closeout& c) {
  out += "<div class=\"section\">结算汇总</div>\n<table class=\"grid summary\">\n<thead><tr><th>项目</th><th>笔数</th>"
         "<th>金额合计</th><th>统筹基金</th><th>个人账户</th><th>现金</th></tr></thead>\n<tbody>\n";
  summary_row(out, "联网结算", c.online, false);
  summary_row(out, "离线结算", c.offline, false);
  summary_row(out, "结算合计", c.settlements, true);
  summary_row(out, "退费", c.refunds, false);
  out += "</tbody>\n</table>\n";

  // One boxed line: taken, paid back, and in large type the cash to hand over.
  out += "<div class=\"section\">现金</div>\n<table class=\"cash\">\n";
  out += fmt::format("<tr><th>现金收入</th><td class=\"num\">{}</td><th>现金退出</th><td class=\"num\">{}</td>"
                     "<th class=\"hand\">应交现金</th><td class=\"num hand\">{}</td></tr>\n",
                     format_amount(c.cash_taken), format_amount(c.cash_paid_back), format_amount(c.cash_to_hand_over));
  out += "</table>\n";
  out += fmt::format("<div class=\"words\">应交现金（大写）：<b>{}</b></div>\n", amount_in_capitals(c.cash_to_hand_over));
  out += fmt::format("<div class=\"sum\">应交现金 {} ＝ 现金收入 {} － 现金退出 {}</div>\n",
                     format_amount(c.cash_to_hand_over), format_amount(c.cash_taken), format_amount(c.cash_paid_back));
}

void corrections_html(std::string& out, const Closeout& c) {
  if (c.corrections.empty()) return;
  out += fmt::format("<div class=\"section\">更正（共 {} 笔）</div>\n", c.corrections.size());
  out += "<table class=\"grid corr\">\n<thead><tr><th>更正号</th><th>结算号</th><th>更正内容</th><th>统筹基金</th>"
         "<th>个人账户</th><th>现金</th></tr></thead>\n";
  for (const Correction& k : c.corrections) {
    out += "<tbody class=\"corr\">\n";
    out += fmt::format("<tr><td class=\"c\">{}</td><td class=\"c\">{}</td><td>{}</td><td class=\"num\">{}</td>"
                       "<td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                       cell(k.id), cell(k.setl_id), action_name(k.action), signed_amount(k.fund),
                       signed_amount(k.account), signed_amount(k.cash));
    out += fmt::format("<tr><td colspan=\"6\" class=\"why\">原因：{}　登记人：{}　审批人：{}（{}）</td></tr>\n",
                       cell(k.reason), cell(k.recorded_by), cell(k.approved_by), cell(display_time(k.approved_at)));
    out += "</tbody>\n";
  }
  out += "</table>\n<ul class=\"notes\">\n<li>更正改变账务记录中的结算金额，不改变本单的现金收入、现金退出和应交现金："
         "应交现金按收费时实际收取和退还的现金计算。</li>\n</ul>\n";
}

void item_total_row(std::string& out, std::string_view label, const Group& g) {
  out += fmt::format("<tr class=\"total\"><td colspan=\"5\">{} {} 笔</td><td class=\"num\">{}</td>"
                     "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                     label, g.count, format_amount(g.split.total), format_amount(g.split.fund),
                     format_amount(g.split.account), format_amount(g.split.cash));
}

void items_html(std::string& out, const Closeout& c) {
  out += fmt::format("<div class=\"section\">明细（结算 {} 笔，退费 {} 笔）</div>\n", c.settlements.count,
                     c.refunds.count);
  if (c.items.empty()) {
    out += "<div>本期无结算、退费记录。</div>\n";
    return;
  }
  const std::string day = c.day_report ? c.date : c.to.substr(0, 10);
  out += "<table class=\"grid items\">\n<thead><tr><th>序号</th><th>时间</th><th>类别</th><th>单据号</th>"
         "<th>结算号</th><th>金额合计</th><th>统筹基金</th><th>个人账户</th><th>现金</th></tr></thead>\n<tbody>\n";
  for (std::size_t i = 0; i < c.items.size(); ++i) {
    const Item& it = c.items[i];
    std::string kind, number, setl;
    if (it.refund) {
      kind = "退费";
      number = "退费单 " + cell(it.id);
      setl = cell(it.setl_id);
    } else {
      kind = mode_name(it.mode);
      if (it.visit == "inpatient") kind += "（住院）";
      if (const std::string s = short_state(it.state); !s.empty()) kind += "·" + s;
      number = cell(it.receipt_no);
      setl = cell(it.id);
    }
    out += fmt::format("<tr><td class=\"c\">{}</td><td class=\"c\">{}</td><td>{}</td><td class=\"id\">{}</td>"
                       "<td class=\"c\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
                       "<td class=\"num\">{}</td></tr>\n",
                       i + 1, item_time(it.time, day), kind, number, setl, format_amount(it.split.total),
                       format_amount(it.split.fund), format_amount(it.split.account), format_amount(it.split.cash));
  }
  item_total_row(out, "结算合计", c.settlements);
  item_total_row(out, "退费合计", c.refunds);
  out += "</tbody>\n</table>\n";
}

std::string foot(const CloseoutSheetOptions& o) {
  std::string out;
  out += "<div class=\"foot\">\n";
  out += fmt::format("<div>打印时间：{}</div>\n", cell(display_time(o.printed_at)));
  out += "<div>收费员核对本单与实收现金无误后签字，连同应交现金一并交复核人。</div>\n";
  out += "<div class=\"sign\"><span>收费员签字：____________</span><span>复核人签字：____________</span>"
         "<span>日期：____________</span></div>\n";
  out += "</div>\n</body>\n</html>\n";
  return out;
}

}  // namespace

std::string amount_in_capitals(Amount a) {
  static constexpr std::array<std::string_view, 10> kDigit{"零", "壹", "贰", "叁", "肆",
                                                           "伍", "陆", "柒", "捌", "玖"};
  static constexpr std::array<std::string_view, 4> kUnit{"", "拾", "佰", "仟"};
  static constexpr std::array<std::string_view, 5> kGroup{"", "万", "亿", "万亿", "亿亿"};
  std::string out;
  const std::int64_t fen = a.fen();
  // The magnitude without overflow, even of the most negative fen.
  const std::uint64_t mag = fen < 0 ? 0 - static_cast<std::uint64_t>(fen) : static_cast<std::uint64_t>(fen);
  if (fen < 0) out += "负";
  const std::uint64_t yuan = mag / 100;
  const std::uint64_t jiao = mag / 10 % 10;
  const std::uint64_t fen_digit = mag % 10;
  if (mag == 0) return "零元整";
  if (yuan > 0) {
    std::array<std::uint64_t, kGroup.size()> groups{};
    std::size_t top = 0;
    for (std::uint64_t y = yuan; y > 0; y /= 10'000) groups[top++] = y % 10'000;
    // A zero is written once for a run of zeros between digits; zeros at the
    // end of a group of four (before 万, 亿, 元) are not written.
    bool zero = false;
    for (std::size_t g = top; g-- > 0;) {
      const std::uint64_t v = groups[g];
      if (v == 0) {
        zero = true;
        continue;
      }
      if (g + 1 < top && v < 1000) zero = true;
      bool started = false;
      for (std::size_t k = 4; k-- > 0;) {
        std::uint64_t d = v;
        for (std::size_t n = 0; n < k; ++n) d /= 10;
        d %= 10;
        if (d == 0) {
          if (started) zero = true;
          continue;
        }
        if (zero) out += kDigit[0];
        zero = false;
        started = true;
        out += kDigit[d];
        out += kUnit[k];
      }
      out += kGroup[g];
      zero = false;
    }
    out += "元";
  }
  if (jiao == 0 && fen_digit == 0) return out + "整";
  if (jiao > 0) {
    out += kDigit[jiao];
    out += "角";
  } else if (yuan > 0) {
    out += kDigit[0];
  }
  if (fen_digit == 0) return out + "整";
  out += kDigit[fen_digit];
  out += "分";
  return out;
}

Result<std::string> closeout_sheet_html(const Json& closeout, const CloseoutSheetOptions& options) {
  if (options.paper != "A4" && options.paper != "A5")
    return invalid_request("paper",
                           fmt::format("paper: \"{}\" is not a paper size of the close-out (A4 or A5)", options.paper));
  if (!closeout.is_object()) return invalid_request("closeout", "the close-out is not an object");
  auto c = read_header(closeout);
  if (!c) return c.error();
  if (auto r = read_summary(closeout, *c); !r) return r.error();
  if (auto r = read_corrections(closeout, *c); !r) return r.error();
  if (auto r = read_items(closeout, *c); !r) return r.error();

  std::string out = html::document_head({options.paper, options.hospital_name, options.hospital_code},
                                        title_of(*c), page_label(*c), {kCloseoutCss, html::kFootCss, kCloseoutFootCss});
  if (c->preview)
    out += "<div class=\"banner\">预览（未日结）<span class=\"why\">本单尚未日结，数据仍会变化，"
           "不能作为交款凭证。</span></div>\n";
  if (c->day_report && !c->recorded)
    out += fmt::format("<div class=\"report\">本表汇总 {} 全天的收费（含已日结和未日结），仅作报表，不是日结记录。</div>\n",
                       esc(c->date));
  header_fields(out, *c);
  summary_html(out, *c);
  corrections_html(out, *c);
  items_html(out, *c);
  out += foot(options);
  return out;
}

}  // namespace settle::daemon
