// Parsers of the cashier API's params, one per method, all built from the
// same few field readers so every error names its field the same way; and
// the canonical form of mutating requests (amounts as fen, defaults filled).
#include "protocol/cashier/params.hpp"

#include "protocol/engine_json.hpp"

#include "engine/limits.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>
#include <utility>

namespace settle::cashier {
namespace {

Error bad(std::string field, std::string message) {
  return make_error(Reason::invalid_request, std::move(field), std::move(message));
}

// Unknown members are refused: a misspelt optional field ("use_acount")
// must not silently fall back to its default.
Status only_fields(const Json& obj, std::string_view path, std::initializer_list<std::string_view> keys) {
  if (!obj.is_object()) return bad(std::string(path), fmt::format("{}: expected an object, got {}",
                                                                   path.empty() ? "params" : path, json::type_name(obj)));
  for (const auto& [key, value] : obj.items()) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      const std::string p = json::path_join(path, key.substr(0, 64));
      return bad(p, fmt::format("{}: unknown field", p));
    }
  }
  return Ok{};
}

bool has_control_chars(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
}

std::size_t utf8_length(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// A required text field: non-empty, at most max_len bytes, no control characters.
Result<std::string> text(const Json& obj, std::string_view key, std::string_view path, std::size_t max_len) {
  auto s = json::get_string(obj, key, path, max_len);
  if (!s) return s.error();
  const std::string p = json::path_join(path, key);
  if (s->empty()) return bad(p, fmt::format("{}: must not be empty", p));
  if (has_control_chars(*s)) return bad(p, fmt::format("{}: must not contain control characters", p));
  return s;
}

Result<std::optional<std::string>> opt_text(const Json& obj, std::string_view key, std::string_view path,
                                            std::size_t max_len) {
  if (const Json* v = json::find(obj, key); v == nullptr || v->is_null()) return std::optional<std::string>{};
  auto s = text(obj, key, path, max_len);
  if (!s) return s.error();
  return std::optional<std::string>{std::move(*s)};
}

// An identifier (setl_id, adm_id, card_no, cursor): printable ASCII, no spaces.
Result<std::string> ident(const Json& obj, std::string_view key, std::string_view path) {
  auto s = text(obj, key, path, max_ident_len);
  if (!s) return s.error();
  const bool printable = std::all_of(s->begin(), s->end(), [](char c) { return c > 0x20 && c < 0x7F; });
  if (!printable) {
    const std::string p = json::path_join(path, key);
    return bad(p, fmt::format("{}: must be printable ASCII without spaces", p));
  }
  return s;
}

Result<std::optional<std::string>> opt_ident(const Json& obj, std::string_view key, std::string_view path) {
  if (const Json* v = json::find(obj, key); v == nullptr || v->is_null()) return std::optional<std::string>{};
  auto s = ident(obj, key, path);
  if (!s) return s.error();
  return std::optional<std::string>{std::move(*s)};
}

Result<std::string> card_no(const Json& obj, std::string_view key) {
  auto s = ident(obj, key, "");
  if (!s) return s.error();
  const bool alnum = std::all_of(s->begin(), s->end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  });
  if (!alnum) return bad(std::string(key), fmt::format("{}: must be letters and digits only", key));
  return s;
}

Result<std::optional<std::string>> opt_card_no(const Json& obj, std::string_view key) {
  if (const Json* v = json::find(obj, key); v == nullptr || v->is_null()) return std::optional<std::string>{};
  auto s = card_no(obj, key);
  if (!s) return s.error();
  return std::optional<std::string>{std::move(*s)};
}

// request_id: a client-chosen string of 1..64 characters (code points).
Result<std::string> request_id(const Json& obj) {
  auto s = json::get_string(obj, "request_id", "", limits::request_id_max_len * 4);
  if (!s) return s.error();
  const std::size_t n = utf8_length(*s);
  if (n < limits::request_id_min_len || n > limits::request_id_max_len)
    return bad("request_id", fmt::format("request_id: must be {} to {} characters, got {}", limits::request_id_min_len,
                                         limits::request_id_max_len, n));
  if (has_control_chars(*s)) return bad("request_id", "request_id: must not contain control characters");
  return s;
}

Result<std::optional<std::string>> opt_time(const Json& obj, std::string_view key, bool date_allowed) {
  auto s = json::get_opt_string(obj, key, "", 64);
  if (!s) return s.error();
  if (!s->has_value()) return s;
  const bool ok = date_allowed ? is_date_or_datetime(**s) : is_iso_datetime_offset(**s);
  if (!ok)
    return bad(std::string(key),
               date_allowed ? fmt::format("{}: expected an ISO 8601 date (2026-03-01) or date-time with offset "
                                          "(2026-03-01T08:30:00+08:00)", key)
                            : fmt::format("{}: expected an ISO 8601 date-time with offset (2026-03-01T08:30:00+08:00)",
                                          key));
  return s;
}

Result<std::string> time_field(const Json& obj, std::string_view key) {
  auto s = opt_time(obj, key, true);
  if (!s) return s.error();
  if (!s->has_value()) return bad(std::string(key), fmt::format("{}: required field is missing", key));
  return std::move(**s);
}

Result<bool> opt_bool_default(const Json& obj, std::string_view key, bool def) {
  auto b = json::get_opt_bool(obj, key, "");
  if (!b) return b.error();
  return b->value_or(def);
}

Result<std::vector<RefundLine>> refund_lines(const Json& arr) {
  if (arr.is_array() && arr.empty())
    return bad("lines", "lines: must not be empty (leave lines out to refund everything left)");
  return json::line_refunds_from_json(arr, "lines");
}

