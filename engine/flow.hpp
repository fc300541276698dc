// The settlement flows' vocabulary, sans I/O: what a flow asks of the outside
// world (an Action: call the insurer, commit a named ledger change, check the
// card, ...), what comes back (an Event), and Flow, the coroutine that holds
// one flow's decisions. A driver (the daemon's, or the simulation's) performs
// each action through its seams and resumes the flow with the outcome; the
// flow itself never reads a clock, a socket or a disk.
#pragma once

#include "engine/money.hpp"
#include "engine/profile.hpp"
#include "engine/refund.hpp"
#include "engine/result.hpp"
#include "engine/settlement_state.hpp"
#include "engine/split.hpp"

#include <coroutine>
#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace settle::flow {

using Ms = std::int64_t;

// ---- the insurer -----------------------------------------------------------------

enum class Txn : std::uint8_t {
  person,          // 1101 the person's information
  register_visit,  // 2201 outpatient registration
  upload_lines,    // 2204 charge lines
  settle,          // 2207 settlement                       (moves money)
  undo,            // 2208 undo of a settlement             (moves money)
  refund,          // 9301 refund of lines                  (moves money)
  reversal,        // 2601 reversal of a call left in doubt
  admit,           // 2401 admission                        (opens a visit)
  stay_lines,      // 2301 a stay's charge lines
  cancel_lines,    // 2302 a stay's lines cancelled
  discharge,       // 2402 discharge, before its settlement
  stay_settle,     // 2304 discharge settlement             (moves money)
  stay_undo,       // 2305 undo of a discharge settlement   (moves money)
  undo_admit,      // 2404 undo of an admission
  upload_offline,  // 9302 one stored offline settlement (a stay's discharge)
  preview,         // 2206 outpatient pre-settlement (the insurer's split, nothing moves)
  stay_preview,    // 2303 inpatient pre-settlement (the same for a discharge)
};
std::string_view txn_code(Txn t) noexcept;  // "1101", "2201", ...
constexpr bool moves_money(Txn t) noexcept {
  return t == Txn::settle || t == Txn::undo || t == Txn::refund || t == Txn::stay_settle || t == Txn::stay_undo;
}
// The same by transaction number (outpatient and inpatient settle and undo, refund).
constexpr bool moves_money(std::string_view infno) noexcept {
  return infno == "2207" || infno == "2208" || infno == "2304" || infno == "2305" || infno == "9301";
}
// Calls whose effect must be undone when their reply is lost: the money
// calls, and the admission (it opens a visit the person can have only one of).
constexpr bool reversed_when_lost(std::string_view infno) noexcept { return moves_money(infno) || infno == "2401"; }
constexpr bool reversed_when_lost(Txn t) noexcept { return moves_money(t) || t == Txn::admit; }

// ---- credentials and the visit's facts -------------------------------------------

// How the patient was identified (mdtrt_cert_type 01 / 02 / 03).
enum class CertType : std::uint8_t { ec_voucher = 1, id_no = 2, card = 3 };
std::string_view cert_type_code(CertType) noexcept;  // "01", "02", "03"
std::string_view cert_type_name(CertType) noexcept;  // "e-voucher", "id", "card"
std::optional<CertType> cert_type_from_name(std::string_view) noexcept;
std::optional<CertType> cert_type_from_code(std::string_view) noexcept;  // "01", "02", "03"

struct Diagnosis {
  std::string code = {};  // ICD-10 code as text
  std::string name = {};
  friend bool operator==(const Diagnosis&, const Diagnosis&) = default;
};
// The visit's facts the national calls carry (2201 / 2401 / 2207 / 2304).
struct VisitFacts {
  std::string dept_code = {}, dept_name = {}, doctor_code = {}, doctor_name = {};
  std::vector<Diagnosis> diagnoses = {};  // the first is the main diagnosis
  bool empty() const {
    return dept_code.empty() && dept_name.empty() && doctor_code.empty() && doctor_name.empty() && diagnoses.empty();
  }
  friend bool operator==(const VisitFacts&, const VisitFacts&) = default;
};

