// Tests for adapters/asio_stream.h: an Asio socket as a readbuf reader
// (sync, try_read, deferred-allocation async read), a readbuf reader as an
// Asio stream (asio::read / asio::async_read), and the error mapping both
// ways with EOF kept as EOF. async_read_buf is driven with every kind of
// completion token (callback, use_awaitable under co_spawn, deferred,
// use_future, as_tuple), cancelled through a cancellation slot (terminal,
// partial, total; while waiting and after the wait but before the read), and
// completed on the handler's associated executor. A counting socket and a
// counting descriptor fail the test if a read switches the blocking mode
// (ioctl(FIONBIO)) per call.
// GCC 12 with ASan instrumentation reports a false "maybe-uninitialized"
// inside Asio's own use_future machinery (asio/impl/use_future.hpp, the
// promise_handler constructor) once it is inlined here; -Werror would turn
// it into an error. (Same GCC weakness as the TSan note in .bazelrc.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "adapters/asio_stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <exception>
#include <future>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/internal/errno_status.h"
#include "asio.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/experimental/deferred.hpp"
#include "buf/pooled.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "gtest/gtest.h"
#include "io/io_status.h"
#include "io/reader_concepts.h"
#include "tests/testing/fault_reader.h"

namespace readbuf {
namespace {

using Socket = asio::local::stream_protocol::socket;
using ::readbuf::testing::FaultOptions;
using ::readbuf::testing::FaultReader;
using ::readbuf::testing::RandomBytes;

static_assert(SpanReader<AsioStreamReader<Socket*>> &&
              BufReader<AsioStreamReader<Socket*>> &&
              VectoredReader<AsioStreamReader<Socket*>> &&
              TryReader<AsioStreamReader<Socket*>>);

class AsioStreamTest : public ::testing::Test {
 protected:
  AsioStreamTest() : a_(io_), b_(io_) { asio::local::connect_pair(a_, b_); }
  void Send(const std::string& s) { asio::write(b_, asio::buffer(s)); }

