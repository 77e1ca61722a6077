// -----------------------------------------------------------------------------
// File: buf/buffered.h
// -----------------------------------------------------------------------------
//
// Buffered<B>: the I/O-free core of a buffered reader over any ReadBuf policy
// (Zeroed, Uninit, Vectored<N>, Dyn, Pooled): a consumable view of the bytes
// a reader delivered into the policy -- buffer() / consume(n) / find() /
// peek(n) / take(n) -- plus the room-making a read needs first (compaction,
// growth), limits, statistics, and one I/O-free step per message operation.
// The readers built on it only add "read once":
//
//   io/buffered_reader.h             BufferedReader<S, B>: async, on the reactor
//   adapters/buffered_sync_reader.h  BufferedSyncReader<R, B>: sync readers
//
// The vocabulary is Tokio's BufReader (`buffer()`, `consume(n)`, `fill_buf`),
// Asio's `read_until` + dynamic buffer `consume(n)`, and Riegeli's Reader
// (`Pull(n)`, here `peek(n)`: make n bytes contiguous, copying only if the
// policy scatters them). Framing sits on top of the policy, not inside it
// (design decision 12).
//
// Layout: the policy's filled region is [consumed | unconsumed]. consume(n)
// only moves the boundary: no byte moves and no memory is released, so spans
// handed out stay valid (see "Validity" below). Before a read, make_room():
//
//   - nothing unconsumed: the policy is cleared (no copy); a deferring policy
//     (Pooled) may then give its block back before the reader waits;
//   - the read fits after the unconsumed bytes: read in place (the tail is
//     moved early only when the free space is under 1/8 of the capacity and
//     the move copies no more bytes than it frees);
//   - it fits once the unconsumed tail moves to the front: compaction, one
//     memmove of the tail (segment by segment, in fill order, for a vectored
//     policy);
//   - else, for a policy that can reserve() (Pooled): growth, a larger block
//     (at least double, capped by the limit) and one copy of the tail;
//   - else ResourceExhausted naming the limit.
//
// Copies (the way adapters state kCopies): 0 per byte delivered -- the
// reader writes into the policy's memory and buffer()/read_until() view it
// there -- except, each counted in stats():
//   compaction     the unconsumed tail, once per move (bytes_compacted)
//   growth         the unconsumed tail, into the larger block (bytes_grown)
//   linearization  Vectored<N> / a vectored Dyn only: a message that crosses a
//                  segment boundary is copied into a contiguous scratch
//                  (bytes_linearized); never for contiguous policies
//   take(n)        0 under Pooled when the n bytes are everything buffered
//                  (the block itself is handed out); under Pooled with a
//                  tail, min(n, tail) bytes (the block goes out and the tail
//                  moves to a new one, or the n bytes are copied out); other
//                  policies copy the n bytes into a pool block
//                  (bytes_take_copied)
// Zeroing: none here; the policy's own (Zeroed zeroes before every read, a
// span reader's adapter zeroes never-written bytes once).
//
// Growth: only policies whose read_buf_traits have reserve() grow (Pooled).
// Zeroed, Uninit, Vectored<N> and Dyn keep the capacity they were built with:
// it is the per-connection memory bound their user picked (a Dyn erasing a
// Pooled does not forward reserve() and is fixed at its current block). For
// every policy, the most a message may need is limit() = min(max_buffered,
// the policy's max_capacity): a Pooled connection whose adaptive size has
// shrunk to 512 B still accepts anything a fresh one does.
//
// Validity: spans from buffer(), find()-based messages and peek() stay valid
// until the next make_room() (i.e. the next fill or message operation that
// reads), take(), peek() of a crossing message (vectored only), or a move of
// the Buffered; consume() does not invalidate them.
//
// Example (I/O-free: a reader calls make_room(), reads into policy(), then
// record_fill()):
//
//   readbuf::Buffered<readbuf::Uninit> in(readbuf::Uninit(8192));
//   size_t searched = 0;
//   for (;;) {
//     auto step = in.until_step("\n", 8192, searched);
//     if (!step.needs_fill) { ... step.result ...; break; }
//     RETURN_IF_ERROR(in.make_room(step.need, "read_until"));
//     size_t n = ReadSomehow(in.policy());          // advances the policy
//     in.record_fill(n);
//   }

