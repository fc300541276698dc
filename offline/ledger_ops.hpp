// The ledger's typed operations: plain functions over one connection, so
// several can be composed into one atomic write job ("record the outcome,
// queue the upload, store the answer") and run through the group-commit
// writer (Ledger::write), while reads run on a read-only connection
// (Ledger::read). Every state change appends its row to `events` in the same
// transaction.
#pragma once

#include "engine/money.hpp"
#include "engine/settlement_state.hpp"
#include "offline/sqlite.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace settle::ledger {

// ---- States and kinds, stored by their names ---------------------------------

enum class RequestState : std::uint8_t { in_progress, answered };
enum class MessageState : std::uint8_t { written, sent, answered, in_doubt, reversed, unsent, abandoned };
// The settlement's states and their moves are the engine's (engine/settlement_state.hpp).
using SettlementState = settle::SettlementState;
enum class Mode : std::uint8_t { online, offline };
enum class VisitType : std::uint8_t { outpatient, inpatient };
enum class LineClass : std::uint8_t { a, b, c };
enum class OutboxKind : std::uint8_t { reversal, offline_upload };
// parked (schema v3): refused by the insurer too often; out of the queue until
// a supervisor retries it (-> pending) or resolves it (-> done).
enum class OutboxState : std::uint8_t { pending, in_flight, done, failed, parked };
enum class AdjustmentKind : std::uint8_t { offline_upload, correction };
// `request` is found only in events written before schema v2.
enum class Entity : std::uint8_t { request, message, settlement, refund, outbox, ledger, stay };

std::string_view name(RequestState) noexcept;
std::string_view name(MessageState) noexcept;
std::string_view name(SettlementState) noexcept;  // the cashier API's names
std::string_view name(Mode) noexcept;
std::string_view name(VisitType) noexcept;
std::string_view name(LineClass) noexcept;        // "A", "B", "C"
std::string_view name(OutboxKind) noexcept;
std::string_view name(OutboxState) noexcept;
std::string_view name(AdjustmentKind) noexcept;
std::string_view name(Entity) noexcept;
std::optional<SettlementState> parse_settlement_state(std::string_view) noexcept;
std::optional<MessageState> parse_message_state(std::string_view) noexcept;

// ---- Rows --------------------------------------------------------------------

struct Request {
  std::string request_id;
  std::string method;
  std::string payload_hash;  // the caller's hash of the canonical payload
  RequestState state = RequestState::in_progress;
  std::optional<std::string> answer;  // the first answer, stored once
  std::optional<std::string> operator_id;
  std::optional<std::string> window_id;
  std::int64_t created_at_ms = 0;
  std::optional<std::int64_t> answered_at_ms;
};

// record_request's outcome: inserted, or the row that already had that id
// (the caller compares payload_hash: same = replay the answer, else conflict).
struct RecordedRequest {
  bool inserted = false;
  Request request;
};

struct Message {
  std::string msgid;
  std::string infno;
  MessageState state = MessageState::written;
  std::optional<std::string> request_id;
  std::optional<std::string> reverses_msgid;  // a 2601 reversal names the original
  std::optional<std::int64_t> infcode;
  std::optional<std::string> err_msg;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::optional<std::string> psn_no;  // the person a money-moving message is for, when known (v3)
  std::string insuplc_admdvs = {};    // the insured area its envelope carried ("" the hospital's) (v12)
};

struct SettlementLine {
  std::string code;
  std::string name;
  LineClass cls = LineClass::a;
  Amount amount;
  Ratio selfpay_ratio;  // the ratio applied (class B), 0 otherwise
};

// A discharge settlement's lines by reference to its stay's (v5): the stay's
// lines numbered up to `lines_upto`, less its first `cancels_upto` cancelled
// ones; class B lines without their own ratio took `classb_ratios`' (by code).
struct StayLinesRef {
  std::int64_t lines_upto = 0;
  std::int64_t cancels_upto = 0;
  std::map<std::string, Ratio, std::less<>> classb_ratios;
};

