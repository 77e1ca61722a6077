// Tests for adapters/any_reader.h: the run-time capability mask, the
// documented fallbacks and Unimplemented errors, the small-buffer
// optimisation (by counting allocations), moves.
#include "adapters/any_reader.h"

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "gtest/gtest.h"
#include "io/io_status.h"
#include "io/reader_concepts.h"
#include "tests/testing/fault_reader.h"
#include "tests/testing/read_driver.h"

// Counts this thread's allocations through the global operator new.
namespace {
thread_local size_t g_allocations = 0;
}  // namespace

void* operator new(size_t size) {
  ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace readbuf {
namespace {

using ::readbuf::testing::FaultOptions;
using ::readbuf::testing::FaultReader;
using ::readbuf::testing::RandomBytes;

static_assert(SpanReader<AnyReader> && BufReader<AnyReader> &&
              VectoredReader<AnyReader> && TryReader<AnyReader> &&
              OwnedReader<AnyReader>);

FaultOptions FullReads() {
  FaultOptions options;
  options.short_read_rate = 0;
  return options;
}

struct SmallReader {
  absl::StatusOr<size_t> read(std::span<std::byte> s) {
    s[0] = std::byte{'s'};
    return 1;
  }
};
struct BigReader : SmallReader {
  std::array<char, 256> padding{};
};

TEST(AnyReaderTest, CarriesTheErasedCapabilities) {
  EXPECT_EQ(AnyReader(FaultReader<kReadSpan>("", FaultOptions())).capabilities(),
            kReadSpan);
  EXPECT_EQ(AnyReader(FaultReader<kReadSpan | kReadVectored>("", FaultOptions()))
                .capabilities(),
            kReadSpan | kReadVectored);
  EXPECT_EQ(AnyReader(FaultReader<kReadTry | kReadOwned>("", FaultOptions()))
                .capabilities(),
            kReadTry | kReadOwned);
}

TEST(AnyReaderTest, SmallReadersLiveInlineWithoutAllocating) {
  const size_t before = g_allocations;
  AnyReader reader{SmallReader()};
  EXPECT_EQ(g_allocations, before);
  EXPECT_TRUE(reader.is_inline());
  AnyReader moved = std::move(reader);
  EXPECT_EQ(g_allocations, before);
  EXPECT_TRUE(moved.is_inline());
  std::array<std::byte, 4> out;
  EXPECT_EQ(*moved.read(out), 1u);
}

TEST(AnyReaderTest, LargeReadersAllocateOnceAndMoveWithoutAllocating) {
  const size_t before = g_allocations;
  AnyReader reader{BigReader()};
  EXPECT_EQ(g_allocations, before + 1);
  EXPECT_FALSE(reader.is_inline());
  AnyReader moved = std::move(reader);
  EXPECT_EQ(g_allocations, before + 1);
  std::array<std::byte, 4> out;
  EXPECT_EQ(*moved.read(out), 1u);
}

TEST(AnyReaderTest, VectoredStaysVectoredBehindTheErasure) {
  AnyReader reader(FaultReader<kReadSpan | kReadVectored>("abcdefgh", FullReads()));
  Vectored<4> buf(8);
  EXPECT_EQ(*reader.read_buf(buf), 8u);  // one readv over all four segments
  EXPECT_EQ(buf.zeroed_bytes(), 0u);
}

TEST(AnyReaderTest, SpanOnlyReaderServesReadBufZeroingOnce) {
  const std::string data = RandomBytes(20000, 1);
  FaultOptions options;
  options.short_read_rate = 0.9;
  AnyReader reader(FaultReader<kReadSpan>(data, options));
  Uninit buf(1000);
  testing::DrainResult result = testing::DrainWithReadBuf(reader, buf);
  EXPECT_TRUE(result.bytes == data);
  EXPECT_EQ(buf.zeroed_bytes(), 1000u);
}

TEST(AnyReaderTest, SpanOnlyReaderServesReadvIntoTheFirstNonEmptyRegion) {
  AnyReader reader(FaultReader<kReadSpan>("hello", FullReads()));
  std::array<char, 3> a;
  char empty;
  const std::array<iovec, 2> iov = {iovec{&empty, 0}, iovec{a.data(), 3}};
  EXPECT_EQ(*reader.readv(iov), 3u);
  EXPECT_EQ(std::string(a.data(), 3), "hel");
}

TEST(AnyReaderTest, BufOnlyReaderServesReadAndReadv) {
  AnyReader reader(FaultReader<kReadBuf>("hello world", FullReads()));
  std::array<std::byte, 5> out;
  EXPECT_EQ(*reader.read(out), 5u);
  std::array<char, 6> rest;
  const std::array<iovec, 1> iov = {iovec{rest.data(), 6}};
  EXPECT_EQ(*reader.readv(iov), 6u);
  EXPECT_EQ(std::string(rest.data(), 6), " world");
}

TEST(AnyReaderTest, ReadvOnlyReaderServesReadAndReadBuf) {
  AnyReader reader(FaultReader<kReadVectored>("abcdef", FullReads()));
  std::array<std::byte, 2> out;
  EXPECT_EQ(*reader.read(out), 2u);
  Uninit buf(8);
  EXPECT_EQ(*reader.read_buf(buf), 4u);
  EXPECT_EQ(buf.zeroed_bytes(), 0u);
}

TEST(AnyReaderTest, MissingTryReadAndReadOwnedAreUnimplemented) {
  AnyReader reader(FaultReader<kReadSpan>("abc", FaultOptions()));
  Uninit buf(8);
  absl::Status s = reader.try_read(buf).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("try_read"), absl::string_view::npos);
  EXPECT_EQ(reader.read_owned(8).status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(AnyReaderTest, OwnedOnlyReaderRefusesCopyingFallbacks) {
  AnyReader reader(FaultReader<kReadOwned>("abc", FullReads()));
  std::array<std::byte, 4> out;
  EXPECT_EQ(reader.read(out).status().code(), absl::StatusCode::kUnimplemented);
  Uninit buf(8);
  EXPECT_EQ(reader.read_buf(buf).status().code(),
            absl::StatusCode::kUnimplemented);
  absl::StatusOr<std::optional<PoolBytes>> bytes = reader.read_owned(8);
  ASSERT_TRUE(bytes.ok() && bytes->has_value());
  EXPECT_EQ((*bytes)->size(), 3u);
}

TEST(AnyReaderTest, TryReadAndErrorsPassThrough) {
  FaultOptions options;
  options.would_block_rate = 1.0;
  AnyReader reader(FaultReader<kReadTry>("abc", options));
  Uninit buf(8);
  EXPECT_TRUE(IsWouldBlock(reader.try_read(buf).status()));
}

#ifndef NDEBUG
TEST(AnyReaderDeathTest, UsingAMovedFromReaderIsCaught) {
  AnyReader reader{SmallReader()};
  AnyReader other = std::move(reader);
  std::array<std::byte, 4> out;
  EXPECT_DEATH((void)reader.read(out), "moved-from AnyReader");  // NOLINT
}
#endif

}  // namespace
}  // namespace readbuf
