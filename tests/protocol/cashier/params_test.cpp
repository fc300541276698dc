// Typed params of every cashier method: valid forms, every missing or
// ill-typed field named in the error, exact amounts, the line limit, and the
// canonical form used for request_id idempotency.
#include "protocol/cashier/params.hpp"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <string>

using namespace settle;
using namespace settle::cashier;

namespace {

Json doc(std::string_view text) {
  auto j = json::parse(text);
  REQUIRE_MESSAGE(j.ok(), text);
  return *j;
}

Result<MethodParams> parse(Method m, std::string_view text) { return parse_params(m, doc(text)); }

struct Bad {
  Method method;
  const char* params;
  Reason reason;
  const char* field;
};


std::string lines_of(int n) {
  std::string s = "[";
  for (int i = 0; i < n; ++i) {
    if (i > 0) s += ",";
    s += fmt::format(R"({{"code":"C{}","name":"n","class":"C","amount":1}})", i);
  }
  return s + "]";
}

}  // namespace

TEST_CASE("valid params of every method") {
  struct Good {
    Method method;
    const char* params;
  };
  const Good cases[] = {
      {Method::session_login, R"({"operator":"op1","password":"pw","window":"W01"})"},
      {Method::session_logout, "{}"},
      {Method::engine_status, "{}"},
      {Method::events_subscribe, R"({"topics":["card","network","card"]})"},
      {Method::events_subscribe, R"({"topics":[]})"},
      {Method::card_read, "{}"},
      {Method::card_read, R"({"timeout_ms":30000})"},
      {Method::card_verify_pin, R"({"pin":"123456"})"},
      {Method::card_verify_pin, R"({"pinpad":true})"},
      {Method::person_query, "{}"},
      {Method::person_query, R"({"card_no":"A12345678"})"},
      {Method::account_history, R"({"from":"2026-01-01","to":"2026-03-01T23:59:59+08:00"})"},
      {Method::settle_preview, R"({"lines":[{"code":"X1","name":"a","class":"B","amount":12.3,"selfpay_ratio":"0.10"}]})"},
      {Method::settle_commit, R"({"request_id":"r-1","lines":[{"code":"X1","name":"a","class":"A","amount":"1"}],"use_account":false,"med_type":"14"})"},
      {Method::settle_refund, R"({"request_id":"r-2","setl_id":"S1"})"},
      {Method::settle_refund, R"({"request_id":"r-2","setl_id":"S1","lines":[{"code":"X1","amount":"1.5"}]})"},
      {Method::settle_resettle, R"({"request_id":"r-3","setl_id":"S1"})"},
      {Method::settle_get, R"({"setl_id":"S1"})"},
      {Method::settle_list, R"({"from":"2026-03-01","to":"2026-03-02","window":"W01","operator":"op1","state":"settled","cursor":"abc","limit":50})"},
      {Method::inpatient_admit, R"({"request_id":"r-4","dept":"0301","diagnosis":"J18.9","admit_time":"2026-03-01T08:00:00Z"})"},
      {Method::inpatient_add_lines, R"({"request_id":"r-5","adm_id":"A1","lines":[{"feedetl_sn":"0001","code":"X1","name":"a","class":"C","amount":0}]})"},
      {Method::inpatient_preview, R"({"adm_id":"A1"})"},
      {Method::inpatient_discharge, R"({"request_id":"r-6","adm_id":"A1","use_account":true,"discharge_time":"2026-03-05T10:00:00+08:00"})"},
      {Method::inpatient_undo_discharge, R"({"request_id":"r-7","adm_id":"A1"})"},
      {Method::inpatient_cancel_lines, R"({"request_id":"r-8","adm_id":"A1","feedetl_sn":["0001","0002"]})"},
      {Method::inpatient_undo_admit, R"({"request_id":"r-9","adm_id":"A1"})"},
      {Method::inpatient_get, R"({"adm_id":"A1","cursor":"100","limit":50})"},
      {Method::inpatient_list, R"({"state":"admitted","dept":"0301","from":"2026-03-01","to":"2026-03-02"})"},
      {Method::recon_run, R"({"date":"2024-02-29"})"},
      {Method::uploads_flush, "{}"},
      {Method::redlist_sync, "{}"},
      {Method::redlist_sync, R"({"full":true})"},
  };
  for (const auto& c : cases) {
    CAPTURE(method_name(c.method));
    CAPTURE(c.params);
    auto r = parse(c.method, c.params);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    CHECK(r->index() == static_cast<std::size_t>(c.method));
  }
}

