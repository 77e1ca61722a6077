// -----------------------------------------------------------------------------
// File: io/internal/core.h
// -----------------------------------------------------------------------------
//
// The per-core reactor: one thread, one event loop, one Backend, one run queue,
// one timer heap and one MPSC inbox for messages from other threads.
//
// Ownership and cancellation model (what every awaiter relies on):
//  * A spawned task is a TaskStateBase (refcounted control block, and the
//    task's root cancellation Scope) plus a root coroutine frame. Tasks never
//    migrate: all of a task's frames live and are resumed and destroyed on
//    its core.
//  * Suspension points are intrusive nodes (RunNode, TimerNode, Waiter) that
//    live inside the coroutine frame and record their Scope. Their
//    destructors unlink them, so destroying a suspended frame releases
//    everything. Cancelling a scope (io/internal/scope.h) is that
//    destruction; it is immediate on the core unless the scope is pinned by a
//    wake-up in flight or a kernel op, and then it happens when the last pin
//    is released. Nothing inside a scope that is being cancelled is resumed.
//  * Thread safety: members marked "any thread" may be called from anywhere;
//    everything else runs on the core's own thread.

#ifndef READBUF_IO_INTERNAL_CORE_H_
#define READBUF_IO_INTERNAL_CORE_H_

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "buf/internal/check.h"
#include "io/internal/backend.h"
#include "io/internal/fd_state.h"
#include "io/internal/frame_allocator.h"
#include "io/internal/nodes.h"
#include "io/internal/scope.h"
#include "io/internal/spin_lock.h"
#include "io/internal/timer_heap.h"
#include "io/internal/wait_queue.h"

namespace readbuf {
namespace io_internal {

class Core;
class RuntimeShared;

// ---------------------------------------------------------------------------
// TaskStateBase: control block of a spawned task, and its root scope.
//
// The task's outermost frame is the spawned Task's own frame (root_): it runs
// with no continuation and stays suspended at its final suspend point, where
// the core takes the result (TakeRootResult) and destroys it. Nothing else is
// allocated per task.
// ---------------------------------------------------------------------------
class TaskStateBase : public Scope {
 public:
  TaskStateBase() : Scope(Kind::kTaskRoot) {}
  virtual ~TaskStateBase();
  TaskStateBase(const TaskStateBase&) = delete;
  TaskStateBase& operator=(const TaskStateBase&) = delete;

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Any thread. Cancels the task: on its own core at once (if nothing pins
  // it and it is not the task running now), from another thread through the
  // core's inbox; joiners then see a Cancelled status.
  void RequestCancel();

  // Any thread.
  bool done() const { return done_.load(std::memory_order_acquire) != kRunning; }
  // Blocks the calling (non-core) thread until the task is done.
  void BlockUntilDone();

  // Moves the finished root frame's result into this block (on-core, before
  // the frame is destroyed). REQUIRES: root_.done().
  virtual void TakeRootResult() {}

  // Destroys the task's frames and completes it as cancelled.
  void Cancelled(Core* core) override;

  // True once the task ended by cancellation. REQUIRES: done().
  bool cancelled() const { return done_.load(std::memory_order_acquire) == kCancelled; }
  // Ends the task: sets done (and cancelled) and wakes BlockUntilDone.
  // REQUIRES: mu_ held.
  void MarkDone(bool cancelled) {
    done_.store(cancelled ? kCancelled : kFinished, std::memory_order_release);
  }
  void NotifyDone() { done_.notify_all(); }

  // The small fields first, packed into one word: a task's control block is
  // part of every idle connection's cost.
  SpinLock mu_;
  // kRunning until the task ends; set once, under mu_; read without it by
  // done() and BlockUntilDone(), which waits on it (std::atomic wait/notify).
  std::atomic<std::uint8_t> done_{kRunning};
  std::atomic<bool> cancel_posted_{false};
  bool adopted_ = false;  // on-core: the core has taken the task in
  // The spawn message is in the inbox: a cancel from another thread only
  // marks the task (HandleSpawn sees the mark) instead of posting one.
  std::atomic<bool> spawn_pending_{false};
 private:
  std::atomic<int> refs_{1};

 public:
  WaitQueue joiners_;  // guarded by mu_
  Core* core_ = nullptr;
  std::coroutine_handle<> root_;
  union {
    // The spawn message, until HandleSpawn runs.
    MsgNode msg_{};
    // Then the run node of the task's first resumption, until it runs
    // (on-core only; null after). Borrowed from the core
    // (Core::TakeStartNode), so an idle task's state holds no run node.
    RunNode* start_;
  };
  TaskStateBase* live_prev_ = nullptr;  // core's live list, on-core only
  TaskStateBase* live_next_ = nullptr;

 private:
  static constexpr std::uint8_t kRunning = 0;
  static constexpr std::uint8_t kFinished = 1;
  static constexpr std::uint8_t kCancelled = 2;
};

// ---------------------------------------------------------------------------
// Core
// ---------------------------------------------------------------------------
enum class BackendChoice { kEpoll, kUring };

class Core final : private ReadinessSink {
 public:
  Core(RuntimeShared* shared, int index);
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  int index() const { return index_; }
  RuntimeShared* shared() const { return shared_; }

