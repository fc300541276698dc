// The in-memory copy of the ledger's open work and outpatient offline
// figures, refreshed by the writer after each commit (see live_work.hpp).
#include "tools/settled/live_work.hpp"

namespace settle::daemon {

void LiveWork::refresh(sql::Db& db, bool on_writer) {
  auto w = on_writer ? ledger::open_work_tracked(db) : ledger::open_work(db);
  auto o = on_writer ? ledger::offline_outstanding_tracked(db) : ledger::offline_outstanding(db);
  std::lock_guard lock(mu_);
  counted_ = w.ok();
  if (w) work_ = *w;
  outstanding_ = o ? std::optional<ledger::OfflineOutstanding>(*o) : std::nullopt;
}

std::optional<ledger::OfflineOutstanding> LiveWork::outpatient_outstanding() const {
  std::lock_guard lock(mu_);
  return outstanding_;
}

bool LiveWork::no_open_reversals() const {
  std::lock_guard lock(mu_);
  return counted_ && work_.pending_reversals == 0;
}

ledger::OpenWork LiveWork::get() const {
  std::lock_guard lock(mu_);
  return work_;
}

}  // namespace settle::daemon
