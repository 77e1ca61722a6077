// -----------------------------------------------------------------------------
// File: io/internal/core.h
// -----------------------------------------------------------------------------
//
// The per-core reactor: one thread, one event loop, one Backend, one run queue,
// one timer heap and one MPSC inbox for messages from other threads.
//
// Ownership and cancellation model (what every awaiter relies on):
//  * A spawned task is a TaskStateBase (refcounted control block) plus a root
//    coroutine frame. Tasks never migrate: all of a task's frames live and are
//    resumed and destroyed on its core.
//  * Suspension points are intrusive nodes (RunNode, TimerNode, Waiter) that
//    live inside the coroutine frame. Their destructors unlink them, so
//    destroying a suspended frame (cancellation) releases everything.
//  * A waker on another thread first "claims" a waiter (TryAcquireWake on its
//    task) under the primitive's lock, then posts a wake message. A task with
//    a claimed, undelivered wake is not destroyed until the wake arrives, so
//    the message never points into a freed frame.

#ifndef READBUF_IO_INTERNAL_CORE_H_
#define READBUF_IO_INTERNAL_CORE_H_

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "buf/internal/check.h"
#include "io/internal/backend.h"
#include "io/internal/frame_allocator.h"

namespace readbuf {
namespace io_internal {

class Core;
class TaskStateBase;
class RuntimeShared;

// Nanoseconds on CLOCK_BOOTTIME.
std::int64_t BootTimeNowNs();

// ---------------------------------------------------------------------------
// RunNode: an entry in a core's run queue (intrusive, circular, with a
// sentinel). Unlinks itself on destruction.
// ---------------------------------------------------------------------------
struct RunNode {
  RunNode* prev = nullptr;
  RunNode* next = nullptr;
  std::coroutine_handle<> h;
  TaskStateBase* task = nullptr;
  // When set, the core calls this instead of h.resume(): a frameless awaiter
  // (read_into) uses it to retry its operation and either wait again or
  // resume `h` itself. Runs on the core, inside `task`.
  void (*on_run)(RunNode*) = nullptr;

  RunNode() = default;
  RunNode(const RunNode&) = delete;
  RunNode& operator=(const RunNode&) = delete;
  ~RunNode() { Unlink(); }
  bool linked() const { return next != nullptr; }
  void Unlink() {
    if (next != nullptr) {
      prev->next = next;
      next->prev = prev;
      prev = next = nullptr;
    }
  }
};

// ---------------------------------------------------------------------------
// MsgNode: an entry in a core's MPSC inbox. `handler` runs on the target core
// (also while it shuts down, when Core::accepting() is false).
// ---------------------------------------------------------------------------
struct MsgNode {
  MsgNode* next = nullptr;
  void (*handler)(Core* core, MsgNode* msg) = nullptr;
};

// ---------------------------------------------------------------------------
// TimerNode: an entry in a core's 4-ary timer heap.
// ---------------------------------------------------------------------------
struct TimerNode {
  std::int64_t deadline_ns = 0;
  std::int32_t heap_index = -1;
  void (*fire)(TimerNode*) = nullptr;
  bool armed() const { return heap_index >= 0; }
};

class TimerHeap {
 public:
  void Push(TimerNode* t);
  void Remove(TimerNode* t);
  TimerNode* Top() const { return heap_.empty() ? nullptr : heap_.front(); }
  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }

 private:
  static constexpr std::size_t kArity = 4;
  void SiftUp(std::size_t i);
  void SiftDown(std::size_t i);
  void Place(std::size_t i, TimerNode* t) {
    heap_[i] = t;
    t->heap_index = static_cast<std::int32_t>(i);
  }
  std::vector<TimerNode*> heap_;
};

// ---------------------------------------------------------------------------
// FdState: per-fd readiness state, registered with one core's backend.
// ---------------------------------------------------------------------------
struct FdState {
  explicit FdState(int f) : fd(f) {}
  int fd;
  // Owning core once registered; null before registration and after the
  // core has exited (orphaned).
  std::atomic<Core*> core{nullptr};
  // Optimistic until an operation sees EAGAIN or a short read.
  bool readable = true;
  bool writable = true;
  bool hangup = false;  // sticky: peer closed or error
  std::uint32_t backend_slot = 0;  // the backend's registration handle
  RunNode* read_waiter = nullptr;
  RunNode* write_waiter = nullptr;
  FdState* reg_prev = nullptr;  // core registry
  FdState* reg_next = nullptr;
  MsgNode close_msg;
};

// ---------------------------------------------------------------------------
// Waiter and WaitQueue: the building block of Channel, AsyncMutex, RingBuffer
// and JoinHandle. A WaitQueue is protected by its owner's std::mutex.
// ---------------------------------------------------------------------------
struct Waiter {
  enum State : std::uint8_t { kIdle, kQueued, kNotified, kResumed };
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  Core* core = nullptr;
  State state = kIdle;    // guarded by the owner's mutex while queued
  bool timed_out = false;
  RunNode run;
  MsgNode wake_msg;