  // Thread body. Creates the backend, reports via `started`, loops until
  // shutdown completes.
  // `started(status, backend_name, note)`: note says why a requested
  // backend was replaced by epoll (empty otherwise).
  void Run(BackendChoice backend, int pin_cpu,
           std::function<void(absl::Status, const char*, std::string)> started);

  // --- Any thread ---
  // Enqueues `m`; false if the core has finished (the message is not run).
  bool Post(MsgNode* m);
  // Starts graceful shutdown: tasks may run until `deadline_ns` (kNoDeadline:
  // until they finish), then the rest are cancelled.
  void BeginShutdown(std::int64_t deadline_ns);

  // --- On this core's thread only ---
  // Appends `n` to the run queue. Inline: every wake goes through it.
  void Schedule(RunNode* n) {
    READBUF_DCHECK(!n->linked(), "RunNode scheduled twice");
    n->prev = run_queue_.prev;
    n->next = &run_queue_;
    run_queue_.prev->next = n;
    run_queue_.prev = n;
  }
  // Queues `n` to run as soon as the current resumption has unwound its
  // stack, inside the same Resume (see BounceTo): nothing else runs first.
  void ScheduleBounced(RunNode* n);
  // A wake-up that held a pin (a cross-core wake, a kernel op's completion)
  // arrives for `n`: releases the pin, then performs the cancellation the pin
  // was holding up, or parks `n` if its scope is being cancelled, or
  // schedules it.
  void DeliverPinnedWake(RunNode* n);
  // Cancels `s`: destroys what it holds now if nothing pins it, otherwise
  // marks it and asks the kernel to end its ops (it is then destroyed when
  // the last pin goes). REQUIRES: not running inside `s` (a task may cancel
  // itself: CancelTask).
  void CancelScope(Scope* s);
  // Cancels a task of this core. The running task (self-cancel) is
  // destroyed when it next suspends; an unstarted one when it would start.
  void CancelTask(TaskStateBase* st);
  // Delivers messages and kernel events -- but runs no task -- until
  // `done()` holds or `deadline_ns` passes; returns done(). For a
  // destructor that must see pinned tasks gone before it returns (their
  // pins end with such a delivery). Waits at most 1 ms per step.
  template <class Done>
  bool DeliverUntil(Done done, std::int64_t deadline_ns) {
    while (!done()) {
      if (BootTimeNowNs() >= deadline_ns) return done();
      DeliverOnce();
    }
    return true;
  }
  void AddTimer(TimerNode* t) { timers_.Push(t); }
  void RemoveTimer(TimerNode* t) {
    if (t->armed()) timers_.Remove(t);
  }
  absl::Status Register(FdState* fs);
  // Deregisters and closes `fs` (owned by this core), and frees it unless
  // operations are suspended on it: those are woken and end with an error,
  // and the last of them frees it (see io/internal/fd_state.h).
  void CloseOwned(FdState* fs);
  // The innermost scope of the code running now; null between tasks.
  Scope* current_scope() const { return current_scope_; }
  // Enters or leaves a branch scope (races run inside the caller's frames).
  void set_current_scope(Scope* s) { current_scope_ = s; }
  // The task running now, or null.
  TaskStateBase* current_task() const {
    return current_scope_ == nullptr ? nullptr : current_scope_->task();
  }
  Backend* backend() const { return backend_.get(); }
  bool accepting() const { return accepting_; }
  std::uint64_t loop_iterations() const { return iterations_; }

