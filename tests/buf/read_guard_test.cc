// Tests for buf/internal/read_guard.h: a reader that swaps the buffer or
// misreports what it wrote is caught in debug builds.
#include "buf/internal/read_guard.h"

#include <utility>

#include "buf/uninit.h"
#include "buf/vectored.h"
#include "gtest/gtest.h"

namespace readbuf::buf_internal {
namespace {

TEST(ReadGuardTest, AcceptsAnHonestReader) {
  Uninit buf(64);
  ReadGuard guard(buf);
  buf.unfilled().write(std::as_bytes(std::span("abc", 3)));
  buf.advance(3);
  guard.Verify(3);
  Vectored<2> vbuf({2, 2});
  ReadGuard vguard(vbuf);
  vbuf.advance(3);
  vguard.Verify(3);
}

#ifndef NDEBUG
TEST(ReadGuardDeathTest, CatchesASwappedBuffer) {
  Uninit buf(64);
  Uninit other(64);
  ReadGuard guard(buf);
  std::swap(buf, other);  // what tokio #2827's reader did
  EXPECT_DEATH(guard.Verify(0), "swapped the buffer's memory");
}

TEST(ReadGuardDeathTest, CatchesAResizedBuffer) {
  Uninit buf(64);
  ReadGuard guard(buf);
  buf = Uninit(128);
  EXPECT_DEATH(guard.Verify(0), "changed the buffer's capacity");
}

TEST(ReadGuardDeathTest, CatchesAMisreportedCount) {
  Uninit buf(64);
  ReadGuard guard(buf);
  buf.advance(10);
  EXPECT_DEATH(guard.Verify(4), "reported 4 bytes but advanced the buffer by 10");
}
#endif

}  // namespace
}  // namespace readbuf::buf_internal
