// Fuzz target for the cashier API's request side: the JSON-RPC line parser
// and every typed params parser, with the invariants clients rely on
// (answers are valid JSON; canonical forms are stable under re-encoding).
#include "protocol/cashier/params.hpp"
#include "protocol/cashier/rpc.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

using namespace settle;
using namespace settle::cashier;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

void check_error_line(const Json& id, const RpcError& e) {
  const std::string line = encode_error(id, e);
  require(!line.empty() && line.back() == '\n', "error line ends with a newline");
  require(line.find('\n') == line.size() - 1, "error line is one line");
  auto back = json::parse(std::string_view(line).substr(0, line.size() - 1));
  require(back.ok(), "error line is valid JSON");
  require((*back)["error"]["data"]["reason"].is_string(), "error has data.reason");
  require(!(*back)["error"]["message"].get<std::string>().empty(), "error has a message");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  ParsedLine parsed = parse_request_line(line);
  require(parsed.request.has_value() != parsed.error.has_value(), "exactly one of request or error");
  if (parsed.error) {
    check_error_line(parsed.error->id, parsed.error->error);
    return 0;
  }
  const Request& req = *parsed.request;
  require(req.params.is_object(), "params is an object");
  const std::string ok_line = encode_result(req.id, req.params);
  require(json::parse(std::string_view(ok_line).substr(0, ok_line.size() - 1)).ok(), "result line is valid JSON");

  // Every typed parser sees these params, not only the named method's.
  for (int i = 0; i < method_count; ++i) {
    const auto m = static_cast<Method>(i);
    auto p = parse_params(m, req.params);
    if (!p) {
      const Error& e = p.error();
      require(e.reason == Reason::invalid_request || e.reason == Reason::invalid_amount ||
                  e.reason == Reason::limit_exceeded,
              "params errors are INVALID_REQUEST, INVALID_AMOUNT or LIMIT_EXCEEDED");
      require(!e.message.empty(), "params errors have a message");
      check_error_line(req.id, RpcError{code_for_params_error(e), e, Json::object()});
      continue;
    }
    require(p->index() == static_cast<std::size_t>(i), "parsed params match the method");
    const auto canonical = canonical_form(*p);
    require(canonical.has_value() == is_mutating(m), "mutating methods, and only they, have a canonical form");
    require(request_id_of(*p).has_value() == is_mutating(m), "mutating methods carry a request_id");
    if (canonical) {
      // Re-encoding the accepted params and parsing them again means the same.
      auto again = json::parse(dump(req.params));
      require(again.ok(), "accepted params re-encode as JSON");
      auto p2 = parse_params(m, *again);
      require(p2.ok(), "re-encoded params parse again");
      require(canonical_form(*p2) == canonical, "canonical form is stable");
    }
  }
  return 0;
}
