// The ledger's queries on the paths a window or a nightly job takes, as SQLite
// plans them: each statement they prepare is caught by a trace and explained
// (EXPLAIN QUERY PLAN), and none may read a table that grows with the years
// whole, so its cost follows the day's, the shift's or the person's rows.
#include "ledger_fixture.hpp"
#include "offline/chain.hpp"
#include "offline/flow_ledger.hpp"
#include "offline/office_ops.hpp"
#include "offline/outage_ops.hpp"
#include "offline/recon_queries.hpp"
#include "offline/stay_ops.hpp"
#include "sample.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <vector>

using namespace settle;
using namespace settle::ledger;

namespace {

constexpr std::int64_t kAt = 1'700'000'000'000;  // the samples' day (2023-11-14 UTC)
constexpr std::int64_t kDay = 86'400'000;

// Tables that grow with every settlement, refund, call or login: a query on a
// window's or a nightly path must find its rows through an index.
const std::set<std::string> kGrowing = {
    "settlements", "settlement_lines", "settlement_classb_ratios", "requests", "insurer_messages", "refunds",
    "refund_lines", "adjustments", "events", "outbox", "audit", "stays", "stay_lines", "stay_items",
    "closeouts", "closeout_items", "corrections", "outages", "outage_notes", "reentry_rows", "reentry_lines",
    "reentry_results", "reentry_batches", "chain", "checkpoints"};

// Whether the index is partial (CREATE INDEX ... WHERE ...).
bool partial_index(sql::Db& db, const std::string& name) {
  auto st = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1");
  REQUIRE(st.ok());
  REQUIRE(st->bind(1, name).ok());
  auto row = st->step();
  REQUIRE(row.ok());
  return *row && st->column_text(0).find(" WHERE ") != std::string::npos;
}

// The table a plan line names: itself, or the table `name` is an alias of
// in `text` ("FROM settlements AS t" plans as "SCAN t", and so does
// "FROM settlements t").
std::string table_of(const std::string& text, const std::string& name) {
  for (const auto& t : kGrowing) {
    for (const std::string& as : {t + " AS " + name, t + " " + name}) {
      for (auto at = text.find(as); at != std::string::npos; at = text.find(as, at + 1)) {
        const std::size_t after = at + as.size();
        const bool word_ends = after == text.size() || !(std::isalnum(static_cast<unsigned char>(text[after])) != 0 || text[after] == '_');
        const bool word_starts = at == 0 || text[at - 1] == ' ';
        if (word_ends && word_starts) return t;
      }
    }
  }
  return name;
}

// One line of the plan of a statement a path ran, with the statement.
struct PlanLine {
  std::string text;
  std::string detail;
};

// Runs `path(db)` with the statements it runs traced (the triggers' own
// programs aside), then explains each distinct read. Answers every plan line.
template <class Path>
std::vector<PlanLine> plans_of(sql::Db& db, Path path) {
  std::vector<std::string> ran;
  db.trace_statements([&ran](std::string_view text) {
    if (std::find(ran.begin(), ran.end(), text) == ran.end()) ran.emplace_back(text);
  });
  path(db);
  db.trace_statements({});
  std::vector<PlanLine> lines;
  for (const auto& text : ran) {
    const std::string upper = [&] {
      std::string u = text;
      std::transform(u.begin(), u.end(), u.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      return u;
    }();
    // Only reads: a write's own plan is its WHERE, a statement that changes
    // nothing (BEGIN, PRAGMA) has none.
    if (upper.find("SELECT") == std::string::npos && upper.find("WHERE") == std::string::npos) continue;
    auto st = db.prepare("EXPLAIN QUERY PLAN " + text);
    REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().message), " in ", text);
    for (;;) {
      auto row = st->step();
      REQUIRE(row.ok());
      if (!*row) break;
      lines.push_back(PlanLine{text, st->column_text(3)});
    }
  }
  return lines;
}

