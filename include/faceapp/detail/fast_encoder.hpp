// faceapp: a faster forward pass of the face encoder network, with dlib's results.
//
// dlib runs the ResNet of models/network.hpp one sample at a time through NCHW im2col + BLAS GEMM, then makes
// separate passes over memory for each affine, relu, pooling and add layer. This engine computes the same
// function from the same weights but:
//  - folds each affine layer into the convolution before it (w' = gamma * w, b' = gamma * b + beta) and fuses
//    the bias, the residual add and the relu into one pass over each GEMM result while it is still in cache;
//  - keeps activations channels-last (NHWC), where the im2col row of an output pixel is kh contiguous runs
//    of kw * C floats, and the whole batch of chips forms one tall GEMM per layer, cut into row blocks whose
//    im2col panel fits the L2 cache;
//  - multiplies with its own register-tiled AVX-512 (or AVX2 + FMA) kernel on weights packed once at load:
//    the OpenBLAS that Debian's dlib links picks its AVX2 kernels on current AMD CPUs and repacks both
//    operands on every call. Other CPUs use that BLAS.
// The GEMM lives in detail/gemm.hpp, the folding of dlib's weights in detail/encoder_weights.hpp.
// Everything runs on the calling thread, so one engine per worker scales with the workers. Results equal
// dlib's to float rounding (below 1e-6 per component on the reference chips).
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <dlib/dnn.h>

#include "faceapp/core/encoding.hpp"
#include "faceapp/detail/cpu_features.hpp"
#include "faceapp/detail/encoder_weights.hpp"
#include "faceapp/detail/gemm.hpp"
#include "faceapp/models/network.hpp"

namespace faceapp::detail {

/// The face encoder's forward pass: what dlib's `models::encoder_net` computes, to float rounding, several
/// times faster (see bench/bench_encode.cpp). Not thread-safe: it keeps scratch memory. Copies share
/// the (immutable) weights and own their scratch, so give each thread its own copy.
/// Example: `fast_encoder engine(net); std::vector<encoding> e = engine.encode(chips);`
class fast_encoder {
 public:
  /// Largest number of chips pushed through the network together; bigger batches are cut into these.
  static constexpr std::size_t sub_batch = 16;
  /// Chip side the network expects.
  static constexpr int chip_size = 150;

  /// The matrix product the convolutions run on.
  enum class kernel {
    automatic,  ///< the best this CPU runs: our AVX-512 kernel, else our AVX2 kernel, else the BLAS
    avx2,       ///< our AVX2 + FMA kernel (the BLAS where the CPU lacks AVX2); lets tests cover it anywhere
    blas,       ///< the BLAS dlib links (the portable path)
  };

  explicit fast_encoder(const models::encoder_net& net, kernel k = kernel::automatic)
      : fast_encoder(fold_encoder_weights(net), k) {}
  /// Over weights already folded (load_encoder_weights), shared with whoever else holds them.
  explicit fast_encoder(std::shared_ptr<const encoder_weights> weights, kernel k = kernel::automatic)
      : weights_(std::move(weights)), path_(choose(k)) {
    if (!weights_) throw std::invalid_argument("fast_encoder: no weights");
  }

  fast_encoder(const fast_encoder& other) : weights_(other.weights_), path_(other.path_) {}
  fast_encoder& operator=(const fast_encoder& other) {
    weights_ = other.weights_;
    path_ = other.path_;
    return *this;
  }
  fast_encoder(fast_encoder&&) noexcept = default;
  fast_encoder& operator=(fast_encoder&&) noexcept = default;
  ~fast_encoder() = default;

  /// The kernel this instance runs: "avx512", "avx2" or "blas".
  [[nodiscard]] const char* kernel_name() const noexcept {
    return path_ == simd_level::portable ? "blas" : simd_level_name(path_);
  }

  /// Encodes 150x150 chips (as extract_image_chips cuts them), in order; throws std::invalid_argument on a
  /// chip of another size.
  [[nodiscard]] std::vector<encoding> encode(std::span<const dlib::matrix<dlib::rgb_pixel>> chips) {
    return encode_all(chips);
  }
  [[nodiscard]] std::vector<encoding> encode(const std::vector<dlib::matrix<dlib::rgb_pixel>>& chips) {
    return encode_all(chips);
  }
  [[nodiscard]] std::vector<encoding> encode(const dlib::array<dlib::matrix<dlib::rgb_pixel>>& chips) {
    return encode_all(chips);
  }
  [[nodiscard]] encoding encode(const dlib::matrix<dlib::rgb_pixel>& chip) {
    encoding e;
    forward(std::span<const dlib::matrix<dlib::rgb_pixel>>(&chip, 1), 0, 1, &e);
    return e;
  }

