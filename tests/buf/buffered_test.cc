// Tests for buf/buffered.h, the I/O-free core of the buffered readers: the
// unconsumed view, find across segments, compaction and growth (and their
// copy counts), take() without a copy under Pooled, limits and their error
// messages, EOF handling, the Pooled hooks behind growth (reserve,
// take_filled) and their read_buf_traits defaults, and the adaptive-shrink
// regression, on every policy.
#include "buf/buffered.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "buf/buffer_pool.h"
#include "buf/dyn.h"
#include "buf/pool_bytes.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/buf/buffered_test_util.h"

namespace readbuf {
namespace {

using ::readbuf::testing::Bytes;
using ::readbuf::testing::DynVectored;
using ::readbuf::testing::MakeBufferedPolicy;
using ::readbuf::testing::Str;
using ::testing::HasSubstr;

// One simulated read of (at most) `data`, as a reader does it: room, then
// prepare, then write into the unfilled space, then record. Returns the
// bytes taken.
template <class B>
size_t Deliver(Buffered<B>& in, const std::string& data, size_t need = 0) {
  EXPECT_TRUE(in.make_room(need == 0 ? in.buffered_size() + 1 : need, "test").ok());
  EXPECT_TRUE(read_buf_traits<B>::prepare(in.policy(), 0).ok());
  const size_t n = append(in.policy(), Bytes(data));
  in.record_fill(n);
  return n;
}

// All unconsumed bytes, through copy_to().
template <class B>
std::string Held(const Buffered<B>& in) {
  std::string out(in.buffered_size(), '\0');
  in.copy_to(std::as_writable_bytes(std::span(out.data(), out.size())));
  return out;
}

template <class B>
class BufferedTest : public ::testing::Test {};

using Policies = ::testing::Types<Zeroed, Uninit, Vectored<4>, Dyn, DynVectored, Pooled>;
TYPED_TEST_SUITE(BufferedTest, Policies);

TYPED_TEST(BufferedTest, ViewsConsumesAndFinds) {
  Buffered<TypeParam> in(MakeBufferedPolicy<TypeParam>(64));
  EXPECT_TRUE(in.empty());
  EXPECT_TRUE(in.buffer().empty());
  EXPECT_EQ(Deliver(in, "hello\nworld\r\n"), 13u);
  EXPECT_EQ(in.buffered_size(), 13u);
  EXPECT_EQ(in.find("\n"), 5u);
  EXPECT_EQ(in.find("\r\n"), 11u);
  EXPECT_EQ(in.find("\n", 6), 12u);
  EXPECT_EQ(in.find("\n", 0, 5), Buffered<TypeParam>::npos);
  EXPECT_EQ(in.find("x"), Buffered<TypeParam>::npos);
  EXPECT_EQ(Str(in.peek(6)), "hello\n");
  const std::span<const std::byte> message = in.peek(6);
  in.consume(6);
  EXPECT_EQ(Str(message), "hello\n");  // consume() moves nothing
  EXPECT_EQ(Held(in), "world\r\n");
  EXPECT_FALSE(in.buffer().empty());
  EXPECT_EQ(Str(in.buffer()), std::string("world\r\n").substr(0, in.buffer().size()));
  EXPECT_EQ(in.stats().bytes_consumed, 6u);
}

TYPED_TEST(BufferedTest, NothingUnconsumedStartsOverWithoutCopying) {
  Buffered<TypeParam> in(MakeBufferedPolicy<TypeParam>(64));
  for (int i = 0; i < 20; ++i) {
    Deliver(in, "0123456789abcdefghijklmnopq\n");
    in.consume(in.buffered_size());
  }
  EXPECT_EQ(in.stats().bytes_copied(), 0u);
  EXPECT_EQ(in.stats().compactions, 0u);
}

TYPED_TEST(BufferedTest, CompactionMovesOnlyTheTailAndCountsIt) {
  Buffered<TypeParam> in(MakeBufferedPolicy<TypeParam>(64));
  std::string data;
  for (int i = 0; i < 64; ++i) data.push_back(static_cast<char>('A' + i % 26));
  ASSERT_EQ(Deliver(in, data), 64u);  // full
  in.consume(60);
  // Room for 5 unconsumed bytes: the 4-byte tail moves to the front.
  ASSERT_TRUE(in.make_room(5, "test").ok());
  EXPECT_EQ(in.stats().compactions, 1u);
  EXPECT_EQ(in.stats().bytes_compacted, 4u);
  EXPECT_EQ(in.stats().growths, 0u);
  EXPECT_EQ(Held(in), data.substr(60));
  EXPECT_EQ(append(in.policy(), Bytes(std::string(60, 'z'))), 60u);
  EXPECT_EQ(Held(in), data.substr(60) + std::string(60, 'z'));
}

TYPED_TEST(BufferedTest, LowFreeSpaceMovesAShortTailEarly) {
  Buffered<TypeParam> in(MakeBufferedPolicy<TypeParam>(64));
  Deliver(in, std::string(60, 'a') + "bcd");  // 63 filled, 1 free
  in.consume(60);
  ASSERT_TRUE(in.make_room(4, "test").ok());  // fits in place, but 1 < 64/8
  EXPECT_EQ(in.stats().compactions, 1u);
  EXPECT_EQ(in.stats().bytes_compacted, 3u);
  EXPECT_EQ(Held(in), "bcd");
}

TYPED_TEST(BufferedTest, UntilStepFindsMessagesAndNamesLimits) {
  Buffered<TypeParam> in(MakeBufferedPolicy<TypeParam>(64));
  Deliver(in, "abc\r\ndefghij");
  size_t searched = 0;
  BufferedStep<BufferedMessage> step = in.until_step("\r\n", 100, searched);
  ASSERT_FALSE(step.needs_fill);
  ASSERT_TRUE(step.result.ok());
  ASSERT_TRUE(step.result->has_value());
  EXPECT_EQ(Str(**step.result), "abc\r\n");
  in.consume(5);

  searched = 0;
  step = in.until_step("\r\n", 100, searched);
  EXPECT_TRUE(step.needs_fill);
  EXPECT_EQ(step.need, 8u);
  EXPECT_EQ(searched, 6u);  // the last byte may begin a CRLF

  step = in.until_step("\r\n", 7, searched);
  ASSERT_FALSE(step.needs_fill);
  EXPECT_TRUE(absl::IsResourceExhausted(step.result.status()));
  EXPECT_EQ(step.result.status().message(),
            "read_until: no delimiter within max_bytes=7 (7 bytes buffered)");

  in.record_fill(0);  // EOF inside the message
  searched = 0;
  step = in.until_step("\r\n", 100, searched);
  ASSERT_FALSE(step.needs_fill);
  EXPECT_TRUE(absl::IsOutOfRange(step.result.status()));
  EXPECT_EQ(step.result.status().message(),
            "read_until: EOF after 7 bytes, before the delimiter");
  EXPECT_EQ(in.buffered_size(), 7u);  // still there

  in.consume(7);
  step = in.until_step("\r\n", 100, searched);
  ASSERT_TRUE(step.result.ok());
  EXPECT_FALSE(step.result->has_value());  // clean EOF
}

TYPED_TEST(BufferedTest, FixedPoliciesStopAtTheirCapacityPooledGrows) {
  Buffered<TypeParam> in(MakeBufferedPolicy<TypeParam>(64));
  Deliver(in, std::string(64, 'x'));
  size_t searched = 0;
  BufferedStep<BufferedMessage> step = in.until_step("\n", 1000, searched);
  ASSERT_FALSE(step.needs_fill);
  EXPECT_TRUE(absl::IsResourceExhausted(step.result.status()));
  // Pooled here is capped at 64-byte blocks (max_capacity=64). A Dyn
  // forwards growth but holds a fixed Uninit / Vectored here.
  if constexpr (std::is_same_v<TypeParam, Pooled>) {
    EXPECT_THAT(step.result.status().message(),
                HasSubstr("no delimiter within the largest Pooled block, "
                          "max_capacity=64 (64 bytes buffered)"));
  } else {
    EXPECT_THAT(step.result.status().message(),
                HasSubstr("no delimiter within capacity=64 of a fixed-capacity"));
  }
  step = in.exact_step(65);
  EXPECT_TRUE(absl::IsResourceExhausted(step.result.status()));
  EXPECT_FALSE(in.make_room(65, "fill").ok());
}

TYPED_TEST(BufferedTest, ReaderWideLimitBoundsEveryPolicy) {
  BufferedOptions options;
  options.max_buffered = 16;
  Buffered<TypeParam> in(MakeBufferedPolicy<TypeParam>(64), options);
  EXPECT_EQ(in.limit(), 16u);
  Deliver(in, std::string(20, 'x'));
  size_t searched = 0;
  BufferedStep<BufferedMessage> step = in.until_step("\n", 1000, searched);
  EXPECT_EQ(step.result.status().message(),
            "read_until: no delimiter within max_buffered=16 (20 bytes buffered)");
  absl::Status room = in.make_room(0, "fill");
  EXPECT_TRUE(absl::IsResourceExhausted(room));
  EXPECT_THAT(room.message(), HasSubstr("fill: needs room for 21 bytes, more than max_buffered=16"));
}

TYPED_TEST(BufferedTest, LineStepConsumesAndStripsCrlf) {
  Buffered<TypeParam> in(MakeBufferedPolicy<TypeParam>(64));
  Deliver(in, "a\r\nb\n\r\n\nc\rd\n");
  std::vector<std::string> lines;
  for (;;) {
    size_t searched = 0;
    BufferedStep<BufferedMessage> step = in.line_step(64, searched);
    if (step.needs_fill) break;
    ASSERT_TRUE(step.result.ok());
    ASSERT_TRUE(step.result->has_value());
    lines.push_back(Str(**step.result));
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"a", "b", "", "", "c\rd"}));
  EXPECT_TRUE(in.empty());
}

