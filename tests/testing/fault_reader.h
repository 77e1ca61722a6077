// -----------------------------------------------------------------------------
// File: tests/testing/fault_reader.h
// -----------------------------------------------------------------------------
//
// Fault-injecting sources for adapter tests, driven by a seeded RNG so every
// failure replays:
//
//   FaultScript          the byte stream plus the fault decisions: random short
//                        reads, would-block, EINTR (syscall face only), an
//                        error from a given offset on, EOF at the end (also in
//                        the middle of a vectored read).
//   FaultReader<kCaps>   a reader with exactly the capabilities in kCaps
//                        (io/reader_concepts.h bits: read, read_buf, readv,
//                        try_read, read_owned), over a FaultScript.
//   FaultSyscalls        the same script as read(2)/readv(2) for the syscall
//                        seam of adapters/fd_reader.h: errors are -1 + errno,
//                        including EINTR and EAGAIN.
//
// A 0-byte result is only ever EOF (legal only at the end of the data), and
// no byte is delivered twice or skipped, so a test that concatenates what it
// read and compares it with data() checks "every byte exactly once, in order".

#ifndef READBUF_TESTS_TESTING_FAULT_READER_H_
#define READBUF_TESTS_TESTING_FAULT_READER_H_

#include <sys/types.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "buf/read_buf.h"
#include "io/io_status.h"
#include "io/reader_concepts.h"

