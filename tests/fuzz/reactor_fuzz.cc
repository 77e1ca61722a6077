// -----------------------------------------------------------------------------
// File: tests/fuzz/reactor_fuzz.cc
// -----------------------------------------------------------------------------
//
// Fuzzes the reactor's edge semantics -- timeouts, cancellation and closing
// fds under waiting tasks (io/runtime.h, io/timer.h, io/async_fd.h) -- by
// running each input as a small PROGRAM on a Runtime of 1 or 2 cores, epoll
// or io_uring (the first byte picks; usually a Runtime shared by all inputs
// with that shape, sometimes a fresh one that may be shut down with tasks
// still running). The program works on up to 4 slots (a Unix socket pair or
// a pipe, each bound to one core, optionally with 4 KiB kernel buffers so
// writes block), 2 Channels and up to 48 tasks. Ops:
//
//   create      a socket pair or a pipe in the next slot
//   read        a task reading an end 1..64 times: read_into with Uninit,
//               Pooled, Zeroed or Vectored<4>, read(span), readv,
//               pooled_read, pooled_read_callback, or ready() + try_read
//   write       a task writing K bytes (1 B .. 3 MiB) into an end: write_all
//               (whole or in pieces), write, writev
//   raw write   ::write into an end from the fuzzer's thread
//   close       a task on the slot's core closes one or both ends, at once
//               or after yields or a sleep (tasks may be waiting on them)
//   shutdown    SHUT_RD / SHUT_WR / SHUT_RDWR, from the fuzzer's thread or
//               through UnixStream::shutdown on the core
//   cancel      JoinHandle::cancel from the fuzzer's thread, from a task on
//               the target's core (at once or after a delay) or from a task
//               on the other core
//   sleep       sleep_for(d)
//   receive     Channel::receive, 1..64 times; send (from the fuzzer's
//               thread or a task on either core) and close
//   join        a task awaiting another task's JoinHandle (or WaitUntil)
//   expire      a task calling expire_now() on the timeout() another task
//               of its core is suspended in
//   settle      the fuzzer's thread sleeps (0 .. 3 ms), or every core runs
//               a task that yields 1..32 times
//
// Every awaited operation is run as the op says: bare, in timeout(x, d), in
// timeout(timeout(x, d1), d2), as a Task inside timeout(), or in a timeout()
// that an expire op may end early; d is one of 0, 1 us, 100 us, 1 ms, 10 ms,
// infinite, -1 ms, -infinite. Tasks that loop may yield between operations
// (kYieldBetweenOps, off).
//
// Teardown: every live task is cancelled (first closing every end, for some
// inputs) and joined, every end closed (on its core, or by destruction on
// the fuzzer's thread), the Channels drained; a fresh Runtime is shut down
// (for some inputs before anything else, with the tasks still running) and
// destroyed; a shared Runtime's cores trim their pools (TrimThisCore).
//
// Checks:
//   - no CHECK inside the library, no sanitizer report, no SIGPIPE;
//   - every task is done after teardown; a task ends Cancelled only if it
//     was cancelled; a same-core cancel() of a started task that nothing
//     can pin has destroyed it when it returns;
//   - DeadlineExceeded only under a timeout, and never before the smallest
//     deadline around the operation (unless expire_now() ended it); a sleep
//     of d <= 0 never times out, an infinite sleep always does, an infinite
//     timeout never fires by itself; a sleep lasts at least d;
//   - a read or write that fails does so for a reason the program created:
//     Cancelled, or the FailedPrecondition of a closed AsyncFd, only once
//     its own end was closed, other errors (EPIPE, ECONNRESET, ...) only
//     once an end of its slot was closed or shut down;
//     EOF only after the peer's close or SHUT_WR (or SHUT_RD here);
//   - stream contents: each write claims a chunk of a per-direction byte
//     pattern (a running counter mod 251 with its own start), and readers
//     check that what arrives is the chunks in order, each complete, except
//     that a write_all which failed, timed out or was cancelled may have
//     delivered any prefix of its chunk, and a cancelled or timed-out
//     write() or writev() nothing at all. So a read that loses, duplicates
//     or reorders bytes (a timed-out read that consumed data, for one) is
//     caught;
//   - Channel values arrive in order, each once: what receivers got plus
//     what is left at teardown is exactly what was sent;
//   - no fd leak: the process has as many fds after teardown as before;
//   - no hang: a watchdog thread aborts if one input runs for over 10 s.

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "buf/internal/check.h"
#include "buf/pool_bytes.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "io/async_fd.h"
#include "io/channel.h"
#include "io/io_status.h"
#include "io/net.h"
#include "io/pipe.h"
#include "io/pooled_ops.h"
#include "io/read_into.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "io/trim_memory.h"
#include "tests/fuzz/fuzz_input.h"

namespace readbuf::fuzz {
namespace {

constexpr size_t kMaxSlots = 4;
constexpr size_t kMaxTasks = 48;
constexpr size_t kMaxChannels = 2;
constexpr int kMaxOps = 96;
constexpr size_t kPeriod = 251;  // the stream pattern: a counter mod 251
constexpr size_t kMaxWrite = size_t{3} << 20;
constexpr int64_t kHangNs = int64_t{10} * 1000 * 1000 * 1000;
constexpr int kSmallKernelBuffer = 4096;

// Whether tasks that loop yield once per iteration. Off: a task may run
// more than 128 symmetric transfers without suspending, so its transfers
// are bounced (kMaxTransferDepth in io/internal/core.cc). This target found
// that a bounce used to go through the run queue, where a cancel could
// destroy a finished Task's result (a value Channel::receive took, bytes a
// read read); bounces now run before anything else
// (edge_test ACompletionRoutedThroughTheRunQueueWinsItsTimeout).
constexpr bool kYieldBetweenOps = false;

// --- Time, fds, the watchdog -------------------------------------------------

// CLOCK_BOOTTIME, the timers' clock.
int64_t BootNs() { return BootClock::now().time_since_epoch().count(); }

int64_t MonotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Open fds of this process (as tests/io/io_test_util.h counts them).
int CountOpenFds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - 1;  // the DIR's own fd
}

// What the fuzzer's thread is doing, for the watchdog's message.
std::atomic<int64_t> g_input_start_ns{0};  // 0: between inputs
std::atomic<int> g_op{-1};
std::atomic<const char*> g_phase{"idle"};

void StartWatchdogOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::thread([] {
      for (;;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        const int64_t start = g_input_start_ns.load(std::memory_order_acquire);
        if (start != 0 && MonotonicNs() - start > kHangNs) {
          std::fprintf(stderr,
                       "reactor_fuzz: HANG: one input has run for more than %lld s "
                       "(phase: %s, op #%d)\n",
                       static_cast<long long>(kHangNs / 1000000000),
                       g_phase.load(std::memory_order_relaxed),
                       g_op.load(std::memory_order_relaxed));
          std::abort();
        }
      }
    }).detach();
  });
}

// --- The byte pattern ----------------------------------------------------------

// Byte i is i % 251; a chunk with start `seed` is the bytes from seed on.
const std::byte* Pattern() {
  static const std::byte* pattern = [] {
    auto* p = new std::byte[kMaxWrite + kPeriod];
    for (size_t i = 0; i < kMaxWrite + kPeriod; ++i) p[i] = static_cast<std::byte>(i % kPeriod);
    return p;
  }();
  return pattern;
}

