// -----------------------------------------------------------------------------
// File: tests/fuzz/protobuf_stream_fuzz.cc
// -----------------------------------------------------------------------------
//
// Fuzzes the protobuf bridge (adapters/protobuf_stream.h) over a byte stream
// cut into PoolBytes chunks of fuzz-chosen sizes. The stream is either raw
// fuzz bytes or a run of length-delimited readbuf_test.Item messages built
// from fuzz values (optionally with one byte flipped), so both garbage and
// near-valid frames are reached.
//
//   1. ZeroCopy contracts: a script of Next / BackUp / Skip / ByteCount on a
//      PoolBytesInputStream is checked against a model (a flat copy and a
//      position): Next gives the model's next bytes, in the chain's own
//      memory; BackUp and Skip move as the contract says; Skip past the end
//      is false and lands at the end. The same script on a
//      ConsumingInputStream must give the same bytes, and leave the chain
//      holding exactly the bytes it did not read.
//   2. Framing: ParseDelimitedFrom until it needs more bytes or fails. Each
//      result is checked against protobuf parsing the flat copy: a parsed
//      frame must parse there too, to an equal message; DataLoss must not
//      parse there; the chain shrinks by exactly the frame (parsed or
//      DataLoss) or not at all (need more, malformed or oversized prefix).
//      Every parsed message is serialized again with SerializeDelimitedTo
//      into pool blocks of a fuzz-chosen size and parsed back from them.
//
// Input layout: [mode][stream ...][chunk sizes ...][ops ...][options].

#include <algorithm>
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
#include "adapters/protobuf_stream.h"
#include "buf/buffer_pool.h"
#include "buf/internal/check.h"
#include "buf/pool_bytes.h"
#include "buf/pool_bytes_chain.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/protos/protobuf_test.pb.h"

namespace readbuf::fuzz {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::readbuf_test::Item;

constexpr size_t kMaxStream = 4096;

std::string Delimited(const Item& item) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.WriteVarint32(static_cast<uint32_t>(item.ByteSizeLong()));
    item.SerializeWithCachedSizes(&coded);
  }
  return out;
}

std::string MessagesStream(FuzzInput& in) {
  std::string stream;
  const int count = in.Range(0, 8);
  for (int i = 0; i < count; ++i) {
    Item item;
    item.set_id(in.Range<uint32_t>(0, 0xffff));
    item.set_name(in.LengthPrefixed(40));
    item.set_payload(in.LengthPrefixed(600));
    const int values = in.Range(0, 4);
    for (int v = 0; v < values; ++v) item.add_values(in.Range<int32_t>(-1000, 1000));
    if (in.Bool()) item.mutable_child()->set_name(in.LengthPrefixed(8));
    stream += Delimited(item);
  }
  if (in.Bool() && !stream.empty()) {  // flip one byte
    const size_t at = in.Range<size_t>(0, stream.size() - 1);
    stream[at] = static_cast<char>(stream[at] ^ static_cast<char>(in.Range(1, 255)));
  }
  return stream.substr(0, kMaxStream);
}

PoolBytesChain Chop(std::string_view stream, FuzzInput& in) {
  PoolBytesChain chain;
  while (!stream.empty()) {
    const size_t n = std::min(in.Range<size_t>(1, 300), stream.size());
    absl::StatusOr<PoolBlock> block = BufferPool::ForThisThread().Acquire(n);
    READBUF_CHECK(block.ok(), "pool refused %zu bytes", n);
    std::memcpy(block->data(), stream.data(), n);
    chain.append(PoolBytes(*std::move(block), n));
    stream.remove_prefix(n);
  }
  return chain;
}

bool InChain(const PoolBytesChain& chain, const void* p, size_t n) {
  const auto* b = static_cast<const std::byte*>(p);
  for (size_t i = 0; i < chain.chunk_count(); ++i) {
    std::span<const std::byte> c = chain.chunk(i);
    if (b >= c.data() && b + n <= c.data() + c.size()) return true;
  }
  return false;
}

// Part 1: the ZeroCopyInputStream contract, against a flat model.
void CheckContracts(std::string_view flat, FuzzInput& in, FuzzInput ops_again) {
  PoolBytesChain chain = Chop(flat, in);
  PoolBytesChain consumed_chain = Chop(flat, ops_again);
  PoolBytesInputStream stream(chain);
  size_t pos = 0;   // model position
  size_t last = 0;  // bytes of the last Next not backed up
  {
    ConsumingInputStream<PoolBytesChain> consuming(&consumed_chain);
    const int ops = in.Range(0, 40);
    for (int op = 0; op < ops; ++op) {
      switch (in.Range(0, 2)) {
        case 0: {  // Next
          const void* data = nullptr;
          int size = 0;
          const void* data2 = nullptr;
          int size2 = 0;
          const bool got = stream.Next(&data, &size);
          const bool got2 = consuming.Next(&data2, &size2);
          READBUF_CHECK(got == (pos < flat.size()), "Next() at %zu of %zu gave %d", pos,
                        flat.size(), got);
          READBUF_CHECK(got2 == got, "ConsumingInputStream::Next differs");
          if (!got) {
            last = 0;
            break;
          }
          READBUF_CHECK(size > 0 && static_cast<size_t>(size) <= flat.size() - pos,
                        "Next() size %d at %zu of %zu", size, pos, flat.size());
          READBUF_CHECK(size2 == size, "ConsumingInputStream::Next size %d != %d", size2,
                        size);
          READBUF_CHECK(std::memcmp(data, flat.data() + pos, size) == 0 &&
                            std::memcmp(data2, flat.data() + pos, size) == 0,
                        "Next() bytes differ from the stream at %zu", pos);
          READBUF_CHECK(InChain(chain, data, size), "Next() memory is not the chain's");
          pos += static_cast<size_t>(size);
          last = static_cast<size_t>(size);
          break;
        }
        case 1: {  // BackUp
          const size_t n = in.Range<size_t>(0, last);
          stream.BackUp(static_cast<int>(n));
          consuming.BackUp(static_cast<int>(n));
          pos -= n;
          last -= n;
          break;
        }
        default: {  // Skip
          const size_t n = in.Range<size_t>(0, 700);
          const bool ok = stream.Skip(static_cast<int>(n));
          const bool ok2 = consuming.Skip(static_cast<int>(n));
          const bool fits = n <= flat.size() - pos;
          READBUF_CHECK(ok == fits && ok2 == fits, "Skip(%zu) at %zu of %zu", n, pos,
                        flat.size());
          pos = fits ? pos + n : flat.size();
          last = 0;
          break;
        }
      }
      READBUF_CHECK(stream.ByteCount() == static_cast<int64_t>(pos) &&
                        consuming.ByteCount() == static_cast<int64_t>(pos),
                    "ByteCount %lld / %lld, model %zu",
                    static_cast<long long>(stream.ByteCount()),
                    static_cast<long long>(consuming.ByteCount()), pos);
    }
  }
  READBUF_CHECK(consumed_chain.size() == flat.size() - pos,
                "ConsumingInputStream left %zu bytes, expected %zu", consumed_chain.size(),
                flat.size() - pos);
  READBUF_CHECK(chain.size() == flat.size(), "PoolBytesInputStream consumed");
}