  // Testing: `fn(task, ctx)` runs on the core after every resumption that
  // leaves a task suspended (so a test can act at each suspension point).
  // Null removes it.
  using SuspendObserver = void (*)(TaskStateBase* task, void* ctx);
  void set_suspend_observer(SuspendObserver fn, void* ctx) {
    suspend_observer_ = fn;
    suspend_observer_ctx_ = ctx;
  }

 private:
  void OnReadiness(FdState* fs, std::uint32_t bits) override;
  void DeliverOnce();
  void Loop();
  void DrainInbox();
  void FireTimers(std::int64_t now);
  void RunReady();
  void Resume(RunNode* n);
  void FinishTask(TaskStateBase* st, bool cancelled);
  void CancelAllLive();
  void CloseInboxAndOrphan();
  void Unregister(FdState* fs);
  friend void HandleSpawn(Core*, MsgNode*);
  friend void DestroyTask(Core*, TaskStateBase*);
  friend void BounceTo(std::coroutine_handle<> h) noexcept;
  friend void StartTask(RunNode* n);

  // A run node for a task's first resumption (HandleSpawn), and its return
  // once the task has started or is destroyed (unlinks it).
  RunNode* TakeStartNode();
  void ReturnStartNode(RunNode* n);

  RuntimeShared* const shared_;
  const int index_;
  std::unique_ptr<Backend> backend_;

  // Inbox.
  std::mutex inbox_mu_;
  MsgNode* inbox_head_ = nullptr;  // guarded by inbox_mu_
  MsgNode* inbox_tail_ = nullptr;  // guarded by inbox_mu_
  bool inbox_closed_ = false;      // guarded by inbox_mu_
  std::atomic<bool> sleeping_{false};

  // Shutdown.
  std::atomic<bool> shutdown_requested_{false};
  std::atomic<std::int64_t> shutdown_deadline_ns_{0};
  bool cancelled_all_ = false;
  bool accepting_ = true;

