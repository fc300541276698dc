// The 9303 fast path (protocol/insurer/redlist_fast.*) against the generic
// codecs: the same value for every page the simulator writes (taken by the
// fast path), and for every altered page the very same outcome (value, or
// error with the same reason, field and message) as decode_reply<RedList>.
#include "protocol/insurer/redlist_fast.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <random>

using namespace settle;
using namespace settle::insurer;

namespace {

constexpr std::string_view kMsgid = "H110105000012026112217000000001";

RedList::Output page(int n, std::int64_t since = 0) {
  RedList::Output o;
  o.since_version = since;
  o.version = since + 9;
  o.page_num = 2;
  o.total = 5000;
  o.more = true;
  for (int i = 0; i < n; ++i) {
    PersonFlags f;
    if (i % 7 == 0) f.set(PersonFlag::supervised);
    if (i % 11 == 0) f.set(PersonFlag::account_frozen);
    o.entries.push_back({fmt::format("G{:08}", i), fmt::format("11{:014}", i), i % 3 ? "310" : "390", f,
                         Amount::fen(i * 137), Amount::fen(i * 1009), i % 5 ? "upsert" : "delete"});
  }
  return o;
}

std::string body_of(const json::Json& output, std::string_view msgid = kMsgid) {
  return encode_ok_reply(msgid, output, 1'700'000'000'000, 1'700'000'000'100);
}

void same_outcome(const std::string& body) {
  CAPTURE(body.substr(0, 400));
  bool fast = false;
  auto a = decode_red_list_reply(body, kMsgid, &fast);
  auto b = decode_reply<RedList>(body, kMsgid);
  REQUIRE(a.ok() == b.ok());
  if (a.ok()) {
    CHECK(*a == *b);
  } else {
    CHECK(a.error().reason == b.error().reason);
    CHECK(a.error().field == b.error().field);
    CHECK(a.error().message == b.error().message);
  }
  auto h = decode_response_head(body, kMsgid);
  auto full = decode_response(body, kMsgid);
  REQUIRE(h.ok() == full.ok());
  if (h.ok()) {
    CHECK(h->infcode == full->infcode);
    CHECK(h->inf_refmsgid == full->inf_refmsgid);
    CHECK(h->err_msg == full->err_msg);
  } else {
    CHECK(h.error().message == full.error().message);
  }
}

}  // namespace

TEST_CASE("9303 fast path: the simulator's pages are read by the fast path, equal to the codecs'") {
  for (int n : {0, 1, 17, 1000}) {
    CAPTURE(n);
    const RedList::Output o = page(n, n == 17 ? 40 : 0);
    const std::string body = body_of(o.encode());
    bool fast = false;
    auto a = decode_red_list_reply(body, kMsgid, &fast);
    REQUIRE(a);
    CHECK(fast);
    CHECK(*a == o);
    same_outcome(body);
    // Pretty-printed (whitespace everywhere) is still the fast path.
    auto doc = json::parse(body);
    REQUIRE(doc);
    const std::string pretty = doc->dump(2);
    auto p = decode_red_list_reply(pretty, kMsgid, &fast);
    REQUIRE(p);
    CHECK(fast);
    CHECK(*p == o);
  }
}

