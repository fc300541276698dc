// The 3202 fast paths: the page decoder over the strict scanner (bails out to
// the generic codec whenever unsure) and the page writer that produces the
// generic encoder's exact bytes.
#include "protocol/insurer/detail_fast.hpp"

#include "engine/money.hpp"
#include "protocol/insurer/scan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>

namespace settle::insurer {

namespace {

using scan::amount;
using scan::envelope;
using scan::kIdLen;
using scan::once;
using scan::Scan;

constexpr std::size_t kInsutypeLen = 6;   // codecs.cpp: opt_str("insutype", 6)
constexpr std::size_t kTimeLen = 19;      // "yyyy-MM-dd HH:mm:ss"
constexpr std::size_t kStmtRsltLen = 4;

bool digit(char c) { return c >= '0' && c <= '9'; }

// codecs.cpp datetime(): the shape yyyy-MM-dd HH:mm:ss.
bool is_time(std::string_view s) {
  if (s.size() != kTimeLen || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':')
    return false;
  for (std::size_t i : {0U, 1U, 2U, 3U, 5U, 6U, 8U, 9U})
    if (!digit(s[i])) return false;
  return true;
}

bool row(Scan& sc, DetailReconcile::Row& r) {
  enum : unsigned {
    psn_no = 1U << 0, mdtrt_id = 1U << 1, setl_id = 1U << 2, msgid = 1U << 3, medins_setl_id = 1U << 4,
    insutype = 1U << 5, setl_time = 1U << 6, medfee = 1U << 7, fund = 1U << 8, acct = 1U << 9, cash = 1U << 10,
    flag = 1U << 11, stmt_rslt = 1U << 12, area = 1U << 13,
  };
  constexpr unsigned required = psn_no | mdtrt_id | setl_id | msgid | medfee | fund | acct | cash | flag;
  unsigned seen = 0;
  const auto text = [&](unsigned bit, std::string& out, std::size_t max_len, bool nonempty) {
    std::string_view v;
    if (!once(seen, bit) || !sc.str(v) || v.size() > max_len || (nonempty && v.empty())) return false;
    out.assign(v);
    return true;
  };
  const bool ok = sc.object([&](std::string_view k) {
    if (k == "psn_no") return text(psn_no, r.psn_no, kIdLen, true);
    if (k == "mdtrt_id") return text(mdtrt_id, r.mdtrt_id, kIdLen, false);
    if (k == "setl_id") return text(setl_id, r.setl_id, kIdLen, true);
    if (k == "msgid") return text(msgid, r.msgid, msgid_len, false);
    if (k == "medins_setl_id") return text(medins_setl_id, r.medins_setl_id, kIdLen, false);
    if (k == "insutype") return text(insutype, r.insutype, kInsutypeLen, false);
    if (k == "setl_time")
      return text(setl_time, r.setl_time, kTimeLen, false) && (r.setl_time.empty() || is_time(r.setl_time));
    if (k == "medfee_sumamt") return once(seen, medfee) && amount(sc, r.medfee_sumamt);
    if (k == "fund_pay_sumamt") return once(seen, fund) && amount(sc, r.fund_pay_sumamt);
    if (k == "acct_pay") return once(seen, acct) && amount(sc, r.acct_pay);
    if (k == "psn_cash_pay") return once(seen, cash) && amount(sc, r.psn_cash_pay);
    if (k == "refd_setl_flag")
      return text(flag, r.refd_setl_flag, 1, true) &&
             (r.refd_setl_flag == "0" || r.refd_setl_flag == "1" || r.refd_setl_flag == "2");
    if (k == "stmt_rslt") return text(stmt_rslt, r.stmt_rslt, kStmtRsltLen, false);
    if (k == "insuplc_admdvs")  // codecs.cpp: opt_digits("insuplc_admdvs", 6)
      return text(area, r.insuplc_admdvs, admdvs_len, false) &&
             (r.insuplc_admdvs.empty() ||
              (r.insuplc_admdvs.size() == admdvs_len &&
               std::all_of(r.insuplc_admdvs.begin(), r.insuplc_admdvs.end(), digit)));
    return sc.skip();  // the codec ignores other keys
  });
  if (!ok || (seen & required) != required) return false;
  if (!(seen & stmt_rslt)) r.stmt_rslt = "0";
  if (!(seen & area)) r.insuplc_admdvs.clear();
  return r.fund_pay_sumamt + r.acct_pay + r.psn_cash_pay == r.medfee_sumamt;
}

bool data(Scan& sc, DetailReconcile::Output& o) {
  unsigned seen = 0;
  const bool ok = sc.object([&](std::string_view k) {
    if (k == "page_num")
      return once(seen, 1) && sc.integer(o.page_num) && o.page_num >= 1 && o.page_num <= INT32_MAX;
    if (k == "page_size")
      return once(seen, 2) && sc.integer(o.page_size) && o.page_size >= 0 &&
             o.page_size <= static_cast<std::int64_t>(max_page_size);
    if (k == "total") return once(seen, 4) && sc.integer(o.total) && o.total >= 0;
    if (k == "rows") return once(seen, 8) && page_array(sc, o.rows, max_page_size, row);
    return sc.skip();
  });
  return ok && seen == 15 && static_cast<std::int64_t>(o.rows.size()) <= o.page_size;
}

// A JSON string as Json::dump() writes it: printable ASCII without '"' and
// '\' as is, anything else through the library.
void append_string(std::string& out, std::string_view s) {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      out += json::Json(std::string(s)).dump();
      return;
    }
  }
  out += '"';
  out += s;
  out += '"';
}

