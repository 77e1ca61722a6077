// Tests for adapters/protobuf_stream.h: the ZeroCopyInputStream contracts
// (Next hands out the chunks' own memory, BackUp, Skip, ByteCount) of
// PoolBytesInputStream and ConsumingInputStream; PoolBlockOutputStream's
// blocks, BackUp and ByteCount; round trips of a message split at every
// chunk boundary (every single split, every pair of splits); many
// length-delimited messages fed in random chunks; incomplete, malformed,
// oversized and corrupt frames; a lite message with a required field; a
// capped pool; and messages serialized into pool blocks, sent with writev
// over a socket and parsed straight out of the blocks the reads filled.
#include "adapters/protobuf_stream.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/buf_to_owned.h"
#include "adapters/fd_reader.h"
#include "adapters/fd_writer.h"
#include "buf/buffer_pool.h"
#include "buf/pool_bytes.h"
#include "buf/pool_bytes_chain.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/protos/protobuf_lite_test.pb.h"
#include "tests/protos/protobuf_test.pb.h"

namespace readbuf {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::readbuf_test::Item;
using ::readbuf_test::Ping;

PoolBytes Bytes(std::string_view text) {
  absl::StatusOr<PoolBlock> block = BufferPool::ForThisThread().Acquire(text.size());
  EXPECT_TRUE(block.ok());
  if (!text.empty()) std::memcpy(block->data(), text.data(), text.size());
  return PoolBytes(*std::move(block), text.size());
}

// `data` as a chain cut at `cuts` (ascending offsets; empty pieces dropped).
PoolBytesChain ChainOf(std::string_view data, const std::vector<size_t>& cuts = {}) {
  PoolBytesChain chain;
  size_t from = 0;
  for (size_t cut : cuts) {
    chain.append(Bytes(data.substr(from, cut - from)));
    from = cut;
  }
  chain.append(Bytes(data.substr(from)));
  return chain;
}

std::string Flatten(const PoolBytesChain& chain) {
  std::string out(chain.size(), '\0');
  chain.copy_to(std::as_writable_bytes(std::span<char>(out)));
  return out;
}

std::string Text(const void* data, int size) {
  return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
}

// The delimited encoding, made by protobuf's own string stream.
std::string Delimited(const google::protobuf::MessageLite& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.WriteVarint32(static_cast<uint32_t>(message.ByteSizeLong()));
    message.SerializeWithCachedSizes(&coded);
  }
  return out;
}

Item MakeItem(uint32_t seed, size_t payload_size) {
  std::mt19937 rng(seed);
  Item item;
  item.set_id(rng());
  item.set_name("item-" + std::to_string(seed));
  std::string payload(payload_size, '\0');
  for (char& c : payload) c = static_cast<char>(rng());
  item.set_payload(payload);
  for (int i = 0; i < static_cast<int>(seed % 7); ++i) {
    item.add_values(static_cast<int32_t>(rng()));
  }
  if (seed % 3 == 0) item.mutable_child()->set_name("child");
  (*item.mutable_tags())["k" + std::to_string(seed % 5)] = seed;
  item.set_score(seed * 0.5);
  return item;
}

// --- PoolBytesInputStream ---------------------------------------------------

TEST(PoolBytesInputStreamTest, NextHandsOutEachChunksOwnMemory) {
  PoolBytesChain chain = ChainOf("abcdefghij", {3, 8});
  PoolBytesInputStream in(chain);
  const void* data;
  int size;
  ASSERT_TRUE(in.Next(&data, &size));
  EXPECT_EQ(data, chain.chunk(0).data());  // no copy
  EXPECT_EQ(Text(data, size), "abc");
  ASSERT_TRUE(in.Next(&data, &size));
  EXPECT_EQ(data, chain.chunk(1).data());
  EXPECT_EQ(size, 5);
  EXPECT_EQ(in.ByteCount(), 8);
  in.BackUp(2);
  EXPECT_EQ(in.ByteCount(), 6);
  ASSERT_TRUE(in.Next(&data, &size));  // the backed-up bytes again
  EXPECT_EQ(data, chain.chunk(1).data() + 3);
  EXPECT_EQ(Text(data, size), "gh");
  ASSERT_TRUE(in.Next(&data, &size));
  EXPECT_EQ(Text(data, size), "ij");
  EXPECT_FALSE(in.Next(&data, &size));
  EXPECT_EQ(in.ByteCount(), 10);
  EXPECT_EQ(chain.size(), 10u);  // reading consumes nothing
}

