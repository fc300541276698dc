// The patient notices' loader (tools/settled/notices.cpp): the example file and
// the built-in texts, each kind of bad file refused with file, line, notice
// and field named, which notices apply, and the printable page escaping text.
#include "tools/settled/notices.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

using settle::Reason;
using settle::daemon::applicable_notices;
using settle::daemon::load_notices;
using settle::daemon::Notice;
using settle::daemon::NoticeBook;
using settle::daemon::NoticePage;
using settle::daemon::notices_html;
using settle::daemon::parse_notices;

namespace {

const std::string kExample = SETTLE_SOURCE_DIR "/docs/examples/notices.toml";

const std::string kGood = R"(
[[notice]]
id = "a"
title = "标题"
body = """
第一段

第二段
"""
when = ["offline"]

[[notice]]
id = "b"
title = "B"
title_en = "B en"
body = "b"
when = ["always"]
audience = ["slip"]

[[notice]]
id = "c"
title = "C"
body = "c"
when = ["online", "OFFLINE_REFUND_FORBIDDEN"]
)";

// The message of the error parsing `text` gives (REQUIREs an error).
std::string error_of(const std::string& text) {
  auto r = parse_notices(text, "/etc/settled/notices.toml");
  REQUIRE_MESSAGE(!r, "accepted: " << text);
  CHECK(r.error().reason == Reason::invalid_config);
  return r.error().message;
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<std::string> ids(const std::vector<const Notice*>& ns) {
  std::vector<std::string> out;
  for (const Notice* n : ns) out.push_back(n->id);
  return out;
}

}  // namespace

TEST_CASE("the example file and the built-in texts load, and say what the emergency plan asks") {
  auto file = load_notices(kExample);
  REQUIRE_MESSAGE(file, file.error().message);
  auto builtin = load_notices("");
  REQUIRE_MESSAGE(builtin, builtin.error().message);
  CHECK(builtin->source == settle::daemon::builtin_notices_source);
  REQUIRE(builtin->notices.size() == file->notices.size());
  for (std::size_t i = 0; i < file->notices.size(); ++i) {
    CHECK(builtin->notices[i].id == file->notices[i].id);
    CHECK(builtin->notices[i].body == file->notices[i].body);
  }
  const auto offline = ids(applicable_notices(*file, "offline", std::nullopt));
  for (const char* id : {"account-unavailable", "fund-estimate", "refund-needs-line", "resettle-later", "consult-desk"})
    CHECK_MESSAGE(std::find(offline.begin(), offline.end(), id) != offline.end(), id << " is not shown offline");
  CHECK(ids(applicable_notices(*file, "online", std::nullopt)) == std::vector<std::string>{"consult-desk"});
  CHECK(ids(applicable_notices(*file, "offline", std::string("OFFLINE_REFUND_FORBIDDEN"))) ==
        std::vector<std::string>{"refund-needs-line"});
  for (const Notice& n : file->notices) {
    CHECK(!n.title_en.empty());
    CHECK(!n.body_en.empty());
  }
}

TEST_CASE("a good file: fields, trimmed texts, which notices apply") {
  auto book = parse_notices(kGood, "n.toml");
  REQUIRE_MESSAGE(book, book.error().message);
  REQUIRE(book->notices.size() == 3);
  const Notice& a = book->notices[0];
  CHECK(a.body == "第一段\n\n第二段");
  CHECK(a.title_en.empty());
  CHECK(a.audience.empty());
  CHECK(book->notices[1].audience == std::vector<std::string>{"slip"});
  CHECK(ids(applicable_notices(*book, "offline", std::nullopt)) == std::vector<std::string>{"a", "b"});
  CHECK(ids(applicable_notices(*book, "online", std::nullopt)) == std::vector<std::string>{"b", "c"});
  CHECK(ids(applicable_notices(*book, "offline", std::string("OFFLINE_REFUND_FORBIDDEN"))) ==
        std::vector<std::string>{"c"});
  CHECK(ids(applicable_notices(*book, "offline", std::string("PIN_WRONG"))).empty());
  CHECK(settle::daemon::find_notice(*book, "b") == &book->notices[1]);
  CHECK(settle::daemon::find_notice(*book, "z") == nullptr);
  const auto j = settle::daemon::notice_json(a);
  CHECK(j["title_en"].is_null());
  CHECK(j["when"] == settle::json::Json::array({"offline"}));
}

