// Typed params of every cashier API method, their parsers (every missing or
// ill-typed field named in data.field; amounts exact), and the canonical form
// of a mutating request that the daemon hashes for request_id idempotency.
#pragma once

#include "engine/money.hpp"
#include "engine/refund.hpp"
#include "engine/result.hpp"
#include "engine/split.hpp"
#include "protocol/cashier/rpc.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace settle::cashier {

// Longest wait card.read accepts (a cashier waits for a patient, not longer).
inline constexpr std::int64_t max_card_wait_ms = 120'000;
// Page size of settle.list when not given, and its largest value.
inline constexpr std::int64_t default_list_limit = 100;
inline constexpr std::int64_t max_list_limit = 500;
// Short identifiers taken from clients (operator, window, card_no, setl_id, adm_id, ...).
inline constexpr std::size_t max_ident_len = 64;
// Longest password accepted on the wire (longer is refused before any hashing).
inline constexpr std::size_t max_password_len = 128;
inline constexpr std::size_t min_pin_len = 4;
inline constexpr std::size_t max_pin_len = 12;

enum class Topic : std::uint8_t { card = 1, network = 2, work = 3 };
std::string_view topic_name(Topic t) noexcept;  // "card", "network", "work"
std::optional<Topic> topic_from_name(std::string_view s) noexcept;

// The settlement states of cashier-api.md (settle.commit `state`).
inline constexpr std::array<std::string_view, 7> settlement_states{
    "settled", "offline_pending", "offline_accepted", "offline_rejected", "refunded", "partly_refunded", "undone"};

struct LoginParams {
  std::string operator_name;  // wire: "operator"
  std::string password;       // never logged, never in an error message
  std::string window;
};
struct LogoutParams {};
struct EngineStatusParams {};
struct SubscribeParams {
  std::vector<Topic> topics;  // deduplicated, in the order first given
};
struct CardReadParams {
  std::int64_t timeout_ms = 0;
};
// credential.scan (1.3): the e-voucher's QR code as the scanner read it.
// `window`, when given, must be the session's own.
inline constexpr std::size_t max_qr_len = 1024;
struct CredentialScanParams {
  std::optional<std::string> window;
  std::string qr;
};
// credential.id (1.3): the patient's ID number, 18 characters, its GB 11643
// check character verified (a lower-case x is taken as X).
struct CredentialIdParams {
  std::optional<std::string> window;
  std::string id_no;
};
struct VerifyPinParams {
  std::optional<std::string> pin;  // digits, 4..12; absent when pinpad
  bool pinpad = false;
};
struct PersonQueryParams {
  std::optional<std::string> card_no;
};
struct AccountHistoryParams {
  std::optional<std::string> card_no;
  std::optional<std::string> from;  // ISO 8601 date or date-time with offset
  std::optional<std::string> to;
};
// The visit's facts a settlement or an admission may carry (1.3): the
// national interface's 2201/2401 need the department and a diagnosis. Every
// member is optional on the wire ("" / empty when not given). Mirrors the
// engine's VisitFacts member for member.
struct DiagnosisParam {
  std::string code;  // ICD-10 code as text, e.g. "J06.900"
  std::string name;  // "" when not given
  bool operator==(const DiagnosisParam&) const = default;
};
struct VisitParams {
  std::string dept_code, dept_name, doctor_code, doctor_name;
  std::vector<DiagnosisParam> diagnoses;  // the first is the main diagnosis
  bool operator==(const VisitParams&) const = default;
};
inline constexpr std::size_t max_diagnoses = 20;
// The national profile settles only a visit with its department and a main
// diagnosis. INVALID_REQUEST naming visit.dept_code or visit.diagnoses.
Status require_national_visit(const std::optional<VisitParams>& v);

// med_type's default for an outpatient settlement (普通门诊) and a stay (普通住院).
inline constexpr std::string_view med_type_outpatient = "11";
inline constexpr std::string_view med_type_inpatient = "21";

