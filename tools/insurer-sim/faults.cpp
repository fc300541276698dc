// Fault specs and the seeded decision of which fault fires for a connection
// or a request. Delays add to any other fault; among the others the first
// listed that hits wins.
#include "tools/insurer-sim/faults.hpp"

#include <fmt/format.h>

#include <charconv>

namespace settle::sim {
namespace {

constexpr std::pair<FaultKind, std::string_view> kNames[] = {
    {FaultKind::refuse, "refuse"},   {FaultKind::stall, "stall"},     {FaultKind::drop_request, "drop_request"},
    {FaultKind::lost_reply, "lost_reply"}, {FaultKind::error, "error"}, {FaultKind::garbage, "garbage"},
    {FaultKind::delay, "delay"}, {FaultKind::http_error_before, "http_error_before"},
    {FaultKind::http_error_after, "http_error_after"}};

bool is_http_error(FaultKind k) { return k == FaultKind::http_error_before || k == FaultKind::http_error_after; }

Error bad(std::string_view spec, std::string what) {
  return make_error(Reason::invalid_request, "fault", fmt::format("fault \"{}\": {}", spec, what));
}

std::optional<std::int64_t> to_int(std::string_view s) {
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

}  // namespace

std::string_view fault_kind_name(FaultKind k) noexcept {
  for (const auto& [kind, name] : kNames)
    if (kind == k) return name;
  return "unknown";
}

Result<Fault> parse_fault(std::string_view spec) {
  Fault f;
  const auto colon = spec.find(':');
  const std::string_view kind = spec.substr(0, colon);
  bool known = false;
  for (const auto& [k, name] : kNames)
    if (name == kind) {
      f.kind = k;
      known = true;
    }
  if (!known)
    return bad(spec,
               "unknown kind; one of refuse, stall, drop_request, lost_reply, error, garbage, delay, "
               "http_error_before, http_error_after");
  std::string_view rest = colon == std::string_view::npos ? std::string_view{} : spec.substr(colon + 1);
  bool status_given = false;
  while (!rest.empty()) {
    if (rest.starts_with("msg=")) {
      if (f.kind != FaultKind::error) return bad(spec, "msg is for error only");
      f.message = std::string(rest.substr(4));
      if (f.message.empty() || f.message.size() > 4096) return bad(spec, "msg must be 1 to 4096 bytes");
      break;
    }
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) return bad(spec, fmt::format("\"{}\" is not key=value", item));
    const std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "p") {
      auto r = parse_ratio(value, "p");
      if (!r) return bad(spec, "p must be a probability between 0 and 1 (at most 6 decimals)");
      f.p_ppm = r->ppm();
    } else if (key == "count") {
      auto v = to_int(value);
      if (!v) return bad(spec, "count must be a non-negative integer");
      f.count = *v;
    } else if (key == "ms") {
      auto v = to_int(value);
      if (!v || *v > 600'000) return bad(spec, "ms must be an integer 0..600000");
      f.delay_ms = *v;
    } else if (key == "status") {
      auto v = to_int(value);
      if (!v || *v < 400 || *v > 599) return bad(spec, "status must be an HTTP error status 400..599");
      f.http_status = static_cast<int>(*v);
      status_given = true;
    } else if (key == "infno") {
      if (value.size() != 4 || value.find_first_not_of("0123456789") != std::string_view::npos)
        return bad(spec, "infno must be a 4-digit transaction number, e.g. infno=2207");
      f.infno = std::string(value);
    } else {
      return bad(spec, fmt::format("unknown option \"{}\" (p, count, ms, status, infno, msg)", key));
    }
  }
  if (status_given && !is_http_error(f.kind)) return bad(spec, "status is for http_error_before/after only");
  if (f.kind == FaultKind::delay && f.delay_ms == 0) return bad(spec, "delay needs ms=N");
  return f;
}

std::string fault_text(const Fault& f) {
  std::string s = fmt::format("{}:p={}", fault_kind_name(f.kind), format_ratio(Ratio::ppm(f.p_ppm)));
  if (f.count >= 0) s += fmt::format(",count={}", f.count);
  if (f.kind == FaultKind::delay) s += fmt::format(",ms={}", f.delay_ms);
  if (is_http_error(f.kind)) s += fmt::format(",status={}", f.http_status);
  if (!f.infno.empty()) s += fmt::format(",infno={}", f.infno);
  if (!f.message.empty()) s += fmt::format(",msg={}", f.message);
  return s;
}

bool FaultSet::roll(Fault& f) {
  if (f.count == 0) return false;
  std::uniform_int_distribution<std::int64_t> d(0, 999'999);
  if (d(rng_) >= f.p_ppm) return false;
  if (f.count > 0) --f.count;
  ++f.fired;
  ++fired_[std::string(fault_kind_name(f.kind))];
  return true;
}

bool FaultSet::refuse_connection() {
  for (Fault& f : faults_)
    if (f.kind == FaultKind::refuse && roll(f)) return true;
  return false;
}

bool FaultSet::refusing() const {
  for (const Fault& f : faults_)
    if (f.kind == FaultKind::refuse && f.count != 0 && f.p_ppm > 0) return true;
  return false;
}

RequestFaults FaultSet::for_request(const std::function<std::string()>& infno_of) {
  RequestFaults r;
  std::optional<std::string> infno;
  for (Fault& f : faults_) {
    if (f.kind == FaultKind::refuse) continue;
    if (!f.infno.empty()) {
      if (!infno) infno = infno_of ? infno_of() : std::string();
      if (*infno != f.infno) continue;
    }
    if (f.kind == FaultKind::delay) {
      if (roll(f)) r.delay_ms += f.delay_ms;
    } else if (!r.action && roll(f)) {
      r.action = f.kind;
      if (is_http_error(f.kind)) r.http_status = f.http_status;
      if (f.kind == FaultKind::error) r.error_msg = f.message.empty() ? "simulated insurer error" : f.message;
    }
  }
  return r;
}

json::Json FaultSet::to_json() const {
  json::Json a = json::Json::array();
  for (const Fault& f : faults_) {
    json::Json one{{"kind", std::string(fault_kind_name(f.kind))},
                   {"p", format_ratio(Ratio::ppm(f.p_ppm))},
                   {"count", f.count},
                   {"ms", f.delay_ms},
                   {"infno", f.infno},
                   {"fired", f.fired},
                   {"spec", fault_text(f)}};
    if (is_http_error(f.kind)) one["status"] = f.http_status;
    a.push_back(std::move(one));
  }
  return json::Json{{"faults", a}};
}

}  // namespace settle::sim
