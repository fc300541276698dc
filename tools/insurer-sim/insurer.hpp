// The simulated insurer's business logic: one decoded request in, one reply
// out, every effect committed in one SQLite transaction together with the
// msgid and its first answer (idempotency). Applies the engine's rules to
// the insurer's own person data. No networking here: the server calls it.
#pragma once

#include "engine/policy.hpp"
#include "engine/result.hpp"
#include "protocol/insurer/codecs.hpp"
#include "protocol/json.hpp"
#include "tools/insurer-sim/store.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace settle::sim {

// Which insurer the simulator plays (docs/insurer-profiles.md): "regional"
// (the extensions 9301..9304 served, exp_content ignored) or "national" (the
// national interface only: 9301..9304 refused, dept_code and a diagnosis
// required of a clinic visit, exp_content.acct_pay_max honoured).
enum class SimProfile : std::uint8_t { regional, national };
std::string_view sim_profile_name(SimProfile p) noexcept;
std::optional<SimProfile> sim_profile_from_name(std::string_view name) noexcept;

// Unix time in milliseconds (injected for tests).
using ClockMs = std::function<std::int64_t()>;
ClockMs system_clock_ms();

struct Reply {
  std::int64_t infcode = insurer::infcode_ok;
  std::string err_msg;
  json::Json output = json::Json::object();
  // `output` as stored with the msgid (its dump), when it was recorded: the
  // server sends these bytes instead of dumping `output` again. A 3202 page
  // is written as text only (`output` is then null).
  std::string output_text;
  bool replayed = false;  // the msgid was seen before: this is its first answer
};

struct Counters {
  std::int64_t requests = 0;
  std::int64_t answered_ok = 0;
  std::int64_t answered_error = 0;
  std::int64_t idempotent_replays = 0;
  std::int64_t refused_sign_no = 0;
  std::map<std::string, std::int64_t> by_infno;
};

class Insurer {
 public:
  // With group_commit, handle() leaves its work in an open batch transaction
  // (each request in its own savepoint) and commit() makes the batch durable
  // with one fsync; the server answers only after commit() succeeded.
  // Without it, every handle() commits before returning.
  Insurer(Store& store, Policy policy, ClockMs clock = system_clock_ms(), bool group_commit = false,
          SimProfile profile = SimProfile::regional);

  // Handles one request (already signature-checked). Business refusals are
  // replies with infcode -1; only a storage failure is an Error.
  Result<Reply> handle(const insurer::Request& req);
  // Commits the open batch, if any. On failure the whole batch is rolled back.
  Status commit();
  bool batch_open() const { return batch_.has_value(); }
  // The open batch holds only queries' msgids and answers (nothing a query
  // answered depends on uncommitted work): such answers need not wait for
  // the commit (docs/insurer-sim.md, "Durability").
  bool batch_queries_only() const { return batch_.has_value() && !batch_writes_; }
  // Bytes of answers recorded in the open batch.
  std::size_t batch_bytes() const { return batch_bytes_; }

  // The report of the control endpoint (docs/insurer-sim.md).
  Result<json::Json> report();
  // Control-endpoint injections of reconciliation differences.
  Result<json::Json> inject(const json::Json& body);
  // A person's state as JSON (control endpoint).
  Result<json::Json> person_json(std::string_view psn_no);
  // A visit's state as JSON (control endpoint, read-only): state, lines, settlements.
  Result<json::Json> visit_json(std::string_view mdtrt_id);
  // Mints an e-voucher QR code for a person (control endpoint; what the
  // patient's phone would show): {ec_qrcode, psn_no, acct_auth, expires_in}.
  // 9401 decodes it within insurer::ec_token_lifetime_s of minting.
  Result<json::Json> mint_ec_qr(std::string_view psn_no, bool acct_auth);

  const Counters& counters() const { return counters_; }
  Store& store() { return store_; }
  const Policy& policy() const { return policy_; }
  SimProfile profile() const { return profile_; }

 private:
  Store& store_;
  Policy policy_;
  ClockMs clock_;
  Counters counters_;
  bool group_commit_ = false;
  SimProfile profile_ = SimProfile::regional;
  std::optional<sql::Transaction> batch_;
  bool batch_writes_ = false;
  std::size_t batch_bytes_ = 0;
};

}  // namespace settle::sim
