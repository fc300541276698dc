// Headless Chromium and poppler for the tests that check a printed page:
// each tool runs as a shell command with its output kept beside the PDF.
#include "tests/support/pdf_print.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace settle::testing {

namespace fs = std::filesystem;

namespace {

std::string chromium() {
  const char* c = std::getenv("SETTLE_CHROMIUM");
  return c != nullptr && *c != '\0' ? c : "/usr/bin/chromium";
}

std::string read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

int run(const std::string& cmd) { return std::system(cmd.c_str()); }

// Runs a poppler tool on the PDF into <pdf><suffix>; its output.
std::string poppler(const std::string& tool, const fs::path& pdf, const std::string& suffix, bool to_file_arg) {
  const fs::path out = pdf.string() + suffix;
  const std::string cmd = to_file_arg ? tool + " '" + pdf.string() + "' '" + out.string() + "'"
                                      : tool + " '" + pdf.string() + "' >'" + out.string() + "'";
  REQUIRE_MESSAGE(run(cmd) == 0, cmd);
  return read(out);
}

std::string squeezed(const std::string& s) {
  std::string out;
  for (const char c : s)
    if (c != ' ' && c != '\n' && c != '\t' && c != '\f' && c != '\r') out += c;
  return out;
}

}  // namespace

fs::path print_pdf(const fs::path& dir, const std::string& name, const std::string& html) {
  const std::string d = dir.string();
  fs::create_directories(dir / "home");
  const fs::path html_path = dir / (name + ".html");
  const fs::path pdf_path = dir / (name + ".pdf");
  std::ofstream(html_path, std::ios::binary) << html;
  fs::remove(pdf_path);
  // A profile and HOME of its own; no sandbox (tests may run as root); the
  // page as the document's @page says, without the date and URL header/footer.
  const std::string cmd = "HOME='" + d + "/home' timeout 120 '" + chromium() +
                          "' --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir='" + d +
                          "/profile-" + name + "' --no-pdf-header-footer --print-to-pdf='" + pdf_path.string() +
                          "' 'file://" + html_path.string() + "' >'" + d + "/" + name + ".log' 2>&1";
  const int rc = run(cmd);
  REQUIRE_MESSAGE(rc == 0, cmd << "\n" << read(dir / (name + ".log")));
  REQUIRE_MESSAGE(fs::exists(pdf_path), "chromium wrote no PDF");
  return pdf_path;
}

int layout_width(const fs::path& dir, const std::string& name, const std::string& html, int viewport_px) {
  const std::string d = dir.string();
  fs::create_directories(dir / "home");
  std::string probe = html;
  const std::string script =
      "<script>document.body.setAttribute('data-width', String(Math.max(document.documentElement.scrollWidth, "
      "document.body.scrollWidth)));</script>";
  const auto end = probe.rfind("</body>");
  REQUIRE_MESSAGE(end != std::string::npos, "the page has no </body>");
  probe.insert(end, script);
  const fs::path html_path = dir / (name + "-width.html");
  const fs::path dom = dir / (name + "-width.dom");
  std::ofstream(html_path, std::ios::binary) << probe;
  const std::string cmd = "HOME='" + d + "/home' timeout 120 '" + chromium() +
                          "' --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars --user-data-dir='" +
                          d + "/profile-" + name + "-width' --window-size=" + std::to_string(viewport_px) +
                          ",1000 --dump-dom 'file://" + html_path.string() + "' >'" + dom.string() + "' 2>'" + d +
                          "/" + name + "-width.log'";
  REQUIRE_MESSAGE(run(cmd) == 0, cmd << "\n" << read(dir / (name + "-width.log")));
  const std::string out = read(dom);
  const auto at = out.find("data-width=\"");
  REQUIRE_MESSAGE(at != std::string::npos, "no width in the dumped page:\n" << out.substr(0, 400));
  return std::atoi(out.c_str() + at + 12);
}

std::string pdf_text(const fs::path& pdf) { return poppler("pdftotext -layout -enc UTF-8", pdf, ".txt", true); }
std::string pdf_info(const fs::path& pdf) { return poppler("pdfinfo", pdf, ".info", false); }
std::string pdf_fonts(const fs::path& pdf) { return poppler("pdffonts", pdf, ".fonts", false); }

int pdf_pages(const std::string& info) {
  const auto at = info.find("Pages:");
  if (at == std::string::npos) return -1;
  return std::atoi(info.c_str() + at + 6);
}

bool cjk_font_used(const std::string& fonts) {
  for (const char* family : {"WenQuanYi", "NotoSansCJK", "NotoSerifCJK", "SourceHan", "DroidSansFallback", "UMing",
                             "UKai", "MicrosoftYaHei", "SimSun", "PingFang"})
    if (fonts.find(family) != std::string::npos) return true;
  return false;
}

bool has_text(const std::string& text, const std::string& what) {
  return squeezed(text).find(squeezed(what)) != std::string::npos;
}

bool has_amount(const std::string& text, const std::string& amount) {
  const auto digit = [](char c) { return (c >= '0' && c <= '9') || c == '.'; };
  for (auto at = text.find(amount); at != std::string::npos; at = text.find(amount, at + 1)) {
    const bool left = at == 0 || !digit(text[at - 1]);
    const bool right = at + amount.size() >= text.size() || !digit(text[at + amount.size()]);
    if (left && right) return true;
  }
  return false;
}

}  // namespace settle::testing
