#include "io/internal/core.h"

#include <errno.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
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

// Upper bound on tasks resumed per loop iteration, so a busy run queue cannot
// starve timers, the inbox and I/O.
constexpr int kRunBudget = 256;

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

std::int64_t BootTimeNowNs() {
  timespec ts;
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

Core* CurrentCore() { return tls_core; }

bool ShouldBounceTransfer() noexcept {
  if (tls_core == nullptr || tls_core->current_task() == nullptr) return false;
  if (++tls_transfer_depth <= kMaxTransferDepth) return false;
  tls_transfer_depth = 0;
  return true;
}

void BounceTo(std::coroutine_handle<> h) noexcept {
  TaskStateBase* st = tls_core->current_task();
  READBUF_DCHECK(st != nullptr, "bounced transfer outside a task");
  st->start_.h = h;
  st->start_.task = st;
  tls_core->Schedule(&st->start_);
}

// ---------------------------------------------------------------------------
// TimerHeap
// ---------------------------------------------------------------------------
void TimerHeap::Push(TimerNode* t) {
  READBUF_DCHECK(!t->armed(), "timer pushed twice");
  heap_.push_back(t);
  t->heap_index = static_cast<std::int32_t>(heap_.size() - 1);
  SiftUp(heap_.size() - 1);
}

void TimerHeap::Remove(TimerNode* t) {
  std::size_t i = static_cast<std::size_t>(t->heap_index);
  READBUF_DCHECK(i < heap_.size() && heap_[i] == t, "timer not in heap");
  TimerNode* last = heap_.back();
  heap_.pop_back();
  t->heap_index = -1;
  if (last == t) return;
  Place(i, last);
  SiftUp(i);
  SiftDown(static_cast<std::size_t>(last->heap_index));
}

void TimerHeap::SiftUp(std::size_t i) {
  TimerNode* t = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / kArity;
    if (heap_[parent]->deadline_ns <= t->deadline_ns) break;
    Place(i, heap_[parent]);
    i = parent;
  }
  Place(i, t);
}

void TimerHeap::SiftDown(std::size_t i) {
  TimerNode* t = heap_[i];
  const std::size_t n = heap_.size();
  for (;;) {
    std::size_t first = i * kArity + 1;
    if (first >= n) break;
    std::size_t best = first;
    std::size_t end = std::min(first + kArity, n);
    for (std::size_t c = first + 1; c < end; ++c) {
      if (heap_[c]->deadline_ns < heap_[best]->deadline_ns) best = c;
    }
    if (heap_[best]->deadline_ns >= t->deadline_ns) break;
    Place(i, heap_[best]);
    i = best;
  }
  Place(i, t);
}

// ---------------------------------------------------------------------------
// Waiter / WaitQueue
// ---------------------------------------------------------------------------
bool Waiter::Claim() {
  if (core == CurrentCore() || run.task->TryAcquireWake()) {
    state = kNotified;
    return true;
  }
  state = kIdle;
  return false;
}

void Waiter::Wake() {
  if (core == CurrentCore()) {
    core->Schedule(&run);
    return;
  }
  wake_msg.handler = &HandleWake;
  bool posted = core->Post(&wake_msg);
  // A task with an undelivered wake keeps its core alive (see core.h).
  READBUF_CHECK(posted, "wake-up posted to a finished core");
}

void WaitQueue::PushBack(Waiter* w) {
  w->state = Waiter::kQueued;
  w->next = nullptr;
  w->prev = tail_;
  if (tail_ != nullptr) {
    tail_->next = w;
  } else {
    head_ = w;
  }
  tail_ = w;
}

void WaitQueue::Remove(Waiter* w) {
  if (w->prev != nullptr) {
    w->prev->next = w->next;
  } else {
    head_ = w->next;
  }
  if (w->next != nullptr) {
    w->next->prev = w->prev;
  } else {
    tail_ = w->prev;
  }
  w->prev = w->next = nullptr;
  w->state = Waiter::kIdle;
}

