// -----------------------------------------------------------------------------
// File: io/task_group.h
// -----------------------------------------------------------------------------
//
// TaskGroup: tasks whose lives are tied to a scope. Children spawned into a
// group run concurrently with their parent, on its core; when the group is
// destroyed (or cancel()ed) every child still running is cancelled, and the
// destructor returns only once each of them is gone. So a child may borrow
// from the frame that owns the group -- sockets, buffers, a Channel -- the
// way structured-concurrency nurseries allow and Tokio's JoinSet (whose
// tasks must be 'static) cannot.
//
// Example (two pumps borrowing both sockets of a proxy):
//
//   readbuf::TaskGroup group;
//   group.spawn(Pump(client, upstream));
//   group.spawn(Pump(upstream, client));
//   co_await group.wait();        // both finished
//   // or: leave the scope; the destructor cancels whatever still runs.
//
// Cancellation of a child follows io/runtime.h: it is destroyed at its
// suspension point, at once unless pinned (a wake-up from another core on its
// way, an io_uring op the kernel owns); for a pinned child the destructor
// delivers the core's pending messages and completions -- running no other
// task -- until the child is gone (at most a few milliseconds in practice; a
// child pinned for 10 s is a CHECK failure, never an endless wait).
//
// Thread safety: a TaskGroup belongs to one core: create, use and destroy it
// there (inside a task).

#ifndef READBUF_IO_TASK_GROUP_H_
#define READBUF_IO_TASK_GROUP_H_

#include <cstddef>
#include <utility>
#include <vector>

#include "buf/internal/check.h"
#include "io/internal/core.h"
#include "io/internal/wait_awaiter.h"
#include "io/runtime.h"
#include "io/task.h"

namespace readbuf {

class TaskGroup {
 public:
  // REQUIRES: on a reactor core.
  TaskGroup() : core_(io_internal::CurrentCore()) {
    READBUF_CHECK(core_ != nullptr, "TaskGroup created outside a reactor core");
  }
  // Cancels every child still running and returns once all are gone.
  ~TaskGroup();
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  // Starts `task` on this core as a child of the group. The handle may be
  // awaited or dropped; dropping it does not detach the child from the group.
  template <typename T>
  JoinHandle<T> spawn(Task<T> task) {
    READBUF_CHECK(io_internal::CurrentCore() == core_, "TaskGroup::spawn off the group's core");
    JoinHandle<T> h = io_internal::SpawnTask(core_, std::move(task));
    io_internal::TaskStateBase* st = io_internal::JoinHandleAccess::State(h);
    st->Ref();
    children_.push_back(st);
    if (children_.size() >= prune_at_) Prune();
    return h;
  }

  // Cancels every child still running: those not pinned are destroyed
  // before cancel() returns. Idempotent; children spawned later run.
  void cancel();

  // `co_await group.wait()` returns once every child has finished or been
  // cancelled (children spawned meanwhile included).
  Task<void> wait();

  // Children not finished yet.
  std::size_t size() const;

 private:
  void Prune();

  io_internal::Core* core_;
  std::vector<io_internal::TaskStateBase*> children_;  // each holds a reference
  std::size_t prune_at_ = 16;
};

}  // namespace readbuf

#endif  // READBUF_IO_TASK_GROUP_H_
