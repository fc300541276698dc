// The in-memory copy of the ledger's open work, refreshed by the writer
// after each commit (see live_work.hpp).
#include "tools/settled/live_work.hpp"

namespace settle::daemon {

void LiveWork::refresh(sql::Db& db) {
  auto w = ledger::open_work(db);
  std::lock_guard lock(mu_);
  counted_ = w.ok();
  if (w) work_ = *w;
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
