// The ledger's schema (v1, and what v2 to v5 change of it) and the migration
// runner. Every table is STRICT (types are enforced), money is INTEGER fen
// with `_fen` names, times are INTEGER milliseconds since the Unix epoch
// (`_at_ms`). Triggers make the recorded money and the event history
// append-only: a correction is a new row.
#include "offline/schema.hpp"

#include "engine/settlement_state.hpp"
#include "offline/chain.hpp"

#include <fmt/format.h>

#include <array>
#include <string>

namespace settle::ledger {
namespace {

// clang-format off
constexpr std::string_view kV1 = R"SQL(
-- The request log: one row per client request_id, forever. The first answer
-- is stored and returned again for a retry with the same payload hash.
CREATE TABLE requests (
  request_id      TEXT PRIMARY KEY NOT NULL CHECK (length(request_id) BETWEEN 1 AND 64),
  method          TEXT NOT NULL,
  payload_hash    TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('in_progress', 'answered')),
  answer          TEXT,
  operator_id     TEXT,
  window_id       TEXT,
  created_at_ms   INTEGER NOT NULL,
  answered_at_ms  INTEGER,
  CHECK ((state = 'answered') = (answer IS NOT NULL AND answered_at_ms IS NOT NULL))
) WITHOUT ROWID, STRICT;
CREATE INDEX requests_in_progress ON requests(created_at_ms) WHERE state = 'in_progress';

CREATE TRIGGER requests_fixed BEFORE UPDATE ON requests
WHEN NEW.request_id IS NOT OLD.request_id OR NEW.method IS NOT OLD.method
  OR NEW.payload_hash IS NOT OLD.payload_hash OR NEW.created_at_ms IS NOT OLD.created_at_ms
  OR (OLD.state = 'answered' AND (NEW.state IS NOT OLD.state OR NEW.answer IS NOT OLD.answer
                                  OR NEW.answered_at_ms IS NOT OLD.answered_at_ms))
BEGIN SELECT RAISE(ABORT, 'requests: a request''s identity and its first answer never change'); END;
CREATE TRIGGER requests_no_delete BEFORE DELETE ON requests
BEGIN SELECT RAISE(ABORT, 'requests: the request log is append-only'); END;

-- Every message sent to the insurer, written before it is sent. `unsent`:
-- the link never sent a byte of it; `abandoned`: a query cut off by a
-- restart (nothing to undo); `reversed`: a 2601 undid it (an answered one is
-- reversed when its answer broke the rules and was refused).
CREATE TABLE insurer_messages (
  msgid           TEXT PRIMARY KEY NOT NULL CHECK (length(msgid) = 30),
  infno           TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('written', 'sent', 'answered', 'in_doubt', 'reversed',
                                                 'unsent', 'abandoned')),
  request_id      TEXT REFERENCES requests(request_id),
  reverses_msgid  TEXT REFERENCES insurer_messages(msgid),
  infcode         INTEGER,
  err_msg         TEXT,
  created_at_ms   INTEGER NOT NULL,
  updated_at_ms   INTEGER NOT NULL
) WITHOUT ROWID, STRICT;
CREATE INDEX insurer_messages_open ON insurer_messages(state) WHERE state IN ('written', 'sent', 'in_doubt');
CREATE INDEX insurer_messages_request ON insurer_messages(request_id) WHERE request_id IS NOT NULL;

CREATE TRIGGER insurer_messages_fixed BEFORE UPDATE ON insurer_messages
WHEN NEW.msgid IS NOT OLD.msgid OR NEW.infno IS NOT OLD.infno OR NEW.request_id IS NOT OLD.request_id
  OR NEW.reverses_msgid IS NOT OLD.reverses_msgid OR NEW.created_at_ms IS NOT OLD.created_at_ms
BEGIN SELECT RAISE(ABORT, 'insurer_messages: msgid, infno and links never change'); END;
CREATE TRIGGER insurer_messages_transition BEFORE UPDATE OF state ON insurer_messages
WHEN NEW.state IS NOT OLD.state AND (OLD.state, NEW.state) NOT IN (VALUES
  ('written', 'sent'), ('written', 'answered'), ('written', 'in_doubt'), ('written', 'unsent'),
  ('written', 'abandoned'), ('sent', 'answered'), ('sent', 'in_doubt'), ('sent', 'abandoned'),
  ('in_doubt', 'reversed'), ('answered', 'reversed'))
BEGIN SELECT RAISE(ABORT, 'insurer_messages: state transition not allowed'); END;
CREATE TRIGGER insurer_messages_no_delete BEFORE DELETE ON insurer_messages
BEGIN SELECT RAISE(ABORT, 'insurer_messages: append-only'); END;

-- One row per settlement (outpatient visit or inpatient discharge), online or
-- offline. Its money never changes; its state and insurer ids may.
CREATE TABLE settlements (
  setl_id              INTEGER PRIMARY KEY,
  request_id           TEXT NOT NULL UNIQUE REFERENCES requests(request_id),
  window_id            TEXT NOT NULL,
  operator_id          TEXT NOT NULL,
  card_no              TEXT NOT NULL,
  card_sn              TEXT,
  psn_no               TEXT,
  insutype             TEXT,
  visit_type           TEXT NOT NULL CHECK (visit_type IN ('outpatient', 'inpatient')),
  med_type             TEXT NOT NULL,
  mode                 TEXT NOT NULL CHECK (mode IN ('online', 'offline')),
  total_fen            INTEGER NOT NULL CHECK (total_fen >= 0),
  fund_fen             INTEGER NOT NULL CHECK (fund_fen >= 0),
  account_fen          INTEGER NOT NULL CHECK (account_fen >= 0),
  cash_fen             INTEGER NOT NULL CHECK (cash_fen >= 0),
  fulamt_ownpay_fen    INTEGER NOT NULL CHECK (fulamt_ownpay_fen >= 0),
  preselfpay_fen       INTEGER NOT NULL CHECK (preselfpay_fen >= 0),
  inscp_fen            INTEGER NOT NULL CHECK (inscp_fen >= 0),
  deductible_part_fen  INTEGER NOT NULL CHECK (deductible_part_fen >= 0),
  reasons              TEXT NOT NULL DEFAULT '',
  insurer_setl_id      TEXT,
  mdtrt_id             TEXT,
  msgid                TEXT REFERENCES insurer_messages(msgid),
  receipt_no           TEXT NOT NULL UNIQUE,
  state                TEXT NOT NULL CHECK (state IN ('settled', 'offline_pending', 'offline_accepted',
                         'offline_rejected', 'refunded', 'partly_refunded', 'undone')),
  created_at_ms        INTEGER NOT NULL,
  clearing_date        TEXT NOT NULL CHECK (clearing_date GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]'),
  offline_reason       TEXT,
  resettles_setl_id    INTEGER REFERENCES settlements(setl_id),
  CHECK (fund_fen + account_fen + cash_fen = total_fen),
  CHECK ((mode = 'offline') = (offline_reason IS NOT NULL)),
  CHECK (mode = 'online' OR account_fen = 0)
) STRICT;
CREATE INDEX settlements_created ON settlements(created_at_ms);
CREATE INDEX settlements_clearing ON settlements(clearing_date, state);
CREATE INDEX settlements_state ON settlements(state, created_at_ms);

CREATE TRIGGER settlements_money_fixed BEFORE UPDATE ON settlements
WHEN NEW.setl_id IS NOT OLD.setl_id OR NEW.request_id IS NOT OLD.request_id
  OR NEW.window_id IS NOT OLD.window_id OR NEW.operator_id IS NOT OLD.operator_id
  OR NEW.card_no IS NOT OLD.card_no OR NEW.card_sn IS NOT OLD.card_sn OR NEW.psn_no IS NOT OLD.psn_no
  OR NEW.insutype IS NOT OLD.insutype OR NEW.visit_type IS NOT OLD.visit_type
  OR NEW.med_type IS NOT OLD.med_type OR NEW.mode IS NOT OLD.mode
  OR NEW.total_fen IS NOT OLD.total_fen OR NEW.fund_fen IS NOT OLD.fund_fen
  OR NEW.account_fen IS NOT OLD.account_fen OR NEW.cash_fen IS NOT OLD.cash_fen
  OR NEW.fulamt_ownpay_fen IS NOT OLD.fulamt_ownpay_fen OR NEW.preselfpay_fen IS NOT OLD.preselfpay_fen
  OR NEW.inscp_fen IS NOT OLD.inscp_fen OR NEW.deductible_part_fen IS NOT OLD.deductible_part_fen
  OR NEW.reasons IS NOT OLD.reasons OR NEW.msgid IS NOT OLD.msgid OR NEW.receipt_no IS NOT OLD.receipt_no
  OR NEW.created_at_ms IS NOT OLD.created_at_ms OR NEW.clearing_date IS NOT OLD.clearing_date
  OR NEW.offline_reason IS NOT OLD.offline_reason OR NEW.resettles_setl_id IS NOT OLD.resettles_setl_id