// One charge line of a stay, with the hospital's line number (feedetl_sn).
struct StayLine {
  std::string feedetl_sn;
  ChargeLine line;
  friend bool operator==(const StayLine&, const StayLine&) = default;
};

struct InsurerCall {
  Txn txn = Txn::person;
  std::string msgid;       // money calls: issued by the flow and durable (WriteMsgid) before the call
  Ms deadline_at = 0;      // the answer must be in by then; past it the call is unanswered
  std::string request_id;  // the cashier request it serves (medins_setl_id / medins_refd_id)
  std::string psn_no;
  std::string card_no;
  std::string insutype;
  std::string med_type;         // 2201, 2207: the visit's medical type ("11" outpatient)
  std::string mdtrt_id;         // 2204, 2207, 2208
  // 2201, 2204, 2207: the hospital's reference of the visit and its charge
  // batch, the same in the three calls (the 2207's msgid, issued first).
  std::string visit_ref;
  std::string insurer_setl_id;  // 2208, 9301
  std::vector<ChargeLine> lines;          // 2204
  std::vector<LineRefund> refund_lines;   // 9301; empty: everything left
  Amount total;                           // 2207
  bool use_account = false;               // 2207
  std::string reverses_msgid;             // 2601
  Txn reverses_txn = Txn::settle;         // 2601
  // Inpatient: the stay (adm_id as the hospital's visit number), its
  // admission's facts (2401), its lines (2301), the lines cancelled (2302),
  // the admission or discharge time (2401, 2402).
  std::int64_t adm_id = 0;
  std::string dept, dept_name, diagnosis, diagnosis_name;
  Ms at = 0;
  std::vector<StayLine> stay_lines;        // 2301
  std::vector<std::string> feedetl_sns;    // 2302
  // 9302: the stored offline settlement (`total`, `at` its time, the local
  // estimate and what the patient paid, the reason code).
  Parts estimate;
  std::string reason_code;
  // The credential the patient was identified by (1101, 2201, 2207, 2401,
  // 2304), the person's insured area (the envelope's insuplc_admdvs), the
  // visit's facts (2201 / 2207), and the account cap of a settle call
  // (exp_content.acct_pay_max; set only when the profile has account_cap).
  CertType cert_type = CertType::card;
  std::string cert_no = {};
  std::string insuplc_admdvs = {};
  VisitFacts facts = {};
  std::optional<Amount> acct_cap = std::nullopt;
};

// What one call came to. Only a readable refusal proves nothing happened; a
// reply that cannot be read, or none, after the request left is in doubt.
enum class CallOutcome : std::uint8_t { ok, refused, unreachable, in_doubt };
std::string_view call_outcome_name(CallOutcome o) noexcept;

struct InsurerReply {
  CallOutcome outcome = CallOutcome::unreachable;
  // The msgid that carried a money call, when not the one the flow gave: the
  // insurer asked for a new sign-in first, the given one was refused (and
  // recorded so), and the call went again under a new one made durable first.
  std::string carried_by;
  std::int64_t infcode = -1; // the envelope's infcode when answered (0: success)
  std::string detail;        // the refusal's message, or why nothing came back
  std::string mdtrt_id;      // 2201
  std::string insurer_id;    // 2207 setl_id, 9301 refd_id, 2208 undo id
  Parts parts;               // 2207 the split; 9301 / 2208 what went back
  Amount balance_after;      // 2207 the account's balance after it
  Amount fulamt_ownpay, preselfpay, inscp, deductible_part;  // 2207 the split's detail
  std::string rejected;      // 9302: the record was rejected on its merits (the reason)
  // Refused by an error page instead of the insurer's answer (a gateway's
  // 5xx, the insurer's system failing): nothing was done, and the insurer
  // cannot take the call now. Only for calls that move no money (a money
  // call's error page is in doubt).
  bool system_error = false;
  // Refused by the insurer for the request's timestamp (this host's clock is
  // off by more than the insurer's window): nothing was done, and no request
  // from this host will be taken until its clock is right. Reported as
  // `unreachable` (nothing done, the line not usable from here).
  bool clock_refused = false;
};

