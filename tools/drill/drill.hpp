// The outage drill (断网应急演练): its options, what it measures per fault of
// the insurer line and per scenario of the emergency plan, the pass/fail
// verdict, and the report written for the insurance office (text, JSON, HTML).
// The runner is drill.cpp (scenario.cpp the scenarios), the report report.cpp.
#pragma once

#include "engine/money.hpp"
#include "protocol/json.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace settle::drill {

using json::Json;

struct Options {
  int windows = 2;                 // cashier windows (connections) settling
  double phase_s = 10;             // online baseline and outage, each
  double drain_s = 60;             // longest wait for the drain after a restore
  double max_wait_s = 5;           // longest acceptable cashier wait during an outage
  std::vector<std::string> faults = {"refuse", "stall", "lost_reply"};
  std::string out;                 // the text report; the JSON next to it (.json)
  std::uint64_t seed = 1;
  bool flush = true;               // uploads.flush at the restore (and every second of the drain)
  bool inpatient = true;           // the inpatient scenario after the faults (--no-inpatient: left out)
  // --attach: a running daemon and simulator instead of starting them.
  bool attach = false;
  std::string socket;              // the daemon's cashier socket
  std::uint16_t control_port = 0;  // the simulator's control endpoint on 127.0.0.1
  std::vector<std::string> window_names;  // default W01, W02 (alternating)
  std::string cashier = "c001", cashier_password;
  std::string supervisor = "s001", supervisor_password;
  std::string pin;                 // the drill cards' PIN ("" settles without the account)
  // The scenarios of the emergency plan, in order (scenario.cpp): line (the
  // insurer faults above and the inpatient stay), network, reader, daemon, disk.
  std::vector<std::string> scenarios = {"line", "network", "reader", "daemon", "disk"};
  // --attach: `daemon` kills and restarts a production daemon; refused unless
  // this is set, and then with the two commands that do it.
  bool allow_disruptive = false;
  std::string daemon_kill_command, daemon_start_command;
  std::string ledger;              // --attach: the ledger file to verify (read-only, beside the daemon)
};

// Every scenario's name, in the order a drill runs them.
const std::vector<std::string>& scenario_names();

// One cashier call as the window saw it.
struct Call {
  // "baseline" (answered before the cut), "outage" (sent before the restore,
  // answered after the cut), "recovery" (sent after the restore).
  std::string phase;
  std::string method;  // settle.commit, settle.refund, card (card.read / card.verify_pin)
  std::chrono::steady_clock::time_point sent, answered;
  double wait_s = 0;   // from sending to the answer
  bool ok = false;
  std::string reason;  // the error's reason
  std::string mode;    // settle.commit: online / offline
  std::string state;
  std::string setl_id;
  std::vector<std::string> reasons;  // the settlement's reasons
};

// One adjustment of an offline settlement (settle.get → adjustments): the
// insurer's figures against the daemon's offline estimate.
struct AdjustmentSeen {
  std::string setl_id;
  Amount local_fund = Amount::zero(), insurer_fund = Amount::zero();
  Amount local_cash = Amount::zero(), insurer_cash = Amount::zero();
  std::string note;
};

struct FaultResult {
  std::string fault;
  std::string started_at;  // ISO time of the cut
  std::optional<double> detect_s;    // cut → network.changed offline
  std::vector<std::pair<std::string, double>> transitions;  // network.changed after the cut
  double longest_wait_s = 0;         // during the outage (settle.commit and refunds)
  int outage_commits = 0, outage_offline = 0, outage_online = 0, outage_refused = 0;
  std::map<std::string, int> refused_reasons;
  int offline_reason_network_down = 0, offline_reason_in_doubt = 0;
  // Refunds sent during the outage: refused as offline (what the plan asks),
  // done online (the insurer answered it: the daemon had seen the line answer
  // again, e.g. a reversal during a lost-reply fault), or anything else.
  // Unanswered: tried while the daemon still took the line for up, the call
  // got no answer (INSURER_UNREACHABLE, or IN_DOUBT and reversed): nothing refunded.
  int refunds_refused_offline = 0, refunds_online = 0, refunds_unanswered = 0, refunds_other = 0;
  int reversals_sent = 0;            // acknowledged at the insurer (its report)
  int baseline_commits = 0, baseline_refunds = 0, baseline_errors = 0;
  std::map<std::string, int> baseline_reasons;
  std::optional<double> drain_s;     // restore → online, nothing pending
  Json drain_status;                 // engine.status at the end of the wait
  int offline_settled = 0;           // offline settlements of this fault, as settle.get says
  int offline_accepted = 0, offline_rejected = 0, offline_pending = 0;
  int adjustments = 0;
  Amount adjustment_total = Amount::zero();
  std::vector<AdjustmentSeen> adjusted;  // each adjustment, for the report's explanation
  // Settlements of the fault (online or offline, as the daemon answered) whose
  // reasons say the person's annual fund cap was reached (annual_cap_*).
  int annual_cap_settlements = 0;
  std::optional<bool> balanced;      // recon.run
  Json recon;                        // its result, or the error
  std::string recon_error;
  std::vector<std::string> failures; // why it did not pass, each with what to do
  bool passed() const { return failures.empty(); }
};