Waiter* WaitQueue::ClaimOne() {
  while (head_ != nullptr) {
    Waiter* w = head_;
    Remove(w);
    if (w->Claim()) return w;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// TaskStateBase
// ---------------------------------------------------------------------------
TaskStateBase::TaskStateBase() = default;
TaskStateBase::~TaskStateBase() = default;

bool TaskStateBase::TryAcquireWake() {
  std::uint32_t s = wake_state_.load(std::memory_order_acquire);
  do {
    if (s & kDestroying) return false;
  } while (!wake_state_.compare_exchange_weak(s, s + 1,
                                              std::memory_order_acq_rel));
  return true;
}

void TaskStateBase::ReleaseWake() {
  wake_state_.fetch_sub(1, std::memory_order_acq_rel);
}

bool TaskStateBase::TryBeginDestroy() {
  std::uint32_t expected = 0;
  return wake_state_.compare_exchange_strong(expected, kDestroying,
                                             std::memory_order_acq_rel);
}

void TaskStateBase::RequestCancel() {
  cancel_requested_.store(true, std::memory_order_release);
  if (cancel_posted_.exchange(true)) return;
  Ref();
  cancel_msg_.handler = &HandleCancel;
  if (!core_->Post(&cancel_msg_)) Unref();
}

void TaskStateBase::BlockUntilDone() {
  while (!done_.load(std::memory_order_acquire)) {
    done_.wait(false, std::memory_order_acquire);
  }
}

// ---------------------------------------------------------------------------
// Message handlers
// ---------------------------------------------------------------------------
void HandleSpawn(Core* core, MsgNode* m) {
  TaskStateBase* st = ContainerOf(m, &TaskStateBase::spawn_msg_);
  if (!core->accepting_) {
    bool ok = st->TryBeginDestroy();
    READBUF_CHECK(ok, "unstarted task has a pending wake");
    DestroyTask(core, st);
    return;
  }
  st->live_prev_ = nullptr;
  st->live_next_ = core->live_head_;
  if (core->live_head_ != nullptr) core->live_head_->live_prev_ = st;
  core->live_head_ = st;
  ++core->live_count_;
  core->Schedule(&st->start_);
}

void HandleCancel(Core* core, MsgNode* m) {
  TaskStateBase* st = ContainerOf(m, &TaskStateBase::cancel_msg_);
  if (st->root_) {
    if (st->TryBeginDestroy()) {
      DestroyTask(core, st);
    } else {
      // Pinned by a pending wake; a kernel op among them is asked to end.
      core->backend()->CancelKernelOps(st);
    }
  }
  st->Unref();
}

void HandleWake(Core* core, MsgNode* m) {
  Waiter* w = ContainerOf(m, &Waiter::wake_msg);
  TaskStateBase* st = w->run.task;
  st->ReleaseWake();
  if (st->cancel_requested_.load(std::memory_order_acquire) &&
      st->TryBeginDestroy()) {
    DestroyTask(core, st);
    return;
  }
  core->Schedule(&w->run);
}

void HandleCloseFd(Core* core, MsgNode* m) {
  FdState* fs = ContainerOf(m, &FdState::close_msg);
  if (fs->core.load(std::memory_order_acquire) != nullptr) {
    core->CloseOwned(fs);
  } else {
    CloseAndDelete(fs);
  }
}

void DestroyTask(Core* core, TaskStateBase* st) {
  st->start_.Unlink();
  std::coroutine_handle<> root = std::exchange(st->root_, {});
  TaskStateBase* saved = core->current_task_;
  core->current_task_ = st;
  if (root) root.destroy();
  core->current_task_ = saved;
  core->FinishTask(st, /*cancelled=*/true);
}

void CloseFdState(FdState* fs) {
  Core* core = fs->core.load(std::memory_order_acquire);
  if (core == nullptr) {
    CloseAndDelete(fs);
  } else if (core == CurrentCore()) {
    // Off-core the waiter slots belong to the core thread; only check here.
    READBUF_CHECK(fs->read_waiter == nullptr && fs->write_waiter == nullptr,
                  "closing fd %d while a task waits on it", fs->fd);
    core->CloseOwned(fs);
  } else {
    fs->close_msg.handler = &HandleCloseFd;
    // A finished core has already orphaned the fd (under its inbox lock).
    if (!core->Post(&fs->close_msg)) CloseAndDelete(fs);
  }
}

void SpawnOn(Core* core, TaskStateBase* st, std::coroutine_handle<> root) {
  st->core_ = core;
  st->root_ = root;
  st->start_.h = root;
  st->start_.task = st;
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
    std::lock_guard<std::mutex> l(st->mu_);
    st->cancelled_ = true;
    st->done_.store(true, std::memory_order_release);
  }
  st->done_.notify_all();
  st->Unref();
}

void YieldAwaiter::await_suspend(std::coroutine_handle<> h) {
  Core* core = CurrentCore();
  READBUF_CHECK(core != nullptr, "yield outside a reactor core");
  node.h = h;
  node.task = core->current_task();
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
  run_.task = core_->current_task();
  timer_.fire = &Fire;
  timer_.self = this;
  core_->AddTimer(&timer_);
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
}

Core::~Core() {
  // The sentinel is never "unlinked" from itself.
  run_queue_.prev = run_queue_.next = nullptr;
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

void Core::DeliverPinnedWake(RunNode* n) {
  TaskStateBase* st = n->task;
  st->ReleaseWake();
  if (st->cancel_requested_.load(std::memory_order_acquire) && st->TryBeginDestroy()) {
    DestroyTask(this, st);
    return;
  }
  Schedule(n);
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

void Core::CloseOwned(FdState* fs) {
  READBUF_CHECK(fs->read_waiter == nullptr && fs->write_waiter == nullptr,
                "closing fd %d while a task waits on it (cancel or finish that task first)",
                fs->fd);
  backend_->Deregister(fs);
  if (fs->reg_prev != nullptr) {
    fs->reg_prev->reg_next = fs->reg_next;
  } else {
    reg_head_ = fs->reg_next;
  }
  if (fs->reg_next != nullptr) fs->reg_next->reg_prev = fs->reg_prev;
  CloseAndDelete(fs);
}

void Core::OnReadiness(FdState* fs, std::uint32_t bits) {
  if (bits & kHangup) fs->hangup = true;
  if (bits & kReadable) {
    fs->readable = true;
    if (RunNode* w = std::exchange(fs->read_waiter, nullptr)) Schedule(w);
  }
  if (bits & kWritable) {
    fs->writable = true;
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
      if (!cancelled_all_) wake_at = deadline;
    }
    if (run_queue_.next != &run_queue_) {
      wake_at = 0;
    } else if (TimerNode* t = timers_.Top()) {
      if (!wake_at.has_value() || t->deadline_ns < *wake_at) wake_at = t->deadline_ns;
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
  for (int i = 0; i < kRunBudget && run_queue_.next != &run_queue_; ++i) {
    RunNode* n = run_queue_.next;
    n->Unlink();
    Resume(n);
  }
}

void Core::Resume(RunNode* n) {
  TaskStateBase* st = n->task;
  current_task_ = st;
  tls_transfer_depth = 0;
  if (n->on_run != nullptr) {
    n->on_run(n);  // `n` may be gone after this.
  } else {
    n->h.resume();  // `n` may be gone after this.
  }
  current_task_ = nullptr;
  if (st->root_.done()) {
    st->TakeRootResult();
    std::exchange(st->root_, {}).destroy();
    FinishTask(st, /*cancelled=*/false);
  } else if (st->cancel_requested_.load(std::memory_order_acquire) &&
             st->TryBeginDestroy()) {
    DestroyTask(this, st);
  }
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
    std::lock_guard<std::mutex> l(st->mu_);
    st->cancelled_ = cancelled;
    st->done_.store(true, std::memory_order_release);
    while (Waiter* w = st->joiners_.ClaimOne()) {
      w->next = woken;
      woken = w;
    }
  }
  st->done_.notify_all();
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
  TaskStateBase* st = live_head_;
  while (st != nullptr) {
    TaskStateBase* next = st->live_next_;
    st->cancel_requested_.store(true, std::memory_order_release);
    if (st->TryBeginDestroy()) {
      DestroyTask(this, st);
    } else {
      backend_->CancelKernelOps(st);
    }
    st = next;
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