struct Settlement {
  std::int64_t setl_id = 0;  // local id; assigned by record_settlement
  std::string request_id;
  std::string window_id;
  std::string operator_id;
  std::string card_no;
  std::optional<std::string> card_sn;
  std::optional<std::string> psn_no;
  std::optional<std::string> insutype;
  VisitType visit_type = VisitType::outpatient;
  std::string med_type = "11";
  Mode mode = Mode::online;
  Amount total, fund, account, cash;
  Amount fulamt_ownpay, preselfpay, inscp, deductible_part;
  std::vector<std::string> reasons;  // stored comma-separated; names hold no comma
  std::optional<std::string> insurer_setl_id;
  std::optional<std::string> mdtrt_id;
  std::optional<std::string> msgid;
  std::string receipt_no;
  SettlementState state = SettlementState::settled;
  std::int64_t created_at_ms = 0;
  std::string clearing_date;  // "YYYY-MM-DD"
  std::optional<std::string> offline_reason;  // set exactly when mode is offline
  std::optional<std::int64_t> resettles_setl_id;
  std::optional<std::int64_t> adm_id;  // an inpatient discharge settlement: its stay (v4)
  std::optional<StayLinesRef> stay_lines;  // its lines by reference (v5; none in settlement_lines)
  // v11: the credential's type (mdtrt_cert_type: 1 e-voucher, 2 ID number,
  // 3 card; never the token or the number), the person's insured area, the
  // visit's facts as JSON (department, doctor, diagnoses; none when empty).
  int cert_type = 3;
  std::string insuplc_admdvs = {};
  std::optional<std::string> facts = std::nullopt;
};

struct RefundLine {
  std::string code;
  Amount amount;
};

struct Refund {
  std::int64_t refund_id = 0;  // assigned by record_refund
  std::string request_id;
  std::int64_t setl_id = 0;
  std::string window_id;
  std::string operator_id;
  Amount total, fund, account, cash;
  std::optional<std::string> insurer_refund_id;
  std::optional<std::string> msgid;
  std::int64_t created_at_ms = 0;
  std::string clearing_date;
  std::vector<RefundLine> lines;
};

struct Adjustment {
  std::int64_t adj_id = 0;  // assigned by record_adjustment
  std::int64_t setl_id = 0;
  AdjustmentKind kind = AdjustmentKind::offline_upload;
  Amount local_fund, insurer_fund, local_account, insurer_account, local_cash, insurer_cash;
  std::optional<std::string> msgid;
  std::string note;
  std::int64_t created_at_ms = 0;
};

struct Event {
  std::int64_t event_id = 0;  // assigned by append_event
  std::int64_t at_ms = 0;
  Entity entity = Entity::ledger;
  std::string entity_id;
  std::optional<std::string> from_state;
  std::string to_state;
  std::string detail;
};

struct OutboxItem {
  std::int64_t item_id = 0;
  OutboxKind kind = OutboxKind::reversal;
  std::optional<std::int64_t> setl_id;   // offline_upload: the settlement
  std::optional<std::string> ref_msgid;  // reversal: the original msgid
  std::string payload;
  OutboxState state = OutboxState::pending;
  std::int64_t attempts = 0;
  std::int64_t next_attempt_at_ms = 0;
  std::optional<std::string> last_error;  // parked: the insurer's reason
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::int64_t refusals = 0;  // times the insurer answered and refused it (v3)
};

// ---- Write operations (on the writer's connection, inside a job) -------------

// Inserts the request as in_progress, or returns the existing row. Neither
// this nor answer_request writes an event: the row keeps both of a request's
// states with their times, and triggers keep it from changing otherwise.
sql::Result<RecordedRequest> record_request(sql::Db& db, const Request& r);
// Stores the first answer (in_progress -> answered). invalid_state if answered.
sql::Status answer_request(sql::Db& db, std::string_view request_id, std::string_view answer,
                           std::int64_t at_ms);

// Writes a msgid before it is sent (state written). unique if it exists.
sql::Status record_message(sql::Db& db, const Message& m);
// Writes a query's message (one that moves no money) once, with its
// outcome: m.state answered (m.infcode, m.err_msg), unsent or abandoned (its
// reply lost), at m.updated_at_ms. unique if it exists; invalid_state for
// any other state. Nothing is undone for a query, so its msgid need not be
// durable before it is sent; settled's start-up skips to the next second,
// so a msgid sent but not yet written when it stopped is never issued again.
sql::Status record_query(sql::Db& db, const Message& m);
// Moves a message along written -> sent -> answered, written|sent -> in_doubt,
// in_doubt -> reversed; invalid_state for any other move, not_found if absent.
sql::Status set_message_state(sql::Db& db, std::string_view msgid, MessageState to, std::int64_t at_ms,
                              std::optional<std::int64_t> infcode = std::nullopt,
                              std::optional<std::string_view> err_msg = std::nullopt);
