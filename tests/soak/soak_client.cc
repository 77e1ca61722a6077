// -----------------------------------------------------------------------------
// File: tests/soak/soak_client.cc
// -----------------------------------------------------------------------------
//
// The soak test's load: opens --connections TCP connections to an echo
// server (all open at once), then, until --duration has passed, sends each
// one messages of random sizes and random bytes after random pauses, and
// checks that every echoed byte equals the byte sent (exact comparison; a
// running FNV-1a checksum of the verified bytes is printed so two runs with
// the same seed can be compared). Then every connection half-closes and
// waits for the server's EOF, so the server has closed its side before this
// program exits.
//
//   soak_client --port=P --connections=15000 --duration=60s
//
// Prints one line of key=value pairs:
//   connections=15000 opened=15000 messages=... bytes_verified=... errors=0
//   checksum=... seconds=...
// and up to 10 error lines on stderr. Exit status 0 only if every
// connection opened, nothing mismatched and nothing failed.
//
// It runs on readbuf's own reactor, on epoll by default (--backend), so the
// client side does not share the io_uring path of a server under test. It
// raises its soft RLIMIT_NOFILE to the hard limit first.

#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "buf/uninit.h"
#include "io/address.h"
#include "io/net.h"
#include "io/read_into.h"
#include "io/runtime.h"
#include "io/task.h"
#include "io/timer.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "Echo server address.");
ABSL_FLAG(int, port, 0, "Echo server port (required).");
ABSL_FLAG(int, connections, 15000, "Connections, all open at once.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(60), "How long to send traffic.");
ABSL_FLAG(int, max_message, 32 * 1024, "Largest message in bytes (sizes are log-uniform from 1).");
ABSL_FLAG(absl::Duration, max_pause, absl::Milliseconds(200),
          "Longest random pause between a connection's messages.");
ABSL_FLAG(absl::Duration, message_timeout, absl::Seconds(30),
          "A message not echoed within this counts as an error.");
ABSL_FLAG(int, connect_batch, 256, "Connects in flight at once per core.");
ABSL_FLAG(int, threads, 1, "Client reactor cores.");
ABSL_FLAG(std::string, backend, "epoll", "Client event loop: epoll or uring.");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the sizes, pauses and bytes.");

namespace {

constexpr char kUsage[] =
    "Soak load for examples/echo_server: many connections, random echoed traffic,\n"
    "every byte verified. Usage: soak_client --port=P [--connections=N] [--duration=60s]";

// Counters of one core; touched only on that core.
struct CoreTotals {
  uint64_t opened = 0;
  uint64_t messages = 0;
  uint64_t bytes_verified = 0;
  uint64_t checksum = 14695981039346656037ull;  // FNV-1a offset basis
  uint64_t errors = 0;
  std::vector<std::string> first_errors;

  void Error(const std::string& what) {
    ++errors;
    if (first_errors.size() < 10) first_errors.push_back(what);
  }
};

struct Settings {
  readbuf::SocketAddress addr;
  absl::Time deadline;
  size_t max_message = 0;
  absl::Duration max_pause;
  absl::Duration message_timeout;
  int connect_batch = 0;
  uint64_t seed = 0;
};

void Fnv1a(uint64_t* h, std::span<const std::byte> bytes) {
  for (std::byte b : bytes) {
    *h ^= static_cast<uint64_t>(b);
    *h *= 1099511628211ull;
  }
}

// Sends `msg` and reads the echo into `buf`, comparing as it goes. The
// outcome goes to `*result` (a void task: readbuf::timeout does not compile
// for Task<absl::Status> in this version of io/timer.h, and GCC 12 misreads
// JoinHandle<StatusOr<size_t>> as maybe-uninitialized).
readbuf::Task<void> Exchange(readbuf::TcpStream* conn, const std::vector<std::byte>* msg,
                             readbuf::Uninit* buf, absl::Status* result) {
  if (absl::Status w = co_await conn->write_all(*msg); !w.ok()) {
    *result = w;
    co_return;
  }
  size_t got = 0;
  while (got < msg->size()) {
    absl::StatusOr<size_t> n = co_await readbuf::read_into(*conn, *buf, msg->size() - got);
    if (!n.ok()) {
      *result = n.status();
      co_return;
    }
    if (*n == 0) {
      *result = absl::DataLossError(
          absl::StrCat("EOF after ", got, " of ", msg->size(), " echoed bytes"));
      co_return;
    }
    const std::span<const std::byte> part = buf->filled();
    if (!std::equal(part.begin(), part.end(), msg->begin() + static_cast<std::ptrdiff_t>(got))) {
      *result = absl::DataLossError(
          absl::StrCat("echoed bytes differ at offset ", got, " of ", msg->size()));
      co_return;
    }
    got += part.size();
    buf->clear();
  }
  *result = absl::OkStatus();
}

// Half-closes `conn` and expects the server's EOF (it then closed its side).
readbuf::Task<void> CloseCleanly(readbuf::TcpStream* conn, readbuf::Uninit* buf,
                                 absl::Status* result) {
  if (absl::Status sh = conn->shutdown(SHUT_WR); !sh.ok()) {
    *result = sh;
    co_return;
  }
  absl::StatusOr<size_t> n = co_await readbuf::read_into(*conn, *buf);
  if (!n.ok()) {
    *result = n.status();
  } else if (*n != 0) {
    *result = absl::DataLossError(absl::StrCat(*n, " unexpected bytes instead of EOF"));
  } else {
    *result = absl::OkStatus();
  }
}

// Runs `task` as a child task and waits at most `d` for it; a task still
// running then is cancelled. OK, or DeadlineExceeded.
readbuf::Task<absl::Status> RunWithin(readbuf::Task<void> task, absl::Duration d) {
  const std::int64_t deadline =
      readbuf::BootClock::now().time_since_epoch().count() + absl::ToInt64Nanoseconds(d);
  readbuf::JoinHandle<void> h = readbuf::spawn(std::move(task));
  absl::Status r = co_await h.WaitUntil(deadline);
  if (!r.ok() && !h.done()) h.cancel();
  co_return r;
}

// One connection's traffic until the deadline, then a clean close.
readbuf::Task<void> Traffic(readbuf::TcpStream conn, uint64_t index, const Settings* s,
                            CoreTotals* totals) {
  std::mt19937_64 rng(s->seed * 1000003 + index);
  const double log_max = std::log(static_cast<double>(s->max_message));
  std::vector<std::byte> msg;
  readbuf::Uninit buf(64 * 1024);
  // Start at a random moment within one pause, so connections do not move
  // in lockstep.
  co_await readbuf::sleep_for(s->max_pause * std::uniform_real_distribution<double>(0, 1)(rng));
  while (absl::Now() < s->deadline) {
    const double u = std::uniform_real_distribution<double>(0, log_max)(rng);
    const size_t size = std::clamp<size_t>(static_cast<size_t>(std::exp(u)), 1, s->max_message);
    msg.resize(size);
    for (size_t i = 0; i < size; i += 8) {
      const uint64_t r = rng();
      std::memcpy(msg.data() + i, &r, std::min<size_t>(8, size - i));
    }
    absl::Status st = absl::UnknownError("not run");
    if (absl::Status ran =
            co_await RunWithin(Exchange(&conn, &msg, &buf, &st), s->message_timeout);
        !ran.ok()) {
      st = ran;
    }
    if (!st.ok()) {
      totals->Error(absl::StrCat("connection ", index, ": ", st.ToString()));
      co_return;
    }
    ++totals->messages;
    totals->bytes_verified += size;
    Fnv1a(&totals->checksum, msg);
    co_await readbuf::sleep_for(s->max_pause *
                                std::uniform_real_distribution<double>(0, 1)(rng));
  }
  // Half-close and wait for the server's EOF: the server has then closed its
  // side of the connection.
  absl::Status closed = absl::UnknownError("not run");
  if (absl::Status ran = co_await RunWithin(CloseCleanly(&conn, &buf, &closed), s->message_timeout);
      !ran.ok()) {
    closed = ran;
  }
  if (!closed.ok()) {
    totals->Error(absl::StrCat("connection ", index, ": close: ", closed.ToString()));
  }
}

readbuf::Task<absl::StatusOr<readbuf::TcpStream>> ConnectOne(readbuf::SocketAddress addr) {
  co_return co_await readbuf::TcpStream::connect(addr);
}

// One core's share: opens `count` connections (connect_batch at a time),
// holds them all open, then runs their traffic to the deadline.
readbuf::Task<CoreTotals> Drive(uint64_t first_index, uint64_t count, const Settings* s) {
  CoreTotals totals;
  std::vector<readbuf::TcpStream> conns;
  conns.reserve(count);
  uint64_t next = 0;
  while (next < count) {
    std::vector<readbuf::JoinHandle<absl::StatusOr<readbuf::TcpStream>>> batch;
    for (int i = 0; i < s->connect_batch && next < count; ++i, ++next) {
      batch.push_back(readbuf::spawn(ConnectOne(s->addr)));
    }
    for (auto& h : batch) {
      absl::StatusOr<readbuf::TcpStream> c = co_await h;
      if (!c.ok()) {
        totals.Error(absl::StrCat("connect: ", c.status().ToString()));
        continue;
      }
      conns.push_back(*std::move(c));
    }
  }
  totals.opened = conns.size();
  std::vector<readbuf::JoinHandle<void>> traffic;
  traffic.reserve(conns.size());
  for (size_t i = 0; i < conns.size(); ++i) {
    traffic.push_back(readbuf::spawn(Traffic(std::move(conns[i]), first_index + i, s, &totals)));
  }
  for (auto& t : traffic) {
    if (absl::Status joined = co_await t; !joined.ok()) totals.Error(joined.ToString());
  }
  co_return totals;
}

int Usage(const std::string& problem) {
  std::fprintf(stderr, "soak_client: %s\n%s\n", problem.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) return Usage(std::string("unexpected argument '") + rest[1] + "'");
  const int port = absl::GetFlag(FLAGS_port);
  const int connections = absl::GetFlag(FLAGS_connections);
  const int threads = absl::GetFlag(FLAGS_threads);
  const int max_message = absl::GetFlag(FLAGS_max_message);
  const std::string backend = absl::GetFlag(FLAGS_backend);
  if (port <= 0 || port > 65535) return Usage("--port must be in 1..65535");
  if (connections < 1) return Usage("--connections must be at least 1");
  if (threads < 1 || threads > 256) return Usage("--threads must be in 1..256");
  if (max_message < 1) return Usage("--max_message must be at least 1");
  if (absl::GetFlag(FLAGS_connect_batch) < 1) return Usage("--connect_batch must be at least 1");
  if (backend != "epoll" && backend != "uring") return Usage("unknown --backend=" + backend);
  absl::StatusOr<readbuf::SocketAddress> addr = readbuf::SocketAddress::Parse(
      absl::StrCat(absl::GetFlag(FLAGS_host), ":", port));
  if (!addr.ok()) return Usage(std::string(addr.status().message()));

  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }

  Settings s;
  s.addr = *addr;
  s.max_message = static_cast<size_t>(max_message);
  s.max_pause = absl::GetFlag(FLAGS_max_pause);
  s.message_timeout = absl::GetFlag(FLAGS_message_timeout);
  s.connect_batch = absl::GetFlag(FLAGS_connect_batch);
  s.seed = absl::GetFlag(FLAGS_seed);

  readbuf::RuntimeOptions options;
  options.n_cores = threads;
  options.backend = backend == "uring" ? readbuf::BackendKind::kUring : readbuf::BackendKind::kEpoll;
  readbuf::Runtime rt(options);

  const absl::Time start = absl::Now();
  // The deadline counts from the start, connecting included.
  s.deadline = start + absl::GetFlag(FLAGS_duration);
  std::vector<readbuf::JoinHandle<CoreTotals>> drivers;
  uint64_t first = 0;
  for (int core = 0; core < threads; ++core) {
    const uint64_t count = static_cast<uint64_t>(connections) / threads +
                           (core < connections % threads ? 1 : 0);
    drivers.push_back(rt.spawn_on(core, Drive(first, count, &s)));
    first += count;
  }
  CoreTotals all;
  uint64_t checksum = 0;
  for (auto& d : drivers) {
    absl::StatusOr<CoreTotals> t = d.BlockingJoin();
    if (!t.ok()) {
      all.Error(t.status().ToString());
      continue;
    }
    all.opened += t->opened;
    all.messages += t->messages;
    all.bytes_verified += t->bytes_verified;
    all.errors += t->errors;
    checksum ^= t->checksum;
    for (auto& e : t->first_errors) {
      if (all.first_errors.size() < 10) all.first_errors.push_back(e);
    }
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  for (const std::string& e : all.first_errors) std::fprintf(stderr, "soak_client: %s\n", e.c_str());
  const uint64_t not_opened = static_cast<uint64_t>(connections) - all.opened;
  std::printf("connections=%d opened=%" PRIu64 " messages=%" PRIu64 " bytes_verified=%" PRIu64
              " errors=%" PRIu64 " checksum=%016" PRIx64 " seconds=%.1f\n",
              connections, all.opened, all.messages, all.bytes_verified, all.errors, checksum,
              seconds);
  std::fflush(stdout);
  return all.errors == 0 && not_opened == 0 ? 0 : 1;
}
