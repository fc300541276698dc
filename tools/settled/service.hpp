// The settlement service: the daemon's answer to every cashier API method.
// Runs on the io_context as coroutines; card operations and ledger reads go
// to worker pools, ledger writes to the group-commit writer, insurer calls
// through the gateway. Per-connection state (card read, PIN verified, person)
// lives here, keyed by the cashier connection.
#pragma once

#include "engine/network_state.hpp"
#include "engine/policy.hpp"
#include "engine/flow.hpp"
#include "engine/split.hpp"
#include "offline/flow_ledger.hpp"
#include "offline/ledger.hpp"
#include "offline/ledger_ops.hpp"
#include "offline/redlist.hpp"
#include "protocol/cashier/server.hpp"
#include "protocol/insurer/codecs.hpp"
#include "reader/card_service.hpp"
#include "reader/watcher.hpp"
#include "tools/settled/async.hpp"
#include "tools/settled/config.hpp"
#include "tools/settled/gateway.hpp"
#include "tools/settled/live_work.hpp"
#include "tools/settled/metrics.hpp"
#include "tools/settled/notices.hpp"
#include "tools/settled/records.hpp"

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace settle::redlist {
class Store;
}

namespace settle::daemon {

class RedlistSyncer;
class CallSeams;
using cashier::Reply;

// What the window knows about the person whose card was read.
struct PersonView {
  insurer::PersonInfo::BaseInfo base;
  insurer::PersonInfo::InsuInfo insu;
  std::int64_t as_of_ms = 0;
  bool from_redlist = false;  // the insurer was unreachable: the red list's entry (balance unknown, 0)
  Person engine_person() const;
};

// A credential other than the card (cashier API 1.3): the e-voucher
// (医保电子凭证, credential.scan) or the ID number (credential.id).
enum class CredentialKind : std::uint8_t { e_voucher, id_no };
std::string_view credential_kind_name(CredentialKind k) noexcept;  // "e-voucher", "id" (the API's cert_type)

struct HeldCredential {
  CredentialKind kind = CredentialKind::id_no;
  std::string cert_no;         // e-voucher: its token (ec_token); ID: the ID number
  std::string id_no;           // the person's ID number (masked in every answer)
  std::string psn_name;        // as the decode or 1101 named the person
  std::string insuplc_admdvs;  // the person's insured area, when known
  bool acct_auth = false;      // e-voucher: the patient allowed the account on the phone
  std::int64_t expires_at_ms = 0;  // e-voucher: its token's end (0: none)
};

// The identity a flow acts on: the credential held, as the flows name it.
struct HeldIdentity {
  flow::CertType cert_type = flow::CertType::card;
  std::string cert_no;         // the card number, the e-voucher's token or the ID number
  bool acct_auth = false;      // e-voucher: the account authorised on the phone
  std::string insuplc_admdvs;  // the person's insured area when known
};
struct WindowSession;
HeldIdentity identity_of(const WindowSession& ws);

// The person of the window's credential as far as it could be had now.
struct WindowPerson {
  std::string psn_no;              // empty: not had
  bool unanswered = false;         // the insurer did not answer the question (1101)
  std::optional<Reply> refusal = {};  // why it was not had, for the cashier
};

// State bound to one cashier connection (one window). It holds one
// credential at a time: card.read, credential.scan and credential.id each
// replace whatever was held before (with its PIN and person).
struct WindowSession {
  std::optional<reader::CardIdentity> card;    // the card read on this connection
  std::optional<HeldCredential> credential;    // or the e-voucher / ID number given instead
  bool pin_verified = false;                   // for card->card_sn
  std::optional<PersonView> person;            // from 1101 for that credential
  bool holds_any() const { return card.has_value() || credential.has_value(); }
};

class ChainKeeper;

struct ServiceParts {
  const Config& config;
  const Policy& policy;
  ledger::Ledger& ledger;
  InsurerGateway& gateway;
  reader::CardService& cards;
  const reader::ReaderWatcher& watcher;  // readers and cards as last seen
  asio::thread_pool& card_pool;  // blocking PC/SC calls
  asio::thread_pool& db_pool;    // ledger reads
  Metrics& metrics;
  redlist::Store* redlist = nullptr;        // the local red list; none: every offline settlement is self-pay
  RedlistSyncer* redlist_syncer = nullptr;  // redlist.sync (nullable)
  ChainKeeper* chain = nullptr;             // checkpoints at close-outs and reconciliations (nullable)
  const LiveWork* work = nullptr;           // the open work as last committed (engine.status)
  const NoticeBook* notices = nullptr;      // the patient notices in force (replaced on reload; nullable)
};

class Service final : public cashier::Dispatcher {
  friend class CallSeams;  // the flows' seams for one cashier call (call_seams.hpp)

