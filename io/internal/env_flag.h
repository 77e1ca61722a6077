// -----------------------------------------------------------------------------
// File: io/internal/env_flag.h
// -----------------------------------------------------------------------------
//
// EnvFlagIsOff(name): whether the environment variable `name` turns a
// feature off ("0", "off", "false" or "no"); unset or anything else: on.
// Used for the backends' comparison switches (READBUF_RECV_RING=0, ...).
// Thread safety: reads the environment; call it while nothing sets it.

#ifndef READBUF_IO_INTERNAL_ENV_FLAG_H_
#define READBUF_IO_INTERNAL_ENV_FLAG_H_

#include <cstdlib>
#include <string_view>

namespace readbuf {
namespace io_internal {

inline bool EnvFlagIsOff(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return false;
  const std::string_view s(v);
  return s == "0" || s == "off" || s == "false" || s == "no";
}

}  // namespace io_internal
}  // namespace readbuf

#endif  // READBUF_IO_INTERNAL_ENV_FLAG_H_
