// The cashier socket under abuse on the real stack (floods of connections,
// slowloris, login floods and lockouts from other users while a cashier
// settles), engine.status before a login, masked errors, a window's own reads.
#include "tests/support/daemon_harness.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <grp.h>
#include <signal.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace settle::cashier_guard {
namespace {

using settle::testing::Json;
using settle::testing::Operator;
using settle::testing::reason_of;
using settle::testing::result_of;
using settle::testing::RpcClient;
using settle::testing::Stack;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

const Operator kCashier2{"c002", "cashier", "Cashier2-2026"};

std::unique_ptr<Stack> g_stack;

Stack& stack() {
  if (!g_stack) {
    g_stack = std::make_unique<Stack>("cashier-guard");
    g_stack->start_all({settle::testing::person(1), settle::testing::person(2)}, {kCashier2});
    g_stack->insert_card(0, settle::testing::person(1));
    g_stack->insert_card(1, settle::testing::person(2));
  }
  REQUIRE_MESSAGE(g_stack->daemon_alive(), "settled exited: " << g_stack->daemon_log());
  return *g_stack;
}

Json lines() {
  return Json::array({Json{{"code", "110200001"}, {"name", "普通门诊诊查费"}, {"class", "A"}, {"amount", "25.00"}},
                      Json{{"code", "C0001"}, {"name", "自费营养品"}, {"class", "C"}, {"amount", "16.00"}}});
}

int g_request = 0;

// settle.list's params for every settlement (with `more` members).
Json every(const Json& more = Json::object()) {
  Json p{{"from", "2000-01-01"}, {"to", "2100-01-01"}, {"limit", 500}};
  for (const auto& [k, v] : more.items()) p[k] = v;
  return p;
}

// A settlement of the card at the session's window (card.read first).
Json settle_here(RpcClient& c) {
  const Json card = c.call("card.read");
  REQUIRE_MESSAGE(card.contains("result"), card.dump());
  return result_of(c.call("settle.commit", Json{{"request_id", fmt::format("guard-{}", ++g_request)}, {"lines", lines()}}));
}

// A raw Unix socket to the daemon (for clients the harness's RpcClient does not play).
int raw_connect(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), std::min(path.size(), sizeof addr.sun_path - 1));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Whether the server has closed this socket (EOF or an error; data is read and dropped).
bool closed_by_server(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  char buf[4096];
  const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

// True once the parent has closed its end of the stop pipe.
bool stop_asked(int fd, std::chrono::milliseconds wait = 0ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(wait.count())) > 0;
}

// One attacker: a child process as user `uid` in the socket's group (so it
// can reach the socket), running `body(stop_fd)` and writing its tally (one
// line) to the report pipe.
struct Attacker {
  pid_t pid = -1;
  int report = -1;
  std::string name;
};

Attacker spawn_attacker(const std::string& name, uid_t uid, int stop_fd, int stop_write_fd,
                        const std::function<std::string(int)>& body) {
  int out[2];
  REQUIRE(::pipe(out) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(out[0]);
    ::close(stop_write_fd);
    ::signal(SIGPIPE, SIG_IGN);
    if (::setgroups(0, nullptr) != 0 || ::setgid(0) != 0 || ::setuid(uid) != 0) ::_exit(90);
    std::string tally;
    try {
      tally = body(stop_fd);
    } catch (const std::exception& e) {
      tally = std::string("exception: ") + e.what();
    }
    tally += "\n";
    if (::write(out[1], tally.data(), tally.size()) < 0) ::_exit(92);
    ::_exit(0);
  }
  ::close(out[1]);
  return Attacker{pid, out[0], name};
}

std::string collect(Attacker& a) {
  std::string text;
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(a.report, buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(a.report);
  int status = 0;
  ::waitpid(a.pid, &status, 0);
  CHECK_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0), a.name << " exited with " << status);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// Connections opened without end (past the daemon's 64) and held idle.