Json canonical_lines(const std::vector<ChargeLine>& lines) {
  Json arr = Json::array();
  for (const auto& l : lines) {
    Json o = Json::object();
    o["code"] = l.code;
    o["name"] = l.name;
    o["class"] = l.cls == LineClass::a ? "A" : l.cls == LineClass::b ? "B" : "C";
    o["amount_fen"] = l.amount.fen();
    o["selfpay_ratio_ppm"] = l.selfpay_ratio ? Json(l.selfpay_ratio->ppm()) : Json(nullptr);
    arr.push_back(std::move(o));
  }
  return arr;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int to_int(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

}  // namespace

std::string_view topic_name(Topic t) noexcept {
  switch (t) {
    case Topic::card: return "card";
    case Topic::network: return "network";
    case Topic::work: return "work";
  }
  return "?";
}

std::optional<Topic> topic_from_name(std::string_view s) noexcept {
  if (s == "card") return Topic::card;
  if (s == "network") return Topic::network;
  if (s == "work") return Topic::work;
  return std::nullopt;
}

bool is_iso_date(std::string_view s) noexcept {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  const auto y = s.substr(0, 4), m = s.substr(5, 2), d = s.substr(8, 2);
  if (!all_digits(y) || !all_digits(m) || !all_digits(d)) return false;
  const int year = to_int(y), month = to_int(m), day = to_int(d);
  if (year < 1900 || month < 1 || month > 12 || day < 1) return false;
  static constexpr std::array<int, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  const int max_day = kDays[static_cast<std::size_t>(month - 1)] + (month == 2 && leap ? 1 : 0);
  return day <= max_day;
}

bool is_iso_datetime_offset(std::string_view s) noexcept {
  // YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|+hh:mm|-hh:mm)
  if (s.size() < 20 || !is_iso_date(s.substr(0, 10)) || s[10] != 'T') return false;
  const auto hh = s.substr(11, 2), mm = s.substr(14, 2), ss = s.substr(17, 2);
  if (s[13] != ':' || s[16] != ':' || !all_digits(hh) || !all_digits(mm) || !all_digits(ss)) return false;
  if (to_int(hh) > 23 || to_int(mm) > 59 || to_int(ss) > 60) return false;
  std::string_view rest = s.substr(19);
  if (!rest.empty() && rest[0] == '.') {
    std::size_t n = 1;
    while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
    if (n == 1 || n > 10) return false;
    rest.remove_prefix(n);
  }
  if (rest == "Z") return true;
  if (rest.size() != 6 || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':') return false;
  const auto oh = rest.substr(1, 2), om = rest.substr(4, 2);
  return all_digits(oh) && all_digits(om) && to_int(oh) <= 14 && to_int(om) <= 59;
}

bool is_date_or_datetime(std::string_view s) noexcept { return is_iso_date(s) || is_iso_datetime_offset(s); }

Result<std::vector<ChargeLine>> parse_charge_lines(const Json& p, std::string_view key) {
  const Json* arr = json::find(p, key);
  const std::string k(key);
  if (arr == nullptr || arr->is_null()) return bad(k, fmt::format("{}: required field is missing", key));
  if (!arr->is_array()) return bad(k, fmt::format("{}: expected an array, got {}", key, json::type_name(*arr)));
  if (arr->empty()) return bad(k, fmt::format("{}: at least one charge line is needed", key));
  auto lines = json::lines_from_json(*arr, key, /*name_required=*/true);
  if (!lines) return lines.error();
  std::vector<ChargeLine> out = std::move(*lines);
  std::int64_t total_fen = 0;
  for (const ChargeLine& l : out) total_fen += l.amount.fen();  // at most 500 of at most amount_max_fen (limits.hpp)
  if (total_fen > limits::amount_max_fen)
    return make_error(Reason::invalid_amount, k,
                      fmt::format("{}: the total {} is above the largest amount accepted", key,
                                  format_amount(Amount::fen(total_fen))));
  return out;
}

Result<LoginParams> parse_login(const Json& p) {
  if (auto s = only_fields(p, "", {"operator", "password", "window"}); !s) return s.error();
  LoginParams out;
  auto op = text(p, "operator", "", max_ident_len);
  if (!op) return op.error();
  out.operator_name = std::move(*op);
  // The password's value never appears in an error: get_string names the field only.
  auto pw = json::get_string(p, "password", "", max_password_len);
  if (!pw) return pw.error();
  if (pw->empty()) return bad("password", "password: must not be empty");
  out.password = std::move(*pw);
  auto window = text(p, "window", "", max_ident_len);
  if (!window) return window.error();
  out.window = std::move(*window);
  return out;
}

Result<SubscribeParams> parse_subscribe(const Json& p) {
  if (auto s = only_fields(p, "", {"topics"}); !s) return s.error();
  const Json* topics = json::find(p, "topics");
  if (topics == nullptr || topics->is_null()) return bad("topics", "topics: required field is missing");
  if (!topics->is_array()) return bad("topics", fmt::format("topics: expected an array, got {}", json::type_name(*topics)));
  if (topics->size() > 16) return bad("topics", "topics: too many entries");
  SubscribeParams out;
  for (std::size_t i = 0; i < topics->size(); ++i) {
    const Json& t = (*topics)[i];
    const std::string path = fmt::format("topics[{}]", i);
    if (!t.is_string()) return bad(path, fmt::format("{}: expected a string, got {}", path, json::type_name(t)));
    auto topic = topic_from_name(t.get_ref<const std::string&>());
    if (!topic) return bad(path, fmt::format("{}: unknown topic (known: \"card\", \"network\", \"work\")", path));
    if (std::find(out.topics.begin(), out.topics.end(), *topic) == out.topics.end()) out.topics.push_back(*topic);
  }
  return out;
}

Result<CardReadParams> parse_card_read(const Json& p) {
  if (auto s = only_fields(p, "", {"timeout_ms"}); !s) return s.error();
  auto t = json::get_opt_int(p, "timeout_ms", "");
  if (!t) return t.error();
  CardReadParams out;
  out.timeout_ms = t->value_or(0);
  if (out.timeout_ms < 0 || out.timeout_ms > max_card_wait_ms)
    return bad("timeout_ms", fmt::format("timeout_ms: must be 0 to {}", max_card_wait_ms));
  return out;
}

namespace {

// The window a credential call names, if it does (it must be the session's;
// the daemon checks that).
Result<std::optional<std::string>> opt_window(const Json& p) { return opt_ident(p, "window", ""); }

}  // namespace

bool is_id_number(std::string_view s) noexcept {
  if (s.size() != 18) return false;
  static constexpr int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static constexpr std::string_view kCheck = "10X98765432";
  int sum = 0;
  for (std::size_t i = 0; i < 17; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    sum += (s[i] - '0') * kWeights[i];
  }
  if (s[17] != kCheck[static_cast<std::size_t>(sum % 11)]) return false;
  // The birth date (YYYYMMDD at 6..13) is a real date.
  return is_iso_date(fmt::format("{}-{}-{}", s.substr(6, 4), s.substr(10, 2), s.substr(12, 2)));
}

Result<CredentialScanParams> parse_credential_scan(const Json& p) {
  if (auto s = only_fields(p, "", {"window", "qr"}); !s) return s.error();
  CredentialScanParams out;
  auto w = opt_window(p);
  if (!w) return w.error();
  out.window = std::move(*w);
  auto qr = text(p, "qr", "", max_qr_len);
  if (!qr) return qr.error();
  const bool printable = std::all_of(qr->begin(), qr->end(), [](char c) { return c > 0x20 && c < 0x7F; });
  if (!printable) return bad("qr", "qr: the e-voucher's code is printable ASCII without spaces, as the scanner reads it");
  out.qr = std::move(*qr);
  return out;
}

Result<CredentialIdParams> parse_credential_id(const Json& p) {
  if (auto s = only_fields(p, "", {"window", "id_no"}); !s) return s.error();
  CredentialIdParams out;
  auto w = opt_window(p);
  if (!w) return w.error();
  out.window = std::move(*w);
  // Never echo the number: the messages name the field only.
  auto id = json::get_string(p, "id_no", "", 64);
  if (!id) return bad("id_no", "id_no: required, the 18-character ID number (居民身份证号)");
  std::string v = std::move(*id);
  if (v.size() != 18) return bad("id_no", fmt::format("id_no: must be 18 characters, got {}", v.size()));
  if (v[17] == 'x') v[17] = 'X';
  if (!std::all_of(v.begin(), v.begin() + 17, [](char c) { return c >= '0' && c <= '9'; }) ||
      !((v[17] >= '0' && v[17] <= '9') || v[17] == 'X'))
    return bad("id_no", "id_no: 17 digits, then a digit or X");
  if (!is_id_number(v))
    return bad("id_no", "id_no: not a valid ID number (its GB 11643 check character or birth date is wrong); "
                        "check it against the document");
  out.id_no = std::move(v);
  return out;
}

Result<std::optional<VisitParams>> parse_visit(const Json& p, std::string_view key) {
  const Json* v = json::find(p, key);
  if (v == nullptr || v->is_null()) return std::optional<VisitParams>{};
  const std::string path(key);
  if (auto s = only_fields(*v, path, {"dept_code", "dept_name", "doctor_code", "doctor_name", "diagnoses"}); !s)
    return s.error();
  VisitParams out;
  for (auto [k, slot] : {std::pair{"dept_code", &out.dept_code}, std::pair{"doctor_code", &out.doctor_code}}) {
    auto c = opt_ident(*v, k, path);
    if (!c) return c.error();
    if (c->has_value()) *slot = std::move(**c);
  }
  for (auto [k, slot] : {std::pair{"dept_name", &out.dept_name}, std::pair{"doctor_name", &out.doctor_name}}) {
    auto n = opt_text(*v, k, path, limits::max_name_len);
    if (!n) return n.error();
    if (n->has_value()) *slot = std::move(**n);
  }
  if (const Json* d = json::find(*v, "diagnoses"); d != nullptr && !d->is_null()) {
    const std::string dp = json::path_join(path, "diagnoses");
    if (!d->is_array()) return bad(dp, fmt::format("{}: expected an array, got {}", dp, json::type_name(*d)));
    if (d->size() > max_diagnoses)
      return bad(dp, fmt::format("{}: {} diagnoses, at most {}", dp, d->size(), max_diagnoses));
    for (std::size_t i = 0; i < d->size(); ++i) {
      const std::string ip = fmt::format("{}[{}]", dp, i);
      if (auto s = only_fields((*d)[i], ip, {"code", "name"}); !s) return s.error();
      DiagnosisParam one;
      auto code = ident((*d)[i], "code", ip);
      if (!code) return code.error();
      one.code = std::move(*code);
      auto name = opt_text((*d)[i], "name", ip, limits::max_name_len);
      if (!name) return name.error();
      one.name = name->value_or("");
      const bool again = std::any_of(out.diagnoses.begin(), out.diagnoses.end(),
                                     [&](const DiagnosisParam& e) { return e.code == one.code; });
      if (again) return bad(ip + ".code", fmt::format("{}.code: \"{}\" is given twice", ip, one.code));
      out.diagnoses.push_back(std::move(one));
    }
  }
  return std::optional<VisitParams>{std::move(out)};
}

Status require_national_visit(const std::optional<VisitParams>& v) {
  if (!v || v->dept_code.empty())
    return bad("visit.dept_code", "visit.dept_code: the national interface settles a visit only with its department "
                                  "(科室编码); give visit.dept_code");
  if (v->diagnoses.empty())
    return bad("visit.diagnoses", "visit.diagnoses: the national interface settles a visit only with its main "
                                  "diagnosis (诊断); give at least one diagnosis {code, name}");
  return Ok{};
}

namespace {

// med_type (医疗类别): 1-6 digits or capital letters.
Result<std::string> med_type(const Json& p, std::string_view def) {
  auto mt = json::get_opt_string(p, "med_type", "", 8);
  if (!mt) return mt.error();
  if (!mt->has_value()) return std::string(def);
  const std::string& v = **mt;
  const bool ok = v.size() >= 1 && v.size() <= 6 &&
                  std::all_of(v.begin(), v.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); });
  if (!ok) return bad("med_type", fmt::format("med_type: must be 1 to 6 digits or capital letters (e.g. \"{}\")", def));
  return v;
}

