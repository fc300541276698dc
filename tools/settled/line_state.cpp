// What the offline fallback (断网持卡本地红名单结算) needs of the daemon: the
// red list's entry for a card, the line's state changes and the outage
// records they make. The fallback's decisions are engine/flows.cpp's;
// forwarding the stored work is forwarder.cpp's.
#include "offline/outage_ops.hpp"
#include "offline/redlist.hpp"
#include "protocol/cashier/mask.hpp"
#include "tools/settled/clock.hpp"
#include "tools/settled/service.hpp"

#include <spdlog/spdlog.h>

namespace settle::daemon {

void Service::network_moved(std::optional<NetworkState> changed) {
  if (!changed) return;
  // Offline is what the office must see; back online and draining the
  // stored work are the way back.
  spdlog::log(*changed == NetworkState::offline ? spdlog::level::warn : spdlog::level::info, "insurer line: {}",
              network_state_name(*changed));
  record_line_outage(*changed);
  if (on_network_changed) on_network_changed(*changed);
  reversal_wakeup_.cancel();  // the line worker looks again at once
}

// The outage record (docs/outages.md): opened when the line goes offline,
// ended when it is back online (draining is still part of it: new work
// settles offline until the stored work is through). Queued to the ledger's
// writer: the window that moved the line does not wait for it.
void Service::record_line_outage(NetworkState now) {
  const std::int64_t at = now_ms();
  std::function<sql::Status(sql::Db&)> job;
  if (now == NetworkState::offline) {
    const std::string cause = line_cause() == OfflineCause::clock_skew
                                  ? "the insurer refuses this host's request times (clock skew)"
                                  : "the insurer is unreachable (no answer to calls or sign-in)";
    job = [at, cause](sql::Db& db) -> sql::Status {
      auto id = ledger::open_outage(db, ledger::OutageKind::line, cause, at);
      if (!id) return id.error();
      return Ok{};
    };
  } else if (now == NetworkState::online) {
    job = [at](sql::Db& db) -> sql::Status {
      auto ended = ledger::end_outages(db, ledger::OutageKind::line, at, "the line is back and the stored work is through");
      if (!ended) return ended.error();
      return Ok{};
    };
  } else {
    return;
  }
  p_.ledger.write(std::move(job), [](const sql::Status& r) {
    if (!r) spdlog::error("outage record: the line's outage could not be written: {}", r.error().message);
  });
}

awaitable<std::optional<PersonView>> Service::redlist_person(const std::string& card_no) {
  if (p_.redlist == nullptr) co_return std::nullopt;
  auto job = [store = p_.redlist, card_no] { return store->lookup(card_no); };
  auto found = co_await on_pool(p_.db_pool, std::move(job));
  co_return redlist_view(card_no, found);
}

std::optional<PersonView> Service::redlist_view(const std::string& card_no,
                                                const Result<std::optional<redlist::Entry>>& found) const {
  if (!found) {
    spdlog::error("red list: lookup of card {} failed: {}", cashier::mask_card_no(card_no), found.error().message);
    return std::nullopt;
  }
  if (!found->has_value()) return std::nullopt;
  const redlist::Entry& e = **found;
  PersonView v;
  v.base.psn_no = e.psn_no;
  v.insu.insutype = e.insutype;
  v.insu.flags = e.flags;
  v.insu.balc = Amount::zero();  // the red list carries no balance; the account is never used offline
  v.insu.deductible_used = e.deductible_used;
  v.insu.fund_paid_ytd = e.fund_paid_ytd;
  v.as_of_ms = p_.redlist->info().synced_at_ms;
  v.from_redlist = true;
  return v;
}

}  // namespace settle::daemon
