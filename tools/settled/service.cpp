// The settlement service's queries and window operations: engine status,
// card read and PIN, person and account queries, preview, get and list; the
// request log (idempotency) shared by the money-moving methods, which live in
// settle_flow.cpp.
#include "tools/settled/service.hpp"

#include "offline/digest.hpp"
#include "offline/flow_ledger.hpp"
#include "offline/ledger_ops.hpp"
#include "protocol/cashier/mask.hpp"
#include "protocol/cashier/version.hpp"
#include "protocol/engine_json.hpp"
#include "tools/settled/call_audit.hpp"
#include "tools/settled/clock.hpp"
#include "tools/settled/closeout_doc.hpp"
#include "tools/settled/records.hpp"
#include "tools/settled/replies.hpp"
#include "tools/settled/service_redlist.hpp"
#include "tools/settled/sheet.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace settle::daemon {

using json::Json;

namespace {

// How long a 1101 answer is reused within one window session before asking again.
constexpr std::int64_t person_cache_ms = 120'000;

}  // namespace

std::string payload_hash(std::string_view method, std::string_view canonical) {
  return digest::sha256_hex(fmt::format("{}\n{}", method, canonical));
}

HeldIdentity identity_of(const WindowSession& ws) {
  HeldIdentity id;
  if (ws.card) {
    id.cert_type = flow::CertType::card;
    id.cert_no = ws.card->card_no;
  } else if (ws.credential) {
    id.cert_type = ws.credential->kind == CredentialKind::e_voucher ? flow::CertType::ec_voucher : flow::CertType::id_no;
    id.cert_no = ws.credential->cert_no;
    id.acct_auth = ws.credential->acct_auth;
    id.insuplc_admdvs = ws.credential->insuplc_admdvs;
  }
  if (ws.person && !ws.person->insu.insuplc_admdvs.empty()) id.insuplc_admdvs = ws.person->insu.insuplc_admdvs;
  return id;
}

Person PersonView::engine_person() const {
  return Person{insu.insutype, insu.flags, insu.balc, insu.deductible_used, insu.fund_paid_ytd};
}

Service::Service(asio::io_context& ioc, ServiceParts parts)
    : ioc_(ioc),
      p_(parts),
      network_(parts.config.network.failures_to_offline, now_ms()),
      reversal_wakeup_(ioc) {
  // The flows' answers are stored as the cashier API words them; an online
  // settlement's receipt number is its 2207 msgid's sequence, an offline
  // one's a number of its own (never sent).
  home_ = HomeArea{parts.config.institution.area, parts.config.institution.insurer_area};
  conventions_.answer_text = [home = home_](const flow::Answer& a) { return answer_text(reply_of(a, home)); };
  conventions_.clearing_date = [](std::int64_t at) { return clearing_date(at); };
  conventions_.receipt_no = [gateway = &p_.gateway](const flow::SettlementRecord& r) {
    if (r.mode == Mode::online) return receipt_no_of(r.msgid);
    return "F" + gateway->next_msgid().substr(12);
  };
  refund_conventions_ = conventions_;
  refund_conventions_.answer_text = [home = home_](const flow::Answer& a) {
    return answer_text(reply_of(a, home, AnswerShape::refund));
  };
}

void Service::dispatch(const cashier::SessionInfo& session, cashier::Call call, cashier::Completion done) {
  asio::co_spawn(
      ioc_,
      [this, session, call = std::move(call), done]() mutable -> awaitable<void> {
        const auto started = std::chrono::steady_clock::now();
        const std::string method(cashier::method_name(call.method));
        // What the audit keeps of the params (ids and a line; never a PIN).
        const auto seed = call_audit_seed(call.method, call.params);
        Reply reply = co_await handle(session, std::move(call));
        p_.metrics.request(method, std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::steady_clock::now() - started)
                                       .count());
        if (seed) queue_audit(call_audit_entry(session, *seed, reply, now_ms()));
        done(std::move(reply));
      },
      [](const std::exception_ptr& e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::critical("service: unexpected exception: {}", ex.what());
        }
      });
}

void Service::session_ended(std::uint64_t connection_id) { sessions_.erase(connection_id); }

void Service::audit_refusal(const cashier::SessionInfo& session, std::string_view method, const Error& e,
                            std::string_view operator_given) {
  ledger::AuditEntry entry;
  entry.at_ms = now_ms();
  entry.operator_name = session.logged_in ? session.operator_name : std::string(operator_given.substr(0, 64));
  entry.window = session.window;
  entry.source = session.source;
  entry.action = std::string(method);
  entry.outcome = std::string(reason_name(e.reason));
  entry.detail = cashier::clean_foreign_text(e.message, 300);
  queue_audit(std::move(entry));
}

