#include "io/runtime.h"

#include <sched.h>

#include <cstdio>
#include <cstdlib>
#include <latch>
#include <mutex>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "buf/internal/check.h"
#include "io/internal/blocking_pool.h"
#include "io/internal/core.h"
#include "io/internal/resolve_backend.h"

namespace readbuf {
namespace io_internal {

BackendKind ResolveBackendKind(BackendKind requested) {
  if (requested != BackendKind::kAuto) return requested;
  const char* env = std::getenv("READBUF_BACKEND");
  if (env == nullptr || *env == '\0') return BackendKind::kAuto;
  std::string v(env);
  if (v == "epoll") return BackendKind::kEpoll;
  if (v == "uring" || v == "io_uring") return BackendKind::kUring;
  READBUF_CHECK(false, "READBUF_BACKEND=%s: expected epoll or uring", env);
  return BackendKind::kAuto;
}

}  // namespace io_internal

Runtime::Runtime(RuntimeOptions options)
    : options_(options), shared_(new io_internal::RuntimeShared) {
  READBUF_CHECK(options.kernel_op_slots >= 1 && options.kernel_op_slots <= 65536,
                "RuntimeOptions::kernel_op_slots=%u: must be in [1, 65536]",
                static_cast<unsigned>(options.kernel_op_slots));
  READBUF_CHECK(options.blocking_threads >= 1,
                "RuntimeOptions::blocking_threads=%d: must be at least 1",
                options.blocking_threads);
  // No thread until the first spawn_blocking.
  blocking_pool_ = std::make_unique<io_internal::BlockingPool>(
      io_internal::BlockingPoolOptions{.max_threads = options.blocking_threads,
                                       .idle_timeout = options.blocking_idle_timeout});
  shared_->kernel_op_slots = options.kernel_op_slots;
  int n = options.n_cores;
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  BackendKind kind = io_internal::ResolveBackendKind(options.backend);
  io_internal::BackendChoice choice = kind == BackendKind::kEpoll
                                          ? io_internal::BackendChoice::kEpoll
                                          : io_internal::BackendChoice::kUring;
  int online = static_cast<int>(std::thread::hardware_concurrency());
  if (online <= 0) online = 1;
  for (int i = 0; i < n; ++i) {
    shared_->cores.push_back(std::make_unique<io_internal::Core>(shared_.get(), i));
  }
  std::latch started(n);
  std::mutex status_mu;
  absl::Status first_error;
  for (int i = 0; i < n; ++i) {
    io_internal::Core* core = shared_->cores[i].get();
    int pin = options.pin_threads ? i % online : -1;
    io_internal::BlockingPool* pool = blocking_pool_.get();
    threads_.emplace_back([&, core, pin, pool] {
      // spawn_blocking on this core submits to this runtime's pool.
      io_internal::SetCurrentBlockingPool(pool);
      core->Run(choice, pin,
                [&](absl::Status s, const char* name, std::string note) {
                  {
                    std::lock_guard<std::mutex> l(status_mu);
                    if (!s.ok() && first_error.ok()) first_error = s;
                    // Report the weakest backend any core ended up with.
                    if (core->index() == 0 || !note.empty()) {
                      shared_->backend_name = name;
                    }
                    if (!note.empty()) {
                      shared_->backend_note = note;
                    }
                  }
                  started.count_down();
                });
      io_internal::SetCurrentBlockingPool(nullptr);
    });
  }
  started.wait();
  if (!first_error.ok()) {
    READBUF_CHECK(false, "reactor core failed to start: %s",
                  first_error.ToString().c_str());
  }
  if (!shared_->backend_note.empty()) {
    // The fallback is also visible through backend_name()/backend_note().
    std::fprintf(stderr, "readbuf: %s\n", shared_->backend_note.c_str());
  }
}

Runtime::~Runtime() { Shutdown(options_.shutdown_grace); }

void Runtime::Shutdown(absl::Duration grace) {
  READBUF_CHECK(io_internal::CurrentCore() == nullptr ||
                    io_internal::CurrentCore()->shared() != shared_.get(),
                "Runtime::Shutdown called on one of its own cores");
  std::lock_guard<std::mutex> l(shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  // Saturating: an infinite grace waits for every task; a negative one
  // cancels at once.
  const std::int64_t deadline = io_internal::DeadlineAfter(grace);
  for (auto& core : shared_->cores) core->BeginShutdown(deadline);
  for (auto& t : threads_) t.join();
  // The blocking pool goes last: no task can submit to it or await it any
  // more. Running calls get until the same deadline, then are detached.
  blocking_pool_->Shutdown(deadline);
}

io_internal::Core* Runtime::PickCore() {
  io_internal::Core* cur = io_internal::CurrentCore();
  if (cur != nullptr && cur->shared() == shared_.get()) return cur;
  std::uint32_t i = shared_->next_core.fetch_add(1, std::memory_order_relaxed);
  return shared_->cores[i % shared_->cores.size()].get();
}

int current_core() {
  io_internal::Core* c = io_internal::CurrentCore();
  return c == nullptr ? -1 : c->index();
}

int core_count() {
  io_internal::Core* c = io_internal::CurrentCore();
  return c == nullptr ? 0 : static_cast<int>(c->shared()->cores.size());
}

}  // namespace readbuf
