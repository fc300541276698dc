// Test harness for the insurer link against the real simulator process:
// starts/stops/restarts `insurer-sim serve` on ephemeral ports with its own
// SQLite file, talks to its loopback control endpoint, and drives the
// hospital side of a conversation (sign-in, visit, lines, settle, reverse)
// through the real HTTPS client and the real codecs.
#pragma once

#include "offline/msgid.hpp"
#include "protocol/insurer/client.hpp"
#include "protocol/insurer/codecs.hpp"

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace settle::testing {

inline constexpr const char* institution = "H11010500001";
inline constexpr const char* sim_secret = "integration-secret";

struct SimOptions {
  std::vector<std::string> faults;  // --fault SPEC, as at start-up
};

class SimProcess {
 public:
  SimProcess(std::filesystem::path dir, SimOptions options = {});
  ~SimProcess();
  SimProcess(const SimProcess&) = delete;
  SimProcess& operator=(const SimProcess&) = delete;

  void stop();     // SIGTERM, waits; expects exit 0
  void start();    // same database, new ports
  std::uint16_t port() const { return port_; }
  std::uint16_t control_port() const { return control_port_; }

  // Control endpoint: method + target (+ JSON body). Throws on transport
  // errors; the HTTP status is returned with the parsed body.
  struct ControlReply {
    unsigned status = 0;
    nlohmann::json body;
  };
  ControlReply control(const std::string& method, const std::string& target,
                       const std::optional<nlohmann::json>& body = std::nullopt) const;
  void set_faults(const std::vector<std::string>& faults) const;
  void clear_faults() const;
  nlohmann::json counters() const;
  nlohmann::json report() const;
  // Adds a person with a card; returns psn_no.
  std::string add_person(const std::string& card_no, const std::string& balance) const;

  // A client config for this simulator (PKI from tools/gen-test-pki.sh).
  insurer::ClientConfig client_config() const;

 private:
  std::filesystem::path dir_;
  SimOptions options_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::uint16_t control_port_ = 0;
};

// One request's fate, as the hospital sees it.
struct Sent {
  std::string msgid;
  insurer::Outcome outcome;
};

// The hospital side: envelope headers, msgids from the ledger's allocator,
// and the sequence of calls an outpatient settlement needs.
class Hospital {
 public:
  Hospital(insurer::SyncClient& client, ledger::MsgidAllocator& msgids)
      : client_(client), msgids_(msgids) {}

  insurer::RequestHeader head(std::string_view infno);
  std::string next_msgid();

  template <class T>
  Sent send(const typename T::Input& in, std::optional<std::uint32_t> timeout_ms = std::nullopt) {
    auto h = head(T::infno);
    Sent s{h.msgid, {}};
    s.outcome = client_.post(insurer::LinkRequest{insurer::encode_call<T>(h, in), std::string(T::infno),
                                              h.msgid, timeout_ms});
    return s;
  }

  // Each of these REQUIREs an answered, successful reply.
  void sign_in();
  struct Visit {
    std::string psn_no, card_no, mdtrt_id, chrg_bchno;
    Amount total;
  };
  // 2201 + 2204 with one class A line of `amount`.
  Visit open_visit_with_line(const std::string& psn_no, const std::string& card_no, Amount amount);
  insurer::SettleInput settle_input(const Visit& v) const;

  const std::string& sign_no() const { return sign_no_; }

 private:
  insurer::SyncClient& client_;
  ledger::MsgidAllocator& msgids_;
  std::string sign_no_;
  int visits_ = 0;
};

// The insurer's local time (UTC+8) for the msgid allocator.
ledger::CivilTime insurer_now();

}  // namespace settle::testing
