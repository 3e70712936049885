// faceapp: single-precision matrix products C = A * B for the networks' layers, with B packed once.
//
// The weights of a layer are constant, so they are packed at load into column panels of 32 floats (two AVX-512
// registers) and A is read in place: no call repacks anything. The register-tiled kernels are written for
// AVX-512 (12 x 32 tiles) and AVX2 + FMA (6 x 16 tiles) and picked by detail::simd_level; the portable path is
// the BLAS dlib links (Debian's OpenBLAS picks its AVX2 kernels on current AMD CPUs and repacks both operands on
// every call, which is why the x86 kernels exist).
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <vector>

#include <dlib/matrix.h>

#include "faceapp/detail/cpu_features.hpp"

#if FACEAPP_X86_SIMD
#include <immintrin.h>
#endif

namespace faceapp::detail {

/// Width of the column panels B is packed in: two AVX-512 registers of floats.
inline constexpr std::size_t gemm_panel_width = 32;

/// How an m-row product is cut into register tiles of at most `tile` rows: as few tiles as cover m, their rows
/// as equal as they can be (25 rows in 6-row tiles: 5 5 5 5 5, not 6 6 6 6 1). A tile of few rows holds few
/// accumulators, too few to cover the FMA units' latency (a 1-row AVX2 tile has 2 chains where two units of
/// latency 4 want 8), and reads a row of B for every two FMAs; the encoder's Winograd blocks and small layers
/// have such counts (25 tiles at 17x17 with F(4x4), 16 rows at 4x4).
struct row_split {
  std::size_t tiles = 0;  ///< the number of tiles
  std::size_t rows = 0;   ///< rows of each of the first `longer` tiles, less one for the rest
  std::size_t longer = 0;

  [[nodiscard]] static constexpr row_split of(std::size_t m, std::size_t tile) noexcept {
    if (m == 0 || tile == 0) return {};
    const std::size_t tiles = (m + tile - 1) / tile;
    const std::size_t base = m / tiles;
    const std::size_t longer = m % tiles;
    return {tiles, longer != 0 ? base + 1 : base, longer != 0 ? longer : tiles};
  }
  /// Rows of tile t.
  [[nodiscard]] constexpr std::size_t rows_of(std::size_t t) const noexcept { return t < longer ? rows : rows - 1; }
};

/// What a product's tiles do to C's values before they store them: add a bias per column (when `bias` is set),
/// then clamp to [low, high] (ReLU6 is {bias, 0, 6}). The same float operations, in the same order, as a pass of
/// `std::min(std::max(c + bias, low), high)` over C after the product, without reading C back from memory.
struct gemm_epilogue {
  const float* bias = nullptr;  ///< n values, or none
  float low = -std::numeric_limits<float>::infinity();
  float high = std::numeric_limits<float>::infinity();