TEST(PoolBytesInputStreamTest, BackUpAWholeChunkAndZero) {
  PoolBytesChain chain = ChainOf("abcdef", {3});
  PoolBytesInputStream in(chain);
  const void* data;
  int size;
  ASSERT_TRUE(in.Next(&data, &size));
  in.BackUp(0);
  in.BackUp(3);  // all of it: the chunk boundary is crossed back
  EXPECT_EQ(in.ByteCount(), 0);
  ASSERT_TRUE(in.Next(&data, &size));
  EXPECT_EQ(data, chain.chunk(0).data());
  EXPECT_EQ(size, 3);
  ASSERT_TRUE(in.Next(&data, &size));
  in.BackUp(1);
  ASSERT_TRUE(in.Next(&data, &size));
  EXPECT_EQ(Text(data, size), "f");
}

TEST(PoolBytesInputStreamTest, SkipWithinAcrossAndPastTheEnd) {
  PoolBytesChain chain = ChainOf("abcdefghij", {3, 8});
  PoolBytesInputStream in(chain);
  EXPECT_TRUE(in.Skip(0));
  EXPECT_TRUE(in.Skip(4));  // across the first boundary
  EXPECT_EQ(in.ByteCount(), 4);
  const void* data;
  int size;
  ASSERT_TRUE(in.Next(&data, &size));
  EXPECT_EQ(data, chain.chunk(1).data() + 1);
  EXPECT_EQ(Text(data, size), "efgh");
  in.BackUp(4);
  EXPECT_TRUE(in.Skip(6));  // "efgh" + "ij": exactly to the end
  EXPECT_EQ(in.ByteCount(), 10);
  EXPECT_FALSE(in.Next(&data, &size));
  PoolBytesInputStream again(chain);
  EXPECT_FALSE(again.Skip(11));  // past the end: false, at the end
  EXPECT_EQ(again.ByteCount(), 10);
  EXPECT_FALSE(again.Next(&data, &size));
}

TEST(PoolBytesInputStreamTest, EmptyChain) {
  PoolBytesChain chain;
  PoolBytesInputStream in(chain);
  const void* data;
  int size;
  EXPECT_FALSE(in.Next(&data, &size));
  EXPECT_TRUE(in.Skip(0));
  EXPECT_FALSE(in.Skip(1));
  EXPECT_EQ(in.ByteCount(), 0);
}

TEST(PoolBytesInputStreamDeathTest, BackUpMoreThanTheLastNextIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  PoolBytesChain chain = ChainOf("abcdef", {3});
  PoolBytesInputStream in(chain);
  const void* data;
  int size;
  ASSERT_TRUE(in.Next(&data, &size));
  EXPECT_DEATH(in.BackUp(4), "BackUp\\(4\\) after a Next\\(\\) of 3 bytes");
}

// --- ConsumingInputStream ---------------------------------------------------

TEST(ConsumingInputStreamTest, ConsumesWhatWasReadAndNotWhatWasBackedUp) {
  PoolBytesChain chain = ChainOf("abcdefgh", {3});
  {
    ConsumingInputStream<PoolBytesChain> in(&chain);
    const void* data;
    int size;
    ASSERT_TRUE(in.Next(&data, &size));
    EXPECT_EQ(data, chain.chunk(0).data());
    EXPECT_EQ(chain.size(), 8u);  // consumed on the next call
    in.BackUp(1);
    ASSERT_TRUE(in.Next(&data, &size));  // "ab" consumed now
    EXPECT_EQ(chain.size(), 6u);
    EXPECT_EQ(Text(data, size), "c");
    ASSERT_TRUE(in.Next(&data, &size));
    EXPECT_EQ(Text(data, size), "defgh");
    in.BackUp(3);
    EXPECT_EQ(in.ByteCount(), 5);
  }  // destruction consumes "de"
  EXPECT_EQ(Flatten(chain), "fgh");
}

TEST(ConsumingInputStreamTest, SkipAndLimit) {
  PoolBytesChain chain = ChainOf("abcdefghij", {2, 5});
  {
    ConsumingInputStream<PoolBytesChain> in(&chain, /*limit=*/7);
    EXPECT_TRUE(in.Skip(3));
    EXPECT_EQ(Flatten(chain), "defghij");
    const void* data;
    int size;
    ASSERT_TRUE(in.Next(&data, &size));
    EXPECT_EQ(Text(data, size), "de");
    ASSERT_TRUE(in.Next(&data, &size));
    EXPECT_EQ(Text(data, size), "fg");  // cut at the limit
    EXPECT_FALSE(in.Next(&data, &size));
    EXPECT_EQ(in.ByteCount(), 7);
  }
  EXPECT_EQ(Flatten(chain), "hij");
  ConsumingInputStream<PoolBytesChain> rest(&chain);
  EXPECT_FALSE(rest.Skip(4));  // past the end: consumes all
  EXPECT_EQ(rest.ByteCount(), 3);
  EXPECT_TRUE(chain.empty());
}

