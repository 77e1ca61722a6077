// BlockingPool: threads that start on demand, a FIFO of jobs, idle exit, and
// a shutdown that waits for queued and running jobs up to a deadline and then
// detaches the threads still running (see blocking_pool.h).
//
// Growth stays off the cores: Submit starts a thread only when none is
// already starting; each thread, when it takes a job, starts the next one if
// more jobs are queued than threads are idle. A burst of N calls therefore
// costs the submitting core at most one thread creation, and the pool grows
// by a chain of its own threads.

#include "io/internal/blocking_pool.h"

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "buf/internal/check.h"
#include "io/internal/timer_heap.h"

namespace readbuf {
namespace io_internal {
namespace {

thread_local BlockingPool* tls_pool = nullptr;

// An idle wait longer than this is as good as forever (and keeps
// steady_clock::now() + timeout from overflowing).
constexpr absl::Duration kMaxIdleWait = absl::Hours(24 * 365);

}  // namespace

// Shared by the pool and its threads: a detached thread keeps it alive after
// the pool (and its Runtime) are gone. Everything is guarded by `mu`.
struct BlockingPool::State {
  explicit State(BlockingPoolOptions o) : options(o) {}

  const BlockingPoolOptions options;
  mutable std::mutex mu;
  std::condition_variable work_cv;   // a job was queued, or stopping
  std::condition_variable exit_cv;   // (stopping) a job ended or a thread left
  std::condition_variable start_cv;  // a new thread's handle was registered
  std::deque<BlockingJob*> queue;    // one reference each
  // Threads alive, by id. A thread leaving moves its own handle to `exited`
  // for the next Submit or Shutdown to join; Shutdown detaches the rest.
  std::unordered_map<std::uint64_t, std::thread> threads;
  std::vector<std::thread> exited;
  int live = 0;      // threads alive or being created
  int starting = 0;  // of which not yet past their start
  int idle = 0;      // waiting for work
  int running = 0;   // running a job
  bool stopping = false;
  std::uint64_t next_id = 0;
  std::uint64_t threads_started = 0;
  std::uint64_t jobs_run = 0;

