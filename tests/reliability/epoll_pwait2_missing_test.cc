// Fault injection: the kernel has no epoll_pwait2(2) (added in Linux 5.11;
// also missing under valgrind 3.19), so it fails with ENOSYS, or an older
// container seccomp profile forbids it, so it fails with EPERM. The test
// denies it with a seccomp filter on its own process, with the errno
// READBUF_DENY_ERRNO (one binary per errno: the filter is irreversible).
// Expected: the epoll backend, which is also the fallback whenever io_uring
// is unavailable, still works: timers fire and sockets carry bytes (e.g. by
// falling back to epoll_pwait with a millisecond timeout).
#include <errno.h>
#include <sys/syscall.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "buf/uninit.h"
#include "gtest/gtest.h"
#include "io/net.h"
#include "io/read_into.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "tests/reliability/fault_test_util.h"
#include "tests/reliability/seccomp_deny.h"

#ifndef __NR_epoll_pwait2
#define __NR_epoll_pwait2 441  // the same number on every architecture
#endif
#ifndef READBUF_DENY_ERRNO
#define READBUF_DENY_ERRNO ENOSYS
#endif

namespace readbuf {
namespace {

Task<absl::Status> SleepThenEcho(TcpListener* listener) {
  const absl::Time start = absl::Now();
  co_await sleep_for(absl::Milliseconds(20));
  if (absl::Now() - start < absl::Milliseconds(20)) {
    co_return absl::InternalError("the timer fired early");
  }
  absl::StatusOr<reliability::ConnectedPair> p = co_await reliability::ConnectPair(listener);
  if (!p.ok()) co_return p.status();
  const std::vector<std::byte> data = reliability::SeededBytes(100000, 5);
  if (absl::Status w = co_await p->client.write_all(data); !w.ok()) co_return w;
  std::vector<std::byte> got;
  Uninit buf(16384);
  while (got.size() < data.size()) {
    absl::StatusOr<size_t> n = co_await read_into(p->server, buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::DataLossError("early EOF");
    got.insert(got.end(), buf.filled().begin(), buf.filled().end());
    buf.clear();
  }
  if (got != data) co_return absl::DataLossError("bytes differ");
  co_return absl::OkStatus();
}

TEST(EpollPwait2MissingTest, EpollBackendWorksWithoutEpollPwait2) {
  const absl::Status denied = reliability::DenySyscall(__NR_epoll_pwait2, READBUF_DENY_ERRNO);
  ASSERT_TRUE(denied.ok()) << denied;
  Runtime rt({.n_cores = 1, .backend = BackendKind::kEpoll});
  absl::StatusOr<TcpListener> l = TcpListener::bind(reliability::Loopback());
  ASSERT_TRUE(l.ok()) << l.status();
  absl::Status s = rt.block_on(SleepThenEcho(&*l));
  EXPECT_TRUE(s.ok()) << s;
}

}  // namespace
}  // namespace readbuf
