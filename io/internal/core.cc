#include "io/internal/core.h"

#include <errno.h>
#include <sched.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

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

template <typename T, typename M>
T* ContainerOf(M* member, M T::*field) {
  auto offset = reinterpret_cast<std::size_t>(
      &(static_cast<T*>(nullptr)->*field));
  return reinterpret_cast<T*>(reinterpret_cast<char*>(member) - offset);
}

void CloseAndDelete(FdState* fs) {
  if (fs->fd >= 0) ::close(fs->fd);  // close() is never retried on EINTR.
  delete fs;
}

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
  sc->node.h = h;
  sc->node.scope = sc;
  tls_core->ScheduleBounced(&sc->node);
}

// ---------------------------------------------------------------------------
// TaskStateBase
// ---------------------------------------------------------------------------
TaskStateBase::~TaskStateBase() = default;

void TaskStateBase::RequestCancel() {
  if (CurrentCore() == core_) {
    core_->CancelTask(this);
    return;
  }
  MarkCancelRequested();
  if (cancel_posted_.exchange(true)) return;
  Ref();
  cancel_msg_.handler = &HandleCancel;
  if (!core_->Post(&cancel_msg_)) Unref();
}

void TaskStateBase::BlockUntilDone() {
  while (!done()) done_.wait(kRunning, std::memory_order_acquire);
}

void TaskStateBase::Cancelled(Core* core) { DestroyTask(core, this); }

// ---------------------------------------------------------------------------
// Message handlers
// ---------------------------------------------------------------------------
void HandleSpawn(Core* core, MsgNode* m) {
  TaskStateBase* st = ContainerOf(m, &TaskStateBase::spawn_msg_);
  st->adopted_ = true;
  if (!core->accepting_ || st->cancel_requested()) {
    bool ok = st->TryBeginDestroy();
    READBUF_CHECK(ok, "unstarted task is pinned");
    DestroyTask(core, st);
    return;
  }
  st->live_prev_ = nullptr;
  st->live_next_ = core->live_head_;
  if (core->live_head_ != nullptr) core->live_head_->live_prev_ = st;
  core->live_head_ = st;
  ++core->live_count_;
  core->Schedule(&st->node);
}

void HandleCancel(Core* core, MsgNode* m) {
  TaskStateBase* st = ContainerOf(m, &TaskStateBase::cancel_msg_);
  core->CancelTask(st);
  st->Unref();
}

void HandleWake(Core* core, MsgNode* m) {
  Waiter* w = ContainerOf(m, &Waiter::wake_msg);
  core->DeliverPinnedWake(&w->run);
}

// A close requested from another thread (rare: it is allocated then, so an
// FdState carries no message of its own).
struct CloseFdMsg {
  MsgNode msg;
  FdState* fs;
};

void HandleCloseFd(Core* core, MsgNode* m) {
  CloseFdMsg* c = ContainerOf(m, &CloseFdMsg::msg);
  FdState* fs = c->fs;
  delete c;
  if (fs->core.load(std::memory_order_acquire) != nullptr) {
    core->CloseOwned(fs);
  } else {
    CloseAndDelete(fs);
  }
}

void DestroyTask(Core* core, TaskStateBase* st) {
  st->node.Unlink();
  std::coroutine_handle<> root = std::exchange(st->root_, {});
  Scope* saved = core->current_scope_;
  core->current_scope_ = st;
  if (root) root.destroy();
  core->current_scope_ = saved;
  core->FinishTask(st, /*cancelled=*/true);
}

void CloseFdState(FdState* fs) {
  Core* core = fs->core.load(std::memory_order_acquire);
  if (core == nullptr) {
    CloseAndDelete(fs);
  } else if (core == CurrentCore()) {
    core->CloseOwned(fs);
  } else {
    auto* c = new CloseFdMsg{MsgNode{nullptr, &HandleCloseFd}, fs};
    // A finished core has already orphaned the fd (under its inbox lock).
    if (!core->Post(&c->msg)) {
      delete c;
      CloseAndDelete(fs);
    }
  }
}

