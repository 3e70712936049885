// faceapp: the int8 scan in integers. The query is coded too, as int16 with a power-of-two scale t, so that a
// row's approximate squared distance comes from one exact integer dot product:
//
//   a = ||t p - s c||^2 = t^2 P - 2 t s D + s^2 C,   D = sum p_i c_i,  P = sum p_i^2,  C = sum c_i^2
//
// (p the query's codes, c the row's, s its scale; P per query, C stored per row). D fits int32 (128 terms of at
// most 32767 * 127), P and C are exact in double, and so are the three terms; their sum is rounded twice in
// double and once to float. The kernel's work per 16 codes is a widening, one multiply-add of pairs and one add,
// against the float kernel's widening, conversion, subtract and FMA per 8 or 16 (compact_codes.hpp).
//
// What it costs the error bound (exact_rerank.hpp): the query's own residual r_q = ||q - t p|| adds to the rows'
// R (|sqrt(a) - ||q - x||| <= r_q + R by the triangle inequality), and the double roundings of a sum whose terms
// may cancel are absolute, not relative: |A - a| <= 2^-51 (t^2 P + s^2 C) + 2^-24 A, whose first term
// (`eta`, taken at the gallery's largest s^2 C) joins the bound's absolute slack.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "faceapp/core/encoding.hpp"
#include "faceapp/detail/cpu_features.hpp"

namespace faceapp::detail {

/// A query coded for the integer int8 kernel.
struct int8_query {
  alignas(64) std::int16_t codes[encoding_size] = {};
  double scale = 1;         // t, a power of two
  double scaled_norm = 0;   // t^2 P
  double residual = 0;      // ||q - t p||, rounded up; +infinity when q cannot be coded (not finite, or huge)
};

/// Codes q: t the power of two >= max|q| / 32767 (at least 2^-100), p = q / t rounded to nearest.
inline void quantize_query_int16(const float* q, int8_query& out) noexcept {
  float top = 0;
  for (std::size_t i = 0; i < encoding_size; ++i) top = std::max(top, std::isnan(q[i]) ? INFINITY : std::abs(q[i]));
  if (!(top <= 0x1p60F)) {
    std::fill_n(out.codes, encoding_size, std::int16_t{0});
    out.scale = 1;
    out.scaled_norm = 0;
    out.residual = std::numeric_limits<double>::infinity();
    return;
  }
  int exponent = 0;
  std::frexp(static_cast<double>(top) / 32767.0, &exponent);  // top / 32767 < 2^exponent
  const double t = std::ldexp(1.0, std::max(exponent, -100));
  double p2 = 0;
  double r2 = 0;
  for (std::size_t i = 0; i < encoding_size; ++i) {
    const double c = std::clamp(std::nearbyint(static_cast<double>(q[i]) / t), -32767.0, 32767.0);
    out.codes[i] = static_cast<std::int16_t>(c);
    p2 += c * c;  // exact: integers below 2^53
    const double d = static_cast<double>(q[i]) - t * c;
    r2 += d * d;
  }
  out.scale = t;
  out.scaled_norm = t * t * p2;
  const double r = std::sqrt(r2) * (1 + 1e-12);
  out.residual = r < std::numeric_limits<double>::infinity() ? r : std::numeric_limits<double>::infinity();
}

/// C = sum of a row's codes squared.
[[nodiscard]] inline std::int32_t code_norm(const std::int8_t* codes) noexcept {
  std::int32_t sum = 0;
  for (std::size_t i = 0; i < encoding_size; ++i) sum += static_cast<std::int32_t>(codes[i]) * codes[i];
  return sum;
}

/// The bound's absolute slack for a query against rows whose s^2 C is at most `max_row_norm` (see above).
[[nodiscard]] inline double int8_query_eta(const int8_query& q, double max_row_norm) noexcept {
  return 0x1p-50 * (q.scaled_norm + max_row_norm) + 1e-35;
}

/// A row's approximate squared distance from its exact dot product D (see above); never negative.
[[nodiscard]] inline float int8_distance_of(const int8_query& q, double scale, std::int32_t norm,
                                           std::int32_t dot) noexcept {
  // Every product here is exact (powers of two times integers), so only the two sums round, with or without FMA.
  const double a = q.scaled_norm + scale * (scale * static_cast<double>(norm) - 2 * q.scale * dot);
  return static_cast<float>(std::max(a, 0.0));
}

/// out[i] = approximate squared distance of int8 row i (codes back to back, one scale and one norm a row).
inline void squared_distances_int8q_portable(const std::int8_t* __restrict codes, const float* __restrict scales,
                                             const std::int32_t* __restrict norms, std::size_t n,
                                             const int8_query& q, float* __restrict out) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    const std::int8_t* c = codes + i * encoding_size;
    std::int32_t dot = 0;
    for (std::size_t j = 0; j < encoding_size; ++j) dot += static_cast<std::int32_t>(q.codes[j]) * c[j];
    out[i] = int8_distance_of(q, scales[i], norms[i], dot);
  }
}

using squared_distances_int8q_fn = void (*)(const std::int8_t* __restrict, const float* __restrict,
                                            const std::int32_t* __restrict, std::size_t, const int8_query&,
                                            float* __restrict) noexcept;

/// The integer int8 kernel for `level`, from the runtime library: AVX2 (at the AVX-512 level too: it measured
/// faster than the AVX-512 BW variant, src/distance.cpp), portable. Every variant returns the same bits: the dot
/// product is exact and the rest is the same double arithmetic.
[[nodiscard]] squared_distances_int8q_fn squared_distances_int8q_kernel(simd_level level) noexcept;

}  // namespace faceapp::detail