Json visit_json(const std::optional<VisitParams>& v) {
  if (!v) return nullptr;
  Json d = Json::array();
  for (const auto& x : v->diagnoses) d.push_back(Json{{"code", x.code}, {"name", x.name}});
  return Json{{"dept_code", v->dept_code}, {"dept_name", v->dept_name}, {"doctor_code", v->doctor_code},
              {"doctor_name", v->doctor_name}, {"diagnoses", std::move(d)}};
}

}  // namespace

Result<VerifyPinParams> parse_verify_pin(const Json& p) {
  if (auto s = only_fields(p, "", {"pin", "pinpad"}); !s) return s.error();
  VerifyPinParams out;
  auto pinpad = opt_bool_default(p, "pinpad", false);
  if (!pinpad) return pinpad.error();
  out.pinpad = *pinpad;
  // Never echo the PIN: every message below names the field only.
  auto pin = json::get_opt_string(p, "pin", "", 64);
  if (!pin) return bad("pin", fmt::format("pin: must be a string of {} to {} digits", min_pin_len, max_pin_len));
  if (out.pinpad) {
    if (pin->has_value()) return bad("pin", "pin: give either pin or pinpad: true, not both");
    return out;
  }
  if (!pin->has_value()) return bad("pin", "pin: required field is missing (or ask the PIN pad with pinpad: true)");
  const std::string& digits = **pin;
  if (digits.size() < min_pin_len || digits.size() > max_pin_len || !all_digits(digits))
    return bad("pin", fmt::format("pin: must be {} to {} digits", min_pin_len, max_pin_len));
  out.pin = digits;
  return out;
}

Result<PersonQueryParams> parse_person_query(const Json& p) {
  if (auto s = only_fields(p, "", {"card_no"}); !s) return s.error();
  auto c = opt_card_no(p, "card_no");
  if (!c) return c.error();
  return PersonQueryParams{std::move(*c)};
}

Result<AccountHistoryParams> parse_account_history(const Json& p) {
  if (auto s = only_fields(p, "", {"card_no", "from", "to"}); !s) return s.error();
  AccountHistoryParams out;
  auto c = opt_card_no(p, "card_no");
  if (!c) return c.error();
  out.card_no = std::move(*c);
  auto from = opt_time(p, "from", true);
  if (!from) return from.error();
  out.from = std::move(*from);
  auto to = opt_time(p, "to", true);
  if (!to) return to.error();
  out.to = std::move(*to);
  return out;
}

Result<SettlePreviewParams> parse_settle_preview(const Json& p) {
  if (auto s = only_fields(p, "", {"lines", "use_account", "visit", "med_type"}); !s) return s.error();
  SettlePreviewParams out;
  auto lines = parse_charge_lines(p, "lines");
  if (!lines) return lines.error();
  out.lines = std::move(*lines);
  auto ua = opt_bool_default(p, "use_account", true);
  if (!ua) return ua.error();
  out.use_account = *ua;
  auto visit = parse_visit(p, "visit");
  if (!visit) return visit.error();
  out.visit = std::move(*visit);
  auto mt = med_type(p, med_type_outpatient);
  if (!mt) return mt.error();
  out.med_type = std::move(*mt);
  return out;
}

Result<SettleCommitParams> parse_settle_commit(const Json& p) {
  if (auto s = only_fields(p, "", {"request_id", "lines", "use_account", "med_type", "visit"}); !s) return s.error();
  SettleCommitParams out;
  auto rid = request_id(p);
  if (!rid) return rid.error();
  out.request_id = std::move(*rid);
  auto lines = parse_charge_lines(p, "lines");
  if (!lines) return lines.error();
  out.lines = std::move(*lines);
  auto ua = opt_bool_default(p, "use_account", true);
  if (!ua) return ua.error();
  out.use_account = *ua;
  auto mt = med_type(p, med_type_outpatient);
  if (!mt) return mt.error();
  out.med_type = std::move(*mt);
  auto visit = parse_visit(p, "visit");
  if (!visit) return visit.error();
  out.visit = std::move(*visit);
  return out;
}

Result<SettleRefundParams> parse_settle_refund(const Json& p) {
  if (auto s = only_fields(p, "", {"request_id", "setl_id", "lines"}); !s) return s.error();
  SettleRefundParams out;
  auto rid = request_id(p);
  if (!rid) return rid.error();
  out.request_id = std::move(*rid);
  auto setl = ident(p, "setl_id", "");
  if (!setl) return setl.error();
  out.setl_id = std::move(*setl);
  if (const Json* lines = json::find(p, "lines"); lines != nullptr && !lines->is_null()) {
    auto rl = refund_lines(*lines);
    if (!rl) return rl.error();
    out.lines = std::move(*rl);
  }
  return out;
}

Result<SettleResettleParams> parse_settle_resettle(const Json& p) {
  if (auto s = only_fields(p, "", {"request_id", "setl_id"}); !s) return s.error();
  auto rid = request_id(p);
  if (!rid) return rid.error();
  auto setl = ident(p, "setl_id", "");
  if (!setl) return setl.error();
  return SettleResettleParams{std::move(*rid), std::move(*setl)};
}

Result<SettleGetParams> parse_settle_get(const Json& p) {
  if (auto s = only_fields(p, "", {"setl_id"}); !s) return s.error();
  auto setl = ident(p, "setl_id", "");
  if (!setl) return setl.error();
  return SettleGetParams{std::move(*setl)};
}

namespace {
// A list's "limit": 1 to max_list_limit, default_list_limit when absent.
Result<std::int64_t> list_limit(const Json& p) {
  auto limit = json::get_opt_int(p, "limit", "");
  if (!limit) return limit.error();
  const std::int64_t n = limit->value_or(default_list_limit);
  if (n < 1 || n > max_list_limit) return bad("limit", fmt::format("limit: must be 1 to {}", max_list_limit));
  return n;
}
}  // namespace

Result<SettleListParams> parse_settle_list(const Json& p) {
  if (auto s = only_fields(p, "", {"from", "to", "window", "operator", "state", "card_no", "receipt_no", "cursor",
                                   "limit"});
      !s)
    return s.error();
  SettleListParams out;
  auto from = time_field(p, "from");
  if (!from) return from.error();
  out.from = std::move(*from);
  auto to = time_field(p, "to");
  if (!to) return to.error();
  out.to = std::move(*to);
  auto window = opt_text(p, "window", "", max_ident_len);
  if (!window) return window.error();
  out.window = std::move(*window);
  auto op = opt_text(p, "operator", "", max_ident_len);
  if (!op) return op.error();
  out.operator_name = std::move(*op);
  auto state = json::get_opt_string(p, "state", "", 32);
  if (!state) return state.error();
  if (state->has_value()) {
    if (std::find(settlement_states.begin(), settlement_states.end(), **state) == settlement_states.end())
      return bad("state", "state: unknown settlement state (settled, offline_pending, offline_accepted, "
                          "offline_rejected, refunded, partly_refunded, undone)");
    out.state = std::move(*state);
  }
  auto card = opt_card_no(p, "card_no");
  if (!card) return card.error();
  out.card_no = std::move(*card);
  auto receipt = opt_ident(p, "receipt_no", "");
  if (!receipt) return receipt.error();
  out.receipt_no = std::move(*receipt);
  auto cursor = opt_ident(p, "cursor", "");
  if (!cursor) return cursor.error();
  out.cursor = std::move(*cursor);
  auto limit = list_limit(p);
  if (!limit) return limit.error();
  out.limit = *limit;
  return out;
}

