// detail::gemm against a double-precision product on every kernel path this machine runs, for every row count
// from 1 to 40 (whole tiles, the splits into equal tiles and every remainder of the 6- and 12-row tiles), and
// detail::row_split at its limits: a tile's row count exactly, one below and one above; the epilogue (bias, clamp)
// against the same operations done after the product, and ReLU6 at 0 and 6.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <faceapp/detail/gemm.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

using faceapp::detail::row_split;
using faceapp::detail::simd_level;

std::vector<simd_level> levels() {
  std::vector<simd_level> out;
  for (const auto l : {simd_level::avx512, simd_level::avx2, simd_level::portable}) {
    if (faceapp::detail::simd_supported(l)) out.push_back(l);
  }
  return out;
}

/// The rows of every tile of `split`, in order.
std::vector<std::size_t> tile_rows(const row_split& split) {
  std::vector<std::size_t> out;
  for (std::size_t t = 0; t < split.tiles; ++t) out.push_back(split.rows_of(t));
  return out;
}

}  // namespace

TEST_CASE("row_split covers m with as few tiles as it can, their rows within one of each other") {
  for (const std::size_t tile : {6U, 12U}) {
    for (std::size_t m = 0; m <= 100; ++m) {
      CAPTURE(tile);
      CAPTURE(m);
      const auto rows = tile_rows(row_split::of(m, tile));
      CHECK(rows.size() == (m + tile - 1) / tile);
      std::size_t sum = 0;
      for (const auto r : rows) sum += r;
      CHECK(sum == m);
      if (!rows.empty()) {
        const auto [lo, hi] = std::minmax_element(rows.begin(), rows.end());
        CHECK(*hi <= tile);
        CHECK(*lo >= 1);
        CHECK(*hi - *lo <= 1);
      }
    }
  }
  // At the tile's row count, one below and one above.
  CHECK(tile_rows(row_split::of(5, 6)) == std::vector<std::size_t>{5});
  CHECK(tile_rows(row_split::of(6, 6)) == std::vector<std::size_t>{6});
  CHECK(tile_rows(row_split::of(7, 6)) == std::vector<std::size_t>{4, 3});
  CHECK(tile_rows(row_split::of(12, 6)) == std::vector<std::size_t>{6, 6});
  CHECK(tile_rows(row_split::of(13, 6)) == std::vector<std::size_t>{5, 4, 4});
  CHECK(tile_rows(row_split::of(25, 6)) == std::vector<std::size_t>{5, 5, 5, 5, 5});
  CHECK(tile_rows(row_split::of(11, 12)) == std::vector<std::size_t>{11});
  CHECK(tile_rows(row_split::of(12, 12)) == std::vector<std::size_t>{12});
  CHECK(tile_rows(row_split::of(13, 12)) == std::vector<std::size_t>{7, 6});
  CHECK(tile_rows(row_split::of(0, 6)).empty());
}

TEST_CASE("gemm equals a double-precision product on every path and row count") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0F, 1.0F);
  for (const std::size_t n : {32U, 64U}) {
    for (const std::size_t k : {1U, 7U, 300U}) {
      std::vector<float> b(k * n);
      for (auto& v : b) v = u(rng);
      const auto packed = faceapp::detail::pack_gemm_panels(b, k, n);
      for (std::size_t m = 1; m <= 40; ++m) {
        // A with a row stride longer than k, C with one longer than n: the kernels must keep to their strides.
        const std::size_t lda = k + 3;
        const std::size_t ldc = n + 5;
        std::vector<float> a(m * lda);
        for (auto& v : a) v = u(rng);
        std::vector<double> want(m * n, 0.0);
        for (std::size_t i = 0; i < m; ++i) {
          for (std::size_t p = 0; p < k; ++p) {
            for (std::size_t j = 0; j < n; ++j) {
              want[i * n + j] += static_cast<double>(a[i * lda + p]) * static_cast<double>(b[p * n + j]);
            }
          }
        }
        for (const auto level : levels()) {
          CAPTURE(faceapp::detail::simd_level_name(level));
          CAPTURE(m);
          CAPTURE(n);
          CAPTURE(k);
          const float sentinel = 12345.0F;
          std::vector<float> c(m * ldc, sentinel);
          faceapp::detail::gemm(level, m, n, k, a.data(), lda, packed.data(), c.data(), ldc);
          double worst = 0;
          bool padding_kept = true;
          for (std::size_t i = 0; i < m; ++i) {
            for (std::size_t j = 0; j < n; ++j) {
              worst = std::max(worst, std::abs(static_cast<double>(c[i * ldc + j]) - want[i * n + j]));
            }
            for (std::size_t j = n; j < ldc; ++j) padding_kept = padding_kept && c[i * ldc + j] == sentinel;
          }
          // fp32 sums of k products of magnitude <= 1: within k * 2^-22 of the exact sum and more.
          CHECK(worst <= static_cast<double>(k) * 3e-7);
          CHECK(padding_kept);
        }
      }
    }
  }
}