BEGIN SELECT RAISE(ABORT, 'settlements: the money and facts of a recorded settlement never change; record a correction as a new row'); END;
CREATE TRIGGER settlements_insurer_ids_once BEFORE UPDATE OF insurer_setl_id, mdtrt_id ON settlements
WHEN (OLD.insurer_setl_id IS NOT NULL AND NEW.insurer_setl_id IS NOT OLD.insurer_setl_id)
  OR (OLD.mdtrt_id IS NOT NULL AND NEW.mdtrt_id IS NOT OLD.mdtrt_id)
BEGIN SELECT RAISE(ABORT, 'settlements: insurer ids are set once'); END;
CREATE TRIGGER settlements_transition BEFORE UPDATE OF state ON settlements
WHEN NEW.state IS NOT OLD.state AND (OLD.state, NEW.state) NOT IN (VALUES
  ('settled', 'partly_refunded'), ('settled', 'refunded'), ('settled', 'undone'),
  ('partly_refunded', 'refunded'),
  ('offline_pending', 'offline_accepted'), ('offline_pending', 'offline_rejected'),
  ('offline_accepted', 'partly_refunded'), ('offline_accepted', 'refunded'), ('offline_accepted', 'undone'),
  ('offline_rejected', 'undone'))
BEGIN SELECT RAISE(ABORT, 'settlements: state transition not allowed'); END;
CREATE TRIGGER settlements_no_delete BEFORE DELETE ON settlements
BEGIN SELECT RAISE(ABORT, 'settlements: recorded settlements are never deleted'); END;

CREATE TABLE settlement_lines (
  setl_id            INTEGER NOT NULL REFERENCES settlements(setl_id),
  line_no            INTEGER NOT NULL CHECK (line_no >= 1),
  code               TEXT NOT NULL,
  name               TEXT NOT NULL,
  class              TEXT NOT NULL CHECK (class IN ('A', 'B', 'C')),
  amount_fen         INTEGER NOT NULL CHECK (amount_fen >= 0),
  selfpay_ratio_ppm  INTEGER NOT NULL CHECK (selfpay_ratio_ppm BETWEEN 0 AND 1000000),
  PRIMARY KEY (setl_id, line_no)
) WITHOUT ROWID, STRICT;
CREATE TRIGGER settlement_lines_no_update BEFORE UPDATE ON settlement_lines
BEGIN SELECT RAISE(ABORT, 'settlement_lines: recorded lines never change'); END;
CREATE TRIGGER settlement_lines_no_delete BEFORE DELETE ON settlement_lines
BEGIN SELECT RAISE(ABORT, 'settlement_lines: recorded lines are never deleted'); END;

-- Refunds (online only): the insurer's fund share and the local cash/account split.
CREATE TABLE refunds (
  refund_id          INTEGER PRIMARY KEY,
  request_id         TEXT NOT NULL UNIQUE REFERENCES requests(request_id),
  setl_id            INTEGER NOT NULL REFERENCES settlements(setl_id),
  window_id          TEXT NOT NULL,
  operator_id        TEXT NOT NULL,
  refund_total_fen   INTEGER NOT NULL CHECK (refund_total_fen >= 0),
  fund_fen           INTEGER NOT NULL CHECK (fund_fen >= 0),
  account_fen        INTEGER NOT NULL CHECK (account_fen >= 0),
  cash_fen           INTEGER NOT NULL CHECK (cash_fen >= 0),
  insurer_refund_id  TEXT,
  msgid              TEXT REFERENCES insurer_messages(msgid),
  created_at_ms      INTEGER NOT NULL,
  clearing_date      TEXT NOT NULL CHECK (clearing_date GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]'),
  CHECK (fund_fen + account_fen + cash_fen = refund_total_fen)
) STRICT;
CREATE INDEX refunds_setl ON refunds(setl_id);
CREATE INDEX refunds_clearing ON refunds(clearing_date);
CREATE TRIGGER refunds_no_update BEFORE UPDATE ON refunds
BEGIN SELECT RAISE(ABORT, 'refunds: a recorded refund never changes; record a correction as a new row'); END;
CREATE TRIGGER refunds_no_delete BEFORE DELETE ON refunds
BEGIN SELECT RAISE(ABORT, 'refunds: recorded refunds are never deleted'); END;

CREATE TABLE refund_lines (
  refund_id   INTEGER NOT NULL REFERENCES refunds(refund_id),
  line_no     INTEGER NOT NULL CHECK (line_no >= 1),
  code        TEXT NOT NULL,
  amount_fen  INTEGER NOT NULL CHECK (amount_fen >= 0),
  PRIMARY KEY (refund_id, line_no)
) WITHOUT ROWID, STRICT;
CREATE TRIGGER refund_lines_no_update BEFORE UPDATE ON refund_lines
BEGIN SELECT RAISE(ABORT, 'refund_lines: recorded lines never change'); END;
CREATE TRIGGER refund_lines_no_delete BEFORE DELETE ON refund_lines
BEGIN SELECT RAISE(ABORT, 'refund_lines: recorded lines are never deleted'); END;

