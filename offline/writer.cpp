// Group commit: the writer thread's loop, the per-job savepoints (none for a lone job), and what
// happens when a job's error took the whole transaction down with it.
#include "offline/writer.hpp"

#include <pthread.h>

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <utility>
#include <vector>

namespace settle::ledger {

Writer::Writer(sql::Db db, WriterOptions options)
    : db_(std::move(db)), options_(options), thread_([this] { loop(); }) {
  SETTLE_ASSERT(options_.queue_capacity > 0 && options_.max_batch > 0);
}

Writer::~Writer() { stop(); }

void Writer::submit(Job job, Done done, Touches touches) {
  std::unique_lock lock(mu_);
  // From a Done callback (the writer thread) waiting for room would wait on
  // ourselves: such follow-up jobs may exceed the bound by the callbacks of
  // one batch at most.
  if (std::this_thread::get_id() != writer_id_)
    not_full_.wait(lock, [&] { return stopping_ || queue_.size() < options_.queue_capacity; });
  if (stopping_) {
    lock.unlock();
    done(sql::DbError{sql::Errc::stopped, 0, "the ledger writer is stopped"});
    return;
  }
  queue_.push_back(Item{std::move(job), std::move(done), touches});
  lock.unlock();
  not_empty_.notify_one();
}

bool Writer::try_submit(Job& job, Done& done) {
  std::unique_lock lock(mu_);
  if (stopping_ || queue_.size() >= options_.queue_capacity) return false;
  queue_.push_back(Item{std::move(job), std::move(done)});
  lock.unlock();
  not_empty_.notify_one();
  return true;
}

std::future<sql::Status> Writer::submit_future(Job job) {
  auto promise = std::make_shared<std::promise<sql::Status>>();
  auto future = promise->get_future();
  submit(std::move(job), [promise](const sql::Status& s) { promise->set_value(s); });
  return future;
}

sql::Status Writer::run(Job job) {
  SETTLE_ASSERT(std::this_thread::get_id() != thread_id());  // would wait on itself
  return submit_future(std::move(job)).get();
}

void Writer::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  not_empty_.notify_all();
  not_full_.notify_all();
  if (thread_.joinable() && std::this_thread::get_id() != thread_id()) thread_.join();
}

WriterStats Writer::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::thread::id Writer::thread_id() const {
  std::lock_guard lock(mu_);
  return writer_id_;
}

void Writer::loop() {
  pthread_setname_np(pthread_self(), "ledger-writer");  // as `top -H` and perf show it
  {
    std::lock_guard lock(mu_);
    writer_id_ = std::this_thread::get_id();
  }
  std::deque<Item> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      not_empty_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      // Everything queued while the previous batch was committing forms this
      // batch: that is the grouping, with no timer and no added latency.
      const std::size_t n = std::min(queue_.size(), options_.max_batch);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    not_full_.notify_all();
    run_batch(batch);
  }
}

sql::Status Writer::run_job(Item& it) {
  sql::Status outcome = settle::Ok{};
  try {
    outcome = it.job(db_);
  } catch (const std::exception& e) {
    outcome = sql::DbError{sql::Errc::other, 0, fmt::format("ledger job threw: {}", e.what())};
  }
  db_.reset_active_statements();  // a half-read statement must not hold the batch
  return outcome;
}

void Writer::run_batch(std::deque<Item>& batch) {
  std::vector<Item> ran;  // jobs whose work is in the open transaction
  std::vector<std::pair<Item, sql::Status>> failed;
  ran.reserve(batch.size());

  // Runs jobs from the batch until it is empty or a job's error ended the
  // whole transaction (SQLITE_FULL, IOERR, RAISE(ROLLBACK)...): then the jobs
  // already run go back to the front of the batch to be redone in a new one.
  while (!batch.empty()) {
    auto tx = sql::Transaction::begin(db_, sql::TxKind::immediate);
    if (!tx) {
      for (Item& it : batch) failed.emplace_back(std::move(it), tx.error());
      batch.clear();
      break;
    }
    bool lost = false;
    while (!batch.empty() && !lost) {
      Item it = std::move(batch.front());
      batch.pop_front();
      sql::Status outcome = settle::Ok{};
      if (ran.empty() && batch.empty()) {
        // The transaction's only job: it needs no savepoint of its own, since
        // if it fails the transaction is rolled back with nothing else in it.
        outcome = run_job(it);
        if (!db_.in_transaction()) {
          lost = true;
          if (outcome) outcome = sql::DbError{sql::Errc::interrupted, 0, "ledger job ended the transaction"};
        }
      } else {
        auto sp = sql::Savepoint::begin(db_, "job");
        if (!sp) {
          outcome = sp.error();
        } else {
          outcome = run_job(it);
          if (!db_.in_transaction()) {
            lost = true;  // SQLite rolled back everything; the savepoint is gone
            (void)sp->rollback();
            if (outcome) outcome = sql::DbError{sql::Errc::interrupted, 0, "ledger job ended the transaction"};
          } else if (outcome) {
            if (auto r = sp->release(); !r) outcome = r;
          } else {
            (void)sp->rollback();
          }
        }
      }
      if (outcome) {
        ran.push_back(std::move(it));
      } else {
        failed.emplace_back(std::move(it), std::move(outcome));
      }
    }
    if (lost) {
      // The successful jobs of this transaction are gone with it: redo them.
      for (auto i = ran.rbegin(); i != ran.rend(); ++i) batch.push_front(std::move(*i));
      ran.clear();
      (void)tx->rollback();
      continue;
    }
    if (ran.empty()) {
      (void)tx->rollback();  // nothing to make durable
      break;
    }
    if (auto c = tx->commit(); !c) {
      (void)tx->rollback();
      sql::DbError e = c.error();
      e.message = fmt::format("commit failed, nothing of this batch is recorded: {}", e.message);
      for (Item& it : ran) failed.emplace_back(std::move(it), e);
      ran.clear();
      break;
    }
    break;  // committed
  }

  {
    const auto bytes = static_cast<std::uint64_t>(db_.take_bytes_written());
    std::lock_guard lock(mu_);
    stats_.wal_bytes += bytes;
    if (!ran.empty()) {
      stats_.transactions += 1;
      stats_.jobs_committed += ran.size();
      stats_.largest_batch = std::max<std::uint64_t>(stats_.largest_batch, ran.size());
    }
    stats_.jobs_failed += failed.size();
  }
  // COMMIT has returned: the jobs in `ran` are durable.
  const bool tracked =
      std::any_of(ran.begin(), ran.end(), [](const Item& it) { return it.touches == Touches::tracked; });
  if (tracked && options_.after_commit) {
    // Its reads share one read transaction: each statement in autocommit
    // takes and drops the WAL's read lock itself (two fcntl calls), and this
    // runs before every caller of the batch learns its job is done.
    auto rt = sql::Transaction::begin(db_, sql::TxKind::deferred);
    try {
      options_.after_commit(db_);
    } catch (const std::exception&) {
      // A reader of the committed state failing changes nothing stored.
    }
    db_.reset_active_statements();
    if (rt) (void)rt->commit();
  }
  const sql::Status ok = settle::Ok{};
  for (Item& it : ran) it.done(ok);
  for (auto& [it, status] : failed) it.done(status);
  batch.clear();
}

}  // namespace settle::ledger
