// Field-by-field reading for the insurer codecs: first error wins, every
// error names the field's full path.
#include "protocol/insurer/fields.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace settle::insurer {

Fields::Fields(const json::Json& obj, std::string path) : obj_(obj), path_(std::move(path)) {
  if (!obj_.is_object())
    error_ = make_error(Reason::invalid_request, path_,
                        fmt::format("{}: expected an object, got {}", path_.empty() ? "document" : path_,
                                    json::type_name(obj_)));
}

void Fields::fail(Reason r, std::string_view key, std::string_view what) {
  if (error_) return;
  const std::string p = path_of(key);
  error_ = make_error(r, p, fmt::format("{}: {}", p, what));
}

void Fields::fail(const Error& e) {
  if (!error_) error_ = e;
}

Status Fields::status() const {
  if (error_) return *error_;
  return Ok{};
}

const json::Json* Fields::member(std::string_view key) {
  if (error_) return nullptr;
  return json::find(obj_, key);
}

std::optional<std::string> Fields::opt_str(std::string_view key, std::size_t max_len) {
  if (error_) return std::nullopt;
  auto r = json::get_opt_string(obj_, key, path_, max_len);
  if (!r) {
    fail(r.error());
    return std::nullopt;
  }
  return std::move(*r);
}

std::string Fields::str(std::string_view key, std::size_t max_len) {
  if (error_) return {};
  auto r = json::get_string(obj_, key, path_, max_len);
  if (!r) {
    fail(r.error());
    return {};
  }
  return std::move(*r);
}

std::string Fields::nonempty(std::string_view key, std::size_t max_len) {
  std::string s = str(key, max_len);
  if (ok() && s.empty()) fail(Reason::invalid_request, key, "must not be empty");
  return s;
}

std::string Fields::digits(std::string_view key, std::size_t len) {
  std::string s = str(key, len);
  if (ok() && (s.size() != len || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })))
    fail(Reason::invalid_request, key, fmt::format("must be {} digits", len));
  return s;
}

std::string Fields::opt_digits(std::string_view key, std::size_t len) {
  std::string s = opt_str(key, len).value_or("");
  if (ok() && !s.empty() &&
      (s.size() != len || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })))
    fail(Reason::invalid_request, key, fmt::format("must be {} digits (or empty)", len));
  return s;
}

std::string Fields::one_of(std::string_view key, std::initializer_list<std::string_view> allowed) {
  std::string s = str(key, 64);
  if (ok() && std::find(allowed.begin(), allowed.end(), std::string_view(s)) == allowed.end()) {
    std::string list;
    for (std::string_view a : allowed) list += fmt::format("{}\"{}\"", list.empty() ? "" : ", ", a);
    fail(Reason::invalid_request, key, fmt::format("\"{}\" is not one of {}", s, list));
  }
  return s;
}

std::optional<std::int64_t> Fields::opt_integer(std::string_view key, std::int64_t min, std::int64_t max) {
  if (error_) return std::nullopt;
  auto r = json::get_opt_int(obj_, key, path_);
  if (!r) {
    fail(r.error());
    return std::nullopt;
  }
  if (*r && (**r < min || **r > max)) {
    fail(Reason::invalid_request, key, fmt::format("{} is out of range {}..{}", **r, min, max));
    return std::nullopt;
  }
  return *r;
}

std::int64_t Fields::integer(std::string_view key, std::int64_t min, std::int64_t max) {
  if (error_) return min;
  const json::Json* v = member(key);
  if (v == nullptr || v->is_null()) {
    fail(Reason::invalid_request, key, "required field is missing");
    return min;
  }
  auto r = opt_integer(key, min, max);
  return r ? *r : min;
}

bool Fields::boolean(std::string_view key) {
  if (error_) return false;
  auto r = json::get_bool(obj_, key, path_);
  if (!r) {
    fail(r.error());
    return false;
  }
  return *r;
}

Amount Fields::amount(std::string_view key, Sign sign) {
  if (error_) return Amount::zero();
  auto r = json::get_amount(obj_, key, path_, sign);
  if (!r) {
    fail(r.error());
    return Amount::zero();
  }
  return *r;
}

std::optional<Amount> Fields::opt_amount(std::string_view key) {
  if (error_) return std::nullopt;
  auto r = json::get_opt_amount(obj_, key, path_);
  if (!r) {
    fail(r.error());
    return std::nullopt;
  }
  return *r;
}

std::optional<Ratio> Fields::opt_ratio(std::string_view key) {
  const json::Json* v = member(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  auto r = json::to_ratio(*v, path_of(key));
  if (!r) {
    fail(r.error());
    return std::nullopt;
  }
  return *r;
}

const json::Json* Fields::object(std::string_view key) {
  const json::Json* v = member(key);
  if (error_) return nullptr;
  if (v == nullptr || v->is_null()) {
    fail(Reason::invalid_request, key, "required field is missing");
    return nullptr;
  }
  if (!v->is_object()) {
    fail(Reason::invalid_request, key, fmt::format("expected an object, got {}", json::type_name(*v)));
    return nullptr;
  }
  return v;
}

const json::Json* Fields::opt_object(std::string_view key) {
  const json::Json* v = member(key);
  if (error_ || v == nullptr || v->is_null()) return nullptr;
  if (!v->is_object()) {
    fail(Reason::invalid_request, key, fmt::format("expected an object, got {}", json::type_name(*v)));
    return nullptr;
  }
  return v;
}

const json::Json* Fields::opt_array(std::string_view key, std::size_t max_items) {
  const json::Json* v = member(key);
  if (error_ || v == nullptr || v->is_null()) return nullptr;
  if (!v->is_array()) {
    fail(Reason::invalid_request, key, fmt::format("expected an array, got {}", json::type_name(*v)));
    return nullptr;
  }
  if (v->size() > max_items) {
    fail(Reason::limit_exceeded, key, fmt::format("{} items, at most {}", v->size(), max_items));
    return nullptr;
  }
  return v;
}

const json::Json* Fields::array(std::string_view key, std::size_t max_items) {
  if (error_) return nullptr;
  const json::Json* v = member(key);
  if (v == nullptr || v->is_null()) {
    fail(Reason::invalid_request, key, "required field is missing");
    return nullptr;
  }
  return opt_array(key, max_items);
}

std::vector<std::string> Fields::string_array(std::string_view key, std::size_t max_items, std::size_t max_len) {
  std::vector<std::string> out;
  const json::Json* a = array(key, max_items);
  if (a == nullptr) return out;
  for (std::size_t i = 0; i < a->size(); ++i) {
    const json::Json& e = (*a)[i];
    if (!e.is_string() || e.get_ref<const std::string&>().size() > max_len) {
      fail(Reason::invalid_request, fmt::format("{}[{}]", key, i),
           fmt::format("expected a string of at most {} characters", max_len));
      return {};
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::string index_path(std::string_view path, std::size_t i) { return fmt::format("{}[{}]", path, i); }

}  // namespace settle::insurer