// Queued before the answer goes out and written by the ledger's group
// commit: the window does not wait for it. An entry that cannot be written
// is logged and counted (settled_audit_failures_total). An audit row changes
// no figure LiveWork keeps (open work, the offline outstanding): untracked.
void Service::queue_audit(ledger::AuditEntry entry) {
  auto job = [entry = std::move(entry)](sql::Db& db) { return ledger::append_audit(db, entry); };
  ledger_write_detached(
      p_.ledger, std::move(job),
      [metrics = &p_.metrics](const sql::DbError& e) {
        metrics->audit_failed();
        spdlog::error("audit: an entry could not be written: {}", e.message);
      },
      ledger::Writer::Touches::untracked);
}

void Service::on_line_outcome(LineOutcome o, std::int64_t sent_at_ms) {
  network_moved(network_.on_outcome(o, now_ms(), sent_at_ms));
}

awaitable<Reply> Service::handle(cashier::SessionInfo session, cashier::Call call) {
  using cashier::Method;
  switch (call.method) {
    case Method::engine_status: co_return co_await engine_status();
    case Method::card_read:
      co_return co_await card_read(session, std::get<cashier::CardReadParams>(call.params));
    case Method::credential_scan:
      co_return co_await credential_scan(session, std::get<cashier::CredentialScanParams>(call.params));
    case Method::credential_id:
      co_return co_await credential_id(session, std::get<cashier::CredentialIdParams>(call.params));
    case Method::card_verify_pin:
      co_return co_await verify_pin(session, std::get<cashier::VerifyPinParams>(std::move(call.params)));
    case Method::person_query:
      co_return co_await person_query(session, std::get<cashier::PersonQueryParams>(call.params));
    case Method::account_history:
      co_return co_await account_history(session, std::get<cashier::AccountHistoryParams>(call.params));
    case Method::settle_preview:
      co_return co_await settle_preview(session, std::get<cashier::SettlePreviewParams>(call.params));
    case Method::settle_commit: {
      const auto params = std::get<cashier::SettleCommitParams>(call.params);
      co_return co_await settle_commit(session, call, params);
    }
    case Method::settle_refund: {
      const auto params = std::get<cashier::SettleRefundParams>(call.params);
      co_return co_await settle_refund(session, call, params);
    }
    case Method::settle_resettle: {
      const auto params = std::get<cashier::SettleResettleParams>(call.params);
      co_return co_await settle_resettle(session, call, params);
    }
    case Method::uploads_flush: co_return co_await uploads_flush(session);
    case Method::settle_get: co_return co_await settle_get(session, std::get<cashier::SettleGetParams>(call.params));
    case Method::settle_list:
      co_return co_await settle_list(session, std::get<cashier::SettleListParams>(call.params));
    case Method::recon_run: {
      const auto params = std::get<cashier::ReconRunParams>(call.params);
      co_return co_await recon_run(session, params);
    }
    case Method::inpatient_admit: {
      const auto params = std::get<cashier::InpatientAdmitParams>(call.params);
      co_return co_await inpatient_admit(session, call, params);
    }
    case Method::inpatient_add_lines: {
      const auto params = std::get<cashier::InpatientAddLinesParams>(call.params);
      std::vector<flow::StayLine> added;
      for (const auto& l : params.lines) added.push_back(flow::StayLine{l.feedetl_sn, l.line});
      const std::vector<std::string> none;
      co_return co_await inpatient_lines(session, call, params.request_id, params.adm_id, added, none);
    }
    case Method::inpatient_cancel_lines: {
      const auto params = std::get<cashier::InpatientCancelLinesParams>(call.params);
      const std::vector<flow::StayLine> none;
      co_return co_await inpatient_lines(session, call, params.request_id, params.adm_id, none, params.feedetl_sn);
    }
    case Method::inpatient_preview:
      co_return co_await inpatient_preview(session, std::get<cashier::InpatientPreviewParams>(call.params));
    case Method::inpatient_discharge: {
      const auto params = std::get<cashier::InpatientDischargeParams>(call.params);
      co_return co_await inpatient_discharge(session, call, params);
    }
    case Method::inpatient_undo_discharge: {
      const auto params = std::get<cashier::InpatientUndoDischargeParams>(call.params);
      co_return co_await inpatient_undo_discharge(session, call, params);
    }
    case Method::inpatient_undo_admit: {
      const auto params = std::get<cashier::InpatientUndoAdmitParams>(call.params);
      co_return co_await inpatient_undo_admit(session, call, params);
    }
    case Method::inpatient_get: co_return co_await inpatient_get(session, std::get<cashier::InpatientGetParams>(call.params));
    case Method::inpatient_list:
      co_return co_await inpatient_list(session, std::get<cashier::InpatientListParams>(call.params));
    case Method::redlist_sync:
      co_return co_await redlist_sync(session, std::get<cashier::RedlistSyncParams>(call.params));
    case Method::outbox_parked: co_return co_await outbox_parked(session);
    case Method::outbox_retry:
      co_return co_await outbox_retry(session, std::get<cashier::OutboxRetryParams>(call.params));
    case Method::outbox_resolve:
      co_return co_await outbox_resolve(session, std::get<cashier::OutboxResolveParams>(call.params));
    case Method::audit_list: co_return co_await audit_list(std::get<cashier::AuditListParams>(call.params));
    case Method::closeout_preview:
      co_return co_await closeout_preview(session, std::get<cashier::CloseoutPreviewParams>(call.params));
    case Method::closeout_record:
      co_return co_await closeout_record(session, std::get<cashier::CloseoutRecordParams>(call.params));
    case Method::closeout_get:
      co_return co_await closeout_get(session, std::get<cashier::CloseoutGetParams>(call.params));
    case Method::closeout_list:
      co_return co_await closeout_list(session, std::get<cashier::CloseoutListParams>(call.params));
    case Method::closeout_sheet:
      co_return co_await closeout_sheet(session, std::get<cashier::CloseoutSheetParams>(call.params));
    case Method::correction_record:
      co_return co_await correction_record(session, std::get<cashier::CorrectionRecordParams>(call.params));
    case Method::correction_approve: {
      const auto params = std::get<cashier::CorrectionApproveParams>(call.params);
      co_return co_await correction_decide(session, params.correction_id, true, params.note);
    }
    case Method::correction_refuse: {
      const auto params = std::get<cashier::CorrectionRefuseParams>(call.params);
      co_return co_await correction_decide(session, params.correction_id, false, params.note);
    }
    case Method::correction_list:
      co_return co_await correction_list(std::get<cashier::CorrectionListParams>(call.params));
    case Method::work_list: co_return co_await work_list();
    case Method::outage_list: co_return co_await outage_list(std::get<cashier::OutageListParams>(call.params));
    case Method::outage_get: co_return co_await outage_get(std::get<cashier::OutageGetParams>(call.params));
    case Method::outage_note:
      co_return co_await outage_note(session, std::get<cashier::OutageNoteParams>(call.params));
    case Method::outage_record:
      co_return co_await outage_record(session, std::get<cashier::OutageRecordParams>(call.params));
    case Method::reentry_record:
      co_return co_await reentry_record(session, std::get<cashier::ReentryRecordParams>(call.params));
    case Method::reentry_approve: {
      const auto d = std::get<cashier::ReentryApproveParams>(call.params);
      co_return co_await reentry_decide(session, d.batch_id, true, d.note);
    }
    case Method::reentry_refuse: {
      const auto d = std::get<cashier::ReentryRefuseParams>(call.params);
      co_return co_await reentry_decide(session, d.batch_id, false, d.note);
    }
    case Method::reentry_list: co_return co_await reentry_list(std::get<cashier::ReentryListParams>(call.params));
    case Method::reentry_get:
      co_return co_await reentry_get(session, std::get<cashier::ReentryGetParams>(call.params));
    case Method::settle_sheet:
      co_return co_await settle_sheet(session, std::get<cashier::SettleSheetParams>(call.params));
    case Method::notice_get: co_return co_await notice_get(std::get<cashier::NoticeGetParams>(call.params));
    case Method::session_login:
    case Method::session_logout:
    case Method::session_change_password:
    case Method::events_subscribe:
    case Method::operator_list:
    case Method::operator_add:
    case Method::operator_reset_password:
    case Method::operator_unlock:
    case Method::operator_set_role:
    case Method::operator_disable:
    case Method::operator_enable:
    case Method::session_list:
      break;  // the server answers these itself
  }
  co_return fail(Reason::internal, "method", "method not dispatched");
}

