// Reconciliation rules: per-type (and per clearing type) totals of detail
// rows, row matching by the insurer's setl_id or msgid, the insurer rows'
// clearing types, and the classification of each difference.
#include "engine/reconcile.hpp"

#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace settle::recon {

std::string_view row_state_name(RowState s) noexcept {
  switch (s) {
    case RowState::untouched: return "untouched";
    case RowState::refunded: return "refunded";
    case RowState::undone: return "undone";
  }
  return "untouched";
}

std::optional<RowState> row_state_of_flag(std::string_view f) noexcept {
  if (f == "0") return RowState::untouched;
  if (f == "1") return RowState::refunded;
  if (f == "2") return RowState::undone;
  return std::nullopt;
}

bool cross_region(std::string_view area, std::string_view home, std::string_view home_insurer) noexcept {
  return !area.empty() && area != home && area != home_insurer;
}

std::string_view clearing_type_name(std::string_view clr_type) noexcept {
  if (clr_type == clr_outpatient) return "outpatient";
  if (clr_type == clr_inpatient) return "inpatient";
  return "";
}

std::string_view diff_kind_name(DiffKind k) noexcept {
  switch (k) {
    case DiffKind::only_local: return "only_local";
    case DiffKind::only_insurer: return "only_insurer";
    case DiffKind::amount_mismatch: return "amount_mismatch";
    case DiffKind::state_mismatch: return "state_mismatch";
    case DiffKind::clearing_type_mismatch: return "clearing_type_mismatch";
  }
  return "only_local";
}

std::map<std::string, Totals> totals_of(const std::vector<DetailRow>& rows) {
  std::map<std::string, Totals> out;
  for (const DetailRow& r : rows) {
    if (r.state == RowState::undone) continue;
    Totals& t = out[r.insutype];
    t += Totals{1, r.total, r.fund, r.account, r.cash};
  }
  return out;
}

std::map<TotalsKey, Totals> totals_by_clearing(const std::vector<DetailRow>& rows) {
  std::map<TotalsKey, Totals> out;
  for (const DetailRow& r : rows) {
    if (r.state == RowState::undone) continue;
    out[TotalsKey{r.insutype, r.clr_type, r.insuplc_admdvs}] += Totals{1, r.total, r.fund, r.account, r.cash};
  }
  return out;
}

void mark_clearing_types(std::vector<DetailRow>& all, const std::vector<DetailRow>& inpatient) {
  std::unordered_set<std::string_view> setl_ids, msgids;  // msgids: of rows without a setl_id
  for (const DetailRow& r : inpatient) {
    if (!r.setl_id.empty()) {
      setl_ids.insert(r.setl_id);
    } else if (!r.msgid.empty()) {
      msgids.insert(r.msgid);
    }
  }
  for (DetailRow& r : all) {
    const bool in =
        (!r.setl_id.empty() && setl_ids.contains(r.setl_id)) || (!r.msgid.empty() && msgids.contains(r.msgid));
    r.clr_type = std::string(in ? clr_inpatient : clr_outpatient);  // (a temporary: GCC 12 warns on the view)
  }
}

namespace {

bool same_amounts(const DetailRow& a, const DetailRow& b) {
  return a.total == b.total && a.fund == b.fund && a.account == b.account && a.cash == b.cash;
}

bool nothing_charged(const DetailRow& r) {
  return r.state == RowState::undone && r.total.is_zero() && r.fund.is_zero() && r.account.is_zero() &&
         r.cash.is_zero();
}

}  // namespace

std::vector<Difference> compare_details(const std::vector<DetailRow>& local, const std::vector<DetailRow>& insurer) {
  // by_setl: insurer rows by setl_id. no_setl: by msgid, the insurer rows
  // without a setl_id (few). by_msgid: all rows by msgid, built only when a
  // local row without the insurer's setl_id needs it.
  using Index = std::unordered_map<std::string_view, std::size_t>;
  Index by_setl, no_setl, by_msgid;
  by_setl.reserve(insurer.size());
  for (std::size_t i = 0; i < insurer.size(); ++i) {
    if (!insurer[i].setl_id.empty()) {
      by_setl.emplace(insurer[i].setl_id, i);
    } else if (!insurer[i].msgid.empty()) {
      no_setl.emplace(insurer[i].msgid, i);
    }
  }
  bool by_msgid_built = false;
  const auto msgid_index = [&]() -> const Index& {
    if (!by_msgid_built) {
      by_msgid.reserve(insurer.size());
      for (std::size_t i = 0; i < insurer.size(); ++i)
        if (!insurer[i].msgid.empty()) by_msgid.emplace(insurer[i].msgid, i);
      by_msgid_built = true;
    }
    return by_msgid;
  };
  std::vector<bool> matched(insurer.size(), false);
  std::vector<Difference> out;
  for (const DetailRow& l : local) {
    std::optional<std::size_t> at;
    if (!l.setl_id.empty()) {
      if (auto it = by_setl.find(l.setl_id); it != by_setl.end()) at = it->second;
    }
    if (!at && !l.msgid.empty()) {
      // By msgid only when one of the two has no setl_id.
      const Index& index = l.setl_id.empty() ? msgid_index() : no_setl;
      if (auto it = index.find(l.msgid); it != index.end()) at = it->second;
    }
    if (at && matched[*at]) at.reset();  // each insurer row answers one local row
    if (!at) {
      if (!nothing_charged(l)) out.push_back(Difference{DiffKind::only_local, l.setl_id, l.msgid, l, std::nullopt});
      continue;
    }
    matched[*at] = true;
    const DetailRow& i = insurer[*at];
    if (l.state != i.state) {
      out.push_back(Difference{DiffKind::state_mismatch, i.setl_id.empty() ? l.setl_id : i.setl_id,
                               l.msgid.empty() ? i.msgid : l.msgid, l, i});
    } else if (!l.clr_type.empty() && !i.clr_type.empty() && l.clr_type != i.clr_type) {
      out.push_back(Difference{DiffKind::clearing_type_mismatch, i.setl_id.empty() ? l.setl_id : i.setl_id,
                               l.msgid.empty() ? i.msgid : l.msgid, l, i});
    } else if (!same_amounts(l, i)) {
      out.push_back(Difference{DiffKind::amount_mismatch, i.setl_id.empty() ? l.setl_id : i.setl_id,
                               l.msgid.empty() ? i.msgid : l.msgid, l, i});
    }
  }
  for (std::size_t k = 0; k < insurer.size(); ++k) {
    if (matched[k] || nothing_charged(insurer[k])) continue;
    out.push_back(Difference{DiffKind::only_insurer, insurer[k].setl_id, insurer[k].msgid, std::nullopt, insurer[k]});
  }
  return out;
}

}  // namespace settle::recon