TYPED_TEST(BufferedTest, TakeHandsOutTheBytes) {
  Buffered<TypeParam> in(MakeBufferedPolicy<TypeParam>(64));
  Deliver(in, "headbody-bytes");
  in.consume(4);
  absl::StatusOr<PoolBytes> body = in.take(10);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(Str(body->span()), "body-bytes");
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(in.stats().takes, 1u);
  if constexpr (Buffered<TypeParam>::kTakesWithoutCopy) {
    EXPECT_EQ(in.stats().zero_copy_takes, 1u);
    EXPECT_EQ(in.stats().bytes_copied(), 0u);
  } else {
    EXPECT_EQ(in.stats().bytes_take_copied, 10u);
  }
  // Still usable afterwards.
  Deliver(in, "next\n");
  EXPECT_EQ(Held(in), "next\n");
}

// --- Vectored specifics -------------------------------------------------------

TEST(BufferedVectoredTest, PeekLinearizesOnlyAcrossSegments) {
  Buffered<Vectored<4>> in(Vectored<4>(64));  // 16-byte segments
  std::string data;
  for (int i = 0; i < 40; ++i) data.push_back(static_cast<char>('a' + i % 26));
  Deliver(in, data);
  in.consume(10);
  EXPECT_EQ(Str(in.buffer()), data.substr(10, 6));  // to the segment's end
  EXPECT_EQ(Str(in.peek(6)), data.substr(10, 6));
  EXPECT_EQ(in.stats().linearizations, 0u);
  EXPECT_EQ(Str(in.peek(20)), data.substr(10, 20));
  EXPECT_EQ(in.stats().linearizations, 1u);
  EXPECT_EQ(in.stats().bytes_linearized, 20u);
}

