// A fast path for the largest replies of the link, 9303 red-list pages (up to
// 1000 entries): a single-pass scanner that reads the envelope and the page
// straight into insurer::RedList::Output, accepting only what the generic
// codecs (envelope.hpp, codecs.hpp) accept. Anything it is not sure of (an
// unknown or repeated key, an escape or non-ASCII byte in a string, a number
// with a fraction, an error infcode, any value the codec would refuse) makes it
// hand the body to the generic codecs, whose answer (value or error) is then
// the answer: results and error messages are the codecs' in every case.
#pragma once

#include "engine/result.hpp"
#include "protocol/insurer/codecs.hpp"
#include "protocol/insurer/envelope.hpp"

#include <string_view>

namespace settle::insurer {

// The envelope only (infcode, inf_refmsgid, times, err_msg), `output` left
// empty: what the gateway needs to classify a reply whose output is decoded
// later by decode_red_list_reply. Same acceptance as decode_response.
Result<Response> decode_response_head(std::string_view body, std::string_view sent_msgid);

// decode_reply<RedList>(body, sent_msgid), faster. `fast_path` (optional)
// tells whether the scanner answered without the generic codecs.
Result<RedList::Output> decode_red_list_reply(std::string_view body, std::string_view sent_msgid,
                                              bool* fast_path = nullptr);

}  // namespace settle::insurer