struct SettlePreviewParams {
  std::vector<ChargeLine> lines;
  bool use_account = true;
  std::optional<VisitParams> visit;  // 1.3
  std::string med_type = std::string(med_type_outpatient);
};
struct SettleCommitParams {
  std::string request_id;
  std::vector<ChargeLine> lines;
  bool use_account = true;
  std::string med_type = std::string(med_type_outpatient);
  std::optional<VisitParams> visit;  // 1.3
};
// A refund by charge line: {code, amount > 0}, the engine's own type, so the
// daemon hands it to plan_line_refund unchanged.
using RefundLine = LineRefund;
struct SettleRefundParams {
  std::string request_id;
  std::string setl_id;
  std::optional<std::vector<RefundLine>> lines;  // absent = everything left
};
struct SettleResettleParams {
  std::string request_id;
  std::string setl_id;
};
struct SettleGetParams {
  std::string setl_id;
};
struct SettleListParams {
  std::string from;  // ISO 8601 date or date-time with offset
  std::string to;
  std::optional<std::string> window;
  std::optional<std::string> operator_name;  // wire: "operator"
  std::optional<std::string> state;          // one of settlement_states
  std::optional<std::string> card_no;        // the patient's card (1.2)
  std::optional<std::string> receipt_no;     // one receipt (1.2)
  std::optional<std::string> cursor;
  std::int64_t limit = default_list_limit;
};
struct InpatientAdmitParams {
  std::string request_id;
  std::string dept;
  std::optional<std::string> dept_name;
  std::string diagnosis;
  std::optional<std::string> diagnosis_name;
  std::optional<std::string> admit_time;  // ISO 8601 date-time with offset
  // 1.3: the doctor and further diagnoses; its dept_code and first diagnosis,
  // when given, are dept and diagnosis (filled from them when not).
  std::optional<VisitParams> visit;
  std::string med_type = std::string(med_type_inpatient);
};
// A charge line of a stay: a charge line with the hospital's line number.
struct StayLineParam {
  std::string feedetl_sn;
  ChargeLine line;
};
struct InpatientAddLinesParams {
  std::string request_id;
  std::string adm_id;
  std::vector<StayLineParam> lines;
};
struct InpatientCancelLinesParams {
  std::string request_id;
  std::string adm_id;
  std::vector<std::string> feedetl_sn;
};
struct InpatientPreviewParams {
  std::string adm_id;
  bool use_account = true;
};
struct InpatientDischargeParams {
  std::string request_id;
  std::string adm_id;
  bool use_account = true;
  std::optional<std::string> discharge_time;  // ISO 8601 date-time with offset
};
struct InpatientUndoDischargeParams {
  std::string request_id;
  std::string adm_id;
};
struct InpatientUndoAdmitParams {
  std::string request_id;
  std::string adm_id;
};
struct InpatientGetParams {
  std::string adm_id;
  std::optional<std::string> cursor;  // the last line number of the page before
  std::int64_t limit = default_list_limit;
};
struct InpatientListParams {
  std::optional<std::string> state;  // admitted, discharged, undone
  std::optional<std::string> dept;
  std::optional<std::string> from, to;
  std::optional<std::string> cursor;
  std::int64_t limit = default_list_limit;
};
struct ReconRunParams {
  std::string date;  // YYYY-MM-DD
};
struct UploadsFlushParams {};
struct RedlistSyncParams {
  bool full = false;  // a whole snapshot instead of a delta
};
struct OutboxParkedParams {};
// A parked item (outbox.parked) is named by its queue and item_id: "outbox"
// (reversals, offline settlements and refunds; the default) or "stay" (what a
// stay forwards in order: its admission, batches, cancellations, discharge).
struct OutboxRetryParams {
  std::int64_t item_id = 0;
  bool stay = false;  // queue "stay"
};
struct OutboxResolveParams {
  std::int64_t item_id = 0;
  std::string note;  // what the office did instead (kept in the item's history); not empty
  bool stay = false;  // queue "stay"
};