TEST(BufferedVectoredTest, FindsADelimiterSplitAcrossSegments) {
  Buffered<Vectored<4>> in(Vectored<4>(64));
  Deliver(in, std::string(14, 'x') + "\r\n\r\n" + "tail");  // crosses 16
  EXPECT_EQ(in.find("\r\n\r\n"), 14u);
  EXPECT_EQ(in.find("\n\r"), 15u);
  EXPECT_EQ(in.find("\r\n\r\nt"), 14u);
  EXPECT_EQ(in.find("\r\n\r\nx"), Buffered<Vectored<4>>::npos);
  size_t searched = 0;
  BufferedStep<BufferedMessage> step = in.until_step("\r\n\r\n", 64, searched);
  ASSERT_TRUE(step.result.ok());
  EXPECT_EQ(Str(**step.result), std::string(14, 'x') + "\r\n\r\n");
}

TEST(BufferedVectoredTest, CompactionWalksTheSegmentsInOrder) {
  Buffered<Vectored<4>> in(Vectored<4>(64));
  std::string data;
  for (int i = 0; i < 64; ++i) data.push_back(static_cast<char>(i + 1));
  Deliver(in, data);
  in.consume(13);  // the tail (51 bytes) spans all four segments
  ASSERT_TRUE(in.make_room(52, "test").ok());
  EXPECT_EQ(in.stats().compactions, 1u);
  EXPECT_EQ(in.stats().bytes_compacted, 51u);
  EXPECT_EQ(Held(in), data.substr(13));
}

