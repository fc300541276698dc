// The drill's scenarios beyond the insurer line (docs/drill.md): the hospital
// network cut under a cashier (network), pcscd restarted and a card pulled
// (reader), settled killed under load (daemon) and the ledger's disk failing
// (disk); each with what was done, what happened, the windows' waits and its criteria.
#include "offline/chain.hpp"
#include "offline/ledger.hpp"
#include "tools/drill/support.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

namespace settle::drill {

const std::vector<std::string>& scenario_names() {
  static const std::vector<std::string> names{"line", "network", "reader", "daemon", "disk"};
  return names;
}

bool ScenarioResult::passed() const {
  return run && failures.empty() &&
         std::all_of(checks.begin(), checks.end(), [](const Check& c) { return c.ok; });
}

std::string disk_fault_flag(const settle::testing::Stack& stack) {
  return std::filesystem::exists(SETTLE_FAILWRITE_SHIM) ? (stack.dir() / "fail-writes").string() : std::string();
}

namespace {

using settle::testing::RpcClient;
using settle::testing::Stack;

// One visit's lines (consultation, a drug, a self-paid item), priced by `rng`.
Json visit_lines(std::mt19937_64& rng) {
  const auto pick = [&rng](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  return Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "25.00"}},
                      Json{{"code", "86900001"}, {"name", "阿莫西林胶囊"}, {"class", "B"},
                           {"amount", fmt::format("{}.{:02d}", pick(5, 120), pick(0, 99))}},
                      Json{{"code", "C0001"}, {"name", "自费营养品"}, {"class", "C"},
                           {"amount", fmt::format("{}.{:02d}", pick(1, 60), pick(0, 99))}}});
}

// A settle.commit as a window sent it, and how it was answered.
struct Sent {
  std::string window;
  Json params;
  Clock::time_point sent, answered;
  bool ok = false;
  bool transport = false;  // no answer: the connection failed (or the daemon went away)
  std::string reason, setl_id, mode;
  double wait_s() const { return seconds(answered - sent); }
};

// A cashier window settling one patient after another in its own thread: a
// lost connection is opened again (login, card, PIN) until it is stopped.
class Window {
 public:
  Window(std::string window, const Options& o, std::string socket, std::string pin, std::string tag)
      : window_(std::move(window)), o_(o), socket_(std::move(socket)), pin_(std::move(pin)), tag_(std::move(tag)) {
    thread_ = std::thread([this] { loop(); });
  }
  ~Window() { stop(); }
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;

  void stop() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  // Holds the window between visits (nothing of it in flight) until resume().
  void pause() {
    std::unique_lock lk(mu_);
    paused_ = true;
    cv_.wait_for(lk, std::chrono::seconds(60), [this] { return !busy_; });
  }
  void resume() {
    {
      std::lock_guard lk(mu_);
      paused_ = false;
    }
    cv_.notify_all();
  }
  std::vector<Sent> sent() const {
    std::lock_guard lk(mu_);
    return sent_;
  }
  const std::string& name() const { return window_; }
  // Whether a settle.commit of this window is waiting for its answer.
  bool in_flight() const {
    std::lock_guard lk(mu_);
    return !sent_.empty() && sent_.back().answered == Clock::time_point{};
  }

 private:
  void loop() {
    std::mt19937_64 rng(o_.seed * 7919 + std::hash<std::string>{}(tag_));
    std::optional<CashierClient> c;
    for (int n = 0;; ++n) {
      {
        std::unique_lock lk(mu_);
        cv_.wait_for(lk, std::chrono::milliseconds(n == 0 ? 0 : 150), [this] { return stop_; });
        cv_.wait(lk, [this] { return stop_ || !paused_; });
        if (stop_) return;
        busy_ = true;
      }
      visit(c, rng, n);
      {
        std::lock_guard lk(mu_);
        busy_ = false;
      }
      cv_.notify_all();
    }
  }

