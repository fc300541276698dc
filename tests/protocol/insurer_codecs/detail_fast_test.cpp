// The 3202 fast paths (protocol/insurer/detail_fast.*) against the codecs: the
// writer's bytes are the encoder's; the decoder's outcome (value, or error with
// the same reason, field, message) is decode_reply<DetailReconcile>'s on every page.
#include "protocol/insurer/detail_fast.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <functional>
#include <tuple>
#include <random>

using namespace settle;
using namespace settle::insurer;

namespace {

constexpr std::string_view kMsgid = "H110105000012026112217000000001";

DetailReconcile::Row row(int i) {
  DetailReconcile::Row r;
  r.psn_no = fmt::format("11{:014}", i);
  r.mdtrt_id = i % 4 == 0 ? "" : fmt::format("M{:09}", i);
  r.setl_id = fmt::format("S{:09}", i);
  r.msgid = fmt::format("H1101050000120261122170{:07}", i);  // 30 characters
  r.medins_setl_id = i % 5 == 0 ? "" : fmt::format("b{}", i);
  r.insutype = i % 3 ? "310" : "390";
  r.setl_time = i % 6 == 0 ? "" : fmt::format("2026-11-22 {:02}:{:02}:{:02}", i % 24, i % 60, (i * 7) % 60);
  r.refd_setl_flag = i % 10 == 0 ? "2" : i % 7 == 0 ? "1" : "0";
  if (r.refd_setl_flag != "2") {
    r.fund_pay_sumamt = Amount::fen(i * 1009);
    r.acct_pay = Amount::fen(i * 137);
    r.psn_cash_pay = Amount::fen(i % 9 == 0 ? 0 : i * 51 + 3);
    r.medfee_sumamt = r.fund_pay_sumamt + r.acct_pay + r.psn_cash_pay;
  }
  r.stmt_rslt = "0";
  r.insuplc_admdvs = i % 8 == 0 ? "" : i % 3 ? "110105" : "440103";
  return r;
}

DetailReconcile::Output page(int n) {
  DetailReconcile::Output o;
  o.page_num = 3;
  o.page_size = 1000;
  o.total = 123'456;
  for (int i = 0; i < n; ++i) o.rows.push_back(row(i + 1));
  return o;
}

std::string body_of(const json::Json& output, std::string_view msgid = kMsgid) {
  return encode_ok_reply(msgid, output, 1'700'000'000'000, 1'700'000'000'100);
}

// Returns whether the fast path answered.
bool same_outcome(const std::string& body) {
  CAPTURE(body.substr(0, 600));
  bool fast = false;
  auto a = decode_detail_reply(body, kMsgid, &fast);
  auto b = decode_reply<DetailReconcile>(body, kMsgid);
  REQUIRE(a.ok() == b.ok());
  if (a.ok()) {
    CHECK(*a == *b);
  } else {
    CHECK(!fast);
    CHECK(a.error().reason == b.error().reason);
    CHECK(a.error().field == b.error().field);
    CHECK(a.error().message == b.error().message);
  }
  return fast;
}

json::Json& row_of(json::Json& j, std::size_t i) { return j["output"]["data"]["rows"][i]; }

}  // namespace