// --- Pooled: growth, take without a copy, the hooks --------------------------

TEST(BufferedPooledTest, GrowsKeepingTheTailWithOneCopy) {
  Pooled::Options options;
  options.sizing = {.min = 512, .initial = 512, .max = 128 * 1024};
  Buffered<Pooled> in{Pooled(options)};
  const std::string head(512, 'h');
  ASSERT_EQ(Deliver(in, head), 512u);  // the block is full
  in.consume(12);
  // 600 unconsumed bytes do not fit in 512 even after compaction: grow, and
  // copy only the 500 unconsumed bytes.
  ASSERT_TRUE(in.make_room(600, "test").ok());
  EXPECT_EQ(in.stats().growths, 1u);
  EXPECT_EQ(in.stats().bytes_grown, 500u);
  EXPECT_EQ(in.stats().compactions, 0u);
  EXPECT_GE(in.policy().capacity(), 1024u);
  EXPECT_EQ(Held(in), head.substr(12));
}

TEST(BufferedPooledTest, TakeWithoutTailHandsOutTheSameBlock) {
  Buffered<Pooled> in;
  Deliver(in, "GET /upload HTTP/1.1\r\n\r\n" + std::string(100, 'b'));
  in.consume(24);
  const std::byte* body_in_block = in.buffer().data();
  absl::StatusOr<PoolBytes> body = in.take(100);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->data(), body_in_block);  // the same memory: no copy
  EXPECT_EQ(Str(body->span()), std::string(100, 'b'));
  EXPECT_EQ(in.stats().zero_copy_takes, 1u);
  EXPECT_EQ(in.stats().bytes_copied(), 0u);
  EXPECT_FALSE(in.policy().holds_memory());
}

TEST(BufferedPooledTest, TakeWithATailCopiesTheSmallerPart) {
  Buffered<Pooled> in;
  Deliver(in, std::string(100, 'a') + "tail");
  const std::byte* front = in.buffer().data();
  absl::StatusOr<PoolBytes> big = in.take(100);  // tail (4) <= 100: block out
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->data(), front);
  EXPECT_EQ(in.stats().bytes_take_copied, 4u);
  EXPECT_EQ(Held(in), "tail");

  Deliver(in, std::string(100, 'c'));
  absl::StatusOr<PoolBytes> small = in.take(3);  // tail (101) > 3: copy 3
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(Str(small->span()), "tai");
  EXPECT_EQ(in.stats().bytes_take_copied, 7u);
  EXPECT_EQ(Held(in), "l" + std::string(100, 'c'));
}

