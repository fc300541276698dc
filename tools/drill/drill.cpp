// The outage drill's runner: brings up (or attaches to) insurer-sim, pcscd
// with virtual cards and settled, keeps N cashier windows settling and
// refunding, cuts the insurer line with each simulator fault, and measures
// detection, cashier waits, offline work, drain and the day's reconciliation;
// then a stay across an outage (admitted online, discharged offline, drained);
// then the plan's other scenarios (scenario.cpp).
#include "tools/drill/drill.hpp"

#include "tools/drill/support.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

namespace settle::drill {

namespace {

using settle::testing::PersonSpec;
using settle::testing::RpcClient;
using settle::testing::Stack;
using settle::tools::CashierClient;
using settle::tools::RpcAnswer;

// What the windows share with the conductor (the main thread).
struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::string phase = "baseline";
  Clock::time_point cut = Clock::now();
  bool offline_seen = false;  // network.changed offline received for this outage
  bool paused = false;        // windows hold still (reconciliation)
  int busy = 0;               // windows inside a visit
  bool stop = false;
  std::vector<Call> calls;
  std::vector<std::string> errors;  // a window that could not work at all
  std::uint64_t visits = 0;
};

// One cashier window: card, PIN, settle; now and then a refund of an earlier
// online settlement; during a detected outage one refund try per window,
// which the plan says must be refused (断网不能退费).
void window_loop(int k, const std::string& window, const Options& o, const std::string& socket,
                 const std::string& pin, Shared& sh) {
  std::optional<CashierClient> c;
  try {
    c.emplace(login(socket, o.cashier, o.cashier_password, window));
  } catch (const std::exception& e) {
    std::lock_guard lk(sh.mu);
    sh.errors.push_back(fmt::format("window {}: {}", window, e.what()));
    return;
  }
  std::mt19937_64 rng(o.seed * 1000 + static_cast<std::uint64_t>(k));
  auto pick = [&rng](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  std::vector<std::pair<std::string, Json>> refundable;  // online settlements and their lines
  std::string refund_tried_for;  // the outage (cut time) a refund was tried in
  const std::string run_tag = fmt::format("{}-{}", ::getpid(), o.seed);
  for (int n = 0;; ++n) {
    if (n > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pick(50, 250)));  // the next patient steps up
    std::string phase;
    Clock::time_point cut;
    bool offline_seen = false;
    {
      std::unique_lock lk(sh.mu);
      sh.cv.wait(lk, [&] { return sh.stop || !sh.paused; });
      if (sh.stop) return;
      ++sh.busy;
      phase = sh.phase;
      cut = sh.cut;
      offline_seen = sh.offline_seen;
    }
    // The visit ends here however it ends (also by an exception).
    struct VisitDone {
      Shared& sh;
      ~VisitDone() {
        {
          std::lock_guard lk(sh.mu);
          --sh.busy;
          ++sh.visits;
        }
        sh.cv.notify_all();
      }
    } visit_done{sh};
    auto record = [&](Call call) {
      std::lock_guard lk(sh.mu);
      sh.calls.push_back(std::move(call));
    };
    auto timed = [&](const char* method, const Json& params, std::chrono::milliseconds timeout, Call& out) {
      const auto t0 = Clock::now();
      RpcAnswer a = call(*c, method, params, timeout);
      out.method = method;
      out.sent = t0;
      out.answered = Clock::now();
      out.wait_s = seconds(out.answered - t0);
      out.ok = a.ok;
      out.reason = a.reason;
      return a;
    };

    // The visit: card, PIN (the account is used when a PIN is known), settle.
    RpcAnswer a = call(*c, "card.read", Json{{"timeout_ms", 2000}}, std::chrono::seconds(10));
    if (a.ok && !pin.empty()) a = call(*c, "card.verify_pin", Json{{"pin", pin}}, std::chrono::seconds(10));
    if (!a.ok) {
      Call failed;
      failed.method = "card";
      failed.sent = failed.answered = Clock::now();
      failed.reason = a.reason;
      record(std::move(failed));
    } else {
      const std::string drug = fmt::format("{}.{:02d}", pick(5, 120), pick(0, 99));
      const std::string self = fmt::format("{}.{:02d}", pick(1, 60), pick(0, 99));
      Json lines = Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "25.00"}},
                                Json{{"code", "86900001"}, {"name", "阿莫西林胶囊"}, {"class", "B"}, {"amount", drug}}});
      if (pick(0, 1) == 1)
        lines.push_back(Json{{"code", "250310005"}, {"name", "血常规检查"}, {"class", "B"}, {"amount", "30.00"}});
      lines.push_back(Json{{"code", "C0001"}, {"name", "自费营养品"}, {"class", "C"}, {"amount", self}});
      const Json params{{"request_id", fmt::format("drill-{}-w{}-{}", run_tag, k, n)},
                        {"lines", lines},
                        {"use_account", !pin.empty()}};
      Call commit;
      const RpcAnswer r = timed("settle.commit", params, std::chrono::seconds(30), commit);
      if (r.ok) {
        commit.mode = str_at(r.result, "mode");
        commit.state = str_at(r.result, "state");
        commit.setl_id = str_at(r.result, "setl_id");
        if (const Json* rs = json::find(r.result, "reasons"); rs != nullptr && rs->is_array())
          for (const Json& x : *rs)
            if (x.is_string()) commit.reasons.push_back(x.get<std::string>());
        if (commit.mode == "online" && commit.state == "settled") refundable.emplace_back(commit.setl_id, lines);
      }
      record(std::move(commit));
    }

    // A refund: tried once per detected outage (it must be refused), and
    // online for about one settlement in three.
    const std::string outage_key = fmt::format("{}", cut.time_since_epoch().count());
    const bool outage_try = phase == "outage" && offline_seen && refund_tried_for != outage_key && !refundable.empty();
    const bool online_try = phase != "outage" && !refundable.empty() && pick(0, 2) == 0;
    if (outage_try || online_try) {
      const std::size_t i = static_cast<std::size_t>(pick(0, static_cast<std::int64_t>(refundable.size()) - 1));
      Json params{{"request_id", fmt::format("drill-{}-w{}-{}-r", run_tag, k, n)}, {"setl_id", refundable[i].first}};
      if (pick(0, 1) == 1) {  // part of it: the self-paid line
        const Json& self_line = refundable[i].second.back();
        params["lines"] = Json::array({Json{{"code", self_line["code"]}, {"amount", self_line["amount"]}}});
      }
      Call refund;
      const RpcAnswer r = timed("settle.refund", params, std::chrono::seconds(30), refund);
      refund.setl_id = refundable[i].first;
      if (outage_try) refund_tried_for = outage_key;
      // A settlement refunded (or one the daemon no longer finds refundable) is not tried again.
      if (r.ok || (r.reason != "OFFLINE_REFUND_FORBIDDEN" && r.reason != "TRANSPORT"))
        refundable.erase(refundable.begin() + static_cast<std::ptrdiff_t>(i));
      record(std::move(refund));
    }
  }
}