TEST_CASE("3202 writer: the same bytes as the encoder's dump") {
  for (int n : {0, 1, 2, 17, 1000}) {
    CAPTURE(n);
    const DetailReconcile::Output o = page(n);
    std::string text;
    append_detail_output(text, o.page_num, o.page_size, o.total, o.rows);
    CHECK(text == o.encode().dump());
  }
  // Strings the library must escape (quote, backslash, control, non-ASCII) still match.
  DetailReconcile::Output o = page(3);
  o.rows[0].psn_no = "a\"b\\c";
  o.rows[1].medins_setl_id = "x\ny\t\x01";
  o.rows[2].msgid = "张三";
  o.rows[2].insutype = "\x7f";
  // Amounts of every width, and a negative one (the writer does not judge).
  o.rows[0].acct_pay = Amount::fen(5);
  o.rows[0].fund_pay_sumamt = Amount::fen(70);
  o.rows[0].psn_cash_pay = Amount::fen(100);
  o.rows[0].medfee_sumamt = Amount::fen(999'999'999'999);
  o.rows[1].acct_pay = Amount::fen(-1234);
  o.rows[1].psn_cash_pay = Amount::fen(-5);
  std::string text = "prefix";
  append_detail_output(text, o.page_num, o.page_size, o.total, o.rows);
  CHECK(text == "prefix" + o.encode().dump());
}

TEST_CASE("3202 fast path: the simulator's pages are read by the fast path, equal to the codecs'") {
  for (int n : {0, 1, 17, 1000}) {
    CAPTURE(n);
    DetailReconcile::Output o = page(n);
    std::string text;
    append_detail_output(text, o.page_num, o.page_size, o.total, o.rows);
    const std::string body = body_of(json::parse(text).value());
    bool fast = false;
    auto a = decode_detail_reply(body, kMsgid, &fast);
    REQUIRE(a);
    CHECK(fast);
    CHECK(*a == o);
    CHECK(same_outcome(body));
    // Pretty-printed (whitespace everywhere) is still the fast path.
    const std::string pretty = json::parse(body).value().dump(2);
    auto p = decode_detail_reply(pretty, kMsgid, &fast);
    REQUIRE(p);
    CHECK(fast);
    CHECK(*p == o);
  }
  // Optional fields left out: defaults as the codec gives them, still fast.
  json::Json j = json::parse(body_of(page(2).encode())).value();
  row_of(j, 0).erase("medins_setl_id");
  row_of(j, 0).erase("insutype");
  row_of(j, 0).erase("setl_time");
  row_of(j, 0).erase("stmt_rslt");
  row_of(j, 0).erase("insuplc_admdvs");
  row_of(j, 1)["stmt_rslt"] = "1";
  bool fast = false;
  auto a = decode_detail_reply(j.dump(), kMsgid, &fast);
  REQUIRE(a);
  CHECK(fast);
  CHECK(a->rows[0].stmt_rslt == "0");
  CHECK(a->rows[0].setl_time.empty());
  CHECK(a->rows[1].stmt_rslt == "1");
  CHECK(same_outcome(j.dump()));
}

TEST_CASE("3202 fast path: every malformed field has exactly the codecs' outcome") {
  const json::Json good = json::parse(body_of(page(12).encode())).value();
  using Edit = std::function<void(json::Json&)>;
  std::vector<std::tuple<std::string, std::string, Edit>> edits{
      // the envelope and the page
      {"infcode -1", "infcode=-1", [](json::Json& j) { j["infcode"] = -1; j["err_msg"] = "no"; }},
      {"other msgid", "inf_refmsgid", [](json::Json& j) { j["inf_refmsgid"] = "H1"; }},
      {"no output", "output", [](json::Json& j) { j.erase("output"); }},
      {"output not object", "-", [](json::Json& j) { j["output"] = json::Json::array(); }},
      {"no data", "data", [](json::Json& j) { j["output"].erase("data"); }},
      {"data array", "data", [](json::Json& j) { j["output"]["data"] = json::Json::array(); }},
      {"page_num 0", "data.page_num", [](json::Json& j) { j["output"]["data"]["page_num"] = 0; }},
      {"page_num too big", "data.page_num", [](json::Json& j) { j["output"]["data"]["page_num"] = 4'294'967'296LL; }},
      {"page_num string", "data.page_num", [](json::Json& j) { j["output"]["data"]["page_num"] = "3"; }},
      {"no page_num", "data.page_num", [](json::Json& j) { j["output"]["data"].erase("page_num"); }},
      {"page_size 1001", "data.page_size", [](json::Json& j) { j["output"]["data"]["page_size"] = 1001; }},
      {"page_size below rows", "data.rows", [](json::Json& j) { j["output"]["data"]["page_size"] = 11; }},
      {"page_size negative", "data.page_size", [](json::Json& j) { j["output"]["data"]["page_size"] = -1; }},
      {"negative total", "data.total", [](json::Json& j) { j["output"]["data"]["total"] = -1; }},
      {"total bool", "data.total", [](json::Json& j) { j["output"]["data"]["total"] = true; }},
      {"no total", "data.total", [](json::Json& j) { j["output"]["data"].erase("total"); }},
      {"no rows", "data.rows", [](json::Json& j) { j["output"]["data"].erase("rows"); }},
      {"rows null", "data.rows", [](json::Json& j) { j["output"]["data"]["rows"] = nullptr; }},
      {"rows object", "data.rows", [](json::Json& j) { j["output"]["data"]["rows"] = json::Json::object(); }},
      {"row not object", "data.rows[3]", [](json::Json& j) { row_of(j, 3) = 5; }},
      {"1001 rows", "data.rows", [](json::Json& j) {
         auto& r = j["output"]["data"]["rows"];
         while (r.size() < 1001) r.push_back(r[0]);
       }},
      // each field of a row
      {"empty psn_no", "data.rows[1].psn_no", [](json::Json& j) { row_of(j, 1)["psn_no"] = ""; }},
      {"long psn_no", "data.rows[1].psn_no", [](json::Json& j) { row_of(j, 1)["psn_no"] = std::string(65, '1'); }},
      {"psn_no number", "data.rows[1].psn_no", [](json::Json& j) { row_of(j, 1)["psn_no"] = 11; }},
      {"no psn_no", "data.rows[1].psn_no", [](json::Json& j) { row_of(j, 1).erase("psn_no"); }},
      {"no mdtrt_id", "data.rows[2].mdtrt_id", [](json::Json& j) { row_of(j, 2).erase("mdtrt_id"); }},
      {"long mdtrt_id", "data.rows[2].mdtrt_id", [](json::Json& j) { row_of(j, 2)["mdtrt_id"] = std::string(65, 'M'); }},
      {"mdtrt_id null", "data.rows[2].mdtrt_id", [](json::Json& j) { row_of(j, 2)["mdtrt_id"] = nullptr; }},
      {"empty setl_id", "data.rows[3].setl_id", [](json::Json& j) { row_of(j, 3)["setl_id"] = ""; }},
      {"setl_id array", "data.rows[3].setl_id", [](json::Json& j) { row_of(j, 3)["setl_id"] = {"S1"}; }},
      {"no msgid", "data.rows[4].msgid", [](json::Json& j) { row_of(j, 4).erase("msgid"); }},
      {"long msgid", "data.rows[4].msgid", [](json::Json& j) { row_of(j, 4)["msgid"] = std::string(31, 'H'); }},
      {"long medins_setl_id", "data.rows[5].medins_setl_id", [](json::Json& j) { row_of(j, 5)["medins_setl_id"] = std::string(65, 'b'); }},
      {"medins_setl_id null", "", [](json::Json& j) { row_of(j, 5)["medins_setl_id"] = nullptr; }},
      {"medins_setl_id number", "data.rows[5].medins_setl_id", [](json::Json& j) { row_of(j, 5)["medins_setl_id"] = 7; }},
      {"long insutype", "data.rows[6].insutype", [](json::Json& j) { row_of(j, 6)["insutype"] = "3100000"; }},
      {"setl_time not a time", "data.rows[7].setl_time", [](json::Json& j) { row_of(j, 7)["setl_time"] = "2026-11-22T10:00:00"; }},
      {"setl_time date only", "data.rows[7].setl_time", [](json::Json& j) { row_of(j, 7)["setl_time"] = "2026-11-22"; }},
      {"setl_time letters", "data.rows[7].setl_time", [](json::Json& j) { row_of(j, 7)["setl_time"] = "2026-1x-22 10:00:00"; }},
      {"setl_time too long", "data.rows[7].setl_time", [](json::Json& j) { row_of(j, 7)["setl_time"] = "2026-11-22 10:00:00.5"; }},
      {"amount 3 decimals", "data.rows[8].acct_pay", [](json::Json& j) { row_of(j, 8)["acct_pay"] = "1.234"; }},
      {"negative amount", "data.rows[8].psn_cash_pay", [](json::Json& j) { row_of(j, 8)["psn_cash_pay"] = "-1.00"; }},
      {"amount not a number", "data.rows[8].fund_pay_sumamt", [](json::Json& j) { row_of(j, 8)["fund_pay_sumamt"] = "12a"; }},
      {"amount bool", "data.rows[8].medfee_sumamt", [](json::Json& j) { row_of(j, 8)["medfee_sumamt"] = false; }},
      {"no amount", "data.rows[8].fund_pay_sumamt", [](json::Json& j) { row_of(j, 8).erase("fund_pay_sumamt"); }},
      {"amount as integer", "", [](json::Json& j) {  // accepted by the codec; the generic path reads it
         auto& r = row_of(j, 9);
         r["psn_cash_pay"] = 0;
         r["medfee_sumamt"] = json::amount_value(parse_amount(r["fund_pay_sumamt"].get<std::string>(), "f").value() +
                                                 parse_amount(r["acct_pay"].get<std::string>(), "a").value());
       }},
      {"parts do not add up", "data.rows[10].medfee_sumamt", [](json::Json& j) { row_of(j, 10)["medfee_sumamt"] = "99999.99"; }},
      {"area 5 digits", "data.rows[6].insuplc_admdvs", [](json::Json& j) { row_of(j, 6)["insuplc_admdvs"] = "11010"; }},
      {"area letters", "data.rows[6].insuplc_admdvs", [](json::Json& j) { row_of(j, 6)["insuplc_admdvs"] = "1101x5"; }},
      {"area number", "data.rows[6].insuplc_admdvs", [](json::Json& j) { row_of(j, 6)["insuplc_admdvs"] = 110105; }},
      {"area null", "", [](json::Json& j) { row_of(j, 6)["insuplc_admdvs"] = nullptr; }},
      {"flag 3", "data.rows[11].refd_setl_flag", [](json::Json& j) { row_of(j, 11)["refd_setl_flag"] = "3"; }},
      {"flag empty", "data.rows[11].refd_setl_flag", [](json::Json& j) { row_of(j, 11)["refd_setl_flag"] = ""; }},
      {"flag number", "data.rows[11].refd_setl_flag", [](json::Json& j) { row_of(j, 11)["refd_setl_flag"] = 0; }},
      {"no flag", "data.rows[11].refd_setl_flag", [](json::Json& j) { row_of(j, 11).erase("refd_setl_flag"); }},
      {"long stmt_rslt", "data.rows[0].stmt_rslt", [](json::Json& j) { row_of(j, 0)["stmt_rslt"] = "00000"; }},
      // accepted by the codec, not by the scanner
      {"escaped psn_no", "", [](json::Json& j) { row_of(j, 4)["psn_no"] = "P\"1"; }},
      {"non-ASCII psn_no", "", [](json::Json& j) { row_of(j, 4)["psn_no"] = "张三"; }},
      {"extra keys", "", [](json::Json& j) { j["x"] = {1, 2, {{"a", nullptr}}}; row_of(j, 0)["note"] = true; }},
  };
  // Each edit with the field its error must name ("" accepted, "-" any).
  for (const auto& [name_, field, edit] : edits) {
    const auto name = name_;  // a variable: clang 14 lambdas (CAPTURE) cannot take a binding
    CAPTURE(name);
    json::Json j = good;
    edit(j);
    const std::string body = j.dump();
    const bool fast = same_outcome(body);
    if (name == "extra keys") CHECK(fast);
    auto a = decode_detail_reply(body, kMsgid);
    if (field.empty()) {
      CHECK(a.ok());
    } else {
      REQUIRE(!a.ok());
      if (field != "-") CHECK(a.error().field == field);
      CHECK(!a.error().message.empty());
    }
  }
  // Raw byte damage: cut short anywhere, trailing garbage, a fraction, a duplicate key, leading zero.
  const std::string body = good.dump();
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, body.size() / 3, body.size() / 2, body.size() - 2,
                          body.size() - 1})
    same_outcome(body.substr(0, cut));
  same_outcome(body + "x");
  same_outcome(body + " ");
  const auto replace = [&](std::string_view from, std::string_view to) {
    std::string b = body;
    const auto at = b.find(from);
    REQUIRE(at != std::string::npos);
    b.replace(at, from.size(), to);
    return b;
  };
  same_outcome(replace("\"page_num\":3", "\"page_num\":3.0"));
  same_outcome(replace("\"page_num\":3", "\"page_num\":3,\"page_num\":4"));
  same_outcome(replace("\"page_num\":3", "\"page_num\":03"));
  same_outcome(replace("\"psn_no\":", "\"psn_no\":\"1\",\"psn_no\":"));
  // Nesting inside a row (itself 5 levels down): arrays to 64 levels from the
  // document's root (json::max_depth) are read, to 65 refused by the codecs;
  // the fast path took pages nested deeper than that.
  for (int levels : {57, 58, 59, 60, 61}) {
    CAPTURE(levels);
    const std::string nest =
        std::string(static_cast<std::size_t>(levels), '[') + std::string(static_cast<std::size_t>(levels), ']');
    CHECK(same_outcome(replace("\"psn_no\":", "\"x\":" + nest + ",\"psn_no\":")) == (levels <= 59));
  }
  // Random byte flips.
  std::mt19937 rng(3202);
  for (int k = 0; k < 400; ++k) {
    std::string b = body;
    b[rng() % b.size()] = "{}[]\",:0-.e\\ a"[rng() % 14];
    same_outcome(b);
  }
}