namespace readbuf::testing {

struct FaultOptions {
  uint64_t seed = 1;
  // Probability that a read returns fewer bytes than asked (uniform in
  // [1, asked]). Default: 0.5.
  double short_read_rate = 0.5;
  // Probability that a read returns WouldBlockError() (EAGAIN on the syscall
  // face) instead of data. Default: 0.
  double would_block_rate = 0.0;
  // Syscall face only: probability of -1/EINTR. Default: 0.
  double eintr_rate = 0.0;
  // From this offset on, every read fails with `error` (EIO on the syscall
  // face). Default: never.
  std::optional<size_t> error_at;
  absl::Status error = absl::ErrnoToStatus(ECONNRESET, "read(fault)");
};

// Random bytes for a test stream.
inline std::string RandomBytes(size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

class FaultScript {
 public:
  enum class Event { kData, kWouldBlock, kEintr, kError, kEof };

  FaultScript(std::string data, FaultOptions options)
      : data_(std::move(data)), options_(std::move(options)),
        rng_(options_.seed) {}

  // The next event for a request of `want` bytes; for kData, `*n` is how
  // many bytes to deliver (>= 1). `syscall` enables EINTR.
  Event Next(size_t want, bool syscall, size_t* n) {
    if (syscall && Chance(options_.eintr_rate)) return Event::kEintr;
    if (options_.error_at.has_value() && offset_ >= *options_.error_at) {
      return Event::kError;
    }
    if (want == 0) {
      *n = 0;
      return Event::kData;
    }
    if (offset_ == data_.size()) return Event::kEof;
    if (Chance(options_.would_block_rate)) return Event::kWouldBlock;
    size_t limit = std::min(want, data_.size() - offset_);
    if (options_.error_at.has_value()) {
      limit = std::min(limit, *options_.error_at - offset_);
    }
    size_t count = limit;
    if (limit > 1 && Chance(options_.short_read_rate)) {
      count = std::uniform_int_distribution<size_t>(1, limit)(rng_);
    }
    *n = count;
    return Event::kData;
  }

  // A readiness check: kEintr, kWouldBlock or kData (ready), drawn with the
  // same rates; consumes no data.
  Event Peek(size_t* n) {
    *n = 0;
    if (Chance(options_.eintr_rate)) return Event::kEintr;
    if (Chance(options_.would_block_rate)) return Event::kWouldBlock;
    return Event::kData;
  }

  // Delivers the next n bytes (after a kData event).
  std::string_view Take(size_t n) {
    std::string_view out(data_.data() + offset_, n);
    offset_ += n;
    return out;
  }

  // Scatters the next n bytes over `iov` in order.
  void Scatter(std::span<const iovec> iov, size_t n) {
    std::string_view bytes = Take(n);
    size_t done = 0;
    for (const iovec& v : iov) {
      const size_t step = std::min(v.iov_len, bytes.size() - done);
      if (step != 0) std::memcpy(v.iov_base, bytes.data() + done, step);
      done += step;
      if (done == bytes.size()) break;
    }
  }

  const std::string& data() const { return data_; }
  size_t offset() const { return offset_; }
  const FaultOptions& options() const { return options_; }
  int eintr_count() const { return eintr_count_; }
  void CountEintr() { ++eintr_count_; }

 private:
  bool Chance(double p) {
    return p > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < p;
  }

  std::string data_;
  FaultOptions options_;
  std::mt19937_64 rng_;
  size_t offset_ = 0;
  int eintr_count_ = 0;
};

// FaultReader<kCaps>
//
// Models exactly the io/reader_concepts.h capabilities in kCaps. Movable.
template <uint32_t kCaps>
class FaultReader {
 public:
  FaultReader(std::string data, FaultOptions options)
      : script_(std::move(data), std::move(options)) {}

  absl::StatusOr<size_t> read(std::span<std::byte> s)
    requires((kCaps & kReadSpan) != 0)
  {
    size_t n = 0;
    absl::Status status = NextData(s.size(), &n);
    if (!status.ok()) return status;
    std::string_view bytes = script_.Take(n);
    if (n != 0) std::memcpy(s.data(), bytes.data(), n);
    return n;
  }

  absl::StatusOr<size_t> readv(std::span<const iovec> iov)
    requires((kCaps & kReadVectored) != 0)
  {
    size_t total = 0;
    for (const iovec& v : iov) total += v.iov_len;
    size_t n = 0;
    absl::Status status = NextData(total, &n);
    if (!status.ok()) return status;
    script_.Scatter(iov, n);
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
    absl::Status status = NextData(std::max<size_t>(max, 1), &n);
    if (!status.ok()) return status;
    if (n == 0) return std::optional<PoolBytes>();
    absl::StatusOr<PoolBlock> block = BufferPool::ForThisThread().Acquire(n);
    if (!block.ok()) return block.status();
    std::string_view bytes = script_.Take(n);
    std::memcpy(block->data(), bytes.data(), n);
    return std::optional<PoolBytes>(PoolBytes(*std::move(block), n));
  }

  const FaultScript& script() const { return script_; }
  const std::string& data() const { return script_.data(); }

 private:
  // The next event as a reader sees it: *n bytes (0 = EOF) or a status.
  absl::Status NextData(size_t want, size_t* n) {
    *n = 0;
    switch (script_.Next(want, /*syscall=*/false, n)) {
      case FaultScript::Event::kData:
        return absl::OkStatus();
      case FaultScript::Event::kEof:
        *n = 0;
        return absl::OkStatus();
      case FaultScript::Event::kWouldBlock:
        return WouldBlockError();
      case FaultScript::Event::kError:
        return script_.options().error;
      case FaultScript::Event::kEintr:
        break;
    }
    return absl::InternalError("unreachable");
  }

  // Writes into b's unfilled region(s) only -- never reads them.
  template <ReadBuf B>
  absl::StatusOr<size_t> FillBuf(B& b) {
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
    if (total == 0) return 0;
    size_t n = 0;
    absl::Status status = NextData(total, &n);
    if (!status.ok()) return status;
    script_.Scatter(std::span<const iovec>(iov, count), n);
    b.advance(n);
    return n;
  }

  FaultScript script_;
};

// FaultSyscalls
//
// read(2)/readv(2) over a FaultScript, for the syscall seam of
// adapters/fd_reader.h (the fd argument is ignored). Errors are -1 with
// errno: EINTR, EAGAIN (would-block), EIO (error_at).
class FaultSyscalls {
 public:
  FaultSyscalls(std::string data, FaultOptions options)
      : script_(std::move(data), std::move(options)) {}

  ssize_t read(int /*fd*/, void* data, size_t size) {
    iovec iov{data, size};
    return readv(0, &iov, 1);
  }
  ssize_t readv(int /*fd*/, const iovec* iov, int count) {
    size_t total = 0;
    for (int i = 0; i < count; ++i) total += iov[i].iov_len;
    size_t n = 0;
    switch (script_.Next(total, /*syscall=*/true, &n)) {
      case FaultScript::Event::kData:
        script_.Scatter(std::span<const iovec>(iov, static_cast<size_t>(count)), n);
        return static_cast<ssize_t>(n);
      case FaultScript::Event::kEof:
        return 0;
      case FaultScript::Event::kWouldBlock:
        errno = EAGAIN;
        return -1;
      case FaultScript::Event::kEintr:
        script_.CountEintr();
        errno = EINTR;
        return -1;
      case FaultScript::Event::kError:
        errno = EIO;
        return -1;
    }
    return -1;
  }

  // Readiness as poll(2) would see it: not ready with would_block_rate
  // (EINTR with eintr_rate).
  int poll_readable(int /*fd*/) {
    size_t n = 0;
    switch (script_.Peek(&n)) {
      case FaultScript::Event::kEintr:
        script_.CountEintr();
        errno = EINTR;
        return -1;
      case FaultScript::Event::kWouldBlock:
        return 0;
      default:
        return 1;
    }
  }
  bool nonblocking(int /*fd*/) const { return nonblocking_; }
  void set_nonblocking(bool value) { nonblocking_ = value; }

  const FaultScript& script() const { return script_; }

 private:
  FaultScript script_;
  bool nonblocking_ = true;
};

}  // namespace readbuf::testing

#endif  // READBUF_TESTS_TESTING_FAULT_READER_H_
