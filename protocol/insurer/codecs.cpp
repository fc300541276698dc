// Codecs of every insurer transaction: encode writes amounts as "12.30";
// decode reads each field with its path, then checks the arithmetic the spec
// implies (parts adding up to totals, none negative).
#include "protocol/insurer/codecs.hpp"

#include "engine/limits.hpp"
#include "protocol/insurer/fields.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace settle::insurer {
namespace {

using json::amount_value;

constexpr std::size_t id_len = 64;     // setl_id, mdtrt_id, psn_no, local ids
constexpr std::size_t time_len = 19;   // "yyyy-MM-dd HH:mm:ss"
constexpr std::size_t date_len = 10;   // "yyyy-MM-dd"
constexpr std::size_t feedetl_sn_len = 30;
constexpr std::size_t ec_token_len = 128;  // an e-voucher token (mdtrt_cert_no with "01")

template <class T>
Result<T> finish(const Fields& f, T value) {
  if (Status s = f.status(); !s) return s.error();
  return value;
}

bool is_date(std::string_view s) {
  if (s.size() != date_len || s[4] != '-' || s[7] != '-') return false;
  for (std::size_t i : {0U, 1U, 2U, 3U, 5U, 6U, 8U, 9U})
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

std::string date(Fields& f, std::string_view key) {
  std::string s = f.str(key, date_len);
  if (f.ok() && !is_date(s)) f.fail(Reason::invalid_request, key, "must be a date yyyy-MM-dd");
  return s;
}

// "yyyy-MM-dd HH:mm:ss" (or empty when `optional`).
std::string datetime(Fields& f, std::string_view key, bool optional = false) {
  std::string s = optional ? f.opt_str(key, time_len).value_or("") : f.str(key, time_len);
  if (!f.ok() || (optional && s.empty())) return s;
  const bool shape = s.size() == time_len && is_date(std::string_view(s).substr(0, 10)) && s[10] == ' ' &&
                     s[13] == ':' && s[16] == ':';
  if (!shape) f.fail(Reason::invalid_request, key, "must be a time yyyy-MM-dd HH:mm:ss");
  return s;
}

// A quantity as exact decimal text: digits, optionally '.' and 1-4 digits.
bool is_quantity(std::string_view s) {
  if (s.empty() || s.size() > 16) return false;
  const auto dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  if (whole.empty()) return false;
  if (!std::all_of(whole.begin(), whole.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  if (dot == std::string_view::npos) return true;
  const std::string_view frac = s.substr(dot + 1);
  return !frac.empty() && frac.size() <= 4 &&
         std::all_of(frac.begin(), frac.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string_view class_code(LineClass c) {
  switch (c) {
    case LineClass::a: return "01";
    case LineClass::b: return "02";
    case LineClass::c: return "03";
  }
  return "01";
}

LineClass class_of(Fields& f, std::string_view key) {
  const std::string s = f.one_of(key, {"01", "02", "03"});
  if (s == "02") return LineClass::b;
  if (s == "03") return LineClass::c;
  return LineClass::a;
}

Json flags_value(PersonFlags flags) {
  Json a = Json::array();
  for (std::string_view n : flags.names()) a.push_back(std::string(n));
  return a;
}

PersonFlags flags_of(Fields& f, std::string_view key) {
  PersonFlags flags;
  for (const std::string& n : f.string_array(key, max_flags)) {
    const auto flag = person_flag_from_name(n);
    if (!flag) {
      f.fail(Reason::invalid_request, key, fmt::format("unknown flag \"{}\"", n));
      break;
    }
    flags.set(*flag);
  }
  return flags;
}

// Runs `decode_one` on every element of an array member.
template <class T, class F>
std::vector<T> each(Fields& f, std::string_view key, std::size_t max_items, bool required, F decode_one) {
  std::vector<T> out;
  const Json* a = required ? f.array(key, max_items) : f.opt_array(key, max_items);
  if (a == nullptr) return out;
  out.reserve(a->size());
  for (std::size_t i = 0; i < a->size() && f.ok(); ++i) {
    Fields ef((*a)[i], index_path(f.path_of(key), i));
    T v = decode_one(ef);
    if (!ef.ok()) {
      f.fail(ef.status().error());
      break;
    }
    out.push_back(std::move(v));
  }
  return out;
}

// {"data": {...}} wrappers of the national interface.
const Json* data_of(Fields& f, std::string_view key = "data") { return f.object(key); }

Json wrap(std::string_view key, Json inner) {
  Json j = Json::object();
  j[std::string(key)] = std::move(inner);
  return j;
}

template <class T, class F>
Result<T> decode_wrapped(const Json& j, std::string_view key, F body) {
  Fields outer(j, "");
  const Json* inner = data_of(outer, key);
  if (!outer.ok()) return outer.status().error();
  Fields f(*inner, std::string(key));
  T v = body(f);
  return finish(f, std::move(v));
}

// ---- shared pieces ----

Json encode_visit_open(const VisitOpen& v) {
  return Json{{"psn_no", v.psn_no},         {"insutype", v.insutype},     {"mdtrt_cert_type", v.mdtrt_cert_type},
              {"mdtrt_cert_no", v.mdtrt_cert_no}, {"med_type", v.med_type}, {"ipt_otp_no", v.ipt_otp_no},
              {"begntime", v.begntime},     {"dept_code", v.dept_code},   {"dept_name", v.dept_name},
              {"atddr_no", v.atddr_no},     {"dr_name", v.dr_name},       {"dise_codg", v.dise_codg},
              {"dise_name", v.dise_name}};
}

std::string cert_type_of(Fields& f) {
  return f.one_of("mdtrt_cert_type", {cert_type_ec, cert_type_id_no, cert_type_card});
}

VisitOpen decode_visit_open(Fields& f) {
  VisitOpen v;
  v.psn_no = f.nonempty("psn_no", id_len);
  v.insutype = f.nonempty("insutype", 6);
  v.mdtrt_cert_type = cert_type_of(f);
  v.mdtrt_cert_no = f.nonempty("mdtrt_cert_no", ec_token_len);
  v.med_type = f.nonempty("med_type", 6);
  v.ipt_otp_no = f.nonempty("ipt_otp_no", id_len);
  v.begntime = datetime(f, "begntime");
  v.dept_code = f.opt_str("dept_code", 30).value_or("");
  v.dept_name = f.opt_str("dept_name", 100).value_or("");
  v.atddr_no = f.opt_str("atddr_no", 30).value_or("");
  v.dr_name = f.opt_str("dr_name", 50).value_or("");
  v.dise_codg = f.opt_str("dise_codg", limits::max_code_len).value_or("");
  v.dise_name = f.opt_str("dise_name", limits::max_name_len).value_or("");
  if (f.ok() && v.dise_codg.empty() && !v.dise_name.empty())
    f.fail(Reason::invalid_request, "dise_codg", "required when dise_name is given (the diagnosis's code)");
  return v;
}

Json encode_visit_opened(const VisitOpened& v) {
  return wrap("data", Json{{"mdtrt_id", v.mdtrt_id}, {"psn_no", v.psn_no}, {"ipt_otp_no", v.ipt_otp_no}});
}

VisitOpened decode_visit_opened(Fields& f) {
  VisitOpened v;
  v.mdtrt_id = f.nonempty("mdtrt_id", id_len);
  v.psn_no = f.nonempty("psn_no", id_len);
  v.ipt_otp_no = f.str("ipt_otp_no", id_len);
  return v;
}

Json encode_fee_detail(const FeeDetail& d) {
  Json j{{"feedetl_sn", d.feedetl_sn},
         {"mdtrt_id", d.mdtrt_id},
         {"psn_no", d.psn_no},
         {"chrg_bchno", d.chrg_bchno},
         {"fee_ocur_time", d.fee_ocur_time},
         {"med_list_codg", d.med_list_codg},
         {"medins_list_codg", d.medins_list_codg},
         {"medins_list_name", d.medins_list_name},
         {"det_item_fee_sumamt", amount_value(d.det_item_fee_sumamt)},
         {"cnt", d.cnt},
         {"pric", amount_value(d.pric)},
         {"chrgitm_lv", std::string(class_code(d.cls))}};
  if (d.selfpay_prop) j["selfpay_prop"] = format_ratio(*d.selfpay_prop);
  return j;
}

// `in_offline`: the lines of a 9302 record carry no visit of their own.
FeeDetail decode_fee_detail(Fields& f, bool in_offline) {
  FeeDetail d;
  d.feedetl_sn = f.nonempty("feedetl_sn", feedetl_sn_len);
  if (in_offline) {
    d.mdtrt_id = f.opt_str("mdtrt_id", id_len).value_or("");
    d.psn_no = f.opt_str("psn_no", id_len).value_or("");
    d.chrg_bchno = f.opt_str("chrg_bchno", 30).value_or("");
    d.fee_ocur_time = datetime(f, "fee_ocur_time", true);
  } else {
    d.mdtrt_id = f.nonempty("mdtrt_id", id_len);
    d.psn_no = f.nonempty("psn_no", id_len);
    d.chrg_bchno = f.nonempty("chrg_bchno", 30);
    d.fee_ocur_time = datetime(f, "fee_ocur_time");
  }
  d.med_list_codg = f.nonempty("med_list_codg", limits::max_code_len);
  d.medins_list_codg = f.opt_str("medins_list_codg", limits::max_code_len).value_or("");
  d.medins_list_name = f.opt_str("medins_list_name", limits::max_name_len).value_or("");
  d.det_item_fee_sumamt = f.amount("det_item_fee_sumamt");
  d.cnt = f.str("cnt", 16);
  if (f.ok() && !is_quantity(d.cnt)) f.fail(Reason::invalid_request, "cnt", "must be a decimal quantity (\"2\", \"0.5\")");
  d.pric = f.amount("pric");
  d.cls = class_of(f, "chrgitm_lv");
  d.selfpay_prop = f.opt_ratio("selfpay_prop");
  if (f.ok() && d.selfpay_prop && d.cls != LineClass::b)
    f.fail(Reason::invalid_request, "selfpay_prop", "applies to class B (chrgitm_lv \"02\") lines only");
  if (f.ok() && d.det_item_fee_sumamt.fen() > limits::amount_max_fen)
    f.fail(Reason::invalid_amount, "det_item_fee_sumamt", "amount out of range");
  return d;
}

Json encode_fee_details(const std::vector<FeeDetail>& lines) {
  Json a = Json::array();
  for (const FeeDetail& d : lines) a.push_back(encode_fee_detail(d));
  return a;
}

Json encode_setlinfo(const SetlInfo& s) {
  return Json{{"setl_id", s.setl_id},
              {"mdtrt_id", s.mdtrt_id},
              {"psn_no", s.psn_no},
              {"medfee_sumamt", amount_value(s.medfee_sumamt)},
              {"fulamt_ownpay_amt", amount_value(s.fulamt_ownpay_amt)},
              {"preselfpay_amt", amount_value(s.preselfpay_amt)},
              {"inscp_scp_amt", amount_value(s.inscp_scp_amt)},
              {"act_pay_dedc", amount_value(s.act_pay_dedc)},
              {"hifp_pay", amount_value(s.hifp_pay)},
              {"fund_pay_sumamt", amount_value(s.fund_pay_sumamt)},
              {"psn_part_amt", amount_value(s.psn_part_amt)},
              {"acct_pay", amount_value(s.acct_pay)},
              {"psn_cash_pay", amount_value(s.psn_cash_pay)},
              {"balc", amount_value(s.balc)},
              {"medins_setl_id", s.medins_setl_id},
              {"setl_time", s.setl_time}};
}

Result<SettleOutput> decode_settle_output(const Json& j, bool preview) {
  Fields outer(j, "");
  const Json* inner = outer.object("setlinfo");
  if (!outer.ok()) return outer.status().error();
  Fields f(*inner, "setlinfo");
  SettleOutput o;
  SetlInfo& s = o.setlinfo;
  s.setl_id = preview ? f.opt_str("setl_id", id_len).value_or("") : f.nonempty("setl_id", id_len);
  s.mdtrt_id = f.str("mdtrt_id", id_len);
  s.psn_no = f.str("psn_no", id_len);
  s.medfee_sumamt = f.amount("medfee_sumamt");
  s.fulamt_ownpay_amt = f.amount("fulamt_ownpay_amt");
  s.preselfpay_amt = f.amount("preselfpay_amt");
  s.inscp_scp_amt = f.amount("inscp_scp_amt");
  s.act_pay_dedc = f.amount("act_pay_dedc");
  s.hifp_pay = f.amount("hifp_pay");
  s.fund_pay_sumamt = f.amount("fund_pay_sumamt");
  s.psn_part_amt = f.amount("psn_part_amt");
  s.acct_pay = f.amount("acct_pay");
  s.psn_cash_pay = f.amount("psn_cash_pay");
  s.balc = f.amount("balc");
  s.medins_setl_id = f.opt_str("medins_setl_id", id_len).value_or("");
  s.setl_time = datetime(f, "setl_time", true);
  if (Status st = f.status(); !st) return st.error();
  if (Status st = check_setlinfo(s, "setlinfo", !preview); !st) return st.error();
  return o;
}

Json encode_refund_lines(const std::vector<RefundLine>& lines) {
  Json a = Json::array();
  for (const RefundLine& l : lines) a.push_back(Json{{"med_list_codg", l.med_list_codg}, {"amount", amount_value(l.amount)}});
  return a;
}

Status parts_add_up(std::string_view path, std::string_view total_name, Amount total,
                    std::initializer_list<std::pair<std::string_view, Amount>> parts) {
  Amount sum;
  std::string names;
  for (const auto& [name, value] : parts) {
    sum += value;
    names += fmt::format("{}{}", names.empty() ? "" : " + ", name);
  }
  if (sum != total) {
    const std::string field = json::path_join(path, total_name);
    return make_error(Reason::invalid_request, field,
                      fmt::format("{}: {} = {} does not equal {} = {}", path, names, format_amount(sum), total_name,
                                  format_amount(total)));
  }
  return Ok{};
}

}  // namespace

ChargeLine to_charge_line(const FeeDetail& d) {
  ChargeLine l;
  l.code = d.med_list_codg;
  l.name = d.medins_list_name;
  l.cls = d.cls;
  l.amount = d.det_item_fee_sumamt;
  l.selfpay_ratio = d.selfpay_prop;
  return l;
}

std::string_view reversal_result_name(ReversalResult r) noexcept {
  switch (r) {
    case ReversalResult::reversed: return "reversed";
    case ReversalResult::already_reversed: return "already_reversed";
    case ReversalResult::not_found: return "not_found";
    case ReversalResult::no_effect: return "no_effect";
  }
  return "unknown";
}

Status check_setlinfo(const SetlInfo& s, std::string_view path, bool require_setl_id) {
  if (require_setl_id && s.setl_id.empty())
    return make_error(Reason::invalid_request, json::path_join(path, "setl_id"),
                      fmt::format("{}.setl_id: required field is empty", path));
  if (Status st = parts_add_up(path, "medfee_sumamt", s.medfee_sumamt,
                               {{"fund_pay_sumamt", s.fund_pay_sumamt}, {"acct_pay", s.acct_pay},
                                {"psn_cash_pay", s.psn_cash_pay}});
      !st)
    return st;
  if (Status st = parts_add_up(path, "medfee_sumamt", s.medfee_sumamt,
                               {{"fulamt_ownpay_amt", s.fulamt_ownpay_amt}, {"preselfpay_amt", s.preselfpay_amt},
                                {"inscp_scp_amt", s.inscp_scp_amt}});
      !st)
    return st;
  if (Status st = parts_add_up(path, "medfee_sumamt", s.medfee_sumamt,
                               {{"fund_pay_sumamt", s.fund_pay_sumamt}, {"psn_part_amt", s.psn_part_amt}});
      !st)
    return st;
  if (s.act_pay_dedc > s.inscp_scp_amt)
    return make_error(Reason::invalid_request, json::path_join(path, "act_pay_dedc"),
                      fmt::format("{}.act_pay_dedc: {} is above inscp_scp_amt {}", path, format_amount(s.act_pay_dedc),
                                  format_amount(s.inscp_scp_amt)));
  if (s.hifp_pay > s.fund_pay_sumamt)
    return make_error(Reason::invalid_request, json::path_join(path, "hifp_pay"),
                      fmt::format("{}.hifp_pay: {} is above fund_pay_sumamt {}", path, format_amount(s.hifp_pay),
                                  format_amount(s.fund_pay_sumamt)));
  return Ok{};
}

// ---- 9001 / 9002 ----
Json SignIn::Input::encode() const { return wrap("signIn", Json{{"opter_no", opter_no}, {"mac", mac}, {"ip", ip}}); }
Result<SignIn::Input> SignIn::Input::decode(const Json& j) {
  return decode_wrapped<Input>(j, "signIn", [](Fields& f) {
    Input in;
    in.opter_no = f.nonempty("opter_no", 30);
    in.mac = f.opt_str("mac", 64).value_or("");
    in.ip = f.opt_str("ip", 64).value_or("");
    return in;
  });
}
Json SignIn::Output::encode() const { return wrap("signinoutb", Json{{"sign_time", sign_time}, {"sign_no", sign_no}}); }
Result<SignIn::Output> SignIn::Output::decode(const Json& j) {
  return decode_wrapped<Output>(j, "signinoutb", [](Fields& f) {
    Output o;
    o.sign_time = datetime(f, "sign_time");
    o.sign_no = f.nonempty("sign_no", 64);
    return o;
  });
}
Json SignOut::Input::encode() const { return wrap("signOut", Json{{"sign_no", sign_no}, {"opter_no", opter_no}}); }
Result<SignOut::Input> SignOut::Input::decode(const Json& j) {
  return decode_wrapped<Input>(j, "signOut", [](Fields& f) {
    Input in;
    in.sign_no = f.nonempty("sign_no", 64);
    in.opter_no = f.nonempty("opter_no", 30);
    return in;
  });
}
Json SignOut::Output::encode() const { return wrap("signoutoutb", Json{{"sign_time", sign_time}}); }
Result<SignOut::Output> SignOut::Output::decode(const Json& j) {
  return decode_wrapped<Output>(j, "signoutoutb", [](Fields& f) {
    Output o;
    o.sign_time = datetime(f, "sign_time");
    return o;
  });
}

// ---- 1101 ----
Json PersonInfo::Input::encode() const {
  return wrap("data", Json{{"mdtrt_cert_type", mdtrt_cert_type},
                           {"mdtrt_cert_no", mdtrt_cert_no},
                           {"card_sn", card_sn},
                           {"psn_cert_type", psn_cert_type},
                           {"certno", certno},
                           {"psn_name", psn_name}});
}
Result<PersonInfo::Input> PersonInfo::Input::decode(const Json& j) {
  return decode_wrapped<Input>(j, "data", [](Fields& f) {
    Input in;
    in.mdtrt_cert_type = cert_type_of(f);
    in.mdtrt_cert_no = f.nonempty("mdtrt_cert_no", ec_token_len);
    in.card_sn = f.opt_str("card_sn", 64).value_or("");
    in.psn_cert_type = f.opt_str("psn_cert_type", 6).value_or("01");
    in.certno = f.opt_str("certno", id_len).value_or("");
    in.psn_name = f.opt_str("psn_name", 100).value_or("");
    if (!f.ok()) return in;
    if (in.mdtrt_cert_type == cert_type_card && in.card_sn.empty())
      f.fail(Reason::invalid_request, "card_sn", "required with mdtrt_cert_type \"03\" (card)");
    else if (in.mdtrt_cert_type != cert_type_card && !in.card_sn.empty())
      f.fail(Reason::invalid_request, "card_sn",
             fmt::format("only with mdtrt_cert_type \"03\" (card), not \"{}\"", in.mdtrt_cert_type));
    else if (in.mdtrt_cert_type == cert_type_id_no && in.psn_cert_type != psn_cert_type_id_card)
      f.fail(Reason::invalid_request, "psn_cert_type",
             fmt::format("\"{}\": with mdtrt_cert_type \"02\" only \"01\" (居民身份证) is accepted", in.psn_cert_type));
    else if (in.mdtrt_cert_type == cert_type_id_no && in.mdtrt_cert_no.size() != 18)
      f.fail(Reason::invalid_request, "mdtrt_cert_no", "an ID number (mdtrt_cert_type \"02\") has 18 characters");
    return in;
  });
}
Json PersonInfo::Output::encode() const {
  Json insu = Json::array();
  for (const InsuInfo& i : insuinfo)
    insu.push_back(Json{{"insutype", i.insutype},
                        {"balc", amount_value(i.balc)},
                        {"psn_insu_stas", i.psn_insu_stas},
                        {"psn_type", i.psn_type},
                        {"flags", flags_value(i.flags)},
                        {"deductible_used", amount_value(i.deductible_used)},
                        {"fund_paid_ytd", amount_value(i.fund_paid_ytd)},
                        {"insuplc_admdvs", i.insuplc_admdvs}});
  return Json{{"baseinfo", Json{{"psn_no", baseinfo.psn_no},
                                {"psn_cert_type", baseinfo.psn_cert_type},
                                {"certno", baseinfo.certno},
                                {"psn_name", baseinfo.psn_name},
                                {"gend", baseinfo.gend},
                                {"brdy", baseinfo.brdy}}},
              {"insuinfo", insu}};
}
Result<PersonInfo::Output> PersonInfo::Output::decode(const Json& j) {
  Fields outer(j, "");
  const Json* base = outer.object("baseinfo");
  Output o;
  if (base != nullptr) {
    Fields f(*base, "baseinfo");
    o.baseinfo.psn_no = f.nonempty("psn_no", id_len);
    o.baseinfo.psn_cert_type = f.str("psn_cert_type", 6);
    o.baseinfo.certno = f.str("certno", id_len);
    o.baseinfo.psn_name = f.nonempty("psn_name", 100);
    o.baseinfo.gend = f.str("gend", 2);
    o.baseinfo.brdy = f.str("brdy", date_len);
    if (!f.ok()) outer.fail(f.status().error());
  }
  o.insuinfo = each<InsuInfo>(outer, "insuinfo", 16, true, [](Fields& f) {
    InsuInfo i;
    i.insutype = f.nonempty("insutype", 6);
    i.balc = f.amount("balc");
    i.psn_insu_stas = f.str("psn_insu_stas", 4);
    i.psn_type = f.str("psn_type", 8);
    i.flags = flags_of(f, "flags");
    i.deductible_used = f.amount("deductible_used");
    i.fund_paid_ytd = f.amount("fund_paid_ytd");
    i.insuplc_admdvs = f.opt_digits("insuplc_admdvs", admdvs_len);
    return i;
  });
  if (outer.ok() && o.insuinfo.empty()) outer.fail(Reason::invalid_request, "insuinfo", "at least one insurance is required");
  return finish(outer, std::move(o));
}

// ---- 2201 / 2401 ----
Json OutpatientRegister::Input::encode() const { return wrap("data", encode_visit_open(*this)); }
Result<OutpatientRegister::Input> OutpatientRegister::Input::decode(const Json& j) {
  return decode_wrapped<Input>(j, "data", [](Fields& f) { return Input{decode_visit_open(f)}; });
}
Json OutpatientRegister::Output::encode() const { return encode_visit_opened(*this); }
Result<OutpatientRegister::Output> OutpatientRegister::Output::decode(const Json& j) {
  return decode_wrapped<Output>(j, "data", [](Fields& f) { return Output{decode_visit_opened(f)}; });
}
Json Admission::Input::encode() const { return wrap("mdtrtinfo", encode_visit_open(*this)); }
Result<Admission::Input> Admission::Input::decode(const Json& j) {
  return decode_wrapped<Input>(j, "mdtrtinfo", [](Fields& f) {
    Input in;
    static_cast<VisitOpen&>(in) = decode_visit_open(f);
    if (f.ok() && in.dise_codg.empty())
      f.fail(Reason::invalid_request, "dise_codg", "required: the admission diagnosis (诊断编码)");
    return in;
  });
}
Json Admission::Output::encode() const { return encode_visit_opened(*this); }
Result<Admission::Output> Admission::Output::decode(const Json& j) {
  return decode_wrapped<Output>(j, "data", [](Fields& f) { return Output{decode_visit_opened(f)}; });
}

// ---- 2204 / 2301 ----
Json FeeUploadInput::encode() const { return wrap("feedetail", encode_fee_details(feedetail)); }
Result<FeeUploadInput> FeeUploadInput::decode(const Json& j) {
  Fields f(j, "");
  FeeUploadInput in;
  in.feedetail = each<FeeDetail>(f, "feedetail", max_feedetail, true, [](Fields& ef) { return decode_fee_detail(ef, false); });
  if (f.ok() && in.feedetail.empty()) f.fail(Reason::invalid_request, "feedetail", "at least one line is required");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < in.feedetail.size() && f.ok(); ++i) {
    const FeeDetail& d = in.feedetail[i];
    if (d.mdtrt_id != in.feedetail[0].mdtrt_id)
      f.fail(Reason::invalid_request, index_path("feedetail", i) + ".mdtrt_id", "all lines of one upload must share mdtrt_id");
    else if (!seen.insert(d.feedetl_sn).second)
      f.fail(Reason::invalid_request, index_path("feedetail", i) + ".feedetl_sn",
             fmt::format("\"{}\" appears twice in this upload", d.feedetl_sn));
  }
  return finish(f, std::move(in));
}
Json FeeUploadOutput::encode() const {
  Json a = Json::array();
  for (const FeeResult& r : result)
    a.push_back(Json{{"feedetl_sn", r.feedetl_sn},
                     {"det_item_fee_sumamt", amount_value(r.det_item_fee_sumamt)},
                     {"chrgitm_lv", std::string(class_code(r.cls))},
                     {"selfpay_prop", format_ratio(r.selfpay_prop)},
                     {"fulamt_ownpay_amt", amount_value(r.fulamt_ownpay_amt)},
                     {"preselfpay_amt", amount_value(r.preselfpay_amt)},
                     {"inscp_scp_amt", amount_value(r.inscp_scp_amt)}});
  return wrap("result", std::move(a));
}
Result<FeeUploadOutput> FeeUploadOutput::decode(const Json& j) {
  Fields f(j, "");
  FeeUploadOutput o;
  o.result = each<FeeResult>(f, "result", max_feedetail, true, [](Fields& ef) {
    FeeResult r;
    r.feedetl_sn = ef.nonempty("feedetl_sn", feedetl_sn_len);
    r.det_item_fee_sumamt = ef.amount("det_item_fee_sumamt");
    r.cls = class_of(ef, "chrgitm_lv");
    r.selfpay_prop = ef.opt_ratio("selfpay_prop").value_or(Ratio{});
    r.fulamt_ownpay_amt = ef.amount("fulamt_ownpay_amt");
    r.preselfpay_amt = ef.amount("preselfpay_amt");
    r.inscp_scp_amt = ef.amount("inscp_scp_amt");
    if (ef.ok()) {
      if (Status s = parts_add_up(ef.path(), "det_item_fee_sumamt", r.det_item_fee_sumamt,
                                  {{"fulamt_ownpay_amt", r.fulamt_ownpay_amt}, {"preselfpay_amt", r.preselfpay_amt},
                                   {"inscp_scp_amt", r.inscp_scp_amt}});
          !s)
        ef.fail(s.error());
    }
    return r;
  });
  return finish(f, std::move(o));
}

// ---- 2302 ----
Json CancelLines::Input::encode() const {
  return wrap("data", Json{{"mdtrt_id", mdtrt_id}, {"psn_no", psn_no}, {"feedetl_sn", feedetl_sn}});
}
Result<CancelLines::Input> CancelLines::Input::decode(const Json& j) {
  return decode_wrapped<Input>(j, "data", [](Fields& f) {
    Input in;
    in.mdtrt_id = f.nonempty("mdtrt_id", id_len);
    in.psn_no = f.nonempty("psn_no", id_len);
    in.feedetl_sn = f.string_array("feedetl_sn", max_feedetail, feedetl_sn_len);
    if (f.ok() && in.feedetl_sn.empty())
      f.fail(Reason::invalid_request, "feedetl_sn", "at least one line number is required (\"0000\": every live line)");
    std::set<std::string_view> seen;
    for (std::size_t i = 0; i < in.feedetl_sn.size() && f.ok(); ++i) {
      const std::string& sn = in.feedetl_sn[i];
      const std::string key = index_path("feedetl_sn", i);
      if (sn.empty())
        f.fail(Reason::invalid_request, key, "required field is empty");
      else if (sn == feedetl_sn_all && in.feedetl_sn.size() > 1)
        f.fail(Reason::invalid_request, key, "\"0000\" (every live line) must be the only line number");
      else if (!seen.insert(sn).second)
        f.fail(Reason::invalid_request, key, fmt::format("\"{}\" appears twice in this request", sn));
    }
    return in;
  });
}
Json CancelLines::Output::encode() const { return wrap("data", Json{{"mdtrt_id", mdtrt_id}, {"cancelled", cancelled}}); }
Result<CancelLines::Output> CancelLines::Output::decode(const Json& j) {
  return decode_wrapped<Output>(j, "data", [](Fields& f) {
    Output o;
    o.mdtrt_id = f.nonempty("mdtrt_id", id_len);
    o.cancelled = f.string_array("cancelled", limits::max_lines_per_admission, feedetl_sn_len);
    for (std::size_t i = 0; i < o.cancelled.size() && f.ok(); ++i)
      if (o.cancelled[i].empty()) f.fail(Reason::invalid_request, index_path("cancelled", i), "required field is empty");
    return o;
  });
}

// ---- 2402 ----
Json Discharge::Input::encode() const {
  return wrap("dscginfo", Json{{"mdtrt_id", mdtrt_id},
                               {"psn_no", psn_no},
                               {"insutype", insutype},
                               {"endtime", endtime},
                               {"dscg_way", dscg_way}});
}
Result<Discharge::Input> Discharge::Input::decode(const Json& j) {
  return decode_wrapped<Input>(j, "dscginfo", [](Fields& f) {
    Input in;
    in.mdtrt_id = f.nonempty("mdtrt_id", id_len);
    in.psn_no = f.nonempty("psn_no", id_len);
    in.insutype = f.nonempty("insutype", 6);
    in.endtime = datetime(f, "endtime");
    // Absent or empty: "1" (discharged on medical advice).
    std::string way = f.opt_str("dscg_way", 2).value_or("");
    if (!way.empty()) in.dscg_way = std::move(way);
    if (f.ok() && (in.dscg_way.size() != 1 || std::string_view("123459").find(in.dscg_way[0]) == std::string_view::npos))
      f.fail(Reason::invalid_request, "dscg_way",
             fmt::format("\"{}\" is not one of \"1\", \"2\", \"3\", \"4\", \"5\", \"9\"", in.dscg_way));
    return in;
  });
}
Json Discharge::Output::encode() const { return wrap("data", Json{{"mdtrt_id", mdtrt_id}}); }
Result<Discharge::Output> Discharge::Output::decode(const Json& j) {
  return decode_wrapped<Output>(j, "data", [](Fields& f) {
    Output o;
    o.mdtrt_id = f.nonempty("mdtrt_id", id_len);
    return o;
  });
}

// ---- 2404 ----
Json UndoAdmission::Input::encode() const { return wrap("data", Json{{"mdtrt_id", mdtrt_id}, {"psn_no", psn_no}}); }
Result<UndoAdmission::Input> UndoAdmission::Input::decode(const Json& j) {
  return decode_wrapped<Input>(j, "data", [](Fields& f) {
    Input in;
    in.mdtrt_id = f.nonempty("mdtrt_id", id_len);
    in.psn_no = f.nonempty("psn_no", id_len);
    return in;
  });
}
Json UndoAdmission::Output::encode() const { return wrap("data", Json{{"mdtrt_id", mdtrt_id}}); }
Result<UndoAdmission::Output> UndoAdmission::Output::decode(const Json& j) {
  return decode_wrapped<Output>(j, "data", [](Fields& f) {
    Output o;
    o.mdtrt_id = f.nonempty("mdtrt_id", id_len);
    return o;
  });
}

// ---- settle / preview ----
Json SettleInput::encode() const {
  Json j = wrap("data", Json{{"psn_no", psn_no},
                           {"mdtrt_cert_type", mdtrt_cert_type},
                           {"mdtrt_cert_no", mdtrt_cert_no},
                           {"med_type", med_type},
                           {"medfee_sumamt", amount_value(medfee_sumamt)},
                           {"psn_setlway", psn_setlway},
                           {"mdtrt_id", mdtrt_id},
                           {"chrg_bchno", chrg_bchno},
                           {"insutype", insutype},
                           {"acct_used_flag", acct_used_flag},
                           {"medins_setl_id", medins_setl_id}});
  if (!exp_content.empty())
    j["data"]["exp_content"] = Json{{"acct_pay_max", amount_value(*exp_content.acct_pay_max)}};
  return j;
}
Result<SettleInput> SettleInput::decode(const Json& j) {
  return decode_wrapped<SettleInput>(j, "data", [](Fields& f) {
    SettleInput in;
    in.psn_no = f.nonempty("psn_no", id_len);
    in.mdtrt_cert_type = cert_type_of(f);
    in.mdtrt_cert_no = f.nonempty("mdtrt_cert_no", ec_token_len);
    in.med_type = f.nonempty("med_type", 6);
    in.medfee_sumamt = f.amount("medfee_sumamt");
    in.psn_setlway = f.one_of("psn_setlway", {"01", "02"});
    in.mdtrt_id = f.nonempty("mdtrt_id", id_len);
    in.chrg_bchno = f.opt_str("chrg_bchno", 30).value_or("");
    in.insutype = f.nonempty("insutype", 6);
    in.acct_used_flag = f.one_of("acct_used_flag", {"0", "1"});
    in.medins_setl_id = f.opt_str("medins_setl_id", id_len).value_or("");
    if (const Json* exp = f.opt_object("exp_content"); exp != nullptr) {
      Fields ef(*exp, f.path_of("exp_content"));
      in.exp_content.acct_pay_max = ef.opt_amount("acct_pay_max");
      if (ef.ok() && in.exp_content.acct_pay_max && in.exp_content.acct_pay_max->fen() > limits::amount_max_fen)
        ef.fail(Reason::invalid_amount, "acct_pay_max", "amount out of range");
      if (!ef.ok()) f.fail(ef.status().error());
    }
    return in;
  });
}
Json SettleOutput::encode() const { return wrap("setlinfo", encode_setlinfo(setlinfo)); }
Result<SettleOutput> SettleOutput::decode(const Json& j) { return decode_settle_output(j, false); }
Result<SettleOutput> SettleOutput::decode_preview(const Json& j) { return decode_settle_output(j, true); }
Result<OutpatientPreview::Output> OutpatientPreview::Output::decode(const Json& j) {
  auto r = decode_settle_output(j, true);
  if (!r) return r.error();
  return Output{*r};
}
Result<InpatientPreview::Output> InpatientPreview::Output::decode(const Json& j) {
  auto r = decode_settle_output(j, true);
  if (!r) return r.error();
  return Output{*r};
}

// ---- undo ----
Json UndoInput::encode() const { return wrap("data", Json{{"setl_id", setl_id}, {"mdtrt_id", mdtrt_id}, {"psn_no", psn_no}}); }
Result<UndoInput> UndoInput::decode(const Json& j) {
  return decode_wrapped<UndoInput>(j, "data", [](Fields& f) {
    UndoInput in;
    in.setl_id = f.nonempty("setl_id", id_len);
    in.mdtrt_id = f.nonempty("mdtrt_id", id_len);
    in.psn_no = f.nonempty("psn_no", id_len);
    return in;
  });
}
Json UndoOutput::encode() const {
  return wrap("setlinfo", Json{{"setl_id", setl_id},
                               {"orig_setl_id", orig_setl_id},
                               {"medfee_sumamt", amount_value(medfee_sumamt)},
                               {"fund_pay_sumamt", amount_value(fund_pay_sumamt)},
                               {"acct_pay", amount_value(acct_pay)},
                               {"psn_cash_pay", amount_value(psn_cash_pay)},
                               {"balc", amount_value(balc)}});
}
Result<UndoOutput> UndoOutput::decode(const Json& j) {
  return decode_wrapped<UndoOutput>(j, "setlinfo", [](Fields& f) {
    UndoOutput o;
    o.setl_id = f.nonempty("setl_id", id_len);
    o.orig_setl_id = f.nonempty("orig_setl_id", id_len);
    o.medfee_sumamt = f.amount("medfee_sumamt");
    o.fund_pay_sumamt = f.amount("fund_pay_sumamt");
    o.acct_pay = f.amount("acct_pay");
    o.psn_cash_pay = f.amount("psn_cash_pay");
    o.balc = f.amount("balc");
    if (f.ok())
      if (Status s = parts_add_up("setlinfo", "medfee_sumamt", o.medfee_sumamt,
                                  {{"fund_pay_sumamt", o.fund_pay_sumamt}, {"acct_pay", o.acct_pay},
                                   {"psn_cash_pay", o.psn_cash_pay}});
          !s)
        f.fail(s.error());
    return o;
  });
}

// ---- 2601 ----
Json Reversal::Input::encode() const { return wrap("data", Json{{"psn_no", psn_no}, {"omsgid", omsgid}, {"oinfno", oinfno}}); }
Result<Reversal::Input> Reversal::Input::decode(const Json& j) {
  return decode_wrapped<Input>(j, "data", [](Fields& f) {
    Input in;
    in.psn_no = f.str("psn_no", id_len);
    in.omsgid = f.str("omsgid", msgid_len);
    if (f.ok())
      if (Status s = check_msgid(in.omsgid, "data.omsgid"); !s) f.fail(s.error());
    in.oinfno = f.digits("oinfno", 4);
    return in;
  });
}
Json Reversal::Output::encode() const {
  return wrap("data", Json{{"omsgid", omsgid},
                           {"oinfno", oinfno},
                           {"rslt", std::string(reversal_result_name(result))},
                           {"medfee_sumamt", amount_value(medfee_sumamt)},
                           {"fund_pay_sumamt", amount_value(fund_pay_sumamt)},
                           {"acct_pay", amount_value(acct_pay)},
                           {"psn_cash_pay", amount_value(psn_cash_pay)}});
}
Result<Reversal::Output> Reversal::Output::decode(const Json& j) {
  return decode_wrapped<Output>(j, "data", [](Fields& f) {
    Output o;
    o.omsgid = f.nonempty("omsgid", msgid_len);
    o.oinfno = f.digits("oinfno", 4);
    const std::string r = f.one_of("rslt", {"reversed", "already_reversed", "not_found", "no_effect"});
    o.result = r == "reversed"           ? ReversalResult::reversed
               : r == "already_reversed" ? ReversalResult::already_reversed
               : r == "no_effect"        ? ReversalResult::no_effect
                                         : ReversalResult::not_found;
    o.medfee_sumamt = f.amount("medfee_sumamt");
    o.fund_pay_sumamt = f.amount("fund_pay_sumamt");
    o.acct_pay = f.amount("acct_pay");
    o.psn_cash_pay = f.amount("psn_cash_pay");
    if (f.ok())
      if (Status s = parts_add_up("data", "medfee_sumamt", o.medfee_sumamt,
                                  {{"fund_pay_sumamt", o.fund_pay_sumamt}, {"acct_pay", o.acct_pay},
                                   {"psn_cash_pay", o.psn_cash_pay}});
          !s)
        f.fail(s.error());
    if (f.ok() && o.result != ReversalResult::reversed && !o.medfee_sumamt.is_zero())
      f.fail(Reason::invalid_request, "medfee_sumamt", "must be 0.00 unless rslt is \"reversed\"");
    return o;
  });
}

// ---- 3201 ----
Json DailyTotals::Input::encode() const {
  return wrap("data", Json{{"insutype", insutype},
                           {"clr_type", clr_type},
                           {"setl_optins", setl_optins},
                           {"stmt_begndate", stmt_begndate},
                           {"stmt_enddate", stmt_enddate},
                           {"medfee_sumamt", amount_value(medfee_sumamt)},
                           {"fund_pay_sumamt", amount_value(fund_pay_sumamt)},
                           {"acct_pay", amount_value(acct_pay)},
                           {"fixmedins_setl_cnt", fixmedins_setl_cnt}});
}
Result<DailyTotals::Input> DailyTotals::Input::decode(const Json& j) {
  return decode_wrapped<Input>(j, "data", [](Fields& f) {
    Input in;
    in.insutype = f.str("insutype", 6);
    in.clr_type = f.one_of("clr_type", {"11", "21", ""});
    in.setl_optins = f.opt_digits("setl_optins", admdvs_len);
    in.stmt_begndate = date(f, "stmt_begndate");
    in.stmt_enddate = date(f, "stmt_enddate");
    in.medfee_sumamt = f.amount("medfee_sumamt");
    in.fund_pay_sumamt = f.amount("fund_pay_sumamt");
    in.acct_pay = f.amount("acct_pay");
    in.fixmedins_setl_cnt = f.integer("fixmedins_setl_cnt", 0, INT32_MAX);
    if (f.ok() && in.stmt_enddate < in.stmt_begndate)
      f.fail(Reason::invalid_request, "stmt_enddate", "is before stmt_begndate");
    return in;
  });
}
Json DailyTotals::Output::encode() const {
  return wrap("stmtinfo", Json{{"stmt_rslt", stmt_rslt},
                               {"stmt_rslt_dscr", stmt_rslt_dscr},
                               {"medfee_sumamt", amount_value(medfee_sumamt)},
                               {"fund_pay_sumamt", amount_value(fund_pay_sumamt)},
                               {"acct_pay", amount_value(acct_pay)},
                               {"psn_cash_pay", amount_value(psn_cash_pay)},
                               {"setl_cnt", setl_cnt}});
}
Result<DailyTotals::Output> DailyTotals::Output::decode(const Json& j) {
  return decode_wrapped<Output>(j, "stmtinfo", [](Fields& f) {
    Output o;
    o.stmt_rslt = f.one_of("stmt_rslt", {"0", "1"});
    o.stmt_rslt_dscr = f.opt_str("stmt_rslt_dscr", 500).value_or("");
    o.medfee_sumamt = f.amount("medfee_sumamt");
    o.fund_pay_sumamt = f.amount("fund_pay_sumamt");
    o.acct_pay = f.amount("acct_pay");
    o.psn_cash_pay = f.amount("psn_cash_pay");
    o.setl_cnt = f.integer("setl_cnt", 0, INT32_MAX);
    if (f.ok())
      if (Status s = parts_add_up("stmtinfo", "medfee_sumamt", o.medfee_sumamt,
                                  {{"fund_pay_sumamt", o.fund_pay_sumamt}, {"acct_pay", o.acct_pay},
                                   {"psn_cash_pay", o.psn_cash_pay}});
          !s)
        f.fail(s.error());
    return o;
  });
}

// ---- 3202 ----
Json DetailReconcile::Input::encode() const {
  return wrap("data", Json{{"insutype", insutype},
                           {"clr_type", clr_type},
                           {"stmt_begndate", stmt_begndate},
                           {"stmt_enddate", stmt_enddate},
                           {"page_num", page_num},
                           {"page_size", page_size}});
}
Result<DetailReconcile::Input> DetailReconcile::Input::decode(const Json& j) {
  return decode_wrapped<Input>(j, "data", [](Fields& f) {
    Input in;
    in.insutype = f.opt_str("insutype", 6).value_or("");
    in.clr_type = f.opt_str("clr_type", 6).value_or("");
    if (f.ok() && in.clr_type != "" && in.clr_type != "11" && in.clr_type != "21")
      f.fail(Reason::invalid_request, "clr_type", fmt::format("\"{}\" is not one of \"11\", \"21\", \"\"", in.clr_type));
    in.stmt_begndate = date(f, "stmt_begndate");
    in.stmt_enddate = date(f, "stmt_enddate");
    in.page_num = f.integer("page_num", 1, INT32_MAX);
    in.page_size = f.integer("page_size", 1, static_cast<std::int64_t>(max_page_size));
    return in;
  });
}
Json DetailReconcile::Output::encode() const {
  Json a = Json::array();
  for (const Row& r : rows)
    a.push_back(Json{{"psn_no", r.psn_no},
                     {"mdtrt_id", r.mdtrt_id},
                     {"setl_id", r.setl_id},
                     {"msgid", r.msgid},
                     {"medins_setl_id", r.medins_setl_id},
                     {"insutype", r.insutype},
                     {"setl_time", r.setl_time},
                     {"medfee_sumamt", amount_value(r.medfee_sumamt)},
                     {"fund_pay_sumamt", amount_value(r.fund_pay_sumamt)},
                     {"acct_pay", amount_value(r.acct_pay)},
                     {"psn_cash_pay", amount_value(r.psn_cash_pay)},
                     {"refd_setl_flag", r.refd_setl_flag},
                     {"stmt_rslt", r.stmt_rslt},
                     {"insuplc_admdvs", r.insuplc_admdvs}});
  return wrap("data", Json{{"page_num", page_num}, {"page_size", page_size}, {"total", total}, {"rows", std::move(a)}});
}
Result<DetailReconcile::Output> DetailReconcile::Output::decode(const Json& j) {
  return decode_wrapped<Output>(j, "data", [](Fields& f) {
    Output o;
    o.page_num = f.integer("page_num", 1, INT32_MAX);
    o.page_size = f.integer("page_size", 0, static_cast<std::int64_t>(max_page_size));
    o.total = f.integer("total", 0, INT64_MAX);
    o.rows = each<Row>(f, "rows", max_page_size, true, [](Fields& rf) {
      Row r;
      r.psn_no = rf.nonempty("psn_no", id_len);
      r.mdtrt_id = rf.str("mdtrt_id", id_len);
      r.setl_id = rf.nonempty("setl_id", id_len);
      r.msgid = rf.str("msgid", msgid_len);
      r.medins_setl_id = rf.opt_str("medins_setl_id", id_len).value_or("");
      r.insutype = rf.opt_str("insutype", 6).value_or("");
      r.setl_time = datetime(rf, "setl_time", true);
      r.medfee_sumamt = rf.amount("medfee_sumamt");
      r.fund_pay_sumamt = rf.amount("fund_pay_sumamt");
      r.acct_pay = rf.amount("acct_pay");
      r.psn_cash_pay = rf.amount("psn_cash_pay");
      r.refd_setl_flag = rf.one_of("refd_setl_flag", {"0", "1", "2"});
      r.stmt_rslt = rf.opt_str("stmt_rslt", 4).value_or("0");
      r.insuplc_admdvs = rf.opt_digits("insuplc_admdvs", admdvs_len);
      if (rf.ok())
        if (Status s = parts_add_up(rf.path(), "medfee_sumamt", r.medfee_sumamt,
                                    {{"fund_pay_sumamt", r.fund_pay_sumamt}, {"acct_pay", r.acct_pay},
                                     {"psn_cash_pay", r.psn_cash_pay}});
            !s)
          rf.fail(s.error());
      return r;
    });
    if (f.ok() && static_cast<std::int64_t>(o.rows.size()) > o.page_size)
      f.fail(Reason::invalid_request, "rows", "more rows than page_size");
    return o;
  });
}

// ---- 9304 ----
Json AccountHistory::Input::encode() const { return wrap("data", Json{{"psn_no", psn_no}, {"page_size", page_size}}); }
Result<AccountHistory::Input> AccountHistory::Input::decode(const Json& j) {
  return decode_wrapped<Input>(j, "data", [](Fields& f) {
    Input in;
    in.psn_no = f.nonempty("psn_no", id_len);
    in.page_size = f.opt_integer("page_size", 1, static_cast<std::int64_t>(max_page_size)).value_or(20);
    return in;
  });
}
Json AccountHistory::Output::encode() const {
  Json a = Json::array();
  for (const Record& r : records)
    a.push_back(Json{{"time", r.time},
                     {"kind", r.kind},
                     {"ref_id", r.ref_id},
                     {"msgid", r.msgid},
                     {"amount", amount_value(r.amount)},
                     {"balc", amount_value(r.balc)}});
  return wrap("data", Json{{"psn_no", psn_no}, {"balc", amount_value(balc)}, {"records", a}});
}
Result<AccountHistory::Output> AccountHistory::Output::decode(const Json& j) {
  return decode_wrapped<Output>(j, "data", [](Fields& f) {
    Output o;
    o.psn_no = f.nonempty("psn_no", id_len);
    o.balc = f.amount("balc");
    o.records = each<Record>(f, "records", max_page_size, true, [](Fields& rf) {
      Record r;
      r.time = datetime(rf, "time");
      r.kind = rf.one_of("kind", {"settle", "undo", "refund", "reversal", "offline", "adjust"});
      r.ref_id = rf.str("ref_id", id_len);
      r.msgid = rf.str("msgid", 64);
      r.amount = rf.amount("amount", Sign::any);
      r.balc = rf.amount("balc");
      return r;
    });
    return o;
  });
}

// ---- 9401 ----
Json EcQuery::Input::encode() const { return wrap("data", Json{{"ec_qrcode", ec_qrcode}, {"biz_type", biz_type}}); }
Result<EcQuery::Input> EcQuery::Input::decode(const Json& j) {
  return decode_wrapped<Input>(j, "data", [](Fields& f) {
    Input in;
    in.ec_qrcode = f.nonempty("ec_qrcode", 512);
    in.biz_type = f.nonempty("biz_type", 10);
    if (f.ok() && !std::all_of(in.biz_type.begin(), in.biz_type.end(), [](char c) { return c >= '0' && c <= '9'; }))
      f.fail(Reason::invalid_request, "biz_type", "must be digits (01101: registration)");
    return in;
  });
}
Json EcQuery::Output::encode() const {
  return wrap("data", Json{{"ec_token", ec_token},
                           {"psn_cert_type", psn_cert_type},
                           {"certno", certno},
                           {"psn_name", psn_name},
                           {"insuplc_admdvs", insuplc_admdvs},
                           {"acct_auth", acct_auth},
                           {"expires_in", expires_in}});
}
Result<EcQuery::Output> EcQuery::Output::decode(const Json& j) {
  return decode_wrapped<Output>(j, "data", [](Fields& f) {
    Output o;
    o.ec_token = f.nonempty("ec_token", ec_token_len);
    o.psn_cert_type = f.nonempty("psn_cert_type", 6);
    o.certno = f.nonempty("certno", id_len);
    o.psn_name = f.nonempty("psn_name", 100);
    o.insuplc_admdvs = f.digits("insuplc_admdvs", admdvs_len);
    o.acct_auth = f.one_of("acct_auth", {"0", "1"});
    o.expires_in = f.integer("expires_in", 1, 86'400);
    return o;
  });
}

// ---- 9301 ----
Json PartialRefund::Input::encode() const {
  return wrap("data", Json{{"setl_id", setl_id},
                           {"psn_no", psn_no},
                           {"mdtrt_cert_no", mdtrt_cert_no},
                           {"medins_refd_id", medins_refd_id},
                           {"lines", encode_refund_lines(lines)}});
}
Result<PartialRefund::Input> PartialRefund::Input::decode(const Json& j) {
  return decode_wrapped<Input>(j, "data", [](Fields& f) {
    Input in;
    in.setl_id = f.nonempty("setl_id", id_len);
    in.psn_no = f.nonempty("psn_no", id_len);
    in.mdtrt_cert_no = f.nonempty("mdtrt_cert_no", id_len);
    in.medins_refd_id = f.opt_str("medins_refd_id", id_len).value_or("");
    in.lines = each<RefundLine>(f, "lines", max_feedetail, false, [](Fields& lf) {
      RefundLine l;
      l.med_list_codg = lf.nonempty("med_list_codg", limits::max_code_len);
      l.amount = lf.amount("amount");
      if (lf.ok() && l.amount.is_zero()) lf.fail(Reason::invalid_amount, "amount", "must be above 0.00");
      return l;
    });
    return in;
  });
}
Json PartialRefund::Output::encode() const {
  return wrap("data", Json{{"refd_id", refd_id},
                           {"setl_id", setl_id},
                           {"refund_total", amount_value(refund_total)},
                           {"fund_r", amount_value(fund_r)},
                           {"acct_r", amount_value(acct_r)},
                           {"cash_r", amount_value(cash_r)},
                           {"balc", amount_value(balc)}});
}
Result<PartialRefund::Output> PartialRefund::Output::decode(const Json& j) {
  return decode_wrapped<Output>(j, "data", [](Fields& f) {
    Output o;
    o.refd_id = f.nonempty("refd_id", id_len);
    o.setl_id = f.nonempty("setl_id", id_len);
    o.refund_total = f.amount("refund_total");
    o.fund_r = f.amount("fund_r");
    o.acct_r = f.amount("acct_r");
    o.cash_r = f.amount("cash_r");
    o.balc = f.amount("balc");
    if (f.ok())
      if (Status s = parts_add_up("data", "refund_total", o.refund_total,
                                  {{"fund_r", o.fund_r}, {"acct_r", o.acct_r}, {"cash_r", o.cash_r}});
          !s)
        f.fail(s.error());
    return o;
  });
}

// ---- 9302 ----
Json OfflineUpload::Input::encode() const {
  Json a = Json::array();
  for (const OfflineRecord& r : records)
    a.push_back(Json{{"local_id", r.local_id},
                     {"psn_no", r.psn_no},
                     {"card_no", r.card_no},
                     {"insutype", r.insutype},
                     {"med_type", r.med_type},
                     {"mdtrt_id", r.mdtrt_id},
                     {"setl_time", r.setl_time},
                     {"reason_code", r.reason_code},
                     {"medfee_sumamt", amount_value(r.medfee_sumamt)},
                     {"est_fund_pay", amount_value(r.est_fund_pay)},
                     {"psn_cash_pay", amount_value(r.psn_cash_pay)},
                     {"lines", encode_fee_details(r.lines)}});
  return wrap("records", std::move(a));
}
Result<OfflineUpload::Input> OfflineUpload::Input::decode(const Json& j) {
  Fields f(j, "");
  Input in;
  in.records = each<OfflineRecord>(f, "records", max_offline_batch, true, [](Fields& rf) {
    OfflineRecord r;
    r.local_id = rf.nonempty("local_id", id_len);
    r.psn_no = rf.opt_str("psn_no", id_len).value_or("");
    r.card_no = rf.str("card_no", id_len);
    r.insutype = rf.nonempty("insutype", 6);
    r.med_type = rf.nonempty("med_type", 6);
    r.mdtrt_id = rf.opt_str("mdtrt_id", id_len).value_or("");  // absent from an older hospital's outpatient record
    r.setl_time = datetime(rf, "setl_time");
    r.reason_code = rf.nonempty("reason_code", 40);
    r.medfee_sumamt = rf.amount("medfee_sumamt");
    r.est_fund_pay = rf.amount("est_fund_pay");
    r.psn_cash_pay = rf.amount("psn_cash_pay");
    r.lines = each<FeeDetail>(rf, "lines", max_feedetail, true, [](Fields& lf) { return decode_fee_detail(lf, true); });
    const bool inpatient = r.med_type == med_type_inpatient;
    if (rf.ok() && r.psn_no.empty() && r.card_no.empty())
      rf.fail(Reason::invalid_request, "psn_no", "psn_no or card_no is required");
    if (rf.ok() && inpatient && r.mdtrt_id.empty())
      rf.fail(Reason::invalid_request, "mdtrt_id",
              "required for an inpatient record (med_type \"21\"): the admission settled");
    if (rf.ok() && !inpatient && !r.mdtrt_id.empty())
      rf.fail(Reason::invalid_request, "mdtrt_id",
              "must be empty for an outpatient record (only med_type \"21\" names an admission)");
    if (rf.ok() && inpatient && !r.lines.empty())
      rf.fail(Reason::invalid_request, "lines",
              "must be empty for an inpatient record (med_type \"21\"): the insurer has the stay's lines from 2301");
    if (rf.ok() && !inpatient && r.lines.empty()) rf.fail(Reason::invalid_request, "lines", "at least one line is required");
    if (rf.ok()) {
      Amount sum;
      for (const FeeDetail& d : r.lines) sum += d.det_item_fee_sumamt;
      if (!inpatient && sum != r.medfee_sumamt)
        rf.fail(Reason::invalid_request, "medfee_sumamt",
                fmt::format("{} is not the sum of the lines {}", format_amount(r.medfee_sumamt), format_amount(sum)));
      else if (Status s = parts_add_up(rf.path(), "medfee_sumamt", r.medfee_sumamt,
                                       {{"est_fund_pay", r.est_fund_pay}, {"psn_cash_pay", r.psn_cash_pay}});
               !s)
        rf.fail(s.error());
    }
    return r;
  });
  if (f.ok() && in.records.empty()) f.fail(Reason::invalid_request, "records", "at least one record is required");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < in.records.size() && f.ok(); ++i)
    if (!seen.insert(in.records[i].local_id).second)
      f.fail(Reason::invalid_request, index_path("records", i) + ".local_id",
             fmt::format("\"{}\" appears twice in this batch", in.records[i].local_id));
  return finish(f, std::move(in));
}
Json OfflineUpload::Output::encode() const {
  Json a = Json::array();
  for (const OfflineResult& r : results)
    a.push_back(Json{{"local_id", r.local_id},
                     {"status", r.status},
                     {"setl_id", r.setl_id},
                     {"mdtrt_id", r.mdtrt_id},
                     {"medfee_sumamt", amount_value(r.medfee_sumamt)},
                     {"fund_pay_sumamt", amount_value(r.fund_pay_sumamt)},
                     {"acct_pay", amount_value(r.acct_pay)},
                     {"psn_cash_pay", amount_value(r.psn_cash_pay)},
                     {"rej_reason", r.rej_reason},
                     {"err_msg", r.err_msg}});
  return wrap("results", std::move(a));
}
Result<OfflineUpload::Output> OfflineUpload::Output::decode(const Json& j) {
  Fields f(j, "");
  Output o;
  o.results = each<OfflineResult>(f, "results", max_offline_batch, true, [](Fields& rf) {
    OfflineResult r;
    r.local_id = rf.nonempty("local_id", id_len);
    r.status = rf.one_of("status", {"accepted", "rejected"});
    r.setl_id = rf.str("setl_id", id_len);
    r.mdtrt_id = rf.opt_str("mdtrt_id", id_len).value_or("");  // absent from an older insurer's answer
    r.medfee_sumamt = rf.amount("medfee_sumamt");
    r.fund_pay_sumamt = rf.amount("fund_pay_sumamt");
    r.acct_pay = rf.amount("acct_pay");
    r.psn_cash_pay = rf.amount("psn_cash_pay");
    r.rej_reason = rf.opt_str("rej_reason", 40).value_or("");
    r.err_msg = rf.opt_str("err_msg", 500).value_or("");
    if (!rf.ok()) return r;
    if (r.status == "accepted") {
      if (r.setl_id.empty()) rf.fail(Reason::invalid_request, "setl_id", "required when status is \"accepted\"");
      else if (Status s = parts_add_up(rf.path(), "medfee_sumamt", r.medfee_sumamt,
                                       {{"fund_pay_sumamt", r.fund_pay_sumamt}, {"acct_pay", r.acct_pay},
                                        {"psn_cash_pay", r.psn_cash_pay}});
               !s)
        rf.fail(s.error());
    } else if (r.rej_reason.empty()) {
      rf.fail(Reason::invalid_request, "rej_reason", "required when status is \"rejected\"");
    }
    return r;
  });
  return finish(f, std::move(o));
}

// ---- 9303 ----
Json RedList::Input::encode() const {
  return wrap("data", Json{{"since_version", since_version},
                           {"to_version", to_version},
                           {"page_num", page_num},
                           {"page_size", page_size}});
}
Result<RedList::Input> RedList::Input::decode(const Json& j) {
  return decode_wrapped<Input>(j, "data", [](Fields& f) {
    Input in;
    in.since_version = f.integer("since_version", 0, INT64_MAX);
    in.to_version = f.opt_integer("to_version", 0, INT64_MAX).value_or(0);
    in.page_num = f.integer("page_num", 1, INT32_MAX);
    in.page_size = f.integer("page_size", 1, static_cast<std::int64_t>(max_page_size));
    if (f.ok() && in.to_version != 0 && in.to_version < in.since_version)
      f.fail(Reason::invalid_request, "to_version", "is below since_version");
    return in;
  });
}
Json RedList::Output::encode() const {
  Json a = Json::array();
  for (const RedListEntry& e : entries)
    a.push_back(Json{{"card_no", e.card_no},
                     {"psn_no", e.psn_no},
                     {"insutype", e.insutype},
                     {"flags", flags_value(e.flags)},
                     {"deductible_used", amount_value(e.deductible_used)},
                     {"fund_paid_ytd", amount_value(e.fund_paid_ytd)},
                     {"op", e.op}});
  return wrap("data", Json{{"since_version", since_version},
                           {"version", version},
                           {"page_num", page_num},
                           {"total", total},
                           {"more", more},
                           {"entries", a}});
}
Result<RedList::Output> RedList::Output::decode(const Json& j) {
  return decode_wrapped<Output>(j, "data", [](Fields& f) {
    Output o;
    o.since_version = f.integer("since_version", 0, INT64_MAX);
    o.version = f.integer("version", 0, INT64_MAX);
    o.page_num = f.integer("page_num", 1, INT32_MAX);
    o.total = f.integer("total", 0, INT64_MAX);
    o.more = f.boolean("more");
    o.entries = each<RedListEntry>(f, "entries", max_page_size, true, [](Fields& ef) {
      RedListEntry e;
      e.card_no = ef.nonempty("card_no", id_len);
      e.psn_no = ef.nonempty("psn_no", id_len);
      e.insutype = ef.str("insutype", 6);
      e.flags = flags_of(ef, "flags");
      e.deductible_used = ef.amount("deductible_used");
      e.fund_paid_ytd = ef.amount("fund_paid_ytd");
      e.op = ef.one_of("op", {"upsert", "delete"});
      return e;
    });
    if (f.ok() && o.version < o.since_version) f.fail(Reason::invalid_request, "version", "is below since_version");
    return o;
  });
}

// ---- reply bodies ----
std::string encode_error_reply(std::string_view msgid, std::string_view err_msg, std::int64_t received_ms,
                               std::int64_t now_ms) {
  Response r;
  r.infcode = infcode_error;
  r.inf_refmsgid = std::string(msgid);
  r.refmsg_time = compact_time_ms(received_ms);
  r.respond_time = compact_time_ms(now_ms);
  r.err_msg = std::string(err_msg);
  return encode_response(r);
}

std::string encode_ok_reply(std::string_view msgid, const Json& output, std::int64_t received_ms, std::int64_t now_ms) {
  Response r;
  r.infcode = infcode_ok;
  r.inf_refmsgid = std::string(msgid);
  r.refmsg_time = compact_time_ms(received_ms);
  r.respond_time = compact_time_ms(now_ms);
  r.output = output;
  return encode_response(r);
}

}  // namespace settle::insurer
