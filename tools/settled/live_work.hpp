// The open work the daemon reports (engine.status, the metrics' gauges):
// counted on the ledger's writer after every commit and kept in memory, so
// that reading it never touches the ledger.
#pragma once

#include "offline/ledger_ops.hpp"
#include "offline/sqlite.hpp"

#include <mutex>

namespace settle::daemon {

class LiveWork {
 public:
  // Counts the open work on `db` (the writer's connection after a commit, or
  // a reader at start-up). A failed count keeps the last one.
  void refresh(sql::Db& db);
  ledger::OpenWork get() const;
  // True when the last count succeeded and found no reversal pending or in
  // flight: a settlement then need not read whether its person has one.
  bool no_open_reversals() const;

 private:
  mutable std::mutex mu_;
  ledger::OpenWork work_{};
  bool counted_ = false;  // the last refresh succeeded
};

}  // namespace settle::daemon
