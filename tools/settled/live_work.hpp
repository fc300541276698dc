// The open work the daemon reports (engine.status, the metrics' gauges) and
// the outpatient offline settlements stored (what the offline limits are
// measured against): counted on the ledger's writer after every commit and
// kept in memory, so that reading them never touches the ledger.
#pragma once

#include "offline/ledger_ops.hpp"
#include "offline/sqlite.hpp"

#include <mutex>
#include <optional>

namespace settle::daemon {

class LiveWork {
 public:
  // Counts the open work on `db` (the writer's connection after a commit, or
  // a reader at start-up: `on_writer` false). A failed count keeps the last
  // one. On the writer the open uploads and the offline figures are kept
  // up to date by its own triggers (ledger::open_work_tracked,
  // offline_outstanding_tracked), not counted again: during an outage
  // thousands are stored, and counting them after every commit cost more
  // with each one.
  void refresh(sql::Db& db, bool on_writer = true);
  ledger::OpenWork get() const;
  // The outpatient offline settlements stored, as of the last commit; none
  // when the last count failed. The writer checks an estimate against the
  // figures of its own moment, so an older copy costs a retry, never a limit.
  std::optional<ledger::OfflineOutstanding> outpatient_outstanding() const;
  // True when the last count succeeded and found no reversal pending or in
  // flight: a settlement then need not read whether its person has one.
  bool no_open_reversals() const;

 private:
  mutable std::mutex mu_;
  ledger::OpenWork work_{};
  bool counted_ = false;  // the last refresh succeeded
  std::optional<ledger::OfflineOutstanding> outstanding_;
};

}  // namespace settle::daemon
