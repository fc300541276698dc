// The settlement split of settlement-rules.md, step by step with the rule
// numbers of that file, plus the deviations (status flags, account, PIN,
// offline and its limits) each recorded as a reason.
#include "engine/split.hpp"

#include "engine/limits.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <utility>

namespace settle {
namespace {

struct ReasonRow {
  SplitReason reason;
  std::string_view name;
  std::string_view description;
};

constexpr std::array<ReasonRow, 25> kReasonNames{{
    {SplitReason::status_unit_arrears, "status_unit_arrears",
     "employer in arrears (单位欠费): the fund does not record; account first, cash for the rest"},
    {SplitReason::status_not_designated, "status_not_designated",
     "not the person's designated hospital (非本人定点医院): the fund does not record"},
    {SplitReason::status_supervised, "status_supervised",
     "person under key supervision (重点监督检查人员): the fund does not record"},
    {SplitReason::status_temp_settle_change, "status_temp_settle_change",
     "temporary change of settlement method (临时变化结算方式): the fund does not record"},
    {SplitReason::account_frozen, "account_frozen",
     "personal account frozen: the patient's part is cash"},
    {SplitReason::account_zero, "account_zero",
     "personal account balance is zero: the patient's part is cash"},
    {SplitReason::account_insufficient, "account_insufficient",
     "personal account insufficient: the rest is cash (个人账户不足部分现金支付)"},
    {SplitReason::pin_not_verified, "pin_not_verified",
     "PIN not verified: settled without the personal account; may be refunded and re-settled later"},
    {SplitReason::account_skipped, "account_skipped",
     "the cashier settled without the personal account; may be refunded and re-settled later"},
    {SplitReason::offline_network_down, "offline_network_down",
     "insurer unreachable: settled offline, account not used, uploaded when the line is back"},
    {SplitReason::offline_in_doubt, "offline_in_doubt",
     "insurer did not reply: the request is reversed and the charge settled offline"},
    {SplitReason::offline_insurer_error, "offline_insurer_error",
     "insurer answered with a system error: settled offline"},
    {SplitReason::offline_reader_failure, "offline_reader_failure",
     "the card could not be checked online: settled offline"},
    {SplitReason::not_on_redlist, "not_on_redlist",
     "not on the local red list (红名单): offline self-pay, may re-settle later"},
    {SplitReason::offline_limit, "offline_limit",
     "an offline limit is reached: offline self-pay, may re-settle later"},
    {SplitReason::offline_limit_per_settlement, "offline_limit_per_settlement",
     "the fund estimate is above the per-settlement offline limit"},
    {SplitReason::offline_limit_total, "offline_limit_total",
     "the outstanding offline fund total would pass its limit"},
    {SplitReason::offline_limit_count, "offline_limit_count",
     "the number of stored offline settlements is at its limit"},
    {SplitReason::offline_limit_age, "offline_limit_age",
     "the oldest stored offline settlement is older than the age limit"},
    {SplitReason::annual_cap_reached, "annual_cap_reached",
     "the fund's annual cap (封顶线) is reached: no fund payment"},
    {SplitReason::annual_cap_partly, "annual_cap_partly",
     "the fund's annual cap (封顶线) is reached in part: fund pays up to the cap"},
    {SplitReason::offline_clock_skew, "offline_clock_skew",
     "this host's clock is too far from the insurer's, which refuses its requests: settled offline"},
    {SplitReason::account_not_by_id, "account_not_by_id",
     "identified by ID number (身份证): the personal account is not used; fund and cash only"},
    {SplitReason::account_not_authorised, "account_not_authorised",
     "e-voucher (医保电子凭证) without the personal account authorised on the phone: the patient's part is cash"},
    {SplitReason::account_capped, "account_capped",
     "the personal account pays at most what the original settlement took from it; the rest is cash"},
}};

constexpr std::array<std::string_view, person_flag_count> kFlagNames{
    "unit_arrears", "not_designated", "supervised", "temp_settle_change", "account_frozen"};

constexpr std::array<std::pair<PersonFlag, SplitReason>, 4> kFundStops{{
    {PersonFlag::unit_arrears, SplitReason::status_unit_arrears},
    {PersonFlag::not_designated, SplitReason::status_not_designated},
    {PersonFlag::supervised, SplitReason::status_supervised},
    {PersonFlag::temp_settle_change, SplitReason::status_temp_settle_change},
}};

SplitReason offline_reason(OfflineCause c) { return offline_cause_reason(c); }

Error line_error(Reason r, std::size_t i, std::string_view key, std::string what) {
  const std::string field = fmt::format("lines[{}].{}", i, key);
  return make_error(r, field, fmt::format("{}: {}", field, what));
}

// The fund's estimate for an offline settlement is kept only within the
// offline limits; the first limit hit makes it self-pay.
std::optional<SplitReason> offline_limit_hit(const OfflineContext& off, Amount fund) {
  const OfflineLimits& l = off.limits;
  if (off.outstanding_count + 1 > l.outstanding_count_max) return SplitReason::offline_limit_count;
  if (off.oldest_age_s > l.max_age_s) return SplitReason::offline_limit_age;
  if (fund > l.per_settlement_fund_max) return SplitReason::offline_limit_per_settlement;
  if (off.outstanding_fund + fund > l.outstanding_fund_max) return SplitReason::offline_limit_total;
  return std::nullopt;
}

}  // namespace

std::string_view line_class_name(LineClass c) noexcept {
  switch (c) {
    case LineClass::a: return "A";
    case LineClass::b: return "B";
    case LineClass::c: return "C";
  }
  return "?";
}

std::optional<LineClass> line_class_from_name(std::string_view s) noexcept {
  if (s == "A") return LineClass::a;
  if (s == "B") return LineClass::b;
  if (s == "C") return LineClass::c;
  return std::nullopt;
}

std::string_view person_flag_name(PersonFlag f) noexcept { return kFlagNames.at(static_cast<std::size_t>(f)); }

std::optional<PersonFlag> person_flag_from_name(std::string_view s) noexcept {
  for (std::size_t i = 0; i < kFlagNames.size(); ++i)
    if (kFlagNames[i] == s) return static_cast<PersonFlag>(i);
  return std::nullopt;
}

std::vector<std::string_view> PersonFlags::names() const {
  std::vector<std::string_view> out;
  for (int i = 0; i < person_flag_count; ++i)
    if (has(static_cast<PersonFlag>(i))) out.push_back(kFlagNames.at(static_cast<std::size_t>(i)));
  return out;
}

std::string_view split_reason_name(SplitReason r) noexcept {
  for (const auto& row : kReasonNames)
    if (row.reason == r) return row.name;
  return "unknown";
}

std::string_view split_reason_description(SplitReason r) noexcept {
  for (const auto& row : kReasonNames)
    if (row.reason == r) return row.description;
  return "";
}

std::optional<SplitReason> split_reason_from_name(std::string_view s) noexcept {
  for (const auto& row : kReasonNames)
    if (row.name == s) return row.reason;
  return std::nullopt;
}

std::string_view mode_name(Mode m) noexcept { return m == Mode::offline ? "offline" : "online"; }

bool Split::has_reason(SplitReason r) const { return std::find(reasons.begin(), reasons.end(), r) != reasons.end(); }

Status validate_lines(std::span<const ChargeLine> lines, std::size_t max_lines) {
  if (lines.empty())
    return make_error(Reason::invalid_request, "lines", "lines: a settlement needs at least one charge line");
  if (lines.size() > max_lines)
    return make_error(Reason::limit_exceeded, "lines",
                      fmt::format("lines: {} charge lines, at most {} per settlement", lines.size(), max_lines));
  std::int64_t total = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const ChargeLine& l = lines[i];
    if (l.code.empty() || l.code.size() > limits::max_code_len)
      return line_error(Reason::invalid_request, i, "code",
                        fmt::format("item code must be 1 to {} characters", limits::max_code_len));
    if (l.name.size() > limits::max_name_len)
      return line_error(Reason::invalid_request, i, "name",
                        fmt::format("name longer than {} bytes", limits::max_name_len));
    if (l.amount.is_negative() || l.amount.fen() > limits::amount_max_fen)
      return line_error(Reason::invalid_amount, i, "amount", "amount out of range");
    if (l.selfpay_ratio && l.cls != LineClass::b)
      return line_error(Reason::invalid_request, i, "selfpay_ratio", "selfpay_ratio applies to class B lines only");
    if (l.selfpay_ratio && (l.selfpay_ratio->ppm() < 0 || l.selfpay_ratio->ppm() > Ratio::one().ppm()))
      return line_error(Reason::invalid_request, i, "selfpay_ratio", "ratio must be between 0 and 1");
    total += l.amount.fen();  // cannot overflow: max_lines_per_admission lines of at most 10^12 (limits.hpp)
  }
  if (total > limits::amount_max_fen)
    return make_error(Reason::limit_exceeded, "lines",
                      fmt::format("lines: total {} is above the limit of {} per settlement",
                                  format_amount(Amount::fen(total)), format_amount(Amount::fen(limits::amount_max_fen))));
  return Ok{};
}

