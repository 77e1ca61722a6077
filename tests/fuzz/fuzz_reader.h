// -----------------------------------------------------------------------------
// File: tests/fuzz/fuzz_reader.h
// -----------------------------------------------------------------------------
//
// Fuzz-driven sources for adapter fuzzing: the same shapes as
// tests/testing/fault_reader.h (FaultReader<kCaps>, FaultSyscalls), but every
// decision is read from the fuzzer's input instead of a seeded RNG, so
// libFuzzer steers chunk sizes, would-blocks, EINTR and error placement.
//
//   FuzzScript          the byte stream and, per read, one decision byte:
//                       a full read, a short read (size from the input),
//                       would-block, EINTR (syscall face; a 1-byte read
//                       elsewhere) or an error that stays (every later read
//                       fails too). Once the input is used up, reads are full,
//                       so every drain ends.
//   FuzzReader<kCaps>   a reader with exactly the io/reader_concepts.h
//                       capabilities in kCaps over a FuzzScript.
//   FuzzSyscalls        read(2)/readv(2)/poll over a FuzzScript for the
//                       syscall seam of adapters/fd_reader.h (-1 + errno:
//                       EINTR, EAGAIN, EIO).
//
// A 0-byte result is only ever EOF, at the end of the data; no byte is
// delivered twice or skipped. Readers only write into the memory they are
// given, never read it.

#ifndef READBUF_TESTS_FUZZ_FUZZ_READER_H_
#define READBUF_TESTS_FUZZ_FUZZ_READER_H_

#include <sys/types.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "buf/read_buf.h"
#include "io/io_status.h"
#include "io/reader_concepts.h"
#include "tests/fuzz/fuzz_input.h"

namespace readbuf::fuzz {

// The status every FuzzReader fails with once the script chose an error.
inline absl::Status InjectedError() {
  return absl::ErrnoToStatus(ECONNRESET, "read(fuzz)");
}

class FuzzScript {
 public:
  enum class Event { kData, kWouldBlock, kEintr, kError, kEof };

  // REQUIRES: `decisions` outlives the script. `allow_would_block` = false
  // for consumers that cannot wait (would-blocks become short reads).
  FuzzScript(std::string data, FuzzInput* decisions, bool allow_would_block = true)
      : data_(std::move(data)), in_(decisions), allow_would_block_(allow_would_block) {}

  // The next event for a request of `want` bytes; for kData, `*n` bytes
  // (>= 1 unless want == 0) are to be delivered with Take()/Scatter().
  Event Next(size_t want, bool syscall, size_t* n) {
    *n = 0;
    if (failed_) return Event::kError;
    if (want == 0) return Event::kData;
    const size_t left = data_.size() - offset_;
    switch (in_->Range(0, 7)) {
      case 4:
        if (left == 0) return Event::kEof;
        *n = in_->Range<size_t>(1, std::min(want, left));
        return Event::kData;
      case 5:
        if (allow_would_block_) return Event::kWouldBlock;
        break;
      case 6:
        if (syscall) return Event::kEintr;
        if (left == 0) return Event::kEof;
        *n = 1;
        return Event::kData;
      case 7:
        failed_ = true;
        return Event::kError;
      default:
        break;
    }
    if (left == 0) return Event::kEof;
    *n = std::min(want, left);
    return Event::kData;
  }

  // Readiness (poll): ready, not ready, or EINTR; consumes no data.
  Event Peek() {
    switch (in_->Range(0, 3)) {
      case 1:
        return allow_would_block_ ? Event::kWouldBlock : Event::kData;
      case 2:
        return Event::kEintr;
      default:
        return Event::kData;
    }
  }

  std::string_view Take(size_t n) {
    std::string_view out(data_.data() + offset_, n);
    offset_ += n;
    return out;
  }

  void Scatter(std::span<const iovec> iov, size_t n) {
    std::string_view bytes = Take(n);
    size_t done = 0;
    for (const iovec& v : iov) {
      if (done == bytes.size()) break;
      const size_t step = std::min(v.iov_len, bytes.size() - done);
      if (step != 0) std::memcpy(v.iov_base, bytes.data() + done, step);
      done += step;
    }
  }

  const std::string& data() const { return data_; }
  bool failed() const { return failed_; }

 private:
  std::string data_;
  FuzzInput* in_;
  bool allow_would_block_;
  size_t offset_ = 0;
  bool failed_ = false;
};

// FuzzReader<kCaps>
//
// Models exactly the capabilities in kCaps. Movable.
template <uint32_t kCaps>
class FuzzReader {
 public:
  explicit FuzzReader(FuzzScript* script) : script_(script) {}

  absl::StatusOr<size_t> read(std::span<std::byte> s)
    requires((kCaps & kReadSpan) != 0)
  {
    size_t n = 0;
    if (absl::Status st = NextData(s.size(), &n); !st.ok()) return st;
    std::string_view bytes = script_->Take(n);
    if (n != 0) std::memcpy(s.data(), bytes.data(), n);
    return n;
  }