inline sql::Status mark_sent(sql::Db& db, std::string_view msgid, std::int64_t at_ms) {
  return set_message_state(db, msgid, MessageState::sent, at_ms);
}
inline sql::Status mark_answered(sql::Db& db, std::string_view msgid, std::int64_t at_ms, std::int64_t infcode,
                                 std::optional<std::string_view> err_msg = std::nullopt) {
  return set_message_state(db, msgid, MessageState::answered, at_ms, infcode, err_msg);
}
inline sql::Status mark_in_doubt(sql::Db& db, std::string_view msgid, std::int64_t at_ms) {
  return set_message_state(db, msgid, MessageState::in_doubt, at_ms);
}
inline sql::Status mark_reversed(sql::Db& db, std::string_view msgid, std::int64_t at_ms) {
  return set_message_state(db, msgid, MessageState::reversed, at_ms);
}
// The link never sent a byte of it (the insurer was unreachable).
inline sql::Status mark_unsent(sql::Db& db, std::string_view msgid, std::int64_t at_ms) {
  return set_message_state(db, msgid, MessageState::unsent, at_ms);
}
// A query cut off by a restart: its outcome no longer matters.
inline sql::Status mark_abandoned(sql::Db& db, std::string_view msgid, std::int64_t at_ms) {
  return set_message_state(db, msgid, MessageState::abandoned, at_ms);
}

// Records a settlement with its lines (none when it names its stay's lines:
// they must be the stay's live lines now, whose total is the settlement's,
// else invalid_state); returns the new setl_id.
sql::Result<std::int64_t> record_settlement(sql::Db& db, const Settlement& s,
                                            std::span<const SettlementLine> lines);
// Moves a settlement's state (allowed moves are the schema's); `detail` goes
// to the event.
sql::Status set_settlement_state(sql::Db& db, std::int64_t setl_id, SettlementState to, std::int64_t at_ms,
                                 std::string_view detail = {});
// Sets the insurer's ids once known (an offline settlement after upload).
sql::Status set_settlement_insurer_ids(sql::Db& db, std::int64_t setl_id, std::string_view insurer_setl_id,
                                       std::optional<std::string_view> mdtrt_id, std::int64_t at_ms);

// Records a refund with its lines; returns the new refund_id.
sql::Result<std::int64_t> record_refund(sql::Db& db, const Refund& r);
sql::Result<std::int64_t> record_adjustment(sql::Db& db, const Adjustment& a);
sql::Result<std::int64_t> append_event(sql::Db& db, const Event& e);

// Queues a reversal (needs ref_msgid) or an offline upload (needs setl_id).
// Idempotent: a second reversal of the same msgid, or a second upload of
// the same settlement, returns the existing item's id.
sql::Result<std::int64_t> enqueue_outbox(sql::Db& db, OutboxKind kind, std::optional<std::int64_t> setl_id,
                                         std::optional<std::string_view> ref_msgid, std::string_view payload,
                                         std::int64_t at_ms);
// Takes up to `limit` pending items due at now_ms, reversals first, then
// oldest first (only items of `only` when given); marks them in_flight and
// counts the attempt.
sql::Result<std::vector<OutboxItem>> claim_outbox(sql::Db& db, std::int64_t now_ms, int limit,
                                                  std::optional<OutboxKind> only = std::nullopt);
// park: refused by the insurer too often (engine/store_forward.hpp); kept
// with its reason in last_error until a supervisor retries or resolves it.
enum class OutboxOutcome : std::uint8_t { done, retry, failed, park };
// Takes up to `limit` due offline uploads, oldest first, with their
// settlements and lines (the drain's batch; claimed as claim_outbox does):
// strictly in order, so none once the oldest pending one waits for a retry,
// stopping before the item whose lines would take the batch past `max_lines`
// (the first item is always taken) and before the first settlement of another
// insured area than the first's (a 9302's envelope names one area).
struct UploadItem {
  OutboxItem item;
  Settlement settlement;
  std::vector<SettlementLine> lines;
};
sql::Result<std::vector<UploadItem>> claim_uploads(sql::Db& db, std::int64_t now_ms, int limit,
                                                 std::int64_t max_lines = INT64_MAX);