// ---- the ledger's records, as the flows see them --------------------------------

// The lines of a stay a discharge settlement took, by reference instead of a
// copy: the stay's lines numbered up to `lines_upto`, less its first
// `cancels_upto` cancelled ones (a stay's lines are never deleted and each is
// cancelled once, numbered in order). The ledger records it only if that is
// the stay's live lines at that moment, their total the settlement's.
struct StayLinesRef {
  std::int64_t lines_upto = 0;
  std::int64_t cancels_upto = 0;
  // The self-pay ratio the policy applied, by item code, to the class B lines
  // that did not carry their own (filled when the settlement is made).
  std::map<std::string, Ratio, std::less<>> classb_ratios;
  friend bool operator==(const StayLinesRef&, const StayLinesRef&) = default;
};

struct SettlementRecord {
  std::int64_t setl_id = 0;  // 0 until recorded
  std::string request_id;
  std::string window;
  std::string operator_id;
  std::string card_no;
  std::string card_sn;
  std::string psn_no;
  std::string insutype;
  std::string med_type = "11";
  VisitType visit = VisitType::outpatient;
  std::int64_t adm_id = 0;            // inpatient: the stay it settles
  Mode mode = Mode::online;
  SettlementState state = SettlementState::settled;
  Parts parts;                        // what the patient was charged, by payer
  Amount fulamt_ownpay, preselfpay, inscp, deductible_part;
  std::vector<ChargeLine> lines;      // class B lines carry the self-pay ratio applied
  std::optional<StayLinesRef> stay_lines;  // a discharge: its lines by reference (`lines` is empty)
  std::vector<SplitReason> reasons;
  std::string msgid;                  // the 2207's (online)
  std::string insurer_setl_id;
  std::string mdtrt_id;
  std::optional<OfflineCause> offline_cause;
  std::optional<std::int64_t> resettles_setl_id;
  Ms created_at = 0;
  std::string receipt_no;             // given by the ledger when recorded
  // The credential (card_no is empty when no card was used; the ledger keeps
  // the type only, never an e-voucher token or an ID number), the person's
  // insured area (cross-region when not the hospital's), the visit's facts.
  CertType cert_type = CertType::card;
  std::string cert_no = {};
  std::string insuplc_admdvs = {};
  VisitFacts facts = {};
};

struct RefundRecord {
  std::int64_t refund_id = 0;
  std::string request_id;
  std::int64_t setl_id = 0;
  std::string window;
  std::string operator_id;
  Parts parts;
  std::vector<LineRefund> lines;
  std::string msgid;
  std::string insurer_id;
  Ms created_at = 0;
};

// An original settlement with what happened to it since (refund / re-settle input).
struct OriginalView {
  SettlementRecord settlement;
  std::vector<RefundRecord> refunds;
  // An accepted offline settlement stands at the insurer's figures.
  std::optional<Parts> insurer_parts;
};

// ---- stays (inpatient) ------------------------------------------------------------

enum class StayState : std::uint8_t {
  admitted,    // open: lines may be added and cancelled
  discharged,  // a discharge settlement stands
  undone,      // the admission was undone
};
std::string_view stay_state_name(StayState s) noexcept;
std::optional<StayState> stay_state_from_name(std::string_view s) noexcept;

struct StayRecord {
  std::int64_t adm_id = 0;  // 0 until recorded
  std::string request_id;   // the admission's; also its visit number at the insurer
  std::string window;
  std::string operator_id;
  std::string card_no;
  std::string card_sn;
  std::string psn_no;       // may be empty: admitted offline, not on the red list
  std::string insutype;
  std::string dept, dept_name, diagnosis, diagnosis_name;
  Ms admit_at = 0;
  Ms discharge_at = 0;      // the last discharge's
  Mode mode = Mode::online; // how it was admitted
  StayState state = StayState::admitted;
  std::string mdtrt_id;     // the insurer's visit id, once it has the admission
  std::string msgid;        // the online 2401's
  std::string flag;         // set when the insurer refused the admission stored offline
  std::string insuplc_admdvs = {};  // the person's insured area ("" not known: the hospital's); its items carry it
};

