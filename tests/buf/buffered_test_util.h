// -----------------------------------------------------------------------------
// File: tests/buf/buffered_test_util.h
// -----------------------------------------------------------------------------
//
// Shared by the tests of buf/buffered.h, adapters/buffered_sync_reader.h and
// io/buffered_reader.h, the buffered fuzz target and benchmark:
//
//   MakeBufferedPolicy<B>(capacity)  a policy of `capacity` bytes (Pooled:
//                                    blocks of exactly that size class, so it
//                                    behaves as fixed unless told otherwise)
//   DynVectored                      a Dyn erasing a Vectored<3>: the erased
//                                    scatter case, as its own type
//   ChunkReader<kCaps>               a synchronous reader that delivers a
//                                    byte string in reads of scripted sizes
//                                    (every split position is reachable),
//                                    optionally returning WouldBlockError()
//                                    every k-th read; exactly the reader
//                                    capabilities in kCaps
//   Str(span), Bytes(string)         conversions for comparisons

#ifndef READBUF_TESTS_BUF_BUFFERED_TEST_UTIL_H_
#define READBUF_TESTS_BUF_BUFFERED_TEST_UTIL_H_

#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/dyn.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "io/io_status.h"
#include "io/reader_concepts.h"

namespace readbuf::testing {

// A Dyn over a Vectored<3>, as a type of its own for typed tests.
class DynVectored : public Dyn {
 public:
  explicit DynVectored(size_t capacity = kDefaultReadBufCapacity)
      : Dyn(Vectored<3>(capacity)) {}
};

template <class B>
B MakeBufferedPolicy(size_t capacity) {
  if constexpr (std::is_same_v<B, Pooled>) {
    const auto c = static_cast<uint32_t>(capacity);
    Pooled::Options options;
    options.sizing.min = std::min(512u, c);
    options.sizing.initial = c;
    options.sizing.max = c;
    return Pooled(options);
  } else if constexpr (std::is_same_v<B, Dyn>) {
    return Dyn(Uninit(capacity));
  } else {
    return B(capacity);
  }
}

inline std::string Str(std::span<const std::byte> s) {
  return std::string(reinterpret_cast<const char*>(s.data()), s.size());
}

inline std::span<const std::byte> Bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// ChunkReader<kCaps>
//
// Delivers `data` in order: read i returns at most chunks[i % size] bytes
// (all that fits when `chunks` is empty), never more than offered, then EOF
// (0) forever. With would_block_every = k > 0, every k-th call returns
// WouldBlockError() instead, delivering nothing.
template <uint32_t kCaps>
class ChunkReader {
 public:
  ChunkReader(std::string data, std::vector<size_t> chunks,
              size_t would_block_every = 0)
      : data_(std::move(data)), chunks_(std::move(chunks)),
        would_block_every_(would_block_every) {}

  absl::StatusOr<size_t> read(std::span<std::byte> s)
    requires((kCaps & kReadSpan) != 0)
  {
    size_t n = 0;
    if (absl::Status st = Next(s.size(), &n); !st.ok()) return st;
    if (n != 0) std::memcpy(s.data(), data_.data() + offset_, n);
    offset_ += n;
    return n;
  }

  absl::StatusOr<size_t> readv(std::span<const iovec> iov)
    requires((kCaps & kReadVectored) != 0)
  {
    size_t total = 0;
    for (const iovec& v : iov) total += v.iov_len;
    size_t n = 0;
    if (absl::Status st = Next(total, &n); !st.ok()) return st;
    Scatter(iov, n);
    return n;
  }

  template <ReadBuf B>
    requires((kCaps & kReadBuf) != 0)
  absl::StatusOr<size_t> read_buf(B& b) {
    iovec iov[16];
    size_t count = 0;
    if constexpr (VectoredReadBuf<B>) {
      count = b.unfilled_iovecs(iov);
    } else {
      UninitSpan u = b.unfilled();
      if (!u.empty()) iov[count++] = u.as_iovec();
    }
    size_t total = 0;
    for (size_t i = 0; i < count; ++i) total += iov[i].iov_len;
    size_t n = 0;
    if (absl::Status st = Next(total, &n); !st.ok()) return st;
    Scatter(std::span<const iovec>(iov, count), n);
    b.advance(n);
    return n;
  }

  size_t calls() const { return calls_; }
  size_t offset() const { return offset_; }
  const std::string& data() const { return data_; }

 private:
  absl::Status Next(size_t space, size_t* n) {
    ++calls_;
    *n = 0;
    if (would_block_every_ != 0 && calls_ % would_block_every_ == 0) {
      return WouldBlockError();
    }
    size_t want = data_.size() - offset_;
    if (!chunks_.empty()) want = std::min(want, chunks_[reads_ % chunks_.size()]);
    ++reads_;
    *n = std::min(want, space);
    return absl::OkStatus();
  }

  void Scatter(std::span<const iovec> iov, size_t n) {
    size_t done = 0;
    for (const iovec& v : iov) {
      const size_t step = std::min(v.iov_len, n - done);
      if (step != 0) std::memcpy(v.iov_base, data_.data() + offset_ + done, step);
      done += step;
    }
    offset_ += n;
  }

  std::string data_;
  std::vector<size_t> chunks_;
  size_t would_block_every_;
  size_t offset_ = 0;
  size_t calls_ = 0;
  size_t reads_ = 0;
};

}  // namespace readbuf::testing

#endif  // READBUF_TESTS_BUF_BUFFERED_TEST_UTIL_H_