  // Claims the waiter for a wake-up. False if its task is being destroyed.
  // REQUIRES: the owner's mutex held.
  bool Claim();
  // Delivers a claimed wake-up: schedules directly on the same core, posts a
  // message otherwise. REQUIRES: Claim() returned true; mutex released.
  void Wake();
};

class WaitQueue {
 public:
  bool empty() const { return head_ == nullptr; }
  void PushBack(Waiter* w);
  void Remove(Waiter* w);
  // Unlinks and claims the first waiter whose task is not being destroyed.
  Waiter* ClaimOne();

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
};

// ---------------------------------------------------------------------------
// TaskStateBase: control block of a spawned task.
//
// The task's outermost frame is the spawned Task's own frame (root_): it runs
// with no continuation and stays suspended at its final suspend point, where
// the core takes the result (TakeRootResult) and destroys it. Nothing else is
// allocated per task.
// ---------------------------------------------------------------------------
class TaskStateBase {
 public:
  TaskStateBase();
  virtual ~TaskStateBase();
  TaskStateBase(const TaskStateBase&) = delete;
  TaskStateBase& operator=(const TaskStateBase&) = delete;

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Any thread. The task is destroyed at its next suspension point (or now,
  // if suspended); joiners then see a Cancelled status.
  void RequestCancel();

  // Any thread.
  bool done() const { return done_.load(std::memory_order_acquire); }
  // Blocks the calling (non-core) thread until the task is done.
  void BlockUntilDone();

  // Wake-reference protocol (see file comment).
  bool TryAcquireWake();
  void ReleaseWake();
  bool TryBeginDestroy();

  // Moves the finished root frame's result into this block (on-core, before
  // the frame is destroyed). REQUIRES: root_.done().
  virtual void TakeRootResult() {}

  std::mutex mu_;
  WaitQueue joiners_;  // guarded by mu_
  // Set once, under mu_; read without it by done() and BlockUntilDone(),
  // which waits on it (std::atomic wait/notify: no condition variable).
  std::atomic<bool> done_{false};
  bool cancelled_ = false;  // guarded by mu_; written before done_
  std::atomic<bool> cancel_requested_{false};
  std::atomic<bool> cancel_posted_{false};

  Core* core_ = nullptr;
  std::coroutine_handle<> root_;
  // Schedules the first resumption, then every bounced transfer (BounceTo).
  RunNode start_;
  MsgNode spawn_msg_;
  MsgNode cancel_msg_;
  TaskStateBase* live_prev_ = nullptr;  // core's live list, on-core only
  TaskStateBase* live_next_ = nullptr;

 private:
  static constexpr std::uint32_t kDestroying = 1u << 31;
  std::atomic<int> refs_{1};
  std::atomic<std::uint32_t> wake_state_{0};
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
  // Starts graceful shutdown: tasks may run until `deadline_ns`, then the
  // rest are cancelled.
  void BeginShutdown(std::int64_t deadline_ns);
  // Hands a new task to this core.
  void Adopt(TaskStateBase* st);

  // --- On this core's thread only ---
  void Schedule(RunNode* n);
  // Ends a wake reference that n->task held while the kernel owned part of
  // its frame: destroys the task now if it was cancelled meanwhile,
  // schedules `n` otherwise.
  void DeliverPinnedWake(RunNode* n);
  void AddTimer(TimerNode* t) { timers_.Push(t); }
  void RemoveTimer(TimerNode* t) {
    if (t->armed()) timers_.Remove(t);
  }
  absl::Status Register(FdState* fs);
  // Deregisters, closes and frees `fs` (owned by this core).
  void CloseOwned(FdState* fs);
  TaskStateBase* current_task() const { return current_task_; }
  Backend* backend() const { return backend_.get(); }
  bool accepting() const { return accepting_; }
  std::uint64_t loop_iterations() const { return iterations_; }

 private:
  void OnReadiness(FdState* fs, std::uint32_t bits) override;
  void Loop();
  void DrainInbox();
  void FireTimers(std::int64_t now);
  void RunReady();
  void Resume(RunNode* n);
  void FinishTask(TaskStateBase* st, bool cancelled);
  void CancelAllLive();
  void CloseInboxAndOrphan();
  friend void HandleSpawn(Core*, MsgNode*);
  friend void HandleCancel(Core*, MsgNode*);
  friend void HandleWake(Core*, MsgNode*);
  friend void HandleCloseFd(Core*, MsgNode*);
  friend void DestroyTask(Core*, TaskStateBase*);

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
  TimerHeap timers_;
  TaskStateBase* live_head_ = nullptr;
  std::size_t live_count_ = 0;
  FdState* reg_head_ = nullptr;
  TaskStateBase* current_task_ = nullptr;
  std::uint64_t iterations_ = 0;
};

// Inbox message handlers (run on the target core).
void HandleSpawn(Core* core, MsgNode* m);
void HandleCancel(Core* core, MsgNode* m);
void HandleWake(Core* core, MsgNode* m);
void HandleCloseFd(Core* core, MsgNode* m);

// The core running on this thread, or null.
Core* CurrentCore();

// Symmetric transfer is a tail call only when the compiler makes it one;
// sanitizer and -O0 builds do not, and a loop awaiting Tasks that complete
// without suspending would then grow the stack without bound. Every transfer
// counts against a per-thread depth that Core::Resume resets; past a limit
// the transfer goes through the run queue instead, which unwinds the stack.
// Off-core, and on a core outside a task, this always returns false.
bool ShouldBounceTransfer() noexcept;
// Schedules `h` on the current core through the current task's own run node
// (TaskStateBase::start_). One node per task suffices: a task runs one frame
// at a time, and the bouncing frame suspends until the node is resumed.
// REQUIRES: ShouldBounceTransfer() returned true (so: on a core, in a task).
void BounceTo(std::coroutine_handle<> h) noexcept;

// Destroys a task's frames and completes it as cancelled (on-core).
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
  RunNode node;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h);
  void await_resume() noexcept {}
};

