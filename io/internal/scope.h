// -----------------------------------------------------------------------------
// File: io/internal/scope.h
// -----------------------------------------------------------------------------
//
// Cancellation scopes: the unit in which a suspended task can be destroyed.
//
// A Scope is a part of one task that can be cancelled as a whole: the task
// itself (its root scope is the TaskStateBase), or one branch of a race run
// inside the task's own frames (timeout(), when_any). Scopes nest: a branch's
// parent is the scope that was current when the race began. Every suspension
// point (a RunNode) records the innermost scope it suspended in.
//
// Cancelling a scope destroys the frames and awaiters inside it at their
// suspension points; their destructors deregister everything (fd waiters,
// timers, wait queues, op slots). That is synchronous unless the scope is
// *pinned*: a wake-up claimed by another thread is on its way into a frame
// inside it (the message lives in that frame), or the kernel still owns a
// buffer inside it (a started io_uring op). A pin is a wake reference,
// counted on the scope where it was taken and on every scope above it, so
// "no pins" is one atomic load at any level. A cancel that finds pins marks
// the scope cancel-requested; from then on nothing inside it is resumed
// (wake-ups are parked), and the delivery that releases the last pin
// performs the cancellation (Core::DeliverPinnedWake).
//
// Thread safety: TryAcquireWake may run on any thread, under the lock of the
// wait queue that holds the claimed waiter (which keeps every scope on the
// chain alive: destroying the waiter takes that lock first). Everything else
// runs on the task's core.

#ifndef READBUF_IO_INTERNAL_SCOPE_H_
#define READBUF_IO_INTERNAL_SCOPE_H_

#include <atomic>
#include <cstdint>

#include "io/internal/nodes.h"

namespace readbuf {
namespace io_internal {

class Core;
class Scope;
class TaskStateBase;

// ---------------------------------------------------------------------------
// Scope
// ---------------------------------------------------------------------------
class Scope {
 public:
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

  // The enclosing scope; null for a task's root scope.
  Scope* parent() const;
  // The task this scope belongs to (the root of the chain).
  TaskStateBase* task();

  // True if this scope or one around it has been asked to cancel: nothing
  // inside may be resumed any more. On-core.
  bool Cancelling() const;

  // Pins this scope and every scope above it, unless one of them is being
  // destroyed (then nothing is pinned and false is returned). Any thread;
  // see the file comment for what keeps the chain alive.
  bool TryAcquireWake();
  // Undoes one TryAcquireWake. On-core (or rolling back on the claimer).
  void ReleaseWake();
  // Marks this scope as being destroyed if nothing inside it is pinned.
  // Once it has returned true, TryAcquireWake fails for everything inside.
  bool TryBeginDestroy();
  bool pinned() const {
    return (wake_state_.load(std::memory_order_acquire) & ~kDestroying) != 0;
  }

  // Requests cancellation (any thread for a task's root scope, on-core for a
  // branch); Cancelled() performs it once TryBeginDestroy succeeds.
  // Sequentially consistent: a cross-thread cancel and the spawn message
  // each store, then load the other's flag (TaskStateBase::RequestCancel).
  void MarkCancelRequested() { cancel_requested_.store(true); }
  bool cancel_requested() const { return cancel_requested_.load(); }

  // Destroys what the scope holds and completes it as cancelled (the root:
  // the task's frames; a branch: the raced awaitable, then resumes the
  // awaiting frame). REQUIRES: on-core; TryBeginDestroy() returned true.
  virtual void Cancelled(Core* core) = 0;

 protected:
  // The two kinds of scope: a task's root (no parent) and a BranchScope
  // (which holds its parent). parent() relies on nothing else deriving from
  // Scope; a scoped enum keeps a parent pointer from converting to a kind.
  enum class Kind : std::uint8_t { kTaskRoot, kBranch };
  explicit Scope(Kind kind) : branch_(kind == Kind::kBranch) {}
  ~Scope() = default;

 private:
  static constexpr std::uint32_t kDestroying = 1u << 31;

  // Pins in this scope's subtree, plus kDestroying.
  std::atomic<std::uint32_t> wake_state_{0};
  std::atomic<bool> cancel_requested_{false};
  // A BranchScope, which holds the parent; a root scope (a task's state, part
  // of every idle connection) stores none.
  const bool branch_;
};

// ---------------------------------------------------------------------------
// BranchScope: a scope inside a task (a race's branch), with the run node
// that schedules its bounced transfers (BounceTo in core.h). A scope runs one
// frame at a time, so one node is enough. A task's root scope has no node of
// its own: only one task runs on a core at a time, so its bounces use one
// node of the core's, and a task's idle state stays small.
// ---------------------------------------------------------------------------
class BranchScope : public Scope {
 public:
  Scope* const enclosing;  // parent(): the scope current when the race began
  RunNode node;

 protected:
  explicit BranchScope(Scope* parent) : Scope(Kind::kBranch), enclosing(parent) {}
  ~BranchScope() = default;
};

inline Scope* Scope::parent() const {
  return branch_ ? static_cast<const BranchScope*>(this)->enclosing : nullptr;
}

// The outermost scope around `s` (itself included) that was asked to
// cancel, or null. On-core.
Scope* OutermostCancelRequested(Scope* s);

// True if `inner` is `outer` or nested inside it.
bool ScopeWithin(const Scope* inner, const Scope* outer);

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_SCOPE_H_
