// recon.run: the nightly reconciliation (对账) of one clearing date. Local
// totals from the ledger, 3201 per insurance type and clearing type
// (outpatient, inpatient) through the gateway, on a mismatch 3202 paged and
// the rows compared by engine/reconcile; the summary goes to the audit trail
// and the history. Rules: docs/reconciliation.md.
#include "engine/reconcile.hpp"
#include "offline/recon_queries.hpp"
#include "protocol/insurer/codecs.hpp"
#include "protocol/insurer/detail_fast.hpp"
#include "tools/settled/chain_keeper.hpp"
#include "tools/settled/clock.hpp"
#include "tools/settled/replies.hpp"
#include "tools/settled/service.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace settle::daemon {
namespace {

using json::Json;
using recon::DetailRow;
using recon::SideTotals;
using recon::Totals;
using recon::TotalsKey;

constexpr int kQueryAttempts = 3;         // a query whose reply was lost is asked again
constexpr std::uint32_t kPageTimeoutMs = 30'000;

Json totals_json(const Totals& t) {
  return Json{{"count", t.count},
              {"total", json::amount_value(t.total)},
              {"fund", json::amount_value(t.fund)},
              {"account", json::amount_value(t.account)},
              {"cash", json::amount_value(t.cash)}};
}

// Both sides of one clearing type: {"clr_type", "balanced", "local", "insurer"}.
Json side_json(std::string_view clr_type, const SideTotals& t) {
  return Json{{"clr_type", clr_type},
              {"balanced", t.balanced()},
              {"local", totals_json(t.local)},
              {"insurer", totals_json(t.insurer)}};
}

// "outpatient" and "inpatient" (always both, zero when neither side has any)
// added to `j` from a map by clearing type.
void add_clearing_types(Json& j, const std::map<std::string, SideTotals>& by_clr) {
  for (std::string_view clr : recon::clearing_types) {
    const auto it = by_clr.find(std::string(clr));
    j[std::string(recon::clearing_type_name(clr))] = side_json(clr, it == by_clr.end() ? SideTotals{} : it->second);
  }
}

Json row_json(const DetailRow& r) {
  Json j{{"setl_id", r.setl_id},
         {"msgid", r.msgid},
         {"insutype", r.insutype},
         {"clr_type", r.clr_type},
         {"psn_no", r.psn_no},
         {"state", recon::row_state_name(r.state)},
         {"total", json::amount_value(r.total)},
         {"fund", json::amount_value(r.fund)},
         {"account", json::amount_value(r.account)},
         {"cash", json::amount_value(r.cash)}};
  if (!r.local_setl_id.empty()) j["local_setl_id"] = r.local_setl_id;
  if (!r.insuplc_admdvs.empty()) j["insuplc_admdvs"] = r.insuplc_admdvs;
  return j;
}

// One query to the insurer, asked again (new msgid) when the reply was lost:
// the answered call, or the error for the supervisor. With keep_body the
// gateway decodes only the envelope and hands back the body.
awaitable<Result<CallResult>> ask(InsurerGateway& gateway, const std::string& infno, const Json& input,
                                  const std::string& opter, bool keep_body) {
  CallResult last;
  for (int attempt = 0; attempt < kQueryAttempts; ++attempt) {
    CallSpec spec;
    spec.infno = infno;
    spec.input = input;
    spec.opter = opter;
    spec.opter_name = opter;
    spec.timeout_ms = kPageTimeoutMs;
    spec.keep_body = keep_body;
    last = co_await gateway.call(std::move(spec));
    if (last.succeeded()) co_return std::move(last);
    if (last.answered()) co_return rejected_error(last);
  }
  co_return unanswered_error(last);
}

awaitable<Result<Json>> query(InsurerGateway& gateway, const std::string& infno, const Json& input,
                              const std::string& opter) {
  Result<CallResult> r = co_await ask(gateway, infno, input, opter, false);
  if (!r) co_return r.error();
  co_return std::move(r->response->output);
}

// A 3202 page: its body, for the page's own decoder (insurer/detail_fast.hpp).
struct PageBody {
  std::string body;
  std::string msgid;
};
awaitable<Result<PageBody>> query_page(InsurerGateway& gateway, const std::string& infno, const Json& input,
                                       const std::string& opter) {
  Result<CallResult> r = co_await ask(gateway, infno, input, opter, true);
  if (!r) co_return r.error();
  co_return PageBody{std::move(r->body), std::move(r->msgid)};
}

// 3202 pages fetched by several workers at once (the insurer and this
// process then work in parallel); each page lands in its own slot.
constexpr std::int64_t kPageWorkers = 2;
struct PageFetch {
  explicit PageFetch(const asio::any_io_executor& ex) : done(ex) {}
  std::vector<std::vector<DetailRow>> pages;  // index: page_num - 1
  std::optional<Error> error;
  std::int64_t total = 0;
  int running = 0;
  asio::steady_timer done;
};

Error bad_reply(const std::string& infno, const Error& e);

insurer::DetailReconcile::Input page_input(const std::string& date, std::string_view clr_type, std::int64_t page) {
  insurer::DetailReconcile::Input in;
  in.insutype = "";
  in.clr_type = clr_type;
  in.stmt_begndate = date;
  in.stmt_enddate = date;
  in.page_num = page;
  in.page_size = static_cast<std::int64_t>(insurer::max_page_size);
  return in;
}

std::vector<DetailRow> rows_of(insurer::DetailReconcile::Output& out) {
  std::vector<DetailRow> rows;
  rows.reserve(out.rows.size());
  for (auto& r : out.rows) {
    DetailRow row;
    row.setl_id = std::move(r.setl_id);
    row.msgid = std::move(r.msgid);
    row.insutype = std::move(r.insutype);
    row.psn_no = std::move(r.psn_no);
    row.total = r.medfee_sumamt;
    row.fund = r.fund_pay_sumamt;
    row.account = r.acct_pay;
    row.cash = r.psn_cash_pay;
    row.state = recon::row_state_of_flag(r.refd_setl_flag).value_or(recon::RowState::untouched);
    row.insuplc_admdvs = std::move(r.insuplc_admdvs);
    rows.push_back(std::move(row));
  }
  return rows;
}

// One page: its rows, or the error that ends the run.
awaitable<Result<insurer::DetailReconcile::Output>> fetch_page(InsurerGateway& gateway, const std::string& date,
                                                               std::string_view clr_type, std::int64_t page,
                                                               const std::string& opter) {
  const std::string infno(insurer::DetailReconcile::infno);
  const Json input = page_input(date, clr_type, page).encode();
  auto out = co_await query_page(gateway, infno, input, opter);
  if (!out) co_return out.error();
  auto dr = insurer::decode_detail_reply(out->body, out->msgid);
  if (!dr) co_return bad_reply(infno, dr.error());
  if (dr->page_num != page)
    co_return make_error(Reason::insurer_rejected, "page_num",
                         fmt::format("the insurer's 3202 answered page {} for page {}", dr->page_num, page));
  co_return std::move(*dr);
}

// Worker: pages first, first + step, ... up to the last.
awaitable<void> page_worker(InsurerGateway& gateway, const std::string& date, std::string_view clr_type,
                            const std::string& opter, std::int64_t first, std::int64_t last, PageFetch* f) {
  for (std::int64_t page = first; page <= last && !f->error; page += kPageWorkers) {
    auto dr = co_await fetch_page(gateway, date, clr_type, page, opter);
    if (!dr) {
      if (!f->error) f->error = dr.error();
      break;
    }
    if (dr->total != f->total && !f->error)
      f->error = make_error(Reason::insurer_rejected, "total",
                            fmt::format("the insurer's 3202 total changed from {} to {} while paging", f->total, dr->total));
    f->pages[static_cast<std::size_t>(page - 1)] = rows_of(*dr);
  }
  if (--f->running == 0) f->done.cancel();
}

// Every 3202 row of the date for one clearing type ("" all): page 1, then
// the other pages by kPageWorkers workers.
awaitable<Result<std::vector<DetailRow>>> fetch_detail(InsurerGateway& gateway, const asio::any_io_executor& ex,
                                                       const std::string& date, std::string_view clr_type,
                                                       const std::string& opter) {
  auto first = co_await fetch_page(gateway, date, clr_type, 1, opter);
  if (!first) co_return first.error();
  const std::int64_t page_size = static_cast<std::int64_t>(insurer::max_page_size);
  const std::int64_t pages = std::max<std::int64_t>(1, (first->total + page_size - 1) / page_size);
  PageFetch fetch(ex);
  fetch.total = first->total;
  fetch.pages.resize(static_cast<std::size_t>(pages));
  fetch.pages[0] = rows_of(*first);
  for (std::int64_t w = 0; w < kPageWorkers && 2 + w <= pages; ++w) {
    ++fetch.running;
    asio::co_spawn(ex, page_worker(gateway, date, clr_type, opter, 2 + w, pages, &fetch), asio::detached);
  }
  while (fetch.running > 0) {
    boost::system::error_code ec;
    fetch.done.expires_at(asio::steady_timer::time_point::max());
    co_await fetch.done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (fetch.error) co_return *fetch.error;
  std::vector<DetailRow> rows;
  rows.reserve(static_cast<std::size_t>(first->total));
  for (auto& page : fetch.pages)
    for (auto& row : page) rows.push_back(std::move(row));
  co_return rows;
}

// The ledger's rows of the day, read on the pool while the insurer's pages
// come in (the state is shared: the read may end after an early return).
struct LocalFetch {
  LocalFetch(const asio::any_io_executor& ex, std::string d) : date(std::move(d)), done(ex) {}
  std::string date;
  std::optional<sql::Result<ledger::ReconDetail>> result;
  std::int64_t elapsed_ms = 0;
  asio::steady_timer done;
};

awaitable<void> local_worker(ledger::Ledger& ledger, asio::thread_pool& pool, std::shared_ptr<LocalFetch> f) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string& date = f->date;
  auto job = [date](sql::Db& db) { return ledger::recon_detail(db, date); };
  auto rows = co_await ledger_read(ledger, pool, std::move(job));
  f->elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  f->result.emplace(std::move(rows));
  f->done.cancel();
}

Error bad_reply(const std::string& infno, const Error& e) {
  return make_error(Reason::insurer_rejected, e.field,
                    fmt::format("the insurer's {} reply is not usable: {}", infno, e.message));
}

}  // namespace

