// Outage records (停机/断网记录) on the ledger: each time the windows could not
// settle as usual — the insurer line offline, settled stopped without a clean
// stop, a drill — with its cause, start and end, what was done about it (who
// was told, notifications sent), and the work it made, counted when read.
#pragma once

#include "engine/money.hpp"
#include "offline/sqlite.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace settle::ledger {

// What an outage was. The ledger refuses other names.
enum class OutageKind : std::uint8_t {
  line,     // the insurer line offline (settled offline against the red list)
  crash,    // settled stopped without a clean stop (crash, power loss, kill)
  drill,    // an outage drill
  storage,  // the ledger could not be written (full disk, read-only file)
  reader,   // a window's card reader or pcscd
  network,  // the hospital's own network between terminals and settled
};
std::string_view name(OutageKind k) noexcept;
std::optional<OutageKind> parse_outage_kind(std::string_view s) noexcept;

struct Outage {
  std::int64_t outage_id = 0;
  std::string kind;
  std::string cause;
  std::int64_t started_at_ms = 0;
  std::optional<std::int64_t> ended_at_ms;  // open while absent
  std::string end_note;
};

// What was done about an outage: a notification sent (or that failed), a
// person told, a note of the office's.
enum class OutageNoteKind : std::uint8_t { notified, notify_failed, told, note };
std::string_view name(OutageNoteKind k) noexcept;
std::optional<OutageNoteKind> parse_outage_note_kind(std::string_view s) noexcept;

struct OutageNote {
  std::int64_t note_id = 0;
  std::int64_t outage_id = 0;
  std::int64_t at_ms = 0;
  std::string kind;    // OutageNoteKind's name
  std::string target;  // who or what: "信息科", a hook's name, a webhook's host
  std::string detail;
  std::string by;      // the operator, or "settled"
};

// The work of an outage's period (start to end, or to `now` while open),
// counted from the ledger when read: uploads and adjustments come after the
// outage ends and are counted as they stand.
struct OutageFigures {
  std::int64_t offline_settlements = 0;
  Amount offline_total;
  Amount offline_fund;  // the estimated fund part (the insurer's figures replace it)
  Amount offline_cash;
  std::int64_t uploads_done = 0;      // the insurer has them
  std::int64_t uploads_waiting = 0;   // still to be sent
  std::int64_t uploads_parked = 0;    // waiting for the office (refused, parked)
  std::int64_t reversals = 0;         // reversals queued in the period
  std::int64_t reversals_open = 0;    // of those, not yet acknowledged
  std::int64_t adjustments = 0;       // the insurer's figures differed from the estimate
  Amount adjustment_fund;             // insurer's fund part less the estimate, summed
  Amount adjustment_cash;             // insurer's cash part less the estimate, summed
};

// Opens an outage of `kind` unless one of that kind is open (then returns
// that one's id: an outage is one record however often it is reported).
sql::Result<std::int64_t> open_outage(sql::Db& db, OutageKind kind, std::string_view cause, std::int64_t at_ms);
// Ends every open outage of `kind` at `at_ms` (never before its start);
// returns the ids ended.
sql::Result<std::vector<std::int64_t>> end_outages(sql::Db& db, OutageKind kind, std::int64_t at_ms,
                                                   std::string_view note);
// Records an outage that is already over (a crash found at start-up, a drill).
sql::Result<std::int64_t> record_outage(sql::Db& db, OutageKind kind, std::string_view cause,
                                        std::int64_t started_at_ms, std::int64_t ended_at_ms,
                                        std::string_view note);
sql::Result<std::int64_t> add_outage_note(sql::Db& db, const OutageNote& n);

struct OutageFilter {
  std::optional<std::int64_t> from_ms = std::nullopt;    // outages that ended at or after (or are open)
  std::optional<std::int64_t> to_ms = std::nullopt;      // outages that started before
  std::optional<std::string> kind = std::nullopt;
  std::optional<std::int64_t> before_id = std::nullopt;  // paging: ids below this
  int limit = 100;
};
sql::Result<std::vector<Outage>> list_outages(sql::Db& db, const OutageFilter& f);
sql::Result<std::optional<Outage>> get_outage(sql::Db& db, std::int64_t outage_id);
sql::Result<std::vector<Outage>> open_outages(sql::Db& db);
sql::Result<std::vector<OutageNote>> outage_notes(sql::Db& db, std::int64_t outage_id);
sql::Result<OutageFigures> outage_figures(sql::Db& db, const Outage& o, std::int64_t now_ms);

// settled's own starts and stops, as events: "stopped" is written at a clean
// stop. When the last of them is a start with no stop after it, the run
// before this one ended without a clean stop: returns the last time the
// ledger saw it working (its last event, settlement, refund, audit entry or
// checkpoint), for the crash's outage record.
sql::Result<std::optional<std::int64_t>> unclean_stop(sql::Db& db);

}  // namespace settle::ledger