// Puts claimed items that were never sent back to pending, due at
// next_attempt_at_ms, without counting the attempt the claim counted (the
// drain's next batch, claimed while the one before it was at the insurer,
// when that one is not forwarded).
sql::Status release_claimed(sql::Db& db, std::span<const std::int64_t> item_ids, std::int64_t next_attempt_at_ms,
                            std::int64_t at_ms);
// The insurer's answer to one record of a 9302 batch.
struct UploadResult {
  std::int64_t item_id = 0;  // the outbox item; 0 for a stay's discharge (a stay item)
  std::int64_t setl_id = 0;
  bool accepted = false;
  std::string insurer_setl_id;           // accepted: the insurer's id
  std::string mdtrt_id;                  // accepted: the visit the insurer opened for it (2208 names it);
                                         // empty when the insurer gave none (the column stays NULL)
  std::string detail;                    // the state change's event text
  std::optional<Adjustment> adjustment;  // accepted with figures other than the estimate
  std::string outbox_error;              // rejected: kept as the item's last error
};
// Records a batch's answers (inside the caller's transaction): per record the
// settlement offline_pending -> offline_accepted with the insurer's setl_id
// and mdtrt_id (and the adjustment), or -> offline_rejected; the item done.
// The same rows and events as set_settlement_insurer_ids,
// set_settlement_state, record_adjustment and complete_outbox one by one, in
// fewer statements.
sql::Status record_upload_results(sql::Db& db, std::span<const UploadResult> results, std::int64_t at_ms);
// Finishes a claimed item: done, failed (final, with error), retry at
// next_attempt_at_ms (back to pending), or park (with the reason in `error`,
// which must not be empty). `refusals`, when given, is stored as the item's
// refusal count (retry and park).
sql::Status complete_outbox(sql::Db& db, std::int64_t item_id, OutboxOutcome outcome, std::int64_t at_ms,
                            std::int64_t next_attempt_at_ms = 0, std::string_view error = {},
                            std::optional<std::int64_t> refusals = std::nullopt);
// Parked items: reversals first, then uploads, each oldest first (through
// the index of parked items), with the person: an upload's settlement's
// psn_no, a reversal's payload's.
struct ParkedItem {
  OutboxItem item;
  std::optional<std::string> psn_no;
};
sql::Result<std::vector<ParkedItem>> list_parked(sql::Db& db);
sql::Result<std::optional<OutboxItem>> find_outbox(sql::Db& db, std::int64_t item_id);
// A supervisor's retry: parked -> pending, due at once, refusals from zero.
// not_found for no such item, invalid_state if it is not parked.
sql::Status retry_parked(sql::Db& db, std::int64_t item_id, std::string_view by_operator, std::int64_t at_ms);
// A supervisor's resolve (the office settled it another way): parked -> done,
// final, the note (not empty) in the event. Errors as retry_parked.
sql::Status resolve_parked(sql::Db& db, std::int64_t item_id, std::string_view by_operator, std::string_view note,
                           std::int64_t at_ms);
// At start-up: items left in_flight by a crash go back to pending. Returns
// how many.
sql::Result<std::int64_t> requeue_in_flight(sql::Db& db, std::int64_t at_ms);

// ---- Read operations (on any connection) -------------------------------------

sql::Result<std::optional<Request>> find_request(sql::Db& db, std::string_view request_id);
sql::Result<std::optional<Message>> find_message(sql::Db& db, std::string_view msgid);
// Messages in a state, oldest first (start-up: written/sent are in doubt).
// The open states (written, sent, in_doubt) read only the open messages.
sql::Result<std::vector<Message>> list_messages(sql::Db& db, MessageState state);
// The highest msgid recorded for an institution (seeds MsgidAllocator).
sql::Result<std::optional<std::string>> highest_msgid(sql::Db& db, std::string_view institution_code);

