// Adapter overhead against the native path, at 4 KiB and 64 KiB reads from an
// in-memory file (memfd, pread at offset 0: a real kernel copy per read with
// no second thread).
//
// The ratios come from the BM_Pair_* benchmarks: each runs the native call
// and the adapter call in alternating blocks of kBlock calls within one run
// (which side goes first alternates too), so both see the same machine state
// -- the same noisy neighbour, the same frequency, the same cache -- and
// reports the medians of the per-call times of each side (counters
// native_ns, adapter_ns) and their ratio (counter ratio = adapter / native).
// The single BM_<side>_* benchmarks give the absolute time of each side.
//
//   zero-copy bridges (goal: ratio <= 1.03)
//     BM_Pair_SpanToBuf_Uninit      pread into Uninit     (zeroes once, then never)
//     BM_Pair_AnyReader_Uninit      pread into Uninit     (type-erased span reader)
//     BM_Pair_FdReader_Uninit       read into Uninit      (lseek + read(2) both sides)
//     BM_Pair_BufToSpan_Span        pread into a span
//     BM_Pair_SpanToBuf_Vectored4   preadv into Vectored<4> (the readv path)
//     BM_Pair_BufToOwned            pread into a pool block (filled in place)
//   copying bridges (the measured cost of their one copy)
//     BM_Pair_ScratchCopy           pread into a pool block vs scratch + memcpy
//     BM_Pair_AsyncScratchCopy      the same, co_awaited on a reactor core
//     BM_Pair_OwnedToBuf_Uninit     pread into Uninit vs owned block + memcpy
//
//   ./bazelw run //bench:adapter_benchmark -- --benchmark_filter=Pair
//     --benchmark_repetitions=9 --benchmark_enable_random_interleaving=true
//     --benchmark_report_aggregates_only=true
//   (pinned: taskset -c 1 on the built binary, same flags)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdlib>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/any_reader.h"
#include "adapters/async_scratch_copy_reader.h"
#include "adapters/buf_to_owned.h"
#include "adapters/buf_to_span.h"
#include "adapters/fd_reader.h"
#include "adapters/owned_to_buf.h"
#include "adapters/scratch_copy_reader.h"
#include "adapters/span_to_buf.h"
#include "benchmark/benchmark.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "io/runtime.h"
#include "io/task.h"

namespace readbuf {
namespace {

// 1 MiB memfd, read with pread(2)/preadv(2) at offset 0.
class Memfd {
 public:
  Memfd() {
    fd_ = ::memfd_create("adapter_benchmark", MFD_CLOEXEC);
    if (fd_ < 0) std::abort();
    std::vector<char> data(1 << 20, 'a');
    if (::pwrite(fd_, data.data(), data.size(), 0) !=
        static_cast<ssize_t>(data.size())) {
      std::abort();
    }
  }
  ~Memfd() { ::close(fd_); }
  int fd() const { return fd_; }