// ---- engine.status ---------------------------------------------------------------

OfflineCause Service::line_cause() const {
  return p_.gateway.clock_skew().refusing() ? OfflineCause::clock_skew : OfflineCause::network_down;
}

namespace {

// The insurer's clock less ours, in seconds, as last measured; null before any reply.
Json clock_skew_json(const ClockSkew& c) {
  if (const auto off = c.offset_s()) return *off;
  return nullptr;
}

}  // namespace

awaitable<Reply> Service::engine_status() {
  // From memory only: the line's state, the open work as counted after the
  // ledger's last commit, the red list's info and the readers as last seen.
  // It may be asked before a login, and is never a read of the ledger.
  SETTLE_ASSERT(p_.work != nullptr);
  const ledger::OpenWork work = p_.work->get();
  Json readers = Json::array();
  for (const reader::ReaderStatus& r : p_.watcher.snapshot())
    readers.push_back(Json{{"window", r.window},
                           {"reader", r.reader},
                           {"reader_present", r.reader_present},
                           {"card_present", r.card_present}});
  co_return Reply::ok(Json{{"api_version", cashier::api_version},
                           {"network", network_state_name(network_.state())},
                           {"since", iso_time(network_.since_ms())},
                           {"pending_reversals", work.pending_reversals},
                           {"pending_uploads", work.pending_uploads},
                           {"in_doubt", work.in_doubt},
                           {"parked_reversals", work.parked_reversals},
                           {"parked_uploads", work.parked_uploads},
                           {"redlist_version", redlist_version_json(p_.redlist)},
                           {"redlist_age_s", redlist_age_json(p_.redlist, now_ms())},
                           {"storage_encrypted", p_.ledger.encrypted()},
                           {"clock_skew", clock_skew_state_name(p_.gateway.clock_skew().state())},
                           {"clock_skew_s", clock_skew_json(p_.gateway.clock_skew())},
                           {"readers", readers}});
}

