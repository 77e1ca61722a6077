// -----------------------------------------------------------------------------
// File: bench/driver_benchmark.cc
// -----------------------------------------------------------------------------
//
// The Driver's cost per operation (io/driver.h) beside the runtime's on the
// same operations, on both backends: a batch of 8 ReadAt of 4 KiB from a
// cached file (driver: one push_batch and submit_and_wait until all 8 are
// back; runtime: one task awaiting File::read_at 8 times in turn, and 8
// spawned tasks reading at once, joined), and a 64-byte ping-pong over TCP
// loopback (driver: both ends on one Driver; runtime: an echo task and the
// client on one core). Real time; items = file reads or round trips; `syscalls` is per
// item, counted with the kernel's tracepoints (absent when they cannot be
// read: needs root or perf_event_paranoid <= 1).
//
//   ./bazelw run //bench:driver_benchmark   (bazel run builds --config=opt)

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "bench/harness/loopback.h"
#include "bench/harness/syscall_counter.h"
#include "benchmark/benchmark.h"
#include "buf/uninit.h"
#include "io/address.h"
#include "io/driver.h"
#include "io/file.h"
#include "io/net.h"
#include "io/runtime.h"
#include "io/task.h"

namespace readbuf {
namespace {

constexpr std::size_t kBatch = 8;
constexpr std::size_t kChunk = 4096;
constexpr std::size_t kMessage = 64;

BackendKind Kind(const benchmark::State& state) {
  return state.range(0) == 0 ? BackendKind::kEpoll : BackendKind::kUring;
}

// An unlinked file of 8 chunks under $TMPDIR (default /tmp), in the page
// cache. A file system's own file rather than a memfd: io_uring reads a
// cached ext4 file inline at submission, while a memfd read here went
// through the kernel's io-wq threads (2-3 enters per batch, 3-10x slower).
int MakeFile() {
  const char* dir = std::getenv("TMPDIR");
  std::string path = absl::StrCat(dir != nullptr && *dir != '\0' ? dir : "/tmp",
                                  "/driver_benchmark.XXXXXX");
  const int fd = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return -1;
  ::unlink(path.c_str());
  std::vector<char> data(kBatch * kChunk, 'x');
  if (fd < 0 || ::pwrite(fd, data.data(), data.size(), 0) != static_cast<ssize_t>(data.size())) {
    return -1;
  }
  return fd;
}

// Every thread of this process (a Runtime's cores included).
std::vector<pid_t> Threads() {
  std::vector<pid_t> tids;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') tids.push_back(static_cast<pid_t>(std::atol(e->d_name)));
    }
    ::closedir(d);
  }
  return tids;
}

// Counts the process's syscalls from construction to Report().
class Syscalls {
 public:
  Syscalls() : counter_(bench::SyscallCounter::Attach(Threads())) {}
  void Report(benchmark::State& state, double items) const {
    if (!counter_.ok() || items == 0) return;
    state.counters["syscalls"] = static_cast<double>(counter_->Read()) / items;
  }

 private:
  absl::StatusOr<bench::SyscallCounter> counter_;
};

void BM_DriverReadAtBatch8(benchmark::State& state) {
  absl::StatusOr<Driver> d = Driver::Create(DriverOptions{.backend = Kind(state), .entries = 8});
  const int fd = MakeFile();
  if (!d.ok() || fd < 0) {
    if (fd >= 0) ::close(fd);
    state.SkipWithError("setup failed");
    return;
  }
  std::vector<Uninit> bufs;
  for (std::size_t i = 0; i < kBatch; ++i) bufs.emplace_back(kChunk);
  std::vector<driver::Entry> batch;
  for (std::size_t i = 0; i < kBatch; ++i) {
    batch.push_back({driver::ReadAt{fd, bufs[i], i * kChunk}, i});
  }
  Syscalls syscalls;
  for (auto _ : state) {
    for (Uninit& b : bufs) b.clear();
    if (!d->push_batch(batch).ok()) {
      state.SkipWithError("push_batch failed");
      break;
    }
    std::size_t done = 0;
    driver::Completion out[kBatch];
    while (done < kBatch) done += d->submit_and_wait(std::nullopt, out);
  }
  syscalls.Report(state, static_cast<double>(state.iterations() * kBatch));
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetLabel(d->backend_name());
  ::close(fd);
}

// The runtime side of the ReadAt benchmarks: the scratch file opened as a
// File on a 1-core Runtime. The scratch fd is closed on every path.
struct RuntimeOverFile {
  explicit RuntimeOverFile(benchmark::State& state)
      : fd(MakeFile()),
        rt(RuntimeOptions{.n_cores = 1, .backend = Kind(state)}),
        file(fd >= 0 ? File::open(absl::StrCat("/proc/self/fd/", fd))
                     : absl::StatusOr<File>(absl::InternalError("no scratch file"))) {}
  ~RuntimeOverFile() {
    if (fd >= 0) ::close(fd);
  }

  int fd;
  Runtime rt;
  absl::StatusOr<File> file;  // destroyed before `rt`
};