  asio::io_context io_;
  Socket a_;
  Socket b_;
};

TEST_F(AsioStreamTest, ReadBufFillsAVectoredBufferInOneReadSome) {
  Send("0123456789");
  AsioStreamReader reader(&a_);
  Vectored<3> buf({3, 3, 100});
  EXPECT_EQ(*reader.read_buf(buf), 10u);
  EXPECT_EQ(buf.zeroed_bytes(), 0u);
}

TEST_F(AsioStreamTest, EofStaysEof) {
  Send("ab");
  b_.close();
  AsioStreamReader reader(&a_);
  Uninit buf(16);
  EXPECT_EQ(*reader.read_buf(buf), 2u);
  EXPECT_EQ(*reader.read_buf(buf), 0u);
}

TEST_F(AsioStreamTest, TryReadGivesWouldBlockAndRestoresBlockingMode) {
  AsioStreamReader reader(&a_);
  Uninit buf(16);
  EXPECT_TRUE(IsWouldBlock(reader.try_read(buf).status()));
  EXPECT_FALSE(a_.non_blocking());
  Send("x");
  EXPECT_EQ(*reader.try_read(buf), 1u);
}

std::string FilledText(const Pooled& buf) {
  return std::string(reinterpret_cast<const char*>(buf.filled().data()),
                     buf.filled_size());
}

TEST_F(AsioStreamTest, AsyncReadBufTakesPoolMemoryOnlyAfterReadiness) {
  AsioStreamReader reader(&a_);
  Pooled buf(4096);
  std::optional<asio::error_code> result;
  size_t bytes = 0;
  reader.async_read_buf(buf, [&](asio::error_code ec, size_t n) {
    result = ec;
    bytes = n;
  });
  EXPECT_FALSE(result.has_value());  // never completes inside the call
  io_.poll();                         // nothing to read: the wait is pending
  const bool held_while_waiting = buf.holds_memory();
  Send("hello");
  io_.run();
  EXPECT_FALSE(held_while_waiting);
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(*result) << result->message();
  EXPECT_EQ(bytes, 5u);
  EXPECT_TRUE(buf.holds_memory());
  EXPECT_EQ(FilledText(buf), "hello");
}

TEST_F(AsioStreamTest, AsyncReadBufGivesAsioEofAtEndOfStream) {
  AsioStreamReader reader(&a_);
  Uninit buf(16);
  b_.close();
  asio::error_code result;
  size_t bytes = 99;
  reader.async_read_buf(buf, [&](asio::error_code ec, size_t n) {
    result = ec;
    bytes = n;
  });
  io_.run();
  EXPECT_EQ(result, asio::error::eof);
  EXPECT_EQ(bytes, 0u);
}

// read_buf's 0 means EOF only; a full buffer is an error of its own.
TEST_F(AsioStreamTest, FullBufferIsFailedPreconditionNotEof) {
  AsioStreamReader reader(&a_);
  Uninit buf(4);
  Send("abcdefgh");
  ASSERT_EQ(*reader.read_buf(buf), 4u);
  absl::StatusOr<size_t> full = reader.read_buf(buf);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(full.status().message().find("no free space"), std::string::npos)
      << full.status();
  EXPECT_EQ(reader.try_read(buf).status().code(),
            absl::StatusCode::kFailedPrecondition);
  Vectored<2> vectored({2, 2});
  ASSERT_EQ(*reader.read_buf(vectored), 4u);  // both segments, one read
  EXPECT_EQ(reader.read_buf(vectored).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // With room again, a real EOF is still 0 and OK.
  b_.close();
  buf.clear();
  EXPECT_EQ(*reader.read_buf(buf), 0u);
  EXPECT_EQ(*reader.try_read(buf), 0u);
}

TEST_F(AsioStreamTest, AsyncReadBufOnAFullBufferFailsWithoutWaiting) {
  AsioStreamReader reader(&a_);
  Uninit buf(4);
  Send("abcd");
  ASSERT_EQ(*reader.read_buf(buf), 4u);
  std::optional<asio::error_code> result;
  reader.async_read_buf(buf, [&](asio::error_code ec, size_t) { result = ec; });
  EXPECT_FALSE(result.has_value());  // posted, not called inline
  io_.run();                          // the peer sends nothing: no wait happened
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, asio::error::no_buffer_space);
}

TEST_F(AsioStreamTest, UseAwaitableUnderCoSpawn) {
  AsioStreamReader reader(&a_);
  Pooled buf(4096);
  size_t first = 0;
  asio::error_code second_ec;
  asio::error_code thrown;
  std::exception_ptr failure;
  bool done = false;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        first = co_await reader.async_read_buf(buf, asio::use_awaitable);
        buf.clear();
        auto [ec, n] = co_await reader.async_read_buf(
            buf, asio::experimental::as_tuple(asio::use_awaitable));
        second_ec = ec;
        EXPECT_EQ(n, 0u);
        try {
          co_await reader.async_read_buf(buf, asio::use_awaitable);
        } catch (const std::system_error& e) {
          thrown = e.code();
        }
      },
      [&](std::exception_ptr e) {
        failure = e;
        done = true;
      });
  io_.poll();
  Send("abc");
  b_.close();
  io_.run();
  ASSERT_TRUE(done);
  EXPECT_FALSE(failure);
  EXPECT_EQ(first, 3u);
  EXPECT_EQ(second_ec, asio::error::eof);
  EXPECT_EQ(thrown, asio::error::eof);  // use_awaitable throws, as for Asio's own
}

TEST_F(AsioStreamTest, DeferredStartsWhenInvoked) {
  AsioStreamReader reader(&a_);
  Pooled buf(4096);
  auto op = reader.async_read_buf(buf, asio::experimental::deferred);
  Send("xyz");
  io_.poll();
  EXPECT_FALSE(buf.holds_memory());  // not started: no wait, no read
  asio::error_code result = asio::error::would_block;
  size_t bytes = 0;
  std::move(op)([&](asio::error_code ec, size_t n) {
    result = ec;
    bytes = n;
  });
  io_.restart();
  io_.run();
  EXPECT_FALSE(result) << result.message();
  EXPECT_EQ(bytes, 3u);
  EXPECT_EQ(FilledText(buf), "xyz");
}

