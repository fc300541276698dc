// The red list's part of the settlement service: engine.status fields and
// redlist.sync (a sync with redlist.progress notifications on the caller's
// connection, at most every 200 ms, and always for the last page).
#include "tools/settled/service_redlist.hpp"

#include "tools/settled/redlist_sync.hpp"
#include "tools/settled/replies.hpp"
#include "tools/settled/service.hpp"

#include <fmt/format.h>

#include <chrono>

namespace settle::daemon {

using json::Json;

Json redlist_version_json(const redlist::Store* store) {
  if (store == nullptr) return nullptr;
  return store->info().version;
}

Json redlist_age_json(const redlist::Store* store, std::int64_t now_ms) {
  if (store == nullptr) return nullptr;
  const redlist::Info info = store->info();
  if (info.synced_at_ms == 0) return nullptr;
  return std::max<std::int64_t>(0, (now_ms - info.synced_at_ms) / 1000);
}

awaitable<Reply> Service::redlist_sync(const cashier::SessionInfo& s, const cashier::RedlistSyncParams& p) {
  if (p_.redlist_syncer == nullptr)
    co_return fail(Reason::not_supported, "redlist", "this daemon runs without a red list");
  if (const flow::InsurerProfile& profile = p_.config.insurer.profile; !profile.offline)
    co_return fail(Reason::not_supported, "redlist",
                   fmt::format("the {} insurer profile settles online only ([insurer] offline = false): no red list "
                               "(9303) is kept",
                               flow::profile_name(profile.name)));
  const std::uint64_t conn = s.connection_id;
  auto notify = notify_connection;
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  const RedlistProgress progress = [notify, conn, last](std::int64_t applied, std::optional<std::int64_t> total) {
    if (!notify) return;
    const auto now = std::chrono::steady_clock::now();
    const bool done = total && applied >= *total;
    if (!done && now - *last < std::chrono::milliseconds(200)) return;
    *last = now;
    Json params{{"applied", applied}};
    if (total) params["total"] = *total;
    notify(conn, "redlist.progress", params);
  };
  const bool full = p.full;
  const Result<RedlistSyncOutcome> r = co_await p_.redlist_syncer->sync(full, progress);
  if (!r) co_return fail(r.error());
  co_return Reply::ok(Json{{"version", r->info.version},
                           {"entries", r->info.entries},
                           {"applied", r->applied},
                           {"took_ms", r->took_ms},
                           {"full", r->full}});
}

}  // namespace settle::daemon
