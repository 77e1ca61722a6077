// Tests for adapters/asio_stream.h: an Asio socket as a readbuf reader
// (sync, try_read, deferred-allocation async read), a readbuf reader as an
// Asio stream (asio::read / asio::async_read), and the error mapping both
// ways with EOF kept as EOF.
#include "adapters/asio_stream.h"

#include <cerrno>
#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/internal/errno_status.h"
#include "asio.hpp"
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

TEST_F(AsioStreamTest, AsyncReadBufTakesPoolMemoryOnlyAfterReadiness) {
  AsioStreamReader reader(&a_);
  Pooled buf(4096);
  absl::StatusOr<size_t> result = absl::UnknownError("not called");
  bool held_while_waiting = true;
  reader.async_read_buf(buf, [&](absl::StatusOr<size_t> n) { result = n; });
  io_.poll();  // nothing to read: the wait is pending
  held_while_waiting = buf.holds_memory();
  Send("hello");
  io_.run();
  EXPECT_FALSE(held_while_waiting);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, 5u);
  EXPECT_TRUE(buf.holds_memory());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.filled().data()), 5),
            "hello");
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
