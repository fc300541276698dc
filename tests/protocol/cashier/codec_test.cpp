// The JSON-RPC envelope of the cashier API: request lines accepted and
// refused with the contract's error shape, ids echoed exactly, encoders
// writing amounts as two-decimal strings.
#include "protocol/cashier/rpc.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace settle;
using namespace settle::cashier;

namespace {

Json parse_out(const std::string& line) {
  REQUIRE(!line.empty());
  REQUIRE(line.back() == '\n');
  auto j = json::parse(std::string_view(line).substr(0, line.size() - 1));
  REQUIRE(j.ok());
  return *j;
}

struct BadLine {
  const char* line;
  int code;
  const char* field;  // "" = no field
  const char* id;     // dumped id expected in the answer
};

}  // namespace

TEST_CASE("a well-formed request is parsed with its id kept exactly") {
  auto p = parse_request_line(R"({"jsonrpc":"2.0","id":"a-1","method":"settle.get","params":{"setl_id":"S1"}})");
  REQUIRE(p.request.has_value());
  CHECK_FALSE(p.error.has_value());
  CHECK(p.request->method == Method::settle_get);
  CHECK(p.request->id == "a-1");
  CHECK(p.request->params["setl_id"] == "S1");

  // Numbers are echoed as they were written, a fractional one included.
  auto q = parse_request_line(R"({"jsonrpc":"2.0","id":1.50,"method":"engine.status"})");
  REQUIRE(q.request.has_value());
  CHECK(q.request->params == Json::object());
  CHECK(encode_result(q.request->id, Json::object()) == "{\"jsonrpc\":\"2.0\",\"id\":1.50,\"result\":{}}\n");
  auto r = parse_request_line("{\"jsonrpc\":\"2.0\",\"id\":-7,\"method\":\"engine.status\",\"params\":{}}\r");
  REQUIRE(r.request.has_value());
  CHECK(encode_result(r.request->id, Json::object()) == "{\"jsonrpc\":\"2.0\",\"id\":-7,\"result\":{}}\n");
  auto n = parse_request_line(R"({"jsonrpc":"2.0","id":null,"method":"engine.status"})");
  REQUIRE(n.request.has_value());
  CHECK(n.request->id.is_null());
}

TEST_CASE("bad lines get the contract's error, id null where it cannot be read") {
  const BadLine cases[] = {
      {"{", rpc_parse_error, "", "null"},
      {"not json", rpc_parse_error, "", "null"},
      {"", rpc_parse_error, "", "null"},
      {"[]", rpc_invalid_request, "", "null"},
      {"42", rpc_invalid_request, "", "null"},
      {R"({"jsonrpc":"2.0","method":"engine.status"})", rpc_invalid_request, "id", "null"},
      {R"({"jsonrpc":"2.0","id":{"x":1},"method":"engine.status"})", rpc_invalid_request, "id", "null"},
      {R"({"jsonrpc":"2.0","id":[1],"method":"engine.status"})", rpc_invalid_request, "id", "null"},
      {R"({"jsonrpc":"2.0","id":true,"method":"engine.status"})", rpc_invalid_request, "id", "null"},
      {R"({"id":5,"method":"engine.status"})", rpc_invalid_request, "jsonrpc", "5"},
      {R"({"jsonrpc":"1.0","id":5,"method":"engine.status"})", rpc_invalid_request, "jsonrpc", "5"},
      {R"({"jsonrpc":2.0,"id":5,"method":"engine.status"})", rpc_invalid_request, "jsonrpc", "5"},
      {R"({"jsonrpc":"2.0","id":"q","params":{}})", rpc_invalid_request, "method", "\"q\""},
      {R"({"jsonrpc":"2.0","id":"q","method":7})", rpc_invalid_request, "method", "\"q\""},
      {R"({"jsonrpc":"2.0","id":"q","method":"engine.status","params":[1]})", rpc_invalid_request, "params", "\"q\""},
      {R"({"jsonrpc":"2.0","id":"q","method":"engine.status","params":"x"})", rpc_invalid_request, "params", "\"q\""},
      {R"({"jsonrpc":"2.0","id":"q","method":"engine.status","extra":1})", rpc_invalid_request, "extra", "\"q\""},
      {R"({"jsonrpc":"2.0","id":"q","method":"settle.steal"})", rpc_method_not_found, "method", "\"q\""},
      {R"({"jsonrpc":"2.0","id":"q","method":"Settle.Commit"})", rpc_method_not_found, "method", "\"q\""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.line);
    auto p = parse_request_line(c.line);
    REQUIRE_FALSE(p.request.has_value());
    REQUIRE(p.error.has_value());
    CHECK(p.error->error.code == c.code);
    CHECK(p.error->error.error.reason == Reason::invalid_request);
    CHECK(p.error->error.error.field == c.field);
    CHECK(dump(p.error->id) == c.id);
    // The encoded answer has exactly the contract's shape.
    const Json out = parse_out(encode_error(p.error->id, p.error->error));
    CHECK(out["jsonrpc"] == "2.0");
    CHECK(dump(out["id"]) == c.id);
    CHECK(out["error"]["code"] == c.code);
    CHECK(out["error"]["message"].is_string());
    CHECK_FALSE(out["error"]["message"].get<std::string>().empty());
    CHECK(out["error"]["data"]["reason"] == "INVALID_REQUEST");
    if (std::string(c.field).empty()) {
      CHECK_FALSE(out["error"]["data"].contains("field"));
    } else {
      CHECK(out["error"]["data"]["field"] == c.field);
    }
    CHECK(out.size() == 3);
  }
}

