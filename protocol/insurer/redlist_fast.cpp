// The 9303 fast path: a strict single-pass scanner over a strict subset of
// JSON (ASCII strings without escapes, integers without fraction, known keys
// at most once); it bails out to the generic codecs whenever it is unsure.
#include "protocol/insurer/redlist_fast.hpp"

#include "engine/money.hpp"
#include "protocol/insurer/scan.hpp"

#include <cstdint>
#include <limits>

namespace settle::insurer {

namespace {

using scan::amount;
using scan::envelope;
using scan::kIdLen;
using scan::once;
using scan::Scan;

bool entry(Scan& sc, RedListEntry& e) {
  unsigned seen = 0;
  const bool ok = sc.object([&](std::string_view k) {
    std::string_view v;
    if (k == "card_no") {
      if (!once(seen, 1) || !sc.str(v) || v.empty() || v.size() > kIdLen) return false;
      e.card_no.assign(v);
      return true;
    }
    if (k == "psn_no") {
      if (!once(seen, 2) || !sc.str(v) || v.empty() || v.size() > kIdLen) return false;
      e.psn_no.assign(v);
      return true;
    }
    if (k == "insutype") {
      if (!once(seen, 4) || !sc.str(v) || v.size() > 6) return false;
      e.insutype.assign(v);
      return true;
    }
    if (k == "flags") {
      if (!once(seen, 8)) return false;
      std::size_t n = 0;
      return sc.array([&] {
        std::string_view name;
        if (++n > max_flags || !sc.str(name) || name.size() > 64) return false;
        const auto f = person_flag_from_name(name);
        if (!f) return false;
        e.flags.set(*f);
        return true;
      });
    }
    if (k == "deductible_used") return once(seen, 16) && amount(sc, e.deductible_used);
    if (k == "fund_paid_ytd") return once(seen, 32) && amount(sc, e.fund_paid_ytd);
    if (k == "op") {
      if (!once(seen, 64) || !sc.str(v) || (v != "upsert" && v != "delete")) return false;
      e.op.assign(v);
      return true;
    }
    return sc.skip();  // the codec ignores other keys
  });
  return ok && seen == 127;
}

bool data(Scan& sc, RedList::Output& o) {
  unsigned seen = 0;
  const bool ok = sc.object([&](std::string_view k) {
    if (k == "since_version") return once(seen, 1) && sc.integer(o.since_version) && o.since_version >= 0;
    if (k == "version") return once(seen, 2) && sc.integer(o.version) && o.version >= 0;
    if (k == "page_num")
      return once(seen, 4) && sc.integer(o.page_num) && o.page_num >= 1 && o.page_num <= INT32_MAX;
    if (k == "total") return once(seen, 8) && sc.integer(o.total) && o.total >= 0;
    if (k == "more") return once(seen, 16) && sc.boolean(o.more);
    if (k == "entries") return once(seen, 32) && page_array(sc, o.entries, max_page_size, entry);
    return sc.skip();
  });
  return ok && seen == 63 && o.version >= o.since_version;
}

}  // namespace

Result<Response> decode_response_head(std::string_view body, std::string_view sent_msgid) {
  if (body.size() <= max_body_bytes) {
    Scan sc(body);
    Response r;
    if (envelope(sc, sent_msgid, r, [&] { return sc.skip(); })) return r;
  }
  auto full = decode_response(body, sent_msgid);
  if (full) full->output = json::Json::object();
  return full;
}

Result<RedList::Output> decode_red_list_reply(std::string_view body, std::string_view sent_msgid, bool* fast_path) {
  return scan::decode_data_reply<RedList::Output>(
      body, sent_msgid, fast_path, [](Scan& sc, RedList::Output& o) { return data(sc, o); },
      [&] { return decode_reply<RedList>(body, sent_msgid); });
}

}  // namespace settle::insurer