// A stay as a flow sees it before changing it (read under the stay's lock).
struct StayView {
  StayRecord stay;
  std::int64_t live_count = 0;      // lines not cancelled
  Amount live_total;
  std::int64_t cancelled_count = 0;
  // The stay's items not yet taken by the insurer (its admission, batches,
  // cancellations, offline discharge), parked ones included.
  std::int64_t open_items = 0;
  std::optional<OriginalView> settlement;  // the standing discharge settlement
  // Filled for a discharge and a preview only: the live lines as the split
  // needs them (code, class, amount, own ratio; no names), in no set order.
  std::vector<ChargeLine> live_lines;
};

// What a stay request answers (with the stay as recorded).
struct StayAnswer {
  enum class Kind : std::uint8_t { admitted, lines_added, lines_cancelled, reopened, undone };
  Kind kind = Kind::admitted;
  StayRecord stay;
  std::int64_t lines_count = 0;   // live lines after the request
  Amount total_so_far;            // their total
  std::int64_t changed = 0;       // lines added / cancelled by the request
  bool sent = false;              // the insurer has the request's lines (or admission)
};

// ---- the cashier's answer ---------------------------------------------------------

// The insurer's own words when it refused: the cashier sees them as they came.
struct InsurerRefusal {
  std::int64_t infcode = -1;
  std::string err_msg;
};

struct Answer {
  std::optional<Error> error;  // set: a refusal or failure
  std::optional<InsurerRefusal> refusal;  // the error is the insurer's refusal
  bool final = true;           // stored as the request's answer (replayed for a retry)
  std::optional<SettlementRecord> settlement;
  // A refund; with a settlement, the undo of a re-settlement (also when the
  // new settlement failed: the original was undone and its money given back).
  std::optional<RefundRecord> refund;
  std::optional<StayAnswer> stay;  // an inpatient request's stay
  Amount balance_after;
  // The insurer's preview (2206 / 2303) when its split differs from the
  // local one, with one sentence per differing part ("fund 58.00 locally,
  // 60.00 by the insurer"); unset / empty when they agree.
  std::optional<Parts> insurer_preview = std::nullopt;
  std::vector<std::string> preview_differs = {};
  // The profile asks for a preview and the insurer did not answer it (or its
  // system failed on it): the settlement went on without it.
  bool preview_unanswered = false;
  static Answer fail(Error e, bool final_answer = true) {
    Answer a;
    a.error = std::move(e);
    a.final = final_answer;
    return a;
  }
  bool ok() const { return !error.has_value(); }
};

// ---- named ledger changes: each is one atomic transaction -------------------------

// A money call's msgid, before it is sent (with the person, for its reversal).
struct WriteMsgid {
  std::string msgid;
  Txn txn = Txn::settle;
  std::string request_id;
  std::string psn_no;
  std::string insuplc_admdvs = {};  // the area the call's envelope carries ("" the hospital's): its reversal's
};
// A final answer decided before any money moved (refusal, not found, ...).
struct StoreAnswer {
  std::string request_id;
  Answer answer;
};
// A money call that did not succeed: refused (answered), unsent, or in doubt
// (marked, its reversal queued for psn_no); with the request's final answer
// unless the request may run again (nothing was sent).
struct RecordCallFailed {
  std::string msgid;
  Txn txn = Txn::settle;
  CallOutcome outcome = CallOutcome::unreachable;
  std::string psn_no;
  std::string request_id;
  std::optional<Answer> answer;
  std::int64_t infcode = -1;  // refused: the insurer's infcode and message
  std::string detail;
};
// An online settlement: the 2207 answered, the settlement, the answer.
struct RecordSettlement {
  SettlementRecord settlement;
  Answer answer;  // its settlement's setl_id is filled in by the ledger
};
// What an offline settlement's estimate is made from, but the outstanding
// offline figures the limits are measured against (estimate_offline below).
struct OfflineEstimate {
  const Policy* policy = nullptr;
  VisitType visit = VisitType::outpatient;  // an inpatient discharge: the inpatient policy, limits and figures
  Person who;
  std::vector<ChargeLine> lines;
  OfflineCause cause = OfflineCause::network_down;
  bool on_redlist = false;
  OfflineLimits limits;
};