// The inpatient scenario: a stay admitted online at the first window, a
// batch of lines online, the line cut, a batch and a cancellation stored,
// the discharge settled offline, the line back, the stay drained in order,
// the insurer's visit checked against the ledger, the day reconciled.
struct StayResult {
  bool run = false;
  std::string adm_id, mdtrt_id;
  std::string admit_mode;          // online expected
  int lines_sent = 0;              // taken by the insurer at once (line up)
  int lines_queued = 0;            // stored while the line was down
  int cancelled = 0;
  std::string discharge_mode;      // offline expected
  double discharge_wait_s = 0;     // the discharge window's wait, line down
  std::string total, fund, cash;   // the offline discharge settlement
  std::string settlement_state;    // after the drain: offline_accepted expected
  std::optional<double> drain_s;   // restore → the stay with nothing pending
  std::int64_t insurer_live_lines = -1;
  std::string insurer_live_total;
  std::optional<bool> balanced;    // recon.run of the day
  std::vector<std::string> failures;
  bool passed() const { return run && failures.empty(); }
};

// One pass criterion of a scenario: what is checked, the limit, the figure
// measured and whether it was met.
struct Check {
  std::string chinese;   // 检查项
  std::string english;
  std::string required;  // 标准
  std::string measured;  // 实测
  bool ok = false;
};

// How long the cashier windows waited while a scenario's fault lasted: every
// call of the windows kept settling, from sending to the answer.
struct Waits {
  int calls = 0, errors = 0;
  double max_s = 0, p50_s = 0, p90_s = 0, p99_s = 0;
  std::map<std::string, int> reasons;  // of the calls that failed
};

// A scenario other than `line`: what was done, what happened, what was
// recovered, the waits, and its criteria.
struct ScenarioResult {
  std::string name;                  // network, reader, daemon, disk
  bool run = false;
  std::string not_run;               // why it was left out (--attach, no shim)
  std::string started_at;
  std::vector<std::string> done, happened, recovered;
  Waits waits;                       // the windows settling meanwhile
  std::string waits_of;              // which windows and when
  std::optional<double> recovery_s;  // fault lifted → served again
  std::vector<Check> checks;
  std::vector<std::string> failures; // the scenario could not be carried out
  bool passed() const;
};

struct Report {
  Options options;
  std::string started_at, finished_at;
  std::string stack;  // how the daemon and simulator were reached
  std::string redlist;  // the red-list sync before the first fault
  std::vector<FaultResult> faults;
  std::vector<std::string> failures;  // of the drill as a whole (bring-up, tool errors)
  std::vector<std::string> not_run;   // faults left out after a line that did not come back
  StayResult stay;                    // run unless --no-inpatient
  std::vector<ScenarioResult> scenarios;  // network, reader, daemon, disk as asked
  bool passed() const;
};

// Progress as it happens, one line per phase started or ended, with its
// counts (the command line prints them on stderr); never part of the report.
using Progress = std::function<void(const std::string& line)>;

// Runs the drill: brings up (or attaches to) the stack, runs each fault, and
// fills the report. Errors of the drill itself land in report.failures.
Report run(const Options& o, const Progress& progress = {});

std::string report_text(const Report& r);
Json report_json(const Report& r);
// The A4 page for the insurance office (tools/drill/report.cpp) and its file
// name next to the text report.
std::string report_html(const Report& r);
std::string html_path(const std::string& out);

}  // namespace settle::drill