// The measured bug: with a default Pooled, after 200 tiny requests the
// adaptive size shrinks the block to 512 B; a 1,000-byte header must still
// be accepted, as on a fresh connection.
TEST(BufferedPooledTest, AdaptiveShrinkNeverRefusesWhatAFreshReaderAccepts) {
  const std::string tiny = "GET / HTTP/1.1\r\n\r\n";
  const std::string big = "GET / HTTP/1.1\r\nX-Pad: " + std::string(1000 - 27, 'p') +
                          "\r\n\r\n";
  ASSERT_EQ(big.size(), 1000u);
  auto serve = [&](Buffered<Pooled>& in, const std::string& request) {
    size_t searched = 0;
    size_t offset = 0;
    for (;;) {
      BufferedStep<BufferedMessage> step = in.until_step("\r\n\r\n", 8192, searched);
      if (!step.needs_fill) return step.result;
      EXPECT_TRUE(in.make_room(step.need, "read_until").ok());
      // What the reactor does before waiting, and after readiness:
      if (in.policy().filled_size() == 0) read_buf_traits<Pooled>::release_idle(in.policy());
      EXPECT_TRUE(read_buf_traits<Pooled>::prepare(in.policy(), 0).ok());
      const size_t offered = remaining(in.policy());
      const size_t n = append(in.policy(), Bytes(request).subspan(offset));
      offset += n;
      read_buf_traits<Pooled>::record_read(in.policy(), n, offered);
      in.record_fill(n);
    }
  };
  Buffered<Pooled> in;
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<BufferedMessage> m = serve(in, tiny);
    ASSERT_TRUE(m.ok() && m->has_value());
    in.consume((*m)->size());
  }
  EXPECT_EQ(in.policy().next_block_size(), 512u);
  absl::StatusOr<BufferedMessage> m = serve(in, big);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->size(), 1000u);
  EXPECT_GE(in.stats().growths, 1u);

  Buffered<Pooled> fresh;
  absl::StatusOr<BufferedMessage> f = serve(fresh, big);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(Str(**f), Str(**m));
}

TEST(PooledHooksTest, ReserveKeepsTheFilledBytesFromKeepFrom) {
  Pooled buf(Pooled::Options{.sizing = {.min = 64, .initial = 64, .max = 4096}});
  ASSERT_TRUE(buf.prepare(0).ok());
  ASSERT_EQ(append(buf, Bytes(std::string("0123456789"))), 10u);
  // Large enough already: moves inside the block.
  const std::byte* block = buf.filled().data();
  ASSERT_TRUE(buf.reserve(32, 4).ok());
  EXPECT_EQ(buf.filled().data(), block);
  EXPECT_EQ(Str(buf.filled()), "456789");
  // Larger: a new block, the bytes copied once.
  ASSERT_TRUE(buf.reserve(1000, 2).ok());
  EXPECT_GE(buf.capacity(), 1000u);
  EXPECT_EQ(Str(buf.filled()), "6789");
  // Above max_capacity: refused, nothing changes.
  absl::Status refused = buf.reserve(5000, 0);
  EXPECT_TRUE(absl::IsResourceExhausted(refused));
  EXPECT_THAT(refused.message(), HasSubstr("max_capacity=4096"));
  EXPECT_EQ(Str(buf.filled()), "6789");
  EXPECT_EQ(buf.max_capacity(), 4096u);
}

TEST(PooledHooksTest, ReserveWithoutABlockTakesOne) {
  Pooled buf;
  ASSERT_TRUE(buf.reserve(3000, 0).ok());
  EXPECT_TRUE(buf.holds_memory());
  EXPECT_GE(buf.capacity(), 3000u);
  EXPECT_EQ(buf.filled_size(), 0u);
}