std::string connection_flood(const std::string& path, int stop_fd) {
  std::vector<int> fds;
  int opened = 0, failed = 0;
  while (!stop_asked(stop_fd, 10ms) && opened < 150) {
    const int fd = raw_connect(path);
    if (fd < 0) {
      ++failed;
      continue;
    }
    fds.push_back(fd);
    ++opened;
  }
  while (!stop_asked(stop_fd, 100ms)) {
  }
  int closed = 0;
  for (int fd : fds) {
    closed += closed_by_server(fd);
    ::close(fd);
  }
  return fmt::format("{} {} {}", opened, closed, failed);
}

// Clients that send a request line one byte at a time and never finish it.
// Alone (`alone`), it runs until the server has closed every one of them
// (or 15 s), whatever the stop pipe says.
std::string slowloris(const std::string& path, int stop_fd, bool alone) {
  const std::string line = R"({"jsonrpc":"2.0","id":1,"method":"engine.status","params":{"pad":"xxxxxxxxxxxxxxxxxxxx"}})";
  std::vector<int> fds;
  for (int i = 0; i < 10; ++i)
    if (const int fd = raw_connect(path); fd >= 0) fds.push_back(fd);
  std::vector<bool> closed(fds.size(), false);
  const auto started = Clock::now();
  std::int64_t last_closed_ms = -1;
  const auto go_on = [&] {
    if (!alone) return !stop_asked(stop_fd, 250ms);
    std::this_thread::sleep_for(250ms);
    return std::find(closed.begin(), closed.end(), false) != closed.end() && Clock::now() - started < 15s;
  };
  for (std::size_t pos = 0; go_on() && pos < line.size(); ++pos) {
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (closed[i]) continue;
      if (closed_by_server(fds[i]) || ::send(fds[i], &line[pos], 1, MSG_NOSIGNAL) != 1) {
        closed[i] = true;
        last_closed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
      }
    }
  }
  while (!alone && !stop_asked(stop_fd, 100ms)) {
  }
  int n_closed = 0;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (!closed[i] && closed_by_server(fds[i])) closed[i] = true;
    n_closed += closed[i];
    ::close(fds[i]);
  }
  return fmt::format("{} {} {}", fds.size(), n_closed, last_closed_ms);
}

// Wrong passwords for several names, connection after connection, with
// `parallel` connections whose logins are all waiting at once.
std::string login_flood(const std::string& path, int stop_fd, const std::vector<std::string>& names, int parallel) {
  int failed = 0, locked = 0, limited = 0, other = 0, connections = 0;
  for (int round = 0; !stop_asked(stop_fd); ++round) {
    std::vector<std::unique_ptr<RpcClient>> cs;
    for (int k = 0; k < parallel; ++k) {
      try {
        cs.push_back(std::make_unique<RpcClient>(path));
        ++connections;
      } catch (const std::exception&) {
      }
    }
    if (cs.empty()) {
      std::this_thread::sleep_for(20ms);
      continue;
    }
    for (int i = 0; i < 3 && !stop_asked(stop_fd); ++i) {
      std::vector<std::pair<RpcClient*, std::int64_t>> sent;
      for (std::size_t k = 0; k < cs.size(); ++k) {
        const std::string& name = names[(static_cast<std::size_t>(round + i) + k) % names.size()];
        try {
          sent.emplace_back(cs[k].get(), cs[k]->send("session.login", Json{{"operator", name},
                                                                           {"password", fmt::format("Guess-{}-{}", round, i)},
                                                                           {"window", "W01"}}));
        } catch (const std::exception&) {
        }
      }
      for (auto& [c, id] : sent) {
        Json r;
        try {
          r = c->wait_id(id, 30s);
        } catch (const std::exception&) {
          continue;  // closed after its third failure
        }
        const std::string why = reason_of(r);
        failed += why == "LOGIN_FAILED";
        locked += why == "LOCKED_OUT";
        limited += why == "LIMIT_EXCEEDED";
        other += why != "LOGIN_FAILED" && why != "LOCKED_OUT" && why != "LIMIT_EXCEEDED";
      }
    }
  }
  return fmt::format("{} {} {} {} {}", connections, failed, locked, limited, other);
}

}  // namespace

