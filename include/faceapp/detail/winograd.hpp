// faceapp: Winograd F(2x2,3x3) and F(4x4,3x3) for the encoder's stride-1 3x3 convolutions (Lavin and Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016).
//
// An output tile of M x M pixels is Y = A^T [ (G g G^T) .* (B^T d B) ] A, d the (M+2) x (M+2) input patch: per
// tile and channel pair (M+2)^2 multiplies instead of 9 M^2, 2.25x fewer for M = 2 and 4x for M = 4. Over all
// channels the element-wise products become (M+2)^2 independent matrix products, V_p (tiles x in) times
// U_p (in x out), which run on detail::gemm's register tiles with the filters U = G g G^T transformed once (in
// double precision) and packed like any other weights. The input transform writes a block of tiles sized for
// the L2 cache, the products read it while it is cached, and the output transform applies the direct path's
// epilogue (bias, skip, relu) on the way out, so no full-size intermediate ever leaves the cache.
//
// fp32 rounding grows with the tile (the F(4x4) transforms have coefficients up to 8 and 1/24): the encoder's
// tests hold both sizes to 1e-4 of dlib on every kernel path.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <stdexcept>
#include <vector>

#include "faceapp/detail/cpu_features.hpp"
#include "faceapp/detail/encoder_weights.hpp"
#include "faceapp/detail/gemm.hpp"

#if FACEAPP_X86_SIMD
#include <immintrin.h>
#endif

namespace faceapp::detail {

/// A stride-1 3x3 convolution's filters in the Winograd domain for output tiles of m x m: (m+2)^2 matrices
/// in x out, each packed for gemm(), one after the other.
struct winograd_filter {
  int m = 0;
  int in = 0, out = 0;
  std::vector<float> u;