TEST_CASE("parsed values are exact and defaults filled in") {
  auto c = parse_settle_commit(doc(
      R"({"request_id":"r","lines":[{"code":"X1","name":"a","class":"B","amount":12.3,"selfpay_ratio":"0.125"},)"
      R"({"code":"X2","name":"b","class":"C","amount":"0.05"}]})"));
  REQUIRE(c.ok());
  CHECK(c->use_account);
  CHECK(c->med_type == "11");
  REQUIRE(c->lines.size() == 2);
  CHECK(c->lines[0].amount == Amount::fen(1230));
  CHECK(c->lines[0].cls == LineClass::b);
  CHECK(c->lines[0].selfpay_ratio == Ratio::ppm(125'000));
  CHECK(c->lines[1].amount == Amount::fen(5));
  CHECK_FALSE(c->lines[1].selfpay_ratio.has_value());

  auto pin = parse_verify_pin(doc(R"({"pin":"0000"})"));
  REQUIRE(pin.ok());
  CHECK(pin->pin == "0000");
  CHECK_FALSE(pin->pinpad);

  auto sub = parse_subscribe(doc(R"({"topics":["network","card","network"]})"));
  REQUIRE(sub.ok());
  CHECK(sub->topics == std::vector<Topic>{Topic::network, Topic::card});

  auto list = parse_settle_list(doc(R"({"from":"2026-03-01","to":"2026-03-02"})"));
  REQUIRE(list.ok());
  CHECK(list->limit == default_list_limit);
  CHECK(parse_card_read(doc("{}"))->timeout_ms == 0);
  auto refund = parse_settle_refund(doc(R"({"request_id":"r","setl_id":"S","lines":[{"code":"a","amount":2}]})"));
  REQUIRE(refund.ok());
  REQUIRE(refund->lines.has_value());
  CHECK((*refund->lines)[0] == RefundLine{"a", Amount::fen(200)});
}

TEST_CASE("every missing or ill-typed field is named") {
  const Bad cases[] = {
      // session.login
      {Method::session_login, R"({"password":"pw","window":"W"})", Reason::invalid_request, "operator"},
      {Method::session_login, R"({"operator":"o","window":"W"})", Reason::invalid_request, "password"},
      {Method::session_login, R"({"operator":"o","password":"pw"})", Reason::invalid_request, "window"},
      {Method::session_login, R"({"operator":1,"password":"pw","window":"W"})", Reason::invalid_request, "operator"},
      {Method::session_login, R"({"operator":"o","password":123,"window":"W"})", Reason::invalid_request, "password"},
      {Method::session_login, R"({"operator":"o","password":"","window":"W"})", Reason::invalid_request, "password"},
      {Method::session_login, R"({"operator":"","password":"p","window":"W"})", Reason::invalid_request, "operator"},
      {Method::session_login, R"({"operator":"o","password":"p","window":"W\n"})", Reason::invalid_request, "window"},
      {Method::session_login, R"({"operator":"o","password":"p","window":"W","role":"auditor"})", Reason::invalid_request, "role"},
      // session.logout, engine.status, uploads.flush take nothing
      {Method::session_logout, R"({"x":1})", Reason::invalid_request, "x"},
      {Method::engine_status, R"({"verbose":true})", Reason::invalid_request, "verbose"},
      {Method::uploads_flush, R"({"all":true})", Reason::invalid_request, "all"},
      {Method::redlist_sync, R"({"full":"yes"})", Reason::invalid_request, "full"},
      {Method::redlist_sync, R"({"since":3})", Reason::invalid_request, "since"},
      // events.subscribe
      {Method::events_subscribe, "{}", Reason::invalid_request, "topics"},
      {Method::events_subscribe, R"({"topics":"card"})", Reason::invalid_request, "topics"},
      {Method::events_subscribe, R"({"topics":["card","weather"]})", Reason::invalid_request, "topics[1]"},
      {Method::events_subscribe, R"({"topics":[1]})", Reason::invalid_request, "topics[0]"},
      // card.read
      {Method::card_read, R"({"timeout_ms":"5"})", Reason::invalid_request, "timeout_ms"},
      {Method::card_read, R"({"timeout_ms":1.5})", Reason::invalid_request, "timeout_ms"},
      {Method::card_read, R"({"timeout_ms":-1})", Reason::invalid_request, "timeout_ms"},
      {Method::card_read, R"({"timeout_ms":120001})", Reason::invalid_request, "timeout_ms"},
      // card.verify_pin
      {Method::card_verify_pin, "{}", Reason::invalid_request, "pin"},
      {Method::card_verify_pin, R"({"pin":123456})", Reason::invalid_request, "pin"},
      {Method::card_verify_pin, R"({"pin":"123"})", Reason::invalid_request, "pin"},
      {Method::card_verify_pin, R"({"pin":"1234567890123"})", Reason::invalid_request, "pin"},
      {Method::card_verify_pin, R"({"pin":"12a4"})", Reason::invalid_request, "pin"},
      {Method::card_verify_pin, R"({"pin":" 1234"})", Reason::invalid_request, "pin"},
      {Method::card_verify_pin, R"({"pin":"1234","pinpad":true})", Reason::invalid_request, "pin"},
      {Method::card_verify_pin, R"({"pinpad":"yes"})", Reason::invalid_request, "pinpad"},
      {Method::card_verify_pin, R"({"pinpad":false})", Reason::invalid_request, "pin"},
      // person.query, account.history
      {Method::person_query, R"({"card_no":5})", Reason::invalid_request, "card_no"},
      {Method::person_query, R"({"card_no":"12 34"})", Reason::invalid_request, "card_no"},
      {Method::person_query, R"({"card_no":"12-34"})", Reason::invalid_request, "card_no"},
      {Method::account_history, R"({"from":"2026-13-01"})", Reason::invalid_request, "from"},
      {Method::account_history, R"({"to":"2026-02-30"})", Reason::invalid_request, "to"},
      {Method::account_history, R"({"to":"2026-02-01T10:00:00"})", Reason::invalid_request, "to"},
      {Method::account_history, R"({"from":20260101})", Reason::invalid_request, "from"},
      // settle.preview / lines
      {Method::settle_preview, "{}", Reason::invalid_request, "lines"},
      {Method::settle_preview, R"({"lines":{}})", Reason::invalid_request, "lines"},
      {Method::settle_preview, R"({"lines":[]})", Reason::invalid_request, "lines"},
      {Method::settle_preview, R"({"lines":[5]})", Reason::invalid_request, "lines[0]"},
      {Method::settle_preview, R"({"lines":[{"name":"a","class":"A","amount":1}]})", Reason::invalid_request, "lines[0].code"},
      {Method::settle_preview, R"({"lines":[{"code":"c","class":"A","amount":1}]})", Reason::invalid_request, "lines[0].name"},
      {Method::settle_preview, R"({"lines":[{"code":"c","name":"a","amount":1}]})", Reason::invalid_request, "lines[0].class"},
      {Method::settle_preview, R"({"lines":[{"code":"c","name":"a","class":"D","amount":1}]})", Reason::invalid_request, "lines[0].class"},
      {Method::settle_preview, R"({"lines":[{"code":"c","name":"a","class":"a","amount":1}]})", Reason::invalid_request, "lines[0].class"},
      {Method::settle_preview, R"({"lines":[{"code":"c","name":"a","class":"A"}]})", Reason::invalid_amount, "lines[0].amount"},
      {Method::settle_preview, R"({"lines":[{"code":"c","name":"a","class":"A","amount":1.234}]})", Reason::invalid_amount, "lines[0].amount"},
      {Method::settle_preview, R"({"lines":[{"code":"c","name":"a","class":"A","amount":"-1"}]})", Reason::invalid_amount, "lines[0].amount"},
      {Method::settle_preview, R"({"lines":[{"code":"c","name":"a","class":"A","amount":1e2}]})", Reason::invalid_amount, "lines[0].amount"},
      {Method::settle_preview, R"({"lines":[{"code":"c","name":"a","class":"A","amount":"NaN"}]})", Reason::invalid_amount, "lines[0].amount"},
      {Method::settle_preview, R"({"lines":[{"code":"c","name":"a","class":"A","amount":true}]})", Reason::invalid_amount, "lines[0].amount"},
      {Method::settle_preview, R"({"lines":[{"code":"c","name":"a","class":"A","amount":10000000000.01}]})", Reason::invalid_amount, "lines[0].amount"},
      {Method::settle_preview, R"({"lines":[{"code":"c","name":"a","class":"A","amount":1,"selfpay_ratio":"0.1"}]})", Reason::invalid_request, "lines[0].selfpay_ratio"},
      {Method::settle_preview, R"({"lines":[{"code":"c","name":"a","class":"B","amount":1,"selfpay_ratio":"1.5"}]})", Reason::invalid_request, "lines[0].selfpay_ratio"},
      {Method::settle_preview, R"({"lines":[{"code":"c","name":"a","class":"B","amount":1,"selfpay_ratio":true}]})", Reason::invalid_request, "lines[0].selfpay_ratio"},
      {Method::settle_preview, R"({"lines":[{"code":"c","name":"a","class":"A","amount":1,"qty":2}]})", Reason::invalid_request, "lines[0].qty"},
      {Method::settle_preview, R"({"lines":[{"code":"c","name":"a","class":"A","amount":1}],"use_account":"no"})", Reason::invalid_request, "use_account"},
      {Method::settle_preview, R"({"lines":[{"code":"c","name":"a","class":"A","amount":1}],"use_acount":false})", Reason::invalid_request, "use_acount"},
      // settle.commit
      {Method::settle_commit, R"({"lines":[{"code":"c","name":"a","class":"A","amount":1}]})", Reason::invalid_request, "request_id"},
      {Method::settle_commit, R"({"request_id":"","lines":[{"code":"c","name":"a","class":"A","amount":1}]})", Reason::invalid_request, "request_id"},
      {Method::settle_commit, R"({"request_id":7,"lines":[{"code":"c","name":"a","class":"A","amount":1}]})", Reason::invalid_request, "request_id"},
      {Method::settle_commit, R"({"request_id":"r"})", Reason::invalid_request, "lines"},
      {Method::settle_commit, R"({"request_id":"r","lines":[{"code":"c","name":"a","class":"A","amount":1}],"med_type":11})", Reason::invalid_request, "med_type"},
      {Method::settle_commit, R"({"request_id":"r","lines":[{"code":"c","name":"a","class":"A","amount":1}],"med_type":"1 1"})", Reason::invalid_request, "med_type"},
      // settle.refund
      {Method::settle_refund, R"({"request_id":"r"})", Reason::invalid_request, "setl_id"},
      {Method::settle_refund, R"({"setl_id":"S"})", Reason::invalid_request, "request_id"},
      {Method::settle_refund, R"({"request_id":"r","setl_id":""})", Reason::invalid_request, "setl_id"},
      {Method::settle_refund, R"({"request_id":"r","setl_id":"S","lines":[]})", Reason::invalid_request, "lines"},
      {Method::settle_refund, R"({"request_id":"r","setl_id":"S","lines":"all"})", Reason::invalid_request, "lines"},
      {Method::settle_refund, R"({"request_id":"r","setl_id":"S","lines":[{"amount":1}]})", Reason::invalid_request, "lines[0].code"},
      {Method::settle_refund, R"({"request_id":"r","setl_id":"S","lines":[{"code":"c"}]})", Reason::invalid_amount, "lines[0].amount"},
      {Method::settle_refund, R"({"request_id":"r","setl_id":"S","lines":[{"code":"c","amount":0}]})", Reason::invalid_amount, "lines[0].amount"},
      {Method::settle_refund, R"({"request_id":"r","setl_id":"S","lines":[{"code":"c","amount":"1.001"}]})", Reason::invalid_amount, "lines[0].amount"},
      // settle.resettle, settle.get
      {Method::settle_resettle, R"({"request_id":"r"})", Reason::invalid_request, "setl_id"},
      {Method::settle_resettle, R"({"setl_id":"S"})", Reason::invalid_request, "request_id"},
      {Method::settle_get, "{}", Reason::invalid_request, "setl_id"},
      {Method::settle_get, R"({"setl_id":12})", Reason::invalid_request, "setl_id"},
      // settle.list
      {Method::settle_list, R"({"to":"2026-03-02"})", Reason::invalid_request, "from"},
      {Method::settle_list, R"({"from":"2026-03-01"})", Reason::invalid_request, "to"},
      {Method::settle_list, R"({"from":"yesterday","to":"2026-03-02"})", Reason::invalid_request, "from"},
      {Method::settle_list, R"({"from":"2026-03-01","to":"2026-03-02","state":"paid"})", Reason::invalid_request, "state"},
      {Method::settle_list, R"({"from":"2026-03-01","to":"2026-03-02","limit":0})", Reason::invalid_request, "limit"},
      {Method::settle_list, R"({"from":"2026-03-01","to":"2026-03-02","limit":501})", Reason::invalid_request, "limit"},
      {Method::settle_list, R"({"from":"2026-03-01","to":"2026-03-02","window":3})", Reason::invalid_request, "window"},
      {Method::settle_list, R"({"from":"2026-03-01","to":"2026-03-02","operator":false})", Reason::invalid_request, "operator"},
      // inpatient.*
      {Method::inpatient_admit, R"({"request_id":"r"})", Reason::invalid_request, "dept"},
      {Method::inpatient_admit, R"({"dept":"d"})", Reason::invalid_request, "request_id"},
      {Method::inpatient_admit, R"({"request_id":"r","dept":"d","diagnosis":1})", Reason::invalid_request, "diagnosis"},
      {Method::inpatient_admit, R"({"request_id":"r","dept":"d"})", Reason::invalid_request, "diagnosis"},
      {Method::inpatient_admit, R"({"request_id":"r","dept":"d","diagnosis":"K35.8","admit_time":"2026-03-01"})", Reason::invalid_request, "admit_time"},
      {Method::inpatient_add_lines, R"({"request_id":"r","lines":[{"feedetl_sn":"1","code":"c","name":"a","class":"A","amount":1}]})", Reason::invalid_request, "adm_id"},
      {Method::inpatient_add_lines, R"({"request_id":"r","adm_id":"A"})", Reason::invalid_request, "lines"},
      {Method::inpatient_add_lines, R"({"request_id":"r","adm_id":"A","lines":[{"feedetl_sn":"1","code":"c","name":"a","class":"A","amount":"x"}]})", Reason::invalid_amount, "lines[0].amount"},
      {Method::inpatient_add_lines, R"({"request_id":"r","adm_id":"A","lines":[{"code":"c","name":"a","class":"A","amount":"1"}]})", Reason::invalid_request, "lines[0].feedetl_sn"},
      {Method::inpatient_add_lines, R"({"request_id":"r","adm_id":"A","lines":[{"feedetl_sn":"1","code":"c","name":"a","class":"A","amount":"1"},{"feedetl_sn":"1","code":"c","name":"a","class":"A","amount":"2"}]})", Reason::invalid_request, "lines[1].feedetl_sn"},
      {Method::inpatient_add_lines, R"({"request_id":"r","adm_id":"A","lines":[{"feedetl_sn":"0123456789012345678901234567890","code":"c","name":"a","class":"A","amount":"1"}]})", Reason::invalid_request, "lines[0].feedetl_sn"},
      {Method::inpatient_cancel_lines, R"({"request_id":"r","adm_id":"A","feedetl_sn":[]})", Reason::invalid_request, "feedetl_sn"},
      {Method::inpatient_cancel_lines, R"({"request_id":"r","adm_id":"A","feedetl_sn":["1",2]})", Reason::invalid_request, "feedetl_sn[1]"},
      {Method::inpatient_list, R"({"state":"open"})", Reason::invalid_request, "state"},
      {Method::inpatient_get, R"({"adm_id":"A","limit":0})", Reason::invalid_request, "limit"},
      {Method::inpatient_preview, "{}", Reason::invalid_request, "adm_id"},
      {Method::inpatient_discharge, R"({"request_id":"r"})", Reason::invalid_request, "adm_id"},
      {Method::inpatient_discharge, R"({"request_id":"r","adm_id":"A","use_account":1})", Reason::invalid_request, "use_account"},
      {Method::inpatient_undo_discharge, R"({"adm_id":"A"})", Reason::invalid_request, "request_id"},
      // recon.run
      {Method::recon_run, "{}", Reason::invalid_request, "date"},
      {Method::recon_run, R"({"date":"2026-3-1"})", Reason::invalid_request, "date"},
      {Method::recon_run, R"({"date":"2025-02-29"})", Reason::invalid_request, "date"},
      {Method::recon_run, R"({"date":"2026-03-01T00:00:00+08:00"})", Reason::invalid_request, "date"},
  };
  for (const auto& c : cases) {
    CAPTURE(method_name(c.method));
    CAPTURE(c.params);
    auto r = parse(c.method, c.params);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == c.reason);
    CHECK(r.error().field == c.field);
    CHECK_FALSE(r.error().message.empty());
  }
}

TEST_CASE("the PIN never appears in an error message") {
  const char* pins[] = {R"({"pin":"98765"})", R"({"pin":"987654321098765"})", R"({"pin":"98a765"})",
                        R"({"pin":"98765","pinpad":true})"};
  for (const char* p : pins) {
    CAPTURE(p);
    auto j = doc(p);
    auto r = parse_verify_pin(j);
    if (!r.ok()) CHECK(r.error().message.find("9876") == std::string::npos);
  }
  auto login = parse_login(doc(R"({"operator":"o","password":"s3cret-value-xyz","window":1})"));
  REQUIRE_FALSE(login.ok());
  CHECK(login.error().message.find("s3cret") == std::string::npos);
}

TEST_CASE("request_id is 1 to 64 characters") {
  const std::string ok64(64, 'r');
  const std::string bad65(65, 'r');
  const std::string han = "退费";  // two characters, six bytes
  std::string han64;
  for (int i = 0; i < 32; ++i) han64 += han;
  auto mk = [](const std::string& rid) {
    Json p = Json::object();
    p["request_id"] = rid;
    p["setl_id"] = "S1";
    return p;
  };
  CHECK(parse_settle_resettle(mk(ok64)).ok());
  CHECK(parse_settle_resettle(mk(han64)).ok());
  auto e = parse_settle_resettle(mk(bad65));
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().field == "request_id");
  CHECK_FALSE(parse_settle_resettle(mk(han64 + "x")).ok());
  CHECK_FALSE(parse_settle_resettle(mk("a\tb")).ok());
}