// Stream: the bytes written into one end, read from the other. Each write
// claims a chunk (its own pattern start) before it starts and ends it once it
// knows what it delivered; the reader checks what arrives against the chunk
// list with a small set of candidate positions (an NFA), because a chunk
// that ended early delivered an unknown prefix.
// Thread safety: all members take mu_ (writers end chunks on their core,
// raw writes come from the fuzzer's thread, readers run on their core).
class Stream {
 public:
  // A new chunk of `len` bytes; returns its index.
  int Claim(size_t len) {
    std::lock_guard<std::mutex> l(mu_);
    const int index = static_cast<int>(chunks_.size());
    chunks_.push_back(Chunk{(static_cast<size_t>(index) * 73 + 11) % kPeriod, len, End::kOpen});
    return index;
  }
  size_t Seed(int chunk) {
    std::lock_guard<std::mutex> l(mu_);
    return chunks_[chunk].seed;
  }
  // Exactly `delivered` bytes of the chunk went out.
  void Finish(int chunk, size_t delivered) {
    std::lock_guard<std::mutex> l(mu_);
    Chunk& c = chunks_[chunk];
    READBUF_CHECK(c.end == End::kOpen && delivered <= c.len, "chunk %d ended twice", chunk);
    c.len = delivered;
    c.end = End::kComplete;
  }
  // Some prefix of the chunk went out.
  void Cut(int chunk) {
    std::lock_guard<std::mutex> l(mu_);
    Chunk& c = chunks_[chunk];
    READBUF_CHECK(c.end == End::kOpen, "chunk %d ended twice", chunk);
    c.end = End::kCut;
  }

  // Checks bytes a reader got (in order, appended to what came before).
  void Consume(std::span<const std::byte> got, const char* reader) {
    std::lock_guard<std::mutex> l(mu_);
    size_t i = 0;
    while (i < got.size()) {
      if (pos_.size() == 1 && pos_[0].chunk >= 0) {  // fast path: inside a chunk
        Pos& p = pos_[0];
        const Chunk& c = chunks_[p.chunk];
        const size_t run = std::min(got.size() - i, c.len - p.offset);
        const std::byte* want = Pattern() + (c.seed + p.offset) % kPeriod;
        size_t k = 0;
        if (std::memcmp(got.data() + i, want, run) == 0) {
          k = run;
        } else {
          while (got[i + k] == want[k]) ++k;
        }
        p.offset += k;
        i += k;
        consumed_ += k;
        if (i == got.size()) break;
      }
      Step(got[i], reader);
      ++i;
      ++consumed_;
    }
  }

 private:
  enum class End : uint8_t { kOpen, kComplete, kCut };
  struct Chunk {
    size_t seed;
    size_t len;
    End end;
  };
  struct Pos {
    int chunk;  // -1: before the first chunk
    size_t offset;
  };

  static std::byte Val(const Chunk& c, size_t offset) {
    return static_cast<std::byte>((c.seed + offset) % kPeriod);
  }

  void Step(std::byte b, const char* reader) {
    next_.clear();
    const auto add = [this](Pos p) {
      for (const Pos& q : next_) {
        if (q.chunk == p.chunk && q.offset == p.offset) return;
      }
      next_.push_back(p);
    };
    for (const Pos& p : pos_) {
      if (p.chunk >= 0) {
        const Chunk& c = chunks_[p.chunk];
        if (p.offset < c.len && b == Val(c, p.offset)) add(Pos{p.chunk, p.offset + 1});
        const bool ended = (c.end == End::kComplete && p.offset == c.len) || c.end == End::kCut;
        if (!ended) continue;
      }
      for (size_t n = static_cast<size_t>(p.chunk + 1); n < chunks_.size(); ++n) {
        const Chunk& c = chunks_[n];
        if (c.len > 0 && b == Val(c, 0)) add(Pos{static_cast<int>(n), 1});
        const bool may_be_empty = c.end == End::kCut || (c.end == End::kComplete && c.len == 0);
        if (!may_be_empty) break;
      }
    }
    if (next_.empty()) {
      std::string where;
      for (const Pos& p : pos_) absl::StrAppend(&where, " (chunk ", p.chunk, ", offset ", p.offset, ")");
      std::string chunks;
      for (const Chunk& c : chunks_) {
        absl::StrAppend(&chunks, " [start ", c.seed, ", ", c.len, " B, ",
                        c.end == End::kOpen ? "open" : c.end == End::kCut ? "cut" : "complete", "]");
      }
      READBUF_CHECK(false,
                    "%s: byte %llu of the stream is %d, which no write put there; "
                    "the reader was at%s; chunks written:%s",
                    reader, static_cast<unsigned long long>(consumed_), static_cast<int>(b),
                    where.c_str(), chunks.c_str());
    }
    pos_.swap(next_);
  }

  std::mutex mu_;
  std::vector<Chunk> chunks_;
  std::vector<Pos> pos_{Pos{-1, 0}};
  std::vector<Pos> next_;
  uint64_t consumed_ = 0;
};

// --- Program state -------------------------------------------------------------

// One end of a slot.
struct End {
  bool pipe = false;
  bool pipe_write_end = false;
  UnixStream sock;
  PipeReader pipe_r;
  PipeWriter pipe_w;
  int raw_fd = -1;
  // Serialises the fuzzer thread's raw syscalls with the close on the core.
  std::mutex fd_mu;
  bool open = true;  // guarded by fd_mu
  // Set before the close / shutdown they announce, so a task that sees the
  // effect also sees the flag.
  std::atomic<bool> closing{false};
  std::atomic<bool> shut_rd{false};
  std::atomic<bool> shut_wr{false};
  // Fuzzer thread only.
  bool pooled_mode = false;  // read with pooled_read only from now on
  int reader = -1;           // the last reader / writer task on this end
  int writer = -1;

  AsyncFd& afd() {
    if (!pipe) return sock.async_fd();
    return pipe_write_end ? pipe_w.async_fd() : pipe_r.async_fd();
  }
  // REQUIRES: on the slot's core.
  void Close() {
    closing.store(true);
    std::lock_guard<std::mutex> l(fd_mu);
    open = false;
    if (!pipe) {
      sock.close();
    } else if (pipe_write_end) {
      pipe_w.close();
    } else {
      pipe_r.close();
    }
  }
};

struct Slot {
  bool used = false;
  bool pipe = false;
  int core = 0;
  End end[2];        // a pipe: end 0 reads, end 1 writes
  Stream into[2];    // into[e]: the bytes written into end e
};

struct ChannelState {
  Channel<int> ch;
  int core = 0;
  std::mutex send_mu;
  int next = 0;         // guarded by send_mu
  bool closed = false;  // guarded by send_mu
  int popped = 0;       // on `core`: values receivers took, all in order
};

enum class Kind : uint8_t {
  kReader, kWriter, kSleeper, kReceiver, kSender, kJoiner, kCanceller, kCloser, kShutter, kExpirer
};

struct TaskRec {
  JoinHandle<void> h;
  Kind kind = Kind::kReader;
  int core = 0;
  // A same-core cancel may be delayed by a pin (a cross-thread wake-up, a
  // kernel op), so it need not have destroyed the task when it returns.
  bool may_be_pinned = false;
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  std::atomic<bool> cancel_requested{false};
  int joiner = -1;  // fuzzer thread: the last task joining this one
  // On the task's core: the timeout() it is suspended in, for expire ops.
  void (*expire_fn)(void*) = nullptr;
  void* expire_ctx = nullptr;
  bool expire_fired = false;
};

struct Program {
  Runtime* rt = nullptr;
  int n_cores = 1;
  bool uring = false;
  std::array<Slot, kMaxSlots> slots;
  size_t n_slots = 0;
  std::array<ChannelState, kMaxChannels> channels;
  std::array<TaskRec, kMaxTasks> tasks;
  size_t n_tasks = 0;
};