 private:
  int fd_;
};

// The inner readers: the same pread, behind each capability.
struct PreadSpanReader {
  int fd;
  absl::StatusOr<size_t> read(std::span<std::byte> s) {
    const ssize_t n = ::pread(fd, s.data(), s.size(), 0);
    if (n < 0) std::abort();
    return static_cast<size_t>(n);
  }
};
struct PreadSpanAndReadvReader : PreadSpanReader {
  absl::StatusOr<size_t> readv(std::span<const iovec> iov) {
    const ssize_t n = ::preadv(fd, iov.data(), static_cast<int>(iov.size()), 0);
    if (n < 0) std::abort();
    return static_cast<size_t>(n);
  }
};
struct PreadBufReader {
  int fd;
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    UninitSpan dst = b.unfilled();
    const ssize_t n = ::pread(fd, dst.write_ptr(), dst.size(), 0);
    if (n < 0) std::abort();
    b.advance(static_cast<size_t>(n));
    return static_cast<size_t>(n);
  }
};
// A provided-buffer style reader: its own pool block per read.
struct PreadOwnedReader {
  int fd;
  absl::StatusOr<std::optional<PoolBytes>> read_owned(size_t max) {
    absl::StatusOr<PoolBlock> block = BufferPool::ForThisThread().Acquire(max);
    if (!block.ok()) std::abort();
    const ssize_t n = ::pread(fd, block->data(), max, 0);
    if (n <= 0) std::abort();
    return std::optional<PoolBytes>(PoolBytes(*std::move(block), static_cast<size_t>(n)));
  }
};

// An async span reader whose read completes at once: co_await without a
// suspension, so the async pair measures the adapter, not the reactor.
struct PreadAsyncSpanReader {
  int fd;
  struct Read {
    absl::StatusOr<size_t> result;
    bool await_ready() const noexcept { return true; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    absl::StatusOr<size_t> await_resume() { return std::move(result); }
  };
  Read read(std::span<std::byte> s) { return Read{PreadSpanReader{fd}.read(s)}; }
};

size_t Size(const benchmark::State& state) {
  return static_cast<size_t>(state.range(0));
}

template <ReadBuf B>
void Touch(const B& buf) {
  for_each_filled(buf, [](std::span<const std::byte> s) {
    benchmark::DoNotOptimize(s.data()[s.size() - 1]);
  });
}

void Check(bool ok) {
  if (!ok) std::abort();
}

void TouchOwned(const absl::StatusOr<std::optional<PoolBytes>>& bytes) {
  Check(bytes.ok() && bytes->has_value());
  benchmark::DoNotOptimize((*bytes)->data()[(*bytes)->size() - 1]);
}

void Finish(benchmark::State& state) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          state.range(0));
}

// --- One call of each side ---
//
// Each op is one read of Size(state) bytes plus a touch of the last byte,
// the same for the native side and the adapter side.

void NativePreadUninit(int fd, Uninit& buf) {
  UninitSpan dst = buf.unfilled();
  const ssize_t n = ::pread(fd, dst.write_ptr(), dst.size(), 0);
  Check(n > 0);
  buf.advance(static_cast<size_t>(n));
  Touch(buf);
  buf.clear();
}

void NativeReadUninit(int fd, Uninit& buf) {
  ::lseek(fd, 0, SEEK_SET);
  UninitSpan dst = buf.unfilled();
  const ssize_t n = ::read(fd, dst.write_ptr(), dst.size());
  Check(n > 0);
  buf.advance(static_cast<size_t>(n));
  Touch(buf);
  buf.clear();
}

void NativePreadSpan(int fd, std::span<std::byte> storage) {
  const ssize_t n = ::pread(fd, storage.data(), storage.size(), 0);
  Check(n > 0);
  benchmark::DoNotOptimize(storage[static_cast<size_t>(n) - 1]);
}

template <size_t N>
void NativePreadvVectored(int fd, Vectored<N>& buf) {
  std::array<iovec, N> iov;
  const size_t count = buf.unfilled_iovecs(iov);
  const ssize_t n = ::preadv(fd, iov.data(), static_cast<int>(count), 0);
  Check(n > 0);
  buf.advance(static_cast<size_t>(n));
  Touch(buf);
  buf.clear();
}

// What a caller writes by hand to get owned bytes: a pool block of the
// size asked for, read into in place. The pool is looked up per call, as
// the adapters do by default.
void NativePreadPoolBlock(int fd, size_t size) {
  absl::StatusOr<PoolBlock> block = BufferPool::ForThisThread().Acquire(size);
  Check(block.ok());
  const ssize_t n = ::pread(fd, block->data(), size, 0);
  Check(n > 0);
  PoolBytes bytes(*std::move(block), static_cast<size_t>(n));
  benchmark::DoNotOptimize(bytes.data()[bytes.size() - 1]);
}

template <class Reader, ReadBuf B>
void AdapterReadBuf(Reader& reader, B& buf) {
  absl::StatusOr<size_t> n = reader.read_buf(buf);
  Check(n.ok() && *n != 0);
  Touch(buf);
  buf.clear();
}

// --- Drivers ---

template <class Op>
void Single(benchmark::State& state, Op op) {
  for (auto _ : state) op();
  Finish(state);
}

// Per-block times of the two sides of a pair, and their report.
class PairTimes {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kBlock = 16;

