// What SIGHUP (systemctl reload settled) changes in a running daemon: the
// policy file, and the config's keys that are read afresh at each use. Keys
// whose values were taken at start are listed as waiting for a restart.
#pragma once

#include "tools/settled/config.hpp"

#include <string>
#include <vector>

namespace settle::daemon {

struct ReloadPlan {
  std::vector<std::string> applied;          // keys changed in the running config, e.g. "offline.max_age_s"
  std::vector<std::string> restart_needed;   // keys changed in the file that take effect at the next start
};

// Copies into `running` every key of `fresh` that may change while the
// daemon runs: [daemon] log_level and policy (the file to read), [readers]
// max_card_wait_ms, [offline] and [offline.inpatient], [reversal], and
// [network] probe_interval_ms, offline_deadline_ms, offline_reserve_ms, and
// [notices] file (the daemon reads the notices' file again on every reload).
// Everything else stays as it was; the keys that differ are in restart_needed.
ReloadPlan apply_reloadable(Config& running, const Config& fresh);

}  // namespace settle::daemon