// Marks a task started on construction; Done() marks it finished.
class Life {
 public:
  explicit Life(TaskRec* rec) : rec_(rec) { rec_->started.store(true); }
  void Done() { rec_->finished.store(true); }

 private:
  TaskRec* rec_;
};

// --- Durations and wrapping ---------------------------------------------------

absl::Duration PickDuration(FuzzInput& in) {
  switch (in.Byte() % 8) {
    case 0:
      return absl::ZeroDuration();
    case 1:
      return absl::Microseconds(1);
    case 2:
      return absl::Microseconds(100);
    case 3:
      return absl::Milliseconds(1);
    case 4:
      return absl::Milliseconds(10);
    case 5:
      return absl::InfiniteDuration();
    case 6:
      return -absl::Milliseconds(1);
    default:
      return -absl::InfiniteDuration();
  }
}

enum class WrapKind : uint8_t { kNone, kTimeout, kNested, kInTask, kExpirable };

struct Wrap {
  WrapKind kind = WrapKind::kNone;
  absl::Duration d1;
  absl::Duration d2;
};

Wrap PickWrap(FuzzInput& in) {
  Wrap w;
  w.kind = static_cast<WrapKind>(in.Byte() % 5);
  w.d1 = PickDuration(in);
  w.d2 = PickDuration(in);
  return w;
}

// The earliest deadline around an operation run as `w` says.
absl::Duration MinTimeout(const Wrap& w) {
  switch (w.kind) {
    case WrapKind::kNone:
      return absl::InfiniteDuration();
    case WrapKind::kNested:
      return std::min(w.d1, w.d2);
    default:
      return w.d1;
  }
}

const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <class T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

// What `co_await a` yields for an awaitable expression of type A.
template <class A>
struct AwaitResultOf {
  using type = decltype(std::declval<A>().operator co_await().await_resume());
};
template <class A>
  requires requires(std::remove_reference_t<A>& a) { a.await_resume(); }
struct AwaitResultOf<A> {
  using type = decltype(std::declval<std::remove_reference_t<A>&>().await_resume());
};

template <class T>
void ExpireThunk(void* t) {
  static_cast<T*>(t)->expire_now();
}

// Publishes the timeout() a task is suspended in for expire ops.
class ExpireHook {
 public:
  template <class T>
  ExpireHook(TaskRec* rec, T* t) : rec_(rec) {
    rec_->expire_fn = &ExpireThunk<T>;
    rec_->expire_ctx = t;
    rec_->expire_fired = false;
  }
  ExpireHook(const ExpireHook&) = delete;
  ExpireHook& operator=(const ExpireHook&) = delete;
  ~ExpireHook() {
    rec_->expire_fn = nullptr;
    rec_->expire_ctx = nullptr;
  }
  bool fired() const { return rec_->expire_fired; }

 private:
  TaskRec* rec_;
};

template <class R, class Make>
Task<R> AsTask(Make make) {
  if constexpr (std::is_void_v<typename AwaitResultOf<decltype(make())>::type>) {
    co_await make();
    co_return absl::OkStatus();
  } else {
    co_return co_await make();
  }
}

// DeadlineExceeded only under a timeout, and not before its deadline.
void CheckDeadline(const absl::Status& s, const Wrap& w, int64_t t0, bool expired,
                   const char* what) {
  if (!absl::IsDeadlineExceeded(s)) return;
  READBUF_CHECK(w.kind != WrapKind::kNone, "%s: DeadlineExceeded without a timeout: %s", what,
                s.ToString().c_str());
  if (expired) return;
  const absl::Duration elapsed = absl::Nanoseconds(BootNs() - t0);
  READBUF_CHECK(elapsed >= MinTimeout(w), "%s: timed out after %s, before its deadline %s: %s",
                what, absl::FormatDuration(elapsed).c_str(),
                absl::FormatDuration(MinTimeout(w)).c_str(), s.ToString().c_str());
}

// Awaits `make()` as `w` says. R is what timeout(make(), d) yields. `make`
// may refer to the caller's locals: the caller awaits this at once.
template <class R, class Make>
Task<R> Wrapped(TaskRec* rec, Wrap w, Make make, const char* what) {
  using A = decltype(make());
  const int64_t t0 = BootNs();
  R r{};  // Status: OK; StatusOr: assigned below
  bool expired = false;
  switch (w.kind) {
    case WrapKind::kNone:
      if constexpr (std::is_void_v<typename AwaitResultOf<A>::type>) {
        co_await make();
      } else {
        r = co_await make();
      }
      break;
    case WrapKind::kTimeout:
      r = co_await timeout(make(), w.d1);
      break;
    case WrapKind::kNested:
      r = co_await timeout(timeout(make(), w.d1), w.d2);
      break;
    case WrapKind::kInTask:
      r = co_await timeout(AsTask<R>(make), w.d1);
      break;
    case WrapKind::kExpirable: {
      auto t = timeout(make(), w.d1);
      ExpireHook hook(rec, &t);
      r = co_await t;
      expired = hook.fired();
      break;
    }
  }
  CheckDeadline(StatusOf(r), w, t0, expired, what);
  co_return r;
}

// --- Reads ----------------------------------------------------------------------

// The errors that only closing the operation's own end causes: Cancelled
// (closed while the operation waited) and the FailedPrecondition of an
// operation started on a closed AsyncFd (not the FailedPrecondition errno
// statuses such as EPIPE map to).
bool EndedByOwnClose(const absl::Status& s) {
  if (absl::IsCancelled(s)) return true;
  return absl::IsFailedPrecondition(s) &&
         (absl::StrContains(s.message(), "AsyncFd is closed") ||
          absl::StrContains(s.message(), "closed AsyncFd"));
}


enum class ReadMethod : uint8_t {
  kUninit, kPooled, kZeroed, kVectored, kSpan, kReadv, kPooledRead, kPooledCallback, kReady
};
constexpr int kReadMethods = 9;

bool IsPooledRead(ReadMethod m) {
  return m == ReadMethod::kPooledRead || m == ReadMethod::kPooledCallback;
}

struct ReadSpec {
  ReadMethod method = ReadMethod::kUninit;
  size_t size = 1;
  size_t max = 0;  // read_into's and pooled_read's `max` (0: none)
  int reads = 1;
  Wrap wrap;
};

template <class B>
void ConsumeFilled(const B& buf, Stream* in, const char* what) {
  for_each_filled(buf, [&](std::span<const std::byte> s) { in->Consume(s, what); });
}