TEST(PooledHooksTest, ReserveRespectsThePoolCap) {
  BufferPool pool(BufferPool::Options{.max_bytes_in_use = 1024});
  Pooled buf(Pooled::Options{.sizing = {.min = 512, .initial = 512, .max = 8192},
                             .pool = &pool});
  ASSERT_TRUE(buf.prepare(0).ok());
  ASSERT_EQ(append(buf, Bytes(std::string(512, 'q'))), 512u);
  EXPECT_TRUE(absl::IsResourceExhausted(buf.reserve(2048, 0)));
  EXPECT_EQ(Str(buf.filled()), std::string(512, 'q'));
}

TEST(PooledHooksTest, TakeFilledRangeHandsTheBlockOut) {
  Pooled buf;
  ASSERT_TRUE(buf.prepare(0).ok());
  append(buf, Bytes(std::string("xxheadbody")));
  const std::byte* block = buf.filled().data();
  absl::StatusOr<PoolBytes> head = buf.take_filled(2, 4);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->data(), block + 2);
  EXPECT_EQ(Str(head->span()), "head");
  EXPECT_EQ(Str(buf.filled()), "body");  // the tail moved to a new block
  absl::StatusOr<PoolBytes> body = buf.take_filled(0, 4);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(Str(body->span()), "body");
  EXPECT_FALSE(buf.holds_memory());
}

TEST(ReadBufTraitsTest, GrowthHookDefaults) {
  static_assert(read_buf_traits<Pooled>::kReserves);
  static_assert(read_buf_traits<Pooled>::kTakesFilled);
  static_assert(!read_buf_traits<Uninit>::kReserves);
  static_assert(!read_buf_traits<Uninit>::kTakesFilled);
  static_assert(!read_buf_traits<Vectored<4>>::kReserves);
  static_assert(read_buf_traits<Dyn>::kReserves);  // forwarded; see below
  Uninit fixed(100);
  EXPECT_EQ(read_buf_traits<Uninit>::max_capacity(fixed), 100u);
  EXPECT_TRUE(absl::IsFailedPrecondition(
      read_buf_traits<Uninit>::reserve(fixed, 200, 0)));
  EXPECT_EQ(fixed.capacity(), 100u);
  Pooled pooled;
  EXPECT_EQ(read_buf_traits<Pooled>::max_capacity(pooled), 128u * 1024);
  // Dyn forwards both: an erased fixed buffer keeps its capacity as the
  // maximum and refuses to grow; an erased Pooled grows.
  Dyn erased_fixed(Uninit(100));
  EXPECT_EQ(erased_fixed.max_capacity(), 100u);
  EXPECT_TRUE(absl::IsFailedPrecondition(erased_fixed.reserve(200, 0)));
  EXPECT_EQ(erased_fixed.capacity(), 100u);
  Dyn erased_pooled{Pooled()};
  EXPECT_EQ(erased_pooled.max_capacity(), 128u * 1024);
  EXPECT_TRUE(erased_pooled.reserve(4096, 0).ok());
  EXPECT_GE(erased_pooled.capacity(), 4096u);
}

// The adaptive-shrink case through type erasure: a Dyn holding a Pooled
// grows like the Pooled itself.
TEST(BufferedDynTest, ErasedPooledGrowsKeepingTheTail) {
  Pooled::Options options;
  options.sizing = {.min = 512, .initial = 512, .max = 128 * 1024};
  Buffered<Dyn> in{Dyn(Pooled(options))};
  const std::string head(512, 'h');
  ASSERT_EQ(Deliver(in, head), 512u);
  in.consume(12);
  ASSERT_TRUE(in.make_room(600, "test").ok());
  EXPECT_EQ(in.stats().growths, 1u);
  EXPECT_EQ(in.stats().bytes_grown, 500u);
  EXPECT_GE(in.policy().capacity(), 1024u);
  EXPECT_EQ(Held(in), head.substr(12));
}

}  // namespace
}  // namespace readbuf
