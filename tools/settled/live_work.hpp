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

 private:
  mutable std::mutex mu_;
  ledger::OpenWork work_{};
};

}  // namespace settle::daemon
