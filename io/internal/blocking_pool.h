// -----------------------------------------------------------------------------
// File: io/internal/blocking_pool.h
// -----------------------------------------------------------------------------
//
// BlockingPool: the bounded thread pool behind spawn_blocking
// (io/spawn_blocking.h). Each Runtime owns one; it starts no thread until the
// first job, grows to at most `max_threads`, queues further jobs FIFO, and
// lets a thread that stays idle for `idle_timeout` exit.
//
// Jobs are BlockingJob objects: refcounted, run once on a pool thread, or
// dropped unrun when they are cancelled or the pool shuts down. The pool
// never touches a reactor core; a job that must wake a task does so itself
// (see BlockingResult in io/spawn_blocking.h).
//
// Shutdown (Runtime::Shutdown, after the cores have stopped): queued and
// running jobs get until the deadline; then the jobs still queued are
// dropped, and the threads of those still running are detached -- a running
// job is never interrupted -- with one line on stderr. Nothing here waits
// without a deadline except Shutdown(kNoDeadline), which an infinite
// shutdown grace asks for.
//
// Thread safety: every member may be called from any thread.

#ifndef READBUF_IO_INTERNAL_BLOCKING_POOL_H_
#define READBUF_IO_INTERNAL_BLOCKING_POOL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace readbuf {
namespace io_internal {

// A unit of work for a BlockingPool. The pool holds one reference from
// Submit until the job has run or been dropped.
class BlockingJob {
 public:
  BlockingJob() = default;
  BlockingJob(const BlockingJob&) = delete;
  BlockingJob& operator=(const BlockingJob&) = delete;

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Runs the job on a pool thread. Called at most once, and never after
  // Drop.
  virtual void Run() noexcept = 0;
  // The pool gives up the job without running it (it shut down, or could
  // not start a thread); `why` says which. Called at most once, never after
  // Run, on the thread that dropped it.
  virtual void Drop(absl::Status why) noexcept = 0;

 protected:
  virtual ~BlockingJob() = default;

 private:
  std::atomic<int> refs_{1};
};

struct BlockingPoolOptions {
  // Threads at most. REQUIRES: >= 1. Default: 64.
  int max_threads = 64;
  // A thread idle this long exits. Default: 10 seconds.
  absl::Duration idle_timeout = absl::Seconds(10);
};

// A snapshot of a pool, for tests and diagnostics.
struct BlockingPoolStats {
  int threads = 0;         // alive now
  int idle = 0;            // waiting for work
  int running = 0;         // running a job
  std::size_t queued = 0;  // waiting for a thread
  std::uint64_t threads_started = 0;
  std::uint64_t jobs_run = 0;
};

// What Shutdown did.
struct BlockingPoolShutdown {
  int detached = 0;  // threads still running a job at the deadline
  int dropped = 0;   // queued jobs that never ran
};

class BlockingPool {
 public:
  explicit BlockingPool(BlockingPoolOptions options);
  // Shuts down with a deadline of now if Shutdown was not called.
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // Queues `job`, taking over one reference to it. If no idle thread will
  // take it and fewer than max_threads exist, a thread is started: here on
  // the calling thread only if none is starting already, otherwise by the
  // pool's own threads as they take jobs (so a burst of calls costs the
  // caller at most one thread creation). After Shutdown the job is dropped
  // with FailedPreconditionError before Submit returns; if no thread can be
  // started and none exists, the queued jobs are dropped with
  // ResourceExhaustedError.
  void Submit(BlockingJob* job);

  // Refuses further jobs, lets the threads run the queued and running ones
  // until `deadline_ns` (CLOCK_BOOTTIME; kNoDeadline: without limit), then
  // drops those still queued (Drop with CancelledError), joins every thread
  // that has finished and detaches the rest, writing one line on stderr if
  // any were detached. A detached thread finishes its job, drops the result
  // and exits; it keeps the pool's shared state alive, not the pool.
  // Idempotent (a second call does nothing and reports zeros).
  BlockingPoolShutdown Shutdown(std::int64_t deadline_ns);

  BlockingPoolStats stats() const;

 private:
  struct State;
  static void WorkerMain(std::shared_ptr<State> s, std::uint64_t id);
  // Creates the thread reserved as `id` (State::ReserveThread).
  // REQUIRES: s->mu not held.
  static void StartThread(const std::shared_ptr<State>& s, std::uint64_t id);
  std::shared_ptr<State> state_;
};

// The pool of the Runtime whose core runs on the calling thread, or null.
BlockingPool* CurrentBlockingPool();
// Sets it for the calling thread. Runtime calls this on each core thread
// before the core runs, and with null after.
void SetCurrentBlockingPool(BlockingPool* pool);

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_BLOCKING_POOL_H_