TEST_CASE("under floods of connections, slowloris clients, bad logins and lockout attempts from other users, "
          "a cashier still logs in and settles within seconds") {
  Stack& s = stack();
  if (::getuid() != 0) {
    MESSAGE("not root: the attackers cannot run as other users; not run");
    return;
  }
  const std::string path = s.socket_path();
  int stop[2];
  REQUIRE(::pipe(stop) == 0);
  std::vector<Attacker> attackers;
  attackers.push_back(spawn_attacker("connection flood", 65530, stop[0], stop[1],
                                     [&](int fd) { return connection_flood(path, fd); }));
  attackers.push_back(
      spawn_attacker("slowloris", 65531, stop[0], stop[1], [&](int fd) { return slowloris(path, fd, false); }));
  for (uid_t uid : {65532U, 65533U})
    attackers.push_back(spawn_attacker(fmt::format("login flood {}", uid), uid, stop[0], stop[1], [&](int fd) {
      return login_flood(path, fd, {"s001", "a001", "adm1", "ghost", "c001"}, 4);
    }));
  // Deliberate lockout of the real cashier's name, from another user, 16 logins at a time.
  attackers.push_back(spawn_attacker("lockout of c001", 65534, stop[0], stop[1],
                                     [&](int fd) { return login_flood(path, fd, {Stack::cashier.name}, 16); }));
  ::close(stop[0]);

  // The cashier, from her own terminal (another user: uid 0), while the
  // attack lasts; each round from a new connection.
  std::vector<double> rounds;
  const auto cashier_round = [&](const std::string& when) {
    const auto t0 = Clock::now();
    auto c = s.connect();
    const Json in = c->login(Stack::cashier.name, Stack::cashier.password, "W01");
    REQUIRE_MESSAGE(in.contains("result"), in.dump());
    const Json setl = settle_here(*c);
    CHECK(setl["mode"] == "online");
    const double took = std::chrono::duration<double>(Clock::now() - t0).count();
    rounds.push_back(took);
    MESSAGE(fmt::format("cashier round {}: connected, logged in and settled in {:.3f} s", when, took));
    CHECK(took < 10.0);
  };
  const auto attack_start = Clock::now();
  for (const auto at : {1500ms, 5000ms, 8500ms}) {
    std::this_thread::sleep_until(attack_start + at);
    cashier_round(fmt::format("at {} ms into the floods", at.count()));
  }
  // engine.status before a login, from the cashier's user, is answered too.
  CHECK(s.connect()->call("engine.status").contains("result"));
  ::close(stop[1]);

  std::vector<std::string> tallies;
  for (auto& a : attackers) tallies.push_back(collect(a));
  for (std::size_t i = 0; i < attackers.size(); ++i) MESSAGE(attackers[i].name << ": " << tallies[i]);

  // Slowloris alone (with the floods, the eviction of idle connections
  // closed them first): the partial-line limit closes them, and the cashier
  // settles meanwhile.
  int stop2[2];
  REQUIRE(::pipe(stop2) == 0);
  Attacker slow_alone =
      spawn_attacker("slowloris alone", 65531, stop2[0], stop2[1], [&](int fd) { return slowloris(path, fd, true); });
  ::close(stop2[0]);
  std::this_thread::sleep_for(1500ms);
  cashier_round("during the slowloris clients");
  const std::string slow_tally = collect(slow_alone);
  ::close(stop2[1]);
  MESSAGE("slowloris alone: " << slow_tally);
  int slow2 = 0, slow2_closed = 0, slow2_last_ms = 0;
  REQUIRE(std::sscanf(slow_tally.c_str(), "%d %d %d", &slow2, &slow2_closed, &slow2_last_ms) == 3);
  CHECK(slow2 == 10);
  CHECK(slow2_closed == 10);
  CHECK(slow2_last_ms >= 9000);   // not before the 10 s limit (the sweep runs once a second)
  CHECK(slow2_last_ms <= 12500);  // and not much after it
  MESSAGE("whole attack: " << std::chrono::duration<double>(Clock::now() - attack_start).count() << " s");

  int opened = 0, flood_closed = 0, flood_failed = 0;
  REQUIRE(std::sscanf(tallies[0].c_str(), "%d %d %d", &opened, &flood_closed, &flood_failed) == 3);
  CHECK(opened == 150);
  CHECK(flood_closed >= opened - 64);  // the oldest idle ones made room

  int slow = 0, slow_closed = 0, last_closed_ms = 0;
  REQUIRE(std::sscanf(tallies[1].c_str(), "%d %d %d", &slow, &slow_closed, &last_closed_ms) == 3);
  CHECK(slow == 10);
  CHECK(slow_closed == slow);  // eviction made room with them

  for (std::size_t i = 2; i < attackers.size(); ++i) {
    int conns = 0, failed = 0, locked = 0, limited = 0, other = 0;
    REQUIRE_MESSAGE(std::sscanf(tallies[i].c_str(), "%d %d %d %d %d", &conns, &failed, &locked, &limited, &other) == 5,
                    tallies[i]);
    INFO(attackers[i].name << ": " << tallies[i]);
    CHECK(other == 0);
    CHECK(failed + locked <= 6 + 6);  // the source's 6 a minute were all it got checked (the rest was refused unchecked)
    CHECK(limited > 0);
  }

  // The lockout hit only the attacker's own source: the real cashier's
  // source has no failures, and the attacker's is locked.
  auto adm = s.session(Stack::admin);
  const Json ops = result_of(adm->call("operator.list"));
  bool attacker_locked = false;
  for (const auto& o : ops["operators"]) {
    for (const auto& src : o["sources"]) {
      CHECK(src["source"] != "uid:0");
      if (o["operator"] == Stack::cashier.name && src["source"] == "uid:65534") attacker_locked = src["locked"] == true;
    }
  }
  CHECK(attacker_locked);
  // The trail holds the checked failures and one throttled login a minute
  // per attacker, not one entry per guess.
  auto aud = s.session(Stack::auditor);
  std::map<std::string, int> throttled_entries;
  int attacker_entries = 0;
  Json page = Json{{"action", "session.login"}, {"limit", 500}};
  for (int pages = 0; pages < 20; ++pages) {
    const Json got = result_of(aud->call("audit.list", page));
    for (const auto& e : got["entries"]) {
      const std::string src = e["source"].get<std::string>();
      if (src.rfind("uid:6553", 0) != 0) continue;
      ++attacker_entries;
      if (e["outcome"] == "LIMIT_EXCEEDED") ++throttled_entries[src];
    }
    if (!got["more"].get<bool>()) break;
    page["cursor"] = got["cursor"];
  }
  MESSAGE("audit entries of the attackers' logins: " << attacker_entries);
  CHECK(attacker_entries <= 3 * (6 + 2));
  for (const auto& [src, n] : throttled_entries) CHECK_MESSAGE(n <= 2, src << ": " << n);
  for (const auto& o : ops["operators"])
    if (!o["sources"].empty()) (void)adm->call("operator.unlock", Json{{"operator", o["operator"]}});
  CHECK(s.daemon_alive());
}

