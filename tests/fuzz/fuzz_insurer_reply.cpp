// Fuzz target for the insurer envelope and every transaction's output (and
// input) decoder: byte 0 picks one, the rest is the body; what is accepted
// keeps its rules and re-encodes to the same value (docs/fuzzing.md).
#include "engine/limits.hpp"
#include "protocol/insurer/codecs.hpp"
#include "protocol/insurer/envelope.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace settle;
using namespace settle::insurer;

namespace {

// The msgid every reply is decoded against (the seeds carry it).
constexpr std::string_view kMsgid = "H11010500001202611221700000001";
static_assert(kMsgid.size() == msgid_len);
constexpr std::int64_t kT0 = 1'764'000'000'000;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

void check_error(const Error& e) {
  require(e.reason == Reason::invalid_request || e.reason == Reason::invalid_amount ||
              e.reason == Reason::limit_exceeded || e.reason == Reason::insurer_rejected,
          "decode errors are INVALID_REQUEST, INVALID_AMOUNT, LIMIT_EXCEEDED or INSURER_REJECTED");
  require(!e.message.empty(), "decode errors have a message");
}

bool in_range(Amount a) { return a.fen() >= 0 && a.fen() <= limits::amount_max_fen; }
bool adds_up(Amount total, Amount x, Amount y, Amount z) { return x + y + z == total; }

// What each decoded type must satisfy beyond its round trip.
template <class V>
void check_value(const V&) {}

void check_value(const SettleOutput& o) {
  const SetlInfo& s = o.setlinfo;
  for (Amount a : {s.medfee_sumamt, s.fulamt_ownpay_amt, s.preselfpay_amt, s.inscp_scp_amt, s.act_pay_dedc,
                   s.hifp_pay, s.fund_pay_sumamt, s.psn_part_amt, s.acct_pay, s.psn_cash_pay, s.balc})
    require(in_range(a), "settlement amounts are within 0..amount_max_fen");
  require(adds_up(s.medfee_sumamt, s.fund_pay_sumamt, s.acct_pay, s.psn_cash_pay), "fund + acct + cash = medfee");
  require(check_setlinfo(s, "setlinfo", false).ok(), "an accepted setlinfo passes check_setlinfo");
}
void check_value(const OutpatientPreview::Output& o) { check_value(static_cast<const SettleOutput&>(o)); }
void check_value(const InpatientPreview::Output& o) { check_value(static_cast<const SettleOutput&>(o)); }

void check_value(const UndoOutput& o) {
  require(adds_up(o.medfee_sumamt, o.fund_pay_sumamt, o.acct_pay, o.psn_cash_pay), "undo parts add up");
}
void check_value(const Reversal::Output& o) {
  require(adds_up(o.medfee_sumamt, o.fund_pay_sumamt, o.acct_pay, o.psn_cash_pay), "reversal parts add up");
  require(o.result == ReversalResult::reversed || o.medfee_sumamt.is_zero(), "only a reversal gives money back");
}
void check_value(const PartialRefund::Output& o) {
  require(adds_up(o.refund_total, o.fund_r, o.acct_r, o.cash_r), "refund parts add up");
}
void check_value(const FeeUploadOutput& o) {
  for (const FeeResult& r : o.result) {
    require(in_range(r.det_item_fee_sumamt), "line totals are within range");
    require(adds_up(r.det_item_fee_sumamt, r.fulamt_ownpay_amt, r.preselfpay_amt, r.inscp_scp_amt),
            "line parts add up");
  }
}
void check_value(const DetailReconcile::Output& o) {
  require(static_cast<std::int64_t>(o.rows.size()) <= o.page_size, "no more rows than page_size");
  for (const DetailReconcile::Row& r : o.rows)
    require(adds_up(r.medfee_sumamt, r.fund_pay_sumamt, r.acct_pay, r.psn_cash_pay), "row parts add up");
}
void check_value(const RedList::Output& o) {
  require(o.version >= o.since_version, "version is not below since_version");
  require(o.entries.size() <= max_page_size, "at most a page of entries");
  for (const RedListEntry& e : o.entries)
    require(in_range(e.deductible_used) && in_range(e.fund_paid_ytd), "red list amounts are within range");
}
void check_value(const OfflineUpload::Output& o) {
  for (const OfflineResult& r : o.results)
    require(r.status == "rejected" ||
                (!r.setl_id.empty() && adds_up(r.medfee_sumamt, r.fund_pay_sumamt, r.acct_pay, r.psn_cash_pay)),
            "an accepted record has a setl_id and parts adding up");
}
void check_value(const EcQuery::Output& o) {
  require(o.acct_auth == "0" || o.acct_auth == "1", "acct_auth is 0 or 1");
  require(o.insuplc_admdvs.size() == admdvs_len, "the insured area is six digits");
  require(o.expires_in >= 1 && o.expires_in <= 86'400, "a token lasts 1 s to a day");
}
void check_value(const AccountHistory::Output& o) {
  for (const AccountHistory::Record& r : o.records)
    require(r.amount.fen() >= -limits::amount_max_fen && r.amount.fen() <= limits::amount_max_fen,
            "history amounts are within range");
}

// Whether a parsed document holds a number kept as its exact text (a
// fraction or an exponent): encode_response writes documents the writer
// built (amounts as strings), so those are not compared after a round trip.
bool has_raw_number(const json::Json& j) {
  if (json::is_raw_number(j)) return true;
  if (j.is_object() || j.is_array())
    for (const auto& v : j)
      if (has_raw_number(v)) return true;
  return false;
}

// The envelope alone: what decode_response accepts re-encodes to itself.
void envelope_round_trip(std::string_view body) {
  auto r = decode_response(body, kMsgid);
  if (!r) {
    check_error(r.error());
    return;
  }
  require(r->inf_refmsgid == kMsgid, "the reply names the msgid sent");
  require(r->infcode != infcode_ok || r->output.is_object(), "a success reply has an object output");
  require(r->output.is_object(), "output is an object (empty when absent from an error reply)");
  auto again = decode_response(encode_response(*r), kMsgid);
  require(again.ok(), "a decoded envelope re-encodes to a readable one");
  require(again->infcode == r->infcode && again->inf_refmsgid == r->inf_refmsgid &&
              again->refmsg_time == r->refmsg_time && again->respond_time == r->respond_time &&
              again->err_msg == r->err_msg && (again->output == r->output || has_raw_number(r->output)),
          "the envelope's round trip keeps every field");
}

template <class T>
void output_side(std::string_view body) {
  auto r = decode_reply<T>(body, kMsgid);
  if (!r) {
    check_error(r.error());
    if (r.error().reason == Reason::insurer_rejected)
      require(r.error().field.rfind("infcode=", 0) == 0, "a refusal names its infcode");
    return;
  }
  check_value(*r);
  // Re-encoded as the simulator writes it, the reply decodes to the same value.
  const std::string body2 = encode_ok_reply(kMsgid, r->encode(), kT0, kT0 + 5);
  auto again = decode_reply<T>(body2, kMsgid);
  require(again.ok(), "a decoded output re-encodes to an accepted reply");
  require(*again == *r, "a decoded output re-encodes to the same value");
}

template <class T>
void input_side(std::string_view body) {
  auto req = decode_request(body);
  if (!req) {
    check_error(req.error());
    return;
  }
  require(check_msgid(req->head.msgid).ok(), "an accepted request has a well-formed msgid");
  require(req->head.msgid.compare(0, fixmedins_code_len, req->head.fixmedins_code) == 0,
          "the msgid starts with the institution code");
  auto in = T::Input::decode(req->input);
  if (!in) {
    check_error(in.error());
    return;
  }
  // encode_call asserts the header it writes; a decoded one must pass.
  const std::string body2 = encode_call<T>(req->head, *in);
  auto req2 = decode_request(body2);
  require(req2.ok(), "a decoded request re-encodes to an accepted one");
  RequestHeader head = req->head;
  head.infno = std::string(T::infno);
  require(req2->head == head, "the request header's round trip keeps every field");
  auto in2 = T::Input::decode(req2->input);
  require(in2.ok() && *in2 == *in, "a decoded input re-encodes to the same value");
}

template <class T>
void both(bool output, std::string_view body) {
  if (output)
    output_side<T>(body);
  else
    input_side<T>(body);
}

constexpr int kTransactions = 24;

void dispatch(int which, bool output, std::string_view body) {
  switch (which) {
    case 0: return both<SignIn>(output, body);
    case 1: return both<SignOut>(output, body);
    case 2: return both<PersonInfo>(output, body);
    case 3: return both<OutpatientRegister>(output, body);
    case 4: return both<Admission>(output, body);
    case 5: return both<OutpatientLines>(output, body);
    case 6: return both<InpatientLines>(output, body);
    case 7: return both<CancelLines>(output, body);
    case 8: return both<Discharge>(output, body);
    case 9: return both<UndoAdmission>(output, body);
    case 10: return both<OutpatientPreview>(output, body);
    case 11: return both<OutpatientSettle>(output, body);
    case 12: return both<InpatientPreview>(output, body);
    case 13: return both<InpatientSettle>(output, body);
    case 14: return both<OutpatientUndo>(output, body);
    case 15: return both<InpatientUndo>(output, body);
    case 16: return both<Reversal>(output, body);
    case 17: return both<DailyTotals>(output, body);
    case 18: return both<DetailReconcile>(output, body);
    case 19: return both<AccountHistory>(output, body);
    case 20: return both<PartialRefund>(output, body);
    case 21: return both<OfflineUpload>(output, body);
    case 22: return both<RedList>(output, body);
    case 23: return both<EcQuery>(output, body);
    default: std::abort();
  }
}

}  // namespace

// Byte 0: 'A'..'X' the output (reply) of transaction 0..23 in dispatch()'s
// order, 'a'..'x' its input (request); any other byte picks by its value.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const int c = data[0];
  int which = 0;
  bool output = true;
  if (c >= 'A' && c < 'A' + kTransactions) {
    which = c - 'A';
  } else if (c >= 'a' && c < 'a' + kTransactions) {
    which = c - 'a';
    output = false;
  } else {
    which = c % kTransactions;
    output = (c / kTransactions) % 2 == 0;
  }
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  if (output) envelope_round_trip(body);
  dispatch(which, output, body);
  return 0;
}
