// detail::winograd_conv against a plain double-precision 3x3 convolution of the same weights, on every kernel
// path this machine runs, for both tile sizes, on sizes that do and do not divide into tiles (the edge tiles
// read zero padding and write only the pixels inside the image), with every epilogue the encoder uses. A second
// case damages one transformed weight and shows the comparison can fail.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <faceapp/detail/winograd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <string>
#include <vector>

namespace {

using faceapp::detail::folded_conv;
using faceapp::detail::simd_level;

/// A 3x3 stride-1 pad-1 convolution with weights in [-0.1, 0.1): `plain` keeps them as dlib orders an NHWC
/// im2col row, (tap, in channel) x out.
struct test_conv {
  folded_conv cv;
  std::vector<float> plain;
};

test_conv random_conv(int in, int out, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-0.1F, 0.1F);
  test_conv t;
  t.cv.in = in;
  t.cv.out = out;
  t.cv.kh = t.cv.kw = 3;
  t.cv.stride = 1;
  t.cv.pad = 1;
  const std::size_t k = 9 * static_cast<std::size_t>(in);
  t.plain.resize(k * static_cast<std::size_t>(out));
  for (auto& w : t.plain) w = u(rng);
  t.cv.weights = faceapp::detail::pack_gemm_panels(t.plain, k, static_cast<std::size_t>(out));
  t.cv.bias.resize(static_cast<std::size_t>(out));
  for (auto& b : t.cv.bias) b = u(rng);
  return t;
}

/// The reference: relu(conv(in) + bias + skip) in double precision.
std::vector<double> direct(const test_conv& t, const std::vector<float>& in, int images, int h, int w,
                           const std::vector<float>* skip, bool relu) {
  const auto cin = static_cast<std::size_t>(t.cv.in);
  const auto cout = static_cast<std::size_t>(t.cv.out);
  std::vector<double> out(static_cast<std::size_t>(images * h * w) * cout);
  for (int n = 0; n < images; ++n) {
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const std::size_t at = (static_cast<std::size_t>((n * h + y) * w + x)) * cout;
        for (std::size_t f = 0; f < cout; ++f) {
          double acc = t.cv.bias[f];
          for (int ky = 0; ky < 3; ++ky) {
            for (int kx = 0; kx < 3; ++kx) {
              const int iy = y + ky - 1, ix = x + kx - 1;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              const float* src = in.data() + static_cast<std::size_t>((n * h + iy) * w + ix) * cin;
              const std::size_t tap = static_cast<std::size_t>(ky * 3 + kx);
              for (std::size_t c = 0; c < cin; ++c) {
                acc += static_cast<double>(src[c]) * t.plain[(tap * cin + c) * cout + f];
              }
            }
          }
          if (skip) acc += (*skip)[at + f];
          out[at + f] = relu ? std::max(acc, 0.0) : acc;
        }
      }
    }
  }
  return out;
}

std::vector<simd_level> levels() {
  std::vector<simd_level> out;
  for (auto l : {simd_level::portable, simd_level::avx2, simd_level::avx512}) {
    if (faceapp::detail::simd_supported(l)) out.push_back(l);
  }
  return out;
}

/// The largest |winograd - direct| of one convolution.
double worst_error(const faceapp::detail::winograd_filter& f, const test_conv& t, simd_level level, int images,
                   int size, bool with_skip, bool relu, std::mt19937& rng, std::size_t block_floats) {
  std::uniform_real_distribution<float> u(0.0F, 1.0F);  // activations after a relu
  std::vector<float> in(static_cast<std::size_t>(images * size * size * t.cv.in));
  for (auto& v : in) v = u(rng);
  std::vector<float> skip(static_cast<std::size_t>(images * size * size * t.cv.out));
  for (auto& v : skip) v = u(rng);
  std::vector<float> out(skip.size(), -1.0F);
  faceapp::detail::winograd_scratch scratch;
  faceapp::detail::winograd_conv(level, f, t.cv.bias.data(), in.data(), images, size, size,
                                 with_skip ? skip.data() : nullptr, relu, out.data(), scratch, block_floats);
  const auto expected = direct(t, in, images, size, size, with_skip ? &skip : nullptr, relu);
  double worst = 0;
  for (std::size_t i = 0; i < out.size(); ++i) worst = std::max(worst, std::abs(out[i] - expected[i]));
  return worst;
}

/// Sums of 288 products of up to 0.1: fp32 rounding reaches 1e-6 with F(2x2) and 8e-6 with F(4x4), whose
/// transforms scale by up to 8 and 1/24; a wrong tap, tile or edge is off by 1e-3 and more.
double bound(int m) { return m == 2 ? 3e-6 : 2e-5; }

}  // namespace

TEST_CASE("Winograd convolutions equal the direct convolution on every path, tile size and edge") {
  std::mt19937 rng(27);
  const auto t = random_conv(32, 64, rng);
  for (const int m : {2, 4}) {
    const auto f = faceapp::detail::make_winograd_filter(t.cv, m);
    for (const auto level : levels()) {
      const std::string path = faceapp::detail::simd_level_name(level);
      for (const int size : {1, 2, 3, 4, 5, 8, 9, 17}) {
        for (const int images : {1, 3}) {
          for (const int epilogue : {0, 1, 2}) {  // relu, relu with a skip, bias only
            CAPTURE(m);
            CAPTURE(path);
            CAPTURE(size);
            CAPTURE(images);
            CAPTURE(epilogue);
            // A small block budget as well: the blocks then split the tiles unevenly.
            for (const std::size_t block : {std::size_t{128 * 1024}, std::size_t{1}}) {
              const double err = worst_error(f, t, level, images, size, epilogue == 1, epilogue != 2, rng, block);
              CHECK(err < bound(m));
            }
          }
        }
      }
    }
  }
}

TEST_CASE("a Winograd filter with one damaged weight does not pass that comparison") {
  std::mt19937 rng(27);
  const auto t = random_conv(32, 32, rng);
  for (const int m : {2, 4}) {
    auto f = faceapp::detail::make_winograd_filter(t.cv, m);
    f.u[f.u.size() / 2] += 0.01F;  // one position, one channel pair
    CAPTURE(m);
    CHECK(worst_error(f, t, faceapp::detail::best_simd_level(), 1, 8, false, false, rng, 128 * 1024) > bound(m));
  }
}

TEST_CASE("Winograd refuses convolutions it does not compute") {
  std::mt19937 rng(27);
  auto t = random_conv(32, 32, rng);
  CHECK_THROWS_AS((void)faceapp::detail::make_winograd_filter(t.cv, 3), std::invalid_argument);
  t.cv.stride = 2;
  CHECK_FALSE(faceapp::detail::winograd_applies(t.cv));
  CHECK_THROWS_AS((void)faceapp::detail::make_winograd_filter(t.cv, 2), std::invalid_argument);
}