  // The sides of the next iteration's two blocks, in order: which goes
  // first alternates.
  std::array<bool, 2> NextOrder() {
    adapter_first_ = !adapter_first_;
    return {adapter_first_, !adapter_first_};
  }

  // Records one block of kBlock calls of a side, started at `start`.
  void Add(bool adapter, Clock::time_point start) {
    const Clock::duration block = Clock::now() - start;
    (adapter ? adapter_ : native_)
        .push_back(std::chrono::duration<double, std::nano>(block).count() / kBlock);
  }

  // Counters: the median per-call ns of each side, and adapter / native.
  void Report(benchmark::State& state) {
    const double native = Median(native_);
    const double adapter = Median(adapter_);
    state.counters["native_ns"] = native;
    state.counters["adapter_ns"] = adapter;
    state.counters["ratio"] = native > 0 ? adapter / native : 0;
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 *
                            kBlock * state.range(0));
  }

 private:
  static double Median(std::vector<double>& v) {
    if (v.empty()) return 0;
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  }

  std::vector<double> native_;
  std::vector<double> adapter_;
  bool adapter_first_ = false;
};

// Alternating blocks of native and adapter calls; the side that goes first
// alternates per iteration.
template <class Native, class Adapter>
void Paired(benchmark::State& state, Native native, Adapter adapter) {
  PairTimes times;
  for (auto _ : state) {
    for (const bool is_adapter : times.NextOrder()) {
      const PairTimes::Clock::time_point start = PairTimes::Clock::now();
      for (int i = 0; i < PairTimes::kBlock; ++i) is_adapter ? adapter() : native();
      times.Add(is_adapter, start);
    }
  }
  times.Report(state);
}

// A read_buf adapter into Uninit: alone, and paired with pread into the same
// Uninit buffer.
template <class Reader>
void SingleUninit(benchmark::State& state, Reader& reader) {
  Uninit buf(Size(state));
  Single(state, [&] { AdapterReadBuf(reader, buf); });
}

template <class Reader>
void PairedWithPreadUninit(benchmark::State& state, int fd, Reader& reader) {
  Uninit buf(Size(state));  // both sides read into the same memory
  Paired(state, [&] { NativePreadUninit(fd, buf); },
         [&] { AdapterReadBuf(reader, buf); });
}

// --- Native paths ---

void BM_Native_PreadUninit(benchmark::State& state) {
  Memfd file;
  Uninit buf(Size(state));
  Single(state, [&] { NativePreadUninit(file.fd(), buf); });
}

void BM_Native_ReadUninit(benchmark::State& state) {
  Memfd file;
  Uninit buf(Size(state));
  Single(state, [&] { NativeReadUninit(file.fd(), buf); });
}

void BM_Native_PreadSpan(benchmark::State& state) {
  Memfd file;
  std::vector<std::byte> storage(Size(state));
  Single(state, [&] { NativePreadSpan(file.fd(), storage); });
}

void BM_Native_PreadvVectored4(benchmark::State& state) {
  Memfd file;
  Vectored<4> buf(Size(state));
  Single(state, [&] { NativePreadvVectored(file.fd(), buf); });
}

void BM_Native_PreadPoolBlock(benchmark::State& state) {
  Memfd file;
  Single(state, [&] { NativePreadPoolBlock(file.fd(), Size(state)); });
}

// --- Zero-copy bridges ---

void BM_SpanToBuf_Uninit(benchmark::State& state) {
  Memfd file;
  SpanToBufReader reader(PreadSpanReader{file.fd()});
  Uninit buf(Size(state));
  Single(state, [&] { AdapterReadBuf(reader, buf); });
  state.counters["zeroed_bytes_total"] = static_cast<double>(buf.zeroed_bytes());
}

void BM_Pair_SpanToBuf_Uninit(benchmark::State& state) {
  Memfd file;
  SpanToBufReader reader(PreadSpanReader{file.fd()});
  PairedWithPreadUninit(state, file.fd(), reader);
}

void BM_AnyReader_Uninit(benchmark::State& state) {
  Memfd file;
  AnyReader reader(PreadSpanReader{file.fd()});
  SingleUninit(state, reader);
}