LineFigures& LineFigures::operator+=(const LineFigures& o) {
  total += o.total;
  fulamt_ownpay += o.fulamt_ownpay;
  preselfpay += o.preselfpay;
  return *this;
}
LineFigures& LineFigures::operator-=(const LineFigures& o) {
  total -= o.total;
  fulamt_ownpay -= o.fulamt_ownpay;
  preselfpay -= o.preselfpay;
  return *this;
}

LineFigures line_figures(const Policy& policy, const PolicyParams& params, const ChargeLine& l) {
  LineFigures f;
  f.total = l.amount;
  if (l.cls == LineClass::c) f.fulamt_ownpay = l.amount;
  if (l.cls == LineClass::b) f.preselfpay = mul_round_half_up(l.amount, policy.classb_ratio(params, l.code, l.selfpay_ratio));
  return f;
}

namespace {

Result<const PolicyParams*> params_for(const Policy& policy, const Person& person, VisitType visit) {
  const PolicyParams* params = policy.find(person.insutype, visit);
  if (params == nullptr)
    return make_error(Reason::invalid_config, "insutype",
                      fmt::format("policy has no entry for insurance type \"{}\", {} visits", person.insutype,
                                  visit_type_name(visit)));
  return params;
}

Split split_of(const PolicyParams& params, const Person& person, const LineFigures& f, const SplitOptions& options);

}  // namespace