// An offline settlement with its queued upload (and, when it replaces a 2207
// left in doubt, that call marked in doubt with its reversal queued first).
struct RecordOffline {
  SettlementRecord settlement;
  std::optional<std::string> in_doubt_msgid;
  std::optional<std::string> unsent_msgid;  // a 2207 msgid made durable and never sent: closed
  Answer answer;
  // The outstanding offline figures the estimate was limited against. If
  // they moved meanwhile (another window stored one), the ledger makes the
  // estimate again against the figures of the moment it writes: it stands if
  // it comes out the same, else the change is refused (Committed::stale) and
  // the flow estimates again.
  std::int64_t assumed_count = 0;
  Amount assumed_fund;
  std::optional<OfflineEstimate> estimate;
};
// A refund (9301 answered) and the original's new state, with the answer.
struct RecordRefund {
  RefundRecord refund;
  SettlementState new_state = SettlementState::partly_refunded;
  Answer answer;
};
// An undo (2208 answered) for a re-settlement: everything left of the
// original back (a refund row of it) and the original undone. The request
// goes on (its answer comes with the new settlement).
// An undo of a discharge settlement also opens its stay again, with the answer.
struct RecordUndo {
  RefundRecord undo;
  std::int64_t reopens_adm_id = 0;
  std::optional<Answer> answer;
};
// A stay admitted: online (the 2401 answered, its msgid closed) or stored
// offline with its admission queued (and, when it replaces a 2401 left in
// doubt, that call marked in doubt with its reversal queued first).
struct RecordAdmission {
  StayRecord stay;
  std::optional<std::string> in_doubt_msgid;
  std::optional<std::string> unsent_msgid;
  Answer answer;  // its stay's adm_id is filled in by the ledger
};
// A batch of lines added to a stay (add), or lines of it cancelled (cancel),
// with the item that forwards it to the insurer. `sending`: the flow sends it
// now itself (StayItemSent says whether the insurer took it; until then the
// item is queued for the forwarder as any other).
struct RecordStayLines {
  std::int64_t adm_id = 0;
  std::string request_id;
  std::vector<StayLine> added;
  std::vector<std::string> cancelled;
  bool sending = false;
  Ms sending_until = 0;  // sending: the forwarder leaves the item to the flow until then
  Answer answer;
};
// What the flow's own sending of a stay item came to: taken by the insurer
// (done), or left in the queue for the forwarder.
struct StayItemSent {
  std::int64_t item_id = 0;
  bool taken = false;
  std::string detail;
};
// A stay's admission undone (2404 answered, or never forwarded: its queued
// admission closed).
struct RecordUndoAdmission {
  std::int64_t adm_id = 0;
  std::string request_id;
  Answer answer;
};
using LedgerChange = std::variant<WriteMsgid, StoreAnswer, RecordCallFailed, RecordSettlement, RecordOffline, RecordRefund,
                                  RecordUndo, RecordAdmission, RecordStayLines, StayItemSent, RecordUndoAdmission>;
std::string_view change_name(const LedgerChange& c) noexcept;

// ---- actions and events --------------------------------------------------------------

// Check that the card at the window is still the one read.
struct CheckCard {};
// The person: from the insurer (1101) when online, else from the red list.
struct FindPerson {
  bool online = true;
  Ms deadline_at = 0;
  bool fresh = false;  // online: asked of the insurer now, not from the window's last answer
};
// Open reversals of this person (they go first at the insurer).
struct ReversalsOpen {
  std::string psn_no;
};
// Figures the offline limits are measured against (of the visit type's settlements).
struct OfflineOutstanding {
  VisitType visit = VisitType::outpatient;
};
// The person's open stay (admitted) at this hospital, if any: by person
// number, or by card when the person is not known.
struct OpenStay {
  std::string psn_no;
  std::string card_no;
};
// Which of these line numbers a stay holds already.
struct LinesHeld {
  std::int64_t adm_id = 0;
  std::vector<std::string> feedetl_sns;
};
struct Commit {
  LedgerChange change;
};
// A commit started now and awaited later (AwaitCommit), while the flow goes
// on with calls that do not depend on it. One at a time.
struct StartCommit {
  LedgerChange change;
};
struct AwaitCommit {};
struct Call {
  InsurerCall call;
};
// A fresh msgid (not yet durable).
struct NewMsgid {};

