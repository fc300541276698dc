// The inpatient flows (住院) as pure flows over the vocabulary of flow.hpp,
// made of the same steps as the outpatient ones: admission, lines added and
// cancelled during the stay, the discharge settlement (online, or offline
// within the inpatient limits), its undo, and the undo of an admission.
#pragma once

#include "engine/flows.hpp"

namespace settle::flow {

// inpatient.admit: the credential at the window (the card, the e-voucher or
// the ID number), the person from 1101 (or the red list offline, by card
// only), one open stay per person; the 2401 made durable before it is sent,
// reversed when its reply is lost (the stay is then stored offline; without
// the card it is not: nothing is admitted).
struct AdmitInput {
  std::string request_id;
  std::string window;
  std::string operator_id;
  std::string card_no;  // empty: the patient gave the e-voucher or the ID number
  std::string card_sn;
  std::string dept, dept_name, diagnosis, diagnosis_name;
  Ms admit_at = 0;
  bool line_online = true;
  Budget budget;
  const InsurerProfile* profile = nullptr;  // nullptr: regional
  CertType cert_type = CertType::card;      // the credential held at the window
  std::string cert_no = {};
  std::string insuplc_admdvs = {};
  VisitFacts facts = {};  // the national 2401's department, doctor and diagnoses
};
Flow admit_flow(AdmitInput in);

// inpatient.add_lines (`added`) and inpatient.cancel_lines (`cancelled`):
// stored with the item that forwards them, in order after the stay's earlier
// items; sent at once (2301 / 2302) when the line is up and nothing of the
// stay waits before them.
struct StayLinesInput {
  std::string request_id;
  StayView stay;  // read under the stay's lock (without its lines)
  std::vector<StayLine> added;
  std::vector<std::string> cancelled;
  bool line_online = true;
  Budget budget;
};
Flow stay_lines_flow(StayLinesInput in);

// inpatient.discharge: the split of every live line with the inpatient
// policy; online 2402 → 2304 on the stay's visit when the insurer has all of
// the stay, else offline within the inpatient limits (with the card only).
// The window's credential must be the stay's person's (not_stays_person).
struct DischargeInput {
  std::string request_id;
  std::string window;
  std::string operator_id;
  std::string card_no;  // empty: the window holds the e-voucher or the ID number
  std::string card_sn;
  std::string psn_no = {};  // the person the insurer named for the window's credential (empty: not known)
  StayView stay;  // read under the stay's lock, with its live lines
  bool use_account = true;
  bool pin_verified = false;
  Ms discharge_at = 0;
  bool line_online = true;
  OfflineCause line_cause = OfflineCause::network_down;  // why the line takes no online work, when it does not
  Budget budget;
  OfflineLimits limits;  // the inpatient ones
  const Policy* policy = nullptr;
  const InsurerProfile* profile = nullptr;  // nullptr: regional
  CertType cert_type = CertType::card;      // the credential held at the window
  std::string cert_no = {};
  bool acct_auth = false;                   // e-voucher: the account authorised on the phone
  std::string insuplc_admdvs = {};
  VisitFacts facts = {};
};
Flow discharge_flow(DischargeInput in);

// inpatient.undo_discharge: online, a credential of the stay's person (and
// the card when the discharge was settled with it: not_now), the whole
// settlement (2305); the stay is open again.
struct UndoDischargeInput {
  std::string request_id;
  std::string window;
  std::string operator_id;
  std::string card_no;
  std::string psn_no;  // the person of the window's credential (as RefundInput)
  StayView stay;
  bool line_online = true;
  Budget budget;
  const InsurerProfile* profile = nullptr;  // nullptr: regional
};
Flow undo_discharge_flow(UndoDischargeInput in);

// inpatient.undo_admit: only while no line is live and nothing is settled;
// 2404 when the insurer has the admission, else the queued admission closed.
struct UndoAdmitInput {
  std::string request_id;
  StayView stay;
  bool line_online = true;
  Budget budget;
};
Flow undo_admit_flow(UndoAdmitInput in);

// Whether the window's credential may act on the stay: the stay's person's
// (psn_no, the window's as the insurer named it); where both the stay and
// the window have a card, the same card too. A stay admitted offline by a
// card the insurer has not named a person for yet: that card only. Nothing
// matches nothing (an empty card or person never equals an empty one).
std::optional<Error> not_stays_person(const StayRecord& stay, const std::string& card_no, const std::string& psn_no);

// inpatient.preview: the split of the stay's live lines (nothing is stored).
Result<Split> stay_preview(const Policy& policy, const Person& person, const StayView& stay, const SplitOptions& options);

// The charge lines of a stay's lines.
std::vector<ChargeLine> charge_lines(const std::vector<StayLine>& lines);

}  // namespace settle::flow