// One read as `spec` says; validated bytes, 0 at EOF, or the error.
// WouldBlock only from kReady (readiness without data).
Task<absl::StatusOr<size_t>> ReadOnce(TaskRec* rec, End* e, Stream* in, const ReadSpec& spec) {
  using SizeOr = absl::StatusOr<size_t>;
  const char* what = "read";
  switch (spec.method) {
    case ReadMethod::kUninit: {
      Uninit buf(spec.size);
      SizeOr n = co_await Wrapped<SizeOr>(
          rec, spec.wrap, [&] { return read_into(e->afd(), buf, spec.max); }, "read_into(Uninit)");
      if (n.ok()) ConsumeFilled(buf, in, "read_into(Uninit)");
      co_return n;
    }
    case ReadMethod::kPooled: {
      Pooled buf(spec.size);
      SizeOr n = co_await Wrapped<SizeOr>(
          rec, spec.wrap, [&] { return read_into(e->afd(), buf, spec.max); }, "read_into(Pooled)");
      if (n.ok()) ConsumeFilled(buf, in, "read_into(Pooled)");
      if (absl::IsDeadlineExceeded(n.status()) || absl::IsCancelled(n.status())) {
        READBUF_CHECK(!buf.holds_memory(), "a read_into(Pooled) that waited and ended holds memory: %s",
                      n.status().ToString().c_str());
      }
      co_return n;
    }
    case ReadMethod::kZeroed: {
      Zeroed buf(spec.size);
      SizeOr n = co_await Wrapped<SizeOr>(
          rec, spec.wrap, [&] { return read_into(e->afd(), buf); }, "read_into(Zeroed)");
      if (n.ok()) ConsumeFilled(buf, in, "read_into(Zeroed)");
      co_return n;
    }
    case ReadMethod::kVectored: {
      Vectored<4> buf(std::max<size_t>(spec.size, 4));
      SizeOr n = co_await Wrapped<SizeOr>(
          rec, spec.wrap, [&] { return read_into(e->afd(), buf); }, "read_into(Vectored<4>)");
      if (n.ok()) ConsumeFilled(buf, in, "read_into(Vectored<4>)");
      co_return n;
    }
    case ReadMethod::kSpan: {
      std::vector<std::byte> storage(spec.size);
      std::span<std::byte> span(storage);
      SizeOr n = co_await Wrapped<SizeOr>(
          rec, spec.wrap,
          [&] { return e->pipe ? e->pipe_r.read(span) : e->sock.read(span); }, "read(span)");
      if (n.ok()) in->Consume(span.first(*n), "read(span)");
      co_return n;
    }
    case ReadMethod::kReadv: {
      std::vector<std::byte> storage(spec.size + 2);
      const size_t a = storage.size() / 3;
      const size_t b = storage.size() / 2;
      std::array<iovec, 3> iov = {iovec{storage.data(), a}, iovec{storage.data() + a, b - a},
                                  iovec{storage.data() + b, storage.size() - b}};
      std::span<const iovec> iovs(iov);
      SizeOr n = co_await Wrapped<SizeOr>(
          rec, spec.wrap,
          [&] { return e->pipe ? e->pipe_r.readv(iovs) : e->sock.readv(iovs); }, "readv");
      if (n.ok()) in->Consume(std::span<const std::byte>(storage).first(*n), "readv");
      co_return n;
    }
    case ReadMethod::kPooledRead: {
      using BytesOr = absl::StatusOr<std::optional<PoolBytes>>;
      BytesOr r = co_await Wrapped<BytesOr>(
          rec, spec.wrap,
          [&] { return e->pipe ? pooled_read(e->pipe_r, spec.max) : pooled_read(e->sock, spec.max); },
          "pooled_read");
      if (!r.ok()) co_return r.status();
      if (!r->has_value()) co_return size_t{0};
      READBUF_CHECK((*r)->size() > 0, "pooled_read returned an empty block");
      READBUF_CHECK(spec.max == 0 || (*r)->size() <= spec.max, "pooled_read: %zu bytes > max %zu",
                    (*r)->size(), spec.max);
      in->Consume((*r)->span(), "pooled_read");
      co_return (*r)->size();
    }
    case ReadMethod::kPooledCallback: {
      const auto fn = [in](std::span<const std::byte> s) { in->Consume(s, "pooled_read_callback"); };
      SizeOr n = co_await Wrapped<SizeOr>(
          rec, spec.wrap,
          [&] {
            return e->pipe ? pooled_read_callback(e->pipe_r, spec.max, fn)
                           : pooled_read_callback(e->sock, spec.max, fn);
          },
          "pooled_read_callback");
      co_return n;
    }
    case ReadMethod::kReady: {
      what = "ready() + try_read";
      absl::Status s = co_await Wrapped<absl::Status>(
          rec, spec.wrap, [&] { return e->afd().readable(); }, what);
      if (!s.ok()) co_return s;
      Uninit buf(spec.size);
      SizeOr n = try_read_into(e->afd(), buf);
      if (n.ok()) ConsumeFilled(buf, in, what);
      co_return n;
    }
  }
  co_return absl::InternalError("unknown read method");
}

Task<void> Reader(Program* p, int self, int slot, int end, ReadSpec spec) {
  TaskRec* rec = &p->tasks[self];
  Life life(rec);
  Slot& s = p->slots[slot];
  End* e = &s.end[end];
  End* peer = &s.end[1 - end];
  Stream* in = &s.into[1 - end];
  for (int i = 0; i < spec.reads; ++i) {
    if (kYieldBetweenOps && i > 0) co_await yield_now();
    absl::StatusOr<size_t> n = co_await ReadOnce(rec, e, in, spec);
    if (n.ok()) {
      if (*n != 0) continue;
      READBUF_CHECK(peer->closing.load() || peer->shut_wr.load() || e->shut_rd.load(),
                    "read method %d: EOF from an open peer that did not shut down",
                    static_cast<int>(spec.method));
      break;
    }
    const absl::Status& st = n.status();
    if (absl::IsDeadlineExceeded(st)) continue;  // Wrapped checked it; retry
    if (IsWouldBlock(st)) {
      READBUF_CHECK(spec.method == ReadMethod::kReady, "read method %d: WouldBlock: %s",
                    static_cast<int>(spec.method), st.ToString().c_str());
      continue;
    }
    if (EndedByOwnClose(st)) {
      READBUF_CHECK(e->closing.load(), "read method %d on an end nobody closed: %s",
                    static_cast<int>(spec.method), st.ToString().c_str());
    } else {
      READBUF_CHECK(e->closing.load() || peer->closing.load() || e->shut_rd.load() ||
                        e->shut_wr.load() || peer->shut_rd.load() || peer->shut_wr.load(),
                    "read method %d failed on a slot nobody closed or shut down: %s",
                    static_cast<int>(spec.method), st.ToString().c_str());
    }
    break;
  }
  life.Done();
}

// --- Writes ---------------------------------------------------------------------

enum class WriteMethod : uint8_t { kWriteAll, kWriteAllPieces, kWriteSome, kWritev };
constexpr int kWriteMethods = 4;

struct WriteSpec {
  WriteMethod method = WriteMethod::kWriteAll;
  size_t len = 1;
  int pieces = 1;
  Wrap wrap;
};

// Ends a writer's chunk if the task is destroyed before it could: a
// write_all may have delivered any prefix, a write() / writev() nothing.
class ChunkGuard {
 public:
  ChunkGuard(Stream* s, int chunk, bool all_or_prefix)
      : s_(s), chunk_(chunk), prefix_(all_or_prefix) {}
  ChunkGuard(ChunkGuard&& o) noexcept
      : s_(std::exchange(o.s_, nullptr)), chunk_(o.chunk_), prefix_(o.prefix_) {}
  ChunkGuard& operator=(ChunkGuard&&) = delete;
  ~ChunkGuard() {
    if (s_ == nullptr) return;
    if (prefix_) {
      s_->Cut(chunk_);
    } else {
      s_->Finish(chunk_, 0);
    }
  }
  void Finish(size_t delivered) { std::exchange(s_, nullptr)->Finish(chunk_, delivered); }
  void Cut() { std::exchange(s_, nullptr)->Cut(chunk_); }

 private:
  Stream* s_;
  int chunk_;
  bool prefix_;
};

void CheckWriteError(const absl::Status& st, End* e, End* peer, WriteMethod m) {
  if (st.ok() || absl::IsDeadlineExceeded(st)) return;
  if (EndedByOwnClose(st)) {
    READBUF_CHECK(e->closing.load(), "write method %d on an end nobody closed: %s",
                  static_cast<int>(m), st.ToString().c_str());
  } else {
    READBUF_CHECK(e->closing.load() || peer->closing.load() || e->shut_wr.load() ||
                      peer->shut_rd.load(),
                  "write method %d failed with an open, readable peer: %s", static_cast<int>(m),
                  st.ToString().c_str());
  }
}

