// The patient notices (患者告知, docs/patient-notices.md): the office's TOML
// file of texts read and checked (or the texts built into settled), which of
// them apply to a line state or a refusal, and their printable HTML page.
#pragma once

#include "engine/result.hpp"
#include "protocol/json.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace settle::daemon {

struct Notice {
  std::string id;
  std::string title;
  std::string title_en;  // "" when none
  std::string body;
  std::string body_en;                // "" when none
  std::vector<std::string> when;      // offline, online, always, or error reasons (OFFLINE_REFUND_FORBIDDEN)
  std::vector<std::string> audience;  // screen, slip, poster; empty: every one
};

struct NoticeBook {
  std::string source;  // the file read, or the built-in texts' name
  std::vector<Notice> notices;
};

// The name the built-in texts go by in answers and errors.
inline constexpr std::string_view builtin_notices_source = "built-in (docs/examples/notices.toml)";

// Parses and checks a notices file. Errors are INVALID_CONFIG naming the
// file, line, notice and field: "<source>:<line>: notice[2] \"fund\".when: ...".
Result<NoticeBook> parse_notices(std::string_view text, std::string_view source);
// The file at `path`; an empty path: the built-in texts.
Result<NoticeBook> load_notices(const std::string& path);

// The notices that apply, in the file's order: to a line state ("offline" or
// "online": those whose `when` names it or "always"), or, given `reason`, to
// a refusal with that error reason.
std::vector<const Notice*> applicable_notices(const NoticeBook& book, std::string_view state,
                                              const std::optional<std::string>& reason);
const Notice* find_notice(const NoticeBook& book, std::string_view id);

// One notice as the API answers it: {id, title, title_en, body, body_en, when, audience}.
json::Json notice_json(const Notice& n);

struct NoticePage {
  std::string hospital_name;
  std::string hospital_code;
  std::string paper = "A4";  // A4 or A5
  std::string state;         // offline or online: named in the heading
  std::string printed_at;    // ISO 8601 local time
};

// The notices as one printable HTML document (every text escaped).
std::string notices_html(const std::vector<const Notice*>& notices, const NoticePage& page);

}  // namespace settle::daemon
