// The group-commit writer: many concurrent writers all complete and are all
// present, batches really group (fewer transactions than jobs), a failing
// job is rolled back alone, completion comes only after COMMIT, after_commit
// only after a batch that may change what it reads.
#include "offline/ledger.hpp"
#include "sample.hpp"
#include "test_dir.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <latch>
#include <thread>

using namespace settle;
using namespace settle::ledger;
using settle::test::TestDir;

namespace {

std::unique_ptr<Ledger> open_ledger(const TestDir& d) {
  auto l = Ledger::open(d.file("ledger.db"));
  REQUIRE(l.ok());
  return std::move(l).value();
}

std::int64_t count_requests(Ledger& l) {
  auto n = l.read([](sql::Db& db) { return db.query_int64("SELECT count(*) FROM requests"); });
  REQUIRE(n.ok());
  return n->value_or(-1);
}

template <class T>
sql::Status status_of(const sql::Result<T>& r) {
  if (!r) return r.error();
  return settle::Ok{};
}

// Holds the writer thread inside a job until released, so that jobs queued
// meanwhile are certain to form one batch.
struct Gate {
  std::latch entered{1};
  std::latch release{1};
  void block(Ledger& l) {
    l.write([this](sql::Db&) -> sql::Status {
              entered.count_down();
              release.wait();
              return settle::Ok{};
            },
            [](const sql::Status& s) { CHECK(s.ok()); });
    entered.wait();
  }
};

}  // namespace

TEST_CASE("many concurrent writers: all complete, all present, batches group") {
  TestDir d("writer-many");
  auto l = open_ledger(d);
  constexpr int kThreads = 32;
  constexpr int kPerThread = 40;
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          const std::string id = fmt::format("t{}-{}", t, i);
          auto r = l->write_wait([id](sql::Db& db) { return test::record_sample(db, id); });
          (r.ok() ? ok : failed)++;
        }
      });
  }
  CHECK(ok == kThreads * kPerThread);
  CHECK(failed == 0);
  CHECK(count_requests(*l) == kThreads * kPerThread);
  const WriterStats s = l->writer_stats();
  MESSAGE("jobs ", s.jobs_committed, " in ", s.transactions, " transactions, largest batch ", s.largest_batch);
  CHECK(s.jobs_committed == static_cast<std::uint64_t>(kThreads * kPerThread));
  CHECK(s.largest_batch > 1);
  // With 32 writers each waiting for its commit, commits must be shared.
  CHECK(s.transactions * 2 < s.jobs_committed);
}

TEST_CASE("callbacks: every job of many asynchronous submitters completes once, after commit") {
  TestDir d("writer-async");
  auto l = open_ledger(d);
  constexpr int kJobs = 2000;
  std::atomic<int> completed{0};
  std::atomic<int> bad{0};
  std::latch all_done(kJobs);
  const std::string path = d.file("ledger.db");
  std::vector<std::jthread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = t; i < kJobs; i += 4) {
        const std::string id = fmt::format("a{}", i);
        l->write([id](sql::Db& db) { return ledger::record_request(db, test::sample_request(id)); },
                 [&, id](sql::Result<RecordedRequest> r) {
                   if (!r.ok() || !r->inserted) bad++;
                   // Committed: a separate connection already sees the row
                   // (checked for a sample, it costs an open).
                   if (id == "a0" || id == "a1999") {
                     auto db = sql::Db::open(path, {.mode = sql::OpenMode::read_only});
                     auto n = db ? db->query_int64("SELECT count(*) FROM requests WHERE request_id = '" + id + "'")
                                 : sql::Result<std::optional<std::int64_t>>(db.error());
                     if (!n || n->value_or(0) != 1) bad++;
                   }
                   completed++;
                   all_done.count_down();
                 });
      }
    });
  threads.clear();
  all_done.wait();
  CHECK(completed == kJobs);
  CHECK(bad == 0);
  CHECK(count_requests(*l) == kJobs);
}