TEST_CASE("at most 500 charge lines") {
  CHECK(parse(Method::settle_preview, fmt::format(R"({{"lines":{}}})", lines_of(500))).ok());
  auto r = parse(Method::settle_preview, fmt::format(R"({{"lines":{}}})", lines_of(501)));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().reason == Reason::limit_exceeded);
  CHECK(r.error().field == "lines");
  auto a = parse(Method::inpatient_add_lines, fmt::format(R"({{"request_id":"r","adm_id":"A","lines":{}}})", lines_of(501)));
  REQUIRE_FALSE(a.ok());
  CHECK(a.error().reason == Reason::limit_exceeded);
}

TEST_CASE("a total above the largest amount is refused") {
  std::string lines = "[";
  for (int i = 0; i < 2; ++i) {
    if (i > 0) lines += ",";
    lines += R"({"code":"c","name":"n","class":"C","amount":"9000000000.00"})";
  }
  lines += "]";
  auto r = parse(Method::settle_preview, fmt::format(R"({{"lines":{}}})", lines));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().reason == Reason::invalid_amount);
  CHECK(r.error().field == "lines");
}

TEST_CASE("canonical form: same meaning, same string") {
  auto canon = [](Method m, std::string_view text) {
    auto r = parse_params(m, doc(text));
    REQUIRE_MESSAGE(r.ok(), text);
    auto c = canonical_form(*r);
    REQUIRE(c.has_value());
    return *c;
  };
  const std::string a = canon(Method::settle_commit,
                              R"({"request_id":"r1","lines":[{"code":"X","name":"n","class":"B","amount":"12.3","selfpay_ratio":"0.10"}]})");
  const std::string b = canon(Method::settle_commit,
                              R"({"use_account":true,"med_type":"11","request_id":"r2","lines":[{"selfpay_ratio":0.1,"amount":12.30,"class":"B","name":"n","code":"X"}]})");
  CHECK(a == b);  // defaults, key order, amount and ratio spelling, request_id: none matter
  CHECK(a.find("1230") != std::string::npos);
  CHECK(a.find("r1") == std::string::npos);

  const char* different[] = {
      R"({"request_id":"r1","lines":[{"code":"X","name":"n","class":"B","amount":"12.31","selfpay_ratio":"0.10"}]})",
      R"({"request_id":"r1","lines":[{"code":"X","name":"n","class":"B","amount":"12.3"}]})",
      R"({"request_id":"r1","lines":[{"code":"X","name":"n","class":"B","amount":"12.3","selfpay_ratio":"0.10"}],"use_account":false})",
      R"({"request_id":"r1","lines":[{"code":"X","name":"n","class":"B","amount":"12.3","selfpay_ratio":"0.10"}],"med_type":"14"})",
      R"({"request_id":"r1","lines":[{"code":"Y","name":"n","class":"B","amount":"12.3","selfpay_ratio":"0.10"}]})",
  };
  for (const char* d : different) {
    CAPTURE(d);
    CHECK(canon(Method::settle_commit, d) != a);
  }

  CHECK(canon(Method::settle_refund, R"({"request_id":"r","setl_id":"S","lines":[{"code":"c","amount":"5"}]})") ==
        canon(Method::settle_refund, R"({"setl_id":"S","lines":[{"amount":5.00,"code":"c"}],"request_id":"q"})"));
  CHECK(canon(Method::settle_refund, R"({"request_id":"r","setl_id":"S"})") !=
        canon(Method::settle_refund, R"({"request_id":"r","setl_id":"S","lines":[{"code":"c","amount":"5"}]})"));
  // Different methods with the same params never collide.
  CHECK(canon(Method::settle_resettle, R"({"request_id":"r","setl_id":"S"})") !=
        canon(Method::settle_refund, R"({"request_id":"r","setl_id":"S"})"));
  CHECK(canon(Method::inpatient_discharge, R"({"request_id":"r","adm_id":"A"})") ==
        canon(Method::inpatient_discharge, R"({"request_id":"x","adm_id":"A","use_account":true})"));
  CHECK(canon(Method::inpatient_admit, R"({"request_id":"r","dept":"d","diagnosis":"J18"})") !=
        canon(Method::inpatient_admit, R"({"request_id":"r","dept":"d","diagnosis":"J19"})"));
  CHECK(canon(Method::inpatient_add_lines, R"({"request_id":"r","adm_id":"A","lines":[{"feedetl_sn":"1","code":"c","name":"n","class":"A","amount":"1.5"}]})") ==
        canon(Method::inpatient_add_lines, R"({"request_id":"z","adm_id":"A","lines":[{"feedetl_sn":"1","code":"c","name":"n","class":"A","amount":1.50}]})"));
  // Another line number is another batch.
  CHECK(canon(Method::inpatient_add_lines, R"({"request_id":"r","adm_id":"A","lines":[{"feedetl_sn":"1","code":"c","name":"n","class":"A","amount":"1.5"}]})") !=
        canon(Method::inpatient_add_lines, R"({"request_id":"r","adm_id":"A","lines":[{"feedetl_sn":"2","code":"c","name":"n","class":"A","amount":"1.5"}]})"));
  CHECK(canon(Method::inpatient_undo_discharge, R"({"request_id":"r","adm_id":"A"})").find("undo_discharge") != std::string::npos);

  // Read-only methods have no canonical form and no request_id.
  auto get = parse_params(Method::settle_get, doc(R"({"setl_id":"S"})"));
  REQUIRE(get.ok());
  CHECK_FALSE(canonical_form(*get).has_value());
  CHECK_FALSE(request_id_of(*get).has_value());
  auto commit = parse_params(Method::settle_commit,
                             doc(R"({"request_id":"rid-9","lines":[{"code":"c","name":"n","class":"A","amount":1}]})"));
  REQUIRE(commit.ok());
  CHECK(request_id_of(*commit) == "rid-9");
  // closeout.record's request_id is its own (a repeat answers the close-out it
  // made), not a settlement request's: the settlement table never sees it.
  auto closeout = parse_params(Method::closeout_record, doc(R"({"request_id":"a-0Z"})"));
  REQUIRE(closeout.ok());
  CHECK_FALSE(request_id_of(*closeout).has_value());
  CHECK_FALSE(canonical_form(*closeout).has_value());
}

