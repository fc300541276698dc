// Bench section "settle": online settlements end to end through the real
// settled (cashier socket → card re-check → insurer-sim over mutual TLS →
// ledger), 1 connection, and 32 both back to back and at a cashier's pace,
// beside the floor the rules put on its path (two raw SQLite commits, the
// raw pooled TLS round trips minus the simulator's own time, the raw card
// re-check) and the raw CPU of the same operations, all in the same run; the
// same with a settlement's own rows in the commits beside them (no target).
#include "tools/bench/bench.hpp"
#include "tools/bench/settle_stack.hpp"
#include "tools/bench/raw_ops.hpp"
#include "tests/support/pcsc_harness.hpp"

#include "offline/msgid.hpp"
#include "offline/sqlite.hpp"
#include "protocol/insurer/client.hpp"
#include "protocol/insurer/codecs.hpp"
#include "protocol/json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include <csignal>

namespace settle::bench {
namespace {

using json::Json;
using namespace std::chrono_literals;

using namespace stack;

// The simulator's time for the calls one settlement makes (1101, 2201, 2204,
// 2207), measured as the insurer bench does: a pooled mutual-TLS client of
// our own, one call after the other, the same inputs as the daemon's.
class DirectInsurer {
 public:
  // `lane`: one of several clients side by side (0..98); each has its own
  // msgids and visit numbers.
  DirectInsurer(const insurer::ClientConfig& cfg, const Person& p, int lane = 0) : person_(p), lane_(lane) {
    auto c = insurer::SyncClient::create(cfg);
    if (!c) throw std::runtime_error(c.error().message);
    client_ = std::move(*c);
    // The insurer wants the institution's code in front; starting from a year
    // far ahead keeps these msgids apart from the daemon's (which use the
    // clock), and a year per lane apart from each other.
    auto m = ledger::MsgidAllocator::create(institution,
                                            fmt::format("{}{}0101000000{}", institution, 2099 - lane, "0001"));
    if (!m) throw std::runtime_error(m.error().message);
    msgids_.emplace(std::move(*m));
    insurer::SignIn::Input in{"bench", "00:00:00:00:00:00", "127.0.0.1"};
    sign_no_ = call<insurer::SignIn>(in).sign_no;
  }

