// The red list's part of the settlement service: engine.status's
// redlist_version / redlist_age_s, and the supervisor's redlist.sync.
#pragma once

#include "offline/redlist.hpp"
#include "protocol/json.hpp"

#include <cstdint>

namespace settle::daemon {

// The list's version for engine.status (null without a red list).
json::Json redlist_version_json(const redlist::Store* store);
// Seconds since the last successful sync (null without a red list or before the first sync).
json::Json redlist_age_json(const redlist::Store* store, std::int64_t now_ms);

}  // namespace settle::daemon