 private:
  using conv = folded_conv;

  static simd_level choose(kernel k) {
    const simd_level best = best_simd_level();
    switch (k) {
      case kernel::automatic: return best;
      case kernel::avx2: return best == simd_level::portable ? simd_level::portable : simd_level::avx2;
      case kernel::blas: break;
    }
    return simd_level::portable;
  }

  /// Activations of `n` images, NHWC.
  struct tensor {
    int n = 0, h = 0, w = 0, c = 0;
    std::vector<float> data;
    void resize(int n_, int h_, int w_, int c_) {
      n = n_, h = h_, w = w_, c = c_;
      data.resize(static_cast<std::size_t>(n) * static_cast<std::size_t>(h) * static_cast<std::size_t>(w) *
                  static_cast<std::size_t>(c));
    }
    [[nodiscard]] std::size_t pixels() const {
      return static_cast<std::size_t>(n) * static_cast<std::size_t>(h) * static_cast<std::size_t>(w);
    }
  };

  /// What a convolution does to its GEMM result: bias and relu, bias + the block input and relu, or only
  /// the bias (when add_pooled_skip follows).
  enum class skip_kind { none, identity, bias_only };

  // Floats of im2col panel per GEMM call: about half of a 1 MB L2, so the panel is still cached when the
  // GEMM reads it.
  static constexpr std::size_t panel_floats = 64 * 1024;
  static constexpr std::size_t min_panel_rows = 64;

  template <class Chips>
  std::vector<encoding> encode_all(const Chips& chips) {
    std::vector<encoding> out(chips.size());
    for (std::size_t first = 0; first < chips.size(); first += sub_batch) {
      forward(chips, first, std::min(sub_batch, chips.size() - first), out.data() + first);
    }
    return out;
  }

