// -----------------------------------------------------------------------------
// File: io/runtime.h
// -----------------------------------------------------------------------------
//
// Runtime is readbuf's per-core reactor: one thread per core, each with its
// own event loop (io_uring or epoll, chosen at runtime), run queue,
// timers and inbox for messages from other threads. Tasks never migrate:
// `spawn` from inside a task keeps the child on the parent's core, and
// `Runtime::spawn` from outside places tasks round-robin.
//
// This header is the module overview of io/: Task (io/task.h) is the
// coroutine type, io/timer.h has sleep_for/timeout, io/net.h sockets,
// io/channel.h / io/async_mutex.h / io/ring_buffer.h cross-core
// synchronisation, io/spawn_blocking.h runs blocking calls off the cores.
//
// Example:
//
//   readbuf::Runtime rt;                      // hardware_concurrency() cores
//   absl::StatusOr<int> r = rt.block_on([]() -> readbuf::Task<int> {
//     auto child = readbuf::spawn(Compute());  // same core as the parent
//     absl::StatusOr<int> v = co_await child;  // JoinHandle<int>
//     co_return v.ok() ? *v : -1;
//   }());
//
// Results of spawned tasks are JoinResult<T>: absl::StatusOr<T> (absl::Status
// for T = void), holding the task's value, or absl::CancelledError if the task
// was cancelled (JoinHandle::cancel, or Runtime shutdown). Tasks that already
// return absl::Status / absl::StatusOr<U> keep their type (see JoinResult).
//
// Cancellation contract (JoinHandle::cancel, Runtime::Shutdown, timeout()):
//  * What happens: the task's coroutine frames are destroyed at the point
//    where they are suspended, innermost first. No code of the task runs
//    after that point except destructors; a task is never resumed once it
//    has been asked to cancel.
//  * What is released: everything the frames hold, by their destructors:
//    fd waits, timers, places in Channel / AsyncMutex / RingBuffer queues (a
//    wake-up meant for a cancelled waiter passes to the next one), io_uring
//    op slots, pool blocks and buffers, sockets owned by the frames.
//  * When: on the task's own core, cancel() does it before it returns,
//    unless the task is pinned -- a wake-up from another core is already on
//    its way into one of its frames, or the kernel still owns a buffer of an
//    io_uring op it started. Then the task is destroyed the moment that
//    wake-up or completion arrives (a started kernel op is asked to cancel
//    first). From another thread, cancel() sends the request to the task's
//    core. Either way, `co_await handle` (or BlockingJoin) returns only once
//    the task is gone. A task that cancels itself is destroyed when it next
//    suspends.
//  * Work that must outlive a frame goes into its own task; dropping a
//    JoinHandle detaches, it does not cancel.

#ifndef READBUF_IO_RUNTIME_H_
#define READBUF_IO_RUNTIME_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "buf/internal/check.h"
#include "io/internal/core.h"
#include "io/internal/wait_awaiter.h"
#include "io/task.h"

