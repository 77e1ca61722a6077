// -----------------------------------------------------------------------------
// File: io/driver.cc
// -----------------------------------------------------------------------------
//
// Driver: the public face of io_internal::DriverEngine (io/internal/
// driver_engine.h), which holds the slots and drives the backend.

#include "io/driver.h"

#include <utility>

#include "io/internal/driver_engine.h"

namespace readbuf {

absl::StatusOr<Driver> Driver::Create(DriverOptions options) {
  absl::StatusOr<std::unique_ptr<io_internal::DriverEngine>> e =
      io_internal::DriverEngine::Create(options.backend, options.entries);
  if (!e.ok()) return e.status();
  return Driver(*std::move(e));
}

Driver::Driver(std::unique_ptr<io_internal::DriverEngine> engine) : engine_(std::move(engine)) {}
Driver::Driver(Driver&&) noexcept = default;
Driver& Driver::operator=(Driver&&) noexcept = default;
Driver::~Driver() = default;

const char* Driver::backend_name() const { return engine_->backend_name(); }
const std::string& Driver::backend_note() const { return engine_->note(); }
absl::Status Driver::attach(int fd) { return engine_->Attach(fd); }
absl::Status Driver::detach(int fd) { return engine_->Detach(fd); }

absl::Status Driver::push(const driver::Op& op, std::uint64_t user_data) {
  return engine_->Push(op, user_data);
}

absl::Status Driver::push_batch(std::span<const driver::Entry> entries) {
  return engine_->PushBatch(entries);
}

std::size_t Driver::submit_and_wait(std::optional<BootClock::time_point> deadline,
                                    std::span<driver::Completion> out) {
  std::optional<std::int64_t> ns;
  if (deadline.has_value()) ns = deadline->time_since_epoch().count();
  return engine_->SubmitAndWait(ns, out);
}

absl::Status Driver::cancel(std::uint64_t user_data) { return engine_->Cancel(user_data); }
std::size_t Driver::capacity() const { return engine_->capacity(); }
std::size_t Driver::free_entries() const { return engine_->free_slots(); }

}  // namespace readbuf
