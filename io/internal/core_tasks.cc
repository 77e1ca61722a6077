// Task lifecycle on a core: a task's control block (TaskStateBase), spawning
// it (SpawnOn, HandleSpawn), cancelling it or a scope inside it (CancelTask,
// CancelScope, HandleCancel, CancelAllLive at the shutdown deadline), wakes
// that held a pin (DeliverPinnedWake, HandleWake), and its end (FinishTask,
// DestroyTask), which wakes its joiners.
// REQUIRES: on the task's core, except TaskStateBase::RequestCancel and
// BlockUntilDone and SpawnOn (any thread). Thread safety: as core.h; the
// cross-thread steps go through the core's inbox (Core::Post).

#include "io/internal/core.h"

#include <coroutine>
#include <mutex>
#include <utility>
#include <vector>

#include "buf/internal/check.h"
#include "io/internal/nodes.h"
#include "io/internal/scope.h"
#include "io/internal/spin_lock.h"
#include "io/internal/wait_queue.h"

namespace readbuf {
namespace io_internal {

namespace {

// A cancel requested from another thread (rare: it is allocated then, so a
// task's state carries no message for it).
struct CancelMsg {
  MsgNode msg;
  TaskStateBase* st;
};

}  // namespace

// ---------------------------------------------------------------------------
// TaskStateBase
// ---------------------------------------------------------------------------
TaskStateBase::~TaskStateBase() = default;

void TaskStateBase::RequestCancel() {
  if (CurrentCore() == core_) {
    core_->CancelTask(this);
    return;
  }
  // Store the mark, then load spawn_pending_; HandleSpawn stores that, then
  // loads the mark (both sequentially consistent): it sees the mark, or this
  // sees the spawn handled and posts the cancel.
  MarkCancelRequested();
  if (spawn_pending_.load()) return;
  if (cancel_posted_.exchange(true)) return;
  Ref();
  auto* c = new CancelMsg{MsgNode{nullptr, &HandleCancel}, this};
  if (!core_->Post(&c->msg)) {
    delete c;
    Unref();
  }
}

void TaskStateBase::BlockUntilDone() {
  while (!done()) done_.wait(kRunning, std::memory_order_acquire);
}

void TaskStateBase::Cancelled(Core* core) { DestroyTask(core, this); }

// ---------------------------------------------------------------------------
// Spawning, cancelling and finishing tasks
// ---------------------------------------------------------------------------
void HandleSpawn(Core* core, MsgNode* m) {
  TaskStateBase* st = ContainerOf(m, &TaskStateBase::msg_);
  st->start_ = nullptr;  // msg_ is done with
  st->adopted_ = true;
  st->spawn_pending_.store(false);  // a cancel now posts (see RequestCancel)
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
  RunNode* n = core->TakeStartNode();
  n->h = st->root_;
  n->scope = st;
  n->on_run = &StartTask;
  st->start_ = n;
  core->Schedule(n);
}

// A task's first resumption (Core::Resume runs it inside the task's scope):
// gives the borrowed node back, then runs the root frame.
void StartTask(RunNode* n) {
  auto* st = static_cast<TaskStateBase*>(n->scope);
  std::coroutine_handle<> root = n->h;
  st->start_ = nullptr;
  CurrentCore()->ReturnStartNode(n);
  root.resume();
}

void HandleCancel(Core* core, MsgNode* m) {
  CancelMsg* c = ContainerOf(m, &CancelMsg::msg);
  TaskStateBase* st = c->st;
  delete c;
  core->CancelTask(st);
  st->Unref();
}

void HandleWake(Core* core, MsgNode* m) {
  Waiter* w = ContainerOf(m, &Waiter::wake_msg);
  core->DeliverPinnedWake(&w->run);
}

void DestroyTask(Core* core, TaskStateBase* st) {
  if (RunNode* n = std::exchange(st->start_, nullptr)) core->ReturnStartNode(n);
  READBUF_DCHECK(!core->root_bounce_.linked() || core->root_bounce_.scope != st,
                 "a task destroyed with a bounced transfer queued");
  std::coroutine_handle<> root = std::exchange(st->root_, {});
  Scope* saved = core->current_scope_;
  core->current_scope_ = st;
  if (root) root.destroy();
  core->current_scope_ = saved;
  core->FinishTask(st, /*cancelled=*/true);
}

void SpawnOn(Core* core, TaskStateBase* st, std::coroutine_handle<> root) {
  st->core_ = core;
  st->root_ = root;
  st->msg_.handler = &HandleSpawn;
  if (core == CurrentCore()) {
    HandleSpawn(core, &st->msg_);
    return;
  }
  st->spawn_pending_.store(true, std::memory_order_relaxed);  // Post publishes it
  if (core->Post(&st->msg_)) return;
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

}  // namespace io_internal
}  // namespace readbuf