  void settle_once() {
    insurer::PersonInfo::Input q;
    q.mdtrt_cert_type = std::string(insurer::cert_type_card);
    q.mdtrt_cert_no = person_.card_no;
    q.card_sn = person_.card_sn;
    q.certno = person_.id_no;
    q.psn_name = person_.name;
    const auto who = call<insurer::PersonInfo>(q);
    const std::string psn_no = who.baseinfo.psn_no;
    // The three calls a settlement of the daemon makes (its person stays
    // cached): their wall time and this thread's CPU, the raw link.
    const auto t0 = Clock::now();
    const double cpu0 = raw::thread_cpu_ms();
    const std::string insutype = who.insuinfo.front().insutype;
    ++visits_;
    const std::string now_text = insurer::inf_time_text(unix_now_s());
    insurer::OutpatientRegister::Input reg;
    reg.psn_no = psn_no;
    reg.insutype = insutype;
    reg.mdtrt_cert_type = std::string(insurer::cert_type_card);
    reg.mdtrt_cert_no = person_.card_no;
    reg.med_type = "11";
    reg.ipt_otp_no = fmt::format("DIRECT{}-{}", lane_, visits_);
    reg.begntime = now_text;
    reg.dept_code = "OP";
    reg.dept_name = "门诊";
    const auto opened = call<insurer::OutpatientRegister>(reg);
    insurer::FeeUploadInput up;
    Amount total;
    int sn = 0;
    for (const Json& l : visit_lines()) {
      insurer::FeeDetail d;
      d.feedetl_sn = std::to_string(++sn);
      d.mdtrt_id = opened.mdtrt_id;
      d.psn_no = psn_no;
      d.chrg_bchno = "B1";
      d.fee_ocur_time = now_text;
      d.med_list_codg = l["code"].get<std::string>();
      d.medins_list_codg = d.med_list_codg;
      d.medins_list_name = l["name"].get<std::string>();
      auto a = json::get_amount(l, "amount", "lines");
      if (!a) throw std::runtime_error(a.error().message);
      d.det_item_fee_sumamt = *a;
      d.cnt = "1";
      d.pric = *a;
      d.cls = l["class"] == "A" ? LineClass::a : LineClass::b;
      if (d.cls == LineClass::b) d.selfpay_prop = Ratio::ppm(150'000);  // policy.toml's ratio for 86900001
      total += *a;
      up.feedetail.push_back(std::move(d));
    }
    (void)call<insurer::OutpatientLines>(up);
    insurer::SettleInput s;
    s.psn_no = psn_no;
    s.mdtrt_cert_type = std::string(insurer::cert_type_card);
    s.mdtrt_cert_no = person_.card_no;
    s.med_type = "11";
    s.medfee_sumamt = total;
    s.mdtrt_id = opened.mdtrt_id;
    s.chrg_bchno = "B1";
    s.insutype = insutype;
    s.acct_used_flag = "0";
    s.medins_setl_id = fmt::format("DIRECT-{}-{}", lane_, visits_);
    (void)call<insurer::OutpatientSettle>(s);
    last_three = Clock::now() - t0;
    last_three_cpu_ms = raw::thread_cpu_ms() - cpu0;
  }

  Clock::duration last_three{};   // 2201 + 2204 + 2207 of the last settle_once
  double last_three_cpu_ms = 0;   // this thread's CPU for them

 private:
  template <class T>
  typename T::Output call(const typename T::Input& in) {
    insurer::RequestHeader h;
    h.infno = std::string(T::infno);
    h.msgid = msgids_->next(ledger::from_seconds(unix_now_s() + 8 * 3600));
    h.mdtrtarea_admvs = "110105";
    h.insuplc_admdvs = "110105";
    h.opter = "bench";
    h.opter_name = "bench";
    h.inf_time = insurer::inf_time_text(unix_now_s());
    h.fixmedins_code = institution;
    h.fixmedins_name = "Bench Hospital";
    h.sign_no = sign_no_;
    const std::string msgid = h.msgid;
    auto o = client_->post(insurer::LinkRequest{insurer::encode_call<T>(h, in), std::string(T::infno), msgid, std::nullopt});
    if (!o.answered()) throw std::runtime_error(fmt::format("{} not answered: {}", T::infno, o.detail));
    auto out = insurer::decode_reply<T>(o.body, msgid);
    if (!out.ok()) throw std::runtime_error(fmt::format("{} refused: {}", T::infno, out.error().message));
    return std::move(*out);
  }

  Person person_;
  int lane_ = 0;
  std::unique_ptr<insurer::SyncClient> client_;
  std::optional<ledger::MsgidAllocator> msgids_;
  std::string sign_no_;
  int visits_ = 0;
};

// The simulator's own time (GET /counters "processing"), summed over every
// transaction, in microseconds, and the number of answers it covers.
struct SimTime {
  std::int64_t us = 0;
  std::int64_t answers = 0;
  // Adds what the simulator did between two readings.
  void add_between(const SimTime& before, const SimTime& after) {
    us += after.us - before.us;
    answers += after.answers - before.answers;
  }
};

// `only`: these transactions alone (all when empty).
SimTime sim_time(SettleStack& st, const std::vector<std::string>& only = {}) {
  SimTime t;
  const Json c = st.sim_control("GET", "/counters");
  for (const auto& [infno, v] : c.at("processing").items()) {
    if (!only.empty() && std::find(only.begin(), only.end(), infno) == only.end()) continue;
    t.us += v.at("us").get<std::int64_t>();
    t.answers += v.at("answers").get<std::int64_t>();
  }
  return t;
}

// One window of the floor at a cashier's pace: its own SQLite file, a PC/SC
// context on its window's reader and a mutual-TLS client of its own. The
// windows of one reader take turns on it through `reader_turn`, as settled's
// one card thread per reader makes them (pcsc-lite's own wait for a reader
// in another context's transaction polls every 100 ms).
struct RawWindow {
  RawWindow() = default;
  RawWindow(const RawWindow&) = delete;
  RawWindow& operator=(const RawWindow&) = delete;
  ~RawWindow() {
    if (pcsc != 0) SCardReleaseContext(pcsc);
  }
  RawSqlite db;
  std::unique_ptr<RawLedgerRows> rows;  // set: the commits write a settlement's rows instead of one row each
  SCARDCONTEXT pcsc = 0;
  std::string reader;
  std::mutex* reader_turn = nullptr;
  std::unique_ptr<DirectInsurer> insurer;
};

// A raw window ready to settle: its SQLite file, a PC/SC context on
// `reader` (taking turns on it through `turn`), its TLS client on `lane`
// with its connection made. `rows`: its file is a ledger and its commits
// write a settlement's rows. Null when the file cannot be opened (said on
// stderr); a PC/SC failure throws.
std::unique_ptr<RawWindow> open_raw_window(const std::string& db_file, std::string reader, std::mutex* turn,
                                           const insurer::ClientConfig& cfg, const Person& person, int lane,
                                           bool rows = false) {
  auto w = std::make_unique<RawWindow>();
  if (rows) {
    w->rows = std::make_unique<RawLedgerRows>();
    if (!w->rows->open(db_file)) return nullptr;
  } else if (!w->db.open(db_file)) {
    return nullptr;
  }
  if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &w->pcsc) != SCARD_S_SUCCESS)
    throw std::runtime_error("SCardEstablishContext failed");
  w->reader = std::move(reader);
  w->reader_turn = turn;
  w->insurer = std::make_unique<DirectInsurer>(cfg, person, lane);
  w->insurer->settle_once();  // its TLS connection made
  return w;
}

// One job run on a thread of its own each time it is started: the raw
// commit beside the raw card re-check on the caller's thread, as a
// settlement overlaps the request's commit with the card's re-check.
class Beside {
 public:
  explicit Beside(std::function<bool()> job) : job_(std::move(job)), thread_([this] { loop(); }) {}
  Beside(const Beside&) = delete;
  Beside& operator=(const Beside&) = delete;
  ~Beside() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void start() {
    {
      std::lock_guard lock(mu_);
      running_ = true;
    }
    cv_.notify_all();
  }
  // Waits for the job started last; whether it succeeded.
  bool wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return !running_; });
    return ok_;
  }

 private:
  void loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return running_ || stop_; });
      if (stop_) return;
      lock.unlock();
      const bool ok = job_();
      lock.lock();
      ok_ = ok;
      running_ = false;
      cv_.notify_all();
    }
  }

  std::function<bool()> job_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;
  bool stop_ = false;
  bool ok_ = false;
  std::thread thread_;
};

