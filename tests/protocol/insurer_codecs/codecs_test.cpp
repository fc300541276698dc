// The insurer codecs on bytes: every transaction's input and output make a
// round trip, and replies that are not JSON, lack a field, carry a wrong
// type, a negative amount, parts that do not add up, or answer another
// msgid are typed errors naming the field.
#include "protocol/insurer/codecs.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace settle;
using namespace settle::insurer;
using json::Json;

namespace {

Amount yuan(std::string_view s) { return parse_amount(s, "test").value(); }

const std::string kMsgid = "H11010500001202611221030450001";

RequestHeader header(std::string_view infno) {
  RequestHeader h;
  h.infno = std::string(infno);
  h.msgid = kMsgid;
  h.mdtrtarea_admvs = "110105";
  h.insuplc_admdvs = "110105";
  h.opter = "C007";
  h.opter_name = "收费员";
  h.inf_time = "2026-11-22 10:30:45";
  h.fixmedins_code = "H11010500001";
  h.fixmedins_name = "测试医院";
  h.sign_no = "H110105000010000000001";
  return h;
}

// Input: request bytes -> decode_request -> T::Input::decode == original.
template <class T>
void input_round_trip(const typename T::Input& in) {
  const std::string body = encode_call<T>(header(T::infno), in);
  auto req = decode_request(body);
  REQUIRE(req.ok());
  CHECK(req->head == header(T::infno));
  auto back = T::Input::decode(req->input);
  INFO(T::infno << ": " << (back.ok() ? std::string() : back.error().message));
  REQUIRE(back.ok());
  CHECK(*back == in);
}

// Output: reply bytes -> decode_reply<T> == original.
template <class T>
void output_round_trip(const typename T::Output& out) {
  const std::string body = encode_ok_reply(kMsgid, out.encode(), 0, 1);
  auto back = decode_reply<T>(body, kMsgid);
  INFO(T::infno << ": " << (back.ok() ? std::string() : back.error().message));
  REQUIRE(back.ok());
  CHECK(*back == out);
}

// A reply body with `output` replaced.
std::string reply_with(const Json& output) { return encode_ok_reply(kMsgid, output, 0, 1); }

FeeDetail line(const char* sn, const char* code, LineClass cls, const char* amount) {
  FeeDetail d;
  d.feedetl_sn = sn;
  d.mdtrt_id = "M000000000000001";
  d.psn_no = "11000000000000001";
  d.chrg_bchno = "B1";
  d.fee_ocur_time = "2026-11-22 10:05:00";
  d.med_list_codg = code;
  d.medins_list_codg = "H-" + std::string(code);
  d.medins_list_name = "项目";
  d.det_item_fee_sumamt = yuan(amount);
  d.cnt = "2.5";
  d.pric = yuan("4.00");
  d.cls = cls;
  if (cls == LineClass::b) d.selfpay_prop = Ratio::ppm(150'000);
  return d;
}

SetlInfo setlinfo() {
  SetlInfo s;
  s.setl_id = "S000000000000001";
  s.mdtrt_id = "M000000000000001";
  s.psn_no = "11000000000000001";
  s.medfee_sumamt = yuan("170.00");
  s.fulamt_ownpay_amt = yuan("20.00");
  s.preselfpay_amt = yuan("10.00");
  s.inscp_scp_amt = yuan("140.00");
  s.act_pay_dedc = yuan("0.00");
  s.hifp_pay = yuan("98.00");
  s.fund_pay_sumamt = yuan("98.00");
  s.psn_part_amt = yuan("72.00");
  s.acct_pay = yuan("50.00");
  s.psn_cash_pay = yuan("22.00");
  s.balc = yuan("0.00");
  s.medins_setl_id = "L1";
  s.setl_time = "2026-11-22 10:30:45";
  return s;
}

}  // namespace

// encode_request writes the envelope's fields itself around input.dump():
// byte for byte what nlohmann writes for the whole object, whatever the
// fields hold (UTF-8, quotes, backslashes, control characters).
TEST_CASE("envelope: a request's bytes are nlohmann's dump of the whole object") {
  const auto as_object = [](const RequestHeader& h, const Json& input) {
    Json j = Json::object();
    j["infno"] = h.infno;
    j["msgid"] = h.msgid;
    j["mdtrtarea_admvs"] = h.mdtrtarea_admvs;
    j["insuplc_admdvs"] = h.insuplc_admdvs;
    j["recer_sys_code"] = h.recer_sys_code;
    j["infver"] = h.infver;
    j["opter_type"] = h.opter_type;
    j["opter"] = h.opter;
    j["opter_name"] = h.opter_name;
    j["inf_time"] = h.inf_time;
    j["fixmedins_code"] = h.fixmedins_code;
    j["fixmedins_name"] = h.fixmedins_name;
    j["sign_no"] = h.sign_no;
    j["input"] = input;
    return j.dump();
  };
  const Json input = Json{{"data", Json{{"psn_no", "P1"}, {"medfee_sumamt", "12.30"}, {"n", 3}}},
                          {"feedetail", Json::array({Json{{"name", "阿莫西林"}}})}};
  RequestHeader h = header("2204");
  CHECK(encode_request(h, input) == as_object(h, input));
  h.fixmedins_name = "某市\"人民\"医院\\一院\t\x01";
  h.opter_name = "";
  h.sign_no = "S-1/2";
  CHECK(encode_request(h, input) == as_object(h, input));
  CHECK(encode_request(h, Json::object()) == as_object(h, Json::object()));
}

TEST_CASE("envelope: request and response round trip; header checks") {
  const RequestHeader h = header("2207");
  const std::string body = encode_request(h, Json{{"data", Json::object()}});
  auto r = decode_request(body);
  REQUIRE(r.ok());
  CHECK(r->head == h);
  CHECK(r->input == Json{{"data", Json::object()}});

  Json doc = Json::parse(body);
  doc.erase("fixmedins_code");
  auto missing = decode_request(doc.dump());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().field == "fixmedins_code");