TEST_CASE("every mutating method has a canonical form") {
  const std::pair<Method, const char*> cases[] = {
      {Method::settle_commit, R"({"request_id":"r","lines":[{"code":"c","name":"n","class":"A","amount":1}]})"},
      {Method::settle_refund, R"({"request_id":"r","setl_id":"S"})"},
      {Method::settle_resettle, R"({"request_id":"r","setl_id":"S"})"},
      {Method::inpatient_admit, R"({"request_id":"r","dept":"d","diagnosis":"K35.8"})"},
      {Method::inpatient_add_lines, R"({"request_id":"r","adm_id":"A","lines":[{"feedetl_sn":"1","code":"c","name":"n","class":"A","amount":1}]})"},
      {Method::inpatient_cancel_lines, R"({"request_id":"r","adm_id":"A","feedetl_sn":["1"]})"},
      {Method::inpatient_discharge, R"({"request_id":"r","adm_id":"A"})"},
      {Method::inpatient_undo_discharge, R"({"request_id":"r","adm_id":"A"})"},
      {Method::inpatient_undo_admit, R"({"request_id":"r","adm_id":"A"})"},
  };
  for (const auto& c : cases) {
    const Method m = c.first;
    const char* text = c.second;
    CAPTURE(method_name(m));
    REQUIRE(is_mutating(m));
    auto r = parse_params(m, doc(text));
    REQUIRE(r.ok());
    CHECK(canonical_form(*r).has_value());
    CHECK(request_id_of(*r) == "r");
  }
}