// A window's thread: an unexpected error stops that window and is reported.
void window_thread(int k, const std::string& window, const Options& o, const std::string& socket,
                   const std::string& pin, Shared& sh) {
  try {
    window_loop(k, window, o, socket, pin, sh);
  } catch (const std::exception& e) {
    std::lock_guard lk(sh.mu);
    sh.errors.push_back(fmt::format("window {} stopped: {}", window, e.what()));
  }
}

// What the conductor needs of the daemon: a subscribed connection for
// network.changed, and a supervisor's connection for status, flush, recon.
struct Conductor {
  Conductor(const std::string& socket, const Options& o, const std::string& window)
      : monitor(socket), sup(login(socket, o.supervisor, o.supervisor_password, window)) {
    const Json in = monitor.login(o.supervisor, o.supervisor_password, window);
    if (!in.contains("result")) throw std::runtime_error("session.login of the event connection: " + in.dump());
    const Json r = monitor.call("events.subscribe", Json{{"topics", Json::array({"network"})}}, std::chrono::seconds(10));
    if (!r.contains("result")) throw std::runtime_error("events.subscribe: " + r.dump());
  }
  Json status() {
    const RpcAnswer a = call(sup, "engine.status", Json::object(), std::chrono::seconds(10));
    if (!a.ok) throw std::runtime_error("engine.status: " + describe(a));
    return a.result;
  }
  RpcClient monitor;
  CashierClient sup;
};

// The simulator faults of one cut. `lost_reply` loses the replies of
// settlements (2207) and of the sign-in probe (9001): the insurer does the
// settlement and the hospital never hears of it (单边账), and the line stays
// down until the restore. Queries before the first lost reply are answered.
std::vector<std::string> fault_specs(const std::string& kind) {
  if (kind == "lost_reply") return {"lost_reply:infno=2207", "lost_reply:infno=9001"};
  return {kind};
}

bool drained(const Json& st) {
  return str_at(st, "network") == "online" && int_at(st, "pending_uploads") == 0 &&
         int_at(st, "pending_reversals") == 0 && int_at(st, "in_doubt") == 0;
}

std::size_t reversal_count(const Stack& stack) {
  const Json r = stack.report();
  return r.contains("reversals") && r["reversals"].is_array() ? r["reversals"].size() : 0;
}

