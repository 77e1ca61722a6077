// -----------------------------------------------------------------------------
// File: tests/fuzz/adapter_fuzz.cc
// -----------------------------------------------------------------------------
//
// Fuzzes every synchronous adapter (adapters/) over a fuzz-driven inner
// reader (tests/fuzz/fuzz_reader.h): the input picks the adapter chain, the
// buffer policy it is drained into (Zeroed, Uninit, Vectored<4>,
// DynamicVectored, Dyn, Pooled) and its capacity, the stream's bytes, and
// then, read by read, what the inner reader does: full or short reads,
// would-block, EINTR, an error. The output must equal the input: every byte
// exactly once and in order, status OK at EOF. (AsyncReadyToOwnedReader,
// the one async adapter, needs a reactor core and is not covered here.) If the script injected an
// error, the drain must fail and what it delivered must be a prefix of the
// stream.
//
// Input layout: [chain][policy][capacity: 2][stream length: 2][stream]
// [chain parameters and per-read decisions ...].

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <istream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "asio/buffer.hpp"
#include "asio/error.hpp"
#include "asio/io_context.hpp"
#include "adapters/any_reader.h"
#include "adapters/asio_stream.h"
#include "adapters/buf_to_owned.h"
#include "adapters/buf_to_span.h"
#include "adapters/cord_reader.h"
#include "adapters/cord_sink.h"
#include "adapters/fd_reader.h"
#include "adapters/file_reader.h"
#include "adapters/istream_reader.h"
#include "adapters/owned_to_buf.h"
#include "adapters/reader_streambuf.h"
#include "adapters/scalar_to_vectored.h"
#include "adapters/scratch_copy_reader.h"
#include "adapters/span_to_buf.h"
#include "adapters/vectored_to_scalar.h"
#include "buf/dyn.h"
#include "buf/internal/check.h"
#include "buf/pooled.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "io/io_status.h"
#include "io/reader_concepts.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_reader.h"
#include "tests/testing/read_driver.h"
#include "tests/testing/reader_views.h"

namespace readbuf::fuzz {
namespace {

using ::readbuf::testing::BufView;
using ::readbuf::testing::DrainResult;
using ::readbuf::testing::DrainWithRead;
using ::readbuf::testing::DrainWithReadBuf;
using ::readbuf::testing::DrainWithReadOwned;
using ::readbuf::testing::DrainWithReadv;
using ::readbuf::testing::ReadvView;
using ::readbuf::testing::SpanView;

constexpr int kChains = 28;
constexpr size_t kMaxStream = 8192;

// An Asio stream (read_some with error_code, non_blocking) over the script:
// would-block is asio::error::would_block, the injected error is
// connection_reset, EOF is asio::error::eof.
class FuzzAsioStream {
 public:
  explicit FuzzAsioStream(FuzzScript* script) : script_(script) {}

  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers, asio::error_code& ec) {
    std::vector<iovec> iov;
    size_t total = 0;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
         ++it) {
      const asio::mutable_buffer b(*it);
      iov.push_back(iovec{b.data(), b.size()});
      total += b.size();
    }
    ec = {};
    size_t n = 0;
    switch (script_->Next(total, /*syscall=*/false, &n)) {
      case FuzzScript::Event::kData:
        script_->Scatter(iov, n);
        return n;
      case FuzzScript::Event::kEof:
        ec = asio::error::eof;
        return 0;
      case FuzzScript::Event::kWouldBlock:
        ec = asio::error::would_block;
        return 0;
      case FuzzScript::Event::kError:
      case FuzzScript::Event::kEintr:
        break;
    }
    ec = asio::error::connection_reset;
    return 0;
  }
  bool non_blocking() const { return non_blocking_; }
  void non_blocking(bool on) { non_blocking_ = on; }

 private:
  FuzzScript* script_;
  bool non_blocking_ = false;
};

