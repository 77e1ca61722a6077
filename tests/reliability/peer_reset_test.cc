// Fault injection: the peer resets (TCP RST) while a read or a write is in
// progress, on both backends and for every read path (read_into with each
// buffer policy, pooled_read, and on io_uring the provided-buffer ring).
// Expected: the pending operation ends with a status naming the operation,
// the fd and the errno (ECONNRESET / EPIPE); bytes delivered before the
// reset are an exact prefix of what was sent; nothing crashes or hangs, and
// the sockets' fds are all closed afterwards.
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "buf/dyn.h"
#include "buf/pooled.h"
#include "buf/read_buf.h"
#include "buf/uninit.h"
#include "buf/vectored.h"
#include "buf/zeroed.h"
#include "gtest/gtest.h"
#include "io/net.h"
#include "io/pooled_ops.h"
#include "io/read_into.h"
#include "io/ring_read.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"
#include "tests/reliability/fault_test_util.h"

namespace readbuf {
namespace {

using reliability::ArmResetOnClose;
using reliability::ConnectedPair;
using reliability::ConnectPair;
using reliability::SeededBytes;

constexpr size_t kPayload = 10000;

// True if `s` is the error a reset connection must give: not OK, naming the
// operation's fd, and saying what happened.
bool IsResetError(const absl::Status& s) {
  if (s.ok()) return false;
  const absl::string_view m = s.message();
  return absl::StrContains(m, "(fd=") &&
         (absl::StrContains(m, "reset") || absl::StrContains(m, "Broken pipe"));
}

// One read step of a read path: appends what it read to `out`; 0 is EOF.
struct ReadIntoStep {
  template <class Policy>
  static Task<absl::StatusOr<size_t>> Read(TcpStream* s, Policy* buf,
                                           std::vector<std::byte>* out) {
    absl::StatusOr<size_t> n = co_await read_into(*s, *buf);
    if (n.ok()) {
      for_each_filled(*buf, [out](std::span<const std::byte> part) {
        out->insert(out->end(), part.begin(), part.end());
      });
      buf->clear();
    }
    co_return n;
  }
};

struct PooledReadStep {
  template <class Unused>
  static Task<absl::StatusOr<size_t>> Read(TcpStream* s, Unused*,
                                           std::vector<std::byte>* out) {
    absl::StatusOr<std::optional<PoolBytes>> b = co_await pooled_read(*s);
    if (!b.ok()) co_return b.status();
    if (!b->has_value()) co_return size_t{0};
    out->insert(out->end(), (*b)->span().begin(), (*b)->span().end());
    co_return (*b)->size();
  }
};

// Runs one read step as a task of its own, storing its result in `*result`
// (a void task: GCC 12 misreads JoinHandle<StatusOr<size_t>> as
// maybe-uninitialized).
template <class Step, class Policy>
Task<void> ReadInto(TcpStream* s, Policy* buf, std::vector<std::byte>* out,
                    absl::StatusOr<size_t>* result) {
  *result = co_await Step::Read(s, buf, out);
}

// The server reads all of a first message, then waits in a read that the
// client's RST must end with an error.
template <class Step, class Policy>
Task<absl::Status> ResetWhileReadIsPending(TcpListener* listener, Policy buf,
                                           uint32_t seed) {
  absl::StatusOr<ConnectedPair> pair = co_await ConnectPair(listener);
  if (!pair.ok()) co_return pair.status();
  const std::vector<std::byte> data = SeededBytes(kPayload, seed);
  if (absl::Status w = co_await pair->client.write_all(data); !w.ok()) co_return w;
  std::vector<std::byte> got;
  while (got.size() < data.size()) {
    absl::StatusOr<size_t> n = co_await Step::Read(&pair->server, &buf, &got);
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return absl::DataLossError("EOF before the whole message");
  }
  if (got != data) co_return absl::DataLossError("the message differs");

  std::vector<std::byte> after;
  absl::StatusOr<size_t> r = size_t{0};
  JoinHandle<void> pending = spawn(ReadInto<Step>(&pair->server, &buf, &after, &r));
  co_await sleep_for(absl::Milliseconds(20));
  if (pending.done()) co_return absl::InternalError("the read did not wait for data");
  ArmResetOnClose(pair->client.async_fd().fd());
  pair->client.close();
  if (absl::Status joined = co_await pending; !joined.ok()) co_return joined;
  if (r.ok()) {
    co_return absl::InternalError(absl::StrCat("read after RST gave ", *r, " bytes, not an error"));
  }
  if (!IsResetError(r.status())) {
    co_return absl::InternalError(absl::StrCat("unclear reset error: ", r.status().ToString()));
  }
  // The connection is dead: a further read is EOF or an error, never bytes.
  absl::StatusOr<size_t> again = co_await Step::Read(&pair->server, &buf, &after);
  if (again.ok() && *again != 0) co_return absl::InternalError("bytes after a reset");
  co_return absl::OkStatus();
}

// The client sends a message and resets at once, so the RST can overtake
// data the server has not read yet. What the server reads must be an exact
// prefix of the message, and the reads must end in a reset error.
template <class Step, class Policy>
Task<absl::Status> ResetWithUnreadData(TcpListener* listener, Policy buf, uint32_t seed) {
  absl::StatusOr<ConnectedPair> pair = co_await ConnectPair(listener);
  if (!pair.ok()) co_return pair.status();
  const std::vector<std::byte> data = SeededBytes(kPayload, seed);
  if (absl::Status w = co_await pair->client.write_all(data); !w.ok()) co_return w;
  ArmResetOnClose(pair->client.async_fd().fd());
  pair->client.close();
  std::vector<std::byte> got;
  for (;;) {
    absl::StatusOr<size_t> n = co_await Step::Read(&pair->server, &buf, &got);
    if (got.size() > data.size() ||
        !std::equal(got.begin(), got.end(), data.begin())) {
      co_return absl::DataLossError("bytes read before the reset are not a prefix");
    }
    if (!n.ok()) {
      if (!IsResetError(n.status())) {
        co_return absl::InternalError(absl::StrCat("unclear reset error: ", n.status().ToString()));
      }
      co_return absl::OkStatus();
    }
    if (*n == 0) co_return absl::InternalError("EOF instead of a reset error");
  }
}

class PeerResetTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    fds_before_ = reliability::CountOpenFds();
    rt_.emplace(RuntimeOptions{.n_cores = 1, .backend = GetParam()});
    absl::StatusOr<TcpListener> l = TcpListener::bind(reliability::Loopback());
    ASSERT_TRUE(l.ok()) << l.status();
    listener_.emplace(*std::move(l));
  }
  void TearDown() override {
    listener_.reset();
    rt_.reset();
    EXPECT_EQ(reliability::CountOpenFds(), fds_before_) << "fds leaked";
  }

