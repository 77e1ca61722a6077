#include "io/internal/fd_state.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "buf/internal/check.h"

namespace readbuf {
namespace io_internal {
namespace {

// EAGAINs in a row, without a suspension, before the debug check fires. A
// correct loop sees at most one: EAGAIN clears readiness, so the next wait
// suspends.
constexpr int kMaxEagainStreak = 16;

}  // namespace

FdShape ClassifyFd(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return FdShape::kOther;
  if (S_ISFIFO(st.st_mode)) return FdShape::kStream;
  if (!S_ISSOCK(st.st_mode)) return FdShape::kOther;
  int type = 0;
  socklen_t len = sizeof(type);
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return FdShape::kOther;
  return type == SOCK_STREAM ? FdShape::kStream : FdShape::kOther;
}

void FdState::ReleaseHold(FdState* fs) {
  READBUF_DCHECK(fs->holds > 0, "fd %d: hold released twice", fs->fd);
  if (--fs->holds == 0 && fs->closed) delete fs;
}

absl::Status FdState::ClosedError(const char* what) const {
  return absl::CancelledError(
      absl::StrCat(what, "(fd=", fd, "): the fd was closed while the operation waited"));
}

void FdState::NoteEagain(bool write) {
  if (write) {
    writable = false;
    write_closed = false;
  } else {
    readable = false;
    read_closed = false;
  }
#ifndef NDEBUG
  std::uint16_t& streak = eagain_streak[write ? 1 : 0];
  ++streak;
  READBUF_CHECK(streak <= kMaxEagainStreak,
                "fd %d: %d EAGAINs on %s without a suspension: a loop retries EAGAIN in place",
                fd, static_cast<int>(streak), write ? "write" : "read");
#endif
}

bool FdState::ShortReadDrains() {
  if (shape == FdShape::kUnknown) shape = ClassifyFd(fd);
  return shape == FdShape::kStream;
}

}  // namespace io_internal
}  // namespace readbuf
