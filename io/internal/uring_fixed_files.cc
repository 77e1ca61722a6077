// -----------------------------------------------------------------------------
// File: io/internal/uring_fixed_files.cc
// -----------------------------------------------------------------------------
//
// The ring's registered-file table (see uring_backend.h): a ring connection's
// socket is entered in it when it attaches to the receive ring, and its
// multishot recv and its sends (IORING_OP_SEND through send_all) then name
// the table index with IOSQE_FIXED_FILE, so the kernel skips the per-op file
// lookup and reference count (fget/fput). The table is registered sparse on
// the first attach, min(RLIMIT_NOFILE, 65536) entries; a connection that
// finds it full or refused keeps using its fd. An entry holds a reference to
// the socket, so Deregister queues its removal before the fd is closed; the
// index is reused only after that removal has completed.
// READBUF_FIXED_FILES=0 turns the table off (to compare).
// Thread safety: the core's thread only.

#include <errno.h>
#include <liburing.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "buf/internal/check.h"
#include "io/internal/env_flag.h"
#include "io/internal/fd_state.h"
#include "io/internal/uring_backend.h"

namespace readbuf {
namespace io_internal {

namespace {

constexpr std::uint32_t kMaxFileTableSize = 65536;

// The value a table update writes to remove an entry. The kernel reads it
// when it issues the update (at the next enter), so it must stay valid.
const int kNoFile = -1;

}  // namespace

bool UringBackend::EnsureFileTable() {
  if (file_table_ok_) return true;
  if (file_table_tried_) return false;
  file_table_tried_ = true;
  if (EnvFlagIsOff("READBUF_FIXED_FILES")) return false;
  std::uint32_t size = kMaxFileTableSize;
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    size = static_cast<std::uint32_t>(std::min<rlim_t>(rl.rlim_cur, size));
  }
  if (size == 0 || io_uring_register_files_sparse(&ring_, size) != 0) return false;
  file_table_size_ = size;
  file_table_ok_ = true;
  return true;
}

std::int32_t UringBackend::RegisterFile(int fd) {
  if (!EnsureFileTable()) return -1;
  std::uint32_t index;
  if (!free_files_.empty()) {
    index = free_files_.back();
    free_files_.pop_back();
  } else if (file_table_next_ < file_table_size_) {
    index = file_table_next_++;
  } else {
    ++file_registration_failures_;  // full: this connection keeps its fd
    return -1;
  }
  if (io_uring_register_files_update(&ring_, index, &fd, 1) != 1) {
    free_files_.push_back(index);
    ++file_registration_failures_;
    return -1;
  }
  ++files_registered_;
  return static_cast<std::int32_t>(index);
}

void UringBackend::UnregisterFile(std::int32_t index) {
  READBUF_DCHECK(index >= 0 && static_cast<std::uint32_t>(index) < file_table_size_,
                 "file table index %d out of range", index);
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_files_update(sqe, const_cast<int*>(&kNoFile), 1, index);
  io_uring_sqe_set_data64(sqe, (static_cast<std::uint64_t>(index) << 32) | kFileRemovedLow);
}

void UringBackend::OnFileUnregistered(std::uint32_t index, std::int32_t res) {
  if (res != 1) {
    // Not removed (the kernel refused the update): remove it now, or the
    // socket stays open through the table until the ring goes away.
    int none = kNoFile;
    if (io_uring_register_files_update(&ring_, index, &none, 1) != 1) {
      std::fprintf(stderr,
                   "readbuf: io_uring file table entry %u could not be removed (%d); "
                   "it stays out of use\n",
                   index, res);
      --files_registered_;
      return;
    }
  }
  --files_registered_;
  free_files_.push_back(index);
}

std::int32_t UringBackend::RegisteredFileIndex(const FdState* fs) const {
  if (!file_table_ok_ || fs->backend_slot >= slots_.size()) return -1;
  const Slot& s = slots_[fs->backend_slot];
  if (!s.in_use || s.fs != fs || s.recv == nullptr) return -1;
  return s.recv->file_index;
}

}  // namespace io_internal
}  // namespace readbuf
