// What the printable HTML documents of the daemon (the patient's settlement
// sheet, the cashier's close-out) have in common: escaping of every text
// that comes from outside, reading a field as text, times for people, the
// figures of a split read exactly and checked to add up, and the document's
// head (the @page rule with its page-footer, the fonts, the shared CSS).
// Part of the settle_sheet library; the reconciliation and drill reports
// (tools/reconcile, tools/drill) print in the same style with it.
#pragma once

#include "engine/money.hpp"
#include "engine/result.hpp"
#include "protocol/json.hpp"

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace settle::daemon::html {

// ---- text -----------------------------------------------------------------------------

// `s` as HTML text: & < > " ' as entities; control characters other than tab
// and newline as a space.
void escape_into(std::string& out, std::string_view s);
std::string esc(std::string_view s);

// A scalar field as text: a string as is, an integer or raw number printed;
// missing, null, or anything else: "".
std::string text_of(const json::Json& obj, std::string_view key);

// A value for a cell: the text escaped, or a dash when there is none.
std::string cell(std::string_view s);

// "2026-11-22T10:30:45+08:00" -> "2026-11-22 10:30:45": the daemon's times
// are China Standard Time; another offset is kept. Anything else as given.
std::string display_time(std::string_view t);

// Text inside a CSS string: ASCII other than letters, digits and a few
// harmless marks as hex escapes (so no quote, backslash or "</style>" can
// end it); UTF-8 as it is.
std::string css_string(std::string_view s);

// ---- the figures ------------------------------------------------------------------------

struct Split {
  Amount total, fund, account, cash;
};

// total (under `total_key`), fund, account and cash of `obj`, read exactly;
// INVALID_AMOUNT naming the field when one is unreadable, or naming
// <path>.<total_key> when fund + account + cash is not the total.
Result<Split> read_split(const json::Json& obj, std::string_view total_key, std::string_view path);

// ---- the document -----------------------------------------------------------------------

struct Field {
  std::string label;
  std::string value;  // already escaped
};

// Label/value pairs, two to a row (class "info").
void fields_table(std::string& out, const std::vector<Field>& fields);

// The CSS every document has after its @page and html rules (body, titles,
// the info and grid tables, numbers), and the one it ends with (notes, the
// foot, the signature line).
extern const std::string_view kBaseCss;
extern const std::string_view kFootCss;

struct Page {
  std::string_view paper;          // "A5" or "A4" (checked by the caller)
  std::string_view hospital_name;  // escaped here
  std::string_view hospital_code;  // escaped here
};

// The document up to and including the heading: doctype, <meta
// charset="utf-8">, lang zh-CN, <title>, the style sheet (@page of the paper
// with margins, `page_label` and 第 N 页／共 M 页 at the foot of every page; the
// fonts; kBaseCss; then `css` in order), <body>, the hospital's name, `title`
// and the hospital's code. `title` is HTML (not escaped); `page_label` is
// plain text.
std::string document_head(const Page& page, std::string_view title, std::string_view page_label,
                          std::initializer_list<std::string_view> css);

}  // namespace settle::daemon::html