// ---- card.read / card.verify_pin ---------------------------------------------------

awaitable<Reply> Service::card_read(const cashier::SessionInfo& s, const cashier::CardReadParams& p) {
  const std::string window = s.window;
  const auto wait = std::chrono::milliseconds(std::min<std::int64_t>(p.timeout_ms, p_.config.max_card_wait_ms));
  auto job2 = [this, window, wait] { return p_.cards.read_card(window, wait); };
  auto card = co_await on_pool(p_.card_pool, std::move(job2));
  WindowSession& ws = session_of(s.connection_id);
  if (!card) {
    ws = WindowSession{};  // whatever was read before is no longer at the window
    co_return fail(card.error());
  }
  // The same card again keeps its PIN and person; anything else held is replaced.
  const bool same_card = ws.card && ws.card->card_sn == card->card_sn;
  if (!same_card) ws = WindowSession{};
  ws.card = *card;
  spdlog::info("window {}: card {} read", window, cashier::mask_card_no(card->card_no));
  co_return Reply::ok(held_json(ws, std::nullopt));
}

Json Service::held_json(const WindowSession& ws, const std::optional<PersonView>& person) const {
  // The insured area: the insurer's word when it was asked, else the one the
  // credential carried, else this hospital's insurer's.
  std::string area = p_.config.institution.insurer_area;
  if (ws.credential && !ws.credential->insuplc_admdvs.empty()) area = ws.credential->insuplc_admdvs;
  if (person && !person->insu.insuplc_admdvs.empty()) area = person->insu.insuplc_admdvs;
  if (ws.card) {
    const reader::CardIdentity& card = *ws.card;
    return Json{{"cert_type", "card"},
                {"card_no", card.card_no},
                {"card_sn", card.card_sn},
                {"psn_name", card.name},
                {"id_no_masked", cashier::mask_id_no(card.id_no)},
                {"insuplc_admdvs", area}};
  }
  SETTLE_ASSERT(ws.credential.has_value());
  const HeldCredential& c = *ws.credential;
  Json out{{"cert_type", credential_kind_name(c.kind)},
           {"card_no", nullptr},
           {"psn_name", person ? person->base.psn_name : c.psn_name},
           {"id_no_masked", cashier::mask_id_no(c.id_no)},
           {"insuplc_admdvs", area},
           {"acct_auth", c.acct_auth}};
  if (person) {
    out["psn_no"] = person->base.psn_no;
    out["insutype"] = person->insu.insutype;
  }
  return out;
}

awaitable<Reply> Service::verify_pin(const cashier::SessionInfo& s, cashier::VerifyPinParams p) {
  WindowSession& ws = session_of(s.connection_id);
  if (!ws.card)
    co_return fail(Reason::card_absent, "card", "read the card first (card.read), then verify its PIN");
  const std::string window = s.window;
  const std::string card_sn = ws.card->card_sn;
  Result<reader::PinVerdict> verdict = make_error(Reason::internal, "", "");
  if (p.pinpad) {
    auto job3 = [this, window, card_sn]() -> Result<reader::PinVerdict> {
      if (Status same = p_.cards.check_same_card(window, card_sn); !same) return same.error();
      return p_.cards.verify_pin_on_pinpad(window);
    };
    verdict = co_await on_pool(p_.card_pool, std::move(job3));
  } else {
    auto pin = reader::Pin::take(*p.pin);  // wipes the request's copy
    if (!pin) co_return fail(pin.error());
    auto job4 = [this, window, card_sn, pin = std::make_shared<reader::Pin>(std::move(*pin))]() mutable
                               -> Result<reader::PinVerdict> {
                                 if (Status same = p_.cards.check_same_card(window, card_sn); !same) return same.error();
                                 return p_.cards.verify_pin(window, std::move(*pin));
                               };
    verdict = co_await on_pool(p_.card_pool,
                               std::move(job4));
  }
  WindowSession& after = session_of(s.connection_id);
  if (!verdict) {
    if (verdict.error().reason == Reason::card_mismatch || verdict.error().reason == Reason::card_removed ||
        verdict.error().reason == Reason::card_absent)
      after = WindowSession{};
    co_return fail(verdict.error());
  }
  switch (verdict->kind) {
    case reader::PinVerdict::Kind::verified:
      after.pin_verified = true;
      co_return Reply::ok(Json{{"verified", true}});
    case reader::PinVerdict::Kind::wrong:
      after.pin_verified = false;
      co_return Reply::fail(make_error(Reason::pin_wrong, "pin",
                                       verdict->retries_left >= 0
                                           ? fmt::format("wrong PIN; {} tries left", verdict->retries_left)
                                           : std::string("wrong PIN")),
                            Json{{"retries_left", verdict->retries_left >= 0 ? Json(verdict->retries_left) : Json(nullptr)}});
    case reader::PinVerdict::Kind::blocked:
      after.pin_verified = false;
      co_return fail(Reason::pin_blocked, "pin",
                     "the card's PIN is blocked; settle without the personal account, or unblock it at the issuing office");
  }
  co_return fail(Reason::internal, "pin", "unknown PIN verdict");
}