-- The insurer's final figures for a settlement next to the local estimate
-- (an offline upload's answer, or a later correction).
CREATE TABLE adjustments (
  adj_id               INTEGER PRIMARY KEY,
  setl_id              INTEGER NOT NULL REFERENCES settlements(setl_id),
  kind                 TEXT NOT NULL CHECK (kind IN ('offline_upload', 'correction')),
  local_fund_fen       INTEGER NOT NULL,
  insurer_fund_fen     INTEGER NOT NULL,
  local_account_fen    INTEGER NOT NULL,
  insurer_account_fen  INTEGER NOT NULL,
  local_cash_fen       INTEGER NOT NULL,
  insurer_cash_fen     INTEGER NOT NULL,
  msgid                TEXT REFERENCES insurer_messages(msgid),
  note                 TEXT NOT NULL DEFAULT '',
  created_at_ms        INTEGER NOT NULL
) STRICT;
CREATE INDEX adjustments_setl ON adjustments(setl_id);
CREATE TRIGGER adjustments_no_update BEFORE UPDATE ON adjustments
BEGIN SELECT RAISE(ABORT, 'adjustments: append-only'); END;
CREATE TRIGGER adjustments_no_delete BEFORE DELETE ON adjustments
BEGIN SELECT RAISE(ABORT, 'adjustments: append-only'); END;

-- Work to forward to the insurer: reversals first, then offline uploads,
-- oldest first, with retry bookkeeping.
CREATE TABLE outbox (
  item_id             INTEGER PRIMARY KEY,
  kind                TEXT NOT NULL CHECK (kind IN ('reversal', 'offline_upload')),
  priority            INTEGER NOT NULL CHECK (priority = CASE kind WHEN 'reversal' THEN 0 ELSE 1 END),
  setl_id             INTEGER REFERENCES settlements(setl_id),
  ref_msgid           TEXT REFERENCES insurer_messages(msgid),
  payload             TEXT NOT NULL DEFAULT '',
  state               TEXT NOT NULL CHECK (state IN ('pending', 'in_flight', 'done', 'failed')),
  attempts            INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at_ms  INTEGER NOT NULL,
  last_error          TEXT,
  created_at_ms       INTEGER NOT NULL,
  updated_at_ms       INTEGER NOT NULL,
  CHECK (kind <> 'reversal' OR ref_msgid IS NOT NULL),
  CHECK (kind <> 'offline_upload' OR setl_id IS NOT NULL)
) STRICT;
CREATE INDEX outbox_ready ON outbox(priority, next_attempt_at_ms, item_id) WHERE state = 'pending';
CREATE INDEX outbox_open ON outbox(state) WHERE state IN ('pending', 'in_flight');
CREATE UNIQUE INDEX outbox_one_reversal ON outbox(ref_msgid) WHERE kind = 'reversal';
CREATE UNIQUE INDEX outbox_one_upload ON outbox(setl_id) WHERE kind = 'offline_upload';
CREATE TRIGGER outbox_fixed BEFORE UPDATE ON outbox
WHEN NEW.item_id IS NOT OLD.item_id OR NEW.kind IS NOT OLD.kind OR NEW.setl_id IS NOT OLD.setl_id
  OR NEW.ref_msgid IS NOT OLD.ref_msgid OR NEW.created_at_ms IS NOT OLD.created_at_ms
  OR OLD.state IN ('done', 'failed')
BEGIN SELECT RAISE(ABORT, 'outbox: an item''s identity never changes and a finished item is final'); END;
CREATE TRIGGER outbox_no_delete BEFORE DELETE ON outbox
BEGIN SELECT RAISE(ABORT, 'outbox: items are never deleted'); END;

-- Cashier operators: roles, password hashes (scrypt), failed logins and lockout.
CREATE TABLE operators (
  name              TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  role              TEXT NOT NULL CHECK (role IN ('cashier', 'supervisor', 'auditor')),
  password_hash     TEXT NOT NULL,
  failed_attempts   INTEGER NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
  locked_until_ms   INTEGER,
  created_at_ms     INTEGER NOT NULL,
  updated_at_ms     INTEGER NOT NULL
) WITHOUT ROWID, STRICT;
CREATE TRIGGER operators_no_delete BEFORE DELETE ON operators
BEGIN SELECT RAISE(ABORT, 'operators: operators are never deleted (their actions stay attributable)'); END;

-- The audit trail of operator actions, append-only.
CREATE TABLE audit (
  audit_id       INTEGER PRIMARY KEY AUTOINCREMENT,
  at_ms          INTEGER NOT NULL,
  operator_name  TEXT NOT NULL,
  window_id      TEXT NOT NULL DEFAULT '',
  action         TEXT NOT NULL,
  detail         TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_operator ON audit(operator_name, audit_id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit: the audit trail is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit: the audit trail is append-only'); END;

-- The append-only history of every state change.
CREATE TABLE events (
  event_id    INTEGER PRIMARY KEY AUTOINCREMENT,
  at_ms       INTEGER NOT NULL,
  entity      TEXT NOT NULL CHECK (entity IN ('request', 'message', 'settlement', 'refund', 'outbox', 'ledger')),
  entity_id   TEXT NOT NULL,
  from_state  TEXT,
  to_state    TEXT NOT NULL,
  detail      TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX events_entity ON events(entity, entity_id, event_id);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events: the history is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events: the history is append-only'); END;
)SQL";

// v2: two fewer pages written by nearly every commit. The partial index
// requests_in_progress was read by no query (recovery starts from the
// insurer messages still open), yet every request's insert and answer wrote
// a page of it. events loses AUTOINCREMENT, which wrote the sqlite_sequence
// page with every event: the history is append-only (no row is ever deleted,
// and a rolled-back insert takes its id with it), so the largest id plus one
// is exactly what AUTOINCREMENT gave. Ids, rows, index and triggers are kept.
// And one index added: the reversals still open, which every online
// settlement and refund asks about for its person (reversals go first);
// through outbox_open that question read every open offline upload too,
// 17 ms per settlement with 100,000 of them waiting to be forwarded.
constexpr std::string_view kV2 = R"SQL(
DROP INDEX requests_in_progress;
CREATE INDEX outbox_open_reversals ON outbox(state) WHERE kind = 'reversal' AND state IN ('pending', 'in_flight');

CREATE TABLE events_v2 (
  event_id    INTEGER PRIMARY KEY,
  at_ms       INTEGER NOT NULL,
  entity      TEXT NOT NULL CHECK (entity IN ('request', 'message', 'settlement', 'refund', 'outbox', 'ledger')),
  entity_id   TEXT NOT NULL,
  from_state  TEXT,
  to_state    TEXT NOT NULL,
  detail      TEXT NOT NULL DEFAULT ''
) STRICT;
INSERT INTO events_v2(event_id, at_ms, entity, entity_id, from_state, to_state, detail)
  SELECT event_id, at_ms, entity, entity_id, from_state, to_state, detail FROM events ORDER BY event_id;
DROP TABLE events;
ALTER TABLE events_v2 RENAME TO events;
DELETE FROM sqlite_sequence WHERE name = 'events';
CREATE INDEX events_entity ON events(entity, entity_id, event_id);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events: the history is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events: the history is append-only'); END;
)SQL";

// v3: store-and-forward that one refused item cannot block. The outbox gets
// the state `parked` (an item the insurer refused park_after_refusals times:
// out of the queue, its reason in last_error, until a supervisor retries or
// resolves it) and counts the insurer's refusals; the CHECK on state changes,
// so the table is rebuilt as v2 rebuilt events: every row with its id, then
// the indexes and triggers made again, and one trigger more that names every
// move of an item's state. Insurer messages get the person (psn_no), so a
// reversal queued by start-up recovery names the person it belongs to. The
// settlements' transition trigger is replaced by one generated from the
// engine's table of moves (settlement_transition_trigger_sql, appended below).
constexpr std::string_view kV3 = R"SQL(
CREATE TABLE outbox_v3 (
  item_id             INTEGER PRIMARY KEY,
  kind                TEXT NOT NULL CHECK (kind IN ('reversal', 'offline_upload')),
  priority            INTEGER NOT NULL CHECK (priority = CASE kind WHEN 'reversal' THEN 0 ELSE 1 END),
  setl_id             INTEGER REFERENCES settlements(setl_id),
  ref_msgid           TEXT REFERENCES insurer_messages(msgid),
  payload             TEXT NOT NULL DEFAULT '',
  state               TEXT NOT NULL CHECK (state IN ('pending', 'in_flight', 'done', 'failed', 'parked')),
  attempts            INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at_ms  INTEGER NOT NULL,
  last_error          TEXT,
  created_at_ms       INTEGER NOT NULL,
  updated_at_ms       INTEGER NOT NULL,
  refusals            INTEGER NOT NULL DEFAULT 0 CHECK (refusals >= 0),
  CHECK (kind <> 'reversal' OR ref_msgid IS NOT NULL),
  CHECK (kind <> 'offline_upload' OR setl_id IS NOT NULL)
) STRICT;
INSERT INTO outbox_v3(item_id, kind, priority, setl_id, ref_msgid, payload, state, attempts, next_attempt_at_ms,
                      last_error, created_at_ms, updated_at_ms, refusals)
  SELECT item_id, kind, priority, setl_id, ref_msgid, payload, state, attempts, next_attempt_at_ms,
         last_error, created_at_ms, updated_at_ms, 0 FROM outbox ORDER BY item_id;
DROP TABLE outbox;
ALTER TABLE outbox_v3 RENAME TO outbox;
CREATE INDEX outbox_ready ON outbox(priority, next_attempt_at_ms, item_id) WHERE state = 'pending';
CREATE INDEX outbox_open ON outbox(state) WHERE state IN ('pending', 'in_flight');
CREATE UNIQUE INDEX outbox_one_reversal ON outbox(ref_msgid) WHERE kind = 'reversal';
CREATE UNIQUE INDEX outbox_one_upload ON outbox(setl_id) WHERE kind = 'offline_upload';
CREATE INDEX outbox_open_reversals ON outbox(state) WHERE kind = 'reversal' AND state IN ('pending', 'in_flight');
CREATE INDEX outbox_parked ON outbox(kind, item_id) WHERE state = 'parked';
CREATE TRIGGER outbox_fixed BEFORE UPDATE ON outbox
WHEN NEW.item_id IS NOT OLD.item_id OR NEW.kind IS NOT OLD.kind OR NEW.setl_id IS NOT OLD.setl_id
  OR NEW.ref_msgid IS NOT OLD.ref_msgid OR NEW.created_at_ms IS NOT OLD.created_at_ms
  OR OLD.state IN ('done', 'failed')
BEGIN SELECT RAISE(ABORT, 'outbox: an item''s identity never changes and a finished item is final'); END;
CREATE TRIGGER outbox_transition BEFORE UPDATE OF state ON outbox
WHEN NEW.state IS NOT OLD.state AND (OLD.state, NEW.state) NOT IN (VALUES
  ('pending', 'in_flight'), ('in_flight', 'pending'), ('in_flight', 'done'), ('in_flight', 'failed'),
  ('in_flight', 'parked'), ('parked', 'pending'), ('parked', 'done'))
BEGIN SELECT RAISE(ABORT, 'outbox: state transition not allowed'); END;
CREATE TRIGGER outbox_no_delete BEFORE DELETE ON outbox
BEGIN SELECT RAISE(ABORT, 'outbox: items are never deleted'); END;

ALTER TABLE insurer_messages ADD COLUMN psn_no TEXT;

DROP TRIGGER settlements_transition;
)SQL";
// v4: inpatient stays (住院). A stay is admitted (online, or stored offline
// and forwarded), collects charge lines (never deleted; a cancellation marks
// the line once), and is settled at discharge by a settlement that names it
// (settlements.adm_id). What the insurer must still be told of a stay — its
// admission, each batch of lines, each cancellation, an offline discharge
// settlement — is a stay item, forwarded strictly in order within the stay;
// the stay's live count and total are kept on its row in the same
// transaction as its lines. When an item is parked, the stay's later items
// are parked behind it (they wait for the insurance office, and never hold
// the line in draining). Events may name a stay (the events table is
// rebuilt as v2 did, its CHECK widened).
constexpr std::string_view kV4 = R"SQL(
CREATE TABLE stays (
  adm_id            INTEGER PRIMARY KEY,
  request_id        TEXT NOT NULL UNIQUE REFERENCES requests(request_id),
  window_id         TEXT NOT NULL,
  operator_id       TEXT NOT NULL,
  card_no           TEXT NOT NULL,
  card_sn           TEXT,
  psn_no            TEXT,
  insutype          TEXT,
  dept              TEXT NOT NULL,
  dept_name         TEXT NOT NULL DEFAULT '',
  diagnosis         TEXT NOT NULL,
  diagnosis_name    TEXT NOT NULL DEFAULT '',
  admit_at_ms       INTEGER NOT NULL,
  discharge_at_ms   INTEGER,
  mode              TEXT NOT NULL CHECK (mode IN ('online', 'offline')),
  state             TEXT NOT NULL CHECK (state IN ('admitted', 'discharged', 'undone')),
  mdtrt_id          TEXT,
  msgid             TEXT REFERENCES insurer_messages(msgid),
  flag              TEXT,
  live_count        INTEGER NOT NULL DEFAULT 0 CHECK (live_count >= 0),
  live_total_fen    INTEGER NOT NULL DEFAULT 0 CHECK (live_total_fen >= 0),
  cancelled_count   INTEGER NOT NULL DEFAULT 0 CHECK (cancelled_count >= 0),
  created_at_ms     INTEGER NOT NULL,
  updated_at_ms     INTEGER NOT NULL
) STRICT;
CREATE INDEX stays_open_person ON stays(psn_no) WHERE state = 'admitted';
-- One open stay per card: two admissions at two windows cannot both stand.
CREATE UNIQUE INDEX stays_open_card ON stays(card_no) WHERE state = 'admitted';
CREATE INDEX stays_admitted_at ON stays(admit_at_ms);
CREATE TRIGGER stays_fixed BEFORE UPDATE ON stays
WHEN NEW.adm_id IS NOT OLD.adm_id OR NEW.request_id IS NOT OLD.request_id OR NEW.window_id IS NOT OLD.window_id
  OR NEW.operator_id IS NOT OLD.operator_id OR NEW.card_no IS NOT OLD.card_no OR NEW.card_sn IS NOT OLD.card_sn
  OR NEW.dept IS NOT OLD.dept OR NEW.diagnosis IS NOT OLD.diagnosis OR NEW.admit_at_ms IS NOT OLD.admit_at_ms
  OR NEW.mode IS NOT OLD.mode OR NEW.msgid IS NOT OLD.msgid OR NEW.created_at_ms IS NOT OLD.created_at_ms
  OR (OLD.mdtrt_id IS NOT NULL AND NEW.mdtrt_id IS NOT OLD.mdtrt_id)
BEGIN SELECT RAISE(ABORT, 'stays: a stay''s admission facts never change and its visit id is set once'); END;
CREATE TRIGGER stays_transition BEFORE UPDATE OF state ON stays
WHEN NEW.state IS NOT OLD.state AND (OLD.state, NEW.state) NOT IN (VALUES
  ('admitted', 'discharged'), ('discharged', 'admitted'), ('admitted', 'undone'))
BEGIN SELECT RAISE(ABORT, 'stays: state transition not allowed'); END;
CREATE TRIGGER stays_no_delete BEFORE DELETE ON stays
BEGIN SELECT RAISE(ABORT, 'stays: stays are never deleted'); END;

CREATE TABLE stay_lines (
  adm_id             INTEGER NOT NULL REFERENCES stays(adm_id),
  feedetl_sn         TEXT NOT NULL CHECK (length(feedetl_sn) BETWEEN 1 AND 64),
  line_no            INTEGER NOT NULL CHECK (line_no >= 1),
  code               TEXT NOT NULL,
  name               TEXT NOT NULL,
  class              TEXT NOT NULL CHECK (class IN ('A', 'B', 'C')),
  amount_fen         INTEGER NOT NULL CHECK (amount_fen >= 0),
  selfpay_ratio_ppm  INTEGER CHECK (selfpay_ratio_ppm BETWEEN 0 AND 1000000),
  added_by           TEXT NOT NULL,
  cancelled_by       TEXT,
  PRIMARY KEY (adm_id, feedetl_sn)
) WITHOUT ROWID, STRICT;
CREATE UNIQUE INDEX stay_lines_order ON stay_lines(adm_id, line_no);
CREATE INDEX stay_lines_batch ON stay_lines(adm_id, added_by);
CREATE TRIGGER stay_lines_fixed BEFORE UPDATE ON stay_lines
WHEN NEW.adm_id IS NOT OLD.adm_id OR NEW.feedetl_sn IS NOT OLD.feedetl_sn OR NEW.line_no IS NOT OLD.line_no
  OR NEW.code IS NOT OLD.code OR NEW.name IS NOT OLD.name OR NEW.class IS NOT OLD.class
  OR NEW.amount_fen IS NOT OLD.amount_fen OR NEW.selfpay_ratio_ppm IS NOT OLD.selfpay_ratio_ppm
  OR NEW.added_by IS NOT OLD.added_by OR OLD.cancelled_by IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'stay_lines: a line never changes; it is cancelled once'); END;