// session.change_password: the current password and the new one (never
// logged, never quoted in an error).
struct ChangePasswordParams {
  std::string password;
  std::string new_password;
};
struct OperatorListParams {};
// operator.add and operator.reset_password: an initial password, changed by
// the operator at the next login.
struct OperatorAddParams {
  std::string operator_name;  // wire: "operator"
  std::string role;           // cashier, supervisor, auditor, admin
  std::string password;
};
struct OperatorResetPasswordParams {
  std::string operator_name;
  std::string password;
};
struct OperatorSetRoleParams {
  std::string operator_name;
  std::string role;
};
// operator.unlock, .disable, .enable: one operator by name (a distinct type
// per method, as the variant below needs).
template <int Kind>
struct OperatorNamedParams {
  std::string operator_name;
};
using OperatorUnlockParams = OperatorNamedParams<0>;
using OperatorDisableParams = OperatorNamedParams<1>;
using OperatorEnableParams = OperatorNamedParams<2>;
// audit.list: entries by time (from/to as settle.list), operator and action,
// newest first; `cursor` is the audit_id to continue below.
struct AuditListParams {
  std::optional<std::string> from;
  std::optional<std::string> to;
  std::optional<std::string> operator_name;  // wire: "operator"
  std::optional<std::string> action;
  std::optional<std::int64_t> cursor;
  std::int64_t limit = default_list_limit;
};
// settle.sheet: the printable sheet of a settlement or of one of its refunds.
struct SettleSheetParams {
  std::string setl_id;
  std::optional<std::string> refund_id;
  std::string paper = "A5";  // A5 or A4
};

// closeout.preview: the session's own unclosed shift, or with `date` the
// report of that day (closed or not), which is not recorded.
struct CloseoutPreviewParams {
  std::optional<std::string> date;  // YYYY-MM-DD
};
// closeout.record: the cashier signs off the shift; a repeated request_id
// answers the close-out it made.
struct CloseoutRecordParams {
  std::string request_id;
};
struct CloseoutGetParams {
  std::string closeout_id;
};
struct CloseoutListParams {
  std::optional<std::string> from;
  std::optional<std::string> to;
  std::optional<std::string> operator_name;  // wire: "operator"
  std::optional<std::string> window;
  std::optional<std::int64_t> cursor;
  std::int64_t limit = default_list_limit;
};
// closeout.sheet: a recorded close-out, or (no closeout_id) the preview of
// the session's own shift, as printable HTML.
struct CloseoutSheetParams {
  std::optional<std::string> closeout_id;
  std::string paper = "A4";  // A4 or A5
};
// correction.record: what the office corrects, with its reason; it changes
// nothing until a second person approves it.
struct CorrectionRecordParams {
  std::string target;  // settlement, outbox, stay
  std::optional<std::string> setl_id;
  std::optional<std::int64_t> item_id;
  std::string action;  // amounts, undo (settlement); resolve (outbox, stay)
  std::optional<Amount> fund, account, cash;  // amounts: the figures to count
  std::string reason;
};
template <int Kind>
struct CorrectionDecideParams {
  std::int64_t correction_id = 0;
  std::string note;  // optional on the wire: ""
};
using CorrectionApproveParams = CorrectionDecideParams<0>;
using CorrectionRefuseParams = CorrectionDecideParams<1>;
struct CorrectionListParams {
  std::optional<std::string> state;  // recorded, approved, refused
  std::int64_t limit = default_list_limit;
};
struct WorkListParams {};
// outage.list: outage records (docs/outages.md) overlapping a period, newest
// first; outage.get: one with its figures and notes; outage.note: the office
// records who was told or what was done.
struct OutageListParams {
  std::optional<std::string> from;
  std::optional<std::string> to;
  std::optional<std::string> kind;  // line, crash, drill, storage, reader, network
  std::optional<std::int64_t> cursor;
  std::int64_t limit = default_list_limit;
};
struct OutageGetParams {
  std::int64_t outage_id = 0;
};
struct OutageNoteParams {
  std::int64_t outage_id = 0;
  std::string kind = "told";  // told or note
  std::string target;         // who was told, or what the note is about
  std::string detail;
};
// outage.record: an outage the office saw itself and records afterwards (the
// hospital's network, a reader, a drill, the line while settled was down),
// with its period; the daemon's own outages are recorded by the daemon.
struct OutageRecordParams {
  std::string kind;  // line, drill, storage, reader, network
  std::string cause;
  std::string started_at;  // ISO 8601 date-times with offset
  std::string ended_at;
  std::string note;
};
// notice.get: the patient notices (docs/patient-notices.md) for a line state
// (current: the line's state now) or for a refusal's reason, or one by id;
// as their texts or as a printable page.
struct NoticeGetParams {
  std::string state = "current";     // offline, online or current
  std::optional<std::string> reason;  // an error reason, e.g. OFFLINE_REFUND_FORBIDDEN
  std::optional<std::string> id;
  std::string format = "text";  // text or html
  std::string paper = "A4";     // A4 or A5 (html)
};
// reentry.record: a batch of settlements from the paper emergency ledger
// (docs/reentry.md). The rows are kept as given and read one by one with
// parse_reentry_row, so that an error names its row (data.row).
struct ReentryRecordParams {
  std::optional<std::string> batch_ref;
  Json rows = Json::array();  // 1..500 objects
};
struct ReentryLineParams {
  std::string code, name, cls;  // cls "A", "B", "C"
  Amount amount;
};
struct ReentryRowParams {
  std::string at;  // ISO 8601 with offset, as on paper
  std::string window;
  std::string operator_name;
  std::string card_no;
  std::string psn_name;
  std::vector<ChargeLine> lines;
  Amount cash;
};
// reentry.approve (note optional) and reentry.refuse (note required).
template <int Kind>
struct ReentryDecideParams {
  std::int64_t batch_id = 0;
  std::string note;
};
using ReentryApproveParams = ReentryDecideParams<0>;
using ReentryRefuseParams = ReentryDecideParams<1>;
struct ReentryListParams {
  std::optional<std::string> state;  // entered, approved, refused
  std::int64_t limit = default_list_limit;
};
struct SessionListParams {};
struct ReentryGetParams {
  std::int64_t batch_id = 0;
};
// At most this many rows in one reentry.record.
inline constexpr std::size_t max_reentry_rows = 500;
// One row of reentry.record's rows (`path` "rows[i]" for the errors' field).
Result<ReentryRowParams> parse_reentry_row(const Json& row, std::string_view path);

