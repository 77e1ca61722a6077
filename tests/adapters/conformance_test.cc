// The adapter conformance suite: every adapter x every buffer policy, over a
// fault-injecting inner reader (tests/testing/fault_reader.h): random short
// reads, would-block, an error mid-stream, EOF in the middle of a vectored
// read. Output must equal input, byte for byte, in order; an error must
// arrive after exactly the bytes before it, unchanged.
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "adapters/buf_to_owned.h"
#include "adapters/buf_to_span.h"
#include "adapters/owned_to_buf.h"
#include "adapters/scalar_to_vectored.h"
#include "adapters/scratch_copy_reader.h"
#include "adapters/span_to_buf.h"
#include "adapters/vectored_to_scalar.h"
#include "buf/dyn.h"
#include "buf/pooled.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "gtest/gtest.h"
#include "io/reader_concepts.h"
#include "tests/adapters/adapter_cases.h"
#include "tests/testing/fault_reader.h"
#include "tests/testing/read_driver.h"

namespace readbuf {
namespace {

using ::readbuf::testing::DrainResult;
using ::readbuf::testing::FaultOptions;
using ::readbuf::testing::MakeTestBuf;
using ::readbuf::testing::RandomBytes;

FaultOptions Options(uint64_t seed, double short_read_rate = 0.5,
                     double would_block_rate = 0.0) {
  FaultOptions options;
  options.seed = seed;
  options.short_read_rate = short_read_rate;
  options.would_block_rate = would_block_rate;
  return options;
}

template <class B>
class ConformanceTest : public ::testing::Test {};

using Policies =
    ::testing::Types<Zeroed, Uninit, Vectored<4>, DynamicVectored, Dyn, Pooled>;
TYPED_TEST_SUITE(ConformanceTest, Policies);

// Runs every case in AllCases over a fresh buffer of `capacity` bytes and
// checks the result against the script.
template <class B>
void CheckAllCases(const std::string& data, const FaultOptions& options,
                   size_t capacity) {
  adapter_cases::ForEachCase([&]<class Case>() {
    SCOPED_TRACE(::testing::Message()
                 << Case::kName << " seed=" << options.seed
                 << " capacity=" << capacity << " size=" << data.size());
    bool handles_faults = true;
    if constexpr (requires { Case::kHandlesFaults; }) {
      handles_faults = Case::kHandlesFaults;
    }
    FaultOptions effective = options;
    if (!handles_faults) {  // a source with no injected faults
      effective.would_block_rate = 0;
      effective.error_at.reset();
    }
    B buf = MakeTestBuf<B>(capacity);
    DrainResult result = Case::Run(data, effective, buf);
    if (effective.error_at.has_value() && *effective.error_at < data.size()) {
      if constexpr (requires { Case::ErrorMatches(result.status, options); }) {
        EXPECT_TRUE(Case::ErrorMatches(result.status, options)) << result.status;
      } else {
        EXPECT_EQ(result.status, options.error);
      }
      ASSERT_EQ(result.bytes.size(), *effective.error_at);
      EXPECT_TRUE(result.bytes == data.substr(0, *effective.error_at));
    } else {
      EXPECT_TRUE(result.status.ok()) << result.status;
      ASSERT_EQ(result.bytes.size(), data.size());
      EXPECT_TRUE(result.bytes == data) << "bytes differ";
    }
  });
}

TYPED_TEST(ConformanceTest, OutputEqualsInputWithShortReads) {
  const std::string data = RandomBytes(20000, 7);
  CheckAllCases<TypeParam>(data, Options(1), 1000);
}

TYPED_TEST(ConformanceTest, OutputEqualsInputWithWouldBlock) {
  const std::string data = RandomBytes(9000, 8);
  CheckAllCases<TypeParam>(
      data, Options(2, 0.5, 0.3), 700);
}

TYPED_TEST(ConformanceTest, FullReadsOnly) {
  const std::string data = RandomBytes(4096 * 3 + 17, 9);
  CheckAllCases<TypeParam>(data, Options(3, 0.0),
                           4096);
}

TYPED_TEST(ConformanceTest, EmptyStreamIsImmediateEof) {
  CheckAllCases<TypeParam>(std::string(), Options(4), 64);
}

TYPED_TEST(ConformanceTest, ErrorMidStreamArrivesAfterTheBytesBeforeIt) {
  const std::string data = RandomBytes(8000, 10);
  FaultOptions options = Options(5, 0.5, 0.1);
  options.error_at = 5003;
  options.error = absl::ErrnoToStatus(ECONNRESET, "read(fd=42)");
  CheckAllCases<TypeParam>(data, options, 512);
}

TYPED_TEST(ConformanceTest, ErrorAtTheStart) {
  const std::string data = RandomBytes(100, 11);
  FaultOptions options = Options(6);
  options.error_at = 0;
  options.error = absl::ErrnoToStatus(EIO, "read(fd=3)");
  CheckAllCases<TypeParam>(data, options, 64);
}

// Randomized long runs: sizes, capacities, fault rates and error points
// drawn from a seeded RNG (bounded so the binary stays well under 20 s under
// ASan/TSan).
TYPED_TEST(ConformanceTest, RandomizedRuns) {
  std::mt19937_64 rng(0x5eed);
  for (int run = 0; run < 12; ++run) {
    const uint64_t seed = rng();
    const size_t size = std::uniform_int_distribution<size_t>(0, 30000)(rng);
    const size_t capacity =
        std::uniform_int_distribution<size_t>(16, 5000)(rng);
    const double short_rate = std::uniform_real_distribution<double>(0, 1)(rng);
    const double block_rate =
        std::uniform_real_distribution<double>(0, 0.4)(rng);
    FaultOptions options = Options(seed, short_rate, block_rate);
    if (rng() % 3 == 0 && size != 0) {
      options.error_at = std::uniform_int_distribution<size_t>(0, size - 1)(rng);
      options.error = absl::ErrnoToStatus(EPIPE, "read(random)");
    }
    CheckAllCases<TypeParam>(RandomBytes(size, seed), options, capacity);
  }
}

}  // namespace
}  // namespace readbuf