TEST_CASE("a failing job in a batch rolls back alone; the others commit in the same transaction") {
  TestDir d("writer-fail");
  auto l = open_ledger(d);
  REQUIRE(l->write_wait([](sql::Db& db) { return ledger::record_request(db, test::sample_request("dup")); }).ok());
  const WriterStats before = l->writer_stats();

  Gate gate;
  gate.block(*l);
  constexpr int kJobs = 20;
  std::vector<std::future<sql::Status>> results;
  std::vector<std::promise<sql::Status>> promises(kJobs);
  for (int i = 0; i < kJobs; ++i) {
    results.push_back(promises[static_cast<std::size_t>(i)].get_future());
    auto done = [p = &promises[static_cast<std::size_t>(i)]](const sql::Status& s) { p->set_value(s); };
    if (i == 7) {
      // Writes a row, then fails: its row must not survive.
      l->write(
          [](sql::Db& db) -> sql::Status {
            SETTLE_SQL_TRY(ledger::record_request(db, test::sample_request("half-done")));
            return sql::DbError{sql::Errc::invalid_state, 0, "job 7 refuses"};
          },
          done);
    } else if (i == 13) {
      // A constraint error from SQLite: a duplicate msgid-like key.
      l->write([](sql::Db& db) { return db.exec("INSERT INTO requests(request_id, method, payload_hash, state, "
                                                "created_at_ms) VALUES('dup','m','h','in_progress',1)"); },
               done);
    } else {
      l->write([i](sql::Db& db) { return status_of(test::record_sample(db, fmt::format("ok{}", i))); }, done);
    }
  }
  gate.release.count_down();
  for (int i = 0; i < kJobs; ++i) {
    const sql::Status s = results[static_cast<std::size_t>(i)].get();
    INFO("job " << i);
    if (i == 7) {
      CHECK(s.is(sql::Errc::invalid_state));
    } else if (i == 13) {
      CHECK(s.is(sql::Errc::unique));
    } else {
      CHECK(s.ok());
    }
  }
  CHECK(count_requests(*l) == 1 + kJobs - 2);
  auto half = l->read([](sql::Db& db) { return ledger::find_request(db, "half-done"); });
  REQUIRE(half.ok());
  CHECK_FALSE(half->has_value());
  const WriterStats after = l->writer_stats();
  // The gate's job, then the 18 good ones together.
  CHECK(after.transactions - before.transactions == 2);
  CHECK(after.largest_batch >= kJobs - 2);
  CHECK(after.jobs_failed - before.jobs_failed == 2);
}

TEST_CASE("a job that ends the whole transaction fails alone; the rest of its batch is redone and commits") {
  TestDir d("writer-lost");
  auto l = open_ledger(d);
  Gate gate;
  gate.block(*l);
  std::vector<std::future<sql::Status>> results;
  for (int i = 0; i < 6; ++i) {
    auto p = std::make_shared<std::promise<sql::Status>>();
    results.push_back(p->get_future());
    auto done = [p](const sql::Status& s) { p->set_value(s); };
    if (i == 3) {
      // Breaks the contract the way SQLITE_FULL or RAISE(ROLLBACK) would.
      l->write([](sql::Db& db) { return db.exec("ROLLBACK"); }, done);
    } else if (i == 4) {
      l->write([](sql::Db&) -> sql::Status { throw std::runtime_error("boom"); }, done);
    } else {
      l->write([i](sql::Db& db) { return status_of(test::record_sample(db, fmt::format("k{}", i))); }, done);
    }
  }
  gate.release.count_down();
  for (int i = 0; i < 6; ++i) {
    const sql::Status s = results[static_cast<std::size_t>(i)].get();
    INFO("job " << i);
    CHECK(s.ok() == (i != 3 && i != 4));
  }
  CHECK(count_requests(*l) == 4);
}