CREATE TRIGGER stay_lines_no_delete BEFORE DELETE ON stay_lines
BEGIN SELECT RAISE(ABORT, 'stay_lines: lines are never deleted'); END;

CREATE TABLE stay_items (
  item_id             INTEGER PRIMARY KEY,
  adm_id              INTEGER NOT NULL REFERENCES stays(adm_id),
  kind                TEXT NOT NULL CHECK (kind IN ('admission', 'lines', 'cancel', 'discharge')),
  request_id          TEXT,
  setl_id             INTEGER REFERENCES settlements(setl_id),
  state               TEXT NOT NULL CHECK (state IN ('pending', 'in_flight', 'done', 'parked', 'closed')),
  attempts            INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  refusals            INTEGER NOT NULL DEFAULT 0 CHECK (refusals >= 0),
  next_attempt_at_ms  INTEGER NOT NULL,
  last_error          TEXT,
  created_at_ms       INTEGER NOT NULL,
  updated_at_ms       INTEGER NOT NULL,
  CHECK ((kind IN ('lines', 'cancel')) = (request_id IS NOT NULL)),
  CHECK ((kind = 'discharge') = (setl_id IS NOT NULL))
) STRICT;
CREATE INDEX stay_items_open ON stay_items(adm_id, item_id) WHERE state IN ('pending', 'in_flight', 'parked');
CREATE INDEX stay_items_ready ON stay_items(next_attempt_at_ms, item_id) WHERE state = 'pending';
CREATE INDEX stay_items_request ON stay_items(adm_id, request_id) WHERE request_id IS NOT NULL;
CREATE TRIGGER stay_items_fixed BEFORE UPDATE ON stay_items
WHEN NEW.item_id IS NOT OLD.item_id OR NEW.adm_id IS NOT OLD.adm_id OR NEW.kind IS NOT OLD.kind
  OR NEW.request_id IS NOT OLD.request_id OR NEW.setl_id IS NOT OLD.setl_id OR NEW.created_at_ms IS NOT OLD.created_at_ms
  OR OLD.state IN ('done', 'closed')
BEGIN SELECT RAISE(ABORT, 'stay_items: an item''s identity never changes and a finished item is final'); END;
CREATE TRIGGER stay_items_transition BEFORE UPDATE OF state ON stay_items
WHEN NEW.state IS NOT OLD.state AND (OLD.state, NEW.state) NOT IN (VALUES
  ('pending', 'in_flight'), ('in_flight', 'pending'), ('in_flight', 'done'), ('in_flight', 'parked'),
  ('pending', 'parked'), ('pending', 'done'), ('parked', 'pending'), ('parked', 'done'), ('pending', 'closed'),
  ('parked', 'closed'))
BEGIN SELECT RAISE(ABORT, 'stay_items: state transition not allowed'); END;
CREATE TRIGGER stay_items_no_delete BEFORE DELETE ON stay_items
BEGIN SELECT RAISE(ABORT, 'stay_items: items are never deleted'); END;