// ---- person.query / account.history ---------------------------------------------------

awaitable<std::optional<PersonView>> Service::person_of(const cashier::SessionInfo& s, bool refresh, Reply& refusal,
                                                        std::optional<std::int64_t> deadline_at_ms) {
  WindowSession& ws = session_of(s.connection_id);
  if (!ws.holds_any()) {
    refusal = fail(Reason::card_absent, "card",
                   "read the card (card.read), or give the e-voucher (credential.scan) or the ID number (credential.id) first");
    co_return std::nullopt;
  }
  const std::optional<reader::CardIdentity> card = ws.card;
  const std::optional<HeldCredential> held = ws.credential;
  // The line is down: the red list answers (no cashier waits on the dead line).
  // It lists cards: an e-voucher or an ID number is answered online only.
  const auto from_redlist = [&](const Error& why) -> awaitable<std::optional<PersonView>> {
    if (!card) {
      refusal = fail(why.reason, why.field,
                     fmt::format("{}; without the card the person is known only to the insurer (the red list is by "
                                 "card): read the card, or wait for the line",
                                 why.message));
      co_return std::nullopt;
    }
    auto v = co_await redlist_person(card->card_no);
    if (!v) {
      refusal = fail(why.reason, why.field,
                     fmt::format("{}; card {} is not on the local red list", why.message, cashier::mask_card_no(card->card_no)));
      co_return std::nullopt;
    }
    v->base.psn_name = card->name;
    co_return v;
  };
  if (!network_.accepts_online_work()) {
    const Error why = make_error(Reason::insurer_unreachable, "insurer",
                                 fmt::format("the insurer is {}", network_state_name(network_.state())));
    co_return co_await from_redlist(why);
  }
  if (!refresh && ws.person && !ws.person->from_redlist && now_ms() - ws.person->as_of_ms < person_cache_ms)
    co_return ws.person;
  insurer::PersonInfo::Input in;
  if (card) {
    in.mdtrt_cert_type = std::string(insurer::cert_type_card);
    in.mdtrt_cert_no = card->card_no;
    in.card_sn = card->card_sn;
    in.certno = card->id_no;
    in.psn_name = card->name;
  } else if (held->kind == CredentialKind::id_no) {
    in.mdtrt_cert_type = std::string(insurer::cert_type_id_no);
    in.mdtrt_cert_no = held->cert_no;
    in.certno = held->id_no;
  } else {
    // The e-voucher's token, good for a few minutes from its decode (9401).
    if (held->expires_at_ms != 0 && now_ms() >= held->expires_at_ms) {
      refusal = fail(Reason::invalid_state, "credential",
                     "the e-voucher's token has expired; scan the patient's code again (credential.scan)");
      co_return std::nullopt;
    }
    in.mdtrt_cert_type = std::string(insurer::cert_type_ec);
    in.mdtrt_cert_no = held->cert_no;
    in.certno = held->id_no;
  }
  CallSpec spec;
  spec.infno = std::string(insurer::PersonInfo::infno);
  spec.input = in.encode();
  spec.opter = s.operator_name;
  spec.opter_name = s.operator_name;
  std::int64_t timeout = p_.config.network.offline_deadline_ms;
  if (deadline_at_ms) timeout = std::min(timeout, *deadline_at_ms - now_ms());
  if (timeout <= 0) {
    const Error why = make_error(Reason::insurer_unreachable, "insurer", "no time left for the person query (1101)");
    co_return co_await from_redlist(why);
  }
  spec.timeout_ms = static_cast<std::uint32_t>(timeout);
  const CallResult r = co_await p_.gateway.call(std::move(spec));
  p_.metrics.insurer_call("1101", outcome_label(r), r.elapsed_ms * 1000LL);
  if (!r.answered()) {
    const Error why = unanswered_error(r);
    co_return co_await from_redlist(why);
  }
  if (!r.succeeded()) {
    refusal = rejected_reply(r);
    co_return std::nullopt;
  }
  auto out = insurer::PersonInfo::Output::decode(r.response->output);
  if (!out) {
    refusal = fail(Reason::insurer_rejected, "output", fmt::format("insurer's 1101 reply: {}", out.error().message));
    co_return std::nullopt;
  }
  PersonView v;
  v.base = out->baseinfo;
  v.insu = out->insuinfo.front();
  v.as_of_ms = now_ms();
  // Kept only while the window still holds the same credential.
  WindowSession& after = session_of(s.connection_id);
  const bool same = card ? (after.card && after.card->card_sn == card->card_sn)
                         : (after.credential && after.credential->kind == held->kind &&
                            after.credential->cert_no == held->cert_no);
  if (same) after.person = v;
  co_return v;
}