// An amount as format_amount() writes it ("12.30"), without fmt for the
// usual non-negative case.
void append_amount(std::string& out, Amount a) {
  out += '"';
  const std::int64_t fen = a.fen();
  if (fen < 0) {
    out += format_amount(a);
  } else {
    std::array<char, 24> buf{};
    char* p = std::to_chars(buf.data(), buf.data() + 20, fen / 100).ptr;
    *p++ = '.';
    *p++ = static_cast<char>('0' + fen % 100 / 10);
    *p++ = static_cast<char>('0' + fen % 10);
    out.append(buf.data(), p);
  }
  out += '"';
}

}  // namespace

Result<DetailReconcile::Output> decode_detail_reply(std::string_view body, std::string_view sent_msgid,
                                                    bool* fast_path) {
  return scan::decode_data_reply<DetailReconcile::Output>(
      body, sent_msgid, fast_path, [](Scan& sc, DetailReconcile::Output& o) { return data(sc, o); },
      [&] { return decode_reply<DetailReconcile>(body, sent_msgid); });
}

void append_detail_row(std::string& out, const DetailReconcile::Row& r) {
  // Keys in Json's (sorted) order, as dump() writes them.
  out += "{\"acct_pay\":";
  append_amount(out, r.acct_pay);
  out += ",\"fund_pay_sumamt\":";
  append_amount(out, r.fund_pay_sumamt);
  out += ",\"insuplc_admdvs\":";
  append_string(out, r.insuplc_admdvs);
  out += ",\"insutype\":";
  append_string(out, r.insutype);
  out += ",\"mdtrt_id\":";
  append_string(out, r.mdtrt_id);
  out += ",\"medfee_sumamt\":";
  append_amount(out, r.medfee_sumamt);
  out += ",\"medins_setl_id\":";
  append_string(out, r.medins_setl_id);
  out += ",\"msgid\":";
  append_string(out, r.msgid);
  out += ",\"psn_cash_pay\":";
  append_amount(out, r.psn_cash_pay);
  out += ",\"psn_no\":";
  append_string(out, r.psn_no);
  out += ",\"refd_setl_flag\":";
  append_string(out, r.refd_setl_flag);
  out += ",\"setl_id\":";
  append_string(out, r.setl_id);
  out += ",\"setl_time\":";
  append_string(out, r.setl_time);
  out += ",\"stmt_rslt\":";
  append_string(out, r.stmt_rslt);
  out += '}';
}

void append_detail_page(std::string& out, std::int64_t page_num, std::int64_t page_size, std::int64_t total,
                        std::string_view rows_text) {
  out.reserve(out.size() + 96 + rows_text.size());
  fmt::format_to(std::back_inserter(out), R"({{"data":{{"page_num":{},"page_size":{},"rows":[)", page_num,
                 page_size);
  out += rows_text;
  fmt::format_to(std::back_inserter(out), R"(],"total":{}}}}})", total);
}

void append_detail_output(std::string& out, std::int64_t page_num, std::int64_t page_size, std::int64_t total,
                          std::span<const DetailReconcile::Row> rows) {
  std::string text;
  text.reserve(rows.size() * 360);
  for (const DetailReconcile::Row& r : rows) {
    if (!text.empty()) text += ',';
    append_detail_row(text, r);
  }
  append_detail_page(out, page_num, page_size, total, text);
}

}  // namespace settle::insurer
