// The drill's report for the insurance office: a text page (per fault:
// detection, longest wait, offline settlements, reversals, drain,
// adjustments, whether the day balanced, and why a fault failed; then the
// inpatient stay across an outage), JSON, and an A4 HTML page with each
// phase's pass criteria and result, the adjustments explained and a sign-off.
#include "tools/drill/drill.hpp"

#include "tools/settled/html_util.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>

namespace settle::drill {

namespace {

std::string secs(const std::optional<double>& s) { return s ? fmt::format("{:.2f} s", *s) : std::string("—"); }

const char* fault_words(const std::string& kind) {
  if (kind == "refuse") return "the insurer refuses connections (line down)";
  if (kind == "stall") return "the insurer reads requests and never answers";
  if (kind == "lost_reply") return "the insurer settles, the reply is lost (单边账)";
  return "simulator fault";
}

// Columns on a terminal: CJK characters take two.
const char* scenario_words(const std::string& name) {
  if (name == "network") return "the hospital network cut under a cashier (mid-call and idle), the same request sent again";
  if (name == "reader") return "a card pulled mid-visit at one window, pcscd restarted";
  if (name == "daemon") return "settled killed (SIGKILL) under load and started again";
  if (name == "disk") return "the ledger's disk full during service, then back";
  return "";
}

const char* scenario_chinese(const std::string& name) {
  if (name == "network") return "院内网络中断（收费终端断线）";
  if (name == "reader") return "读卡器故障（拔卡、读卡服务重启）";
  if (name == "daemon") return "结算服务异常终止并重启";
  if (name == "disk") return "存储故障（磁盘满）";
  return "场景";
}

std::size_t display_width(std::string_view s) {
  std::size_t w = 0;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    w += len >= 3 ? 2 : 1;
    i += len;
  }
  return w;
}

void row(std::string& t, std::string_view label, const std::string& value) {
  constexpr std::size_t column = 40;
  const std::size_t w = display_width(label) + 2;
  t += fmt::format("  {}{}{}\n", label, std::string(w < column ? column - w : 1, ' '), value);
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// One pass criterion of a phase: what is checked, the limit, the figure
// measured and whether it was met (the same checks as drill.cpp's verdict).
struct Criterion {
  std::string phase;     // baseline, cut, outage, restore, reconciliation
  std::string chinese;   // 检查项
  std::string english;
  std::string required;  // 标准
  std::string measured;  // 实测
  bool ok = false;
};

std::vector<Criterion> fault_criteria(const FaultResult& f, const Options& o) {
  std::vector<Criterion> c;
  c.push_back({"baseline", "断网前联网结算正常", "online settling before the cut", "成功 ≥ 1 笔，错误 0",
               fmt::format("成功 {} 笔，退费 {} 笔，错误 {}", f.baseline_commits, f.baseline_refunds, f.baseline_errors),
               f.baseline_commits > 0 && f.baseline_errors == 0});
  c.push_back({"cut", "发现断网", "outage detected (network.changed offline)",
               fmt::format("≤ {:.0f} s", std::max(o.phase_s, 20.0)), secs(f.detect_s), f.detect_s.has_value()});
  c.push_back({"outage", "断网期间不拒绝结算", "no settlement refused during the outage", "拒绝 0 笔",
               fmt::format("结算 {} 笔（离线 {}，识别前联网 {}），拒绝 {}", f.outage_commits, f.outage_offline,
                           f.outage_online, f.outage_refused),
               f.outage_refused == 0});
  c.push_back({"outage", "离线结算", "settled offline", "≥ 1 笔", fmt::format("{} 笔", f.outage_offline),
               f.outage_offline > 0 || !f.detect_s});
  c.push_back({"outage", "收费窗口最长等待", "longest cashier wait", fmt::format("≤ {:.1f} s", o.max_wait_s),
               fmt::format("{:.2f} s", f.longest_wait_s), f.longest_wait_s <= o.max_wait_s});
  c.push_back({"outage", "断网不能退费", "refunds refused while offline", "其他结果 0 笔",
               fmt::format("拒绝 {}，联网完成 {}，无应答 {}，其他 {}", f.refunds_refused_offline, f.refunds_online,
                           f.refunds_unanswered, f.refunds_other),
               f.refunds_other == 0});
  c.push_back({"restore", "恢复后上传完毕", "drained after the restore", fmt::format("≤ {:.0f} s", o.drain_s),
               secs(f.drain_s), f.drain_s.has_value()});
  c.push_back({"reconciliation", "当日对账平", "the day balanced (recon.run)", "平",
               f.balanced ? (*f.balanced ? "平" : "不平") : "未完成：" + f.recon_error, f.balanced.value_or(false)});
  return c;
}

std::vector<Criterion> stay_criteria(const StayResult& st, const Options& o) {
  std::vector<Criterion> c;
  c.push_back({"baseline", "联网办理入院", "admitted online", "online", st.admit_mode, st.admit_mode == "online"});
  c.push_back({"baseline", "联网上传费用明细", "lines sent at once", "20 条", fmt::format("{} 条", st.lines_sent),
               st.lines_sent == 20});
  c.push_back({"outage", "断网期间费用暂存、撤销", "lines stored and cancelled while down", "暂存 20 条，撤销 1 条",
               fmt::format("暂存 {} 条，撤销 {} 条", st.lines_queued, st.cancelled), st.lines_queued == 20 && st.cancelled == 1});
  c.push_back({"outage", "断网出院离线结算", "discharge settled offline", fmt::format("offline，等待 ≤ {:.1f} s", o.max_wait_s),
               fmt::format("{}，等待 {:.2f} s", st.discharge_mode.empty() ? "—" : st.discharge_mode, st.discharge_wait_s),
               st.discharge_mode == "offline" && st.discharge_wait_s <= o.max_wait_s});
  c.push_back({"restore", "恢复后按序上传", "drained in order", fmt::format("≤ {:.0f} s", o.drain_s), secs(st.drain_s),
               st.drain_s.has_value()});
  c.push_back({"restore", "离线结算被医保中心确认", "settlement accepted", "offline_accepted",
               st.settlement_state.empty() ? "—" : st.settlement_state, st.settlement_state == "offline_accepted"});
  const std::int64_t live = st.lines_sent + st.lines_queued - st.cancelled;
  c.push_back({"restore", "医保中心有效明细与本院一致", "insurer's live lines", fmt::format("{} 条", live),
               st.insurer_live_lines < 0 ? std::string("—")
                                         : fmt::format("{} 条（{}）", st.insurer_live_lines, st.insurer_live_total),
               st.insurer_live_lines == live});
  c.push_back({"reconciliation", "当日对账平", "the day balanced (recon.run)", "平",
               st.balanced ? (*st.balanced ? "平" : "不平") : "—", st.balanced.value_or(false)});
  return c;
}

const char* phase_name(const std::string& phase) {
  if (phase == "baseline") return "断网前 baseline";
  if (phase == "cut") return "断网 cut";
  if (phase == "outage") return "断网期间 outage";
  if (phase == "restore") return "恢复 restore";
  return "对账 reconciliation";
}

Json criteria_json(const std::vector<Criterion>& cs) {
  Json out = Json::array();
  for (const Criterion& c : cs)
    out.push_back(Json{{"phase", c.phase}, {"check", c.english}, {"required", c.required}, {"measured", c.measured},
                       {"passed", c.ok}});
  return out;
}

// The adjustments of a fault in words: how much the insurer's fund differs
// from the offline estimate, what that means for the patients' cash, and why.
struct AdjustmentWords {
  Amount fund = Amount::zero(), cash = Amount::zero();  // insurer − estimate
  int no_fund = 0;  // estimated with a fund part, the insurer paid none
  std::string chinese, english;
};

AdjustmentWords adjustment_words(const FaultResult& f) {
  AdjustmentWords w;
  w.fund = f.adjustment_total;
  for (const AdjustmentSeen& a : f.adjusted) {
    w.cash += a.insurer_cash - a.local_cash;
    if (a.insurer_fund.is_zero() && a.local_fund.fen() > 0) ++w.no_fund;
  }
  if (f.adjustments == 0) {
    w.chinese = "无调整：医保中心核定的统筹基金与离线估算一致。";
    w.english = "No adjustment: the insurer's fund equals every offline estimate.";
    return w;
  }
  const bool lower = w.fund.fen() < 0;
  w.chinese = fmt::format(
      "{} 笔离线结算上传后，医保中心核定的统筹基金{}离线估算 {} 元（医保中心－估算 {}），患者应付现金相应{} {} 元："
      "患者在窗口按估算交了现金，差额由医保办入账（{}）。对账按医保中心核定的金额计入，所以当日仍然对平。",
      f.adjustments, lower ? "少于" : "多于", format_amount(lower ? Amount::zero() - w.fund : w.fund),
      format_amount(w.fund), w.cash.fen() >= 0 ? "增加" : "减少",
      format_amount(w.cash.fen() >= 0 ? w.cash : Amount::zero() - w.cash),
      lower ? "向患者补收，或由医院承担" : "退还患者");
  w.english = fmt::format(
      "{} offline settlement(s) were decided by the insurer with a fund {} the offline estimate by {} (insurer − "
      "estimate {}); the patients' cash share changes by {}. The day still balances: it counts the insurer's figures.",
      f.adjustments, lower ? "below" : "above", format_amount(lower ? Amount::zero() - w.fund : w.fund),
      format_amount(w.fund), format_amount(w.cash));
  if (f.annual_cap_settlements > 0 || w.no_fund > 0) {
    w.chinese += fmt::format(
        "原因：其中 {} 笔医保中心未支付统筹基金，本次另有 {} 笔结算提示参保人已达年度统筹基金封顶线（annual_cap）。"
        "演练用的参保人在演练中结算了数百次，门诊统筹基金年度累计达到封顶线（示例政策 310 门诊 20,000.00 元），"
        "此后统筹基金不再支付；离线估算使用的是红名单在第一次断网前同步时的年度累计，不知道此后已支付的基金，所以估算偏高。"
        "这是演练的结算量造成的，不是系统故障，不影响演练结论。",
        w.no_fund, f.annual_cap_settlements);
    w.english += fmt::format(
        " Cause: on {} of them the insurer paid no fund at all, and {} settlement(s) of this fault said the person's "
        "annual fund cap was reached. The drill's persons settle hundreds of times, so their year-to-date fund "
        "reaches the outpatient cap, after which the fund pays nothing; the offline estimate uses the year-to-date "
        "figures of the red list as synced before the first cut and does not know the fund paid since. An effect "
        "of the drill's volume, not a fault.",
        w.no_fund, f.annual_cap_settlements);
  } else {
    w.chinese += "原因：离线估算使用红名单同步时的起付线和年度累计；医保中心按上传时的累计核定，两次之间的结算会改变累计。";
    w.english += " Cause: the estimate uses the deductible and year-to-date figures of the red list's last sync; the "
                 "insurer uses its figures at the upload.";
  }
  return w;
}

}  // namespace

std::string report_text(const Report& r) {
  const Options& o = r.options;
  std::string t;
  t += "Outage drill of card settlement (个人账户持卡实时结算业务应急方案 断网演练)\n";
  t += fmt::format("Started   {}\nFinished  {}\n", r.started_at, r.finished_at);
  t += fmt::format("Stack     {}\n", r.stack.empty() ? "not reached" : r.stack);
  if (!r.redlist.empty()) t += fmt::format("Red list  {}\n", r.redlist);
  t += fmt::format("Scenarios {}\n", join(o.scenarios, ","));
  t += fmt::format("Settings  {} window(s), {:.1f} s per phase, faults {}, seed {}, drain limit {:.0f} s, "
                   "wait limit {:.1f} s, {}\n",
                   o.windows, o.phase_s, join(o.faults, ","), o.seed, o.drain_s, o.max_wait_s,
                   o.flush ? "uploads.flush at the restore" : "no uploads.flush");
  t += fmt::format("RESULT    {}\n", r.passed() ? "PASS" : "FAIL");
  for (const FaultResult& f : r.faults) {
    t += fmt::format("\nFault {}: {}\n", f.fault, fault_words(f.fault));
    row(t, "cut at", f.started_at);
    row(t, "time to detect the outage", secs(f.detect_s));
    row(t, "longest cashier wait (outage)", fmt::format("{:.2f} s", f.longest_wait_s));
    row(t, "settlements during the outage",
        fmt::format("{} (offline {}, online before detection {}, refused {})", f.outage_commits, f.outage_offline,
                    f.outage_online, f.outage_refused));
    row(t, "settlements made offline (all)",
        fmt::format("{} (accepted {}, rejected {}, still pending {}; reasons: network down {}, in doubt {})",
                    f.offline_settled, f.offline_accepted, f.offline_rejected, f.offline_pending,
                    f.offline_reason_network_down, f.offline_reason_in_doubt));
    row(t, "refunds refused while offline",
        fmt::format("{} (done online, the insurer answering: {}; unanswered, nothing refunded: {})",
                    f.refunds_refused_offline, f.refunds_online, f.refunds_unanswered));
    row(t, "reversals sent (冲正)", fmt::format("{}", f.reversals_sent));
    row(t, "drain time", secs(f.drain_s));
    row(t, "adjustments", fmt::format("{} (fund, insurer − estimate: {})", f.adjustments, format_amount(f.adjustment_total)));
    if (f.adjustments > 0) t += fmt::format("    {}\n", adjustment_words(f).english);
    row(t, "day balanced (recon.run)",
        f.balanced ? (*f.balanced ? "yes" : "NO") : "not known (" + f.recon_error + ")");
    for (const Json& day : f.recon) {  // the differences of a day that did not balance, up to 10
      const Json* d = json::find(day, "differences");
      if (d == nullptr || !d->is_array()) continue;
      std::size_t shown = 0;
      for (const Json& x : *d) {
        if (++shown > 10) {
          t += fmt::format("    ... {} more in the JSON report\n", d->size() - 10);
          break;
        }
        t += fmt::format("    {}\n", x.dump());
      }
    }
    row(t, "online before the cut", fmt::format("{} settlements, {} refunds, {} errors", f.baseline_commits,
                                                f.baseline_refunds, f.baseline_errors));
    for (const auto& [what, n] : f.baseline_reasons) t += fmt::format("    {} ×{}\n", what, n);
    if (!f.transitions.empty()) {
      std::string tr;
      for (const auto& [state, at] : f.transitions)
        tr += fmt::format("{}{} +{:.2f} s", tr.empty() ? "" : ", ", state, at);
      row(t, "line states after the cut", tr);
    }
    row(t, "result", f.passed() ? "PASS" : "FAIL");
    for (const auto& why : f.failures) t += fmt::format("    - {}\n", why);
  }
  if (r.stay.run) {
    const StayResult& st = r.stay;
    t += "\nInpatient stay: admitted online, lines across the outage, discharged offline, drained, reconciled\n";
    row(t, "stay (adm_id / insurer visit)", fmt::format("{} / {}", st.adm_id, st.mdtrt_id.empty() ? "—" : st.mdtrt_id));
    row(t, "admission", st.admit_mode);
    row(t, "lines", fmt::format("{} sent at once, {} stored while down, {} cancelled while down", st.lines_sent,
                                st.lines_queued, st.cancelled));
    row(t, "discharge (line down)", fmt::format("{}, total {} = fund {} + cash {}; the window waited {:.2f} s",
                                                st.discharge_mode, st.total, st.fund, st.cash, st.discharge_wait_s));
    row(t, "drain after the restore", secs(st.drain_s));
    row(t, "settlement after the drain", st.settlement_state.empty() ? "—" : st.settlement_state);
    row(t, "the insurer's live lines", st.insurer_live_lines < 0 ? std::string("—")
                                                                 : fmt::format("{} ({})", st.insurer_live_lines,
                                                                               st.insurer_live_total));
    row(t, "the day balanced (recon.run)", st.balanced ? (*st.balanced ? "yes" : "NO") : "—");
    row(t, "result", st.passed() ? "PASS" : "FAIL");
    for (const auto& why : st.failures) t += fmt::format("    - {}\n", why);
  } else if (o.inpatient) {
    t += "\nInpatient stay: not run (the drill stopped before it)\n";
  }
  for (const ScenarioResult& sc : r.scenarios) {
    t += fmt::format("\nScenario {}: {}\n", sc.name, scenario_words(sc.name));
    if (!sc.not_run.empty()) {
      row(t, "result", "NOT RUN: " + sc.not_run);
      continue;
    }
    row(t, "started at", sc.started_at);
    for (const auto& x : sc.done) row(t, "done", x);
    for (const auto& x : sc.happened) row(t, "happened", x);
    for (const auto& x : sc.recovered) row(t, "recovered", x);
    row(t, "waits (" + sc.waits_of + ")",
        fmt::format("{} calls, max {:.2f} s, p50 {:.2f} s, p90 {:.2f} s, p99 {:.2f} s, {} errors", sc.waits.calls,
                    sc.waits.max_s, sc.waits.p50_s, sc.waits.p90_s, sc.waits.p99_s, sc.waits.errors));
    row(t, "recovery time", secs(sc.recovery_s));
    for (const Check& c : sc.checks)
      t += fmt::format("    [{}] {}: {} (required {})\n", c.ok ? "PASS" : "FAIL", c.english, c.measured, c.required);
    row(t, "result", sc.passed() ? "PASS" : "FAIL");
    for (const auto& why : sc.failures) t += fmt::format("    - {}\n", why);
  }
  if (!r.failures.empty()) {
    t += "\nThe drill itself:\n";
    for (const auto& why : r.failures) t += fmt::format("  - {}\n", why);
  }
  return t;
}

namespace {
Json adjustments_json(const FaultResult& f) {
  Json items = Json::array();
  for (const AdjustmentSeen& a : f.adjusted)
    items.push_back(Json{{"setl_id", a.setl_id},
                         {"local_fund", format_amount(a.local_fund)},
                         {"insurer_fund", format_amount(a.insurer_fund)},
                         {"local_cash", format_amount(a.local_cash)},
                         {"insurer_cash", format_amount(a.insurer_cash)},
                         {"note", a.note}});
  const AdjustmentWords w = adjustment_words(f);
  return Json{{"count", f.adjustments},
              {"total", format_amount(f.adjustment_total)},
              {"cash_total", format_amount(w.cash)},
              {"annual_cap_settlements", f.annual_cap_settlements},
              {"insurer_fund_zero", w.no_fund},
              {"explanation", w.english},
              {"explanation_zh", w.chinese},
              {"items", items}};
}

Json stay_json(const StayResult& st, const Options& o) {
  if (!st.run) return Json();
  return Json{{"adm_id", st.adm_id},
              {"mdtrt_id", st.mdtrt_id},
              {"admit_mode", st.admit_mode},
              {"lines_sent", st.lines_sent},
              {"lines_queued", st.lines_queued},
              {"cancelled", st.cancelled},
              {"discharge", Json{{"mode", st.discharge_mode},
                                 {"wait_s", st.discharge_wait_s},
                                 {"total", st.total},
                                 {"fund", st.fund},
                                 {"cash", st.cash}}},
              {"drain_s", st.drain_s ? Json(*st.drain_s) : Json()},
              {"settlement_state", st.settlement_state},
              {"insurer_live_lines", st.insurer_live_lines},
              {"insurer_live_total", st.insurer_live_total},
              {"balanced", st.balanced ? Json(*st.balanced) : Json()},
              {"passed", st.passed()},
              {"criteria", criteria_json(stay_criteria(st, o))},
              {"failures", st.failures}};
}
}  // namespace

Json report_json(const Report& r) {
  const Options& o = r.options;
  Json faults = Json::array();
  for (const FaultResult& f : r.faults) {
    Json tr = Json::array();
    for (const auto& [state, at] : f.transitions) tr.push_back(Json{{"network", state}, {"at_s", at}});
    Json j{{"fault", f.fault},
           {"cut_at", f.started_at},
           {"detect_s", f.detect_s ? Json(*f.detect_s) : Json()},
           {"longest_wait_s", f.longest_wait_s},
           {"outage", Json{{"commits", f.outage_commits},
                           {"offline", f.outage_offline},
                           {"online", f.outage_online},
                           {"refused", f.outage_refused},
                           {"refused_reasons", f.refused_reasons},
                           {"refunds_refused_offline", f.refunds_refused_offline},
                           {"refunds_online", f.refunds_online},
                           {"refunds_unanswered", f.refunds_unanswered},
                           {"refunds_not_refused", f.refunds_other}}},
           {"offline_settlements", Json{{"made", f.offline_settled},
                                        {"accepted", f.offline_accepted},
                                        {"rejected", f.offline_rejected},
                                        {"pending", f.offline_pending},
                                        {"reason_network_down", f.offline_reason_network_down},
                                        {"reason_in_doubt", f.offline_reason_in_doubt}}},
           {"reversals_sent", f.reversals_sent},
           {"drain_s", f.drain_s ? Json(*f.drain_s) : Json()},
           {"status_after_drain", f.drain_status},
           {"adjustments", adjustments_json(f)},
           {"criteria", criteria_json(fault_criteria(f, o))},
           {"balanced", f.balanced ? Json(*f.balanced) : Json()},
           {"recon", f.recon},
           {"recon_error", f.recon_error},
           {"baseline", Json{{"commits", f.baseline_commits},
                             {"refunds", f.baseline_refunds},
                             {"errors", f.baseline_errors},
                             {"error_reasons", f.baseline_reasons}}},
           {"transitions", tr},
           {"passed", f.passed()},
           {"failures", f.failures}};
    faults.push_back(std::move(j));
  }
  Json scenarios = Json::array();
  for (const ScenarioResult& sc : r.scenarios) {
    Json checks = Json::array();
    for (const Check& c : sc.checks)
      checks.push_back(Json{{"check", c.english}, {"required", c.required}, {"measured", c.measured}, {"passed", c.ok}});
    scenarios.push_back(Json{{"scenario", sc.name},
                             {"run", sc.run},
                             {"not_run", sc.not_run},
                             {"started_at", sc.started_at},
                             {"done", sc.done},
                             {"happened", sc.happened},
                             {"recovered", sc.recovered},
                             {"waits", Json{{"of", sc.waits_of},
                                            {"calls", sc.waits.calls},
                                            {"errors", sc.waits.errors},
                                            {"error_reasons", sc.waits.reasons},
                                            {"max_s", sc.waits.max_s},
                                            {"p50_s", sc.waits.p50_s},
                                            {"p90_s", sc.waits.p90_s},
                                            {"p99_s", sc.waits.p99_s}}},
                             {"recovery_s", sc.recovery_s ? Json(*sc.recovery_s) : Json()},
                             {"criteria", checks},
                             {"passed", sc.passed()},
                             {"failures", sc.failures}});
  }
  return Json{{"drill", "outage"},
              {"time_zone", "+08:00"},
              {"started_at", r.started_at},
              {"finished_at", r.finished_at},
              {"stack", r.stack},
              {"redlist", r.redlist},
              {"options", Json{{"windows", o.windows},
                               {"phase_s", o.phase_s},
                               {"drain_s", o.drain_s},
                               {"max_wait_s", o.max_wait_s},
                               {"faults", o.faults},
                               {"seed", o.seed},
                               {"flush", o.flush},
                               {"inpatient", o.inpatient},
                               {"attach", o.attach},
                               {"scenarios", o.scenarios},
                               {"allow_disruptive", o.allow_disruptive}}},
              {"passed", r.passed()},
              {"faults", faults},
              {"not_run", r.not_run},
              {"stay", stay_json(r.stay, o)},
              {"scenarios", scenarios},
              {"failures", r.failures}};
}

}  // namespace settle::drill