Result<InpatientAdmitParams> parse_inpatient_admit(const Json& p) {
  if (auto s = only_fields(p, "", {"request_id", "dept", "dept_name", "diagnosis", "diagnosis_name", "admit_time",
                                   "visit", "med_type"});
      !s)
    return s.error();
  InpatientAdmitParams out;
  auto rid = request_id(p);
  if (!rid) return rid.error();
  out.request_id = std::move(*rid);
  auto dept = text(p, "dept", "", max_ident_len);
  if (!dept) return dept.error();
  if (dept->empty()) return bad("dept", "dept: the department's code must not be empty");
  out.dept = std::move(*dept);
  auto dept_name = opt_text(p, "dept_name", "", limits::max_name_len);
  if (!dept_name) return dept_name.error();
  out.dept_name = std::move(*dept_name);
  auto diag = text(p, "diagnosis", "", max_ident_len);
  if (!diag) return diag.error();
  if (diag->empty()) return bad("diagnosis", "diagnosis: the admission diagnosis code must not be empty");
  out.diagnosis = std::move(*diag);
  auto diag_name = opt_text(p, "diagnosis_name", "", limits::max_name_len);
  if (!diag_name) return diag_name.error();
  out.diagnosis_name = std::move(*diag_name);
  auto at = opt_time(p, "admit_time", false);
  if (!at) return at.error();
  out.admit_time = std::move(*at);
  auto mt = med_type(p, med_type_inpatient);
  if (!mt) return mt.error();
  out.med_type = std::move(*mt);
  auto visit = parse_visit(p, "visit");
  if (!visit) return visit.error();
  if (visit->has_value()) {
    // One department and one main diagnosis: the visit repeats dept and
    // diagnosis or leaves them out (then they are filled in).
    VisitParams& v = **visit;
    if (v.dept_code.empty()) v.dept_code = out.dept;
    if (v.dept_code != out.dept)
      return bad("visit.dept_code", fmt::format("visit.dept_code: \"{}\" is not dept \"{}\"; give one department",
                                                v.dept_code, out.dept));
    if (v.dept_name.empty() && out.dept_name) v.dept_name = *out.dept_name;
    if (v.diagnoses.empty()) v.diagnoses.push_back(DiagnosisParam{out.diagnosis, out.diagnosis_name.value_or("")});
    if (v.diagnoses.front().code != out.diagnosis)
      return bad("visit.diagnoses[0].code",
                 fmt::format("visit.diagnoses[0].code: \"{}\" is not diagnosis \"{}\"; the first diagnosis is the "
                             "admission's",
                             v.diagnoses.front().code, out.diagnosis));
  }
  out.visit = std::move(*visit);
  return out;
}

namespace {

// A stay's line numbers: 1..max_lines_per_settlement, each once; the i-th
// is named `key[i]suffix` in an error.
Result<std::vector<std::string>> line_numbers(const Json& p, std::string_view key, std::string_view suffix = {}) {
  const Json* arr = json::find(p, key);
  const std::string k(key);
  if (arr == nullptr || arr->is_null()) return bad(k, fmt::format("{}: required field is missing", key));
  if (!arr->is_array()) return bad(k, fmt::format("{}: expected an array, got {}", key, json::type_name(*arr)));
  if (arr->empty()) return bad(k, fmt::format("{}: at least one line number is needed", key));
  if (arr->size() > limits::max_lines_per_settlement)
    return make_error(Reason::limit_exceeded, k,
                      fmt::format("{}: {} line numbers, at most {} per request", key, arr->size(),
                                  limits::max_lines_per_settlement));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const std::string path = fmt::format("{}[{}]{}", key, i, suffix);
    const Json& v = (*arr)[i];
    if (!v.is_string()) return bad(path, fmt::format("{}: expected a line number (string), got {}", path, json::type_name(v)));
    const std::string sn = v.get<std::string>();
    const bool printable = std::all_of(sn.begin(), sn.end(), [](char c) { return c > 0x20 && c < 0x7F; });
    if (sn.empty() || sn.size() > limits::max_feedetl_sn_len || !printable)
      return bad(path, fmt::format("{}: a line number is 1 to {} printable characters without spaces", path,
                                   limits::max_feedetl_sn_len));
    if (std::find(out.begin(), out.end(), sn) != out.end())
      return bad(path, fmt::format("{}: line number \"{}\" is given twice", path, sn));
    out.push_back(sn);
  }
  return out;
}

}  // namespace

Result<InpatientAddLinesParams> parse_inpatient_add_lines(const Json& p) {
  if (auto s = only_fields(p, "", {"request_id", "adm_id", "lines"}); !s) return s.error();
  InpatientAddLinesParams out;
  auto rid = request_id(p);
  if (!rid) return rid.error();
  out.request_id = std::move(*rid);
  auto adm = ident(p, "adm_id", "");
  if (!adm) return adm.error();
  out.adm_id = std::move(*adm);
  // Each line is a charge line with its feedetl_sn: the numbers are taken
  // out and the rest read as settle.commit's lines.
  const Json* arr = json::find(p, "lines");
  if (arr != nullptr && arr->is_array() && arr->size() > limits::max_lines_per_settlement)
    return make_error(Reason::limit_exceeded, "lines",
                      fmt::format("lines: {} charge lines, at most {} per batch", arr->size(),
                                  limits::max_lines_per_settlement));
  if (arr != nullptr && arr->is_array()) {
    Json numbers = Json::array();
    Json rest = Json::array();
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const Json& l = (*arr)[i];
      if (!l.is_object()) break;  // parse_charge_lines names it
      const Json* sn = json::find(l, "feedetl_sn");
      if (sn == nullptr || sn->is_null())
        return bad(fmt::format("lines[{}].feedetl_sn", i), fmt::format("lines[{}].feedetl_sn: required field is missing", i));
      numbers.push_back(*sn);
      Json copy = l;
      copy.erase("feedetl_sn");
      rest.push_back(std::move(copy));
    }
    if (numbers.size() == arr->size()) {
      auto sns = line_numbers(Json{{"lines", numbers}}, "lines", ".feedetl_sn");
      if (!sns) return sns.error();
      auto lines = parse_charge_lines(Json{{"lines", rest}}, "lines");
      if (!lines) return lines.error();
      for (std::size_t i = 0; i < lines->size(); ++i) out.lines.push_back(StayLineParam{(*sns)[i], (*lines)[i]});
      return out;
    }
  }
  auto lines = parse_charge_lines(p, "lines");
  if (!lines) return lines.error();
  return bad("lines", "lines: each line needs its feedetl_sn");
}

Result<InpatientCancelLinesParams> parse_inpatient_cancel_lines(const Json& p) {
  if (auto s = only_fields(p, "", {"request_id", "adm_id", "feedetl_sn"}); !s) return s.error();
  InpatientCancelLinesParams out;
  auto rid = request_id(p);
  if (!rid) return rid.error();
  out.request_id = std::move(*rid);
  auto adm = ident(p, "adm_id", "");
  if (!adm) return adm.error();
  out.adm_id = std::move(*adm);
  auto sns = line_numbers(p, "feedetl_sn");
  if (!sns) return sns.error();
  out.feedetl_sn = std::move(*sns);
  return out;
}

Result<InpatientPreviewParams> parse_inpatient_preview(const Json& p) {
  if (auto s = only_fields(p, "", {"adm_id", "use_account"}); !s) return s.error();
  InpatientPreviewParams out;
  auto adm = ident(p, "adm_id", "");
  if (!adm) return adm.error();
  out.adm_id = std::move(*adm);
  auto ua = opt_bool_default(p, "use_account", true);
  if (!ua) return ua.error();
  out.use_account = *ua;
  return out;
}