using Action = std::variant<CheckCard, FindPerson, ReversalsOpen, OfflineOutstanding, NewMsgid, Commit, StartCommit,
                            AwaitCommit, Call, OpenStay, LinesHeld>;

struct CardChecked {
  Status status;
};
struct PersonFound {
  std::optional<Person> person;  // the split's view
  std::string psn_no;
  bool from_redlist = false;
  bool unanswered = false;  // the insurer did not answer (online)
  bool clock_refused = false;  // unanswered because the insurer refuses this host's timestamps
  std::optional<Error> refusal;
  std::optional<InsurerRefusal> insurer_refusal;  // the refusal is the insurer's (1101 refused)
  std::string insuplc_admdvs = {};  // the person's insured area (1101's insuinfo, or the e-voucher decode)
};
struct ReversalsCount {
  std::int64_t open = 0;
};
struct OutstandingFigures {
  Amount fund;
  std::int64_t count = 0;
  std::int64_t oldest_age_s = 0;
};
// The offline split (the red list's estimate within the limits, or self-pay)
// against the outstanding figures `f`.
Result<Split> estimate_offline(const OfflineEstimate& e, const OutstandingFigures& f);
struct MsgidIssued {
  std::string msgid;
};
struct OpenStayFound {
  std::optional<std::int64_t> adm_id;  // negative: the ledger could not be read
};
// The held ones, with whether each is cancelled and its amount.
struct HeldLine {
  std::string feedetl_sn;
  bool cancelled = false;
  Amount amount;
};
struct LinesFound {
  std::vector<HeldLine> held;
};
struct Committed {
  Status status = Ok{};
  std::int64_t id = 0;     // setl_id / refund_id / adm_id / outbox item id when one was made
  bool stale = false;      // RecordOffline: the outstanding figures moved; nothing was written
  std::string receipt_no;  // a settlement recorded: its receipt number
};
struct CommitStarted {};
struct Replied {
  InsurerReply reply;
};

using Event = std::variant<CardChecked, PersonFound, ReversalsCount, OutstandingFigures, MsgidIssued, Committed,
                           CommitStarted, Replied, OpenStayFound, LinesFound>;

// ---- Flow: a coroutine that yields actions and ends with the answer -------------------

// How a flow ends: the cashier's answer, and, when a money call's outcome could
// not be made durable, the record the driver must keep retrying while it holds
// the request in memory (never run again, answered IN_DOUBT to a retry), or
// stop the daemon so that start-up recovery reverses the call.
struct Outcome {
  Answer answer;
  std::optional<RecordCallFailed> hold;
};

// What every flow's promise holds: its pending action and event, the time,
// and its place in a chain of flows awaiting one another.
struct PromiseBase {
  std::optional<Action> action;
  std::optional<Event> event;
  Ms now = 0;
  std::coroutine_handle<> self;
  PromiseBase* parent = nullptr;  // a sub-flow's: the flow awaiting it
  std::coroutine_handle<> parent_handle;
  PromiseBase* child = nullptr;   // the sub-flow this one awaits
};

// A coroutine that yields actions and ends with an R. A flow is a
// BasicFlow<Outcome>; a part shared by flows (the online settlement of lines)
// is a BasicFlow of its own result that a flow awaits (`auto r = sub.run();
// co_await r`): the driver then sees the sub-flow's actions as the flow's,
// and the flow goes on with the sub-flow's result.
template <class R>
class BasicFlow {
 public:
  struct promise_type : PromiseBase {
    std::optional<R> outcome;
    BasicFlow get_return_object() {
      auto h = std::coroutine_handle<promise_type>::from_promise(*this);
      self = h;
      return BasicFlow(h);
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    // At its end a sub-flow hands control back to the flow awaiting it.
    struct Final {
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        PromiseBase& p = h.promise();
        if (p.parent == nullptr) return std::noop_coroutine();
        p.parent->child = nullptr;
        p.parent->now = p.now;
        return p.parent_handle;
      }
      void await_resume() const noexcept {}
    };
    Final final_suspend() noexcept { return {}; }
    void return_value(R o) { outcome = std::move(o); }
    void unhandled_exception() { std::terminate(); }
  };