// One alternative per Method, in the order of the Method enum.
using MethodParams =
    std::variant<LoginParams, LogoutParams, EngineStatusParams, SubscribeParams, CardReadParams, VerifyPinParams,
                 PersonQueryParams, AccountHistoryParams, SettlePreviewParams, SettleCommitParams, SettleRefundParams,
                 SettleResettleParams, SettleGetParams, SettleListParams, InpatientAdmitParams,
                 InpatientAddLinesParams, InpatientPreviewParams, InpatientDischargeParams,
                 InpatientUndoDischargeParams, InpatientCancelLinesParams, InpatientUndoAdmitParams, InpatientGetParams,
                 InpatientListParams, ReconRunParams, UploadsFlushParams,
                 RedlistSyncParams, OutboxParkedParams, OutboxRetryParams, OutboxResolveParams,
                 ChangePasswordParams, OperatorListParams, OperatorAddParams, OperatorResetPasswordParams,
                 OperatorUnlockParams, OperatorSetRoleParams, OperatorDisableParams, OperatorEnableParams,
                 AuditListParams, SettleSheetParams, CloseoutPreviewParams, CloseoutRecordParams,
                 CloseoutGetParams, CloseoutListParams, CloseoutSheetParams, CorrectionRecordParams,
                 CorrectionApproveParams, CorrectionRefuseParams, CorrectionListParams, WorkListParams,
                 OutageListParams, OutageGetParams, OutageNoteParams, NoticeGetParams, ReentryRecordParams,
                 ReentryApproveParams, ReentryRefuseParams, ReentryListParams, ReentryGetParams,
                 OutageRecordParams, SessionListParams, CredentialScanParams, CredentialIdParams>;
static_assert(std::variant_size_v<MethodParams> == method_count);

// Parses the params object of `m`. Errors: INVALID_REQUEST (data.field names
// the field; unknown fields are refused too), INVALID_AMOUNT for amounts,
// LIMIT_EXCEEDED for more than limits::max_lines_per_settlement lines.
Result<MethodParams> parse_params(Method m, const Json& params);