  // On-core state.
  RunNode run_queue_;  // sentinel
  RunNode bounced_;    // sentinel: transfers Resume runs before it returns
  // Bounced transfers of the running task's root scope (branch scopes have
  // their own node, see BranchScope): one task runs at a time.
  RunNode root_bounce_;
  // Free run nodes for first resumptions; a burst of spawns allocates more,
  // and at most kMaxFreeStartNodes are kept.
  std::vector<RunNode*> free_start_nodes_;
  TimerHeap timers_;
  TaskStateBase* live_head_ = nullptr;
  std::size_t live_count_ = 0;
  // Shared with the fds registered here (FdState::link); orphaned on exit.
  CoreLink* const link_;
  Scope* current_scope_ = nullptr;
  std::uint64_t iterations_ = 0;
  SuspendObserver suspend_observer_ = nullptr;
  void* suspend_observer_ctx_ = nullptr;
};

// Inbox message handlers (run on the target core).
void HandleSpawn(Core* core, MsgNode* m);
void HandleCancel(Core* core, MsgNode* m);
void HandleWake(Core* core, MsgNode* m);
void HandleCloseFd(Core* core, MsgNode* m);

// The on_run of a task's first resumption (queued by HandleSpawn).
void StartTask(RunNode* n);

// The core running on this thread, or null.
Core* CurrentCore();

// Symmetric transfer is a tail call only when the compiler makes it one;
// sanitizer and -O0 builds do not, and a loop awaiting Tasks that complete
// without suspending would then grow the stack without bound. Every transfer
// counts against a per-thread depth that Core::Resume resets; past a limit
// the transfer is bounced: the transferring frame returns to Core::Resume,
// which unwinds the stack, and Resume then resumes the target at once, as a
// trampoline. No other task, timer or message runs in between, so a bounce
// is not a suspension point: nothing can be cancelled in it (a Channel value
// a completed receive holds reaches its awaiter).
// Off-core, and on a core outside a task, this always returns false.
bool ShouldBounceTransfer() noexcept;
// Bounces the transfer to `h` through the current scope's run node (a
// branch's BranchScope::node; the core's one node for a task's root scope).
// One node per scope suffices: a scope runs one frame at a time, and the
// bouncing frame suspends until the node is resumed.
// REQUIRES: ShouldBounceTransfer() returned true (so: on a core, in a task).
void BounceTo(std::coroutine_handle<> h) noexcept;

// Destroys a task's frames and completes it as cancelled (on-core).
// REQUIRES: st->TryBeginDestroy() returned true.
void DestroyTask(Core* core, TaskStateBase* st);

// ---------------------------------------------------------------------------
// RuntimeShared: state shared by a Runtime's cores.
// ---------------------------------------------------------------------------
class RuntimeShared {
 public:
  std::vector<std::unique_ptr<Core>> cores;
  std::atomic<std::uint32_t> next_core{0};
  const char* backend_name = "epoll";
  std::string backend_note;  // why a requested backend was not used
  std::uint32_t kernel_op_slots = 256;  // RuntimeOptions::kernel_op_slots
};

// ---------------------------------------------------------------------------
// Awaiters used across io/.
// ---------------------------------------------------------------------------

// Suspends the current task until it is scheduled again (a yield).
struct YieldAwaiter {
  YieldAwaiter() = default;
  YieldAwaiter(YieldAwaiter&& o) noexcept { READBUF_DCHECK(!o.node.linked(), "moving a yield"); }
  RunNode node;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h);
  void await_resume() noexcept {}
};

// Waits until `deadline_ns` (CLOCK_BOOTTIME; kNoDeadline waits until the
// task is cancelled).
class SleepAwaiter {
 public:
  explicit SleepAwaiter(std::int64_t deadline_ns) { timer_.deadline_ns = deadline_ns; }
  // Movable until awaited (timeout() takes it by value).
  SleepAwaiter(SleepAwaiter&& o) noexcept : SleepAwaiter(o.timer_.deadline_ns) {
    READBUF_DCHECK(o.core_ == nullptr, "moving a sleep that is waiting");
  }
  SleepAwaiter& operator=(SleepAwaiter&&) = delete;
  ~SleepAwaiter();
  bool await_ready() const noexcept;
  void await_suspend(std::coroutine_handle<> h);
  void await_resume() noexcept {}

 private:
  struct Node : TimerNode {
    SleepAwaiter* self;
  };
  static void Fire(TimerNode* t);
  Node timer_;
  RunNode run_;
  Core* core_ = nullptr;
};

// Closes and frees `fs` from any thread: on its core directly, through the
// core's inbox from elsewhere, directly if unregistered or orphaned.
// Operations suspended on it end with a Cancelled error.
void CloseFdState(FdState* fs);

// Spawns the unstarted coroutine `root` as the task `st` onto `core`: the
// core resumes it and, once it is done, calls st->TakeRootResult() and
// destroys it. `root` must finish by suspending at its final suspend point
// without resuming anything (a Task with no continuation does). Takes over
// the caller's reference to `st` for the core. If the core no longer accepts
// work the task is completed as cancelled.
void SpawnOn(Core* core, TaskStateBase* st, std::coroutine_handle<> root);

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_CORE_H_
