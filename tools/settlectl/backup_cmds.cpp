// settlectl backup / restore (backup_cmds.hpp): the online backup API of
// SQLite through the same storage key, the copies checked (integrity_check,
// the ledger's hash chain) and summed (sha256) into manifest.json; the
// restore checks them again, keeps the live files aside and their owners.
#include "tools/settlectl/backup_cmds.hpp"

#include "offline/chain.hpp"
#include "offline/digest.hpp"
#include "offline/file_lock.hpp"
#include "offline/fsync.hpp"
#include "offline/ledger.hpp"
#include "offline/storage_key.hpp"
#include "protocol/json.hpp"
#include "tools/common/exit_codes.hpp"
#include "tools/common/version.hpp"
#include "tools/settled/clock.hpp"
#include "tools/settled/config.hpp"
#include "tools/settlectl/client.hpp"
#include "tools/settlectl/file_owner.hpp"
#include "tools/settlectl/session.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <vector>

namespace settle::tools {

using json::Json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kManifest = "manifest.json";
constexpr const char* kFormat = "settle-backup 1";

// A database the backup holds: its name in the backup directory, what it is,
// and the live file.
struct Target {
  std::string file;  // ledger.db, redlist.db
  std::string what;  // ledger, red list
  std::string path;  // the live file
  bool ledger = false;
};

struct Setup {
  std::vector<Target> targets;
  sql::Key key;
  std::string key_file;
  std::string socket;
  std::string checkpoint_key;
};

// Every failure of these commands: its exit status, a sentence, the option.
struct Stop {
  int status = exit_code::local;
  std::string message;
  std::string field;
};

int stop(const BackupCommand& c, const Stop& s, std::ostream& out, std::ostream& err) {
  return report_failure(Failure{s.status, s.message, reason_of_status(s.status), s.field}, c.json, out, err);
}

std::optional<Stop> setup(const BackupCommand& c, Setup& s) {
  std::string ledger = c.ledger, redlist = c.redlist, key = c.key_file;
  s.socket = c.socket;
  if (ledger.empty() || (redlist.empty() && c.ledger.empty()) || key.empty() || s.socket.empty()) {
    auto config = daemon::load_config(c.config);
    if (config) {
      if (ledger.empty()) ledger = config->ledger_path;
      if (redlist.empty() && c.ledger.empty()) redlist = config->redlist.path;
      if (key.empty()) key = config->storage.key_file;
      if (s.socket.empty()) s.socket = config->cashier.socket_path;
    } else if (ledger.empty()) {
      return Stop{exit_code::usage, config.error().message + " (or give --ledger, --redlist and --key-file)",
                  "--config"};
    }
  }
  s.targets.push_back(Target{"ledger.db", "ledger", ledger, true});
  if (!redlist.empty()) s.targets.push_back(Target{"redlist.db", "red list", redlist, false});
  s.key_file = sql::key_source(key).value_or("");
  if (!s.key_file.empty()) {
    auto k = sql::StorageKey::load(s.key_file);
    if (!k) return Stop{exit_code::usage, k.error().message, "--key-file"};
    s.key = *k;
  }
  s.checkpoint_key = c.checkpoint_key;
  if (s.checkpoint_key.empty()) {
    const auto beside = fs::path(ledger).parent_path() / "checkpoint.key";
    std::error_code ec;
    if (fs::exists(beside, ec)) s.checkpoint_key = beside.string();
  }
  return std::nullopt;
}

std::string local_stamp(const char* format) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

// A copy or its directory made durable, the failure as settlectl's.
Status fsync_path(const std::string& path, bool directory) {
  if (auto s = sql::fsync_path(path, directory); !s) return make_error(Reason::storage_failed, path, s.error().message);
  return settle::Ok{};
}

// The checks of one database copy: integrity, schema, size, sum, and for the
// ledger its hash chain. `problem` is set when the copy is not right.
struct Checked {
  Json info = Json::object();
  std::string problem;
};

Checked check_copy(const Target& t, const std::string& copy, const Setup& s) {
  Checked r;
  if (auto p = sql::key_problem(copy, s.key.get())) {
    r.problem = *p;
    return r;
  }
  auto db = t.ledger ? ledger::open_connection(copy, sql::OpenMode::read_only, 5000, s.key)
                     : sql::Db::open(copy, {.mode = sql::OpenMode::read_only, .key = s.key});
  if (!db) {
    r.problem = fmt::format("{}: {}", copy, db.error().message);
    return r;
  }
  auto integrity = db->query_text("PRAGMA integrity_check");
  const std::string ok = integrity ? integrity->value_or("?") : integrity.error().message;
  r.info["integrity"] = ok;
  if (ok != "ok") r.problem = fmt::format("{} failed PRAGMA integrity_check: {}", copy, ok);
  auto version = db->query_int64("PRAGMA user_version");
  auto pages = db->query_int64("PRAGMA page_count");
  r.info["schema_version"] = version ? version->value_or(0) : -1;
  r.info["pages"] = pages ? pages->value_or(0) : -1;
  if (t.ledger && r.problem.empty()) {
    if (version && version->value_or(0) >= 7) {
      std::optional<ledger::chain::Verifier> verifier;
      if (!s.checkpoint_key.empty()) {
        auto v = ledger::chain::Verifier::load(s.checkpoint_key);
        if (v) verifier.emplace(std::move(v).value());
      }
      ledger::chain::VerifyOptions opt;
      opt.key = verifier ? &*verifier : nullptr;
      auto rep = ledger::chain::verify(*db, opt);
      if (!rep) {
        r.problem = fmt::format("{}: the chain could not be walked: {}", copy, rep.error().message);
      } else {
        r.info["chain"] = Json{{"entries", rep->entries},
                               {"head_seq", rep->head_seq},
                               {"head_hash", ledger::chain::hex(rep->head_hash)},
                               {"checkpoints", rep->checkpoints},
                               {"checkpoints_signed", rep->checkpoints_signed},
                               {"signatures_checked", verifier.has_value()},
                               {"intact", rep->ok()}};
        if (!rep->ok())
          r.problem = fmt::format("{}: the hash chain is broken: {}", copy,
                                  rep->problems.empty() ? std::string("?") : rep->problems.front().message);
      }
    } else {
      r.info["chain"] = nullptr;  // before schema v7 there is no chain
    }
  }
  std::error_code ec;
  r.info["bytes"] = static_cast<std::int64_t>(fs::file_size(copy, ec));
  auto sum = digest::sha256_file_hex(copy);
  if (!sum && r.problem.empty()) r.problem = fmt::format("cannot read {}", copy);
  r.info["sha256"] = sum.value_or("");
  return r;
}

// Copies one live database into `dest` with SQLite's online backup: a
// snapshot of what was committed when it began (settled goes on writing),
// through the same key, then made a standalone file (no -wal).
std::optional<std::string> copy_out(const Target& t, const std::string& dest, const Setup& s) {
  auto src = t.ledger
                 ? ledger::open_connection(t.path, sql::OpenMode::read_only, 10000, s.key)
                 : sql::Db::open(t.path, {.mode = sql::OpenMode::read_only, .busy_timeout_ms = 10000, .key = s.key});
  if (!src) return fmt::format("{} {}: {}", t.what, t.path, src.error().message);
  auto dst = sql::Db::open(dest, {.mode = sql::OpenMode::read_write_create, .key = s.key});
  if (!dst) return fmt::format("{}: {}", dest, dst.error().message);
  if (auto b = sql::backup(*src, *dst); !b) return fmt::format("{} {}: {}", t.what, t.path, b.error().message);
  if (auto m = dst->exec("PRAGMA journal_mode = DELETE"); !m) return fmt::format("{}: {}", dest, m.error().message);
  return std::nullopt;
}

bool daemon_answers(const std::string& socket) {
  if (socket.empty()) return false;
  return static_cast<bool>(CashierClient::connect(socket));
}

}  // namespace