// Drains an Asio SyncReadStream with read_some into `sizes`-shaped buffers;
// would_block is retried.
template <class Stream>
DrainResult DrainAsio(Stream& stream, const std::vector<size_t>& sizes) {
  DrainResult result;
  std::vector<std::string> storage;
  for (size_t size : sizes) storage.emplace_back(size, '\0');
  while (result.reads < testing::kMaxDrainReads) {
    ++result.reads;
    std::vector<asio::mutable_buffer> buffers;
    for (std::string& s : storage) buffers.push_back(asio::buffer(s));
    asio::error_code ec;
    const size_t n = stream.read_some(buffers, ec);
    if (ec == asio::error::would_block) continue;
    if (ec == asio::error::eof) return result;
    if (ec) {
      result.status = absl::UnknownError(ec.message());
      return result;
    }
    READBUF_CHECK(n != 0, "read_some gave 0 bytes without eof");
    size_t left = n;
    for (const std::string& s : storage) {
      const size_t step = std::min(left, s.size());
      result.bytes.append(s.data(), step);
      left -= step;
    }
  }
  result.status = absl::InternalError("drain did not reach EOF");
  return result;
}

// Like DrainWithReadBuf, through the reader's try_read (would-block retried).
template <class R, ReadBuf B>
DrainResult DrainWithTryRead(R& reader, B& buf) {
  DrainResult result;
  while (result.reads < testing::kMaxDrainReads) {
    ++result.reads;
    if (absl::Status s = read_buf_traits<B>::prepare(buf, 0); !s.ok()) {
      result.status = s;
      return result;
    }
    absl::StatusOr<size_t> n = reader.try_read(buf);
    if (!n.ok() && IsWouldBlock(n.status())) continue;
    if (!n.ok()) {
      result.status = n.status();
      return result;
    }
    if (*n == 0) return result;
    testing::Consume(buf, result.bytes);
    buf.clear();
    read_buf_traits<B>::release_idle(buf);
  }
  result.status = absl::InternalError("drain did not reach EOF");
  return result;
}

// Chains whose consumer cannot wait: the script gives them no would-block.
bool CannotWait(int chain) { return chain == 19 || chain == 23; }

