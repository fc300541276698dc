// The daemon's one config file (TOML): every key documented in
// docs/examples/settled.toml, validated at start with errors naming the key
// and line, so a typo stops the daemon instead of changing its behaviour.
#pragma once

#include "engine/profile.hpp"
#include "engine/result.hpp"
#include "engine/split.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace settle::daemon {

struct InstitutionConfig {
  std::string code;           // fixmedins_code: 12 characters
  std::string name;           // fixmedins_name
  std::string area;           // mdtrtarea_admvs (6 digits)
  std::string insurer_area;   // default insuplc_admdvs (6 digits)
};

// [insurer] profile, offline, preview: the engine's InsurerProfile
// (engine/profile.hpp), which the flows take (docs/operations.md, "Insurer
// profile"). Equal when every capability is.
bool same_profile(const flow::InsurerProfile& a, const flow::InsurerProfile& b) noexcept;

struct InsurerConfig {
  std::string host;
  std::uint16_t port = 443;
  std::string server_name;    // empty: host
  std::string target = "/";
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string paasid;
  std::string secret;         // read from secret_file, never written in the config itself
  std::string secret_file;    // where it was read from (--check-config looks at its mode)
  std::size_t pool_size = 4;
  std::uint32_t connect_timeout_ms = 3000;
  std::uint32_t request_timeout_ms = 5000;
  flow::InsurerProfile profile;  // regional unless the config says otherwise
};

struct CashierConfig {
  std::string socket_path;                 // default /run/settled/cashier.sock (tools/common/paths.hpp)
  std::optional<std::string> tcp_address;  // loopback only
  std::uint16_t tcp_port = 0;
  std::size_t max_connections = 64;
  // How long 3 failed logins lock an operator (for the source that failed);
  // 0 (the default): until an administrator unlocks.
  std::chrono::seconds lockout{0};
  std::chrono::seconds login_timeout{30};         // a connection not logged in by then is closed
  std::chrono::seconds session_idle{30 * 60};     // a session with no request this long ends (0 = never)
  std::uint32_t source_failures_per_minute = 6;  // failed logins one source may make in a minute
  // Calls one source may make in a second before a login (engine.status,
  // refused calls); session.login has its own throttle, sessions none.
  std::uint32_t unauthenticated_calls_per_second = 10;
};

struct ReversalConfig {
  std::uint32_t retry_initial_ms = 1000;   // first retry after this, doubling
  std::uint32_t retry_max_ms = 60'000;     // backoff never above this
  // Refusals (the insurer answered and said no) before a reversal or an
  // offline upload is parked for a supervisor; 0 = never park.
  std::uint32_t park_after_refusals = 5;
};

struct NetworkConfig {
  std::uint32_t probe_interval_ms = 5000;      // 9001 sign-in probe while offline
  std::uint32_t failures_to_offline = 2;       // consecutive unreachable/in-doubt outcomes
  // One cashier call's insurer calls (1101, 2201, 2204, 2207, 9301, ...) all
  // answer within this of the call's start, together; then the offline
  // fallback has offline_reserve_ms more to store its settlement and answer.
  std::uint32_t offline_deadline_ms = 1500;
  std::uint32_t offline_reserve_ms = 500;
};

struct RedlistConfig {
  std::string path;                      // default <data_dir>/redlist.db
  std::uint32_t sync_interval_s = 3600;  // a delta sync this often (0 = only on demand)
  std::uint32_t page_size = 1000;        // entries per 9303 page (the insurer's maximum is 1000)
};

// [ledger]: the hash chain's signed checkpoints. The key: this file, else the
// systemd credential "checkpoint-key", else <data_dir>/checkpoint.key
// (made at the first start).
struct LedgerConfig {
  std::string checkpoint_key;                 // "" = the credential or the default file
  std::uint32_t checkpoint_interval_s = 300;  // a checkpoint this often when the chain grew
};

// [storage]: encryption at rest of the ledger and the red list
// (docs/encryption.md). Without key_file, $CREDENTIALS_DIRECTORY/ledger-key
// is used when it exists; without either the files are plain.
struct StorageConfig {
  std::string key_file;
};

// [notify]: who is told, and how, when the line goes offline or comes back,
// an item is parked for the office, or the red list is older than it should
// be (docs/notifications.md). Each [[notify.hook]] is a command to run or an
// HTTP(S) webhook to post to, with the event as JSON.
enum class NotifyEvent : std::uint8_t { line_offline, line_online, parked, redlist_stale };
std::string_view notify_event_name(NotifyEvent e) noexcept;
std::optional<NotifyEvent> parse_notify_event(std::string_view s) noexcept;

struct NotifyHook {
  std::string name;                 // in the logs and the outage record
  std::vector<NotifyEvent> events;  // the events it is told of
  std::vector<std::string> command; // argv (absolute program), the event's JSON on stdin; or
  std::string url;                  // http:// or https:// webhook: POST of the event's JSON
  std::string ca_file;              // https: the CA that signs the webhook's certificate ("" = the system's)
  std::uint32_t timeout_ms = 5000;  // one attempt, all of it
  std::uint32_t attempts = 5;       // then given up (1 s, 2 s, 4 s ... 60 s apart)
  bool operator==(const NotifyHook&) const = default;
};

struct NotifyConfig {
  std::vector<NotifyHook> hooks;
  // The red list counts as stale this long after its last good sync (0 = never told).
  std::uint32_t redlist_stale_after_s = 86'400;
  bool operator==(const NotifyConfig&) const = default;
};

// [notices]: the patient notices (docs/patient-notices.md). Without file,
// the texts built into settled (docs/examples/notices.toml) are used.
struct NoticesConfig {
  std::string file;
};

struct Config {
  std::string source;        // the file it was read from
  std::string data_dir;
  std::string ledger_path;   // <data_dir>/ledger.db
  std::string log_level = "info";
  std::string policy_file;
  InstitutionConfig institution;
  InsurerConfig insurer;
  CashierConfig cashier;
  std::map<std::string, std::string> windows;  // window -> PC/SC reader name
  std::uint32_t max_card_wait_ms = 60'000;
  std::optional<std::string> metrics_address;  // loopback "127.0.0.1"
  std::uint16_t metrics_port = 0;
  ReversalConfig reversal;
  NetworkConfig network;
  OfflineLimits offline_limits;
  // [offline.inpatient]: an inpatient discharge's estimate is larger and
  // rarer; its limits are its own (docs/inpatient.md).
  OfflineLimits inpatient_offline_limits{Amount::fen(1'000'000), Amount::fen(10'000'000), 100, 72 * 3600};
  RedlistConfig redlist;
  LedgerConfig ledger;
  StorageConfig storage;
  NotifyConfig notify;
  NoticesConfig notices;
};

// Parses config text; relative paths are resolved against `base_dir`.
// Errors are INVALID_CONFIG: "<source>:<line>: <key>: <what is wrong>".
Result<Config> parse_config(std::string_view text, std::string_view source, const std::string& base_dir);
Result<Config> load_config(const std::string& path);

}  // namespace settle::daemon