namespace readbuf {

namespace io_internal {
template <typename T>
struct JoinResultImpl {
  using type = absl::StatusOr<T>;
};
template <>
struct JoinResultImpl<void> {
  using type = absl::Status;
};
template <>
struct JoinResultImpl<absl::Status> {
  using type = absl::Status;
};
template <typename U>
struct JoinResultImpl<absl::StatusOr<U>> {
  using type = absl::StatusOr<U>;
};
}  // namespace io_internal

// What awaiting a JoinHandle<T> (or Runtime::block_on, timeout) yields: the
// task's result with cancellation folded into the same error channel.
//
//   T                      JoinResult<T>
//   void, absl::Status     absl::Status
//   absl::StatusOr<U>      absl::StatusOr<U>
//   anything else          absl::StatusOr<T>
//
// A cancelled task yields absl::CancelledError("task was cancelled").
template <typename T>
using JoinResult = typename io_internal::JoinResultImpl<T>::type;

// Which event-loop backend the cores use.
// An explicit choice in RuntimeOptions wins over READBUF_BACKEND. Whenever
// io_uring cannot be set up the cores use epoll, backend_note() says why and
// one line goes to stderr.
enum class BackendKind {
  kAuto,   // READBUF_BACKEND (epoll|uring) if set, else io_uring
  kEpoll,  // edge-triggered epoll
  kUring,  // io_uring (SINGLE_ISSUER | DEFER_TASKRUN, multishot poll)
};

struct RuntimeOptions {
  // Number of cores (threads). Default: std::thread::hardware_concurrency(),
  // at least 1.
  int n_cores = 0;
  // Pin core i to CPU i % online CPUs with sched_setaffinity. Default: false.
  bool pin_threads = false;
  // Default: kAuto.
  BackendKind backend = BackendKind::kAuto;
  // How long the destructor lets tasks finish before cancelling them.
  // Default: 1 second.
  absl::Duration shutdown_grace = absl::Seconds(1);
  // One-shot kernel operations (io_uring: File::read_at's IORING_OP_READ)
  // each core keeps in flight at most; further ones wait for a free slot.
  // REQUIRES: in [1, 65536]. Default: 256.
  std::uint32_t kernel_op_slots = 256;
  // spawn_blocking (io/spawn_blocking.h): the most threads the runtime's
  // blocking pool runs at once (further calls queue, FIFO), and how long a
  // pool thread may stay idle before it exits. The pool starts no thread
  // before the first call. REQUIRES: blocking_threads >= 1.
  // Default: 64 threads, 10 seconds.
  int blocking_threads = 64;
  absl::Duration blocking_idle_timeout = absl::Seconds(10);
};

template <typename T>
class JoinHandle;

namespace io_internal {
class BlockingPool;  // io/internal/blocking_pool.h
template <typename T>
class TaskState;
template <typename T>
JoinHandle<T> SpawnTask(Core* core, Task<T> task);
// The control block behind a handle, for io/ internals and tests.
struct JoinHandleAccess {
  template <typename T>
  static TaskStateBase* State(const JoinHandle<T>& h) {
    return h.st_;
  }
};
}  // namespace io_internal

// JoinHandle<T>
//
// Refers to a spawned task. `co_await handle` (on a core) waits for the task
// and yields JoinResult<T>; the value can be taken once. Destroying the
// handle detaches the task (it keeps running). cancel() destroys the task at
// its suspension point, releasing everything its frames hold (see the
// cancellation contract above): on the task's core before cancel() returns,
// unless a pin delays it; from elsewhere through the core's inbox.
//
// Thread safety: cancel() and done() may be called from any thread; awaiting
// happens on a core; one thread uses a given handle object at a time.
template <typename T>
class [[nodiscard]] JoinHandle {
 public:
  JoinHandle() = default;
  JoinHandle(JoinHandle&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {}
  JoinHandle& operator=(JoinHandle&& o) noexcept {
    if (this != &o) {
      detach();
      st_ = std::exchange(o.st_, nullptr);
    }
    return *this;
  }
  JoinHandle(const JoinHandle&) = delete;
  JoinHandle& operator=(const JoinHandle&) = delete;
  ~JoinHandle() { detach(); }

  bool valid() const { return st_ != nullptr; }

  // Lets the task run on without this handle.
  void detach() {
    if (st_ != nullptr) std::exchange(st_, nullptr)->Unref();
  }

  // Requests cancellation. No effect on a finished task.
  // REQUIRES: valid(); the Runtime is alive.
  void cancel() { st_->RequestCancel(); }

  // True once the task has finished or been cancelled. REQUIRES: valid().
  bool done() const { return st_->done(); }

  // Blocks a non-core thread until the task is done and returns its result.
  // REQUIRES: valid(); not called on a reactor core.
  JoinResult<T> BlockingJoin() {
    READBUF_CHECK(io_internal::CurrentCore() == nullptr,
                  "BlockingJoin on a reactor core would deadlock");
    st_->BlockUntilDone();
    return TakeResult();
  }

  struct DoneFn {
    io_internal::TaskStateBase* st;
    bool operator()() const { return st->done(); }
  };

  class Awaiter {
   public:
    Awaiter(JoinHandle* h, std::optional<std::int64_t> deadline_ns)
        : h_(h), wait_(&h->st_->mu_, &h->st_->joiners_, DoneFn{h->st_},
                       deadline_ns) {}
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> c) {
      return wait_.await_suspend(c);
    }
    JoinResult<T> await_resume() {
      if (!wait_.await_resume()) {
        return absl::DeadlineExceededError("timed out waiting for task");
      }
      return h_->TakeResult();
    }

   private:
    JoinHandle* h_;
    io_internal::WaitAwaiter<DoneFn, io_internal::SpinLock> wait_;
  };

  // REQUIRES: valid(); on a reactor core.
  Awaiter operator co_await() & { return Awaiter(this, std::nullopt); }
  Awaiter operator co_await() && { return Awaiter(this, std::nullopt); }

  // Like `co_await handle`, but yields absl::DeadlineExceededError if the
  // task is not done by `deadline_ns` (CLOCK_BOOTTIME nanoseconds).
  Awaiter WaitUntil(std::int64_t deadline_ns) {
    return Awaiter(this, deadline_ns);
  }

 private:
  template <typename U>
  friend JoinHandle<U> io_internal::SpawnTask(io_internal::Core*, Task<U>);
  friend struct io_internal::JoinHandleAccess;
  explicit JoinHandle(io_internal::TaskState<T>* st) : st_(st) {}