ALTER TABLE settlements ADD COLUMN adm_id INTEGER REFERENCES stays(adm_id);
CREATE INDEX settlements_stay ON settlements(adm_id) WHERE adm_id IS NOT NULL;
CREATE TRIGGER settlements_stay_fixed BEFORE UPDATE OF adm_id ON settlements
WHEN NEW.adm_id IS NOT OLD.adm_id
BEGIN SELECT RAISE(ABORT, 'settlements: the stay a settlement settles never changes'); END;

CREATE TABLE events_v4 (
  event_id    INTEGER PRIMARY KEY,
  at_ms       INTEGER NOT NULL,
  entity      TEXT NOT NULL CHECK (entity IN ('request', 'message', 'settlement', 'refund', 'outbox', 'ledger', 'stay')),
  entity_id   TEXT NOT NULL,
  from_state  TEXT,
  to_state    TEXT NOT NULL,
  detail      TEXT NOT NULL DEFAULT ''
) STRICT;
INSERT INTO events_v4(event_id, at_ms, entity, entity_id, from_state, to_state, detail)
  SELECT event_id, at_ms, entity, entity_id, from_state, to_state, detail FROM events ORDER BY event_id;
DROP TABLE events;
ALTER TABLE events_v4 RENAME TO events;
CREATE INDEX events_entity ON events(entity, entity_id, event_id);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events: the history is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events: the history is append-only'); END;
)SQL";

// v5: a discharge settlement names the stay's lines it took instead of
// copying them (a stay of thousands of lines is settled without writing a row
// per line): the stay's lines numbered up to `stay_lines_upto` that were not
// among its first `stay_cancels_upto` cancelled ones. Each cancelled line
// gets its number in the stay's order of cancellation (`cancel_no`); lines
// cancelled before v5 are numbered in line order. The class B ratios the
// policy applied to lines without their own are kept by item code.
constexpr std::string_view kV5 = R"SQL(
ALTER TABLE stay_lines ADD COLUMN cancel_no INTEGER CHECK (cancel_no >= 1);
DROP TRIGGER stay_lines_fixed;
UPDATE stay_lines SET cancel_no = (SELECT count(*) FROM stay_lines c WHERE c.adm_id = stay_lines.adm_id
  AND c.cancelled_by IS NOT NULL AND c.line_no <= stay_lines.line_no) WHERE cancelled_by IS NOT NULL;
CREATE UNIQUE INDEX stay_lines_cancel_order ON stay_lines(adm_id, cancel_no) WHERE cancel_no IS NOT NULL;
CREATE TRIGGER stay_lines_fixed BEFORE UPDATE ON stay_lines
WHEN NEW.adm_id IS NOT OLD.adm_id OR NEW.feedetl_sn IS NOT OLD.feedetl_sn OR NEW.line_no IS NOT OLD.line_no
  OR NEW.code IS NOT OLD.code OR NEW.name IS NOT OLD.name OR NEW.class IS NOT OLD.class
  OR NEW.amount_fen IS NOT OLD.amount_fen OR NEW.selfpay_ratio_ppm IS NOT OLD.selfpay_ratio_ppm
  OR NEW.added_by IS NOT OLD.added_by OR OLD.cancelled_by IS NOT NULL
  OR (NEW.cancelled_by IS NULL) <> (NEW.cancel_no IS NULL)
BEGIN SELECT RAISE(ABORT, 'stay_lines: a line never changes; it is cancelled once, with its number'); END;
CREATE TRIGGER stay_lines_cancel_numbered BEFORE INSERT ON stay_lines
WHEN NEW.cancelled_by IS NOT NULL OR NEW.cancel_no IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'stay_lines: a line is added live'); END;

ALTER TABLE settlements ADD COLUMN stay_lines_upto INTEGER CHECK (stay_lines_upto >= 1);
ALTER TABLE settlements ADD COLUMN stay_cancels_upto INTEGER CHECK (stay_cancels_upto >= 0);
CREATE TRIGGER settlements_stay_lines_fixed BEFORE UPDATE OF stay_lines_upto, stay_cancels_upto ON settlements
WHEN NEW.stay_lines_upto IS NOT OLD.stay_lines_upto OR NEW.stay_cancels_upto IS NOT OLD.stay_cancels_upto
BEGIN SELECT RAISE(ABORT, 'settlements: the lines a settlement took never change'); END;

CREATE TABLE settlement_classb_ratios (
  setl_id            INTEGER NOT NULL REFERENCES settlements(setl_id),
  code               TEXT NOT NULL,
  selfpay_ratio_ppm  INTEGER NOT NULL CHECK (selfpay_ratio_ppm BETWEEN 0 AND 1000000),
  PRIMARY KEY (setl_id, code)
) WITHOUT ROWID, STRICT;
CREATE TRIGGER settlement_classb_ratios_no_update BEFORE UPDATE ON settlement_classb_ratios
BEGIN SELECT RAISE(ABORT, 'settlement_classb_ratios: recorded ratios never change'); END;
CREATE TRIGGER settlement_classb_ratios_no_delete BEFORE DELETE ON settlement_classb_ratios
BEGIN SELECT RAISE(ABORT, 'settlement_classb_ratios: recorded ratios are never deleted'); END;
)SQL";

// v6: the office's day. Operators gain the admin role, can be disabled, and
// carry whether their password is an initial one to change at the next login
// (operators migrated from v5 keep theirs). Failed logins and locks are kept
// per operator and source (the peer the kernel names), so a client that
// guesses locks an operator out of that client only; a lock without an end
// lasts until an administrator unlocks. Failure counts of v5 are not carried
// over. Audit entries name their object, outcome and source. Close-outs of
// cashiers' shifts and corrections with two-person review.
constexpr std::string_view kV6 = R"SQL(
CREATE TABLE operators_v6 (
  name                  TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  role                  TEXT NOT NULL CHECK (role IN ('cashier', 'supervisor', 'auditor', 'admin')),
  password_hash         TEXT NOT NULL,
  disabled              INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  must_change_password  INTEGER NOT NULL DEFAULT 1 CHECK (must_change_password IN (0, 1)),
  created_at_ms         INTEGER NOT NULL,
  updated_at_ms         INTEGER NOT NULL
) WITHOUT ROWID, STRICT;
INSERT INTO operators_v6(name, role, password_hash, disabled, must_change_password, created_at_ms, updated_at_ms)
  SELECT name, role, password_hash, 0, 0, created_at_ms, updated_at_ms FROM operators;
DROP TABLE operators;
ALTER TABLE operators_v6 RENAME TO operators;
CREATE TRIGGER operators_no_delete BEFORE DELETE ON operators
BEGIN SELECT RAISE(ABORT, 'operators: operators are never deleted (their actions stay attributable)'); END;

CREATE TABLE login_sources (
  operator_name    TEXT NOT NULL REFERENCES operators(name),
  source           TEXT NOT NULL CHECK (length(source) BETWEEN 1 AND 64),
  failed_attempts  INTEGER NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
  locked_since_ms  INTEGER,
  locked_until_ms  INTEGER CHECK (locked_until_ms IS NULL OR locked_since_ms IS NOT NULL),
  updated_at_ms    INTEGER NOT NULL,
  PRIMARY KEY (operator_name, source)
) WITHOUT ROWID, STRICT;

ALTER TABLE audit ADD COLUMN object TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN source TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_time ON audit(at_ms);
CREATE INDEX audit_action ON audit(action, audit_id);

-- A cashier's close-out (收费员日结): the settlements, refunds and approved
-- corrections of one operator at one window not closed before, summed and
-- signed off by the cashier. `document` is the close-out as answered (JSON),
-- `digest` its SHA-256; neither ever changes. An item is in one close-out.
CREATE TABLE closeouts (
  closeout_id     INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id      TEXT NOT NULL UNIQUE,
  operator_name   TEXT NOT NULL,
  window_id       TEXT NOT NULL,
  from_ms         INTEGER,
  to_ms           INTEGER NOT NULL,
  upto_setl_id    INTEGER NOT NULL,  -- the ledger's last settlement and refund when it was recorded:
  upto_refund_id  INTEGER NOT NULL,  -- the next close-out looks past them (ids grow in commit order)
  recorded_at_ms  INTEGER NOT NULL,
  source          TEXT NOT NULL DEFAULT '',
  document        TEXT NOT NULL,
  digest          TEXT NOT NULL CHECK (length(digest) = 64)
) STRICT;
CREATE INDEX closeouts_operator ON closeouts(operator_name, window_id, closeout_id);
CREATE TRIGGER closeouts_no_update BEFORE UPDATE ON closeouts
BEGIN SELECT RAISE(ABORT, 'closeouts: a close-out never changes; late corrections go into the next one'); END;
CREATE TRIGGER closeouts_no_delete BEFORE DELETE ON closeouts
BEGIN SELECT RAISE(ABORT, 'closeouts: close-outs are never deleted'); END;
-- Where close-outs start: the settlements and refunds up to these ids, made
-- before this ledger had close-outs, belong to no close-out.
CREATE TABLE closeout_start (
  one             INTEGER PRIMARY KEY CHECK (one = 1),
  upto_setl_id    INTEGER NOT NULL,
  upto_refund_id  INTEGER NOT NULL
) STRICT;
INSERT INTO closeout_start(one, upto_setl_id, upto_refund_id)
  VALUES(1, (SELECT coalesce(max(setl_id), 0) FROM settlements), (SELECT coalesce(max(refund_id), 0) FROM refunds));
