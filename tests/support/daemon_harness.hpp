// The whole settlement stack for end-to-end tests: a temp dir in the build
// tree, the test PKI, the real insurer-sim (mutual TLS), pcscd with virtual
// cards, operators made with settlectl, and the real settled process, plus a
// JSON-RPC client over the cashier socket. Everything started is killed again.
#pragma once

#include "engine/money.hpp"
#include "protocol/json.hpp"
#include "tests/support/pcsc_harness.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace settle::testing {

using json::Json;

// A person known to the insurer and carried on a virtual card.
struct PersonSpec {
  std::string card_no;             // 9 characters, e.g. "E00000001"
  std::string card_sn;             // 16 or 32 letters/digits
  std::string id_no;               // valid 18-character ID number
  std::string name = "张三";
  std::string insutype = "310";
  std::string balance = "500.00";
  std::string deductible_used = "1800.00";  // past the outpatient deductible by default
  std::vector<std::string> flags;  // unit_arrears, not_designated, supervised, temp_settle_change
  std::string pin = "123456";
  std::string insuplc_admdvs;      // the insured area, 6 digits ("": the simulator's own, 110105)
};

// An ID number with a valid GB 11643 check character from 17 digits.
std::string id_number(const std::string& first17);
// A person numbered n (distinct card_no, card_sn and id_no per n).
PersonSpec person(int n);

// The JSON-RPC 2.0 client of one cashier connection.
class RpcClient {
 public:
  explicit RpcClient(const std::string& socket_path);
  ~RpcClient();
  RpcClient(const RpcClient&) = delete;
  RpcClient& operator=(const RpcClient&) = delete;

  // Writes the text and a newline as it is.
  void send_line(const std::string& line);
  // Sends a request with a fresh integer id; returns the id.
  std::int64_t send(const std::string& method, const Json& params = Json::object());
  // The response with this id (notifications and other answers are kept).
  // Throws std::runtime_error past the deadline or if the connection closes.
  Json wait_id(const Json& id, std::chrono::milliseconds deadline = std::chrono::seconds(60));
  // The next answer (any id, also null) in arrival order.
  Json next_response(std::chrono::milliseconds deadline = std::chrono::seconds(30));
  // send + wait_id.
  Json call(const std::string& method, const Json& params = Json::object(),
            std::chrono::milliseconds deadline = std::chrono::seconds(60));
  // The next notification of this method (others stay queued), or nullopt.
  std::optional<Json> wait_notification(const std::string& method, std::chrono::milliseconds deadline);
  // Whether the server closes the connection within the deadline.
  bool wait_closed(std::chrono::milliseconds deadline);

  Json login(const std::string& op, const std::string& password, const std::string& window);

  // Set: every line written ('>') and read ('<'), as on the wire (the API
  // reference's examples are taken from such a transcript).
  std::function<void(char direction, const std::string& line)> transcript;

 private:
  bool read_some(std::chrono::steady_clock::time_point until);
  int fd_ = -1;
  bool eof_ = false;
  std::string buf_;
  std::deque<Json> responses_;
  std::deque<Json> notifications_;
  std::int64_t next_id_ = 1;
};

// The reason of an error response, or "" for a result.
std::string reason_of(const Json& response);
// An amount at a key of an object, through the project's money parser.
Amount amount_at(const Json& obj, const std::string& key);
Amount fen(std::int64_t f);

struct Operator {
  std::string name, role, password;
};

// A file's whole content ("" if it cannot be read).
std::string slurp(const std::filesystem::path& p);

// A program run to its end: exit status (-1 if killed), stdout, stderr.
struct ProgramRun {
  int status = -1;
  std::string out, err;
};
// Runs a shell command line to its end, its output kept in <dir>/<name>.out
// and .err as well as in the result.
ProgramRun run_shell(const std::string& command, const std::filesystem::path& dir, const std::string& name);

class Stack {
 public:
  // `name` names the temp dir (build-tree/e2e/<name>-<pid>), kept for reading.
  explicit Stack(const std::string& name);
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  const std::filesystem::path& dir() const { return dir_; }

  // ---- insurer-sim
  // Before start_sim: through `insurer-sim add-person`; after: POST /persons.
  void add_person(const PersonSpec& p);
  void start_sim();
  void stop_sim();
  // A simulator started elsewhere: only its control endpoint (loopback port) is used.
  void attach_sim(std::uint16_t control_port);
  std::uint16_t sim_port() const { return sim_port_; }
  std::uint16_t control_port() const { return control_port_; }
  struct ControlReply {
    unsigned status = 0;
    Json body;
  };
  ControlReply sim_control(const std::string& method, const std::string& target,
                           const std::optional<Json>& body = std::nullopt) const;
  void set_faults(const std::vector<std::string>& faults) const;
  void clear_faults() const;
  Json report(const std::string& query = "") const;  // GET /report[?query]

