// The money-moving flows as pure coroutines over the vocabulary of flow.hpp:
// settle.commit (online, falling back to an offline settlement when the line
// fails it) and settle.refund. Every decision lives here: what is durable
// before what is sent, what a lost reply or a failed commit leads to, what the
// cashier is told, and within which time budget.
#pragma once

#include "engine/flow.hpp"
#include "engine/policy.hpp"

namespace settle::flow {

// The overall time budget of one cashier call: every insurer call it makes is
// given what is left of it, less the reserve kept for the offline fallback's
// own commit, so the answer is in by `deadline_at` whatever the line does.
struct Budget {
  Ms deadline_at = 0;
  Ms offline_reserve_ms = 0;
  Ms insurer_deadline() const { return deadline_at - offline_reserve_ms; }
};

struct CommitInput {
  std::string request_id;
  std::string window;
  std::string operator_id;
  std::string card_no;
  std::string card_sn;
  std::string med_type = "11";
  std::vector<ChargeLine> lines;
  bool use_account = true;
  bool pin_verified = false;
  bool line_online = true;  // the line takes new online work now
  // Why the line takes none, when it does not: the offline settlement's cause.
  OfflineCause line_cause = OfflineCause::network_down;
  Budget budget;
  OfflineLimits limits;
  const Policy* policy = nullptr;
  const InsurerProfile* profile = nullptr;  // nullptr: regional
  // The credential held at the window (card_no stays the card's number, empty
  // when no card was used); for an e-voucher, whether the patient authorised
  // the account on the phone. The account is used: card with the PIN
  // verified; e-voucher with acct_auth; ID number never.
  CertType cert_type = CertType::card;
  std::string cert_no = {};
  bool acct_auth = false;
  std::string insuplc_admdvs = {};  // the person's insured area when known (1101 / the decode)
  VisitFacts facts = {};
};

Flow commit_flow(CommitInput in);

// The lines as recorded: each class B line with the self-pay ratio the
// policy applies to it (its own, else its code's, else the insurance type's).
std::vector<ChargeLine> applied_lines(const Policy& policy, std::string_view insutype, std::span<const ChargeLine> lines,
                                      VisitType visit = VisitType::outpatient);

struct RefundInput {
  std::string request_id;
  std::string window;
  std::string operator_id;
  std::string card_no;     // the card at the window (empty: another credential)
  // The person of the window's credential: an original made with an
  // e-voucher or an ID number is changed only for that person.
  std::string psn_no;
  // The credential at the window: a national refund of part settles the kept
  // lines anew with it (the original's e-voucher token or ID number is not
  // kept). A card with no number here is the card_no above.
  CertType cert_type = CertType::card;
  std::string cert_no = {};
  // The person's insured area as the window knows it (1101): the calls'
  // envelope when the original has none (settled offline off the red list).
  std::string insuplc_admdvs = {};
  OriginalView original;   // read under the settlement's lock: one refund of it at a time
  std::vector<LineRefund> lines;  // empty: everything left
  bool line_online = true;
  Budget budget;
  // national (line_refund false): a refund of part is the whole undo (2208)
  // and a new settlement of the kept lines (the policy splits it locally).
  const InsurerProfile* profile = nullptr;  // nullptr: regional
  const Policy* policy = nullptr;           // needed when the profile has no line refund
};

Flow refund_flow(RefundInput in);

// Re-settlement (退费重结) of a settlement paid without the personal account:
// everything left of it is undone (2208) and its lines left settled again
// with the account (PIN verified at the window).
struct ResettleInput {
  std::string request_id;
  std::string window;
  std::string operator_id;
  std::string card_no;  // the card at the window (empty: another credential)
  std::string psn_no;   // the person of the window's credential (as RefundInput)
  std::string card_sn;
  std::string insuplc_admdvs = {};  // as RefundInput's
  OriginalView original;  // read under the settlement's lock
  bool line_online = true;
  Budget budget;
  const Policy* policy = nullptr;
  const InsurerProfile* profile = nullptr;  // nullptr: regional
};

Flow resettle_flow(ResettleInput in);

// Whether a settlement was paid without the personal account for a reason
// re-settlement may mend (no PIN, the account skipped, offline).
bool paid_without_account(const SettlementRecord& s);

// The original's lines less what its refunds took, line by line: lines that
// share an item code are each reduced by their own part, in order.
Result<std::vector<ChargeLine>> lines_left(const OriginalView& o);

// The parts an original stands at for refunds: its own, or for an accepted
// offline settlement the insurer's figures. Where those put more on the
// patient than the cash taken at the window (the insurer's fund below the
// offline estimate), the part never taken is left out: the original stands
// at what was received, fund + account + the cash taken. The difference
// stays an adjustment for the office; it is never paid out.
Parts standing_parts(const OriginalView& o);
// The patient's part under the insurer's figures never taken at the window
// (zero but in the case above).
Amount uncollected(const OriginalView& o);
// What is left of the original for refunds: its standing parts less its
// refunds. An error naming the settlement, not a stop, where its refunds are
// above the figures it counts now (a correction approved after them).
Result<Parts> left_of(const OriginalView& o);
// Why the original cannot be undone whole here (2208, 2305), if it cannot:
// what is left of it is an error, or the insurer would give back a patient's
// part that was never taken (`uncollected`). `field` names the request's.
std::optional<Error> undo_refusal(const OriginalView& o, std::string_view field);

}  // namespace settle::flow