void BM_Pair_AnyReader_Uninit(benchmark::State& state) {
  Memfd file;
  AnyReader reader(PreadSpanReader{file.fd()});
  PairedWithPreadUninit(state, file.fd(), reader);
}

// FdReader uses read(2), so the memfd offset is rewound per read (an lseek,
// counted on both sides).
void FdReaderRead(int fd, FdReader& reader, Uninit& buf) {
  ::lseek(fd, 0, SEEK_SET);
  AdapterReadBuf(reader, buf);
}

void BM_FdReader_Uninit(benchmark::State& state) {
  Memfd file;
  FdReader reader(file.fd());
  Uninit buf(Size(state));
  Single(state, [&] { FdReaderRead(file.fd(), reader, buf); });
}

void BM_Pair_FdReader_Uninit(benchmark::State& state) {
  Memfd file;
  FdReader reader(file.fd());
  Uninit buf(Size(state));  // both sides read into the same memory
  Paired(state, [&] { NativeReadUninit(file.fd(), buf); },
         [&] { FdReaderRead(file.fd(), reader, buf); });
}

void BufToSpanRead(BufToSpanReader<PreadBufReader>& reader,
                   std::span<std::byte> storage) {
  absl::StatusOr<size_t> n = reader.read(storage);
  Check(n.ok() && *n != 0);
  benchmark::DoNotOptimize(storage[*n - 1]);
}

void BM_BufToSpan_Span(benchmark::State& state) {
  Memfd file;
  BufToSpanReader reader(PreadBufReader{file.fd()});
  std::vector<std::byte> storage(Size(state));
  Single(state, [&] { BufToSpanRead(reader, storage); });
}

void BM_Pair_BufToSpan_Span(benchmark::State& state) {
  Memfd file;
  BufToSpanReader reader(PreadBufReader{file.fd()});
  std::vector<std::byte> storage(Size(state));  // shared by both sides
  Paired(state, [&] { NativePreadSpan(file.fd(), storage); },
         [&] { BufToSpanRead(reader, storage); });
}

void BM_SpanToBuf_Vectored4(benchmark::State& state) {
  Memfd file;
  SpanToBufReader reader(PreadSpanAndReadvReader{{file.fd()}});
  Vectored<4> buf(Size(state));
  Single(state, [&] { AdapterReadBuf(reader, buf); });
}

void BM_Pair_SpanToBuf_Vectored4(benchmark::State& state) {
  Memfd file;
  SpanToBufReader reader(PreadSpanAndReadvReader{{file.fd()}});
  Vectored<4> buf(Size(state));  // both sides read into the same memory
  Paired(state, [&] { NativePreadvVectored(file.fd(), buf); },
         [&] { AdapterReadBuf(reader, buf); });
}

BufToOwnedReader<PreadBufReader> MakeBufToOwned(int fd, size_t size) {
  BufToOwnedOptions options;
  options.max_block_size = size;
  return BufToOwnedReader(PreadBufReader{fd}, options);
}

void BM_BufToOwned(benchmark::State& state) {
  Memfd file;
  BufToOwnedReader reader = MakeBufToOwned(file.fd(), Size(state));
  Single(state, [&] { TouchOwned(reader.read_owned(Size(state))); });
}

void BM_Pair_BufToOwned(benchmark::State& state) {
  Memfd file;
  BufToOwnedReader reader = MakeBufToOwned(file.fd(), Size(state));
  Paired(state, [&] { NativePreadPoolBlock(file.fd(), Size(state)); },
         [&] { TouchOwned(reader.read_owned(Size(state))); });
}

// --- Copying bridges ---

void BM_ScratchCopy(benchmark::State& state) {
  Memfd file;
  ScratchCopyReader reader(PreadSpanReader{file.fd()});
  Single(state, [&] { TouchOwned(reader.read_owned(Size(state))); });
}

void BM_Pair_ScratchCopy(benchmark::State& state) {
  Memfd file;
  ScratchCopyReader reader(PreadSpanReader{file.fd()});
  Paired(state, [&] { NativePreadPoolBlock(file.fd(), Size(state)); },
         [&] { TouchOwned(reader.read_owned(Size(state))); });
}