#ifndef READBUF_BUF_BUFFERED_H_
#define READBUF_BUF_BUFFERED_H_

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "buf/buffer_pool.h"
#include "buf/dyn.h"
#include "buf/internal/check.h"
#include "buf/pool_bytes.h"
#include "buf/read_buf.h"

namespace readbuf {

// Only for naming the policy in error messages.
class Zeroed;
class Uninit;
class Pooled;
template <size_t N>
class Vectored;

// BufferedOptions
//
// Limits of one buffered reader.
struct BufferedOptions {
  // The most unconsumed bytes one operation may need: a growing policy
  // (Pooled) never grows past it, and read_until / read_line / read_exact /
  // take / fill fail with ResourceExhausted naming it instead of buffering
  // more. (One read may still fill a fixed policy's whole capacity.)
  // REQUIRES: > 0.
  // Default: 1 MiB.
  size_t max_buffered = size_t{1} << 20;
};

// BufferedStats
//
// What a Buffered did, for tests, benchmarks and capacity planning. Every
// byte it copied is in exactly one of the bytes_* copy counters.
struct BufferedStats {
  uint64_t reads = 0;           // reads recorded (record_fill), EOF included
  uint64_t bytes_read = 0;      // bytes those reads delivered
  uint64_t bytes_consumed = 0;  // consume() and take()
  uint64_t compactions = 0;     // the tail moved to the front of the same memory
  uint64_t growths = 0;         // the tail moved into a larger block (Pooled)
  uint64_t linearizations = 0;  // vectored: a message copied to be contiguous
  uint64_t takes = 0;           // take() calls that handed bytes out
  uint64_t zero_copy_takes = 0;  // ... of which copied no byte at all
  uint64_t bytes_compacted = 0;
  uint64_t bytes_grown = 0;
  uint64_t bytes_linearized = 0;
  uint64_t bytes_take_copied = 0;

  // Every byte copied: compactions, growths, linearizations, takes.
  uint64_t bytes_copied() const {
    return bytes_compacted + bytes_grown + bytes_linearized + bytes_take_copied;
  }
};

// What message operations return: the message (valid as described under
// "Validity" above), or std::nullopt for a clean EOF -- the source ended
// with nothing buffered, at a message boundary.
using BufferedMessage = std::optional<std::span<const std::byte>>;

// BufferedStep<T>
//
// One I/O-free step of a message operation. Either `needs_fill`: read more
// (make_room(need), read into the policy, record_fill) and step again; or
// done, with `result`.
template <class T>
struct BufferedStep {
  bool needs_fill;
  size_t need;  // unconsumed bytes the next read must make room for
  absl::StatusOr<T> result;  // a value-initialized T while needs_fill

  static BufferedStep Fill(size_t need) {
    return BufferedStep(true, need, absl::StatusOr<T>(absl::in_place));
  }
  static BufferedStep Done(absl::StatusOr<T> result) {
    return BufferedStep(false, 0, std::move(result));
  }