awaitable<Reply> Service::person_query(const cashier::SessionInfo& s, const cashier::PersonQueryParams& p) {
  const WindowSession& ws = session_of(s.connection_id);
  if (p.card_no && (!ws.card || ws.card->card_no != *p.card_no))
    co_return fail(Reason::not_found, "card_no",
                   "person.query answers for the card read at this window; read that card first");
  Reply refusal;
  auto v = co_await person_of(s, true, refusal);
  if (!v) co_return refusal;
  Json flags = Json::array();
  for (auto n : v->insu.flags.names()) flags.push_back(n);
  co_return Reply::ok(Json{{"psn_no", v->base.psn_no},
                           {"psn_name", v->base.psn_name},
                           {"insutype", v->insu.insutype},
                           {"flags", flags},
                           // Offline the account's balance is not known (the red list does not
                           // carry it, and the account is not used offline): null, never "0.00".
                           {"balance", v->from_redlist ? Json(nullptr) : json::amount_value(v->insu.balc)},
                           {"balance_known", !v->from_redlist},
                           {"source", v->from_redlist ? "redlist" : "insurer"},
                           {"as_of", iso_time(v->as_of_ms)}});
}

awaitable<Reply> Service::account_history(const cashier::SessionInfo& s, const cashier::AccountHistoryParams& p) {
  const flow::InsurerProfile& profile = p_.config.insurer.profile;
  if (!profile.account_history)
    co_return fail(Reason::not_supported, "insurer",
                   fmt::format("account.history is not offered with the {} insurer profile: its interface has no account "
                               "history ({}); the patient asks the insurer's own service",
                               flow::profile_name(profile.name), insurer::AccountHistory::infno));
  const WindowSession& ws = session_of(s.connection_id);
  if (p.card_no && (!ws.card || ws.card->card_no != *p.card_no))
    co_return fail(Reason::not_found, "card_no", "account.history answers for the card read at this window");
  Reply refusal;
  auto v = co_await person_of(s, false, refusal);
  if (!v) co_return refusal;
  if (v->from_redlist)
    co_return fail(Reason::insurer_unreachable, "insurer", "account.history is answered online only; the insurer is unreachable");
  std::optional<std::int64_t> from;
  std::optional<std::int64_t> to;
  if (p.from) from = parse_iso_time(*p.from);
  if (p.to) to = parse_iso_time(*p.to);
  if (p.from && !from) co_return fail(Reason::invalid_request, "from", "from: expected a date or an ISO 8601 time with offset");
  if (p.to && !to) co_return fail(Reason::invalid_request, "to", "to: expected a date or an ISO 8601 time with offset");
  if (to && p.to->size() == 10) *to += 86'400'000;  // a plain date means the whole day
  insurer::AccountHistory::Input in;
  in.psn_no = v->base.psn_no;
  in.page_size = 100;
  CallSpec spec;
  spec.infno = std::string(insurer::AccountHistory::infno);
  spec.input = in.encode();
  spec.opter = s.operator_name;
  const CallResult r = co_await p_.gateway.call(std::move(spec));
  p_.metrics.insurer_call(insurer::AccountHistory::infno, outcome_label(r), r.elapsed_ms * 1000LL);
  if (!r.answered()) co_return fail(unanswered_error(r));
  if (!r.succeeded()) co_return rejected_reply(r);
  auto out = insurer::AccountHistory::Output::decode(r.response->output);
  if (!out)
    co_return fail(Reason::insurer_rejected, "output",
                   fmt::format("insurer's {} reply: {}", insurer::AccountHistory::infno, out.error().message));
  Json txs = Json::array();
  for (const auto& t : out->records) {
    // The insurer's times are its local time (UTC+8) "yyyy-MM-dd HH:mm:ss".
    std::string iso = t.time;
    if (iso.size() == 19) iso = iso.substr(0, 10) + "T" + iso.substr(11) + "+08:00";
    const auto at = parse_iso_time(iso);
    if (at && from && *at < *from) continue;
    if (at && to && *at >= *to) continue;
    Json row{{"time", iso}, {"kind", t.kind}, {"amount", json::amount_value(t.amount)},
             {"balance_after", json::amount_value(t.balc)}};
    if (!t.ref_id.empty()) row["setl_id"] = t.ref_id;
    txs.push_back(std::move(row));
  }
  co_return Reply::ok(Json{{"balance", json::amount_value(out->balc)}, {"transactions", txs}});
}

// ---- settle.preview ---------------------------------------------------------------