TEST_CASE("gemm's epilogue gives what a pass of bias and clamp over C gives, bit for bit, on every path") {
  using faceapp::detail::gemm_epilogue;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-4.0F, 4.0F);
  const std::size_t n = 64;
  const std::size_t k = 37;
  std::vector<float> b(k * n), bias(n);
  for (auto& v : b) v = u(rng);
  for (auto& v : bias) v = u(rng);
  const auto packed = faceapp::detail::pack_gemm_panels(b, k, n);
  const float inf = std::numeric_limits<float>::infinity();
  struct named {
    const char* name;
    gemm_epilogue ep;
  };
  const std::vector<named> epilogues = {
      {"bias", {bias.data(), -inf, inf}}, {"bias, ReLU6", {bias.data(), 0.0F, 6.0F}}, {"ReLU6", {nullptr, 0.0F, 6.0F}}};
  for (std::size_t m = 1; m <= 25; ++m) {
    std::vector<float> a(m * k);
    for (auto& v : a) v = u(rng);
    for (const auto level : levels()) {
      std::vector<float> plain(m * n);
      faceapp::detail::gemm(level, m, n, k, a.data(), k, packed.data(), plain.data(), n);
      for (const auto& [name, ep] : epilogues) {
        CAPTURE(faceapp::detail::simd_level_name(level));
        CAPTURE(m);
        CAPTURE(std::string(name));
        std::vector<float> want = plain;
        for (std::size_t i = 0; i < m; ++i) {
          for (std::size_t j = 0; j < n; ++j) {
            const float v = ep.bias != nullptr ? want[i * n + j] + ep.bias[j] : want[i * n + j];
            want[i * n + j] = std::min(std::max(v, ep.low), ep.high);
          }
        }
        std::vector<float> got(m * n);
        faceapp::detail::gemm(level, m, n, k, a.data(), k, packed.data(), got.data(), n, ep);
        CHECK(got == want);
      }
    }
  }
}

TEST_CASE("gemm's ReLU6 epilogue at its limits: exactly 0 and 6, a float below and above each, and NaN") {
  using faceapp::detail::gemm_epilogue;
  const float six = 6.0F;
  const float tiny = std::numeric_limits<float>::denorm_min();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // C = A * B with A = 1 (k = 1): C's row is B's row, each value then clamped to [0, 6].
  const std::vector<float> in = {six, std::nextafter(six, 0.0F), std::nextafter(six, 7.0F), 0.0F, -tiny, tiny, nan,
                                 -1e30F, 1e30F};
  const std::vector<float> want = {six, std::nextafter(six, 0.0F), six, 0.0F, 0.0F, tiny, nan, 0.0F, six};
  const std::size_t n = 32;
  std::vector<float> b(n, 1.0F);
  std::copy(in.begin(), in.end(), b.begin());
  const auto packed = faceapp::detail::pack_gemm_panels(b, 1, n);
  for (const auto level : levels()) {
    CAPTURE(faceapp::detail::simd_level_name(level));
    for (std::size_t m = 1; m <= 13; ++m) {
      CAPTURE(m);
      const std::vector<float> a(m, 1.0F);
      std::vector<float> c(m * n);
      faceapp::detail::gemm(level, m, n, 1, a.data(), 1, packed.data(), c.data(), n, gemm_epilogue{nullptr, 0, 6});
      for (std::size_t i = 0; i < m; ++i) {
        for (std::size_t j = 0; j < in.size(); ++j) {
          CAPTURE(j);
          if (std::isnan(want[j])) {
            CHECK(std::isnan(c[i * n + j]));
          } else {
            CHECK(c[i * n + j] == want[j]);
          }
        }
        CHECK(c[i * n + in.size()] == 1.0F);
      }
    }
  }
}