TEST_CASE("engine.status before a login is limited per client; sessions are not") {
  Stack& s = stack();
  std::this_thread::sleep_for(1100ms);  // a fresh second for this user
  auto a = s.connect();
  auto b = s.connect();
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 25; ++i) ids.push_back(a->send("engine.status"));
  int answered = 0, limited = 0;
  Json refusal;
  for (auto id : ids) {
    const Json r = a->wait_id(id, 10s);
    if (r.contains("result")) {
      ++answered;
      // Nothing personal: the line, the counts, the red list, the readers.
      for (const char* k : {"network", "pending_uploads", "in_doubt", "readers"}) CHECK(r["result"].contains(k));
      CHECK(r["result"].dump().find(settle::testing::person(1).card_no) == std::string::npos);
    } else {
      ++limited;
      refusal = r;
    }
  }
  INFO("answered " << answered << ", limited " << limited);
  CHECK(answered >= 1);
  CHECK(answered <= 12);
  CHECK(limited >= 13);
  CHECK(reason_of(refusal) == "LIMIT_EXCEEDED");
  CHECK(refusal["error"]["data"]["retry_after_ms"].get<std::int64_t>() >= 1);
  // Per client: another connection of the same user shares the allowance.
  CHECK(reason_of(b->call("engine.status")) == "LIMIT_EXCEEDED");
  // A refused call before a login counts too (and is not audited past it).
  CHECK(reason_of(b->call("settle.list")) == "LIMIT_EXCEEDED");
  // A session is not limited.
  auto c = s.session(Stack::cashier);
  for (int i = 0; i < 25; ++i) CHECK(c->call("engine.status").contains("result"));
  // A second later the client may ask again.
  std::this_thread::sleep_for(1100ms);
  CHECK(b->call("engine.status").contains("result"));
}

