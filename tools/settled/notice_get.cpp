// notice.get: the patient notices in force (docs/patient-notices.md) that
// apply to the line's state now, a state asked for, or a refusal's reason;
// as their texts or as a printable page.
#include "tools/settled/clock.hpp"
#include "tools/settled/notices.hpp"
#include "tools/settled/replies.hpp"
#include "tools/settled/service.hpp"

#include <fmt/format.h>

namespace settle::daemon {

awaitable<Reply> Service::notice_get(const cashier::NoticeGetParams& p) {
  if (p_.notices == nullptr) co_return fail(Reason::internal, "", "no patient notices are loaded");
  const NoticeBook& book = *p_.notices;
  // "current": offline exactly while the line takes no online work; a line
  // back and still sending its stored work (draining) is online again.
  const std::string state = p.state != "current"                         ? p.state
                            : network_.state() == NetworkState::offline ? "offline"
                                                                        : "online";
  std::vector<const Notice*> chosen;
  if (p.id) {
    const Notice* n = find_notice(book, *p.id);
    if (n == nullptr)
      co_return fail(Reason::not_found, "id", fmt::format("id: no notice \"{}\" in {}", *p.id, book.source));
    chosen.push_back(n);
  } else {
    chosen = applicable_notices(book, state, p.reason);
  }
  json::Json list = json::Json::array();
  for (const Notice* n : chosen) list.push_back(notice_json(*n));
  json::Json out{{"state", state},
                 {"line", network_state_name(network_.state())},
                 {"reason", p.reason ? json::Json(*p.reason) : json::Json(nullptr)},
                 {"source", book.source},
                 {"notices", std::move(list)}};
  if (p.format == "html") {
    NoticePage page;
    page.hospital_name = p_.config.institution.name;
    page.hospital_code = p_.config.institution.code;
    page.paper = p.paper;
    page.state = state;
    page.printed_at = iso_time(now_ms());
    out["paper"] = p.paper;
    out["content_type"] = "text/html; charset=utf-8";
    out["html"] = notices_html(chosen, page);
  }
  co_return Reply::ok(std::move(out));
}

}  // namespace settle::daemon
