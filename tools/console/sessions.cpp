// The console's session store (sessions.hpp): tokens from OpenSSL's RAND_bytes,
// idle expiry by last /api activity, fan-out of events to a session's streams.
#include "tools/console/sessions.hpp"

#include "tools/console/web_rules.hpp"

#include <nlohmann/json.hpp>
#include <openssl/rand.h>

#include <stdexcept>

namespace settle::console {

std::string random_token() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed: no random token");
  return base64url(bytes, sizeof bytes);
}

void Session::emit(std::string_view event, const std::string& data_json) {
  for (auto it = streams.begin(); it != streams.end();) {
    if (auto s = it->lock()) {
      s->send(event, data_json);
      ++it;
    } else {
      it = streams.erase(it);
    }
  }
}

void Session::expire_streams(std::string_view reason) {
  const std::string data = nlohmann::json{{"reason", reason}}.dump();
  auto open = std::move(streams);
  streams.clear();
  for (auto& w : open)
    if (auto s = w.lock()) {
      s->send("expired", data);
      s->end();
    }
}

std::string Session::describe(unsigned idle_s) const {
  return nlohmann::json{{"operator", operator_name},
                        {"role", role},
                        {"window", window},
                        {"password_change_required", password_change_required},
                        {"csrf_token", csrf},
                        {"idle_s", idle_s}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::shared_ptr<Session> SessionStore::add(std::shared_ptr<DaemonLink> link, Clock::time_point now) {
  auto s = std::make_shared<Session>();
  s->token = random_token();
  s->csrf = random_token();
  s->link = std::move(link);
  s->last_activity = now;
  by_token_.emplace(s->token, s);
  return s;
}

std::shared_ptr<Session> SessionStore::find(std::string_view token) const {
  if (token.size() < 43) return nullptr;
  const auto it = by_token_.find(token);
  if (it == by_token_.end() || !same_secret(it->first, token)) return nullptr;
  return it->second;
}

bool SessionStore::remove(const std::shared_ptr<Session>& s) {
  s->ended = true;
  return by_token_.erase(s->token) > 0;
}

std::vector<std::shared_ptr<Session>> SessionStore::idle_at(Clock::time_point now) const {
  std::vector<std::shared_ptr<Session>> out;
  for (const auto& entry : by_token_)
    if (now - entry.second->last_activity >= idle_) out.push_back(entry.second);
  return out;
}

std::vector<std::shared_ptr<Session>> SessionStore::all() const {
  std::vector<std::shared_ptr<Session>> out;
  for (const auto& entry : by_token_) out.push_back(entry.second);
  return out;
}

void SessionStore::broadcast(std::string_view event, const std::string& data_json) {
  for (const auto& entry : by_token_) entry.second->emit(event, data_json);
}

}  // namespace settle::console