// --- Round trips across chunk boundaries ------------------------------------

TEST(ProtobufStreamTest, ParsesAcrossEverySingleSplit) {
  const Item item = MakeItem(7, 150);
  const std::string plain = item.SerializeAsString();
  const std::string framed = Delimited(item);
  for (size_t cut = 0; cut <= framed.size(); ++cut) {
    SCOPED_TRACE(cut);
    PoolBytesChain chain = ChainOf(framed, {cut});
    Item parsed;
    absl::StatusOr<bool> ok = ParseDelimitedFrom(chain, parsed);
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_TRUE(*ok);
    EXPECT_TRUE(MessageDifferencer::Equals(parsed, item));
    EXPECT_TRUE(chain.empty());
    if (cut <= plain.size()) {  // undelimited, through the plain stream
      PoolBytesChain plain_chain = ChainOf(plain, {cut});
      PoolBytesInputStream in(plain_chain);
      Item again;
      ASSERT_TRUE(again.ParseFromZeroCopyStream(&in));
      EXPECT_TRUE(MessageDifferencer::Equals(again, item));
      EXPECT_EQ(in.ByteCount(), static_cast<int64_t>(plain.size()));
    }
  }
}

TEST(ProtobufStreamTest, ParsesAcrossEveryPairOfSplits) {
  const Item item = MakeItem(3, 20);
  const std::string framed = Delimited(item);
  for (size_t i = 0; i <= framed.size(); ++i) {
    for (size_t j = i; j <= framed.size(); ++j) {
      PoolBytesChain chain = ChainOf(framed, {i, j});
      Item parsed;
      absl::StatusOr<bool> ok = ParseDelimitedFrom(chain, parsed);
      ASSERT_TRUE(ok.ok() && *ok) << i << "," << j;
      ASSERT_TRUE(MessageDifferencer::Equals(parsed, item)) << i << "," << j;
    }
  }
}

TEST(ProtobufStreamTest, EveryChunkOfOneByte) {
  const Item item = MakeItem(11, 300);
  const std::string framed = Delimited(item);
  std::vector<size_t> cuts;
  for (size_t i = 1; i < framed.size(); ++i) cuts.push_back(i);
  PoolBytesChain chain = ChainOf(framed, cuts);
  ASSERT_EQ(chain.chunk_count(), framed.size());
  Item parsed;
  ASSERT_TRUE(*ParseDelimitedFrom(chain, parsed));
  EXPECT_TRUE(MessageDifferencer::Equals(parsed, item));
}

// --- PoolBlockOutputStream --------------------------------------------------

TEST(PoolBlockOutputStreamTest, NextBackUpByteCountAndTake) {
  PoolBlockOutputStream out({.first_block_size = 64, .max_block_size = 128});
  void* data;
  int size;
  ASSERT_TRUE(out.Next(&data, &size));
  ASSERT_GE(size, 64);
  std::memcpy(data, "hello", 5);
  out.BackUp(size - 5);
  EXPECT_EQ(out.ByteCount(), 5);
  void* more;
  int more_size;
  ASSERT_TRUE(out.Next(&more, &more_size));  // the rest of the same block
  EXPECT_EQ(more, static_cast<char*>(data) + 5);
  EXPECT_EQ(more_size, size - 5);
  std::memcpy(more, " world", 6);
  out.BackUp(more_size - 6);
  EXPECT_EQ(out.ByteCount(), 11);
  PoolBytesChain chain = out.Take();
  ASSERT_EQ(chain.chunk_count(), 1u);
  EXPECT_EQ(static_cast<const void*>(chain.chunk(0).data()), data);  // the block itself
  EXPECT_EQ(Flatten(chain), "hello world");
  EXPECT_TRUE(out.Take().empty());
  EXPECT_EQ(out.ByteCount(), 11);  // keeps counting across Take()
}