TEST_CASE("an over-long string id is refused rather than echoed") {
  const std::string id(300, 'x');
  auto p = parse_request_line(R"({"jsonrpc":"2.0","id":")" + id + R"(","method":"engine.status"})");
  REQUIRE(p.error.has_value());
  CHECK(p.error->id.is_null());
  CHECK(p.error->error.error.field == "id");
}

TEST_CASE("method names round-trip and mutating methods are the contract's") {
  for (int i = 0; i < method_count; ++i) {
    const auto m = static_cast<Method>(i);
    CAPTURE(method_name(m));
    CHECK(method_from_name(method_name(m)) == m);
  }
  CHECK(is_mutating(Method::settle_commit));
  CHECK(is_mutating(Method::settle_refund));
  CHECK(is_mutating(Method::settle_resettle));
  CHECK(is_mutating(Method::inpatient_admit));
  CHECK(is_mutating(Method::inpatient_add_lines));
  CHECK(is_mutating(Method::inpatient_discharge));
  CHECK(is_mutating(Method::inpatient_undo_discharge));
  CHECK_FALSE(is_mutating(Method::settle_preview));
  CHECK_FALSE(is_mutating(Method::settle_get));
  CHECK_FALSE(is_mutating(Method::session_login));
}

TEST_CASE("domain errors carry the reason's code and extra data") {
  const RpcError e = domain_error(make_error(Reason::pin_wrong, "pin", "wrong PIN"), Json{{"retries_left", 2}});
  CHECK(e.code == reason_rpc_code(Reason::pin_wrong));
  const Json out = parse_out(encode_error("r1", e));
  CHECK(out["id"] == "r1");
  CHECK(out["error"]["code"] == 1012);
  CHECK(out["error"]["message"] == "wrong PIN");
  CHECK(out["error"]["data"] == Json{{"reason", "PIN_WRONG"}, {"field", "pin"}, {"retries_left", 2}});

  // Extra data cannot overwrite reason or field.
  const RpcError f = domain_error(make_error(Reason::not_found, "", ""), Json{{"reason", "X"}, {"field", "y"}});
  const Json o2 = parse_out(encode_error(nullptr, f));
  CHECK(o2["error"]["data"] == Json{{"reason", "NOT_FOUND"}});
  CHECK(o2["error"]["message"] == "NOT_FOUND");

  CHECK(code_for_params_error(make_error(Reason::invalid_request, "x", "")) == rpc_invalid_params);
  CHECK(code_for_params_error(make_error(Reason::invalid_amount, "x", "")) == reason_rpc_code(Reason::invalid_amount));
  CHECK(code_for_params_error(make_error(Reason::limit_exceeded, "x", "")) == reason_rpc_code(Reason::limit_exceeded));
}

TEST_CASE("results and notifications write amounts as two-decimal strings") {
  Json result = Json::object();
  result["total"] = json::amount_value(Amount::fen(1230));
  result["cash"] = json::amount_value(Amount::fen(5));
  result["fund"] = json::amount_value(Amount::zero());
  CHECK(encode_result(7, result) ==
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"cash\":\"0.05\",\"fund\":\"0.00\",\"total\":\"12.30\"}}\n");
  CHECK(encode_notification("card.inserted", Json{{"window", "W01"}}) ==
        "{\"jsonrpc\":\"2.0\",\"method\":\"card.inserted\",\"params\":{\"window\":\"W01\"}}\n");
  // A notification has no id member.
  CHECK_FALSE(parse_out(encode_notification("network.changed", Json{{"network", "offline"}})).contains("id"));
}

TEST_CASE("dump writes raw numbers exactly and escapes strings") {
  Json v = Json::object();
  v["a"] = json::make_raw_number("12.30");
  v["b"] = Json::array({1, "x\ny", nullptr, true});
  CHECK(dump(v) == R"({"a":12.30,"b":[1,"x\ny",null,true]})");
}

TEST_CASE("deeply nested and hostile lines are refused, not crashed on") {
  std::string deep(200, '[');
  CHECK(parse_request_line(deep).error.has_value());
  std::string nested = R"({"jsonrpc":"2.0","id":1,"method":"engine.status","params":)";
  for (int i = 0; i < 100; ++i) nested += R"({"a":)";
  nested += "1";
  for (int i = 0; i < 100; ++i) nested += "}";
  nested += "}";
  auto p = parse_request_line(nested);
  REQUIRE(p.error.has_value());
  CHECK(p.error->error.code == rpc_parse_error);
  CHECK(parse_request_line(std::string("{\"jsonrpc\":\"2.0\",\"id\":\"\xff\"}")).error.has_value());
  CHECK(parse_request_line(std::string("{\"a\":1}\0{", 9)).error.has_value());
}
