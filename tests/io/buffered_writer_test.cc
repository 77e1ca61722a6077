// io/buffered_writer.h: small writes coalesce into one gather write; a piece
// too large for the buffer goes out with it, uncopied; an idle writer holds
// no pool block; the bytes arrive in order over a real socket.

#include <sys/uio.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "buf/buffer_pool.h"
#include "buf/uninit.h"
#include "gtest/gtest.h"
#include "io/buffered_writer.h"
#include "io/net.h"
#include "io/read_into.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/task_group.h"
#include "tests/io/io_test_util.h"

namespace readbuf {
namespace {

// Records each gather write: how many calls, and the bytes.
struct RecordingStream {
  int calls = 0;
  std::string bytes;
  std::vector<const void*> bases;  // where each iovec pointed
  Task<absl::Status> writev_all(std::span<const iovec> iov) {
    ++calls;
    for (const iovec& v : iov) {
      bases.push_back(v.iov_base);
      bytes.append(static_cast<const char*>(v.iov_base), v.iov_len);
    }
    co_return absl::OkStatus();
  }
};

Task<absl::Status> Coalesces() {
  RecordingStream s;
  BufferedWriter out(s, 1024);
  for (int i = 0; i < 20; ++i) {
    if (absl::Status st = co_await out.write(absl::StrCat("header-", i, "\r\n")); !st.ok()) {
      co_return st;
    }
  }
  if (s.calls != 0) co_return absl::InternalError("wrote before the flush");
  if (!out.holds_memory()) co_return absl::InternalError("no buffer");
  if (absl::Status st = co_await out.flush(); !st.ok()) co_return st;
  if (s.calls != 1) co_return absl::InternalError(absl::StrCat("calls=", s.calls));
  if (out.holds_memory()) co_return absl::InternalError("an empty writer holds a block");
  // A large piece goes out with the buffered bytes, in the same call, from
  // its own memory.
  const std::string big(4096, 'b');
  if (absl::Status st = co_await out.write("head;"); !st.ok()) co_return st;
  if (absl::Status st = co_await out.write(big); !st.ok()) co_return st;
  if (s.calls != 2) co_return absl::InternalError("the large write was not one call");
  if (s.bases.back() != big.data()) co_return absl::InternalError("the large piece was copied");
  std::string expected;
  for (int i = 0; i < 20; ++i) expected += absl::StrCat("header-", i, "\r\n");
  expected += "head;" + big;
  if (s.bytes != expected) co_return absl::DataLossError("bytes differ");
  co_return absl::OkStatus();
}

TEST(BufferedWriterTest, SmallWritesBecomeOneGatherWrite) {
  Runtime rt(RuntimeOptions{.n_cores = 1});
  absl::Status s = rt.block_on(Coalesces());
  EXPECT_TRUE(s.ok()) << s;
}

Task<absl::Status> OverASocket() {
  absl::StatusOr<std::pair<UnixStream, UnixStream>> p = UnixStream::Pair();
  if (!p.ok()) co_return p.status();
  std::string expected;
  TaskGroup g;
  JoinHandle<absl::Status> w = g.spawn([](UnixStream* s, std::string* expected) -> Task<absl::Status> {
    BufferedWriter out(*s, 256);
    for (int i = 0; i < 5000; ++i) {
      const std::string piece = i % 97 == 0 ? std::string(1000, 'L') : absl::StrCat(i, ",");
      *expected += piece;
      if (absl::Status st = co_await out.write(piece); !st.ok()) co_return st;
    }
    if (absl::Status st = co_await out.flush(); !st.ok()) co_return st;
    co_return s->shutdown(SHUT_WR);
  }(&p->first, &expected));
  std::string got;
  Uninit buf(4096);
  for (;;) {
    absl::StatusOr<size_t> n = co_await read_into(p->second, buf);
    if (!n.ok()) co_return n.status();
    if (*n == 0) break;
    got.append(reinterpret_cast<const char*>(buf.filled().data()), buf.filled_size());
    buf.clear();
  }
  if (absl::Status st = co_await w; !st.ok()) co_return st;
  if (got != expected) co_return absl::DataLossError("bytes differ");
  co_return absl::OkStatus();
}

class BufferedWriterBackendTest : public ::testing::TestWithParam<BackendKind> {};

TEST_P(BufferedWriterBackendTest, EveryByteArrivesInOrder) {
  Runtime rt(RuntimeOptions{.n_cores = 1, .backend = GetParam()});
  absl::Status s = rt.block_on(OverASocket());
  EXPECT_TRUE(s.ok()) << s;
}

INSTANTIATE_TEST_SUITE_P(Backends, BufferedWriterBackendTest,
                         ::testing::ValuesIn(testing_io::AllBackends()), testing_io::BackendName);

}  // namespace
}  // namespace readbuf