// Waits until `deadline_ns` (CLOCK_BOOTTIME).
class SleepAwaiter {
 public:
  explicit SleepAwaiter(std::int64_t deadline_ns) { timer_.deadline_ns = deadline_ns; }
  SleepAwaiter(const SleepAwaiter&) = delete;
  SleepAwaiter& operator=(const SleepAwaiter&) = delete;
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

// Waits on a WaitQueue until `ready()` holds (checked under `mu`) or the
// optional deadline passes. await_resume() returns false on timeout.
// The owner re-checks its condition after waking (wake-ups may be spurious:
// another task can take the item first).
template <typename Ready>
class WaitAwaiter {
 public:
  WaitAwaiter(std::mutex* mu, WaitQueue* q, Ready ready,
              std::optional<std::int64_t> deadline_ns = std::nullopt)
      : mu_(mu), q_(q), ready_(std::move(ready)), deadline_ns_(deadline_ns) {}
  WaitAwaiter(const WaitAwaiter&) = delete;
  WaitAwaiter& operator=(const WaitAwaiter&) = delete;

  ~WaitAwaiter() {
    if (!suspended_) return;
    if (timer_.armed()) w_.core->RemoveTimer(&timer_);
    Waiter* pass_on = nullptr;
    {
      std::lock_guard<std::mutex> l(*mu_);
      if (w_.state == Waiter::kQueued) {
        q_->Remove(&w_);
      } else if (w_.state == Waiter::kNotified && !w_.timed_out) {
        // Woken but destroyed before running: hand the wake-up on.
        pass_on = q_->ClaimOne();
      }
    }
    if (pass_on != nullptr) pass_on->Wake();
  }

  bool await_ready() const noexcept { return false; }

  bool await_suspend(std::coroutine_handle<> h) {
    Core* core = CurrentCore();
    READBUF_CHECK(core != nullptr, "awaiting outside a reactor core");
    std::lock_guard<std::mutex> l(*mu_);
    if (ready_()) return false;
    if (deadline_ns_.has_value() && *deadline_ns_ <= BootTimeNowNs()) {
      w_.timed_out = true;
      return false;
    }
    suspended_ = true;
    w_.core = core;
    w_.run.h = h;
    w_.run.task = core->current_task();
    q_->PushBack(&w_);
    if (deadline_ns_.has_value()) {
      timer_.deadline_ns = *deadline_ns_;
      timer_.fire = &FireTimer;
      timer_.self = this;
      core->AddTimer(&timer_);
    }
    return true;
  }

  bool await_resume() {
    if (suspended_) {
      std::lock_guard<std::mutex> l(*mu_);
      w_.state = Waiter::kResumed;
    }
    return !w_.timed_out;
  }

 private:
  struct Timer : TimerNode {
    WaitAwaiter* self = nullptr;
  };
  static void FireTimer(TimerNode* t) {
    WaitAwaiter* self = static_cast<Timer*>(t)->self;
    bool wake = false;
    {
      std::lock_guard<std::mutex> l(*self->mu_);
      if (self->w_.state == Waiter::kQueued) {
        self->q_->Remove(&self->w_);
        self->w_.state = Waiter::kNotified;
        self->w_.timed_out = true;
        wake = true;
      }
    }
    if (wake) self->w_.core->Schedule(&self->w_.run);
  }

  std::mutex* mu_;
  WaitQueue* q_;
  Ready ready_;
  std::optional<std::int64_t> deadline_ns_;
  bool suspended_ = false;
  Waiter w_;
  Timer timer_;
};

template <typename Ready>
WaitAwaiter(std::mutex*, WaitQueue*, Ready) -> WaitAwaiter<Ready>;
template <typename Ready>
WaitAwaiter(std::mutex*, WaitQueue*, Ready, std::optional<std::int64_t>)
    -> WaitAwaiter<Ready>;

// Closes and frees `fs` from any thread: on its core directly, through the
// core's inbox from elsewhere, directly if unregistered or orphaned.
// REQUIRES: no task is waiting on `fs`.
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