// The floor's operations of one settlement done raw in its order: the
// request's commit and the card re-check (the longer of the two counts: they
// overlap in a settlement), the three round trips, the outcome's commit. Each
// step's time goes into `steps` when given; the sequence's time (with the
// simulator's own time inside, subtracted later as from the settlements) is
// returned. An operation that fails throws.
struct FloorSteps {
  Latencies claim, card, outcome;
};

Clock::duration floor_once(RawWindow& w, FloorSteps* steps) {
  const auto timed_or = [](const char* what, const auto& op) {
    const auto t0 = Clock::now();
    if (!op()) throw std::runtime_error(what);
    return Clock::now() - t0;
  };
  const auto claim = timed_or("raw SQLite commit failed", [&] { return w.rows ? w.rows->claim() : w.db.commit(); });
  const auto card = timed_or("raw card re-check failed", [&] {
    std::lock_guard turn(*w.reader_turn);
    return raw::replay(w.pcsc, w.reader, raw::kRecheckScript);
  });
  w.insurer->settle_once();
  const auto outcome =
      timed_or("raw SQLite commit failed", [&] { return w.rows ? w.rows->outcome(true) : w.db.commit(); });
  if (steps != nullptr) {
    steps->claim.add(claim);
    steps->card.add(card);
    steps->outcome.add(outcome);
  }
  return std::max(claim, card) + w.insurer->last_three + outcome;
}

// The floor's operations done raw by every window at a cashier's pace (each
// waits a random time, mean think_s, drawn as the settled windows' are,
// before each sequence). One sample per sequence.
void paced_floor(Run& run, std::vector<std::unique_ptr<RawWindow>>& wins, double seconds, double think_s) {
  each_window(run, wins.size(), seconds, [&](std::size_t k, Clock::time_point end, Latencies& mine) {
    RawWindow* w = wins[k].get();
    Pace pace(k, think_s);
    while (pace.wait(end)) mine.add(floor_once(*w, nullptr));
  });
}

