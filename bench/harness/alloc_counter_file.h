// -----------------------------------------------------------------------------
// File: bench/harness/alloc_counter_file.h
// -----------------------------------------------------------------------------
//
// AllocCounterFile is the reading end of alloc_count_preload.so: a small
// temporary file holding one 64-bit counter, mapped shared. Start the server
// with LD_PRELOAD=<the .so> and READBUF_ALLOC_COUNTER_FILE=path(); the server
// adds one per malloc-family call and Read() returns the total so far.
//
// Example:
//
//   absl::StatusOr<AllocCounterFile> allocs = AllocCounterFile::Create();
//   env = {"LD_PRELOAD=" + so, "READBUF_ALLOC_COUNTER_FILE=" + allocs->path()};
//   uint64_t before = allocs->Read(); ... load ...; uint64_t n = allocs->Read() - before;

#ifndef READBUF_BENCH_HARNESS_ALLOC_COUNTER_FILE_H_
#define READBUF_BENCH_HARNESS_ALLOC_COUNTER_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace readbuf::bench {

// Thread safety: Read() from any thread. Move-only; the file is removed on
// destruction.
class AllocCounterFile {
 public:
  // A fresh zeroed counter file under $TMPDIR (default /tmp).
  // Errors: mkstemp/ftruncate/mmap errno.
  static absl::StatusOr<AllocCounterFile> Create();

  AllocCounterFile(AllocCounterFile&& other) noexcept;
  AllocCounterFile& operator=(AllocCounterFile&&) = delete;
  ~AllocCounterFile();

  const std::string& path() const { return path_; }
  // The count so far (0 if no process has the file mapped).
  uint64_t Read() const;

 private:
  AllocCounterFile(std::string path, const volatile uint64_t* value)
      : path_(std::move(path)), value_(value) {}
  std::string path_;
  const volatile uint64_t* value_;
};

}  // namespace readbuf::bench

#endif  // READBUF_BENCH_HARNESS_ALLOC_COUNTER_FILE_H_
