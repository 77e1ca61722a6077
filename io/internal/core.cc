// The core's thread and loop: Run creates the backend and runs Loop until
// shutdown; each iteration drains the inbox (Post: messages from other
// threads), fires due timers, runs the ready queue within a budget
// (RunReady, Resume with its transfer trampoline), then waits in the backend.
// Tasks are in core_tasks.cc, fds in core_fds.cc.
// REQUIRES: everything on the core's thread except Post and BeginShutdown.
// Thread safety: the inbox is guarded by inbox_mu_; the shutdown request and
// the sleeping flag are atomics.

#include "io/internal/core.h"

#include <sched.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "buf/internal/check.h"
#include "io/internal/frame_allocator.h"

namespace readbuf {
namespace io_internal {
namespace {

thread_local Core* tls_core = nullptr;
thread_local int tls_transfer_depth = 0;

// Transfers allowed before one is routed through the run queue. Each costs a
// stack frame of a few hundred bytes at most when it is not a tail call.
constexpr int kMaxTransferDepth = 128;

// Free first-resumption run nodes a core keeps (Core::ReturnStartNode): a
// burst of spawns beyond this frees the extra nodes once the tasks start.
constexpr std::size_t kMaxFreeStartNodes = 256;

// Upper bounds on one loop iteration's run of the queue, so a busy run queue
// cannot starve timers, the inbox and I/O: at most kRunBudget resumptions,
// and no new one after kRunTimeBudgetNs (the clock is read every
// kRunClockStride resumptions). The time bound matters when each resumption
// is expensive: on loopback a new connection's first read, echo and
// registration cost 50-150 us of kernel work, so 256 of them held a core's
// timers for 20-45 ms.
constexpr int kRunBudget = 256;
constexpr std::int64_t kRunTimeBudgetNs = 2'000'000;
constexpr int kRunClockStride = 8;

}  // namespace

Core* CurrentCore() { return tls_core; }

bool ShouldBounceTransfer() noexcept {
  if (tls_core == nullptr || tls_core->current_scope() == nullptr) return false;
  if (++tls_transfer_depth <= kMaxTransferDepth) return false;
  tls_transfer_depth = 0;
  return true;
}

void BounceTo(std::coroutine_handle<> h) noexcept {
  Scope* sc = tls_core->current_scope();
  READBUF_DCHECK(sc != nullptr, "bounced transfer outside a task");
  RunNode* n = sc->parent() == nullptr ? &tls_core->root_bounce_
                                       : &static_cast<BranchScope*>(sc)->node;
  n->h = h;
  n->scope = sc;
  tls_core->ScheduleBounced(n);
}

void YieldAwaiter::await_suspend(std::coroutine_handle<> h) {
  Core* core = CurrentCore();
  READBUF_CHECK(core != nullptr, "yield outside a reactor core");
  node.h = h;
  node.scope = core->current_scope();
  core->Schedule(&node);
}

SleepAwaiter::~SleepAwaiter() {
  if (core_ != nullptr) core_->RemoveTimer(&timer_);
}

bool SleepAwaiter::await_ready() const noexcept {
  return timer_.deadline_ns <= BootTimeNowNs();
}

void SleepAwaiter::await_suspend(std::coroutine_handle<> h) {
  core_ = CurrentCore();
  READBUF_CHECK(core_ != nullptr, "sleep outside a reactor core");
  run_.h = h;
  run_.scope = core_->current_scope();
  timer_.fire = &Fire;
  timer_.self = this;
  // A sleep without a deadline ends only by cancellation: no timer.
  if (timer_.deadline_ns != kNoDeadline) core_->AddTimer(&timer_);
}

void SleepAwaiter::Fire(TimerNode* t) {
  SleepAwaiter* self = static_cast<Node*>(t)->self;
  self->core_->Schedule(&self->run_);
}

// ---------------------------------------------------------------------------
// Core
// ---------------------------------------------------------------------------
Core::Core(RuntimeShared* shared, int index)
    : shared_(shared), index_(index), link_(new CoreLink(this)) {
  run_queue_.prev = run_queue_.next = &run_queue_;
  bounced_.prev = bounced_.next = &bounced_;
}

Core::~Core() {
  // The sentinels are never "unlinked" from themselves.
  run_queue_.prev = run_queue_.next = nullptr;
  bounced_.prev = bounced_.next = nullptr;
  for (RunNode* n : free_start_nodes_) delete n;
  link_->Orphan();  // a core that never ran
  link_->Unref();
}

RunNode* Core::TakeStartNode() {
  if (free_start_nodes_.empty()) return new RunNode;
  RunNode* n = free_start_nodes_.back();
  free_start_nodes_.pop_back();
  return n;
}

void Core::ReturnStartNode(RunNode* n) {
  n->Unlink();
  if (free_start_nodes_.size() >= kMaxFreeStartNodes) {
    delete n;
    return;
  }
  n->h = {};
  n->scope = nullptr;
  n->on_run = nullptr;
  free_start_nodes_.push_back(n);
}

void Core::Run(
    BackendChoice backend, int pin_cpu,
    std::function<void(absl::Status, const char*, std::string)> started) {
  if (pin_cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(pin_cpu, &set);
    // Pinning is best effort: a restricted cpuset leaves the thread floating.
    ::sched_setaffinity(0, sizeof(set), &set);
  }
  std::string note;
  absl::StatusOr<std::unique_ptr<Backend>> b =
      absl::UnavailableError("no backend");
  if (backend == BackendChoice::kUring) {
    b = MakeUringBackend(shared_->kernel_op_slots);
    if (!b.ok()) {
      note = absl::StrCat("io_uring unavailable (", b.status().ToString(),
                          "); using epoll");
    }
  }
  if (!b.ok()) b = MakeEpollBackend();
  if (!b.ok()) {
    started(b.status(), "epoll", note);
    return;
  }
  backend_ = *std::move(b);
  ScopedFrameCache frame_cache;
  tls_core = this;
  started(absl::OkStatus(), backend_->name(), note);
  Loop();
  CloseInboxAndOrphan();
  // Wake-ups this core queued for others in its last steps (a finished
  // task's joiners on another core) must leave before it stops.
  backend_->Quiesce();
  tls_core = nullptr;
}

bool Core::Post(MsgNode* m) {
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    if (inbox_closed_) return false;
    m->next = nullptr;
    if (inbox_tail_ != nullptr) {
      inbox_tail_->next = m;
    } else {
      inbox_head_ = m;
    }
    inbox_tail_ = m;
  }
  if (sleeping_.load() && sleeping_.exchange(false)) backend_->Notify();
  return true;
}

void Core::BeginShutdown(std::int64_t deadline_ns) {
  shutdown_deadline_ns_.store(deadline_ns);
  shutdown_requested_.store(true);
  backend_->Notify();
}

void Core::ScheduleBounced(RunNode* n) {
  READBUF_DCHECK(!n->linked(), "RunNode scheduled twice");
  n->prev = bounced_.prev;
  n->next = &bounced_;
  bounced_.prev->next = n;
  bounced_.prev = n;
}

void Core::Loop() {
  for (;;) {
    ++iterations_;
    DrainInbox();
    std::int64_t now = BootTimeNowNs();
    FireTimers(now);
    RunReady();
    DrainInbox();

    // The wait ends at the earliest of the shutdown deadline and the first
    // timer (absolute, CLOCK_BOOTTIME); 0 polls.
    std::optional<std::int64_t> wake_at;
    if (shutdown_requested_.load()) {
      const std::int64_t deadline = shutdown_deadline_ns_.load();
      now = BootTimeNowNs();
      if (!cancelled_all_ && now >= deadline) CancelAllLive();
      if (live_count_ == 0) return;
      if (!cancelled_all_ && deadline != kNoDeadline) wake_at = deadline;
    }
    if (run_queue_.next != &run_queue_) {
      wake_at = 0;
    } else if (TimerNode* t = timers_.Top()) {
      if (t->deadline_ns != kNoDeadline &&
          (!wake_at.has_value() || t->deadline_ns < *wake_at)) {
        wake_at = t->deadline_ns;
      }
    }
    if (!wake_at.has_value() || *wake_at > 0) {
      sleeping_.store(true);
      std::lock_guard<std::mutex> l(inbox_mu_);
      if (inbox_head_ != nullptr) wake_at = 0;
    }
    backend_->Wait(wake_at, this);
    sleeping_.store(false);
  }
}

void Core::DeliverOnce() {
  DrainInbox();
  backend_->Wait(BootTimeNowNs() + 1'000'000, this);
  DrainInbox();
}

void Core::DrainInbox() {
  MsgNode* m;
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    m = std::exchange(inbox_head_, nullptr);
    inbox_tail_ = nullptr;
  }
  while (m != nullptr) {
    MsgNode* next = m->next;
    m->handler(this, m);
    m = next;
  }
}