  /// Encodes chips[first .. first+count) into out[0 .. count).
  template <class Chips>
  void forward(const Chips& chips, std::size_t first, std::size_t count, encoding* out) {
    const auto& w = *weights_;
    const int n = static_cast<int>(count);

    // Stem, one chip at a time: its 72x72x32 output is the largest activation, kept in cache for the pool.
    const int stem_out = w.stem.out_size(chip_size);
    const int pooled = (stem_out - w.pool_size) / w.pool_stride + 1;
    x_.resize(n, pooled, pooled, w.stem.out);
    for (int i = 0; i < n; ++i) {
      const auto& chip = chips[first + static_cast<std::size_t>(i)];
      if (chip.nr() != chip_size || chip.nc() != chip_size) {
        throw std::invalid_argument("fast_encoder: chips must be 150x150, got " + std::to_string(chip.nr()) + "x" +
                                    std::to_string(chip.nc()));
      }
      input_.resize(1, chip_size, chip_size, 3);
      float* p = input_.data.data();
      for (long r = 0; r < chip_size; ++r) {
        for (long c = 0; c < chip_size; ++c) {
          const auto& px = chip(r, c);
          *p++ = (static_cast<float>(px.red) - w.mean_r) / 256.0F;
          *p++ = (static_cast<float>(px.green) - w.mean_g) / 256.0F;
          *p++ = (static_cast<float>(px.blue) - w.mean_b) / 256.0F;
        }
      }
      run_conv(w.stem, input_, stem_, skip_kind::none, nullptr);
      max_pool(stem_, w.pool_size, w.pool_stride, x_, i);
    }

    for (const auto& b : w.blocks) {
      run_conv(b.a, x_, t_, skip_kind::none, nullptr);
      if (b.down()) {
        run_conv(b.b, t_, u_, skip_kind::bias_only, nullptr);
        add_pooled_skip(u_, x_, y_);
      } else {
        run_conv(b.b, t_, y_, skip_kind::identity, &x_);
      }
      std::swap(x_, y_);
    }

    // avg_pool_everything, then the fc layer.
    const std::size_t hw = static_cast<std::size_t>(x_.h) * static_cast<std::size_t>(x_.w);
    const std::size_t ch = static_cast<std::size_t>(x_.c);
    if (static_cast<int>(ch) != w.fc_in) throw std::logic_error("fast_encoder: fc input size mismatch");
    features_.assign(static_cast<std::size_t>(n) * ch, 0.0F);
    for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
      float* f = features_.data() + i * ch;
      for (std::size_t px = 0; px < hw; ++px) {
        const float* src = x_.data.data() + (i * hw + px) * ch;
        for (std::size_t c = 0; c < ch; ++c) f[c] += src[c];
      }
      for (std::size_t c = 0; c < ch; ++c) f[c] /= static_cast<float>(hw);
    }
    result_.resize(static_cast<std::size_t>(n) * encoding_size);
    gemm(path_, static_cast<std::size_t>(n), encoding_size, ch, features_.data(), ch,
                              w.fc.data(), result_.data(), encoding_size);
    for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
      std::copy_n(result_.data() + i * encoding_size, encoding_size, out[i].data());
    }
  }

  /// out = relu(conv(in) + skip), the skip read from `skip_src` as `kind` says.
  void run_conv(const conv& cv, const tensor& in, tensor& out, skip_kind kind, const tensor* skip_src) {
    if (in.c != cv.in) throw std::logic_error("fast_encoder: channel count mismatch");
    const int oh = cv.out_size(in.h);
    const int ow = cv.out_size(in.w);
    out.resize(in.n, oh, ow, cv.out);
    const std::size_t k = static_cast<std::size_t>(cv.kh) * static_cast<std::size_t>(cv.kw) *
                          static_cast<std::size_t>(cv.in);
    const std::size_t rows = out.pixels();
    const std::size_t block_rows = std::min(rows, std::max(min_panel_rows, panel_floats / k));
    panel_.resize(block_rows * k);
    const std::size_t nf = static_cast<std::size_t>(cv.out);
    const bool pointwise = cv.kh == 1 && cv.kw == 1 && cv.stride == 1 && cv.pad == 0;

    for (std::size_t r0 = 0; r0 < rows; r0 += block_rows) {
      const std::size_t nr = std::min(block_rows, rows - r0);
      const float* a = in.data.data() + r0 * k;
      if (!pointwise) {
        im2col(cv, in, oh, ow, r0, nr);
        a = panel_.data();
      }
      float* c = out.data.data() + r0 * nf;
      gemm(path_, nr, nf, k, a, k, cv.weights.data(), c, nf);
      epilogue(cv, c, r0, nr, oh, ow, kind, skip_src);
    }
  }

  /// Rows r0 .. r0+nr of the im2col matrix of `in` into panel_.
  void im2col(const conv& cv, const tensor& in, int oh, int ow, std::size_t r0, std::size_t nr) {
    const std::size_t cin = static_cast<std::size_t>(in.c);
    float* dst = panel_.data();
    const std::size_t plane = static_cast<std::size_t>(oh) * static_cast<std::size_t>(ow);
    for (std::size_t r = r0; r < r0 + nr; ++r) {
      const std::size_t img = r / plane;
      const int oy = static_cast<int>((r % plane) / static_cast<std::size_t>(ow));
      const int ox = static_cast<int>(r % static_cast<std::size_t>(ow));
      const float* base = in.data.data() + img * static_cast<std::size_t>(in.h) * static_cast<std::size_t>(in.w) * cin;
      for (int ky = 0; ky < cv.kh; ++ky) {
        const int iy = oy * cv.stride - cv.pad + ky;
        if (iy < 0 || iy >= in.h) {
          dst = std::fill_n(dst, static_cast<std::size_t>(cv.kw) * cin, 0.0F);
          continue;
        }
        const int ix0 = ox * cv.stride - cv.pad;
        if (ix0 >= 0 && ix0 + cv.kw <= in.w) {
          // The whole filter row is inside the image: kw * cin contiguous floats in NHWC.
          const float* src = base + (static_cast<std::size_t>(iy) * static_cast<std::size_t>(in.w) +
                                     static_cast<std::size_t>(ix0)) * cin;
          dst = std::copy_n(src, static_cast<std::size_t>(cv.kw) * cin, dst);
          continue;
        }
        for (int kx = 0; kx < cv.kw; ++kx) {
          const int ix = ix0 + kx;
          if (ix < 0 || ix >= in.w) {
            dst = std::fill_n(dst, cin, 0.0F);
          } else {
            const float* src = base + (static_cast<std::size_t>(iy) * static_cast<std::size_t>(in.w) +
                                       static_cast<std::size_t>(ix)) * cin;
            dst = std::copy_n(src, cin, dst);
          }
        }
      }
    }
  }

  /// Bias, skip and relu over the GEMM result rows r0 .. r0+nr (still in cache).
  static void epilogue(const conv& cv, float* c, std::size_t r0, std::size_t nr, int oh, int ow, skip_kind kind,
                       const tensor* skip_src) {
    const std::size_t nf = static_cast<std::size_t>(cv.out);
    const float* bias = cv.bias.data();
    if (kind == skip_kind::none) {
      for (std::size_t r = 0; r < nr; ++r) {
        float* row = c + r * nf;
        for (std::size_t f = 0; f < nf; ++f) row[f] = std::max(row[f] + bias[f], 0.0F);
      }
      return;
    }
    if (kind == skip_kind::identity) {
      if (skip_src->c != cv.out || static_cast<std::size_t>(skip_src->h * skip_src->w) !=
                                       static_cast<std::size_t>(oh) * static_cast<std::size_t>(ow)) {
        throw std::logic_error("fast_encoder: residual shape mismatch");
      }
      const float* s = skip_src->data.data() + r0 * nf;
      for (std::size_t r = 0; r < nr; ++r) {
        float* row = c + r * nf;
        const float* srow = s + r * nf;
        for (std::size_t f = 0; f < nf; ++f) row[f] = std::max(row[f] + bias[f] + srow[f], 0.0F);
      }
      return;
    }
    for (std::size_t r = 0; r < nr; ++r) {  // skip_kind::bias_only
      float* row = c + r * nf;
      for (std::size_t f = 0; f < nf; ++f) row[f] += bias[f];
    }
  }

  /// out = relu(main + avg_pool_2x2/2(skip)) with dlib's add_prev rule for tensors of different shapes: the
  /// result has the larger of each dimension and a missing element counts as 0. In this network the pooled
  /// skip is one pixel larger than the strided convolution at two of the downsampling blocks (8 -> 3 vs 4 and
  /// 4 -> 1 vs 2), and has fewer channels at all of them.
  static void add_pooled_skip(const tensor& main, const tensor& skip, tensor& out) {
    const int ph = (skip.h - 2) / 2 + 1;
    const int pw = (skip.w - 2) / 2 + 1;
    out.resize(main.n, std::max(main.h, ph), std::max(main.w, pw), std::max(main.c, skip.c));
    const std::size_t mc = static_cast<std::size_t>(main.c);
    const std::size_t sc = static_cast<std::size_t>(skip.c);
    const std::size_t oc = static_cast<std::size_t>(out.c);
    float* dst = out.data.data();
    for (int i = 0; i < out.n; ++i) {
      for (int y = 0; y < out.h; ++y) {
        for (int x = 0; x < out.w; ++x, dst += oc) {
          std::fill_n(dst, oc, 0.0F);
          if (y < main.h && x < main.w) {
            const float* m = main.data.data() + ((static_cast<std::size_t>(i) * static_cast<std::size_t>(main.h) +
                                                  static_cast<std::size_t>(y)) * static_cast<std::size_t>(main.w) +
                                                 static_cast<std::size_t>(x)) * mc;
            std::copy_n(m, mc, dst);
          }
          if (y < ph && x < pw) {
            const std::size_t sw = static_cast<std::size_t>(skip.w);
            const float* p00 = skip.data.data() + ((static_cast<std::size_t>(i) * static_cast<std::size_t>(skip.h) +
                                                    2 * static_cast<std::size_t>(y)) * sw +
                                                   2 * static_cast<std::size_t>(x)) * sc;
            const float* p01 = p00 + sc;
            const float* p10 = p00 + sw * sc;
            const float* p11 = p10 + sc;
            for (std::size_t f = 0; f < sc; ++f) dst[f] += (p00[f] + p01[f] + p10[f] + p11[f]) * 0.25F;
          }
          for (std::size_t f = 0; f < oc; ++f) dst[f] = std::max(dst[f], 0.0F);
        }
      }
    }
  }

  /// size x size / stride max pooling (no padding) of the single image in `in` into image `index` of `out`.
  static void max_pool(const tensor& in, int size, int stride, tensor& out, int index) {
    const std::size_t ch = static_cast<std::size_t>(in.c);
    float* dst = out.data.data() + static_cast<std::size_t>(index) * static_cast<std::size_t>(out.h) *
                                       static_cast<std::size_t>(out.w) * ch;
    for (int oy = 0; oy < out.h; ++oy) {
      for (int ox = 0; ox < out.w; ++ox, dst += ch) {
        const float* first = in.data.data() + (static_cast<std::size_t>(oy * stride) * static_cast<std::size_t>(in.w) +
                                               static_cast<std::size_t>(ox * stride)) * ch;
        std::copy_n(first, ch, dst);
        for (int ky = 0; ky < size; ++ky) {
          for (int kx = 0; kx < size; ++kx) {
            const float* src = first + (static_cast<std::size_t>(ky) * static_cast<std::size_t>(in.w) +
                                        static_cast<std::size_t>(kx)) * ch;
            for (std::size_t c = 0; c < ch; ++c) dst[c] = std::max(dst[c], src[c]);
          }
        }
      }
    }
  }

  std::shared_ptr<const encoder_weights> weights_;
  simd_level path_ = simd_level::portable;
  // Per-instance scratch, reused between calls.
  tensor input_, stem_, x_, t_, u_, y_;
  std::vector<float> panel_, features_, result_;
};

}  // namespace faceapp::detail