  template <class Step, class Policy>
  void ExpectResetHandled(Policy buf, uint32_t seed) {
    absl::Status pending = rt_->block_on(
        ResetWhileReadIsPending<Step>(&*listener_, std::move(buf), seed));
    EXPECT_TRUE(pending.ok()) << pending;
  }
  template <class Step, class Policy>
  void ExpectUnreadResetHandled(Policy buf, uint32_t seed) {
    absl::Status unread = rt_->block_on(
        ResetWithUnreadData<Step>(&*listener_, std::move(buf), seed));
    EXPECT_TRUE(unread.ok()) << unread;
  }

  int fds_before_ = 0;
  std::optional<Runtime> rt_;
  std::optional<TcpListener> listener_;
};

TEST_P(PeerResetTest, PendingReadIntoZeroedFailsWithReset) {
  ExpectResetHandled<ReadIntoStep>(Zeroed(4096), 1);
}
TEST_P(PeerResetTest, PendingReadIntoUninitFailsWithReset) {
  ExpectResetHandled<ReadIntoStep>(Uninit(4096), 2);
}
TEST_P(PeerResetTest, PendingReadIntoVectoredFailsWithReset) {
  ExpectResetHandled<ReadIntoStep>(Vectored<4>(1024), 3);
}
TEST_P(PeerResetTest, PendingReadIntoDynFailsWithReset) {
  ExpectResetHandled<ReadIntoStep>(Dyn(Uninit(3000)), 4);
}
TEST_P(PeerResetTest, PendingReadIntoPooledFailsWithReset) {
  ExpectResetHandled<ReadIntoStep>(Pooled(), 5);
}
// On io_uring this is the provided-buffer ring's multishot recv.
TEST_P(PeerResetTest, PendingPooledReadFailsWithReset) {
  ExpectResetHandled<PooledReadStep>(0, 6);
}

