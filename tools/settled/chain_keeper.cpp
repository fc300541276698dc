// ChainKeeper: the checkpoint key's loading rules, the signed checkpoints the
// daemon writes and logs (one line each, an outside record of the chain's
// head), and the reconciliation's walk from its previous checkpoint.
#include "tools/settled/chain_keeper.hpp"

#include "tools/settled/clock.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>

namespace settle::daemon {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using ledger::chain::Checkpoint;

Result<std::unique_ptr<ChainKeeper>> ChainKeeper::open(asio::io_context& ioc, const Config& config,
                                                       ledger::Ledger& ledger) {
  std::string path = config.ledger.checkpoint_key;
  bool may_create = false;
  if (path.empty()) {
    const char* creds = std::getenv("CREDENTIALS_DIRECTORY");
    std::error_code ec;
    if (creds != nullptr && fs::exists(fs::path(creds) / "checkpoint-key", ec)) {
      path = (fs::path(creds) / "checkpoint-key").string();
    } else {
      path = (fs::path(config.data_dir) / "checkpoint.key").string();
      may_create = true;
    }
  }
  std::error_code ec;
  sql::Result<ledger::chain::Signer> signer = ledger::chain::Signer::load(path);
  if (!signer && may_create && !fs::exists(path, ec)) {
    signer = ledger::chain::Signer::generate(path);
    if (signer)
      spdlog::warn("ledger: made a new checkpoint key {} (key id {}); keep a copy of its public key away from this "
                   "machine, or give the key as the systemd credential checkpoint-key (docs/ledger-integrity.md)",
                   path, signer->key_id());
  }
  if (!signer)
    return make_error(Reason::invalid_config, "ledger.checkpoint_key", signer.error().message);
  return std::unique_ptr<ChainKeeper>(
      new ChainKeeper(ioc, ledger, std::move(signer).value(), path, config.ledger.checkpoint_interval_s));
}

ChainKeeper::ChainKeeper(asio::io_context& ioc, ledger::Ledger& ledger, ledger::chain::Signer signer, std::string path,
                         std::uint32_t interval_s)
    : ledger_(ledger),
      signer_(std::move(signer)),
      verifier_(ledger::chain::Verifier::of(signer_)),
      key_path_(std::move(path)),
      interval_s_(interval_s),
      wakeup_(ioc) {}

void ChainKeeper::log(const Checkpoint& cp) const {
  spdlog::info("ledger checkpoint {} ({}): chain entry {} hash {} signed by key {}", cp.checkpoint_id, cp.reason,
               cp.head_seq, ledger::chain::hex(cp.head_hash), cp.key_id);
}

void ChainKeeper::checkpoint_now(std::string_view reason) {
  const std::string why(reason);
  auto r = ledger_.write_wait([this, why](sql::Db& db) {
    return ledger::chain::write_checkpoint(db, signer_, why, now_ms(), true);
  });
  if (!r)
    spdlog::error("ledger: the {} checkpoint could not be written: {}", why, r.error().message);
  else if (*r)
    log(**r);
}

asio::awaitable<void> ChainKeeper::run_schedule() {
  while (!stopping_) {
    wakeup_.expires_after(std::chrono::seconds(interval_s_));
    boost::system::error_code ec;
    co_await wakeup_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) break;
    // On the writer's thread, as one more job of the group commit.
    ledger_.write(
        [this](sql::Db& db) { return ledger::chain::write_checkpoint(db, signer_, "schedule", now_ms(), true); },
        [this](const sql::Result<std::optional<Checkpoint>>& r) {
          if (!r)
            spdlog::error("ledger: the scheduled checkpoint could not be written: {}", r.error().message);
          else if (*r)
            log(**r);
        });
  }
}

void ChainKeeper::stop() {
  stopping_ = true;
  wakeup_.cancel();
}

void ChainKeeper::checkpoint_in(sql::Db& db, std::string_view reason) const {
  // A savepoint: a failed checkpoint leaves the job's own writes as they are.
  auto sp = sql::Savepoint::begin(db, "checkpoint");
  if (!sp) return spdlog::error("ledger: the {} checkpoint could not be written: {}", reason, sp.error().message);
  auto r = ledger::chain::write_checkpoint(db, signer_, reason, now_ms(), true);
  if (!r) return spdlog::error("ledger: the {} checkpoint could not be written: {}", reason, r.error().message);
  if (auto s = sp->release(); !s)
    return spdlog::error("ledger: the {} checkpoint could not be written: {}", reason, s.error().message);
  if (*r) log(**r);
}

sql::Result<ledger::chain::VerifyReport> ChainKeeper::verify_since_last_reconciliation(sql::Db& db) const {
  auto last = db.query_int64(
      "SELECT checkpoint_id FROM chain_checkpoints WHERE reason = 'reconciliation' ORDER BY checkpoint_id DESC "
      "LIMIT 1");
  if (!last) return last.error();
  ledger::chain::VerifyOptions opt;
  opt.key = &verifier_;
  opt.from_checkpoint = *last;
  return ledger::chain::verify(db, opt);
}

}  // namespace settle::daemon