// On a reactor core: the native side co_awaits the reader into a pool block,
// the adapter side co_awaits read_owned (a Task: its frame is part of the
// cost).
void BM_Pair_AsyncScratchCopy(benchmark::State& state) {
  Memfd file;
  Runtime rt({.n_cores = 1});
  absl::Status s = rt.block_on([&]() -> Task<void> {
    PreadAsyncSpanReader inner{file.fd()};
    AsyncScratchCopyReader reader(PreadAsyncSpanReader{file.fd()});
    const size_t size = Size(state);
    PairTimes times;
    for (auto _ : state) {
      for (const bool is_adapter : times.NextOrder()) {
        const PairTimes::Clock::time_point start = PairTimes::Clock::now();
        for (int i = 0; i < PairTimes::kBlock; ++i) {
          if (is_adapter) {
            TouchOwned(co_await reader.read_owned(size));
          } else {
            absl::StatusOr<PoolBlock> block = BufferPool::ForThisThread().Acquire(size);
            Check(block.ok());
            absl::StatusOr<size_t> n =
                co_await inner.read(std::span<std::byte>(block->data(), size));
            Check(n.ok() && *n != 0);
            PoolBytes bytes(*std::move(block), *n);
            benchmark::DoNotOptimize(bytes.data()[bytes.size() - 1]);
          }
        }
        times.Add(is_adapter, start);
      }
    }
    times.Report(state);
  }());
  Check(s.ok());
}

void BM_OwnedToBuf_Uninit(benchmark::State& state) {
  Memfd file;
  OwnedToBufReader reader(PreadOwnedReader{file.fd()});
  SingleUninit(state, reader);
}

void BM_Pair_OwnedToBuf_Uninit(benchmark::State& state) {
  Memfd file;
  OwnedToBufReader reader(PreadOwnedReader{file.fd()});
  PairedWithPreadUninit(state, file.fd(), reader);
}

void Sizes(benchmark::internal::Benchmark* b) {
  b->Arg(4 << 10)->Arg(64 << 10)->UseRealTime();
}

BENCHMARK(BM_Native_PreadUninit)->Apply(Sizes);
BENCHMARK(BM_SpanToBuf_Uninit)->Apply(Sizes);
BENCHMARK(BM_AnyReader_Uninit)->Apply(Sizes);
BENCHMARK(BM_Native_ReadUninit)->Apply(Sizes);
BENCHMARK(BM_FdReader_Uninit)->Apply(Sizes);
BENCHMARK(BM_Native_PreadSpan)->Apply(Sizes);
BENCHMARK(BM_BufToSpan_Span)->Apply(Sizes);
BENCHMARK(BM_Native_PreadvVectored4)->Apply(Sizes);
BENCHMARK(BM_SpanToBuf_Vectored4)->Apply(Sizes);
BENCHMARK(BM_Native_PreadPoolBlock)->Apply(Sizes);
BENCHMARK(BM_BufToOwned)->Apply(Sizes);
BENCHMARK(BM_ScratchCopy)->Apply(Sizes);
BENCHMARK(BM_OwnedToBuf_Uninit)->Apply(Sizes);

BENCHMARK(BM_Pair_SpanToBuf_Uninit)->Apply(Sizes);
BENCHMARK(BM_Pair_AnyReader_Uninit)->Apply(Sizes);
BENCHMARK(BM_Pair_FdReader_Uninit)->Apply(Sizes);
BENCHMARK(BM_Pair_BufToSpan_Span)->Apply(Sizes);
BENCHMARK(BM_Pair_SpanToBuf_Vectored4)->Apply(Sizes);
BENCHMARK(BM_Pair_BufToOwned)->Apply(Sizes);
BENCHMARK(BM_Pair_ScratchCopy)->Apply(Sizes);
BENCHMARK(BM_Pair_AsyncScratchCopy)->Apply(Sizes);
BENCHMARK(BM_Pair_OwnedToBuf_Uninit)->Apply(Sizes);

}  // namespace
}  // namespace readbuf