awaitable<Reply> Service::recon_run(const cashier::SessionInfo& s, const cashier::ReconRunParams& p) {
  const std::string date = p.date;
  const std::string opter = s.operator_name;
  const auto started = std::chrono::steady_clock::now();
  if (!clearing_day_start_ms(date)) co_return fail(Reason::invalid_request, "date", "date: not a calendar date");

  // 0. The ledger's hash chain first: what was written since the last
  // reconciliation still is as it was chained (docs/ledger-integrity.md).
  Json chain_json = nullptr;
  if (p_.chain != nullptr) {
    const ChainKeeper* keeper = p_.chain;
    auto job0 = [keeper](sql::Db& db) { return keeper->verify_since_last_reconciliation(db); };
    const auto t0 = std::chrono::steady_clock::now();
    auto walked = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job0));
    if (!walked) co_return fail(walked.error().to_error());
    Json problems = Json::array();
    for (const auto& pr : walked->problems) problems.push_back(pr.message);
    chain_json = Json{{"intact", walked->ok()},
                      {"from_entry", walked->from_seq},
                      {"entries", walked->entries},
                      {"head_entry", walked->head_seq},
                      {"checkpoints", walked->checkpoints},
                      {"checkpoints_signed", walked->checkpoints_signed},
                      {"problems", problems},
                      {"elapsed_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - t0)
                                         .count()}};
    if (!walked->ok())
      spdlog::error("recon {}: the ledger's hash chain is broken: {}", date, walked->problems.front().message);
  }

  // 1. Local totals per insurance type and clearing type.
  auto job1 = [date](sql::Db& db) { return ledger::recon_totals(db, date); };
  auto local = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job1));
  if (!local) co_return fail(local.error().to_error());

  // 2. 3201 per (insurance type, clearing type) the hospital has, per
  //    clearing type over all insurance types, and once over everything (an
  //    insurance type or clearing type the hospital has none of shows there).
  std::map<std::string, recon::InsutypeTotals> by_type;
  std::map<std::string, SideTotals> by_clr;  // over all insurance types
  SideTotals all;
  // The insured areas apart (参保地): a cross-region patient's settlements are
  // cleared against that area's fund; "" is the hospital's own (recorded
  // before areas were).
  std::map<std::string, SideTotals> by_area;
  for (const auto& [key, t] : local->by_clearing) {
    by_type[key.insutype].insutype = key.insutype;
    by_type[key.insutype].by_clr_type[key.clr_type].local += t;
    by_clr[key.clr_type].local += t;
    by_area[key.insuplc_admdvs.empty() ? p_.config.institution.insurer_area : key.insuplc_admdvs].local += t;
    all.local += t;
  }
  std::vector<TotalsKey> asks;
  for (const auto& [key, t] : local->by_clearing) {
    if (key.insutype.empty()) continue;  // "" asks over all types: a type-less one is in the sums
    const TotalsKey ask{key.insutype, key.clr_type};
    if (std::find(asks.begin(), asks.end(), ask) == asks.end()) asks.push_back(ask);
  }
  for (std::string_view clr : recon::clearing_types) asks.push_back(TotalsKey{"", std::string(clr)});
  asks.push_back(TotalsKey{"", ""});
  // Each insured area the hospital settled for, over every type (3201's setl_optins).
  for (const auto& [area, side] : by_area) asks.push_back(TotalsKey{"", "", area});
  bool totals_balanced = true;
  for (const TotalsKey& key : asks) {
    SideTotals& side = !key.insuplc_admdvs.empty() ? by_area[key.insuplc_admdvs]
                       : !key.insutype.empty() ? by_type[key.insutype].by_clr_type[key.clr_type]
                       : !key.clr_type.empty() ? by_clr[key.clr_type]
                                               : all;
    insurer::DailyTotals::Input in;
    in.insutype = key.insutype;
    in.clr_type = key.clr_type;
    in.stmt_begndate = date;
    in.stmt_enddate = date;
    in.medfee_sumamt = side.local.total;
    in.fund_pay_sumamt = side.local.fund;
    in.acct_pay = side.local.account;
    in.fixmedins_setl_cnt = side.local.count;
    in.setl_optins = key.insuplc_admdvs;
    const Json input = in.encode();
    const std::string infno(insurer::DailyTotals::infno);
    auto out = co_await query(p_.gateway, infno, input, opter);
    if (!out) co_return fail(out.error());
    auto dt = insurer::DailyTotals::Output::decode(*out);
    if (!dt) co_return fail(bad_reply(infno, dt.error()));
    side.insurer = Totals{dt->setl_cnt, dt->medfee_sumamt, dt->fund_pay_sumamt, dt->acct_pay, dt->psn_cash_pay};
    if (!side.balanced()) totals_balanced = false;
  }

  const auto ms_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
  };
  Json timings{{"totals_ms", ms_since(started)}};

  // 3. On a mismatch: both detail lists, compared.
  std::vector<recon::Difference> diffs;
  std::vector<ledger::NotUploaded> not_uploaded;
  std::int64_t insurer_rows = 0, local_rows = 0;
  if (!totals_balanced) {
    auto phase = std::chrono::steady_clock::now();
    auto local_fetch = std::make_shared<LocalFetch>(ioc_.get_executor(), date);
    asio::co_spawn(ioc_, local_worker(p_.ledger, p_.db_pool, local_fetch), asio::detached);
    // Every row, then the inpatient ones again (their setl_ids say which rows
    // are inpatient: 3202's rows do not carry their clearing type).
    auto every = co_await fetch_detail(p_.gateway, ioc_.get_executor(), date, "", opter);
    if (!every) co_return fail(every.error());
    auto inpatient = co_await fetch_detail(p_.gateway, ioc_.get_executor(), date, recon::clr_inpatient, opter);
    if (!inpatient) co_return fail(inpatient.error());
    std::vector<DetailRow> theirs = std::move(*every);
    recon::mark_clearing_types(theirs, *inpatient);
    insurer_rows = static_cast<std::int64_t>(theirs.size());
    timings["insurer_detail_ms"] = ms_since(phase);
    phase = std::chrono::steady_clock::now();
    while (!local_fetch->result) {
      boost::system::error_code ec;
      local_fetch->done.expires_at(asio::steady_timer::time_point::max());
      co_await local_fetch->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    auto& mine = *local_fetch->result;
    if (!mine) co_return fail(mine.error().to_error());
    local_rows = static_cast<std::int64_t>(mine->rows.size());
    timings["local_detail_ms"] = local_fetch->elapsed_ms;  // alongside the insurer's pages
    timings["local_wait_ms"] = ms_since(phase);
    phase = std::chrono::steady_clock::now();
    diffs = recon::compare_details(mine->rows, theirs);
    timings["compare_ms"] = ms_since(phase);
    not_uploaded = std::move(mine->not_uploaded);
    // Insurance types and clearing types not asked (only the insurer has them): from its rows.
    for (const auto& [key, t] : recon::totals_by_clearing(theirs)) {
      recon::InsutypeTotals& type = by_type[key.insutype];
      type.insutype = key.insutype;
      if (!type.by_clr_type.contains(key.clr_type)) type.by_clr_type[key.clr_type].insurer = t;
    }
  } else if (local->not_uploaded > 0) {
    auto job3 = [date](sql::Db& db) { return ledger::recon_not_uploaded(db, date); };
    auto nu = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job3));
    if (!nu) co_return fail(nu.error().to_error());
    not_uploaded = std::move(*nu);
  }
  const bool balanced = totals_balanced && diffs.empty();
  // The day's adjustments (offline settlements decided otherwise by the
  // insurer, corrections): counted already; listed for the office.
  auto job5 = [date](sql::Db& db) { return ledger::recon_adjustments(db, date); };
  auto adjusted = co_await ledger_read(p_.ledger, p_.db_pool, std::move(job5));
  if (!adjusted) co_return fail(adjusted.error().to_error());
  Json adjustments_json = Json::object();
  for (const char* kind : {"offline_upload", "correction"}) {
    const auto it = adjusted->find(kind);
    const ledger::AdjustmentSums sums = it == adjusted->end() ? ledger::AdjustmentSums{} : it->second;
    adjustments_json[kind] = Json{{"count", sums.count},
                                  {"fund", json::amount_value(sums.fund)},
                                  {"cash", json::amount_value(sums.cash)}};
  }

  Json types = Json::array();
  for (auto& [type, t] : by_type) {
    for (const auto& [clr, side] : t.by_clr_type) {
      t.local += side.local;
      t.insurer += side.insurer;
    }
    Json j{{"insutype", type},
           {"balanced", t.balanced()},
           {"local", totals_json(t.local)},
           {"insurer", totals_json(t.insurer)}};
    add_clearing_types(j, t.by_clr_type);
    types.push_back(std::move(j));
  }
  // Each insured area's own totals, the cross-region ones marked.
  Json areas = Json::array();
  for (const auto& [area, side] : by_area)
    areas.push_back(Json{{"insuplc_admdvs", area},
                         {"cross_region", recon::cross_region(area, p_.config.institution.area,
                                                              p_.config.institution.insurer_area)},
                         {"balanced", side.balanced()},
                         {"local", totals_json(side.local)},
                         {"insurer", totals_json(side.insurer)}});
  Json differences = Json::array();
  std::map<std::string, std::int64_t> counts;
  for (const recon::Difference& d : diffs) {
    ++counts[std::string(recon::diff_kind_name(d.kind))];
    Json j{{"kind", recon::diff_kind_name(d.kind)}};
    // The clearing type: the hospital's when it has the row (a
    // clearing_type_mismatch shows the insurer's in its "insurer" row).
    const DetailRow* side = d.local ? &*d.local : d.insurer ? &*d.insurer : nullptr;
    if (side != nullptr && !side->clr_type.empty()) {
      j["clr_type"] = side->clr_type;
      j["visit_type"] = recon::clearing_type_name(side->clr_type);
    }
    if (side != nullptr && !side->insuplc_admdvs.empty()) j["insuplc_admdvs"] = side->insuplc_admdvs;
    if (!d.setl_id.empty()) j["setl_id"] = d.setl_id;
    if (!d.msgid.empty()) j["msgid"] = d.msgid;
    if (d.local) {
      j["local"] = row_json(*d.local);
      j["local_setl_id"] = d.local->local_setl_id;
    }
    if (d.insurer) j["insurer"] = row_json(*d.insurer);
    differences.push_back(std::move(j));
  }
  Json pending = Json::array();
  for (const ledger::NotUploaded& n : not_uploaded)
    pending.push_back(Json{{"local_setl_id", std::to_string(n.setl_id)},
                           {"state", n.state},
                           {"insutype", n.insutype},
                           {"clr_type", n.clr_type},
                           {"psn_no", n.psn_no},
                           {"insuplc_admdvs", n.insuplc_admdvs.empty() ? p_.config.institution.insurer_area : n.insuplc_admdvs},
                           {"total", json::amount_value(n.total)}});
  Json by_kind = Json::object();
  for (const auto& [k, n] : counts) by_kind[k] = n;
  const auto elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  Json answer{{"date", date},
              {"hospital", Json{{"name", p_.config.institution.name}, {"code", p_.config.institution.code}}},
              {"balanced", balanced},
              {"totals_balanced", totals_balanced},
              {"local", totals_json(all.local)},
              {"insurer", totals_json(all.insurer)},
              {"by_insutype", types},
              {"by_area", areas},
              {"detail_compared", !totals_balanced},
              {"local_rows", local_rows},
              {"insurer_rows", insurer_rows},
              {"differences", differences},
              {"difference_counts", by_kind},
              {"not_uploaded", pending},
              {"adjustments", adjustments_json},
              {"run_at", iso_time(now_ms())},
              {"elapsed_ms", elapsed_ms},
              {"timings", timings},
              {"ledger_chain", chain_json}};
  add_clearing_types(answer, by_clr);

  // 4. The summary in the audit trail and the history (not the rows).
  Json summary_json{{"date", date},
                    {"balanced", balanced},
                    {"local", totals_json(all.local)},
                    {"insurer", totals_json(all.insurer)},
                    {"differences", static_cast<std::int64_t>(diffs.size())},
                    {"difference_counts", by_kind},
                    {"not_uploaded", static_cast<std::int64_t>(not_uploaded.size())}};
  add_clearing_types(summary_json, by_clr);
  const bool chain_intact = chain_json.is_null() || chain_json.value("intact", false);
  if (!chain_json.is_null()) summary_json["ledger_chain_intact"] = chain_intact;
  const std::string summary = summary_json.dump();
  const std::int64_t at = now_ms();
  const std::string window = s.window;
  const ChainKeeper* keeper = p_.chain;
  auto job4 = [summary, at, opter, window, date, balanced, keeper, chain_intact](sql::Db& db) -> sql::Result<std::int64_t> {
    auto a = ledger::append_audit(db, ledger::AuditEntry{0, at, opter, window, "recon.run", summary});
    if (!a) return a.error();
    auto e = ledger::append_event(db, ledger::Event{0, at, ledger::Entity::ledger, "recon:" + date, std::nullopt,
                                                    balanced ? "balanced" : "not_balanced", summary});
    // The next reconciliation's walk starts here (after a break, it walks
    // from the same place again, so the break stays in its report).
    if (e && keeper != nullptr && chain_intact) keeper->checkpoint_in(db, "reconciliation");
    return e;
  };
  auto w = co_await ledger_write(p_.ledger, std::move(job4));
  if (!w) spdlog::error("recon {}: the summary could not be recorded: {}", date, w.error().message);
  if (balanced) {
    spdlog::info("recon {}: balanced ({} settlements, {} ms)", date, all.local.count, elapsed_ms);
  } else {
    spdlog::warn("recon {}: not balanced, {} differences ({} ms)", date, diffs.size(), elapsed_ms);
  }
  co_return Reply::ok(std::move(answer));
}

}  // namespace settle::daemon
