// The ledger's single writer thread with group commit: jobs from any thread
// wait in a bounded queue; the writer takes every job queued so far, runs
// each in its own SAVEPOINT inside one IMMEDIATE transaction, COMMITs once
// (one fsync in WAL mode with synchronous=FULL), and only then completes each
// job's callback with its own outcome. A failing job is rolled back alone.
#pragma once

#include "offline/sqlite.hpp"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace settle::ledger {

struct WriterOptions {
  std::size_t queue_capacity = 4096;  // submit() waits while this many jobs are queued
  std::size_t max_batch = 1024;       // jobs in one transaction at most
  // Runs on the writer thread after every COMMIT that made jobs durable, and
  // before their callbacks: what it reads on the writer's connection is
  // current when a caller learns its job is done. Reads only, all in one read
  // transaction (one snapshot, the WAL's read lock taken once); keep it short.
  std::function<void(sql::Db&)> after_commit = {};
};

struct WriterStats {
  std::uint64_t transactions = 0;    // COMMITs that succeeded
  std::uint64_t jobs_committed = 0;  // jobs made durable
  std::uint64_t jobs_failed = 0;     // jobs that failed (their own error or a failed COMMIT)
  std::uint64_t largest_batch = 0;   // most jobs in one transaction
  std::uint64_t wal_bytes = 0;       // bytes of pages the transactions wrote to the WAL (its growth while held)
};

class Writer {
 public:
  // Runs on the writer's connection inside the group transaction (and its own
  // savepoint). Returns an error to have its work rolled back alone. Must not
  // begin, commit or roll back transactions itself, nor block on the writer.
  using Job = std::function<sql::Status(sql::Db&)>;
  // Called on the writer thread once the job's outcome is final: ok only
  // after COMMIT returned, i.e. the job is durable. Keep it short (post the
  // result elsewhere); it must not call the writer's blocking functions.
  using Done = std::function<void(const sql::Status&)>;

  // Takes the read-write connection (already configured: WAL, synchronous).
  Writer(sql::Db db, WriterOptions options = {});
  ~Writer();  // stop()
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Whether a job may change what WriterOptions::after_commit reads. A batch
  // whose every job says `untracked` (a request's claim, a query's message)
  // is not followed by after_commit: nothing it reads has changed.
  enum class Touches : std::uint8_t { tracked, untracked };

  // Queues a job; waits while the queue is full (except when called from a
  // Done callback, which may queue a follow-up job without waiting). After
  // stop() the job is not run and done gets Errc::stopped at once.
  void submit(Job job, Done done, Touches touches = Touches::tracked);
  // Queues a job unless the queue is full (returns false, done not called).
  bool try_submit(Job& job, Done& done);
  // Convenience: submit and wait until the job is durable (or failed).
  // Never call from a job or a Done callback.
  sql::Status run(Job job);
  std::future<sql::Status> submit_future(Job job);

  // Finishes every queued job, then stops the thread. Idempotent.
  void stop();

  WriterStats stats() const;
  std::thread::id thread_id() const;  // the writer thread's id

 private:
  struct Item {
    Job job;
    Done done;
    Touches touches = Touches::tracked;
  };
  void loop();
  // Runs one job on the open transaction (an exception is its error).
  sql::Status run_job(Item& it);
  void run_batch(std::deque<Item>& batch);

  sql::Db db_;
  const WriterOptions options_;
  mutable std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::thread::id writer_id_;  // set by the thread itself; guarded by mu_
  WriterStats stats_;
  std::thread thread_;  // last: starts after every member above exists
};

}  // namespace settle::ledger