Result<InpatientDischargeParams> parse_inpatient_discharge(const Json& p) {
  if (auto s = only_fields(p, "", {"request_id", "adm_id", "use_account", "discharge_time"}); !s) return s.error();
  InpatientDischargeParams out;
  auto rid = request_id(p);
  if (!rid) return rid.error();
  out.request_id = std::move(*rid);
  auto adm = ident(p, "adm_id", "");
  if (!adm) return adm.error();
  out.adm_id = std::move(*adm);
  auto ua = opt_bool_default(p, "use_account", true);
  if (!ua) return ua.error();
  out.use_account = *ua;
  auto at = opt_time(p, "discharge_time", false);
  if (!at) return at.error();
  out.discharge_time = std::move(*at);
  return out;
}

Result<InpatientUndoDischargeParams> parse_inpatient_undo_discharge(const Json& p) {
  if (auto s = only_fields(p, "", {"request_id", "adm_id"}); !s) return s.error();
  auto rid = request_id(p);
  if (!rid) return rid.error();
  auto adm = ident(p, "adm_id", "");
  if (!adm) return adm.error();
  return InpatientUndoDischargeParams{std::move(*rid), std::move(*adm)};
}

Result<InpatientUndoAdmitParams> parse_inpatient_undo_admit(const Json& p) {
  if (auto s = only_fields(p, "", {"request_id", "adm_id"}); !s) return s.error();
  auto rid = request_id(p);
  if (!rid) return rid.error();
  auto adm = ident(p, "adm_id", "");
  if (!adm) return adm.error();
  return InpatientUndoAdmitParams{std::move(*rid), std::move(*adm)};
}

Result<InpatientGetParams> parse_inpatient_get(const Json& p) {
  if (auto s = only_fields(p, "", {"adm_id", "cursor", "limit"}); !s) return s.error();
  InpatientGetParams out;
  auto adm = ident(p, "adm_id", "");
  if (!adm) return adm.error();
  out.adm_id = std::move(*adm);
  auto cursor = opt_ident(p, "cursor", "");
  if (!cursor) return cursor.error();
  out.cursor = std::move(*cursor);
  auto limit = list_limit(p);
  if (!limit) return limit.error();
  out.limit = *limit;
  return out;
}

Result<InpatientListParams> parse_inpatient_list(const Json& p) {
  if (auto s = only_fields(p, "", {"state", "dept", "from", "to", "cursor", "limit"}); !s) return s.error();
  InpatientListParams out;
  auto state = json::get_opt_string(p, "state", "", 32);
  if (!state) return state.error();
  if (state->has_value()) {
    if (**state != "admitted" && **state != "discharged" && **state != "undone")
      return bad("state", "state: unknown stay state (admitted, discharged, undone)");
    out.state = std::move(*state);
  }
  auto dept = opt_text(p, "dept", "", max_ident_len);
  if (!dept) return dept.error();
  out.dept = std::move(*dept);
  auto from = opt_time(p, "from", true);
  if (!from) return from.error();
  out.from = std::move(*from);
  auto to = opt_time(p, "to", true);
  if (!to) return to.error();
  out.to = std::move(*to);
  auto cursor = opt_ident(p, "cursor", "");
  if (!cursor) return cursor.error();
  out.cursor = std::move(*cursor);
  auto limit = list_limit(p);
  if (!limit) return limit.error();
  out.limit = *limit;
  return out;
}

Result<ReconRunParams> parse_recon_run(const Json& p) {
  if (auto s = only_fields(p, "", {"date"}); !s) return s.error();
  auto date = json::get_string(p, "date", "", 16);
  if (!date) return date.error();
  if (!is_iso_date(*date)) return bad("date", "date: expected a calendar date YYYY-MM-DD");
  return ReconRunParams{std::move(*date)};
}

Result<RedlistSyncParams> parse_redlist_sync(const Json& p) {
  if (auto s = only_fields(p, "", {"full"}); !s) return s.error();
  auto full = opt_bool_default(p, "full", false);
  if (!full) return full.error();
  return RedlistSyncParams{*full};
}

namespace {
// An outbox item's id: a positive integer.
Result<std::int64_t> item_id_of(const Json& p) {
  auto id = json::get_opt_int(p, "item_id", "");
  if (!id) return id.error();
  if (!id->has_value()) return bad("item_id", "item_id: required");
  if (**id < 1) return bad("item_id", "item_id: must be a positive integer");
  return **id;
}

// "queue": "outbox" (the default) or "stay"; true for "stay".
Result<bool> stay_queue_of(const Json& p) {
  auto q = opt_text(p, "queue", "", 10);
  if (!q) return q.error();
  if (!q->has_value() || **q == "outbox") return false;
  if (**q == "stay") return true;
  return bad("queue", fmt::format("queue: \"{}\" is not a queue (outbox or stay)", **q));
}
}  // namespace

Result<OutboxRetryParams> parse_outbox_retry(const Json& p) {
  if (auto s = only_fields(p, "", {"item_id", "queue"}); !s) return s.error();
  auto id = item_id_of(p);
  if (!id) return id.error();
  auto stay = stay_queue_of(p);
  if (!stay) return stay.error();
  return OutboxRetryParams{*id, *stay};
}

Result<OutboxResolveParams> parse_outbox_resolve(const Json& p) {
  if (auto s = only_fields(p, "", {"item_id", "note", "queue"}); !s) return s.error();
  auto id = item_id_of(p);
  if (!id) return id.error();
  auto note = text(p, "note", "", 500);
  if (!note) return note.error();
  auto stay = stay_queue_of(p);
  if (!stay) return stay.error();
  return OutboxResolveParams{*id, std::move(*note), *stay};
}

namespace {
// A password on the wire: 1..max_password_len bytes; errors name the field only.
Result<std::string> password_field(const Json& p, std::string_view key) {
  auto pw = json::get_string(p, key, "", max_password_len);
  if (!pw) return pw.error();
  if (pw->empty()) return bad(std::string(key), fmt::format("{}: must not be empty", key));
  return std::move(*pw);
}

Result<std::string> role_field(const Json& p) {
  auto role = text(p, "role", "", 16);
  if (!role) return role.error();
  if (*role != "cashier" && *role != "supervisor" && *role != "auditor" && *role != "admin")
    return bad("role", fmt::format("role: \"{}\" is not a role (cashier, supervisor, auditor, admin)", *role));
  return std::move(*role);
}

template <int Kind>
Result<MethodParams> operator_named(const Json& p) {
  if (auto s = only_fields(p, "", {"operator"}); !s) return s.error();
  auto op = text(p, "operator", "", max_ident_len);
  if (!op) return op.error();
  return MethodParams{OperatorNamedParams<Kind>{std::move(*op)}};
}
}  // namespace

Result<ChangePasswordParams> parse_change_password(const Json& p) {
  if (auto s = only_fields(p, "", {"password", "new_password"}); !s) return s.error();
  auto pw = password_field(p, "password");
  if (!pw) return pw.error();
  auto next = password_field(p, "new_password");
  if (!next) return next.error();
  return ChangePasswordParams{std::move(*pw), std::move(*next)};
}

Result<OperatorAddParams> parse_operator_add(const Json& p) {
  if (auto s = only_fields(p, "", {"operator", "role", "password"}); !s) return s.error();
  auto op = text(p, "operator", "", max_ident_len);
  if (!op) return op.error();
  auto role = role_field(p);
  if (!role) return role.error();
  auto pw = password_field(p, "password");
  if (!pw) return pw.error();
  return OperatorAddParams{std::move(*op), std::move(*role), std::move(*pw)};
}

Result<OperatorResetPasswordParams> parse_operator_reset_password(const Json& p) {
  if (auto s = only_fields(p, "", {"operator", "password"}); !s) return s.error();
  auto op = text(p, "operator", "", max_ident_len);
  if (!op) return op.error();
  auto pw = password_field(p, "password");
  if (!pw) return pw.error();
  return OperatorResetPasswordParams{std::move(*op), std::move(*pw)};
}

Result<OperatorSetRoleParams> parse_operator_set_role(const Json& p) {
  if (auto s = only_fields(p, "", {"operator", "role"}); !s) return s.error();
  auto op = text(p, "operator", "", max_ident_len);
  if (!op) return op.error();
  auto role = role_field(p);
  if (!role) return role.error();
  return OperatorSetRoleParams{std::move(*op), std::move(*role)};
}