// Part 2: framing, against protobuf parsing the flat copy.
void CheckFraming(std::string_view flat, FuzzInput& in) {
  PoolBytesChain chain = Chop(flat, in);
  DelimitedOptions options;
  if (in.Bool()) options.max_message_size = in.Range<size_t>(0, 2000);
  const size_t first_block = in.Range<size_t>(1, 600);
  size_t pos = 0;
  for (;;) {
    Item item;
    const size_t before = chain.size();
    absl::StatusOr<std::optional<DelimitedFrame>> frame = PeekDelimitedFrame(chain, options);
    absl::StatusOr<bool> parsed = ParseDelimitedFrom(chain, item, options);
    READBUF_CHECK(frame.ok() == parsed.ok() || absl::IsDataLoss(parsed.status()),
                  "PeekDelimitedFrame and ParseDelimitedFrom disagree");
    if (!parsed.ok() && !absl::IsDataLoss(parsed.status())) {
      READBUF_CHECK(absl::IsInvalidArgument(parsed.status()) ||
                        absl::IsResourceExhausted(parsed.status()),
                    "unexpected error %s", parsed.status().ToString().c_str());
      READBUF_CHECK(chain.size() == before, "a bad prefix consumed bytes");
      return;
    }
    if (parsed.ok() && !*parsed) {
      READBUF_CHECK(chain.size() == before, "an incomplete frame consumed bytes");
      READBUF_CHECK(!frame->has_value() || (*frame)->total() > before,
                    "a complete frame was not parsed");
      return;
    }
    // A frame was consumed, parsed or not.
    READBUF_CHECK(frame->has_value(), "consumed without a frame");
    const DelimitedFrame f = **frame;
    READBUF_CHECK(chain.size() == before - f.total(), "consumed %zu, frame is %zu",
                  before - chain.size(), f.total());
    Item reference;
    const bool reference_ok = reference.ParseFromArray(
        flat.data() + pos + f.prefix_size, static_cast<int>(f.message_size));
    READBUF_CHECK(reference_ok == parsed.ok(), "parsed %d, protobuf on the flat copy %d",
                  parsed.ok(), reference_ok);
    pos += f.total();
    if (!parsed.ok()) continue;
    READBUF_CHECK(MessageDifferencer::Equals(item, reference),
                  "parsed message differs from protobuf's");
    // Serialize into blocks of a fuzz-chosen size and parse it back.
    PoolBlockOutputStream out({.first_block_size = first_block, .max_block_size = 1024});
    READBUF_CHECK(SerializeDelimitedTo(item, out).ok(), "SerializeDelimitedTo failed");
    PoolBytesChain again = out.Take();
    READBUF_CHECK(static_cast<int64_t>(again.size()) == out.ByteCount(),
                  "Take() holds %zu bytes, ByteCount %lld", again.size(),
                  static_cast<long long>(out.ByteCount()));
    Item round;
    absl::StatusOr<bool> back = ParseDelimitedFrom(again, round);
    READBUF_CHECK(back.ok() && *back && again.empty(), "round trip failed");
    READBUF_CHECK(MessageDifferencer::Equals(round, item), "round trip differs");
  }
}

}  // namespace
}  // namespace readbuf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Protobuf logs every string field with bad UTF-8 it refuses; the verdict
  // is checked here, the log only slows the fuzzer down.
  static const bool kSilenced = (google::protobuf::SetLogHandler(nullptr), true);
  (void)kSilenced;
  readbuf::fuzz::FuzzInput in(data, size);
  const std::string stream = in.Range(0, 1) == 0 ? in.LengthPrefixed(readbuf::fuzz::kMaxStream)
                                                 : readbuf::fuzz::MessagesStream(in);
  // The rest of the input drives both parts; part 1 chops a second copy of
  // the stream with the same sizes (a copy of the cursor).
  readbuf::fuzz::FuzzInput again = in;
  readbuf::fuzz::CheckContracts(stream, in, again);
  readbuf::fuzz::CheckFraming(stream, in);
  return 0;
}