struct SettlementFilter {
  std::int64_t from_ms = 0;                         // created_at_ms >= from_ms
  std::int64_t to_ms = INT64_MAX;                   // created_at_ms < to_ms
  std::optional<SettlementState> state;
  std::optional<std::string> window_id;
  std::optional<std::string> operator_id;
  std::optional<std::string> card_no;
  std::optional<std::string> receipt_no;
  std::int64_t after_setl_id = 0;                   // paging cursor: the last setl_id seen
  int limit = 100;
};
// Settlements matching the filter, by setl_id ascending (the paging order).
sql::Result<std::vector<Settlement>> list_settlements(sql::Db& db, const SettlementFilter& f);

struct SettlementDetail {
  Settlement settlement;
  std::vector<SettlementLine> lines;
  std::vector<Refund> refunds;  // with their lines, oldest first
  std::vector<Adjustment> adjustments;
  std::vector<OutboxItem> outbox;
  std::vector<Event> events;    // the settlement's own history, oldest first
};
// A settlement's row and, for a stay's, the class B ratios it applied;
// none of its lines (a stay's settlement names the stay's, thousands of them).
sql::Result<std::optional<Settlement>> settlement_row(sql::Db& db, std::int64_t setl_id);
// Its refunds with their lines, oldest first; its adjustments, oldest first.
sql::Result<std::vector<Refund>> refunds_of(sql::Db& db, std::int64_t setl_id);
sql::Result<std::vector<Adjustment>> adjustments_of(sql::Db& db, std::int64_t setl_id);
// The whole of a settlement: its row, lines, refunds, adjustments, upload
// and history (the office's view of one settlement).
sql::Result<std::optional<SettlementDetail>> get_settlement(sql::Db& db, std::int64_t setl_id);
// A settlement's lines: its own rows, or its stay's it names by reference (v5).
sql::Result<std::vector<SettlementLine>> settlement_lines_of(sql::Db& db, const Settlement& s);

sql::Result<std::vector<Event>> list_events(sql::Db& db, Entity entity, std::string_view entity_id);

// Totals of one clearing date for one insurance type and clearing type:
// settlements recorded that day which the insurer has (online, or offline and
// accepted; undone ones excluded), refunds recorded that day (under their
// settlement's clearing type), and the net.
struct ClearingTotals {
  std::string insutype;  // "" when the settlement had none (self-pay offline)
  std::string clr_type;  // "11" outpatient, "21" inpatient (the settlement's visit_type)
  std::int64_t settlement_count = 0;
  Amount total, fund, account, cash;
  std::int64_t refund_count = 0;
  Amount refund_total, refund_fund, refund_account, refund_cash;
  Amount net_total() const { return total - refund_total; }
  Amount net_fund() const { return fund - refund_fund; }
  Amount net_account() const { return account - refund_account; }
  Amount net_cash() const { return cash - refund_cash; }
};
sql::Result<std::vector<ClearingTotals>> clearing_totals(sql::Db& db, std::string_view clearing_date);

struct OpenWork {
  std::int64_t pending_reversals = 0;  // outbox reversals pending or in flight
  std::int64_t pending_uploads = 0;    // outbox offline uploads pending or in flight
  std::int64_t in_doubt = 0;           // messages in doubt
  std::int64_t parked_reversals = 0;   // reversals parked (not counted above: they hold nothing back)
  std::int64_t parked_uploads = 0;     // offline uploads parked
};
sql::Result<OpenWork> open_work(sql::Db& db);
// The same on the writer's connection, without counting every open item: the
// outbox's open items are kept in a TEMP table by TEMP triggers (as
// offline_outstanding_tracked below), so the count after each commit does
// not grow with the uploads waiting through an outage.
sql::Result<OpenWork> open_work_tracked(sql::Db& db);
// Whether a reversal is pending or in flight: the drain's check between two
// 9302 batches. It reads the index of open reversals only, never the open
// uploads.
sql::Result<bool> reversal_open(sql::Db& db);

