// settlectl ledger verify / keygen: the hash chain's verifying walk over a
// ledger file (read-only, beside a running daemon through WAL) and the
// checkpoint key. Output for people, or --json for programs.
#include "tools/settlectl/ledger_cmds.hpp"

#include "offline/chain.hpp"
#include "offline/ledger.hpp"
#include "offline/storage_key.hpp"
#include "protocol/json.hpp"
#include "tools/common/exit_codes.hpp"
#include "tools/settlectl/session.hpp"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

namespace settle::tools {
namespace {

using json::Json;
namespace fs = std::filesystem;

std::string time_text(std::int64_t ms) {
  const std::time_t s = static_cast<std::time_t>(ms / 1000) + 8 * 3600;  // the hospital's +08:00
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return std::string(buf) + " +08:00";
}

Json report_json(const std::string& path, const ledger::chain::VerifyReport& r, const std::string& key_id) {
  Json problems = Json::array();
  for (const auto& p : r.problems)
    problems.push_back(Json{{"seq", p.seq}, {"kind", p.kind}, {"ref", p.ref}, {"what", p.what}, {"message", p.message}});
  Json counts = Json::object();
  for (const auto& [k, n] : r.counts) counts[k] = n;
  Json j{{"ledger", path},
         {"intact", r.ok()},
         {"entries", r.entries},
         {"head_seq", r.head_seq},
         {"head_hash", ledger::chain::hex(r.head_hash)},
         {"checkpoints", r.checkpoints},
         {"checkpoints_signed", r.checkpoints_signed},
         {"key_checked", r.key_checked},
         {"key_id", key_id},
         {"counts", counts},
         {"problems", problems}};
  if (r.last_checkpoint)
    j["last_checkpoint"] = Json{{"checkpoint_id", r.last_checkpoint->checkpoint_id},
                                {"at", time_text(r.last_checkpoint->at_ms)},
                                {"reason", r.last_checkpoint->reason},
                                {"head_seq", r.last_checkpoint->head_seq}};
  return j;
}

}  // namespace

int run_ledger_verify(const LedgerVerifyCommand& c, std::ostream& out, std::ostream& err) {
  const auto fail = [&](int code, const std::string& message, const char* field) {
    if (c.json)
      out << Json{{"error", Json{{"reason", reason_of_status(code)}, {"message", message}, {"field", field},
                                 {"exit_code", code}}},
                  {"ledger", c.ledger}}.dump()
          << "\n";
    else
      err << "settlectl ledger verify: " << message << "\n";
    return code;
  };
  std::error_code ec;
  if (!fs::is_regular_file(c.ledger, ec)) return fail(exit_code::local, fmt::format("{}: no such ledger file", c.ledger), "--ledger");
  std::string key_path = c.key;
  if (key_path.empty()) {
    const auto beside = fs::path(c.ledger).parent_path() / "checkpoint.key";
    if (fs::exists(beside, ec)) key_path = beside.string();
  }
  std::optional<ledger::chain::Verifier> key;
  if (!key_path.empty()) {
    auto k = ledger::chain::Verifier::load(key_path);
    if (!k) return fail(exit_code::usage, k.error().message, "--checkpoint-key");
    key.emplace(std::move(k).value());
  }
  sql::Key storage;
  if (auto source = sql::key_source(c.storage_key)) {
    auto k = sql::StorageKey::load(*source);
    if (!k) return fail(exit_code::usage, k.error().message, "--key-file");
    storage = std::move(k).value();
  }
  auto db = ledger::open_connection(c.ledger, sql::OpenMode::read_only, 5000, storage);
  if (!db) return fail(exit_code::local, fmt::format("{}: {}", c.ledger, db.error().message), "--ledger");
  auto version = db->query_int64("PRAGMA user_version");
  if (!version) return fail(exit_code::local, fmt::format("{}: {}", c.ledger, version.error().message), "--ledger");
  if (version->value_or(0) < 7)
    return fail(exit_code::local,
                fmt::format("{} is at schema v{}: it has no hash chain yet (settled chains it when it next starts)",
                            c.ledger, version->value_or(0)),
                "--ledger");
  ledger::chain::VerifyOptions opt;
  opt.key = key ? &*key : nullptr;
  if (!c.json)
    opt.progress = [&err](std::int64_t done, std::int64_t total) {
      if (total >= 100'000) err << fmt::format("\rverifying: {} of {} entries ({}%)", done, total, done * 100 / total)
                         << std::flush;
    };
  const auto t0 = std::chrono::steady_clock::now();
  auto r = ledger::chain::verify(*db, opt);
  if (!r) return fail(exit_code::local, fmt::format("{}: {}", c.ledger, r.error().message), "--ledger");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (c.json) {
    Json j = report_json(c.ledger, *r, key ? key->key_id() : "");
    j["seconds"] = secs;
    out << j.dump() << "\n";
    return r->ok() ? exit_code::ok : exit_code::not_right;
  }
  if (opt.progress && r->entries >= 100'000) err << "\r" << std::string(60, ' ') << "\r";
  out << fmt::format("ledger {}: {} chain entries, head {} ({}), {:.1f} s\n", c.ledger, r->entries, r->head_seq,
                     ledger::chain::hex(r->head_hash).substr(0, 16), secs);
  if (!key)
    out << fmt::format("checkpoints: {}, signatures NOT checked (no key: give --checkpoint-key, the public key of the "
                       "checkpoints)\n",
                       r->checkpoints);
  else
    out << fmt::format("checkpoints: {}, {} signed by key {} and good\n", r->checkpoints, r->checkpoints_signed,
                       key->key_id());
  if (r->last_checkpoint)
    out << fmt::format("last checkpoint: {} at {} ({}), entry {}\n", r->last_checkpoint->checkpoint_id,
                       time_text(r->last_checkpoint->at_ms), r->last_checkpoint->reason,
                       r->last_checkpoint->head_seq);
  if (r->ok()) {
    out << "INTACT: no chained row was edited, deleted, inserted or reordered"
        << (r->last_checkpoint ? "; entries after the last checkpoint are vouched for by the chain only\n" : "\n");
    return 0;
  }
  out << fmt::format("BROKEN: {} problem(s){}; the first:\n", r->problems.size(),
                     r->problems.size() >= opt.max_problems ? " (or more)" : "");
  for (const auto& p : r->problems) out << "  " << p.message << "\n";
  return exit_code::not_right;
}

int run_ledger_keygen(const LedgerKeygenCommand& c, std::ostream& out, std::ostream& err) {
  auto s = ledger::chain::Signer::generate(c.out);
  if (!s) {
    err << "settlectl ledger keygen: " << s.error().message << "\n";
    return exit_code::local;
  }
  out << fmt::format("checkpoint key {} written to {} (mode 0600), key id {}\n", c.out, c.out, s->key_id());
  if (!c.public_out.empty()) {
    std::ofstream pub(c.public_out);
    pub << s->public_pem();
    if (!pub) {
      err << "settlectl ledger keygen: cannot write " << c.public_out << "\n";
      return exit_code::local;
    }
    out << fmt::format("public key written to {}: give it to whoever verifies the ledger\n", c.public_out);
  }
  return 0;
}

}  // namespace settle::tools
