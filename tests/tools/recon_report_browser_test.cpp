// The reconciliation page of a long day printed by headless Chromium: the
// answer of a real recon.run (fixtures/recon-not-balanced.json, written by
// recon_e2e_integration's run) with its differences repeated until the table
// runs over several A4 pages; the header row on every page, nothing cut.
#include "tests/support/pdf_print.hpp"
#include "tools/reconcile/report.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

using settle::json::Json;
using namespace settle::testing;

namespace {

namespace fs = std::filesystem;

Json fixture() {
  std::ifstream in(fs::path(SETTLE_SOURCE_DIR) / "tests/tools/fixtures/recon-not-balanced.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return Json::parse(ss.str());
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::string squeezed;
  for (const char c : text)
    if (c != ' ' && c != '\n' && c != '\t' && c != '\f' && c != '\r') squeezed += c;
  std::size_t n = 0;
  for (auto at = squeezed.find(what); at != std::string::npos; at = squeezed.find(what, at + what.size())) ++n;
  return n;
}

}  // namespace

TEST_CASE("a reconciliation with 60 differences prints on A4 pages, the header row on each, nothing cut") {
  Json r = fixture();
  REQUIRE(r["differences"].size() == 4);
  Json many = Json::array();
  for (int i = 0; i < 15; ++i)
    for (Json d : r["differences"]) {
      if (d.contains("local_setl_id")) d["local_setl_id"] = fmt::format("{}", 1000 + many.size());
      many.push_back(d);
    }
  r["differences"] = many;
  const std::string html = settle::tools::recon_html(r);
  const fs::path dir = fs::path(SETTLE_BINARY_DIR) / "tests/tools/recon_report_browser";
  const fs::path pdf = print_pdf(dir, "recon_long", html);

  const std::string info = pdf_info(pdf);
  const int pages = pdf_pages(info);
  CHECK_MESSAGE(info.find("(A4)") != std::string::npos, info);
  CHECK_MESSAGE(pages > 2, info);
  CHECK(cjk_font_used(pdf_fonts(pdf)));
  const int width = layout_width(dir, "recon_long", html, 680);
  CHECK_MESSAGE(width <= 680, "the page needs " << width << " px, A4 has 680");

  const std::string text = pdf_text(pdf);
  INFO(text);
  CHECK(has_text(text, "示例市第一人民医院"));
  CHECK(has_text(text, "职工基本医疗保险"));
  for (int p = 1; p <= pages; ++p) CHECK(has_text(text, fmt::format("第 {} 页／共 {} 页", p, pages)));
  // The differences' header row on each page the table spans (all but the
  // last, which may hold only the explanations and the sign-off).
  CHECK(occurrences(text, "序号差异类别") + 1 >= static_cast<std::size_t>(pages));
  // Every difference printed, none lost at a page break.
  for (std::size_t i = 0; i < many.size(); ++i)
    if (many[i].contains("local_setl_id"))
      CHECK_MESSAGE(has_text(text, fmt::format("本院结算号 {}", many[i]["local_setl_id"].get<std::string>())), i);
  CHECK(occurrences(text, "本院有、医保中心无") >= 15);
  CHECK(has_text(text, "本日：0 笔，统筹基金（医保中心－估算）0.00"));
  CHECK(has_text(text, "经办人"));
  CHECK(has_text(text, "复核人"));
}