  [[nodiscard]] bool clamps() const noexcept {
    return low != -std::numeric_limits<float>::infinity() || high != std::numeric_limits<float>::infinity();
  }
  [[nodiscard]] bool active() const noexcept { return bias != nullptr || clamps(); }
  /// The same epilogue for the columns from `j` on.
  [[nodiscard]] gemm_epilogue from_column(std::size_t j) const noexcept {
    gemm_epilogue e = *this;
    if (e.bias != nullptr) e.bias += j;
    return e;
  }
  /// Applies it to rows x n values of C, row stride ldc (the portable path, after its BLAS call).
  void apply(float* c, std::size_t rows, std::size_t n, std::size_t ldc) const noexcept {
    if (!active()) return;
    for (std::size_t r = 0; r < rows; ++r) {
      float* row = c + r * ldc;
      for (std::size_t f = 0; f < n; ++f) {
        const float v = bias != nullptr ? row[f] + bias[f] : row[f];
        row[f] = std::min(std::max(v, low), high);
      }
    }
  }
};

namespace gemm_impl {

/// C = A * B, row-major, A m x k, B k x n, through the BLAS dlib was built with.
inline void blas_sgemm(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float* c, int ldc) {
#if defined(DLIB_DEFINE_CBLAS_API)
  // dlib declares the cblas API itself when no cblas.h came first; otherwise the global one is in scope.
  using namespace dlib::blas_bindings;
#endif
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0F, a, lda, b, ldb, 0.0F, c, ldc);
}

#if FACEAPP_X86_SIMD

/// Rows x 32 block of C = A * B: A's rows read in place (one broadcast per row and k), B as a packed k x 32
/// panel, the 2 * Rows accumulators held in registers for the whole k loop.
template <int Rows>
__attribute__((target("avx512f"))) inline void avx512_tile(std::size_t k, const float* a, std::size_t lda,
                                                            const float* bp, float* c, std::size_t ldc,
                                                            const gemm_epilogue& ep) {
  __m512 acc0[Rows];
  __m512 acc1[Rows];
#pragma GCC unroll 16
  for (int r = 0; r < Rows; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (std::size_t p = 0; p < k; ++p) {
    const __m512 b0 = _mm512_loadu_ps(bp + p * gemm_panel_width);
    const __m512 b1 = _mm512_loadu_ps(bp + p * gemm_panel_width + 16);
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r) {
      const __m512 av = _mm512_set1_ps(a[static_cast<std::size_t>(r) * lda + p]);
      acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
    }
  }
  if (ep.active()) {
    // max(low, v) returns v when v is NaN, as std::max(v, low) does; min likewise. The masked forms with an explicit
    // source: GCC 12 warns about the undefined source of _mm512_max_ps.
    const __m512 bias0 = ep.bias != nullptr ? _mm512_loadu_ps(ep.bias) : _mm512_setzero_ps();
    const __m512 bias1 = ep.bias != nullptr ? _mm512_loadu_ps(ep.bias + 16) : _mm512_setzero_ps();
    const __m512 low = _mm512_set1_ps(ep.low);
    const __m512 high = _mm512_set1_ps(ep.high);
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r) {
      if (ep.bias != nullptr) {
        acc0[r] = _mm512_add_ps(acc0[r], bias0);
        acc1[r] = _mm512_add_ps(acc1[r], bias1);
      }
      acc0[r] = _mm512_mask_max_ps(acc0[r], 0xFFFF, low, acc0[r]);
      acc0[r] = _mm512_mask_min_ps(acc0[r], 0xFFFF, high, acc0[r]);
      acc1[r] = _mm512_mask_max_ps(acc1[r], 0xFFFF, low, acc1[r]);
      acc1[r] = _mm512_mask_min_ps(acc1[r], 0xFFFF, high, acc1[r]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < Rows; ++r) {
    _mm512_storeu_ps(c + static_cast<std::size_t>(r) * ldc, acc0[r]);
    _mm512_storeu_ps(c + static_cast<std::size_t>(r) * ldc + 16, acc1[r]);
  }
}

using tile_kernel = void (*)(std::size_t, const float*, std::size_t, const float*, float*, std::size_t,
                             const gemm_epilogue&);

/// The tiles of one column panel (or half panel), rows split as row_split says; kernels[r] does r rows.
inline void panel_rows(const tile_kernel* kernels, std::size_t tile, std::size_t m, std::size_t k, const float* a,
                       std::size_t lda, const float* panel, float* c, std::size_t ldc, const gemm_epilogue& ep) {
  const row_split split = row_split::of(m, tile);
  std::size_t i = 0;
  for (std::size_t t = 0; t < split.tiles; ++t) {
    const std::size_t rows = split.rows_of(t);
    kernels[rows](k, a + i * lda, lda, panel, c + i * ldc, ldc, ep);
    i += rows;
  }
}

/// The whole product, tiles of up to 12 rows (24 accumulators + 2 B registers + 1 broadcast of 32 registers).
__attribute__((target("avx512f"))) inline void avx512_gemm(std::size_t m, std::size_t n, std::size_t k,
                                                            const float* a, std::size_t lda, const float* bp,
                                                            float* c, std::size_t ldc, const gemm_epilogue& ep) {
  static constexpr tile_kernel kernels[] = {nullptr,           &avx512_tile<1>,  &avx512_tile<2>,  &avx512_tile<3>,
                                            &avx512_tile<4>,   &avx512_tile<5>,  &avx512_tile<6>,  &avx512_tile<7>,
                                            &avx512_tile<8>,   &avx512_tile<9>,  &avx512_tile<10>, &avx512_tile<11>,
                                            &avx512_tile<12>};
  for (std::size_t j = 0; j < n; j += gemm_panel_width) {
    panel_rows(kernels, 12, m, k, a, lda, bp + j * k, c + j, ldc, ep.from_column(j));
  }
}


/// Rows x 16 block (one half of a 32-wide panel) for AVX2 + FMA machines: 2 * Rows accumulators of 16
/// registers, the classic 6 x 16 shape.
template <int Rows>
__attribute__((target("avx2,fma"))) inline void avx2_tile(std::size_t k, const float* a, std::size_t lda,
                                                           const float* bp, float* c, std::size_t ldc,
                                                           const gemm_epilogue& ep) {
  __m256 acc0[Rows];
  __m256 acc1[Rows];
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
  for (std::size_t p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_loadu_ps(bp + p * gemm_panel_width);
    const __m256 b1 = _mm256_loadu_ps(bp + p * gemm_panel_width + 8);
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + static_cast<std::size_t>(r) * lda + p);
      acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
    }
  }
  if (ep.active()) {
    const __m256 bias0 = ep.bias != nullptr ? _mm256_loadu_ps(ep.bias) : _mm256_setzero_ps();
    const __m256 bias1 = ep.bias != nullptr ? _mm256_loadu_ps(ep.bias + 8) : _mm256_setzero_ps();
    const __m256 low = _mm256_set1_ps(ep.low);
    const __m256 high = _mm256_set1_ps(ep.high);
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      if (ep.bias != nullptr) {
        acc0[r] = _mm256_add_ps(acc0[r], bias0);
        acc1[r] = _mm256_add_ps(acc1[r], bias1);
      }
      acc0[r] = _mm256_min_ps(high, _mm256_max_ps(low, acc0[r]));
      acc1[r] = _mm256_min_ps(high, _mm256_max_ps(low, acc1[r]));
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) {
    _mm256_storeu_ps(c + static_cast<std::size_t>(r) * ldc, acc0[r]);
    _mm256_storeu_ps(c + static_cast<std::size_t>(r) * ldc + 8, acc1[r]);
  }
}