 private:
  BufferedStep(bool needs_fill, size_t need, absl::StatusOr<T> result)
      : needs_fill(needs_fill), need(need), result(std::move(result)) {}
};

// The bytes as text, for parsers that take absl::string_view.
inline absl::string_view AsStringView(std::span<const std::byte> bytes) {
  return absl::string_view(reinterpret_cast<const char*>(bytes.data()),
                           bytes.size());
}

namespace buf_internal {

template <class B>
struct IsVectoredPolicy : std::false_type {};
template <size_t N>
struct IsVectoredPolicy<Vectored<N>> : std::true_type {};

template <class B>
constexpr const char* PolicyName() {
  if constexpr (std::is_same_v<B, Zeroed>) {
    return "Zeroed";
  } else if constexpr (std::is_same_v<B, Uninit>) {
    return "Uninit";
  } else if constexpr (std::is_same_v<B, Pooled>) {
    return "Pooled";
  } else if constexpr (std::is_same_v<B, Dyn>) {
    return "Dyn";
  } else if constexpr (IsVectoredPolicy<B>::value) {
    return "Vectored";
  } else {
    return "policy";
  }
}

}  // namespace buf_internal

// Buffered<B>
//
// Owns one policy B (by value). Move-only when B is. Not a reader: the
// readers in io/ and adapters/ own one and read into policy().
//
// Thread safety: distinct objects are safe; one object is not.
template <ReadBuf B>
class Buffered {
  using Traits = read_buf_traits<B>;
  static constexpr bool kContiguousOnly =
      ContiguousReadBuf<B> && !VectoredReadBuf<B>;

 public:
  using Policy = B;
  static constexpr size_t npos = static_cast<size_t>(-1);
  // True when the policy grows (read_buf_traits<B>::kReserves: Pooled).
  static constexpr bool kGrows = Traits::kReserves;
  // True when take() can hand the policy's own block out (Pooled).
  static constexpr bool kTakesWithoutCopy = Traits::kTakesFilled;

  Buffered()
    requires std::default_initializable<B>
      : Buffered(B()) {}
  // Bytes `policy` already holds filled count as unconsumed.
  // REQUIRES: options.max_buffered > 0 (CHECKed).
  explicit Buffered(B policy, BufferedOptions options = {})
      : policy_(std::move(policy)), options_(options),
        contiguous_(IsContiguous(policy_)) {
    READBUF_CHECK(options_.max_buffered > 0,
                  "BufferedOptions::max_buffered must be > 0");
  }
  Buffered(Buffered&&) = default;
  Buffered& operator=(Buffered&&) = default;

  // --- The unconsumed bytes ----------------------------------------------

  // How many bytes are buffered and not consumed.
  size_t buffered_size() const { return policy_.filled_size() - start_; }
  bool empty() const { return buffered_size() == 0; }

  // The unconsumed bytes, contiguous: all of them for a contiguous policy;
  // for a vectored one, those up to the end of the first segment holding
  // any (use peek(n) for more). Empty when nothing is buffered.
  std::span<const std::byte> buffer() const;

  // Marks the first n unconsumed bytes consumed. Moves and frees nothing.
  // REQUIRES: n <= buffered_size() (CHECKed).
  void consume(size_t n) {
    READBUF_CHECK(n <= buffered_size(),
                  "consume(%zu) past the %zu bytes buffered", n,
                  buffered_size());
    start_ += n;
    stats_.bytes_consumed += n;
  }

  // The offset, within the unconsumed bytes, of the first occurrence of
  // `delim` that starts at or after `from` and ends at or before `limit`;
  // npos if none. An empty `delim` matches at `from`.
  size_t find(std::string_view delim, size_t from = 0,
              size_t limit = npos) const;

  // The first n unconsumed bytes as one span. Contiguous policies: a view,
  // no copy. Vectored: a view when they lie in one segment, else copied
  // into a scratch buffer owned by this object (counted as a
  // linearization; the scratch is at most limit() bytes and kept).
  // REQUIRES: n <= buffered_size() (CHECKed).
  std::span<const std::byte> peek(size_t n);

  // Copies the first min(dst.size(), buffered_size()) unconsumed bytes into
  // dst; returns how many. Consumes nothing. Not counted in stats (the copy
  // is the caller's).
  size_t copy_to(std::span<std::byte> dst) const;

