// A page printed by a real browser for tests: headless Chromium prints HTML
// to PDF, poppler reads back the text, page count and fonts, and the checks
// that a phrase or an amount is on the printed page.
#pragma once

#include <filesystem>
#include <string>

namespace settle::testing {

// Prints `html` (written to <dir>/<name>.html) to <dir>/<name>.pdf with
// headless Chromium ($SETTLE_CHROMIUM, default /usr/bin/chromium); REQUIREs
// success and returns the PDF's path.
std::filesystem::path print_pdf(const std::filesystem::path& dir, const std::string& name, const std::string& html);
// The width in CSS px the page's content needs when the browser window is
// `viewport_px` wide (document scrollWidth, read by a script added to a copy
// of `html` and headless Chromium's --dump-dom): more than viewport_px means
// something sticks out at the right. A4 less 15 mm margins is 680 px.
int layout_width(const std::filesystem::path& dir, const std::string& name, const std::string& html, int viewport_px);
// pdftotext -layout, pdfinfo, pdffonts of a PDF.
std::string pdf_text(const std::filesystem::path& pdf);
std::string pdf_info(const std::filesystem::path& pdf);
std::string pdf_fonts(const std::filesystem::path& pdf);
// The page count pdfinfo gives; -1 if none.
int pdf_pages(const std::string& info);
// Whether the Chinese was drawn with a CJK font. Without one Chromium draws
// boxes, yet pdftotext still reads most characters back from the PDF's
// Unicode map: the text alone does not tell.
bool cjk_font_used(const std::string& fonts);
// `what` is in the text, white space ignored (a phrase wrapped or spaced out
// by the layout still reads as one).
bool has_text(const std::string& text, const std::string& what);
// An amount as a figure of its own: not part of a longer number.
bool has_amount(const std::string& text, const std::string& amount);

}  // namespace settle::testing