namespace {
// What audit.list and closeout.list share: from, to, operator, a numeric
// cursor (the id to continue below) and limit.
struct PagedFilter {
  std::optional<std::string> from, to, operator_name;
  std::optional<std::int64_t> cursor;
  std::int64_t limit = default_list_limit;
};
Result<PagedFilter> paged_filter(const Json& p) {
  PagedFilter out;
  auto from = opt_time(p, "from", true);
  if (!from) return from.error();
  out.from = std::move(*from);
  auto to = opt_time(p, "to", true);
  if (!to) return to.error();
  out.to = std::move(*to);
  auto op = opt_text(p, "operator", "", max_ident_len);
  if (!op) return op.error();
  out.operator_name = std::move(*op);
  auto cursor = json::get_opt_int(p, "cursor", "");
  if (!cursor) return cursor.error();
  if (cursor->has_value() && **cursor < 1) return bad("cursor", "cursor: must be a positive integer");
  out.cursor = *cursor;
  auto limit = list_limit(p);
  if (!limit) return limit.error();
  out.limit = *limit;
  return out;
}
}  // namespace

Result<AuditListParams> parse_audit_list(const Json& p) {
  if (auto s = only_fields(p, "", {"from", "to", "operator", "action", "cursor", "limit"}); !s) return s.error();
  auto f = paged_filter(p);
  if (!f) return f.error();
  AuditListParams out{std::move(f->from), std::move(f->to), std::move(f->operator_name), std::nullopt, f->cursor,
                      f->limit};
  auto action = opt_text(p, "action", "", max_ident_len);
  if (!action) return action.error();
  out.action = std::move(*action);
  return out;
}

namespace {
// A sheet's "paper": A5 or A4; `paper` keeps its default when absent.
Status paper_into(const Json& p, std::string& paper) {
  auto given = opt_text(p, "paper", "", 4);
  if (!given) return given.error();
  if (!given->has_value()) return Ok{};
  if (**given != "A5" && **given != "A4") return bad("paper", "paper: A5 or A4");
  paper = **given;
  return Ok{};
}
}  // namespace

Result<SettleSheetParams> parse_settle_sheet(const Json& p) {
  if (auto s = only_fields(p, "", {"setl_id", "refund_id", "paper"}); !s) return s.error();
  SettleSheetParams out;
  auto setl = ident(p, "setl_id", "");
  if (!setl) return setl.error();
  out.setl_id = std::move(*setl);
  auto refund = opt_ident(p, "refund_id", "");
  if (!refund) return refund.error();
  out.refund_id = std::move(*refund);
  if (auto st = paper_into(p, out.paper); !st) return st.error();
  return out;
}

Result<CloseoutPreviewParams> parse_closeout_preview(const Json& p) {
  if (auto s = only_fields(p, "", {"date"}); !s) return s.error();
  auto date = json::get_opt_string(p, "date", "", 16);
  if (!date) return date.error();
  if (date->has_value() && !is_iso_date(**date)) return bad("date", "date: expected a calendar date YYYY-MM-DD");
  return CloseoutPreviewParams{std::move(*date)};
}

Result<CloseoutRecordParams> parse_closeout_record(const Json& p) {
  if (auto s = only_fields(p, "", {"request_id"}); !s) return s.error();
  auto rid = request_id(p);
  if (!rid) return rid.error();
  return CloseoutRecordParams{std::move(*rid)};
}

Result<CloseoutGetParams> parse_closeout_get(const Json& p) {
  if (auto s = only_fields(p, "", {"closeout_id"}); !s) return s.error();
  auto id = ident(p, "closeout_id", "");
  if (!id) return id.error();
  return CloseoutGetParams{std::move(*id)};
}

Result<CloseoutListParams> parse_closeout_list(const Json& p) {
  if (auto s = only_fields(p, "", {"from", "to", "operator", "window", "cursor", "limit"}); !s) return s.error();
  auto f = paged_filter(p);
  if (!f) return f.error();
  CloseoutListParams out{std::move(f->from), std::move(f->to), std::move(f->operator_name), std::nullopt, f->cursor,
                         f->limit};
  auto window = opt_text(p, "window", "", max_ident_len);
  if (!window) return window.error();
  out.window = std::move(*window);
  return out;
}

Result<CloseoutSheetParams> parse_closeout_sheet(const Json& p) {
  if (auto s = only_fields(p, "", {"closeout_id", "paper"}); !s) return s.error();
  CloseoutSheetParams out;
  auto id = opt_ident(p, "closeout_id", "");
  if (!id) return id.error();
  out.closeout_id = std::move(*id);
  if (auto st = paper_into(p, out.paper); !st) return st.error();
  return out;
}

Result<CorrectionRecordParams> parse_correction_record(const Json& p) {
  if (auto s = only_fields(p, "", {"target", "setl_id", "item_id", "action", "fund", "account", "cash", "reason"}); !s)
    return s.error();
  CorrectionRecordParams out;
  auto target = text(p, "target", "", 16);
  if (!target) return target.error();
  if (*target != "settlement" && *target != "outbox" && *target != "stay")
    return bad("target", "target: settlement, outbox or stay");
  out.target = std::move(*target);
  auto action = text(p, "action", "", 16);
  if (!action) return action.error();
  const bool on_settlement = out.target == "settlement";
  if (on_settlement && *action != "amounts" && *action != "undo")
    return bad("action", "action: a settlement's correction is amounts or undo");
  if (!on_settlement && *action != "resolve") return bad("action", "action: a parked item's correction is resolve");
  out.action = std::move(*action);
  if (on_settlement) {
    auto setl = ident(p, "setl_id", "");
    if (!setl) return setl.error();
    out.setl_id = std::move(*setl);
    if (json::find(p, "item_id") != nullptr) return bad("item_id", "item_id: only for an outbox or stay item");
  } else {
    auto id = json::get_opt_int(p, "item_id", "");
    if (!id) return id.error();
    if (!id->has_value() || **id < 1) return bad("item_id", "item_id: required, a positive integer");
    out.item_id = **id;
    if (json::find(p, "setl_id") != nullptr) return bad("setl_id", "setl_id: only for a settlement");
  }
  for (const char* key : {"fund", "account", "cash"}) {
    auto a = json::get_opt_amount(p, key, "");
    if (!a) return a.error();
    if (out.action == "amounts" && !a->has_value())
      return bad(key, fmt::format("{}: required for a correction of amounts", key));
    if (out.action != "amounts" && a->has_value()) return bad(key, fmt::format("{}: only for a correction of amounts", key));
    (std::string_view(key) == "fund" ? out.fund : std::string_view(key) == "account" ? out.account : out.cash) = *a;
  }
  auto reason = text(p, "reason", "", 2000);
  if (!reason) return reason.error();
  out.reason = std::move(*reason);
  return out;
}

Result<CorrectionListParams> parse_correction_list(const Json& p) {
  if (auto s = only_fields(p, "", {"state", "limit"}); !s) return s.error();
  CorrectionListParams out;
  auto state = json::get_opt_string(p, "state", "", 16);
  if (!state) return state.error();
  if (state->has_value() && **state != "recorded" && **state != "approved" && **state != "refused")
    return bad("state", "state: recorded, approved or refused");
  out.state = std::move(*state);
  auto limit = list_limit(p);
  if (!limit) return limit.error();
  out.limit = *limit;
  return out;
}