TEST_CASE("stop finishes queued jobs; later submissions are refused") {
  TestDir d("writer-stop");
  auto db = sql::Db::open(d.file("plain.db"));
  REQUIRE(db.ok());
  REQUIRE(db->exec("PRAGMA journal_mode = WAL; CREATE TABLE t(x INTEGER)").ok());
  Writer w(std::move(db).value(), WriterOptions{.queue_capacity = 8, .max_batch = 3});
  std::atomic<int> done{0};
  for (int i = 0; i < 50; ++i)  // more than the queue holds: submit waits
    w.submit([i](sql::Db& c) { return c.exec(fmt::format("INSERT INTO t VALUES({})", i)); },
             [&](const sql::Status& s) {
               if (s.ok()) done++;
             });
  w.stop();
  CHECK(done == 50);
  CHECK(w.stats().largest_batch <= 3);
  sql::Status late = settle::Ok{};
  w.submit([](sql::Db&) -> sql::Status { return settle::Ok{}; }, [&](const sql::Status& s) { late = s; });
  CHECK(late.is(sql::Errc::stopped));
  auto check = sql::Db::open(d.file("plain.db"));
  REQUIRE(check.ok());
  CHECK(check->query_int64("SELECT count(*) FROM t")->value_or(0) == 50);
}

TEST_CASE("after_commit reads what a batch committed before the batch's jobs complete") {
  TestDir d("writer-after-commit");
  std::atomic<std::int64_t> seen{-1};
  std::atomic<int> runs{0};
  LedgerOptions o;
  o.writer.after_commit = [&](sql::Db& db) {
    ++runs;
    auto n = db.query_int64("SELECT count(*) FROM requests");
    if (n && *n) seen = **n;
  };
  auto opened = Ledger::open(d.file("ledger.db"), o);
  REQUIRE(opened.ok());
  auto& l = **opened;
  for (int i = 1; i <= 3; ++i) {
    auto r = l.write_wait([i](sql::Db& db) { return test::record_sample(db, fmt::format("after-{}", i)); });
    REQUIRE(r.ok());
    // write_wait returns after the job's callback: the count was taken before it.
    CHECK(seen.load() == i);
  }
  // A job that fails commits nothing: no count is taken for it.
  const int before = runs.load();
  auto bad = l.write_wait([](sql::Db&) -> sql::Status { return sql::DbError{sql::Errc::other, 0, "refused"}; });
  CHECK_FALSE(bad.ok());
  CHECK(runs.load() == before);
}

// A batch of jobs that all say they change nothing after_commit reads (a
// request's claim, a query's message) is not followed by it; one tracked job
// in the batch is enough for it to run.
TEST_CASE("after_commit is left out after a batch whose every job is untracked") {
  TestDir d("writer-untracked");
  std::atomic<int> runs{0};
  LedgerOptions o;
  o.writer.after_commit = [&runs](sql::Db&) { ++runs; };
  auto opened = Ledger::open(d.file("ledger.db"), o);
  REQUIRE(opened.ok());
  auto& l = **opened;
  std::atomic<int> seq{0};
  const auto job = [&seq](sql::Db& db) { return test::record_sample(db, fmt::format("untracked-{}", ++seq)); };
  // Queues one job; the latch counts it done.
  const auto queue = [&](Writer::Touches touches, std::latch& done) {
    l.write(job, [&done](const auto& r) {
      CHECK(r.ok());
      done.count_down();
    }, touches);
  };

  {
    std::latch one{1};
    queue(Writer::Touches::untracked, one);
    one.wait();
  }
  CHECK(runs.load() == 0);
  {
    std::latch one{1};
    queue(Writer::Touches::tracked, one);
    one.wait();
  }
  CHECK(runs.load() == 1);

  // Jobs queued while the writer is held in the gate's job (itself tracked)
  // form one batch.
  const auto behind_gate = [&](int untracked, int tracked) {
    Gate gate;
    gate.block(l);
    std::latch all{untracked + tracked};
    for (int i = 0; i < untracked; ++i) queue(Writer::Touches::untracked, all);
    for (int i = 0; i < tracked; ++i) queue(Writer::Touches::tracked, all);
    gate.release.count_down();
    all.wait();
  };
  // Three untracked and one tracked in one batch: after_commit runs after
  // the gate's batch and after this one.
  behind_gate(3, 1);
  CHECK(runs.load() == 3);
  // Untracked only: after the gate's batch, none.
  behind_gate(3, 0);
  CHECK(runs.load() == 4);
  CHECK(count_requests(l) == 9);
}