CREATE TRIGGER closeout_start_fixed BEFORE UPDATE ON closeout_start
BEGIN SELECT RAISE(ABORT, 'closeout_start: fixed when the ledger gained close-outs'); END;
CREATE TABLE closeout_items (
  kind         TEXT NOT NULL CHECK (kind IN ('settlement', 'refund', 'correction')),
  ref_id       INTEGER NOT NULL,
  closeout_id  INTEGER NOT NULL REFERENCES closeouts(closeout_id),
  PRIMARY KEY (kind, ref_id)
) WITHOUT ROWID, STRICT;
CREATE INDEX closeout_items_of ON closeout_items(closeout_id);
CREATE TRIGGER closeout_items_no_update BEFORE UPDATE ON closeout_items
BEGIN SELECT RAISE(ABORT, 'closeout_items: a close-out never changes'); END;
CREATE TRIGGER closeout_items_no_delete BEFORE DELETE ON closeout_items
BEGIN SELECT RAISE(ABORT, 'closeout_items: a close-out never changes'); END;

-- Corrections (更正) with two-person review: recorded by one person with a
-- reason, approved (or refused) by another; only an approved one changes
-- anything: `amounts` records an adjustment with the figures to count for a
-- settlement, `undo` moves a rejected offline settlement to undone, `resolve`
-- closes a parked outbox or stay item.
CREATE TABLE corrections (
  correction_id   INTEGER PRIMARY KEY AUTOINCREMENT,
  target          TEXT NOT NULL CHECK (target IN ('settlement', 'outbox', 'stay')),
  setl_id         INTEGER REFERENCES settlements(setl_id),
  item_id         INTEGER,
  action          TEXT NOT NULL CHECK (action IN ('amounts', 'undo', 'resolve')),
  fund_fen        INTEGER CHECK (fund_fen >= 0),
  account_fen     INTEGER CHECK (account_fen >= 0),
  cash_fen        INTEGER CHECK (cash_fen >= 0),
  reason          TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
  recorded_by     TEXT NOT NULL,
  recorded_at_ms  INTEGER NOT NULL,
  state           TEXT NOT NULL DEFAULT 'recorded' CHECK (state IN ('recorded', 'approved', 'refused')),
  decided_by      TEXT,
  decided_at_ms   INTEGER,
  decision_note   TEXT,
  adj_id          INTEGER REFERENCES adjustments(adj_id),
  CHECK ((target = 'settlement') = (setl_id IS NOT NULL)),
  CHECK ((target = 'settlement') = (item_id IS NULL)),
  CHECK ((action = 'amounts') = (fund_fen IS NOT NULL AND account_fen IS NOT NULL AND cash_fen IS NOT NULL)),
  CHECK ((action = 'resolve') = (target <> 'settlement')),
  CHECK ((state = 'recorded') = (decided_by IS NULL)),
  CHECK (decided_by IS NULL OR decided_by <> recorded_by)
) STRICT;
CREATE INDEX corrections_open ON corrections(state) WHERE state = 'recorded';
CREATE INDEX corrections_setl ON corrections(setl_id) WHERE setl_id IS NOT NULL;
CREATE TRIGGER corrections_decided_once BEFORE UPDATE ON corrections
WHEN OLD.state <> 'recorded' OR NEW.correction_id IS NOT OLD.correction_id OR NEW.target IS NOT OLD.target
  OR NEW.setl_id IS NOT OLD.setl_id OR NEW.item_id IS NOT OLD.item_id OR NEW.action IS NOT OLD.action
  OR NEW.fund_fen IS NOT OLD.fund_fen OR NEW.account_fen IS NOT OLD.account_fen OR NEW.cash_fen IS NOT OLD.cash_fen
  OR NEW.reason IS NOT OLD.reason OR NEW.recorded_by IS NOT OLD.recorded_by
  OR NEW.recorded_at_ms IS NOT OLD.recorded_at_ms
BEGIN SELECT RAISE(ABORT, 'corrections: a correction is decided once, and what was recorded never changes'); END;
CREATE TRIGGER corrections_no_delete BEFORE DELETE ON corrections
BEGIN SELECT RAISE(ABORT, 'corrections: corrections are never deleted'); END;
)SQL";
// clang-format on

// v8: outage records (offline/outage_ops.hpp). An outage's kind, cause and
// start never change; its end is recorded once. Notes are append-only.
constexpr std::string_view kV8 = R"SQL(
CREATE TABLE outages (
  outage_id      INTEGER PRIMARY KEY,
  kind           TEXT NOT NULL CHECK (kind IN ('line', 'crash', 'drill', 'storage', 'reader', 'network')),
  cause          TEXT NOT NULL,
  started_at_ms  INTEGER NOT NULL,
  ended_at_ms    INTEGER,
  end_note       TEXT NOT NULL DEFAULT '',
  CHECK (ended_at_ms IS NULL OR ended_at_ms >= started_at_ms)
) STRICT;
CREATE INDEX outages_open ON outages(kind) WHERE ended_at_ms IS NULL;
CREATE TRIGGER outages_fixed BEFORE UPDATE ON outages
WHEN OLD.ended_at_ms IS NOT NULL OR NEW.outage_id IS NOT OLD.outage_id OR NEW.kind IS NOT OLD.kind
  OR NEW.cause IS NOT OLD.cause OR NEW.started_at_ms IS NOT OLD.started_at_ms
BEGIN SELECT RAISE(ABORT, 'outages: only the end of an open outage may be recorded'); END;
CREATE TRIGGER outages_no_delete BEFORE DELETE ON outages
BEGIN SELECT RAISE(ABORT, 'outages: the record is kept'); END;

CREATE TABLE outage_notes (
  note_id    INTEGER PRIMARY KEY,
  outage_id  INTEGER NOT NULL REFERENCES outages(outage_id),
  at_ms      INTEGER NOT NULL,
  kind       TEXT NOT NULL CHECK (kind IN ('notified', 'notify_failed', 'told', 'note')),
  target     TEXT NOT NULL,
  detail     TEXT NOT NULL,
  by         TEXT NOT NULL
) STRICT;
CREATE INDEX outage_notes_outage ON outage_notes(outage_id, note_id);
CREATE TRIGGER outage_notes_no_update BEFORE UPDATE ON outage_notes
BEGIN SELECT RAISE(ABORT, 'outage_notes: append-only'); END;
CREATE TRIGGER outage_notes_no_delete BEFORE DELETE ON outage_notes
BEGIN SELECT RAISE(ABORT, 'outage_notes: append-only'); END;
)SQL";

// v8's SQL: its tables, then the triggers that chain them.
const std::string& v8_sql() {
  static const std::string sql = std::string(kV8) + chain::kinds_sql(8);
  return sql;
}

