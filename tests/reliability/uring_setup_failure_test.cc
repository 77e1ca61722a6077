// Fault injection: io_uring_setup(2) fails, as it does in containers whose
// seccomp profile denies io_uring, or with kernel.io_uring_disabled=2. The
// test installs a seccomp filter on its own process that makes every
// io_uring_setup call fail with EPERM (the filter is irreversible, which is
// why these tests have a binary of their own).
// Expected: a Runtime asked for io_uring (explicitly, via READBUF_BACKEND,
// or by default) runs on epoll on every core, says so in backend_name() and
// backend_note() (with the errno), and serves sockets normally: read_into,
// pooled_read (no provided-buffer ring, readiness path) and writes.
#include <errno.h>
#include <linux/io_uring.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "gtest/gtest.h"
#include "io/net.h"
#include "io/pooled_ops.h"
#include "io/read_into.h"
#include "io/ring_read.h"
#include "io/runtime.h"
#include "io/task.h"
#include "tests/reliability/fault_test_util.h"
#include "tests/reliability/seccomp_deny.h"

namespace readbuf {
namespace {

// One pooled_read, appended to `out`; the byte count, 0 at EOF.
Task<absl::StatusOr<size_t>> AppendPooledRead(TcpStream* s, std::vector<std::byte>* out) {
  absl::StatusOr<std::optional<PoolBytes>> b = co_await pooled_read(*s);
  if (!b.ok()) co_return b.status();
  if (!b->has_value()) co_return size_t{0};
  out->insert(out->end(), (*b)->span().begin(), (*b)->span().end());
  co_return (*b)->size();
}

// A loopback round trip through read_into(Pooled) one way and pooled_read
// the other, and the ring statistics the core saw.
Task<absl::StatusOr<RecvRingStats>> RoundTrip(TcpListener* listener) {
  absl::StatusOr<reliability::ConnectedPair> pair = co_await reliability::ConnectPair(listener);
  if (!pair.ok()) co_return pair.status();
  const std::vector<std::byte> data = reliability::SeededBytes(50000, 77);
  if (absl::Status w = co_await pair->client.write_all(data); !w.ok()) co_return w;
  std::vector<std::byte> got;
  Pooled buf;
  while (got.size() < data.size()) {
    absl::StatusOr<size_t> n = co_await read_into(pair->server, buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::DataLossError("early EOF");
    got.insert(got.end(), buf.filled().begin(), buf.filled().end());
    buf.clear();
  }
  if (got != data) co_return absl::DataLossError("read_into: bytes differ");
  if (absl::Status w = co_await pair->server.write_all(data); !w.ok()) co_return w;
  got.clear();
  while (got.size() < data.size()) {
    absl::StatusOr<size_t> n = co_await AppendPooledRead(&pair->client, &got);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::DataLossError("early EOF");
  }
  if (got != data) co_return absl::DataLossError("pooled_read: bytes differ");
  co_return recv_ring_stats();
}

class UringSetupFailureTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const absl::Status denied = reliability::DenySyscall(__NR_io_uring_setup, EPERM);
    ASSERT_TRUE(denied.ok()) << denied;
  }

  // Runs a Runtime built from `options` and checks it fell back and works.
  static void ExpectEpollFallback(RuntimeOptions options) {
    Runtime rt(options);
    EXPECT_STREQ(rt.backend_name(), "epoll");
    EXPECT_TRUE(absl::StrContains(rt.backend_note(), "io_uring")) << rt.backend_note();
    EXPECT_TRUE(absl::StrContains(rt.backend_note(), "ermission") ||
                absl::StrContains(rt.backend_note(), "not permitted"))
        << "the note should carry the errno: " << rt.backend_note();
    absl::StatusOr<TcpListener> l = TcpListener::bind(reliability::Loopback());
    ASSERT_TRUE(l.ok()) << l.status();
    for (int core = 0; core < rt.n_cores(); ++core) {
      absl::StatusOr<RecvRingStats> st = rt.spawn_on(core, RoundTrip(&*l)).BlockingJoin();
      ASSERT_TRUE(st.ok()) << "core " << core << ": " << st.status();
      EXPECT_FALSE(st->active) << "a provided-buffer ring on an epoll core";
    }
  }
};

TEST_F(UringSetupFailureTest, TheFilterDeniesIoUringSetup) {
  io_uring_params p;
  std::memset(&p, 0, sizeof(p));
  const long r = ::syscall(__NR_io_uring_setup, 4, &p);
  const int err = errno;
  if (r >= 0) ::close(static_cast<int>(r));
  EXPECT_EQ(r, -1);
  EXPECT_EQ(err, EPERM);
}

TEST_F(UringSetupFailureTest, ExplicitUringFallsBackToEpollOnEveryCore) {
  ExpectEpollFallback({.n_cores = 2, .backend = BackendKind::kUring});
}

TEST_F(UringSetupFailureTest, EnvironmentUringFallsBackToEpoll) {
  ::setenv("READBUF_BACKEND", "uring", 1);
  ExpectEpollFallback({.n_cores = 1, .backend = BackendKind::kAuto});
  ::unsetenv("READBUF_BACKEND");
}

TEST_F(UringSetupFailureTest, DefaultBackendFallsBackToEpoll) {
  ::unsetenv("READBUF_BACKEND");
  ExpectEpollFallback({.n_cores = 1, .backend = BackendKind::kAuto});
}

}  // namespace
}  // namespace readbuf
