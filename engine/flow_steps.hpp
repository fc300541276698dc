// The steps the flows are made of, shared by the outpatient flows (flows.cpp)
// and the inpatient ones (stay_flows.cpp): storing a final answer, recording
// a failed or unrecordable money call, making a msgid durable, the online
// settlement of lines and the offline one. Internal to the engine's flows.
#pragma once

#include "engine/flow.hpp"
#include "engine/flows.hpp"
#include "engine/policy.hpp"

#include <optional>
#include <string>
#include <vector>

namespace settle::flow {

// ---- answers ---------------------------------------------------------------------

// The call went unanswered: in doubt (being reversed) or never sent.
Error unanswered_error(const InsurerReply& r, Txn t);
// The insurer refused `t`: its infcode and message, as they came.
Answer refused_answer(const InsurerReply& r, Txn t);
// The person could not be had: the insurer's refusal, or `otherwise`.
Answer person_refused(const PersonFound& found, Error otherwise);
bool answered(const InsurerReply& r);
// The original was undone and settling it again did not succeed.
Answer after_undo(Error e, const RefundRecord& undo);
// Why a change of an original (refund, re-settlement, undo of a discharge)
// cannot be made now: the line is down, or the card at the window is another.
// An original made with the card is changed only with that card at the
// window; one made with an e-voucher or an ID number only with a credential
// of its person (`psn_no`, the window's).
std::optional<Answer> not_now(const OriginalView& o, const std::string& card_no, const std::string& psn_no, bool line_online,
                              std::string_view line_down);

RecordCallFailed failed_call(std::string msgid, Txn txn, CallOutcome outcome, std::string psn_no, std::string request_id,
                             std::optional<Answer> answer, std::int64_t infcode = -1, std::string detail = {});

// ---- records ---------------------------------------------------------------------

// A new settlement record of the charge at the window.
struct RecordOf {
  std::string request_id;
  std::string window;
  std::string operator_id;
  std::string card_no;
  std::string card_sn;
  std::string med_type;
  VisitType visit = VisitType::outpatient;
  std::int64_t adm_id = 0;
  // A discharge: the stay's live lines being settled, recorded by reference.
  std::optional<StayLinesRef> stay_lines = std::nullopt;
  // The credential held at the window, the person's insured area (when
  // known before the person is asked), the visit's facts.
  CertType cert_type = CertType::card;
  std::string cert_no = {};
  std::string insuplc_admdvs = {};
  VisitFacts facts = {};
};
// A new settlement record of `lines` as the policy applied them: copied with
// each class B line's ratio (applied_lines), or, for a discharge, named by
// reference with the ratios the policy gave by item code.
SettlementRecord new_record(const RecordOf& of, std::string psn_no, std::string insutype, const Policy& policy,
                            std::span<const ChargeLine> lines, std::vector<SplitReason> reasons, Ms at);
// A money call on a settlement the insurer made (9301 refund, 2208 / 2305 undo).
InsurerCall call_on(const SettlementRecord& s, Txn txn, const std::string& msgid, Ms deadline_at, const std::string& request_id,
                    const std::string& psn_no, const std::string& card_no);
// Money given back of settlement `setl_id` (a refund, or an undo).
RefundRecord money_back(const RecordOf& of, std::int64_t setl_id, const Parts& parts, std::string msgid, std::string insurer_id,
                        Ms at);

// ---- sub-flows -------------------------------------------------------------------

// The request's final answer, stored (the ledger's error, not final, if it cannot be).
BasicFlow<Outcome> store_final(std::string request_id, Answer answer);
// A money call that did not succeed, recorded; held when the ledger refuses.
BasicFlow<Outcome> record_failed(RecordCallFailed rec, Answer answer, bool may_run_again);
// A money call that did not succeed (unsent: `unsent` told, may run again).
BasicFlow<Outcome> call_failed(std::string msgid, Txn txn, InsurerReply r, std::string psn_no, std::string request_id,
                               Error unsent);
// A money call's msgid, issued and durable before the call is sent.
struct DurableMsgid {
  std::string msgid;
  std::optional<Error> error;
};
// `insuplc_admdvs`: the area the call's envelope will carry ("" the
// hospital's), recorded with the msgid for its reversal.
BasicFlow<DurableMsgid> durable_msgid(Txn txn, std::string request_id, std::string psn_no,
                                      std::string insuplc_admdvs = {});
// The person's earlier requests still being reversed go first.
BasicFlow<std::optional<Answer>> reversals_first(std::string psn_no, std::string what);
// A success that cannot stand or cannot be recorded: reversed, `answer` final.
BasicFlow<Outcome> reverse_call(std::string msgid, Txn txn, std::string psn_no, std::string request_id, Answer answer);

// What the online settlement of lines came to. Its calls only: the flow that
// ran it records the end (a settlement, a refusal, an offline fallback, ...).
struct OnlineAttempt {
  enum class End : std::uint8_t {
    settled,       // the settle call succeeded with figures that can stand
    refused,       // `txn` was refused: nothing moved
    not_answered,  // a call before it unanswered, or the settle call never sent: nothing moved
    in_doubt,      // the settle call left without a readable reply: it may have settled
    unacceptable,  // it succeeded with figures that cannot stand (`problem`)
    no_msgid,      // its msgid could not be made durable (`error`): nothing sent
  };
  End end = End::not_answered;
  Txn txn = Txn::register_visit;  // the call it ended on
  InsurerReply reply;             // that call's reply
  std::string msgid;              // the settle call's msgid when durable (it must be closed, whatever the end)
  std::string mdtrt_id;
  std::string problem;
  std::optional<Error> error;
  // The insurer's preview (2206 / 2303) when the profile asks for one and it
  // answered; `preview_unanswered` when it was asked and not had.
  std::optional<Parts> preview = std::nullopt;
  bool preview_unanswered = false;
};

// Outpatient: 2201 → 2204 → 2207 (a new visit). Inpatient: 2402 → 2304 on
// the stay's visit (`mdtrt_id`), over the lines the insurer holds.
struct OnlineRequest {
  std::string request_id;
  std::string psn_no;
  std::string card_no;
  std::string insutype;
  std::string med_type;
  std::vector<ChargeLine> lines;
  Amount total;        // the local split's total
  bool use_account = false;
  Ms deadline_at = 0;  // every call's answer must be in by then
  VisitType visit = VisitType::outpatient;
  std::string mdtrt_id;      // inpatient: the stay's visit
  std::int64_t adm_id = 0;   // inpatient: the stay
  Ms at = 0;                 // inpatient: the discharge time
  // The credential, the person's insured area and the visit's facts every call carries.
  CertType cert_type = CertType::card;
  std::string cert_no = {};
  std::string insuplc_admdvs = {};
  VisitFacts facts = {};
  bool preview = false;             // 2206 / 2303 before the settle call (the profile's)
  std::optional<Amount> acct_cap = std::nullopt;   // the settle call's exp_content.acct_pay_max; a reply above it cannot stand
};
BasicFlow<OnlineAttempt> online_settle(OnlineRequest in);
// The insurer's preview against the local split, in the answer when they
// differ (one sentence per differing part), or that it was not had.
void note_preview(Answer& a, const Parts& local, const OnlineAttempt& on);
// Why the offline settlement cannot be had: the profile has none, or the
// credential is not the card the red list is kept by.
std::optional<Error> offline_refused(const InsurerProfile& profile, CertType cert);
// The settlement the settle call made, as the insurer split it.
void settled_by(SettlementRecord& s, const OnlineAttempt& on);
// An online settlement recorded with its answer; reversed and held if it cannot be.
BasicFlow<Outcome> record_settled(SettlementRecord s, Answer yes, std::optional<RefundRecord> undo);
// What a failed online settlement leaves the flow: the request's outcome now
// (a refusal, a ledger error), or the offline fallback with the settle
// call's msgid to close (in doubt: reversed first; unsent: closed).
struct OnlineFallback {
  std::optional<Outcome> ends;
  OfflineCause cause = OfflineCause::network_down;
  std::optional<std::string> in_doubt_msgid;
  std::optional<std::string> unsent_msgid;
};
// `lines` are the caller's, who awaits this flow to its end.
BasicFlow<OnlineFallback> after_online(OnlineAttempt on, RecordOf of, std::string psn_no, std::string insutype,
                                       std::span<const ChargeLine> lines, std::vector<SplitReason> reasons, const Policy* policy,
                                       std::optional<Parts> local = std::nullopt);

// The offline settlement of a charge: the person from the red list, the
// estimate within the limits (or self-pay), stored with its upload.
struct OfflineRequest {
  RecordOf of;
  std::string psn_no;               // known from the insurer before the line failed, or empty
  std::optional<Person> person;     // the same
  std::string insutype;             // known before (a stay's, from its admission), or empty
  std::vector<ChargeLine> lines;
  OfflineCause cause = OfflineCause::network_down;
  std::optional<std::string> in_doubt_msgid;
  std::optional<std::string> unsent_msgid;
  OfflineLimits limits;
  const Policy* policy = nullptr;
};
BasicFlow<Outcome> offline_settle(OfflineRequest in);

// A charge at the window settled (settle.commit, inpatient.discharge): the
// person from the insurer, the split, the online settlement, and when the
// line fails it the offline one. The card was checked by the caller.
// The credential (of.cert_type, of.cert_no), the insured area and the visit's
// facts are in `of`.
struct ChargeRequest {
  RecordOf of;                 // its visit type decides the policy, limits and calls
  std::vector<ChargeLine> lines;
  bool use_account = true;
  bool pin_verified = false;
  bool online = true;          // the line takes online work (and, for a stay, the insurer has all of it)
  // Why it is settled offline when `online` is false from the start (the
  // line is down, or the window's reader failed after the card was read).
  OfflineCause offline_cause = OfflineCause::network_down;
  bool fresh_person = false;   // ask the insurer now, not the window's last answer
  std::string psn_no;          // known before (a stay's), for the offline record
  std::string insutype;        // the same: a stay's insurance type from its admission
  std::string mdtrt_id;        // inpatient: the stay's visit
  Ms at = 0;                   // inpatient: the discharge time
  Budget budget;
  OfflineLimits limits;
  const Policy* policy = nullptr;
  const InsurerProfile* profile = nullptr;  // nullptr: regional
  bool acct_auth = false;      // e-voucher: the patient authorised the account on the phone
  std::optional<Amount> acct_cap = std::nullopt;  // the account pays at most this (a national refund of part)
};
BasicFlow<Outcome> settle_charge(ChargeRequest in);

// The undo (2208 / 2305) of everything left of a settlement the insurer
// made, recorded (with `answer` as the request's answer when the undo is the
// request's end; a stay reopened). Ends the request when it fails.
struct UndoRequest {
  RecordOf of;
  SettlementRecord original;
  std::string psn_no;
  std::string card_no;
  Parts left;                     // what the ledger says is left of it
  std::vector<ChargeLine> rest;   // its lines left
  Ms deadline_at = 0;
  std::int64_t reopens_adm_id = 0;
  std::optional<Answer> answer;
};
struct UndoDone {
  std::optional<Outcome> ends;
  RefundRecord undo;  // recorded (refund_id set) unless it ended
};
BasicFlow<UndoDone> undo_settlement(UndoRequest in);

}  // namespace settle::flow