TEST_CASE("ISO 8601 validators") {
  CHECK(is_iso_date("2026-03-01"));
  CHECK(is_iso_date("2000-02-29"));
  CHECK_FALSE(is_iso_date("1900-02-29"));
  CHECK_FALSE(is_iso_date("2026-04-31"));
  CHECK_FALSE(is_iso_date("2026-00-10"));
  CHECK_FALSE(is_iso_date("26-03-01"));
  CHECK(is_iso_datetime_offset("2026-03-01T08:30:00+08:00"));
  CHECK(is_iso_datetime_offset("2026-03-01T08:30:00.125Z"));
  CHECK(is_iso_datetime_offset("2026-03-01T08:30:00-05:30"));
  CHECK_FALSE(is_iso_datetime_offset("2026-03-01T08:30:00"));
  CHECK_FALSE(is_iso_datetime_offset("2026-03-01 08:30:00+08:00"));
  CHECK_FALSE(is_iso_datetime_offset("2026-03-01T24:00:00Z"));
  CHECK_FALSE(is_iso_datetime_offset("2026-03-01T08:30:00+0800"));
  CHECK_FALSE(is_iso_datetime_offset("2026-03-01T08:30:00.Z"));
}

TEST_CASE("a parked item is named by its queue: outbox by default, or stay") {
  auto r = parse(Method::outbox_retry, R"({"item_id":7})");
  REQUIRE(r.ok());
  CHECK(std::get<OutboxRetryParams>(*r).item_id == 7);
  CHECK_FALSE(std::get<OutboxRetryParams>(*r).stay);
  r = parse(Method::outbox_retry, R"({"item_id":7,"queue":"stay"})");
  REQUIRE(r.ok());
  CHECK(std::get<OutboxRetryParams>(*r).stay);
  r = parse(Method::outbox_resolve, R"({"item_id":7,"note":"entered at the portal","queue":"outbox"})");
  REQUIRE(r.ok());
  CHECK_FALSE(std::get<OutboxResolveParams>(*r).stay);
  CHECK(std::get<OutboxResolveParams>(*r).note == "entered at the portal");
  r = parse(Method::outbox_resolve, R"({"item_id":7,"note":"n","queue":"stays"})");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().reason == Reason::invalid_request);
  CHECK(r.error().field == "queue");
  r = parse(Method::outbox_retry, R"({"item_id":7,"queue":1})");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().field == "queue");
}

