// The API references against the code: every method the server dispatches has
// a section in docs/cashier-api.md with the roles of auth.cpp and a real example,
// every documented method exists, every error reason and event topic has its row,
// every insurer transaction is in docs/insurer-protocol.md, and no document of
// the repository points outside it.
#include "engine/errors.hpp"
#include "protocol/cashier/auth.hpp"
#include "protocol/cashier/params.hpp"
#include "protocol/cashier/rpc.hpp"
#include "protocol/cashier/version.hpp"
#include "protocol/json.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace settle;
using namespace settle::cashier;

namespace {

const fs::path kRoot = SETTLE_SOURCE_DIR;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read " << p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The sections of the reference: "### `method.name`" up to the next heading.
std::map<std::string, std::vector<std::string>> method_sections(const std::vector<std::string>& doc) {
  static const std::regex heading(R"(^### `([a-z_]+\.[a-z_]+)`\s*$)");
  std::map<std::string, std::vector<std::string>> out;
  std::vector<std::string>* cur = nullptr;
  for (const std::string& l : doc) {
    std::smatch m;
    if (std::regex_match(l, m, heading)) {
      const auto [it, fresh] = out.emplace(m[1].str(), std::vector<std::string>{});
      CHECK_MESSAGE(fresh, "method " << m[1].str() << " has two sections");
      cur = &it->second;
    } else if (l.rfind("#", 0) == 0) {
      cur = nullptr;
    } else if (cur != nullptr) {
      cur->push_back(l);
    }
  }
  return out;
}

// The lines of the section under a "## " heading (to the next "## ").
std::vector<std::string> chapter(const std::vector<std::string>& doc, const std::string& title) {
  std::vector<std::string> out;
  bool in = false;
  for (const std::string& l : doc) {
    if (l.rfind("## ", 0) == 0) in = l == "## " + title;
    else if (in) out.push_back(l);
  }
  return out;
}

std::vector<Method> all_methods() {
  std::vector<Method> out;
  for (int i = 0; i < method_count; ++i) out.push_back(static_cast<Method>(i));
  return out;
}

std::vector<Reason> all_reasons() {
  std::vector<Reason> out;
  for (int i = 1; i < 256; ++i) {
    const auto r = static_cast<Reason>(i);
    if (reason_from_name(reason_name(r)) == r) out.push_back(r);
  }
  return out;
}

std::vector<Topic> all_topics() {
  std::vector<Topic> out;
  for (int i = 0; i < 256; ++i) {
    const auto t = static_cast<Topic>(i);
    if (topic_from_name(topic_name(t)) == t) out.push_back(t);
  }
  return out;
}

// The documents of the repository: README.md and docs/*.md.
std::vector<fs::path> documents() {
  std::vector<fs::path> out{kRoot / "README.md"};
  for (const auto& e : fs::directory_iterator(kRoot / "docs"))
    if (e.path().extension() == ".md") out.push_back(e.path());
  return out;
}

// What the doc says about a method: the rest of the line (or list item) that
// starts with `key`.
std::string field_line(const std::vector<std::string>& section, const std::string& key) {
  for (const std::string& l : section) {
    const std::string item = l.rfind("- ", 0) == 0 ? l.substr(2) : l;
    if (item.rfind(key, 0) == 0) return item.substr(key.size());
  }
  return {};
}

}  // namespace

TEST_CASE("every dispatched method has its section, and every section a method") {
  const auto doc = lines_of(read_text(kRoot / "docs/cashier-api.md"));
  const auto sections = method_sections(doc);
  std::set<std::string> code;
  for (Method m : all_methods()) {
    const std::string name(method_name(m));
    REQUIRE(method_from_name(name) == m);
    code.insert(name);
    CHECK_MESSAGE(sections.count(name) == 1, "docs/cashier-api.md has no section \"### `" << name << "`\"");
  }
  for (const auto& section : sections) {
    const std::string& name = section.first;
    CHECK_MESSAGE(code.count(name) == 1, "docs/cashier-api.md documents " << name << ", which the server does not dispatch");
  }
  CHECK(code.size() == static_cast<std::size_t>(method_count));
}