namespace {

Result<ReentryRecordParams> parse_reentry_record(const Json& p) {
  if (auto s = only_fields(p, "", {"batch_ref", "rows"}); !s) return s.error();
  ReentryRecordParams out;
  auto ref = opt_text(p, "batch_ref", "", 64);
  if (!ref) return ref.error();
  out.batch_ref = std::move(*ref);
  const Json* rows = json::find(p, "rows");
  if (rows == nullptr || rows->is_null()) return bad("rows", "rows: required field is missing");
  if (!rows->is_array()) return bad("rows", fmt::format("rows: expected an array, got {}", json::type_name(*rows)));
  if (rows->empty()) return bad("rows", "rows: at least one row is needed");
  if (rows->size() > max_reentry_rows)
    return make_error(Reason::limit_exceeded, "rows",
                      fmt::format("rows: {} rows, at most {} in one batch", rows->size(), max_reentry_rows));
  out.rows = *rows;
  return out;
}

Result<ReentryListParams> parse_reentry_list(const Json& p) {
  if (auto s = only_fields(p, "", {"state", "limit"}); !s) return s.error();
  ReentryListParams out;
  auto state = opt_text(p, "state", "", 16);
  if (!state) return state.error();
  if (state->has_value() && **state != "entered" && **state != "approved" && **state != "refused")
    return bad("state", "state: entered, approved or refused");
  out.state = std::move(*state);
  auto limit = list_limit(p);
  if (!limit) return limit.error();
  out.limit = *limit;
  return out;
}

Result<std::int64_t> batch_id(const Json& p) {
  auto id = json::get_opt_int(p, "batch_id", "");
  if (!id) return id.error();
  if (!id->has_value() || **id < 1) return bad("batch_id", "batch_id: required, a positive integer");
  return **id;
}

Result<ReentryGetParams> parse_reentry_get(const Json& p) {
  if (auto s = only_fields(p, "", {"batch_id"}); !s) return s.error();
  auto id = batch_id(p);
  if (!id) return id.error();
  return ReentryGetParams{*id};
}

template <int Kind>
Result<MethodParams> reentry_decide(const Json& p) {
  if (auto s = only_fields(p, "", {"batch_id", "note"}); !s) return s.error();
  auto id = batch_id(p);
  if (!id) return id.error();
  auto note = opt_text(p, "note", "", 2000);
  if (!note) return note.error();
  if (Kind == 1 && !note->has_value()) return bad("note", "note: required, why the batch is refused");
  return MethodParams{ReentryDecideParams<Kind>{*id, note->value_or("")}};
}

}  // namespace

Result<ReentryRowParams> parse_reentry_row(const Json& row, std::string_view path) {
  if (auto s = only_fields(row, path, {"at", "window", "operator", "card_no", "psn_name", "lines", "cash"}); !s)
    return s.error();
  ReentryRowParams out;
  auto at = text(row, "at", path, 64);
  if (!at) return at.error();
  if (!is_iso_datetime_offset(*at)) {
    const std::string f = json::path_join(path, "at");
    return bad(f, fmt::format("{}: a time with its offset, e.g. 2026-12-03T10:15:00+08:00", f));
  }
  out.at = std::move(*at);
  auto window = text(row, "window", path, 32);
  if (!window) return window.error();
  out.window = std::move(*window);
  auto op = text(row, "operator", path, max_ident_len);
  if (!op) return op.error();
  out.operator_name = std::move(*op);
  auto card = text(row, "card_no", path, 32);
  if (!card) return card.error();
  out.card_no = std::move(*card);
  auto name = opt_text(row, "psn_name", path, 64);
  if (!name) return name.error();
  out.psn_name = name->value_or("");
  const std::string lines_path = json::path_join(path, "lines");
  const Json* lines = json::find(row, "lines");
  if (lines == nullptr || lines->is_null()) return bad(lines_path, fmt::format("{}: required field is missing", lines_path));
  auto parsed = json::lines_from_json(*lines, lines_path, /*name_required=*/true);
  if (!parsed) return parsed.error();
  out.lines = std::move(*parsed);
  auto cash = json::get_amount(row, "cash", path);
  if (!cash) return cash.error();
  out.cash = *cash;
  return out;
}

namespace {

template <int Kind>
Result<MethodParams> correction_decide(const Json& p) {
  if (auto s = only_fields(p, "", {"correction_id", "note"}); !s) return s.error();
  auto id = json::get_opt_int(p, "correction_id", "");
  if (!id) return id.error();
  if (!id->has_value() || **id < 1) return bad("correction_id", "correction_id: required, a positive integer");
  auto note = opt_text(p, "note", "", 2000);
  if (!note) return note.error();
  return MethodParams{CorrectionDecideParams<Kind>{**id, note->value_or("")}};
}

Result<OutageListParams> parse_outage_list(const Json& p) {
  if (auto s = only_fields(p, "", {"from", "to", "kind", "cursor", "limit"}); !s) return s.error();
  auto f = paged_filter(p);
  if (!f) return f.error();
  OutageListParams out{std::move(f->from), std::move(f->to), std::nullopt, f->cursor, f->limit};
  auto kind = opt_text(p, "kind", "", 16);
  if (!kind) return kind.error();
  static constexpr std::string_view kinds[] = {"line", "crash", "drill", "storage", "reader", "network"};
  if (kind->has_value() && std::find(std::begin(kinds), std::end(kinds), **kind) == std::end(kinds))
    return bad("kind", "kind: line, crash, drill, storage, reader or network");
  out.kind = std::move(*kind);
  return out;
}

Result<std::int64_t> outage_id(const Json& p) {
  auto id = json::get_opt_int(p, "outage_id", "");
  if (!id) return id.error();
  if (!id->has_value() || **id < 1) return bad("outage_id", "outage_id: required, a positive integer");
  return **id;
}

Result<OutageGetParams> parse_outage_get(const Json& p) {
  if (auto s = only_fields(p, "", {"outage_id"}); !s) return s.error();
  auto id = outage_id(p);
  if (!id) return id.error();
  return OutageGetParams{*id};
}

Result<OutageRecordParams> parse_outage_record(const Json& p) {
  if (auto s = only_fields(p, "", {"kind", "cause", "started_at", "ended_at", "note"}); !s) return s.error();
  OutageRecordParams out;
  auto kind = text(p, "kind", "", 16);
  if (!kind) return kind.error();
  static constexpr std::string_view kinds[] = {"line", "drill", "storage", "reader", "network"};
  if (std::find(std::begin(kinds), std::end(kinds), *kind) == std::end(kinds))
    return bad("kind", "kind: line, drill, storage, reader or network (a crash is recorded by settled itself)");
  out.kind = std::move(*kind);
  auto cause = text(p, "cause", "", 500);
  if (!cause) return cause.error();
  out.cause = std::move(*cause);
  for (const char* key : {"started_at", "ended_at"}) {
    auto t = opt_time(p, key, false);
    if (!t) return t.error();
    if (!t->has_value()) return bad(key, fmt::format("{}: required, an ISO 8601 date-time with offset", key));
    (std::string_view(key) == "started_at" ? out.started_at : out.ended_at) = std::move(**t);
  }
  auto note = opt_text(p, "note", "", 2000);
  if (!note) return note.error();
  out.note = note->value_or("");
  return out;
}

Result<OutageNoteParams> parse_outage_note(const Json& p) {
  if (auto s = only_fields(p, "", {"outage_id", "kind", "target", "detail"}); !s) return s.error();
  OutageNoteParams out;
  auto id = outage_id(p);
  if (!id) return id.error();
  out.outage_id = *id;
  auto kind = opt_text(p, "kind", "", 16);
  if (!kind) return kind.error();
  if (kind->has_value() && **kind != "told" && **kind != "note") return bad("kind", "kind: told or note");
  out.kind = kind->value_or("told");
  auto target = text(p, "target", "", 200);
  if (!target) return target.error();
  out.target = std::move(*target);
  auto detail = opt_text(p, "detail", "", 2000);
  if (!detail) return detail.error();
  out.detail = detail->value_or("");
  return out;
}

}  // namespace

Result<NoticeGetParams> parse_notice_get(const Json& p) {
  if (auto s = only_fields(p, "", {"state", "reason", "id", "format", "paper"}); !s) return s.error();
  NoticeGetParams out;
  auto state = opt_text(p, "state", "", 16);
  if (!state) return state.error();
  if (state->has_value() && **state != "offline" && **state != "online" && **state != "current")
    return bad("state", "state: offline, online or current");
  out.state = state->value_or("current");
  auto reason = opt_text(p, "reason", "", 64);
  if (!reason) return reason.error();
  if (reason->has_value() && !reason_from_name(**reason))
    return bad("reason", "reason: an error reason of this API, e.g. OFFLINE_REFUND_FORBIDDEN");
  out.reason = std::move(*reason);
  auto id = opt_text(p, "id", "", 40);
  if (!id) return id.error();
  out.id = std::move(*id);
  auto format = opt_text(p, "format", "", 8);
  if (!format) return format.error();
  if (format->has_value() && **format != "text" && **format != "html") return bad("format", "format: text or html");
  out.format = format->value_or("text");
  if (auto st = paper_into(p, out.paper); !st) return st.error();
  if (out.format != "html" && json::find(p, "paper") != nullptr)
    return bad("paper", "paper: only with format \"html\"");
  return out;
}

namespace {

template <class T>
Result<MethodParams> widen(Result<T> r) {
  if (!r) return r.error();
  return MethodParams{std::move(*r)};
}

template <class T>
Result<MethodParams> empty_params(const Json& p) {
  if (auto s = only_fields(p, "", {}); !s) return s.error();
  return MethodParams{T{}};
}

}  // namespace