TEST_F(AsioStreamTest, UseFutureGivesTheCountOrThrows) {
  AsioStreamReader reader(&a_);
  Uninit buf(64);
  std::future<size_t> f = reader.async_read_buf(buf, asio::use_future);
  Send("four");
  io_.run();
  EXPECT_EQ(f.get(), 4u);
  b_.close();
  std::future<size_t> eof = reader.async_read_buf(buf, asio::use_future);
  io_.restart();
  io_.run();
  try {
    eof.get();
    ADD_FAILURE() << "no exception at EOF";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), asio::error::eof);
  }
}

TEST_F(AsioStreamTest, CancellationSlotCancelsThePendingWait) {
  AsioStreamReader reader(&a_);
  for (asio::cancellation_type type :
       {asio::cancellation_type::terminal, asio::cancellation_type::partial,
        asio::cancellation_type::total}) {
    SCOPED_TRACE(static_cast<int>(type));
    asio::cancellation_signal signal;
    Pooled buf(4096);
    int calls = 0;
    asio::error_code result;
    size_t bytes = 99;
    reader.async_read_buf(
        buf, asio::bind_cancellation_slot(
                 signal.slot(), [&](asio::error_code ec, size_t n) {
                   ++calls;
                   result = ec;
                   bytes = n;
                 }));
    io_.restart();
    io_.poll();
    EXPECT_EQ(calls, 0);
    signal.emit(type);
    io_.restart();
    io_.poll();
    ASSERT_EQ(calls, 1);
    EXPECT_EQ(result, asio::error::operation_aborted);
    EXPECT_EQ(bytes, 0u);
    EXPECT_FALSE(buf.holds_memory());  // never prepared
    // Nothing of the operation runs afterwards: data that arrives now stays
    // in the socket for the next read.
    Send("late");
    io_.restart();
    io_.poll();
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(buf.holds_memory());
    Uninit check(16);
    EXPECT_EQ(*reader.read_buf(check), 4u);
  }
}

TEST_F(AsioStreamTest, CancellationAfterTheWaitBeforeTheReadReadsNothing) {
  AsioStreamReader reader(&a_);
  asio::io_context other;  // the handler's executor
  asio::cancellation_signal signal;
  Pooled buf(4096);
  std::optional<asio::error_code> result;
  Send("data");
  reader.async_read_buf(
      buf, asio::bind_cancellation_slot(
               signal.slot(),
               asio::bind_executor(other, [&](asio::error_code ec, size_t) {
                 result = ec;
               })));
  io_.poll();  // the wait completes; the rest is queued on `other`
  EXPECT_FALSE(result.has_value());
  signal.emit(asio::cancellation_type::terminal);
  other.run();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, asio::error::operation_aborted);
  EXPECT_FALSE(buf.holds_memory());
  Uninit check(16);
  EXPECT_EQ(*reader.read_buf(check), 4u);  // the bytes were not read
}

TEST_F(AsioStreamTest, CoSpawnCancellationReachesTheRead) {
  AsioStreamReader reader(&a_);
  Pooled buf(4096);
  asio::cancellation_signal signal;
  asio::error_code seen;
  bool done = false;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        auto [ec, n] = co_await reader.async_read_buf(
            buf, asio::experimental::as_tuple(asio::use_awaitable));
        seen = ec;
      },
      asio::bind_cancellation_slot(signal.slot(),
                                   [&](std::exception_ptr) { done = true; }));
  io_.poll();
  signal.emit(asio::cancellation_type::terminal);
  io_.restart();
  io_.run();
  EXPECT_TRUE(done);
  EXPECT_EQ(seen, asio::error::operation_aborted);
  EXPECT_FALSE(buf.holds_memory());
}

TEST_F(AsioStreamTest, CompletionRunsOnTheHandlersExecutor) {
  AsioStreamReader reader(&a_);
  asio::io_context other;
  Uninit buf(64);
  bool called = false;
  bool on_other = false;
  Send("abc");
  reader.async_read_buf(
      buf, asio::bind_executor(other, [&](asio::error_code ec, size_t n) {
        called = true;
        on_other = other.get_executor().running_in_this_thread();
        EXPECT_FALSE(ec);
        EXPECT_EQ(n, 3u);
      }));
  io_.poll();  // the wait completes on io_; the read and completion are other's
  EXPECT_FALSE(called);
  EXPECT_EQ(buf.filled_size(), 0u);
  other.run();
  EXPECT_TRUE(called);
  EXPECT_TRUE(on_other);
  EXPECT_EQ(buf.filled_size(), 3u);

  // A strand of the same context.
  auto strand = asio::make_strand(io_);
  bool in_strand = false;
  Send("de");
  reader.async_read_buf(buf, asio::bind_executor(strand, [&](asio::error_code, size_t) {
                          in_strand = strand.running_in_this_thread();
                        }));
  io_.restart();
  io_.run();
  EXPECT_TRUE(in_strand);
}