  // Reserves a new thread if the queue needs one and none is starting: the
  // caller then calls StartThread with the id (0: none). REQUIRES: mu held.
  std::uint64_t ReserveThread() {
    if (stopping || starting > 0 || live >= options.max_threads ||
        queue.size() <= static_cast<std::size_t>(idle)) {
      return 0;
    }
    ++live;
    ++starting;
    ++threads_started;
    return ++next_id;
  }
};

BlockingPool::BlockingPool(BlockingPoolOptions options)
    : state_(std::make_shared<State>(options)) {
  READBUF_CHECK(options.max_threads >= 1,
                "blocking pool: max_threads=%d, must be at least 1",
                options.max_threads);
}

BlockingPool::~BlockingPool() { Shutdown(BootTimeNowNs()); }

void BlockingPool::StartThread(const std::shared_ptr<State>& s, std::uint64_t id) {
  std::thread t;
  try {
    t = std::thread(WorkerMain, s, id);
  } catch (const std::system_error& e) {
    std::deque<BlockingJob*> orphans;
    {
      std::lock_guard<std::mutex> l(s->mu);
      --s->live;
      --s->starting;
      --s->threads_started;
      // With a thread alive the jobs wait for it; with none they would wait
      // forever.
      if (s->live == 0) orphans.swap(s->queue);
    }
    for (BlockingJob* job : orphans) {
      job->Drop(absl::ResourceExhaustedError(absl::StrCat(
          "spawn_blocking: cannot start a blocking-pool thread: ", e.what())));
      job->Unref();
    }
    return;
  }
  {
    std::lock_guard<std::mutex> l(s->mu);
    s->threads.emplace(id, std::move(t));
  }
  s->start_cv.notify_all();
}

void BlockingPool::Submit(BlockingJob* job) {
  State* s = state_.get();
  std::uint64_t new_thread = 0;
  std::vector<std::thread> finished;
  {
    std::lock_guard<std::mutex> l(s->mu);
    if (!s->stopping) {
      s->queue.push_back(job);
      if (s->idle > 0) s->work_cv.notify_one();
      new_thread = s->ReserveThread();
      finished.swap(s->exited);
      job = nullptr;
    }
  }
  if (job != nullptr) {
    job->Drop(absl::FailedPreconditionError(
        "spawn_blocking: the runtime's blocking pool has shut down"));
    job->Unref();
    return;
  }
  // These have left WorkerMain's lock behind; joining is brief.
  for (std::thread& t : finished) t.join();
  if (new_thread != 0) StartThread(state_, new_thread);
}

BlockingPoolShutdown BlockingPool::Shutdown(std::int64_t deadline_ns) {
  State* s = state_.get();
  BlockingPoolShutdown r;
  std::deque<BlockingJob*> unstarted;
  std::vector<std::thread> to_join;
  std::vector<std::thread> to_detach;
  {
    std::unique_lock<std::mutex> l(s->mu);
    if (s->stopping) return r;
    s->stopping = true;  // Submit refuses from now on; threads drain the queue
    s->work_cv.notify_all();
    // Queued and running calls get until the deadline.
    while (!s->queue.empty() || s->running > 0) {
      if (deadline_ns == kNoDeadline) {
        s->exit_cv.wait(l);
        continue;
      }
      const std::int64_t left = deadline_ns - BootTimeNowNs();
      if (left <= 0) break;
      s->exit_cv.wait_for(l, std::chrono::nanoseconds(left));
    }
    unstarted.swap(s->queue);
    // The threads not running a call are idle, starting or leaving: with the
    // queue empty and `stopping` set they leave at once.
    while (s->live > s->running) s->exit_cv.wait(l);
    r.detached = s->running;
    r.dropped = static_cast<int>(unstarted.size());
    for (auto& [id, t] : s->threads) to_detach.push_back(std::move(t));
    s->threads.clear();
    to_join.swap(s->exited);
  }
  for (BlockingJob* job : unstarted) {
    job->Drop(absl::CancelledError(
        "spawn_blocking: the runtime shut down before the call started"));
    job->Unref();
  }
  for (std::thread& t : to_join) t.join();
  for (std::thread& t : to_detach) t.detach();
  if (r.detached > 0) {
    std::fprintf(stderr,
                 "readbuf: runtime shutdown: %d blocking call(s) still running "
                 "after the shutdown grace; detaching their threads (a running "
                 "call is not interrupted; its result will be dropped)%s\n",
                 r.detached,
                 r.dropped > 0
                     ? absl::StrCat("; ", r.dropped, " queued call(s) dropped unrun").c_str()
                     : "");
  }
  return r;
}

BlockingPoolStats BlockingPool::stats() const {
  const State* s = state_.get();
  std::lock_guard<std::mutex> l(s->mu);
  BlockingPoolStats st;
  st.threads = s->live;
  st.idle = s->idle;
  st.running = s->running;
  st.queued = s->queue.size();
  st.threads_started = s->threads_started;
  st.jobs_run = s->jobs_run;
  return st;
}

BlockingPool* CurrentBlockingPool() { return tls_pool; }
void SetCurrentBlockingPool(BlockingPool* pool) { tls_pool = pool; }

void BlockingPool::WorkerMain(std::shared_ptr<State> s, std::uint64_t id) {
  // Visible in top -H, gdb and /proc (at most 15 characters).
  ::pthread_setname_np(::pthread_self(), "readbuf-block");
  const absl::Duration idle_timeout = s->options.idle_timeout;
  std::unique_lock<std::mutex> l(s->mu);
  // Until the starter has registered this thread's handle, leaving could not
  // hand it on for joining.
  s->start_cv.wait(l, [&] { return s->threads.count(id) != 0; });
  --s->starting;
  for (;;) {
    if (!s->queue.empty()) {
      BlockingJob* job = s->queue.front();
      s->queue.pop_front();
      ++s->running;
      // Grow here, on a pool thread, rather than on the submitting core.
      const std::uint64_t next = s->ReserveThread();
      l.unlock();
      if (next != 0) StartThread(s, next);
      job->Run();
      job->Unref();
      l.lock();
      --s->running;
      ++s->jobs_run;
      if (s->stopping) s->exit_cv.notify_all();
      continue;
    }
    if (s->stopping) break;
    ++s->idle;
    auto has_work = [&] { return !s->queue.empty() || s->stopping; };
    bool woke = true;
    if (idle_timeout >= kMaxIdleWait) {
      s->work_cv.wait(l, has_work);
    } else {
      woke = s->work_cv.wait_for(l, absl::ToChronoNanoseconds(idle_timeout), has_work);
    }
    --s->idle;
    if (!woke) break;  // idle for idle_timeout: leave
  }
  --s->live;
  auto it = s->threads.find(id);
  if (it != s->threads.end()) {  // not detached by Shutdown
    s->exited.push_back(std::move(it->second));
    s->threads.erase(it);
  }
  if (s->stopping) s->exit_cv.notify_all();
}

}  // namespace io_internal
}  // namespace readbuf