Task<void> Writer(Program* p, int self, int slot, int end, WriteSpec spec, std::span<const std::byte> data,
                  ChunkGuard guard) {
  TaskRec* rec = &p->tasks[self];
  Life life(rec);
  Slot& s = p->slots[slot];
  End* e = &s.end[end];
  End* peer = &s.end[1 - end];
  switch (spec.method) {
    case WriteMethod::kWriteAll:
    case WriteMethod::kWriteAllPieces: {
      const int pieces = spec.method == WriteMethod::kWriteAll ? 1 : spec.pieces;
      size_t done = 0;
      bool ok = true;
      for (int i = 0; i < pieces && ok; ++i) {
        if (kYieldBetweenOps && i > 0) co_await yield_now();
        const size_t step = i == pieces - 1 ? data.size() - done : data.size() / pieces;
        std::span<const std::byte> piece = data.subspan(done, step);
        absl::Status st = co_await Wrapped<absl::Status>(
            rec, spec.wrap,
            [&] { return e->pipe ? e->pipe_w.write_all(piece) : e->sock.write_all(piece); },
            "write_all");
        CheckWriteError(st, e, peer, spec.method);
        ok = st.ok();
        done += step;
      }
      if (ok) {
        guard.Finish(data.size());
      } else {
        guard.Cut();
      }
      break;
    }
    case WriteMethod::kWriteSome:
    case WriteMethod::kWritev: {
      absl::StatusOr<size_t> n;
      if (spec.method == WriteMethod::kWriteSome) {
        n = co_await Wrapped<absl::StatusOr<size_t>>(
            rec, spec.wrap, [&] { return e->pipe ? e->pipe_w.write(data) : e->sock.write(data); },
            "write");
      } else {
        const size_t a = data.size() / 3;
        const size_t b = data.size() / 2;
        std::array<iovec, 3> iov = {
            iovec{const_cast<std::byte*>(data.data()), a},
            iovec{const_cast<std::byte*>(data.data()) + a, b - a},
            iovec{const_cast<std::byte*>(data.data()) + b, data.size() - b}};
        std::span<const iovec> iovs(iov);
        n = co_await Wrapped<absl::StatusOr<size_t>>(
            rec, spec.wrap, [&] { return e->pipe ? e->pipe_w.writev(iovs) : e->sock.writev(iovs); },
            "writev");
      }
      if (n.ok()) {
        READBUF_CHECK(*n >= 1 && *n <= data.size(), "write of %zu bytes returned %zu",
                      data.size(), *n);
        guard.Finish(*n);
      } else {
        CheckWriteError(n.status(), e, peer, spec.method);
        guard.Finish(0);  // a failed, cancelled or timed-out write() wrote nothing
      }
      break;
    }
  }
  life.Done();
}

// --- Other tasks ------------------------------------------------------------------

Task<void> Sleeper(Program* p, int self, absl::Duration d, Wrap w) {
  TaskRec* rec = &p->tasks[self];
  Life life(rec);
  const int64_t t0 = BootNs();
  if (w.kind == WrapKind::kNone) {
    co_await sleep_for(d);
  } else {
    absl::Status s = co_await Wrapped<absl::Status>(rec, w, [d] { return sleep_for(d); }, "sleep_for");
    if (d <= absl::ZeroDuration()) {
      READBUF_CHECK(s.ok(), "sleep_for(%s), ready at once, timed out: %s",
                    absl::FormatDuration(d).c_str(), s.ToString().c_str());
    }
    if (w.kind == WrapKind::kTimeout && d == absl::InfiniteDuration()) {
      READBUF_CHECK(absl::IsDeadlineExceeded(s) || w.d1 == absl::InfiniteDuration(),
                    "an infinite sleep under timeout(%s) ended: %s",
                    absl::FormatDuration(w.d1).c_str(), s.ToString().c_str());
    }
    if (w.kind == WrapKind::kTimeout && w.d1 == absl::InfiniteDuration() && !rec->expire_fired) {
      READBUF_CHECK(s.ok(), "an infinite timeout fired: %s", s.ToString().c_str());
    }
    READBUF_CHECK(s.ok() || absl::IsDeadlineExceeded(s), "sleep_for under a timeout: %s",
                  s.ToString().c_str());
    if (!s.ok()) {
      life.Done();
      co_return;
    }
  }
  READBUF_CHECK(d != absl::InfiniteDuration(), "an infinite sleep ended");
  const absl::Duration elapsed = absl::Nanoseconds(BootNs() - t0);
  READBUF_CHECK(elapsed >= d, "sleep_for(%s) ended after %s", absl::FormatDuration(d).c_str(),
                absl::FormatDuration(elapsed).c_str());
  life.Done();
}

Task<void> Receiver(Program* p, int self, int channel, int receives, Wrap w) {
  TaskRec* rec = &p->tasks[self];
  Life life(rec);
  ChannelState* cs = &p->channels[channel];
  for (int i = 0; i < receives; ++i) {
    if (kYieldBetweenOps && i > 0) co_await yield_now();
    absl::StatusOr<int> v = co_await Wrapped<absl::StatusOr<int>>(
        rec, w, [cs] { return cs->ch.receive(); }, "Channel::receive");
    if (v.ok()) {
      READBUF_CHECK(*v == cs->popped, "channel %d: received %d, expected %d", channel, *v,
                    cs->popped);
      ++cs->popped;
      continue;
    }
    if (absl::IsDeadlineExceeded(v.status())) continue;
    READBUF_CHECK(absl::IsFailedPrecondition(v.status()) && cs->ch.closed(),
                  "channel %d: receive failed while open: %s", channel,
                  v.status().ToString().c_str());
    break;
  }
  life.Done();
}

void SendValues(ChannelState* cs, int count) {
  std::lock_guard<std::mutex> l(cs->send_mu);
  for (int i = 0; i < count; ++i) {
    absl::Status s = cs->ch.send(cs->next);
    if (cs->closed) {
      READBUF_CHECK(absl::IsFailedPrecondition(s), "send after close: %s", s.ToString().c_str());
      return;
    }
    READBUF_CHECK(s.ok(), "send: %s", s.ToString().c_str());
    ++cs->next;
  }
}

Task<void> Sender(Program* p, int self, int channel, int count) {
  Life life(&p->tasks[self]);
  SendValues(&p->channels[channel], count);
  life.Done();
  co_return;
}

Task<void> Joiner(Program* p, int self, int target, bool wait_until, Wrap w) {
  TaskRec* rec = &p->tasks[self];
  Life life(rec);
  TaskRec* t = &p->tasks[target];
  absl::Status s;
  if (wait_until) {
    const int64_t t0 = BootNs();
    const int64_t deadline = w.d1 == absl::InfiniteDuration() ? INT64_MAX
                             : w.d1 <= absl::ZeroDuration()   ? t0
                                                              : t0 + absl::ToInt64Nanoseconds(w.d1);
    s = co_await t->h.WaitUntil(deadline);
    if (absl::IsDeadlineExceeded(s)) {
      READBUF_CHECK(BootNs() >= deadline, "WaitUntil gave up before its deadline");
    }
  } else {
    JoinHandle<void>* h = &t->h;
    s = co_await Wrapped<absl::Status>(
        rec, w, [h]() -> JoinHandle<void>& { return *h; }, "join");
  }
  if (s.ok()) {
    READBUF_CHECK(t->h.done() && t->finished.load(), "join returned OK for an unfinished task");
  } else if (absl::IsCancelled(s)) {
    READBUF_CHECK(t->h.done() && t->cancel_requested.load(),
                  "join: Cancelled for a task nobody cancelled: %s", s.ToString().c_str());
  } else {
    READBUF_CHECK(absl::IsDeadlineExceeded(s), "join: %s", s.ToString().c_str());
  }
  life.Done();
}

