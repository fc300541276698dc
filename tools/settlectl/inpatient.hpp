// settlectl inpatient, the part without a daemon: each command's params built
// from its options and lines file (bad input named before anything is sent),
// its result as text for people, and the pager that follows next_cursor.
#pragma once

#include "engine/result.hpp"
#include "protocol/json.hpp"
#include "tools/settlectl/session.hpp"

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace settle::tools {

struct InpatientCommand {
  // admit, add-lines, cancel-lines, preview, discharge, undo-discharge, undo-admit, get, list
  std::string action;
  std::string request_id;
  std::string adm_id;
  std::string dept, dept_name, diagnosis, diagnosis_name, admit_time;  // admit (dept: list's filter too)
  std::string lines_file;                                               // add-lines; "-" = stdin
  std::vector<std::string> feedetl_sn;                                  // cancel-lines
  bool no_account = false;                                              // preview, discharge
  std::string discharge_time;                                           // discharge
  std::string cursor;                                                   // get
  std::optional<std::int64_t> limit;                                    // get: lines per page (the daemon's default: 100)
  bool all = false;                                                     // get: follow next_cursor to the end
  std::string state, from, to;                                          // list
};

// The method an action calls ("add-lines" -> "inpatient.add_lines"); "" for
// an unknown action.
std::string_view inpatient_method(std::string_view action);
// Whether the action starts at the card (admit, discharge, the two undos).
bool inpatient_needs_card(std::string_view action);
// Whether the PIN is verified first: discharge with the account and --pin-stdin
// (as `commit` does).
bool inpatient_wants_pin(const InpatientCommand& c, bool pin_stdin);

// A lines document: `[...]` or `{"lines": [...]}`, each line {feedetl_sn,
// code, name, class, amount, selfpay_ratio?}, 1 to 500 lines, feedetl_sn
// unique. Returns the array to send: amounts as two-decimal strings, ratios
// as decimal strings, feedetl_sn as text (an integer is taken as its digits).
// Errors are INVALID_REQUEST / INVALID_AMOUNT / LIMIT_EXCEEDED whose message
// starts with `source` and names the line's field ("lines[2].class").
Result<json::Json> parse_inpatient_lines(std::string_view text, std::string_view source);
// The same from a file, or from `in` for "-".
Result<json::Json> read_inpatient_lines(const std::string& path, std::istream& in);

// The params of the action's call (the first page's for get and list),
// every option checked by the daemon's rules. `lines` is add-lines' array
// from parse_inpatient_lines. Errors name the option ("--adm-id: ...").
Result<json::Json> inpatient_params(const InpatientCommand& c, const json::Json& lines = json::Json());

// One page: the daemon's result for these params, or why not.
using PageFetch = std::function<Answer(const json::Json& params)>;
// The array member of a page that holds its items: `items_key` when given,
// else "lines" or "stays" or the page's only array member other than
// "settlements" ("" when there is none).
std::string page_items_key(const json::Json& page, std::string_view items_key = "");
// Calls fetch(params), then again with `cursor` = the last page's next_cursor
// until a page has none. The answer is the first page with every page's items
// appended under its items key and next_cursor null. A page without the items
// array, a cursor given twice, or more than max_pages pages is a Failure
// (status 1) naming the page; a fetch's Failure is passed on as it is.
Answer follow_pages(json::Json params, const PageFetch& fetch, std::string_view items_key = "",
                    std::size_t max_pages = 100'000);

// Text for people.
std::string stay_text(const json::Json& stay);          // a stay: label/value lines, then its settlements
std::string stay_lines_table(const json::Json& lines);  // inpatient.get's lines
std::string stays_table(const json::Json& stays);       // inpatient.list
// The whole human output of an action's result (what run_inpatient prints
// without --json).
std::string inpatient_text(std::string_view action, const json::Json& result);

}  // namespace settle::tools
