// The envelope codecs of the insurer link: request header fields around
// `input`, response fields around `output`, msgid shape, reply/msgid match.
#include "protocol/insurer/envelope.hpp"

#include "protocol/insurer/fields.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <utility>

namespace settle::insurer {
namespace {

bool all_digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int num(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

// "yyyyMMddHHmmss" with plausible calendar values.
bool plausible_time14(std::string_view t) {
  if (t.size() != 14 || !all_digits(t)) return false;
  const int month = num(t.substr(4, 2)), day = num(t.substr(6, 2));
  const int hour = num(t.substr(8, 2)), minute = num(t.substr(10, 2)), second = num(t.substr(12, 2));
  return num(t.substr(0, 4)) >= 2000 && month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 &&
         minute <= 59 && second <= 60;
}

bool code_char(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// The broken-down time of a Unix second in UTC+8.
std::tm cst(std::int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s + 8 * 3600);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm;
}

}  // namespace

Status check_msgid(std::string_view msgid, std::string_view field) {
  const auto bad = [&](std::string_view what) {
    return make_error(Reason::invalid_request, std::string(field), fmt::format("{}: {}", field, what));
  };
  if (msgid.size() != msgid_len) return bad(fmt::format("must be {} characters, got {}", msgid_len, msgid.size()));
  if (!std::all_of(msgid.begin(), msgid.begin() + fixmedins_code_len, code_char))
    return bad("the first 12 characters must be the institution code (letters and digits)");
  if (!plausible_time14(msgid.substr(fixmedins_code_len, 14)))
    return bad("characters 13-26 must be a time yyyyMMddHHmmss");
  if (!all_digits(msgid.substr(26))) return bad("the last 4 characters must be a decimal sequence");
  return Ok{};
}

namespace {

// `"key":"value"` as nlohmann's dump() writes it. Printable ASCII without a
// quote or a backslash is written as it is; anything else (escapes, UTF-8,
// which dump() checks) goes through dump() itself.
void put_field(std::string& out, std::string_view key, const std::string& value) {
  out += '"';
  out += key;
  out += "\":";
  const bool plain = std::all_of(value.begin(), value.end(), [](char c) {
    return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
  });
  if (plain) {
    out += '"';
    out += value;
    out += '"';
  } else {
    out += json::Json(value).dump();
  }
  out += ',';
}

}  // namespace

std::string encode_request(const RequestHeader& h, const json::Json& input) {
  SETTLE_ASSERT(h.infno.size() == 4 && all_digits(h.infno));
  SETTLE_ASSERT(check_msgid(h.msgid).ok());
  SETTLE_ASSERT(input.is_object());
  // The bytes dump() writes for the object of these fields (its keys in
  // std::map's order, "input" among them), without copying `input` into one: a 2204's input holds every
  // fee line, and the copy was most of a request's encoding.
  using Field = std::pair<std::string_view, const std::string*>;
  const Field before_input[] = {{"fixmedins_code", &h.fixmedins_code}, {"fixmedins_name", &h.fixmedins_name},
                                {"inf_time", &h.inf_time},             {"infno", &h.infno},
                                {"infver", &h.infver}};
  const Field after_input[] = {{"insuplc_admdvs", &h.insuplc_admdvs}, {"mdtrtarea_admvs", &h.mdtrtarea_admvs},
                               {"msgid", &h.msgid},                   {"opter", &h.opter},
                               {"opter_name", &h.opter_name},         {"opter_type", &h.opter_type},
                               {"recer_sys_code", &h.recer_sys_code}, {"sign_no", &h.sign_no}};
  std::string out;
  out.reserve(512);
  out += '{';
  for (const auto& [key, value] : before_input) put_field(out, key, *value);
  out += "\"input\":";
  out += input.dump();
  out += ',';
  for (const auto& [key, value] : after_input) put_field(out, key, *value);
  out.back() = '}';
  return out;
}

Result<Request> decode_request(std::string_view body) {
  if (body.size() > max_body_bytes)
    return make_error(Reason::limit_exceeded, "", fmt::format("request body of {} bytes is above {}", body.size(), max_body_bytes));
  auto doc = json::parse(body, "insurer request");
  if (!doc) return doc.error();
  Fields f(*doc, "");
  Request r;
  r.head.infno = f.digits("infno", 4);
  r.head.msgid = f.str("msgid", msgid_len);
  if (f.ok()) {
    if (Status s = check_msgid(r.head.msgid); !s) f.fail(s.error());
  }
  r.head.mdtrtarea_admvs = f.digits("mdtrtarea_admvs", 6);
  r.head.insuplc_admdvs = f.str("insuplc_admdvs", 6);  // may be empty when unknown before 1101
  r.head.recer_sys_code = f.str("recer_sys_code", 20);
  r.head.infver = f.nonempty("infver", 10);
  r.head.opter_type = f.one_of("opter_type", {"1", "2", "3"});
  r.head.opter = f.nonempty("opter", 30);
  r.head.opter_name = f.str("opter_name", 50);
  r.head.inf_time = f.nonempty("inf_time", 19);
  r.head.fixmedins_code = f.nonempty("fixmedins_code", fixmedins_code_len);
  r.head.fixmedins_name = f.str("fixmedins_name", 200);
  r.head.sign_no = f.str("sign_no", 64);
  const json::Json* input = f.object("input");
  if (f.ok() && r.head.msgid.compare(0, fixmedins_code_len, r.head.fixmedins_code) != 0)
    f.fail(Reason::invalid_request, "msgid", "must start with fixmedins_code");
  if (Status s = f.status(); !s) return s.error();
  r.input = *input;
  return r;
}

std::string encode_response(const Response& r) {
  json::Json j = json::Json::object();
  j["infcode"] = r.infcode;
  j["inf_refmsgid"] = r.inf_refmsgid;
  j["refmsg_time"] = r.refmsg_time;
  j["respond_time"] = r.respond_time;
  j["err_msg"] = r.err_msg;
  j["output"] = r.output;
  return j.dump();
}

Result<Response> decode_response(std::string_view body, std::string_view sent_msgid) {
  if (body.size() > max_body_bytes)
    return make_error(Reason::limit_exceeded, "", fmt::format("reply body of {} bytes is above {}", body.size(), max_body_bytes));
  auto doc = json::parse(body, "insurer reply");
  if (!doc) return doc.error();
  Fields f(*doc, "");
  Response r;
  r.infcode = f.integer("infcode", INT32_MIN, INT32_MAX);
  r.inf_refmsgid = f.str("inf_refmsgid", 64);
  if (f.ok() && r.inf_refmsgid != sent_msgid)
    f.fail(Reason::invalid_request, "inf_refmsgid",
           fmt::format("reply is for msgid \"{}\", not for the \"{}\" that was sent", r.inf_refmsgid, sent_msgid));
  r.refmsg_time = f.opt_str("refmsg_time", 32).value_or("");
  r.respond_time = f.opt_str("respond_time", 32).value_or("");
  r.err_msg = f.opt_str("err_msg", 2000).value_or("");
  if (Status s = f.status(); !s) return s.error();
  json::Json* out = nullptr;  // moved out of the parsed document, not copied (pages are large)
  if (doc->is_object())
    if (auto it = doc->find("output"); it != doc->end()) out = &*it;
  if (r.infcode == infcode_ok) {
    if (out == nullptr || !out->is_object())
      return make_error(Reason::invalid_request, "output",
                        out == nullptr ? std::string("output: required field is missing")
                                       : fmt::format("output: expected an object, got {}", json::type_name(*out)));
    r.output = std::move(*out);
  } else if (out != nullptr && out->is_object()) {
    r.output = std::move(*out);
  }
  return r;
}

std::string compact_time_ms(std::int64_t unix_ms) {
  const std::int64_t s = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  const std::tm tm = cst(s);
  return fmt::format("{:04}{:02}{:02}{:02}{:02}{:02}{:03}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, unix_ms - s * 1000);
}

std::string inf_time_text(std::int64_t unix_s) {
  const std::tm tm = cst(unix_s);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
}

}  // namespace settle::insurer