TEST_CASE("the office's methods: every wrong field named, amounts exact, passwords never quoted") {
  // correction.record: the target decides which fields belong.
  auto r = parse(Method::correction_record,
                 R"({"target":"settlement","setl_id":"12","action":"amounts","fund":"60.00","account":0,"cash":"40.10","reason":"r"})");
  REQUIRE(r.ok());
  const auto& c = std::get<CorrectionRecordParams>(*r);
  CHECK(c.fund == Amount::fen(6'000));
  CHECK(c.cash == Amount::fen(4'010));
  const std::pair<const char*, const char*> bad[] = {
      {R"({"target":"till","setl_id":"1","action":"undo","reason":"r"})", "target"},
      {R"({"target":"settlement","setl_id":"1","action":"resolve","reason":"r"})", "action"},
      {R"({"target":"outbox","item_id":3,"action":"undo","reason":"r"})", "action"},
      {R"({"target":"settlement","setl_id":"1","action":"amounts","fund":"1.00","account":"0","reason":"r"})", "cash"},
      {R"({"target":"settlement","setl_id":"1","action":"undo","cash":"1.00","reason":"r"})", "cash"},
      {R"({"target":"outbox","item_id":0,"action":"resolve","reason":"r"})", "item_id"},
      {R"({"target":"outbox","item_id":3,"setl_id":"1","action":"resolve","reason":"r"})", "setl_id"},
      {R"({"target":"settlement","setl_id":"1","action":"undo"})", "reason"},
      {R"({"target":"settlement","setl_id":"1","action":"amounts","fund":"1.001","account":"0","cash":"0","reason":"r"})",
       "fund"}};
  for (const auto& [text_, field] : bad) {
    const auto text = text_;  // a variable: clang 14 lambdas (CAPTURE) cannot take a binding
    CAPTURE(text);
    auto e = parse(Method::correction_record, text);
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().field == field);
  }
  CHECK(parse(Method::correction_approve, R"({"correction_id":0})").error().field == "correction_id");
  CHECK(parse(Method::correction_refuse, R"({"correction_id":4,"note":"no"})").ok());
  // Lists: a cursor is a positive id; dates as settle.list takes them.
  CHECK(parse(Method::audit_list, R"({"cursor":0})").error().field == "cursor");
  CHECK(parse(Method::audit_list, R"({"from":"2026-13-01"})").error().field == "from");
  CHECK(parse(Method::closeout_list, R"({"cursor":-2})").error().field == "cursor");
  CHECK(parse(Method::closeout_list, R"({"window":"W01","operator":"c001","limit":500})").ok());
  CHECK(parse(Method::closeout_preview, R"({"date":"2026-02-30"})").error().field == "date");
  CHECK(parse(Method::closeout_record, R"({})").error().field == "request_id");
  CHECK(parse(Method::closeout_sheet, R"({"paper":"B5"})").error().field == "paper");
  // Operators: the role named; a password's text is never in the message.
  CHECK(parse(Method::operator_add, R"({"operator":"c9","role":"king","password":"Sekret-12345"})").error().field ==
        "role");
  auto pw = parse(Method::session_change_password, R"({"password":"Old-Secret-1","new_password":""})");
  REQUIRE_FALSE(pw.ok());
  CHECK(pw.error().field == "new_password");
  CHECK(pw.error().message.find("Old-Secret-1") == std::string::npos);
}

TEST_CASE("notice.get: defaults, and each wrong field named") {
  auto d = parse(Method::notice_get, R"({})");
  REQUIRE(d.ok());
  const auto& p = std::get<NoticeGetParams>(*d);
  CHECK(p.state == "current");
  CHECK(p.format == "text");
  CHECK(p.paper == "A4");
  CHECK_FALSE(p.reason.has_value());
  CHECK_FALSE(p.id.has_value());
  auto h = parse(Method::notice_get, R"({"state":"offline","format":"html","paper":"A5","reason":"OFFLINE_REFUND_FORBIDDEN"})");
  REQUIRE(h.ok());
  CHECK(std::get<NoticeGetParams>(*h).paper == "A5");
  CHECK(std::get<NoticeGetParams>(*h).reason == std::optional<std::string>("OFFLINE_REFUND_FORBIDDEN"));
  CHECK(parse(Method::notice_get, R"({"state":"down"})").error().field == "state");
  CHECK(parse(Method::notice_get, R"({"reason":"NO_SUCH_REASON"})").error().field == "reason");
  CHECK(parse(Method::notice_get, R"({"format":"pdf"})").error().field == "format");
  CHECK(parse(Method::notice_get, R"({"format":"html","paper":"B5"})").error().field == "paper");
  CHECK(parse(Method::notice_get, R"({"paper":"A5"})").error().field == "paper");
  CHECK(parse(Method::notice_get, R"({"id":7})").error().field == "id");
  CHECK(parse(Method::notice_get, R"({"lang":"en"})").error().field == "lang");
}

TEST_CASE("credential.id: 18 characters, GB 11643 check character, the number never quoted") {
  auto ok = parse_credential_id(doc(R"({"id_no":"11010519491231002x","window":"W01"})"));
  REQUIRE_MESSAGE(ok.ok(), ok.error().message);
  CHECK(ok->id_no == "11010519491231002X");  // a lower-case x is the check character X
  CHECK(ok->window == "W01");
  CHECK(parse_credential_id(doc(R"({"id_no":"310115198506151236"})"))->window == std::nullopt);
  struct Row {
    const char* params;
    const char* field;
    const char* says;
  };
  const Row rows[] = {
      {"{}", "id_no", "18-character ID number"},
      {R"({"id_no":110105198001010016})", "id_no", "18-character ID number"},
      {R"({"id_no":"11010519800101001"})", "id_no", "18 characters, got 17"},
      {R"({"id_no":"1101051980010100167"})", "id_no", "18 characters, got 19"},
      {R"({"id_no":"110105198001010017"})", "id_no", "check character"},   // the check digit is 6
      {R"({"id_no":"440301199002300011"})", "id_no", "birth date"},        // 30 February, check digit right
      {R"({"id_no":"11010519800101001A"})", "id_no", "17 digits, then a digit or X"},
      {R"({"id_no":"1101051980O101001X"})", "id_no", "17 digits, then a digit or X"},
      {R"({"id_no":"110105198001010016","window":""})", "window", "window"},
      {R"({"id_no":"110105198001010016","card_no":"E1"})", "card_no", "unknown field"},
  };
  for (const Row& r : rows) {
    CAPTURE(r.params);
    auto e = parse_params(Method::credential_id, doc(r.params));
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().reason == Reason::invalid_request);
    CHECK(e.error().field == r.field);
    CHECK_MESSAGE(e.error().message.find(r.says) != std::string::npos, e.error().message);
    CHECK(e.error().message.find("11010519800101001") == std::string::npos);  // never the number itself
  }
  CHECK(is_id_number("11010519491231002X"));
  CHECK_FALSE(is_id_number("11010519491231002x"));  // the parser upper-cases first
  CHECK_FALSE(is_id_number("110105194912310029"));
}

TEST_CASE("credential.scan: the QR code as read, printable, bounded") {
  auto ok = parse_params(Method::credential_scan, doc(R"({"qr":"EC:1100:7f3a9c","window":"W02"})"));
  REQUIRE_MESSAGE(ok.ok(), ok.error().message);
  CHECK(std::get<CredentialScanParams>(*ok).qr == "EC:1100:7f3a9c");
  CHECK(std::get<CredentialScanParams>(*ok).window == "W02");
  const std::string too_long = R"({"qr":")" + std::string(max_qr_len + 1, 'a') + R"("})";
  const Bad rows[] = {
      {Method::credential_scan, "{}", Reason::invalid_request, "qr"},
      {Method::credential_scan, R"({"qr":""})", Reason::invalid_request, "qr"},
      {Method::credential_scan, R"({"qr":42})", Reason::invalid_request, "qr"},
      {Method::credential_scan, R"({"qr":"EC 1100"})", Reason::invalid_request, "qr"},
      {Method::credential_scan, too_long.c_str(), Reason::invalid_request, "qr"},
      {Method::credential_scan, R"({"qr":"EC1","window":5})", Reason::invalid_request, "window"},
      {Method::credential_scan, R"({"qr":"EC1","timeout_ms":5})", Reason::invalid_request, "timeout_ms"},
  };
  for (const Bad& c : rows) {
    CAPTURE(c.params);
    auto r = parse(c.method, c.params);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == c.reason);
    CHECK(r.error().field == c.field);
  }
}

TEST_CASE("visit and med_type on settle.preview, settle.commit and inpatient.admit") {
  const char* lines = R"([{"code":"X1","name":"a","class":"A","amount":"1"}])";
  auto commit = parse_settle_commit(doc(fmt::format(
      R"({{"request_id":"r","lines":{},"med_type":"14","visit":{{"dept_code":"A03","dept_name":"内科","doctor_code":"D001","doctor_name":"李医生","diagnoses":[{{"code":"J06.900","name":"上呼吸道感染"}},{{"code":"R50.900"}}]}}}})",
      lines)));
  REQUIRE_MESSAGE(commit.ok(), commit.error().message);
  REQUIRE(commit->visit.has_value());
  CHECK(commit->med_type == "14");
  CHECK(commit->visit->dept_code == "A03");
  CHECK(commit->visit->doctor_name == "李医生");
  REQUIRE(commit->visit->diagnoses.size() == 2);
  CHECK(commit->visit->diagnoses[0] == DiagnosisParam{"J06.900", "上呼吸道感染"});
  CHECK(commit->visit->diagnoses[1] == DiagnosisParam{"R50.900", ""});
  CHECK(require_national_visit(commit->visit).ok());

  auto preview = parse_settle_preview(doc(fmt::format(R"({{"lines":{}}})", lines)));
  REQUIRE(preview.ok());
  CHECK_FALSE(preview->visit.has_value());
  CHECK(preview->med_type == "11");
  CHECK(parse_settle_preview(doc(fmt::format(R"({{"lines":{},"visit":{{"dept_code":"A03"}},"med_type":"13"}})", lines)))
            ->med_type == "13");

  // The national profile's rule: a department and a main diagnosis.
  const auto no_visit = require_national_visit(std::nullopt);
  REQUIRE_FALSE(no_visit.ok());
  CHECK(no_visit.error().field == "visit.dept_code");
  VisitParams only_dept;
  only_dept.dept_code = "A03";
  const auto no_diag = require_national_visit(only_dept);
  REQUIRE_FALSE(no_diag.ok());
  CHECK(no_diag.error().field == "visit.diagnoses");
  CHECK(no_diag.error().message.find("diagnosis") != std::string::npos);

  // The admission: dept and diagnosis fill the visit; the visit may not contradict them.
  auto admit = parse_inpatient_admit(doc(
      R"({"request_id":"r","dept":"0301","dept_name":"普外科","diagnosis":"K35.8","diagnosis_name":"急性阑尾炎","visit":{"doctor_code":"D7","diagnoses":[{"code":"K35.8"},{"code":"E11.9","name":"2型糖尿病"}]}})"));
  REQUIRE_MESSAGE(admit.ok(), admit.error().message);
  CHECK(admit->med_type == "21");
  REQUIRE(admit->visit.has_value());
  CHECK(admit->visit->dept_code == "0301");
  CHECK(admit->visit->dept_name == "普外科");
  CHECK(admit->visit->doctor_code == "D7");
  CHECK(admit->visit->diagnoses.size() == 2);
  auto bare_admit = parse_inpatient_admit(doc(R"({"request_id":"r","dept":"0301","diagnosis":"K35.8"})"));
  REQUIRE(bare_admit.ok());
  CHECK_FALSE(bare_admit->visit.has_value());

  const std::string commit_head = fmt::format(R"({{"request_id":"r","lines":{},)", lines);
  const std::string bads[][2] = {
      {commit_head + R"("visit":"A03"})", "visit"},
      {commit_head + R"("visit":{"dept":"A03"}})", "visit.dept"},
      {commit_head + R"("visit":{"dept_code":""}})", "visit.dept_code"},
      {commit_head + R"("visit":{"dept_code":"A 03"}})", "visit.dept_code"},
      {commit_head + R"("visit":{"doctor_name":"a\nb"}})", "visit.doctor_name"},
      {commit_head + R"("visit":{"diagnoses":{"code":"J06"}}})", "visit.diagnoses"},
      {commit_head + R"("visit":{"diagnoses":[{"name":"感冒"}]}})", "visit.diagnoses[0].code"},
      {commit_head + R"("visit":{"diagnoses":[{"code":"J06","name":"感冒","kind":1}]}})", "visit.diagnoses[0].kind"},
      {commit_head + R"("visit":{"diagnoses":[{"code":"J06"},{"code":"J06"}]}})", "visit.diagnoses[1].code"},
      {commit_head + R"("med_type":"1x"})", "med_type"},
      {commit_head + R"("med_type":""})", "med_type"},
  };
  for (const auto& b : bads) {
    CAPTURE(b[0]);
    auto r = parse_params(Method::settle_commit, doc(b[0]));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == Reason::invalid_request);
    CHECK(r.error().field == b[1]);
  }
  std::string many = commit_head + R"("visit":{"diagnoses":[)";
  for (std::size_t i = 0; i <= max_diagnoses; ++i) many += fmt::format(R"({}{{"code":"D{}"}})", i ? "," : "", i);
  auto too_many = parse_params(Method::settle_commit, doc(many + "]}}"));
  REQUIRE_FALSE(too_many.ok());
  CHECK(too_many.error().field == "visit.diagnoses");
  auto other_dept = parse_params(Method::inpatient_admit,
                                 doc(R"({"request_id":"r","dept":"0301","diagnosis":"K35.8","visit":{"dept_code":"0302"}})"));
  REQUIRE_FALSE(other_dept.ok());
  CHECK(other_dept.error().field == "visit.dept_code");
  auto other_diag = parse_params(Method::inpatient_admit,
                                 doc(R"({"request_id":"r","dept":"0301","diagnosis":"K35.8","visit":{"diagnoses":[{"code":"J18"}]}})"));
  REQUIRE_FALSE(other_diag.ok());
  CHECK(other_diag.error().field == "visit.diagnoses[0].code");
  auto admit_mt = parse_params(Method::inpatient_admit, doc(R"({"request_id":"r","dept":"0301","diagnosis":"K35.8","med_type":"x"})"));
  REQUIRE_FALSE(admit_mt.ok());
  CHECK(admit_mt.error().field == "med_type");
}