// Drains the chain numbered `chain` into `buf` (or through its own face).
template <class B>
DrainResult RunChain(int chain, FuzzScript& script, FuzzInput& in, B& buf) {
  const std::string& data = script.data();
  switch (chain) {
    case 0: {
      SpanToBufReader reader(MakeFuzzReader<kReadSpan>(&script));
      return DrainWithReadBuf(reader, buf);
    }
    case 1: {
      SpanToBufReader reader(MakeFuzzReader<kReadSpan | kReadVectored>(&script));
      return DrainWithReadBuf(reader, buf);
    }
    case 2: {
      FuzzReader<kReadSpan> inner(&script);
      SpanToBufReader reader(&inner);
      return DrainWithReadBuf(reader, buf);
    }
    case 3: {  // BufToSpan's read(span), seen through a span-only view, lifted back
      BufToSpanReader middle(MakeFuzzReader<kReadBuf>(&script));
      SpanToBufReader reader(SpanView<decltype(middle)>{&middle});
      return DrainWithReadBuf(reader, buf);
    }
    case 4: {
      BufToSpanReader reader(MakeFuzzReader<kReadBuf>(&script));
      return DrainWithRead(reader, in.Range<size_t>(1, 3000));
    }
    case 5: {
      VectoredToScalarReader reader(MakeFuzzReader<kReadSpan>(&script));
      return DrainWithReadBuf(reader, buf);
    }
    case 6: {
      VectoredToScalarReader middle(MakeFuzzReader<kReadSpan>(&script));
      ScalarToVectoredReader reader(ReadvView<decltype(middle)>{&middle});
      return DrainWithReadBuf(reader, buf);
    }
    case 7: {
      VectoredToScalarReader middle(MakeFuzzReader<kReadBuf>(&script));
      ScalarToVectoredReader reader(ReadvView<decltype(middle)>{&middle});
      return DrainWithReadBuf(reader, buf);
    }
    case 8: {  // VectoredToScalar's readv face, drained with caller iovecs
      VectoredToScalarReader reader(MakeFuzzReader<kReadSpan>(&script));
      std::vector<size_t> sizes;
      const size_t count = in.Range<size_t>(1, 6);
      for (size_t i = 0; i < count; ++i) sizes.push_back(in.Range<size_t>(0, 700));
      sizes.push_back(1);  // at least one byte of room
      return DrainWithReadv(reader, sizes);
    }
    case 9: {
      ScalarToVectoredReader reader(MakeFuzzReader<kReadSpan>(&script));
      return DrainWithReadBuf(reader, buf);
    }
    case 10: {
      FuzzReader<kReadBuf> inner(&script);
      ScalarToVectoredReader reader(BufView<decltype(inner)>{&inner});
      return DrainWithReadBuf(reader, buf);
    }
    case 11: {
      OwnedToBufReader reader(MakeFuzzReader<kReadOwned>(&script));
      return DrainWithReadBuf(reader, buf);
    }
    case 12: {
      OwnedToBufReader reader(MakeFuzzReader<kReadOwned>(&script));
      return DrainWithRead(reader, in.Range<size_t>(1, 3000));
    }
    case 13: {
      BufToOwnedOptions options;
      options.max_block_size = in.Range<size_t>(1, 4096);
      OwnedToBufReader reader(BufToOwnedReader(MakeFuzzReader<kReadBuf>(&script), options));
      return DrainWithReadBuf(reader, buf);
    }
    case 14: {
      OwnedToBufReader reader(BufToOwnedReader(MakeFuzzReader<kReadTry>(&script)));
      return DrainWithReadBuf(reader, buf);
    }
    case 15: {
      BufToOwnedReader reader(MakeFuzzReader<kReadBuf>(&script));
      return DrainWithReadOwned(reader, in.Range<size_t>(1, 4096));
    }
    case 16: {
      OwnedToBufReader reader(ScratchCopyReader(MakeFuzzReader<kReadSpan>(&script)));
      return DrainWithReadBuf(reader, buf);
    }
    case 17: {
      ScratchCopyReader reader(MakeFuzzReader<kReadSpan>(&script));
      return DrainWithReadOwned(reader, in.Range<size_t>(1, 4096));
    }
    case 18: {
      switch (in.Range(0, 3)) {
        case 0: {
          AnyReader reader(MakeFuzzReader<kReadSpan>(&script));
          return DrainWithReadBuf(reader, buf);
        }
        case 1: {
          AnyReader reader(MakeFuzzReader<kReadBuf>(&script));
          return DrainWithReadBuf(reader, buf);
        }
        case 2: {
          AnyReader reader(MakeFuzzReader<kReadVectored>(&script));
          return DrainWithReadBuf(reader, buf);
        }
        default: {
          AnyReader reader(MakeFuzzReader<kReadSpan | kReadVectored | kReadBuf>(&script));
          return DrainWithReadBuf(reader, buf);
        }
      }
    }
    case 19: {  // a readbuf reader as a streambuf, read back through an istream
      ReaderStreambuf sb(MakeFuzzReader<kReadSpan>(&script), in.Range<size_t>(1, 2000));
      std::istream stream(&sb);
      IstreamReader reader(stream);
      DrainResult result = DrainWithReadBuf(reader, buf);
      if (result.status.ok()) result.status = sb.status();
      return result;
    }
    case 20: {
      const bool nonblocking = in.Bool();
      BasicFdReader<FuzzSyscalls> reader(3, FuzzSyscalls(&script, nonblocking));
      if (in.Bool()) return DrainWithTryRead(reader, buf);  // polls first when blocking
      return DrainWithReadBuf(reader, buf);
    }
    case 21: {
      std::string copy = data;
      std::FILE* file = copy.empty() ? std::fopen("/dev/null", "rb")
                                     : ::fmemopen(copy.data(), copy.size(), "rb");
      READBUF_CHECK(file != nullptr, "fmemopen failed");
      FileReader reader(file);
      DrainResult result = DrainWithReadBuf(reader, buf);
      std::fclose(file);
      return result;
    }
    case 22: {
      std::istringstream stream(data);
      IstreamReader reader(stream);
      return DrainWithReadBuf(reader, buf);
    }
    case 23: {  // CordSink: owned blocks appended to a Cord without a copy
      CordSink sink(MakeFuzzReader<kReadOwned>(&script));
      absl::Cord cord;
      DrainResult result;
      const size_t max = in.Range<size_t>(1, 4096);
      for (;;) {
        ++result.reads;
        absl::StatusOr<size_t> n = sink.append_to(cord, max);
        if (!n.ok()) {
          result.status = n.status();
          break;
        }
        if (*n == 0) break;
      }
      result.bytes = std::string(cord);
      return result;
    }
    case 26: {  // AsioStreamReader: an Asio stream as a readbuf reader
      AsioStreamReader reader{FuzzAsioStream(&script)};
      if (in.Bool()) return DrainWithTryRead(reader, buf);  // non-blocking read_some
      return DrainWithReadBuf(reader, buf);
    }
    case 27: {  // AsioReadStream: a readbuf reader as an Asio SyncReadStream
      asio::io_context context;
      std::vector<size_t> sizes;
      const size_t count = in.Range<size_t>(1, 5);
      for (size_t i = 0; i < count; ++i) sizes.push_back(in.Range<size_t>(0, 900));
      sizes.push_back(1);
      if (in.Bool()) {
        AsioReadStream stream(context.get_executor(),
                              MakeFuzzReader<kReadSpan | kReadVectored>(&script));
        return DrainAsio(stream, sizes);
      }
      AsioReadStream stream(context.get_executor(), MakeFuzzReader<kReadBuf>(&script));
      return DrainAsio(stream, sizes);
    }
    default: {  // CordReader over a Cord of fuzz-sized fragments
      absl::Cord cord;
      for (size_t i = 0; i < data.size();) {
        const size_t n = in.Range<size_t>(1, 1500);
        cord.Append(absl::MakeCordFromExternal(absl::string_view(data).substr(i, n), [] {}));
        i += n;
      }
      CordReader reader(std::move(cord));
      if (chain == 25) return DrainWithRead(reader, in.Range<size_t>(1, 3000));  // span face
      return DrainWithReadBuf(reader, buf);
    }
  }
}

