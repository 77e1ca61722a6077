// Wrapping never loses a capability (design decision 2; tokio #3135): every
// adapter over a reader with readv / try_read / read_owned has them too, at
// every depth of nesting, by value or borrowed, and AnyReader keeps them in
// its run-time mask. Compile-time proofs, plus a run-time check of the mask.
#include <sys/uio.h>

#include <cstdint>

#include "adapters/any_reader.h"
#include "adapters/buf_to_owned.h"
#include "adapters/buf_to_span.h"
#include "adapters/owned_to_buf.h"
#include "adapters/scalar_to_vectored.h"
#include "adapters/scratch_copy_reader.h"
#include "adapters/span_to_buf.h"
#include "adapters/vectored_to_scalar.h"
#include "gtest/gtest.h"
#include "io/reader_concepts.h"
#include "tests/testing/fault_reader.h"

namespace readbuf {
namespace {

using ::readbuf::testing::FaultOptions;
using ::readbuf::testing::FaultReader;

using Full = FaultReader<kReadSpan | kReadBuf | kReadVectored | kReadTry |
                         kReadOwned>;
using SpanReadv = FaultReader<kReadSpan | kReadVectored>;

// Each single wrapper keeps readv.
static_assert(VectoredReader<SpanToBufReader<SpanReadv>>);
static_assert(VectoredReader<SpanToBufReader<SpanReadv*>>);
static_assert(VectoredReader<BufToSpanReader<Full>>);
static_assert(VectoredReader<VectoredToScalarReader<SpanReadv>>);
static_assert(VectoredReader<ScalarToVectoredReader<SpanReadv>>);
static_assert(VectoredReader<BufToOwnedReader<Full>>);
static_assert(VectoredReader<ScratchCopyReader<SpanReadv>>);
static_assert(VectoredReader<OwnedToBufReader<Full>>);
static_assert(VectoredReader<AnyReader>);

// Nesting keeps it too.
using Nested = SpanToBufReader<BufToSpanReader<
    VectoredToScalarReader<ScalarToVectoredReader<BufToOwnedReader<Full>>>>>;
static_assert(VectoredReader<Nested>);
static_assert(TryReader<Nested>);
static_assert(BufReader<Nested> && SpanReader<Nested>);

// try_read and read_owned are forwarded exactly when the inner has them.
static_assert(TryReader<SpanToBufReader<Full>> && OwnedReader<SpanToBufReader<Full>>);
static_assert(TryReader<BufToSpanReader<Full>> && OwnedReader<BufToSpanReader<Full>>);
static_assert(TryReader<VectoredToScalarReader<Full>>);
static_assert(OwnedReader<VectoredToScalarReader<Full>>);
static_assert(TryReader<ScalarToVectoredReader<Full>>);
static_assert(OwnedReader<ScalarToVectoredReader<Full>>);
static_assert(!TryReader<SpanToBufReader<SpanReadv>>);
static_assert(!OwnedReader<SpanToBufReader<SpanReadv>>);
static_assert(kReaderCapabilities<SpanToBufReader<Full>> ==
              kReaderCapabilities<Full>);
static_assert(kReaderCapabilities<BufToSpanReader<Full>> ==
              kReaderCapabilities<Full>);

TEST(ForwardingTest, AnyReaderKeepsTheNestedCapabilitiesInItsMask) {
  AnyReader reader(Nested(BufToSpanReader(VectoredToScalarReader(
      ScalarToVectoredReader(BufToOwnedReader(Full("abc", FaultOptions())))))));
  EXPECT_EQ(reader.capabilities(), kReaderCapabilities<Nested>);
  EXPECT_NE(reader.capabilities() & kReadVectored, 0u);
  EXPECT_NE(reader.capabilities() & kReadTry, 0u);
}

}  // namespace
}  // namespace readbuf