__attribute__((target("avx2,fma"))) inline void avx2_gemm(std::size_t m, std::size_t n, std::size_t k,
                                                          const float* a, std::size_t lda, const float* bp,
                                                          float* c, std::size_t ldc, const gemm_epilogue& ep) {
  static constexpr tile_kernel kernels[] = {nullptr,         &avx2_tile<1>, &avx2_tile<2>, &avx2_tile<3>,
                                            &avx2_tile<4>,   &avx2_tile<5>, &avx2_tile<6>};
  for (std::size_t j = 0; j < n; j += gemm_panel_width) {
    for (std::size_t half = 0; half < gemm_panel_width; half += 16) {
      panel_rows(kernels, 6, m, k, a, lda, bp + j * k + half, c + j + half, ldc, ep.from_column(j + half));
    }
  }
}
#endif  // FACEAPP_X86_SIMD

}  // namespace gemm_impl

/// C (m x n, row stride ldc) = A (m x k, row stride lda) * B, B packed by pack_gemm_panels (n a multiple of 32),
/// then `ep` applied to C's values as the tiles store them. `level` must be one simd_supported() accepts;
/// simd_level::portable runs the BLAS, one panel at a time, and the epilogue after each.
inline void gemm(simd_level level, std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda,
                 const float* bp, float* c, std::size_t ldc, const gemm_epilogue& ep = {}) {
#if FACEAPP_X86_SIMD
  if (level == simd_level::avx512) {
    gemm_impl::avx512_gemm(m, n, k, a, lda, bp, c, ldc, ep);
    return;
  }
  if (level == simd_level::avx2) {
    gemm_impl::avx2_gemm(m, n, k, a, lda, bp, c, ldc, ep);
    return;
  }
#else
  (void)level;
#endif
  for (std::size_t j = 0; j < n; j += gemm_panel_width) {
    gemm_impl::blas_sgemm(static_cast<int>(m), static_cast<int>(gemm_panel_width), static_cast<int>(k), a,
                          static_cast<int>(lda), bp + j * k, static_cast<int>(gemm_panel_width), c + j,
                          static_cast<int>(ldc));
    ep.from_column(j).apply(c + j, m, gemm_panel_width, ldc);
  }
}

/// Packs a k x n row-major matrix (n a multiple of 32) into the panels gemm() reads.
inline std::vector<float> pack_gemm_panels(const std::vector<float>& b, std::size_t k, std::size_t n) {
  if (n % gemm_panel_width != 0) throw std::runtime_error("gemm: a matrix width is not a multiple of 32");
  std::vector<float> out(k * n);
  for (std::size_t j = 0; j < n; j += gemm_panel_width) {
    for (std::size_t p = 0; p < k; ++p) {
      std::copy_n(b.data() + p * n + j, gemm_panel_width, out.data() + j * k + p * gemm_panel_width);
    }
  }
  return out;
}

}  // namespace faceapp::detail