namespace settle::drill {
namespace {

using daemon::html::cell;
using daemon::html::display_time;
using daemon::html::esc;

const char* fault_chinese(const std::string& kind) {
  if (kind == "refuse") return "拒绝连接（线路中断）";
  if (kind == "stall") return "请求无应答（线路停滞）";
  if (kind == "lost_reply") return "已处理但应答丢失（单边账）";
  return "模拟故障";
}

constexpr std::string_view kDrillCss =
    ".en { font-size: 0.8em; color: #333; }\n"
    "th .en { font-weight: normal; }\n"
    ".grid { font-size: 0.86em; margin-top: 0.5mm; }\n"
    ".grid th, .grid td { padding: 0.4mm 0.8mm; vertical-align: top; }\n"
    ".grid thead { display: table-header-group; }\n"
    ".grid td.w { word-break: break-all; }\n"
    ".result { text-align: center; font-size: 1.25em; font-weight: bold; margin: 1.5mm 0; padding: 1mm;"
    " border: 0.4mm solid #000; }\n"
    ".bad { font-weight: bold; }\n"
    ".para { margin: 1mm 0; font-size: 0.92em; }\n"
    ".fail { margin: 0.5mm 0; padding-left: 4.5mm; font-size: 0.9em; }\n"
    ".sign { margin-top: 10mm; }\n"
    ".foot { break-inside: avoid; }\n";

void criteria_table(std::string& h, const std::vector<Criterion>& cs, bool phases = true) {
  h += "<table class=\"grid\">\n<thead><tr>";
  if (phases) h += "<th>阶段<br><span class=\"en\">phase</span></th>";
  h += "<th>检查项<br><span class=\"en\">check</span></th><th>标准<br><span class=\"en\">required</span></th>"
       "<th>实测<br><span class=\"en\">measured</span></th><th>结果<br><span class=\"en\">result</span></th></tr></thead>\n"
       "<tbody>\n";
  for (const Criterion& c : cs)
    h += fmt::format("<tr>{}<td>{}<br><span class=\"en\">{}</span></td><td>{}</td>"
                     "<td class=\"w\">{}</td><td class=\"c{}\">{}</td></tr>\n",
                     phases ? fmt::format("<td class=\"c\">{}</td>", phase_name(c.phase)) : std::string(), esc(c.chinese), esc(c.english), esc(c.required), esc(c.measured),
                     c.ok ? "" : " bad", c.ok ? "通过" : "未通过");
  h += "</tbody>\n</table>\n";
}

void failures_list(std::string& h, const std::vector<std::string>& failures) {
  if (failures.empty()) return;
  h += "<div class=\"para bad\">未通过的原因 <span class=\"en\">why it failed</span>：</div>\n<ul class=\"fail\">\n";
  for (const std::string& why : failures) h += fmt::format("<li>{}</li>\n", esc(why));
  h += "</ul>\n";
}

void fault_html(std::string& h, std::size_t n, const FaultResult& f, const Options& o) {
  h += fmt::format("<div class=\"section\">{}、故障 {}：{} <span class=\"en\">fault {}</span>　{}</div>\n", n,
                   esc(f.fault), fault_chinese(f.fault), esc(f.fault), f.passed() ? "通过 PASS" : "未通过 FAIL");
  h += fmt::format("<div class=\"para\">断网时间 <span class=\"en\">cut at</span>：{}（北京时间）　线路状态 "
                   "<span class=\"en\">line states</span>：",
                   cell(display_time(f.started_at)));
  std::string tr;
  for (const auto& [state, at] : f.transitions) tr += fmt::format("{}{} +{:.2f} s", tr.empty() ? "" : "，", esc(state), at);
  h += (tr.empty() ? std::string("—") : tr) + "</div>\n";
  criteria_table(h, fault_criteria(f, o));
  h += fmt::format("<div class=\"para\">离线结算 <span class=\"en\">offline settlements</span>：共 {} 笔，医保中心接受 {}，"
                   "拒绝 {}，待确认 {}；离线原因：网络中断 {} 笔，应答不明（已冲正）{} 笔。冲正 <span class=\"en\">reversals "
                   "sent</span>：{} 笔。</div>\n",
                   f.offline_settled, f.offline_accepted, f.offline_rejected, f.offline_pending,
                   f.offline_reason_network_down, f.offline_reason_in_doubt, f.reversals_sent);
  const AdjustmentWords w = adjustment_words(f);
  h += fmt::format("<div class=\"para\"><b>调整 adjustments：{} 笔，统筹基金（医保中心－估算）{}，现金 {}。</b>{}<br>"
                   "<span class=\"en\">{}</span></div>\n",
                   f.adjustments, format_amount(w.fund), format_amount(w.cash), esc(w.chinese), esc(w.english));
  if (!f.adjusted.empty()) {
    constexpr std::size_t kShown = 10;
    h += "<table class=\"grid\">\n<thead><tr><th>本院结算号</th><th>估算统筹基金<br><span class=\"en\">estimate</span></th>"
         "<th>医保中心统筹基金<br><span class=\"en\">insurer</span></th><th>差额<br><span class=\"en\">difference</span></th>"
         "<th>估算现金</th><th>医保中心现金</th></tr></thead>\n<tbody>\n";
    for (std::size_t i = 0; i < f.adjusted.size() && i < kShown; ++i) {
      const AdjustmentSeen& a = f.adjusted[i];
      h += fmt::format("<tr><td class=\"c\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
                       "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                       cell(a.setl_id), format_amount(a.local_fund), format_amount(a.insurer_fund),
                       format_amount(a.insurer_fund - a.local_fund), format_amount(a.local_cash),
                       format_amount(a.insurer_cash));
    }
    h += "</tbody>\n</table>\n";
    if (f.adjusted.size() > kShown)
      h += fmt::format("<div class=\"para\">另有 {} 笔见 JSON 报告（faults[].adjustments.items）。</div>\n",
                       f.adjusted.size() - kShown);
  }
  failures_list(h, f.failures);
}

}  // namespace

std::string html_path(const std::string& out) {
  if (out.size() > 4 && out.compare(out.size() - 4, 4, ".txt") == 0) return out.substr(0, out.size() - 4) + ".html";
  return out + ".html";
}

std::string report_html(const Report& r) {
  const Options& o = r.options;
  // The hospital as the daemon's config names it (recon.run answers with it).
  std::string name, code;
  for (const FaultResult& f : r.faults)
    for (const Json& day : f.recon)
      if (const Json* hosp = json::find(day, "hospital"); hosp != nullptr && hosp->is_object() && name.empty()) {
        name = daemon::html::text_of(*hosp, "name");
        code = daemon::html::text_of(*hosp, "code");
      }
  std::string h = daemon::html::document_head({"A4", name.empty() ? std::string("—") : name, code}, "断网应急演练报告",
                                              "断网应急演练 " + display_time(r.started_at).substr(0, 10),
                                              {daemon::html::kFootCss, kDrillCss});
  h += "<div class=\"c en\">Outage drill of card settlement (个人账户持卡实时结算业务应急方案)</div>\n";
  h += fmt::format("<div class=\"result\">演练结果：{}</div>\n",
                   r.passed() ? "通过 <span class=\"en\">PASS</span>" : "未通过 <span class=\"en\">FAIL</span>");
  std::vector<daemon::html::Field> fields;
  fields.push_back({"开始时间 <span class=\"en\">started</span>", cell(display_time(r.started_at)) + "（北京时间）"});
  fields.push_back({"结束时间 <span class=\"en\">finished</span>", cell(display_time(r.finished_at)) + "（北京时间）"});
  fields.push_back({"收费窗口 <span class=\"en\">windows</span>", fmt::format("{} 个", o.windows)});
  fields.push_back({"每阶段时长 <span class=\"en\">per phase</span>", fmt::format("{:.1f} s", o.phase_s)});
  fields.push_back({"场景 <span class=\"en\">scenarios</span>", esc(join(o.scenarios, ", "))});
  fields.push_back({"故障 <span class=\"en\">faults</span>", esc(join(o.faults, ", "))});
  fields.push_back({"等待上限 <span class=\"en\">wait limit</span>", fmt::format("{:.1f} s", o.max_wait_s)});
  fields.push_back({"红名单 <span class=\"en\">red list</span>", cell(r.redlist)});
  fields.push_back({"环境 <span class=\"en\">stack</span>", cell(r.stack.empty() ? "not reached" : r.stack)});
  daemon::html::fields_table(h, fields);
  h += "<div class=\"para\">每个故障依次经过：断网前联网结算（baseline）、切断医保线路（cut）、断网期间各窗口继续结算"
       "（outage，离线结算，退费须被拒绝）、恢复线路并上传暂存业务（restore）、窗口暂停后对当日账（reconciliation）。"
       "下表列出每个阶段的通过标准和实测结果；全部通过，该故障才算通过。</div>\n";
  std::size_t n = 0;
  for (const FaultResult& f : r.faults) fault_html(h, ++n, f, o);
  for (const std::string& f : r.not_run)
    h += fmt::format("<div class=\"para bad\">故障 {} 未进行（前一故障后线路未恢复）。</div>\n", esc(f));
  if (r.stay.run) {
    h += fmt::format("<div class=\"section\">{}、住院跨断网 <span class=\"en\">inpatient stay across an outage</span>　{}</div>\n",
                     ++n, r.stay.passed() ? "通过 PASS" : "未通过 FAIL");
    h += fmt::format("<div class=\"para\">住院号 adm_id {}，医保就诊号 {}；出院离线结算：总费用 {} ＝ 统筹基金 {} ＋ 现金 {}。</div>\n",
                     cell(r.stay.adm_id), cell(r.stay.mdtrt_id), cell(r.stay.total), cell(r.stay.fund),
                     cell(r.stay.cash));
    criteria_table(h, stay_criteria(r.stay, o));
    failures_list(h, r.stay.failures);
  } else if (o.inpatient) {
    h += "<div class=\"para\">住院场景未进行（演练在此之前停止）。</div>\n";
  }
  for (const ScenarioResult& sc : r.scenarios) {
    h += fmt::format("<div class=\"section\">{}、{} <span class=\"en\">scenario {}</span>　{}</div>\n", ++n,
                     scenario_chinese(sc.name), esc(sc.name),
                     !sc.not_run.empty() ? "未进行 NOT RUN" : sc.passed() ? "通过 PASS" : "未通过 FAIL");
    if (!sc.not_run.empty()) {
      h += fmt::format("<div class=\"para\">未进行 <span class=\"en\">not run</span>：{}</div>\n", esc(sc.not_run));
      continue;
    }
    const auto lines = [&h](const char* zh, const char* en, const std::vector<std::string>& v) {
      if (v.empty()) return;
      h += fmt::format("<div class=\"para\">{} <span class=\"en\">{}</span>：</div>\n<ul class=\"fail\">\n", zh, en);
      for (const auto& x : v) h += fmt::format("<li>{}</li>\n", esc(x));
      h += "</ul>\n";
    };
    lines("操作", "what was done", sc.done);
    lines("现象", "what happened", sc.happened);
    lines("恢复", "what was recovered", sc.recovered);
    h += fmt::format("<div class=\"para\">窗口等待 <span class=\"en\">waits</span>（{}）：{} 笔，最长 {:.2f} s，"
                     "p50 {:.2f} s，p90 {:.2f} s，p99 {:.2f} s，错误 {}；恢复用时 <span class=\"en\">recovery</span>：{}</div>\n",
                     esc(sc.waits_of), sc.waits.calls, sc.waits.max_s, sc.waits.p50_s, sc.waits.p90_s, sc.waits.p99_s,
                     sc.waits.errors, secs(sc.recovery_s));
    std::vector<Criterion> cs;
    for (const Check& c : sc.checks) cs.push_back({"restore", c.chinese, c.english, c.required, c.measured, c.ok});
    criteria_table(h, cs, false);
    failures_list(h, sc.failures);
  }
  if (!r.failures.empty()) {
    h += "<div class=\"section\">演练本身的问题 <span class=\"en\">the drill itself</span></div>\n";
    failures_list(h, r.failures);
  }
  h += "<div class=\"foot\">\n<div>本报告由演练程序生成，时间均为北京时间（UTC+8）。未通过的项目按 docs/drill.md"
       "“When the drill fails”处理；调整由医保办逐笔入账。演练负责人填写经办人，医保办复核后签字存档。</div>\n";
  h += "<div class=\"sign\"><span>经办人 <span class=\"en\">prepared by</span>：____________</span>"
       "<span>复核人 <span class=\"en\">checked by</span>：____________</span>"
       "<span>日期 <span class=\"en\">date</span>：____________</span></div>\n";
  h += "</div>\n</body>\n</html>\n";
  return h;
}

}  // namespace settle::drill
