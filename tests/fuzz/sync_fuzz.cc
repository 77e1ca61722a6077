// -----------------------------------------------------------------------------
// File: tests/fuzz/sync_fuzz.cc
// -----------------------------------------------------------------------------
//
// Fuzzes the reactor's sync primitives -- Channel (io/channel.h), RingBuffer
// (io/ring_buffer.h) and AsyncMutex (io/async_mutex.h) -- with operation
// sequences on a one-core Runtime, against simple models. The first byte
// picks the primitive; the rest is the script. Besides the non-blocking
// calls, the script spawns tasks that block (receive on an empty queue, send
// into a full ring, lock a held mutex) and lets the core run ("settle").
//
// Checks, for each primitive:
//   - conservation and order: values leave a queue in the order they entered
//     it, each exactly once (a log of pushes and pops, taken where they
//     happen; one core, so the order is well defined);
//   - bounds: a RingBuffer never holds more than its capacity; at most one
//     AsyncMutex guard is held at a time;
//   - no lost wake-up: once the core has settled, no receiver waits while
//     values are queued, no sender waits while there is room, no locker waits
//     while the mutex is free;
//   - close(): sends fail at once, receivers drain what is left and then
//     fail; every task ends.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buf/internal/check.h"
#include "io/async_mutex.h"
#include "io/channel.h"
#include "io/ring_buffer.h"
#include "io/runtime.h"
#include "io/task.h"
#include "tests/fuzz/fuzz_input.h"

namespace readbuf::fuzz {
namespace {

constexpr int kMaxSettleYields = 10000;
constexpr size_t kMaxTasks = 64;

Runtime& OneCore() {
  static Runtime* rt = [] {
    RuntimeOptions options;
    options.n_cores = 1;
    options.backend = BackendKind::kEpoll;
    return new Runtime(options);
  }();
  return *rt;
}

// Yields until `stable()` holds; false if it never does.
Task<bool> Settle(std::function<bool()> stable) {
  for (int i = 0; i < kMaxSettleYields; ++i) {
    if (stable()) co_return true;
    co_await yield_now();
  }
  co_return stable();
}

// The queue model shared by Channel and RingBuffer: what went in and what
// came out, in order.
struct QueueLog {
  std::vector<int> pushed;
  std::vector<int> popped;
  int next_value = 0;
  int pending_receivers = 0;
  int pending_senders = 0;