// A socket that counts every request to change its blocking mode. It hides
// basic_socket's setters, and the adapter calls them through its StreamType
// (this class), so a read that toggles the mode shows up in the count.
class CountingSocket : public Socket {
 public:
  using Socket::Socket;
  bool non_blocking() const { return Socket::non_blocking(); }
  void non_blocking(bool mode) {
    ++mode_switches;
    Socket::non_blocking(mode);
  }
  void non_blocking(bool mode, asio::error_code& ec) {
    ++mode_switches;
    Socket::non_blocking(mode, ec);
  }
  bool native_non_blocking() const { return Socket::native_non_blocking(); }
  void native_non_blocking(bool mode) {
    ++mode_switches;
    Socket::native_non_blocking(mode);
  }
  void native_non_blocking(bool mode, asio::error_code& ec) {
    ++mode_switches;
    Socket::native_non_blocking(mode, ec);
  }
  int mode_switches = 0;
};

bool FdIsNonBlocking(int fd) { return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

TEST(AsioStreamModeTest, SocketReadsNeverSwitchTheBlockingMode) {
  asio::io_context io;
  CountingSocket a(io);
  Socket b(io);
  asio::local::connect_pair(a, b);
  AsioStreamReader reader(&a);
  Uninit buf(64);
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(IsWouldBlock(reader.try_read(buf).status()));
    asio::write(b, asio::buffer("x", 1));
    EXPECT_EQ(*reader.try_read(buf), 1u);
    buf.clear();
  }
  EXPECT_EQ(a.mode_switches, 0);  // recvmsg(MSG_DONTWAIT): no ioctl(FIONBIO)
  EXPECT_FALSE(FdIsNonBlocking(a.native_handle()));  // still a blocking socket
  for (int i = 0; i < 20; ++i) {
    size_t got = 0;
    reader.async_read_buf(buf, [&](asio::error_code ec, size_t n) {
      EXPECT_FALSE(ec);
      got = n;
    });
    io.restart();
    io.poll();
    asio::write(b, asio::buffer("yz", 2));
    io.restart();
    io.run();
    EXPECT_EQ(got, 2u);
    buf.clear();
  }
  // Asio's own first async_wait sets its internal non-blocking flag (one
  // ioctl per socket, as for any Asio async operation); the reads added none
  // and left the user's mode alone.
  EXPECT_EQ(a.mode_switches, 0);
  EXPECT_FALSE(a.non_blocking());
}

class CountingDescriptor : public asio::posix::stream_descriptor {
 public:
  using Base = asio::posix::stream_descriptor;
  using Base::Base;
  bool non_blocking() const { return Base::non_blocking(); }
  void non_blocking(bool mode) {
    ++mode_switches;
    Base::non_blocking(mode);
  }
  void non_blocking(bool mode, asio::error_code& ec) {
    ++mode_switches;
    Base::non_blocking(mode, ec);
  }
  bool native_non_blocking() const { return Base::native_non_blocking(); }
  void native_non_blocking(bool mode) {
    ++mode_switches;
    Base::native_non_blocking(mode);
  }
  void native_non_blocking(bool mode, asio::error_code& ec) {
    ++mode_switches;
    Base::native_non_blocking(mode, ec);
  }
  int mode_switches = 0;
};

