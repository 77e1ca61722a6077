// Tests for io/reader_concepts.h, io/writer_concepts.h and io/io_status.h:
// which types model which capability, and the write_all/writev_all loops
// over short writes.
#include "io/reader_concepts.h"

#include <sys/uio.h>

#include <cerrno>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/dyn.h"
#include "buf/read_buf.h"
#include "gtest/gtest.h"
#include "io/io_status.h"
#include "io/task.h"
#include "io/writer_concepts.h"

namespace readbuf {
namespace {

struct OnlySpan {
  absl::StatusOr<size_t> read(std::span<std::byte> s) { return s.size(); }
};
struct SpanAndVectored {
  absl::StatusOr<size_t> read(std::span<std::byte> s) { return s.size(); }
  absl::StatusOr<size_t> readv(std::span<const iovec>) { return 0; }
};
struct GenericBufReader {
  template <ReadBuf B>
  absl::StatusOr<size_t> read_buf(B& b) {
    return append(b, std::as_bytes(std::span("x", 1)));
  }
};
struct NonTemplateBufReader {
  absl::StatusOr<size_t> read_buf(DynRef b) { return append(b, {}); }
};
struct AsyncOnly {
  Task<absl::StatusOr<size_t>> read(std::span<std::byte> s) { co_return s.size(); }
  Task<absl::Status> ready() { co_return absl::OkStatus(); }
  absl::StatusOr<size_t> try_read(DynRef) { return WouldBlockError(); }
};

static_assert(SpanReader<OnlySpan> && !VectoredReader<OnlySpan> &&
              !BufReader<OnlySpan>);
static_assert(kReaderCapabilities<OnlySpan> == kReadSpan);
static_assert(kReaderCapabilities<SpanAndVectored> == (kReadSpan | kReadVectored));
static_assert(is_read_vectored_v<SpanAndVectored> && !is_read_vectored_v<OnlySpan>);
static_assert(BufReader<GenericBufReader> && BufReader<NonTemplateBufReader>);
static_assert(!SpanReader<AsyncOnly> && AsyncSpanReader<AsyncOnly>);
static_assert(AsyncReadyReader<AsyncOnly>);
static_assert(!AsyncSpanReader<OnlySpan>);

// A writer that takes at most `limit` bytes per call, recording everything.
struct ShortWriter {
  size_t limit = 1;
  std::string out;
  int calls = 0;
  absl::StatusOr<size_t> write(std::span<const std::byte> s) {
    ++calls;
    const size_t n = std::min(limit, s.size());
    out.append(reinterpret_cast<const char*>(s.data()), n);
    return n;
  }
};
struct ShortVectoredWriter : ShortWriter {
  absl::StatusOr<size_t> writev(std::span<const iovec> iov) {
    ++calls;
    size_t left = limit;
    size_t total = 0;
    for (const iovec& v : iov) {
      const size_t n = std::min(left, v.iov_len);
      out.append(static_cast<const char*>(v.iov_base), n);
      total += n;
      left -= n;
      if (left == 0) break;
    }
    return total;
  }
};
struct FailingWriter {
  absl::StatusOr<size_t> write(std::span<const std::byte>) {
    return absl::ErrnoToStatus(EPIPE, "write(fd=9)");
  }
};
struct StuckWriter {
  absl::StatusOr<size_t> write(std::span<const std::byte>) { return 0; }
};

static_assert(SpanWriter<ShortWriter> && !VectoredWriter<ShortWriter>);
static_assert(is_write_vectored_v<ShortVectoredWriter>);
static_assert(!is_write_vectored_v<ShortWriter>);

TEST(WriteAllTest, LoopsOverShortWrites) {
  ShortWriter w;
  w.limit = 3;
  const std::string data = "hello, world";
  ASSERT_TRUE(write_all(w, std::as_bytes(std::span(data))).ok());
  EXPECT_EQ(w.out, data);
  EXPECT_EQ(w.calls, 4);
}

TEST(WriteAllTest, ReportsTheWritersError) {
  FailingWriter w;
  const std::string data = "x";
  absl::Status s = write_all(w, std::as_bytes(std::span(data)));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);  // EPIPE
  EXPECT_NE(s.message().find("write(fd=9)"), absl::string_view::npos);
}

TEST(WriteAllTest, AZeroByteWriteIsAnErrorNotAHang) {
  StuckWriter w;
  const std::string data = "x";
  EXPECT_EQ(write_all(w, std::as_bytes(std::span(data))).code(),
            absl::StatusCode::kInternal);
}

std::vector<iovec> Iovecs(std::vector<std::string>& parts) {
  std::vector<iovec> iov;
  for (std::string& p : parts) iov.push_back({p.data(), p.size()});
  return iov;
}

TEST(WritevAllTest, VectoredWriterGetsEveryByteInOrder) {
  std::vector<std::string> parts = {"ab", "", "cde", "f", "", "ghij"};
  std::vector<iovec> iov = Iovecs(parts);
  for (size_t limit : {1u, 2u, 3u, 5u, 100u}) {
    ShortVectoredWriter w;
    w.limit = limit;
    ASSERT_TRUE(writev_all(w, iov).ok());
    EXPECT_EQ(w.out, "abcdefghij") << limit;
  }
  EXPECT_EQ(iov[0].iov_len, 2u);  // the caller's iovecs are untouched
}

TEST(WritevAllTest, ManyIovecsBeyondOneBatch) {
  std::vector<std::string> parts(200, "xy");
  std::vector<iovec> iov = Iovecs(parts);
  ShortVectoredWriter w;
  w.limit = 7;
  ASSERT_TRUE(writev_all(w, iov).ok());
  EXPECT_EQ(w.out.size(), 400u);
}

TEST(WritevAllTest, ScalarWriterFallsBackToWriteAll) {
  std::vector<std::string> parts = {"ab", "cd"};
  std::vector<iovec> iov = Iovecs(parts);
  ShortWriter w;
  w.limit = 1;
  ASSERT_TRUE(writev_all(w, iov).ok());
  EXPECT_EQ(w.out, "abcd");
}

TEST(IoStatusTest, WouldBlockIsRecognisedAndDistinct) {
  EXPECT_TRUE(IsWouldBlock(WouldBlockError()));
  EXPECT_FALSE(IsWouldBlock(absl::ErrnoToStatus(EAGAIN, "read")));
  EXPECT_FALSE(IsWouldBlock(absl::OkStatus()));
  EXPECT_FALSE(IsWouldBlock(absl::UnavailableError("would block")));
}

}  // namespace
}  // namespace readbuf
