// -----------------------------------------------------------------------------
// File: io/callback_connection.cc
// -----------------------------------------------------------------------------
//
// The state machine behind CallbackConnections (io/callback_connection.h):
// each connection waits for one thing at a time -- readability, or
// writability while written bytes are pending -- through its RunNode, whose
// on_run steps the machine on the core, inside the owning task's scope.

#include "io/callback_connection.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "buf/buffer_pool.h"
#include "buf/internal/check.h"
#include "buf/pool_bytes.h"
#include "buf/pool_bytes_chain.h"
#include "io/internal/core.h"
#include "io/internal/fd_ops.h"

namespace readbuf {

using io_internal::Core;
using io_internal::CurrentCore;
using io_internal::FdState;
using io_internal::RunNode;

namespace {

FdState* StateOf(AsyncFd& fd) { return io_internal::AsyncFdAccess::State(fd); }

// Copies `bytes` into pool blocks appended to `out`.
absl::Status CopyIntoPool(std::span<const std::byte> bytes, PoolBytesChain& out) {
  BufferPool& pool = BufferPool::ForThisThread();
  while (!bytes.empty()) {
    const std::size_t n = std::min(bytes.size(), BufferPool::kMaxPooledBlockSize);
    absl::StatusOr<PoolBlock> block = pool.Acquire(n);
    if (!block.ok()) return block.status();
    std::memcpy(block->data(), bytes.data(), n);
    out.append(PoolBytes(*std::move(block), n));
    bytes = bytes.subspan(n);
  }
  return absl::OkStatus();
}

}  // namespace

// --- CallbackConnection ------------------------------------------------------

CallbackConnection::CallbackConnection(CallbackConnections* set, AsyncFd fd)
    : set_(set), fd_(std::move(fd)), read_size_(set->limits_) {
  node_.self = this;
  node_.on_run = &OnRun;
  node_.scope = set->scope_;
}

CallbackConnection::~CallbackConnection() {
  Unhook();
  // node_ unlinks itself from the run queue; fd_ deregisters and closes.
}

std::size_t CallbackConnection::pending_bytes() const {
  return pending_ != nullptr ? pending_->size() : 0;
}

void CallbackConnection::Write(std::span<const std::byte> bytes) {
  if (ending_ || close_requested_ || write_failed_ || bytes.empty()) return;
  if (pending_bytes() == 0) {
    // Nothing queued before these bytes: try the socket first.
    while (!bytes.empty() && fd_.is_writable()) {
      const ssize_t n = ::send(fd_.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n >= 0) {
        bytes = bytes.subspan(static_cast<std::size_t>(n));
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        fd_.mark_not_writable();
      } else if (errno != EINTR) {
        error_ = io_internal::FdError(errno, "send", fd_.fd());
        write_failed_ = true;
        Requeue();
        return;
      }
    }
    if (bytes.empty()) return;
  }
  if (pending_ == nullptr) pending_ = std::make_unique<PoolBytesChain>();
  if (absl::Status s = CopyIntoPool(bytes, *pending_); !s.ok()) {
    error_ = absl::Status(s.code(), absl::StrCat("CallbackConnection::Write: ", s.message()));
    write_failed_ = true;
  }
  Requeue();  // wait for writability instead of readability
}

void CallbackConnection::Close() {
  if (ending_ || close_requested_) return;
  close_requested_ = true;
  Requeue();
}

void CallbackConnection::Requeue() {
  if (in_step_ || ending_) return;  // Step looks at the new state itself
  Unhook();
  wait_ = Wait::kQueued;
  set_->core_->Schedule(&node_);
}

void CallbackConnection::Hook(Wait w) {
  FdState* fs = StateOf(fd_);
  RunNode*& slot = w == Wait::kReadable ? fs->read_waiter : fs->write_waiter;
  READBUF_CHECK(slot == nullptr, "CallbackConnection: another task waits on fd %d", fs->fd);
  slot = &node_;
  fs->NoteSuspended(/*write=*/w == Wait::kWritable);
  hold_.Take(fs);
  wait_ = w;
}

void CallbackConnection::Unhook() {
  if (wait_ == Wait::kReadable || wait_ == Wait::kWritable) {
    FdState* fs = StateOf(fd_);
    if (fs != nullptr && !hold_.closed()) {
      RunNode*& slot = wait_ == Wait::kReadable ? fs->read_waiter : fs->write_waiter;
      if (slot == &node_) slot = nullptr;
    }
    hold_.Release();
  }
  node_.Unlink();
  wait_ = Wait::kNone;
}

void CallbackConnection::OnRun(RunNode* n) {
  CallbackConnection* self = static_cast<Node*>(n)->self;
  const bool fd_closed = self->hold_.closed();
  self->hold_.Release();
  self->wait_ = Wait::kNone;
  if (fd_closed) {
    self->End(StateOf(self->fd_)->ClosedError("CallbackConnection"));
    return;
  }
  self->Step();
}

bool CallbackConnection::Flush() {
  while (pending_bytes() != 0 && fd_.is_writable()) {
    std::array<iovec, 16> iov;
    const std::size_t count = pending_->iovecs(iov);
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = count;
    const ssize_t n = ::sendmsg(fd_.fd(), &msg, MSG_NOSIGNAL);
    if (n >= 0) {
      pending_->consume(static_cast<std::size_t>(n));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      fd_.mark_not_writable();
    } else if (errno != EINTR) {
      error_ = io_internal::FdError(errno, "sendmsg", fd_.fd());
      return false;
    }
  }
  if (pending_bytes() == 0) pending_.reset();  // an idle connection holds nothing
  return true;
}

void CallbackConnection::Step() {
  in_step_ = true;
  for (int reads = 0;;) {
    if (!error_.ok()) return End(std::move(error_));
    if (pending_bytes() != 0) {
      if (!Flush()) continue;
      if (pending_bytes() != 0) break;  // wait for writability
    }
    if (close_requested_) return End(absl::OkStatus());
    if (reads == CallbackConnections::kReadsPerTurn) {
      // Let the core's other work run; come back from the run queue.
      in_step_ = false;
      Requeue();
      return;
    }
    if (!fd_.is_readable()) break;  // wait for readability

    absl::StatusOr<PoolBlock> block = BufferPool::ForThisThread().Acquire(read_size_.next());
    if (!block.ok()) return End(block.status());
    const std::size_t asked = std::min(block->capacity(), read_size_.next());
    ssize_t n;
    do {
      n = ::read(fd_.fd(), block->data(), asked);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      fd_.mark_not_readable();
      continue;
    }
    if (n < 0) return End(io_internal::FdError(errno, "read", fd_.fd()));
    if (n == 0) return End(absl::OkStatus());  // EOF; nothing is pending here
    const auto got = static_cast<std::size_t>(n);
    read_size_.record(got, asked);
    if (got < asked) fd_.mark_drained();
    ++reads;
    set_->handler_.OnData(*this, std::span<const std::byte>(block->data(), got));
    // The block goes back to the pool here.
  }
  in_step_ = false;
  Hook(pending_bytes() != 0 ? Wait::kWritable : Wait::kReadable);
}

void CallbackConnection::End(absl::Status why) {
  ending_ = true;
  Unhook();
  set_->handler_.OnClose(*this, why);
  set_->Remove(this);
  delete this;
}

// --- CallbackConnections -----------------------------------------------------

CallbackConnections::CallbackConnections(CallbackHandler& handler, std::size_t max_read)
    : handler_(handler), core_(CurrentCore()), scope_(nullptr) {
  READBUF_CHECK(core_ != nullptr && core_->current_scope() != nullptr,
                "CallbackConnections: construct it inside a task on a reactor core");
  scope_ = core_->current_scope();
  if (max_read != 0) {
    READBUF_CHECK(max_read <= UINT32_MAX, "CallbackConnections: max_read %zu too large", max_read);
    const auto max = static_cast<std::uint32_t>(max_read);
    limits_.max = max;
    limits_.min = std::min(limits_.min, max);
    limits_.initial = std::min(limits_.initial, max);
  }
}

CallbackConnections::~CallbackConnections() {
  while (head_ != nullptr) {
    CallbackConnection* c = head_;
    READBUF_CHECK(!c->in_step_,
                  "CallbackConnections destroyed from inside a callback of its connection on fd %d",
                  c->fd());
    if (c->ending_) {  // inside its own OnClose: it removes itself
      Remove(c);
      continue;
    }
    c->End(absl::CancelledError("CallbackConnections: the set was destroyed"));
  }
  READBUF_DCHECK(empty_waiter_ == nullptr, "CallbackConnections destroyed while awaited");
}

absl::Status CallbackConnections::Add(AsyncFd fd) {
  READBUF_CHECK(CurrentCore() == core_, "CallbackConnections::Add on another core");
  if (!fd.valid()) return absl::FailedPreconditionError("CallbackConnections::Add: closed stream");
  if (absl::Status s = io_internal::RegisterOnThisCore(StateOf(fd)); !s.ok()) return s;
  auto* c = new CallbackConnection(this, std::move(fd));
  c->next_ = head_;
  if (head_ != nullptr) head_->prev_ = c;
  head_ = c;
  ++size_;
  handler_.OnOpen(*c);
  if (!c->ending_) c->Requeue();
  return absl::OkStatus();
}

void CallbackConnections::Remove(CallbackConnection* c) {
  if (c->prev_ != nullptr) c->prev_->next_ = c->next_;
  if (c->next_ != nullptr) c->next_->prev_ = c->prev_;
  if (head_ == c) head_ = c->next_;
  c->prev_ = c->next_ = nullptr;
  --size_;
  if (size_ == 0 && empty_waiter_ != nullptr) core_->Schedule(std::exchange(empty_waiter_, nullptr));
}

CallbackConnections::EmptyAwaiter::~EmptyAwaiter() {
  if (set_->empty_waiter_ == &node_) set_->empty_waiter_ = nullptr;
}

void CallbackConnections::EmptyAwaiter::await_suspend(std::coroutine_handle<> h) {
  READBUF_CHECK(set_->empty_waiter_ == nullptr, "two tasks await WhenEmpty() on one set");
  node_.h = h;
  node_.scope = CurrentCore()->current_scope();
  set_->empty_waiter_ = &node_;
}

}  // namespace readbuf
