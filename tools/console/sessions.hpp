// Browser sessions of the console: each one an operator logged in to settled
// on a socket connection of its own (DaemonLink), with its cookie token, its
// CSRF token, its last activity (for idle expiry) and its event streams.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace settle::console {

class DaemonLink;

// One open /api/events stream: where a session's events go.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void send(std::string_view event, const std::string& data_json) = 0;
  // The session ended: the stream writes what it has and closes.
  virtual void end() = 0;
};

// 32 bytes from OpenSSL's RAND_bytes, base64url (43 characters).
std::string random_token();

struct Session {
  using Clock = std::chrono::steady_clock;
  std::string token;  // the cookie
  std::string csrf;
  std::string operator_name, role, window;
  bool password_change_required = false;
  std::string client_ip;
  std::shared_ptr<DaemonLink> link;
  Clock::time_point last_activity{};
  std::vector<std::weak_ptr<EventSink>> streams;
  bool ended = false;

  // Sends an event to every open stream of the session.
  void emit(std::string_view event, const std::string& data_json);
  // Gives every stream `expired` {"reason"} and ends it.
  void expire_streams(std::string_view reason);
  // {"operator","role","window","password_change_required","csrf_token","idle_s"}
  std::string describe(unsigned idle_s) const;
};

class SessionStore {
 public:
  using Clock = Session::Clock;
  SessionStore(unsigned max_sessions, std::chrono::seconds idle) : max_(max_sessions), idle_(idle) {}

  bool full() const { return by_token_.size() >= max_; }
  std::size_t size() const { return by_token_.size(); }
  // A new session with fresh cookie and CSRF tokens.
  std::shared_ptr<Session> add(std::shared_ptr<DaemonLink> link, Clock::time_point now);
  // The live session of a cookie token, or nullptr.
  std::shared_ptr<Session> find(std::string_view token) const;
  // Takes the session out of the store (marks it ended); true if it was in.
  bool remove(const std::shared_ptr<Session>& s);
  // Sessions whose last activity is `idle` ago or more.
  std::vector<std::shared_ptr<Session>> idle_at(Clock::time_point now) const;
  std::vector<std::shared_ptr<Session>> all() const;
  // An event to every stream of every session.
  void broadcast(std::string_view event, const std::string& data_json);
  std::chrono::seconds idle() const { return idle_; }

 private:
  unsigned max_;
  std::chrono::seconds idle_;
  std::map<std::string, std::shared_ptr<Session>, std::less<>> by_token_;
};

}  // namespace settle::console