  // Hands the first n unconsumed bytes out as PoolBytes and consumes them.
  // Copies: see the file comment (0 under Pooled when they are all that is
  // buffered). n == 0 gives empty PoolBytes.
  // REQUIRES: n <= buffered_size() (CHECKed).
  // Errors: ResourceExhausted when the pool refuses a block (nothing is
  // consumed then).
  absl::StatusOr<PoolBytes> take(size_t n);

  // --- Reading (for the readers) -------------------------------------------

  // Prepares the policy for one read after which `need` unconsumed bytes fit
  // (at least buffered_size() + 1): clears, compacts or grows (see the file
  // comment). `op` names the operation in errors.
  // Errors: ResourceExhausted when `need` exceeds limit(), or from the
  // policy's reserve() (e.g. a capped pool); FailedPrecondition for a
  // zero-capacity policy. The buffered bytes are unchanged on error.
  absl::Status make_room(size_t need, const char* op);

  // The policy, for the reader to read into (unfilled(), advance()). Only
  // appending reads may touch it; clear() or a swap breaks this object.
  B& policy() { return policy_; }
  const B& policy() const { return policy_; }

  // Records one read of n bytes that the reader already advanced the policy
  // by; n == 0 is EOF, which is sticky (at_eof()).
  void record_fill(size_t n) {
    ++stats_.reads;
    stats_.bytes_read += n;
    if (n == 0) eof_ = true;
  }
  bool at_eof() const { return eof_; }

  // --- Message operations, one I/O-free step each ---------------------------
  //
  // Each returns needs_fill (read, then call again with the same `searched`)
  // or a result. Results, for `op` the caller's name:
  //   a message            found within min(max_bytes, limit())
  //   std::nullopt         clean EOF: the source ended, nothing buffered
  //   ResourceExhausted    "<op>: no delimiter within max_bytes=8192 (8192
  //                        bytes buffered)" -- or naming limit()'s bound
  //   OutOfRange           "<op>: EOF after 17 bytes, before the delimiter"
  //                        (the 17 bytes stay buffered)

  // The message until_step() would return, if it is buffered already;
  // else an empty span (a message is never empty: it holds its delimiter),
  // with `searched` advanced. The readers' fast path; no I/O, no status.
  std::span<const std::byte> buffered_until(std::string_view delim,
                                            size_t max_bytes,
                                            size_t& searched) {
    const size_t window =
        std::min(std::min(buffered_size(), max_bytes), limit());
    const size_t pos = find(delim, searched, window);
    if (pos != npos && !delim.empty()) return peek(pos + delim.size());
    if (window >= delim.size() && !delim.empty()) {
      searched = std::max(searched, window - delim.size() + 1);
    }
    return {};
  }

  // The unconsumed bytes up to and including the first `delim` (not
  // consumed: consume(message.size()) when done, as with Asio's
  // read_until). `searched` (start at 0) remembers how far a previous step
  // looked. REQUIRES: !delim.empty() (else InvalidArgument).
  BufferedStep<BufferedMessage> until_step(std::string_view delim,
                                           size_t max_bytes, size_t& searched,
                                           const char* op = "read_until",
                                           const char* what = "delimiter");

  // The first n unconsumed bytes, contiguous (not consumed). n == 0 gives an
  // empty span. ResourceExhausted at once when n > limit(); OutOfRange
  // "<op>(n): EOF after k bytes".
  // With view == false, success gives an empty span instead and copies
  // nothing (for a caller that take()s the bytes next).
  BufferedStep<BufferedMessage> exact_step(size_t n,
                                           const char* op = "read_exact",
                                           bool view = true);

  // A line: the unconsumed bytes up to the first LF, *consumed* with the LF
  // (as Tokio's read_line / Riegeli's ReadLine do); the returned text
  // excludes the LF and one CR right before it (CRLF tolerated; any other
  // CR is kept). max_bytes counts the terminator.
  BufferedStep<BufferedMessage> line_step(size_t max_bytes, size_t& searched);