  // ---- pcscd and virtual cards (vpcd reader index 0 → W01, 1 → W02; the
  // config's window W09 names a reader that does not exist)
  void start_pcscd();
  // pcscd stopped (every reader gone) and, after `down`, started again; the
  // virtual cards reconnect by themselves.
  void restart_pcscd(std::chrono::milliseconds down);
  VirtualCard& insert_card(int index, const PersonSpec& p, std::vector<std::string> extra = {});
  VirtualCard* card(int index);
  void drop_card(int index);  // stops the card's process (reader empty)

  // ---- settled
  // settlectl operator add (on the ledger before start, as the administrator
  // after); the operator's first login changes its initial password.
  void add_operator(const Operator& op);
  // settlectl <args> over the socket as `op` (window W01, --json); `args` go
  // through the shell (quote a note with spaces).
  ProgramRun settlectl_as(const Operator& op, const std::string& args) const;
  void start_daemon();
  void stop_daemon();      // SIGTERM, waits for the exit
  void kill_daemon();      // SIGKILL
  void reload_daemon();    // SIGHUP (systemctl reload): returns at once, the daemon reloads on its own
  void restart_daemon() { stop_daemon(); start_daemon(); }
  bool daemon_running() const { return daemon_pid_ > 0; }
  pid_t daemon_pid() const { return daemon_pid_; }
  // False (and the pid forgotten) when settled has exited by itself, e.g. a crash.
  bool daemon_alive();
  std::string socket_path() const;
  std::string daemon_log() const;
  std::unique_ptr<RpcClient> connect() const;
  // A connection logged in as this operator at this window (REQUIREs success).
  std::unique_ptr<RpcClient> session(const Operator& op, const std::string& window = "W01") const;

  // The standard stack: PKI, sim with `persons`, pcscd, operators, daemon.
  static inline const Operator cashier{"c001", "cashier", "Cashier-2026"};
  static inline const Operator supervisor{"s001", "supervisor", "Super-2026"};
  static inline const Operator auditor{"a001", "auditor", "Audit-2026"};
  static inline const Operator admin{"adm1", "admin", "Admin-2026!"};
  // `more` operators are added too (with the standard ones, before settled starts).
  void start_all(const std::vector<PersonSpec>& persons, const std::vector<Operator>& more = {});

  // The insurer profile, "regional" or "national": insurer-sim's --profile
  // and settled's [insurer] profile, read by start_sim and start_daemon.
  std::string profile = "regional";
  // Extra lines appended to the generated config's [cashier] table etc.
  std::string extra_config;
  // Extra lines inside the generated config's [insurer] table (e.g. timeouts).
  std::string insurer_extra;
  // The [redlist] table's lines: no scheduled sync by default, so that no
  // background 9303 takes a test's insurer fault or moves the line's state.
  std::string redlist_config = "sync_interval_s = 0\n";
  // Set: the ledger and the red list are encrypted with this key file
  // ([storage] key_file; settlectl operator add gets --key-file).
  std::string storage_key_file;

 private:
  std::string pki(const std::string& f) const;
  std::filesystem::path dir_;
  std::filesystem::path pki_dir_;
  std::vector<PersonSpec> pending_persons_;
  std::vector<Operator> first_login_;  // added, not logged in yet
  void first_logins();
  pid_t sim_pid_ = -1;
  std::uint16_t sim_port_ = 0;
  std::uint16_t control_port_ = 0;
  std::unique_ptr<Pcscd> pcscd_;
  std::map<int, std::unique_ptr<VirtualCard>> cards_;
  pid_t daemon_pid_ = -1;
  int daemon_starts_ = 0;
};

// The result of a response (REQUIREs one: an error fails the test with it).
Json result_of(const Json& response);
// engine.status's result.
Json engine_status(RpcClient& c);
// Waits until engine.status satisfies `ok`; FAILs with the last status past the deadline.
Json wait_status(RpcClient& c, const std::function<bool(const Json&)>& ok, std::chrono::milliseconds deadline,
                 const std::string& what);
// The simulator's settlements in force for a request_id (medins_setl_id
// online, local_id of an offline upload).
int effective_at_insurer(const Stack& s, const std::string& request_id);
// A visit's department, doctor and main diagnosis (settle.commit's `visit`:
// the national interface needs them on 2201).
Json visit_facts();

}  // namespace settle::testing
