// Reading the patient notices' file with errors that name file, line, notice
// and field; choosing the notices for a line state or a refusal; the printable
// page, built with the settlement sheet's HTML helpers.
#include "tools/settled/notices.hpp"

#include "protocol/toml_reader.hpp"
#include "tools/settled/html_util.hpp"
#include "tools/settled/notices_builtin.hpp"  // generated from docs/examples/notices.toml

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace settle::daemon {
namespace {

constexpr std::size_t kMaxNotices = 100;
constexpr std::size_t kMaxIdLen = 40;
constexpr std::size_t kMaxTitle = 200;
constexpr std::size_t kMaxBody = 4000;

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLen) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\n' && c != '\t') || u == 0x7F;
  });
}

// TOML's multi-line strings keep the newline before the closing quotes.
std::string trimmed(std::string s) {
  const auto first = s.find_first_not_of(" \n\t");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \n\t");
  return s.substr(first, last - first + 1);
}

struct NoticeReader {
  const TomlReader& rd;
  const toml::table& t;
  std::string where;  // notice[2] "fund-estimate"

  std::string key(std::string_view field) const { return fmt::format("{}.{}", where, field); }

  Result<std::string> text(std::string_view field, bool required, std::size_t max) const {
    auto v = rd.opt_string(t, field, key(field));
    if (!v) return v.error();
    if (!v->has_value()) {
      if (required) return rd.error_at(&t, key(field), "required (a quoted string)");
      return std::string();
    }
    std::string s = trimmed(**v);
    const toml::node* n = t.get(field);
    if (required && s.empty()) return rd.error_at(n, key(field), "must not be empty");
    if (s.size() > max) return rd.error_at(n, key(field), fmt::format("longer than {} bytes", max));
    if (has_control(s)) return rd.error_at(n, key(field), "contains a control character");
    return s;
  }

  // A list of words, each checked by `ok` (`what` says what is allowed).
  Result<std::vector<std::string>> words(std::string_view field, bool required,
                                         bool (*ok)(std::string_view), std::string_view what) const {
    const toml::node* n = t.get(field);
    std::vector<std::string> out;
    if (n == nullptr) {
      if (required) return rd.error_at(&t, key(field), fmt::format("required: a list of {}", what));
      return out;
    }
    const toml::array* a = n->as_array();
    if (a == nullptr) return rd.error_at(n, key(field), fmt::format("expected a list of {}, e.g. [\"offline\"]", what));
    if (required && a->empty()) return rd.error_at(n, key(field), fmt::format("must name at least one of {}", what));
    for (const toml::node& e : *a) {
      const auto* s = e.as_string();
      if (s == nullptr) return rd.error_at(n, key(field), fmt::format("expected quoted words: {}", what));
      if (!ok(s->get())) return rd.error_at(n, key(field), fmt::format("\"{}\" is not one of {}", s->get(), what));
      if (std::find(out.begin(), out.end(), s->get()) != out.end())
        return rd.error_at(n, key(field), fmt::format("\"{}\" is named twice", s->get()));
      out.push_back(s->get());
    }
    return out;
  }
};

bool when_word(std::string_view w) {
  if (w == "offline" || w == "online" || w == "always") return true;
  return reason_from_name(w).has_value();
}

bool audience_word(std::string_view w) { return w == "screen" || w == "slip" || w == "poster"; }

constexpr std::string_view kWhenWords =
    "offline, online, always, or an error reason of the cashier API such as OFFLINE_REFUND_FORBIDDEN";
constexpr std::string_view kAudienceWords = "screen, slip, poster";

// Paragraphs (split at blank lines) with their line breaks.
void paragraphs(std::string& out, std::string_view text, std::string_view cls) {
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find("\n\n", start);
    if (end == std::string_view::npos) end = text.size();
    const std::string para = trimmed(std::string(text.substr(start, end - start)));
    if (!para.empty()) {
      out += fmt::format("<p class=\"{}\">", cls);
      std::size_t ls = 0;
      while (true) {
        const std::size_t le = para.find('\n', ls);
        html::escape_into(out, std::string_view(para).substr(ls, le == std::string::npos ? std::string::npos : le - ls));
        if (le == std::string::npos) break;
        out += "<br>";
        ls = le + 1;
      }
      out += "</p>\n";
    }
    start = end + 2;
  }
}

constexpr std::string_view kNoticeCss =
    ".state { text-align: center; margin: 1mm 0 3mm; font-size: 0.9em; }\n"
    ".notice { border: 0.3mm solid #000; padding: 2mm 3mm; margin: 0 0 3mm; break-inside: avoid; }\n"
    ".notice h3 { margin: 0 0 0.5mm; font-size: 1.15em; }\n"
    ".notice .title-en { font-size: 0.85em; margin: 0 0 1.5mm; }\n"
    ".notice p { margin: 0 0 1.2mm; line-height: 1.5; }\n"
    ".notice p.en { font-size: 0.85em; color: #222; }\n";

}  // namespace