  // The line line_step() would return, if it is buffered already (consumed,
  // as line_step does); else std::nullopt, with `searched` advanced. The
  // readers' fast path; no I/O, no status.
  std::optional<std::span<const std::byte>> buffered_line(size_t max_bytes,
                                                          size_t& searched) {
    const std::span<const std::byte> line =
        buffered_until("\n", max_bytes, searched);
    if (line.empty()) return std::nullopt;
    consume(line.size());
    return StripLineEnd(line);
  }

  // --- Limits and statistics -------------------------------------------------

  // The most unconsumed bytes one operation may need: min(max_buffered, the
  // policy's max_capacity -- its capacity for a fixed one). max_buffered
  // while a fixed erased policy holds no memory yet.
  size_t limit() const {
    const size_t policy_max = Traits::max_capacity(policy_);
    if (policy_max == 0) return options_.max_buffered;
    return std::min(policy_max, options_.max_buffered);
  }
  const BufferedOptions& options() const { return options_; }
  const BufferedStats& stats() const { return stats_; }

 private:
  // True when the policy's filled bytes are one span (decided at run time
  // for an erased policy, once: its erased type does not change).
  static bool IsContiguous(const B& policy) {
    if constexpr (kContiguousOnly) {
      return true;
    } else if constexpr (requires { policy.capabilities(); }) {
      return (policy.capabilities() & kReadBufContiguous) != 0;
    } else {
      return false;
    }
  }
  bool contiguous() const {
    if constexpr (kContiguousOnly) {
      return true;
    } else {
      return contiguous_;
    }
  }

  bool defers_memory() const {
    if constexpr (Traits::kDefersMemory) {
      return true;
    } else if constexpr (requires { policy_.capabilities(); }) {
      return (policy_.capabilities() & kReadBufDefersMemory) != 0;
    } else {
      return false;
    }
  }

  // The unconsumed bytes of a contiguous policy.
  std::span<const std::byte> ContiguousBytes() const {
    if constexpr (ContiguousReadBuf<B>) {
      return policy_.filled().subspan(start_);
    } else {
      return {};
    }
  }

  // Calls fn(run, offset) for each non-empty span of unconsumed bytes, in
  // order, `offset` being the run's position among the unconsumed bytes,
  // until fn returns false.
  template <class Fn>
  void ForEachRun(Fn&& fn) const;

  std::byte ByteAt(size_t offset) const;
  size_t FindInRuns(std::string_view delim, size_t from, size_t limit) const;

  // Moves the unconsumed bytes to the front of the policy's memory.
  void Compact();

  // The line without its LF and one CR right before it.
  static std::span<const std::byte> StripLineEnd(
      std::span<const std::byte> line) {
    size_t length = line.size() - 1;
    if (length != 0 && line[length - 1] == std::byte{'\r'}) --length;
    return line.first(length);
  }

  // "max_bytes=8192", or limit()'s bound, whichever is smaller.
  std::string LimitText(size_t max_bytes) const;