 public:
  Service(asio::io_context& ioc, ServiceParts parts);

  void dispatch(const cashier::SessionInfo& session, cashier::Call call, cashier::Completion done) override;
  void session_ended(std::uint64_t connection_id) override;

  // The line's state (fed by the gateway and the probe).
  void on_line_outcome(LineOutcome o, std::int64_t sent_at_ms);
  NetworkState network() const { return network_.state(); }
  // Why the line takes no online work, for an offline settlement made because of it.
  OfflineCause line_cause() const;
  // Called when a money call's outcome cannot be made durable: the daemon must
  // stop so that start-up recovery reverses the call (main exits non-zero).
  std::function<void()> on_fatal;
  // Called when the line's state changes (network.changed notifications).
  std::function<void(NetworkState)> on_network_changed;
  // A new item on the insurance office's work list (work.added notifications
  // to connections subscribed to "work").
  std::function<void(json::Json item)> on_work_added;
  // A call the cashier server refused itself, or a refused login, in the
  // audit trail (queued).
  void audit_refusal(const cashier::SessionInfo& session, std::string_view method, const Error& e,
                     std::string_view operator_given);
  // Sends a notification to one cashier connection (redlist.progress).
  std::function<void(std::uint64_t connection_id, std::string method, json::Json params)> notify_connection;

  // Store-and-forward (forwarder.cpp; docs/offline.md, "One owner").
  // Start-up: every message sent without a recorded outcome is in doubt;
  // money-moving ones get their reversal queued. Returns how many.
  awaitable<Result<std::int64_t>> recover();
  // The line worker, until `stop()`: while offline it probes the insurer
  // (9001 sign-in); otherwise it forwards queued reversals (with backoff
  // until each is acknowledged) and then offline settlements, oldest first;
  // a draining line goes back online once nothing is left.
  awaitable<void> run_line();
  // Forwards due reversals now; returns how many are left.
  awaitable<std::int64_t> flush_reversals();
  // Forwards due offline settlements now (9302 batches, oldest first), unless
  // a reversal is still pending; returns how many are left (-1: storage error).
  awaitable<std::int64_t> flush_uploads();
  // Forwards the stays' items (admissions, batches of lines, cancellations,
  // offline discharges) in order within each stay, unless a reversal is
  // pending; returns how many are open (-1: storage error).
  awaitable<std::int64_t> flush_stay_items();
  // The person of a stay admitted by card alone (1101), into w.call (psn_no,
  // insutype) when the insurer names one; else why not (unreachable/refused).
  awaitable<flow::InsurerReply> stay_person(ledger::StayWork& w);
  void stop();

 private:
  awaitable<Reply> handle(cashier::SessionInfo session, cashier::Call call);
  void record_line_outage(NetworkState now);