// The adjustments of one settlement (settle.get's "adjustments": the
// insurer's fund figure against the local estimate); the total is the sum of
// insurer_fund − local_fund.
void count_adjustments(const std::string& setl_id, const Json& detail, FaultResult& f) {
  const Json* a = json::find(detail, "adjustments");
  if (a == nullptr || !a->is_array()) return;
  for (const Json& adj : *a) {
    ++f.adjustments;
    if (!adj.is_object()) continue;
    auto insurer = json::get_amount(adj, "insurer_fund", "insurer_fund", Sign::any);
    auto local = json::get_amount(adj, "local_fund", "local_fund", Sign::any);
    if (insurer && local) f.adjustment_total += *insurer - *local;
    AdjustmentSeen seen;
    seen.setl_id = setl_id;
    if (insurer && local) {
      seen.insurer_fund = *insurer;
      seen.local_fund = *local;
    }
    auto insurer_cash = json::get_amount(adj, "insurer_cash", "insurer_cash", Sign::any);
    auto local_cash = json::get_amount(adj, "local_cash", "local_cash", Sign::any);
    if (insurer_cash && local_cash) {
      seen.insurer_cash = *insurer_cash;
      seen.local_cash = *local_cash;
    }
    seen.note = str_at(adj, "note");
    f.adjusted.push_back(std::move(seen));
  }
}

void summarise_calls(std::vector<Call>& calls, Clock::time_point cut, Clock::time_point restore, FaultResult& f) {
  for (Call& c : calls) {
    c.phase = c.answered < cut ? "baseline" : c.sent < restore ? "outage" : "recovery";
    const bool commit = c.method == "settle.commit";
    const bool refund = c.method == "settle.refund";
    if (commit && c.ok &&
        std::any_of(c.reasons.begin(), c.reasons.end(), [](const std::string& r) { return r.starts_with("annual_cap"); }))
      ++f.annual_cap_settlements;
    if (c.phase == "baseline") {
      if (commit && c.ok) ++f.baseline_commits;
      if (refund && c.ok) ++f.baseline_refunds;
      if (!c.ok) {
        ++f.baseline_errors;
        ++f.baseline_reasons[c.method + " " + c.reason];
      }
      continue;
    }
    if (c.phase == "outage" && (commit || refund)) f.longest_wait_s = std::max(f.longest_wait_s, c.wait_s);
    if (commit && c.ok && c.mode == "offline") {
      for (const auto& r : c.reasons) {
        if (r == "offline_network_down") ++f.offline_reason_network_down;
        if (r == "offline_in_doubt") ++f.offline_reason_in_doubt;
      }
    }
    if (c.phase != "outage") continue;
    if (commit) {
      ++f.outage_commits;
      if (!c.ok) {
        ++f.outage_refused;
        ++f.refused_reasons[c.reason];
      } else if (c.mode == "offline") {
        ++f.outage_offline;
      } else {
        ++f.outage_online;
      }
    } else if (refund) {
      if (c.ok)
        ++f.refunds_online;  // no refund is ever made offline: this one the insurer answered
      else if (c.reason == "OFFLINE_REFUND_FORBIDDEN")
        ++f.refunds_refused_offline;
      else if (c.reason == "INSURER_UNREACHABLE" || c.reason == "IN_DOUBT")
        ++f.refunds_unanswered;  // sent before the line was known down: nothing refunded (reversed if sent)
      else
        ++f.refunds_other;
    } else if (c.method == "card") {
      ++f.refused_reasons["card " + c.reason];
    }
  }
}

std::string join(const std::map<std::string, int>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += fmt::format("{}{} ×{}", s.empty() ? "" : ", ", k, v);
  return s;
}

}  // namespace

bool Report::passed() const {
  if (!failures.empty()) return false;
  const auto& asked = options.scenarios;
  if (std::find(asked.begin(), asked.end(), "line") != asked.end()) {
    if (faults.empty()) return false;
    if (options.inpatient && !stay.passed()) return false;
    if (!std::all_of(faults.begin(), faults.end(), [](const FaultResult& f) { return f.passed(); })) return false;
  }
  // A scenario left out with its reason (e.g. `disk` under --attach) neither passes nor fails the drill.
  if (std::none_of(scenarios.begin(), scenarios.end(), [](const ScenarioResult& s) { return s.run; }) && faults.empty())
    return false;
  return std::all_of(scenarios.begin(), scenarios.end(),
                     [](const ScenarioResult& s) { return !s.not_run.empty() || s.passed(); });
}