awaitable<Reply> Service::settle_preview(const cashier::SessionInfo& s, const cashier::SettlePreviewParams& p) {
  Reply refusal;
  auto v = co_await person_of(s, false, refusal);
  if (!v) co_return refusal;
  const WindowSession& ws = session_of(s.connection_id);
  SplitOptions opts;
  opts.visit = VisitType::outpatient;
  opts.use_account = p.use_account;
  opts.pin_verified = ws.pin_verified;
  if (v->from_redlist) {
    // What settle.commit would store now: the red list's estimate within the
    // offline limits, against the figures of the last commit (read when
    // there are none).
    std::optional<ledger::OfflineOutstanding> out = p_.work != nullptr ? p_.work->outpatient_outstanding() : std::nullopt;
    if (!out) {
      auto job = [](sql::Db& db) { return ledger::offline_outstanding(db); };
      auto read = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
      if (!read) co_return fail(read.error().to_error());
      out = *read;
    }
    const flow::OutstandingFigures f = ledger::outstanding_figures_of(*out, now_ms());
    opts.offline = OfflineContext{OfflineCause::network_down, true, f.fund, f.count, f.oldest_age_s, p_.config.offline_limits};
  }
  auto split_result = split(p_.policy, v->engine_person(), p.lines, opts);
  if (!split_result) co_return fail(split_result.error());
  co_return Reply::ok(json::split_to_json(*split_result));
}

// ---- settle.get / settle.list -------------------------------------------------------

bool cashier_sees(const cashier::SessionInfo& s, const ledger::SettlementDetail& d) {
  if (s.role != cashier::Role::cashier) return true;
  if (d.settlement.window_id == s.window) return true;
  // A patient who came back to this window with the card: the refund made
  // here shows the settlement it refunded.
  return std::any_of(d.refunds.begin(), d.refunds.end(),
                     [&](const ledger::Refund& r) { return r.window_id == s.window; });
}

awaitable<Reply> Service::settle_get(const cashier::SessionInfo& s, const cashier::SettleGetParams& p) {
  const auto id = parse_setl_id(p.setl_id);
  if (!id) co_return fail(Reason::not_found, "setl_id", fmt::format("no settlement \"{}\"", p.setl_id));
  auto job5 = [id = *id](sql::Db& db) { return ledger::get_settlement(db, id); };
  auto d = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job5));
  if (!d) co_return fail(d.error().to_error());
  // Another window's settlement is, for a cashier, one that does not exist:
  // the same answer, so that ids cannot be probed.
  if (!d->has_value() || !cashier_sees(s, **d))
    co_return fail(Reason::not_found, "setl_id", fmt::format("no settlement \"{}\"", p.setl_id));
  co_return Reply::ok(settlement_detail_json(**d, s.role == cashier::Role::auditor));
}

awaitable<Reply> Service::settle_list(const cashier::SessionInfo& s, const cashier::SettleListParams& p) {
  ledger::SettlementFilter f;
  const auto from = parse_iso_time(p.from);
  const auto to = parse_iso_time(p.to);
  if (!from) co_return fail(Reason::invalid_request, "from", "from: expected a date or an ISO 8601 time with offset");
  if (!to) co_return fail(Reason::invalid_request, "to", "to: expected a date or an ISO 8601 time with offset");
  f.from_ms = *from;
  // A plain date as `to` means the whole of that day.
  f.to_ms = p.to.size() == 10 ? *to + 86'400'000 : *to;
  if (p.state) f.state = ledger::parse_settlement_state(*p.state);
  f.window_id = p.window;
  f.operator_id = p.operator_name;
  f.card_no = p.card_no;
  f.receipt_no = p.receipt_no;
  // A cashier lists the settlements of its own window only; another
  // window's list is empty, as for a window with none.
  if (s.role == cashier::Role::cashier) {
    if (p.window && *p.window != s.window) co_return Reply::ok(Json{{"settlements", Json::array()}, {"cursor", nullptr}});
    f.window_id = s.window;
  }
  if (p.cursor) {
    const auto c = parse_setl_id(*p.cursor);
    if (!c) co_return fail(Reason::invalid_request, "cursor", "cursor: not a cursor returned by settle.list");
    f.after_setl_id = *c;
  }
  f.limit = static_cast<int>(p.limit);
  auto job6 = [f](sql::Db& db) { return ledger::list_settlements(db, f); };
  auto rows = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job6));
  if (!rows) co_return fail(rows.error().to_error());
  Json items = Json::array();
  for (const auto& st : *rows) items.push_back(settlement_summary_json(st));
  Json result{{"settlements", items}, {"cursor", nullptr}};
  if (static_cast<std::int64_t>(rows->size()) == p.limit) result["cursor"] = std::to_string(rows->back().setl_id);
  co_return Reply::ok(std::move(result));
}

// ---- audit.list and settle.sheet ------------------------------------------------------