Result<Split> split(const Policy& policy, const Person& person, std::span<const ChargeLine> lines,
                    const SplitOptions& options) {
  // An inpatient discharge settles every line of the stay.
  const std::size_t max_lines =
      options.visit == VisitType::inpatient ? limits::max_lines_per_admission : limits::max_lines_per_settlement;
  if (Status v = validate_lines(lines, max_lines); !v) return v.error();
  auto params = params_for(policy, person, options.visit);
  if (!params) return params.error();
  // Rules 1-3: class C, class B self-paid part, policy range.
  LineFigures f;
  for (const ChargeLine& l : lines) f += line_figures(policy, **params, l);
  return split_of(**params, person, f, options);
}

Result<Split> split_figures(const Policy& policy, const Person& person, const LineFigures& figures,
                            const SplitOptions& options) {
  if (figures.total.is_negative() || figures.total.fen() > limits::amount_max_fen)
    return make_error(Reason::limit_exceeded, "lines",
                      fmt::format("lines: total {} is outside 0 to {} per settlement", format_amount(figures.total),
                                  format_amount(Amount::fen(limits::amount_max_fen))));
  if (figures.fulamt_ownpay.is_negative() || figures.preselfpay.is_negative() ||
      figures.fulamt_ownpay + figures.preselfpay > figures.total)
    return make_error(Reason::internal, "lines",
                      fmt::format("line figures do not add up: class C {} and class B self-paid {} of a total {}",
                                  format_amount(figures.fulamt_ownpay), format_amount(figures.preselfpay),
                                  format_amount(figures.total)));
  auto params = params_for(policy, person, options.visit);
  if (!params) return params.error();
  return split_of(**params, person, figures, options);
}