// Per-method parsers (parse_params dispatches to these).
Result<LoginParams> parse_login(const Json& p);
Result<SubscribeParams> parse_subscribe(const Json& p);
Result<CardReadParams> parse_card_read(const Json& p);
Result<CredentialScanParams> parse_credential_scan(const Json& p);
Result<CredentialIdParams> parse_credential_id(const Json& p);
// The visit object of settle.preview/commit and inpatient.admit (`key` its name).
Result<std::optional<VisitParams>> parse_visit(const Json& p, std::string_view key);
Result<VerifyPinParams> parse_verify_pin(const Json& p);
Result<PersonQueryParams> parse_person_query(const Json& p);
Result<AccountHistoryParams> parse_account_history(const Json& p);
Result<SettlePreviewParams> parse_settle_preview(const Json& p);
Result<SettleCommitParams> parse_settle_commit(const Json& p);
Result<SettleRefundParams> parse_settle_refund(const Json& p);
Result<SettleResettleParams> parse_settle_resettle(const Json& p);
Result<SettleGetParams> parse_settle_get(const Json& p);
Result<SettleListParams> parse_settle_list(const Json& p);
Result<InpatientAdmitParams> parse_inpatient_admit(const Json& p);
Result<InpatientAddLinesParams> parse_inpatient_add_lines(const Json& p);
Result<InpatientPreviewParams> parse_inpatient_preview(const Json& p);
Result<InpatientDischargeParams> parse_inpatient_discharge(const Json& p);
Result<InpatientUndoDischargeParams> parse_inpatient_undo_discharge(const Json& p);
Result<InpatientCancelLinesParams> parse_inpatient_cancel_lines(const Json& p);
Result<InpatientUndoAdmitParams> parse_inpatient_undo_admit(const Json& p);
Result<InpatientGetParams> parse_inpatient_get(const Json& p);
Result<InpatientListParams> parse_inpatient_list(const Json& p);
Result<ReconRunParams> parse_recon_run(const Json& p);
Result<RedlistSyncParams> parse_redlist_sync(const Json& p);
Result<OutboxRetryParams> parse_outbox_retry(const Json& p);
Result<OutboxResolveParams> parse_outbox_resolve(const Json& p);
Result<ChangePasswordParams> parse_change_password(const Json& p);
Result<OperatorAddParams> parse_operator_add(const Json& p);
Result<OperatorResetPasswordParams> parse_operator_reset_password(const Json& p);
Result<OperatorSetRoleParams> parse_operator_set_role(const Json& p);
Result<AuditListParams> parse_audit_list(const Json& p);
Result<SettleSheetParams> parse_settle_sheet(const Json& p);
Result<CloseoutPreviewParams> parse_closeout_preview(const Json& p);
Result<CloseoutRecordParams> parse_closeout_record(const Json& p);
Result<CloseoutGetParams> parse_closeout_get(const Json& p);
Result<CloseoutListParams> parse_closeout_list(const Json& p);
Result<CloseoutSheetParams> parse_closeout_sheet(const Json& p);
Result<CorrectionRecordParams> parse_correction_record(const Json& p);
Result<CorrectionListParams> parse_correction_list(const Json& p);
Result<NoticeGetParams> parse_notice_get(const Json& p);

// Charge lines (`lines` of settle.preview/commit and inpatient.add_lines).
Result<std::vector<ChargeLine>> parse_charge_lines(const Json& p, std::string_view key);

// The request_id of a mutating method's params; nullopt for the others.
std::optional<std::string> request_id_of(const MethodParams& p);

// The canonical form of a mutating request: compact JSON of
// {"method": ..., "params": {...}} with keys sorted, defaults filled in,
// amounts as integer fen and ratios as integer ppm, request_id left out.
// Two requests mean the same thing exactly when their canonical forms are
// equal ("12.3" and 12.30 give the same). nullopt for read-only methods.
std::optional<std::string> canonical_form(const MethodParams& p);

// Validators used by the parsers (exposed for tests and the daemon).
bool is_iso_date(std::string_view s) noexcept;                 // YYYY-MM-DD, a real calendar date
bool is_iso_datetime_offset(std::string_view s) noexcept;      // YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm)
bool is_date_or_datetime(std::string_view s) noexcept;
// GB 11643-1999: 17 digits, a real birth date in them, then the mod 11-2
// check character ('0'-'9' or 'X').
bool is_id_number(std::string_view s) noexcept;

}  // namespace settle::cashier
