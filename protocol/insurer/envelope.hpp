// The insurer link's envelope (insurer-protocol.md, "Envelope"): the request
// header fields of the national interface around `input`, and the response's
// infcode/inf_refmsgid/err_msg around `output`. Both sides use these codecs.
#pragma once

#include "engine/result.hpp"
#include "protocol/json.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace settle::insurer {

// msgid = institution code (12) + yyyyMMddHHmmss (14) + sequence (4).
inline constexpr std::size_t msgid_len = 30;
inline constexpr std::size_t fixmedins_code_len = 12;
// Longest request or reply body either side accepts.
inline constexpr std::size_t max_body_bytes = 4 * 1024 * 1024;

// infcode values this project uses: 0 success, -1 a refusal or failure the
// err_msg explains (the national interface's convention).
inline constexpr std::int64_t infcode_ok = 0;
inline constexpr std::int64_t infcode_error = -1;

// The header of a request: every field of the envelope except `input`.
struct RequestHeader {
  std::string infno;            // transaction number, 4 digits ("2207")
  std::string msgid;            // 30 characters, see msgid_len
  std::string mdtrtarea_admvs;  // 就医地医保区划, 6 digits
  std::string insuplc_admdvs;   // 参保地医保区划, 6 digits
  std::string recer_sys_code = "FSI";
  std::string infver = "V1.0";
  std::string opter_type = "1";  // 1 operator, 2 self-service, 3 machine
  std::string opter;             // operator number
  std::string opter_name;
  std::string inf_time;          // "yyyy-MM-dd HH:mm:ss"
  std::string fixmedins_code;    // 12 characters
  std::string fixmedins_name;
  std::string sign_no;           // from 9001; empty for 9001 itself
  friend bool operator==(const RequestHeader&, const RequestHeader&) = default;
};

struct Request {
  RequestHeader head;
  json::Json input;  // an object
};

struct Response {
  std::int64_t infcode = infcode_ok;
  std::string inf_refmsgid;   // the msgid of the request answered
  std::string refmsg_time;    // "yyyyMMddHHmmssSSS": when the insurer received it
  std::string respond_time;   // "yyyyMMddHHmmssSSS": when it answered
  std::string err_msg;        // empty on success
  json::Json output = json::Json::object();
};

// Checks the shape of a msgid (30 characters: 12-character institution code,
// 14 digits of a valid-looking time, 4 digits). INVALID_REQUEST naming `field`.
Status check_msgid(std::string_view msgid, std::string_view field = "msgid");

// Encodes a request body. The header is checked first (programmer error if
// infno or msgid are malformed: the caller builds them).
std::string encode_request(const RequestHeader& head, const json::Json& input);
// Decodes a request body as the insurer receives it. Every header field is
// required (sign_no may be empty); `input` must be an object.
Result<Request> decode_request(std::string_view body);

std::string encode_response(const Response& r);
// Decodes a reply body. `sent_msgid` is the msgid of the request this reply
// answers; a reply naming another one is refused (field "inf_refmsgid").
// An infcode other than 0 is NOT an error here: the caller reads it.
Result<Response> decode_response(std::string_view body, std::string_view sent_msgid);

// "yyyyMMddHHmmssSSS" and "yyyy-MM-dd HH:mm:ss" of a Unix time in ms (UTC+8,
// the insurer's clock zone), for writers of envelopes.
std::string compact_time_ms(std::int64_t unix_ms);
std::string inf_time_text(std::int64_t unix_s);

}  // namespace settle::insurer