TEST_CASE("error replies mask card, person and ID numbers; the insurer's message is cleaned and bounded") {
  Stack& s = stack();
  const auto p = settle::testing::person(1);
  const std::string id_no = p.id_no;
  const std::string psn_no = "1100000012345678";
  // The insurer's err_msg: a card number, a person number, an ID number, control characters, and long.
  const std::string said = fmt::format("card {} of person {}, id {}\x01\x1b[31m\r\nrefused; {}", p.card_no, psn_no, id_no,
                                       std::string(400, 'z'));
  const auto check_clean = [&](const Json& r) {
    INFO("answer: " << r.dump());
    REQUIRE(reason_of(r) == "INSURER_REJECTED");
    const std::string message = r["error"]["message"].get<std::string>();
    const std::string err_msg = r["error"]["data"]["err_msg"].get<std::string>();
    CHECK(message.rfind("the insurer refused", 0) == 0);  // our words first
    for (const std::string& text : {message, err_msg, r.dump()}) {
      CHECK(text.find(p.card_no) == std::string::npos);
      CHECK(text.find(psn_no) == std::string::npos);
      CHECK(text.find(id_no) == std::string::npos);
    }
    for (char ch : err_msg) CHECK((static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7F));
    CHECK(err_msg.size() <= 200);
    CHECK(err_msg.find(id_no.substr(0, 6) + "********" + id_no.substr(14)) != std::string::npos);
    CHECK(err_msg.find(p.card_no.substr(0, 2)) != std::string::npos);
  };

  auto c = s.session(Stack::cashier);
  REQUIRE(c->call("card.read").contains("result"));
  // 1101 (person.query) refused.
  s.set_faults({"error:count=1,infno=1101,msg=" + said});
  const Json q = c->call("person.query");
  s.clear_faults();
  check_clean(q);
  // 2201 (the visit of settle.commit) refused: the flow's answer, and its replay.
  REQUIRE(c->call("person.query").contains("result"));
  s.set_faults({"error:count=1,infno=2201,msg=" + said});
  const Json params{{"request_id", "guard-rejected"}, {"lines", lines()}};
  const Json rej = c->call("settle.commit", params);
  s.clear_faults();
  check_clean(rej);
  check_clean(c->call("settle.commit", params));

  // Our own errors echo what was asked: an ID number sent as a setl_id comes back masked.
  const Json nf = c->call("settle.get", Json{{"setl_id", id_no}});
  CHECK(reason_of(nf) == "NOT_FOUND");
  CHECK(nf.dump().find(id_no) == std::string::npos);
  CHECK(nf["error"]["message"].get<std::string>().find(id_no.substr(0, 6) + "********") != std::string::npos);
  // And so does the audit trail.
  auto aud = s.session(Stack::auditor);
  const Json trail = result_of(aud->call("audit.list", Json{{"operator", Stack::cashier.name}, {"limit", 50}}));
  const std::string dump = trail.dump();
  CHECK(dump.find(id_no) == std::string::npos);
  CHECK(dump.find(psn_no) == std::string::npos);
}