  void visit(std::optional<CashierClient>& c, std::mt19937_64& rng, int n) {
    if (!c) {
      try {
        c.emplace(login(socket_, o_.cashier, o_.cashier_password, window_));
      } catch (const std::exception&) {
        return;  // the daemon is not there (yet): tried again at the next visit
      }
    }
    RpcAnswer a = call(*c, "card.read", Json{{"timeout_ms", 2000}}, std::chrono::seconds(10));
    if (a.ok && !pin_.empty()) a = call(*c, "card.verify_pin", Json{{"pin", pin_}}, std::chrono::seconds(10));
    if (!a.ok) {
      if (a.reason == "TRANSPORT") c.reset();
      return;
    }
    Sent s;
    s.window = window_;
    s.params = Json{{"request_id", fmt::format("{}-{}", tag_, n)}, {"lines", visit_lines(rng)}, {"use_account", !pin_.empty()}};
    s.sent = Clock::now();
    {
      std::lock_guard lk(mu_);
      sent_.push_back(s);  // sent, not yet answered (a kill may come first)
    }
    a = call(*c, "settle.commit", s.params, std::chrono::seconds(30));
    s.answered = Clock::now();
    s.ok = a.ok;
    s.transport = a.reason == "TRANSPORT";
    s.reason = a.reason;
    s.setl_id = str_at(a.result, "setl_id");
    s.mode = str_at(a.result, "mode");
    {
      std::lock_guard lk(mu_);
      sent_.back() = s;
    }
    if (s.transport) c.reset();
  }

  std::string window_;
  const Options& o_;
  std::string socket_, pin_, tag_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, paused_ = false, busy_ = false;
  std::vector<Sent> sent_;
  std::thread thread_;
};

// The waits of the calls sent between `from` and `to` (an unanswered call
// waited until it was given up).
Waits waits_of(const std::vector<Sent>& calls, Clock::time_point from, Clock::time_point to) {
  Waits w;
  std::vector<double> v;
  for (const Sent& s : calls) {
    if (s.sent < from || s.sent > to || s.answered == Clock::time_point{}) continue;
    ++w.calls;
    v.push_back(s.wait_s());
    if (!s.ok) {
      ++w.errors;
      ++w.reasons[s.reason];
    }
  }
  if (v.empty()) return w;
  std::sort(v.begin(), v.end());
  const auto at = [&v](double q) {
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5))];
  };
  w.max_s = v.back();
  w.p50_s = at(0.5);
  w.p90_s = at(0.9);
  w.p99_s = at(0.99);
  return w;
}

std::string waits_words(const Waits& w) {
  return fmt::format("{} call(s), max {:.2f} s, p50 {:.2f} s, p90 {:.2f} s, p99 {:.2f} s, {} error(s)", w.calls, w.max_s,
                     w.p50_s, w.p90_s, w.p99_s, w.errors);
}

std::string reasons_words(const std::map<std::string, int>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += fmt::format("{}{} ×{}", s.empty() ? "" : ", ", k, v);
  return s.empty() ? "none" : s;
}

// The criterion that windows not hit by the fault kept settling within the wait limit.
Check others_within_budget(const Waits& w, const Options& o, const std::string& whom) {
  return {"其他窗口正常结算", "other windows settled within the wait limit (" + whom + ")",
          fmt::format("≥ 1 笔，错误 0，最长 ≤ {:.1f} s", o.max_wait_s),
          fmt::format("{} 笔，错误 {}（{}），最长 {:.2f} s", w.calls, w.errors, reasons_words(w.reasons), w.max_s),
          w.calls > 0 && w.errors == 0 && w.max_s <= o.max_wait_s};
}

// The settlements in force at the insurer for a request_id (its control endpoint, GET /report).
int at_insurer(const Stack& stack, const std::string& request_id) {
  return settle::testing::effective_at_insurer(stack, request_id);
}

// A logged-in window with the card read (and the PIN verified when known).
CashierClient window_with_card(const std::string& socket, const Options& o, const std::string& pin,
                               const std::string& window) {
  CashierClient c = login(socket, o.cashier, o.cashier_password, window);
  RpcAnswer a = call(c, "card.read", Json{{"timeout_ms", 5000}}, std::chrono::seconds(10));
  if (a.ok && !pin.empty()) a = call(c, "card.verify_pin", Json{{"pin", pin}}, std::chrono::seconds(10));
  if (!a.ok) throw std::runtime_error(fmt::format("the card at {}: {}", window, describe(a)));
  return c;
}

