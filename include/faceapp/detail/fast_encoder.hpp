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
//    operands on every call. Other CPUs use that BLAS;
//  - runs the stride-1 3x3 convolutions that are most of the arithmetic as Winograd F(2x2,3x3) or F(4x4,3x3)
//    (detail/winograd.hpp), the tile size chosen per layer by its size and the batch (winograd_tile()).
// The stem reads the chip in place (detail/stem_conv.hpp). The GEMM lives in detail/gemm.hpp, the folding of
// dlib's weights in detail/encoder_weights.hpp, im2col, the epilogue and the pooling in detail/encoder_layers.hpp.
// Everything runs on the calling thread, so one engine per worker scales with the workers. Results equal
// dlib's to float rounding: below 1e-6 per component on the reference chips with direct convolutions only, and
// within the tests' 1e-4 with Winograd (fp32 rounding in the transforms, larger with the larger tile).
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <dlib/array.h>
#include <dlib/matrix.h>
#include <dlib/pixel.h>

#include "faceapp/core/encoding.hpp"
#include "faceapp/detail/cpu_features.hpp"
#include "faceapp/detail/encoder_layers.hpp"
#include "faceapp/detail/encoder_weights.hpp"
#include "faceapp/detail/gemm.hpp"
#include "faceapp/detail/stem_conv.hpp"
#include "faceapp/detail/winograd.hpp"

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

  /// How the stride-1 3x3 convolutions run.
  enum class convolution {
    automatic,  ///< each layer as winograd_tile() says for its size and the batch
    direct,     ///< im2col + GEMM everywhere
    winograd2,  ///< F(2x2,3x3) wherever it applies; lets tests and benches cover each tile size
    winograd4,  ///< F(4x4,3x3) wherever it applies
  };

  /// A choice of Winograd tile for automatic mode: a stride-1 3x3 layer's output side and the batch -> its tile
  /// side (0: direct, 2 or 4). winograd_tile() is the engine's; benches pass others to measure the alternatives.
  using tile_rule = int (*)(int size, int images);

  /// Over weights already folded (load_encoder_weights), shared with whoever else holds them.
  explicit fast_encoder(std::shared_ptr<const encoder_weights> weights, kernel k = kernel::automatic,
                        convolution c = convolution::automatic)
      : weights_(std::move(weights)), path_(choose(k)), convolution_(c) {
    if (!weights_) throw std::invalid_argument("fast_encoder: no weights");
    filters_ = make_filters(*weights_, c, rule_);
  }
  /// Automatic mode with `rule` in place of winograd_tile().
  fast_encoder(std::shared_ptr<const encoder_weights> weights, kernel k, tile_rule rule)
      : weights_(std::move(weights)), path_(choose(k)), rule_(rule) {
    if (!weights_) throw std::invalid_argument("fast_encoder: no weights");
    if (rule_ == nullptr) throw std::invalid_argument("fast_encoder: no tile rule");
    filters_ = make_filters(*weights_, convolution_, rule_);
  }

  fast_encoder(const fast_encoder& other)
      : weights_(other.weights_),
        filters_(other.filters_),
        path_(other.path_),
        convolution_(other.convolution_),
        rule_(other.rule_) {}
  fast_encoder& operator=(const fast_encoder& other) {
    weights_ = other.weights_;
    filters_ = other.filters_;
    path_ = other.path_;
    convolution_ = other.convolution_;
    rule_ = other.rule_;
    return *this;
  }
  fast_encoder(fast_encoder&&) noexcept = default;
  fast_encoder& operator=(fast_encoder&&) noexcept = default;
  ~fast_encoder() = default;

  /// The kernel this instance runs: "avx512", "avx2" or "blas".
  [[nodiscard]] const char* kernel_name() const noexcept {
    return path_ == simd_level::portable ? "blas" : simd_level_name(path_);
  }

  /// The Winograd tile side automatic mode gives a stride-1 3x3 layer of `size` x `size` outputs when `images`
  /// chips go through it together (0: direct): F(4x4) from 8x8 up; below, F(4x4) for a full sub-batch, whose 16
  /// chips fill the GEMM with tiles, and direct for fewer, where one chip's few tiles starve it. Chosen from whole
  /// passes (bench_encode's BM_encoder_engine and BM_encoder_engine_tile) on the AVX-512 and the AVX2 path; the
  /// figures are in bench/README.md, "The encoder engine alone". The F(4x4) filters of the 4x4 and 2x2 layers take
  /// about 60 MB, shared by every engine over the same weights.
  [[nodiscard]] static int winograd_tile(int size, int images) noexcept {
    return size >= 8 || images >= static_cast<int>(sub_batch) ? 4 : 0;
  }

  /// The tile side layer `index` of the residual blocks (2 per block: a, b) runs with for a batch of `images`:
  /// 0 (direct), 2 or 4.
  [[nodiscard]] int layer_tile(std::size_t index, int images) const {
    const auto& f = (*filters_).at(index);
    if (convolution_ == convolution::automatic) {
      const int m = rule_(f.size, images);
      return (m == 2 && !f.f2.u.empty()) || (m == 4 && !f.f4.u.empty()) ? m : 0;
    }
    if (convolution_ == convolution::winograd2) return f.f2.u.empty() ? 0 : 2;
    if (convolution_ == convolution::winograd4) return f.f4.u.empty() ? 0 : 4;
    return 0;
  }

  /// Number of residual-block convolutions (2 per block), the layers layer_tile() and run_layer_alone() count.
  [[nodiscard]] std::size_t layers() const noexcept { return filters_->size(); }

  /// Runs residual-block convolution `index` alone, as the forward pass would for a batch of `images` chips
  /// (relu, no skip), on inputs of 0.5 kept for the purpose: bench_encode's per-layer figures. Returns the
  /// FLOPs a direct convolution does for it (a multiply-add counts 2).
  double run_layer_alone(std::size_t index, int images) {
    const auto& lf = filters_->at(index);
    const auto& b = weights_->blocks.at(index / 2);
    const conv& cv = index % 2 == 0 ? b.a : b.b;
    if (layer_in_.n != images || layer_in_.h != lf.in_size || layer_in_.c != cv.in) {
      layer_in_.resize(images, lf.in_size, lf.in_size, cv.in);
      std::fill(layer_in_.data.begin(), layer_in_.data.end(), 0.5F);
    }
    run_layer(index, cv, layer_in_, layer_out_, skip_kind::none, nullptr);
    return 2.0 * static_cast<double>(layer_out_.pixels()) * cv.kh * cv.kw * cv.in * cv.out;
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
  using tensor = nhwc_tensor;

  static simd_level choose(kernel k) {
    const simd_level best = best_simd_level();
    switch (k) {
      case kernel::automatic: return best;
      case kernel::avx2: return best == simd_level::portable ? simd_level::portable : simd_level::avx2;
      case kernel::blas: break;
    }
    return simd_level::portable;
  }

  /// The Winograd filters of one residual-block convolution (those its mode can pick) and its output size.
  struct layer_filters {
    int in_size = 0, size = 0;
    winograd_filter f2, f4;
  };

  static std::shared_ptr<const std::vector<layer_filters>> make_filters(const encoder_weights& w, convolution c,
                                                                       tile_rule rule) {
    auto out = std::make_shared<std::vector<layer_filters>>();
    const int stem_out = w.stem.out_size(chip_size);
    int size = (stem_out - w.pool_size) / w.pool_stride + 1;
    for (const auto& b : w.blocks) {
      for (const folded_conv* cv : {&b.a, &b.b}) {
        layer_filters lf;
        lf.in_size = size;
        size = cv->out_size(size);
        lf.size = size;
        bool want2 = c == convolution::winograd2, want4 = c == convolution::winograd4;
        if (c == convolution::automatic) {
          for (int images = 1; images <= static_cast<int>(sub_batch); ++images) {
            want2 = want2 || rule(size, images) == 2;
            want4 = want4 || rule(size, images) == 4;
          }
        }
        if (winograd_applies(*cv)) {
          if (want2) lf.f2 = make_winograd_filter(*cv, 2);
          if (want4) lf.f4 = make_winograd_filter(*cv, 4);
        }
        out->push_back(std::move(lf));
      }
    }
    return out;
  }

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
      if (stem_conv_applies(path_, w.stem)) {
        stem_.resize(1, stem_out, stem_out, w.stem.out);
        stem_conv(path_, w.stem, input_.data.data(), chip_size, chip_size, stem_.data.data());
      } else {
        run_conv(w.stem, input_, stem_, skip_kind::none, nullptr);
      }
      max_pool(stem_, w.pool_size, w.pool_stride, x_, i);
    }

    for (std::size_t i = 0; i < w.blocks.size(); ++i) {
      const auto& b = w.blocks[i];
      run_layer(2 * i, b.a, x_, t_, skip_kind::none, nullptr);
      if (b.down()) {
        run_layer(2 * i + 1, b.b, t_, u_, skip_kind::bias_only, nullptr);
        add_pooled_skip(u_, x_, y_);
      } else {
        run_layer(2 * i + 1, b.b, t_, y_, skip_kind::identity, &x_);
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

  /// Residual-block convolution `index`, direct or Winograd as layer_tile() says.
  void run_layer(std::size_t index, const conv& cv, const tensor& in, tensor& out, skip_kind kind,
                 const tensor* skip_src) {
    const int m = layer_tile(index, in.n);
    if (m == 0) {
      run_conv(cv, in, out, kind, skip_src);
      return;
    }
    const auto& lf = (*filters_)[index];
    if (in.c != cv.in) throw std::logic_error("fast_encoder: channel count mismatch");
    out.resize(in.n, in.h, in.w, cv.out);
    const float* skip = nullptr;
    if (kind == skip_kind::identity) {
      if (skip_src->c != cv.out || skip_src->h != in.h || skip_src->w != in.w) {
        throw std::logic_error("fast_encoder: residual shape mismatch");
      }
      skip = skip_src->data.data();
    }
    winograd_conv(path_, m == 2 ? lf.f2 : lf.f4, cv.bias.data(), in.data.data(), in.n, in.h, in.w, skip,
                  kind != skip_kind::bias_only, out.data.data(), winograd_);
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
        im2col(cv, in, oh, ow, r0, nr, panel_.data());
        a = panel_.data();
      }
      float* c = out.data.data() + r0 * nf;
      gemm(path_, nr, nf, k, a, k, cv.weights.data(), c, nf);
      epilogue(cv, c, r0, nr, oh, ow, kind, skip_src);
    }
  }

  std::shared_ptr<const encoder_weights> weights_;
  std::shared_ptr<const std::vector<layer_filters>> filters_;  // shared by copies, like the weights
  simd_level path_ = simd_level::portable;
  convolution convolution_ = convolution::automatic;
  tile_rule rule_ = &winograd_tile;
  // Per-instance scratch, reused between calls.
  tensor input_, stem_, x_, t_, u_, y_, layer_in_, layer_out_;
  std::vector<float> panel_, features_, result_;
  winograd_scratch winograd_;
};

}  // namespace faceapp::detail