TEST_CASE("each method's section: the roles of auth.cpp, its request id, a real example") {
  const auto doc = lines_of(read_text(kRoot / "docs/cashier-api.md"));
  const auto sections = method_sections(doc);
  for (Method m : all_methods()) {
    const std::string name(method_name(m));
    const auto it = sections.find(name);
    if (it == sections.end()) continue;  // reported by the case above
    const auto& body = it->second;
    INFO("method " << name);

    // "**Roles:** cashier, supervisor" or "**Roles:** any (also before a login)".
    const std::string roles_text = field_line(body, "**Roles:** ");
    REQUIRE_MESSAGE(!roles_text.empty(), "no **Roles:** line");
    // The roles, comma-separated, each with an optional note in parentheses.
    static const std::regex note(R"(\s*\([^)]*\))");
    const std::string bare = std::regex_replace(roles_text, note, "");
    std::set<std::string> doc_roles;
    std::istringstream parts(bare);
    for (std::string part; std::getline(parts, part, ',');) {
      part.erase(0, part.find_first_not_of(' '));
      part.erase(part.find_last_not_of(' ') + 1);
      if (part == "any") {
        doc_roles.insert({"cashier", "supervisor", "auditor", "admin"});
        continue;
      }
      CHECK_MESSAGE(role_from_name(part).has_value(), "\"" << part << "\" is no role");
      doc_roles.insert(part);
    }
    std::set<std::string> code_roles;
    for (Role r : {Role::cashier, Role::supervisor, Role::auditor, Role::admin})
      if (role_may_call(r, m)) code_roles.insert(std::string(role_name(r)));
    CHECK_MESSAGE(doc_roles == code_roles, "**Roles:** " << roles_text);
    CHECK_MESSAGE((roles_text.find("before a login") != std::string::npos) == allowed_without_login(m),
                  "**Roles:** says \"before a login\" exactly for the methods allowed without one");

    // Methods answered again from the stored answer say so.
    const std::string rid = field_line(body, "**Request id:** ");
    CHECK_MESSAGE((rid.rfind("required, idempotent", 0) == 0) == is_mutating(m),
                  "**Request id:** must be \"required, idempotent\" exactly for the idempotent methods, is: " << rid);

    // The example: a fenced block, the request line then its answer line.
    std::vector<std::string> example;
    bool in_block = false, found = false;
    for (const std::string& l : body) {
      if (l.rfind("```", 0) == 0) {
        if (in_block && !example.empty()) { found = true; break; }
        in_block = l == "```json";
        example.clear();
        continue;
      }
      if (in_block && !l.empty()) example.push_back(l);
    }
    REQUIRE_MESSAGE(found, "no ```json example block");
    REQUIRE_MESSAGE(example.size() >= 2, "the example needs the request line and its answer");
    auto req = json::parse(example[0], "example request");
    REQUIRE_MESSAGE(req, "the example's request is not JSON: " << example[0]);
    CHECK(req.value()["jsonrpc"] == "2.0");
    CHECK(req.value()["method"] == name);
    bool answered = false;
    for (std::size_t i = 1; i < example.size(); ++i) {
      auto ans = json::parse(example[i], "example answer");
      REQUIRE_MESSAGE(ans, "an example line is not JSON: " << example[i]);
      if (ans.value().contains("id") && ans.value()["id"] == req.value()["id"]) {
        answered = true;
        CHECK((ans.value().contains("result") || ans.value().contains("error")));
      }
    }
    CHECK_MESSAGE(answered, "the example has no answer with the request's id");
  }
}

