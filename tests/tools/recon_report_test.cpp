// The reconcile program's text report and exit status for recon.run answers
// (fixtures/recon-not-balanced.json, a real run's): the ledger chain line,
// intact or the first problem, and the status a broken chain gets.
#include "tools/common/exit_codes.hpp"
#include "tools/reconcile/report.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

using settle::json::Json;

namespace {

Json recon_fixture() {
  std::ifstream in(std::filesystem::path(SETTLE_SOURCE_DIR) / "tests/tools/fixtures/recon-not-balanced.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return Json::parse(ss.str());
}

// The same answer with the walk broken as a tampered settlement line breaks it.
Json broken(Json r) {
  r["ledger_chain"]["intact"] = false;
  r["ledger_chain"]["problems"] = Json::array(
      {"entry 118: settlement_line 3:1 in settlement_lines no longer has the content it was recorded with (edited)",
       "audit 20 in audit has no chain entry (inserted past the chain)"});
  return r;
}

}  // namespace

TEST_CASE("reconcile report: an intact chain is one line, the status is the day's balance") {
  Json r = recon_fixture();
  REQUIRE(r["ledger_chain"]["intact"] == true);
  const std::string text = settle::tools::recon_text(r);
  CHECK_MESSAGE(text.find("Ledger chain: intact (2 entries walked from entry 191, head 192; 6 checkpoints, 6 signed)") !=
                    std::string::npos,
                text);
  CHECK(text.find("BROKEN") == std::string::npos);
  CHECK(settle::tools::recon_exit_status(r) == settle::exit_code::not_right);
  r["balanced"] = true;
  CHECK(settle::tools::recon_exit_status(r) == settle::exit_code::ok);
  // An answer without a walk (a daemon without the chain): no line, the balance decides.
  r.erase("ledger_chain");
  CHECK(settle::tools::recon_text(r).find("Ledger chain") == std::string::npos);
  CHECK(settle::tools::recon_exit_status(r) == settle::exit_code::ok);
}

TEST_CASE("reconcile report: a broken chain names its first problem and outranks the balance") {
  Json r = broken(recon_fixture());
  const std::string text = settle::tools::recon_text(r);
  CHECK_MESSAGE(text.find("Ledger chain: BROKEN, the first problem of 2: entry 118: settlement_line 3:1 in "
                          "settlement_lines no longer has the content it was recorded with (edited)") != std::string::npos,
                text);
  CHECK(text.find("audit 20") == std::string::npos);
  CHECK(settle::exit_code::chain_broken != settle::exit_code::not_right);
  CHECK(settle::tools::recon_exit_status(r) == settle::exit_code::chain_broken);
  r["balanced"] = true;  // a balanced day with a broken chain is still not green
  CHECK(settle::tools::recon_exit_status(r) == settle::exit_code::chain_broken);
  r["ledger_chain"]["problems"] = Json::array();
  CHECK(settle::tools::recon_text(r).find("Ledger chain: BROKEN, the first problem of 0: no problem named") !=
        std::string::npos);
}
