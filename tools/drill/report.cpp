// The drill's report for the insurance office: one text page (per fault:
// detection, longest wait, offline settlements, reversals, drain,
// adjustments, whether the day balanced, and why a fault failed; then the
// inpatient stay across an outage) and JSON.
#include "tools/drill/drill.hpp"

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

}  // namespace

std::string report_text(const Report& r) {
  const Options& o = r.options;
  std::string t;
  t += "Outage drill of card settlement (个人账户持卡实时结算业务应急方案 断网演练)\n";
  t += fmt::format("Started   {}\nFinished  {}\n", r.started_at, r.finished_at);
  t += fmt::format("Stack     {}\n", r.stack.empty() ? "not reached" : r.stack);
  if (!r.redlist.empty()) t += fmt::format("Red list  {}\n", r.redlist);
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
  if (!r.failures.empty()) {
    t += "\nThe drill itself:\n";
    for (const auto& why : r.failures) t += fmt::format("  - {}\n", why);
  }
  return t;
}

namespace {
Json stay_json(const StayResult& st) {
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
           {"adjustments", Json{{"count", f.adjustments}, {"total", format_amount(f.adjustment_total)}}},
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
  return Json{{"drill", "outage"},
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
                               {"attach", o.attach}}},
              {"passed", r.passed()},
              {"faults", faults},
              {"not_run", r.not_run},
              {"stay", stay_json(r.stay)},
              {"failures", r.failures}};
}

}  // namespace settle::drill
