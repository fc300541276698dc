// settlectl ledger encrypt / rekey / status: the ledger and the red list
// rewritten page by page into encrypted (or re-encrypted) files by
// sql::rewrite_file, each checked before it replaces the original.
#include "tools/settlectl/storage_cmds.hpp"

#include "offline/storage_key.hpp"
#include "tools/common/exit_codes.hpp"
#include "tools/settlectl/file_owner.hpp"
#include "tools/settled/config.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <optional>
#include <ostream>
#include <vector>

namespace settle::tools {
namespace {

struct Files {
  std::vector<std::pair<std::string, std::string>> list;  // what, path
  std::string key_file;
};

// The files and the key from the options, the config filling what they leave.
std::optional<Files> files_of(const StorageCommand& c, std::ostream& err) {
  Files f;
  std::string ledger = c.ledger, redlist = c.redlist, key = c.key_file;
  if (ledger.empty() || (redlist.empty() && c.ledger.empty()) || key.empty()) {
    auto config = daemon::load_config(c.config);
    if (!config) {
      if (ledger.empty()) {
        err << "settlectl: " << config.error().message << " (or give --ledger and --key-file)\n";
        return std::nullopt;
      }
    } else {
      if (ledger.empty()) ledger = config->ledger_path;
      if (redlist.empty() && c.ledger.empty()) redlist = config->redlist.path;
      if (key.empty()) key = config->storage.key_file;
    }
  }
  f.list.emplace_back("ledger", ledger);
  if (!redlist.empty()) f.list.emplace_back("red list", redlist);
  // Copies the ledger made of itself before a migration are ledgers too.
  std::error_code ec;
  const auto dir = std::filesystem::absolute(ledger).parent_path();
  const auto base = std::filesystem::path(ledger).filename().string();
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const auto name = e.path().filename().string();
    if (name.starts_with(base + ".v") && name.ends_with(".bak")) f.list.emplace_back("ledger backup", e.path().string());
  }
  f.key_file = sql::key_source(key).value_or("");
  return f;
}

}  // namespace

int run_storage(const StorageCommand& c, std::ostream& out, std::ostream& err) {
  auto files = files_of(c, err);
  if (!files) return exit_code::usage;
  sql::Key key;
  if (!files->key_file.empty()) {
    auto k = sql::StorageKey::load(files->key_file);
    if (!k) {
      err << "settlectl: " << k.error().message << "\n";
      return exit_code::usage;
    }
    key = *k;
  }
  if (c.action == "status") {
    for (const auto& [what, path] : files->list) {
      const auto look = sql::look_at(path, key.get());
      const char* state = look == sql::FileLook::missing     ? "missing"
                          : look == sql::FileLook::plain     ? "plain (not encrypted)"
                          : look == sql::FileLook::encrypted ? (key ? "encrypted with this key" : "encrypted (no key given)")
                          : look == sql::FileLook::wrong_key ? "encrypted with another key"
                                                             : "not an SQLite file";
      out << fmt::format("{} {}: {}\n", what, path, state);
    }
    return 0;
  }
  if (!key) {
    err << "settlectl: no storage key: give --key-file, set [storage] key_file in " << c.config
        << ", or run with the ledger-key credential ($CREDENTIALS_DIRECTORY/ledger-key)\n";
    return exit_code::usage;
  }
  sql::Key to = key;
  sql::Key from;
  if (c.action == "rekey") {
    if (c.new_key_file.empty()) {
      err << "settlectl: ledger rekey needs --new-key FILE\n";
      return exit_code::usage;
    }
    auto k = sql::StorageKey::load(c.new_key_file);
    if (!k) {
      err << "settlectl: " << k.error().message << "\n";
      return exit_code::usage;
    }
    from = key;
    to = *k;
  }
  int status = 0;
  for (const auto& [what, path] : files->list) {
    // encrypt: plain files, with the key; rekey: files encrypted with the old key.
    const auto look = sql::look_at(path, c.action == "encrypt" ? to.get() : from.get());
    if (look == sql::FileLook::missing) {
      out << fmt::format("{} {}: missing, nothing to do\n", what, path);
      continue;
    }
    if (c.action == "encrypt" && look == sql::FileLook::encrypted) {
      out << fmt::format("{} {}: already encrypted with this key\n", what, path);
      continue;
    }
    if (auto problem = sql::key_problem(path, c.action == "encrypt" && look == sql::FileLook::plain ? nullptr : from.get())) {
      err << "settlectl: " << *problem << "\n";
      status = exit_code::not_right;
      continue;
    }
    if (c.action == "encrypt" && look != sql::FileLook::plain) {
      err << "settlectl: " << path << " is not a plain SQLite file (encrypted with another key?); it is left as it is\n";
      status = exit_code::not_right;
      continue;
    }
    const auto owner = owner_of(path);
    auto pages = sql::rewrite_file(path, from, to);
    // rewrite_file keeps the file's owner; the .lock it may have made, too.
    if (owner)
      if (auto problem = keep_owner(path, *owner)) err << "settlectl: " << *problem << "\n";
    if (!pages) {
      err << "settlectl: " << what << " " << path << ": " << pages.error().message << "; the file is unchanged\n";
      status = exit_code::local;  // in use by a running settled (busy), or not written
      continue;
    }
    if (what == "ledger backup") {  // no .lock is kept beside a backup
      std::error_code ec;
      std::filesystem::remove(path + ".lock", ec);
    }
    out << fmt::format("{} {}: {} ({} pages)\n", what, path, c.action == "rekey" ? "rekeyed" : "encrypted", *pages);
  }
  if (status == 0 && c.action == "rekey")
    out << "now point [storage] key_file (or the ledger-key credential) at " << c.new_key_file
        << " before starting settled; keep an offline copy of it\n";
  if (status == 0 && c.action == "encrypt")
    out << "the old plaintext blocks may remain on the disk (docs/encryption.md)\n";
  return status;
}

}  // namespace settle::tools