int run_backup(const BackupCommand& c, std::ostream& out, std::ostream& err) {
  Setup s;
  if (auto st = setup(c, s)) return stop(c, *st, out, err);
  if (c.dir.empty()) return stop(c, {exit_code::usage, "give the backup directory: --to DIR", "--to"}, out, err);
  std::error_code ec;
  if (fs::exists(fs::path(c.dir) / kManifest, ec))
    return stop(c, {exit_code::usage, fmt::format("{} already holds a backup: give a new directory", c.dir), "--to"},
                out, err);
  fs::create_directories(c.dir, ec);
  if (!fs::is_directory(c.dir, ec))
    return stop(c, {exit_code::local, fmt::format("cannot create the directory {}", c.dir), "--to"}, out, err);
  ::chmod(c.dir.c_str(), 0700);

  const std::int64_t started = daemon::now_ms();
  Json files = Json::array();
  std::string not_right;
  for (const Target& t : s.targets) {
    std::error_code fe;
    if (!fs::exists(t.path, fe)) {
      if (t.ledger) return stop(c, {exit_code::local, fmt::format("no ledger at {}", t.path), "--ledger"}, out, err);
      err << fmt::format("settlectl backup: no {} at {}: not copied\n", t.what, t.path);
      continue;
    }
    const std::string dest = (fs::path(c.dir) / t.file).string();
    err << fmt::format("settlectl backup: copying the {} {} ...\n", t.what, t.path) << std::flush;
    const auto t0 = std::chrono::steady_clock::now();
    if (auto problem = copy_out(t, dest, s)) {
      fs::remove(dest, fe);
      return stop(c, {exit_code::local, *problem, t.ledger ? "--ledger" : "--redlist"}, out, err);
    }
    ::chmod(dest.c_str(), 0600);
    if (auto st = fsync_path(dest, false); !st)
      return stop(c, {exit_code::local, st.error().message, "--to"}, out, err);
    err << fmt::format("settlectl backup: checking the copy {} (integrity{}) ...\n", dest,
                       t.ledger ? ", hash chain" : "")
        << std::flush;
    Checked k = check_copy(t, dest, s);
    k.info["file"] = t.file;
    k.info["what"] = t.what;
    k.info["source"] = fs::absolute(t.path).string();
    k.info["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!k.problem.empty()) {
      k.info["problem"] = k.problem;
      if (not_right.empty()) not_right = k.problem;
    }
    files.push_back(k.info);
  }
  const Json manifest{{"format", kFormat},
                      {"settle_version", settle::version},
                      {"started_at", daemon::iso_time(started)},
                      {"finished_at", daemon::iso_time(daemon::now_ms())},
                      {"encrypted", static_cast<bool>(s.key)},
                      {"key_source", s.key_file.empty() ? Json(nullptr) : Json(fs::absolute(s.key_file).string())},
                      {"files", files},
                      {"checked", not_right.empty()}};
  const std::string tmp = (fs::path(c.dir) / (std::string(kManifest) + ".tmp")).string();
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << manifest.dump(2) << "\n";
    f.flush();
    if (!f) return stop(c, {exit_code::local, fmt::format("cannot write {}", tmp), "--to"}, out, err);
  }
  ::chmod(tmp.c_str(), 0600);
  if (auto st = fsync_path(tmp, false); !st) return stop(c, {exit_code::local, st.error().message, "--to"}, out, err);
  fs::rename(tmp, fs::path(c.dir) / kManifest, ec);
  if (ec)
    return stop(c, {exit_code::local, fmt::format("cannot write the manifest: {}", ec.message()), "--to"}, out, err);
  (void)fsync_path(c.dir, true);
  if (!not_right.empty())
    return stop(
        c, {exit_code::not_right, "the copy is not right: " + not_right + " (kept for a look; do not restore it)", ""},
        out, err);
  if (c.json) {
    out << manifest.dump(2) << "\n";
  } else {
    for (const auto& f : files)
      out << fmt::format("{:<10} {} bytes, schema v{}, integrity {}{}, sha256 {}\n", f.value("file", ""),
                         f.value("bytes", std::int64_t{0}), f.value("schema_version", std::int64_t{0}),
                         f.value("integrity", ""),
                         f.contains("chain") && f["chain"].is_object()
                             ? fmt::format(", chain intact ({} entries)", f["chain"].value("entries", std::int64_t{0}))
                             : "",
                         f.value("sha256", "").substr(0, 16));
    out << fmt::format("backup written to {} ({}), manifest {}\n", c.dir,
                       s.key ? "encrypted with the storage key, as the live files" : "plain, as the live files",
                       (fs::path(c.dir) / kManifest).string());
  }
  return exit_code::ok;
}

