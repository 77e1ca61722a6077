// -----------------------------------------------------------------------------
// File: tests/adapters/adapter_cases.h
// -----------------------------------------------------------------------------
//
// The adapter compositions the conformance suite runs. Each case builds an
// adapter over a FaultReader (or a chain of adapters) and drains it into a
// buffer of any policy through the path under test. ForEachCase(fn) calls
// fn.template operator()<Case>() for each.

#ifndef READBUF_TESTS_ADAPTERS_ADAPTER_CASES_H_
#define READBUF_TESTS_ADAPTERS_ADAPTER_CASES_H_

#include <cstdio>
#include <istream>
#include <sstream>
#include <string>

#include "adapters/any_reader.h"
#include "adapters/buf_to_owned.h"
#include "adapters/buf_to_span.h"
#include "adapters/cord_reader.h"
#include "adapters/fd_reader.h"
#include "adapters/file_reader.h"
#include "adapters/istream_reader.h"
#include "adapters/reader_streambuf.h"
#include "adapters/owned_to_buf.h"
#include "adapters/scalar_to_vectored.h"
#include "adapters/scratch_copy_reader.h"
#include "adapters/span_to_buf.h"
#include "adapters/vectored_to_scalar.h"
#include "absl/strings/cord.h"
#include "io/reader_concepts.h"
#include "tests/testing/fault_reader.h"
#include "tests/testing/read_driver.h"
#include "tests/testing/reader_views.h"

namespace readbuf::adapter_cases {

using ::readbuf::testing::BufView;
using ::readbuf::testing::DrainResult;
using ::readbuf::testing::DrainWithReadBuf;
using ::readbuf::testing::FaultOptions;
using ::readbuf::testing::FaultReader;
using ::readbuf::testing::ReadvView;
using ::readbuf::testing::SpanView;

struct SpanToBufOverSpan {
  static constexpr const char* kName = "SpanToBuf<span>";
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions& o, B& buf) {
    SpanToBufReader reader(FaultReader<kReadSpan>(data, o));
    return DrainWithReadBuf(reader, buf);
  }
};

struct SpanToBufOverReadv {
  static constexpr const char* kName = "SpanToBuf<span+readv>";
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions& o, B& buf) {
    SpanToBufReader reader(FaultReader<kReadSpan | kReadVectored>(data, o));
    return DrainWithReadBuf(reader, buf);
  }
};

struct SpanToBufBorrowing {
  static constexpr const char* kName = "SpanToBuf<span*>";
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions& o, B& buf) {
    FaultReader<kReadSpan> inner(data, o);
    SpanToBufReader reader(&inner);
    return DrainWithReadBuf(reader, buf);
  }
};

// BufToSpan's read(span), seen through a span-only view, lifted back.
struct BufToSpanRoundTrip {
  static constexpr const char* kName = "SpanToBuf<SpanView<BufToSpan<buf>>>";
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions& o, B& buf) {
    BufToSpanReader middle(FaultReader<kReadBuf>(data, o));
    SpanToBufReader reader(SpanView<decltype(middle)>{&middle});
    return DrainWithReadBuf(reader, buf);
  }
};

struct VectoredToScalarReadBuf {
  static constexpr const char* kName = "VectoredToScalar<span>.read_buf";
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions& o, B& buf) {
    VectoredToScalarReader reader(FaultReader<kReadSpan>(data, o));
    return DrainWithReadBuf(reader, buf);
  }
};

// VectoredToScalar's readv (first non-empty region), driven by
// ScalarToVectored's readv path.
struct VectoredToScalarReadv {
  static constexpr const char* kName =
      "ScalarToVectored<ReadvView<VectoredToScalar<span>>>";
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions& o, B& buf) {
    VectoredToScalarReader middle(FaultReader<kReadSpan>(data, o));
    ScalarToVectoredReader reader(ReadvView<decltype(middle)>{&middle});
    return DrainWithReadBuf(reader, buf);
  }
};

struct VectoredToScalarReadvOverBuf {
  static constexpr const char* kName =
      "ScalarToVectored<ReadvView<VectoredToScalar<buf>>>";
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions& o, B& buf) {
    VectoredToScalarReader middle(FaultReader<kReadBuf>(data, o));
    ScalarToVectoredReader reader(ReadvView<decltype(middle)>{&middle});
    return DrainWithReadBuf(reader, buf);
  }
};

struct ScalarToVectoredOverSpan {
  static constexpr const char* kName = "ScalarToVectored<span>";
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions& o, B& buf) {
    ScalarToVectoredReader reader(FaultReader<kReadSpan>(data, o));
    return DrainWithReadBuf(reader, buf);
  }
};

struct ScalarToVectoredOverBuf {
  static constexpr const char* kName = "ScalarToVectored<BufView<buf>>";
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions& o, B& buf) {
    FaultReader<kReadBuf> inner(data, o);
    ScalarToVectoredReader reader(BufView<decltype(inner)>{&inner});
    return DrainWithReadBuf(reader, buf);
  }
};

struct OwnedToBufOverOwned {
  static constexpr const char* kName = "OwnedToBuf<owned>";
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions& o, B& buf) {
    OwnedToBufReader reader(FaultReader<kReadOwned>(data, o));
    return DrainWithReadBuf(reader, buf);
  }
};

inline BufToOwnedOptions SmallBlocks() {
  BufToOwnedOptions options;
  options.max_block_size = 300;
  return options;
}