namespace {

Split split_of(const PolicyParams& params, const Person& person, const LineFigures& f, const SplitOptions& options) {
  Split s;
  s.mode = options.offline ? Mode::offline : Mode::online;
  if (options.offline) s.reasons.push_back(offline_reason(options.offline->cause));
  s.total = f.total;
  s.fulamt_ownpay = f.fulamt_ownpay;
  s.preselfpay = f.preselfpay;
  s.inscp = s.total - s.fulamt_ownpay - s.preselfpay;

  // Status flags that stop the fund (基金不记账): no fund, no deductible consumed.
  bool fund_allowed = true;
  for (const auto& [flag, reason] : kFundStops) {
    if (person.flags.has(flag)) {
      s.reasons.push_back(reason);
      fund_allowed = false;
    }
  }
  if (options.offline && !options.offline->on_redlist) {
    s.reasons.push_back(SplitReason::not_on_redlist);
    fund_allowed = false;
  }

  if (fund_allowed) {
    // Rule 4: deductible (起付线): per year for outpatient visits, per stay for
    // an inpatient discharge (what earlier visits paid does not count).
    const Amount used = options.visit == VisitType::inpatient ? Amount::zero() : person.deductible_used;
    const Amount deductible_left = max(Amount::zero(), params.deductible - used);
    s.deductible_part = min(s.inscp, deductible_left);
    // Rule 5: fund share, floored, within the annual cap (封顶线).
    const Amount uncapped = mul_floor(s.inscp - s.deductible_part, params.fund_ratio);
    const Amount cap_left = max(Amount::zero(), params.annual_cap - person.fund_paid_ytd);
    s.fund = min(uncapped, cap_left);
    if (uncapped > cap_left && uncapped.fen() > 0)
      s.reasons.push_back(cap_left.is_zero() ? SplitReason::annual_cap_reached : SplitReason::annual_cap_partly);
    // Offline: the estimate is kept only within the offline limits.
    if (options.offline) {
      if (const auto hit = offline_limit_hit(*options.offline, s.fund)) {
        s.reasons.push_back(SplitReason::offline_limit);
        s.reasons.push_back(*hit);
        s.fund = Amount::zero();
        s.deductible_part = Amount::zero();
      }
    }
  }

  // Rules 6-7: the patient's part, from the account first when it may be used.
  const Amount patient = s.total - s.fund;
  if (options.offline) {
    s.account = Amount::zero();  // the account is never used offline
  } else if (options.no_account) {
    s.reasons.push_back(*options.no_account);
  } else if (!options.use_account) {
    s.reasons.push_back(SplitReason::account_skipped);
  } else if (!options.pin_verified) {
    s.reasons.push_back(SplitReason::pin_not_verified);
  } else if (person.flags.has(PersonFlag::account_frozen)) {
    s.reasons.push_back(SplitReason::account_frozen);
  } else if (person.balance.fen() <= 0) {
    if (patient.fen() > 0) s.reasons.push_back(SplitReason::account_zero);
  } else {
    s.account = min(patient, person.balance);
    if (options.account_cap && s.account > *options.account_cap) {
      s.account = max(*options.account_cap, Amount::zero());
      s.reasons.push_back(SplitReason::account_capped);
    } else if (s.account < patient) {
      s.reasons.push_back(SplitReason::account_insufficient);
    }
  }
  s.cash = patient - s.account;

  SETTLE_ASSERT(s.fund + s.account + s.cash == s.total);
  SETTLE_ASSERT(!s.fund.is_negative() && !s.account.is_negative() && !s.cash.is_negative());
  SETTLE_ASSERT(!s.inscp.is_negative() && s.deductible_part <= s.inscp);
  return s;
}

}  // namespace

SplitReason offline_cause_reason(OfflineCause c) noexcept {
  switch (c) {
    case OfflineCause::network_down: return SplitReason::offline_network_down;
    case OfflineCause::in_doubt: return SplitReason::offline_in_doubt;
    case OfflineCause::insurer_error: return SplitReason::offline_insurer_error;
    case OfflineCause::reader_failure: return SplitReason::offline_reader_failure;
    case OfflineCause::clock_skew: return SplitReason::offline_clock_skew;
  }
  return SplitReason::offline_network_down;
}

}  // namespace settle