namespace {

// A batch of n stay lines numbered from `first` (bed, nursing, drugs).
Json stay_lines(int first, int n) {
  Json lines = Json::array();
  for (int i = first; i < first + n; ++i)
    lines.push_back(Json{{"feedetl_sn", fmt::format("{:04}", i)},
                         {"code", i % 3 == 0 ? "86900001" : "250101001"},
                         {"name", i % 3 == 0 ? "阿莫西林胶囊" : "住院床位费"},
                         {"class", i % 3 == 0 ? "B" : "A"},
                         {"amount", fmt::format("{}.{:02}", 40 + i % 50, i % 100)}});
  return lines;
}

// Polls engine.status until `ok` or the deadline; the last status.
template <class Ok>
Json wait_for(Conductor& cond, Ok ok, Clock::duration limit) {
  const auto until = Clock::now() + limit;
  Json st = cond.status();
  while (!ok(st) && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    st = cond.status();
  }
  return st;
}

StayResult run_stay(Stack& stack, Conductor& cond, const std::string& socket, const Options& o, const std::string& pin,
                    const std::string& window) {
  StayResult s;
  s.run = true;
  const auto failed = [&s](std::string why) {
    s.failures.push_back(std::move(why));
    return s;
  };
  CashierClient c = login(socket, o.cashier, o.cashier_password, window);
  RpcAnswer a = call(c, "card.read", Json::object(), std::chrono::seconds(10));
  if (!a.ok) return failed("card.read at " + window + ": " + describe(a));
  if (!pin.empty()) {
    a = call(c, "card.verify_pin", Json{{"pin", pin}}, std::chrono::seconds(10));
    if (!a.ok) return failed("card.verify_pin: " + describe(a));
  }
  // Request ids of their own per run: an attached daemon keeps its ledger.
  const std::string tag = fmt::format("drill-{}-{}-{}", o.seed, ::getpid(), std::time(nullptr));
  a = call(c, "inpatient.admit", Json{{"request_id", tag + "-adm"}, {"dept", "0301"}, {"diagnosis", "K35.8"}}, std::chrono::seconds(30));
  if (!a.ok) return failed("inpatient.admit: " + describe(a) + " (a stay still open for this card is discharged first)");
  s.adm_id = str_at(a.result, "adm_id");
  s.admit_mode = str_at(a.result, "mode");
  if (s.admit_mode != "online") s.failures.push_back("the stay was admitted " + s.admit_mode + " while the line was up");
  a = call(c, "inpatient.add_lines", Json{{"request_id", tag + "-b1"}, {"adm_id", s.adm_id}, {"lines", stay_lines(1, 20)}},
           std::chrono::seconds(30));
  if (!a.ok) return failed("inpatient.add_lines (line up): " + describe(a));
  if (str_at(a.result, "upload") == "sent") s.lines_sent = 20;
  else s.failures.push_back("a batch added while the line was up was " + str_at(a.result, "upload") + ", not sent");

  // The cut: the insurer refuses connections; the next batch finds the line
  // down (no other traffic runs now) and is stored and queued.
  stack.set_faults({"refuse"});
  a = call(c, "inpatient.add_lines", Json{{"request_id", tag + "-b2"}, {"adm_id", s.adm_id}, {"lines", stay_lines(21, 20)}},
           std::chrono::seconds(30));
  if (a.ok && str_at(a.result, "upload") == "queued") s.lines_queued = 20;
  else s.failures.push_back("a batch added while the line was down: " + (a.ok ? str_at(a.result, "upload") : describe(a)));
  a = call(c, "inpatient.cancel_lines",
           Json{{"request_id", tag + "-c1"}, {"adm_id", s.adm_id}, {"feedetl_sn", Json::array({"0003"})}}, std::chrono::seconds(30));
  if (a.ok) s.cancelled = 1;
  else s.failures.push_back("inpatient.cancel_lines while the line was down: " + describe(a));
  const auto t0 = Clock::now();
  a = call(c, "inpatient.discharge", Json{{"request_id", tag + "-dis"}, {"adm_id", s.adm_id}}, std::chrono::seconds(30));
  s.discharge_wait_s = seconds(Clock::now() - t0);
  if (!a.ok) {
    stack.clear_faults();
    return failed("inpatient.discharge while the line was down: " + describe(a) + ": the patient could not leave");
  }
  s.discharge_mode = str_at(a.result, "mode");
  s.total = str_at(a.result, "total");
  s.fund = str_at(a.result, "fund");
  s.cash = str_at(a.result, "cash");
  if (s.discharge_mode != "offline") s.failures.push_back("the discharge was settled " + s.discharge_mode + " while the line was down");
  if (s.discharge_wait_s > o.max_wait_s)
    s.failures.push_back(fmt::format("the discharge window waited {:.2f} s (limit {:.2f} s)", s.discharge_wait_s, o.max_wait_s));

  // The restore and the drain, the stay in order: admission, batches, cancellation, settlement.
  stack.clear_faults();
  const auto restore = Clock::now();
  if (o.flush) call(cond.sup, "uploads.flush", Json::object(), std::chrono::seconds(30));
  const Json st = wait_for(cond, drained, std::chrono::milliseconds(static_cast<std::int64_t>(o.drain_s * 1000)));
  if (drained(st)) s.drain_s = seconds(Clock::now() - restore);
  else s.failures.push_back(fmt::format("the stay was not drained within {:.0f} s: {}", o.drain_s, st.dump()));
  a = call(c, "inpatient.get", Json{{"adm_id", s.adm_id}, {"limit", 1}}, std::chrono::seconds(10));
  if (!a.ok) return failed("inpatient.get: " + describe(a));
  s.mdtrt_id = str_at(a.result, "mdtrt_id");
  if (int_at(a.result, "pending_uploads") != 0)
    s.failures.push_back(fmt::format("{} item(s) of the stay still wait for the insurer", int_at(a.result, "pending_uploads")));
  const Json* setls = json::find(a.result, "settlements");
  if (setls != nullptr && setls->is_array() && !setls->empty()) s.settlement_state = str_at(setls->back(), "state");
  if (s.settlement_state != "offline_accepted")
    s.failures.push_back("the offline discharge settlement is " + (s.settlement_state.empty() ? std::string("missing") : s.settlement_state) +
                         " after the drain, not offline_accepted");
  // The insurer's own view of the visit: the lines it holds are the stay's live lines.
  if (!s.mdtrt_id.empty()) {
    const auto v = stack.sim_control("GET", "/visits/" + s.mdtrt_id);
    const Json* lines = v.status == 200 ? json::find(v.body, "lines") : nullptr;
    if (lines != nullptr) {
      s.insurer_live_lines = int_at(*lines, "live");
      s.insurer_live_total = str_at(*lines, "live_total");
    }
    if (s.insurer_live_lines != s.lines_sent + s.lines_queued - s.cancelled)
      s.failures.push_back(fmt::format("the insurer holds {} live line(s) of the stay, the ledger {}", s.insurer_live_lines,
                                       s.lines_sent + s.lines_queued - s.cancelled));
  } else {
    s.failures.push_back("the stay has no visit id at the insurer after the drain");
  }
  const RpcAnswer recon = call(cond.sup, "recon.run", Json{{"date", clearing_date()}}, std::chrono::seconds(60));
  if (recon.ok) {
    const Json* b = json::find(recon.result, "balanced");
    s.balanced = b != nullptr && b->is_boolean() && b->get<bool>();
    if (!*s.balanced) s.failures.push_back("the day did not balance after the stay (recon.run lists the differences)");
  } else {
    s.failures.push_back("recon.run after the stay: " + describe(recon));
  }
  return s;
}

}  // namespace