  B policy_;
  BufferedOptions options_;
  bool contiguous_;
  size_t start_ = 0;  // consumed bytes at the front of the filled region
  bool eof_ = false;
  BufferedStats stats_;
  std::unique_ptr<std::byte[]> scratch_;  // vectored linearization
  size_t scratch_capacity_ = 0;
};

// Implementation details follow.

template <ReadBuf B>
template <class Fn>
void Buffered<B>::ForEachRun(Fn&& fn) const {
  if (contiguous()) {
    std::span<const std::byte> run = ContiguousBytes();
    if (!run.empty()) fn(run, size_t{0});
    return;
  }
  if constexpr (VectoredReadBuf<B>) {
    size_t skip = start_;
    size_t offset = 0;
    const size_t segments = policy_.segment_count();
    for (size_t i = 0; i < segments; ++i) {
      std::span<const std::byte> seg = policy_.filled_segment(i);
      if (skip >= seg.size()) {
        skip -= seg.size();
        continue;
      }
      std::span<const std::byte> run = seg.subspan(skip);
      skip = 0;
      if (!fn(run, offset)) return;
      offset += run.size();
    }
  }
}

template <ReadBuf B>
std::span<const std::byte> Buffered<B>::buffer() const {
  if (contiguous()) return ContiguousBytes();
  std::span<const std::byte> first;
  ForEachRun([&](std::span<const std::byte> run, size_t) {
    first = run;
    return false;
  });
  return first;
}

template <ReadBuf B>
std::byte Buffered<B>::ByteAt(size_t offset) const {
  std::byte out{};
  ForEachRun([&](std::span<const std::byte> run, size_t at) {
    if (offset < at + run.size()) {
      out = run[offset - at];
      return false;
    }
    return true;
  });
  return out;
}

template <ReadBuf B>
size_t Buffered<B>::find(std::string_view delim, size_t from,
                         size_t limit) const {
  limit = std::min(limit, buffered_size());
  if (from > limit || limit - from < delim.size()) return npos;
  if (delim.empty()) return from;
  if (contiguous()) {
    std::span<const std::byte> bytes = ContiguousBytes();
    const std::string_view hay(reinterpret_cast<const char*>(bytes.data()),
                               limit);
    const size_t pos = delim.size() == 1 ? hay.find(delim[0], from)
                                         : hay.find(delim, from);
    return pos == std::string_view::npos ? npos : pos;
  }
  return FindInRuns(delim, from, limit);
}

template <ReadBuf B>
size_t Buffered<B>::FindInRuns(std::string_view delim, size_t from,
                               size_t limit) const {
  // Candidates start with delim[0]; a match may cross runs.
  const size_t last_start = limit - delim.size();  // from <= last_start
  const auto first = static_cast<unsigned char>(delim[0]);
  size_t found = npos;
  ForEachRun([&](std::span<const std::byte> run, size_t at) {
    if (at + run.size() <= from) return true;
    if (at > last_start) return false;
    size_t i = from > at ? from - at : 0;
    const size_t end = std::min(run.size(), last_start - at + 1);
    while (i < end) {
      const void* hit = std::memchr(run.data() + i, first, end - i);
      if (hit == nullptr) break;
      i = static_cast<size_t>(static_cast<const std::byte*>(hit) - run.data());
      bool match = true;
      if (i + delim.size() <= run.size()) {
        match = std::memcmp(run.data() + i, delim.data(), delim.size()) == 0;
      } else {
        for (size_t k = 1; k < delim.size() && match; ++k) {
          match = ByteAt(at + i + k) == static_cast<std::byte>(delim[k]);
        }
      }
      if (match) {
        found = at + i;
        return false;
      }
      ++i;
    }
    return true;
  });
  return found;
}

template <ReadBuf B>
std::span<const std::byte> Buffered<B>::peek(size_t n) {
  READBUF_CHECK(n <= buffered_size(), "peek(%zu) past the %zu bytes buffered",
                n, buffered_size());
  if (contiguous()) return ContiguousBytes().first(n);
  std::span<const std::byte> first = buffer();
  if (first.size() >= n) return first.first(n);
  if (scratch_capacity_ < n) {
    const size_t capacity = std::max(n, std::min(limit(), policy_.capacity()));
    scratch_.reset(new std::byte[capacity]);
    scratch_capacity_ = capacity;
  }
  copy_to(std::span<std::byte>(scratch_.get(), n));
  ++stats_.linearizations;
  stats_.bytes_linearized += n;
  return {scratch_.get(), n};
}

template <ReadBuf B>
size_t Buffered<B>::copy_to(std::span<std::byte> dst) const {
  size_t copied = 0;
  ForEachRun([&](std::span<const std::byte> run, size_t) {
    const size_t step = std::min(run.size(), dst.size() - copied);
    if (step != 0) std::memcpy(dst.data() + copied, run.data(), step);
    copied += step;
    return copied < dst.size();
  });
  return copied;
}

template <ReadBuf B>
absl::StatusOr<PoolBytes> Buffered<B>::take(size_t n) {
  const size_t held = buffered_size();
  READBUF_CHECK(n <= held, "take(%zu) past the %zu bytes buffered", n, held);
  if (n == 0) return PoolBytes();
  if constexpr (kTakesWithoutCopy) {
    const size_t tail = held - n;
    if (tail <= n) {  // hand the block out; the (smaller) tail moves
      absl::StatusOr<PoolBytes> out = Traits::take_filled(policy_, start_, n);
      if (!out.ok()) return out.status();
      start_ = 0;
      ++stats_.takes;
      stats_.bytes_consumed += n;
      if (tail == 0) {
        ++stats_.zero_copy_takes;
      } else {
        stats_.bytes_take_copied += tail;
      }
      return out;
    }
  }
  absl::StatusOr<PoolBlock> block = BufferPool::ForThisThread().Acquire(n);
  if (!block.ok()) return block.status();
  copy_to(block->span().first(n));
  consume(n);
  ++stats_.takes;
  stats_.bytes_take_copied += n;
  return PoolBytes(*std::move(block), n);
}

template <ReadBuf B>
void Buffered<B>::Compact() {
  const size_t held = buffered_size();
  // The runs, captured before clear(): clear() keeps the memory and what it
  // holds (a ReadBuf keeps its initialized watermark), and the policy fills
  // in the same order again, so every destination lies at or before its
  // source; memmove covers the overlap inside a segment.
  absl::InlinedVector<std::span<const std::byte>, 4> runs;
  ForEachRun([&](std::span<const std::byte> run, size_t) {
    runs.push_back(run);
    return true;
  });
  policy_.clear();
  start_ = 0;
  for (std::span<const std::byte> run : runs) {
    while (!run.empty()) {
      UninitSpan dst = policy_.unfilled();
      READBUF_CHECK(!dst.empty(), "Buffered: compaction ran out of room");
      const size_t step = std::min(dst.size(), run.size());
      std::memmove(dst.write_ptr(), run.data(), step);
      policy_.advance(step);
      run = run.subspan(step);
    }
  }
  ++stats_.compactions;
  stats_.bytes_compacted += held;
}

template <ReadBuf B>
absl::Status Buffered<B>::make_room(size_t need, const char* op) {
  const size_t held = buffered_size();
  need = std::max(need, held + 1);
  const size_t lim = limit();
  if (need > lim) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: needs room for %zu bytes, more than %s (%zu bytes buffered)", op,
        need, LimitText(npos), held));
  }
  if (held == 0) {
    // Start over at the front, copying nothing. A deferring policy with
    // nothing filled may now give its memory back before the reader waits.
    if (policy_.filled_size() != 0) policy_.clear();
    start_ = 0;
    if (policy_.capacity() == 0 && !defers_memory() && !kGrows) {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s: the %s buffer has no capacity", op,
                          buf_internal::PolicyName<B>()));
    }
    return absl::OkStatus();
  }
  const size_t capacity = policy_.capacity();
  const size_t free = capacity - policy_.filled_size();
  if (start_ + need <= capacity) {
    // Fits in place. Move the tail early only when the free space is low
    // and the move copies no more than it frees.
    if (free < capacity / 8 && start_ >= held) Compact();
    return absl::OkStatus();
  }
  if (need <= capacity) {  // here start_ > 0
    Compact();
    return absl::OkStatus();
  }
  if constexpr (kGrows) {
    const size_t target = std::min(lim, std::max(need, capacity * 2));
    absl::Status grown = Traits::reserve(policy_, target, start_);
    if (!grown.ok()) return grown;
    start_ = 0;
    ++stats_.growths;
    stats_.bytes_grown += held;
    return absl::OkStatus();
  } else {
    // need <= limit() <= capacity for a fixed policy holding bytes.
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: needs room for %zu bytes, more than %s (%zu bytes buffered)", op,
        need, LimitText(npos), held));
  }
}

