// Tests for adapters/protobuf_stream.h over the buffered reader's core
// (buf/buffered.h) and the synchronous buffered reader
// (adapters/buffered_sync_reader.h): ParseDelimitedFrom and
// ConsumingInputStream on Buffered<Uninit>, Buffered<Vectored<4>> (frames and
// length prefixes crossing segments) and Buffered<Pooled>, fed in random
// pieces; ReadDelimitedFrom through a BufferedSyncReader over a socket, to a
// clean EOF, and EOF inside a frame.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/buffered_sync_reader.h"
#include "adapters/fd_reader.h"
#include "adapters/fd_writer.h"
#include "adapters/protobuf_stream.h"
#include "buf/buffered.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/uninit_span.h"
#include "buf/vectored.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/protos/protobuf_test.pb.h"

namespace readbuf {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::readbuf_test::Item;

static_assert(ConsumableBytes<Buffered<Uninit>>);
static_assert(ConsumableBytes<Buffered<Vectored<4>>>);
static_assert(ConsumableBytes<PoolBytesChain>);

Item MakeItem(uint32_t seed, size_t payload_size) {
  Item item;
  item.set_id(seed);
  item.set_name("n" + std::to_string(seed));
  item.set_payload(std::string(payload_size, static_cast<char>('a' + seed % 26)));
  for (uint32_t i = 0; i < seed % 5; ++i) item.add_values(-static_cast<int32_t>(i));
  return item;
}

std::string Wire(const std::vector<Item>& items) {
  PoolBlockOutputStream out({.first_block_size = 64, .max_block_size = 512});
  for (const Item& item : items) EXPECT_TRUE(SerializeDelimitedTo(item, out).ok());
  PoolBytesChain chain = out.Take();
  std::string wire(chain.size(), '\0');
  chain.copy_to(std::as_writable_bytes(std::span<char>(wire)));
  return wire;
}

// Appends `bytes` to `in` the way a reader does: make_room, write into the
// policy's unfilled memory, advance, record_fill.
template <class B>
void Feed(Buffered<B>& in, std::string_view bytes) {
  while (!bytes.empty()) {
    ASSERT_TRUE(in.make_room(in.buffered_size() + 1, "feed").ok());
    ASSERT_TRUE(read_buf_traits<B>::prepare(in.policy(), 0).ok());
    UninitSpan free = in.policy().unfilled();
    const size_t n = std::min(free.size(), bytes.size());
    ASSERT_GT(n, 0u);
    std::memcpy(free.write_ptr(), bytes.data(), n);
    in.policy().advance(n);
    in.record_fill(n);
    bytes.remove_prefix(n);
  }
}

template <class B>
class ProtobufBufferedTest : public ::testing::Test {
 protected:
  static B MakePolicy() {
    if constexpr (std::is_same_v<B, Pooled>) {
      return Pooled(size_t{1024});
    } else {
      return B(1024);
    }
  }
};

using Policies = ::testing::Types<Uninit, Vectored<4>, Pooled>;
TYPED_TEST_SUITE(ProtobufBufferedTest, Policies);

TYPED_TEST(ProtobufBufferedTest, ParsesFramesFedInRandomPieces) {
  std::vector<Item> sent;
  for (uint32_t i = 0; i < 200; ++i) sent.push_back(MakeItem(i, (i * 53) % 300));
  const std::string wire = Wire(sent);
  Buffered<TypeParam> in(this->MakePolicy());
  std::mt19937 rng(5);
  size_t received = 0;
  for (size_t at = 0; at < wire.size();) {
    const size_t n = std::min<size_t>(1 + rng() % 200, wire.size() - at);
    Feed(in, std::string_view(wire).substr(at, n));
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
  EXPECT_EQ(in.buffered_size(), 0u);
}

TYPED_TEST(ProtobufBufferedTest, ConsumingStreamLeavesTheSourceAfterTheMessage) {
  const Item item = MakeItem(9, 100);
  const std::string plain = item.SerializeAsString();
  Buffered<TypeParam> in(this->MakePolicy());
  Feed(in, plain + "tail");
  Item parsed;
  {
    ConsumingInputStream<Buffered<TypeParam>> stream(&in, plain.size());
    ASSERT_TRUE(parsed.ParseFromZeroCopyStream(&stream));
  }
  EXPECT_TRUE(MessageDifferencer::Equals(parsed, item));
  EXPECT_EQ(in.buffered_size(), 4u);
  std::string rest(4, '\0');
  in.copy_to(std::as_writable_bytes(std::span<char>(rest)));
  EXPECT_EQ(rest, "tail");
}

TEST(ProtobufBufferedSyncReaderTest, ReadDelimitedFromASocketToEof) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  std::vector<Item> sent;
  for (uint32_t i = 0; i < 300; ++i) sent.push_back(MakeItem(i, (i * 31) % 400));
  const std::string wire = Wire(sent);
  std::thread writer([&] {
    FdWriter w(fds[0]);
    // In uneven pieces, so frames arrive split.
    for (size_t at = 0; at < wire.size(); at += 777) {
      const std::string_view piece = std::string_view(wire).substr(at, 777);
      EXPECT_TRUE(w.write_all(std::as_bytes(std::span(piece.data(), piece.size()))).ok());
    }
    ::shutdown(fds[0], SHUT_WR);
  });
  BufferedSyncReader reader(FdReader(fds[1]), Vectored<3>(1536));
  size_t received = 0;
  for (;;) {
    Item item;
    absl::StatusOr<bool> got = ReadDelimitedFrom(reader, item);
    ASSERT_TRUE(got.ok()) << got.status();
    if (!*got) break;  // clean EOF
    ASSERT_LT(received, sent.size());
    ASSERT_TRUE(MessageDifferencer::Equals(item, sent[received])) << received;
    ++received;
  }
  writer.join();
  EXPECT_EQ(received, sent.size());
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(ProtobufBufferedSyncReaderTest, EofInsideAFrameIsOutOfRange) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  const std::string wire = Wire({MakeItem(1, 50)});
  ASSERT_EQ(::write(fds[0], wire.data(), wire.size() - 3),
            static_cast<ssize_t>(wire.size() - 3));
  ::shutdown(fds[0], SHUT_WR);
  BufferedSyncReader reader(FdReader(fds[1]), Uninit(256));
  Item item;
  absl::StatusOr<bool> got = ReadDelimitedFrom(reader, item);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kOutOfRange) << got.status();
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace readbuf
