// File: buf/pool_bytes.cc

#include "buf/pool_bytes.h"

#include <new>
#include <utility>

namespace readbuf {

PoolBytes::PoolBytes(PoolBlock block, std::size_t offset, std::size_t length)
    : block_(std::move(block)) {
  READBUF_DCHECK(!block_.empty(),
                 "PoolBytes built from an empty PoolBlock (moved-from or "
                 "released)");
  READBUF_CHECK(offset <= block_.capacity() &&
                    length <= block_.capacity() - offset,
                "PoolBytes range [%zu, +%zu) outside block capacity %zu",
                offset, length, block_.capacity());
  if (!block_.empty()) data_ = block_.data() + offset;
  size_ = length;
}

SharedPoolBytes PoolBytes::Share() && {
  if (size_ == 0) {
    *this = PoolBytes();
    return SharedPoolBytes();
  }
  buf_internal::PoolCore* owner = buf_internal::PoolBlockAccess::Core(block_);
  PoolBlock self =
      owner->IsOwnerThread()
          ? BufferPool::AcquireUncappedFrom(
                owner, sizeof(buf_internal::SharedBytesControl))
          : BufferPool::ForThisThread().AcquireUncapped(
                sizeof(buf_internal::SharedBytesControl));
  static_assert(alignof(buf_internal::SharedBytesControl) <=
                alignof(std::max_align_t));
  std::byte* memory = self.data();
  auto* control = ::new (memory) buf_internal::SharedBytesControl{
      {1}, std::move(block_), std::move(self)};
  SharedPoolBytes shared(control, data_, size_);
  data_ = nullptr;
  size_ = 0;
  return shared;
}

namespace buf_internal {

void DestroySharedBytesControl(SharedBytesControl* control) noexcept {
  // `control` lives inside `self`: move both blocks out before releasing.
  PoolBlock payload = std::move(control->payload);
  PoolBlock self = std::move(control->self);
  control->~SharedBytesControl();
  payload.Release();
  self.Release();
}

}  // namespace buf_internal
}  // namespace readbuf
