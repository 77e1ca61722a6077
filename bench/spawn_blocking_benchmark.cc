// -----------------------------------------------------------------------------
// File: bench/spawn_blocking_benchmark.cc
// -----------------------------------------------------------------------------
//
// What a trivial blocking call costs through spawn_blocking
// (io/spawn_blocking.h), beside the cross-core message it resembles. All run
// from a task on core 0 of a 2-core Runtime, on both backends (argument 0 =
// epoll, 1 = io_uring; the label says which one actually ran):
//   BM_SpawnBlockingRoundTrip  co_await spawn_blocking([] { return 1; }), one
//                              at a time: pool thread wake-up, run, wake-up
//                              of the core through its inbox
//   BM_SpawnBlockingBatch64    64 calls started, then all awaited
//   BM_CrossCoreSpawnJoin      co_await rt.spawn_on(1, Noop()): a task on
//                              the other core and back
//   BM_SameCoreSpawnJoin       co_await spawn(Noop()): no thread hop at all
// Each benchmark iteration runs kOps operations inside one task; the
// "per_op" counter is the time per operation.
//
//   ./bazelw run //bench:spawn_blocking_benchmark

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "io/runtime.h"
#include "io/spawn_blocking.h"
#include "io/task.h"

namespace readbuf {
namespace {

constexpr int kOps = 1024;  // a multiple of the batch

Task<void> Noop() { co_return; }

Task<absl::Status> BlockingRoundTrips(int n) {
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<int> v = co_await spawn_blocking([] { return 1; });
    if (!v.ok()) co_return v.status();
  }
  co_return absl::OkStatus();
}

Task<absl::Status> BlockingBatches(int n, int batch) {
  std::vector<BlockingHandle<int>> hs;
  hs.reserve(batch);
  for (int done = 0; done < n; done += batch) {
    hs.clear();
    for (int i = 0; i < batch; ++i) hs.push_back(spawn_blocking([] { return 1; }));
    for (auto& h : hs) {
      absl::StatusOr<int> v = co_await h;
      if (!v.ok()) co_return v.status();
    }
  }
  co_return absl::OkStatus();
}

Task<absl::Status> CrossCoreJoins(Runtime* rt, int n) {
  for (int i = 0; i < n; ++i) {
    absl::Status s = co_await rt->spawn_on(1, Noop());
    if (!s.ok()) co_return s;
  }
  co_return absl::OkStatus();
}

Task<absl::Status> SameCoreJoins(int n) {
  for (int i = 0; i < n; ++i) {
    absl::Status s = co_await spawn(Noop());
    if (!s.ok()) co_return s;
  }
  co_return absl::OkStatus();
}

template <class Make>
void RunOnCore0(benchmark::State& state, Make make) {
  Runtime rt(RuntimeOptions{.n_cores = 2,
                            .backend = state.range(0) == 0 ? BackendKind::kEpoll
                                                           : BackendKind::kUring});
  state.SetLabel(rt.backend_name());
  // Warm up: the pool's first thread, frame freelists.
  (void)rt.spawn_on(0, make(&rt, 128)).BlockingJoin();
  for (auto _ : state) {
    absl::Status s = rt.spawn_on(0, make(&rt, kOps)).BlockingJoin();
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations() * kOps);
  state.counters["per_op"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kOps),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_SpawnBlockingRoundTrip(benchmark::State& state) {
  RunOnCore0(state, [](Runtime*, int n) { return BlockingRoundTrips(n); });
}
BENCHMARK(BM_SpawnBlockingRoundTrip)->Arg(0)->Arg(1)->UseRealTime();

void BM_SpawnBlockingBatch64(benchmark::State& state) {
  RunOnCore0(state, [](Runtime*, int n) { return BlockingBatches(n, 64); });
}
BENCHMARK(BM_SpawnBlockingBatch64)->Arg(0)->Arg(1)->UseRealTime();

void BM_CrossCoreSpawnJoin(benchmark::State& state) {
  RunOnCore0(state, [](Runtime* rt, int n) { return CrossCoreJoins(rt, n); });
}
BENCHMARK(BM_CrossCoreSpawnJoin)->Arg(0)->Arg(1)->UseRealTime();

void BM_SameCoreSpawnJoin(benchmark::State& state) {
  RunOnCore0(state, [](Runtime*, int n) { return SameCoreJoins(n); });
}
BENCHMARK(BM_SameCoreSpawnJoin)->Arg(0)->Arg(1)->UseRealTime();

}  // namespace
}  // namespace readbuf
