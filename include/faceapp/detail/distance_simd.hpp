// faceapp: the AVX2 and AVX-512 kernels of detail/distance_kernels.hpp. Compiled in the runtime library
// (src/distance.cpp), which hands them out through detail::squared_distances_kernel; included by the tests and
// benches that look at them directly.
#pragma once

#include <cstddef>

#include "faceapp/core/encoding.hpp"
#include "faceapp/detail/compact_codes.hpp"
#include "faceapp/detail/cpu_features.hpp"
#include "faceapp/detail/distance_kernels.hpp"

#if FACEAPP_X86_SIMD
#include <immintrin.h>
#endif

namespace faceapp::detail {

#if FACEAPP_X86_SIMD

/// Sum of the 8 lanes.
__attribute__((target("avx2,fma"))) inline float horizontal_sum_avx2(__m256 v) noexcept {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

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
    out[i] = horizontal_sum_avx2(_mm256_add_ps(acc0, acc1));
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

/// AVX2 + FMA, int8 rows: 8 codes widened to floats, times the row's power-of-two scale (exact) and subtracted
/// from the query in one FMA, per step.
__attribute__((target("avx2,fma"))) inline void squared_distances_int8_avx2(const std::int8_t* __restrict codes,
                                                                           const float* __restrict scales,
                                                                           std::size_t n,
                                                                           const float* __restrict query,
                                                                           float* __restrict out) noexcept {
  __m256 q[16];
  for (int j = 0; j < 16; ++j) q[j] = _mm256_loadu_ps(query + 8 * j);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int8_t* c = codes + i * encoding_size;
    const __m256 s = _mm256_set1_ps(scales[i]);
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    for (int j = 0; j < 16; j += 2) {
      const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + 8 * j));
      // q - scale * code in one instruction: the product is exact, so the one rounding is the subtraction's.
      const __m256 d0 = _mm256_fnmadd_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(raw)), q[j]);
      const __m256 d1 = _mm256_fnmadd_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(raw, 8))), q[j + 1]);
      acc0 = _mm256_fmadd_ps(d0, d0, acc0);
      acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    }
    out[i] = horizontal_sum_avx2(_mm256_add_ps(acc0, acc1));
  }
}

/// AVX2 + FMA + F16C, float16 rows: 8 halves converted (exactly) to floats per step.
__attribute__((target("avx2,fma,f16c"))) inline void squared_distances_float16_avx2(
    const std::uint16_t* __restrict halves, std::size_t n, const float* __restrict query,
    float* __restrict out) noexcept {
  __m256 q[16];
  for (int j = 0; j < 16; ++j) q[j] = _mm256_loadu_ps(query + 8 * j);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint16_t* h = halves + i * encoding_size;
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    for (int j = 0; j < 16; j += 2) {
      const __m256 x0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 8 * j)));
      const __m256 x1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 8 * j + 8)));
      const __m256 d0 = _mm256_sub_ps(q[j], x0);
      const __m256 d1 = _mm256_sub_ps(q[j + 1], x1);
      acc0 = _mm256_fmadd_ps(d0, d0, acc0);
      acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    }
    out[i] = horizontal_sum_avx2(_mm256_add_ps(acc0, acc1));
  }
}

/// AVX-512, int8 rows: 16 codes widened to floats, times the row's power-of-two scale (exact), per step. (The
/// conversions are the zero-masked forms with an all-ones mask, for GCC 12's -Wuninitialized, as above.)
__attribute__((target("avx512f"))) inline void squared_distances_int8_avx512(const std::int8_t* __restrict codes,
                                                                            const float* __restrict scales,
                                                                            std::size_t n,
                                                                            const float* __restrict query,
                                                                            float* __restrict out) noexcept {
  constexpr __mmask16 all = 0xFFFF;
  __m512 q[8];
  for (int j = 0; j < 8; ++j) q[j] = _mm512_loadu_ps(query + 16 * j);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int8_t* c = codes + i * encoding_size;
    const __m512 s = _mm512_set1_ps(scales[i]);
    __m512 acc0 = _mm512_setzero_ps();
    __m512 acc1 = _mm512_setzero_ps();
    for (int j = 0; j < 8; j += 2) {
      const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + 16 * j));
      const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + 16 * j + 16));
      // q - scale * code in one instruction: the product is exact, so the one rounding is the subtraction's.
      const __m512 d0 = _mm512_fnmadd_ps(s, _mm512_maskz_cvtepi32_ps(all, _mm512_maskz_cvtepi8_epi32(all, r0)), q[j]);
      const __m512 d1 =
          _mm512_fnmadd_ps(s, _mm512_maskz_cvtepi32_ps(all, _mm512_maskz_cvtepi8_epi32(all, r1)), q[j + 1]);
      acc0 = _mm512_fmadd_ps(d0, d0, acc0);
      acc1 = _mm512_fmadd_ps(d1, d1, acc1);
    }
    out[i] = horizontal_sum_avx512(_mm512_add_ps(acc0, acc1));
  }
}

#endif  // FACEAPP_X86_SIMD

}  // namespace faceapp::detail
