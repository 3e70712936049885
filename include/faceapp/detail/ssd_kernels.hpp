// faceapp: the depthwise 3x3 convolution of the cnn face detector (detail/ssd_detector.hpp), with TensorFlow's
// 'same' padding and ReLU6: AVX-512, AVX2 + FMA and portable variants of one row loop, picked at run time.
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>

#include "faceapp/detail/cpu_features.hpp"

#if FACEAPP_X86_SIMD
#include <immintrin.h>
#endif

namespace faceapp::detail::ssd {

/// TensorFlow's 'same' padding: output size and padding before (the rest, possibly one more, goes after).
struct same_padding {
  int out = 0, before = 0;
};
[[nodiscard]] inline same_padding same(int in, int k, int stride) {
  const int out = (in + stride - 1) / stride;
  const int total = std::max((out - 1) * stride + k - in, 0);
  return {out, total / 2};
}

/// The taps of output pixel (oy, ox) that fall inside the input, row by row: for each, the input pixel's channels
/// (`src`) and the tap's weights (`ker`). Returns how many there are (4 to 9). All three kernels sum them in
/// this order.
inline int depthwise_taps(const float* in, int h, int w, std::size_t cs, int stride, int pad_top, int pad_left,
                          const float* wt, int oy, int ox, const float* (&src)[9], const float* (&ker)[9]) {
  int taps = 0;
  for (int ky = 0; ky < 3; ++ky) {
    const int iy = oy * stride - pad_top + ky;
    if (iy < 0 || iy >= h) continue;
    for (int kx = 0; kx < 3; ++kx) {
      const int ix = ox * stride - pad_left + kx;
      if (ix < 0 || ix >= w) continue;
      src[taps] = in + (static_cast<std::size_t>(iy) * static_cast<std::size_t>(w) + static_cast<std::size_t>(ix)) * cs;
      ker[taps] = wt + static_cast<std::size_t>(ky * 3 + kx) * cs;
      ++taps;
    }
  }
  return taps;
}

/// Output rows [y0, y1) of a depthwise 3x3 convolution + bias + ReLU6, NHWC, `c` channels (a multiple of 16),
/// written to `out` from its start on: output row y is row y - y0 of `out` (a band of the output, or all of it
/// when y0 is 0). Portable version; the SIMD ones below compute the same sums in the same order.
inline void depthwise_rows_portable(const float* in, int h, int w, int c, int stride, int pad_top, int pad_left,
                                    const float* wt, const float* bias, float* out, int ow, int y0, int y1) {
  const std::size_t cs = static_cast<std::size_t>(c);
  for (int oy = y0; oy < y1; ++oy) {
    for (int ox = 0; ox < ow; ++ox) {
      float* dst = out + (static_cast<std::size_t>(oy - y0) * static_cast<std::size_t>(ow) + static_cast<std::size_t>(ox)) * cs;
      const float* src[9];
      const float* ker[9];
      const int taps = depthwise_taps(in, h, w, cs, stride, pad_top, pad_left, wt, oy, ox, src, ker);
      for (std::size_t ch = 0; ch < cs; ++ch) dst[ch] = bias[ch];
      for (int t = 0; t < taps; ++t) {
        for (std::size_t ch = 0; ch < cs; ++ch) dst[ch] = std::fma(src[t][ch], ker[t][ch], dst[ch]);
      }
      for (std::size_t ch = 0; ch < cs; ++ch) dst[ch] = std::min(std::max(dst[ch], 0.0F), 6.0F);
    }
  }
}

/// The output columns [first, last) of row `oy` whose nine taps all fall inside the input (none if the row's
/// three input rows do not): the SIMD kernels run those with the weights held in registers.
[[nodiscard]] inline std::pair<int, int> depthwise_interior(int h, int w, int stride, int pad_top, int pad_left,
                                                            int oy, int ow) {
  const int iy = oy * stride - pad_top;
  if (iy < 0 || iy + 2 >= h || w < 3) return {0, 0};
  const int first = std::min(ow, (pad_left + stride - 1) / stride);
  const int last = std::min(ow, (w - 3 + pad_left) / stride + 1);
  return {first, std::max(first, last)};
}

#if FACEAPP_X86_SIMD
/// One output pixel with the taps that fall inside the input (depthwise_taps), 16 channels at a time.
__attribute__((target("avx512f"))) inline void depthwise_pixel_avx512(const float* in, int h, int w, std::size_t cs,
                                                                      int stride, int pad_top, int pad_left,
                                                                      const float* wt, const float* bias, int oy,
                                                                      int ox, float* dst) {
  const __m512 zero = _mm512_setzero_ps();
  const __m512 six = _mm512_set1_ps(6.0F);
  const float* src[9];
  const float* ker[9];
  const int taps = depthwise_taps(in, h, w, cs, stride, pad_top, pad_left, wt, oy, ox, src, ker);
  for (std::size_t ch = 0; ch < cs; ch += 16) {
    __m512 acc = _mm512_loadu_ps(bias + ch);
    for (int t = 0; t < taps; ++t) acc = _mm512_fmadd_ps(_mm512_loadu_ps(src[t] + ch), _mm512_loadu_ps(ker[t] + ch), acc);
    // The masked forms with an explicit source: GCC 12 warns about the undefined source of _mm512_max_ps.
    const __m512 lo = _mm512_mask_max_ps(zero, 0xFFFF, acc, zero);
    _mm512_storeu_ps(dst + ch, _mm512_mask_min_ps(six, 0xFFFF, lo, six));
  }
}

/// `n` interior output pixels of one row, the first reading input pixel `src` (its top-left tap): for each
/// 16 channels the nine weights stay in registers along the row. The same sums in the same order as
/// depthwise_pixel_avx512 (bias, then the taps row by row).
__attribute__((target("avx512f"))) inline void depthwise_span_avx512(const float* src, int w, std::size_t cs,
                                                                     int stride, const float* wt, const float* bias,
                                                                     float* dst, int n) {
  const __m512 zero = _mm512_setzero_ps();
  const __m512 six = _mm512_set1_ps(6.0F);
  const std::size_t row = static_cast<std::size_t>(w) * cs;
  const std::size_t step = static_cast<std::size_t>(stride) * cs;
  for (std::size_t ch = 0; ch < cs; ch += 16) {
    __m512 k[9];
#pragma GCC unroll 9
    for (std::size_t t = 0; t < 9; ++t) k[t] = _mm512_loadu_ps(wt + t * cs + ch);
    const __m512 b = _mm512_loadu_ps(bias + ch);
    for (int i = 0; i < n; ++i) {
      const float* p = src + static_cast<std::size_t>(i) * step + ch;
      __m512 acc = b;
#pragma GCC unroll 9
      for (std::size_t t = 0; t < 9; ++t) acc = _mm512_fmadd_ps(_mm512_loadu_ps(p + (t / 3) * row + (t % 3) * cs), k[t], acc);
      const __m512 lo = _mm512_mask_max_ps(zero, 0xFFFF, acc, zero);
      _mm512_storeu_ps(dst + static_cast<std::size_t>(i) * cs + ch, _mm512_mask_min_ps(six, 0xFFFF, lo, six));
    }
  }
}

__attribute__((target("avx2,fma"))) inline void depthwise_pixel_avx2(const float* in, int h, int w, std::size_t cs,
                                                                    int stride, int pad_top, int pad_left,
                                                                    const float* wt, const float* bias, int oy, int ox,
                                                                    float* dst) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256 six = _mm256_set1_ps(6.0F);
  const float* src[9];
  const float* ker[9];
  const int taps = depthwise_taps(in, h, w, cs, stride, pad_top, pad_left, wt, oy, ox, src, ker);
  for (std::size_t ch = 0; ch < cs; ch += 8) {
    __m256 acc = _mm256_loadu_ps(bias + ch);
    for (int t = 0; t < taps; ++t) acc = _mm256_fmadd_ps(_mm256_loadu_ps(src[t] + ch), _mm256_loadu_ps(ker[t] + ch), acc);
    _mm256_storeu_ps(dst + ch, _mm256_min_ps(_mm256_max_ps(acc, zero), six));
  }
}