  void Popped(int v) {
    popped.push_back(v);
    READBUF_CHECK(popped.size() <= pushed.size() && pushed[popped.size() - 1] == v,
                  "value %d left the queue out of order (pop #%zu)", v, popped.size());
  }
  size_t queued() const { return pushed.size() - popped.size(); }
};

// --- Channel ---

Task<void> ChannelReceiver(Channel<int>* ch, QueueLog* log) {
  ++log->pending_receivers;
  absl::StatusOr<int> v = co_await ch->receive();
  --log->pending_receivers;
  if (v.ok()) {
    log->Popped(*v);
  } else {
    READBUF_CHECK(v.status().code() == absl::StatusCode::kFailedPrecondition && ch->closed() &&
                      log->queued() == 0,
                  "receive failed with values queued or the channel open: %s",
                  v.status().ToString().c_str());
  }
}

Task<absl::Status> FuzzChannel(FuzzInput* in) {
  Channel<int> ch;
  QueueLog log;
  std::vector<JoinHandle<void>> tasks;
  const auto no_lost_wakeup = [&] { return log.pending_receivers == 0 || log.queued() == 0; };
  while (!in->empty()) {
    switch (in->Range(0, 5)) {
      case 0:
      case 1: {
        const int v = log.next_value++;
        const absl::Status s = ch.send(v);
        if (ch.closed()) {
          READBUF_CHECK(s.code() == absl::StatusCode::kFailedPrecondition, "send after close");
        } else {
          READBUF_CHECK(s.ok(), "send: %s", s.ToString().c_str());
          log.pushed.push_back(v);
        }
        break;
      }
      case 2: {
        std::optional<int> v = ch.try_receive();
        READBUF_CHECK(v.has_value() == (log.queued() != 0), "try_receive: %s with %zu queued",
                      v.has_value() ? "a value" : "nothing", log.queued());
        if (v.has_value()) log.Popped(*v);
        break;
      }
      case 3:
        if (tasks.size() < kMaxTasks) tasks.push_back(spawn(ChannelReceiver(&ch, &log)));
        break;
      case 4:
        if (in->Range(0, 3) == 0) ch.close();
        break;
      default:
        break;
    }
    READBUF_CHECK(co_await Settle(no_lost_wakeup),
                  "lost wake-up: %d receivers wait with %zu values queued",
                  log.pending_receivers, log.queued());
    READBUF_CHECK(ch.size() == log.queued(), "size() %zu, model %zu", ch.size(), log.queued());
  }
  ch.close();
  READBUF_CHECK(co_await Settle([&] { return log.pending_receivers == 0; }),
                "%d receivers still wait after close()", log.pending_receivers);
  for (JoinHandle<void>& t : tasks) {
    if (absl::Status s = co_await t; !s.ok()) co_return s;
  }
  co_return absl::OkStatus();
}

// --- RingBuffer ---

Task<void> RingSender(RingBuffer<int>* ring, QueueLog* log, int v) {
  ++log->pending_senders;
  absl::Status s = co_await ring->send(v);
  --log->pending_senders;
  if (s.ok()) {
    log->pushed.push_back(v);
    READBUF_CHECK(ring->size() <= ring->capacity(), "ring holds %zu > capacity %zu",
                  ring->size(), ring->capacity());
  } else {
    READBUF_CHECK(s.code() == absl::StatusCode::kFailedPrecondition,
                  "send failed: %s", s.ToString().c_str());
  }
}

Task<void> RingReceiver(RingBuffer<int>* ring, QueueLog* log) {
  ++log->pending_receivers;
  absl::StatusOr<int> v = co_await ring->recv();
  --log->pending_receivers;
  if (v.ok()) {
    log->Popped(*v);
  } else {
    READBUF_CHECK(v.status().code() == absl::StatusCode::kFailedPrecondition &&
                      log->queued() == 0,
                  "recv failed with %zu values queued: %s", log->queued(),
                  v.status().ToString().c_str());
  }
}

Task<absl::Status> FuzzRingBuffer(FuzzInput* in) {
  RingBuffer<int> ring(in->Range<size_t>(1, 8));
  QueueLog log;
  bool closed = false;
  std::vector<JoinHandle<void>> tasks;
  const auto no_lost_wakeup = [&] {
    return (log.pending_receivers == 0 || log.queued() == 0) &&
           (log.pending_senders == 0 || (log.queued() == ring.capacity() && !closed));
  };
  while (!in->empty()) {
    switch (in->Range(0, 6)) {
      case 0:
      case 1: {
        const int v = log.next_value++;
        const bool sent = ring.try_send(v);
        READBUF_CHECK(sent == (!closed && log.queued() < ring.capacity()),
                      "try_send %s with %zu of %zu queued%s", sent ? "succeeded" : "failed",
                      log.queued(), ring.capacity(), closed ? ", closed" : "");
        if (sent) log.pushed.push_back(v);
        break;
      }
      case 2: {
        std::optional<int> v = ring.try_recv();
        READBUF_CHECK(v.has_value() == (log.queued() != 0), "try_recv: %s with %zu queued",
                      v.has_value() ? "a value" : "nothing", log.queued());
        if (v.has_value()) log.Popped(*v);
        break;
      }
      case 3:
        if (tasks.size() < kMaxTasks) {
          tasks.push_back(spawn(RingSender(&ring, &log, log.next_value++)));
        }
        break;
      case 4:
        if (tasks.size() < kMaxTasks) tasks.push_back(spawn(RingReceiver(&ring, &log)));
        break;
      case 5:
        if (in->Range(0, 3) == 0) {
          ring.close();
          closed = true;
        }
        break;
      default:
        break;
    }
    READBUF_CHECK(co_await Settle(no_lost_wakeup),
                  "lost wake-up: %d receivers, %d senders wait; %zu of %zu queued",
                  log.pending_receivers, log.pending_senders, log.queued(), ring.capacity());
    READBUF_CHECK(ring.size() == log.queued() && ring.size() <= ring.capacity(),
                  "size() %zu, model %zu, capacity %zu", ring.size(), log.queued(),
                  ring.capacity());
  }
  ring.close();
  closed = true;
  READBUF_CHECK(co_await Settle([&] {
                  return log.pending_receivers == 0 && log.pending_senders == 0;
                }),
                "tasks still wait after close(): %d receivers, %d senders",
                log.pending_receivers, log.pending_senders);
  while (std::optional<int> v = ring.try_recv()) log.Popped(*v);
  READBUF_CHECK(log.queued() == 0, "%zu values vanished", log.queued());
  for (JoinHandle<void>& t : tasks) {
    if (absl::Status s = co_await t; !s.ok()) co_return s;
  }
  co_return absl::OkStatus();
}

// --- AsyncMutex ---

struct MutexLog {
  int holders = 0;
  int pending_lockers = 0;
  int acquisitions = 0;
};

Task<void> Locker(AsyncMutex<int>* m, MutexLog* log, int hold_yields) {
  ++log->pending_lockers;
  AsyncMutex<int>::Guard g = co_await m->lock();
  --log->pending_lockers;
  ++log->holders;
  READBUF_CHECK(g.owns_lock() && log->holders == 1, "%d guards held at once", log->holders);
  READBUF_CHECK(*g == log->acquisitions, "the guarded value %d, %d acquisitions", *g,
                log->acquisitions);
  ++*g;
  ++log->acquisitions;
  for (int i = 0; i < hold_yields; ++i) co_await yield_now();  // still held
  --log->holders;
}

Task<absl::Status> FuzzAsyncMutex(FuzzInput* in) {
  AsyncMutex<int> m(0);
  MutexLog log;
  std::optional<AsyncMutex<int>::Guard> mine;  // a guard this task holds
  std::vector<JoinHandle<void>> tasks;
  // Unlock hands the lock to the first waiter, which then runs: once
  // settled, a waiting locker means someone holds the lock.
  const auto no_lost_wakeup = [&] {
    return log.pending_lockers == 0 || mine.has_value() || log.holders != 0;
  };
  while (!in->empty()) {
    switch (in->Range(0, 3)) {
      case 0: {
        std::optional<AsyncMutex<int>::Guard> g = m.try_lock();
        READBUF_CHECK(g.has_value() == (log.holders == 0 && !mine.has_value()),
                      "try_lock %s with %d holders", g.has_value() ? "succeeded" : "failed",
                      log.holders + (mine.has_value() ? 1 : 0));
        if (g.has_value()) {
          READBUF_CHECK(**g == log.acquisitions, "guarded value %d, %d acquisitions", **g,
                        log.acquisitions);
          ++**g;
          ++log.acquisitions;
          mine = std::move(g);
        }
        break;
      }
      case 1:
        if (mine.has_value()) {
          if (in->Bool()) {
            mine->unlock();
          }
          mine.reset();
        }
        break;
      case 2:
        if (tasks.size() < kMaxTasks) {
          tasks.push_back(spawn(Locker(&m, &log, in->Range(0, 3))));
        }
        break;
      default:
        break;
    }
    READBUF_CHECK(co_await Settle(no_lost_wakeup),
                  "lost wake-up: %d lockers wait and nobody holds the mutex", log.pending_lockers);
    READBUF_CHECK(m.is_locked() == (mine.has_value() || log.holders != 0),
                  "is_locked() %d with %d holders", m.is_locked(),
                  log.holders + (mine.has_value() ? 1 : 0));
  }
  mine.reset();
  READBUF_CHECK(co_await Settle([&] { return log.pending_lockers == 0 && log.holders == 0; }),
                "%d lockers never got the mutex", log.pending_lockers);
  for (JoinHandle<void>& t : tasks) {
    if (absl::Status s = co_await t; !s.ok()) co_return s;
  }
  std::optional<AsyncMutex<int>::Guard> last = m.try_lock();
  READBUF_CHECK(last.has_value() && **last == log.acquisitions,
                "after all tasks: value %d, %d acquisitions", last.has_value() ? **last : -1,
                log.acquisitions);
  co_return absl::OkStatus();
}

Task<absl::Status> FuzzOne(FuzzInput* in) {
  switch (in->Range(0, 2)) {
    case 0:
      co_return co_await FuzzChannel(in);
    case 1:
      co_return co_await FuzzRingBuffer(in);
    default:
      co_return co_await FuzzAsyncMutex(in);
  }
}

}  // namespace
}  // namespace readbuf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  readbuf::fuzz::FuzzInput in(data, size);
  absl::Status s = readbuf::fuzz::OneCore().block_on(readbuf::fuzz::FuzzOne(&in));
  READBUF_CHECK(s.ok(), "a task failed: %s", s.ToString().c_str());
  return 0;
}
