// The daemon's side of the ledger's hash chain: the checkpoint key (loaded
// from the config, the systemd credential, or made beside the ledger at the
// first start), the checkpoints it signs (at start, on a schedule, at every
// close-out and reconciliation, at a clean stop), and the nightly walk.
#pragma once

#include "engine/result.hpp"
#include "offline/chain.hpp"
#include "offline/ledger.hpp"
#include "tools/settled/config.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <string>

namespace settle::daemon {

class ChainKeeper {
 public:
  // The key: config ledger.checkpoint_key, else $CREDENTIALS_DIRECTORY/
  // checkpoint-key, else <data_dir>/checkpoint.key (created when missing).
  static Result<std::unique_ptr<ChainKeeper>> open(boost::asio::io_context& ioc, const Config& config,
                                                   ledger::Ledger& ledger);

  const ledger::chain::Signer& signer() const noexcept { return signer_; }
  const ledger::chain::Verifier& verifier() const noexcept { return verifier_; }
  const std::string& key_path() const noexcept { return key_path_; }

  // A checkpoint now, if the chain grew since the last one (waits for it).
  void checkpoint_now(std::string_view reason);
  // Checkpoints every interval while the chain grows, until stop().
  boost::asio::awaitable<void> run_schedule();
  void stop();

  // Inside a write job: a checkpoint of the chain as this job leaves it.
  // A failure is logged, never the job's failure (the money is what counts).
  void checkpoint_in(sql::Db& db, std::string_view reason) const;
  // The walk the reconciliation runs first: the entries since the last
  // reconciliation's checkpoint (the whole chain the first time).
  sql::Result<ledger::chain::VerifyReport> verify_since_last_reconciliation(sql::Db& db) const;

 private:
  ChainKeeper(boost::asio::io_context& ioc, ledger::Ledger& ledger, ledger::chain::Signer signer, std::string path,
              std::uint32_t interval_s);
  void log(const ledger::chain::Checkpoint& cp) const;

  ledger::Ledger& ledger_;
  ledger::chain::Signer signer_;
  ledger::chain::Verifier verifier_;
  std::string key_path_;
  std::uint32_t interval_s_;
  boost::asio::steady_timer wakeup_;
  bool stopping_ = false;
};

}  // namespace settle::daemon
