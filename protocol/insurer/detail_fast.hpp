// Fast paths for 3202 detail pages (up to 1000 rows, read by the thousand in a
// reconciliation with differences): the page decoder into
// DetailReconcile::Output, and the page's JSON text written without a DOM.
#pragma once

#include "engine/result.hpp"
#include "protocol/insurer/codecs.hpp"

#include <span>
#include <string>
#include <string_view>

namespace settle::insurer {

// decode_reply<DetailReconcile>(body, sent_msgid), faster: a single-pass
// scanner (protocol/insurer/scan.hpp) that accepts only what the codec
// accepts (every row's ids, lengths, time, amounts, flag, parts adding up;
// the page's numbers; no more rows than page_size). Anything it is not sure
// of (an unknown or repeated key, an escape or non-ASCII byte in a string, a
// number given for an amount, a value the codec would refuse) makes it hand
// the body to the generic codecs, whose answer (value or error naming the
// field) is then the answer. `fast_path` (optional) tells which one answered.
Result<DetailReconcile::Output> decode_detail_reply(std::string_view body, std::string_view sent_msgid,
                                                    bool* fast_path = nullptr);

// The text of DetailReconcile::Output{page_num, page_size, total, rows}.encode()
// as Json::dump() writes it (the same bytes), appended to `out` without
// building the document.
void append_detail_output(std::string& out, std::int64_t page_num, std::int64_t page_size, std::int64_t total,
                          std::span<const DetailReconcile::Row> rows);
// Its two parts, for rows written once and cut into pages later: one row's
// object, and the page around rows already written (`rows_text`: the rows'
// objects joined by ',').
void append_detail_row(std::string& out, const DetailReconcile::Row& r);
void append_detail_page(std::string& out, std::int64_t page_num, std::int64_t page_size, std::int64_t total,
                        std::string_view rows_text);

}  // namespace settle::insurer
