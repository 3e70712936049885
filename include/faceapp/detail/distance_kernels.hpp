// faceapp: the 1:N distance kernels behind gallery and distance_to.
//
// Encodings are stored back to back, 128 floats (512 bytes) each, 64-byte aligned. The scan streams the gallery
// once: at 1 M encodings that is 512 MB, so the kernel is bound by memory bandwidth, not arithmetic. The work
// is done in blocks: a SIMD kernel writes the squared distances of one block into a small buffer that stays in
// L1, and nearest / top-k then look at that buffer, so they stream memory as fast as the plain scan does.
//
// The SIMD kernels are compiled for AVX-512 and AVX2+FMA with function attributes and picked once at run time from
// what the CPU supports (detail/cpu_features.hpp), so a binary built for baseline x86-64 still uses AVX-512 where
// it exists and runs where it does not. Other targets get the portable kernel, which compilers vectorize on their
// own.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <vector>

#include "faceapp/core/encoding.hpp"
#include "faceapp/detail/cpu_features.hpp"

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

/// out[i] = squared distance of encoding i (of n, stored back to back at base) to the query: portable.
inline void squared_distances_portable(const float* __restrict base, std::size_t n, const float* __restrict query,
                                       float* __restrict out) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = squared_distance_128(base + i * encoding_size, query);
}

#if FACEAPP_X86_SIMD

/// AVX2 + FMA: an encoding is 16 ymm registers; two accumulators halve the FMA dependency chain.
__attribute__((target("avx2,fma"))) inline void squared_distances_avx2(const float* __restrict base, std::size_t n,
                                                                      const float* __restrict query,
                                                                      float* __restrict out) noexcept {
  __m256 q[16];
  for (int j = 0; j < 16; ++j) q[j] = _mm256_loadu_ps(query + 8 * j);
  for (std::size_t i = 0; i < n; ++i) {
    const float* p = base + i * encoding_size;
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(p), q[0]);
    __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(p + 8), q[1]);
    __m256 acc0 = _mm256_mul_ps(d0, d0);
    __m256 acc1 = _mm256_mul_ps(d1, d1);
    for (int j = 2; j < 16; j += 2) {
      d0 = _mm256_sub_ps(_mm256_loadu_ps(p + 8 * j), q[j]);
      d1 = _mm256_sub_ps(_mm256_loadu_ps(p + 8 * j + 8), q[j + 1]);
      acc0 = _mm256_fmadd_ps(d0, d0, acc0);
      acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    }
    const __m256 acc = _mm256_add_ps(acc0, acc1);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    out[i] = _mm_cvtss_f32(s);
  }
}

/// Sum of the 16 lanes. GCC 12's unmasked shuffle/extract intrinsics (and so _mm512_reduce_add_ps) trip
/// -Wuninitialized on their "undefined" source operand; the masked forms with an all-ones mask do not.
__attribute__((target("avx512f"))) inline float horizontal_sum_avx512(__m512 v) noexcept {
  constexpr __mmask16 all = 0xFFFF;
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, all, v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, all, v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  __m128 s = _mm512_mask_extractf32x4_ps(_mm_setzero_ps(), 0xF, v, 0);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/// AVX-512, one encoding: 8 zmm registers, two accumulators.
__attribute__((target("avx512f"))) inline float squared_distance_avx512(const float* __restrict p,
                                                                       const __m512* __restrict q) noexcept {
  __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(p), q[0]);
  __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(p + 16), q[1]);
  __m512 acc0 = _mm512_mul_ps(d0, d0);
  __m512 acc1 = _mm512_mul_ps(d1, d1);
  for (int j = 2; j < 8; j += 2) {
    d0 = _mm512_sub_ps(_mm512_loadu_ps(p + 16 * j), q[j]);
    d1 = _mm512_sub_ps(_mm512_loadu_ps(p + 16 * j + 16), q[j + 1]);
    acc0 = _mm512_fmadd_ps(d0, d0, acc0);
    acc1 = _mm512_fmadd_ps(d1, d1, acc1);
  }
  return horizontal_sum_avx512(_mm512_add_ps(acc0, acc1));
}