// v9: settlements re-entered from the paper emergency ledger (离线应急台账;
// offline/reentry_ops.hpp, docs/reentry.md). A batch is entered once, then
// decided once (approved or refused) by another person; its rows and lines
// never change; an approved row's settlement is linked in reentry_results.
constexpr std::string_view kV9 = R"SQL(
CREATE TABLE reentry_batches (
  batch_id        INTEGER PRIMARY KEY,
  batch_ref       TEXT NOT NULL UNIQUE CHECK (length(batch_ref) BETWEEN 1 AND 64),
  content_hash    TEXT NOT NULL,
  entered_by      TEXT NOT NULL,
  entered_at_ms   INTEGER NOT NULL,
  row_count       INTEGER NOT NULL CHECK (row_count BETWEEN 1 AND 500),
  total_fen       INTEGER NOT NULL CHECK (total_fen >= 0),
  cash_fen        INTEGER NOT NULL CHECK (cash_fen >= 0),
  state           TEXT NOT NULL CHECK (state IN ('entered', 'approved', 'refused')),
  decided_by      TEXT,
  decided_at_ms   INTEGER,
  decision_note   TEXT NOT NULL DEFAULT '',
  CHECK ((state = 'entered') = (decided_by IS NULL AND decided_at_ms IS NULL)),
  CHECK (decided_by IS NULL OR decided_by <> entered_by)
) STRICT;
CREATE INDEX reentry_batches_content ON reentry_batches(content_hash);
CREATE TRIGGER reentry_batches_decided_once BEFORE UPDATE ON reentry_batches
WHEN OLD.state <> 'entered' OR NEW.batch_id IS NOT OLD.batch_id OR NEW.batch_ref IS NOT OLD.batch_ref
  OR NEW.content_hash IS NOT OLD.content_hash OR NEW.entered_by IS NOT OLD.entered_by
  OR NEW.entered_at_ms IS NOT OLD.entered_at_ms OR NEW.row_count IS NOT OLD.row_count
  OR NEW.total_fen IS NOT OLD.total_fen OR NEW.cash_fen IS NOT OLD.cash_fen
BEGIN SELECT RAISE(ABORT, 'reentry_batches: a batch is decided once and otherwise never changes'); END;
CREATE TRIGGER reentry_batches_no_delete BEFORE DELETE ON reentry_batches
BEGIN SELECT RAISE(ABORT, 'reentry_batches: batches are never deleted'); END;

CREATE TABLE reentry_rows (
  batch_id     INTEGER NOT NULL REFERENCES reentry_batches(batch_id),
  row_no       INTEGER NOT NULL CHECK (row_no >= 1),
  at_ms        INTEGER NOT NULL,
  window_id    TEXT NOT NULL,
  operator_id  TEXT NOT NULL,
  card_no      TEXT NOT NULL,
  psn_name     TEXT NOT NULL DEFAULT '',
  total_fen    INTEGER NOT NULL CHECK (total_fen >= 0),
  cash_fen     INTEGER NOT NULL CHECK (cash_fen >= 0 AND cash_fen <= total_fen),
  PRIMARY KEY (batch_id, row_no)
) WITHOUT ROWID, STRICT;
CREATE TRIGGER reentry_rows_no_update BEFORE UPDATE ON reentry_rows
BEGIN SELECT RAISE(ABORT, 'reentry_rows: append-only'); END;
CREATE TRIGGER reentry_rows_no_delete BEFORE DELETE ON reentry_rows
BEGIN SELECT RAISE(ABORT, 'reentry_rows: append-only'); END;

CREATE TABLE reentry_lines (
  batch_id    INTEGER NOT NULL,
  row_no      INTEGER NOT NULL,
  line_no     INTEGER NOT NULL CHECK (line_no >= 1),
  code        TEXT NOT NULL,
  name        TEXT NOT NULL,
  class       TEXT NOT NULL CHECK (class IN ('A', 'B', 'C')),
  amount_fen  INTEGER NOT NULL CHECK (amount_fen >= 0),
  PRIMARY KEY (batch_id, row_no, line_no),
  FOREIGN KEY (batch_id, row_no) REFERENCES reentry_rows(batch_id, row_no)
) WITHOUT ROWID, STRICT;
CREATE TRIGGER reentry_lines_no_update BEFORE UPDATE ON reentry_lines
BEGIN SELECT RAISE(ABORT, 'reentry_lines: append-only'); END;
CREATE TRIGGER reentry_lines_no_delete BEFORE DELETE ON reentry_lines
BEGIN SELECT RAISE(ABORT, 'reentry_lines: append-only'); END;

CREATE TABLE reentry_results (
  batch_id           INTEGER NOT NULL,
  row_no             INTEGER NOT NULL,
  setl_id            INTEGER NOT NULL UNIQUE REFERENCES settlements(setl_id),
  estimate_fund_fen  INTEGER NOT NULL CHECK (estimate_fund_fen >= 0),
  PRIMARY KEY (batch_id, row_no),
  FOREIGN KEY (batch_id, row_no) REFERENCES reentry_rows(batch_id, row_no)
) WITHOUT ROWID, STRICT;
CREATE TRIGGER reentry_results_no_update BEFORE UPDATE ON reentry_results
BEGIN SELECT RAISE(ABORT, 'reentry_results: append-only'); END;
CREATE TRIGGER reentry_results_no_delete BEFORE DELETE ON reentry_results
BEGIN SELECT RAISE(ABORT, 'reentry_results: append-only'); END;
)SQL";

// v10: the office's lists read through indexes however many years the ledger
// holds: outages by their end (a day's outages, the open ones), close-outs by
// when they were recorded (a day's close-outs of every window).
constexpr std::string_view kV10 = R"SQL(
CREATE INDEX outages_ended ON outages(ended_at_ms) WHERE ended_at_ms IS NOT NULL;
CREATE INDEX closeouts_recorded ON closeouts(recorded_at_ms);
)SQL";

// v11: insurer profiles, credentials and cross-region. A settlement names
// the credential's type (mdtrt_cert_type 1 e-voucher, 2 ID number, 3 card;
// the e-voucher token and the ID number are never stored), the person's
// insured area (cross-region when it is not the hospital's; reconciliation
// groups by it) and the visit's facts (JSON: department, doctor, diagnoses).
// Rows written before are cards with no area and no facts. Fixed once
// written, and chained when they hold more than those defaults.
constexpr std::string_view kV11 = R"SQL(
ALTER TABLE settlements ADD COLUMN cert_type INTEGER NOT NULL DEFAULT 3 CHECK (cert_type IN (1, 2, 3));
ALTER TABLE settlements ADD COLUMN insuplc_admdvs TEXT NOT NULL DEFAULT '';
ALTER TABLE settlements ADD COLUMN facts TEXT;
CREATE TRIGGER settlements_credential_fixed BEFORE UPDATE OF cert_type, insuplc_admdvs, facts ON settlements
WHEN NEW.cert_type IS NOT OLD.cert_type OR NEW.insuplc_admdvs IS NOT OLD.insuplc_admdvs OR NEW.facts IS NOT OLD.facts
BEGIN SELECT RAISE(ABORT, 'settlements: the credential, insured area and facts of a recorded settlement never change'); END;
)SQL";

// v12: the person's insured area where a later call finds it. An insurer
// message names the area its envelope carried (written with the msgid, before
// the call): a reversal (2601) of it, queued then or at start-up, goes with
// that area. A stay names its person's area, known at admission or learnt
// from the insurer (1101) once; the forwarder sends its items with it. Rows
// written before hold '' (the hospital's area). Fixed once written (a stay's
// set once), and a stay's area is chained. A stay admitted by e-voucher or ID
// number has no card (''): one admitted stay per card among the stays with
// one, one per person among those without.
constexpr std::string_view kV12 = R"SQL(
ALTER TABLE insurer_messages ADD COLUMN insuplc_admdvs TEXT NOT NULL DEFAULT '';
CREATE TRIGGER insurer_messages_area_fixed BEFORE UPDATE OF insuplc_admdvs ON insurer_messages
WHEN NEW.insuplc_admdvs IS NOT OLD.insuplc_admdvs
BEGIN SELECT RAISE(ABORT, 'insurer_messages: the insured area of a message never changes'); END;
ALTER TABLE stays ADD COLUMN insuplc_admdvs TEXT NOT NULL DEFAULT '';
CREATE TRIGGER stays_area_once BEFORE UPDATE OF insuplc_admdvs ON stays
WHEN OLD.insuplc_admdvs <> '' AND NEW.insuplc_admdvs IS NOT OLD.insuplc_admdvs
BEGIN SELECT RAISE(ABORT, 'stays: a stay''s insured area is set once'); END;
DROP INDEX stays_open_card;
CREATE UNIQUE INDEX stays_open_card ON stays(card_no) WHERE state = 'admitted' AND card_no <> '';
CREATE UNIQUE INDEX stays_open_no_card ON stays(psn_no) WHERE state = 'admitted' AND card_no = '';
)SQL";

