// settlectl notice show: notice.get over the socket; the texts for a person
// at a window (Chinese, the English beside it), or the page to print.
#include "tools/settlectl/notice_cmds.hpp"

#include "tools/common/exit_codes.hpp"
#include "tools/settlectl/format.hpp"
#include "tools/settlectl/session.hpp"

#include <fmt/format.h>

#include <fstream>
#include <ostream>

namespace settle::tools {

using json::Json;

int run_notice(const ClientOptions& o, const NoticeCommand& c, std::ostream& out, std::ostream& err) {
  const auto done = [&](const Failure& f) { return report_failure(f, o.json, out, err); };
  Session s(o);
  if (auto f = s.open(true)) return done(*f);
  Json params = Json::object();
  if (!c.state.empty()) params["state"] = c.state;
  if (!c.reason.empty()) params["reason"] = c.reason;
  if (!c.id.empty()) params["id"] = c.id;
  if (!c.html_file.empty()) {
    params["format"] = "html";
    params["paper"] = c.paper;
  }
  auto a = s.call("notice.get", params);
  if (!a) return done(a.error());
  const Json& r = a.value();
  if (!c.html_file.empty()) {
    const std::string html = str(r, "html");
    if (c.html_file == "-") {
      out << html;
      return 0;
    }
    std::ofstream f(c.html_file, std::ios::binary);
    f << html;
    if (!f)
      return done(Failure{exit_code::local, fmt::format("cannot write {}", c.html_file), "LOCAL_FILE", "--html"});
    if (o.json)
      out << dump_exact(Json{{"file", c.html_file}, {"state", r["state"]}, {"notices", r["notices"].size()}}) << "\n";
    else
      out << fmt::format("{} patient notices ({}) written to {}\n", r["notices"].size(), str(r, "state"),
                         c.html_file);
    return 0;
  }
  if (o.json) {
    out << dump_exact(r) << "\n";
    return 0;
  }
  out << fmt::format("patient notices (患者告知) for the line {}{}: {} from {}\n", str(r, "state"),
                     r["reason"].is_string() ? fmt::format(", reason {}", str(r, "reason")) : std::string(),
                     r["notices"].size(), str(r, "source"));
  for (const auto& n : r["notices"]) {
    out << fmt::format("\n[{}] {}\n", str(n, "id"), str(n, "title"));
    if (n["title_en"].is_string()) out << "    " << str(n, "title_en") << "\n";
    out << str(n, "body") << "\n";
    if (n["body_en"].is_string()) out << str(n, "body_en") << "\n";
  }
  return 0;
}

}  // namespace settle::tools