// Offline settlements stored and not yet accepted by the insurer
// (offline_pending) of one visit type: what its offline limits are measured
// against (outpatient and inpatient have limits of their own).
struct OfflineOutstanding {
  std::int64_t count = 0;
  Amount fund;                                  // their estimated fund parts
  std::optional<std::int64_t> oldest_created_ms;
};
sql::Result<OfflineOutstanding> offline_outstanding(sql::Db& db, VisitType visit = VisitType::outpatient);
// The outpatient figures on the writer's connection without reading every stored
// offline settlement: count and fund are kept in a TEMP table by TEMP triggers
// on settlements (made on first use, inside the caller's transaction, so they
// roll back with it), filled again from the table whenever another connection
// has committed since (PRAGMA data_version); the oldest comes from the
// (state, created_at_ms) index.
sql::Result<OfflineOutstanding> offline_outstanding_tracked(sql::Db& db);

// Reversals queued (pending or in flight) for one person (the outbox payload's
// psn_no); asked before every online settlement and refund, it reads the open
// reversals only, however many uploads wait.
sql::Result<std::int64_t> pending_reversals_for(sql::Db& db, std::string_view psn_no);

// ---- Operators and the audit trail ---------------------------------------------

struct OperatorRow {
  std::string name;
  std::string role;  // cashier, supervisor, auditor, admin
  std::string password_hash;
  bool disabled = false;
  bool must_change_password = true;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
};

// Failed logins and the lock of one operator from one source.
struct LoginSourceRow {
  std::string operator_name;
  std::string source;
  std::int64_t failed_attempts = 0;
  std::optional<std::int64_t> locked_since_ms;  // set: locked
  std::optional<std::int64_t> locked_until_ms;  // unset with locked_since: until unlocked
  std::int64_t updated_at_ms = 0;
};

sql::Result<std::optional<OperatorRow>> find_operator(sql::Db& db, std::string_view name);
sql::Result<std::vector<OperatorRow>> list_operators(sql::Db& db);
// unique if the name exists.
sql::Status insert_operator(sql::Db& db, const OperatorRow& row);
// Each returns not_found for an unknown name.
sql::Status set_operator_password(sql::Db& db, std::string_view name, std::string_view password_hash,
                                  bool must_change, std::int64_t at_ms);
sql::Status set_operator_role(sql::Db& db, std::string_view name, std::string_view role, std::int64_t at_ms);
sql::Status set_operator_disabled(sql::Db& db, std::string_view name, bool disabled, std::int64_t at_ms);
// Clears the locks and failures of every source of the operator.
sql::Status unlock_operator(sql::Db& db, std::string_view name, std::int64_t at_ms);

sql::Result<std::optional<LoginSourceRow>> find_login_source(sql::Db& db, std::string_view name,
                                                             std::string_view source);
// Every source with failures or a lock (by operator, then source).
sql::Result<std::vector<LoginSourceRow>> list_login_sources(sql::Db& db);
// One more failed attempt from the source; returns the new count.
sql::Result<std::int64_t> add_failed_login(sql::Db& db, std::string_view name, std::string_view source,
                                           std::int64_t at_ms);
// Locks the operator for the source (until unset: until unlocked); clears its count.
sql::Status lock_login_source(sql::Db& db, std::string_view name, std::string_view source,
                              std::optional<std::int64_t> until_ms, std::int64_t at_ms);
// A login from the source succeeded: its failures are forgotten.
sql::Status clear_login_source(sql::Db& db, std::string_view name, std::string_view source);

struct AuditEntry {
  std::int64_t audit_id = 0;  // assigned by append_audit
  std::int64_t at_ms = 0;
  std::string operator_name;
  std::string window;
  std::string action;   // a method name ("settle.commit") or an operator event ("login_failed")
  std::string detail;   // for people: what was done
  std::string object = {};   // what it was done to: "setl_id 12", "operator c002", "psn_no 1101..."
  std::string outcome = {};  // "ok" or the error reason
  std::string source = {};   // the client ("uid:1000"), when known
};
sql::Result<std::int64_t> append_audit(sql::Db& db, const AuditEntry& e);

struct AuditQuery {
  std::optional<std::int64_t> from_ms;  // at_ms >= from
  std::optional<std::int64_t> to_ms;    // at_ms < to
  std::string operator_name = {};       // empty: every operator
  std::string action = {};              // empty: every action
  std::optional<std::int64_t> before_id;  // audit_id < before (the next page)
  int limit = 100;
};
// Entries matching the query, newest first, at most `limit`.
sql::Result<std::vector<AuditEntry>> list_audit(sql::Db& db, const AuditQuery& q);

}  // namespace settle::ledger