// v13: the nightly chain walk reads the day's rows, not the years'. Each
// checkpoint signs, per kind, the highest number of its rows then (tops), so
// the next walk from it counts only the rows above. The request log becomes a
// table in arrival order (seq) with its request id unique, so that a stored
// answer has such a number too, and a new request is written at the table's
// end instead of at a random place in it (the wide rows of five years).
// Rows already there are numbered in request-id order. Its triggers, and the
// chain's on it, are made again; the tables naming a request keep naming it
// by request_id (the migration runs with foreign keys off: dropping the old
// table would otherwise count every row naming it as a violation).
constexpr std::string_view kV13 = R"SQL(
ALTER TABLE chain_checkpoints ADD COLUMN tops TEXT NOT NULL DEFAULT '';
CREATE TABLE requests_v13 (
  seq             INTEGER PRIMARY KEY,
  request_id      TEXT NOT NULL UNIQUE CHECK (length(request_id) BETWEEN 1 AND 64),
  method          TEXT NOT NULL,
  payload_hash    TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('in_progress', 'answered')),
  answer          TEXT,
  operator_id     TEXT,
  window_id       TEXT,
  created_at_ms   INTEGER NOT NULL,
  answered_at_ms  INTEGER,
  CHECK ((state = 'answered') = (answer IS NOT NULL AND answered_at_ms IS NOT NULL))
) STRICT;
INSERT INTO requests_v13(request_id, method, payload_hash, state, answer, operator_id, window_id, created_at_ms,
                         answered_at_ms)
  SELECT request_id, method, payload_hash, state, answer, operator_id, window_id, created_at_ms, answered_at_ms
  FROM requests;
DROP TABLE requests;
ALTER TABLE requests_v13 RENAME TO requests;
CREATE TRIGGER requests_fixed BEFORE UPDATE ON requests
WHEN NEW.seq IS NOT OLD.seq OR NEW.request_id IS NOT OLD.request_id OR NEW.method IS NOT OLD.method
  OR NEW.payload_hash IS NOT OLD.payload_hash OR NEW.created_at_ms IS NOT OLD.created_at_ms
  OR (OLD.state = 'answered' AND (NEW.state IS NOT OLD.state OR NEW.answer IS NOT OLD.answer
                                  OR NEW.answered_at_ms IS NOT OLD.answered_at_ms))
BEGIN SELECT RAISE(ABORT, 'requests: a request''s identity and its first answer never change'); END;
CREATE TRIGGER requests_no_delete BEFORE DELETE ON requests
BEGIN SELECT RAISE(ABORT, 'requests: the request log is append-only'); END;
)SQL";

const std::string& v13_sql() {
  static const std::string sql = std::string(kV13) + chain::table_triggers_sql("requests");
  return sql;
}

const std::string& v12_sql() {
  static const std::string sql = std::string(kV12) + chain::kinds_sql(12);
  return sql;
}

const std::string& v11_sql() {
  static const std::string sql = std::string(kV11) + chain::kinds_sql(11);
  return sql;
}

// v9's SQL: its tables, then the triggers that chain them.
const std::string& v9_sql() {
  static const std::string sql = std::string(kV9) + chain::kinds_sql(9);
  return sql;
}

// v3's SQL: the fixed part above and the settlements' transition trigger
// generated from the engine's table.
const std::string& v3_sql() {
  static const std::string sql = std::string(kV3) + settlement_transition_trigger_sql() + "\n";
  return sql;
}

// v15: refunds by when they were recorded. A cashier's close-out of a day
// (closeout.preview with a date) reads the window's refunds of that day; it
// read the whole refunds table, which grows with the years.
constexpr std::string_view kV15 = R"SQL(
CREATE INDEX refunds_created ON refunds(created_at_ms);
)SQL";

std::span<const Migration> all_migrations() {
  static const std::array<Migration, 15> list{{
      {1, "initial schema: requests, insurer messages, settlements, refunds, adjustments, outbox, events", kV1},
      {2, "fewer pages per commit (no requests_in_progress index, events without AUTOINCREMENT); open reversals indexed",
       kV2},
      {3, "outbox items can be parked (state parked, refusals counted); insurer messages name the person; "
          "settlement moves from the engine's table",
       v3_sql()},
      {4, "inpatient stays: stays, their lines and the items that forward them in order; settlements name their stay; "
          "events may name a stay",
       kV4},
      {5, "a discharge settlement names its stay's lines by reference (cancelled lines numbered in order; the class B "
          "ratios applied kept by item code) instead of copying them",
       kV5},
      {6, "operators: the admin role, disabled operators, initial passwords changed at first login; failed logins and "
          "locks per operator and source; audit entries name object, outcome and source; shift close-outs; "
          "corrections with two-person review",
       kV6},
      {7, "the hash chain over the money history (settlements, lines, refunds, adjustments, corrections, stored "
          "answers, audit, events, stays, close-outs) and its signed checkpoints; rows written before are chained "
          "in table order",
       chain::schema_sql(), chain::backfill},
      {8, "outage records: each outage's kind, cause, start and end, and what was done about it (notifications, "
          "people told, notes), chained",
       v8_sql()},
      {9, "settlements re-entered from the paper emergency ledger: batches entered by one person and approved or "
          "refused by another, their rows and lines, each approved row's settlement; chained",
       v9_sql()},
      {10, "indexes for the office's lists: outages by their end, close-outs by when they were recorded", kV10},
      {11, "settlements name the credential's type (card, e-voucher, ID number), the person's insured area "
           "(cross-region) and the visit's facts (department, doctor, diagnoses); fixed and chained",
       v11_sql()},
      {12, "insurer messages name the insured area their envelope carried (a reversal goes with it); stays name "
           "their person's insured area (set once, chained); one admitted stay per person among the stays without a card",
       v12_sql()},
      {13, "checkpoints sign each kind's top, so the nightly chain walk reads only the rows written since the last "
           "one; the request log in arrival order (request ids unique)",
       v13_sql(), nullptr, true},
      {14, "the chain's head kept in a one-row table (chain_head) that the chain triggers read and move forward, "
           "instead of reading the chain's end (three temporary tables fewer at every chained row); the entries "
           "are the same",
       chain::head_sql()},
      {15, "refunds indexed by when they were recorded: a cashier's close-out of a day reads that day's refunds",
       kV15},
  }};
  return list;
}

}  // namespace

std::string settlement_transition_trigger_sql() {
  std::string pairs;
  for (const SettlementMove& m : settlement_moves) {
    if (!pairs.empty()) pairs += ", ";
    pairs += fmt::format("('{}', '{}')", settlement_state_name(m.from), settlement_state_name(m.to));
  }
  return fmt::format(
      "CREATE TRIGGER settlements_transition BEFORE UPDATE OF state ON settlements\n"
      "WHEN NEW.state IS NOT OLD.state AND (OLD.state, NEW.state) NOT IN (VALUES {})\n"
      "BEGIN SELECT RAISE(ABORT, 'settlements: state transition not allowed'); END;",
      pairs);
}

std::span<const Migration> migrations() noexcept { return all_migrations(); }
int current_schema_version() noexcept { return migrations().back().to_version; }

sql::Status migrate(sql::Db& db, int from_version, std::span<const Migration> list) {
  for (const Migration& m : list) {
    if (m.to_version <= from_version) continue;
    // Foreign keys are switched outside a transaction only, and back after it.
    struct ForeignKeys {
      sql::Db& db;
      bool off = false;
      ~ForeignKeys() {
        if (off) (void)db.exec("PRAGMA foreign_keys = ON");
      }
    } fk{db};
    if (m.foreign_keys_off) {
      auto on = db.query_int64("PRAGMA foreign_keys");
      if (!on) return on.error();
      if (on->value_or(0) != 0) {
        SETTLE_SQL_TRY(db.exec("PRAGMA foreign_keys = OFF"));
        fk.off = true;
      }
    }
    auto tx = sql::Transaction::begin(db, sql::TxKind::immediate);
    if (!tx) return tx.error();
    // Re-read inside the write lock: another process may have migrated first.
    auto now = db.query_int64("PRAGMA user_version");
    if (!now) return now.error();
    if (now->value_or(0) >= m.to_version) continue;  // tx rolls back (nothing done)
    if (now->value_or(0) != m.to_version - 1)
      return sql::DbError{sql::Errc::schema, 0,
                          fmt::format("migration to v{} expects v{}, found v{}", m.to_version,
                                      m.to_version - 1, now->value_or(0))};
    auto s = db.exec(m.sql);
    if (s && m.then != nullptr) s = m.then(db);
    if (!s)
      return sql::DbError{s.error().code, s.error().sqlite_code,
                          fmt::format("migration to v{} ({}): {}", m.to_version, m.summary, s.error().message)};
    if (m.to_version == 1) SETTLE_SQL_TRY(db.exec(fmt::format("PRAGMA application_id = {}", kApplicationId)));
    SETTLE_SQL_TRY(db.exec(fmt::format("PRAGMA user_version = {}", m.to_version)));
    SETTLE_SQL_TRY(tx->commit());
  }
  return settle::Ok{};
}

}  // namespace settle::ledger