// The plan lines of `path(db)` that read a growing table whole, each with its SQL.
template <class Path>
std::vector<std::string> whole_reads(sql::Db& db, Path path) {
  std::vector<std::string> bad;
  for (const auto& [text, detail] : plans_of(db, path)) {
    // A rowid range open at its top (`setl_id > ?` alone) reads from there
    // to the table's end: as whole a read as a SCAN when it starts at 0.
    if (detail.rfind("SEARCH ", 0) == 0 && detail.find("PRIMARY KEY (rowid>?)") != std::string::npos) {
      const std::string table = table_of(text, detail.substr(7, detail.find(' ', 7) - 7));
      if (kGrowing.count(table) != 0) bad.push_back(detail + "  <-  " + text);
      continue;
    }
    if (detail.rfind("SCAN ", 0) != 0) continue;
    const std::string rest = detail.substr(5);
    const std::string table = table_of(text, rest.substr(0, rest.find(' ')));
    if (kGrowing.count(table) == 0) continue;
    // A partial index holds the open rows only (parked items, admitted
    // stays): reading it whole costs what is open, not the years.
    const auto at = rest.find(" INDEX ");
    if (at != std::string::npos && partial_index(db, rest.substr(at + 7))) continue;
    bad.push_back(detail + "  <-  " + text);
  }
  return bad;
}

// Fails on the whole reads but those whose line holds one of `by_design`
// (reads a test pins, with its reason); every one is printed.
void require_no_whole_reads(const std::vector<std::string>& bad, const std::vector<std::string>& by_design = {}) {
  std::vector<std::string> others;
  for (const auto& b : bad) {
    MESSAGE(b);
    if (std::none_of(by_design.begin(), by_design.end(), [&](const std::string& t) { return b.find(t) != std::string::npos; }))
      others.push_back(b);
  }
  CHECK(others.empty());
}

