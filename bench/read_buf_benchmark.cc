// Read throughput of each buffer policy, at 4 KiB, 64 KiB, 100 KiB and 1 MiB
// reads from an in-memory file (see MemfdSource). Two cases per policy:
//   Fresh:  a new buffer for every read (hyper's scenario: `vec![0; n]` each time)
//   Reused: one buffer, cleared between reads (steady state)
// Counters: allocs_per_read (global operator new calls per read) and
// pool_misses_per_read (Pooled only: blocks the pool had to allocate).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <vector>

#include "bench/alloc_counter.h"
#include "benchmark/benchmark.h"
#include "buf/buffer_pool.h"
#include "buf/dyn.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"

namespace readbuf {
namespace {

// A 1 MiB in-memory file (memfd) read with pread(2) at offset 0: every read
// is a real kernel-to-user copy, like a socket read, but with no second
// thread producing the data, so the time measured is the reader's alone.
// (A pipe fed by a writer thread measured the writer on this 2-core machine.)
class MemfdSource {
 public:
  static constexpr size_t kSize = 1 << 20;
  MemfdSource() {
    fd_ = ::memfd_create("read_buf_benchmark", MFD_CLOEXEC);
    if (fd_ < 0) std::abort();
    std::vector<char> data(kSize, 'x');
    if (::pwrite(fd_, data.data(), data.size(), 0) !=
        static_cast<ssize_t>(data.size())) {
      std::abort();
    }
  }
  ~MemfdSource() { ::close(fd_); }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

template <class B>
B MakeBuf(size_t size) {
  if constexpr (std::is_same_v<B, Pooled>) {
    // Start at the measured size, as a warm connection's adaptive size would.
    const auto s = static_cast<uint32_t>(size);
    Pooled::Options options;
    options.sizing = {.min = std::min(512u, s), .initial = s, .max = s};
    return Pooled(options);
  } else if constexpr (std::is_same_v<B, Dyn>) {
    return Dyn(Uninit(size));
  } else {
    return B(size);
  }
}

// One read of at most `max` bytes, as the io layer does it: prepare, then
// pread(2) or preadv(2) into the unfilled region, then advance.
template <class B>
size_t ReadOnce(int fd, B& buf, size_t max) {
  if (!read_buf_traits<B>::prepare(buf, max).ok()) std::abort();
  bool vectored = read_buf_traits<B>::kVectored;
  if constexpr (requires { buf.capabilities(); }) {
    vectored = (buf.capabilities() & kReadBufVectored) != 0;
  }
  ssize_t n = -1;
  size_t offered = 0;
  if (vectored) {
    if constexpr (VectoredReadBuf<B>) {
      iovec iov[16];
      const size_t count = buf.unfilled_iovecs(iov);
      for (size_t i = 0; i < count; ++i) offered += iov[i].iov_len;
      n = ::preadv(fd, iov, static_cast<int>(count), 0);
    }
  } else {
    UninitSpan dst = buf.unfilled();
    offered = std::min(dst.size(), max);
    n = ::pread(fd, dst.write_ptr(), offered, 0);
  }
  if (n <= 0) std::abort();
  buf.advance(static_cast<size_t>(n));
  read_buf_traits<B>::record_read(buf, static_cast<size_t>(n), offered);
  return static_cast<size_t>(n);
}

template <class B, bool kFresh>
void BM_Read(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  MemfdSource source;
  std::optional<B> reused;
  if (!kFresh) reused.emplace(MakeBuf<B>(size));
  BufferPool& pool = BufferPool::ForThisThread();
  const uint64_t allocs_before = bench::AllocationCount();
  const uint64_t misses_before = pool.Stats().misses;
  uint64_t bytes = 0;
  for (auto _ : state) {
    std::optional<B> fresh;
    B& buf = kFresh ? fresh.emplace(MakeBuf<B>(size)) : *reused;
    bytes += ReadOnce(source.fd(), buf, size);
    for_each_filled(buf, [](std::span<const std::byte> s) {
      benchmark::DoNotOptimize(s.data()[s.size() - 1]);
    });
    buf.clear();
    read_buf_traits<B>::release_idle(buf);
  }
  const double reads = static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["allocs_per_read"] =
      static_cast<double>(bench::AllocationCount() - allocs_before) / reads;
  state.counters["pool_misses_per_read"] =
      static_cast<double>(pool.Stats().misses - misses_before) / reads;
}

void Sizes(benchmark::internal::Benchmark* b) {
  for (int64_t size : {4 << 10, 64 << 10, 100 << 10, 1 << 20}) b->Arg(size);
  b->UseRealTime();
}

#define READBUF_READ_BENCHMARKS(Policy)                              \
  BENCHMARK_TEMPLATE(BM_Read, Policy, true)->Name("BM_Read/" #Policy "/Fresh")->Apply(Sizes); \
  BENCHMARK_TEMPLATE(BM_Read, Policy, false)->Name("BM_Read/" #Policy "/Reused")->Apply(Sizes)

READBUF_READ_BENCHMARKS(Zeroed);
READBUF_READ_BENCHMARKS(Uninit);
READBUF_READ_BENCHMARKS(Vectored<4>);
READBUF_READ_BENCHMARKS(Dyn);
READBUF_READ_BENCHMARKS(Pooled);

}  // namespace
}  // namespace readbuf