/// depthwise_span_avx512 for AVX2 + FMA: 8 channels at a time, nine weight registers of 16.
__attribute__((target("avx2,fma"))) inline void depthwise_span_avx2(const float* src, int w, std::size_t cs, int stride,
                                                                   const float* wt, const float* bias, float* dst,
                                                                   int n) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256 six = _mm256_set1_ps(6.0F);
  const std::size_t row = static_cast<std::size_t>(w) * cs;
  const std::size_t step = static_cast<std::size_t>(stride) * cs;
  for (std::size_t ch = 0; ch < cs; ch += 8) {
    __m256 k[9];
#pragma GCC unroll 9
    for (std::size_t t = 0; t < 9; ++t) k[t] = _mm256_loadu_ps(wt + t * cs + ch);
    const __m256 b = _mm256_loadu_ps(bias + ch);
    for (int i = 0; i < n; ++i) {
      const float* p = src + static_cast<std::size_t>(i) * step + ch;
      __m256 acc = b;
#pragma GCC unroll 9
      for (std::size_t t = 0; t < 9; ++t) acc = _mm256_fmadd_ps(_mm256_loadu_ps(p + (t / 3) * row + (t % 3) * cs), k[t], acc);
      _mm256_storeu_ps(dst + static_cast<std::size_t>(i) * cs + ch, _mm256_min_ps(_mm256_max_ps(acc, zero), six));
    }
  }
}

