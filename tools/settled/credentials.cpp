// credential.scan and credential.id (cashier API 1.3): the e-voucher and the
// ID number as a window's credential instead of the card. Each replaces what
// the window held; the person is looked up with the insurer (1101) at once.
#include "protocol/cashier/mask.hpp"
#include "tools/settled/clock.hpp"
#include "tools/settled/replies.hpp"
#include "tools/settled/service.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace settle::daemon {

std::string_view credential_kind_name(CredentialKind k) noexcept {
  switch (k) {
    case CredentialKind::e_voucher: return "e-voucher";
    case CredentialKind::id_no: return "id";
  }
  return "?";
}

namespace {

// A credential call names the session's window or none.
std::optional<Reply> other_window(const cashier::SessionInfo& s, const std::optional<std::string>& window) {
  if (!window || *window == s.window) return std::nullopt;
  return fail(Reason::invalid_request, "window",
              fmt::format("window \"{}\" is not this session's window \"{}\"; a credential is given at the window "
                          "logged in",
                          *window, s.window));
}

// Without the card the person is the insurer's to name: online only.
// `what`: how the insurer takes this credential.
std::optional<Reply> not_without_line(bool online, NetworkState state, std::string_view what) {
  if (online) return std::nullopt;
  return fail(Reason::insurer_unreachable, "insurer",
              fmt::format("the insurer is {}: {}, and without the card there is no offline settlement (the red list "
                          "is by card); read the card instead",
                          network_state_name(state), what));
}

}  // namespace

awaitable<Reply> Service::credential_id(const cashier::SessionInfo& s, const cashier::CredentialIdParams& p) {
  if (auto r = other_window(s, p.window)) co_return *r;
  if (auto r = not_without_line(network_.accepts_online_work(), network_.state(), "an ID number is checked with the insurer"))
    co_return *r;
  HeldCredential held;
  held.kind = CredentialKind::id_no;
  held.cert_no = p.id_no;
  held.id_no = p.id_no;
  co_return co_await hold_credential(s, std::move(held));
}

awaitable<Reply> Service::credential_scan(const cashier::SessionInfo& s, const cashier::CredentialScanParams& p) {
  if (auto r = other_window(s, p.window)) co_return *r;
  if (auto r = not_without_line(network_.accepts_online_work(), network_.state(), "an e-voucher is decoded by the insurer"))
    co_return *r;
  // A new code is a new patient: whatever was held before is dropped now, so
  // a code the insurer refuses leaves nothing held (as a refused ID number).
  session_of(s.connection_id) = WindowSession{};
  // 9401: the code into the token the calls that follow carry (mdtrt_cert_type 01).
  insurer::EcQuery::Input in;
  in.ec_qrcode = p.qr;
  CallSpec spec;
  spec.infno = std::string(insurer::EcQuery::infno);
  spec.input = in.encode();
  spec.opter = s.operator_name;
  spec.opter_name = s.operator_name;
  spec.timeout_ms = p_.config.network.offline_deadline_ms;
  const CallResult r = co_await p_.gateway.call(std::move(spec));
  p_.metrics.insurer_call(insurer::EcQuery::infno, outcome_label(r), r.elapsed_ms * 1000LL);
  if (!r.answered()) co_return fail(unanswered_error(r));
  if (!r.succeeded()) co_return rejected_reply(r);
  auto out = insurer::EcQuery::Output::decode(r.response->output);
  if (!out)
    co_return fail(Reason::insurer_rejected, "output",
                   fmt::format("insurer's {} reply: {}", insurer::EcQuery::infno, out.error().message));
  HeldCredential held;
  held.kind = CredentialKind::e_voucher;
  held.cert_no = out->ec_token;
  held.id_no = out->certno;
  held.psn_name = out->psn_name;
  held.insuplc_admdvs = out->insuplc_admdvs;
  held.acct_auth = out->acct_auth == "1";
  held.expires_at_ms = now_ms() + out->expires_in * 1000;
  co_return co_await hold_credential(s, std::move(held));
}

awaitable<Reply> Service::hold_credential(const cashier::SessionInfo& s, HeldCredential held) {
  WindowSession& ws = session_of(s.connection_id);
  ws = WindowSession{};  // whatever was held before is not this patient's any more
  ws.credential = held;
  Reply refusal;
  auto person = co_await person_of(s, true, refusal);
  WindowSession& after = session_of(s.connection_id);
  if (!person) {
    // The credential did not name an insured person: nothing is held.
    if (after.credential && after.credential->cert_no == held.cert_no) after = WindowSession{};
    co_return refusal;
  }
  if (!after.credential || after.credential->cert_no != held.cert_no)
    co_return fail(Reason::invalid_state, "credential", "another credential was given at this window meanwhile");
  if (after.credential->psn_name.empty()) after.credential->psn_name = person->base.psn_name;
  if (held.kind == CredentialKind::id_no)
    spdlog::info("window {}: ID number {} given", s.window, cashier::mask_id_no(held.id_no));
  else
    spdlog::info("window {}: e-voucher of {} scanned (account {})", s.window, cashier::mask_id_no(held.id_no),
                 held.acct_auth ? "authorised" : "not authorised");
  co_return Reply::ok(held_json(after, person));
}

}  // namespace settle::daemon