struct Filled : test::LedgerFixture {
  Filled() : LedgerFixture("query-plans") {
    // Two days of settlements at two windows, a refund, an offline one, an
    // audit trail: enough for every path below to find rows.
    write([](sql::Db& db) -> sql::Status {
      for (int i = 0; i < 40; ++i) {
        const std::string id = "plan-" + std::to_string(i);
        Request q = test::sample_request(id, kAt + i * (kDay / 20));
        if (auto r = record_request(db, q); !r) return r.error();
        Settlement s = i % 5 == 0 ? test::sample_offline_settlement(id, 10'000 + i, q.created_at_ms)
                                  : test::sample_settlement(id, 10'000 + i, q.created_at_ms);
        s.window_id = i % 2 == 0 ? "W1" : "W2";
        if (auto r = record_settlement(db, s, test::sample_lines(10'000 + i)); !r) return r.error();
        AuditEntry e;
        e.at_ms = q.created_at_ms;
        e.operator_name = "C007";
        e.window = s.window_id;
        e.action = "settle.commit";
        e.detail = "settled";
        if (auto r = append_audit(db, e); !r) return r.error();
      }
      if (auto r = open_outage(db, OutageKind::line, "insurer unreachable", kAt + kDay / 2); !r) return r.error();
      return Ok{};
    });
  }
};

// The file's statistics as ANALYZE leaves them, with settlements' those of
// `rows` settlements over days of `per_day` each (the state index halves
// them), and none for the corrections (a table empty when it ran). A schema
// reload makes the planner take them.
void with_statistics(Filled& f, std::int64_t rows, std::int64_t per_day) {
  f.write([rows, per_day](sql::Db& db) -> sql::Status {
    if (auto r = db.exec("ANALYZE"); !r) return r;
    if (auto r = db.exec("DELETE FROM sqlite_stat1 WHERE tbl IN ('settlements', 'corrections')"); !r) return r;
    if (auto r = db.exec(fmt::format("INSERT INTO sqlite_stat1(tbl, idx, stat) VALUES "
                                     "('settlements', 'settlements_state', '{0} {1} 1'), "
                                     "('settlements', 'settlements_clearing', '{0} {2} {3}'), "
                                     "('settlements', 'settlements_created', '{0} 1'), "
                                     "('settlements', 'sqlite_autoindex_settlements_1', '{0} 1'), "
                                     "('settlements', 'sqlite_autoindex_settlements_2', '{0} 1')",
                                     rows, rows / 2, per_day, std::max<std::int64_t>(1, per_day / 2)));
        !r)
      return r;
    return db.exec("ANALYZE sqlite_schema");
  });
}

}  // namespace

TEST_CASE("a window's reads: its day's settlements, one settlement, the person's open reversals, the idempotency key") {
  Filled f;
  const auto bad = f.read([](sql::Db& db) -> sql::Result<std::vector<std::string>> {
    return whole_reads(db, [](sql::Db& d) {
      SettlementFilter day;
      day.from_ms = kAt;
      day.to_ms = kAt + kDay;
      day.window_id = "W1";
      REQUIRE(list_settlements(d, day).ok());
      day.window_id.reset();
      day.operator_id = "C007";
      day.state = SettlementState::settled;
      day.after_setl_id = 3;
      REQUIRE(list_settlements(d, day).ok());
      // The office's search of the day: by card, by receipt.
      SettlementFilter search;
      search.from_ms = kAt;
      search.to_ms = kAt + kDay;
      search.card_no = "110101199001011234";
      REQUIRE(list_settlements(d, search).ok());
      search.card_no.reset();
      search.receipt_no = "R-plan-7";
      REQUIRE(list_settlements(d, search).ok());
      REQUIRE(get_settlement(d, 2).ok());
      REQUIRE(list_events(d, Entity::settlement, "2").ok());
      REQUIRE(find_request(d, "plan-7").ok());
      REQUIRE(pending_reversals_for(d, "P0001").ok());
      REQUIRE(offline_outstanding(d).ok());
      REQUIRE(open_work(d).ok());
      REQUIRE(open_stay_of(d, "P0001", "110101199001011234").ok());
      REQUIRE(original_view(d, 2).ok());
    });
  });
  require_no_whole_reads(bad);
}

// The same reads again and again on one connection, as a window makes them:
// each statement is compiled once. One whose plan depends on a bound value
// (a partial index matched against `?`) is compiled again at every run.
TEST_CASE("a window's reads are compiled once, not again at every request") {
  Filled f;
  constexpr int kRounds = 4;
  const auto stats = f.read([](sql::Db& d) -> sql::Result<std::vector<sql::Db::CachedStats>> {
    for (int i = 0; i < kRounds; ++i) {
      SettlementFilter day;
      day.from_ms = kAt;
      day.to_ms = kAt + kDay;
      day.window_id = "W1";
      REQUIRE(list_settlements(d, day).ok());
      REQUIRE(get_settlement(d, 2 + i).ok());
      REQUIRE(find_request(d, "plan-" + std::to_string(i)).ok());
      REQUIRE(pending_reversals_for(d, i % 2 == 0 ? "P0001" : "P0002").ok());
      REQUIRE(offline_outstanding(d).ok());
      REQUIRE(open_work(d).ok());
      REQUIRE(open_stay_of(d, i % 2 == 0 ? "P0001" : "", "110101199001011234").ok());
      REQUIRE(original_view(d, 2 + i).ok());
    }
    return d.cached_stats();
  });
  int checked = 0;
  for (const auto& s : stats) {
    if (s.runs < kRounds) continue;
    ++checked;
    CHECK_MESSAGE(s.recompiles == 0, s.recompiles, " compilations in ", s.runs, " runs of: ", s.sql);
  }
  CHECK(checked >= 5);
}

// SQLite's planner follows the statistics when a file has them (ANALYZE, or
// PRAGMA optimize run by a tool): with five years' worth, an open rowid
// range (setl_id > ?, no sort needed) looks cheaper than the day's range of
// settlements_created, and reads every settlement since the first.
TEST_CASE("the day's settlements stay on the day's rows when the file has statistics of five years") {
  Filled f;
  with_statistics(f, 2'000'000, 1096);
  const auto bad = f.read([](sql::Db& db) -> sql::Result<std::vector<std::string>> {
    return whole_reads(db, [](sql::Db& d) {
      SettlementFilter day;
      day.from_ms = kAt;
      day.to_ms = kAt + kDay;
      REQUIRE(list_settlements(d, day).ok());
      day.after_setl_id = 3;
      day.window_id = "W1";
      REQUIRE(list_settlements(d, day).ok());
    });
  });
  require_no_whole_reads(bad);
}

TEST_CASE("a cashier's close-out: the shift's items, the close-outs listed") {
  Filled f;
  const auto bad = f.read([](sql::Db& db) -> sql::Result<std::vector<std::string>> {
    return whole_reads(db, [](sql::Db& d) {
      REQUIRE(unclosed_shift_items(d, "C007", "W1").ok());
      REQUIRE(shift_items_between(d, "C007", "W1", kAt, kAt + kDay).ok());
      CloseoutFilter mine;
      mine.operator_name = "C007";
      mine.window = "W1";
      REQUIRE(list_closeouts(d, mine).ok());
      CloseoutFilter day;
      day.from_ms = kAt;
      day.to_ms = kAt + kDay;
      REQUIRE(list_closeouts(d, day).ok());
    });
  });
  // Read from the window's previous close-out on, by design
  // (docs/closeout.md): the settlements and refunds after the ledger's last
  // ones when it was recorded (an id range open at its top), and the
  // approved corrections of the window's settlements, few by nature (each
  // decided by a second person), checked against the close-outs that hold
  // them. A day's close-out reads only that day's rows.
  require_no_whole_reads(bad, {"FROM settlements s WHERE s.setl_id > ?3 ", "FROM refunds r WHERE r.refund_id > ?3 ",
                              "FROM corrections c CROSS JOIN settlements s "});
}

// The plan lines of `path(db)` that scan table `t` through the alias it is
// given without AS ("FROM settlements s" plans as "SCAN s"), each with its SQL.
template <class Path>
std::vector<std::string> scans_of(sql::Db& db, const std::string& t, Path path) {
  std::vector<std::string> found;
  for (const auto& [text, detail] : plans_of(db, path)) {
    if (detail.rfind("SCAN ", 0) != 0) continue;
    const std::string alias = detail.substr(5, detail.find(' ', 5) - 5);
    if (alias == t || text.find(" " + t + " " + alias + " ") != std::string::npos) found.push_back(detail + "  <-  " + text);
  }
  return found;
}

// A file with statistics of a young ledger (ANALYZE run by a tool while the
// corrections table was still empty): the planner, which takes a table
// without statistics for a large one, would read every settlement to find
// the shift's approved corrections.
TEST_CASE("a cashier's close-out reads no settlement whole when the file has statistics of a young ledger") {
  Filled f;
  with_statistics(f, 20'000, 11);
  const auto scans = f.read([](sql::Db& db) -> sql::Result<std::vector<std::string>> {
    return scans_of(db, "settlements", [](sql::Db& d) {
      REQUIRE(unclosed_shift_items(d, "C007", "W1").ok());
      REQUIRE(shift_items_between(d, "C007", "W1", kAt, kAt + kDay).ok());
    });
  });
  for (const auto& s : scans) MESSAGE(s);
  CHECK(scans.empty());
}

TEST_CASE("the nightly reconciliation of one day") {
  Filled f;
  const auto bad = f.read([](sql::Db& db) -> sql::Result<std::vector<std::string>> {
    return whole_reads(db, [](sql::Db& d) {
      REQUIRE(recon_totals(d, "2026-11-22").ok());
      REQUIRE(recon_detail(d, "2026-11-22").ok());
      REQUIRE(recon_not_uploaded(d, "2026-11-22").ok());
      REQUIRE(recon_adjustments(d, "2026-11-22").ok());
      REQUIRE(clearing_totals(d, "2026-11-22").ok());
    });
  });
  require_no_whole_reads(bad);
}

// The chain walk of recon.run starts from the last reconciliation's
// checkpoint and looks for unchained rows above the tops it signed. The kinds
// without a top are still counted whole: their rows may meet their condition
// long after they were written. Those are pinned here by table, so a kind
// that loses its top, or a new kind without one, shows.
TEST_CASE("the nightly chain walk from the last reconciliation's checkpoint") {
  Filled f;
  const std::string key = f.dir.file("checkpoint.key");
  auto signer = chain::Signer::generate(key);
  REQUIRE(signer.ok());
  const auto cp = f.write([&](sql::Db& db) { return chain::write_checkpoint(db, *signer, "reconciliation", kAt + kDay); });
  REQUIRE(cp.has_value());
  f.write([](sql::Db& db) -> sql::Status {
    for (int i = 0; i < 5; ++i) {
      const std::string id = "night-" + std::to_string(i);
      Request q = test::sample_request(id, kAt + kDay + i);
      if (auto r = record_request(db, q); !r) return r.error();
      if (auto r = record_settlement(db, test::sample_settlement(id, 20'000 + i, q.created_at_ms),
                                     test::sample_lines(20'000 + i));
          !r)
        return r.error();
      if (auto r = answer_request(db, id, R"({"ok":true})", q.created_at_ms + 1); !r) return r;
    }
    return Ok{};
  });
  const std::int64_t from = cp->checkpoint_id;
  const auto bad = f.read([from](sql::Db& db) -> sql::Result<std::vector<std::string>> {
    return whole_reads(db, [from](sql::Db& d) {
      auto r = chain::verify(d, {.from_checkpoint = from});
      REQUIRE(r.ok());
      CHECK(r->ok());
      CHECK(r->counts.at("settlement") == 45);
    });
  });
  // Counted whole by design (docs/ledger-integrity.md, "The nightly
  // reconciliation"): a stay's lines and cancellations, a stay's area set
  // once, decisions on corrections and re-entered batches, outages' ends,
  // re-entered rows' results.
  require_no_whole_reads(bad, {"FROM stay_lines AS t", "FROM stays AS t", "FROM corrections AS t",
                              "FROM reentry_batches AS t", "FROM reentry_results AS t"});
}

TEST_CASE("the office's lists: audit pages, outages, parked items, corrections waiting") {
  Filled f;
  const auto bad = f.read([](sql::Db& db) -> sql::Result<std::vector<std::string>> {
    return whole_reads(db, [](sql::Db& d) {
      AuditQuery aq;
      aq.from_ms = kAt;
      aq.to_ms = kAt + kDay;
      REQUIRE(list_audit(d, aq).ok());
      aq.operator_name = "C007";
      aq.before_id = 30;
      REQUIRE(list_audit(d, aq).ok());
      OutageFilter of;
      of.from_ms = kAt;
      REQUIRE(list_outages(d, of).ok());
      const auto open = open_outages(d);
      REQUIRE(open.ok());
      for (const auto& o : *open) REQUIRE(outage_figures(d, o, kAt + kDay).ok());
      REQUIRE(list_parked(d).ok());
      REQUIRE(list_corrections(d, "recorded", 100).ok());
      REQUIRE(rejected_settlements(d).ok());
      REQUIRE(work_count(d).ok());
    });
  });
  require_no_whole_reads(bad);
}

TEST_CASE("the day's settlements searched by card and by receipt, within the period asked") {
  Filled f;
  SettlementFilter day;
  day.from_ms = kAt;
  day.to_ms = kAt + kDay;
  day.receipt_no = "R-plan-7";
  auto one = f.read([&](sql::Db& db) { return list_settlements(db, day); });
  REQUIRE(one.size() == 1);
  CHECK(one[0].receipt_no == "R-plan-7");
  day.receipt_no = "R-plan-39";  // the next day's: outside the period
  CHECK(f.read([&](sql::Db& db) { return list_settlements(db, day); }).empty());
  day.receipt_no.reset();
  day.card_no = "110101199001011234";
  CHECK(f.read([&](sql::Db& db) { return list_settlements(db, day); }).size() == 20);
  day.card_no = "E00000009";
  CHECK(f.read([&](sql::Db& db) { return list_settlements(db, day); }).empty());
}
