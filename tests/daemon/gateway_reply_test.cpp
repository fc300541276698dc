// The gateway's rule for an HTTP reply (classify_http_reply), as a table:
// which status and body prove that nothing happened, and which leave a
// money-moving call in doubt so that it is reversed.
#include "tools/settled/gateway.hpp"

#include <doctest/doctest.h>

using settle::daemon::classify_http_reply;
using settle::daemon::HttpReplyClass;
using settle::daemon::ReplyEnvelope;

namespace {

struct Row {
  unsigned status;
  ReplyEnvelope envelope;
  bool moves_money;
  HttpReplyClass expected;
};

constexpr auto none = ReplyEnvelope::none;
constexpr auto refusal = ReplyEnvelope::refusal;
constexpr auto ok = ReplyEnvelope::ok;
constexpr auto as_is = HttpReplyClass::envelope;
constexpr auto refused = HttpReplyClass::refusal;
constexpr auto doubt = HttpReplyClass::in_doubt;

constexpr Row kRows[] = {
    // HTTP 200: the envelope is the answer; an unreadable body may hide an effect.
    {200, ok, true, as_is},
    {200, ok, false, as_is},
    {200, refusal, true, as_is},
    {200, refusal, false, as_is},
    {200, none, true, doubt},
    {200, none, false, doubt},
    // The insurer's own refusal envelope with an error status: nothing was processed.
    {401, refusal, true, as_is},
    {400, refusal, true, as_is},
    {500, refusal, true, as_is},
    {502, refusal, false, as_is},
    // A proxy's page (502/504 after the insurer may have done the work): a
    // money-moving call is in doubt, any other call is refused.
    {502, none, true, doubt},
    {504, none, true, doubt},
    {503, none, true, doubt},
    {500, none, true, doubt},
    {401, none, true, doubt},
    {404, none, true, doubt},
    {502, none, false, refused},
    {504, none, false, refused},
    {401, none, false, refused},
    // An error status with a success envelope proves nothing either.
    {502, ok, true, doubt},
    {500, ok, false, refused},
    // Not 200 is not 200 (a 204 or 202 is not the insurer's answer).
    {204, none, true, doubt},
    {202, ok, true, doubt},
    {204, none, false, refused},
};

}  // namespace

TEST_CASE("classify_http_reply: only an envelope refusal proves a money-moving call did nothing") {
  for (const Row& row : kRows) {
    CAPTURE(row.status);
    CAPTURE(static_cast<int>(row.envelope));
    CAPTURE(row.moves_money);
    CHECK(classify_http_reply(row.status, row.envelope, row.moves_money) == row.expected);
  }
}

TEST_CASE("a refusal of the request's timestamp is told apart from the insurer's other refusals") {
  using settle::daemon::refused_for_timestamp;
  CHECK(refused_for_timestamp(401, "x-tif-timestamp is 400 s in the future (at most 300 s allowed)"));
  CHECK(refused_for_timestamp(401, "x-tif-timestamp is 301 s in the past (at most 300 s allowed)"));
  CHECK_FALSE(refused_for_timestamp(401, "x-tif-signature does not match the request"));
  CHECK_FALSE(refused_for_timestamp(401, "x-tif-nonce was already used (replayed request)"));
  CHECK_FALSE(refused_for_timestamp(200, "x-tif-timestamp is 400 s in the future"));
}