TEST(AsioStreamModeTest, DescriptorIsMadeNonBlockingOnceAndSyncReadsStillBlock) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  asio::io_context io;
  CountingDescriptor in(io, fds[0]);
  AsioStreamReader reader(&in);
  Uninit buf(64);
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(IsWouldBlock(reader.try_read(buf).status()));
    ASSERT_EQ(::write(fds[1], "x", 1), 1);
    EXPECT_EQ(*reader.try_read(buf), 1u);
    buf.clear();
  }
  for (int i = 0; i < 20; ++i) {
    size_t got = 0;
    reader.async_read_buf(buf, [&](asio::error_code ec, size_t n) {
      EXPECT_FALSE(ec);
      got = n;
    });
    io.restart();
    io.poll();
    ASSERT_EQ(::write(fds[1], "yz", 2), 2);
    io.restart();
    io.run();
    EXPECT_EQ(got, 2u);
    buf.clear();
  }
  EXPECT_EQ(in.mode_switches, 1);  // once, on the first try_read
  EXPECT_TRUE(FdIsNonBlocking(fds[0]));
  EXPECT_FALSE(in.non_blocking());  // the user's mode: still "blocking"
  // ... so a synchronous read still waits for data instead of would-block.
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(::write(fds[1], "late", 4), 4);
  });
  absl::StatusOr<size_t> n = reader.read_buf(buf);
  writer.join();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 4u);
  ::close(fds[1]);
  buf.clear();
  EXPECT_EQ(*reader.read_buf(buf), 0u);  // EOF
}

TEST(AsioReadStreamTest, AsioReadDrainsAFaultyReader) {
  asio::io_context io;
  const std::string data = RandomBytes(20000, 1);
  AsioReadStream stream(io.get_executor(),
                        FaultReader<kReadSpan>(data, FaultOptions()));
  std::string out(data.size(), '\0');
  asio::error_code ec;
  EXPECT_EQ(asio::read(stream, asio::buffer(out), ec), data.size());
  EXPECT_FALSE(ec);
  EXPECT_TRUE(out == data);
}

TEST(AsioReadStreamTest, AsyncReadToEofGivesEofAndAllTheBytes) {
  asio::io_context io;
  const std::string data = RandomBytes(30000, 2);
  AsioReadStream stream(
      io.get_executor(),
      FaultReader<kReadSpan | kReadVectored>(data, FaultOptions()));
  std::string out;
  asio::error_code result;
  asio::async_read(stream, asio::dynamic_buffer(out),
                   [&](asio::error_code ec, size_t) { result = ec; });
  io.run();
  EXPECT_EQ(result, asio::error::eof);  // EOF stays EOF
  EXPECT_TRUE(out == data);
}

TEST(AsioReadStreamTest, ReaderErrorsArriveAsTheirErrno) {
  asio::io_context io;
  FaultOptions options;
  options.error_at = 100;
  options.error = adapters_internal::ErrnoError(ECONNRESET, "read(fd=4)");
  AsioReadStream stream(io.get_executor(),
                        FaultReader<kReadBuf>(RandomBytes(1000, 3), options));
  std::vector<char> out(1000);
  asio::error_code ec;
  EXPECT_EQ(asio::read(stream, asio::buffer(out), ec), 100u);
  EXPECT_EQ(ec, asio::error_code(ECONNRESET, asio::system_category()));
}

TEST(AsioErrorMappingTest, RoundTripsKeepMeaning) {
  const asio::error_code reset(ECONNRESET, asio::system_category());
  const absl::Status s = StatusFromAsioError(reset, "read_some");
  EXPECT_EQ(s.code(), absl::ErrnoToStatusCode(ECONNRESET));
  EXPECT_EQ(AsioErrorFromStatus(s), reset);
  EXPECT_TRUE(IsWouldBlock(StatusFromAsioError(asio::error::would_block, "x")));
  EXPECT_EQ(AsioErrorFromStatus(WouldBlockError()), asio::error::would_block);
  EXPECT_EQ(StatusFromAsioError(asio::error::operation_aborted, "x").code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(AsioErrorFromStatus(absl::CancelledError("x")),
            asio::error::operation_aborted);
  EXPECT_TRUE(StatusFromAsioError(asio::error_code(), "x").ok());
  EXPECT_FALSE(AsioErrorFromStatus(absl::OkStatus()));
  // A plain ErrnoToStatus (no payload) maps back by its code.
  EXPECT_EQ(AsioErrorFromStatus(absl::ErrnoToStatus(ETIMEDOUT, "x")),
            asio::error_code(ETIMEDOUT, asio::system_category()));
}

}  // namespace
}  // namespace readbuf
