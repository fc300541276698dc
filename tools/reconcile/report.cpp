// Text and HTML renderings of a recon.run answer: totals per insurance type
// (with the type's name) on both sides, outpatient and inpatient apart, the
// differences one per row, the offline settlements not yet uploaded, what
// each kind of difference and an adjustment mean and what the office does
// (docs/reconciliation.md); the HTML is an A4 page with the sign-off block.
#include "tools/reconcile/report.hpp"

#include "engine/insutype.hpp"
#include "engine/money.hpp"
#include "tools/common/exit_codes.hpp"
#include "tools/settled/html_util.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdlib>
#include <string_view>
#include <utility>
#include <vector>

namespace settle::tools {
namespace {

using json::Json;

std::string str(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "";
  const Json& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

std::string_view advice(std::string_view kind) {
  if (kind == "only_local") return "the hospital has it, the insurer does not: check the message, ask the insurer";
  if (kind == "only_insurer") return "the insurer has it, the hospital does not: a pending reversal, or ask the insurer";
  if (kind == "amount_mismatch") return "amounts differ: compare with the insurer's record, record a correction";
  if (kind == "state_mismatch") return "refund/undo state differs: find the missing refund or undo on one side";
  if (kind == "clearing_type_mismatch")
    return "outpatient on one side, inpatient on the other: check the visit (2201 or 2401) with the insurer";
  return "";
}

// One line of the totals tables: an insurance type ("all" for every type),
// a clearing type ("outpatient", "inpatient", "all"), both sides.
struct TotalsLine {
  std::string insutype;
  std::string clearing;
  Json local;
  Json insurer;
  bool balanced = false;
};

bool empty_side(const Json& t) {
  if (!t.is_object()) return true;
  for (const char* k : {"total", "fund", "account", "cash"})
    if (str(t, k) != "0.00" && !str(t, k).empty()) return false;
  return str(t, "count") == "0" || str(t, "count").empty();
}

// The lines of one level (an insurance type, or the whole day): outpatient
// and inpatient apart (a clearing type empty on both sides is left out), then
// both together unless only one clearing type was shown. An answer without
// clearing types (an older daemon) gives the "all" line only.
void level_lines(std::vector<TotalsLine>& out, const std::string& type, const Json& level, bool balanced) {
  std::size_t shown = 0, present = 0;
  for (const char* clr : {"outpatient", "inpatient"}) {
    if (!level.is_object() || !level.contains(clr) || !level[clr].is_object()) continue;
    ++present;
    const Json& t = level[clr];
    if (empty_side(t.value("local", Json())) && empty_side(t.value("insurer", Json())) && t.value("balanced", false))
      continue;
    out.push_back(TotalsLine{type, clr, t.value("local", Json()), t.value("insurer", Json()), t.value("balanced", false)});
    ++shown;
  }
  if (present == 0 || shown != 1)
    out.push_back(TotalsLine{type, "all", level.value("local", Json()), level.value("insurer", Json()), balanced});
}

std::vector<TotalsLine> totals_lines(const Json& r) {
  std::vector<TotalsLine> out;
  for (const Json& t : r.value("by_insutype", Json::array())) {
    const std::string type = str(t, "insutype").empty() ? "(none)" : str(t, "insutype");
    level_lines(out, type, t, t.value("balanced", false));
  }
  level_lines(out, "all", r, r.value("totals_balanced", false));
  return out;
}

std::string clearing_of(const Json& d) {
  const std::string v = str(d, "visit_type");
  return v.empty() ? "-" : v;
}

std::string amounts(const Json& side) {
  if (!side.is_object()) return "-";
  return fmt::format("{} ({}) total {} fund {} account {} cash {}", str(side, "setl_id"), str(side, "state"),
                     str(side, "total"), str(side, "fund"), str(side, "account"), str(side, "cash"));
}

// The ledger's hash chain walk that recon.run made first (docs/ledger-integrity.md):
// intact, or the first problem it found; nothing when the answer has no walk.
std::string chain_line(const Json& r) {
  const Json chain = r.value("ledger_chain", Json());
  if (!chain.is_object()) return "";
  if (chain.value("intact", false))
    return fmt::format("Ledger chain: intact ({} entries walked from entry {}, head {}; {} checkpoints, {} signed)\n",
                       str(chain, "entries"), str(chain, "from_entry"), str(chain, "head_entry"),
                       str(chain, "checkpoints"), str(chain, "checkpoints_signed"));
  const Json problems = chain.value("problems", Json::array());
  const std::string first = problems.empty()               ? std::string("no problem named")
                            : problems.front().is_string() ? problems.front().get<std::string>()
                                                           : problems.front().dump();
  return fmt::format("Ledger chain: BROKEN, the first problem of {}: {}\n"
                     "  Run settlectl ledger verify on the ledger (docs/ledger-integrity.md); no reconciliation "
                     "checkpoint was written, so the next run reports it again.\n",
                     problems.size(), first);
}

}  // namespace

int recon_exit_status(const Json& r) {
  const Json chain = r.value("ledger_chain", Json());
  if (chain.is_object() && !chain.value("intact", false)) return settle::exit_code::chain_broken;
  return r.value("balanced", false) ? settle::exit_code::ok : settle::exit_code::not_right;
}

std::string recon_text(const Json& r) {
  const bool balanced = r.value("balanced", false);
  std::string out = fmt::format("Reconciliation of {}: {}\n", str(r, "date"), balanced ? "BALANCED" : "NOT BALANCED");
  if (const Json* h = json::find(r, "hospital"); h != nullptr && h->is_object())
    out += fmt::format("Hospital: {} ({})\n", str(*h, "name"), str(*h, "code"));
  out += chain_line(r);
  out += "\n";
  out += fmt::format("{:<10} {:<10} {:<8} {:>9} {:>14} {:>14} {:>14} {:>14}  {}\n", "insutype", "clearing", "side",
                     "count", "total", "fund", "account", "cash", "");
  const auto line = [&](const TotalsLine& l, const char* side, const Json& t, const std::string& mark) {
    out += fmt::format("{:<10} {:<10} {:<8} {:>9} {:>14} {:>14} {:>14} {:>14}  {}\n", l.insutype, l.clearing, side,
                       str(t, "count"), str(t, "total"), str(t, "fund"), str(t, "account"), str(t, "cash"), mark);
  };
  for (const TotalsLine& l : totals_lines(r)) {
    line(l, "hospital", l.local, "");
    line(l, "insurer", l.insurer, l.balanced ? "ok" : "DIFFERS");
  }
  std::string names;
  for (const Json& t : r.value("by_insutype", Json::array()))
    if (const InsutypeName* n = find_insutype(str(t, "insutype")); n != nullptr)
      names += fmt::format("{}{} {} ({})", names.empty() ? "" : "; ", n->code, n->chinese, n->english);
  if (!names.empty()) out += fmt::format("Insurance types: {}\n", names);
  const Json diffs = r.value("differences", Json::array());
  if (r.value("detail_compared", false))
    out += fmt::format("\nDetail compared: {} hospital rows, {} insurer rows, {} differences\n", str(r, "local_rows"),
                       str(r, "insurer_rows"), diffs.size());
  if (!diffs.empty()) {
    out += "\nDifferences:\n";
    for (const Json& d : diffs) {
      const std::string kind = str(d, "kind");
      out += fmt::format("  {:<22} {:<10} setl_id {}  msgid {}  local id {}\n", kind, clearing_of(d), str(d, "setl_id"),
                         str(d, "msgid"), str(d, "local_setl_id"));
      out += fmt::format("      hospital: {}\n      insurer:  {}\n      -> {}\n", amounts(d.value("local", Json())),
                         amounts(d.value("insurer", Json())), advice(kind));
    }
  } else if (!balanced) {
    out += "\nThe totals differ but every row matches: check the day's totals rules (docs/reconciliation.md).\n";
  }
  if (const Json* adj = json::find(r, "adjustments"); adj != nullptr && adj->is_object())
    for (const char* kind : {"offline_upload", "correction"})
      if (const Json* a = json::find(*adj, kind); a != nullptr && str(*a, "count") != "0" && !str(*a, "count").empty())
        out += fmt::format("\nAdjustments ({}): {}, fund {} and cash {} (insurer − local), counted as the insurer's\n",
                           kind, str(*a, "count"), str(*a, "fund"), str(*a, "cash"));
  const Json pending = r.value("not_uploaded", Json::array());
  if (!pending.empty()) {
    out += fmt::format("\nOffline settlements of the day the insurer does not hold (not counted): {}\n", pending.size());
    for (const Json& p : pending)
      out += fmt::format("  local id {}  {}  insutype {}  {}  total {}\n", str(p, "local_setl_id"), str(p, "state"),
                         str(p, "insutype"), str(p, "clr_type") == "21" ? "inpatient" : "outpatient", str(p, "total"));
    out += "  Upload them (uploads.flush) and run the reconciliation of this date again.\n";
  }
  return out;
}

namespace {

using settle::daemon::html::cell;
using settle::daemon::html::display_time;
using settle::daemon::html::esc;

// What each kind of difference means and what the office does with it
// (docs/reconciliation.md, "What to do with each kind of difference").
struct KindText {
  std::string_view kind, chinese, english, meaning, action;
};
constexpr std::array<KindText, 5> kKinds{{
    {"only_local", "本院有、医保中心无", "only at the hospital",
     "本院记录了一笔结算，医保中心没有这笔记录。",
     "先看本院冲正队列（engine.status 的 pending_reversals、in_doubt）：正在冲正的结算冲正完成后消失，之后重新对账；"
     "仍在的，凭报文号（msgid）和结算号向医保中心查询，必要时为患者重新结算。"},
    {"only_insurer", "医保中心有、本院无", "only at the insurer",
     "医保中心有一笔结算（基金已支付），本院没有记录。",
     "多为应答丢失、冲正尚在排队的结算：待冲正完成（uploads.flush）后重新对账；仍在的，凭报文号向医保中心核查，"
     "这是没有本院就诊记录的基金支付。"},
    {"amount_mismatch", "金额不符", "amounts differ",
     "双方都有这笔结算、状态相同，但总费用、统筹基金、个人账户或现金不同。",
     "以医保中心金额为准。与医保中心核对哪一方记录有误；确认以医保中心为准的，登记“金额更正”并由第二人审批"
     "（docs/corrections.md），下次对账即平；本院账本原始记录不修改，书面说明随本报告存档。"},
    {"clearing_type_mismatch", "门诊/住院类别不符", "clearing type differs",
     "同一笔结算，一方记为门诊（11），另一方记为住院（21）。",
     "查就诊：门诊结算在 2201 就诊上（settle.commit），住院结算在 2401 住院登记上（inpatient.discharge）。"
     "本院记错的是系统缺陷，须报告；否则请医保中心更正其记录。"},
    {"state_mismatch", "退费/撤销状态不符", "refund or undo state differs",
     "一方有退费（9301）或撤销（2208），另一方没有。",
     "在结算的历史记录（settle.get 的 events）和医保中心记录中查找这笔退费或撤销，只在一方登记的，在另一方补办或冲回。"},
}};

const KindText* kind_text(std::string_view kind) {
  for (const KindText& k : kKinds)
    if (k.kind == kind) return &k;
  return nullptr;
}

std::string insutype_cell(std::string_view code) {
  if (code.empty() || code == "(none)") return "未填险种<br><span class=\"en\">no insurance type</span>";
  if (code == "all") return "全部险种<br><span class=\"en\">all types</span>";
  const InsutypeName* n = find_insutype(code);
  if (n == nullptr) return fmt::format("{}<br><span class=\"en\">unknown code</span>", esc(code));
  return fmt::format("{} {}<br><span class=\"en\">{}</span>", esc(n->code), n->chinese, n->english);
}

std::string clearing_cell(std::string_view clearing) {
  if (clearing == "outpatient") return "门诊<br><span class=\"en\">outpatient</span>";
  if (clearing == "inpatient") return "住院<br><span class=\"en\">inpatient</span>";
  return "合计<br><span class=\"en\">all</span>";
}

std::string clr_short(std::string_view clr_type) {
  if (clr_type == "11") return "门诊";
  if (clr_type == "21") return "住院";
  return "—";
}

std::string state_name(std::string_view state) {
  if (state == "untouched") return "正常";
  if (state == "refunded") return "有退费";
  if (state == "undone") return "已撤销";
  if (state == "offline_pending") return "离线待上传";
  if (state == "offline_rejected") return "离线被拒";
  return esc(state);
}

// Insurer minus hospital of one figure, "" when either is unreadable or both equal.
std::string delta(const Json& local, const Json& insurer, const char* key) {
  auto a = parse_amount(str(local, key), key);
  auto b = parse_amount(str(insurer, key), key);
  if (!a || !b || *a == *b) return "";
  const Amount d = *b - *a;
  return d.fen() > 0 ? "+" + format_amount(d) : format_amount(d);
}

constexpr std::string_view kReconCss =
    ".en { font-size: 0.8em; color: #333; }\n"
    "th .en { font-weight: normal; }\n"
    ".grid { font-size: 0.86em; margin-top: 0.5mm; }\n"
    ".grid th, .grid td { padding: 0.4mm 0.8mm; vertical-align: top; }\n"
    ".grid thead { display: table-header-group; }\n"
    ".grid tbody { break-inside: avoid; }\n"
    ".grid td.id { word-break: break-all; font-size: 0.92em; }\n"
    "tr.diff td { font-weight: bold; }\n"
    ".result { text-align: center; font-size: 1.25em; font-weight: bold; margin: 1.5mm 0; padding: 1mm;"
    " border: 0.4mm solid #000; }\n"
    ".bad { font-weight: bold; }\n"
    ".explain { font-size: 0.86em; }\n"
    ".explain th { width: 24%; text-align: left; }\n"
    ".explain td, .explain th { border: 0.2mm solid #000; padding: 0.6mm 1mm; vertical-align: top; }\n"
    ".sign { margin-top: 10mm; }\n"
    ".foot { break-inside: avoid; }\n";

void totals_section(std::string& h, const Json& r) {
  h += "<div class=\"section\">一、总账核对（对总账 3201） <span class=\"en\">Totals per insurance type, "
       "outpatient and inpatient apart</span></div>\n";
  h += "<table class=\"grid totals\">\n<thead><tr><th>险种<br><span class=\"en\">insurance type</span></th>"
       "<th>类别<br><span class=\"en\">clearing</span></th><th>方<br><span class=\"en\">side</span></th>"
       "<th>笔数<br><span class=\"en\">count</span></th><th>医疗总费用<br><span class=\"en\">total</span></th>"
       "<th>统筹基金<br><span class=\"en\">fund</span></th><th>个人账户<br><span class=\"en\">account</span></th>"
       "<th>现金<br><span class=\"en\">cash</span></th><th>结果<br><span class=\"en\">result</span></th></tr></thead>\n";
  for (const TotalsLine& l : totals_lines(r)) {
    const bool differs = !l.balanced;
    h += "<tbody>\n";
    h += fmt::format("<tr><td rowspan=\"{0}\">{1}</td><td rowspan=\"{0}\" class=\"c\">{2}</td>", differs ? 3 : 2,
                     insutype_cell(l.insutype), clearing_cell(l.clearing));
    h += fmt::format("<td class=\"c\">本院</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
                     "<td class=\"num\">{}</td><td class=\"num\">{}</td><td rowspan=\"{}\" class=\"c{}\">{}</td></tr>\n",
                     cell(str(l.local, "count")), cell(str(l.local, "total")), cell(str(l.local, "fund")),
                     cell(str(l.local, "account")), cell(str(l.local, "cash")), differs ? 3 : 2, differs ? " bad" : "",
                     differs ? "不平<br><span class=\"en\">differs</span>" : "平<br><span class=\"en\">balanced</span>");
    h += fmt::format("<tr><td class=\"c\">医保中心</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
                     "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                     cell(str(l.insurer, "count")), cell(str(l.insurer, "total")), cell(str(l.insurer, "fund")),
                     cell(str(l.insurer, "account")), cell(str(l.insurer, "cash")));
    if (differs) {
      std::string count_delta;
      const std::string lc = str(l.local, "count"), ic = str(l.insurer, "count");
      if (!lc.empty() && !ic.empty() && lc != ic) {
        const long long d = std::atoll(ic.c_str()) - std::atoll(lc.c_str());
        count_delta = d > 0 ? fmt::format("+{}", d) : std::to_string(d);
      }
      h += fmt::format("<tr class=\"diff\"><td class=\"c\">差额<br><span class=\"en\">insurer − hospital</span></td>"
                       "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
                       "<td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                       esc(count_delta), delta(l.local, l.insurer, "total"), delta(l.local, l.insurer, "fund"),
                       delta(l.local, l.insurer, "account"), delta(l.local, l.insurer, "cash"));
    }
    h += "</tbody>\n";
  }
  h += "</table>\n";
}

void differences_section(std::string& h, const Json& r) {
  const Json diffs = r.value("differences", Json::array());
  h += fmt::format("<div class=\"section\">二、明细差异（对明细账 3202，共 {} 笔） <span class=\"en\">Differences, "
                   "settlement by settlement</span></div>\n",
                   diffs.size());
  if (!r.value("detail_compared", false)) {
    h += "<div>总账相符，未逐笔核对明细。<span class=\"en\">The totals agree: the rows were not compared.</span></div>\n";
    return;
  }
  h += fmt::format("<div>已逐笔核对：本院 {} 笔，医保中心 {} 笔。<span class=\"en\">Rows compared: {} hospital, {} "
                   "insurer.</span></div>\n",
                   cell(str(r, "local_rows")), cell(str(r, "insurer_rows")), cell(str(r, "local_rows")),
                   cell(str(r, "insurer_rows")));
  if (diffs.empty()) {
    if (!r.value("balanced", false))
      h += "<div class=\"bad\">总账不符但逐笔无差异：请按 docs/reconciliation.md 的总账规则核查。"
           "<span class=\"en\">The totals differ but every row matches.</span></div>\n";
    return;
  }
  h += "<table class=\"grid diffs\">\n<thead><tr><th class=\"c\">序号<br><span class=\"en\">no.</span></th>"
       "<th>差异类别<br><span class=\"en\">kind</span></th><th>方<br><span class=\"en\">side</span></th>"
       "<th>状态<br><span class=\"en\">state</span></th><th>医疗总费用<br><span class=\"en\">total</span></th>"
       "<th>统筹基金<br><span class=\"en\">fund</span></th><th>个人账户<br><span class=\"en\">account</span></th>"
       "<th>现金<br><span class=\"en\">cash</span></th></tr></thead>\n";
  std::size_t n = 0;
  for (const Json& d : diffs) {
    const std::string kind = str(d, "kind");
    const KindText* k = kind_text(kind);
    const Json local = d.value("local", Json());
    const Json insurer = d.value("insurer", Json());
    h += "<tbody>\n";
    h += fmt::format("<tr><td rowspan=\"3\" class=\"c\">{}</td><td rowspan=\"2\">{}<br><span class=\"en\">{}</span></td>",
                     ++n, k != nullptr ? std::string(k->chinese) : esc(kind),
                     k != nullptr ? std::string(k->english) : std::string());
    bool first = true;
    for (const Json* side : {&local, &insurer}) {
      if (!first) h += "<tr>";
      h += fmt::format("<td class=\"c\">{}</td>", first ? "本院" : "医保中心");
      if (side->is_object()) {
        h += fmt::format("<td class=\"c\">{}·{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
                         "<td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                         clr_short(str(*side, "clr_type")), state_name(str(*side, "state")), cell(str(*side, "total")),
                         cell(str(*side, "fund")), cell(str(*side, "account")), cell(str(*side, "cash")));
      } else {
        h += "<td colspan=\"5\" class=\"c\">无记录 <span class=\"en\">no record</span></td></tr>\n";
      }
      first = false;
    }
    const Json& any = local.is_object() ? local : insurer;
    std::string ids = fmt::format("医保结算号 {}　报文号 <span class=\"id\">{}</span>　本院结算号 {}　险种 {}　人员编号 {}",
                                  cell(str(d, "setl_id")), cell(str(d, "msgid")), cell(str(d, "local_setl_id")),
                                  esc(insutype_chinese(str(any, "insutype"))), cell(str(any, "psn_no")));
    if (local.is_object() && insurer.is_object()) {
      std::string deltas;
      for (const auto& [key, label] : {std::pair{"total", "总费用"}, std::pair{"fund", "统筹基金"},
                                       std::pair{"account", "个人账户"}, std::pair{"cash", "现金"}}) {
        const std::string x = delta(local, insurer, key);
        if (!x.empty()) deltas += fmt::format("{}{} {}", deltas.empty() ? "" : "，", label, x);
      }
      if (!deltas.empty()) ids += fmt::format("<br>差额（医保中心－本院）：{}", deltas);
    }
    h += fmt::format("<tr><td colspan=\"7\" class=\"id\">{}</td></tr>\n", ids);
    h += "</tbody>\n";
  }
  h += "</table>\n";
}

void pending_section(std::string& h, const Json& r) {
  const Json pending = r.value("not_uploaded", Json::array());
  if (pending.empty()) return;
  h += fmt::format("<div class=\"section\">三、未被医保中心接收的离线结算（共 {} 笔，不计入对账） <span class=\"en\">Offline "
                   "settlements the insurer does not hold (not counted)</span></div>\n",
                   pending.size());
  h += "<table class=\"grid pending\">\n<thead><tr><th>本院结算号<br><span class=\"en\">local id</span></th>"
       "<th>状态<br><span class=\"en\">state</span></th><th>险种<br><span class=\"en\">insurance type</span></th>"
       "<th>类别<br><span class=\"en\">clearing</span></th><th>人员编号<br><span class=\"en\">person</span></th>"
       "<th>医疗总费用<br><span class=\"en\">total</span></th></tr></thead>\n<tbody>\n";
  for (const Json& p : pending)
    h += fmt::format("<tr><td class=\"c\">{}</td><td class=\"c\">{}</td><td>{}</td><td class=\"c\">{}</td>"
                     "<td class=\"id\">{}</td><td class=\"num\">{}</td></tr>\n",
                     cell(str(p, "local_setl_id")), state_name(str(p, "state")), insutype_cell(str(p, "insutype")),
                     clr_short(str(p, "clr_type")), cell(str(p, "psn_no")), cell(str(p, "total")));
  h += "</tbody>\n</table>\n<div>待上传（offline_pending）的：网络恢复后上传（uploads.flush 或等待自动上传），再对这一日重新对账；"
       "被拒（offline_rejected）的：由医保办决定处理方式（撤销更正，docs/corrections.md）。</div>\n";
}

void explanations_section(std::string& h, const Json& r) {
  const Json counts = r.value("difference_counts", Json::object());
  h += "<div class=\"section\">四、说明 <span class=\"en\">What the figures mean and what the office does</span></div>\n";
  h += "<table class=\"explain\">\n";
  for (const KindText& k : kKinds) {
    const std::string n = str(counts, std::string(k.kind).c_str());
    h += fmt::format("<tr><th>{}<br><span class=\"en\">{} ({})</span><br>本次 {} 笔</th><td>{}<br>处理：{}</td></tr>\n",
                     k.chinese, k.english, k.kind, n.empty() ? "0" : esc(n), k.meaning, k.action);
  }
  const Json adj = r.value("adjustments", Json::object());
  const Json up = adj.value("offline_upload", Json::object());
  const Json corr = adj.value("correction", Json::object());
  const std::string up_count = str(up, "count").empty() ? "0" : str(up, "count");
  const std::string corr_count = str(corr, "count").empty() ? "0" : str(corr, "count");
  h += fmt::format("<tr><th>离线结算的调整<br><span class=\"en\">adjustments</span></th><td>"
                   "本日：{} 笔，统筹基金（医保中心－估算）{}，现金 {}。<br>",
                   esc(up_count), cell(str(up, "fund")), cell(str(up, "cash")));
  h += "离线结算时统筹基金按本院红名单估算；"
       "上传后医保中心按其规则（当时的起付线、年度封顶线累计等）核定。核定金额与估算不同的，本院记录一笔调整，"
       "对账按医保中心核定的金额计入，差额不在对账中显示为差异。调整金额（医保中心－估算）为负，"
       "说明患者少付了现金，应补收或由医院承担；为正，说明患者多付，应退还。调整由医保办逐笔入账。</td></tr>\n";
  h += fmt::format("<tr><th>更正<br><span class=\"en\">corrections</span></th><td>本日：{} 笔，"
                   "统筹基金 {}，现金 {}。<br>",
                   esc(corr_count), cell(str(corr, "fund")), cell(str(corr, "cash")));
  h += "医保办登记并经第二人审批的金额更正或撤销"
       "（docs/corrections.md）生效后，该笔结算按更正后的金额参加对账；本院账本的原始记录不修改。</td></tr>\n";
  h += "<tr><th>退费<br><span class=\"en\">refunds</span></th><td>退费计入原结算所属的清算日期（与医保中心 3201/3202 "
       "相同），已对账日期之后发生的退费，会在重新对账该日时体现。</td></tr>\n";
  h += "</table>\n";
}

}  // namespace

std::string recon_html(const Json& r) {
  const bool balanced = r.value("balanced", false);
  const Json hospital = r.value("hospital", Json::object());
  const std::string date = str(r, "date");
  const std::string name = str(hospital, "name").empty() ? std::string("—") : str(hospital, "name");
  std::string h = settle::daemon::html::document_head({"A4", name, str(hospital, "code")},
                                                      "医疗保险对账报告", "对账日期 " + date,
                                                      {settle::daemon::html::kFootCss, kReconCss});
  h += "<div class=\"c en\">Reconciliation with the insurer (医保中心) of one clearing date</div>\n";
  h += fmt::format("<div class=\"result\">{}</div>\n",
                   balanced ? "对账结果：平 <span class=\"en\">balanced</span>"
                            : "对账结果：不平 <span class=\"en\">not balanced</span>");
  std::vector<settle::daemon::html::Field> f;
  f.push_back({"对账日期 <span class=\"en\">clearing date</span>", cell(date)});
  f.push_back({"对账时间 <span class=\"en\">run at</span>", cell(display_time(str(r, "run_at"))) + "（北京时间）"});
  f.push_back({"总账 <span class=\"en\">totals</span>", r.value("totals_balanced", false) ? "相符" : "不符"});
  f.push_back({"明细差异 <span class=\"en\">differences</span>",
               fmt::format("{} 笔", r.value("differences", Json::array()).size())});
  const Json chain = r.value("ledger_chain", Json());
  if (chain.is_object())
    f.push_back({"账本校验 <span class=\"en\">ledger chain</span>",
                 chain.value("intact", false) ? fmt::format("完整（{} 条）", cell(str(chain, "entries")))
                                              : std::string("<b>已被改动，见 docs/ledger-integrity.md</b>")});
  f.push_back({"离线未接收 <span class=\"en\">not uploaded</span>",
               fmt::format("{} 笔", r.value("not_uploaded", Json::array()).size())});
  settle::daemon::html::fields_table(h, f);
  totals_section(h, r);
  differences_section(h, r);
  pending_section(h, r);
  explanations_section(h, r);
  h += "<div class=\"foot\">\n";
  h += fmt::format("<div>本报告由对账程序根据医保中心 3201/3202 应答和本院账本生成（{}）。对账不平的，经办人按第四部分逐笔处理，"
                   "处理结果书面附后，由复核人核对签字后存档。</div>\n",
                   balanced ? "平" : "不平");
  h += "<div class=\"sign\"><span>经办人 <span class=\"en\">prepared by</span>：____________</span>"
       "<span>复核人 <span class=\"en\">checked by</span>：____________</span>"
       "<span>日期 <span class=\"en\">date</span>：____________</span></div>\n";
  h += "</div>\n</body>\n</html>\n";
  return h;
}

}  // namespace settle::tools
