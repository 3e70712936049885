// faceapp: a cache-line aligned allocator, so every stored encoding starts on a 64-byte boundary.
#pragma once

#include <cstddef>
#include <new>

namespace faceapp::detail {

template <class T, std::size_t Alignment = 64>
struct aligned_allocator {
  using value_type = T;
  template <class U>
  struct rebind {
    using other = aligned_allocator<U, Alignment>;
  };

  aligned_allocator() noexcept = default;
  template <class U>
  aligned_allocator(const aligned_allocator<U, Alignment>&) noexcept {}  // NOLINT: allocator conversion

  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{Alignment}));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t{Alignment}); }

  template <class U>
  friend bool operator==(const aligned_allocator&, const aligned_allocator<U, Alignment>&) noexcept {
    return true;
  }
};

}  // namespace faceapp::detail
