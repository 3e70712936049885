// faceapp: the encoder's stem (7x7 stride-2 convolution of the 3-channel chip) read in place, without im2col.
//
// In NHWC one filter row of an output pixel is kw * c contiguous floats of the input (21 for the stem), and the
// same filter row of the next output pixel starts stride * c floats further on. So the rows of im2col's matrix
// never need copying: the register tile of the GEMM (detail/gemm.hpp) broadcasts its A operand straight from the
// image, filter row by filter row, on the same weights packed in 32-wide panels. Copying the 147 floats of each
// of the 5184 im2col rows (36 short runs each) cost the stem about as much as its multiplies. The sums run over
// the filter's rows in im2col's order, so the results equal the im2col path's bit for bit; the bias and relu
// are applied as each tile is stored.
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "faceapp/detail/cpu_features.hpp"
#include "faceapp/detail/encoder_weights.hpp"
#include "faceapp/detail/gemm.hpp"

#if FACEAPP_X86_SIMD
#include <immintrin.h>
#endif

namespace faceapp::detail {

/// Whether stem_conv() computes `cv` on `level`: no padding, output channels in whole panels, an x86 kernel
/// (the portable path keeps im2col and the BLAS).
[[nodiscard]] inline bool stem_conv_applies(simd_level level, const folded_conv& cv) {
  return FACEAPP_X86_SIMD && level != simd_level::portable && cv.pad == 0 && cv.stride >= 1 &&
         cv.out % static_cast<int>(gemm_panel_width) == 0;
}

namespace stem_impl {

#if FACEAPP_X86_SIMD

/// Rows x 32 outputs: Rows pixels of one output row, one 32-channel panel. `in` is the input pixel under the
/// first pixel's filter corner, `step` the floats between neighbouring pixels' corners (stride * c), `row` the
/// floats of an input row, `span` = kw * c.
template <int Rows>
__attribute__((target("avx512f"))) inline void avx512_tile(const float* in, std::size_t step, std::size_t row,
                                                            int kh, std::size_t span, const float* bp,
                                                            const float* bias, float* out, std::size_t ldo) {
  __m512 acc0[Rows];
  __m512 acc1[Rows];
#pragma GCC unroll 16
  for (int r = 0; r < Rows; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (int ky = 0; ky < kh; ++ky) {
    const float* a = in + static_cast<std::size_t>(ky) * row;
    const float* b = bp + static_cast<std::size_t>(ky) * span * gemm_panel_width;
    for (std::size_t p = 0; p < span; ++p) {
      const __m512 b0 = _mm512_loadu_ps(b + p * gemm_panel_width);
      const __m512 b1 = _mm512_loadu_ps(b + p * gemm_panel_width + 16);
#pragma GCC unroll 16
      for (int r = 0; r < Rows; ++r) {
        const __m512 av = _mm512_set1_ps(a[static_cast<std::size_t>(r) * step + p]);
        acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
        acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
      }
    }
  }
  const __m512 bias0 = _mm512_loadu_ps(bias);
  const __m512 bias1 = _mm512_loadu_ps(bias + 16);
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int r = 0; r < Rows; ++r) {
    // The masked form with an explicit source: GCC 12 warns about the undefined source of _mm512_max_ps.
    const __m512 y0 = _mm512_add_ps(acc0[r], bias0);
    const __m512 y1 = _mm512_add_ps(acc1[r], bias1);
    _mm512_storeu_ps(out + static_cast<std::size_t>(r) * ldo, _mm512_mask_max_ps(y0, 0xFFFF, y0, zero));
    _mm512_storeu_ps(out + static_cast<std::size_t>(r) * ldo + 16, _mm512_mask_max_ps(y1, 0xFFFF, y1, zero));
  }
}

/// Rows x 16 outputs (half a panel), the AVX2 + FMA shape of gemm's kernel.
template <int Rows>
__attribute__((target("avx2,fma"))) inline void avx2_tile(const float* in, std::size_t step, std::size_t row, int kh,
                                                           std::size_t span, const float* bp, const float* bias,
                                                           float* out, std::size_t ldo) {
  __m256 acc0[Rows];
  __m256 acc1[Rows];
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
  for (int ky = 0; ky < kh; ++ky) {
    const float* a = in + static_cast<std::size_t>(ky) * row;
    const float* b = bp + static_cast<std::size_t>(ky) * span * gemm_panel_width;
    for (std::size_t p = 0; p < span; ++p) {
      const __m256 b0 = _mm256_loadu_ps(b + p * gemm_panel_width);
      const __m256 b1 = _mm256_loadu_ps(b + p * gemm_panel_width + 8);
#pragma GCC unroll 8
      for (int r = 0; r < Rows; ++r) {
        const __m256 av = _mm256_broadcast_ss(a + static_cast<std::size_t>(r) * step + p);
        acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
        acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
      }
    }
  }
  const __m256 bias0 = _mm256_loadu_ps(bias);
  const __m256 bias1 = _mm256_loadu_ps(bias + 8);
  const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) {
    _mm256_storeu_ps(out + static_cast<std::size_t>(r) * ldo, _mm256_max_ps(_mm256_add_ps(acc0[r], bias0), zero));
    _mm256_storeu_ps(out + static_cast<std::size_t>(r) * ldo + 8, _mm256_max_ps(_mm256_add_ps(acc1[r], bias1), zero));
  }
}

/// One output row of `ow` pixels, `cols` channels from panel `bp` (+ `bias`), in tiles of Rows and what is left.
template <int Rows, class Tile>
inline void row_tiles(Tile tile, int ow, const float* in, std::size_t step, std::size_t row, int kh,
                      std::size_t span, const float* bp, const float* bias, float* out, std::size_t ldo) {
  int x = 0;
  for (; x + Rows <= ow; x += Rows) {
    tile(std::integral_constant<int, Rows>{}, in + static_cast<std::size_t>(x) * step, step, row, kh, span, bp, bias,
         out + static_cast<std::size_t>(x) * ldo, ldo);
  }
  // The rest one pixel at a time: the stem's 72 outputs a row take whole tiles on both kernels.
  for (; x < ow; ++x) {
    tile(std::integral_constant<int, 1>{}, in + static_cast<std::size_t>(x) * step, step, row, kh, span, bp, bias,
         out + static_cast<std::size_t>(x) * ldo, ldo);
  }
}

#endif  // FACEAPP_X86_SIMD

}  // namespace stem_impl