// Delays a helper task: not at all, by yields, or by a sleep.
Task<void> Delay(int kind, absl::Duration d) {
  switch (kind) {
    case 1:
      co_await yield_now();
      break;
    case 2:
      for (int i = 0; i < 8; ++i) co_await yield_now();
      break;
    case 3:
      co_await sleep_for(d);
      break;
    default:
      break;
  }
}

Task<void> Canceller(Program* p, int self, int target, int delay, absl::Duration d) {
  Life life(&p->tasks[self]);
  co_await Delay(delay, d);
  TaskRec* t = &p->tasks[target];
  t->cancel_requested.store(true);
  const bool same_core = current_core() == t->core;
  const bool started = t->started.load();
  t->h.cancel();
  if (same_core && started && !t->may_be_pinned) {
    READBUF_CHECK(t->h.done(),
                  "cancel() on the task's own core returned with task %d (kind %d) not "
                  "destroyed, and nothing can pin it",
                  target, static_cast<int>(t->kind));
  }
  life.Done();
}

Task<void> Closer(Program* p, int self, int slot, int which, int delay, absl::Duration d) {
  Life life(&p->tasks[self]);
  co_await Delay(delay, d);
  Slot& s = p->slots[slot];
  for (int e = 0; e < 2; ++e) {
    if (which == e || which == 2) s.end[e].Close();
  }
  life.Done();
}

Task<void> Shutter(Program* p, int self, int slot, int end, int how) {
  Life life(&p->tasks[self]);
  Slot& s = p->slots[slot];
  End& e = s.end[end];
  if (how != SHUT_WR) e.shut_rd.store(true);
  if (how != SHUT_RD) e.shut_wr.store(true);
  absl::Status st = e.sock.shutdown(how);
  READBUF_CHECK(st.ok() || e.closing.load() || s.end[1 - end].closing.load(),
                "shutdown(%d) of an open socket pair: %s", how, st.ToString().c_str());
  life.Done();
  co_return;
}

Task<void> Expirer(Program* p, int self, int target, int delay, absl::Duration d) {
  Life life(&p->tasks[self]);
  co_await Delay(delay, d);
  TaskRec* t = &p->tasks[target];
  if (t->expire_fn != nullptr) {
    t->expire_fired = true;
    t->expire_fn(t->expire_ctx);
  }
  life.Done();
}

Task<void> Yielder(int yields) {
  for (int i = 0; i < yields; ++i) co_await yield_now();
}

Task<void> TrimCore() {
  TrimThisCore();
  co_return;
}

Task<void> CloseAllOnCore(Program* p, int core) {
  for (size_t i = 0; i < p->n_slots; ++i) {
    if (p->slots[i].core != core) continue;
    p->slots[i].end[0].Close();
    p->slots[i].end[1].Close();
  }
  co_return;
}

// --- The interpreter ----------------------------------------------------------------

// Runtimes shared by all inputs of one shape (made on first use, never
// destroyed: libFuzzer exits without unwinding).
Runtime* SharedRuntime(bool uring, int cores) {
  static Runtime* runtimes[2][2] = {{nullptr, nullptr}, {nullptr, nullptr}};
  Runtime*& rt = runtimes[uring ? 1 : 0][cores - 1];
  if (rt == nullptr) {
    rt = new Runtime(RuntimeOptions{.n_cores = cores,
                                    .backend = uring ? BackendKind::kUring : BackendKind::kEpoll});
  }
  return rt;
}

class Interpreter {
 public:
  Interpreter(Program* p, FuzzInput* in) : p_(p), in_(in) {}

  void Run() {
    for (int op = 0; op < kMaxOps && !in_->empty(); ++op) {
      g_op.store(op, std::memory_order_relaxed);
      Step();
    }
  }

 private:
  // The slot the byte names, or null if none exists yet.
  Slot* PickSlot(int* index) {
    const uint8_t b = in_->Byte();
    if (p_->n_slots == 0) return nullptr;
    *index = b % static_cast<int>(p_->n_slots);
    return &p_->slots[*index];
  }
  int PickTask() {
    const uint8_t b = in_->Byte();
    return p_->n_tasks == 0 ? -1 : b % static_cast<int>(p_->n_tasks);
  }
  int PickCore() { return in_->Byte() % p_->n_cores; }

  bool Busy(int task) const { return task >= 0 && !p_->tasks[task].h.done(); }

  // Reserves a task record; -1 if the table is full.
  int NewTask(Kind kind, int core, bool may_be_pinned) {
    if (p_->n_tasks == kMaxTasks) return -1;
    const int i = static_cast<int>(p_->n_tasks++);
    TaskRec& t = p_->tasks[i];
    t.kind = kind;
    t.core = core;
    t.may_be_pinned = may_be_pinned;
    return i;
  }
  void Start(int i, Task<void> task) { p_->tasks[i].h = p_->rt->spawn_on(p_->tasks[i].core, std::move(task)); }

  void Step() {
    switch (in_->Byte() % 16) {
      case 0:
        return CreateSlot();
      case 1:
        return SpawnReader();
      case 2:
        return SpawnWriter();
      case 3:
        return RawWrite();
      case 4:
        return CloseEnd();
      case 5:
        return ShutdownEnd();
      case 6:
        return CancelTask();
      case 7:
        return SpawnSleeper();
      case 8:
        return SpawnReceiver();
      case 9:
        return Send();
      case 10:
        return CloseChannel();
      case 11:
        return SpawnJoiner();
      case 12:
        return SpawnExpirer();
      case 13:
      case 15:
        return SettleSleep();
      default:
        return SettleYield();
    }
  }

  void CreateSlot() {
    const bool pipe = in_->Byte() % 3 == 2;
    const int core = PickCore();
    const bool small = in_->Bool();
    if (p_->n_slots == kMaxSlots) return;
    Slot& s = p_->slots[p_->n_slots];
    s.pipe = pipe;
    s.core = core;
    if (pipe) {
      absl::StatusOr<Pipe> pp = Pipe::Create();
      READBUF_CHECK(pp.ok(), "Pipe::Create: %s", pp.status().ToString().c_str());
      s.end[0].pipe_r = std::move(pp->reader);
      s.end[1].pipe_w = std::move(pp->writer);
      s.end[0].pipe = s.end[1].pipe = true;
      s.end[1].pipe_write_end = true;
      if (small) ::fcntl(s.end[1].afd().fd(), F_SETPIPE_SZ, kSmallKernelBuffer);
    } else {
      absl::StatusOr<std::pair<UnixStream, UnixStream>> pair = UnixStream::Pair();
      READBUF_CHECK(pair.ok(), "UnixStream::Pair: %s", pair.status().ToString().c_str());
      s.end[0].sock = std::move(pair->first);
      s.end[1].sock = std::move(pair->second);
      if (small) {
        for (End& e : s.end) {
          ::setsockopt(e.afd().fd(), SOL_SOCKET, SO_SNDBUF, &kSmallKernelBuffer, sizeof(int));
          ::setsockopt(e.afd().fd(), SOL_SOCKET, SO_RCVBUF, &kSmallKernelBuffer, sizeof(int));
        }
      }
    }
    for (End& e : s.end) e.raw_fd = e.afd().fd();
    s.used = true;
    ++p_->n_slots;
  }