// Runs `body(file)` (a Task doing kBatch reads per benchmark iteration) on
// the runtime and reports per-read figures.
template <class Body>
void RunRuntimeReads(benchmark::State& state, Body body) {
  RuntimeOverFile setup(state);
  if (setup.fd < 0 || !setup.file.ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  Syscalls syscalls;
  (void)setup.rt.block_on(body(*setup.file));
  syscalls.Report(state, static_cast<double>(state.iterations() * kBatch));
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetLabel(setup.rt.backend_name());
}

void BM_RuntimeReadAt8(benchmark::State& state) {
  RunRuntimeReads(state, [&state](File& f) -> Task<void> {
    std::vector<std::byte> buf(kChunk);
    for (auto _ : state) {
      for (std::size_t i = 0; i < kBatch; ++i) {
        absl::StatusOr<std::size_t> n = co_await f.read_at(buf, i * kChunk);
        benchmark::DoNotOptimize(n);
      }
    }
  });
}

// The runtime's way to have 8 reads in flight at once: 8 tasks, joined.
void BM_RuntimeReadAt8Concurrent(benchmark::State& state) {
  RunRuntimeReads(state, [&state](File& f) -> Task<void> {
    std::vector<std::vector<std::byte>> bufs(kBatch, std::vector<std::byte>(kChunk));
    std::vector<JoinHandle<void>> handles;
    handles.reserve(kBatch);
    for (auto _ : state) {
      for (std::size_t i = 0; i < kBatch; ++i) {
        handles.push_back(spawn([](File* f, std::span<std::byte> b, std::uint64_t at) -> Task<void> {
          absl::StatusOr<std::size_t> n = co_await f->read_at(b, at);
          benchmark::DoNotOptimize(n);
        }(&f, bufs[i], i * kChunk)));
      }
      for (JoinHandle<void>& h : handles) (void)co_await std::move(h);
      handles.clear();
    }
  });
}

// A connected TCP loopback pair (blocking setup), TCP_NODELAY on both.
bool TcpPair(int* client, int* server) {
  const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sin);
  if (::bind(l, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0 || ::listen(l, 1) != 0 ||
      ::getsockname(l, reinterpret_cast<sockaddr*>(&sin), &len) != 0) {
    ::close(l);
    return false;
  }
  absl::StatusOr<int> c = bench::ConnectLoopback(ntohs(sin.sin_port));
  *server = c.ok() ? ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC) : -1;
  ::close(l);
  if (!c.ok() || *server < 0) return false;
  *client = *c;
  const int one = 1;
  ::setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return true;
}

void BM_DriverPingPong64(benchmark::State& state) {
  absl::StatusOr<Driver> d = Driver::Create(DriverOptions{.backend = Kind(state), .entries = 8});
  int c = -1, s = -1;
  if (!d.ok() || !TcpPair(&c, &s) || !d->attach(c).ok() || !d->attach(s).ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  const std::string msg(kMessage, 'p');
  const auto bytes = std::as_bytes(std::span<const char>(msg));
  Uninit buf(kMessage);
  driver::Completion out[4];
  // One direction: a Send and the peer's Recv, pushed together.
  auto half = [&](int from, int to) {
    buf.clear();
    const bool pushed = d->push(driver::Send{from, bytes}, 1).ok() &&
                        d->push(driver::Recv{to, buf}, 2).ok();
    std::size_t done = 0;
    while (pushed && done < 2) done += d->submit_and_wait(std::nullopt, out);
    return pushed;
  };
  Syscalls syscalls;
  for (auto _ : state) {
    if (!half(c, s) || !half(s, c)) {
      state.SkipWithError("push failed");
      break;
    }
  }
  syscalls.Report(state, static_cast<double>(state.iterations()));
  state.SetItemsProcessed(state.iterations());  // round trips
  state.SetLabel(d->backend_name());
  (void)d->detach(c);
  (void)d->detach(s);
  ::close(c);
  ::close(s);
}

void BM_RuntimePingPong64(benchmark::State& state) {
  Runtime rt(RuntimeOptions{.n_cores = 1, .backend = Kind(state)});
  std::optional<Syscalls> syscalls;
  (void)rt.block_on([&]() -> Task<void> {
    absl::StatusOr<TcpListener> l = TcpListener::bind(*SocketAddress::Parse("127.0.0.1:0"));
    if (!l.ok()) co_return;
    absl::StatusOr<SocketAddress> addr = l->local_addr();
    JoinHandle<void> echo = spawn([](TcpListener* l) -> Task<void> {
      absl::StatusOr<TcpStream> conn = co_await l->accept();
      if (!conn.ok()) co_return;
      std::vector<std::byte> b(kMessage);
      for (;;) {
        absl::StatusOr<std::size_t> n = co_await conn->read(b);
        if (!n.ok() || *n == 0) co_return;
        if (!(co_await conn->write_all(std::span(b).first(*n))).ok()) co_return;
      }
    }(&*l));
    absl::StatusOr<TcpStream> conn = co_await TcpStream::connect(*addr);
    if (!conn.ok()) co_return;
    const std::string msg(kMessage, 'p');
    std::vector<std::byte> b(kMessage);
    syscalls.emplace();
    for (auto _ : state) {
      (void)co_await conn->write_all(std::as_bytes(std::span<const char>(msg)));
      std::size_t got = 0;
      while (got < kMessage) {
        absl::StatusOr<std::size_t> n = co_await conn->read(std::span(b).subspan(got));
        if (!n.ok() || *n == 0) co_return;
        got += *n;
      }
    }
    syscalls->Report(state, static_cast<double>(state.iterations()));
    conn->close();
    (void)co_await std::move(echo);
  }());
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(rt.backend_name());
}

// Arg 0: epoll, 1: io_uring.
BENCHMARK(BM_DriverReadAtBatch8)->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_RuntimeReadAt8)->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_RuntimeReadAt8Concurrent)->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_DriverPingPong64)->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_RuntimePingPong64)->Arg(0)->Arg(1)->UseRealTime();

}  // namespace
}  // namespace readbuf