template <ReadBuf B>
std::string Buffered<B>::LimitText(size_t max_bytes) const {
  const size_t policy_max = Traits::max_capacity(policy_);
  const size_t bound =
      policy_max == 0 ? options_.max_buffered
                      : std::min(policy_max, options_.max_buffered);
  if (max_bytes <= bound) return absl::StrFormat("max_bytes=%zu", max_bytes);
  if (policy_max != 0 && policy_max < options_.max_buffered) {
    bool grows = kGrows;
    // An erased buffer (DynRef, Dyn) says at run time whether it grows.
    if constexpr (std::derived_from<B, DynRef>) {
      grows = (policy_.capabilities() & kReadBufReserves) != 0;
    }
    if (grows) {
      return absl::StrFormat("the largest %s block, max_capacity=%zu",
                             buf_internal::PolicyName<B>(), policy_max);
    }
    return absl::StrFormat("capacity=%zu of a fixed-capacity %s", policy_max,
                           buf_internal::PolicyName<B>());
  }
  return absl::StrFormat("max_buffered=%zu", options_.max_buffered);
}

template <ReadBuf B>
BufferedStep<BufferedMessage> Buffered<B>::until_step(std::string_view delim,
                                                      size_t max_bytes,
                                                      size_t& searched,
                                                      const char* op,
                                                      const char* what) {
  using Step = BufferedStep<BufferedMessage>;
  if (delim.empty()) {
    return Step::Done(absl::InvalidArgumentError(
        absl::StrFormat("%s: empty delimiter", op)));
  }
  const std::span<const std::byte> found =
      buffered_until(delim, max_bytes, searched);
  if (!found.empty()) return Step::Done(BufferedMessage(found));
  const size_t window_limit = std::min(max_bytes, limit());
  const size_t held = buffered_size();
  if (held >= window_limit) {  // the message may not grow any more
    return Step::Done(absl::ResourceExhaustedError(
        absl::StrFormat("%s: no %s within %s (%zu bytes buffered)", op, what,
                        LimitText(max_bytes), held)));
  }
  if (eof_) {
    if (held == 0) return Step::Done(BufferedMessage());
    return Step::Done(absl::OutOfRangeError(absl::StrFormat(
        "%s: EOF after %zu bytes, before the %s", op, held, what)));
  }
  return Step::Fill(held + 1);
}