  void SpawnReader() {
    int slot = 0;
    Slot* s = PickSlot(&slot);
    const int end_byte = in_->Byte();
    ReadSpec spec;
    spec.method = static_cast<ReadMethod>(in_->Byte() % kReadMethods);
    static constexpr size_t kSizes[] = {1, 7, 512, 4096, 65536};
    spec.size = kSizes[in_->Byte() % 5];
    spec.max = in_->Bool() ? spec.size : 0;
    static constexpr int kReads[] = {1, 2, 3, 8, 64};
    spec.reads = kReads[in_->Byte() % 5];
    spec.wrap = PickWrap(*in_);
    if (s == nullptr) return;
    const int end = s->pipe ? 0 : end_byte & 1;
    End& e = s->end[end];
    if (Busy(e.reader)) return;  // one reader per end at a time
    if (e.pooled_mode && !IsPooledRead(spec.method)) {
      spec.method = ReadMethod::kPooledRead;  // the ring recv stays armed
    }
    if (IsPooledRead(spec.method)) e.pooled_mode = true;
    const int t = NewTask(Kind::kReader, s->core, IsPooledRead(spec.method) && p_->uring);
    if (t < 0) return;
    e.reader = t;
    Start(t, Reader(p_, t, slot, end, spec));
  }

  void SpawnWriter() {
    int slot = 0;
    Slot* s = PickSlot(&slot);
    const int end_byte = in_->Byte();
    WriteSpec spec;
    spec.method = static_cast<WriteMethod>(in_->Byte() % kWriteMethods);
    static constexpr size_t kLens[] = {1, 100, 4096, 65536, 300000, size_t{1} << 20, kMaxWrite};
    spec.len = kLens[in_->Byte() % 7];
    spec.pieces = 1 + in_->Byte() % 4;
    spec.wrap = PickWrap(*in_);
    if (s == nullptr) return;
    const int end = s->pipe ? 1 : end_byte & 1;
    End& e = s->end[end];
    if (Busy(e.writer)) return;  // one writer per end at a time
    const int t = NewTask(Kind::kWriter, s->core, false);
    if (t < 0) return;
    Stream& out = s->into[end];
    const int chunk = out.Claim(spec.len);
    std::span<const std::byte> data(Pattern() + out.Seed(chunk), spec.len);
    const bool prefix = spec.method == WriteMethod::kWriteAll ||
                        spec.method == WriteMethod::kWriteAllPieces;
    e.writer = t;
    Start(t, Writer(p_, t, slot, end, spec, data, ChunkGuard(&out, chunk, prefix)));
  }

  // ::write from this thread, while no writer task uses the end.
  void RawWrite() {
    int slot = 0;
    Slot* s = PickSlot(&slot);
    const int end_byte = in_->Byte();
    static constexpr size_t kLens[] = {1, 100, 4096, 65536};
    const size_t len = kLens[in_->Byte() % 4];
    if (s == nullptr) return;
    const int end = s->pipe ? 1 : end_byte & 1;
    End& e = s->end[end];
    if (Busy(e.writer)) return;
    Stream& out = s->into[end];
    std::lock_guard<std::mutex> l(e.fd_mu);
    if (!e.open) return;
    const int chunk = out.Claim(len);
    const ssize_t n = ::write(e.raw_fd, Pattern() + out.Seed(chunk), len);
    out.Finish(chunk, n > 0 ? static_cast<size_t>(n) : 0);
  }

  void CloseEnd() {
    int slot = 0;
    Slot* s = PickSlot(&slot);
    const int which = in_->Byte() % 3;
    const int delay = in_->Byte() % 4;
    const absl::Duration d = PickDuration(*in_);
    if (s == nullptr) return;
    const int t = NewTask(Kind::kCloser, s->core, false);
    if (t < 0) return;
    Start(t, Closer(p_, t, slot, which, delay, d));
  }

  void ShutdownEnd() {
    int slot = 0;
    Slot* s = PickSlot(&slot);
    const int end = in_->Byte() & 1;
    static constexpr int kHow[] = {SHUT_RD, SHUT_WR, SHUT_RDWR};
    const int how = kHow[in_->Byte() % 3];
    const bool from_core = in_->Bool();
    if (s == nullptr || s->pipe) return;
    End& e = s->end[end];
    if (from_core) {
      const int t = NewTask(Kind::kShutter, s->core, false);
      if (t < 0) return;
      Start(t, Shutter(p_, t, slot, end, how));
      return;
    }
    std::lock_guard<std::mutex> l(e.fd_mu);
    if (!e.open) return;
    if (how != SHUT_WR) e.shut_rd.store(true);
    if (how != SHUT_RD) e.shut_wr.store(true);
    READBUF_CHECK(::shutdown(e.raw_fd, how) == 0 || s->end[1 - end].closing.load(),
                  "shutdown(%d) of an open socket pair failed: errno %d", how, errno);
  }

  void CancelTask() {
    const int target = PickTask();
    const int via = in_->Byte() % 4;
    const int delay = via == 3 ? 1 + in_->Byte() % 3 : 0;
    const absl::Duration d = PickDuration(*in_);
    if (target < 0) return;
    TaskRec& t = p_->tasks[target];
    if (via == 0) {  // from this thread
      t.cancel_requested.store(true);
      t.h.cancel();
      return;
    }
    const int core = via == 2 ? (t.core + 1) % p_->n_cores : t.core;
    const int c = NewTask(Kind::kCanceller, core, false);
    if (c < 0) return;
    Start(c, Canceller(p_, c, target, delay, d));
  }

  void SpawnSleeper() {
    const int core = PickCore();
    const absl::Duration d = PickDuration(*in_);
    const Wrap w = PickWrap(*in_);
    const int t = NewTask(Kind::kSleeper, core, false);
    if (t < 0) return;
    Start(t, Sleeper(p_, t, d, w));
  }

  void SpawnReceiver() {
    const int channel = in_->Byte() % kMaxChannels;
    static constexpr int kReceives[] = {1, 2, 3, 8, 64};
    const int receives = kReceives[in_->Byte() % 5];
    const Wrap w = PickWrap(*in_);
    const int t = NewTask(Kind::kReceiver, p_->channels[channel].core, true);
    if (t < 0) return;
    Start(t, Receiver(p_, t, channel, receives, w));
  }

  void Send() {
    const int channel = in_->Byte() % kMaxChannels;
    static constexpr int kCounts[] = {1, 2, 5, 20};
    const int count = kCounts[in_->Byte() % 4];
    const int from = in_->Byte() % 3;  // 0: this thread, else a task on core from-1
    if (from == 0 || from > p_->n_cores) {
      SendValues(&p_->channels[channel], count);
      return;
    }
    const int t = NewTask(Kind::kSender, from - 1, false);
    if (t < 0) return;
    Start(t, Sender(p_, t, channel, count));
  }

  void CloseChannel() {
    ChannelState& cs = p_->channels[in_->Byte() % kMaxChannels];
    std::lock_guard<std::mutex> l(cs.send_mu);
    cs.closed = true;
    cs.ch.close();
  }

  void SpawnJoiner() {
    const int target = PickTask();
    const int core = PickCore();
    const bool wait_until = in_->Byte() % 4 == 0;
    const Wrap w = PickWrap(*in_);
    if (target < 0 || Busy(p_->tasks[target].joiner)) return;  // one joiner per handle
    const int t = NewTask(Kind::kJoiner, core, true);
    if (t < 0) return;
    p_->tasks[target].joiner = t;
    Start(t, Joiner(p_, t, target, wait_until, w));
  }