TEST(PoolBlockOutputStreamTest, BlocksGrowAndHoldExactlyTheMessage) {
  const Item big = MakeItem(5, 5000);
  const Item small = MakeItem(6, 10);
  for (size_t first : {64, 100, 256, 4096}) {
    SCOPED_TRACE(first);
    PoolBlockOutputStream out(
        {.first_block_size = first, .max_block_size = std::max<size_t>(first, 1024)});
    ASSERT_TRUE(SerializeDelimitedTo(big, out).ok());
    ASSERT_TRUE(SerializeDelimitedTo(small, out).ok());
    EXPECT_EQ(out.ByteCount(),
              static_cast<int64_t>(Delimited(big).size() + Delimited(small).size()));
    PoolBytesChain chain = out.Take();
    EXPECT_GE(chain.chunk_count(), 2u);  // 5 KiB in blocks of at most 4 KiB
    EXPECT_EQ(Flatten(chain), Delimited(big) + Delimited(small));
    // Parsed back straight from the blocks the serializer wrote.
    Item a;
    Item b;
    ASSERT_TRUE(*ParseDelimitedFrom(chain, a));
    ASSERT_TRUE(*ParseDelimitedFrom(chain, b));
    EXPECT_TRUE(MessageDifferencer::Equals(a, big));
    EXPECT_TRUE(MessageDifferencer::Equals(b, small));
    EXPECT_TRUE(chain.empty());
  }
}

TEST(PoolBlockOutputStreamTest, ACappedPoolFailsTheSerialization) {
  BufferPool pool(BufferPool::Options{.max_bytes_in_use = 128});
  PoolBlockOutputStream out(
      {.first_block_size = 64, .max_block_size = 64, .pool = &pool});
  absl::Status s = SerializeDelimitedTo(MakeItem(1, 1000), out);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted);
  PoolBytesChain partial = out.Take();  // part of the frame: dropped
  EXPECT_LE(partial.size(), 128u);
}

// --- Length-delimited framing -----------------------------------------------

TEST(ProtobufStreamTest, ManyMessagesFedInRandomChunks) {
  std::mt19937 rng(42);
  std::vector<Item> sent;
  PoolBlockOutputStream out({.first_block_size = 64, .max_block_size = 1024});
  for (uint32_t i = 0; i < 500; ++i) {
    sent.push_back(MakeItem(i, rng() % 2000));
    ASSERT_TRUE(SerializeDelimitedTo(sent.back(), out).ok());
  }
  const std::string wire = Flatten(out.Take());
  const uint64_t blocks_before = BufferPool::ForThisThread().Stats().blocks_in_use;

  PoolBytesChain in;
  size_t received = 0;
  for (size_t at = 0; at < wire.size();) {
    const size_t n = std::min<size_t>(1 + rng() % 300, wire.size() - at);
    in.append(Bytes(std::string_view(wire).substr(at, n)));
    at += n;
    for (;;) {
      Item item;
      absl::StatusOr<bool> parsed = ParseDelimitedFrom(in, item);
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      if (!*parsed) break;
      ASSERT_LT(received, sent.size());
      ASSERT_TRUE(MessageDifferencer::Equals(item, sent[received])) << received;
      ++received;
    }
  }
  EXPECT_EQ(received, sent.size());
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(BufferPool::ForThisThread().Stats().blocks_in_use, blocks_before);
}

TEST(ProtobufStreamTest, IncompleteFramesNeedMoreBytesAndConsumeNothing) {
  const Item item = MakeItem(9, 300);  // a two-byte length prefix
  const std::string framed = Delimited(item);
  ASSERT_GT(static_cast<uint8_t>(framed[0]), 0x7f);
  Item parsed;
  PoolBytesChain chain = ChainOf(framed.substr(0, 1));
  EXPECT_FALSE(*ParseDelimitedFrom(chain, parsed));  // inside the prefix
  EXPECT_FALSE(PeekDelimitedFrame(chain)->has_value());
  EXPECT_EQ(chain.size(), 1u);
  chain.append(Bytes(framed.substr(1, 100)));
  EXPECT_FALSE(*ParseDelimitedFrom(chain, parsed));  // inside the message
  std::optional<DelimitedFrame> frame = *PeekDelimitedFrame(chain);
  ASSERT_TRUE(frame.has_value());
  EXPECT_EQ(frame->prefix_size, 2u);
  EXPECT_EQ(frame->total(), framed.size());
  EXPECT_EQ(chain.size(), 101u);
  chain.append(Bytes(framed.substr(101)));
  EXPECT_TRUE(*ParseDelimitedFrom(chain, parsed));
  EXPECT_TRUE(MessageDifferencer::Equals(parsed, item));
}

