// faceapp: the AVX2 and AVX-512 kernels of detail/distance_kernels.hpp. Compiled in the runtime library
// (src/distance.cpp), which hands them out through detail::squared_distances_kernel; included by the tests and
// benches that look at them directly.
#pragma once

#include <cstddef>

#include "faceapp/core/encoding.hpp"
#include "faceapp/detail/compact_codes.hpp"
#include "faceapp/detail/cpu_features.hpp"
#include "faceapp/detail/distance_kernels.hpp"
#include "faceapp/detail/int8_query.hpp"

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

/// Sum of the 8 lanes.
__attribute__((target("avx2"))) inline std::int32_t horizontal_sum_epi32_avx2(__m256i v) noexcept {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

/// int8_distance_of for 4 rows at once, from their 4 vectors of partial dot products: the same operations (every
/// product exact, the two sums rounded once each in double, then to float), so the same bits.
__attribute__((target("avx2"))) inline void int8_distances_of4(const int8_query& q, const float* scales,
                                                              const std::int32_t* norms, __m256i p0, __m256i p1,
                                                              __m256i p2, __m256i p3, float* out) noexcept {
  const __m256i t = _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1), _mm256_hadd_epi32(p2, p3));
  const __m128i dot = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
  const __m256d s = _mm256_cvtps_pd(_mm_loadu_ps(scales));
  const __m256d c = _mm256_cvtepi32_pd(_mm_loadu_si128(reinterpret_cast<const __m128i*>(norms)));
  const __m256d two_t_dot = _mm256_mul_pd(_mm256_set1_pd(2 * q.scale), _mm256_cvtepi32_pd(dot));
  const __m256d inner = _mm256_sub_pd(_mm256_mul_pd(s, c), two_t_dot);
  const __m256d a = _mm256_add_pd(_mm256_set1_pd(q.scaled_norm), _mm256_mul_pd(s, inner));
  _mm_storeu_ps(out, _mm256_cvtpd_ps(_mm256_max_pd(a, _mm256_setzero_pd())));
}

/// The 8 partial sums of one row's dot product with the query (16 codes widened to int16, multiplied in pairs).
__attribute__((target("avx2"))) inline __m256i int8q_row_avx2(const std::int8_t* c, const __m256i* p) noexcept {
  __m256i acc0 = _mm256_setzero_si256();
  __m256i acc1 = _mm256_setzero_si256();
  for (int j = 0; j < 8; j += 2) {
    const __m256i c0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + 16 * j)));
    const __m256i c1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + 16 * j + 16)));
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(c0, p[j]));
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(c1, p[j + 1]));
  }
  return _mm256_add_epi32(acc0, acc1);
}

/// AVX2, int8 rows against an int16-coded query (int8_query.hpp): the exact dot products (vpmaddwd), 4 rows
/// finished together; the same bits as the portable kernel.
__attribute__((target("avx2"))) inline void squared_distances_int8q_avx2(const std::int8_t* __restrict codes,
                                                                        const float* __restrict scales,
                                                                        const std::int32_t* __restrict norms,
                                                                        std::size_t n, const int8_query& q,
                                                                        float* __restrict out) noexcept {
  __m256i p[8];
  for (int j = 0; j < 8; ++j) p[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(q.codes + 16 * j));
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const std::int8_t* c = codes + i * encoding_size;
    int8_distances_of4(q, scales + i, norms + i, int8q_row_avx2(c, p), int8q_row_avx2(c + encoding_size, p),
                       int8q_row_avx2(c + 2 * encoding_size, p), int8q_row_avx2(c + 3 * encoding_size, p), out + i);
  }
  for (; i < n; ++i) {
    out[i] = int8_distance_of(q, scales[i], norms[i],
                              horizontal_sum_epi32_avx2(int8q_row_avx2(codes + i * encoding_size, p)));
  }
}

/// One row's partial sums with AVX-512 BW (32 codes a step), folded to 8.
__attribute__((target("avx512f,avx512bw,avx2"))) inline __m256i int8q_row_avx512(const std::int8_t* c,
                                                                                 const __m512i* p) noexcept {
  __m512i acc0 = _mm512_setzero_si512();
  __m512i acc1 = _mm512_setzero_si512();
  for (int j = 0; j < 4; j += 2) {
    const __m512i c0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + 32 * j)));
    const __m512i c1 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + 32 * j + 32)));
    acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(c0, p[j]));
    acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(c1, p[j + 1]));
  }
  const __m512i acc = _mm512_add_epi32(acc0, acc1);
  // (masked extracts: GCC 12's cast and unmasked extract trip -Wuninitialized, see horizontal_sum_avx512)
  return _mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(0xFF, acc, 0), _mm512_maskz_extracti64x4_epi64(0xFF, acc, 1));
}

/// AVX-512 BW, the same with 32 codes a step.
__attribute__((target("avx512f,avx512bw,avx2"))) inline void squared_distances_int8q_avx512(
    const std::int8_t* __restrict codes, const float* __restrict scales, const std::int32_t* __restrict norms,
    std::size_t n, const int8_query& q, float* __restrict out) noexcept {
  __m512i p[4];
  for (int j = 0; j < 4; ++j) p[j] = _mm512_load_si512(reinterpret_cast<const void*>(q.codes + 32 * j));
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const std::int8_t* c = codes + i * encoding_size;
    int8_distances_of4(q, scales + i, norms + i, int8q_row_avx512(c, p), int8q_row_avx512(c + encoding_size, p),
                       int8q_row_avx512(c + 2 * encoding_size, p), int8q_row_avx512(c + 3 * encoding_size, p),
                       out + i);
  }
  for (; i < n; ++i) {
    out[i] = int8_distance_of(q, scales[i], norms[i],
                              horizontal_sum_epi32_avx2(int8q_row_avx512(codes + i * encoding_size, p)));
  }
}

#endif  // FACEAPP_X86_SIMD

}  // namespace faceapp::detail
