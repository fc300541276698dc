// A real ledger file in a test folder of its own, with the write/read/shell
// helpers the ledger-operation tests share (REQUIREs each job's success).
#pragma once

#include "offline/ledger.hpp"
#include "test_dir.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>

namespace settle::test {

struct LedgerFixture {
  TestDir dir;
  std::unique_ptr<ledger::Ledger> ledger;
  explicit LedgerFixture(const char* name) : dir{name} {
    auto l = ledger::Ledger::open(dir.file("ledger.db"));
    REQUIRE(l.ok());
    ledger = std::move(l).value();
  }
  // Runs `f(db)` as a write job; its result's value.
  template <class F>
  auto write(F f) {
    auto r = ledger->write_wait(std::move(f));
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    return std::move(r).value();
  }
  // Runs `f(db)` on a read connection; its result's value.
  template <class F>
  auto read(F f) {
    auto r = ledger->read(std::move(f));
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    return std::move(r).value();
  }
  // Raw SQL as a write job (what someone with the sqlite3 shell could do).
  sql::Status shell(const std::string& text) {
    return ledger->write_wait([text](sql::Db& db) { return db.exec(text); });
  }
};

}  // namespace settle::test
