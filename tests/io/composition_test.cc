// The server building blocks that compose tasks and streams: TaskGroup,
// copy_bidirectional, graceful_close and the write_all overloads, on both
// backends.

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "buf/uninit.h"
#include "gtest/gtest.h"
#include "io/channel.h"
#include "io/copy_bidirectional.h"
#include "io/file.h"
#include "io/graceful_close.h"
#include "io/net.h"
#include "io/read_into.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/task_group.h"
#include "io/timer.h"
#include "tests/io/io_test_util.h"
#include "tests/io/loopback_pair.h"

namespace readbuf {
namespace {

using testing_io::CountOpenFds;
using testing_io::RandomBytes;

class CompositionTest : public testing_io::BackendSuite<1> {};

// --- TaskGroup ----------------------------------------------------------------

struct Flag {
  std::atomic<int>* n;
  ~Flag() { n->fetch_add(1); }
};

// Borrows `counter` and `conn` from the parent's frame.
Task<void> Borrower(int* counter, UnixStream* conn, std::atomic<int>* destroyed) {
  Flag guard{destroyed};
  ++*counter;
  std::byte b[8];
  (void)co_await conn->read(b);  // waits forever: the peer sends nothing
  ++*counter;
}

Task<absl::Status> GroupCancelsAndAwaitsChildren(std::atomic<int>* destroyed) {
  int counter = 0;
  {
    // The children borrow `pairs` and `counter`: the group is declared after
    // them, so it is destroyed -- and its children with it -- first.
    std::vector<std::pair<UnixStream, UnixStream>> pairs;
    for (int i = 0; i < 4; ++i) {
      absl::StatusOr<std::pair<UnixStream, UnixStream>> p = UnixStream::Pair();
      if (!p.ok()) co_return p.status();
      pairs.push_back(*std::move(p));
    }
    TaskGroup group;
    for (auto& pr : pairs) (void)group.spawn(Borrower(&counter, &pr.first, destroyed));
    co_await yield_now();
    if (counter != 4 || group.size() != 4) co_return absl::InternalError("children did not start");
  }
  if (destroyed->load() != 4) co_return absl::InternalError("children outlived the group");
  if (counter != 4) co_return absl::InternalError("a child ran past its cancellation");
  co_return absl::OkStatus();
}

TEST_P(CompositionTest, DestroyingAGroupCancelsItsChildrenBeforeItReturns) {
  Runtime rt(Options());
  const int fds = CountOpenFds();
  std::atomic<int> destroyed{0};
  absl::Status s = rt.block_on(GroupCancelsAndAwaitsChildren(&destroyed));
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(CountOpenFds(), fds);
}

Task<int> Returns(int v, absl::Duration d) {
  co_await sleep_for(d);
  co_return v;
}

Task<absl::Status> WaitAndCancel() {
  TaskGroup group;
  JoinHandle<int> a = group.spawn(Returns(1, absl::Milliseconds(2)));
  JoinHandle<int> b = group.spawn(Returns(2, absl::Milliseconds(4)));
  co_await group.wait();
  if (group.size() != 0) co_return absl::InternalError("wait() returned early");
  absl::StatusOr<int> ra = co_await a;
  absl::StatusOr<int> rb = co_await b;
  if (!ra.ok() || !rb.ok() || *ra + *rb != 3) co_return absl::InternalError("wrong results");
  JoinHandle<int> c = group.spawn(Returns(3, absl::Hours(1)));
  group.cancel();  // same core, not pinned: gone now
  if (group.size() != 0) co_return absl::InternalError("cancel() left a child running");
  absl::StatusOr<int> rc = co_await c;
  if (!absl::IsCancelled(rc.status())) co_return absl::InternalError(rc.status().ToString());
  // Many short-lived children: finished ones are pruned, not kept.
  for (int i = 0; i < 1000; ++i) (void)group.spawn(Returns(i, absl::ZeroDuration()));
  co_await group.wait();
  co_return absl::OkStatus();
}

TEST_P(CompositionTest, WaitAndCancel) {
  Runtime rt(Options());
  absl::Status s = rt.block_on(WaitAndCancel());
  EXPECT_TRUE(s.ok()) << s;
}

// A child pinned by an io_uring read the kernel owns: the destructor waits
// for the kernel to let go (it cancels the read) instead of freeing the
// buffer under it.
Task<absl::StatusOr<size_t>> ReadFifo(File* f, std::byte* buf, std::atomic<int>* destroyed) {
  Flag guard{destroyed};
  co_return co_await f->read_at(std::span<std::byte>(buf, 64), 0);
}

Task<absl::Status> GroupWithAPinnedChild(File* f, std::atomic<int>* destroyed) {
  std::byte buf[64];  // borrowed by the child, inside the kernel's read
  {
    TaskGroup group;
    (void)group.spawn(ReadFifo(f, buf, destroyed));
    co_await sleep_for(absl::Milliseconds(5));  // the read is in the kernel now
  }
  if (destroyed->load() != 1) co_return absl::InternalError("the pinned child outlived its group");
  co_return absl::OkStatus();
}

TEST_P(CompositionTest, AGroupWaitsForAChildPinnedByTheKernel) {
  Runtime rt(Options());
  if (rt.backend_name() != std::string("io_uring")) GTEST_SKIP() << "kernel ops are io_uring's";
  const std::string fifo = absl::StrCat(::testing::TempDir(), "/group.", ::getpid(), ".fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  absl::StatusOr<File> f = File::open(fifo, O_RDWR);
  ASSERT_TRUE(f.ok());
  std::atomic<int> destroyed{0};
  absl::Status s = rt.block_on(GroupWithAPinnedChild(&*f, &destroyed));
  EXPECT_TRUE(s.ok()) << s;
  ::unlink(fifo.c_str());
}

// --- copy_bidirectional -------------------------------------------------------

// Runs a proxy between two loopback connections and pushes `bytes` each way
// from blocking threads, then half-closes each side; checks every byte.
Task<BidirectionalCopy> Proxy(TcpStream* a, TcpStream* b, bool splice) {
  PooledCopyOptions o;
  o.allow_splice = splice;
  co_return co_await copy_bidirectional(*a, *b, o);
}

Task<absl::Status> ProxyTraffic(size_t bytes, bool splice, BidirectionalCopy* out) {
  absl::StatusOr<TcpListener> l = TcpListener::bind(testing_io::Loopback());
  if (!l.ok()) co_return l.status();
  absl::StatusOr<testing_io::ConnectedPair> left = co_await testing_io::Connect(&*l);
  absl::StatusOr<testing_io::ConnectedPair> right = co_await testing_io::Connect(&*l);
  if (!left.ok() || !right.ok()) co_return absl::InternalError("connect");
  // Endpoints: left.client (user A) <-> proxy(left.server, right.server) <-> right.client (user B).
  const std::vector<std::byte> up = RandomBytes(bytes, 1);
  const std::vector<std::byte> down = RandomBytes(bytes, 2);
  TaskGroup users;
  auto user = [](TcpStream* s, const std::vector<std::byte>* send,
                 const std::vector<std::byte>* expect) -> Task<absl::Status> {
    TaskGroup io;
    JoinHandle<absl::Status> w = io.spawn([](TcpStream* s, const std::vector<std::byte>* d)
                                              -> Task<absl::Status> {
      if (absl::Status st = co_await s->write_all(*d); !st.ok()) co_return st;
      co_return s->shutdown(SHUT_WR);
    }(s, send));
    std::vector<std::byte> got;
    Uninit buf(64 * 1024);
    for (;;) {
      absl::StatusOr<size_t> n = co_await read_into(*s, buf);
      if (!n.ok()) co_return n.status();
      if (*n == 0) break;
      got.insert(got.end(), buf.filled().begin(), buf.filled().end());
      buf.clear();
    }
    absl::Status ws = co_await w;
    if (!ws.ok()) co_return ws;
    if (got != *expect) co_return absl::DataLossError("bytes differ");
    co_return absl::OkStatus();
  };
  JoinHandle<absl::Status> ua = users.spawn(user(&left->client, &up, &down));
  JoinHandle<absl::Status> ub = users.spawn(user(&right->client, &down, &up));
  *out = co_await Proxy(&left->server, &right->server, splice);
  absl::Status sa = co_await ua;
  absl::Status sb = co_await ub;
  if (!sa.ok()) co_return sa;
  if (!sb.ok()) co_return sb;
  co_return out->status;
}

TEST_P(CompositionTest, CopyBidirectionalCarries32MiBEachWayAndForwardsHalfClose) {
  for (bool splice : {true, false}) {
    Runtime rt(Options());
    BidirectionalCopy r;
    absl::Status s = rt.block_on(ProxyTraffic(32 << 20, splice, &r));
    EXPECT_TRUE(s.ok()) << (splice ? "splice: " : "pool blocks: ") << s;
    EXPECT_EQ(r.a_to_b, 32u << 20);
    EXPECT_EQ(r.b_to_a, 32u << 20);
  }
}

// One side resets mid-stream: the error names the direction, and the counts
// are values.
Task<absl::Status> ProxyWithAReset(BidirectionalCopy* out) {
  absl::StatusOr<TcpListener> l = TcpListener::bind(testing_io::Loopback());
  if (!l.ok()) co_return l.status();
  absl::StatusOr<testing_io::ConnectedPair> left = co_await testing_io::Connect(&*l);
  absl::StatusOr<testing_io::ConnectedPair> right = co_await testing_io::Connect(&*l);
  if (!left.ok() || !right.ok()) co_return absl::InternalError("connect");
  const std::vector<std::byte> data = RandomBytes(100000, 3);
  if (absl::Status s = co_await left->client.write_all(data); !s.ok()) co_return s;
  TaskGroup g;
  JoinHandle<BidirectionalCopy> p = g.spawn(Proxy(&left->server, &right->server, true));
  // B reads the first bytes, then resets its connection.
  std::byte buf[1000];
  absl::StatusOr<size_t> n = co_await right->client.read(buf);
  if (!n.ok()) co_return n.status();
  linger lg{1, 0};
  ::setsockopt(right->client.async_fd().fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  right->client.close();
  absl::StatusOr<BidirectionalCopy> r = co_await p;
  if (!r.ok()) co_return r.status();
  *out = *r;
  co_return absl::OkStatus();
}

TEST_P(CompositionTest, CopyBidirectionalKeepsTheCountsOnError) {
  Runtime rt(Options());
  BidirectionalCopy r;
  absl::Status s = rt.block_on(ProxyWithAReset(&r));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status.message().find("copy_bidirectional"), absl::string_view::npos) << r.status;
  EXPECT_GT(r.a_to_b, 0u);
  EXPECT_LE(r.a_to_b, 100000u);
}

// --- graceful_close ------------------------------------------------------------

// The server answers while the client still has unread bytes in flight: a
// plain close could RST them away; graceful_close delivers the answer.
Task<absl::Status> AnswerThenCloseGracefully(std::string* client_got) {
  absl::StatusOr<TcpListener> l = TcpListener::bind(testing_io::Loopback());
  if (!l.ok()) co_return l.status();
  absl::StatusOr<testing_io::ConnectedPair> p = co_await testing_io::Connect(&*l);
  if (!p.ok()) co_return p.status();
  // The client sends 1 MiB the server never reads.
  const std::vector<std::byte> junk = RandomBytes(1 << 20, 9);
  TaskGroup g;
  JoinHandle<absl::Status> sender = g.spawn([](TcpStream* c, const std::vector<std::byte>* d)
                                                -> Task<absl::Status> {
    co_return co_await c->write_all(*d);
  }(&p->client, &junk));
  co_await sleep_for(absl::Milliseconds(5));
  if (absl::Status s = co_await p->server.write_all("HTTP/1.1 431 Too Large\r\n\r\n"); !s.ok()) {
    co_return s;
  }
  JoinHandle<absl::Status> closer = g.spawn(graceful_close(p->server, absl::Seconds(5)));
  // The client reads the answer, stops sending, and closes its side.
  Uninit buf(256);
  while (client_got->find("\r\n\r\n") == std::string::npos) {
    absl::StatusOr<size_t> n = co_await p->client.read(
        std::span<std::byte>(reinterpret_cast<std::byte*>(buf.initialize_unfilled().data()), 256));
    if (!n.ok()) co_return n.status();
    if (*n == 0) break;
    client_got->append(reinterpret_cast<const char*>(buf.initialize_unfilled().data()), *n);
  }
  sender.cancel();
  if (absl::Status s = p->client.shutdown(SHUT_WR); !s.ok()) co_return s;
  absl::Status closed = co_await closer;
  if (!closed.ok()) co_return absl::InternalError("graceful_close: " + closed.ToString());
  if (p->server.is_open()) co_return absl::InternalError("still open");
  co_return absl::OkStatus();
}

TEST_P(CompositionTest, GracefulCloseDeliversTheLastResponse) {
  Runtime rt(Options());
  std::string got;
  absl::Status s = rt.block_on(AnswerThenCloseGracefully(&got));
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(got, "HTTP/1.1 431 Too Large\r\n\r\n");
}

Task<absl::Status> LingerRunsOut() {
  absl::StatusOr<std::pair<UnixStream, UnixStream>> p = UnixStream::Pair();
  if (!p.ok()) co_return p.status();
  const absl::Time start = absl::Now();
  absl::Status s = co_await graceful_close(p->first, absl::Milliseconds(30));
  if (!absl::IsDeadlineExceeded(s)) co_return absl::InternalError(s.ToString());
  if (absl::Now() - start > absl::Seconds(2)) co_return absl::InternalError("took too long");
  if (p->first.is_open()) co_return absl::InternalError("not closed");
  co_return absl::OkStatus();
}

TEST_P(CompositionTest, GracefulCloseGivesUpAfterTheLinger) {
  Runtime rt(Options());
  absl::Status s = rt.block_on(LingerRunsOut());
  EXPECT_TRUE(s.ok()) << s;
}

// --- write_all overloads ----------------------------------------------------

Task<absl::Status> WriteTextAndCords(std::string* got) {
  absl::StatusOr<std::pair<UnixStream, UnixStream>> p = UnixStream::Pair();
  if (!p.ok()) co_return p.status();
  // Many external chunks: more than one writev takes (IOV_MAX).
  std::vector<std::string> pieces;
  for (int i = 0; i < 3000; ++i) pieces.push_back(absl::StrCat("chunk", i, ","));
  absl::Cord owned;
  for (const std::string& piece : pieces) {
    owned.Append(absl::MakeCordFromExternal(piece, [](absl::string_view) {}));
  }
  TaskGroup g;
  JoinHandle<absl::Status> w = g.spawn([](UnixStream* s, absl::Cord* c) -> Task<absl::Status> {
    if (absl::Status st = co_await s->write_all("text;"); !st.ok()) co_return st;
    if (absl::Status st = co_await s->write_all(*c); !st.ok()) co_return st;
    co_return s->shutdown(SHUT_WR);
  }(&p->first, &owned));
  Uninit buf(4096);
  for (;;) {
    absl::StatusOr<size_t> n = co_await read_into(p->second, buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) break;
    got->append(reinterpret_cast<const char*>(buf.filled().data()), buf.filled_size());
    buf.clear();
  }
  if (absl::Status st = co_await w; !st.ok()) co_return st;
  if (*got != "text;" + std::string(owned)) co_return absl::DataLossError("differs");
  co_return absl::OkStatus();
}

TEST_P(CompositionTest, WriteAllTakesTextAndCords) {
  Runtime rt(Options());
  std::string got;
  absl::Status s = rt.block_on(WriteTextAndCords(&got));
  EXPECT_TRUE(s.ok()) << s;
}

INSTANTIATE_TEST_SUITE_P(Backends, CompositionTest, ::testing::ValuesIn(testing_io::AllBackends()),
                         testing_io::BackendName);

}  // namespace
}  // namespace readbuf
