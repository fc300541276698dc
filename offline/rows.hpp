// Reading rows with a cached statement: every row of a query mapped to a
// value (select_all), or at most one (select_one), and the operations' own
// refusals (not_found, invalid_state), and the columns' small conversions.
// The statement is reset however the read ends, so that it holds no read
// transaction open.
#pragma once

#include "offline/sqlite.hpp"

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace settle::ledger {

// The ledger operations' own refusals: a row that does not exist, a row
// whose state does not allow the operation.
inline sql::DbError not_found(std::string_view what) {
  return sql::DbError{sql::Errc::not_found, 0, std::string(what)};
}
inline sql::DbError invalid_state(std::string_view what) {
  return sql::DbError{sql::Errc::invalid_state, 0, std::string(what)};
}

// An empty text as no value (a NULL column).
inline std::optional<std::string> opt(const std::string& s) {
  return s.empty() ? std::nullopt : std::optional<std::string>(s);
}

// A column's names of an enum's values: the name of a value ("?" for one
// the table lacks), the value of a name.
template <class E, std::size_t N>
std::string_view name_in(const std::array<std::pair<E, std::string_view>, N>& table, E e) noexcept {
  for (const auto& [k, n] : table)
    if (k == e) return n;
  return "?";
}
template <class E, std::size_t N>
std::optional<E> parse_in(const std::array<std::pair<E, std::string_view>, N>& table, std::string_view s) noexcept {
  for (const auto& [k, n] : table)
    if (n == s) return k;
  return std::nullopt;
}

template <class Row, class Map, class... Args>
sql::Result<std::vector<Row>> select_all(sql::Db& db, const std::string& text, Map map, const Args&... args) {
  auto st = db.cached(text);
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(args...));
  std::vector<Row> out;
  for (;;) {
    auto more = (*st)->step();
    if (!more) {
      (*st)->reset();
      return more.error();
    }
    if (!*more) break;
    out.push_back(map(**st));
  }
  (*st)->reset();
  return out;
}

template <class Row, class Map, class... Args>
sql::Result<std::optional<Row>> select_one(sql::Db& db, const std::string& text, Map map, const Args&... args) {
  auto rows = select_all<Row>(db, text, map, args...);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<Row>{};
  return std::optional<Row>(std::move(rows->front()));
}

}  // namespace settle::ledger