  void SpawnExpirer() {
    const int target = PickTask();
    const int delay = in_->Byte() % 4;
    const absl::Duration d = PickDuration(*in_);
    if (target < 0) return;
    const int t = NewTask(Kind::kExpirer, p_->tasks[target].core, false);
    if (t < 0) return;
    Start(t, Expirer(p_, t, target, delay, d));
  }

  void SettleSleep() {
    static constexpr int kMicros[] = {0, 20, 200, 1000, 3000};
    const int us = kMicros[in_->Byte() % 5];
    if (us == 0) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(us));
    }
  }

  void SettleYield() {
    static constexpr int kYields[] = {1, 4, 32};
    const int yields = kYields[in_->Byte() % 3];
    std::vector<JoinHandle<void>> hs;
    for (int c = 0; c < p_->n_cores; ++c) hs.push_back(p_->rt->spawn_on(c, Yielder(yields)));
    for (JoinHandle<void>& h : hs) READBUF_CHECK(h.BlockingJoin().ok(), "a yielder failed");
  }

  Program* p_;
  FuzzInput* in_;
};

// Cancels and joins every task; checks each ended as it may.
void CancelAndJoinAll(Program* p) {
  for (size_t i = p->n_tasks; i-- > 0;) {
    TaskRec& t = p->tasks[i];
    if (t.h.done()) continue;
    t.cancel_requested.store(true);
    t.h.cancel();
  }
  // Joiners come after their targets: join from the back, so no handle is
  // joined here while a task still awaits it.
  for (size_t i = p->n_tasks; i-- > 0;) {
    TaskRec& t = p->tasks[i];
    absl::Status s = t.h.BlockingJoin();
    READBUF_CHECK(t.h.done(), "task %zu joined but not done", i);
    if (s.ok()) {
      READBUF_CHECK(t.finished.load(), "task %zu (kind %d) joined OK without finishing", i,
                    static_cast<int>(t.kind));
    } else {
      READBUF_CHECK(absl::IsCancelled(s) && t.cancel_requested.load(),
                    "task %zu (kind %d) ended with %s", i, static_cast<int>(t.kind),
                    s.ToString().c_str());
    }
  }
}

// Gives back what the cores' pools retain. They poison retained blocks and
// link their free lists through them, and LeakSanitizer does not follow
// pointers stored in poisoned memory: blocks a shared Runtime's pools keep
// past an input would look leaked to the leak checks that run after it.
// One core at a time: under g++'s ASan, TrimThisCore's malloc_trim on two
// threads at once can crash in glibc (its malloc is never initialised
// there, and the first calls race to do it).
void TrimCores(Runtime* rt, int cores) {
  for (int c = 0; c < cores; ++c) {
    READBUF_CHECK(rt->spawn_on(c, TrimCore()).BlockingJoin().ok(), "trimming core %d failed", c);
  }
}

void CloseAllOnCores(Program* p) {
  std::vector<JoinHandle<void>> hs;
  for (int c = 0; c < p->n_cores; ++c) hs.push_back(p->rt->spawn_on(c, CloseAllOnCore(p, c)));
  for (JoinHandle<void>& h : hs) READBUF_CHECK(h.BlockingJoin().ok(), "closing the slots failed");
}

// What receivers took plus what is left is what was sent, in order.
void CheckChannels(Program* p) {
  for (size_t c = 0; c < kMaxChannels; ++c) {
    ChannelState& cs = p->channels[c];
    int expect = cs.popped;
    while (std::optional<int> v = cs.ch.try_receive()) {
      READBUF_CHECK(*v == expect, "channel %zu: %d left over, expected %d", c, *v, expect);
      ++expect;
    }
    READBUF_CHECK(expect == cs.next, "channel %zu: %d values sent, %d accounted for", c, cs.next,
                  expect);
  }
}

// Waits (bounded) until the process has `fds` open fds again: closes handed
// to a core finish asynchronously.
void CheckFds(int fds) {
  int now = CountOpenFds();
  for (int i = 0; i < 2000 && now != fds; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    now = CountOpenFds();
  }
  READBUF_CHECK(now == fds, "fd leak: %d fds open before the input, %d after", fds, now);
}

void RunInput(FuzzInput& in) {
  const uint8_t shape = in.Byte();
  const uint8_t teardown = in.Byte();
  const bool uring = (shape & 1) != 0;
  const int cores = 1 + ((shape >> 1) & 1);
  const bool fresh = ((shape >> 2) & 7) == 7;
  const bool close_first = (teardown & 1) != 0;      // close every end, then cancel
  const bool close_on_core = (teardown & 2) != 0;    // else: by destruction, off-core
  const bool shutdown_live = fresh && (teardown & 4) != 0;  // Shutdown with tasks running

  std::unique_ptr<Runtime> own;
  int fds = -1;
  auto program = std::make_unique<Program>();
  Program* p = program.get();
  if (fresh) {
    fds = CountOpenFds();
    own = std::make_unique<Runtime>(RuntimeOptions{
        .n_cores = cores, .backend = uring ? BackendKind::kUring : BackendKind::kEpoll});
    p->rt = own.get();
  } else {
    p->rt = SharedRuntime(uring, cores);
    fds = CountOpenFds();
  }
  Runtime* const rt = p->rt;
  p->n_cores = cores;
  p->uring = std::strcmp(p->rt->backend_name(), "epoll") != 0;
  for (size_t c = 0; c < kMaxChannels; ++c) p->channels[c].core = static_cast<int>(c) % cores;

  g_phase.store("program", std::memory_order_relaxed);
  Interpreter(p, &in).Run();
  g_op.store(-1, std::memory_order_relaxed);

  g_phase.store("teardown", std::memory_order_relaxed);
  if (shutdown_live) {
    static constexpr absl::Duration kGrace[] = {absl::ZeroDuration(), -absl::InfiniteDuration(),
                                                absl::Milliseconds(1)};
    for (size_t i = 0; i < p->n_tasks; ++i) p->tasks[i].cancel_requested.store(true);
    own->Shutdown(kGrace[(teardown >> 3) % 3]);
    for (size_t i = 0; i < p->n_tasks; ++i) {
      TaskRec& t = p->tasks[i];
      READBUF_CHECK(t.h.done(), "task %zu (kind %d) not done after Runtime::Shutdown", i,
                    static_cast<int>(t.kind));
      absl::Status s = t.h.BlockingJoin();
      READBUF_CHECK(s.ok() ? t.finished.load() : absl::IsCancelled(s),
                    "task %zu (kind %d) ended with %s after Shutdown", i,
                    static_cast<int>(t.kind), s.ToString().c_str());
    }
  } else {
    if (close_first) CloseAllOnCores(p);
    CancelAndJoinAll(p);
    if (close_on_core) CloseAllOnCores(p);
  }
  CheckChannels(p);
  program.reset();  // ends still open close here, off-core
  own.reset();
  g_phase.store("fd check", std::memory_order_relaxed);
  CheckFds(fds);
  if (!fresh) TrimCores(rt, cores);
}

}  // namespace
}  // namespace readbuf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using readbuf::fuzz::g_input_start_ns;
  readbuf::fuzz::StartWatchdogOnce();
  g_input_start_ns.store(readbuf::fuzz::MonotonicNs(), std::memory_order_release);
  readbuf::fuzz::FuzzInput in(data, size);
  readbuf::fuzz::RunInput(in);
  g_input_start_ns.store(0, std::memory_order_release);
  readbuf::fuzz::g_phase.store("idle", std::memory_order_relaxed);
  return 0;
}
