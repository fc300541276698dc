// The in-memory copy of the ledger's open work, refreshed by the writer
// after each commit (see live_work.hpp).
#include "tools/settled/live_work.hpp"

namespace settle::daemon {

void LiveWork::refresh(sql::Db& db) {
  auto w = ledger::open_work(db);
  if (!w) return;
  std::lock_guard lock(mu_);
  work_ = *w;
}

ledger::OpenWork LiveWork::get() const {
  std::lock_guard lock(mu_);
  return work_;
}

}  // namespace settle::daemon