TEST(ProtobufStreamTest, MalformedAndOversizedPrefixesAreErrors) {
  Item parsed;
  PoolBytesChain six_ff = ChainOf(std::string(6, '\xff'), {2});
  EXPECT_EQ(ParseDelimitedFrom(six_ff, parsed).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(six_ff.size(), 6u);
  PoolBytesChain over_32_bits = ChainOf("\x80\x80\x80\x80\x10");
  EXPECT_EQ(ParseDelimitedFrom(over_32_bits, parsed).status().code(),
            absl::StatusCode::kInvalidArgument);
  PoolBytesChain big = ChainOf(Delimited(MakeItem(2, 500)));
  absl::StatusOr<bool> too_big =
      ParseDelimitedFrom(big, parsed, {.max_message_size = 100});
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(too_big.status().message().find("max_message_size=100"),
            std::string::npos);
  // The largest 5-byte prefix that still fits in 32 bits is only "too big".
  PoolBytesChain max_32 = ChainOf("\xff\xff\xff\xff\x0f");
  EXPECT_EQ(ParseDelimitedFrom(max_32, parsed).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(ProtobufStreamTest, CorruptMessageIsDataLossAndTheFrameIsSkipped) {
  const Item good = MakeItem(4, 40);
  // A 3-byte message: field 1 with wire type 7 (none such), then junk.
  const std::string bad = std::string("\x03\x0f\x01\x02", 4);
  PoolBytesChain chain = ChainOf(bad + Delimited(good), {2});
  Item parsed;
  absl::StatusOr<bool> first = ParseDelimitedFrom(chain, parsed);
  EXPECT_EQ(first.status().code(), absl::StatusCode::kDataLoss) << first.status();
  EXPECT_EQ(chain.size(), Delimited(good).size());  // exactly the bad frame went
  ASSERT_TRUE(*ParseDelimitedFrom(chain, parsed));
  EXPECT_TRUE(MessageDifferencer::Equals(parsed, good));
}

TEST(ProtobufStreamTest, LiteMessagesAndRequiredFields) {
  Ping ping;
  ping.set_seq(17);
  ping.set_body(std::string(1000, 'p'));
  PoolBlockOutputStream out({.first_block_size = 64, .max_block_size = 256});
  ASSERT_TRUE(SerializeDelimitedTo(ping, out).ok());
  PoolBytesChain chain = out.Take();
  Ping parsed;
  ASSERT_TRUE(*ParseDelimitedFrom(chain, parsed));
  EXPECT_EQ(parsed.seq(), 17u);
  EXPECT_EQ(parsed.body(), ping.body());
  // A Ping without its required seq does not parse.
  Ping partial;
  partial.set_body("x");
  PoolBytesChain missing = ChainOf(Delimited(partial));
  EXPECT_EQ(ParseDelimitedFrom(missing, parsed).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_TRUE(missing.empty());
}

// --- Over a socket: writev out of the blocks, parse out of the reads --------

TEST(ProtobufStreamTest, WritevOutAndParseStraightOutOfTheReadBlocks) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  std::vector<Item> sent;
  PoolBlockOutputStream out({.first_block_size = 64, .max_block_size = 4096});
  for (uint32_t i = 0; i < 300; ++i) {
    sent.push_back(MakeItem(1000 + i, (i * 37) % 3000));
    ASSERT_TRUE(SerializeDelimitedTo(sent.back(), out).ok());
  }
  PoolBytesChain wire = out.Take();
  const size_t total = wire.size();
  std::thread writer([fds, wire = std::move(wire)]() mutable {
    FdWriter w(fds[0]);
    while (!wire.empty()) {
      std::array<iovec, 16> iov;  // a few blocks per writev
      const size_t count = wire.iovecs(iov);
      size_t bytes = 0;
      for (size_t i = 0; i < count; ++i) bytes += iov[i].iov_len;
      EXPECT_TRUE(w.writev_all(std::span<const iovec>(iov.data(), count)).ok());
      wire.consume(bytes);  // the blocks go back to the writer's pool
    }
    ::shutdown(fds[0], SHUT_WR);
  });

  BufToOwnedReader reader(FdReader(fds[1]), {.max_block_size = 1500});
  PoolBytesChain in;
  size_t received = 0;
  size_t read_bytes = 0;
  std::mt19937 rng(7);
  for (;;) {
    absl::StatusOr<std::optional<PoolBytes>> got = reader.read_owned(1 + rng() % 2000);
    ASSERT_TRUE(got.ok()) << got.status();
    if (!got->has_value()) break;  // EOF
    read_bytes += (*got)->size();
    in.append(**std::move(got));
    for (;;) {
      Item item;
      absl::StatusOr<bool> parsed = ParseDelimitedFrom(in, item);
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      if (!*parsed) break;
      ASSERT_LT(received, sent.size());
      ASSERT_TRUE(MessageDifferencer::Equals(item, sent[received])) << received;
      ++received;
    }
  }
  writer.join();
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_EQ(read_bytes, total);
  EXPECT_EQ(received, sent.size());
  EXPECT_TRUE(in.empty());
}

}  // namespace
}  // namespace readbuf