  awaitable<Reply> engine_status();
  awaitable<Reply> card_read(const cashier::SessionInfo& s, const cashier::CardReadParams& p);
  // credential.scan and credential.id (credentials.cpp).
  awaitable<Reply> credential_scan(const cashier::SessionInfo& s, const cashier::CredentialScanParams& p);
  awaitable<Reply> credential_id(const cashier::SessionInfo& s, const cashier::CredentialIdParams& p);
  // The answer of card.read and the credential methods: who is at the window, masked.
  json::Json held_json(const WindowSession& ws, const std::optional<PersonView>& person) const;
  // Holds `held` at the window instead of whatever was held, with its person
  // from the insurer (1101); nothing is held when the insurer names none.
  awaitable<Reply> hold_credential(const cashier::SessionInfo& s, HeldCredential held);
  awaitable<Reply> verify_pin(const cashier::SessionInfo& s, cashier::VerifyPinParams p);
  awaitable<Reply> person_query(const cashier::SessionInfo& s, const cashier::PersonQueryParams& p);
  awaitable<Reply> account_history(const cashier::SessionInfo& s, const cashier::AccountHistoryParams& p);
  awaitable<Reply> settle_preview(const cashier::SessionInfo& s, const cashier::SettlePreviewParams& p);
  awaitable<Reply> settle_commit(const cashier::SessionInfo& s, const cashier::Call& call,
                                 const cashier::SettleCommitParams& p);
  awaitable<Reply> settle_refund(const cashier::SessionInfo& s, const cashier::Call& call,
                                 const cashier::SettleRefundParams& p);
  awaitable<Reply> settle_resettle(const cashier::SessionInfo& s, const cashier::Call& call,
                                   const cashier::SettleResettleParams& p);
  awaitable<Reply> settle_get(const cashier::SessionInfo& s, const cashier::SettleGetParams& p);
  awaitable<Reply> settle_list(const cashier::SessionInfo& s, const cashier::SettleListParams& p);
  awaitable<Reply> audit_list(const cashier::AuditListParams& p);
  // The office's day (office.cpp): close-outs, corrections, the work list.
  awaitable<Reply> closeout_preview(const cashier::SessionInfo& s, const cashier::CloseoutPreviewParams& p);
  awaitable<Reply> closeout_record(const cashier::SessionInfo& s, const cashier::CloseoutRecordParams& p);
  awaitable<Reply> closeout_get(const cashier::SessionInfo& s, const cashier::CloseoutGetParams& p);
  awaitable<Reply> closeout_list(const cashier::SessionInfo& s, const cashier::CloseoutListParams& p);
  awaitable<Reply> closeout_sheet(const cashier::SessionInfo& s, const cashier::CloseoutSheetParams& p);
  awaitable<Reply> correction_record(const cashier::SessionInfo& s, const cashier::CorrectionRecordParams& p);
  awaitable<Reply> correction_decide(const cashier::SessionInfo& s, std::int64_t id, bool approve,
                                     const std::string& note);
  awaitable<Reply> correction_list(const cashier::CorrectionListParams& p);
  awaitable<Reply> work_list();
  awaitable<Reply> outage_list(const cashier::OutageListParams& p);
  awaitable<Reply> outage_get(const cashier::OutageGetParams& p);
  awaitable<Reply> outage_note(const cashier::SessionInfo& s, const cashier::OutageNoteParams& p);
  awaitable<Reply> outage_record(const cashier::SessionInfo& s, const cashier::OutageRecordParams& p);
  awaitable<Reply> notice_get(const cashier::NoticeGetParams& p);  // notice_get.cpp
  // reentry.cpp: the paper emergency ledger's re-entry (docs/reentry.md).
  awaitable<Reply> reentry_record(const cashier::SessionInfo& s, const cashier::ReentryRecordParams& p);
  awaitable<Reply> reentry_decide(const cashier::SessionInfo& s, std::int64_t id, bool approve, const std::string& note);
  awaitable<Reply> reentry_list(const cashier::ReentryListParams& p);
  awaitable<Reply> reentry_get(const cashier::SessionInfo& s, const cashier::ReentryGetParams& p);
  // The close-out of a recorded id or the session's own preview (answer JSON).
  awaitable<Reply> closeout_of(const cashier::SessionInfo& s, const std::optional<std::string>& closeout_id);
  // Announces a new work item (event and metric).
  void work_added(std::string_view kind, json::Json item);
  awaitable<Reply> settle_sheet(const cashier::SessionInfo& s, const cashier::SettleSheetParams& p);
  // An entry of the audit trail, queued (not waited for).
  void queue_audit(ledger::AuditEntry entry);
  awaitable<Reply> uploads_flush(const cashier::SessionInfo& s);
  // Inpatient (stay_flow.cpp).
  awaitable<Reply> inpatient_admit(const cashier::SessionInfo& s, const cashier::Call& call,
                                   const cashier::InpatientAdmitParams& p);
  awaitable<Reply> inpatient_lines(const cashier::SessionInfo& s, const cashier::Call& call, const std::string& request_id,
                                   const std::string& adm_id, const std::vector<flow::StayLine>& added,
                                   const std::vector<std::string>& cancelled);
  awaitable<Reply> inpatient_preview(const cashier::SessionInfo& s, const cashier::InpatientPreviewParams& p);
  awaitable<Reply> inpatient_discharge(const cashier::SessionInfo& s, const cashier::Call& call,
                                       const cashier::InpatientDischargeParams& p);
  awaitable<Reply> inpatient_undo_discharge(const cashier::SessionInfo& s, const cashier::Call& call,
                                            const cashier::InpatientUndoDischargeParams& p);
  awaitable<Reply> inpatient_undo_admit(const cashier::SessionInfo& s, const cashier::Call& call,
                                        const cashier::InpatientUndoAdmitParams& p);
  awaitable<Reply> inpatient_get(const cashier::SessionInfo& s, const cashier::InpatientGetParams& p);
  awaitable<Reply> inpatient_list(const cashier::SessionInfo& s, const cashier::InpatientListParams& p);
  // The person the insurer (or the red list) named for the window's
  // credential: the window's, else asked now (1101 for the session's
  // credential, kept for the flow); empty when not had.
  awaitable<WindowPerson> window_person(const cashier::SessionInfo& s);
  // The stay `adm_id` names, read under its lock (`with_lines`: its live lines);
  // else `refusal` (NOT_FOUND is the request's final answer when there is one).
  awaitable<std::optional<flow::StayView>> stay_of(const std::string& adm_id, bool with_lines, const std::string& request_id,
                                                   Reply& refusal);
  // Parked outbox items (forwarder.cpp): list, a supervisor's retry and resolve.
  awaitable<Reply> outbox_parked(const cashier::SessionInfo& s);
  awaitable<Reply> outbox_retry(const cashier::SessionInfo& s, const cashier::OutboxRetryParams& p);
  awaitable<Reply> outbox_resolve(const cashier::SessionInfo& s, const cashier::OutboxResolveParams& p);