int run_restore(const BackupCommand& c, std::ostream& out, std::ostream& err) {
  Setup s;
  if (auto st = setup(c, s)) return stop(c, *st, out, err);
  if (c.dir.empty()) return stop(c, {exit_code::usage, "give the backup directory: --from DIR", "--from"}, out, err);
  const std::string manifest_path = (fs::path(c.dir) / kManifest).string();
  std::ifstream mf(manifest_path, std::ios::binary);
  if (!mf)
    return stop(
        c,
        {exit_code::usage, fmt::format("{} has no {}: not a backup of settlectl backup", c.dir, kManifest), "--from"},
        out, err);
  const std::string text{std::istreambuf_iterator<char>(mf), std::istreambuf_iterator<char>()};
  auto manifest = json::parse(text, manifest_path);
  if (!manifest || !manifest->is_object() || manifest->value("format", "") != kFormat ||
      !(*manifest)["files"].is_array())
    return stop(c, {exit_code::usage, fmt::format("{} is not a manifest of settlectl backup", manifest_path), "--from"},
                out, err);

  // settled must be stopped: its socket does not answer and its locks are free.
  if (daemon_answers(s.socket))
    return stop(c,
                {exit_code::local,
                 fmt::format("settled is running (its socket {} answers): stop it first "
                             "(systemctl stop settled), then restore",
                             s.socket),
                 ""},
                out, err);
  // Each .lock settled holds on a database while it runs, held here for the
  // whole restore so that settled cannot start meanwhile. One that cannot be
  // made (its folder not writable) leaves the restore's own writes to fail,
  // naming the file.
  std::vector<sql::FileLock> locks;
  for (const Target& t : s.targets) {
    auto lock = sql::FileLock::take(t.path);
    if (lock.is(sql::Errc::busy))
      return stop(c, {exit_code::local, fmt::format("{} {}: stop settled first", t.path, lock.error().message), ""},
                  out, err);
    if (!lock) continue;
    // A .lock made here belongs to the data's owner, or settled could not take it.
    if (const auto owner = owner_of(t.path); lock->created() && owner && ::geteuid() == 0)
      (void)::fchown(lock->fd(), owner->uid, owner->gid);
    locks.push_back(std::move(*lock));
  }

  // Every copy checked before anything is touched.
  struct Planned {
    const Target* target;
    std::string copy;
  };
  std::vector<Planned> plan;
  for (const Target& t : s.targets) {
    const Json* entry = nullptr;
    for (const auto& f : (*manifest)["files"])
      if (f.value("file", "") == t.file) entry = &f;
    if (entry == nullptr) {
      if (t.ledger)
        return stop(c, {exit_code::not_right, fmt::format("{} holds no ledger", c.dir), "--from"}, out, err);
      err << fmt::format("settlectl restore: the backup holds no {}: {} is left as it is\n", t.what, t.path);
      continue;
    }
    const std::string copy = (fs::path(c.dir) / t.file).string();
    err << fmt::format("settlectl restore: checking {} ...\n", copy) << std::flush;
    Checked k = check_copy(t, copy, s);
    if (k.problem.empty() && k.info["sha256"] != (*entry)["sha256"])
      k.problem = fmt::format("{} is not the file the manifest describes (sha256 {} there, {} here)", copy,
                              entry->value("sha256", ""), k.info.value("sha256", ""));
    if (!k.problem.empty())
      return stop(c, {exit_code::not_right, k.problem + "; nothing was changed", "--from"}, out, err);
    plan.push_back({&t, copy});
  }

  const std::string stamp = local_stamp("%Y%m%d-%H%M%S");
  for (const Planned& p : plan) {
    const Target& t = *p.target;
    const FileOwner owner = owner_of(t.path).value_or(FileOwner{::geteuid(), ::getegid(), 0600});
    // The live file and its sidecars kept aside, whole.
    std::error_code ec;
    const std::string aside = t.path + ".before-restore-" + stamp;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      if (!fs::exists(t.path + suffix, ec)) continue;
      fs::rename(t.path + suffix, aside + suffix, ec);
      if (ec)
        return stop(c, {exit_code::local, fmt::format("cannot move {} aside: {}", t.path + suffix, ec.message()), ""},
                    out, err);
    }
    const std::string tmp = t.path + ".restore-tmp";
    fs::copy_file(p.copy, tmp, fs::copy_options::overwrite_existing, ec);
    if (ec)
      return stop(
          c,
          {exit_code::local,
           fmt::format("cannot copy {} to {}: {} (the live file is kept as {})", p.copy, tmp, ec.message(), aside), ""},
          out, err);
    if (::geteuid() == 0 && ::chown(tmp.c_str(), owner.uid, owner.gid) != 0)
      return stop(c, {exit_code::local, fmt::format("chown {}: {}", tmp, std::strerror(errno)), ""}, out, err);
    ::chmod(tmp.c_str(), owner.mode);
    if (auto st = fsync_path(tmp, false); !st) return stop(c, {exit_code::local, st.error().message, ""}, out, err);
    fs::rename(tmp, t.path, ec);
    if (ec) return stop(c, {exit_code::local, fmt::format("cannot rename {}: {}", tmp, ec.message()), ""}, out, err);
    (void)fsync_path(fs::absolute(t.path).parent_path().string(), true);
    if (auto problem = keep_owner(t.path, owner)) return stop(c, {exit_code::local, *problem, ""}, out, err);
    if (!c.json)
      out << fmt::format("{} {}: restored from {} (the file it replaces is kept as {})\n", t.what, t.path, p.copy,
                         aside);
  }
  if (c.json) {
    Json restored = Json::array();
    for (const Planned& p : plan)
      restored.push_back(Json{{"what", p.target->what},
                              {"path", p.target->path},
                              {"from", p.copy},
                              {"kept_aside", p.target->path + ".before-restore-" + stamp}});
    out << Json{{"restored", restored}, {"backup_started_at", (*manifest).value("started_at", "")}}.dump(2) << "\n";
  } else {
    out << fmt::format("restored the backup of {}; start settled again (systemctl start settled)\n",
                       manifest->value("started_at", "?"));
  }
  return exit_code::ok;
}

}  // namespace settle::tools