int run_settle(const Context& ctx) {
  ScratchDir scratch(ctx, "bench-settle");
  const std::string dir = scratch.path();
  const std::string fs = filesystem_type(dir);
  // bench settle -- [CONNECTIONS [POOL]] [--sim-sync full|normal]: cashier
  // connections of the wide run (32), settled's pooled TLS connections to the
  // insurer ([insurer] pool_size; default one per connection), and whether the
  // simulator fsyncs its own batches on this disk (default full).
  std::vector<std::string> positional;
  std::string sim_sync = "full";
  std::string perf_file;  // --perf FILE: /usr/bin/perf record -g on settled during the wide run (linux-perf)
  double think_s = 1.0;   // --think S: the paced run's mean wait before each window's settlement
  for (std::size_t i = 0; i < ctx.args.size(); ++i) {
    if (ctx.args[i] == "--perf" && i + 1 < ctx.args.size()) {
      perf_file = ctx.args[++i];
      continue;
    }
    if (ctx.args[i] == "--think" && i + 1 < ctx.args.size()) {
      think_s = std::atof(ctx.args[++i].c_str());
      if (!(think_s > 0)) {
        fmt::print(stderr, "settle: --think is a mean wait in seconds (> 0), not '{}'\n", ctx.args[i]);
        return 2;
      }
      continue;
    }
    if (ctx.args[i] == "--sim-sync" && i + 1 < ctx.args.size()) {
      sim_sync = ctx.args[++i];
      if (sim_sync != "full" && sim_sync != "normal") {
        fmt::print(stderr, "settle: --sim-sync is full or normal, not '{}'\n", sim_sync);
        return 2;
      }
    } else {
      positional.push_back(ctx.args[i]);
    }
  }
  const int many = positional.empty() ? 32 : std::max(2, std::atoi(positional[0].c_str()));
  const int pool = positional.size() < 2 ? many : std::max(1, std::atoi(positional[1].c_str()));
  std::vector<Run> runs(11);
  SimTime sim_in_one;     // the simulator's time during the 1-connection settlements
  std::pair<SettleStack::Steps, SettleStack::Steps> one_steps;  // settled's timing of their steps, around them
  std::pair<SettleStack::Writes, SettleStack::Writes> one_writes;  // the ledger's writer, around them
  SimTime sim_in_wide;    // ... during the wide run
  SimTime sim_in_paced;   // ... during the paced run
  SimTime sim_in_floor_paced;  // ... for the raw windows' 2201, 2204 and 2207 at the same pace
  SimTime sim_in_direct;  // ... for the direct client's 2201, 2204 and 2207
  SimTime sim_in_order;   // ... for the floor done raw in a settlement's order, 1 window
  FloorSteps order_steps; // that floor's steps
  SimTime sim_in_order_rows;     // ... for the same with a settlement's rows in its two commits
  FloorSteps order_rows_steps;   // its steps
  SettleStack::Cpu wide_cpu;  // CPU ms per settlement of the wide run, by process
  std::pair<SettleStack::Writes, SettleStack::Writes> wide_writes;  // the ledger's writer around the wide run
  std::pair<SettleStack::Threads, SettleStack::Threads> wide_threads;  // settled's threads around it
  Run& raw = runs[0];
  Run& card = runs[1];
  Run& direct = runs[2];
  Run& one = runs[3];
  Run& wide = runs[4];
  Run& paced = runs[5];
  Run& floor_paced = runs[6];
  Run& together = runs[7];
  Run& in_order = runs[8];
  Run& own_rows = runs[9];
  Run& in_order_rows = runs[10];
  // The paced run: long enough for a p99 of some hundreds of settlements.
  const double paced_s = std::max(10.0, 4 * ctx.seconds);
  Latencies link;               // the direct client's 2201 + 2204 + 2207, wall time per settlement
  double link_cpu_ms = 0;       // this thread's CPU for them, summed
  double raw_commit_cpu_ms = 0; // this thread's CPU in the raw commits, summed
  double raw_card_cpu_ms = 0;   // this thread's CPU in the raw card re-checks, summed
  double rows_cpu_ms = 0;       // this thread's CPU writing a settlement's rows raw (two commits), summed
  double json_cpu_ms = 0;       // one cashier request parsed and its answer written
  double handoff_us = 0;        // a hand-off between two threads and back, raw (CPU us)
  raw.name = "raw SQLite, 1 insert per transaction";
  card.name = "raw card re-check: its 4 APDUs replayed through pcscd";
  together.name = "raw commit and card re-check at once, two threads";
  direct.name = "insurer-sim alone: 1101+2201+2204+2207";
  one.name = "settle.commit, 1 connection";
  wide.name = fmt::format("settle.commit, {} connections back to back", many);
  wide.connections = many;
  paced.name = fmt::format("settle.commit, {} windows, {:.1f} s mean wait", many, think_s);
  paced.connections = many;
  floor_paced.name = fmt::format("the floor's operations raw, {} windows, {:.1f} s mean wait", many, think_s);
  floor_paced.connections = many;
  in_order.name = "the floor's operations raw in a settlement's order, 1 window";
  in_order_rows.name = "the same, its two commits with a settlement's rows";
  own_rows.name = "a settlement's rows raw in this thread (claim + outcome commit)";
  const std::vector<std::string> three{"2201", "2204", "2207"};
  try {
    StackOptions opts;
    opts.pool = pool;
    opts.sim_sync = sim_sync;
    SettleStack st(dir, opts);
    const std::string socket = st.socket();
    const std::string pki = st.pki();
    const int sim_port = st.sim_port();
    const std::vector<Person>& persons = st.persons();

    insurer::ClientConfig cfg;
    cfg.host = "127.0.0.1";
    cfg.port = static_cast<std::uint16_t>(sim_port);
    cfg.server_name = "insurer.test";
    cfg.ca_file = pki + "/ca.crt";
    cfg.cert_file = pki + "/client.crt";
    cfg.key_file = pki + "/client.key";
    cfg.paasid = institution;
    cfg.secret = secret;
    cfg.pool_size = 4;
    DirectInsurer sim_alone(cfg, persons[0]);
    RawSqlite raw_db;
    if (!raw_db.open(scratch.file("raw.db"))) return 2;
    RawLedgerRows raw_rows;
    if (!raw_rows.open(scratch.file("raw-rows.db"))) return 2;
    // The card re-check replayed raw on window W02's reader (the 1-connection
    // settlements use W01's, and no slice overlaps another).
    SCARDCONTEXT pcsc = 0;
    if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &pcsc) != SCARD_S_SUCCESS)
      throw std::runtime_error("SCardEstablishContext failed");
    const std::string card_reader = testing::vpcd_reader_name(1);
    // The floor in a settlement's order on the same reader, in slices of its own.
    std::mutex order_turn;
    const auto order_win =
        open_raw_window(scratch.file("raw-order.db"), card_reader, &order_turn, cfg, persons[1 % persons.size()], many + 1);
    if (!order_win) return 2;
    const auto order_rows_win = open_raw_window(scratch.file("raw-order-rows.db"), card_reader, &order_turn, cfg,
                                                persons[1 % persons.size()], many + 2, true);
    if (!order_rows_win) return 2;

    std::atomic<std::int64_t> seq{0};
    std::vector<std::unique_ptr<Cashier>> single;
    single.push_back(open_window(socket, 0));
    // Warm up: the daemon's sign-in, pooled TLS connections, caches.
    for (int i = 0; i < 5; ++i) sim_alone.settle_once();
    {
      Run warm;
      commits(warm, single, 0.3, seq, "online");
    }
    // The JSON of one settle.commit: its request as the cashier sends it and
    // a real answer of the daemon's.
    const Json params{{"request_id", fmt::format("bench-json-{}", ++seq)}, {"lines", visit_lines()}, {"use_account", false}};
    const Json answer = single[0]->call("settle.commit", params);
    json_cpu_ms = raw::cashier_json_cpu_ms(
        Json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "settle.commit"}, {"params", params}}.dump(), answer, 20000);
    handoff_us = raw::handoff_round_trip_cpu_us(20000);
    // Raw commits, the raw card re-check, the simulator alone and the
    // 1-connection settlements alternate in short slices so that a
    // neighbour's I/O burst weighs on all. The simulator's time is read
    // around the settled slices and the direct ones apart.
    Beside commit_beside([&raw_db] { return raw_db.commit(); });
    const int slices = std::max(1, static_cast<int>(ctx.seconds / 0.5));
    const double slice = ctx.seconds / slices;
    for (int k = 0; k < slices; ++k) {
      raw_commit_cpu_ms += timed_cpu(raw, slice, [&] {
        if (!raw_db.commit()) throw std::runtime_error("raw SQLite commit failed");
      });
      raw_card_cpu_ms += timed_cpu(card, slice / 2, [&] {
        if (!raw::replay(pcsc, card_reader, raw::kRecheckScript)) throw std::runtime_error("raw card re-check failed");
      });
      rows_cpu_ms += timed_cpu(own_rows, slice / 2, [&] {
        if (!raw_rows.settle(true)) throw std::runtime_error("a settlement's rows written raw failed");
      });
      timed(together, slice / 2, [&] {
        commit_beside.start();
        const bool card_ok = raw::replay(pcsc, card_reader, raw::kRecheckScript);
        if (!commit_beside.wait()) throw std::runtime_error("raw SQLite commit failed");
        if (!card_ok) throw std::runtime_error("raw card re-check failed");
      });
      const SimTime d0 = sim_time(st, three);
      timed(direct, slice, [&] {
        sim_alone.settle_once();
        link.add(sim_alone.last_three);
        link_cpu_ms += sim_alone.last_three_cpu_ms;
      });
      const SimTime d1 = sim_time(st, three);
      sim_in_direct.add_between(d0, d1);
      const SimTime before = sim_time(st);
      one_steps.first += st.flow_steps();
      one_writes.first += st.ledger_writes();
      commits(one, single, slice, seq, "online");
      one_writes.second += st.ledger_writes();
      one_steps.second += st.flow_steps();
      const SimTime after = sim_time(st);
      sim_in_one.add_between(before, after);
      const SimTime o0 = sim_time(st, three);
      // Back to back, as the 1-connection settlements run: every commit comes
      // after the round trips' wait, not right after another commit.
      timed_by(in_order, slice, [&] { return floor_once(*order_win, &order_steps); });
      const SimTime o1 = sim_time(st, three);
      sim_in_order.add_between(o0, o1);
      timed_by(in_order_rows, slice, [&] { return floor_once(*order_rows_win, &order_rows_steps); });
      const SimTime o2 = sim_time(st, three);
      sim_in_order_rows.add_between(o1, o2);
    }
    SCardReleaseContext(pcsc);
    // The wide run: `many` connections, half at each window, each with its own login and card read.
    std::vector<std::unique_ptr<Cashier>> conns;
    for (int i = 0; i < many; ++i) conns.push_back(open_window(socket, i % windows));
    std::unique_ptr<Child> perf;
    if (!perf_file.empty()) {
      perf = std::make_unique<Child>(std::vector<std::string>{"/usr/bin/perf", "record", "-F", "999", "-g", "-o", perf_file, "-p",
                                                              std::to_string(st.daemon_pid())},
                                     dir + "/perf.out", dir + "/perf.err");
      std::this_thread::sleep_for(500ms);  // perf attached
    }
    wide_writes.first = st.ledger_writes();  // (outside the CPU counted: a scrape costs settled some)
    wide_threads.first = st.threads();
    const SettleStack::Cpu cpu_before = st.cpu();
    const SimTime w0 = sim_time(st);
    commits(wide, conns, ctx.seconds, seq, "online");
    const SimTime w1 = sim_time(st);
    if (perf) {
      ::kill(perf->pid(), SIGINT);
      (void)perf->wait_exit(30s);
    }
    wide_cpu = cpu_per_settlement(cpu_before, st.cpu(), wide.count);
    wide_threads.second = st.threads();
    wide_writes.second = st.ledger_writes();
    sim_in_wide.us = w1.us - w0.us;
    sim_in_wide.answers = w1.answers - w0.answers;
    // The same windows at a cashier's pace: each waits a random time (mean
    // think_s) before each settlement, so the windows meet only by chance.
    // Beside it, in alternating halves, the floor's operations done raw by
    // as many windows at the same pace: a p99 is compared with the floor's
    // own p99 under the same load (the disk's slow flushes are in both).
    std::vector<std::unique_ptr<RawWindow>> raw_windows;
    std::array<std::mutex, windows> reader_turns;
    cfg.pool_size = 1;
    for (int k = 0; k < many; ++k) {
      const auto at = static_cast<std::size_t>(k % windows);
      auto w = open_raw_window(scratch.file(fmt::format("raw-window-{}.db", k)), testing::vpcd_reader_name(k % windows),
                               &reader_turns[at], cfg, persons[at], k + 1);
      if (!w) return 2;
      raw_windows.push_back(std::move(w));
    }
    for (int half = 0; half < 2; ++half) {
      const SimTime p0 = sim_time(st);
      commits(paced, conns, paced_s / 2, seq, "online", std::nullopt, think_s);
      const SimTime p1 = sim_time(st);
      sim_in_paced.add_between(p0, p1);
      const SimTime f0 = sim_time(st, three);
      paced_floor(floor_paced, raw_windows, paced_s / 2, think_s);
      const SimTime f1 = sim_time(st, three);
      sim_in_floor_paced.add_between(f0, f1);
    }
    raw_windows.clear();
    conns.clear();
    single.clear();
    // One more raw slice after the wide run (the disk may have drifted).
    raw_commit_cpu_ms += timed_cpu(raw, slice, [&] {
      if (!raw_db.commit()) throw std::runtime_error("raw SQLite commit failed");
    });
    st.stop();
  } catch (const std::exception& e) {
    fmt::print(stderr, "settle: {}\n  (files in {})\n", e.what(), dir);
    return 2;
  }

  const auto per = [](double total, std::int64_t n) { return n > 0 ? total / static_cast<double>(n) : 0.0; };
  const double raw_p50 = raw.lat.percentile_ms(50);
  const double card_p50 = card.lat.percentile_ms(50);
  // No target: the two done at once, raw, on this machine's two cores
  // (shared with pcscd and the virtual card), against the floor's max.
  const double together_p50 = together.lat.percentile_ms(50);
  // The raw link: the three round trips of the direct client minus the
  // simulator's own time for them (its signature check, work and commit).
  const double sim_direct_ms = per(static_cast<double>(sim_in_direct.us) / 1000.0, direct.count);
  // Means on both sides (the simulator reports a sum): under load a median
  // and a mean of the same round trips part by milliseconds.
  double link_sum_ms = 0;
  for (const auto us : link.us) link_sum_ms += static_cast<double>(us) / 1000.0;
  const double link_mean = per(link_sum_ms, static_cast<std::int64_t>(link.us.size()));
  const double link_net = link_mean - sim_direct_ms;
  // The floor: the request's commit (the card re-check beside it), the
  // round trips, the outcome's commit.
  const double floor_ms = std::max(raw_p50, card_p50) + link_net + raw_p50;
  // The engine's share: a settlement end to end minus the simulator's own
  // time for the transactions it made, as the simulator reports it.
  const double sim_ms_per_settlement = per(static_cast<double>(sim_in_one.us) / 1000.0, one.count);
  const double calls_per_settlement = per(static_cast<double>(sim_in_one.answers), one.count);
  const double engine_p50 = one.lat.percentile_ms(50) - sim_ms_per_settlement;
  const double sim_wide_ms = per(static_cast<double>(sim_in_wide.us) / 1000.0, wide.count);
  const double wide_p50 = wide.lat.percentile_ms(50) - sim_wide_ms;
  const double wide_p99 = wide.lat.percentile_ms(99) - sim_wide_ms;
  const double sim_paced_ms = per(static_cast<double>(sim_in_paced.us) / 1000.0, paced.count);
  const double paced_p50 = paced.lat.percentile_ms(50) - sim_paced_ms;
  const double paced_p99 = paced.lat.percentile_ms(99) - sim_paced_ms;
  const double sim_floor_paced_ms = per(static_cast<double>(sim_in_floor_paced.us) / 1000.0, floor_paced.count);
  const double floor_paced_p50 = floor_paced.lat.percentile_ms(50) - sim_floor_paced_ms;
  const double floor_paced_p99 = floor_paced.lat.percentile_ms(99) - sim_floor_paced_ms;
  // No target: the floor's operations raw in a settlement's order, back to
  // back by one window, as the 1-connection settlements run.
  const double sim_order_ms = per(static_cast<double>(sim_in_order.us) / 1000.0, in_order.count);
  const double order_p50 = in_order.lat.percentile_ms(50) - sim_order_ms;
  const double sim_order_rows_ms = per(static_cast<double>(sim_in_order_rows.us) / 1000.0, in_order_rows.count);
  const double order_rows_p50 = in_order_rows.lat.percentile_ms(50) - sim_order_rows_ms;
  // Back to back, every window waits for the CPU the others' settlements
  // take: with the whole stack's CPU per settlement c on two cores, a
  // settlement's latency is at least (windows x c) / 2 (Little's law).
  const double cpu_queue_ms = many * wide_cpu.total() / 2.0;
  // The raw CPU of the same operations in this one thread: the three TLS
  // exchanges (client side), two commits, the card re-check (its PC/SC
  // client side: settled re-checks the card for every settlement), the
  // cashier JSON.
  const double raw_link_cpu = per(link_cpu_ms, direct.count);
  const double raw_commit_cpu = per(raw_commit_cpu_ms, raw.count);
  const double raw_card_cpu = per(raw_card_cpu_ms, card.count);
  const double raw_cpu = raw_link_cpu + 2 * raw_commit_cpu + raw_card_cpu + json_cpu_ms;
  // The same with the settlement's own rows in place of the two one-row
  // commits (no target: what settled's CPU is against its operations with
  // the ledger's content, so that what the daemon adds shows apart).
  const double rows_cpu = per(rows_cpu_ms, own_rows.count);
  const double raw_rows_cpu = raw_link_cpu + rows_cpu + raw_card_cpu + json_cpu_ms;
  std::vector<Target> targets{
      {"engine share p50, 1 connection, vs the floor", engine_p50 / floor_ms, "<=", 1.5},
      {fmt::format("engine share p99, {} windows at a cashier's pace, vs the floor", many), paced_p99 / floor_ms, "<=", 3.0},
      {fmt::format("settled CPU per settlement ({} connections) vs raw CPU", many),
       raw_cpu > 0 ? wide_cpu.settled / raw_cpu : 0.0, "<=", 2.0},
  };
  bool pass = true;
  for (const auto& t : targets) pass = pass && t.pass();

  if (ctx.json) {
    std::string out = fmt::format(R"({{"section":"settle","dir":"{}","fs":"{}","seconds":{},"runs":[)", dir, fs, ctx.seconds);
    for (std::size_t i = 0; i < runs.size(); ++i) {
      Run& r = runs[i];
      out += fmt::format(R"({}{{"name":"{}","connections":{},"count":{},"per_s":{:.1f},"p50_ms":{:.3f},"p99_ms":{:.3f}}})",
                         i ? "," : "", r.name, r.connections, r.count, r.rate(), r.lat.percentile_ms(50),
                         r.lat.percentile_ms(99));
    }
    out += fmt::format(R"(],"pool":{},"sim_sync":"{}","sim_ms_per_settlement":{:.3f},"sim_calls_per_settlement":{:.2f},"engine_share_p50_ms":{:.3f},)",
                       pool, sim_sync, sim_ms_per_settlement, calls_per_settlement, engine_p50);
    out += fmt::format(R"("floor":{{"commit_p50_ms":{:.3f},"card_recheck_p50_ms":{:.3f},"together_p50_ms":{:.3f},"link_net_ms":{:.3f},"link_sim_ms":{:.3f},"sum_ms":{:.3f}}},)",
                       raw_p50, card_p50, together_p50, link_net, sim_direct_ms, floor_ms);
    out += fmt::format(R"("wide_engine_share_ms":{{"p50":{:.3f},"p99":{:.3f},"sim_ms":{:.3f},"cpu_queue_ms":{:.3f},"per_s_vs_raw_commits":{:.3f}}},)",
                       wide_p50, wide_p99, sim_wide_ms, cpu_queue_ms, wide.rate() / raw.rate());
    out += fmt::format(R"("paced_engine_share_ms":{{"think_s":{:.2f},"p50":{:.3f},"p99":{:.3f},"sim_ms":{:.3f}}},)", think_s,
                       paced_p50, paced_p99, sim_paced_ms);
    out += fmt::format(R"("paced_floor_ms":{{"p50":{:.3f},"p99":{:.3f},"sim_ms":{:.3f},"p50_ratio":{:.3f},"p99_ratio":{:.3f}}},)",
                       floor_paced_p50, floor_paced_p99, sim_floor_paced_ms, paced_p50 / floor_paced_p50,
                       paced_p99 / floor_paced_p99);
    const auto in_order_json = [engine_p50](const char* key, double p50, double sim_ms, FloorSteps& steps) {
      return fmt::format(
          R"("{}":{{"p50":{:.3f},"sim_ms":{:.3f},"claim_p50":{:.3f},"card_p50":{:.3f},"outcome_p50":{:.3f},"ratio":{:.3f}}},)",
          key, p50, sim_ms, steps.claim.percentile_ms(50), steps.card.percentile_ms(50), steps.outcome.percentile_ms(50),
          engine_p50 / p50);
    };
    out += in_order_json("in_order_floor_ms", order_p50, sim_order_ms, order_steps);
    out += in_order_json("in_order_rows_ms", order_rows_p50, sim_order_rows_ms, order_rows_steps);
    out += fmt::format(R"("raw_cpu_ms":{{"tls_3_calls":{:.4f},"commit":{:.4f},"card_recheck":{:.4f},"cashier_json":{:.4f},"sum":{:.4f}}},)",
                       raw_link_cpu, raw_commit_cpu, raw_card_cpu, json_cpu_ms, raw_cpu);
    out += fmt::format(R"("raw_cpu_with_rows_ms":{{"rows_2_commits":{:.4f},"sum":{:.4f},"ratio":{:.3f}}},)", rows_cpu,
                       raw_rows_cpu, raw_rows_cpu > 0 ? wide_cpu.settled / raw_rows_cpu : 0.0);
    out += fmt::format(R"("wide_cpu_ms_per_settlement":{{{}}},"targets":[)", cpu_json(wide_cpu));
    for (std::size_t i = 0; i < targets.size(); ++i)
      out += fmt::format(R"({}{{"what":"{}","ratio":{:.2f},"op":"{}","limit":{},"pass":{}}})", i ? "," : "",
                         targets[i].what, targets[i].value, targets[i].op, targets[i].limit, targets[i].pass());
    out += fmt::format(R"(],"pass":{}}})", pass);
    fmt::print("{}\n", out);
    return pass ? 0 : 1;
  }
  fmt::print("  scratch dir {} ({}), {:.1f} s per measurement; settled (insurer pool_size {}), insurer-sim\n"
             "  (--sync {}) and this process share the machine; connections alternate between windows W01 and W02\n\n",
             dir, fs, ctx.seconds, pool, sim_sync);
  std::vector<std::vector<std::string>> rows{{"measurement", "count", "per s", "p50 ms", "p99 ms"}};
  for (Run& r : runs)
    rows.push_back({r.name, fmt::format("{}", r.count), fmt::format("{:.0f}", r.rate()),
                    fmt::format("{:.3f}", r.lat.percentile_ms(50)), fmt::format("{:.3f}", r.lat.percentile_ms(99))});
  rows.push_back({"insurer-sim alone: 2201+2204+2207 only", fmt::format("{}", link.us.size()), "",
                  fmt::format("{:.3f}", link.percentile_ms(50)), fmt::format("{:.3f}", link.percentile_ms(99))});
  rows.push_back({fmt::format("insurer-sim's own time per 1-connection settlement ({:.2f} calls, mean)", calls_per_settlement),
                  "", "", fmt::format("{:.3f}", sim_ms_per_settlement), ""});
  rows.push_back({"engine share (1 connection p50 - insurer-sim's own time)", "", "", fmt::format("{:.3f}", engine_p50), ""});
  rows.push_back({fmt::format("engine share, {} connections back to back (- insurer-sim's {:.3f} ms)", many, sim_wide_ms), "", "",
                  fmt::format("{:.3f}", wide_p50), fmt::format("{:.3f}", wide_p99)});
  rows.push_back({fmt::format("engine share, {} windows at a cashier's pace (- insurer-sim's {:.3f} ms)", many, sim_paced_ms), "",
                  "", fmt::format("{:.3f}", paced_p50), fmt::format("{:.3f}", paced_p99)});
  rows.push_back({fmt::format("the floor raw, {} windows at a cashier's pace (- insurer-sim's {:.3f} ms)", many, sim_floor_paced_ms),
                  "", "", fmt::format("{:.3f}", floor_paced_p50), fmt::format("{:.3f}", floor_paced_p99)});
  print_table(rows);
  fmt::print("\n  the floor: max(commit {:.3f}, card re-check {:.3f}) + link {:.3f} (2201+2204+2207 mean {:.3f} - insurer-sim's {:.3f})\n"
             "             + commit {:.3f} = {:.3f} ms; engine share ÷ floor: 1 connection p50 {:.2f}x; {} windows at a cashier's pace\n"
             "             p50 {:.2f}x, p99 {:.2f}x\n",
             raw_p50, card_p50, link_net, link_mean, sim_direct_ms, raw_p50, floor_ms, engine_p50 / floor_ms,
             many, paced_p50 / floor_ms, paced_p99 / floor_ms);
  fmt::print("  the commit and the card re-check done raw at once (two threads, no target): p50 {:.3f} ms against\n"
             "  the floor's max of the two measured alone, {:.3f} ms ({:.2f}x)\n",
             together_p50, std::max(raw_p50, card_p50), together_p50 / std::max(raw_p50, card_p50));
  fmt::print("  the floor's operations done raw in a settlement's order by 1 window back to back (no target): p50 {:.3f} ms\n"
             "  less insurer-sim's {:.3f} = {:.3f} ms; its steps' p50: request commit {:.3f}, card re-check {:.3f}, outcome\n"
             "  commit {:.3f} ms (the raw commits' own loop, one right after another: {:.3f}); the engine share ÷ it: {:.2f}x\n",
             in_order.lat.percentile_ms(50), sim_order_ms, order_p50, order_steps.claim.percentile_ms(50),
             order_steps.card.percentile_ms(50), order_steps.outcome.percentile_ms(50), raw_p50, engine_p50 / order_p50);
  fmt::print("  the same with a settlement's rows in its two commits (no target): p50 {:.3f} ms less insurer-sim's {:.3f}\n"
             "  = {:.3f} ms; request commit {:.3f}, card re-check {:.3f}, outcome commit {:.3f} ms; the engine share ÷ it: {:.2f}x\n",
             in_order_rows.lat.percentile_ms(50), sim_order_rows_ms, order_rows_p50,
             order_rows_steps.claim.percentile_ms(50), order_rows_steps.card.percentile_ms(50),
             order_rows_steps.outcome.percentile_ms(50), engine_p50 / order_rows_p50);
  print_steps(one_steps.first, one_steps.second, one.count,
              fmt::format("1-connection settlements (the simulator's own {:.3f} ms inside insurer_call)",
                          sim_ms_per_settlement));
  print_writes(one_writes.first, one_writes.second, one.count, "1-connection settlements");
  fmt::print("  the floor's operations done raw by {} windows at the same pace: p50 {:.3f}, p99 {:.3f} ms; the engine share\n"
             "  at a cashier's pace against them (no target): p50 {:.2f}x, p99 {:.2f}x\n",
             many, floor_paced_p50, floor_paced_p99, paced_p50 / floor_paced_p50, paced_p99 / floor_paced_p99);
  fmt::print("  {} connections back to back (no target: the machine's ceiling): p50 {:.2f}x, p99 {:.2f}x the floor; the whole\n"
             "  stack's CPU per settlement ({:.3f} ms) puts each of {} settlements in flight on 2 cores behind {:.1f} ms of the others'\n"
             "  work (Little's law); {:.0f} settlements/s, {:.2f}x the raw commits/s\n",
             many, wide_p50 / floor_ms, wide_p99 / floor_ms, wide_cpu.total(), many, cpu_queue_ms, wide.rate(),
             wide.rate() / raw.rate());
  fmt::print("  raw CPU per settlement in one thread: TLS 2201+2204+2207 {:.3f} + 2 commits {:.3f} + card re-check {:.3f}\n"
             "  + cashier JSON {:.3f} = {:.3f} ms; settled {:.3f} ms ({:.2f}x)\n\n",
             raw_link_cpu, 2 * raw_commit_cpu, raw_card_cpu, json_cpu_ms, raw_cpu, wide_cpu.settled,
             raw_cpu > 0 ? wide_cpu.settled / raw_cpu : 0.0);
  fmt::print("  the same with the settlement's own rows written raw in this thread in place of the 2 one-row commits\n"
             "  (no target: the ledger's statements, a claim and an outcome commit, {:.3f} ms): {:.3f} ms; settled {:.2f}x it\n\n",
             rows_cpu, raw_rows_cpu, raw_rows_cpu > 0 ? wide_cpu.settled / raw_rows_cpu : 0.0);
  print_cpu(wide_cpu, fmt::format("{}-connection run", many));
  print_threads(wide_threads.first, wide_threads.second, wide.count, fmt::format("{}-connection run", many),
                handoff_us);
  print_writes(wide_writes.first, wide_writes.second, wide.count, fmt::format("{}-connection run", many));
  print_targets(targets);
  return pass ? 0 : 1;
}

}  // namespace

SETTLE_BENCH_SECTION("settle", "online settlements through settled's socket (1 and 32 windows) vs the floor of raw operations",
                     run_settle);

}  // namespace settle::bench