  // The red list's entry for a card as a person (nullopt: not on the list).
  awaitable<std::optional<PersonView>> redlist_person(const std::string& card_no);
  // The same from a lookup already made (the card check's, call_seams.cpp).
  std::optional<PersonView> redlist_view(const std::string& card_no,
                                         const Result<std::optional<redlist::Entry>>& found) const;
  // Logs and announces a change of the line's state.
  void network_moved(std::optional<NetworkState> changed);
  awaitable<Reply> redlist_sync(const cashier::SessionInfo& s, const cashier::RedlistSyncParams& p);  // service_redlist.cpp
  // recon.run (tools/settled/recon.cpp).
  awaitable<Reply> recon_run(const cashier::SessionInfo& s, const cashier::ReconRunParams& p);

  // 1101 for the session's credential (cached for a short while); on failure
  // `refusal` is the answer for the cashier (with the insurer's infcode).
  // With `deadline_at_ms`, the 1101 answers by then (else the red list, as unanswered).
  awaitable<std::optional<PersonView>> person_of(const cashier::SessionInfo& s, bool refresh, Reply& refusal,
                                                 std::optional<std::int64_t> deadline_at_ms = std::nullopt);
  // The request log: nullopt = go ahead (the request is this process's now);
  // a Reply = answer with it (replay, conflict, or still running).
  awaitable<std::optional<Reply>> claim_request(const cashier::Call& call, const cashier::SessionInfo& s);
  void release_request(const std::string& request_id);
  // The original of a refund or re-settlement with its refunds; else
  // `refusal` (NOT_FOUND is the request's final answer).
  awaitable<std::optional<flow::OriginalView>> original_of(std::int64_t setl_id, const std::string& request_id,
                                                           Reply& refusal);
  // Stores `r` as the request's final answer (replayed for a repeated request_id) and returns it.
  awaitable<Reply> answer_final(const std::string& request_id, const Reply& r);
  // How a flow ended, for the cashier. A held record (a money call's outcome
  // the ledger refused) is written once more; if it still cannot be, the
  // request is held (never run again, a retry is answered IN_DOUBT) and the
  // daemon stops so that start-up recovery reverses the call.
  awaitable<Reply> flow_answer(const flow::Outcome& o, const std::string& request_id,
                               AnswerShape shape = AnswerShape::resettle);

  WindowSession& session_of(std::uint64_t connection_id) { return sessions_[connection_id]; }

  asio::io_context& ioc_;
  ServiceParts p_;
  std::map<std::uint64_t, WindowSession> sessions_;
  std::set<std::string> running_requests_;
  std::set<std::string> held_requests_;          // outcome not durable: never run again (flow_answer)
  std::set<std::int64_t> changing_settlements_;  // a refund or re-settlement of each is running
  std::set<std::int64_t> changing_stays_;        // a request that changes each stay is running
  std::set<std::string> admitting_;             // an admission of each credential and person is running
  ledger::FlowConventions conventions_;          // how the flows' answers and receipts are written
  ledger::FlowConventions refund_conventions_;   // the same, a settlement with an undo answered as a refund
  HomeArea home_;                                // the hospital's areas (cross_region)
  NetworkStateMachine network_;
  bool stopping_ = false;
  asio::steady_timer reversal_wakeup_;
  std::int64_t last_probe_ms_ = 0;
  bool uploads_running_ = false;  // one flush_uploads at a time: one 9302 batch at the insurer
  bool stays_running_ = false;    // one flush_stay_items at a time
  // After a 9302 batch refused whole: the uploads up to this outbox item go
  // one at a time (0: whole batches), so that only the one the insurer
  // refuses alone is parked (forwarder.cpp).
  std::int64_t lone_uploads_through_ = 0;
};

// Whether the session may read this settlement: every role but a cashier;
// a cashier, one made at its window or refunded there.
bool cashier_sees(const cashier::SessionInfo& s, const ledger::SettlementDetail& d);

// The canonical payload hash of a mutating request (request_id idempotency).
std::string payload_hash(std::string_view method, std::string_view canonical);

}  // namespace settle::daemon
