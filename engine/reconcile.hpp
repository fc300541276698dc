// Reconciliation (对账) without I/O: a clearing date's totals per insurance
// type and clearing type (outpatient, inpatient) on both sides compared (对总账),
// and on a mismatch the detail rows matched by the insurer's setl_id (else
// msgid) and every difference classified.
#pragma once

#include "engine/money.hpp"

#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace settle::recon {

// Totals net of refunds: settlements the insurer holds as effective
// (fully refunded ones count with amount zero; undone ones do not count).
struct Totals {
  std::int64_t count = 0;
  Amount total, fund, account, cash;
  friend bool operator==(const Totals&, const Totals&) = default;
  Totals& operator+=(const Totals& o) {
    count += o.count;
    total += o.total;
    fund += o.fund;
    account += o.account;
    cash += o.cash;
    return *this;
  }
};

// Clearing types (3201/3202's clr_type): the visit type of a settlement.
inline constexpr std::string_view clr_outpatient = "11";  // 门诊
inline constexpr std::string_view clr_inpatient = "21";   // 住院
inline constexpr std::array<std::string_view, 2> clearing_types{clr_outpatient, clr_inpatient};
// "outpatient" for "11", "inpatient" for "21", "" for anything else.
std::string_view clearing_type_name(std::string_view clr_type) noexcept;

// One bucket of the day's totals: an insurance type ("" none), a clearing
// type and the insured area (参保地, insuplc_admdvs; "" over every area, or a
// settlement recorded before areas were: the hospital's own). A patient
// insured elsewhere (异地) is settled against that area's fund and cleared
// apart, so the areas are summed apart.
struct TotalsKey {
  std::string insutype;
  std::string clr_type;
  std::string insuplc_admdvs = {};
  friend auto operator<=>(const TotalsKey&, const TotalsKey&) = default;
  friend bool operator==(const TotalsKey&, const TotalsKey&) = default;
};

// The state of a settlement as both sides can say it (3202's refd_setl_flag).
enum class RowState : std::uint8_t {
  untouched,  // "0"
  refunded,   // "1": partly or fully refunded, still effective
  undone,     // "2": undone or reversed, nothing charged
};
std::string_view row_state_name(RowState) noexcept;  // "untouched", "refunded", "undone"
std::optional<RowState> row_state_of_flag(std::string_view refd_setl_flag) noexcept;

// One settlement of the clearing date, amounts net of refunds.
struct DetailRow {
  std::string setl_id;        // the insurer's settlement id ("" when the local row has none)
  std::string msgid;          // the message that settled it
  std::string local_setl_id;  // the hospital's id (local rows only)
  std::string insutype;
  std::string clr_type;       // "11" / "21"; "" when not known
  std::string psn_no;
  Amount total, fund, account, cash;
  RowState state = RowState::untouched;
  std::string insuplc_admdvs = {};  // the person's insured area ("" not known)
  friend bool operator==(const DetailRow&, const DetailRow&) = default;
};

enum class DiffKind : std::uint8_t { only_local, only_insurer, amount_mismatch, state_mismatch, clearing_type_mismatch };
std::string_view diff_kind_name(DiffKind) noexcept;

struct Difference {
  DiffKind kind = DiffKind::only_local;
  std::string setl_id;  // the insurer's id (either side's)
  std::string msgid;
  std::optional<DetailRow> local;
  std::optional<DetailRow> insurer;
};

// Totals of both sides.
struct SideTotals {
  Totals local;
  Totals insurer;
  bool balanced() const { return local == insurer; }
};

// Totals of both sides for one insurance type: per clearing type ("11",
// "21"), and over both (the sums of its clearing types).
struct InsutypeTotals {
  std::string insutype;
  Totals local;
  Totals insurer;
  std::map<std::string, SideTotals> by_clr_type;
  // Balanced when every clearing type is (equal sums alone are not enough:
  // a settlement counted under the other clearing type leaves them equal).
  bool balanced() const {
    for (const auto& [clr, t] : by_clr_type)
      if (!t.balanced()) return false;
    return local == insurer;
  }
};

// Sums of rows per insurance type, by the totals' rule (undone rows do not count).
std::map<std::string, Totals> totals_of(const std::vector<DetailRow>& rows);
// The same per insurance type, clearing type and insured area.
std::map<TotalsKey, Totals> totals_by_clearing(const std::vector<DetailRow>& rows);
// Whether a settlement of `area` is cross-region (异地) for a hospital whose
// own area is `home` and whose insurer's is `home_insurer`: a known area that
// is neither.
bool cross_region(std::string_view area, std::string_view home, std::string_view home_insurer) noexcept;

// The insurer's 3202 over every clearing type does not say a row's clearing
// type: `all` (those rows) get "21" when the same settlement (setl_id, else
// msgid) is among `inpatient` (3202 with clr_type "21"), else "11".
void mark_clearing_types(std::vector<DetailRow>& all, const std::vector<DetailRow>& inpatient);

// Matches local rows with the insurer's and classifies every difference:
//   - matched by the insurer's setl_id; a row without one (either side) by msgid;
//   - a row on one side only is only_local / only_insurer, except an undone
//     row (nothing charged) which the other side may have dropped;
//   - matched rows whose states differ: state_mismatch (even if amounts differ too);
//   - else rows whose clearing types differ (both known): clearing_type_mismatch
//     (even if amounts differ too);
//   - else rows whose total, fund, account or cash differ: amount_mismatch.
// Differences come in the order: local rows' order first, then the insurer's
// unmatched rows in their order.
std::vector<Difference> compare_details(const std::vector<DetailRow>& local, const std::vector<DetailRow>& insurer);

}  // namespace settle::recon