TEST_P(PeerResetTest, UnreadDataThenResetGivesAPrefixThenAnError) {
  ExpectUnreadResetHandled<ReadIntoStep>(Uninit(1500), 7);
  ExpectUnreadResetHandled<ReadIntoStep>(Pooled(), 8);
  ExpectUnreadResetHandled<ReadIntoStep>(Vectored<4>(700), 9);
  ExpectUnreadResetHandled<PooledReadStep>(0, 10);
}

// A write blocked on a full socket buffer when the peer resets.
Task<absl::Status> WriteAllTask(TcpStream* s, const std::vector<std::byte>* data) {
  co_return co_await s->write_all(*data);
}
Task<absl::Status> WritevTask(TcpStream* s, const std::vector<std::byte>* data) {
  const size_t half = data->size() / 2;
  size_t off = 0;
  while (off < data->size()) {
    iovec iov[2];
    size_t n_iov = 0;
    auto* base = const_cast<std::byte*>(data->data());
    if (off < half) iov[n_iov++] = {base + off, half - off};
    const size_t second = std::max(off, half);
    iov[n_iov++] = {base + second, data->size() - second};
    absl::StatusOr<size_t> n = co_await s->writev(std::span<const iovec>(iov, n_iov));
    if (!n.ok()) co_return n.status();
    off += *n;
  }
  co_return absl::OkStatus();
}

template <class WriteFn>
Task<absl::Status> ResetWhileWriteIsPending(TcpListener* listener, WriteFn write) {
  absl::StatusOr<ConnectedPair> pair = co_await ConnectPair(listener);
  if (!pair.ok()) co_return pair.status();
  // Far more than loopback socket buffers hold, so the write must wait.
  const std::vector<std::byte> big(64 << 20, std::byte{0x5a});
  JoinHandle<absl::Status> writer = spawn(write(&pair->server, &big));
  co_await sleep_for(absl::Milliseconds(50));
  if (writer.done()) co_return absl::InternalError("the write did not block");
  ArmResetOnClose(pair->client.async_fd().fd());
  pair->client.close();
  absl::Status w = co_await writer;
  if (!IsResetError(w)) {
    co_return absl::InternalError(absl::StrCat("unclear write error: ", w.ToString()));
  }
  const absl::string_view m = w.message();
  if (!absl::StrContains(m, "send(fd=") && !absl::StrContains(m, "sendmsg(fd=")) {
    co_return absl::InternalError(absl::StrCat("error does not name the write: ", w.ToString()));
  }
  co_return absl::OkStatus();
}

TEST_P(PeerResetTest, PendingWriteAllFailsWithResetOrBrokenPipe) {
  absl::Status s = rt_->block_on(ResetWhileWriteIsPending(&*listener_, WriteAllTask));
  EXPECT_TRUE(s.ok()) << s;
}

TEST_P(PeerResetTest, PendingWritevFailsWithResetOrBrokenPipe) {
  absl::Status s = rt_->block_on(ResetWhileWriteIsPending(&*listener_, WritevTask));
  EXPECT_TRUE(s.ok()) << s;
}

INSTANTIATE_TEST_SUITE_P(Backends, PeerResetTest,
                         ::testing::ValuesIn(reliability::BothBackends()),
                         reliability::BackendParamName);

}  // namespace
}  // namespace readbuf