awaitable<Reply> Service::audit_list(const cashier::AuditListParams& p) {
  ledger::AuditQuery q;
  const auto from = list_bound(p.from, "from", false);
  if (!from) co_return fail(from.error());
  const auto to = list_bound(p.to, "to", true);
  if (!to) co_return fail(to.error());
  q.from_ms = *from;
  q.to_ms = *to;
  q.operator_name = p.operator_name.value_or("");
  q.action = p.action.value_or("");
  q.before_id = p.cursor;
  q.limit = static_cast<int>(p.limit) + 1;  // one more says whether more exist
  auto job = [q](sql::Db& db) { return ledger::list_audit(db, q); };
  auto rows = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job));
  if (!rows) co_return fail(rows.error().to_error());
  const bool more = static_cast<std::int64_t>(rows->size()) > p.limit;
  if (more) rows->pop_back();
  Json entries = Json::array();
  for (const auto& e : *rows)
    entries.push_back(Json{{"audit_id", e.audit_id},
                           {"time", iso_time(e.at_ms)},
                           {"operator", e.operator_name},
                           {"window", e.window},
                           {"source", e.source},
                           {"action", e.action},
                           {"object", e.object},
                           {"outcome", e.outcome},
                           {"detail", e.detail}});
  Json result{{"entries", std::move(entries)}, {"more", more}, {"cursor", nullptr}};
  if (more) result["cursor"] = rows->back().audit_id;
  co_return Reply::ok(std::move(result));
}

awaitable<Reply> Service::settle_sheet(const cashier::SessionInfo& s, const cashier::SettleSheetParams& p) {
  const cashier::SettleGetParams get{p.setl_id};  // named: GCC 12 must not pass a temporary to a coroutine
  Reply got = co_await settle_get(s, get);
  if (got.error) co_return got;
  Json detail = std::move(*got.result);
  cashier::mask_id_numbers(detail);  // the sheet is printed for the patient
  SheetOptions o;
  o.hospital_name = p_.config.institution.name;
  o.hospital_code = p_.config.institution.code;
  o.paper = p.paper;
  o.refund_id = p.refund_id;
  o.printed_at = iso_time(now_ms());
  auto html = settlement_sheet_html(detail, o);
  if (!html) co_return Reply::fail(html.error());
  co_return Reply::ok(Json{{"setl_id", p.setl_id},
                           {"refund_id", p.refund_id ? Json(*p.refund_id) : Json(nullptr)},
                           {"paper", p.paper},
                           {"content_type", "text/html; charset=utf-8"},
                           {"html", std::move(*html)}});
}

// ---- request log ------------------------------------------------------------------

awaitable<std::optional<Reply>> Service::claim_request(const cashier::Call& call, const cashier::SessionInfo& s) {
  SETTLE_ASSERT(call.request_id && call.canonical);
  const std::string request_id = *call.request_id;
  const std::string hash = payload_hash(cashier::method_name(call.method), *call.canonical);
  if (held_requests_.contains(request_id))
    co_return fail(Reason::in_doubt, "request_id",
                   fmt::format("request {} reached the insurer but its outcome could not be recorded; it is being "
                               "reversed (冲正) and will not run again",
                               request_id));
  if (running_requests_.contains(request_id))
    co_return fail(Reason::invalid_state, "request_id",
                   fmt::format("request {} is being processed; ask again for its answer in a moment", request_id));
  ledger::Request r;
  r.request_id = request_id;
  r.method = std::string(cashier::method_name(call.method));
  r.payload_hash = hash;
  r.operator_id = s.operator_name;
  r.window_id = s.window;
  r.created_at_ms = now_ms();
  // Durable before anything is sent to the insurer.
  const auto began = std::chrono::steady_clock::now();
  // A request's row is no figure LiveWork keeps: the claim's commit is not
  // followed by its reads, which would take CPU from the card's re-check.
  auto job7 = [r](sql::Db& db) { return ledger::record_request(db, r); };
  auto rec = co_await ledger_write(p_.ledger, std::move(job7), ledger::Writer::Touches::untracked);
  p_.metrics.flow_step("claim", std::chrono::duration_cast<std::chrono::microseconds>(
                                    std::chrono::steady_clock::now() - began)
                                    .count());
  if (!rec) co_return fail(rec.error().to_error());
  if (!rec->inserted) {
    const ledger::Request& old = rec->request;
    if (old.payload_hash != hash || old.method != r.method)
      co_return Reply::fail(make_error(Reason::duplicate_request_conflict, "request_id",
                                       fmt::format("request_id {} was used for another request", request_id)));
    if (old.state == ledger::RequestState::answered && old.answer) co_return stored_reply(*old.answer);
    if (running_requests_.contains(request_id))
      co_return fail(Reason::invalid_state, "request_id",
                     fmt::format("request {} is being processed; ask again for its answer in a moment", request_id));
    // Recorded, never answered, not running: nothing reached the insurer for it
    // (start-up recovery answered every request whose call was in doubt), so it runs again.
  }
  running_requests_.insert(request_id);
  co_return std::nullopt;
}

void Service::release_request(const std::string& request_id) { running_requests_.erase(request_id); }

void Service::stop() {
  stopping_ = true;
  reversal_wakeup_.cancel();
}

}  // namespace settle::daemon
