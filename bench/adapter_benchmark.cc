// Adapter overhead against the native path, at 4 KiB and 64 KiB reads from an
// in-memory file (memfd, pread at offset 0: a real kernel copy per read with
// no second thread). Pairs to compare (ratio = adapter time / native time):
//
//   zero-copy bridges (goal: <= 1.03)
//     BM_Native_PreadUninit          vs BM_SpanToBuf_Uninit   (zeroes once, then never)
//                                    vs BM_AnyReader_Uninit   (type-erased span reader)
//                                    vs BM_FdReader_Uninit
//     BM_Native_PreadSpan            vs BM_BufToSpan_Span
//     BM_Native_PreadvVectored4      vs BM_SpanToBuf_Vectored4 (readv path)
//     BM_Native_PreadPoolBlock       vs BM_BufToOwned          (pool block, filled in place)
//   copying bridges (the measured cost of their one copy)
//     BM_Native_PreadPoolBlock       vs BM_ScratchCopy         (scratch + memcpy into a block)
//     BM_Native_PreadUninit          vs BM_OwnedToBuf_Uninit   (owned block + memcpy)
//
//   ./bazelw run --config=opt //bench:adapter_benchmark
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdlib>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "adapters/any_reader.h"
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

size_t Size(const benchmark::State& state) {
  return static_cast<size_t>(state.range(0));
}

template <ReadBuf B>
void Touch(const B& buf) {
  for_each_filled(buf, [](std::span<const std::byte> s) {
    benchmark::DoNotOptimize(s.data()[s.size() - 1]);
  });
}

void Finish(benchmark::State& state) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          state.range(0));
}

// --- Native paths ---

void BM_Native_PreadUninit(benchmark::State& state) {
  Memfd file;
  Uninit buf(Size(state));
  for (auto _ : state) {
    UninitSpan dst = buf.unfilled();
    const ssize_t n = ::pread(file.fd(), dst.write_ptr(), dst.size(), 0);
    if (n <= 0) std::abort();
    buf.advance(static_cast<size_t>(n));
    Touch(buf);
    buf.clear();
  }
  Finish(state);
}

void BM_Native_PreadSpan(benchmark::State& state) {
  Memfd file;
  std::vector<std::byte> storage(Size(state));
  for (auto _ : state) {
    const ssize_t n = ::pread(file.fd(), storage.data(), storage.size(), 0);
    if (n <= 0) std::abort();
    benchmark::DoNotOptimize(storage[static_cast<size_t>(n) - 1]);
  }
  Finish(state);
}

void BM_Native_PreadvVectored4(benchmark::State& state) {
  Memfd file;
  Vectored<4> buf(Size(state));
  for (auto _ : state) {
    std::array<iovec, 4> iov;
    const size_t count = buf.unfilled_iovecs(iov);
    const ssize_t n = ::preadv(file.fd(), iov.data(), static_cast<int>(count), 0);
    if (n <= 0) std::abort();
    buf.advance(static_cast<size_t>(n));
    Touch(buf);
    buf.clear();
  }
  Finish(state);
}

void BM_Native_PreadPoolBlock(benchmark::State& state) {
  Memfd file;
  BufferPool& pool = BufferPool::ForThisThread();
  const size_t size = Size(state);
  for (auto _ : state) {
    absl::StatusOr<PoolBlock> block = pool.Acquire(size);
    if (!block.ok()) std::abort();
    const ssize_t n = ::pread(file.fd(), block->data(), size, 0);
    if (n <= 0) std::abort();
    PoolBytes bytes(*std::move(block), static_cast<size_t>(n));
    benchmark::DoNotOptimize(bytes.data()[bytes.size() - 1]);
  }
  Finish(state);
}

// --- Zero-copy bridges ---

template <class Reader>
void ReadBufLoop(benchmark::State& state, Reader& reader, Uninit& buf) {
  for (auto _ : state) {
    absl::StatusOr<size_t> n = reader.read_buf(buf);
    if (!n.ok() || *n == 0) std::abort();
    Touch(buf);
    buf.clear();
  }
  Finish(state);
}

