// The ledger's side of reconciliation (对账): a clearing date's totals per
// insurance type, clearing type (outpatient 11, inpatient 21, from the
// settlement's visit_type) and insured area (参保地) and its detail rows, by the rules of
// docs/reconciliation.md, read through indexes so a day of a million
// settlements stays cheap.
#pragma once

#include "engine/reconcile.hpp"
#include "offline/sqlite.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace settle::ledger {

// An offline settlement of the day the insurer has not accepted (yet):
// offline_pending (not uploaded) or offline_rejected. Listed, never counted.
struct NotUploaded {
  std::int64_t setl_id = 0;
  std::string state;  // offline_pending | offline_rejected
  std::string insutype;
  std::string clr_type;  // "11" outpatient, "21" inpatient
  std::string psn_no;
  Amount total;
  std::string insuplc_admdvs = {};  // the person's insured area ("" the hospital's own)
};

// A settlement's clearing type from its visit_type.
std::string_view clr_type_of_visit(std::string_view visit_type) noexcept;

struct ReconTotals {
  // The day's settlements the insurer should hold, per insurance type,
  // clearing type and insured area (TotalsKey::insuplc_admdvs; "" for a
  // ledger before schema v11); by_insutype is the same over both clearing
  // types and every area.
  std::map<recon::TotalsKey, recon::Totals> by_clearing;
  std::map<std::string, recon::Totals> by_insutype;
  std::int64_t not_uploaded = 0;  // offline_pending + offline_rejected of the day
};

// Totals of a clearing date: settlements recorded that day (online ones, and
// offline ones the insurer accepted, with the insurer's figures), each net of
// all its refunds (a refund counts under its settlement's clearing type);
// undone ones do not count.
sql::Result<ReconTotals> recon_totals(sql::Db& db, std::string_view clearing_date);

struct ReconDetail {
  std::vector<recon::DetailRow> rows;  // by local setl_id
  std::vector<NotUploaded> not_uploaded;
};
// The same settlements one by one (undone ones included, with zero amounts).
sql::Result<ReconDetail> recon_detail(sql::Db& db, std::string_view clearing_date);

// Only the not-uploaded offline settlements of the day.
sql::Result<std::vector<NotUploaded>> recon_not_uploaded(sql::Db& db, std::string_view clearing_date);

// The adjustments of a day's settlements by kind ("offline_upload": the
// insurer's figures of an offline settlement against its estimate;
// "correction": an approved amounts correction): how many, and the sums of
// insurer − local for the fund and the cash. For the office's report.
struct AdjustmentSums {
  std::int64_t count = 0;
  Amount fund, cash;  // insurer − local
};
sql::Result<std::map<std::string, AdjustmentSums>> recon_adjustments(sql::Db& db, std::string_view clearing_date);

}  // namespace settle::ledger