TEST_CASE("the roles table lists every method once, as auth.cpp allows it") {
  const auto doc = lines_of(read_text(kRoot / "docs/cashier-api.md"));
  const auto chap = chapter(doc, "Sessions and roles");
  REQUIRE_MESSAGE(!chap.empty(), "docs/cashier-api.md has no \"## Sessions and roles\" chapter");
  static const std::regex name(R"(`([a-z_]+\.[a-z_]+)`)");
  const Role columns[] = {Role::cashier, Role::supervisor, Role::auditor, Role::admin};
  std::map<std::string, int> rows_of;
  for (const std::string& l : chap) {
    if (l.rfind("| `", 0) != 0) continue;
    std::vector<std::string> cells;
    std::istringstream in(l.substr(1));
    for (std::string c; std::getline(in, c, '|');) cells.push_back(c);
    INFO(l);
    REQUIRE(cells.size() >= 5);
    for (auto m = std::sregex_iterator(cells[0].begin(), cells[0].end(), name); m != std::sregex_iterator(); ++m) {
      const std::string method = (*m)[1].str();
      ++rows_of[method];
      const auto known = method_from_name(method);
      CHECK_MESSAGE(known.has_value(), "the roles table lists " << method << ", which the server does not dispatch");
      if (!known) continue;
      for (std::size_t i = 0; i < 4; ++i) {
        const bool doc_may = cells[i + 1].find("—") == std::string::npos;
        CHECK_MESSAGE(doc_may == role_may_call(columns[i], *known),
                      method << " for " << role_name(columns[i]) << ": the table says " << cells[i + 1]);
      }
    }
  }
  for (Method m : all_methods())
    CHECK_MESSAGE(rows_of[std::string(method_name(m))] == 1, method_name(m) << " is not in the roles table exactly once");
}

TEST_CASE("every error reason has its row in the error table, with its code") {
  const auto table = chapter(lines_of(read_text(kRoot / "docs/cashier-api.md")), "Errors");
  REQUIRE_MESSAGE(!table.empty(), "docs/cashier-api.md has no \"## Errors\" chapter");
  static const std::regex row(R"(^\| `([A-Z_]+)` \| (-?[0-9]+) \| (yes|no|[a-z][^|]*) \|.*\|\s*$)");
  std::map<std::string, int> doc_codes;
  for (const std::string& l : table) {
    std::smatch m;
    if (std::regex_match(l, m, row)) doc_codes[m[1].str()] = std::stoi(m[2].str());
  }
  for (Reason r : all_reasons()) {
    const std::string name(reason_name(r));
    const auto it = doc_codes.find(name);
    if (it == doc_codes.end()) {
      FAIL_CHECK("the error table has no row \"| `" << name << "` | " << reason_rpc_code(r) << " | ...\"");
      continue;
    }
    CHECK_MESSAGE(it->second == reason_rpc_code(r), name << ": the table says " << it->second);
  }
  for (const auto& listed : doc_codes) {
    const std::string& name = listed.first;
    CHECK_MESSAGE(reason_from_name(name).has_value(), "the error table lists " << name << ", which is no reason");
  }
  CHECK(all_reasons().size() >= 30);
}

TEST_CASE("every events topic is documented, and no other") {
  const auto events = chapter(lines_of(read_text(kRoot / "docs/cashier-api.md")), "Events");
  REQUIRE_MESSAGE(!events.empty(), "docs/cashier-api.md has no \"## Events\" chapter");
  static const std::regex row(R"(^\| `([a-z_]+)` \| `([a-z_]+\.[a-z_]+)`.*$)");
  std::set<std::string> doc_topics;
  for (const std::string& l : events) {
    std::smatch m;
    if (std::regex_match(l, m, row)) {
      doc_topics.insert(m[1].str());
      CHECK_MESSAGE(m[2].str().rfind(m[1].str() + ".", 0) == 0, "topic " << m[1].str() << " with event " << m[2].str());
    }
  }
  std::set<std::string> code_topics;
  for (Topic t : all_topics()) code_topics.insert(std::string(topic_name(t)));
  CHECK(code_topics.size() >= 3);
  for (const auto& t : code_topics) CHECK_MESSAGE(doc_topics.count(t) == 1, "topic " << t << " has no row in \"## Events\"");
  for (const auto& t : doc_topics) CHECK_MESSAGE(code_topics.count(t) == 1, "the events table lists topic " << t << ", which is none");
}