TEST_CASE("9303 fast path: every altered page has exactly the codecs' outcome") {
  const json::Json good = json::parse(body_of(page(5).encode())).value();
  std::vector<std::pair<std::string, std::function<void(json::Json&)>>> edits{
      {"infcode -1", [](json::Json& j) { j["infcode"] = -1; j["err_msg"] = "no"; }},
      {"other msgid", [](json::Json& j) { j["inf_refmsgid"] = "H1"; }},
      {"no output", [](json::Json& j) { j.erase("output"); }},
      {"output not object", [](json::Json& j) { j["output"] = json::Json::array(); }},
      {"no data", [](json::Json& j) { j["output"].erase("data"); }},
      {"version below since", [](json::Json& j) { j["output"]["data"]["since_version"] = 100; }},
      {"page_num 0", [](json::Json& j) { j["output"]["data"]["page_num"] = 0; }},
      {"negative total", [](json::Json& j) { j["output"]["data"]["total"] = -1; }},
      {"more as string", [](json::Json& j) { j["output"]["data"]["more"] = "true"; }},
      {"version as string", [](json::Json& j) { j["output"]["data"]["version"] = "9"; }},
      {"no entries", [](json::Json& j) { j["output"]["data"].erase("entries"); }},
      {"entries null", [](json::Json& j) { j["output"]["data"]["entries"] = nullptr; }},
      {"empty card_no", [](json::Json& j) { j["output"]["data"]["entries"][1]["card_no"] = ""; }},
      {"long psn_no", [](json::Json& j) { j["output"]["data"]["entries"][1]["psn_no"] = std::string(65, '1'); }},
      {"long insutype", [](json::Json& j) { j["output"]["data"]["entries"][2]["insutype"] = "3100000"; }},
      {"unknown flag", [](json::Json& j) { j["output"]["data"]["entries"][0]["flags"] = {"vip"}; }},
      {"flag not string", [](json::Json& j) { j["output"]["data"]["entries"][0]["flags"] = {1}; }},
      {"nine flags", [](json::Json& j) { j["output"]["data"]["entries"][0]["flags"] = json::Json(std::vector<std::string>(9, "supervised")); }},
      {"amount 3 decimals", [](json::Json& j) { j["output"]["data"]["entries"][3]["deductible_used"] = "1.234"; }},
      {"negative amount", [](json::Json& j) { j["output"]["data"]["entries"][3]["fund_paid_ytd"] = "-1.00"; }},
      {"amount as integer", [](json::Json& j) { j["output"]["data"]["entries"][3]["fund_paid_ytd"] = 12; }},
      {"op insert", [](json::Json& j) { j["output"]["data"]["entries"][4]["op"] = "insert"; }},
      {"no op", [](json::Json& j) { j["output"]["data"]["entries"][4].erase("op"); }},
      {"escaped card", [](json::Json& j) { j["output"]["data"]["entries"][4]["card_no"] = "G\"1"; }},
      {"non-ASCII card", [](json::Json& j) { j["output"]["data"]["entries"][4]["card_no"] = "卡1"; }},
      {"extra keys", [](json::Json& j) { j["x"] = {1, 2, {{"a", nullptr}}}; j["output"]["data"]["entries"][0]["note"] = true; }},
      {"entry not object", [](json::Json& j) { j["output"]["data"]["entries"][0] = 5; }},
      {"1001 entries", [](json::Json& j) {
         auto& e = j["output"]["data"]["entries"];
         while (e.size() < 1001) e.push_back(e[0]);
       }},
  };
  for (const auto& [name_, edit] : edits) {
    const auto name = name_;  // a variable: clang 14 lambdas (CAPTURE) cannot take a binding
    CAPTURE(name);
    json::Json j = good;
    edit(j);
    same_outcome(j.dump());
  }
  // Raw byte damage: cut short, trailing garbage, a fraction, a duplicate key, leading zero.
  const std::string body = good.dump();
  same_outcome(body.substr(0, body.size() / 2));
  same_outcome(body + "x");
  same_outcome(body + " ");
  std::string frac = body;
  frac.replace(frac.find("\"page_num\":2"), 12, "\"page_num\":2.0");
  same_outcome(frac);
  std::string dup = body;
  dup.replace(dup.find("\"page_num\":2"), 12, "\"page_num\":2,\"page_num\":3");
  same_outcome(dup);
  // Numbers of 19 and 20 digits, read (page_num) and skipped (an extra key):
  // refused by the fast path without overflowing (the sanitizer build checks).
  for (const std::string big : {"9223372036854775807", "99999999999999999999", "-9999999999999999999"}) {
    CAPTURE(big);
    std::string read = body;
    read.replace(read.find("\"page_num\":2"), 12, "\"page_num\":" + big);
    same_outcome(read);
    std::string skipped = body;
    skipped.insert(1, "\"x\":" + big + ",");
    same_outcome(skipped);
  }
  std::string lead = body;
  lead.replace(lead.find("\"page_num\":2"), 12, "\"page_num\":02");
  same_outcome(lead);
  // Nesting: an extra key inside output holding arrays nested to 64 levels
  // from the document's root (json::max_depth, read) and to 65 (refused by
  // the codecs; the fast path refused it only past 66 and took the page).
  for (int levels : {61, 62, 63, 64}) {
    CAPTURE(levels);
    std::string deep = body;
    deep.insert(deep.find("{\"data\":") + 1,
                "\"x\":" + std::string(static_cast<std::size_t>(levels), '[') +
                    std::string(static_cast<std::size_t>(levels), ']') + ",");
    same_outcome(deep);
  }
  // Random byte flips.
  std::mt19937 rng(11);
  for (int k = 0; k < 400; ++k) {
    std::string b = body;
    b[rng() % b.size()] = "{}[]\",:0-.e\\ a"[rng() % 14];
    same_outcome(b);
  }
}
