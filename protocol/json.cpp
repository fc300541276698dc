// The exact-number JSON reader: a nlohmann SAX handler that builds the DOM
// itself, storing non-integer numbers as their token text (a binary value
// with a private subtype), plus typed accessors with field-naming errors.
#include "protocol/json.hpp"

#include <fmt/format.h>

#include <vector>

namespace settle::json {
namespace {

// Subtype marking a binary value as "the exact text of a JSON number".
constexpr std::uint8_t kRawNumberSubtype = 0x4E;

class ExactBuilder {
 public:
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  explicit ExactBuilder(Json& root) : root_(root) {}

  bool null() { return put(Json(nullptr)); }
  bool boolean(bool v) { return put(Json(v)); }
  bool number_integer(number_integer_t v) { return put(Json(v)); }
  bool number_unsigned(number_unsigned_t v) { return put(Json(v)); }
  bool number_float(number_float_t /*unused: never trusted*/, const string_t& text) {
    return put(make_raw_number(text));
  }
  bool string(string_t& v) { return put(Json(std::move(v))); }
  bool binary(binary_t& /*unused*/) { return fail_with("binary values are not JSON"); }
  bool start_object(std::size_t /*unused*/) { return open(Json::object()); }
  bool key(string_t& k) {
    SETTLE_ASSERT(!stack_.empty() && stack_.back()->is_object());
    key_ = std::move(k);
    return true;
  }
  bool end_object() { stack_.pop_back(); return true; }
  bool start_array(std::size_t /*unused*/) { return open(Json::array()); }
  bool end_array() { stack_.pop_back(); return true; }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) {
    error_ = fmt::format("at byte {}: {}", position, short_message(ex.what()));
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  static std::string short_message(std::string_view what) {
    // nlohmann messages look like "[json.exception.parse_error.101] parse error at line 1, column 5: ..."
    const auto colon = what.find(": ");
    std::string s(colon == std::string_view::npos ? what : what.substr(colon + 2));
    if (s.size() > 160) s.resize(160);
    return s;
  }
  bool fail_with(std::string msg) { error_ = std::move(msg); return false; }

  bool put(Json v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return true;
    }
    Json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
    } else {
      top[key_] = std::move(v);  // a repeated key keeps the last value, as most parsers do
    }
    return true;
  }
  bool open(Json v) {
    if (static_cast<int>(stack_.size()) >= max_depth)
      return fail_with(fmt::format("nested deeper than {} levels", max_depth));
    Json* slot = nullptr;
    if (stack_.empty()) {
      root_ = std::move(v);
      slot = &root_;
    } else if (Json& top = *stack_.back(); top.is_array()) {
      top.push_back(std::move(v));
      slot = &top.back();
    } else {
      top[key_] = std::move(v);
      slot = &top[key_];
    }
    stack_.push_back(slot);
    return true;
  }

  Json& root_;
  std::vector<Json*> stack_;
  std::string key_;
  std::string error_;
};

Error type_error(std::string_view path, std::string_view want, const Json& got) {
  return make_error(Reason::invalid_request, std::string(path),
                    fmt::format("{}: expected {}, got {}", path, want, type_name(got)));
}

Error missing(std::string_view path) {
  return make_error(Reason::invalid_request, std::string(path),
                    fmt::format("{}: required field is missing", path));
}

}  // namespace

Result<Json> parse(std::string_view text, std::string_view what) {
  Json root;
  ExactBuilder builder(root);
  bool ok = false;
  try {
    ok = Json::sax_parse(text.begin(), text.end(), &builder, nlohmann::detail::input_format_t::json, true);
  } catch (const std::exception& e) {  // defensive: the SAX interface reports through parse_error
    return make_error(Reason::invalid_request, "", fmt::format("invalid JSON in {}: {}", what, e.what()));
  }
  if (!ok) {
    return make_error(Reason::invalid_request, "",
                      fmt::format("invalid JSON in {} {}", what,
                                  builder.error().empty() ? std::string("(unknown error)") : builder.error()));
  }
  return root;
}

bool is_raw_number(const Json& j) {
  return j.is_binary() && j.get_binary().has_subtype() && j.get_binary().subtype() == kRawNumberSubtype;
}

std::string_view raw_number_text(const Json& j) {
  SETTLE_ASSERT(is_raw_number(j));
  const auto& b = j.get_binary();
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

Json make_raw_number(std::string_view text) {
  Json::binary_t::container_type bytes(text.begin(), text.end());
  return Json::binary(std::move(bytes), kRawNumberSubtype);
}

std::string_view type_name(const Json& j) {
  if (is_raw_number(j) || j.is_number()) return "number";
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::string: return "string";
    case Json::value_t::array: return "array";
    case Json::value_t::object: return "object";
    default: return "value";
  }
}

std::string path_join(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return fmt::format("{}.{}", path, key);
}

const Json* find(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

Result<std::optional<std::string>> get_opt_string(const Json& obj, std::string_view key,
                                                  std::string_view path, std::size_t max_len) {
  const std::string p = path_join(path, key);
  const Json* v = find(obj, key);
  if (v == nullptr || v->is_null()) return std::optional<std::string>{};
  if (!v->is_string()) return type_error(p, "a string", *v);
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max_len)
    return make_error(Reason::invalid_request, p, fmt::format("{}: longer than {} bytes", p, max_len));
  return std::optional<std::string>{s};
}

