// -----------------------------------------------------------------------------
// File: tests/testing/fault_writer.h
// -----------------------------------------------------------------------------
//
// FaultWriteSyscalls: the system-call seam of adapters/fd_writer.h
// (BasicFdWriter<Sys>) over an in-memory sink, driven by a seeded RNG so
// every failure replays: random short writes, EINTR, EAGAIN (then the fd is
// "writable" after a wait_writable call), and EPIPE from a given offset on.
// The sink gets exactly the bytes each call reports as taken, so a test that
// compares the sink with what it meant to write checks "every byte exactly
// once, in order". The counters show what the writer did (waits, signals).

#ifndef READBUF_TESTS_TESTING_FAULT_WRITER_H_
#define READBUF_TESTS_TESTING_FAULT_WRITER_H_

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>

namespace readbuf::testing {

struct FaultWriteOptions {
  uint64_t seed = 1;
  // Probability that a call takes fewer bytes than offered (uniform in
  // [1, offered]). Default: 0.5.
  double short_write_rate = 0.5;
  // Probability of -1/EINTR. Default: 0.
  double eintr_rate = 0.0;
  // Probability of -1/EAGAIN (until the next wait_writable). Default: 0.
  double eagain_rate = 0.0;
  // From this many bytes written on, every call fails with EPIPE.
  std::optional<size_t> epipe_at;
  // What nonblocking() and is_socket() answer.
  bool nonblocking = false;
  bool socket = false;
};

// Shared state of one fake fd: the seam is copied into the writer, the test
// keeps a pointer to this.
struct FaultWriteState {
  std::string sink;
  size_t calls = 0;                // write/writev/send/sendmsg
  size_t socket_calls = 0;         // send/sendmsg, with MSG_NOSIGNAL
  size_t flagless_socket_calls = 0;  // send/sendmsg without MSG_NOSIGNAL
  size_t waits = 0;
  size_t sigpipe_ignores = 0;
  bool blocked = false;            // EAGAIN until the next wait
};

class FaultWriteSyscalls {
 public:
  FaultWriteSyscalls(FaultWriteState* state, FaultWriteOptions options)
      : state_(state), options_(options), rng_(options.seed) {}

  ssize_t write(int, const void* data, size_t size) {
    const iovec one{const_cast<void*>(data), size};
    return Take(&one, 1);
  }
  ssize_t writev(int, const iovec* iov, int count) {
    return Take(iov, static_cast<size_t>(count));
  }
  ssize_t send(int, const void* data, size_t size, int flags) {
    CountSocketCall(flags);
    return write(0, data, size);
  }
  ssize_t sendmsg(int, const msghdr* message, int flags) {
    CountSocketCall(flags);
    return Take(message->msg_iov, message->msg_iovlen);
  }
  int wait_writable(int) {
    ++state_->waits;
    state_->blocked = false;
    return 0;
  }
  bool nonblocking(int) { return options_.nonblocking; }
  bool is_socket(int) { return options_.socket; }
  void ignore_sigpipe() { ++state_->sigpipe_ignores; }

 private:
  void CountSocketCall(int flags) {
    ++state_->socket_calls;
    if ((flags & MSG_NOSIGNAL) == 0) ++state_->flagless_socket_calls;
  }

  bool Chance(double rate) {
    return rate > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < rate;
  }

  ssize_t Take(const iovec* iov, size_t count) {
    ++state_->calls;
    if (Chance(options_.eintr_rate)) return Fail(EINTR);
    if (state_->blocked || Chance(options_.eagain_rate)) {
      state_->blocked = true;
      return Fail(EAGAIN);
    }
    if (options_.epipe_at.has_value() && state_->sink.size() >= *options_.epipe_at) {
      return Fail(EPIPE);
    }
    size_t offered = 0;
    for (size_t i = 0; i < count; ++i) offered += iov[i].iov_len;
    size_t take = offered;
    if (take > 1 && Chance(options_.short_write_rate)) {
      take = std::uniform_int_distribution<size_t>(1, take - 1)(rng_);
    }
    if (options_.epipe_at.has_value()) {
      take = std::min(take, *options_.epipe_at - state_->sink.size());
    }
    size_t left = take;
    for (size_t i = 0; i < count && left != 0; ++i) {
      const size_t step = std::min(left, iov[i].iov_len);
      state_->sink.append(static_cast<const char*>(iov[i].iov_base), step);
      left -= step;
    }
    return static_cast<ssize_t>(take);
  }

  static ssize_t Fail(int error_number) {
    errno = error_number;
    return -1;
  }

  FaultWriteState* state_;
  FaultWriteOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace readbuf::testing

#endif  // READBUF_TESTS_TESTING_FAULT_WRITER_H_