  absl::StatusOr<size_t> readv(std::span<const iovec> iov)
    requires((kCaps & kReadVectored) != 0)
  {
    size_t total = 0;
    for (const iovec& v : iov) total += v.iov_len;
    size_t n = 0;
    if (absl::Status st = NextData(total, &n); !st.ok()) return st;
    script_->Scatter(iov, n);
    return n;
  }

  template <ReadBuf B>
    requires((kCaps & kReadBuf) != 0)
  absl::StatusOr<size_t> read_buf(B& b) {
    return FillBuf(b);
  }

  template <ReadBuf B>
    requires((kCaps & kReadTry) != 0)
  absl::StatusOr<size_t> try_read(B& b) {
    return FillBuf(b);
  }

  absl::StatusOr<std::optional<PoolBytes>> read_owned(size_t max)
    requires((kCaps & kReadOwned) != 0)
  {
    size_t n = 0;
    if (absl::Status st = NextData(std::max<size_t>(max, 1), &n); !st.ok()) return st;
    if (n == 0) return std::optional<PoolBytes>();
    absl::StatusOr<PoolBlock> block = BufferPool::ForThisThread().Acquire(n);
    if (!block.ok()) return block.status();
    std::string_view bytes = script_->Take(n);
    std::memcpy(block->data(), bytes.data(), n);
    return std::optional<PoolBytes>(PoolBytes(*std::move(block), n));
  }

 private:
  absl::Status NextData(size_t want, size_t* n) {
    switch (script_->Next(want, /*syscall=*/false, n)) {
      case FuzzScript::Event::kData:
        return absl::OkStatus();
      case FuzzScript::Event::kEof:
        *n = 0;
        return absl::OkStatus();
      case FuzzScript::Event::kWouldBlock:
        return WouldBlockError();
      case FuzzScript::Event::kError:
      case FuzzScript::Event::kEintr:
        break;
    }
    return InjectedError();
  }

  // Writes into b's unfilled region(s) only; never reads them.
  template <ReadBuf B>
  absl::StatusOr<size_t> FillBuf(B& b) {
    iovec iov[64];
    size_t count = 0;
    if constexpr (VectoredReadBuf<B>) {
      count = b.unfilled_iovecs(iov);
    } else {
      UninitSpan u = b.unfilled();
      if (!u.empty()) iov[count++] = u.as_iovec();
    }
    size_t total = 0;
    for (size_t i = 0; i < count; ++i) total += iov[i].iov_len;
    if (total == 0) return 0;
    size_t n = 0;
    if (absl::Status st = NextData(total, &n); !st.ok()) return st;
    script_->Scatter(std::span<const iovec>(iov, count), n);
    b.advance(n);
    return n;
  }

  FuzzScript* script_;
};

// The reader as an expression (`Adapter a(MakeFuzzReader<kReadSpan>(&s));`
// declares an object, where `Adapter a(FuzzReader<kReadSpan>(&s));` would
// declare a function).
template <uint32_t kCaps>
FuzzReader<kCaps> MakeFuzzReader(FuzzScript* script) {
  return FuzzReader<kCaps>(script);
}

// FuzzSyscalls
//
// The syscall seam of adapters/fd_reader.h over a FuzzScript; the fd is
// ignored. Errors are -1 with errno EINTR, EAGAIN or EIO.
class FuzzSyscalls {
 public:
  explicit FuzzSyscalls(FuzzScript* script, bool nonblocking)
      : script_(script), nonblocking_(nonblocking) {}

  ssize_t read(int fd, void* data, size_t size) {
    iovec iov{data, size};
    return readv(fd, &iov, 1);
  }
  ssize_t readv(int /*fd*/, const iovec* iov, int count) {
    size_t total = 0;
    for (int i = 0; i < count; ++i) total += iov[i].iov_len;
    size_t n = 0;
    switch (script_->Next(total, /*syscall=*/true, &n)) {
      case FuzzScript::Event::kData:
        script_->Scatter(std::span<const iovec>(iov, static_cast<size_t>(count)), n);
        return static_cast<ssize_t>(n);
      case FuzzScript::Event::kEof:
        return 0;
      case FuzzScript::Event::kWouldBlock:
        errno = EAGAIN;
        return -1;
      case FuzzScript::Event::kEintr:
        errno = EINTR;
        return -1;
      case FuzzScript::Event::kError:
        break;
    }
    errno = EIO;
    return -1;
  }
  int poll_readable(int /*fd*/) {
    switch (script_->Peek()) {
      case FuzzScript::Event::kEintr:
        errno = EINTR;
        return -1;
      case FuzzScript::Event::kWouldBlock:
        return 0;
      default:
        return 1;
    }
  }
  bool nonblocking(int /*fd*/) const { return nonblocking_; }

 private:
  FuzzScript* script_;
  bool nonblocking_;
};

}  // namespace readbuf::fuzz

#endif  // READBUF_TESTS_FUZZ_FUZZ_READER_H_
