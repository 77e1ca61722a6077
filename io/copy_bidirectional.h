// -----------------------------------------------------------------------------
// File: io/copy_bidirectional.h
// -----------------------------------------------------------------------------
//
// copy_bidirectional(a, b): the body of a TCP proxy. Copies a -> b and
// b -> a at the same time, each direction with pooled_copy (io/pooled_ops.h):
// splice(2) when both ends are plain fds (no user-space copy), pool blocks
// otherwise (nothing held while a side is idle). When one side ends its
// stream (EOF), the other side's writing half is shut down (shutdown(SHUT_WR)),
// so a half-close travels through the proxy; the copy ends when both
// directions have ended.
//
// Example:
//
//   readbuf::BidirectionalCopy r = co_await readbuf::copy_bidirectional(client, upstream);
//   LOG(INFO) << r.a_to_b << " up, " << r.b_to_a << " down: " << r.status;
//
// Result: both byte counts as values, whatever the outcome, and a status.
// On the first error in either direction the other direction is cancelled
// at once and the error returned (its message names the direction and the
// call); the counts then say exactly how many bytes reached each side.
// Cancelling the awaiting task cancels both directions (they are children of
// a TaskGroup in the awaiting frame); the counts are lost with the frame.
// Neither stream is closed.
//
// Compared with Tokio's copy_bidirectional: the same half-close semantics,
// but the bytes are spliced when they can be, and the counts survive errors.
//
// REQUIRES: on the core of both streams; `a` and `b` outlive the Task.

#ifndef READBUF_IO_COPY_BIDIRECTIONAL_H_
#define READBUF_IO_COPY_BIDIRECTIONAL_H_

#include <sys/socket.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "io/pooled_ops.h"
#include "io/read_into.h"
#include "io/task.h"
#include "io/task_group.h"
#include "io/writer_concepts.h"

namespace readbuf {

struct BidirectionalCopy {
  uint64_t a_to_b = 0;  // bytes that reached b
  uint64_t b_to_a = 0;  // bytes that reached a
  absl::Status status;  // OK, or the first error of either direction
  bool ok() const { return status.ok(); }
};

// A stream copy_bidirectional can forward a half-close to.
template <class S>
concept HalfClosableStream = HasAsyncFd<S> && AsyncSpanWriter<S> && requires(S& s) {
  { s.shutdown(SHUT_WR) } -> std::same_as<absl::Status>;
};

namespace io_internal {

// One direction: copy, then forward the EOF as a shutdown of dst's writing
// half. On error, record it (first one wins) and cancel the other direction.
template <class Src, class Dst>
Task<void> CopyOneWay(Src& src, Dst& dst, PooledCopyOptions options, uint64_t* count,
                      const char* direction, BidirectionalCopy* result, TaskGroup* group) {
  absl::Status s = co_await CopyCounting(src, dst, options, count);
  if (s.ok()) s = dst.shutdown(SHUT_WR);
  if (!s.ok()) {
    if (result->status.ok()) {
      result->status = absl::Status(
          s.code(), absl::StrCat("copy_bidirectional ", direction, ": ", s.message(),
                                 " (after ", *count, " bytes copied)"));
    }
    group->cancel();  // the other direction; this one is finishing
  }
}

}  // namespace io_internal

template <HalfClosableStream A, HalfClosableStream B>
Task<BidirectionalCopy> copy_bidirectional(A& a, B& b, PooledCopyOptions options = {}) {
  BidirectionalCopy result;
  if (absl::Status s = io_internal::ValidateCopyOptions(options); !s.ok()) {
    result.status = s;
    co_return result;
  }
  TaskGroup group;
  (void)group.spawn(
      io_internal::CopyOneWay(a, b, options, &result.a_to_b, "a->b", &result, &group));
  (void)group.spawn(
      io_internal::CopyOneWay(b, a, options, &result.b_to_a, "b->a", &result, &group));
  co_await group.wait();
  co_return result;
}

}  // namespace readbuf

#endif  // READBUF_IO_COPY_BIDIRECTIONAL_H_
