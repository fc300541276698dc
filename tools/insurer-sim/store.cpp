// The simulator's SQLite schema (later columns added to older files at open)
// and its person rows. Every money column is integer fen with a CHECK that it
// is not negative where the rules forbid it, so a bug cannot store one.
#include "tools/insurer-sim/store.hpp"

#include <fmt/format.h>

namespace settle::sim {
namespace {

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS persons(
  id INTEGER PRIMARY KEY,
  psn_no TEXT NOT NULL,
  card_no TEXT NOT NULL,
  card_sn TEXT NOT NULL,
  certno TEXT NOT NULL,
  name TEXT NOT NULL,
  gend TEXT NOT NULL,
  brdy TEXT NOT NULL,
  insutype TEXT NOT NULL,
  psn_type TEXT NOT NULL,
  flags INTEGER NOT NULL,
  balance_fen INTEGER NOT NULL CHECK (balance_fen >= 0),
  deductible_used_fen INTEGER NOT NULL CHECK (deductible_used_fen >= 0),
  fund_paid_ytd_fen INTEGER NOT NULL CHECK (fund_paid_ytd_fen >= 0),
  version INTEGER NOT NULL,
  insuplc_admdvs TEXT NOT NULL DEFAULT '110105');
CREATE UNIQUE INDEX IF NOT EXISTS persons_psn_no ON persons(psn_no);
CREATE UNIQUE INDEX IF NOT EXISTS persons_card_no ON persons(card_no);
CREATE UNIQUE INDEX IF NOT EXISTS persons_certno ON persons(certno);
CREATE INDEX IF NOT EXISTS persons_version ON persons(version);
CREATE TABLE IF NOT EXISTS signs(
  sign_no TEXT PRIMARY KEY,
  fixmedins_code TEXT NOT NULL,
  opter TEXT NOT NULL,
  signed_in_ms INTEGER NOT NULL,
  signed_out_ms INTEGER);
CREATE TABLE IF NOT EXISTS visits(
  id INTEGER PRIMARY KEY,
  psn_no TEXT NOT NULL,
  insutype TEXT NOT NULL,
  visit INTEGER NOT NULL,
  med_type TEXT NOT NULL,
  ipt_otp_no TEXT NOT NULL,
  begntime TEXT NOT NULL,
  msgid TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'open',
  dept_code TEXT NOT NULL DEFAULT '',
  dept_name TEXT NOT NULL DEFAULT '',
  dise_codg TEXT NOT NULL DEFAULT '',
  dise_name TEXT NOT NULL DEFAULT '',
  endtime TEXT NOT NULL DEFAULT '',
  dscg_way TEXT NOT NULL DEFAULT '',
  line_changes INTEGER NOT NULL DEFAULT 0,
  figures_kept INTEGER NOT NULL DEFAULT 0,
  live_lines INTEGER NOT NULL DEFAULT 0,
  live_total_fen INTEGER NOT NULL DEFAULT 0,
  live_fulamt_fen INTEGER NOT NULL DEFAULT 0,
  live_preselfpay_fen INTEGER NOT NULL DEFAULT 0,
  insuplc_admdvs TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS lines(
  visit_id INTEGER NOT NULL,
  feedetl_sn TEXT NOT NULL,
  chrg_bchno TEXT NOT NULL,
  code TEXT NOT NULL,
  name TEXT NOT NULL,
  cls INTEGER NOT NULL,
  amount_fen INTEGER NOT NULL CHECK (amount_fen >= 0),
  selfpay_ppm INTEGER,
  detail TEXT NOT NULL,
  fulamt_fen INTEGER,
  preselfpay_fen INTEGER,
  setl_id INTEGER,
  undone_setl_id INTEGER,
  cancelled INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (visit_id, feedetl_sn));
CREATE INDEX IF NOT EXISTS lines_setl ON lines(setl_id);
CREATE INDEX IF NOT EXISTS lines_undone ON lines(undone_setl_id);
CREATE INDEX IF NOT EXISTS lines_live ON lines(visit_id, cancelled);
CREATE TABLE IF NOT EXISTS settlements(
  id INTEGER PRIMARY KEY,
  msgid TEXT NOT NULL,
  infno TEXT NOT NULL,
  fixmedins_code TEXT NOT NULL,
  medins_setl_id TEXT NOT NULL,
  psn_no TEXT NOT NULL,
  visit_id INTEGER,
  chrg_bchno TEXT NOT NULL,
  insutype TEXT NOT NULL,
  visit INTEGER NOT NULL,
  use_account INTEGER NOT NULL,
  origin TEXT NOT NULL,
  local_id TEXT NOT NULL,
  total INTEGER NOT NULL CHECK (total >= 0),
  fund INTEGER NOT NULL CHECK (fund >= 0),
  account INTEGER NOT NULL CHECK (account >= 0),
  cash INTEGER NOT NULL CHECK (cash >= 0),
  fulamt INTEGER NOT NULL,
  preselfpay INTEGER NOT NULL,
  inscp INTEGER NOT NULL,
  deductible_part INTEGER NOT NULL,
  balance_before INTEGER NOT NULL,
  deductible_used_before INTEGER NOT NULL,
  fund_paid_ytd_before INTEGER NOT NULL,
  flags_before INTEGER NOT NULL,
  lines_json TEXT NOT NULL,
  state TEXT NOT NULL,
  setl_time TEXT NOT NULL,
  clr_date TEXT NOT NULL,
  visit_line_changes INTEGER NOT NULL DEFAULT 0,
  insuplc_admdvs TEXT NOT NULL DEFAULT '',
  CHECK (fund + account + cash = total));
CREATE INDEX IF NOT EXISTS settlements_clr ON settlements(clr_date);
CREATE TABLE IF NOT EXISTS refunds(
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  msgid TEXT NOT NULL,
  infno TEXT NOT NULL,
  setl_id INTEGER NOT NULL,
  medins_refd_id TEXT NOT NULL,
  total INTEGER NOT NULL CHECK (total >= 0),
  fund INTEGER NOT NULL CHECK (fund >= 0),
  account INTEGER NOT NULL CHECK (account >= 0),
  cash INTEGER NOT NULL CHECK (cash >= 0),
  deductible_back INTEGER NOT NULL,
  lines_json TEXT NOT NULL,
  state TEXT NOT NULL,
  time TEXT NOT NULL,
  CHECK (fund + account + cash = total));
CREATE INDEX IF NOT EXISTS refunds_setl ON refunds(setl_id);
CREATE TABLE IF NOT EXISTS msgids(
  msgid TEXT PRIMARY KEY,
  infno TEXT NOT NULL,
  effect_kind TEXT NOT NULL,
  effect_id INTEGER NOT NULL,
  state TEXT NOT NULL,
  infcode INTEGER NOT NULL,
  err_msg TEXT NOT NULL,
  output TEXT NOT NULL,
  received_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS reversals(
  id INTEGER PRIMARY KEY,
  msgid TEXT NOT NULL,
  omsgid TEXT NOT NULL,
  oinfno TEXT NOT NULL,
  rslt TEXT NOT NULL,
  time TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS acct_log(
  id INTEGER PRIMARY KEY,
  psn_no TEXT NOT NULL,
  time TEXT NOT NULL,
  kind TEXT NOT NULL,
  ref_id TEXT NOT NULL,
  msgid TEXT NOT NULL,
  amount INTEGER NOT NULL,
  balance_after INTEGER NOT NULL CHECK (balance_after >= 0));
CREATE INDEX IF NOT EXISTS acct_log_psn ON acct_log(psn_no, id);
CREATE TABLE IF NOT EXISTS offline_uploads(
  fixmedins_code TEXT NOT NULL,
  local_id TEXT NOT NULL,
  result TEXT NOT NULL,
  PRIMARY KEY (fixmedins_code, local_id));
CREATE TABLE IF NOT EXISTS ec_codes(
  qrcode TEXT PRIMARY KEY,
  psn_no TEXT NOT NULL,
  acct_auth INTEGER NOT NULL,
  minted_ms INTEGER NOT NULL,
  token TEXT UNIQUE,
  expires_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS redlist_deleted(
  psn_no TEXT PRIMARY KEY,
  card_no TEXT NOT NULL,
  insutype TEXT NOT NULL,
  version INTEGER NOT NULL);
)sql";

// Columns added since the first schema, for files written before them
// (table, column, declaration); indexes on them come after.
struct AddedColumn {
  std::string_view table, column, decl;
};
constexpr AddedColumn kAddedColumns[] = {
    {"visits", "state", "TEXT NOT NULL DEFAULT 'open'"},
    {"visits", "dept_code", "TEXT NOT NULL DEFAULT ''"},
    {"visits", "dept_name", "TEXT NOT NULL DEFAULT ''"},
    {"visits", "dise_codg", "TEXT NOT NULL DEFAULT ''"},
    {"visits", "dise_name", "TEXT NOT NULL DEFAULT ''"},
    {"visits", "endtime", "TEXT NOT NULL DEFAULT ''"},
    {"visits", "dscg_way", "TEXT NOT NULL DEFAULT ''"},
    {"lines", "cancelled", "INTEGER NOT NULL DEFAULT 0"},
    {"visits", "line_changes", "INTEGER NOT NULL DEFAULT 0"},
    {"visits", "figures_kept", "INTEGER NOT NULL DEFAULT 0"},
    {"visits", "live_lines", "INTEGER NOT NULL DEFAULT 0"},
    {"visits", "live_total_fen", "INTEGER NOT NULL DEFAULT 0"},
    {"visits", "live_fulamt_fen", "INTEGER NOT NULL DEFAULT 0"},
    {"visits", "live_preselfpay_fen", "INTEGER NOT NULL DEFAULT 0"},
    {"lines", "fulamt_fen", "INTEGER"},
    {"lines", "preselfpay_fen", "INTEGER"},
    {"settlements", "visit_line_changes", "INTEGER NOT NULL DEFAULT 0"},
    {"persons", "insuplc_admdvs", "TEXT NOT NULL DEFAULT '110105'"},
    {"visits", "insuplc_admdvs", "TEXT NOT NULL DEFAULT ''"},
    {"settlements", "insuplc_admdvs", "TEXT NOT NULL DEFAULT ''"},
};
// An inpatient visit of an older file: settled if it holds an effective
// settlement, else admitted.
constexpr std::string_view kVisitStateBackfill =
    "UPDATE visits SET state = CASE WHEN EXISTS (SELECT 1 FROM settlements s WHERE s.visit_id = visits.id AND "
    "s.state = 'effective') THEN 'settled' ELSE 'admitted' END WHERE visit = 2 AND state = 'open'";
constexpr std::string_view kLateIndexes =
    "CREATE INDEX IF NOT EXISTS visits_psn ON visits(psn_no, visit, state);";

constexpr std::string_view kPersonColumns =
    "psn_no, card_no, card_sn, certno, name, gend, brdy, insutype, psn_type, flags, balance_fen, "
    "deductible_used_fen, fund_paid_ytd_fen, version, insuplc_admdvs";

PersonRow read_person(const sql::Statement& s) {
  PersonRow p;
  p.psn_no = s.column_text(0);
  p.card_no = s.column_text(1);
  p.card_sn = s.column_text(2);
  p.certno = s.column_text(3);
  p.name = s.column_text(4);
  p.gend = s.column_text(5);
  p.brdy = s.column_text(6);
  p.insutype = s.column_text(7);
  p.psn_type = s.column_text(8);
  p.flags = PersonFlags::from_bits(static_cast<std::uint8_t>(s.column_int64(9)));
  p.balance = Amount::fen(s.column_int64(10));
  p.deductible_used = Amount::fen(s.column_int64(11));
  p.fund_paid_ytd = Amount::fen(s.column_int64(12));
  p.version = s.column_int64(13);
  p.insuplc_admdvs = s.column_text(14);
  return p;
}

}  // namespace

// The person indexes, dropped during a bulk load and built once at its end
// (sorting once is far cheaper than growing four B-trees row by row).
std::string_view person_index_ddl() {
  return "CREATE UNIQUE INDEX IF NOT EXISTS persons_psn_no ON persons(psn_no);"
         "CREATE UNIQUE INDEX IF NOT EXISTS persons_card_no ON persons(card_no);"
         "CREATE UNIQUE INDEX IF NOT EXISTS persons_certno ON persons(certno);"
         "CREATE INDEX IF NOT EXISTS persons_version ON persons(version);";
}
std::string_view person_index_drop() {
  return "DROP INDEX IF EXISTS persons_psn_no; DROP INDEX IF EXISTS persons_card_no;"
         "DROP INDEX IF EXISTS persons_certno; DROP INDEX IF EXISTS persons_version;";
}

std::string psn_no_of(std::int64_t n) { return fmt::format("11{:014}", n); }

Result<Store> Store::open(const std::string& path, SyncMode sync) {
  auto db = sql::Db::open(path);
  if (!db) return db_error(db.error());
  if (auto s = db->exec("PRAGMA journal_mode=WAL"); !s) return db_error(s.error());
  if (auto s = db->exec(sync == SyncMode::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"); !s)
    return db_error(s.error());
  if (auto s = db->exec("PRAGMA foreign_keys=ON"); !s) return db_error(s.error());
  if (auto s = db->exec(kSchema); !s) return db_error(s.error());
  bool added_state = false;
  for (const AddedColumn& c : kAddedColumns) {
    auto n = db->query_int64(
        fmt::format("SELECT count(*) FROM pragma_table_info('{}') WHERE name = '{}'", c.table, c.column));
    if (!n) return db_error(n.error());
    if (n->value_or(0) != 0) continue;
    if (auto s = db->exec(fmt::format("ALTER TABLE {} ADD COLUMN {} {}", c.table, c.column, c.decl)); !s)
      return db_error(s.error());
    added_state = added_state || (c.table == "visits" && c.column == "state");
  }
  if (added_state)
    if (auto s = db->exec(kVisitStateBackfill); !s) return db_error(s.error());
  if (auto s = db->exec(kLateIndexes); !s) return db_error(s.error());
  return Store(std::move(*db));
}

Result<std::optional<PersonRow>> Store::person_where(std::string_view column, std::string_view value) {
  auto st = db_.cached(fmt::format("SELECT {} FROM persons WHERE {} = ?1", kPersonColumns, column));
  if (!st) return db_error(st.error());
  if (auto b = (*st)->bind(1, value); !b) return db_error(b.error());
  auto row = (*st)->step();
  if (!row) return db_error(row.error());
  if (!*row) return std::optional<PersonRow>{};
  std::optional<PersonRow> p = read_person(**st);
  (*st)->reset();
  return p;
}

Result<std::optional<PersonRow>> Store::person_by_psn_no(std::string_view v) { return person_where("psn_no", v); }
Result<std::optional<PersonRow>> Store::person_by_card_no(std::string_view v) { return person_where("card_no", v); }
Result<std::optional<PersonRow>> Store::person_by_certno(std::string_view v) { return person_where("certno", v); }

Result<std::int64_t> Store::next(std::string_view counter) {
  auto up = db_.cached("INSERT INTO meta(key, value) VALUES (?1, 1) "
                       "ON CONFLICT(key) DO UPDATE SET value = value + 1 RETURNING value");
  if (!up) return db_error(up.error());
  if (auto b = (*up)->bind(1, counter); !b) return db_error(b.error());
  auto row = (*up)->step();
  if (!row) return db_error(row.error());
  SETTLE_ASSERT(*row);
  const std::int64_t v = (*up)->column_int64(0);
  (*up)->reset();
  return v;
}

Result<std::int64_t> Store::current(std::string_view counter) {
  auto st = db_.cached("SELECT value FROM meta WHERE key = ?1");
  if (!st) return db_error(st.error());
  if (auto b = (*st)->bind(1, counter); !b) return db_error(b.error());
  auto row = (*st)->step();
  if (!row) return db_error(row.error());
  const std::int64_t v = *row ? (*st)->column_int64(0) : 0;
  (*st)->reset();
  return v;
}

Result<std::string> Store::insert_person(PersonRow p) {
  if (p.psn_no.empty()) {
    auto n = next("psn_seq");
    if (!n) return n.error();
    p.psn_no = psn_no_of(50'000'000 + *n);  // above any generated range
  }
  for (auto [col, val] : {std::pair{"card_no", &p.card_no}, std::pair{"certno", &p.certno}, std::pair{"psn_no", &p.psn_no}}) {
    auto existing = person_where(col, *val);
    if (!existing) return existing.error();
    if (*existing)
      return make_error(Reason::invalid_request, col, fmt::format("{} \"{}\" belongs to another person already", col, *val));
  }
  auto version = next("redlist_version");
  if (!version) return version.error();
  auto st = db_.cached(fmt::format(
      "INSERT INTO persons({}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)", kPersonColumns));
  if (!st) return db_error(st.error());
  if (auto b = (*st)->bind_all(p.psn_no, p.card_no, p.card_sn, p.certno, p.name, p.gend, p.brdy, p.insutype,
                               p.psn_type, static_cast<std::int64_t>(p.flags.bits()), p.balance.fen(),
                               p.deductible_used.fen(), p.fund_paid_ytd.fen(), *version, p.insuplc_admdvs);
      !b)
    return db_error(b.error());
  if (auto r = (*st)->run(); !r) return db_error(r.error());
  return p.psn_no;
}

Status Store::update_person_money(const PersonRow& p) {
  SETTLE_ASSERT(!p.balance.is_negative() && !p.deductible_used.is_negative() && !p.fund_paid_ytd.is_negative());
  auto version = next("redlist_version");
  if (!version) return version.error();
  auto st = db_.cached(
      "UPDATE persons SET balance_fen = ?2, deductible_used_fen = ?3, fund_paid_ytd_fen = ?4, flags = ?5, "
      "version = ?6 WHERE psn_no = ?1");
  if (!st) return db_error(st.error());
  if (auto b = (*st)->bind_all(p.psn_no, p.balance.fen(), p.deductible_used.fen(), p.fund_paid_ytd.fen(),
                               static_cast<std::int64_t>(p.flags.bits()), *version);
      !b)
    return db_error(b.error());
  if (auto r = (*st)->run(); !r) return db_error(r.error());
  if (db_.changes() != 1)
    return make_error(Reason::not_found, "psn_no", fmt::format("person \"{}\" does not exist", p.psn_no));
  return Ok{};
}

}  // namespace settle::sim