  doc = Json::parse(body);
  doc["msgid"] = "H11010500001202613221030450001";  // month 13
  CHECK(decode_request(doc.dump()).error().field == "msgid");
  doc["msgid"] = "H11010500002202611221030450001";  // another institution's prefix
  CHECK(decode_request(doc.dump()).error().field == "msgid");
  doc = Json::parse(body);
  doc["input"] = "text";
  CHECK(decode_request(doc.dump()).error().field == "input");
  CHECK_FALSE(decode_request("{not json").ok());
  CHECK(check_msgid(kMsgid).ok());
  CHECK_FALSE(check_msgid("short").ok());
}

TEST_CASE("decode_response: msgid match, infcode, output presence") {
  Response ok;
  ok.inf_refmsgid = kMsgid;
  ok.output = Json{{"x", 1}};
  auto r = decode_response(encode_response(ok), kMsgid);
  REQUIRE(r.ok());
  CHECK(r->output == Json{{"x", 1}});

  auto other = decode_response(encode_response(ok), "H11010500001202611221030450002");
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().field == "inf_refmsgid");

  Json no_output = Json::parse(encode_response(ok));
  no_output.erase("output");
  CHECK(decode_response(no_output.dump(), kMsgid).error().field == "output");

  Json bad_code = Json::parse(encode_response(ok));
  bad_code["infcode"] = "0";
  CHECK(decode_response(bad_code.dump(), kMsgid).error().field == "infcode");

  const std::string err = encode_error_reply(kMsgid, "余额不足", 0, 1);
  auto e = decode_reply<OutpatientSettle>(err, kMsgid);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().reason == Reason::insurer_rejected);
  CHECK(e.error().message == "余额不足");
  CHECK(e.error().field == "infcode=-1");

  auto garbage = decode_reply<OutpatientSettle>("<html>502</html>", kMsgid);
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.error().reason == Reason::invalid_request);
  CHECK(compact_time_ms(1'795'314'645'123) == "20261122103045123");
  CHECK(inf_time_text(1'795'314'645) == "2026-11-22 10:30:45");
}

TEST_CASE("every transaction's input and output round trip") {
  input_round_trip<SignIn>({"C007", "00:11:22:33:44:55", "10.0.0.7"});
  output_round_trip<SignIn>({"H110105000010000000001", "2026-11-22 08:00:00"});
  input_round_trip<SignOut>({"H110105000010000000001", "C007"});
  output_round_trip<SignOut>({"2026-11-22 18:00:00"});

  input_round_trip<PersonInfo>({"03", "D00000001", "0123456789ABCDEF0123456789ABCDEF", "01", "", ""});
  input_round_trip<PersonInfo>({"02", "11010519491231002X", "", "01", "11010519491231002X", "张三"});
  PersonInfo::Output pi;
  pi.baseinfo = {"11000000000000001", "01", "11010519491231002X", "张三", "1", "1949-12-31"};
  pi.insuinfo.push_back({"310", yuan("500.00"), "1", "11",
                         PersonFlags{}.set(PersonFlag::supervised).set(PersonFlag::account_frozen), yuan("12.34"),
                         yuan("0.01"), "310101"});
  output_round_trip<PersonInfo>(pi);

  OutpatientRegister::Input reg;
  static_cast<VisitOpen&>(reg) = {"11000000000000001", "310", "03", "D00000001", "11", "OP1", "2026-11-22 10:00:00", "D01", "内科"};
  input_round_trip<OutpatientRegister>(reg);
  output_round_trip<OutpatientRegister>({VisitOpened{"M000000000000001", "11000000000000001", "OP1"}});
  Admission::Input adm;
  static_cast<VisitOpen&>(adm) = {"11000000000000001", "310", "03", "D00000001", "21", "IP1", "2026-11-20 08:00:00", "", ""};
  adm.dise_codg = "I21.9";
  input_round_trip<Admission>(adm);
  adm.dise_name = "急性心肌梗死";
  adm.dept_code = "D03";
  input_round_trip<Admission>(adm);
  output_round_trip<Admission>({VisitOpened{"M000000000000002", "11000000000000001", "IP1"}});

  FeeUploadInput lines{{line("1", "A001", LineClass::a, "100.00"), line("2", "250310005", LineClass::b, "50.00"),
                        line("3", "C001", LineClass::c, "20.00")}};
  input_round_trip<OutpatientLines>(lines);
  input_round_trip<InpatientLines>(lines);
  FeeUploadOutput fr{{{"2", yuan("50.00"), LineClass::b, Ratio::ppm(200'000), yuan("0.00"), yuan("10.00"), yuan("40.00")}}};
  output_round_trip<OutpatientLines>(fr);
  output_round_trip<InpatientLines>(fr);

  input_round_trip<CancelLines>({"M000000000000002", "11000000000000001", {"7", "8"}});
  input_round_trip<CancelLines>({"M000000000000002", "11000000000000001", {"0000"}});
  output_round_trip<CancelLines>({"M000000000000002", {"7", "8"}});
  output_round_trip<CancelLines>({"M000000000000002", {}});
  input_round_trip<Discharge>({"M000000000000002", "11000000000000001", "310", "2026-11-25 10:00:00", "1"});
  input_round_trip<Discharge>({"M000000000000002", "11000000000000001", "310", "2026-11-25 10:00:00", "2"});
  output_round_trip<Discharge>({"M000000000000002"});
  input_round_trip<UndoAdmission>({"M000000000000002", "11000000000000001"});
  output_round_trip<UndoAdmission>({"M000000000000002"});

  SettleInput si{"11000000000000001", "03", "D00000001", "11", yuan("170.00"), "01", "M000000000000001", "B1", "310", "1", "L1"};
  input_round_trip<OutpatientPreview>(si);
  input_round_trip<OutpatientSettle>(si);
  input_round_trip<InpatientPreview>(si);
  input_round_trip<InpatientSettle>(si);
  output_round_trip<OutpatientSettle>({setlinfo()});
  output_round_trip<InpatientSettle>({setlinfo()});
  SetlInfo preview = setlinfo();
  preview.setl_id.clear();
  output_round_trip<OutpatientPreview>({SettleOutput{preview}});
  output_round_trip<InpatientPreview>({SettleOutput{preview}});

  input_round_trip<OutpatientUndo>({"S000000000000001", "M000000000000001", "11000000000000001"});
  input_round_trip<InpatientUndo>({"S000000000000001", "M000000000000001", "11000000000000001"});
  UndoOutput uo{"R000000000000001", "S000000000000001", yuan("170.00"), yuan("98.00"), yuan("50.00"), yuan("22.00"), yuan("50.00")};
  output_round_trip<OutpatientUndo>(uo);
  output_round_trip<InpatientUndo>(uo);

  input_round_trip<Reversal>({"11000000000000001", "H11010500001202611221030440009", "2207"});
  output_round_trip<Reversal>({"H11010500001202611221030440009", "2207", ReversalResult::reversed, yuan("170.00"),
                               yuan("98.00"), yuan("50.00"), yuan("22.00")});
  output_round_trip<Reversal>({"H11010500001202611221030440009", "2207", ReversalResult::not_found, {}, {}, {}, {}});

  input_round_trip<DailyTotals>({"310", "11", "2026-11-22", "2026-11-22", yuan("170.00"), yuan("98.00"), yuan("50.00"), 1});
  input_round_trip<DailyTotals>({"310", "21", "2026-11-22", "2026-11-22", yuan("1.00"), yuan("0.00"), yuan("0.00"), 1, "310101"});
  output_round_trip<DailyTotals>({"0", "balanced", yuan("170.00"), yuan("98.00"), yuan("50.00"), yuan("22.00"), 1});

  input_round_trip<DetailReconcile>({"310", "11", "2026-11-22", "2026-11-22", 2, 50});
  DetailReconcile::Output dr;
  dr.page_num = 1;
  dr.page_size = 50;
  dr.total = 1;
  dr.rows.push_back({"11000000000000001", "M000000000000001", "S000000000000001", kMsgid, "L1", "310",
                     "2026-11-22 10:30:45", yuan("170.00"), yuan("98.00"), yuan("50.00"), yuan("22.00"), "0", "0"});
  output_round_trip<DetailReconcile>(dr);
  dr.rows[0].insuplc_admdvs = "440103";
  output_round_trip<DetailReconcile>(dr);

  input_round_trip<AccountHistory>({"11000000000000001", 20});
  AccountHistory::Output ah{"11000000000000001", yuan("450.00"),
                            {{"2026-11-22 10:30:45", "settle", "S000000000000001", kMsgid, Amount::fen(-5000), yuan("450.00")}}};
  output_round_trip<AccountHistory>(ah);

  input_round_trip<PartialRefund>({"S000000000000001", "11000000000000001", "D00000001", "RF1", {{"C001", yuan("20.00")}}});
  input_round_trip<PartialRefund>({"S000000000000001", "11000000000000001", "D00000001", "", {}});
  output_round_trip<PartialRefund>({"R000000000000002", "S000000000000001", yuan("20.00"), yuan("0.00"), yuan("0.00"),
                                    yuan("20.00"), yuan("450.00")});

  OfflineRecord rec;
  rec.local_id = "OFF-1";
  rec.psn_no = "11000000000000001";
  rec.card_no = "D00000001";
  rec.insutype = "310";
  rec.setl_time = "2026-11-22 09:00:00";
  rec.reason_code = "offline_network_down";
  rec.medfee_sumamt = yuan("100.00");
  rec.est_fund_pay = yuan("70.00");
  rec.psn_cash_pay = yuan("30.00");
  rec.lines = {line("1", "A001", LineClass::a, "100.00")};
  input_round_trip<OfflineUpload>({{rec}});
  OfflineRecord stay = rec;  // an inpatient discharge settled offline: the admission, no lines
  stay.local_id = "OFF-IP1";
  stay.med_type = "21";
  stay.mdtrt_id = "M000000000000002";
  stay.lines.clear();
  input_round_trip<OfflineUpload>({{rec, stay}});
  output_round_trip<OfflineUpload>({{{"OFF-1", "accepted", "S000000000000003", "M000000000000007", yuan("100.00"), yuan("70.00"), yuan("0.00"), yuan("30.00"), "", ""},
                                     {"OFF-2", "rejected", "", "", {}, {}, {}, {}, "unknown_person", "no such person"}}});

  input_round_trip<RedList>({0, 0, 1, 1000});
  input_round_trip<RedList>({5, 9, 2, 100});
  output_round_trip<RedList>({5, 9, 1, 2, true,
                              {{"D00000001", "11000000000000001", "310", PersonFlags{}.set(PersonFlag::unit_arrears),
                                yuan("100.00"), yuan("0.00"), "upsert"}}});
}

TEST_CASE("9302: an accepted record carries the visit's mdtrt_id; an older insurer's answer without it still decodes") {
  const OfflineUpload::Output out{{{"OFF-1", "accepted", "S000000000000003", "M000000000000007", yuan("100.00"),
                                    yuan("70.00"), yuan("0.00"), yuan("30.00"), "", ""}}};
  Json j = out.encode();
  CHECK(j["results"][0]["mdtrt_id"] == "M000000000000007");
  auto back = decode_reply<OfflineUpload>(reply_with(j), kMsgid);
  REQUIRE(back.ok());
  CHECK(back->results[0].mdtrt_id == "M000000000000007");
  // The field is new: an insurer that does not send it is still understood,
  // its accepted record without a visit (not re-settleable, refundable).
  j["results"][0].erase("mdtrt_id");
  back = decode_reply<OfflineUpload>(reply_with(j), kMsgid);
  REQUIRE(back.ok());
  CHECK(back->results[0].status == "accepted");
  CHECK(back->results[0].setl_id == "S000000000000003");
  CHECK(back->results[0].mdtrt_id.empty());
  j["results"][0]["mdtrt_id"] = nullptr;
  back = decode_reply<OfflineUpload>(reply_with(j), kMsgid);
  REQUIRE(back.ok());
  CHECK(back->results[0].mdtrt_id.empty());
  // Present, it is a string like every id.
  j["results"][0]["mdtrt_id"] = 7;
  CHECK(decode_reply<OfflineUpload>(reply_with(j), kMsgid).error().field == "results[0].mdtrt_id");
}

TEST_CASE("amounts: numbers or strings on input, strings with two decimals on output, never doubles") {
  Json out = SettleOutput{setlinfo()}.encode();
  CHECK(out["setlinfo"]["medfee_sumamt"] == "170.00");
  // A number with its exact text is accepted.
  std::string body = reply_with(out);
  const auto pos = body.find("\"medfee_sumamt\":\"170.00\"");
  REQUIRE(pos != std::string::npos);
  body.replace(pos, 24, "\"medfee_sumamt\":170.0");
  auto r = decode_reply<OutpatientSettle>(body, kMsgid);
  REQUIRE(r.ok());
  CHECK(r->setlinfo.medfee_sumamt == yuan("170.00"));
  // Three decimals, exponents, negatives: INVALID_AMOUNT naming the field.
  for (const char* text : {"170.001", "1.7e2", "-170.00"}) {
    std::string b = reply_with(out);
    b.replace(b.find("\"170.00\""), 8, text);
    auto e = decode_reply<OutpatientSettle>(b, kMsgid);
    INFO(text);
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().reason == Reason::invalid_amount);
    CHECK(e.error().field == "setlinfo.medfee_sumamt");
  }
}

TEST_CASE("settlement replies whose parts do not add up are refused naming the field") {
  struct Case {
    const char* what;
    void (*mutate)(SetlInfo&);
    const char* field;
  };
  const Case cases[] = {
      {"fund+acct+cash != total", [](SetlInfo& s) { s.psn_cash_pay = yuan("21.99"); }, "setlinfo.medfee_sumamt"},
      {"class parts != total", [](SetlInfo& s) { s.inscp_scp_amt = yuan("139.00"); }, "setlinfo.medfee_sumamt"},
      {"psn_part != total - fund",
       [](SetlInfo& s) { s.psn_part_amt = yuan("71.00"); }, "setlinfo.medfee_sumamt"},
      {"deductible above inscp", [](SetlInfo& s) { s.act_pay_dedc = yuan("140.01"); }, "setlinfo.act_pay_dedc"},
      {"hifp above fund", [](SetlInfo& s) { s.hifp_pay = yuan("98.01"); }, "setlinfo.hifp_pay"},
      {"no setl_id", [](SetlInfo& s) { s.setl_id.clear(); }, "setlinfo.setl_id"},
  };
  for (const Case& c : cases) {
    SetlInfo s = setlinfo();
    c.mutate(s);
    auto r = decode_reply<OutpatientSettle>(reply_with(SettleOutput{s}.encode()), kMsgid);
    INFO(c.what);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().field == c.field);
  }
}

TEST_CASE("malformed replies of every kind are typed errors, never half-filled results") {
  const Json good = SettleOutput{setlinfo()}.encode();
  // Missing required field.
  Json missing = good;
  missing["setlinfo"].erase("acct_pay");
  auto m = decode_reply<OutpatientSettle>(reply_with(missing), kMsgid);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().field == "setlinfo.acct_pay");
  // Wrong type.
  Json typed = good;
  typed["setlinfo"]["setl_id"] = 12;
  CHECK(decode_reply<OutpatientSettle>(reply_with(typed), kMsgid).error().field == "setlinfo.setl_id");
  Json not_object = good;
  not_object["setlinfo"] = Json::array();
  CHECK(decode_reply<OutpatientSettle>(reply_with(not_object), kMsgid).error().field == "setlinfo");
  // Refund parts.
  Json refund = PartialRefund::Output{"R1", "S1", yuan("20.00"), yuan("5.00"), yuan("5.00"), yuan("9.99"), yuan("1.00")}.encode();
  CHECK(decode_reply<PartialRefund>(reply_with(refund), kMsgid).error().field == "data.refund_total");
  // Reversal: figures only when reversed.
  Json rev = Reversal::Output{kMsgid, "2207", ReversalResult::not_found, {}, {}, {}, {}}.encode();
  rev["data"]["medfee_sumamt"] = "1.00";
  rev["data"]["psn_cash_pay"] = "1.00";
  CHECK(decode_reply<Reversal>(reply_with(rev), kMsgid).error().field == "data.medfee_sumamt");
  rev["data"]["rslt"] = "maybe";
  CHECK(decode_reply<Reversal>(reply_with(rev), kMsgid).error().field == "data.rslt");
  // Person info without insurance.
  Json person = Json{{"baseinfo", Json{{"psn_no", "1"}, {"psn_cert_type", "01"}, {"certno", "x"}, {"psn_name", "a"},
                                       {"gend", "1"}, {"brdy", "2000-01-01"}}},
                     {"insuinfo", Json::array()}};
  CHECK(decode_reply<PersonInfo>(reply_with(person), kMsgid).error().field == "insuinfo");
  person["insuinfo"] = Json::array({Json{{"insutype", "310"}, {"balc", "1.00"}, {"psn_insu_stas", "1"}, {"psn_type", "11"},
                                         {"flags", Json::array({"vip"})}, {"deductible_used", "0"}, {"fund_paid_ytd", "0"}}});
  CHECK(decode_reply<PersonInfo>(reply_with(person), kMsgid).error().field == "insuinfo[0].flags");
  // Line results that do not add up.
  Json fee = FeeUploadOutput{{{"1", yuan("10.00"), LineClass::a, Ratio{}, yuan("0.00"), yuan("0.00"), yuan("9.00")}}}.encode();
  CHECK(decode_reply<OutpatientLines>(reply_with(fee), kMsgid).error().field == "result[0].det_item_fee_sumamt");
  // Offline result accepted without setl_id; rejected without reason.
  Json off = OfflineUpload::Output{{{"L1", "accepted", "", "M1", yuan("1.00"), yuan("0.00"), yuan("0.00"), yuan("1.00"), "", ""}}}.encode();
  CHECK(decode_reply<OfflineUpload>(reply_with(off), kMsgid).error().field == "results[0].setl_id");
  off["results"][0]["status"] = "rejected";
  CHECK(decode_reply<OfflineUpload>(reply_with(off), kMsgid).error().field == "results[0].rej_reason");
  // Detail rows beyond page_size; red list version going back.
  DetailReconcile::Output dr;
  dr.page_size = 0;
  dr.rows.push_back({"p", "", "S1", "", "", "", "", {}, {}, {}, {}, "0", "0"});
  CHECK(decode_reply<DetailReconcile>(reply_with(dr.encode()), kMsgid).error().field == "data.rows");
  CHECK(decode_reply<RedList>(reply_with(RedList::Output{9, 5, 1, 0, false, {}}.encode()), kMsgid).error().field ==
        "data.version");
  // Daily totals parts.
  Json totals = DailyTotals::Output{"0", "", yuan("10.00"), yuan("1.00"), yuan("1.00"), yuan("1.00"), 1}.encode();
  CHECK(decode_reply<DailyTotals>(reply_with(totals), kMsgid).error().field == "stmtinfo.medfee_sumamt");
}

TEST_CASE("malformed inputs are refused naming the field") {
  FeeUploadInput dup{{line("1", "A001", LineClass::a, "1.00"), line("1", "A002", LineClass::a, "2.00")}};
  CHECK(FeeUploadInput::decode(dup.encode()).error().field == "feedetail[1].feedetl_sn");
  FeeUploadInput ratio_on_a{{line("1", "A001", LineClass::a, "1.00")}};
  ratio_on_a.feedetail[0].selfpay_prop = Ratio::ppm(1);
  CHECK(FeeUploadInput::decode(ratio_on_a.encode()).error().field == "feedetail[0].selfpay_prop");
  Json bad_cnt = FeeUploadInput{{line("1", "A001", LineClass::a, "1.00")}}.encode();
  bad_cnt["feedetail"][0]["cnt"] = "1e3";
  CHECK(FeeUploadInput::decode(bad_cnt).error().field == "feedetail[0].cnt");
  Json bad_lv = FeeUploadInput{{line("1", "A001", LineClass::a, "1.00")}}.encode();
  bad_lv["feedetail"][0]["chrgitm_lv"] = "04";
  CHECK(FeeUploadInput::decode(bad_lv).error().field == "feedetail[0].chrgitm_lv");
  CHECK(FeeUploadInput::decode(Json{{"feedetail", Json::array()}}).error().field == "feedetail");

  Json settle = SettleInput{"p", "03", "c", "11", yuan("1.00"), "01", "M1", "B1", "310", "1", ""}.encode();
  settle["data"]["acct_used_flag"] = "2";
  CHECK(SettleInput::decode(settle).error().field == "data.acct_used_flag");
  CHECK(PersonInfo::Input::decode(Json{{"data", Json{{"mdtrt_cert_type", "03"}, {"mdtrt_cert_no", "D1"}}}}).error().field ==
        "data.card_sn");
  CHECK(Reversal::Input::decode(Json{{"data", Json{{"psn_no", ""}, {"omsgid", "x"}, {"oinfno", "2207"}}}}).error().field ==
        "data.omsgid");
  Json dt = DailyTotals::Input{"310", "11", "2026-11-22", "2026-11-21", {}, {}, {}, 0}.encode();
  CHECK(DailyTotals::Input::decode(dt).error().field == "data.stmt_enddate");

  OfflineRecord rec;
  rec.local_id = "L1";
  rec.psn_no = "p";
  rec.insutype = "310";
  rec.setl_time = "2026-11-22 09:00:00";
  rec.reason_code = "offline_network_down";
  rec.medfee_sumamt = yuan("2.00");
  rec.est_fund_pay = yuan("1.00");
  rec.psn_cash_pay = yuan("1.00");
  rec.lines = {line("1", "A001", LineClass::a, "1.00")};
  CHECK(OfflineUpload::Input::decode(OfflineUpload::Input{{rec}}.encode()).error().field == "records[0].medfee_sumamt");
  rec.medfee_sumamt = yuan("1.00");
  rec.est_fund_pay = yuan("0.00");
  CHECK(OfflineUpload::Input::decode(OfflineUpload::Input{{rec, rec}}.encode()).error().field == "records[1].local_id");
  CHECK(PartialRefund::Input::decode(
            PartialRefund::Input{"S1", "p", "c", "", {{"A001", Amount::zero()}}}.encode())
            .error()
            .field == "data.lines[0].amount");
  CHECK(RedList::Input::decode(RedList::Input{5, 3, 1, 10}.encode()).error().field == "data.to_version");
  CHECK(RedList::Input::decode(RedList::Input{0, 0, 1, 5000}.encode()).error().field == "data.page_size");
}

TEST_CASE("inpatient calls: 2401's diagnosis, 2302, 2402, 2404 and 9302's mdtrt_id on the wire, errors naming the field") {
  // 2401: the diagnosis sits in mdtrtinfo with the visit; dise_codg required, dise_name optional.
  Admission::Input adm;
  static_cast<VisitOpen&>(adm) = {"11000000000000001", "310", "03", "D00000001", "21", "IP1", "2026-11-20 08:00:00", "D03", "心内科"};
  adm.dise_codg = "I21.9";
  Json j = adm.encode();
  CHECK(j["mdtrtinfo"]["dise_codg"] == "I21.9");
  CHECK(j["mdtrtinfo"]["dise_name"] == "");
  j["mdtrtinfo"].erase("dise_name");
  CHECK(Admission::Input::decode(j).value() == adm);
  j["mdtrtinfo"]["dise_codg"] = "";
  CHECK(Admission::Input::decode(j).error().field == "mdtrtinfo.dise_codg");
  j["mdtrtinfo"].erase("dise_codg");
  CHECK(Admission::Input::decode(j).error().field == "mdtrtinfo.dise_codg");
  j["mdtrtinfo"]["dise_codg"] = 21;
  CHECK(Admission::Input::decode(j).error().field == "mdtrtinfo.dise_codg");
  // The same visit fields as 2201 (without a diagnosis 2201 stays valid).
  OutpatientRegister::Input reg;
  static_cast<VisitOpen&>(reg) = static_cast<const VisitOpen&>(adm);
  CHECK(OutpatientRegister::Input::decode(reg.encode()).ok());

  // 2302: data {mdtrt_id, psn_no, feedetl_sn[]}; "0000" alone means every live line.
  const CancelLines::Input cancel{"M000000000000002", "11000000000000001", {"7", "8"}};
  j = cancel.encode();
  CHECK(j["data"]["feedetl_sn"] == Json::array({"7", "8"}));
  const auto cancel_error = [](Json in) { return CancelLines::Input::decode(in).error().field; };
  j["data"]["feedetl_sn"] = Json::array();
  CHECK(cancel_error(j) == "data.feedetl_sn");
  j["data"]["feedetl_sn"] = Json::array({"7", "0000"});
  CHECK(cancel_error(j) == "data.feedetl_sn[1]");
  j["data"]["feedetl_sn"] = Json::array({"7", "7"});
  CHECK(cancel_error(j) == "data.feedetl_sn[1]");
  j["data"]["feedetl_sn"] = Json::array({""});
  CHECK(cancel_error(j) == "data.feedetl_sn[0]");
  j["data"]["feedetl_sn"] = Json::array({7});
  CHECK(cancel_error(j) == "data.feedetl_sn[0]");
  j["data"]["feedetl_sn"] = "7";
  CHECK(cancel_error(j) == "data.feedetl_sn");
  j = cancel.encode();
  j["data"].erase("mdtrt_id");
  CHECK(cancel_error(j) == "data.mdtrt_id");
  Json cancelled = CancelLines::Output{"M000000000000002", {"7"}}.encode();
  CHECK(cancelled["data"]["cancelled"] == Json::array({"7"}));
  cancelled["data"]["cancelled"] = Json::array({""});
  CHECK(decode_reply<CancelLines>(reply_with(cancelled), kMsgid).error().field == "data.cancelled[0]");
  cancelled["data"].erase("cancelled");
  CHECK(decode_reply<CancelLines>(reply_with(cancelled), kMsgid).error().field == "data.cancelled");

  // 2402: dscginfo {mdtrt_id, psn_no, insutype, endtime, dscg_way (default "1")}.
  const Discharge::Input dscg{"M000000000000002", "11000000000000001", "310", "2026-11-25 10:00:00", "1"};
  j = dscg.encode();
  CHECK(j["dscginfo"]["endtime"] == "2026-11-25 10:00:00");
  j["dscginfo"].erase("dscg_way");
  CHECK(Discharge::Input::decode(j).value().dscg_way == "1");
  j["dscginfo"]["dscg_way"] = "";
  CHECK(Discharge::Input::decode(j).value().dscg_way == "1");
  j["dscginfo"]["dscg_way"] = "7";
  CHECK(Discharge::Input::decode(j).error().field == "dscginfo.dscg_way");
  j = dscg.encode();
  j["dscginfo"]["endtime"] = "2026-11-25";
  CHECK(Discharge::Input::decode(j).error().field == "dscginfo.endtime");
  j = dscg.encode();
  j["dscginfo"].erase("insutype");
  CHECK(Discharge::Input::decode(j).error().field == "dscginfo.insutype");
  CHECK(decode_reply<Discharge>(reply_with(Json{{"data", Json::object()}}), kMsgid).error().field == "data.mdtrt_id");

  // 2404: data {mdtrt_id, psn_no}.
  j = UndoAdmission::Input{"M000000000000002", "11000000000000001"}.encode();
  j["data"]["psn_no"] = "";
  CHECK(UndoAdmission::Input::decode(j).error().field == "data.psn_no");
  CHECK(decode_reply<UndoAdmission>(reply_with(Json{{"data", Json{{"mdtrt_id", 2}}}}), kMsgid).error().field ==
        "data.mdtrt_id");

  // 9302: an inpatient record (med_type "21") names its admission and carries no lines.
  OfflineRecord rec;
  rec.local_id = "OFF-IP1";
  rec.psn_no = "11000000000000001";
  rec.card_no = "D00000001";
  rec.insutype = "310";
  rec.med_type = "21";
  rec.mdtrt_id = "M000000000000002";
  rec.setl_time = "2026-11-25 10:00:00";
  rec.reason_code = "offline_network_down";
  rec.medfee_sumamt = yuan("2000.00");
  rec.est_fund_pay = yuan("595.00");
  rec.psn_cash_pay = yuan("1405.00");
  j = OfflineUpload::Input{{rec}}.encode();
  CHECK(j["records"][0]["mdtrt_id"] == "M000000000000002");
  CHECK(OfflineUpload::Input::decode(j).value().records[0] == rec);
  const auto record_error = [](const OfflineRecord& r) {
    return OfflineUpload::Input::decode(OfflineUpload::Input{{r}}.encode()).error().field;
  };
  OfflineRecord no_visit = rec;
  no_visit.mdtrt_id.clear();
  CHECK(record_error(no_visit) == "records[0].mdtrt_id");
  OfflineRecord with_lines = rec;
  with_lines.lines = {line("1", "A001", LineClass::a, "2000.00")};
  CHECK(record_error(with_lines) == "records[0].lines");
  OfflineRecord parts = rec;
  parts.psn_cash_pay = yuan("1404.99");
  CHECK(record_error(parts) == "records[0].medfee_sumamt");
  // An outpatient record names no admission; one from an older hospital has no mdtrt_id at all.
  OfflineRecord outpatient = rec;
  outpatient.med_type = "11";
  outpatient.medfee_sumamt = yuan("100.00");
  outpatient.est_fund_pay = yuan("70.00");
  outpatient.psn_cash_pay = yuan("30.00");
  outpatient.lines = {line("1", "A001", LineClass::a, "100.00")};
  CHECK(record_error(outpatient) == "records[0].mdtrt_id");
  outpatient.mdtrt_id.clear();
  j = OfflineUpload::Input{{outpatient}}.encode();
  j["records"][0].erase("mdtrt_id");
  CHECK(OfflineUpload::Input::decode(j).value().records[0] == outpatient);

  // 3201/3202: clr_type "11", "21" or "" (all), nothing else.
  Json totals = DailyTotals::Input{"310", "21", "2026-11-22", "2026-11-22", {}, {}, {}, 0}.encode();
  CHECK(DailyTotals::Input::decode(totals).ok());
  totals["data"]["clr_type"] = "41";
  CHECK(DailyTotals::Input::decode(totals).error().field == "data.clr_type");
  Json detail = DetailReconcile::Input{"", "21", "2026-11-22", "2026-11-22", 1, 10}.encode();
  CHECK(DetailReconcile::Input::decode(detail).ok());
  detail["data"]["clr_type"] = "12";
  CHECK(DetailReconcile::Input::decode(detail).error().field == "data.clr_type");
}

TEST_CASE("national fields: visit facts, cert types 01/02/03, exp_content, insured areas, 9304 and 9401") {
  // 2201 carries the visit's facts; all optional to the codec.
  OutpatientRegister::Input reg;
  static_cast<VisitOpen&>(reg) = {"11000000000000001", "310", "01", "ECT0123456789", "11", "OP1", "2026-11-22 10:00:00",
                                  "D01", "内科", "DR007", "王医生", "J06.9", "急性上呼吸道感染"};
  input_round_trip<OutpatientRegister>(reg);
  Json j = reg.encode();
  CHECK(j["data"]["atddr_no"] == "DR007");
  CHECK(j["data"]["dise_codg"] == "J06.9");
  j["data"]["dise_codg"] = "";
  CHECK(OutpatientRegister::Input::decode(j).error().field == "data.dise_codg");  // a name without its code
  j["data"]["mdtrt_cert_type"] = "04";
  CHECK(OutpatientRegister::Input::decode(j).error().field == "data.mdtrt_cert_type");
  j = reg.encode();
  j["data"]["dr_name"] = 7;
  CHECK(OutpatientRegister::Input::decode(j).error().field == "data.dr_name");
  // 2401 takes the same facts; its diagnosis stays required.
  Admission::Input adm;
  static_cast<VisitOpen&>(adm) = static_cast<const VisitOpen&>(reg);
  adm.med_type = "21";
  input_round_trip<Admission>(adm);

  // 1101 by e-voucher token, ID number, card.
  input_round_trip<PersonInfo>({"01", "ECT0123456789", "", "01", "", ""});
  input_round_trip<PersonInfo>({"02", "11010519491231002X", "", "01", "", ""});
  const auto pi_error = [](Json data) { return PersonInfo::Input::decode(Json{{"data", std::move(data)}}).error(); };
  CHECK(pi_error({{"mdtrt_cert_type", "01"}, {"mdtrt_cert_no", "ECT1"}, {"card_sn", "0123"}}).field == "data.card_sn");
  CHECK(pi_error({{"mdtrt_cert_type", "02"}, {"mdtrt_cert_no", "11010519491231002X"}, {"psn_cert_type", "02"}}).field ==
        "data.psn_cert_type");
  CHECK(pi_error({{"mdtrt_cert_type", "02"}, {"mdtrt_cert_no", "1101051949"}}).field == "data.mdtrt_cert_no");
  CHECK(pi_error({{"mdtrt_cert_type", "09"}, {"mdtrt_cert_no", "x"}}).field == "data.mdtrt_cert_type");
  // insuinfo[].insuplc_admdvs: 6 digits; an insurer that omits it decodes as "".
  PersonInfo::Output pi;
  pi.baseinfo = {"11000000000000001", "01", "11010519491231002X", "张三", "1", "1949-12-31"};
  pi.insuinfo.push_back({"310", yuan("1.00"), "1", "11", PersonFlags{}, yuan("0.00"), yuan("0.00"), "110105"});
  Json po = pi.encode();
  po["insuinfo"][0].erase("insuplc_admdvs");
  CHECK(decode_reply<PersonInfo>(reply_with(po), kMsgid).value().insuinfo[0].insuplc_admdvs.empty());
  po["insuinfo"][0]["insuplc_admdvs"] = "11010";
  const Error area_err = decode_reply<PersonInfo>(reply_with(po), kMsgid).error();
  CHECK(area_err.field == "insuinfo[0].insuplc_admdvs");
  CHECK(area_err.message.find("6 digits") != std::string::npos);

  // 2207: exp_content.acct_pay_max as text yuan; absent when no cap.
  SettleInput si{"11000000000000001", "01", "ECT0123456789", "11", yuan("170.00"), "01", "M1", "B1", "310", "1", "L1"};
  CHECK_FALSE(si.encode()["data"].contains("exp_content"));
  si.exp_content.acct_pay_max = yuan("12.34");
  CHECK(si.encode()["data"]["exp_content"] == Json{{"acct_pay_max", "12.34"}});
  input_round_trip<OutpatientSettle>(si);
  input_round_trip<InpatientSettle>(si);
  si.exp_content.acct_pay_max = Amount::zero();
  input_round_trip<OutpatientSettle>(si);
  j = si.encode();
  j["data"]["exp_content"] = Json{{"acct_pay_max", "12.34"}, {"other", "ignored"}};
  CHECK(SettleInput::decode(j).value().exp_content.acct_pay_max == yuan("12.34"));
  j["data"]["exp_content"] = Json::object();
  CHECK_FALSE(SettleInput::decode(j).value().exp_content.acct_pay_max.has_value());
  j["data"]["exp_content"] = Json{{"acct_pay_max", "-1.00"}};
  CHECK(SettleInput::decode(j).error().field == "data.exp_content.acct_pay_max");
  j["data"]["exp_content"] = Json{{"acct_pay_max", "12.345"}};
  CHECK(SettleInput::decode(j).error().field == "data.exp_content.acct_pay_max");
  j["data"]["exp_content"] = "{\"acct_pay_max\":\"1.00\"}";
  CHECK(SettleInput::decode(j).error().field == "data.exp_content");

  // 3201 setl_optins: "" (every area) or 6 digits.
  Json dt = DailyTotals::Input{"310", "11", "2026-11-22", "2026-11-22", {}, {}, {}, 0, "31010"}.encode();
  CHECK(DailyTotals::Input::decode(dt).error().field == "data.setl_optins");
  dt["data"].erase("setl_optins");
  CHECK(DailyTotals::Input::decode(dt).value().setl_optins.empty());
  // 3202 rows: insuplc_admdvs 6 digits when present.
  DetailReconcile::Output dr{1, 10, 1, {}};
  dr.rows.push_back({"11000000000000001", "M1", "S1", kMsgid, "L1", "310", "2026-11-22 10:30:45", yuan("1.00"),
                     yuan("1.00"), yuan("0.00"), yuan("0.00"), "0", "0", "440103"});
  Json rows = dr.encode();
  rows["data"]["rows"][0]["insuplc_admdvs"] = "4401xx";
  CHECK(decode_reply<DetailReconcile>(reply_with(rows), kMsgid).error().field == "data.rows[0].insuplc_admdvs");

  // 9304 is the account history's number now (5201 is the national interface's own).
  CHECK(AccountHistory::infno == "9304");
  CHECK(decode_request(encode_call<AccountHistory>(header("9304"), {"11000000000000001", 5})).value().head.infno == "9304");

  // 9401: the e-voucher decode.
  CHECK(EcQuery::infno == "9401");
  input_round_trip<EcQuery>({"ECQR-0123456789ABCDEF", "01101"});
  const EcQuery::Output ec{"ECT0123456789", "01", "11010519491231002X", "张三", "310101", "1", 300};
  output_round_trip<EcQuery>(ec);
  const auto ec_error = [&](const char* key, const Json& value) {
    Json o = ec.encode();
    if (value.is_null())
      o["data"].erase(key);
    else
      o["data"][key] = value;
    return decode_reply<EcQuery>(reply_with(o), kMsgid).error().field;
  };
  CHECK(ec_error("ec_token", "") == "data.ec_token");
  CHECK(ec_error("acct_auth", "yes") == "data.acct_auth");
  CHECK(ec_error("insuplc_admdvs", "31010") == "data.insuplc_admdvs");
  CHECK(ec_error("expires_in", 0) == "data.expires_in");
  CHECK(ec_error("certno", nullptr) == "data.certno");
  CHECK(EcQuery::Input::decode(EcQuery::Input{"", "01101"}.encode()).error().field == "data.ec_qrcode");
  CHECK(EcQuery::Input::decode(EcQuery::Input{"QR", "01a"}.encode()).error().field == "data.biz_type");
}