TEST_CASE("each kind of bad file is refused naming file, line, notice and field") {
  const std::string one = "[[notice]]\nid = \"x\"\ntitle = \"T\"\nbody = \"B\"\nwhen = [\"offline\"]\n";
  // The file itself.
  CHECK(has(error_of("[[notice]\n"), "/etc/settled/notices.toml:1:"));
  CHECK(has(error_of(""), "no notice"));
  CHECK(has(error_of("title = \"x\"\n" + one), "title: unknown key"));
  CHECK(has(error_of("[notice]\nid = \"x\"\n"), "[[notice]]"));
  auto missing = load_notices("/nonexistent/notices.toml");
  REQUIRE(!missing);
  CHECK(has(missing.error().message, "/nonexistent/notices.toml: cannot be read"));
  // Each field, named with its notice.
  CHECK(has(error_of("[[notice]]\ntitle = \"T\"\nbody = \"B\"\nwhen = [\"offline\"]\n"),
            "notices.toml:1: notice[1].id: required"));
  CHECK(has(error_of("[[notice]]\nid = \"Not Ok\"\ntitle = \"T\"\nbody = \"B\"\nwhen = [\"offline\"]\n"),
            "notices.toml:2: notice[1].id: \"Not Ok\""));
  CHECK(has(error_of(one + one), "notices.toml:7: notice[2] \"x\".id: another notice has this id"));
  CHECK(has(error_of("[[notice]]\nid = \"x\"\nbody = \"B\"\nwhen = [\"offline\"]\n"),
            "notice[1] \"x\".title: required"));
  CHECK(has(error_of("[[notice]]\nid = \"x\"\ntitle = \"T\"\nbody = \"\"\"\n  \n\"\"\"\nwhen = [\"offline\"]\n"),
            "notice[1] \"x\".body: must not be empty"));
  CHECK(has(error_of("[[notice]]\nid = \"x\"\ntitle = 5\nbody = \"B\"\nwhen = [\"offline\"]\n"),
            "notices.toml:3: notice[1] \"x\".title: expected a quoted string"));
  CHECK(has(error_of("[[notice]]\nid = \"x\"\ntitle = \"T\"\nbody = \"" + std::string(4001, 'a') +
                     "\"\nwhen = [\"offline\"]\n"),
            "notice[1] \"x\".body: longer than 4000 bytes"));
  CHECK(has(error_of("[[notice]]\nid = \"x\"\ntitle = \"T\\u0007\"\nbody = \"B\"\nwhen = [\"offline\"]\n"),
            "notice[1] \"x\".title: contains a control character"));
  CHECK(has(error_of("[[notice]]\nid = \"x\"\ntitle = \"T\"\nbody = \"B\"\n"), "notice[1] \"x\".when: required"));
  CHECK(has(error_of("[[notice]]\nid = \"x\"\ntitle = \"T\"\nbody = \"B\"\nwhen = \"offline\"\n"),
            "notices.toml:5: notice[1] \"x\".when: expected a list"));
  CHECK(has(error_of("[[notice]]\nid = \"x\"\ntitle = \"T\"\nbody = \"B\"\nwhen = []\n"),
            "notice[1] \"x\".when: must name at least one"));
  CHECK(has(error_of("[[notice]]\nid = \"x\"\ntitle = \"T\"\nbody = \"B\"\nwhen = [\"ofline\"]\n"),
            "notice[1] \"x\".when: \"ofline\" is not one of offline, online, always"));
  CHECK(has(error_of("[[notice]]\nid = \"x\"\ntitle = \"T\"\nbody = \"B\"\nwhen = [\"offline\", \"offline\"]\n"),
            "\"offline\" is named twice"));
  CHECK(has(error_of(one + "audience = [\"wall\"]\n"), "notice[1] \"x\".audience: \"wall\" is not one of screen, slip, poster"));
  CHECK(has(error_of(one + "colour = \"red\"\n"), "notices.toml:6: notice[1] \"x\".colour: unknown key"));
}

TEST_CASE("the printable page escapes every text and keeps paragraphs") {
  const std::string text = R"(
[[notice]]
id = "x"
title = "<script>alert(1)</script>"
title_en = "Tom & Jerry's \"desk\""
body = """
第一行 <b>
第二行

第二段 & more
"""
body_en = "</p><img src=x onerror=alert(1)>"
when = ["offline"]
)";
  auto book = parse_notices(text, "n.toml");
  REQUIRE_MESSAGE(book, book.error().message);
  NoticePage page;
  page.hospital_name = "示范医院 <i>";
  page.hospital_code = "H11010500001";
  page.paper = "A5";
  page.state = "offline";
  page.printed_at = "2026-12-04T10:30:45+08:00";
  const std::string html = notices_html(applicable_notices(*book, "offline", std::nullopt), page);
  CHECK(has(html, "<!DOCTYPE html>"));
  CHECK(has(html, "size: A5"));
  CHECK(has(html, "<title>患者告知</title>"));
  CHECK(!has(html, "<script>"));
  CHECK(!has(html, "<img"));
  CHECK(!has(html, "<b>"));
  CHECK(!has(html, "<i>"));
  CHECK(has(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
  CHECK(has(html, "Tom &amp; Jerry&#39;s &quot;desk&quot;"));
  CHECK(has(html, "<p class=\"zh\">第一行 &lt;b&gt;<br>第二行</p>"));
  CHECK(has(html, "<p class=\"zh\">第二段 &amp; more</p>"));
  CHECK(has(html, "&lt;/p&gt;&lt;img src=x onerror=alert(1)&gt;"));
  CHECK(has(html, "示范医院 &lt;i&gt;"));
  CHECK(has(html, "医保专线中断期间"));
  CHECK(has(html, "2026-12-04 10:30:45"));
}