template <ReadBuf B>
BufferedStep<BufferedMessage> Buffered<B>::exact_step(size_t n,
                                                      const char* op,
                                                      bool view) {
  using Step = BufferedStep<BufferedMessage>;
  if (n > limit()) {
    return Step::Done(absl::ResourceExhaustedError(absl::StrFormat(
        "%s(%zu): more than %s (%zu bytes buffered)", op, n, LimitText(npos),
        buffered_size())));
  }
  const size_t held = buffered_size();
  if (held >= n) {
    return Step::Done(BufferedMessage(view ? peek(n)
                                           : std::span<const std::byte>()));
  }
  if (eof_) {
    if (held == 0) return Step::Done(BufferedMessage());
    return Step::Done(absl::OutOfRangeError(
        absl::StrFormat("%s(%zu): EOF after %zu bytes", op, n, held)));
  }
  return Step::Fill(n);
}

template <ReadBuf B>
BufferedStep<BufferedMessage> Buffered<B>::line_step(size_t max_bytes,
                                                     size_t& searched) {
  BufferedStep<BufferedMessage> step =
      until_step("\n", max_bytes, searched, "read_line", "LF");
  if (step.needs_fill || !step.result.ok() || !step.result->has_value()) {
    return step;
  }
  const std::span<const std::byte> line = **step.result;
  consume(line.size());
  step.result = BufferedMessage(StripLineEnd(line));
  return step;
}

}  // namespace readbuf

#endif  // READBUF_BUF_BUFFERED_H_