Report run(const Options& o, const Progress& progress) {
  const auto say = [&progress](const std::string& line) {
    if (progress) progress(line);
  };
  Report rep;
  rep.options = o;
  rep.started_at = iso_now();
  std::unique_ptr<Stack> stack;
  std::string socket = o.socket;
  std::string pin = o.pin;
  Options opt = o;
  const auto asked = [&o](const char* name) {
    return std::find(o.scenarios.begin(), o.scenarios.end(), name) != o.scenarios.end();
  };
  std::vector<std::string> windows = o.window_names;
  if (windows.empty()) windows = {"W01", "W02"};
  say(o.attach ? "attaching to the running daemon and simulator" : "starting the stack (insurer-sim, pcscd, settled)");
  try {
    stack = std::make_unique<Stack>("drill");
    if (!o.attach) {
      // Short insurer deadlines and a fast probe and retry, so that a drill of
      // a few seconds per phase sees detection, offline work and the drain.
      stack->insurer_extra = "connect_timeout_ms = 1000\nrequest_timeout_ms = 2000\n";
      stack->extra_config = "\n[reversal]\nretry_initial_ms = 200\nretry_max_ms = 1000\n"
                            "[network]\nprobe_interval_ms = 300\nfailures_to_offline = 1\n";
      std::vector<PersonSpec> persons;
      for (int i = 0; i < 2; ++i) {
        PersonSpec p = settle::testing::person(9100 + i + static_cast<int>(o.seed % 100) * 2);
        p.balance = "100000.00";
        persons.push_back(p);
      }
      // The disk scenario fails the ledger's writes through the test shim,
      // preloaded into settled from its first start (inert until switched on).
      if (const std::string flag = disk_fault_flag(*stack); !flag.empty() && asked("disk"))
        ::setenv("SETTLED_WRAPPER",
                 fmt::format("/usr/bin/env LD_PRELOAD={} SETTLE_FAIL_WRITES={}", SETTLE_FAILWRITE_SHIM, flag).c_str(), 1);
      stack->start_all(persons);
      for (int i = 0; i < 2; ++i) stack->insert_card(i, persons[static_cast<std::size_t>(i)]);
      socket = stack->socket_path();
      pin = persons[0].pin;
      opt.cashier = Stack::cashier.name;
      opt.cashier_password = Stack::cashier.password;
      opt.supervisor = Stack::supervisor.name;
      opt.supervisor_password = Stack::supervisor.password;
      rep.stack = fmt::format("started by the drill in {} (insurer-sim, pcscd with virtual cards, settled)",
                              stack->dir().string());
    } else {
      stack->attach_sim(o.control_port);
      rep.stack = fmt::format("attached: settled at {}, insurer-sim control 127.0.0.1:{}", socket, o.control_port);
    }
    stack->clear_faults();
  } catch (const std::exception& e) {
    rep.failures.push_back(fmt::format("bring-up failed: {}", e.what()));
    say(rep.failures.back());
    rep.finished_at = iso_now();
    return rep;
  }

  Shared sh;
  std::vector<std::thread> threads;
  auto stop_windows = [&] {
    {
      std::lock_guard lk(sh.mu);
      sh.stop = true;
    }
    sh.cv.notify_all();
    for (auto& t : threads) t.join();
    threads.clear();
  };
  try {
    Conductor cond(socket, opt, windows.front());
    say("waiting for the insurer line to be online with nothing pending");
    // The line must be online before the first cut.
    {
      const auto until = Clock::now() + ms(opt.drain_s);
      Json st = cond.status();
      while (!drained(st) && Clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        st = cond.status();
      }
      if (!drained(st))
        throw std::runtime_error("the insurer line is not online with nothing pending before the drill: " + st.dump());
    }
    // The red list as the hospital keeps it: synced before the line is cut.
    {
      const RpcAnswer r = call(cond.sup, "redlist.sync", Json::object(), std::chrono::seconds(60));
      rep.redlist = r.ok ? fmt::format("version {}, {} entries (synced before the first cut)",
                                       r.result.contains("version") ? r.result["version"].dump() : "?",
                                       int_at(r.result, "entries"))
                         : "not synced before the drill: " + describe(r);
      say("red list " + rep.redlist);
    }
    if (asked("line"))
      for (int k = 0; k < opt.windows; ++k)
        threads.emplace_back(window_thread, k, windows[static_cast<std::size_t>(k) % windows.size()], std::cref(opt),
                             std::cref(socket), std::cref(pin), std::ref(sh));

    for (const std::string& kind : asked("line") ? opt.faults : std::vector<std::string>{}) {
      FaultResult f;
      f.fault = kind;
      const std::string label = fmt::format("fault {}/{} {}", rep.faults.size() + 1, opt.faults.size(), kind);
      const auto counts = [&sh] {
        std::lock_guard lk(sh.mu);
        int ok = 0, offline = 0, failed = 0;
        for (const Call& c : sh.calls) {
          if (!c.ok) ++failed;
          else if (c.mode == "offline") ++offline;
          else ++ok;
        }
        return fmt::format("{} calls: {} answered online, {} settled offline, {} failed", sh.calls.size(), ok, offline,
                           failed);
      };
      say(fmt::format("{}: online baseline, {:.0f} s, {} window(s) settling", label, opt.phase_s, opt.windows));
      // Online baseline.
      {
        std::lock_guard lk(sh.mu);
        sh.calls.clear();
        sh.phase = "baseline";
        sh.cut = Clock::now() + ms(opt.phase_s);
        sh.offline_seen = false;
      }
      std::this_thread::sleep_for(ms(opt.phase_s));
      while (cond.monitor.wait_notification("network.changed", std::chrono::milliseconds(50))) {
      }
      const std::size_t reversals_before = reversal_count(*stack);
      const std::string first_date = clearing_date();
      say(fmt::format("{}: baseline done ({}); cutting the line", label, counts()));

      // The cut.
      const auto cut = Clock::now();
      {
        std::lock_guard lk(sh.mu);
        sh.phase = "outage";
        sh.cut = cut;
      }
      stack->set_faults(fault_specs(kind));
      f.started_at = iso_now();
      const auto phase_end = cut + ms(opt.phase_s);
      const auto detect_until = cut + std::max(ms(opt.phase_s), std::chrono::milliseconds(20'000));
      bool notified = false;
      std::optional<double> status_offline_s;  // engine.status said offline (a check on the notification)
      auto last_status = cut;
      while (Clock::now() < phase_end || (!f.detect_s && Clock::now() < detect_until)) {
        if (!status_offline_s && Clock::now() - last_status >= std::chrono::milliseconds(500)) {
          last_status = Clock::now();
          if (str_at(cond.status(), "network") == "offline") status_offline_s = seconds(Clock::now() - cut);
        }
        const auto n = cond.monitor.wait_notification("network.changed", std::chrono::milliseconds(100));
        if (!n) continue;
        const std::string state = str_at((*n)["params"], "network");
        const double t = seconds(Clock::now() - cut);
        f.transitions.emplace_back(state, t);
        if (state == "offline" && !f.detect_s) {
          f.detect_s = t;
          notified = true;
          std::lock_guard lk(sh.mu);
          sh.offline_seen = true;
        }
      }
      if (!notified && status_offline_s) {
        f.detect_s = status_offline_s;
        f.failures.push_back(fmt::format(
            "settled did not send network.changed offline, though engine.status said offline at +{:.2f} s: "
            "cashier terminals would not show the outage",
            *status_offline_s));
      }
      if (!f.detect_s)
        f.failures.push_back(fmt::format(
            "the outage was not detected: no network.changed offline within {:.0f} s of the cut; check the "
            "insurer deadlines ([insurer] connect_timeout_ms, request_timeout_ms) and [network] failures_to_offline",
            seconds(detect_until - cut)));

      say(fmt::format("{}: outage done, detected {} ({}); restoring the line, draining (up to {:.0f} s)", label,
                      f.detect_s ? fmt::format("after {:.2f} s", *f.detect_s) : std::string("NOT"), counts(),
                      opt.drain_s));
      // The restore and the drain.
      stack->clear_faults();
      const auto restore = Clock::now();
      {
        std::lock_guard lk(sh.mu);
        sh.phase = "recovery";
      }
      const auto drain_until = restore + ms(opt.drain_s);
      auto last_flush = Clock::now() - std::chrono::seconds(10);
      std::string flush_error;
      Json st;
      for (;;) {
        if (opt.flush && Clock::now() - last_flush >= std::chrono::seconds(1)) {
          const RpcAnswer a = call(cond.sup, "uploads.flush", Json::object(), std::chrono::seconds(30));
          if (!a.ok) flush_error = describe(a);
          last_flush = Clock::now();
        }
        st = cond.status();
        if (drained(st)) {
          f.drain_s = seconds(Clock::now() - restore);
          break;
        }
        if (Clock::now() >= drain_until) break;
        if (const auto n = cond.monitor.wait_notification("network.changed", std::chrono::milliseconds(100)))
          f.transitions.emplace_back(str_at((*n)["params"], "network"), seconds(Clock::now() - cut));
      }
      // The notifications of the drain (online comes after engine.status says so, at most a moment later).
      const auto notes_until = Clock::now() + std::chrono::seconds(1);
      while (f.drain_s && (f.transitions.empty() || f.transitions.back().first != "online") &&
             Clock::now() < notes_until) {
        if (const auto n = cond.monitor.wait_notification("network.changed", std::chrono::milliseconds(50)))
          f.transitions.emplace_back(str_at((*n)["params"], "network"), seconds(Clock::now() - cut));
      }
      f.drain_status = st;
      if (!f.drain_s)
        f.failures.push_back(fmt::format(
            "not drained within {:.0f} s of the restore (engine.status: network {}, pending_uploads {}, "
            "pending_reversals {}, in_doubt {}){}; see docs/drill.md, \"When the drill fails\"",
            opt.drain_s, str_at(st, "network"), int_at(st, "pending_uploads"), int_at(st, "pending_reversals"),
            int_at(st, "in_doubt"), flush_error.empty() ? "" : "; uploads.flush: " + flush_error));

      say(fmt::format("{}: {} ({} uploads, {} reversals pending); closing the windows, reconciling", label,
                      f.drain_s ? fmt::format("drained after {:.2f} s", *f.drain_s) : std::string("NOT drained"),
                      int_at(st, "pending_uploads"), int_at(st, "pending_reversals")));
      // The windows close for the reconciliation (as they are at night).
      std::vector<Call> calls;
      {
        std::unique_lock lk(sh.mu);
        sh.paused = true;
        if (!sh.cv.wait_for(lk, std::chrono::seconds(60), [&] { return sh.busy == 0; }))
          f.failures.push_back("the windows did not finish their visits within 60 s for the reconciliation");
        calls = sh.calls;
      }
      // A visit begun while the line was still seen as down may have been
      // settled offline just after the drain was seen: with the windows
      // closed, its upload goes before the count (within the drain limit).
      if (f.drain_s) {
        while (!drained(cond.status()) && Clock::now() < drain_until + ms(opt.drain_s)) {
          if (opt.flush) (void)call(cond.sup, "uploads.flush", Json::object(), std::chrono::seconds(30));
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
      summarise_calls(calls, cut, restore, f);
      f.reversals_sent = static_cast<int>(reversal_count(*stack) - reversals_before);
      for (const Call& c : calls) {
        if (c.method != "settle.commit" || !c.ok || c.mode != "offline" || c.setl_id.empty()) continue;
        ++f.offline_settled;
        const RpcAnswer d = call(cond.sup, "settle.get", Json{{"setl_id", c.setl_id}}, std::chrono::seconds(10));
        if (!d.ok) {
          f.failures.push_back(fmt::format("settle.get {}: {}", c.setl_id, describe(d)));
          continue;
        }
        const std::string state = str_at(d.result, "state");
        if (state == "offline_pending") ++f.offline_pending;
        if (state == "offline_rejected") ++f.offline_rejected;
        if (state == "offline_accepted" || state == "refunded" || state == "partly_refunded") ++f.offline_accepted;
        count_adjustments(c.setl_id, d.result, f);
      }
      // Every clearing date the fault touched (normally one).
      f.recon = Json::array();
      std::vector<std::string> dates{first_date};
      if (clearing_date() != first_date) dates.push_back(clearing_date());
      for (const std::string& date : dates) {
        const RpcAnswer recon = call(cond.sup, "recon.run", Json{{"date", date}}, std::chrono::seconds(60));
        if (!recon.ok) {
          f.recon_error = describe(recon);
          f.balanced = std::nullopt;
          f.failures.push_back(fmt::format("recon.run {} did not answer with a reconciliation: {}", date, f.recon_error));
          break;
        }
        f.recon.push_back(recon.result);
        const Json* b = json::find(recon.result, "balanced");
        const bool balanced = b != nullptr && b->is_boolean() && b->get<bool>();
        f.balanced = f.balanced.value_or(true) && balanced;
        if (!balanced) {
          const Json* d = json::find(recon.result, "differences");
          f.failures.push_back(fmt::format(
              "{} did not balance: recon.run lists {} difference(s); the insurance office clears each one "
              "(docs/drill.md)",
              date, d != nullptr && d->is_array() ? d->size() : 0));
        }
      }
      {
        std::lock_guard lk(sh.mu);
        sh.paused = false;
      }
      sh.cv.notify_all();

      if (f.outage_refused > 0)
        f.failures.push_back(fmt::format(
            "{} of {} settlements during the outage were refused ({}): a patient would have been sent away",
            f.outage_refused, f.outage_commits, join(f.refused_reasons)));
      if (f.outage_offline == 0 && f.detect_s)
        f.failures.push_back("no settlement was made offline during the outage");
      if (f.longest_wait_s > opt.max_wait_s)
        f.failures.push_back(fmt::format("a cashier waited {:.2f} s during the outage (limit {:.2f} s)",
                                         f.longest_wait_s, opt.max_wait_s));
      if (f.refunds_other > 0)
        f.failures.push_back(fmt::format(
            "{} refund(s) tried while the line was down were not refused with OFFLINE_REFUND_FORBIDDEN",
            f.refunds_other));
      if (f.baseline_errors > 0)
        f.failures.push_back(fmt::format("{} call(s) failed while the line was up, before the cut ({})",
                                         f.baseline_errors, join(f.baseline_reasons)));
      if (f.baseline_commits == 0)
        f.failures.push_back("no settlement was made online before the cut (are the cards in the readers?)");
      {
        std::lock_guard lk(sh.mu);
        for (const auto& e : sh.errors) rep.failures.push_back(e);
        sh.errors.clear();
      }
      say(fmt::format("{}: {} — {} offline settlement(s), {} accepted, {} rejected, {} pending; {}", label,
                      f.passed() ? "PASSED" : fmt::format("FAILED ({} problem(s))", f.failures.size()),
                      f.offline_settled, f.offline_accepted, f.offline_rejected, f.offline_pending,
                      !f.balanced ? std::string("not reconciled") : *f.balanced ? "balanced" : "NOT balanced"));
      const bool came_back = f.drain_s.has_value();
      rep.faults.push_back(std::move(f));
      if (!came_back) {
        // The next fault would start on a line that is not back: its figures would mean nothing.
        for (std::size_t i = rep.faults.size(); i < opt.faults.size(); ++i) rep.not_run.push_back(opt.faults[i]);
        if (!rep.not_run.empty())
          rep.failures.push_back(fmt::format("not run, the line did not come back after {}: {}", kind,
                                             fmt::join(rep.not_run, ", ")));
        break;
      }
    }
    stop_windows();
    // The inpatient scenario, on a line that came back from every fault.
    if (asked("line") && opt.inpatient && rep.not_run.empty()) {
      say("inpatient stay: admitted online, lines across an outage, discharged offline, drained, reconciled");
      rep.stay = run_stay(*stack, cond, socket, opt, pin, windows.front());
      say(fmt::format("inpatient stay: {} ({} lines sent, {} queued, discharge {})",
                      rep.stay.passed() ? "PASSED" : fmt::format("FAILED ({} problem(s))", rep.stay.failures.size()),
                      rep.stay.lines_sent, rep.stay.lines_queued,
                      rep.stay.discharge_mode.empty() ? "-" : rep.stay.discharge_mode));
    }
    rep.scenarios = run_scenarios(*stack, !o.attach, opt, socket, pin, windows, say);
  } catch (const std::exception& e) {
    rep.failures.push_back(fmt::format("the drill stopped: {}", e.what()));
    say(rep.failures.back());
    try {
      stack->clear_faults();
    } catch (const std::exception&) {
    }
    stop_windows();
  }
  if (!o.attach && stack->daemon_running()) {
    say("stopping the daemon");
    try {
      stack->stop_daemon();
    } catch (const std::exception& e) {
      rep.failures.push_back(fmt::format("settled did not stop cleanly: {}", e.what()));
    }
  }
  rep.finished_at = iso_now();
  return rep;
}

}  // namespace settle::drill
