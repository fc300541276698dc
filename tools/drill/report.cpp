// The drill's report for the insurance office: one text page (per fault:
// detection, longest wait, offline settlements, reversals, drain,
// adjustments, whether the day balanced, and why a fault failed) and JSON.
#include "tools/drill/drill.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace settle::drill {

namespace {

std::string secs(const std::optional<double>& s) { return s ? fmt::format("{:.2f} s", *s) : std::string("—"); }

const char* fault_words(const std::string& kind) {
  if (kind == "refuse") return "the insurer refuses connections (line down)";
  if (kind == "stall") return "the insurer reads requests and never answers";
  if (kind == "lost_reply") return "the insurer does the work, the reply is lost (单边账)";
  return "simulator fault";
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
  t += fmt::format("Settings  {} window(s), {:.1f} s per phase, faults {}, seed {}, drain limit {:.0f} s, "
                   "wait limit {:.1f} s\n",
                   o.windows, o.phase_s, join(o.faults, ","), o.seed, o.drain_s, o.max_wait_s);
  t += fmt::format("RESULT    {}\n", r.passed() ? "PASS" : "FAIL");
  for (const FaultResult& f : r.faults) {
    t += fmt::format("\nFault {}: {}\n", f.fault, fault_words(f.fault));
    t += fmt::format("  cut at                              {}\n", f.started_at);
    t += fmt::format("  time to detect the outage           {}\n", secs(f.detect_s));
    t += fmt::format("  longest cashier wait (outage)       {:.2f} s\n", f.longest_wait_s);
    t += fmt::format("  settlements during the outage       {} (offline {}, online before detection {}, refused {})\n",
                     f.outage_commits, f.outage_offline, f.outage_online, f.outage_refused);
    t += fmt::format("  settlements made offline (all)      {} (accepted {}, rejected {}, still pending {}; "
                     "reasons: network down {}, in doubt {})\n",
                     f.offline_settled, f.offline_accepted, f.offline_rejected, f.offline_pending,
                     f.offline_reason_network_down, f.offline_reason_in_doubt);
    t += fmt::format("  refunds refused while offline       {}\n", f.refunds_refused_offline);
    t += fmt::format("  reversals sent (冲正, acknowledged)  {}\n", f.reversals_sent);
    t += fmt::format("  drain time (restore → online, 0 pending) {}\n", secs(f.drain_s));
    t += fmt::format("  adjustments                         {} (total {})\n", f.adjustments,
                     format_amount(f.adjustment_total));
    std::string balanced = f.balanced ? (*f.balanced ? "yes" : "NO") : "not known (" + f.recon_error + ")";
    t += fmt::format("  day balanced (recon.run)            {}\n", balanced);
    t += fmt::format("  online before the cut               {} settlements, {} refunds, {} errors\n",
                     f.baseline_commits, f.baseline_refunds, f.baseline_errors);
    for (const auto& [what, n] : f.baseline_reasons) t += fmt::format("    {} ×{}\n", what, n);
    if (!f.transitions.empty()) {
      std::string tr;
      for (const auto& [state, at] : f.transitions) tr += fmt::format("{}{} +{:.2f} s", tr.empty() ? "" : ", ", state, at);
      t += fmt::format("  line states after the cut           {}\n", tr);
    }
    t += fmt::format("  result                              {}\n", f.passed() ? "PASS" : "FAIL");
    for (const auto& why : f.failures) t += fmt::format("    - {}\n", why);
  }
  if (!r.failures.empty()) {
    t += "\nThe drill itself:\n";
    for (const auto& why : r.failures) t += fmt::format("  - {}\n", why);
  }
  return t;
}

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
              {"options", Json{{"windows", o.windows},
                               {"phase_s", o.phase_s},
                               {"drain_s", o.drain_s},
                               {"max_wait_s", o.max_wait_s},
                               {"faults", o.faults},
                               {"seed", o.seed},
                               {"attach", o.attach}}},
              {"passed", r.passed()},
              {"faults", faults},
              {"not_run", r.not_run},
              {"failures", r.failures}};
}

}  // namespace settle::drill