Result<MethodParams> parse_params(Method m, const Json& p) {
  switch (m) {
    case Method::session_login: return widen(parse_login(p));
    case Method::session_logout: return empty_params<LogoutParams>(p);
    case Method::engine_status: return empty_params<EngineStatusParams>(p);
    case Method::events_subscribe: return widen(parse_subscribe(p));
    case Method::card_read: return widen(parse_card_read(p));
    case Method::card_verify_pin: return widen(parse_verify_pin(p));
    case Method::person_query: return widen(parse_person_query(p));
    case Method::account_history: return widen(parse_account_history(p));
    case Method::settle_preview: return widen(parse_settle_preview(p));
    case Method::settle_commit: return widen(parse_settle_commit(p));
    case Method::settle_refund: return widen(parse_settle_refund(p));
    case Method::settle_resettle: return widen(parse_settle_resettle(p));
    case Method::settle_get: return widen(parse_settle_get(p));
    case Method::settle_list: return widen(parse_settle_list(p));
    case Method::inpatient_admit: return widen(parse_inpatient_admit(p));
    case Method::inpatient_add_lines: return widen(parse_inpatient_add_lines(p));
    case Method::inpatient_preview: return widen(parse_inpatient_preview(p));
    case Method::inpatient_discharge: return widen(parse_inpatient_discharge(p));
    case Method::inpatient_undo_discharge: return widen(parse_inpatient_undo_discharge(p));
    case Method::inpatient_cancel_lines: return widen(parse_inpatient_cancel_lines(p));
    case Method::inpatient_undo_admit: return widen(parse_inpatient_undo_admit(p));
    case Method::inpatient_get: return widen(parse_inpatient_get(p));
    case Method::inpatient_list: return widen(parse_inpatient_list(p));
    case Method::recon_run: return widen(parse_recon_run(p));
    case Method::uploads_flush: return empty_params<UploadsFlushParams>(p);
    case Method::redlist_sync: return widen(parse_redlist_sync(p));
    case Method::outbox_parked: return empty_params<OutboxParkedParams>(p);
    case Method::outbox_retry: return widen(parse_outbox_retry(p));
    case Method::outbox_resolve: return widen(parse_outbox_resolve(p));
    case Method::session_change_password: return widen(parse_change_password(p));
    case Method::operator_list: return empty_params<OperatorListParams>(p);
    case Method::operator_add: return widen(parse_operator_add(p));
    case Method::operator_reset_password: return widen(parse_operator_reset_password(p));
    case Method::operator_unlock: return operator_named<0>(p);
    case Method::operator_set_role: return widen(parse_operator_set_role(p));
    case Method::operator_disable: return operator_named<1>(p);
    case Method::operator_enable: return operator_named<2>(p);
    case Method::audit_list: return widen(parse_audit_list(p));
    case Method::settle_sheet: return widen(parse_settle_sheet(p));
    case Method::closeout_preview: return widen(parse_closeout_preview(p));
    case Method::closeout_record: return widen(parse_closeout_record(p));
    case Method::closeout_get: return widen(parse_closeout_get(p));
    case Method::closeout_list: return widen(parse_closeout_list(p));
    case Method::closeout_sheet: return widen(parse_closeout_sheet(p));
    case Method::correction_record: return widen(parse_correction_record(p));
    case Method::correction_approve: return correction_decide<0>(p);
    case Method::correction_refuse: return correction_decide<1>(p);
    case Method::correction_list: return widen(parse_correction_list(p));
    case Method::work_list: return empty_params<WorkListParams>(p);
    case Method::outage_list: return widen(parse_outage_list(p));
    case Method::outage_get: return widen(parse_outage_get(p));
    case Method::outage_note: return widen(parse_outage_note(p));
    case Method::notice_get: return widen(parse_notice_get(p));
    case Method::reentry_record: return widen(parse_reentry_record(p));
    case Method::reentry_approve: return reentry_decide<0>(p);
    case Method::reentry_refuse: return reentry_decide<1>(p);
    case Method::reentry_list: return widen(parse_reentry_list(p));
    case Method::reentry_get: return widen(parse_reentry_get(p));
    case Method::outage_record: return widen(parse_outage_record(p));
    case Method::session_list: return empty_params<SessionListParams>(p);
    case Method::credential_scan: return widen(parse_credential_scan(p));
    case Method::credential_id: return widen(parse_credential_id(p));
  }
  SETTLE_ASSERT(false && "every method has a parser");
  return make_error(Reason::internal, "", "no parser");
}

std::optional<std::string> request_id_of(const MethodParams& p) {
  // closeout.record has a request_id of its own (a repeated one answers the
  // close-out it made) but is not one of the settlement table's requests.
  if (!is_mutating(static_cast<Method>(p.index()))) return std::nullopt;
  return std::visit(
      [](const auto& v) -> std::optional<std::string> {
        if constexpr (requires { v.request_id; }) {
          return v.request_id;
        } else {
          return std::nullopt;
        }
      },
      p);
}

std::optional<std::string> canonical_form(const MethodParams& p) {
  Json params = Json::object();
  std::string_view method;
  if (const auto* c = std::get_if<SettleCommitParams>(&p)) {
    method = "settle.commit";
    params["lines"] = canonical_lines(c->lines);
    params["use_account"] = c->use_account;
    params["med_type"] = c->med_type;
    if (c->visit) params["visit"] = visit_json(c->visit);
  } else if (const auto* r = std::get_if<SettleRefundParams>(&p)) {
    method = "settle.refund";
    params["setl_id"] = r->setl_id;
    if (r->lines) {
      Json arr = Json::array();
      for (const auto& l : *r->lines) arr.push_back(Json{{"code", l.code}, {"amount_fen", l.amount.fen()}});
      params["lines"] = std::move(arr);
    } else {
      params["lines"] = nullptr;
    }
  } else if (const auto* rs = std::get_if<SettleResettleParams>(&p)) {
    method = "settle.resettle";
    params["setl_id"] = rs->setl_id;
  } else if (const auto* a = std::get_if<InpatientAdmitParams>(&p)) {
    method = "inpatient.admit";
    params["dept"] = a->dept;
    params["dept_name"] = a->dept_name ? Json(*a->dept_name) : Json(nullptr);
    params["diagnosis"] = a->diagnosis;
    params["diagnosis_name"] = a->diagnosis_name ? Json(*a->diagnosis_name) : Json(nullptr);
    params["admit_time"] = a->admit_time ? Json(*a->admit_time) : Json(nullptr);
    // 1.3's fields only when they say something: a 1.2 request's form is unchanged.
    if (a->visit) params["visit"] = visit_json(a->visit);
    if (a->med_type != med_type_inpatient) params["med_type"] = a->med_type;
  } else if (const auto* al = std::get_if<InpatientAddLinesParams>(&p)) {
    method = "inpatient.add_lines";
    params["adm_id"] = al->adm_id;
    std::vector<ChargeLine> lines;
    Json sns = Json::array();
    for (const auto& l : al->lines) {
      lines.push_back(l.line);
      sns.push_back(l.feedetl_sn);
    }
    params["lines"] = canonical_lines(lines);
    params["feedetl_sn"] = std::move(sns);
  } else if (const auto* cl = std::get_if<InpatientCancelLinesParams>(&p)) {
    method = "inpatient.cancel_lines";
    params["adm_id"] = cl->adm_id;
    params["feedetl_sn"] = cl->feedetl_sn;
  } else if (const auto* d = std::get_if<InpatientDischargeParams>(&p)) {
    method = "inpatient.discharge";
    params["adm_id"] = d->adm_id;
    params["use_account"] = d->use_account;
    params["discharge_time"] = d->discharge_time ? Json(*d->discharge_time) : Json(nullptr);
  } else if (const auto* u = std::get_if<InpatientUndoDischargeParams>(&p)) {
    method = "inpatient.undo_discharge";
    params["adm_id"] = u->adm_id;
  } else if (const auto* ua = std::get_if<InpatientUndoAdmitParams>(&p)) {
    method = "inpatient.undo_admit";
    params["adm_id"] = ua->adm_id;
  } else {
    return std::nullopt;
  }
  Json doc = Json::object();
  doc["method"] = std::string(method);
  doc["params"] = std::move(params);
  return doc.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace settle::cashier