/// AVX-512: one encoding per step. The out-of-order core overlaps the horizontal sum with the next loads on
/// its own; unrolling by hand measured slower (the extra live registers made GCC spill the query).
__attribute__((target("avx512f"))) inline void squared_distances_avx512(const float* __restrict base,
                                                                       std::size_t n,
                                                                       const float* __restrict query,
                                                                       float* __restrict out) noexcept {
  __m512 q[8];
  for (int j = 0; j < 8; ++j) q[j] = _mm512_loadu_ps(query + 16 * j);
  for (std::size_t i = 0; i < n; ++i) out[i] = squared_distance_avx512(base + i * encoding_size, q);
}

#endif  // FACEAPP_X86_SIMD

using squared_distances_fn = void (*)(const float* __restrict, std::size_t, const float* __restrict,
                                      float* __restrict) noexcept;

/// The block kernel for `level`, which the caller has checked with simd_supported.
[[nodiscard]] inline squared_distances_fn squared_distances_kernel(simd_level level) noexcept {
#if FACEAPP_X86_SIMD
  if (level == simd_level::avx512) return &squared_distances_avx512;
  if (level == simd_level::avx2) return &squared_distances_avx2;
#endif
  (void)level;
  return &squared_distances_portable;
}

/// out[i] = squared distance of encoding i (of n, stored back to back at base) to the query.
inline void squared_distances(const float* __restrict base, std::size_t n, const float* __restrict query,
                              float* __restrict out, simd_level level = best_simd_level()) noexcept {
  squared_distances_kernel(level)(base, n, query, out);
}

/// Encodings per block: 512 KB of gallery, 4 KB of distances (which stay in L1).
inline constexpr std::size_t scan_block = 1024;

struct nearest_hit {
  std::size_t index = 0;
  float squared_distance = 0;
};

/// The stored encoding nearest to the query (the first one on ties); n must be > 0.
[[nodiscard]] inline nearest_hit nearest(const float* __restrict base, std::size_t n, const float* __restrict query,
                                         simd_level level = best_simd_level()) noexcept {
  const auto kernel = squared_distances_kernel(level);
  alignas(64) float block[scan_block];
  nearest_hit best{0, std::numeric_limits<float>::infinity()};
  bool first = true;
  for (std::size_t start = 0; start < n; start += scan_block) {
    const std::size_t count = std::min(scan_block, n - start);
    kernel(base + start * encoding_size, count, query, block);
    std::size_t j = 0;
    if (first) {
      best = {start, block[0]};
      j = 1;
      first = false;
    }
    for (; j < count; ++j) {
      if (block[j] < best.squared_distance) best = {start + j, block[j]};
    }
  }
  return best;
}

/// The k stored encodings nearest to the query, nearest first; equal distances keep index order. Fewer when
/// n < k. A max-heap holds the k best so far; only a distance below the k-th best touches it, which after the
/// first few blocks is rare, so this runs at the speed of the plain scan.
inline void top_k(const float* __restrict base, std::size_t n, const float* __restrict query, std::size_t k,
                  std::vector<nearest_hit>& out, simd_level level = best_simd_level()) {
  out.clear();
  if (k == 0 || n == 0) return;
  k = std::min(k, n);
  out.reserve(k);
  // Ordered by (distance, index): later entries lose ties, so a strict `<` on the distance alone is enough
  // during the scan.
  const auto before = [](const nearest_hit& a, const nearest_hit& b) {
    return a.squared_distance < b.squared_distance ||
           (a.squared_distance == b.squared_distance && a.index < b.index);
  };
  const auto kernel = squared_distances_kernel(level);
  alignas(64) float block[scan_block];
  float worst = std::numeric_limits<float>::infinity();
  for (std::size_t start = 0; start < n; start += scan_block) {
    const std::size_t count = std::min(scan_block, n - start);
    kernel(base + start * encoding_size, count, query, block);
    std::size_t j = 0;
    for (; j < count && out.size() < k; ++j) {  // filling the heap: only in the first block(s)
      out.push_back({start + j, block[j]});
      std::push_heap(out.begin(), out.end(), before);
      if (out.size() == k) worst = out.front().squared_distance;
    }
    for (; j < count; ++j) {  // the steady state: one compare per entry
      if (block[j] < worst) {
        std::pop_heap(out.begin(), out.end(), before);
        out.back() = {start + j, block[j]};
        std::push_heap(out.begin(), out.end(), before);
        worst = out.front().squared_distance;
      }
    }
  }
  std::sort_heap(out.begin(), out.end(), before);
}

}  // namespace faceapp::detail