void Core::FireTimers(std::int64_t now) {
  while (TimerNode* t = timers_.Top()) {
    if (t->deadline_ns > now) break;
    timers_.Remove(t);
    t->fire(t);
  }
}

void Core::RunReady() {
  const std::int64_t start = BootTimeNowNs();
  for (int i = 0; i < kRunBudget && run_queue_.next != &run_queue_; ++i) {
    if (i % kRunClockStride == kRunClockStride - 1 && BootTimeNowNs() - start > kRunTimeBudgetNs) {
      break;
    }
    RunNode* n = run_queue_.next;
    n->Unlink();
    Resume(n);
  }
}

void Core::Resume(RunNode* n) {
  Scope* sc = n->scope;
  // Inside a scope being cancelled nothing runs; its frames are destroyed
  // with it.
  if (sc->Cancelling()) return;
  TaskStateBase* st = sc->task();
  current_scope_ = sc;
  tls_transfer_depth = 0;
  if (n->on_run != nullptr) {
    n->on_run(n);  // `n` may be gone after this.
  } else {
    n->h.resume();  // `n` may be gone after this.
  }
  // The trampoline: transfers bounced off the stack (BounceTo) continue now,
  // before anything else runs. A scope cancelled meanwhile (a when_any
  // loser) unlinked its node; one cancelled while pinned parks it.
  while (bounced_.next != &bounced_) {
    RunNode* b = bounced_.next;
    b->Unlink();
    if (b->scope->Cancelling()) continue;
    current_scope_ = b->scope;
    tls_transfer_depth = 0;
    b->h.resume();  // `b` may be gone after this.
  }
  current_scope_ = nullptr;
  if (st->root_.done()) {
    st->TakeRootResult();
    std::exchange(st->root_, {}).destroy();
    FinishTask(st, /*cancelled=*/false);
    return;
  }
  if (st->cancel_requested()) {
    // It cancelled itself while running, or pins held a cancel up.
    if (st->TryBeginDestroy()) {
      DestroyTask(this, st);
    } else {
      backend_->CancelKernelOps(st);
    }
    return;
  }
  if (suspend_observer_ != nullptr) suspend_observer_(st, suspend_observer_ctx_);
}

void Core::CloseInboxAndOrphan() {
  accepting_ = false;
  MsgNode* m;
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    inbox_closed_ = true;
    m = std::exchange(inbox_head_, nullptr);
    inbox_tail_ = nullptr;
    // Lets the backend drop what it keeps per fd, then orphans every fd
    // still registered here (CoreLink). In this order: a thread that sees
    // an fd orphaned may close and free it at once (CloseFdState), so the
    // backend must be done with it by then.
    backend_->DeregisterAll();
    link_->Orphan();
  }
  while (m != nullptr) {
    MsgNode* next = m->next;
    m->handler(this, m);
    m = next;
  }
  // Unstarted work that arrived at the very end (spawns) is complete now;
  // nothing can be left runnable.
  READBUF_CHECK(live_count_ == 0, "core %d finished with live tasks", index_);
}

}  // namespace io_internal
}  // namespace readbuf