Result<NoticeBook> parse_notices(std::string_view text, std::string_view source) {
  const TomlReader rd(source);
  auto parsed = rd.parse(text);
  if (!parsed) return parsed.error();
  const toml::table& root = *parsed;
  if (Status s = rd.only_keys(root, "", {"notice"}); !s) return s.error();
  const toml::node* list = root.get("notice");
  NoticeBook book{std::string(source), {}};
  if (list == nullptr) return rd.error_at(nullptr, "notice", "no notice: write at least one [[notice]]");
  const toml::array* arr = list->as_array();
  if (arr == nullptr || !arr->is_array_of_tables())
    return rd.error_at(list, "notice", "write each notice as a [[notice]] table");
  if (arr->size() > kMaxNotices) return rd.error_at(list, "notice", fmt::format("more than {} notices", kMaxNotices));
  std::set<std::string> ids;
  std::size_t index = 0;
  for (const toml::node& node : *arr) {
    ++index;
    const toml::table& t = *node.as_table();
    NoticeReader r{rd, t, fmt::format("notice[{}]", index)};
    auto id = r.text("id", true, 1000);
    if (!id) return id.error();
    if (!valid_id(*id))
      return rd.error_at(t.get("id"), r.key("id"),
                         fmt::format("\"{}\": use 1-{} letters a-z, digits and \"-\"", *id, kMaxIdLen));
    r.where = fmt::format("notice[{}] \"{}\"", index, *id);
    if (!ids.insert(*id).second) return rd.error_at(t.get("id"), r.key("id"), "another notice has this id");
    if (Status s = rd.only_keys(t, r.where, {"id", "title", "title_en", "body", "body_en", "when", "audience"}); !s)
      return s.error();
    Notice n;
    n.id = std::move(*id);
    auto title = r.text("title", true, kMaxTitle);
    if (!title) return title.error();
    n.title = std::move(*title);
    auto title_en = r.text("title_en", false, kMaxTitle);
    if (!title_en) return title_en.error();
    n.title_en = std::move(*title_en);
    auto body = r.text("body", true, kMaxBody);
    if (!body) return body.error();
    n.body = std::move(*body);
    auto body_en = r.text("body_en", false, kMaxBody);
    if (!body_en) return body_en.error();
    n.body_en = std::move(*body_en);
    auto when = r.words("when", true, when_word, kWhenWords);
    if (!when) return when.error();
    n.when = std::move(*when);
    auto audience = r.words("audience", false, audience_word, kAudienceWords);
    if (!audience) return audience.error();
    n.audience = std::move(*audience);
    book.notices.push_back(std::move(n));
  }
  return book;
}

Result<NoticeBook> load_notices(const std::string& path) {
  if (path.empty()) return parse_notices(kBuiltinNotices, builtin_notices_source);
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Reason::invalid_config, "notices.file", fmt::format("{}: cannot be read", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_notices(ss.str(), path);
}

std::vector<const Notice*> applicable_notices(const NoticeBook& book, std::string_view state,
                                              const std::optional<std::string>& reason) {
  std::vector<const Notice*> out;
  for (const Notice& n : book.notices) {
    const auto names = [&n](std::string_view w) { return std::find(n.when.begin(), n.when.end(), w) != n.when.end(); };
    if (reason ? names(*reason) : (names(state) || names("always"))) out.push_back(&n);
  }
  return out;
}

const Notice* find_notice(const NoticeBook& book, std::string_view id) {
  for (const Notice& n : book.notices)
    if (n.id == id) return &n;
  return nullptr;
}

json::Json notice_json(const Notice& n) {
  const auto opt = [](const std::string& s) { return s.empty() ? json::Json(nullptr) : json::Json(s); };
  return json::Json{{"id", n.id},           {"title", n.title}, {"title_en", opt(n.title_en)},
                    {"body", n.body},       {"body_en", opt(n.body_en)}, {"when", n.when},
                    {"audience", n.audience}};
}

std::string notices_html(const std::vector<const Notice*>& notices, const NoticePage& page) {
  const html::Page p{page.paper, page.hospital_name, page.hospital_code};
  std::string out = html::document_head(p, "患者告知", "患者告知 Patient notice", {kNoticeCss, html::kFootCss});
  out += fmt::format("<div class=\"state\">{}</div>\n",
                     page.state == "offline" ? "医保专线中断期间 · While the insurer line is down"
                                             : "医保专线正常 · The insurer line is working");
  for (const Notice* n : notices) {
    out += fmt::format("<div class=\"notice\" id=\"notice-{}\">\n<h3>", html::esc(n->id));
    html::escape_into(out, n->title);
    out += "</h3>\n";
    if (!n->title_en.empty()) out += fmt::format("<div class=\"title-en\">{}</div>\n", html::esc(n->title_en));
    paragraphs(out, n->body, "zh");
    paragraphs(out, n->body_en, "en");
    out += "</div>\n";
  }
  out += fmt::format("<div class=\"foot\">打印时间：{}</div>\n</body>\n</html>\n",
                     html::cell(html::display_time(page.printed_at)));
  return out;
}

}  // namespace settle::daemon