TEST_CASE("canonical form: the visit counts, a 1.2 request's form is unchanged") {
  auto canon = [](Method m, std::string_view text) {
    auto r = parse_params(m, doc(text));
    REQUIRE_MESSAGE(r.ok(), text);
    return canonical_form(*r).value();
  };
  const std::string plain = canon(Method::settle_commit, R"({"request_id":"r","lines":[{"code":"X","name":"n","class":"A","amount":"1"}]})");
  CHECK(plain.find("visit") == std::string::npos);
  const std::string v1 = canon(Method::settle_commit,
                               R"({"request_id":"r","lines":[{"code":"X","name":"n","class":"A","amount":"1"}],"visit":{"dept_code":"A03","diagnoses":[{"code":"J06"}]}})");
  const std::string v2 = canon(Method::settle_commit,
                               R"({"request_id":"q","visit":{"diagnoses":[{"code":"J06","name":null}],"dept_code":"A03"},"lines":[{"code":"X","name":"n","class":"A","amount":1.00}]})");
  CHECK(v1 == v2);
  CHECK(v1 != plain);
  CHECK(v1 != canon(Method::settle_commit,
                    R"({"request_id":"r","lines":[{"code":"X","name":"n","class":"A","amount":"1"}],"visit":{"dept_code":"A03","diagnoses":[{"code":"J07"}]}})"));
  const std::string admit = canon(Method::inpatient_admit, R"({"request_id":"r","dept":"d","diagnosis":"J18"})");
  CHECK(admit.find("med_type") == std::string::npos);
  CHECK(admit == canon(Method::inpatient_admit, R"({"request_id":"r","dept":"d","diagnosis":"J18","med_type":"21"})"));
  CHECK(admit != canon(Method::inpatient_admit, R"({"request_id":"r","dept":"d","diagnosis":"J18","med_type":"22"})"));
}