struct BufToOwnedOverBuf {
  static constexpr const char* kName = "OwnedToBuf<BufToOwned<buf>>";
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions& o, B& buf) {
    OwnedToBufReader reader(BufToOwnedReader(
        FaultReader<kReadBuf>(data, o), SmallBlocks()));
    return DrainWithReadBuf(reader, buf);
  }
};

struct BufToOwnedOverTry {
  static constexpr const char* kName = "OwnedToBuf<BufToOwned<try_read>>";
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions& o, B& buf) {
    OwnedToBufReader reader(BufToOwnedReader(FaultReader<kReadTry>(data, o)));
    return DrainWithReadBuf(reader, buf);
  }
};

struct ScratchCopyOverSpan {
  static constexpr const char* kName = "OwnedToBuf<ScratchCopy<span>>";
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions& o, B& buf) {
    OwnedToBufReader reader(ScratchCopyReader(FaultReader<kReadSpan>(data, o)));
    return DrainWithReadBuf(reader, buf);
  }
};

template <uint32_t kCaps>
struct AnyReaderOver {
  static constexpr const char* kName = "AnyReader<FaultReader<caps>>";
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions& o, B& buf) {
    AnyReader reader(FaultReader<kCaps>(data, o));
    return DrainWithReadBuf(reader, buf);
  }
};

// --- Ecosystem bridges ---
// Cases with kHandlesFaults = false read a source with no injected faults
// (the conformance suite strips them); they still see every policy.

struct FdReaderOverFaultySyscalls {
  static constexpr const char* kName = "FdReader<FaultSyscalls> (EINTR, EAGAIN)";
  static constexpr bool kHandlesFaults = true;
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions& o, B& buf) {
    FaultOptions with_eintr = o;
    with_eintr.eintr_rate = 0.2;
    BasicFdReader<testing::FaultSyscalls> reader(
        3, testing::FaultSyscalls(data, with_eintr));
    return DrainWithReadBuf(reader, buf);
  }
  // The syscall face reports EIO for error_at, as "readv(fd=3)" or
  // "read(fd=3)".
  static bool ErrorMatches(const absl::Status& got, const FaultOptions&) {
    return got.code() == absl::ErrnoToStatusCode(EIO) &&
           got.message().find("(fd=3)") != absl::string_view::npos;
  }
};

struct FileReaderOverFmemopen {
  static constexpr const char* kName = "FileReader<fmemopen>";
  static constexpr bool kHandlesFaults = false;
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions&, B& buf) {
    std::string copy = data;
    std::FILE* file = copy.empty() ? std::fopen("/dev/null", "rb")
                                   : ::fmemopen(copy.data(), copy.size(), "rb");
    FileReader reader(file);
    DrainResult result = DrainWithReadBuf(reader, buf);
    std::fclose(file);
    return result;
  }
};

struct IstreamReaderOverStringstream {
  static constexpr const char* kName = "IstreamReader<istringstream>";
  static constexpr bool kHandlesFaults = false;
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions&, B& buf) {
    std::istringstream stream(data);
    IstreamReader reader(stream);
    return DrainWithReadBuf(reader, buf);
  }
};

// A readbuf reader as a streambuf, read back through an istream.
struct StreambufRoundTrip {
  static constexpr const char* kName =
      "IstreamReader<istream<ReaderStreambuf<FaultReader>>>";
  static constexpr bool kHandlesFaults = false;
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions& o, B& buf) {
    ReaderStreambuf sb(FaultReader<kReadSpan>(data, o), 777);
    std::istream stream(&sb);
    IstreamReader reader(stream);
    DrainResult result = DrainWithReadBuf(reader, buf);
    if (result.status.ok()) result.status = sb.status();
    return result;
  }
};

struct CordReaderOverFragments {
  static constexpr const char* kName = "CordReader<fragmented Cord>";
  static constexpr bool kHandlesFaults = false;
  template <class B>
  static DrainResult Run(const std::string& data, const FaultOptions&, B& buf) {
    absl::Cord cord;
    for (size_t i = 0; i < data.size(); i += 1000) {
      cord.Append(absl::MakeCordFromExternal(
          absl::string_view(data).substr(i, 1000), [] {}));
    }
    CordReader reader(std::move(cord));
    return DrainWithReadBuf(reader, buf);
  }
};

template <class... Cases>
struct CaseList {
  template <class Fn>
  static void ForEach(Fn&& fn) {
    (fn.template operator()<Cases>(), ...);
  }
};

using CoreCases =
    CaseList<SpanToBufOverSpan, SpanToBufOverReadv, SpanToBufBorrowing,
             BufToSpanRoundTrip, VectoredToScalarReadBuf, VectoredToScalarReadv,
             VectoredToScalarReadvOverBuf, ScalarToVectoredOverSpan,
             ScalarToVectoredOverBuf, OwnedToBufOverOwned, BufToOwnedOverBuf,
             BufToOwnedOverTry, ScratchCopyOverSpan, AnyReaderOver<kReadSpan>,
             AnyReaderOver<kReadBuf>, AnyReaderOver<kReadVectored>,
             FdReaderOverFaultySyscalls, FileReaderOverFmemopen,
             IstreamReaderOverStringstream, StreambufRoundTrip,
             CordReaderOverFragments>;

template <class Fn>
void ForEachCase(Fn&& fn) {
  CoreCases::ForEach(fn);
}

}  // namespace readbuf::adapter_cases

#endif  // READBUF_TESTS_ADAPTERS_ADAPTER_CASES_H_
