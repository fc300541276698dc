// Refund arithmetic: every refusal is decided before anything is computed
// into the result, so a refused refund changes nothing anywhere.
#include "engine/refund.hpp"

#include <fmt/format.h>

#include <map>

namespace settle {
namespace {

Error exceeds(std::string field, std::string msg) {
  return make_error(Reason::refund_exceeds_original, std::move(field), std::move(msg));
}

}  // namespace

Parts& Parts::operator+=(const Parts& o) {
  total += o.total;
  fund += o.fund;
  account += o.account;
  cash += o.cash;
  return *this;
}

bool Parts::consistent() const {
  return fund + account + cash == total && !fund.is_negative() && !account.is_negative() && !cash.is_negative();
}

Parts parts_of(const Split& s) { return Parts{s.total, s.fund, s.account, s.cash}; }

Parts remaining(const Parts& original, std::span<const Parts> refunds) {
  Parts done;
  for (const Parts& r : refunds) done += r;
  Parts left{original.total - done.total, original.fund - done.fund, original.account - done.account,
             original.cash - done.cash};
  SETTLE_ASSERT(left.consistent());
  return left;
}

Result<Parts> split_refund(const Parts& original, std::span<const Parts> refunds, Amount refund_total,
                           Amount fund_r) {
  SETTLE_ASSERT(original.consistent());
  if (refund_total.fen() <= 0)
    return make_error(Reason::invalid_request, "refund_total", "refund_total: a refund must be above 0.00");
  if (fund_r.is_negative())
    return make_error(Reason::invalid_request, "fund", "fund: the fund's share of a refund cannot be negative");
  const Parts left = remaining(original, refunds);
  if (refund_total > left.total)
    return exceeds("refund_total", fmt::format("refund {} is above the {} left of the original settlement",
                                               format_amount(refund_total), format_amount(left.total)));
  if (fund_r > refund_total)
    return exceeds("fund", fmt::format("fund share {} is above the refund {}", format_amount(fund_r),
                                       format_amount(refund_total)));
  if (fund_r > left.fund)
    return exceeds("fund", fmt::format("fund share {} is above the {} the fund still holds", format_amount(fund_r),
                                       format_amount(left.fund)));
  const Amount patient = refund_total - fund_r;
  Parts r;
  r.total = refund_total;
  r.fund = fund_r;
  r.cash = min(patient, left.cash);  // 先退现金
  r.account = patient - r.cash;      // 再退个人帐户
  if (r.account > left.account)
    return exceeds("account", fmt::format("account refund {} would exceed the {} left of the original account payment",
                                          format_amount(r.account), format_amount(left.account)));
  SETTLE_ASSERT(r.consistent());
  return r;
}

Result<LineRefundPlan> plan_line_refund(std::span<const ChargeLine> original_lines,
                                        std::span<const LineRefund> refunded_before,
                                        std::span<const LineRefund> request) {
  std::vector<ChargeLine> lines(original_lines.begin(), original_lines.end());
  // Takes `amount` off the lines with `code`, in order; false if not enough.
  const auto take = [&lines](const std::string& code, Amount amount) {
    Amount avail;
    for (const ChargeLine& l : lines)
      if (l.code == code) avail += l.amount;
    if (amount > avail) return false;
    for (ChargeLine& l : lines) {
      if (l.code != code || amount.is_zero()) continue;
      const Amount t = min(amount, l.amount);
      l.amount -= t;
      amount -= t;
    }
    return true;
  };
  for (const LineRefund& r : refunded_before) {
    // Earlier refunds were checked when they were made; failing here is a corrupt history.
    SETTLE_ASSERT(take(r.code, r.amount));
  }
  Amount left_total;
  for (const ChargeLine& l : lines) left_total += l.amount;

  LineRefundPlan plan;
  if (request.empty()) {
    if (left_total.is_zero())
      return make_error(Reason::refund_exceeds_original, "setl_id", "nothing is left of the original settlement to refund");
    plan.refund_total = left_total;
    for (ChargeLine& l : lines) l.amount = Amount::zero();
  } else {
    std::map<std::string, Amount> known;
    for (const ChargeLine& l : original_lines) known[l.code] += l.amount;
    for (std::size_t i = 0; i < request.size(); ++i) {
      const LineRefund& r = request[i];
      const std::string field = fmt::format("lines[{}]", i);
      if (!known.contains(r.code))
        return make_error(Reason::not_found, field + ".code",
                          fmt::format("{}.code: the original settlement has no line \"{}\"", field, r.code));
      if (r.amount.fen() <= 0)
        return make_error(Reason::invalid_request, field + ".amount", fmt::format("{}.amount: must be above 0.00", field));
      if (!take(r.code, r.amount))
        return exceeds(field + ".amount", fmt::format("{}.amount: {} is above what is left of line \"{}\"", field,
                                                      format_amount(r.amount), r.code));
      plan.refund_total += r.amount;
    }
  }
  std::erase_if(lines, [](const ChargeLine& l) { return l.amount.is_zero(); });
  plan.remaining_after = std::move(lines);
  return plan;
}

Result<Amount> fund_share_of_line_refund(const Policy& policy, const Person& person_at_settlement,
                                         const SplitOptions& original_options, const LineRefundPlan& plan,
                                         Amount fund_left) {
  Amount fund_after;
  if (!plan.remaining_after.empty()) {
    auto s = split(policy, person_at_settlement, plan.remaining_after, original_options);
    if (!s) return s.error();
    fund_after = s->fund;
  }
  return min(plan.refund_total, max(Amount::zero(), fund_left - fund_after));
}

Result<Resettlement> resettle(const Parts& original, std::span<const Parts> refunds, const Split& new_split) {
  const Parts left = remaining(original, refunds);
  if (left.total.is_zero())
    return make_error(Reason::invalid_state, "setl_id", "the original settlement is fully refunded; nothing to re-settle");
  if (new_split.total != left.total)
    return make_error(Reason::invalid_request, "lines",
                      fmt::format("the new settlement's total {} differs from the {} left of the original",
                                  format_amount(new_split.total), format_amount(left.total)));
  Resettlement r;
  r.undo = left;
  r.settlement = new_split;
  r.cash_back = left.cash - new_split.cash;
  return r;
}

}  // namespace settle
