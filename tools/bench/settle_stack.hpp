// The settlement stack the bench's end-to-end sections share: child processes
// (insurer-sim, settled, settlectl), pcscd with one virtual card per window, the
// cashier socket's JSON-RPC client, raw SQLite commits (one row, or a
// settlement's rows through the ledger's statements) and timed loops.
#pragma once

#include "tools/bench/bench.hpp"

#include "offline/sqlite.hpp"
#include "protocol/json.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <sys/types.h>

namespace settle::testing {
class Pcscd;
class VirtualCard;
}  // namespace settle::testing

namespace settle::bench::stack {

using json::Json;

inline constexpr const char* institution = "H11010500001";
inline constexpr const char* secret = "bench-settle-secret";
inline constexpr const char* password = "Bench-Cashier-2026";
inline constexpr int windows = 2;  // vpcd offers two readers: W01 and W02

std::string slurp(const std::string& p);
std::int64_t unix_now_s();

struct Person {
  std::string card_no, card_sn, id_no, name, psn_no;
};
Person person(int n);

// A child process; SIGTERM (then SIGKILL after 10 s) and reaped when dropped.
class Child {
 public:
  Child(std::vector<std::string> args, const std::string& out, const std::string& err, const std::string& cwd = "");
  ~Child() { stop(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  // Exit status, or -1 if still running after `wait`.
  int wait_exit(std::chrono::milliseconds wait);
  bool running();
  void stop();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// Runs a tool to its end; throws with its stderr when it fails.
int run_tool(std::vector<std::string> args, const std::string& out);

// Waits until `file` matches `re`; returns the match.
std::smatch wait_for(const std::string& file, const std::regex& re, Child& c, const std::string& what,
                     std::chrono::seconds limit = std::chrono::seconds(30));

// One cashier connection: newline-delimited JSON-RPC 2.0 over the Unix socket.
// An operator's first login: settlectl password changes the initial password
// (<dir>/initial-password) to its own (<dir>/password).
void first_login(const std::string& dir, const std::string& socket, const std::string& name);

class Cashier {
 public:
  explicit Cashier(const std::string& path);
  ~Cashier();
  Cashier(const Cashier&) = delete;
  Cashier& operator=(const Cashier&) = delete;
  // The result; throws with the error's text otherwise.
  Json call(const std::string& method, const Json& params = Json::object());

 private:
  int fd_ = -1;
  std::string buf_;
  std::int64_t next_id_ = 0;
};

// The same lines for every visit: one class A, one class B line.
const Json& visit_lines();

// Raw SQLite: one INSERT per IMMEDIATE transaction, WAL, synchronous=FULL (as bench ledger).
class RawSqlite {
 public:
  bool open(const std::string& path);
  bool commit();

 private:
  sql::Db db_;
  std::int64_t n_ = 0;
};

// The rows a settlement writes, written by the ledger's own statements on
// one connection in the calling thread, as two commits: the request's claim,
// then its outcome (online: the 2201 and 2204 messages, the 2207's message
// and answer, the settlement with the visit's two lines, the stored answer
// and the call's audit entry; offline: the settlement with its lines and its
// queued upload, the answer, the audit entry), with the events and chain
// entries the schema's triggers add. No writer thread, no daemon: what
// settled's commits cost without settled.
class RawLedgerRows {
 public:
  bool open(const std::string& path);  // a new ledger: the schema and its triggers as settled's
  bool claim();                 // the first commit: a new request
  bool outcome(bool online);    // the second: the last claimed request's outcome
  bool settle(bool online) { return claim() && outcome(online); }

 private:
  sql::Db db_;
  std::int64_t n_ = 0;
  std::string request_id_;
};

struct Run {
  std::string name;
  int connections = 1;
  std::int64_t count = 0;
  double seconds = 0;
  Latencies lat;
  double rate() const { return seconds > 0 ? static_cast<double>(count) / seconds : 0; }
};

// A window's waits at a cashier's pace: before each of its settlements a
// random time, exponential with mean think_s, drawn from the window's own
// sequence (the same for every run that paces window `k`).
class Pace {
 public:
  Pace(std::size_t k, double think_s);
  // Sleeps until the next start and returns true; false, without sleeping,
  // when that start would be at or after `end`.
  bool wait(Clock::time_point end);

 private:
  std::mt19937_64 rng_;
  std::exponential_distribution<double> think_;
};

// Runs body(k, end, mine) on a thread of its own for each window k <
// `count`, `end` being `seconds` from now; each records its latencies in
// `mine`, which go into `run` (one count each) with the wall time. The
// first failure (an exception) is thrown again once all have ended.
void each_window(Run& run, std::size_t count, double seconds,
                 const std::function<void(std::size_t k, Clock::time_point end, Latencies& mine)>& body);

// A connection logged in at its window with its own card read.
std::unique_ptr<Cashier> open_window(const std::string& socket, int window);

// settle.commit from every connection (one thread each) for `seconds`, or
// until `limit` commits were made in all when it is given; every answer must
// have this mode ("online" or "offline"; "any": either). `think_s` > 0: each
// connection waits a random time (exponential, this mean) before each
// settlement, as a window's cashier does, instead of settling back to back.
void commits(Run& run, std::vector<std::unique_ptr<Cashier>>& conns, double seconds, std::atomic<std::int64_t>& seq,
             const std::string& mode, std::optional<std::int64_t> limit = std::nullopt, double think_s = 0);

// Runs op repeatedly for `seconds`, one at a time.
void timed(Run& run, double seconds, const std::function<void()>& op);
// The same where op returns the time to record for its sample (a sequence
// that counts two overlapping steps once, say) instead of its wall time.
void timed_by(Run& run, double seconds, const std::function<Clock::duration()>& op);
// timed(), and the calling thread's CPU it took, in milliseconds.
double timed_cpu(Run& run, double seconds, const std::function<void()>& op);

struct StackOptions {
  int pool = 16;               // [insurer] pool_size
  std::string extra_config;    // appended to settled.toml
  bool supervisor = false;     // also operator s001 (supervisor) with the same password
  std::string sim_sync = "full";  // insurer-sim --sync: full (fsync per batch) or normal
  // Files copied into the data directory (the large fixtures of `bench
  // fixtures`, whose ledger holds the operators c001, c002 and s001 with
  // this stack's initial password); empty: settled makes them.
  std::string ledger_seed, redlist_seed;
  bool redlist_sync = true;    // false: [redlist] sync_interval_s = 0 (a seeded list stays as it is)
};

// Figures read from settled by name (a thread kind, a flow step), summed over
// readings; `since` gives what one name's grew by after an earlier reading.
template <class V>
struct ByName {
  std::map<std::string, V> by_name;
  ByName& operator+=(const ByName& o) {
    for (const auto& [name, v] : o.by_name) by_name[name] += v;
    return *this;
  }
  V since(const ByName& before, const std::string& name) const {
    const auto a = by_name.find(name);
    V grown = a == by_name.end() ? V{} : a->second;
    if (const auto b = before.by_name.find(name); b != before.by_name.end()) grown -= b->second;
    return grown;
  }
  // Every name's growth since `before`.
  ByName since(const ByName& before) const {
    ByName grown;
    for (const auto& [name, v] : by_name) grown.by_name[name] = since(before, name);
    return grown;
  }
};

// insurer-sim (one person per window), pcscd with one virtual card per
// window, operators c001/c002 (and s001), and settled, all in `dir`; the test
// PKI in dir/pki. Everything is stopped again when dropped.
class SettleStack {
 public:
  SettleStack(const std::string& dir, const StackOptions& opts);
  ~SettleStack();
  SettleStack(const SettleStack&) = delete;
  SettleStack& operator=(const SettleStack&) = delete;

  const std::string& socket() const { return socket_; }
  const std::string& pki() const { return pki_; }
  int sim_port() const { return sim_port_; }
  const std::vector<Person>& persons() const { return persons_; }
  pid_t daemon_pid() const { return daemon_->pid(); }
  pid_t sim_pid() const { return sim_->pid(); }
  // CPU seconds (user + system, all threads) used so far by each process of
  // the stack and by this one: where the time of a run went.
  struct Cpu {
    double settled = 0, sim = 0, pcscd = 0, cards = 0, bench = 0;
    double total() const { return settled + sim + pcscd + cards + bench; }
    Cpu& operator+=(const Cpu& o);
  };
  Cpu cpu() const;
  // The ledger writer's counters on settled's metrics page (since its start):
  // group commits, the writes they made durable, the WAL bytes they wrote.
  struct Writes {
    double commits = 0, writes = 0, wal_bytes = 0;
    Writes& operator+=(const Writes& o);
  };
  Writes ledger_writes() const;
  // settled's own timing of the money flows so far, from its metrics page:
  // seconds and count of each step (settled_flow_step_duration_seconds) and
  // of its settle.commit requests, received to answered (step "request").
  struct StepFigures {
    double seconds = 0, count = 0;
    StepFigures& operator+=(const StepFigures& o);
    StepFigures& operator-=(const StepFigures& o);
  };
  using Steps = ByName<StepFigures>;
  Steps flow_steps() const;
  // settled's threads so far, by kind (the thread's name without its number:
  // "card" for card-1 …): their context switches, voluntary and not, and the
  // CPU they ran (/proc/<pid>/task/*/status and schedstat, in nanoseconds).
  struct ThreadFigures {
    double switches = 0, cpu_ms = 0;
    ThreadFigures& operator+=(const ThreadFigures& o);
    ThreadFigures& operator-=(const ThreadFigures& o);
  };
  using Threads = ByName<ThreadFigures>;
  Threads threads() const;
  // The simulator's control endpoint (HTTP/1.1 on loopback): the answer's JSON body; throws unless 200.
  Json sim_control(const std::string& method, const std::string& target, const std::optional<Json>& body = std::nullopt);
  std::string metrics_page() const;  // settled's GET /metrics; throws unless 200
  void stop();  // settled first, then the rest

 private:
  std::string dir_, pki_, socket_;
  int sim_port_ = 0, control_port_ = 0, metrics_port_ = 0;
  std::vector<Person> persons_;
  std::unique_ptr<Child> sim_;
  std::unique_ptr<testing::Pcscd> pcscd_;
  std::vector<std::unique_ptr<testing::VirtualCard>> cards_;
  std::unique_ptr<Child> daemon_;
};

// insurer-sim serving dir/insurer.db (made by add-person before) with the
// test PKI in `pki`, ready: the child and its HTTPS and control ports.
struct SimProcess {
  std::unique_ptr<Child> child;
  int port = 0, control_port = 0;
};
SimProcess start_sim(const std::string& dir, const std::string& pki, const std::string& secret_text,
                     const std::string& sync);

// settled.toml of a bench stack: data in "data", the example policy, the
// simulator at `sim_port` over the test PKI, secret_file "secret"; then
// `rest` (more [insurer] keys, [readers.windows], other sections) verbatim.
std::string settled_toml(const std::string& pki, int sim_port, const std::string& rest);

// The CPU of the stack between two readings, in ms per settlement of `count`.
SettleStack::Cpu cpu_per_settlement(const SettleStack::Cpu& before, const SettleStack::Cpu& after, std::int64_t count);
// Prints where a run's CPU went, per settlement, and the rate two cores allow.
void print_cpu(const SettleStack::Cpu& per_settlement, const std::string& run);
// settled's CPU per settlement between two readings: in all, and by thread
// kind as text ("card 0.246, ledger-writer 0.467, settled 0.187").
struct ThreadCpu {
  double ms = 0;
  std::string parts;
};
ThreadCpu settled_cpu_by_thread(const SettleStack::Threads& before, const SettleStack::Threads& after, std::int64_t count);
// settled's context switches and CPU per settlement between two readings, by
// thread kind; with what a hand-off between two threads and back costs on this
// machine (raw::handoff_round_trip_cpu_us), what the switches cost at that price.
void print_threads(const SettleStack::Threads& before, const SettleStack::Threads& after, std::int64_t count,
                   const std::string& run, double handoff_round_trip_us);
// Where a settlement's time went inside settled between two readings: the
// mean of each step per settlement of `count`, and the rest of the request.
void print_steps(const SettleStack::Steps& before, const SettleStack::Steps& after, std::int64_t count,
                 const std::string& run);
// The ledger writer during a run of `count` settlements: writes per commit, WAL per settlement.
void print_writes(const SettleStack::Writes& before, const SettleStack::Writes& after, std::int64_t count,
                  const std::string& run);
// The same as JSON fields (without braces): "settled":..,"insurer_sim":..
std::string cpu_json(const SettleStack::Cpu& per_settlement);

}  // namespace settle::bench::stack
