// -----------------------------------------------------------------------------
// File: bench/buffered_benchmark.cc
// -----------------------------------------------------------------------------
//
// read_until over pipelined 100-byte messages (99 bytes + '\n', 10,000 of
// them, ~1 MB), per buffer policy, through BufferedSyncReader
// (adapters/buffered_sync_reader.h), against a hand-written std::string
// splitter (append each read, find '\n', erase the consumed prefix before the
// next read). The source is in memory and delivers up to 16 KiB per read (a
// socket-sized read), so both sides pay the same one memcpy per byte for
// "the kernel's" copy; what differs is the buffering.
//
// Counters: items/s = messages/s; copied_per_msg = bytes the buffering moved
// (compaction, linearization; the splitter's erase) per message.
//
//   ./bazelw run //bench:buffered_benchmark       (runs with --config=opt)

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>

#include "absl/status/statusor.h"
#include "adapters/buffered_sync_reader.h"
#include "benchmark/benchmark.h"
#include "buf/buffered.h"
#include "buf/dyn.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"

namespace readbuf {
namespace {

constexpr size_t kMessages = 10000;
constexpr size_t kMessageSize = 100;
constexpr size_t kReadSize = 16 * 1024;
constexpr size_t kCapacity = 16 * 1024;

const std::string& Stream() {
  static const std::string* stream = [] {
    auto* s = new std::string;
    s->reserve(kMessages * kMessageSize);
    for (size_t i = 0; i < kMessages; ++i) {
      for (size_t j = 0; j + 1 < kMessageSize; ++j) {
        s->push_back(static_cast<char>('a' + (i + j) % 26));
      }
      s->push_back('\n');
    }
    return s;
  }();
  return *stream;
}

// An in-memory BufReader: up to kReadSize bytes per read, memcpy'd into the
// policy's free space (one segment at a time for a vectored one, like read(2)
// into unfilled()).
class MemReader {
 public:
  explicit MemReader(const std::string* data) : data_(data) {}
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    UninitSpan dst = b.unfilled();
    const size_t n = std::min({dst.size(), kReadSize, data_->size() - offset_});
    if (n != 0) std::memcpy(dst.write_ptr(), data_->data() + offset_, n);
    offset_ += n;
    b.advance(n);
    return n;
  }
  // Appends up to kReadSize bytes to `s` (the splitter's read).
  size_t read_into(std::string& s) {
    const size_t n = std::min(kReadSize, data_->size() - offset_);
    s.append(*data_, offset_, n);
    offset_ += n;
    return n;
  }

 private:
  const std::string* data_;
  size_t offset_ = 0;
};

template <class B>
B MakePolicy() {
  if constexpr (std::is_same_v<B, Pooled>) {
    Pooled::Options options;
    options.sizing = {.min = 512, .initial = kCapacity, .max = 128 * 1024};
    return Pooled(options);
  } else if constexpr (std::is_same_v<B, Dyn>) {
    return Dyn(Uninit(kCapacity));
  } else {
    return B(kCapacity);
  }
}

template <class B>
void BM_ReadUntil(benchmark::State& state) {
  const std::string& stream = Stream();
  uint64_t messages = 0;
  uint64_t copied = 0;
  for (auto _ : state) {
    MemReader source(&stream);
    BufferedSyncReader<MemReader*, B> in(&source, MakePolicy<B>());
    for (;;) {
      absl::StatusOr<BufferedMessage> m = in.read_until('\n', 8192);
      if (!m.ok() || !m->has_value()) break;
      benchmark::DoNotOptimize((*m)->data());
      in.consume((*m)->size());
      ++messages;
    }
    copied += in.stats().bytes_copied();
  }
  if (messages != kMessages * state.iterations()) state.SkipWithError("lost messages");
  state.SetItemsProcessed(static_cast<int64_t>(messages));
  state.SetBytesProcessed(static_cast<int64_t>(messages * kMessageSize));
  state.counters["copied_per_msg"] =
      static_cast<double>(copied) / static_cast<double>(std::max<uint64_t>(messages, 1));
}

using Vectored4 = Vectored<4>;
BENCHMARK_TEMPLATE(BM_ReadUntil, Zeroed);
BENCHMARK_TEMPLATE(BM_ReadUntil, Uninit);
BENCHMARK_TEMPLATE(BM_ReadUntil, Vectored4);
BENCHMARK_TEMPLATE(BM_ReadUntil, Dyn);
BENCHMARK_TEMPLATE(BM_ReadUntil, Pooled);

// The hand-written baseline.
void BM_StringSplitter(benchmark::State& state) {
  const std::string& stream = Stream();
  uint64_t messages = 0;
  uint64_t copied = 0;
  for (auto _ : state) {
    MemReader source(&stream);
    std::string buf;
    size_t start = 0;  // first unconsumed byte
    for (;;) {
      if (start != 0) {  // drop the consumed prefix (moves the tail)
        copied += buf.size() - start;
        buf.erase(0, start);
        start = 0;
      }
      if (source.read_into(buf) == 0) break;
      for (size_t pos; (pos = buf.find('\n', start)) != std::string::npos;) {
        benchmark::DoNotOptimize(buf.data() + start);
        start = pos + 1;
        ++messages;
      }
    }
  }
  if (messages != kMessages * state.iterations()) state.SkipWithError("lost messages");
  state.SetItemsProcessed(static_cast<int64_t>(messages));
  state.SetBytesProcessed(static_cast<int64_t>(messages * kMessageSize));
  state.counters["copied_per_msg"] =
      static_cast<double>(copied) / static_cast<double>(std::max<uint64_t>(messages, 1));
}
BENCHMARK(BM_StringSplitter);

}  // namespace
}  // namespace readbuf
