#include "io/internal/wait_queue.h"

#include "buf/internal/check.h"
#include "io/internal/core.h"

namespace readbuf {
namespace io_internal {

bool Waiter::Claim() {
  // Same core: the frame cannot go away between this claim and Wake().
  if (core == CurrentCore() || run.scope->TryAcquireWake()) {
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
  if (head_ == nullptr) {
    w->prev = w->next = w;
    head_ = w;
    return;
  }
  Waiter* tail = head_->prev;
  w->prev = tail;
  w->next = head_;
  tail->next = w;
  head_->prev = w;
}

void WaitQueue::Remove(Waiter* w) {
  if (w->next == w) {
    head_ = nullptr;
  } else {
    w->prev->next = w->next;
    w->next->prev = w->prev;
    if (head_ == w) head_ = w->next;
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

}  // namespace io_internal
}  // namespace readbuf