/// out (oh x ow x cv.out, NHWC) = relu(conv(in) + bias) for one h x w x cv.in image, where stem_conv_applies();
/// oh, ow = cv.out_size(h), cv.out_size(w).
inline void stem_conv(simd_level level, const folded_conv& cv, const float* in, int h, int w, float* out) {
#if FACEAPP_X86_SIMD
  const int oh = cv.out_size(h);
  const int ow = cv.out_size(w);
  const std::size_t c = static_cast<std::size_t>(cv.in);
  const std::size_t step = static_cast<std::size_t>(cv.stride) * c;
  const std::size_t row = static_cast<std::size_t>(w) * c;
  const std::size_t span = static_cast<std::size_t>(cv.kw) * c;
  const std::size_t k = static_cast<std::size_t>(cv.kh) * span;
  const std::size_t nf = static_cast<std::size_t>(cv.out);
  for (int y = 0; y < oh; ++y) {
    const float* src = in + static_cast<std::size_t>(y) * static_cast<std::size_t>(cv.stride) * row;
    float* dst = out + static_cast<std::size_t>(y) * static_cast<std::size_t>(ow) * nf;
    for (std::size_t j = 0; j < nf; j += gemm_panel_width) {
      const float* panel = cv.weights.data() + j * k;
      if (level == simd_level::avx512) {
        auto tile = [](auto rows, auto... args) { stem_impl::avx512_tile<decltype(rows)::value>(args...); };
        stem_impl::row_tiles<12>(tile, ow, src, step, row, cv.kh, span, panel, cv.bias.data() + j, dst + j, nf);
      } else {
        auto tile = [](auto rows, auto... args) { stem_impl::avx2_tile<decltype(rows)::value>(args...); };
        for (std::size_t half = 0; half < gemm_panel_width; half += 16) {
          stem_impl::row_tiles<6>(tile, ow, src, step, row, cv.kh, span, panel + half, cv.bias.data() + j + half,
                                  dst + j + half, nf);
        }
      }
    }
  }
#else
  (void)level, (void)cv, (void)in, (void)h, (void)w, (void)out;
#endif
}

}  // namespace faceapp::detail