TEST_CASE("every insurer transaction of the codecs is in docs/insurer-protocol.md") {
  // The codecs name each transaction once: `static constexpr std::string_view infno = "2207";`.
  const std::string codecs = read_text(kRoot / "protocol/insurer/codecs.hpp");
  static const std::regex declared(R"re(infno = "([0-9]{4})")re");
  const auto doc = lines_of(read_text(kRoot / "docs/insurer-protocol.md"));
  const auto txns = chapter(doc, "Transactions");
  REQUIRE_MESSAGE(!txns.empty(), "docs/insurer-protocol.md has no \"## Transactions\" chapter");
  std::set<std::string> code;
  for (auto m = std::sregex_iterator(codecs.begin(), codecs.end(), declared); m != std::sregex_iterator(); ++m)
    code.insert((*m)[1].str());
  CHECK(code.size() >= 20);
  for (const std::string& infno : code) {
    bool listed = false, fields = false;
    for (const std::string& l : txns) {
      if (l.rfind("| " + infno + " |", 0) == 0) listed = true;
      if (l.rfind("| ", 0) == 0 && l.find(infno) != std::string::npos && l.find('{') != std::string::npos) fields = true;
    }
    CHECK_MESSAGE(listed, infno << " has no row in the transactions table");
    CHECK_MESSAGE(fields, infno << " has no row in the fields table");
  }
}

TEST_CASE("the reference states the version engine.status answers") {
  const std::string doc = read_text(kRoot / "docs/cashier-api.md");
  const std::string stated = "This is version **" + std::string(api_version) + "**";
  CHECK_MESSAGE(doc.find(stated) != std::string::npos, "docs/cashier-api.md does not say \"" << stated << "\"");
}

TEST_CASE("no document points outside the repository") {
  // Paths of a developer's machine, or beside the repository.
  static const std::regex foreign(R"((\.\./shared|/work/|/home/|/Users/|/mnt/|[A-Za-z]:\\|file:///[A-Za-z]))");
  // Markdown links, and doc paths named in the text.
  static const std::regex link(R"(\]\(([^)\s]+)\))");
  static const std::regex doc_name(R"(\bdocs/[A-Za-z0-9_-]+\.md\b)");
  const fs::path root = fs::weakly_canonical(kRoot);
  for (const fs::path& p : documents()) {
    const auto lines = lines_of(read_text(p));
    bool fenced = false;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const std::string& l = lines[i];
      INFO(fs::relative(p, kRoot).string() << ":" << i + 1 << ": " << l);
      if (l.rfind("```", 0) == 0) fenced = !fenced;
      CHECK_MESSAGE(!std::regex_search(l, foreign), "a path outside the repository");
      for (auto d = std::sregex_iterator(l.begin(), l.end(), doc_name); d != std::sregex_iterator(); ++d)
        CHECK_MESSAGE(fs::exists(kRoot / d->str()), d->str() << " does not exist");
      if (fenced) continue;  // code, not links
      for (auto m = std::sregex_iterator(l.begin(), l.end(), link); m != std::sregex_iterator(); ++m) {
        std::string target = (*m)[1].str();
        if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0 || target.rfind("mailto:", 0) == 0) continue;
        if (const auto hash = target.find('#'); hash != std::string::npos) target.resize(hash);
        if (target.empty()) continue;  // an anchor in the same page
        CHECK_MESSAGE(target[0] != '/', "link to an absolute path " << target);
        const fs::path resolved = fs::weakly_canonical(p.parent_path() / target);
        const std::string rel = fs::relative(resolved, root).string();
        CHECK_MESSAGE(rel.rfind("..", 0) != 0, "link leaves the repository: " << target);
        CHECK_MESSAGE(fs::exists(resolved), "link to a missing file: " << target);
      }
    }
  }
  const std::string readme = read_text(kRoot / "README.md");
  for (const char* ref : {"docs/cashier-api.md", "docs/insurer-protocol.md"})
    CHECK_MESSAGE(readme.find(std::string("](") + ref + ")") != std::string::npos, "README.md does not link " << std::string(ref));
}