  BasicFlow(BasicFlow&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  BasicFlow& operator=(BasicFlow&&) = delete;
  BasicFlow(const BasicFlow&) = delete;
  ~BasicFlow() {
    if (h_) h_.destroy();
  }

  // Runs to the first action (or the end).
  void start(Ms now) {
    h_.promise().now = now;
    h_.resume();
  }
  bool done() const { return h_.done(); }
  // The action to perform now (not done()): the innermost sub-flow's.
  const Action& action() const { return *leaf().action; }
  // The outcome of the action; runs to the next action (or the end).
  void feed(Event e, Ms now) {
    PromiseBase* p = &h_.promise();
    for (;;) {
      p->now = now;
      if (p->child == nullptr) break;
      p = p->child;
    }
    p->event = std::move(e);
    p->action.reset();
    p->self.resume();
  }
  // How it ended (done()).
  const R& outcome() const { return *h_.promise().outcome; }
  // The same, moved out (once, by whoever drove it).
  R take_outcome() { return std::move(*h_.promise().outcome); }

  // Inside another flow: `auto r = sub.run(); R result = co_await r;`.
  struct Run {
    BasicFlow* sub;
    bool await_ready() const noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> parent) noexcept {
      PromiseBase& c = sub->h_.promise();
      PromiseBase& pp = parent.promise();
      c.parent = &pp;
      c.parent_handle = parent;
      c.now = pp.now;
      pp.child = &c;
      return sub->h_;
    }
    R await_resume() { return std::move(*sub->h_.promise().outcome); }
  };
  Run run() { return Run{this}; }

 private:
  explicit BasicFlow(std::coroutine_handle<promise_type> h) : h_(h) {}
  const PromiseBase& leaf() const {
    const PromiseBase* p = &h_.promise();
    while (p->child != nullptr) p = p->child;
    return *p;
  }
  std::coroutine_handle<promise_type> h_;
};

using Flow = BasicFlow<Outcome>;

// co_await ask(action) inside a flow: yields it, resumes with its event.
struct Ask {
  Action action;
  std::optional<Event>* slot = nullptr;
  bool await_ready() const noexcept { return false; }
  template <class P>
  void await_suspend(std::coroutine_handle<P> h) {
    slot = &h.promise().event;
    h.promise().action = std::move(action);
  }
  Event await_resume() {
    Event e = std::move(**slot);
    slot->reset();
    return e;
  }
};

// co_await current_time() inside a flow: the time the driver gave with the
// last event (the flow reads no clock).
struct Now {
  Ms value = 0;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    value = h.promise().now;
    return false;  // not suspended
  }
  Ms await_resume() const noexcept { return value; }
};

inline Ask ask(Action a) { return Ask{std::move(a)}; }
inline Now current_time() { return Now{}; }

// Takes the expected event out of `e` (a driver that feeds another is a bug).
template <class T>
T take(Event&& e) {
  SETTLE_ASSERT(std::holds_alternative<T>(e));
  return std::get<T>(std::move(e));
}

}  // namespace settle::flow

namespace settle::flow {

// What an HTTP reply from the insurer proves, for every caller (the daemon's
// gateway and the simulation): only a readable envelope refusal proves that
// nothing happened. A 200 whose body cannot be read may hide an effect: in
// doubt. Any other status that is not the insurer's refusal (a proxy's
// 502/504 page): a money call is in doubt and reversed; any other call is a
// failed call with nothing to undo (refused).
CallOutcome classify_reply(int http_status, bool envelope_readable, bool envelope_ok, bool money) noexcept;

}  // namespace settle::flow