TEST_CASE("a cashier reads its own window's settlements and stays only; a refund at another window still works") {
  Stack& s = stack();
  auto w1 = s.session(Stack::cashier, "W01");
  auto w2 = s.session(kCashier2, "W02");
  const std::string here = settle_here(*w1)["setl_id"].get<std::string>();
  const std::string there = settle_here(*w2)["setl_id"].get<std::string>();

  // Another window's settlement is answered as one that does not exist.
  const auto not_found_as = [&](const Json& r, const std::string& asked, const Json& missing, const std::string& other) {
    INFO("answer: " << r.dump() << " / for a missing id: " << missing.dump());
    CHECK(reason_of(r) == "NOT_FOUND");
    // The id as the message quotes it (in the dump: \"<id>\").
    const auto without = [](std::string text, const std::string& id) {
      const std::string quoted = "\\\"" + id + "\\\"";
      const auto at = text.find(quoted);
      if (at != std::string::npos) text.replace(at, quoted.size(), "#");
      return text;
    };
    CHECK(without(r["error"].dump(), asked) == without(missing["error"].dump(), other));
  };
  const std::string missing = "999999";
  not_found_as(w2->call("settle.get", Json{{"setl_id", here}}), here,
               w2->call("settle.get", Json{{"setl_id", missing}}), missing);
  not_found_as(w2->call("settle.sheet", Json{{"setl_id", here}}), here,
               w2->call("settle.sheet", Json{{"setl_id", missing}}), missing);
  CHECK(w2->call("settle.get", Json{{"setl_id", there}}).contains("result"));
  CHECK(w1->call("settle.get", Json{{"setl_id", here}}).contains("result"));

  // Lists: the cashier's own window only; another window's list is empty.
  const auto ids_of = [](const Json& list) {
    std::set<std::string> ids;
    for (const auto& st : list["settlements"]) ids.insert(st["setl_id"].get<std::string>());
    return ids;
  };
  const auto mine = ids_of(result_of(w2->call("settle.list", every())));
  CHECK(mine.count(there) == 1);
  CHECK(mine.count(here) == 0);
  CHECK(result_of(w2->call("settle.list", every({{"window", "W01"}})))["settlements"].empty());
  for (const auto& st : result_of(w2->call("settle.list", every()))["settlements"]) CHECK(st["window"] == "W02");

  // The office sees every window.
  auto sup = s.session(Stack::supervisor, "W01");
  auto aud = s.session(Stack::auditor, "W01");
  for (RpcClient* office : {sup.get(), aud.get()}) {
    CHECK(office->call("settle.get", Json{{"setl_id", there}}).contains("result"));
    const auto all = ids_of(result_of(office->call("settle.list", every())));
    CHECK(all.count(here) == 1);
    CHECK(all.count(there) == 1);
  }

  // Stays: admitted at W01, not seen from W02.
  REQUIRE(w1->call("card.read").contains("result"));
  const Json stay = w1->call("inpatient.admit", Json{{"request_id", "guard-admit"}, {"dept", "0301"}, {"diagnosis", "J18.9"}});
  REQUIRE_MESSAGE(stay.contains("result"), stay.dump());
  const std::string adm = stay["result"]["adm_id"].get<std::string>();
  CHECK(w1->call("inpatient.get", Json{{"adm_id", adm}}).contains("result"));
  not_found_as(w2->call("inpatient.get", Json{{"adm_id", adm}}), adm, w2->call("inpatient.get", Json{{"adm_id", missing}}),
               missing);
  for (const auto& st : result_of(w2->call("inpatient.list"))["stays"]) CHECK(st["adm_id"] != adm);
  CHECK(sup->call("inpatient.get", Json{{"adm_id", adm}}).contains("result"));
  REQUIRE(w1->call("inpatient.undo_admit", Json{{"request_id", "guard-undo-admit"}, {"adm_id", adm}}).contains("result"));

  // The patient of W01's settlement comes back to W02 with the card: the
  // refund there works, and W02 then sees the settlement it refunded.
  s.insert_card(1, settle::testing::person(1));
  auto w2b = s.session(kCashier2, "W02");
  REQUIRE(w2b->call("card.read").contains("result"));
  const Json refund = w2b->call("settle.refund", Json{{"request_id", "guard-refund"}, {"setl_id", here}});
  REQUIRE_MESSAGE(refund.contains("result"), refund.dump());
  const Json seen = w2b->call("settle.get", Json{{"setl_id", here}});
  REQUIRE_MESSAGE(seen.contains("result"), seen.dump());
  CHECK(seen["result"]["state"] == "refunded");
  CHECK(w2b->call("settle.sheet", Json{{"setl_id", here}, {"refund_id", refund["result"]["refund_id"]}}).contains("result"));
  s.insert_card(1, settle::testing::person(2));
}

}  // namespace settle::cashier_guard