template <class B>
void RunWithPolicy(int chain, FuzzScript& script, FuzzInput& in, size_t capacity) {
  B buf = testing::MakeTestBuf<B>(capacity);
  const DrainResult result = RunChain(chain, script, in, buf);
  const std::string& data = script.data();
  if (script.failed()) {
    READBUF_CHECK(!result.status.ok(), "chain %d: an injected error was lost", chain);
    READBUF_CHECK(result.bytes.size() <= data.size() &&
                      data.compare(0, result.bytes.size(), result.bytes) == 0,
                  "chain %d: the bytes before the error are not a prefix of the stream "
                  "(%zu bytes delivered)",
                  chain, result.bytes.size());
    return;
  }
  READBUF_CHECK(result.status.ok(), "chain %d: %s", chain, result.status.ToString().c_str());
  READBUF_CHECK(result.bytes.size() == data.size(), "chain %d: %zu bytes out, %zu in", chain,
                result.bytes.size(), data.size());
  READBUF_CHECK(result.bytes == data, "chain %d: output differs from input", chain);
}

}  // namespace
}  // namespace readbuf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using readbuf::fuzz::FuzzInput;
  FuzzInput in(data, size);
  const int chain = in.Range(0, readbuf::fuzz::kChains - 1);
  const int policy = in.Range(0, 5);
  const size_t capacity = in.Range<size_t>(1, 4096);
  std::string stream = in.Bytes(in.Range<size_t>(0, readbuf::fuzz::kMaxStream));
  readbuf::fuzz::FuzzScript script(std::move(stream), &in,
                                   !readbuf::fuzz::CannotWait(chain));
  switch (policy) {
    case 0:
      readbuf::fuzz::RunWithPolicy<readbuf::Zeroed>(chain, script, in, capacity);
      break;
    case 1:
      readbuf::fuzz::RunWithPolicy<readbuf::Uninit>(chain, script, in, capacity);
      break;
    case 2:
      readbuf::fuzz::RunWithPolicy<readbuf::Vectored<4>>(chain, script, in, capacity);
      break;
    case 3:
      readbuf::fuzz::RunWithPolicy<readbuf::DynamicVectored>(chain, script, in, capacity);
      break;
    case 4:
      readbuf::fuzz::RunWithPolicy<readbuf::Dyn>(chain, script, in, capacity);
      break;
    default:
      readbuf::fuzz::RunWithPolicy<readbuf::Pooled>(chain, script, in, capacity);
      break;
  }
  return 0;
}
