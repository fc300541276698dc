// The ledger file's identity and schema: the application_id that marks a file
// as this project's ledger, the ordered list of migrations (user_version N
// means migrations 1..N have run), and the checks that decide whether an
// existing file may be opened at all.
#pragma once

#include "offline/sqlite.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace settle::ledger {

// PRAGMA application_id of every ledger file: "SETL" in ASCII.
inline constexpr std::int32_t kApplicationId = 0x5345544C;

// The page size of a new ledger file. A commit writes one WAL frame per page
// it touches (a settlement touches several tables and indexes, each with a
// small row), so smaller pages mean fewer bytes to flush per commit; 2 KiB
// still holds a stored answer in its row. A file keeps the size it was made
// with: older ledgers stay at 4 KiB and work the same.
inline constexpr int kLedgerPageSize = 2048;

// One step of the schema: migration k takes user_version k-1 to k. Shipped
// migrations are never edited; a change is a new migration at the end.
struct Migration {
  int to_version;
  std::string_view summary;
  std::string_view sql;
  // Run after `sql` in the same transaction (a back-fill SQL cannot say).
  sql::Status (*then)(sql::Db&) = nullptr;
  // Run with foreign keys off (a table others name is rebuilt); they are
  // switched on again after the migration's transaction.
  bool foreign_keys_off = false;
};

// The settlements' transition trigger (CREATE TRIGGER settlements_transition),
// generated from the engine's table of moves (engine/settlement_state.hpp):
// the ledger refuses exactly the moves the engine does not make.
std::string settlement_transition_trigger_sql();

// All migrations, in order; the last one's to_version is the current schema.
std::span<const Migration> migrations() noexcept;
int current_schema_version() noexcept;

// Runs the migrations of `list` (the built-in ones by default; tests give
// their own) from `from_version` up to the list's last version on a
// read-write connection, each in its own IMMEDIATE transaction that also
// sets user_version (and, for the first, application_id), so a crash or a
// failing migration leaves the file at one whole version.
sql::Status migrate(sql::Db& db, int from_version, std::span<const Migration> list = migrations());

}  // namespace settle::ledger