void SpawnOn(Core* core, TaskStateBase* st, std::coroutine_handle<> root) {
  st->core_ = core;
  st->root_ = root;
  st->node.h = root;
  st->node.scope = st;
  st->spawn_msg_.handler = &HandleSpawn;
  if (core == CurrentCore()) {
    HandleSpawn(core, &st->spawn_msg_);
    return;
  }
  if (core->Post(&st->spawn_msg_)) return;
  // The core has finished: complete as cancelled here, without running.
  st->root_ = {};
  root.destroy();
  {
    std::lock_guard<SpinLock> l(st->mu_);
    st->MarkDone(/*cancelled=*/true);
  }
  st->NotifyDone();
  st->Unref();
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
Core::Core(RuntimeShared* shared, int index) : shared_(shared), index_(index) {
  run_queue_.prev = run_queue_.next = &run_queue_;
  bounced_.prev = bounced_.next = &bounced_;
}

Core::~Core() {
  // The sentinels are never "unlinked" from themselves.
  run_queue_.prev = run_queue_.next = nullptr;
  bounced_.prev = bounced_.next = nullptr;
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

void Core::Schedule(RunNode* n) {
  READBUF_DCHECK(!n->linked(), "RunNode scheduled twice");
  n->prev = run_queue_.prev;
  n->next = &run_queue_;
  run_queue_.prev->next = n;
  run_queue_.prev = n;
}

void Core::ScheduleBounced(RunNode* n) {
  READBUF_DCHECK(!n->linked(), "RunNode scheduled twice");
  n->prev = bounced_.prev;
  n->next = &bounced_;
  bounced_.prev->next = n;
  bounced_.prev = n;
}

void Core::DeliverPinnedWake(RunNode* n) {
  Scope* sc = n->scope;
  sc->ReleaseWake();
  if (Scope* c = OutermostCancelRequested(sc)) {
    // Parked: `n` is destroyed with its scope, now or at the last pin.
    if (c->TryBeginDestroy()) c->Cancelled(this);
    return;
  }
  Schedule(n);
}

void Core::CancelScope(Scope* s) {
  READBUF_DCHECK(!ScopeWithin(current_scope_, s), "a scope cancelled from inside itself");
  s->MarkCancelRequested();
  if (s->TryBeginDestroy()) {
    s->Cancelled(this);
  } else {
    backend_->CancelKernelOps(s);
  }
}

void Core::CancelTask(TaskStateBase* st) {
  st->MarkCancelRequested();
  // Unstarted: HandleSpawn sees the request. Finished: nothing to do.
  if (!st->adopted_ || !st->root_) return;
  // Running (a task cancelling itself): destroyed when it suspends (Resume).
  if (current_task() == st) return;
  if (st->TryBeginDestroy()) {
    DestroyTask(this, st);
  } else {
    backend_->CancelKernelOps(st);
  }
}

absl::Status Core::Register(FdState* fs) {
  absl::Status s = backend_->Register(fs);
  if (!s.ok()) return s;
  fs->reg_prev = nullptr;
  fs->reg_next = reg_head_;
  if (reg_head_ != nullptr) reg_head_->reg_prev = fs;
  reg_head_ = fs;
  fs->core.store(this, std::memory_order_release);
  return absl::OkStatus();
}

void Core::Unregister(FdState* fs) {
  // The backend wakes waiters it keeps itself (ring reads, kernel accepts).
  backend_->Deregister(fs);
  if (fs->reg_prev != nullptr) {
    fs->reg_prev->reg_next = fs->reg_next;
  } else {
    reg_head_ = fs->reg_next;
  }
  if (fs->reg_next != nullptr) fs->reg_next->reg_prev = fs->reg_prev;
  fs->reg_prev = fs->reg_next = nullptr;
  fs->core.store(nullptr, std::memory_order_release);
}

void Core::CloseOwned(FdState* fs) {
  Unregister(fs);
  if (fs->holds == 0) {
    CloseAndDelete(fs);
    return;
  }
  // Operations are suspended on it: close now, end them with an error, and
  // let the last one free the state.
  ::close(fs->fd);
  fs->closed = true;
  if (RunNode* w = std::exchange(fs->read_waiter, nullptr)) Schedule(w);
  if (RunNode* w = std::exchange(fs->write_waiter, nullptr)) Schedule(w);
}

void Core::OnReadiness(FdState* fs, std::uint32_t bits) {
  if (bits & kReadClosed) fs->read_closed = true;
  if (bits & kWriteClosed) fs->write_closed = true;
  if (bits & (kReadable | kReadClosed)) {
    fs->readable = true;
    fs->NoteSuspended(/*write=*/false);
    if (RunNode* w = std::exchange(fs->read_waiter, nullptr)) Schedule(w);
  }
  if (bits & (kWritable | kWriteClosed)) {
    fs->writable = true;
    fs->NoteSuspended(/*write=*/true);
    if (RunNode* w = std::exchange(fs->write_waiter, nullptr)) Schedule(w);
  }
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

void Core::FinishTask(TaskStateBase* st, bool cancelled) {
  if (st->live_prev_ != nullptr || live_head_ == st) {
    if (st->live_prev_ != nullptr) {
      st->live_prev_->live_next_ = st->live_next_;
    } else {
      live_head_ = st->live_next_;
    }
    if (st->live_next_ != nullptr) st->live_next_->live_prev_ = st->live_prev_;
    st->live_prev_ = st->live_next_ = nullptr;
    --live_count_;
  }
  Waiter* woken = nullptr;  // singly linked through `next`
  {
    std::lock_guard<SpinLock> l(st->mu_);
    st->MarkDone(cancelled);
    while (Waiter* w = st->joiners_.ClaimOne()) {
      w->next = woken;
      woken = w;
    }
  }
  st->NotifyDone();
  while (woken != nullptr) {
    Waiter* next = woken->next;
    woken->next = nullptr;
    woken->Wake();
    woken = next;
  }
  st->Unref();
}

void Core::CancelAllLive() {
  cancelled_all_ = true;
  accepting_ = false;
  // Destroying one task can destroy others (a task group's children), so
  // walk a referenced snapshot rather than the live list itself.
  std::vector<TaskStateBase*> live;
  live.reserve(live_count_);
  for (TaskStateBase* st = live_head_; st != nullptr; st = st->live_next_) {
    st->Ref();
    live.push_back(st);
  }
  for (TaskStateBase* st : live) {
    if (!st->done()) CancelTask(st);
    st->Unref();
  }
}

void Core::CloseInboxAndOrphan() {
  accepting_ = false;
  MsgNode* m;
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    inbox_closed_ = true;
    m = std::exchange(inbox_head_, nullptr);
    inbox_tail_ = nullptr;
    while (FdState* fs = reg_head_) {
      reg_head_ = fs->reg_next;
      fs->reg_prev = fs->reg_next = nullptr;
      backend_->Deregister(fs);
      fs->core.store(nullptr, std::memory_order_release);
    }
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
