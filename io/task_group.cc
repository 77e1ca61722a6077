#include "io/task_group.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "buf/internal/check.h"
#include "io/internal/core.h"
#include "io/internal/wait_awaiter.h"

namespace readbuf {
namespace {

// How long the destructor delivers events for a pinned child before giving
// up with a CHECK failure (a pin normally ends within milliseconds).
constexpr std::int64_t kMaxPinnedNs = 10'000'000'000;

}  // namespace

TaskGroup::~TaskGroup() {
  READBUF_CHECK(io_internal::CurrentCore() == core_, "TaskGroup destroyed off its core");
  cancel();
  const bool gone = core_->DeliverUntil(
      [this] { return size() == 0; }, io_internal::BootTimeNowNs() + kMaxPinnedNs);
  READBUF_CHECK(gone, "TaskGroup: %zu children still pinned after 10 s", size());
  for (io_internal::TaskStateBase* st : children_) st->Unref();
}

void TaskGroup::cancel() {
  READBUF_CHECK(io_internal::CurrentCore() == core_, "TaskGroup::cancel off the group's core");
  // Index loop: a child's destructors may spawn into the group.
  for (std::size_t i = 0; i < children_.size(); ++i) {
    io_internal::TaskStateBase* st = children_[i];
    if (!st->done()) core_->CancelTask(st);
  }
}

Task<void> TaskGroup::wait() {
  for (;;) {
    io_internal::TaskStateBase* pending = nullptr;
    for (io_internal::TaskStateBase* st : children_) {
      if (!st->done()) {
        pending = st;
        break;
      }
    }
    if (pending == nullptr) co_return;
    // The vector may be pruned while we wait, and this wait cancelled.
    struct Ref {
      io_internal::TaskStateBase* st;
      ~Ref() { st->Unref(); }
    } ref{pending};
    pending->Ref();
    co_await io_internal::WaitAwaiter(&pending->mu_, &pending->joiners_,
                                      [pending] { return pending->done(); });
  }
}

std::size_t TaskGroup::size() const {
  return static_cast<std::size_t>(std::count_if(
      children_.begin(), children_.end(),
      [](const io_internal::TaskStateBase* st) { return !st->done(); }));
}

void TaskGroup::Prune() {
  auto done = std::remove_if(children_.begin(), children_.end(),
                             [](io_internal::TaskStateBase* st) {
                               if (!st->done()) return false;
                               st->Unref();
                               return true;
                             });
  children_.erase(done, children_.end());
  prune_at_ = std::max<std::size_t>(16, children_.size() * 2);
}

}  // namespace readbuf
