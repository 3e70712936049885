// faceapp: the compact copies of a gallery's encodings (int8 with a scale per row, or float16) and their block
// kernels, which the gallery scans before it re-scores the best rows in float32.
//
// Each coding keeps, per row, the decoded vector x' that its kernel computes with, and the coder returns the
// row's residual ||x - x'|| (computed in double and rounded up), so that by the triangle inequality
// | ||q - x'|| - ||q - x|| | <= residual for every query q: the error bound exact_rerank.hpp builds on.
// - int8: x'[i] = scale * code[i], the scale a power of two >= max|x| / 127, so that scale * code is exact in
//   float and the kernel's only roundings are those of a float32 squared distance. 132 bytes a row instead of 512
//   (136 in a gallery, which keeps each row's squared code norm for the integer kernel, int8_query.hpp).
// - float16: x'[i] = the half nearest x[i]; converting back to float is exact. 256 bytes a row.
// A row the coding cannot hold with that guarantee (a value that is not finite, or beyond 2^60 for int8, 65504
// for float16) has an infinite residual: the gallery then scans float32 (see exact_rerank.hpp).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "faceapp/core/encoding.hpp"
#include "faceapp/detail/cpu_features.hpp"

namespace faceapp {

/// The compact copy a gallery keeps beside its float32 rows (gallery_options::codes): none, int8 with a
/// power-of-two scale per row, or float16.
enum class compact_codes { none, int8, float16 };

}  // namespace faceapp

namespace faceapp::detail {

/// Bytes of one row's codes in a coding (the int8 scale is stored apart, 4 bytes more).
[[nodiscard]] constexpr std::size_t code_bytes(compact_codes codes) noexcept {
  return codes == compact_codes::int8 ? encoding_size : codes == compact_codes::float16 ? 2 * encoding_size : 0;
}

/// The residual ||x - decoded|| of a row, in double, rounded up; +infinity when it is not finite.
[[nodiscard]] inline double residual_norm(const float* x, const float* decoded) noexcept {
  double sum = 0;
  for (std::size_t i = 0; i < encoding_size; ++i) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(decoded[i]);
    sum += d * d;
  }
  const double r = std::sqrt(sum) * (1 + 1e-12);
  return r < std::numeric_limits<double>::infinity() ? r : std::numeric_limits<double>::infinity();
}

/// Codes x as int8 with a power-of-two scale; returns the residual.
inline double quantize_int8(const float* x, std::int8_t* codes, float& scale) noexcept {
  float top = 0;
  for (std::size_t i = 0; i < encoding_size; ++i) top = std::max(top, std::isnan(x[i]) ? INFINITY : std::abs(x[i]));
  if (!(top <= 0x1p60F)) {
    std::fill_n(codes, encoding_size, std::int8_t{0});
    scale = 1;
    return std::numeric_limits<double>::infinity();
  }
  int exponent = 0;
  std::frexp(top / 127.0F, &exponent);  // top / 127 < 2^exponent
  scale = std::ldexp(1.0F, std::max(exponent, -100));  // no subnormal scales
  float decoded[encoding_size];
  for (std::size_t i = 0; i < encoding_size; ++i) {
    const float c = std::clamp(std::nearbyint(x[i] / scale), -127.0F, 127.0F);
    codes[i] = static_cast<std::int8_t>(c);
    decoded[i] = scale * c;
  }
  return residual_norm(x, decoded);
}

/// The float a half's bits stand for (exact).
[[nodiscard]] inline float half_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000U) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1FU;
  const std::uint32_t mantissa = h & 0x3FFU;
  if (exponent == 0) {
    const float v = std::ldexp(static_cast<float>(mantissa), -24);
    return sign != 0 ? -v : v;
  }
  const std::uint32_t bits =
      exponent == 0x1F ? sign | 0x7F800000U | (mantissa << 13) : sign | ((exponent + 112) << 23) | (mantissa << 13);
  return std::bit_cast<float>(bits);
}

/// The half nearest a float (ties away from zero); +-infinity beyond the half range, NaN for NaN.
[[nodiscard]] inline std::uint16_t float_to_half(float f) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000U);
  const float a = std::abs(f);
  if (std::isnan(f)) return static_cast<std::uint16_t>(sign | 0x7E00U);
  if (a >= 65520.0F) return static_cast<std::uint16_t>(sign | 0x7C00U);
  if (a < 0x1p-14F) return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(std::lround(a * 0x1p24F)));
  const std::uint32_t exponent = ((bits >> 23) & 0xFFU) - 112;
  const std::uint32_t mantissa = bits & 0x7FFFFFU;
  // The round bit carries into the exponent when the mantissa is all ones, which is the right result.
  return static_cast<std::uint16_t>(sign | (((exponent << 10) | (mantissa >> 13)) + ((mantissa >> 12) & 1U)));
}

/// Codes x as float16; returns the residual.
inline double quantize_float16(const float* x, std::uint16_t* halves) noexcept {
  float decoded[encoding_size];
  for (std::size_t i = 0; i < encoding_size; ++i) {
    halves[i] = float_to_half(x[i]);
    decoded[i] = half_to_float(halves[i]);
  }
  return residual_norm(x, decoded);
}

/// out[i] = squared distance of int8 row i (codes back to back, 128 a row; one scale a row) to the query.
inline void squared_distances_int8_portable(const std::int8_t* __restrict codes, const float* __restrict scales,
                                            std::size_t n, const float* __restrict query,
                                            float* __restrict out) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    const std::int8_t* c = codes + i * encoding_size;
    const float s = scales[i];
    float acc[16] = {};
    for (std::size_t j = 0; j < encoding_size; j += 16) {
      for (std::size_t l = 0; l < 16; ++l) {
        const float d = query[j + l] - s * static_cast<float>(c[j + l]);
        acc[l] += d * d;
      }
    }
    float sum = 0;
    for (float v : acc) sum += v;
    out[i] = sum;
  }
}

/// out[i] = squared distance of float16 row i (128 halves a row, back to back) to the query.
inline void squared_distances_float16_portable(const std::uint16_t* __restrict halves, std::size_t n,
                                               const float* __restrict query, float* __restrict out) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint16_t* h = halves + i * encoding_size;
    float acc[16] = {};
    for (std::size_t j = 0; j < encoding_size; j += 16) {
      for (std::size_t l = 0; l < 16; ++l) {
        const float d = query[j + l] - half_to_float(h[j + l]);
        acc[l] += d * d;
      }
    }
    float sum = 0;
    for (float v : acc) sum += v;
    out[i] = sum;
  }
}

using squared_distances_int8_fn = void (*)(const std::int8_t* __restrict, const float* __restrict, std::size_t,
                                           const float* __restrict, float* __restrict) noexcept;
using squared_distances_float16_fn = void (*)(const std::uint16_t* __restrict, std::size_t,
                                              const float* __restrict, float* __restrict) noexcept;

/// The compact kernels for `level`, from the runtime library: int8 has AVX-512, AVX2 + FMA and portable
/// variants; float16 AVX2 + FMA + F16C (also at the AVX-512 level) and portable.
[[nodiscard]] squared_distances_int8_fn squared_distances_int8_kernel(simd_level level) noexcept;
[[nodiscard]] squared_distances_float16_fn squared_distances_float16_kernel(simd_level level) noexcept;

}  // namespace faceapp::detail