  JoinResult<T> TakeResult() {
    std::lock_guard<io_internal::SpinLock> l(st_->mu_);
    READBUF_DCHECK(st_->done(), "result of an unfinished task");
    if (st_->cancelled()) return absl::CancelledError("task was cancelled");
    if constexpr (std::is_void_v<T>) {
      return absl::OkStatus();
    } else {
      if (!st_->value_.has_value()) {
        return absl::FailedPreconditionError("task result already taken");
      }
      std::optional<T> v;
      v.swap(st_->value_);
      return JoinResult<T>(std::move(*v));
    }
  }

  io_internal::TaskState<T>* st_ = nullptr;
};

// Runtime
//
// Owns the cores. The destructor calls Shutdown(options.shutdown_grace).
// Thread safety: all members may be called from any thread, except
// block_on/Shutdown/destruction, which must not be called on one of its cores.
class Runtime {
 public:
  explicit Runtime(RuntimeOptions options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  int n_cores() const { return static_cast<int>(shared_->cores.size()); }
  // "epoll" or "io_uring": the backend the cores actually use.
  const char* backend_name() const { return shared_->backend_name; }
  // Why a requested backend was not used (empty if it was).
  const std::string& backend_note() const { return shared_->backend_note; }

  // Starts `task`: on the calling task's core if called on one of this
  // runtime's cores, else on the next core round-robin.
  template <typename T>
  JoinHandle<T> spawn(Task<T> task) {
    return io_internal::SpawnTask(PickCore(), std::move(task));
  }

  // Starts `task` on core `core`. REQUIRES: 0 <= core < n_cores().
  template <typename T>
  JoinHandle<T> spawn_on(int core, Task<T> task) {
    READBUF_CHECK(core >= 0 && core < n_cores(), "no core %d", core);
    return io_internal::SpawnTask(shared_->cores[core].get(), std::move(task));
  }

  // Runs `task` on a core and blocks until it finishes.
  // REQUIRES: not called on a reactor core.
  template <typename T>
  JoinResult<T> block_on(Task<T> task) {
    return spawn(std::move(task)).BlockingJoin();
  }

  // Stops accepting work after `grace`: tasks run until then, the rest are
  // cancelled, and the core threads are joined. Then the blocking pool
  // (spawn_blocking) runs its queued and running calls until the same
  // deadline, drops those that have not started by then, and detaches the
  // threads of those still running, saying so on stderr. Idempotent; never
  // hangs on tasks (only on a task that blocks its thread outside the
  // reactor) nor, with a finite grace, on blocking calls.
  void Shutdown(absl::Duration grace);

 private:
  io_internal::Core* PickCore();

  RuntimeOptions options_;
  std::unique_ptr<io_internal::RuntimeShared> shared_;
  // spawn_blocking's pool; each core thread finds it through
  // io_internal::CurrentBlockingPool(). Shut down after the cores.
  std::unique_ptr<io_internal::BlockingPool> blocking_pool_;
  std::vector<std::thread> threads_;
  std::mutex shutdown_mu_;
  bool shut_down_ = false;  // guarded by shutdown_mu_
};

// Starts `task` on the current core and returns its handle.
// REQUIRES: called on a reactor core (inside a task).
template <typename T>
JoinHandle<T> spawn(Task<T> task) {
  io_internal::Core* core = io_internal::CurrentCore();
  READBUF_CHECK(core != nullptr, "readbuf::spawn outside a reactor core");
  return io_internal::SpawnTask(core, std::move(task));
}

// Index of the core running the calling thread, or -1 off-core.
int current_core();

// Number of cores of the runtime the calling thread belongs to, or 0.
int core_count();

// Lets the other ready tasks of this core run, then resumes.
inline io_internal::YieldAwaiter yield_now() { return {}; }

// Implementation details follow.

namespace io_internal {

// The control block of a spawned Task<T>: the task's result, once it is done.
template <typename T>
class TaskState final : public TaskStateBase {
 public:
  void TakeRootResult() override {
    value_.emplace(std::coroutine_handle<TaskPromise<T>>::from_address(
                       root_.address())
                       .promise()
                       .TakeResult());
  }
  std::optional<T> value_;  // written on-core before done_
};
template <>
class TaskState<void> final : public TaskStateBase {};

template <typename T>
JoinHandle<T> SpawnTask(Core* core, Task<T> task) {
  READBUF_CHECK(task.valid(), "spawning an empty Task");
  auto* st = new TaskState<T>();  // one reference, handed to the core
  st->Ref();                      // and one for the handle
  SpawnOn(core, st, TaskAccess::Release(task));
  return JoinHandle<T>(st);
}

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_RUNTIME_H_
