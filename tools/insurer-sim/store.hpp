// The simulator's durable state: one SQLite file (through offline/sqlite.hpp)
// holding persons and their accounts, sign-ins, visits and lines,
// settlements, refunds, reversals, processed msgids and the account log.
#pragma once

#include "engine/money.hpp"
#include "engine/result.hpp"
#include "engine/split.hpp"
#include "offline/sqlite.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace settle::sim {

enum class SyncMode : std::uint8_t { full, normal };

// The insured area (参保地医保区划) of a person added without one, and of the
// persons of a file written before persons had an area.
inline constexpr std::string_view default_area = "110105";

// One insured person as the insurer keeps it.
struct PersonRow {
  std::string psn_no;
  std::string card_no;   // 9 characters
  std::string card_sn;   // 32 hex digits
  std::string certno;    // 18-character ID number
  std::string name;
  std::string gend;      // "1" / "2"
  std::string brdy;      // "yyyy-MM-dd"
  std::string insutype;  // "310" / "390"
  std::string psn_type;  // "11" employee, "1501" resident
  PersonFlags flags;
  Amount balance;
  Amount deductible_used;
  Amount fund_paid_ytd;
  std::int64_t version = 0;
  std::string insuplc_admdvs = std::string(default_area);  // 6 digits
};

// Converts a wrapper error into the engine's error (STORAGE_FAILED etc.).
inline Error db_error(const sql::DbError& e) { return e.to_error(); }

class Store {
 public:
  // Opens (creating if needed) the file, sets WAL and the sync mode, and
  // creates the schema.
  static Result<Store> open(const std::string& path, SyncMode sync = SyncMode::full);

  sql::Db& db() { return db_; }

  // Persons.
  Result<std::optional<PersonRow>> person_by_psn_no(std::string_view psn_no);
  Result<std::optional<PersonRow>> person_by_card_no(std::string_view card_no);
  Result<std::optional<PersonRow>> person_by_certno(std::string_view certno);
  // Inserts a person (psn_no allocated when empty). UNIQUE clashes on
  // card_no/certno/psn_no are INVALID_REQUEST naming the field.
  Result<std::string> insert_person(PersonRow p);
  // Writes balance, accumulators and flags back and moves the red-list version.
  Status update_person_money(const PersonRow& p);

  // A monotonically increasing counter kept in table meta (inside the
  // caller's transaction).
  Result<std::int64_t> next(std::string_view counter);
  Result<std::int64_t> current(std::string_view counter);

 private:
  explicit Store(sql::Db db) : db_(std::move(db)) {}
  Result<std::optional<PersonRow>> person_where(std::string_view column, std::string_view value);
  sql::Db db_;
};

// DDL that creates / drops the person indexes (bulk generation).
std::string_view person_index_ddl();
std::string_view person_index_drop();

// The psn_no of the n-th person (fixed width, digits).
std::string psn_no_of(std::int64_t n);

}  // namespace settle::sim
