// -----------------------------------------------------------------------------
// File: io/internal/fd_state.h
// -----------------------------------------------------------------------------
//
// FdState: the per-fd readiness state behind AsyncFd, registered with one
// core's backend.
//
// Readiness is kept per direction, the way Tokio's ScheduledIo keeps it:
// `readable` / `writable` are optimistic (a new fd is both) until an
// operation sees EAGAIN; `read_closed` (the peer will send nothing more:
// RDHUP, HUP) and `write_closed` (writes cannot succeed: HUP, ERR) record
// what the last event said. A closed direction makes that direction ready,
// and only that one: a peer that half-closes (RDHUP) does not make the fd
// writable. EAGAIN clears a direction's readiness and its closed flag alike,
// so EAGAIN always ends in a suspension; a FIFO that gains a new writer after
// a HUP, for one, can block again.
//
// Registration: a registered state points at its core through the core's
// CoreLink, not at the core itself, and the core keeps no list of its fds.
// When a core exits it clears its link once, which orphans every fd still
// registered with it: closing one then only closes it, and another core may
// register it again.
//
// Lifetime: an AsyncFd owns its FdState. Operations suspended on it take a
// hold (Hold/ReleaseHold). Closing an fd with no holds frees the state at
// once. Closing it while operations are suspended closes and deregisters the
// fd at once, marks the state `closed` and wakes them; each ends with a
// Cancelled error, and the last hold frees the state.
//
// Thread safety: everything but `link` (owner()) belongs to the owning
// core's thread.

#ifndef READBUF_IO_INTERNAL_FD_STATE_H_
#define READBUF_IO_INTERNAL_FD_STATE_H_

#include <atomic>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "io/internal/nodes.h"

namespace readbuf {
namespace io_internal {

// Readiness bits a backend reports to the core (ReadinessSink).
inline constexpr std::uint32_t kReadable = 1;
inline constexpr std::uint32_t kWritable = 2;
inline constexpr std::uint32_t kReadClosed = 4;   // RDHUP or HUP
inline constexpr std::uint32_t kWriteClosed = 8;  // HUP or ERR

// Whether a read that returns fewer bytes than asked proves the kernel
// buffer empty. True for stream sockets and pipes; not for datagram and
// seqpacket sockets (one message per read), TTYs (one line per read) or
// character devices.
enum class FdShape : std::uint8_t {
  kUnknown,  // found out with fstat/getsockopt the first time it matters
  kStream,   // stream socket or pipe: a short read drains
  kOther,    // read until EAGAIN
};

// Classifies `fd` (one fstat, plus getsockopt(SO_TYPE) for a socket).
FdShape ClassifyFd(int fd);

// What the fds registered with a core know of it: the core, until it exits
// (then null). Shared by the core and its registered fds, and freed by the
// last of them, so an fd that outlives its core can still ask.
// Thread safety: all members may be used from any thread.
class CoreLink {
 public:
  explicit CoreLink(Core* core) : core_(core) {}
  CoreLink(const CoreLink&) = delete;
  CoreLink& operator=(const CoreLink&) = delete;

  // The core, or null once it has exited.
  Core* core() const { return core_.load(std::memory_order_acquire); }
  // The core is exiting. REQUIRES: under its inbox lock (see Core::Post).
  void Orphan() { core_.store(nullptr, std::memory_order_release); }

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  ~CoreLink() = default;
  std::atomic<Core*> core_;
  std::atomic<std::uint32_t> refs_{1};  // the core's own reference
};

struct FdState {
  FdState(int f, FdShape s) : fd(f), shape(s) {}
  FdState(const FdState&) = delete;
  FdState& operator=(const FdState&) = delete;
  ~FdState() {
    if (CoreLink* l = link.load(std::memory_order_relaxed)) l->Unref();
  }

  // The owning core: null before registration, after deregistration, and
  // once the core has exited (orphaned). Any thread.
  Core* owner() const {
    CoreLink* l = link.load(std::memory_order_acquire);
    return l == nullptr ? nullptr : l->core();
  }

  // Fields ordered to pack: an FdState is part of every idle connection.
  int fd;
  std::uint32_t backend_slot = 0;  // the backend's registration handle
  // The owning core's link while registered (holding a reference); null
  // before registration and after deregistration. See owner().
  std::atomic<CoreLink*> link{nullptr};
  bool readable = true;
  bool writable = true;
  bool read_closed = false;
  bool write_closed = false;
  // Closed while operations were suspended on it (see file comment).
  bool closed = false;
  FdShape shape;
  // Operations suspended on this state.
  std::uint16_t holds = 0;
#ifndef NDEBUG
  // EAGAINs reported per direction (read, write) since the last suspension
  // or edge; see NoteEagain.
  std::uint16_t eagain_streak[2] = {0, 0};
#endif
  RunNode* read_waiter = nullptr;
  RunNode* write_waiter = nullptr;

  // An operation suspends on this state; it calls ReleaseHold when it
  // resumes or is destroyed.
  void Hold() { ++holds; }
  // Ends a hold. Frees `fs` if it was closed and this was the last hold.
  static void ReleaseHold(FdState* fs);

  // The error a suspended operation ends with once the fd was closed under it.
  absl::Status ClosedError(const char* what) const;

  // Records EAGAIN for a direction: clears its readiness and closed flag. In
  // debug builds, CHECK-fails when EAGAIN repeats without a suspension in
  // between: a loop retrying EAGAIN in place.
  void NoteEagain(bool write);
  // Resets the EAGAIN count of a direction (the operation suspended, or an
  // edge arrived).
  void NoteSuspended(bool write) {
#ifndef NDEBUG
    eagain_streak[write ? 1 : 0] = 0;
#else
    (void)write;
#endif
  }
  // True if a short read drains this fd (classifies it on first use).
  bool ShortReadDrains();
};

// A waiter's claim on an FdState while it is suspended (FdState::Hold): the
// state outlives the wait even if the fd is closed meanwhile. Ends at
// Release() or destruction.
class FdHold {
 public:
  FdHold() = default;
  FdHold(const FdHold&) = delete;
  FdHold& operator=(const FdHold&) = delete;
  ~FdHold() { Release(); }
  void Take(FdState* fs) {
    if (fs_ == nullptr) {
      fs_ = fs;
      fs->Hold();
    }
  }
  // True if the fd was closed while held (then the operation must end with
  // fs->ClosedError and not touch the fd or its backend state again).
  bool closed() const { return fs_ != nullptr && fs_->closed; }
  bool held() const { return fs_ != nullptr; }
  void Release() {
    if (fs_ != nullptr) FdState::ReleaseHold(std::exchange(fs_, nullptr));
  }

 private:
  FdState* fs_ = nullptr;
};

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_FD_STATE_H_