// settle.commit with these params, tried again while the daemon is still busy
// with the first (a retry arriving before the first call finished).
RpcAnswer commit_retrying(CashierClient& c, const Json& params, double limit_s) {
  const auto until = Clock::now() + ms(limit_s);
  for (;;) {
    RpcAnswer a = call(c, "settle.commit", params, std::chrono::seconds(30));
    if (a.ok || a.reason == "TRANSPORT" || Clock::now() >= until) return a;
    if (a.reason != "INVALID_STATE" || a.message.find("being processed") == std::string::npos) return a;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

// The ledger's hash chain walked (read-only, beside the running daemon).
Check ledger_check(const std::string& path) {
  Check c{"账本校验", "the ledger verifies (hash chain)", "无断点", "", false};
  if (path.empty()) {
    c.measured = "not checked: --ledger not given";
    return c;
  }
  auto db = ledger::open_connection(path, sql::OpenMode::read_only);
  if (!db) {
    c.measured = fmt::format("{}: {}", path, db.error().message);
    return c;
  }
  auto r = ledger::chain::verify(*db);
  if (!r) {
    c.measured = fmt::format("{}: {}", path, r.error().message);
    return c;
  }
  c.ok = r->ok();
  c.measured = r->ok() ? fmt::format("{} 条链记录，无断点", r->entries)
                       : fmt::format("{} 处断点，第一处：{}", r->problems.size(), r->problems.front().message);
  return c;
}

struct Env {
  Stack& stack;
  bool own;
  const Options& o;
  std::string socket, pin, ledger;
  std::vector<std::string> windows;
  std::string tag;  // request ids of this run
  const std::string& win(std::size_t k) const { return windows[k % windows.size()]; }
};

// ---- network: the cashier's connection cut mid-call and while idle.
ScenarioResult network(Env& e) {
  ScenarioResult r;
  r.name = "network";
  r.run = true;
  r.started_at = iso_now();
  const std::string a_win = e.win(0), b_win = e.win(1);
  Window other(b_win, e.o, e.socket, e.pin, e.tag + "-net-" + b_win);
  std::this_thread::sleep_for(ms(std::min(e.o.phase_s / 2, 2.0)));
  const auto from = Clock::now();
  std::mt19937_64 rng(e.o.seed);
  const Json params{{"request_id", e.tag + "-net-cut"}, {"lines", visit_lines(rng)}, {"use_account", !e.pin.empty()}};
  {
    RpcClient cut(e.socket);
    const Json in = cut.login(e.o.cashier, e.o.cashier_password, a_win);
    if (!in.contains("result")) throw std::runtime_error("session.login at " + a_win + ": " + in.dump());
    if (!cut.call("card.read", Json{{"timeout_ms", 5000}}).contains("result"))
      throw std::runtime_error("card.read at " + a_win + " before the cut");
    if (!e.pin.empty()) (void)cut.call("card.verify_pin", Json{{"pin", e.pin}});
    cut.send("settle.commit", params);
  }  // the socket closed before the answer was read
  r.done.push_back(fmt::format("{}: settle.commit {} sent, the connection closed before the answer was read",
                               a_win, params["request_id"].get<std::string>()));
  {
    RpcClient idle(e.socket);
    (void)idle.login(e.o.cashier, e.o.cashier_password, a_win);
  }  // logged in, nothing pending: closed
  r.done.push_back(a_win + ": a logged-in connection closed while idle");
  const auto cut_at = Clock::now();
  // The window reconnects, logs in, reads the card and sends the same request again.
  std::optional<CashierClient> c;
  std::string reconnect_error;
  try {
    c.emplace(window_with_card(e.socket, e.o, e.pin, a_win));
  } catch (const std::exception& ex) {
    reconnect_error = ex.what();
  }
  RpcAnswer first, second;
  if (c) {
    first = commit_retrying(*c, params, e.o.drain_s);
    second = call(*c, "settle.commit", params, std::chrono::seconds(30));
    r.recovery_s = seconds(Clock::now() - cut_at);
  }
  r.done.push_back(a_win + ": reconnected, logged in, card read, the same request_id sent twice");
  std::this_thread::sleep_for(ms(std::min(e.o.phase_s / 2, 2.0)));
  const auto to = Clock::now();
  other.stop();
  const std::string id1 = str_at(first.result, "setl_id"), id2 = str_at(second.result, "setl_id");
  std::string state;
  if (c && !id1.empty()) state = str_at(call(*c, "settle.get", Json{{"setl_id", id1}}, std::chrono::seconds(10)).result, "state");
  const int insurer = at_insurer(e.stack, params["request_id"].get<std::string>());
  r.happened.push_back(c ? fmt::format("retry: {} (setl_id {}, state {}); again: {} (setl_id {})", describe(first),
                                       id1.empty() ? "—" : id1, state.empty() ? "—" : state, describe(second),
                                       id2.empty() ? "—" : id2)
                         : "the window could not reconnect: " + reconnect_error);
  r.happened.push_back(fmt::format("the insurer holds {} settlement(s) in force for the request", insurer));
  r.waits = waits_of(other.sent(), from, to);
  r.waits_of = b_win + ", from the cut to the end of the retries";
  r.happened.push_back(fmt::format("{} meanwhile: {}", b_win, waits_words(r.waits)));
  if (c) r.recovered.push_back(fmt::format("{} settling again, the cut call answered with its settlement", a_win));
  r.checks.push_back({"断线后重连登录", "reconnect and log in after the cut (mid-call and idle)", "成功",
                      c ? "成功" : reconnect_error, c.has_value()});
  r.checks.push_back({"同一请求号返回同一结算", "the same request_id answers the same settlement", "两次 setl_id 相同",
                      fmt::format("{} / {}", id1.empty() ? describe(first) : id1, id2.empty() ? describe(second) : id2),
                      first.ok && second.ok && !id1.empty() && id1 == id2});
  r.checks.push_back({"医保中心仅一笔有效结算", "the insurer holds exactly one settlement for it", "1 笔",
                      fmt::format("{} 笔", insurer), insurer == 1});
  r.checks.push_back(others_within_budget(r.waits, e.o, b_win));
  return r;
}

// ---- reader: a card pulled mid-visit at one window, pcscd restarted.
ScenarioResult reader(Env& e) {
  ScenarioResult r;
  r.name = "reader";
  r.started_at = iso_now();
  if (!e.own) {
    r.not_run = "--attach: the drill cannot pull a card or restart pcscd on another machine's readers; "
                "drill it by hand (docs/drill.md)";
    return r;
  }
  r.run = true;
  const std::string a_win = e.win(0), b_win = e.win(1);
  settle::testing::VirtualCard* card = e.stack.card(0);
  if (card == nullptr) throw std::runtime_error("no card in the first reader");
  Window other(b_win, e.o, e.socket, e.pin, e.tag + "-rdr-" + b_win);
  std::this_thread::sleep_for(ms(std::min(e.o.phase_s / 2, 1.0)));
  std::mt19937_64 rng(e.o.seed + 1);
  CashierClient c = window_with_card(e.socket, e.o, e.pin, a_win);
  // The card is pulled after it was read and its PIN verified, before the settlement.
  const auto from = Clock::now();
  card->remove(true);
  const Json pulled{{"request_id", e.tag + "-rdr-pulled"}, {"lines", visit_lines(rng)}, {"use_account", !e.pin.empty()}};
  const RpcAnswer refused = call(c, "settle.commit", pulled, std::chrono::seconds(30));
  r.done.push_back(fmt::format("{}: card read and PIN verified, the card pulled, settle.commit sent", a_win));
  r.happened.push_back(fmt::format("{} answered: {}", a_win, describe(refused)));
  std::this_thread::sleep_for(ms(std::min(e.o.phase_s / 2, 2.0)));
  card->insert(true);
  const auto back = Clock::now();
  RpcAnswer again;
  try {
    CashierClient c2 = window_with_card(e.socket, e.o, e.pin, a_win);
    again = call(c2, "settle.commit", pulled, std::chrono::seconds(30));
  } catch (const std::exception& ex) {
    again.reason = "CARD";
    again.message = ex.what();
  }
  r.recovery_s = seconds(Clock::now() - back);
  const auto to = Clock::now();
  r.done.push_back(fmt::format("{}: the card put back, read again, the same request sent again", a_win));
  r.happened.push_back(fmt::format("{} with the card back: {}", a_win, describe(again)));
  r.waits = waits_of(other.sent(), from, to);
  r.waits_of = b_win + ", while the card was out of " + a_win;

  // pcscd restarted under both windows.
  const auto down_at = Clock::now();
  e.stack.restart_pcscd(std::chrono::milliseconds(500));
  r.done.push_back("pcscd stopped, started again after 0.5 s");
  std::optional<double> pcscd_back;
  std::string last;
  const auto until = Clock::now() + ms(e.o.drain_s);
  while (Clock::now() < until) {
    try {
      CashierClient c3 = window_with_card(e.socket, e.o, e.pin, a_win);
      const Json p{{"request_id", e.tag + "-rdr-pcscd"}, {"lines", visit_lines(rng)}, {"use_account", !e.pin.empty()}};
      const RpcAnswer s = call(c3, "settle.commit", p, std::chrono::seconds(30));
      last = describe(s);
      if (s.ok) {
        pcscd_back = seconds(Clock::now() - down_at);
        break;
      }
    } catch (const std::exception& ex) {
      last = ex.what();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  other.stop();
  const Waits during_pcscd = waits_of(other.sent(), down_at, Clock::now());
  r.happened.push_back(fmt::format("after the pcscd restart {} settled again {}; last answer {}", a_win,
                                   pcscd_back ? fmt::format("after {:.2f} s", *pcscd_back) : std::string("NOT"), last));
  r.happened.push_back(fmt::format("{} during the pcscd restart: {} ({})", b_win, waits_words(during_pcscd),
                                   reasons_words(during_pcscd.reasons)));
  r.happened.push_back(fmt::format("{} while the card was out: {}", b_win, waits_words(r.waits)));
  if (again.ok) r.recovered.push_back(fmt::format("{} settled once its card was back", a_win));
  if (pcscd_back) r.recovered.push_back(fmt::format("both readers back after the pcscd restart ({:.2f} s)", *pcscd_back));
  const int pulled_at_insurer = at_insurer(e.stack, pulled["request_id"].get<std::string>());
  const int others_double = [&] {
    int n = 0;
    for (const Sent& s : other.sent())
      if (at_insurer(e.stack, s.params["request_id"].get<std::string>()) > 1) ++n;
    return n;
  }();
  r.checks.push_back({"拔卡后明确报错", "a clear error naming the card at that window", "CARD_ABSENT 或 CARD_REMOVED",
                      describe(refused),
                      !refused.ok && (refused.reason == "CARD_ABSENT" || refused.reason == "CARD_REMOVED") &&
                          !refused.message.empty()});
  r.checks.push_back({"插回卡后恢复结算", "that window settles again once the card is back", "成功",
                      fmt::format("{}，{:.2f} s", describe(again), r.recovery_s.value_or(0)), again.ok});
  r.checks.push_back(others_within_budget(r.waits, e.o, b_win));
  r.checks.push_back({"读卡服务重启后恢复", "settling again after pcscd restarted", fmt::format("≤ {:.0f} s", e.o.drain_s),
                      pcscd_back ? fmt::format("{:.2f} s", *pcscd_back) : "未恢复：" + last, pcscd_back.has_value()});
  r.checks.push_back({"无重复扣费", "nothing charged twice at the insurer", "拔卡请求 1 笔，其他请求 ≤ 1 笔",
                      fmt::format("拔卡请求 {} 笔，重复 {} 个请求", pulled_at_insurer, others_double),
                      pulled_at_insurer == (again.ok ? 1 : 0) && others_double == 0});
  return r;
}

// Kills and starts the daemon: the drill's own, or an attached one through the commands given.
void kill_daemon(Env& e) {
  if (e.own) {
    e.stack.kill_daemon();
    return;
  }
  if (std::system(e.o.daemon_kill_command.c_str()) != 0)
    throw std::runtime_error("--daemon-kill-command failed: " + e.o.daemon_kill_command);
}
void start_daemon(Env& e) {
  if (e.own) {
    e.stack.start_daemon();
    return;
  }
  if (std::system(e.o.daemon_start_command.c_str()) != 0)
    throw std::runtime_error("--daemon-start-command failed: " + e.o.daemon_start_command);
}

// engine.status from a fresh supervisor's connection, or why not.
std::optional<Json> status_now(const Env& e, std::string& why) {
  try {
    CashierClient s = login(e.socket, e.o.supervisor, e.o.supervisor_password, e.win(0));
    const RpcAnswer a = call(s, "engine.status", Json::object(), std::chrono::seconds(5));
    if (a.ok) return a.result;
    why = describe(a);
  } catch (const std::exception& ex) {
    why = ex.what();
  }
  return std::nullopt;
}

// ---- daemon: settled SIGKILLed under load, started again.
ScenarioResult daemon(Env& e) {
  ScenarioResult r;
  r.name = "daemon";
  r.started_at = iso_now();
  if (!e.own && !e.o.allow_disruptive) {
    r.not_run = "--attach: a production daemon is never killed unless --allow-disruptive is given";
    return r;
  }
  r.run = true;
  std::vector<std::unique_ptr<Window>> load;
  for (std::size_t k = 0; k < std::min<std::size_t>(2, e.windows.size()); ++k)
    load.push_back(std::make_unique<Window>(e.win(k), e.o, e.socket, e.pin, fmt::format("{}-dmn-{}", e.tag, e.win(k))));
  std::this_thread::sleep_for(ms(std::max(e.o.phase_s / 2, 1.0)));
  // The insurer answers settlements 0.8 s late, so that the kill finds calls
  // in flight (in doubt: sent to the insurer, no answer recorded).
  e.stack.set_faults({"delay:ms=800,infno=2207"});
  const auto flight_until = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < flight_until &&
         std::none_of(load.begin(), load.end(), [](const auto& w) { return w->in_flight(); }))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the 2207 reached the insurer
  const auto killed = Clock::now();
  kill_daemon(e);
  e.stack.clear_faults();
  r.done.push_back(fmt::format("settled killed (SIGKILL) with {} window(s) settling, the insurer answering "
                               "settlements 0.8 s late (calls in flight)", load.size()));
  start_daemon(e);
  r.done.push_back("settled started again");
  std::optional<Json> st;
  std::string why;
  const auto until = Clock::now() + ms(e.o.drain_s);
  while (!(st = status_now(e, why)) && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (st) r.recovery_s = seconds(Clock::now() - killed);
  std::this_thread::sleep_for(ms(std::max(e.o.phase_s / 2, 1.0)));
  for (auto& w : load) w->stop();
  std::vector<Sent> before;  // the requests sent before the kill
  std::vector<Sent> all;
  for (auto& w : load)
    for (const Sent& s : w->sent()) {
      all.push_back(s);
      if (s.sent < killed) before.push_back(s);
    }
  r.waits = waits_of(all, killed - ms(e.o.phase_s), Clock::now());
  r.waits_of = "every window, from the kill to the end of the load after the restart";
  // Start-up recovery: nothing left in doubt, every reversal acknowledged.
  std::optional<double> recovered_s;
  Json last = st.value_or(Json());
  const auto rec_until = Clock::now() + ms(e.o.drain_s);
  while (Clock::now() < rec_until) {
    if (auto s = status_now(e, why)) {
      last = *s;
      if (int_at(last, "in_doubt") == 0 && int_at(last, "pending_reversals") == 0) {
        recovered_s = seconds(Clock::now() - killed);
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // Each request sent before the kill, sent again with the same request_id.
  int answered_before = 0, same = 0, changed = 0, in_flight = 0, double_charged = 0;
  std::vector<std::string> odd;
  std::map<std::string, int> in_flight_answers;  // the retries of the calls cut off, by answer
  std::map<std::string, std::optional<CashierClient>> at;
  for (const Sent& s : before) {
    auto& c = at[s.window];
    try {
      if (!c) c.emplace(window_with_card(e.socket, e.o, e.pin, s.window));
    } catch (const std::exception& ex) {
      odd.push_back(ex.what());
      continue;
    }
    const RpcAnswer a = call(*c, "settle.commit", s.params, std::chrono::seconds(30));
    const std::string rid = s.params["request_id"].get<std::string>();
    const int n = at_insurer(e.stack, rid);
    if (n > 1) ++double_charged;
    if (s.ok) {
      ++answered_before;
      if (a.ok && str_at(a.result, "setl_id") == s.setl_id) ++same;
      else {
        ++changed;
        odd.push_back(fmt::format("{}: answered {} before the kill, {} after", rid, s.setl_id, describe(a)));
      }
    } else if (s.answered == Clock::time_point{} || s.transport) {
      ++in_flight;
      ++in_flight_answers[a.ok ? "settled " + str_at(a.result, "mode") : a.reason];
      // An answer, whatever it is, with at most one settlement in force at the insurer.
      if (a.ok && str_at(a.result, "mode") == "online" && n != 1)
        odd.push_back(fmt::format("{}: settled online on retry, {} in force at the insurer", rid, n));
      if (!a.ok && n != 0)  // refused (IN_DOUBT: reversed by start-up recovery), yet charged
        odd.push_back(fmt::format("{}: answered {} on retry, yet {} in force at the insurer", rid, describe(a), n));
    }
  }
  r.happened.push_back(fmt::format("settled served again {} after the kill",
                                   r.recovery_s ? fmt::format("{:.2f} s", *r.recovery_s) : "NOT (" + why + ")"));
  r.happened.push_back(fmt::format("{} request(s) sent before the kill: {} answered before it ({} answered the same "
                                   "on retry), {} cut off by the kill (answered on retry: {})",
                                   before.size(), answered_before, same, in_flight, reasons_words(in_flight_answers)));
  r.happened.push_back(fmt::format("after the restart: in_doubt {}, pending_reversals {}{}", int_at(last, "in_doubt"),
                                   int_at(last, "pending_reversals"),
                                   recovered_s ? fmt::format(" ({:.2f} s after the kill)", *recovered_s) : ""));
  r.happened.push_back("the windows meanwhile: " + waits_words(r.waits) + " (" + reasons_words(r.waits.reasons) + ")");
  for (const auto& o : odd) r.happened.push_back(o);
  if (st) r.recovered.push_back("settled serving again (engine.status, login)");
  if (recovered_s) r.recovered.push_back("the calls in doubt at the kill resolved by start-up recovery");
  r.checks.push_back({"重启后恢复服务", "settled serves again after the restart", fmt::format("≤ {:.0f} s", e.o.drain_s),
                      r.recovery_s ? fmt::format("{:.2f} s", *r.recovery_s) : "未恢复：" + why, r.recovery_s.has_value()});
  r.checks.push_back({"重发请求只应答一次", "each request sent before the kill answered once on retry",
                      "已应答的返回同一结算，无不一致",
                      fmt::format("已应答 {} 笔，相同 {}，不同 {}；中断 {} 笔", answered_before, same, changed, in_flight),
                      !before.empty() && changed == 0 && odd.empty()});
  r.checks.push_back({"终止时有在途交易", "calls were in flight at the kill (the drill reached its point)", "≥ 1 笔",
                      fmt::format("{} 笔", in_flight), in_flight > 0});
  r.checks.push_back({"无重复扣费", "no double charge at the insurer", "每个请求 ≤ 1 笔",
                      fmt::format("重复 {} 个请求", double_charged), double_charged == 0});
  r.checks.push_back({"启动恢复处理不明交易", "in-doubt calls reversed or settled by start-up recovery",
                      "in_doubt 0，pending_reversals 0",
                      fmt::format("in_doubt {}，pending_reversals {}", int_at(last, "in_doubt"), int_at(last, "pending_reversals")),
                      recovered_s.has_value()});
  r.checks.push_back(ledger_check(e.ledger));
  return r;
}

// ---- disk: the ledger's writes fail during service, then come back.
ScenarioResult disk(Env& e) {
  ScenarioResult r;
  r.name = "disk";
  r.started_at = iso_now();
  const std::string flag = e.own ? disk_fault_flag(e.stack) : std::string();
  if (!e.own) {
    r.not_run = "--attach: the ledger's disk is failed through a test shim preloaded into settled when the drill "
                "starts it; an attached daemon has none (and a production disk is never failed)";
    return r;
  }
  if (flag.empty() || std::getenv("SETTLED_WRAPPER") == nullptr) {
    r.not_run = fmt::format("the write-failing shim {} is not there (build target settle_failwrite_shim)",
                            SETTLE_FAILWRITE_SHIM);
    return r;
  }
  r.run = true;
  const std::string a_win = e.win(0), b_win = e.win(1);
  std::mt19937_64 rng(e.o.seed + 3);
  Window other(b_win, e.o, e.socket, e.pin, e.tag + "-dsk-" + b_win);
  CashierClient c = window_with_card(e.socket, e.o, e.pin, a_win);
  const Json stored_params{{"request_id", e.tag + "-dsk-before"}, {"lines", visit_lines(rng)}, {"use_account", !e.pin.empty()}};
  const RpcAnswer stored = call(c, "settle.commit", stored_params, std::chrono::seconds(30));
  if (!stored.ok) throw std::runtime_error("settle.commit before the disk failed: " + describe(stored));
  std::this_thread::sleep_for(ms(std::min(e.o.phase_s / 2, 1.0)));
  // Nothing in flight when the disk goes: a call the insurer answered that the
  // ledger cannot record stops settled by design (tests/integration/daemon/storage_fault_test.cpp).
  other.pause();
  std::vector<std::string> kept;  // settled before the fault
  kept.push_back(str_at(stored.result, "setl_id"));
  for (const Sent& s : other.sent())
    if (s.ok && !s.setl_id.empty()) kept.push_back(s.setl_id);
  { std::ofstream(flag) << "ENOSPC\n"; }
  const auto from = Clock::now();
  other.resume();
  r.done.push_back("the ledger's disk made full (ENOSPC on every write), the windows idle at that moment");
  const Json p{{"request_id", e.tag + "-dsk-during"}, {"lines", visit_lines(rng)}, {"use_account", !e.pin.empty()}};
  const RpcAnswer refused = call(c, "settle.commit", p, std::chrono::seconds(30));
  std::string why;
  const std::optional<Json> st = status_now(e, why);
  r.done.push_back(a_win + ": settle.commit sent with the disk full; engine.status asked");
  std::this_thread::sleep_for(ms(std::min(e.o.phase_s / 2, 2.0)));
  other.pause();
  const auto lifted = Clock::now();
  std::filesystem::remove(flag);
  other.resume();
  r.done.push_back("the disk fault lifted");
  RpcAnswer back;
  const auto until = lifted + ms(e.o.drain_s);
  do {
    back = call(c, "settle.commit", p, std::chrono::seconds(30));
    if (back.ok) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (Clock::now() < until);
  if (back.ok) r.recovery_s = seconds(Clock::now() - lifted);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  other.stop();
  r.waits = waits_of(other.sent(), from, lifted);
  r.waits_of = b_win + ", while the disk was full";
  int lost = 0;
  CashierClient sup = login(e.socket, e.o.supervisor, e.o.supervisor_password, a_win);
  for (const std::string& id : kept) {
    const RpcAnswer g = call(sup, "settle.get", Json{{"setl_id", id}}, std::chrono::seconds(10));
    if (!g.ok) {
      ++lost;
      r.happened.push_back(fmt::format("{} stored before the fault: settle.get {}", id, describe(g)));
    }
  }
  const int insurer = at_insurer(e.stack, p["request_id"].get<std::string>());
  const bool alive = e.stack.daemon_alive();
  r.happened.push_back(fmt::format("{} with the disk full: {}", a_win, describe(refused)));
  r.happened.push_back(st ? fmt::format("engine.status answered (network {})", str_at(*st, "network"))
                          : "engine.status did not answer: " + why);
  r.happened.push_back(fmt::format("{} with the disk full: {} ({})", b_win, waits_words(r.waits), reasons_words(r.waits.reasons)));
  r.happened.push_back(fmt::format("after the fault: {} (the same request), the insurer holds {} for it", describe(back), insurer));
  if (back.ok) r.recovered.push_back(fmt::format("settling again {:.2f} s after the disk came back", *r.recovery_s));
  r.recovered.push_back(fmt::format("{} settlement(s) stored before the fault read back, {} missing", kept.size() - static_cast<std::size_t>(lost), lost));
  const bool all_refused = r.waits.calls == 0 || (r.waits.reasons.size() == 1 && r.waits.reasons.count("STORAGE_FAILED") == 1 &&
                                                      r.waits.errors == r.waits.calls);
  r.checks.push_back({"磁盘故障时明确拒绝新业务", "new work refused with STORAGE_FAILED", "STORAGE_FAILED，说明原因",
                      fmt::format("{}；{}：{}", describe(refused), b_win, reasons_words(r.waits.reasons)),
                      !refused.ok && refused.reason == "STORAGE_FAILED" && !refused.message.empty() && all_refused});
  r.checks.push_back({"状态查询仍可用", "engine.status still answers", "应答", st ? "应答" : why, st.has_value()});
  r.checks.push_back({"已存业务不丢失", "nothing already stored lost", "0 笔丢失",
                      fmt::format("{} 笔中丢失 {}", kept.size(), lost), lost == 0 && alive});
  r.checks.push_back({"故障解除后恢复服务", "service back when the fault is lifted", fmt::format("≤ {:.0f} s", e.o.drain_s),
                      r.recovery_s ? fmt::format("{:.2f} s", *r.recovery_s) : describe(back),
                      r.recovery_s.has_value() && insurer == 1});
  r.checks.push_back(ledger_check(e.ledger));
  return r;
}

}  // namespace

std::vector<ScenarioResult> run_scenarios(Stack& stack, bool own, const Options& o, const std::string& socket,
                                          const std::string& pin, const std::vector<std::string>& windows,
                                          const std::function<void(const std::string&)>& say) {
  Env e{stack, own, o, socket, pin, own ? (stack.dir() / "data" / "ledger.db").string() : o.ledger, windows,
        fmt::format("drill-{}-{}-{}", o.seed, ::getpid(), std::time(nullptr))};
  std::vector<ScenarioResult> out;
  for (const std::string& name : o.scenarios) {
    if (name == "line") continue;
    say(fmt::format("scenario {}: starting", name));
    ScenarioResult r;
    try {
      r = name == "network" ? network(e) : name == "reader" ? reader(e) : name == "daemon" ? daemon(e) : disk(e);
    } catch (const std::exception& ex) {
      r.name = name;
      r.run = true;
      r.failures.push_back(fmt::format("the scenario stopped: {}", ex.what()));
    }
    say(fmt::format("scenario {}: {}", name,
                    !r.not_run.empty() ? "not run (" + r.not_run + ")"
                    : r.passed()       ? std::string("PASSED")
                                       : fmt::format("FAILED ({} criteria not met, {} problem(s))",
                                                     std::count_if(r.checks.begin(), r.checks.end(),
                                                                   [](const Check& c) { return !c.ok; }),
                                                     r.failures.size())));
    out.push_back(std::move(r));
    // A daemon that did not come back leaves nothing to drill.
    if (own && !stack.daemon_alive()) {
      out.back().failures.push_back("settled is not running after this scenario: the rest are not run");
      break;
    }
  }
  return out;
}

}  // namespace settle::drill