void BM_SpanToBuf_Uninit(benchmark::State& state) {
  Memfd file;
  SpanToBufReader reader(PreadSpanReader{file.fd()});
  Uninit buf(Size(state));
  ReadBufLoop(state, reader, buf);
  state.counters["zeroed_bytes_total"] = static_cast<double>(buf.zeroed_bytes());
}

void BM_AnyReader_Uninit(benchmark::State& state) {
  Memfd file;
  AnyReader reader(PreadSpanReader{file.fd()});
  Uninit buf(Size(state));
  ReadBufLoop(state, reader, buf);
}

// FdReader uses read(2), so the memfd offset is rewound per read (an lseek,
// counted in the time; compare with BM_Native_ReadUninit).
void BM_FdReader_Uninit(benchmark::State& state) {
  Memfd file;
  FdReader reader(file.fd());
  Uninit buf(Size(state));
  for (auto _ : state) {
    ::lseek(file.fd(), 0, SEEK_SET);
    absl::StatusOr<size_t> n = reader.read_buf(buf);
    if (!n.ok() || *n == 0) std::abort();
    Touch(buf);
    buf.clear();
  }
  Finish(state);
}

void BM_Native_ReadUninit(benchmark::State& state) {
  Memfd file;
  Uninit buf(Size(state));
  for (auto _ : state) {
    ::lseek(file.fd(), 0, SEEK_SET);
    UninitSpan dst = buf.unfilled();
    const ssize_t n = ::read(file.fd(), dst.write_ptr(), dst.size());
    if (n <= 0) std::abort();
    buf.advance(static_cast<size_t>(n));
    Touch(buf);
    buf.clear();
  }
  Finish(state);
}

void BM_BufToSpan_Span(benchmark::State& state) {
  Memfd file;
  BufToSpanReader reader(PreadBufReader{file.fd()});
  std::vector<std::byte> storage(Size(state));
  for (auto _ : state) {
    absl::StatusOr<size_t> n = reader.read(storage);
    if (!n.ok() || *n == 0) std::abort();
    benchmark::DoNotOptimize(storage[*n - 1]);
  }
  Finish(state);
}

void BM_SpanToBuf_Vectored4(benchmark::State& state) {
  Memfd file;
  SpanToBufReader reader(PreadSpanAndReadvReader{{file.fd()}});
  Vectored<4> buf(Size(state));
  for (auto _ : state) {
    absl::StatusOr<size_t> n = reader.read_buf(buf);
    if (!n.ok() || *n == 0) std::abort();
    Touch(buf);
    buf.clear();
  }
  Finish(state);
}

void BM_BufToOwned(benchmark::State& state) {
  Memfd file;
  BufToOwnedOptions options;
  options.max_block_size = Size(state);
  BufToOwnedReader reader(PreadBufReader{file.fd()}, options);
  for (auto _ : state) {
    absl::StatusOr<std::optional<PoolBytes>> bytes = reader.read_owned(Size(state));
    if (!bytes.ok() || !bytes->has_value()) std::abort();
    benchmark::DoNotOptimize((*bytes)->data()[(*bytes)->size() - 1]);
  }
  Finish(state);
}

// --- Copying bridges ---

void BM_ScratchCopy(benchmark::State& state) {
  Memfd file;
  ScratchCopyReader reader(PreadSpanReader{file.fd()});
  for (auto _ : state) {
    absl::StatusOr<std::optional<PoolBytes>> bytes = reader.read_owned(Size(state));
    if (!bytes.ok() || !bytes->has_value()) std::abort();
    benchmark::DoNotOptimize((*bytes)->data()[(*bytes)->size() - 1]);
  }
  Finish(state);
}

void BM_OwnedToBuf_Uninit(benchmark::State& state) {
  Memfd file;
  OwnedToBufReader reader(PreadOwnedReader{file.fd()});
  Uninit buf(Size(state));
  ReadBufLoop(state, reader, buf);
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

}  // namespace
}  // namespace readbuf