/// Rows [y0, y1) as depthwise_rows_portable lays them out: per row the edge pixels one by one (Pixel), the
/// interior ones as one span (Span).
template <class Pixel, class Span>
inline void depthwise_rows_simd(const float* in, int h, int w, int c, int stride, int pad_top, int pad_left,
                                const float* wt, const float* bias, float* out, int ow, int y0, int y1, Pixel pixel,
                                Span span) {
  const std::size_t cs = static_cast<std::size_t>(c);
  for (int oy = y0; oy < y1; ++oy) {
    float* row = out + static_cast<std::size_t>(oy - y0) * static_cast<std::size_t>(ow) * cs;
    const auto [first, last] = depthwise_interior(h, w, stride, pad_top, pad_left, oy, ow);
    for (int ox = 0; ox < ow; ++ox) {
      if (ox == first && last > first) {
        const std::size_t iy = static_cast<std::size_t>(oy * stride - pad_top);
        const std::size_t ix = static_cast<std::size_t>(first * stride - pad_left);
        span(in + (iy * static_cast<std::size_t>(w) + ix) * cs, w, cs, stride, wt, bias,
             row + static_cast<std::size_t>(first) * cs, last - first);
        ox = last - 1;
        continue;
      }
      pixel(in, h, w, cs, stride, pad_top, pad_left, wt, bias, oy, ox, row + static_cast<std::size_t>(ox) * cs);
    }
  }
}

__attribute__((target("avx512f"))) inline void depthwise_rows_avx512(const float* in, int h, int w, int c, int stride,
                                                                     int pad_top, int pad_left, const float* wt,
                                                                     const float* bias, float* out, int ow, int y0,
                                                                     int y1) {
  depthwise_rows_simd(in, h, w, c, stride, pad_top, pad_left, wt, bias, out, ow, y0, y1, depthwise_pixel_avx512,
                      depthwise_span_avx512);
}

__attribute__((target("avx2,fma"))) inline void depthwise_rows_avx2(const float* in, int h, int w, int c, int stride,
                                                                   int pad_top, int pad_left, const float* wt,
                                                                   const float* bias, float* out, int ow, int y0,
                                                                   int y1) {
  depthwise_rows_simd(in, h, w, c, stride, pad_top, pad_left, wt, bias, out, ow, y0, y1, depthwise_pixel_avx2,
                      depthwise_span_avx2);
}
#endif

/// depthwise_rows_* for `level` (one simd_supported() accepts).
inline void depthwise_rows(simd_level level, const float* in, int h, int w, int c, int stride, int pad_top,
                           int pad_left, const float* wt, const float* bias, float* out, int ow, int y0, int y1) {
#if FACEAPP_X86_SIMD
  if (level == simd_level::avx512) {
    depthwise_rows_avx512(in, h, w, c, stride, pad_top, pad_left, wt, bias, out, ow, y0, y1);
    return;
  }
  if (level == simd_level::avx2) {
    depthwise_rows_avx2(in, h, w, c, stride, pad_top, pad_left, wt, bias, out, ow, y0, y1);
    return;
  }
#else
  (void)level;
#endif
  depthwise_rows_portable(in, h, w, c, stride, pad_top, pad_left, wt, bias, out, ow, y0, y1);
}

}  // namespace faceapp::detail::ssd
