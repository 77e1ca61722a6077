// File: bench/buffer_pool_benchmark.cc
//
// BufferPool Acquire + release against malloc/free and direct
// mi_malloc/mi_free of the same size (64 B, 4 KiB, 64 KiB):
//   BM_*_SameThread   acquire and release on one thread, one block live.
//   BM_*_Burst        acquire 32 blocks, then release them (deeper lists).
//   BM_*_CrossThread  acquire here, release on a consumer thread fed by an
//                     SPSC queue; time is per block, measured on the producer.
// Note: Debian's libmimalloc.so replaces malloc process-wide once linked, so
// in the default build the "Malloc" rows are mimalloc behind the malloc
// symbol. Under the system-allocator build (sanitizers) the Mimalloc rows are
// left out. Run with --config=opt:
//   ./bazelw run --config=opt //bench:buffer_pool_benchmark

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "benchmark/benchmark.h"
#include "buf/buffer_pool.h"

#ifndef READBUF_POOL_SYSTEM_ALLOCATOR
#include <mimalloc.h>
#endif

namespace readbuf {
namespace {

// The three allocators behind one interface: Item Get(size), Put(Item&&).
class PoolAllocator {
 public:
  using Item = PoolBlock;
  PoolAllocator() {
    BufferPool::Options options;
    options.max_retained_bytes = 64 << 20;
    pool_ = std::make_unique<BufferPool>(options);
  }
  // Inlined, as BufferPool::Acquire is at a real call site.
  ABSL_ATTRIBUTE_ALWAYS_INLINE Item Get(std::size_t size,
                                        benchmark::State& state) {
    absl::StatusOr<PoolBlock> block = pool_->Acquire(size);
    if (ABSL_PREDICT_FALSE(!block.ok())) {
      state.SkipWithError("Acquire failed");
      return PoolBlock();
    }
    return *std::move(block);
  }
  static void* Data(const Item& item) { return item.data(); }
  static void Put(Item& item) { item.Release(); }

 private:
  std::unique_ptr<BufferPool> pool_;
};

class MallocAllocator {
 public:
  using Item = void*;
  Item Get(std::size_t size, benchmark::State&) { return std::malloc(size); }
  static void* Data(Item item) { return item; }
  static void Put(Item& item) { std::free(item); }
};

#ifndef READBUF_POOL_SYSTEM_ALLOCATOR
class MimallocAllocator {
 public:
  using Item = void*;
  Item Get(std::size_t size, benchmark::State&) { return mi_malloc(size); }
  static void* Data(Item item) { return item; }
  static void Put(Item& item) { mi_free(item); }
};
#endif

template <typename Alloc>
void BM_SameThread(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  Alloc alloc;
  for (auto _ : state) {
    typename Alloc::Item item = alloc.Get(size, state);
    benchmark::DoNotOptimize(Alloc::Data(item));
    Alloc::Put(item);
  }
  state.SetItemsProcessed(state.iterations());
}

template <typename Alloc>
void BM_Burst(benchmark::State& state) {
  constexpr int kLive = 32;
  const auto size = static_cast<std::size_t>(state.range(0));
  Alloc alloc;
  typename Alloc::Item items[kLive];
  for (auto _ : state) {
    for (auto& item : items) {
      item = alloc.Get(size, state);
      benchmark::DoNotOptimize(Alloc::Data(item));
    }
    for (auto& item : items) Alloc::Put(item);
  }
  state.SetItemsProcessed(state.iterations() * kLive);
}

// Bounded single-producer single-consumer queue.
template <typename T>
class SpscQueue {
 public:
  explicit SpscQueue(std::size_t capacity) : slots_(capacity) {}
  bool TryPush(T& value) {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_.load(std::memory_order_acquire) == slots_.size()) {
      return false;
    }
    slots_[tail % slots_.size()] = std::move(value);
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }
  bool TryPop(T& value) {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_.load(std::memory_order_acquire)) return false;
    value = std::move(slots_[head % slots_.size()]);
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

 private:
  std::vector<T> slots_;
  alignas(64) std::atomic<std::size_t> head_{0};
  alignas(64) std::atomic<std::size_t> tail_{0};
};

// Yields rather than spins: with two cores, a spinning waiter would steal
// the CPU from the thread it waits for.
inline void CpuRelax() { std::this_thread::yield(); }

template <typename Alloc>
void BM_CrossThread(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  Alloc alloc;
  SpscQueue<typename Alloc::Item> queue(256);
  std::atomic<bool> done{false};
  std::thread consumer([&] {
    typename Alloc::Item item{};
    for (;;) {
      if (queue.TryPop(item)) {
        Alloc::Put(item);
      } else if (done.load(std::memory_order_acquire)) {
        while (queue.TryPop(item)) Alloc::Put(item);
        return;
      } else {
        CpuRelax();
      }
    }
  });
  for (auto _ : state) {
    typename Alloc::Item item = alloc.Get(size, state);
    benchmark::DoNotOptimize(Alloc::Data(item));
    while (!queue.TryPush(item)) CpuRelax();
  }
  done.store(true, std::memory_order_release);
  consumer.join();
  state.SetItemsProcessed(state.iterations());
}

void Sizes(benchmark::internal::Benchmark* b) {
  b->Arg(64)->Arg(4 << 10)->Arg(64 << 10);
}

BENCHMARK_TEMPLATE(BM_SameThread, PoolAllocator)->Apply(Sizes);
BENCHMARK_TEMPLATE(BM_SameThread, MallocAllocator)->Apply(Sizes);
#ifndef READBUF_POOL_SYSTEM_ALLOCATOR
BENCHMARK_TEMPLATE(BM_SameThread, MimallocAllocator)->Apply(Sizes);
#endif

BENCHMARK_TEMPLATE(BM_Burst, PoolAllocator)->Apply(Sizes);
BENCHMARK_TEMPLATE(BM_Burst, MallocAllocator)->Apply(Sizes);
#ifndef READBUF_POOL_SYSTEM_ALLOCATOR
BENCHMARK_TEMPLATE(BM_Burst, MimallocAllocator)->Apply(Sizes);
#endif

BENCHMARK_TEMPLATE(BM_CrossThread, PoolAllocator)->Apply(Sizes)->UseRealTime();
BENCHMARK_TEMPLATE(BM_CrossThread, MallocAllocator)
    ->Apply(Sizes)
    ->UseRealTime();
#ifndef READBUF_POOL_SYSTEM_ALLOCATOR
BENCHMARK_TEMPLATE(BM_CrossThread, MimallocAllocator)
    ->Apply(Sizes)
    ->UseRealTime();
#endif

}  // namespace
}  // namespace readbuf
