// The ledger's operations on inpatient stays (schema v4): stays, their lines
// (added in batches, cancelled once, never deleted, live count and total kept
// on the stay's row) and the stay items that forward a stay to the insurer in
// order. Plain functions over one connection, composed into the flows'
// changes by flow_ledger.
#pragma once

#include "engine/flow.hpp"
#include "offline/ledger_ops.hpp"

#include <optional>
#include <string>
#include <vector>

namespace settle::ledger {

enum class StayItemKind : std::uint8_t { admission, lines, cancel, discharge };
enum class StayItemState : std::uint8_t { pending, in_flight, done, parked, closed };
std::string_view name(StayItemKind) noexcept;
std::string_view name(StayItemState) noexcept;

struct StayItem {
  std::int64_t item_id = 0;
  std::int64_t adm_id = 0;
  StayItemKind kind = StayItemKind::admission;
  std::optional<std::string> request_id;  // lines / cancel: the batch's request
  std::optional<std::int64_t> setl_id;    // discharge: the offline settlement
  StayItemState state = StayItemState::pending;
  std::int64_t attempts = 0;
  std::int64_t refusals = 0;
  std::int64_t next_attempt_at_ms = 0;
  std::optional<std::string> last_error;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
};

// The stay's row as the flows see it, and its counters.
struct StayRow {
  flow::StayRecord stay;
  std::int64_t live_count = 0;
  Amount live_total;
  std::int64_t cancelled_count = 0;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
};

// One line of a stay as stored.
struct StayLineRow {
  flow::StayLine line;
  std::int64_t line_no = 0;
  std::string added_by;
  std::optional<std::string> cancelled_by;
  bool uploaded = false;  // its batch's item is done
};

sql::Result<std::int64_t> insert_stay(sql::Db& db, const flow::StayRecord& s, std::int64_t at_ms);
sql::Result<std::optional<StayRow>> find_stay(sql::Db& db, std::int64_t adm_id);
// The open (admitted) stay of a person, else of a card (an empty one matches nothing).
sql::Result<std::optional<std::int64_t>> open_stay_of(sql::Db& db, std::string_view psn_no, std::string_view card_no);
sql::Status set_stay_state(sql::Db& db, std::int64_t adm_id, flow::StayState to, std::int64_t at_ms, std::string_view detail);
sql::Status set_stay_visit(sql::Db& db, std::int64_t adm_id, std::string_view mdtrt_id, std::int64_t at_ms);
sql::Status set_stay_flag(sql::Db& db, std::int64_t adm_id, std::optional<std::string_view> flag, std::int64_t at_ms);
// The person of a stay admitted offline by card alone (not on the red list),
// as the insurer's 1101 names it before its admission is forwarded; with the
// person's insured area when 1101 names it and the stay has none yet (a stay
// admitted without it: its items go with it from then on). Set once:
// invalid_state if the stay names another person already.
sql::Status set_stay_person(sql::Db& db, std::int64_t adm_id, std::string_view psn_no, std::string_view insutype,
                            std::int64_t at_ms, std::string_view insuplc_admdvs = {});

// Adds a batch (numbered after the stay's last line) and moves the counters.
sql::Status add_stay_lines(sql::Db& db, std::int64_t adm_id, std::string_view request_id,
                           std::span<const flow::StayLine> lines, std::int64_t at_ms);
// Cancels live lines by number (each once) and moves the counters; not_found
// / invalid_state name the line that is missing or cancelled already.
sql::Status cancel_stay_lines(sql::Db& db, std::int64_t adm_id, std::string_view request_id,
                              std::span<const std::string> feedetl_sns, std::int64_t at_ms);
sql::Result<std::vector<flow::HeldLine>> lines_held(sql::Db& db, std::int64_t adm_id,
                                                    std::span<const std::string> feedetl_sns);
// Lines in the order added, after line number `after_line_no`, at most `limit`.
sql::Result<std::vector<StayLineRow>> stay_lines_page(sql::Db& db, std::int64_t adm_id, std::int64_t after_line_no,
                                                      std::int64_t limit);
// The live lines as the split takes them (no names), in no set order.
sql::Result<std::vector<settle::ChargeLine>> live_lines(sql::Db& db, std::int64_t adm_id);
// The lines a batch added, or cancelled.
sql::Result<std::vector<flow::StayLine>> batch_lines(sql::Db& db, std::int64_t adm_id, std::string_view request_id);
sql::Result<std::vector<std::string>> batch_cancelled(sql::Db& db, std::int64_t adm_id, std::string_view request_id);

// ---- stay items ------------------------------------------------------------

// Queues an item, due at `due_at_ms` (later than now: the window sends it itself first).
sql::Result<std::int64_t> enqueue_stay_item(sql::Db& db, std::int64_t adm_id, StayItemKind kind,
                                            std::optional<std::string_view> request_id, std::optional<std::int64_t> setl_id,
                                            bool in_flight, std::int64_t at_ms, std::int64_t due_at_ms);
// The stay's items the insurer has not taken yet (pending, in flight, parked).
sql::Result<std::int64_t> open_stay_items(sql::Db& db, std::int64_t adm_id);
// Every stay's open items (pending or in flight; parked ones apart).
struct StayItemCounts {
  std::int64_t open = 0;
  std::int64_t parked = 0;
};
sql::Result<StayItemCounts> stay_item_counts(sql::Db& db);
// The oldest due pending item whose stay has nothing open before it; taken
// (in flight, the attempt counted).
sql::Result<std::optional<StayItem>> claim_stay_item(sql::Db& db, std::int64_t now_ms);
enum class StayItemOutcome : std::uint8_t { done, retry, park };
// Finishes an item in flight: done, back to pending at next_attempt_at_ms, or
// parked with its reason; refusals stored when given.
sql::Status finish_stay_item(sql::Db& db, std::int64_t item_id, StayItemOutcome outcome, std::int64_t at_ms,
                             std::int64_t next_attempt_at_ms = 0, std::string_view error = {},
                             std::optional<std::int64_t> refusals = std::nullopt);
// A pending item the flow sent itself: done when the insurer took it, else
// due now for the forwarder (unless the forwarder has it already).
sql::Status mark_stay_item_sent(sql::Db& db, std::int64_t item_id, bool taken, std::int64_t at_ms);
// Closes a stay's items not yet forwarded (its admission undone before the
// insurer heard of it); invalid_state if one is in flight now.
sql::Status close_stay_items(sql::Db& db, std::int64_t adm_id, std::string_view why, std::int64_t at_ms);
sql::Result<std::vector<StayItem>> stay_items_of(sql::Db& db, std::int64_t adm_id);
// In-flight items back to pending at start-up.
sql::Result<std::int64_t> requeue_stay_items(sql::Db& db, std::int64_t at_ms);

// Parked items of every stay, oldest first (outbox.parked). An item parked
// only because an earlier item of its stay is names that item (`behind`).
struct ParkedStayItem {
  StayItem item;
  std::string psn_no;                   // the stay's person ("" if not known yet)
  std::optional<std::int64_t> behind;   // the stay's earlier parked item it waits for
};
sql::Result<std::vector<ParkedStayItem>> list_parked_stay_items(sql::Db& db);
// A supervisor's retry of a stay's first parked item: it and the items parked
// behind it go back to pending, due now, refusals from zero. not_found for no
// such item; invalid_state if it is not parked or waits behind another item.
sql::Status retry_parked_stay_item(sql::Db& db, std::int64_t item_id, std::string_view by_operator, std::int64_t at_ms);
// A supervisor's resolve (the insurer was told another way): the item done
// with the note in the stay's history, the items behind it pending again.
// Errors as retry; an admission is not resolved this way (everything after it
// needs the insurer's visit id): invalid_state.
sql::Status resolve_parked_stay_item(sql::Db& db, std::int64_t item_id, std::string_view by_operator,
                                     std::string_view note, std::int64_t at_ms);

// ---- lists -----------------------------------------------------------------

struct StayFilter {
  std::optional<std::string> state;
  std::optional<std::string> dept;
  std::optional<std::int64_t> from_ms, to_ms;  // admitted within
  std::optional<std::string> window_id;        // admitted at this window
  std::int64_t after_adm_id = 0;
  std::int64_t limit = 100;
};
sql::Result<std::vector<StayRow>> list_stays(sql::Db& db, const StayFilter& f);
// The stay's settlement that is not undone (the latest), if any.
sql::Result<std::optional<std::int64_t>> standing_stay_settlement(sql::Db& db, std::int64_t adm_id);
// The stay's settlements (setl_ids), oldest first.
sql::Result<std::vector<std::int64_t>> stay_settlements(sql::Db& db, std::int64_t adm_id);

}  // namespace settle::ledger
