// faceapp: the 1:N distance kernels behind gallery and distance_to.
//
// Encodings are stored back to back, 128 floats (512 bytes) each, 64-byte aligned. The scan streams the gallery
// once: at 1 M encodings that is 512 MB, so the kernel is bound by memory bandwidth, not arithmetic.
#pragma once

#include <cstddef>

#include "faceapp/core/encoding.hpp"

namespace faceapp::detail {

/// Squared Euclidean distance of one stored encoding to the query. Sixteen independent partial sums let the
/// compiler keep the loop in vector registers without reassociating floating-point adds.
[[nodiscard]] inline float squared_distance_128(const float* __restrict a, const float* __restrict b) noexcept {
  constexpr std::size_t lanes = 16;
  float acc[lanes] = {};
  for (std::size_t j = 0; j < encoding_size; j += lanes) {
    for (std::size_t l = 0; l < lanes; ++l) {
      const float d = a[j + l] - b[j + l];
      acc[l] += d * d;
    }
  }
  float sum = 0;
  for (float v : acc) sum += v;
  return sum;
}

/// out[i] = squared distance of encoding i (of n, stored back to back at base) to the query.
inline void squared_distances(const float* __restrict base, std::size_t n, const float* __restrict query,
                              float* __restrict out) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = squared_distance_128(base + i * encoding_size, query);
}

struct nearest_hit {
  std::size_t index = 0;
  float squared_distance = 0;
};

/// The stored encoding nearest to the query; n must be > 0.
[[nodiscard]] inline nearest_hit nearest(const float* __restrict base, std::size_t n,
                                         const float* __restrict query) noexcept {
  nearest_hit best{0, squared_distance_128(base, query)};
  for (std::size_t i = 1; i < n; ++i) {
    const float d = squared_distance_128(base + i * encoding_size, query);
    if (d < best.squared_distance) best = {i, d};
  }
  return best;
}

}  // namespace faceapp::detail
