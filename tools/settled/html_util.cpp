// The shared pieces of the printable documents (see html_util.hpp).
#include "tools/settled/html_util.hpp"

#include <fmt/format.h>

namespace settle::daemon::html {

using json::Json;

// ---- text -----------------------------------------------------------------------------

void escape_into(std::string& out, std::string_view s) {
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters other than tab and newline have no place on paper.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
}

std::string esc(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  escape_into(out, s);
  return out;
}

std::string text_of(const Json& obj, std::string_view key) {
  const Json* v = json::find(obj, key);
  if (v == nullptr || v->is_null()) return {};
  if (v->is_string()) return v->get<std::string>();
  if (json::is_raw_number(*v)) return std::string(json::raw_number_text(*v));
  if (v->is_number_integer()) return v->dump();
  return {};
}

std::string cell(std::string_view s) { return s.empty() ? std::string("—") : esc(s); }

std::string display_time(std::string_view t) {
  if (t.size() < 19 || t[10] != 'T') return std::string(t);
  std::string out(t.substr(0, 10));
  out += ' ';
  out += t.substr(11, 8);
  std::string_view rest = t.substr(19);
  if (!rest.empty() && rest.front() == '.') {
    std::size_t i = 1;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
    rest.remove_prefix(i);
  }
  if (!rest.empty() && rest != "+08:00") {
    out += ' ';
    out += rest;
  }
  return out;
}

std::string css_string(std::string_view s) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    const bool plain = u >= 0x80 || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                       c == ' ' || c == '-' || c == '_' || c == '.';
    if (plain) {
      out += c;
    } else {
      out += fmt::format("\\{:x} ", u);
    }
  }
  return out;
}

// ---- the figures ------------------------------------------------------------------------

Result<Split> read_split(const Json& obj, std::string_view total_key, std::string_view path) {
  Split s;
  auto total = json::get_amount(obj, total_key, path);
  if (!total) return total.error();
  auto fund = json::get_amount(obj, "fund", path);
  if (!fund) return fund.error();
  auto account = json::get_amount(obj, "account", path);
  if (!account) return account.error();
  auto cash = json::get_amount(obj, "cash", path);
  if (!cash) return cash.error();
  s = Split{*total, *fund, *account, *cash};
  if (s.fund + s.account + s.cash != s.total) {
    const std::string field = json::path_join(path, total_key);
    return make_error(Reason::invalid_amount, field,
                      fmt::format("{}: fund {} + account {} + cash {} is not the total {}", field,
                                  format_amount(s.fund), format_amount(s.account), format_amount(s.cash),
                                  format_amount(s.total)));
  }
  return s;
}

// ---- the document -----------------------------------------------------------------------

void fields_table(std::string& out, const std::vector<Field>& fields) {
  out += "<table class=\"info\">\n";
  for (std::size_t i = 0; i < fields.size(); i += 2) {
    out += "<tr>";
    for (std::size_t k = i; k < i + 2; ++k) {
      if (k < fields.size()) {
        out += fmt::format("<th>{}</th><td>{}</td>", fields[k].label, fields[k].value);
      } else {
        out += "<th></th><td></td>";
      }
    }
    out += "</tr>\n";
  }
  out += "</table>\n";
}

const std::string_view kBaseCss =
    "body { margin: 0; }\n"
    "h1 { font-size: 1.35em; text-align: center; margin: 0; }\n"
    "h2 { font-size: 1.3em; text-align: center; margin: 0.5mm 0 0; letter-spacing: 0.2em; }\n"
    ".org { text-align: center; font-size: 0.85em; margin: 0.5mm 0 2mm; }\n"
    "table { width: 100%; border-collapse: collapse; }\n"
    "tr { break-inside: avoid; }\n"
    ".info th { text-align: left; font-weight: normal; white-space: nowrap; padding: 0.3mm 1.5mm 0.3mm 0; "
    "vertical-align: top; width: 1%; }\n"
    ".info td { padding: 0.3mm 2mm 0.3mm 0; vertical-align: top; word-break: break-all; }\n"
    ".section { font-weight: bold; margin: 2mm 0 0.8mm; border-bottom: 0.3mm solid #000; }\n"
    ".grid th, .grid td { border: 0.2mm solid #000; padding: 0.5mm 1mm; }\n"
    ".grid thead th { font-weight: bold; background: #eee; }\n"
    ".grid td.name { word-break: break-all; }\n"
    ".num { text-align: right; white-space: nowrap; }\n"
    ".c { text-align: center; white-space: nowrap; }\n";

const std::string_view kFootCss =
    ".notes { margin: 0; padding-left: 4.5mm; }\n"
    ".notes li { margin: 0.3mm 0; }\n"
    ".foot { margin-top: 3mm; font-size: 0.9em; }\n"
    ".sign { margin-top: 4mm; display: flex; justify-content: space-between; }\n";

std::string document_head(const Page& page, std::string_view title, std::string_view page_label,
                          std::initializer_list<std::string_view> css) {
  const bool a4 = page.paper == "A4";
  std::string out;
  out += "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += fmt::format("<title>{}</title>\n", title);
  out += "<style>\n";
  out += fmt::format(
      "@page {{ size: {}; margin: {}; @bottom-center {{ content: \"{}　第 \" counter(page) \" 页／共 \" counter(pages) "
      "\" 页\"; font-size: 7pt; }} }}\n",
      page.paper, a4 ? "15mm 15mm 15mm 15mm" : "8mm 8mm 8mm 8mm", css_string(page_label));
  out += fmt::format(
      "html {{ font-family: \"Noto Sans CJK SC\", \"Source Han Sans SC\", \"WenQuanYi Zen Hei\", \"Microsoft YaHei\", "
      "\"PingFang SC\", \"SimSun\", sans-serif; font-size: {}; color: #000; background: #fff; }}\n",
      a4 ? "10.5pt" : "9pt");
  out += kBaseCss;
  for (const std::string_view c : css) out += c;
  out += "</style>\n</head>\n<body>\n";
  out += fmt::format("<h1>{}</h1>\n<h2>{}</h2>\n", esc(page.hospital_name), title);
  out += fmt::format("<div class=\"org\">定点医疗机构编码：{}</div>\n", cell(page.hospital_code));
  return out;
}

}  // namespace settle::daemon::html