Result<std::string> get_string(const Json& obj, std::string_view key, std::string_view path,
                               std::size_t max_len) {
  auto r = get_opt_string(obj, key, path, max_len);
  if (!r) return r.error();
  if (!r->has_value()) return missing(path_join(path, key));
  return std::move(**r);
}

Result<std::optional<std::int64_t>> get_opt_int(const Json& obj, std::string_view key, std::string_view path) {
  const std::string p = path_join(path, key);
  const Json* v = find(obj, key);
  if (v == nullptr || v->is_null()) return std::optional<std::int64_t>{};
  if (v->is_number_integer() && !v->is_number_unsigned()) return std::optional<std::int64_t>{v->get<std::int64_t>()};
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX))
      return make_error(Reason::invalid_request, p, fmt::format("{}: integer out of range", p));
    return std::optional<std::int64_t>{static_cast<std::int64_t>(u)};
  }
  return type_error(p, "an integer", *v);
}

Result<std::int64_t> get_int(const Json& obj, std::string_view key, std::string_view path) {
  auto r = get_opt_int(obj, key, path);
  if (!r) return r.error();
  if (!r->has_value()) return missing(path_join(path, key));
  return **r;
}

Result<std::optional<bool>> get_opt_bool(const Json& obj, std::string_view key, std::string_view path) {
  const Json* v = find(obj, key);
  if (v == nullptr || v->is_null()) return std::optional<bool>{};
  if (!v->is_boolean()) return type_error(path_join(path, key), "true or false", *v);
  return std::optional<bool>{v->get<bool>()};
}

Result<bool> get_bool(const Json& obj, std::string_view key, std::string_view path) {
  auto r = get_opt_bool(obj, key, path);
  if (!r) return r.error();
  if (!r->has_value()) return missing(path_join(path, key));
  return **r;
}

Result<Amount> to_amount(const Json& v, std::string_view path, Sign sign) {
  if (v.is_string()) return parse_amount(v.get_ref<const std::string&>(), path, sign);
  if (is_raw_number(v)) return parse_amount(raw_number_text(v), path, sign);
  if (v.is_number_integer()) {
    // Integers are exact; print them and reuse the one parser so every rule
    // (sign, limit) is applied in one place.
    const std::string text = v.is_number_unsigned() ? std::to_string(v.get<std::uint64_t>())
                                                    : std::to_string(v.get<std::int64_t>());
    return parse_amount(text, path, sign);
  }
  return make_error(Reason::invalid_amount, std::string(path),
                    fmt::format("{}: expected an amount (number or decimal string), got {}", path, type_name(v)));
}

Result<std::optional<Amount>> get_opt_amount(const Json& obj, std::string_view key, std::string_view path,
                                             Sign sign) {
  const Json* v = find(obj, key);
  if (v == nullptr || v->is_null()) return std::optional<Amount>{};
  auto a = to_amount(*v, path_join(path, key), sign);
  if (!a) return a.error();
  return std::optional<Amount>{*a};
}

Result<Amount> get_amount(const Json& obj, std::string_view key, std::string_view path, Sign sign) {
  auto r = get_opt_amount(obj, key, path, sign);
  if (!r) return r.error();
  if (!r->has_value())
    return make_error(Reason::invalid_amount, path_join(path, key),
                      fmt::format("{}: required amount is missing", path_join(path, key)));
  return **r;
}

Result<Ratio> to_ratio(const Json& v, std::string_view path) {
  if (v.is_string()) return parse_ratio(v.get_ref<const std::string&>(), path);
  if (is_raw_number(v)) return parse_ratio(raw_number_text(v), path);
  if (v.is_number_integer()) return parse_ratio(v.dump(), path);
  return type_error(path, "a ratio (decimal string like \"0.10\")", v);
}

namespace {

// A value as dump(indent) writes it, raw numbers as their own text.
void write(const Json& v, int indent, int level, std::string& out) {
  if (is_raw_number(v)) {
    out += raw_number_text(v);
    return;
  }
  const bool pretty = indent >= 0;
  const auto newline = [&](int lvl) {
    if (!pretty) return;
    out += '\n';
    out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(lvl), ' ');
  };
  if (v.is_object() && !v.empty()) {
    out += '{';
    bool first = true;
    for (const auto& [k, member] : v.items()) {
      if (!first) out += ',';
      first = false;
      newline(level + 1);
      out += Json(k).dump(-1, ' ', false, Json::error_handler_t::replace);
      out += pretty ? ": " : ":";
      write(member, indent, level + 1, out);
    }
    newline(level);
    out += '}';
    return;
  }
  if (v.is_array() && !v.empty()) {
    out += '[';
    bool first = true;
    for (const auto& member : v) {
      if (!first) out += ',';
      first = false;
      newline(level + 1);
      write(member, indent, level + 1, out);
    }
    newline(level);
    out += ']';
    return;
  }
  out += v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::string dump_exact(const Json& j, int indent) {
  std::string out;
  write(j, indent, 0, out);
  return out;
}

}  // namespace settle::json
