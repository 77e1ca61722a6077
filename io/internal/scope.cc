#include "io/internal/scope.h"

#include <atomic>
#include <cstdint>

#include "buf/internal/check.h"
#include "io/internal/core.h"

namespace readbuf {
namespace io_internal {

TaskStateBase* Scope::task() {
  Scope* s = this;
  while (s->parent() != nullptr) s = s->parent();
  return static_cast<TaskStateBase*>(s);
}

bool Scope::Cancelling() const {
  for (const Scope* s = this; s != nullptr; s = s->parent()) {
    if (s->cancel_requested()) return true;
  }
  return false;
}

bool Scope::TryAcquireWake() {
  for (Scope* s = this; s != nullptr; s = s->parent()) {
    std::uint32_t v = s->wake_state_.load(std::memory_order_acquire);
    bool pinned = false;
    while ((v & kDestroying) == 0) {
      if (s->wake_state_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) {
        pinned = true;
        break;
      }
    }
    if (!pinned) {
      // A scope on the chain is being destroyed: undo the levels below it.
      for (Scope* u = this; u != s; u = u->parent()) {
        u->wake_state_.fetch_sub(1, std::memory_order_acq_rel);
      }
      return false;
    }
  }
  return true;
}

void Scope::ReleaseWake() {
  for (Scope* s = this; s != nullptr; s = s->parent()) {
    const std::uint32_t was = s->wake_state_.fetch_sub(1, std::memory_order_acq_rel);
    READBUF_DCHECK((was & ~kDestroying) != 0, "wake reference released twice");
  }
}

bool Scope::TryBeginDestroy() {
  std::uint32_t expected = 0;
  return wake_state_.compare_exchange_strong(expected, kDestroying,
                                             std::memory_order_acq_rel);
}

Scope* OutermostCancelRequested(Scope* s) {
  Scope* found = nullptr;
  for (; s != nullptr; s = s->parent()) {
    if (s->cancel_requested()) found = s;
  }
  return found;
}

bool ScopeWithin(const Scope* inner, const Scope* outer) {
  for (const Scope* s = inner; s != nullptr; s = s->parent()) {
    if (s == outer) return true;
  }
  return false;
}

}  // namespace io_internal
}  // namespace readbuf