  [[nodiscard]] int positions() const { return (m + 2) * (m + 2); }
  [[nodiscard]] const float* matrix(int p) const {
    return u.data() + static_cast<std::size_t>(p) * static_cast<std::size_t>(in) * static_cast<std::size_t>(out);
  }
};

/// Whether `cv` is a convolution Winograd computes here: 3x3, stride 1, padding 1, channel counts the vector
/// widths and the GEMM panels divide.
[[nodiscard]] inline bool winograd_applies(const folded_conv& cv) {
  return cv.kh == 3 && cv.kw == 3 && cv.stride == 1 && cv.pad == 1 && cv.in % 16 == 0 &&
         cv.out % static_cast<int>(gemm_panel_width) == 0;
}

/// U = G g G^T of every (input, output) channel pair of `cv`, for tiles of m = 2 or 4.
inline winograd_filter make_winograd_filter(const folded_conv& cv, int m) {
  if (!winograd_applies(cv)) throw std::invalid_argument("winograd: not a stride-1 3x3 convolution");
  if (m != 2 && m != 4) throw std::invalid_argument("winograd: tiles are 2x2 or 4x4");
  static constexpr double g2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  static constexpr double g4[6][3] = {{1.0 / 4, 0, 0},
                                      {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                      {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                      {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                      {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                      {0, 0, 1}};
  const int a = m + 2;
  const double(*const g)[3] = m == 2 ? g2 : g4;  // a + 1 rows of G: 4 for F(2x2,3x3), 6 for F(4x4,3x3)
  auto gcoef = [g](int i, int j) { return g[i][j]; };
  const std::size_t nin = static_cast<std::size_t>(cv.in);
  const std::size_t nout = static_cast<std::size_t>(cv.out);
  const std::size_t k = 9 * nin;
  // folded_conv's packing (pack_gemm_panels): row (tap * in + ch), column f at [f/32 * k + row) * 32 + f%32].
  auto weight = [&](std::size_t tap, std::size_t ch, std::size_t f) {
    const std::size_t row = tap * nin + ch;
    return static_cast<double>(
        cv.weights[(f / gemm_panel_width) * k * gemm_panel_width + row * gemm_panel_width + f % gemm_panel_width]);
  };
  const std::size_t positions = static_cast<std::size_t>(a * a);
  std::vector<std::vector<float>> plain(positions, std::vector<float>(nin * nout));
  for (std::size_t ch = 0; ch < nin; ++ch) {
    for (std::size_t f = 0; f < nout; ++f) {
      double g[3][3];
      for (std::size_t t = 0; t < 9; ++t) g[t / 3][t % 3] = weight(t, ch, f);
      double gg[6][3] = {};  // G g
      for (int i = 0; i < a; ++i) {
        for (int j = 0; j < 3; ++j) {
          for (int l = 0; l < 3; ++l) gg[i][j] += gcoef(i, l) * g[l][j];
        }
      }
      for (int i = 0; i < a; ++i) {
        for (int j = 0; j < a; ++j) {
          double u = 0;  // (G g) G^T
          for (int l = 0; l < 3; ++l) u += gg[i][l] * gcoef(j, l);
          plain[static_cast<std::size_t>(i * a + j)][ch * nout + f] = static_cast<float>(u);
        }
      }
    }
  }
  winograd_filter out{m, cv.in, cv.out, {}};
  out.u.reserve(positions * nin * nout);
  for (const auto& p : plain) {
    const auto packed = pack_gemm_panels(p, nin, nout);
    out.u.insert(out.u.end(), packed.begin(), packed.end());
  }
  return out;
}

namespace winograd_impl {

#if FACEAPP_X86_SIMD
#define FACEAPP_WG_NS avx512
#define FACEAPP_WG_TARGET __attribute__((target("avx512f")))
#define FACEAPP_WG_V __m512
#define FACEAPP_WG_WIDTH 16
#define FACEAPP_WG_LOAD(p) _mm512_loadu_ps(p)
#define FACEAPP_WG_STORE(p, v) _mm512_storeu_ps((p), (v))
#define FACEAPP_WG_SET1(x) _mm512_set1_ps(x)
// The masked form with an explicit source: GCC 12 warns about the undefined source of _mm512_max_ps.
#define FACEAPP_WG_MAX(a, b) _mm512_mask_max_ps((a), static_cast<__mmask16>(0xFFFF), (a), (b))
#include "faceapp/detail/winograd_kernels.inc"
#undef FACEAPP_WG_NS
#undef FACEAPP_WG_TARGET
#undef FACEAPP_WG_V
#undef FACEAPP_WG_WIDTH
#undef FACEAPP_WG_LOAD
#undef FACEAPP_WG_STORE
#undef FACEAPP_WG_SET1
#undef FACEAPP_WG_MAX

#define FACEAPP_WG_NS avx2
#define FACEAPP_WG_TARGET __attribute__((target("avx2,fma")))
#define FACEAPP_WG_V __m256
#define FACEAPP_WG_WIDTH 8
#define FACEAPP_WG_LOAD(p) _mm256_loadu_ps(p)
#define FACEAPP_WG_STORE(p, v) _mm256_storeu_ps((p), (v))
#define FACEAPP_WG_SET1(x) _mm256_set1_ps(x)
#define FACEAPP_WG_MAX(a, b) _mm256_max_ps((a), (b))
#include "faceapp/detail/winograd_kernels.inc"
#undef FACEAPP_WG_NS
#undef FACEAPP_WG_TARGET
#undef FACEAPP_WG_V
#undef FACEAPP_WG_WIDTH
#undef FACEAPP_WG_LOAD
#undef FACEAPP_WG_STORE
#undef FACEAPP_WG_SET1
#undef FACEAPP_WG_MAX
#endif

#define FACEAPP_WG_NS portable
#define FACEAPP_WG_TARGET
#define FACEAPP_WG_V float
#define FACEAPP_WG_WIDTH 1
#define FACEAPP_WG_LOAD(p) (*(p))
#define FACEAPP_WG_STORE(p, v) (*(p) = (v))
#define FACEAPP_WG_SET1(x) (x)
#define FACEAPP_WG_MAX(a, b) std::max((a), (b))
#include "faceapp/detail/winograd_kernels.inc"
#undef FACEAPP_WG_NS
#undef FACEAPP_WG_TARGET
#undef FACEAPP_WG_V
#undef FACEAPP_WG_WIDTH
#undef FACEAPP_WG_LOAD
#undef FACEAPP_WG_STORE
#undef FACEAPP_WG_SET1
#undef FACEAPP_WG_MAX

template <int M>
void input_transform(simd_level level, const float* in, int h, int w, std::size_t c, int tiles_y, int tiles_x,
                     std::size_t t0, std::size_t count, float* v, std::size_t stride) {
#if FACEAPP_X86_SIMD
  if (level == simd_level::avx512) return avx512::input_transform<M>(in, h, w, c, tiles_y, tiles_x, t0, count, v, stride);
  if (level == simd_level::avx2) return avx2::input_transform<M>(in, h, w, c, tiles_y, tiles_x, t0, count, v, stride);
#else
  (void)level;
#endif
  portable::input_transform<M>(in, h, w, c, tiles_y, tiles_x, t0, count, v, stride);
}

template <int M>
void output_transform(simd_level level, const float* m, std::size_t stride, std::size_t c, int h, int w,
                      int tiles_y, int tiles_x, std::size_t t0, std::size_t count, const float* bias,
                      const float* skip, bool relu, float* out) {
#if FACEAPP_X86_SIMD
  if (level == simd_level::avx512) {
    return avx512::output_transform<M>(m, stride, c, h, w, tiles_y, tiles_x, t0, count, bias, skip, relu, out);
  }
  if (level == simd_level::avx2) {
    return avx2::output_transform<M>(m, stride, c, h, w, tiles_y, tiles_x, t0, count, bias, skip, relu, out);
  }
#else
  (void)level;
#endif
  portable::output_transform<M>(m, stride, c, h, w, tiles_y, tiles_x, t0, count, bias, skip, relu, out);
}

}  // namespace winograd_impl

/// Scratch of winograd_conv, reused between calls.
struct winograd_scratch {
  std::vector<float> v, m;
};

/// out = epilogue(conv(in)) for `images` NHWC images of h x w x f.in, same-size output of f.out channels, through
/// the Winograd domain: tiles in blocks whose transformed input and products take about `block_floats`. The
/// epilogue is the direct path's: + bias, + the same pixel of `skip` (if not null), relu (if `relu`).
inline void winograd_conv(simd_level level, const winograd_filter& f, const float* bias, const float* in,
                          int images, int h, int w, const float* skip, bool relu, float* out,
                          winograd_scratch& scratch, std::size_t block_floats = 128 * 1024) {
  const int tiles_y = (h + f.m - 1) / f.m;
  const int tiles_x = (w + f.m - 1) / f.m;
  const std::size_t tiles = static_cast<std::size_t>(images) * static_cast<std::size_t>(tiles_y) *
                            static_cast<std::size_t>(tiles_x);
  const std::size_t positions = static_cast<std::size_t>(f.positions());
  const std::size_t cin = static_cast<std::size_t>(f.in);
  const std::size_t cout = static_cast<std::size_t>(f.out);
  // Blocks of `block_floats`, but never so small that reading the transformed filters (positions x in x out)
  // once per block costs more than the block's own data, and at least two AVX-512 row tiles of the GEMM.
  const std::size_t floor = std::max<std::size_t>(24, cin * cout / (cin + cout));
  std::size_t block = std::max(floor, block_floats / (positions * (cin + cout)));
  block = std::min(tiles, (block + 11) / 12 * 12);  // whole row tiles of the GEMM (12 AVX-512, 6 AVX2 rows)
  scratch.v.resize(positions * block * cin);
  scratch.m.resize(positions * block * cout);
  for (std::size_t t0 = 0; t0 < tiles; t0 += block) {
    const std::size_t count = std::min(block, tiles - t0);
    if (f.m == 2) {
      winograd_impl::input_transform<2>(level, in, h, w, cin, tiles_y, tiles_x, t0, count, scratch.v.data(), block);
    } else {
      winograd_impl::input_transform<4>(level, in, h, w, cin, tiles_y, tiles_x, t0, count, scratch.v.data(), block);
    }
    for (std::size_t p = 0; p < positions; ++p) {
      gemm(level, count, cout, cin, scratch.v.data() + p * block * cin, cin, f.matrix(static_cast<int>(p)),
           scratch.m.data() + p * block * cout, cout);
    }
    if (f.m == 2) {
      winograd_impl::output_transform<2>(level, scratch.m.data(), block, cout, h, w, tiles_y, tiles_x, t0, count,
                                         bias, skip, relu, out);
    } else {
      winograd_impl::output_transform<4>(level, scratch.m.data(), block, cout, h, w, tiles_y, tiles_x, t0, count,
                                         bias, skip, relu, out);
    }
  }
}

}  // namespace faceapp::detail
