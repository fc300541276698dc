// TomlReader: one place for the type and range checks of TOML values and for
// the shape of their error messages.
#include "protocol/toml_reader.hpp"

#include <fmt/format.h>

namespace settle {
namespace {

// The part of an engine error message after "<field>: ".
std::string_view after_field(const std::string& message) {
  const auto p = message.find(": ");
  return p == std::string::npos ? std::string_view(message) : std::string_view(message).substr(p + 2);
}

}  // namespace

std::string toml_key(std::string_view where, std::string_view key) {
  return where.empty() ? std::string(key) : fmt::format("{}.{}", where, key);
}

Result<toml::table> TomlReader::parse(std::string_view text) const {
  try {
    return toml::parse(text, source_);
  } catch (const toml::parse_error& e) {
    return make_error(Reason::invalid_config, "",
                      fmt::format("{}:{}: {}", source_, e.source().begin.line, e.description()));
  }
}

Error TomlReader::error_at(const toml::node* n, std::string_view key, std::string_view what) const {
  const auto line = n != nullptr ? n->source().begin.line : 0;
  return make_error(Reason::invalid_config, std::string(key),
                    line > 0 ? fmt::format("{}:{}: {}: {}", source_, line, key, what)
                             : fmt::format("{}: {}: {}", source_, key, what));
}

Status TomlReader::only_keys(const toml::table& t, std::string_view where,
                             std::initializer_list<std::string_view> allowed) const {
  for (const auto& [k, v] : t) {
    bool ok = false;
    for (auto a : allowed) ok = ok || k.str() == a;
    if (!ok) return error_at(&v, toml_key(where, k.str()), fmt::format("unknown key (allowed: {})", fmt::join(allowed, ", ")));
  }
  return Ok{};
}

Result<std::optional<std::string>> TomlReader::opt_string(const toml::table& t, std::string_view k,
                                                          std::string_view key) const {
  const toml::node* n = t.get(k);
  if (n == nullptr) return std::optional<std::string>{};
  const auto* s = n->as_string();
  if (s == nullptr) return error_at(n, key, "expected a quoted string");
  return std::optional<std::string>{s->get()};
}

Result<std::optional<std::int64_t>> TomlReader::opt_int(const toml::table& t, std::string_view k, std::string_view key,
                                                        std::int64_t min, std::int64_t max) const {
  const toml::node* n = t.get(k);
  if (n == nullptr) return std::optional<std::int64_t>{};
  const auto* i = n->as_integer();
  if (i == nullptr) return error_at(n, key, "expected a whole number");
  if (i->get() < min || i->get() > max)
    return error_at(n, key, fmt::format("{} is out of range ({} to {})", i->get(), min, max));
  return std::optional<std::int64_t>{i->get()};
}

Result<std::optional<bool>> TomlReader::opt_bool(const toml::table& t, std::string_view k, std::string_view key) const {
  const toml::node* n = t.get(k);
  if (n == nullptr) return std::optional<bool>{};
  const auto* b = n->as_boolean();
  if (b == nullptr) return error_at(n, key, "expected true or false");
  return std::optional<bool>{b->get()};
}

Result<std::optional<Amount>> TomlReader::opt_amount(const toml::table& t, std::string_view k,
                                                     std::string_view key) const {
  const toml::node* n = t.get(k);
  if (n == nullptr) return std::optional<Amount>{};
  if (n->is_floating_point())
    return error_at(n, key, "write amounts as a quoted decimal, e.g. \"1800.00\" (floating point is not exact)");
  std::string text;
  if (const auto* s = n->as_string()) text = s->get();
  else if (const auto* i = n->as_integer()) text = std::to_string(i->get());
  else return error_at(n, key, "expected an amount (quoted decimal)");
  auto a = parse_amount(text, key);
  if (!a) return error_at(n, key, after_field(a.error().message));
  return std::optional<Amount>{*a};
}

Result<std::optional<Ratio>> TomlReader::opt_ratio(const toml::node* n, std::string_view key) const {
  if (n == nullptr) return std::optional<Ratio>{};
  if (n->is_floating_point())
    return error_at(n, key, "write ratios as a quoted decimal, e.g. \"0.70\" (floating point is not exact)");
  std::string text;
  if (const auto* s = n->as_string()) text = s->get();
  else if (const auto* i = n->as_integer()) text = std::to_string(i->get());
  else return error_at(n, key, "expected a ratio (quoted decimal from 0 to 1)");
  auto r = parse_ratio(text, key, true);
  if (!r) return error_at(n, key, after_field(r.error().message));
  return std::optional<Ratio>{*r};
}

Result<std::string> TomlReader::string(const toml::table& t, std::string_view k, std::string_view key) const {
  auto s = opt_string(t, k, key);
  if (!s) return s.error();
  if (!s->has_value()) return error_at(&t, key, "required key is missing");
  return std::move(**s);
}

Result<Amount> TomlReader::amount(const toml::table& t, std::string_view k, std::string_view key) const {
  auto a = opt_amount(t, k, key);
  if (!a) return a.error();
  if (!a->has_value()) return error_at(&t, key, "required amount is missing");
  return **a;
}

Result<Ratio> TomlReader::ratio(const toml::node* n, std::string_view key) const {
  if (n == nullptr) return error_at(nullptr, key, "required ratio is missing");
  auto r = opt_ratio(n, key);
  if (!r) return r.error();
  return **r;
}

Result<const toml::table*> TomlReader::opt_table(const toml::table& t, std::string_view k, std::string_view key) const {
  const toml::node* n = t.get(k);
  if (n == nullptr) return static_cast<const toml::table*>(nullptr);
  const toml::table* tt = n->as_table();
  if (tt == nullptr) return error_at(n, key, "expected a table");
  return tt;
}

}  // namespace settle
