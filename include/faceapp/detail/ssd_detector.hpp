// faceapp: the cnn face detector, face-api.js's ssd_mobilenetv1, on faceapp's own kernels.
//
// The network (trained on WIDER FACE, weights from the npm package @vladmandic/face-api, converted at build time
// by tools/convert_face_api.cpp) is MobileNetV1 at 512x512 followed by SSD heads:
//  - a 3x3/2 convolution to 32 channels, then 13 pairs of depthwise 3x3 convolution (batch norm, ReLU6) and
//    pointwise 1x1 convolution (bias, ReLU6), stride 2 at pairs 2, 4, 6 and 12: 256x256x32 down to 16x16x1024;
//  - four more pairs of 1x1 and 3x3/2 convolutions (8x8, 4x4, 2x2, 1x1 feature maps);
//  - six box predictors (1x1 convolutions) on the outputs of pair 11 (32x32, 3 anchors per cell), pair 13 (16x16)
//    and the four extra maps (6 anchors per cell): 5118 anchors, whose boxes are stored in the weights;
//  - box decoding with variances 10/10/5/5, a sigmoid on the face logit, and face-api.js's greedy non-maximum
//    suppression at IoU 0.5.
// Convolutions use TensorFlow's 'same' padding, which at stride 2 on an even size pads only the bottom and right.
// Batch norm is folded into the depthwise weights (w' = w * gamma / sqrt(var + eps), b' = beta - mean * that).
// Activations are NHWC; 1x1 convolutions are one GEMM each (detail/gemm.hpp), 3x3 dense ones im2col + GEMM, and
// the depthwise ones a kernel of their own with the same run-time dispatch (AVX-512, AVX2 + FMA, portable).
// By default everything runs on the calling thread: give each thread its own engine (copies share the weights).
// set_threads(n) splits each layer's rows over n threads for one image at a time (what detect does off a pool).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "faceapp/detail/cpu_features.hpp"

#if FACEAPP_X86_SIMD
#include <immintrin.h>
#endif
#include "faceapp/detail/gemm.hpp"

namespace faceapp::detail::ssd {

/// Side of the square the network sees.
inline constexpr int input_size = 512;
/// Number of anchors (3 * 32 * 32 + 6 * (16 * 16 + 8 * 8 + 4 * 4 + 2 * 2 + 1)).
inline constexpr int anchor_count = 5118;
/// face-api.js's batch-norm epsilon (0.001 as a float).
inline constexpr double batch_norm_epsilon = 0.0010000000474974513;

// ---------------------------------------------------------------------------------------------------------------
// The weight file: which tensors, with which shapes, and how they are stored.

/// A named tensor of the weight file (face-api.js's names and TensorFlow's layouts: conv filters [kh][kw][in][out]).
struct tensor_spec {
  std::string name;
  std::vector<long> shape;
};

/// Input and output channels of MobileNetV1's pairs 1..13.
inline constexpr std::array<std::array<int, 2>, 13> mobilenet_channels{{{32, 64},
                                                                         {64, 128},
                                                                         {128, 128},
                                                                         {128, 256},
                                                                         {256, 256},
                                                                         {256, 512},
                                                                         {512, 512},
                                                                         {512, 512},
                                                                         {512, 512},
                                                                         {512, 512},
                                                                         {512, 512},
                                                                         {512, 1024},
                                                                         {1024, 1024}}};
/// The stride of the depthwise convolution of pair i (1-based), as face-api.js's getStridesForLayerIdx.
[[nodiscard]] constexpr int mobilenet_stride(int pair) noexcept {
  return pair == 2 || pair == 4 || pair == 6 || pair == 12 ? 2 : 1;
}
/// The extra feature layers after MobileNetV1: kernel size, input and output channels (stride 2 where 3x3).
inline constexpr std::array<std::array<int, 3>, 8> prediction_convs{{{1, 1024, 256},
                                                                      {3, 256, 512},
                                                                      {1, 512, 128},
                                                                      {3, 128, 256},
                                                                      {1, 256, 128},
                                                                      {3, 128, 256},
                                                                      {1, 256, 64},
                                                                      {3, 64, 128}}};
/// Input channels and anchors per cell of the six box predictors.
inline constexpr std::array<std::array<int, 2>, 6> box_predictors{{{512, 3},
                                                                    {1024, 6},
                                                                    {512, 6},
                                                                    {256, 6},
                                                                    {256, 6},
                                                                    {128, 6}}};

/// Every tensor the network reads, in the order the weight file stores them.
inline std::vector<tensor_spec> weight_schema() {
  std::vector<tensor_spec> s;
  s.push_back({"MobilenetV1/Conv2d_0_pointwise/weights", {3, 3, 3, 32}});
  s.push_back({"MobilenetV1/Conv2d_0_pointwise/convolution_bn_offset", {32}});
  for (int i = 1; i <= 13; ++i) {
    const long in = mobilenet_channels[static_cast<std::size_t>(i - 1)][0];
    const long out = mobilenet_channels[static_cast<std::size_t>(i - 1)][1];
    const std::string dw = "MobilenetV1/Conv2d_" + std::to_string(i) + "_depthwise/";
    const std::string pw = "MobilenetV1/Conv2d_" + std::to_string(i) + "_pointwise/";
    s.push_back({dw + "depthwise_weights", {3, 3, in, 1}});
    for (const char* p : {"gamma", "beta", "moving_mean", "moving_variance"}) s.push_back({dw + "BatchNorm/" + p, {in}});
    s.push_back({pw + "weights", {1, 1, in, out}});
    s.push_back({pw + "convolution_bn_offset", {out}});
  }
  for (std::size_t i = 0; i < prediction_convs.size(); ++i) {
    const auto& [k, in, out] = prediction_convs[i];
    const std::string p = "Prediction/Conv2d_" + std::to_string(i) + "_pointwise/";
    s.push_back({p + "weights", {k, k, in, out}});
    s.push_back({p + "convolution_bn_offset", {out}});
  }
  for (std::size_t i = 0; i < box_predictors.size(); ++i) {
    const auto& [in, anchors] = box_predictors[i];
    const std::string p = "Prediction/BoxPredictor_" + std::to_string(i) + "/";
    s.push_back({p + "BoxEncodingPredictor/weights", {1, 1, in, 4L * anchors}});
    s.push_back({p + "BoxEncodingPredictor/biases", {4L * anchors}});
    s.push_back({p + "ClassPredictor/weights", {1, 1, in, 3L * anchors}});
    s.push_back({p + "ClassPredictor/biases", {3L * anchors}});
  }
  s.push_back({"Output/extra_dim", {1, anchor_count, 4}});
  return s;
}

/// First line of the weight file; the tensors of weight_schema() follow, each as
/// u32 name length, name, u32 rank, u32 dims[rank], float32 values (little-endian).
inline constexpr std::string_view file_magic = "faceapp ssd_mobilenetv1 1\n";

using tensor_map = std::map<std::string, std::vector<float>>;

/// Writes `tensors` (exactly the schema's, with its shapes) as a weight file.
inline void write_weight_file(const std::filesystem::path& path, const tensor_map& tensors) {
  static_assert(std::endian::native == std::endian::little, "the weight file is little-endian");
  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error("cannot write " + path.string());
  out.write(file_magic.data(), static_cast<std::streamsize>(file_magic.size()));
  const auto put32 = [&](std::uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
  for (const auto& spec : weight_schema()) {
    const auto it = tensors.find(spec.name);
    if (it == tensors.end()) throw std::runtime_error("no tensor " + spec.name + " to write");
    long count = 1;
    for (const long d : spec.shape) count *= d;
    if (it->second.size() != static_cast<std::size_t>(count)) throw std::runtime_error(spec.name + ": wrong size");
    put32(static_cast<std::uint32_t>(spec.name.size()));
    out.write(spec.name.data(), static_cast<std::streamsize>(spec.name.size()));
    put32(static_cast<std::uint32_t>(spec.shape.size()));
    for (const long d : spec.shape) put32(static_cast<std::uint32_t>(d));
    out.write(reinterpret_cast<const char*>(it->second.data()), static_cast<std::streamsize>(count * 4));
  }
  if (!out) throw std::runtime_error("writing " + path.string() + " failed");
}

/// Reads a weight file, checking every name and shape against the schema.
inline tensor_map read_weight_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  const std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::size_t at = 0;
  const auto need = [&](std::size_t n) {
    if (at + n > bytes.size()) throw std::runtime_error(path.string() + " is truncated");
  };
  const auto get32 = [&] {
    need(4);
    std::uint32_t v = 0;
    std::memcpy(&v, bytes.data() + at, 4);
    at += 4;
    return v;
  };
  need(file_magic.size());
  if (std::string_view(bytes.data(), file_magic.size()) != file_magic) {
    throw std::runtime_error(path.string() + " is not a faceapp ssd_mobilenetv1 weight file");
  }
  at = file_magic.size();
  tensor_map tensors;
  for (const auto& spec : weight_schema()) {
    const std::uint32_t len = get32();
    need(len);
    const std::string name(bytes.data() + at, len);
    at += len;
    if (name != spec.name) throw std::runtime_error(path.string() + ": found tensor " + name + ", expected " + spec.name);
    const std::uint32_t rank = get32();
    if (rank != spec.shape.size()) throw std::runtime_error(path.string() + ": tensor " + name + " has a wrong rank");
    long count = 1;
    for (std::uint32_t r = 0; r < rank; ++r) {
      const long d = static_cast<long>(get32());
      if (d != spec.shape[r]) throw std::runtime_error(path.string() + ": tensor " + name + " has a wrong shape");
      count *= d;
    }
    const std::size_t n = static_cast<std::size_t>(count);
    need(n * 4);
    std::vector<float> values(n);
    std::memcpy(values.data(), bytes.data() + at, n * 4);
    at += n * 4;
    tensors.emplace(name, std::move(values));
  }
  if (at != bytes.size()) throw std::runtime_error(path.string() + " has trailing bytes");
  return tensors;
}

// ---------------------------------------------------------------------------------------------------------------
// Folded, packed weights.

/// A dense convolution (1x1 or 3x3) with a bias, weights packed for gemm() with the output channels padded to a
/// multiple of 32 (the padding columns are zero and never read back).
struct dense_conv {
  int k = 1, stride = 1, in = 0, out = 0, out_padded = 0;
  std::vector<float> weights;
  std::vector<float> bias;  // out_padded
};

/// A depthwise 3x3 convolution with batch norm folded in: weights [tap][channel], one bias per channel.
struct depthwise_conv {
  int channels = 0, stride = 1;
  std::vector<float> weights;
  std::vector<float> bias;
};

struct weights {
  dense_conv stem;
  std::array<depthwise_conv, 13> depthwise;
  std::array<dense_conv, 13> pointwise;
  std::array<dense_conv, 8> extra;
  std::array<dense_conv, 6> heads;  // box encodings (4 per anchor) then class logits (3 per anchor)
  std::vector<float> anchors;       // anchor_count x (ymin, xmin, ymax, xmax)
};

inline int round_up32(int n) { return (n + 31) / 32 * 32; }

/// `filters` [k][k][in][out] (+ `bias`) -> a dense_conv; columns beyond `out` are zero.
inline dense_conv make_dense(int k, int stride, int in, int out, const std::vector<float>& filters,
                             const std::vector<float>& bias) {
  dense_conv c;
  c.k = k, c.stride = stride, c.in = in, c.out = out, c.out_padded = round_up32(out);
  const std::size_t rows = static_cast<std::size_t>(k * k * in);
  const std::size_t np = static_cast<std::size_t>(c.out_padded);
  std::vector<float> b(rows * np, 0.0F);
  for (std::size_t r = 0; r < rows; ++r) {
    std::copy_n(filters.data() + r * static_cast<std::size_t>(out), out, b.data() + r * np);
  }
  c.weights = pack_gemm_panels(b, rows, np);
  c.bias.assign(np, 0.0F);
  std::copy(bias.begin(), bias.end(), c.bias.begin());
  return c;
}

/// Folds and packs the tensors of a weight file.
inline std::shared_ptr<const weights> fold(const tensor_map& t) {
  const auto get = [&](const std::string& name) -> const std::vector<float>& {
    const auto it = t.find(name);
    if (it == t.end()) throw std::runtime_error("ssd_mobilenetv1: no tensor " + name);
    return it->second;
  };
  auto w = std::make_shared<weights>();
  w->stem = make_dense(3, 2, 3, 32, get("MobilenetV1/Conv2d_0_pointwise/weights"),
                       get("MobilenetV1/Conv2d_0_pointwise/convolution_bn_offset"));
  for (int i = 1; i <= 13; ++i) {
    const auto idx = static_cast<std::size_t>(i - 1);
    const int in = mobilenet_channels[idx][0];
    const int out = mobilenet_channels[idx][1];
    const std::string dw = "MobilenetV1/Conv2d_" + std::to_string(i) + "_depthwise/";
    const std::string pw = "MobilenetV1/Conv2d_" + std::to_string(i) + "_pointwise/";
    const auto& filters = get(dw + "depthwise_weights");
    const auto& gamma = get(dw + "BatchNorm/gamma");
    const auto& beta = get(dw + "BatchNorm/beta");
    const auto& mean = get(dw + "BatchNorm/moving_mean");
    const auto& var = get(dw + "BatchNorm/moving_variance");
    auto& d = w->depthwise[idx];
    d.channels = in;
    d.stride = mobilenet_stride(i);
    d.weights.resize(9 * static_cast<std::size_t>(in));
    d.bias.resize(static_cast<std::size_t>(in));
    for (std::size_t c = 0; c < static_cast<std::size_t>(in); ++c) {
      const double scale = static_cast<double>(gamma[c]) / std::sqrt(static_cast<double>(var[c]) + batch_norm_epsilon);
      for (std::size_t tap = 0; tap < 9; ++tap) {
        d.weights[tap * static_cast<std::size_t>(in) + c] =
            static_cast<float>(filters[tap * static_cast<std::size_t>(in) + c] * scale);
      }
      d.bias[c] = static_cast<float>(beta[c] - mean[c] * scale);
    }
    w->pointwise[idx] = make_dense(1, 1, in, out, get(pw + "weights"), get(pw + "convolution_bn_offset"));
  }
  for (std::size_t i = 0; i < prediction_convs.size(); ++i) {
    const auto& [k, in, out] = prediction_convs[i];
    const std::string p = "Prediction/Conv2d_" + std::to_string(i) + "_pointwise/";
    w->extra[i] = make_dense(k, k == 3 ? 2 : 1, in, out, get(p + "weights"), get(p + "convolution_bn_offset"));
  }
  for (std::size_t i = 0; i < box_predictors.size(); ++i) {
    const auto& [in, anchors] = box_predictors[i];
    const std::string p = "Prediction/BoxPredictor_" + std::to_string(i) + "/";
    const auto& bw = get(p + "BoxEncodingPredictor/weights");
    const auto& bb = get(p + "BoxEncodingPredictor/biases");
    const auto& cw = get(p + "ClassPredictor/weights");
    const auto& cb = get(p + "ClassPredictor/biases");
    // One GEMM for both predictors: columns [0, 4A) box encodings, [4A, 7A) class logits.
    const std::size_t nb = 4 * static_cast<std::size_t>(anchors);
    const std::size_t nc = 3 * static_cast<std::size_t>(anchors);
    std::vector<float> filters(static_cast<std::size_t>(in) * (nb + nc));
    for (std::size_t r = 0; r < static_cast<std::size_t>(in); ++r) {
      std::copy_n(bw.data() + r * nb, nb, filters.data() + r * (nb + nc));
      std::copy_n(cw.data() + r * nc, nc, filters.data() + r * (nb + nc) + nb);
    }
    std::vector<float> bias(bb);
    bias.insert(bias.end(), cb.begin(), cb.end());
    w->heads[i] = make_dense(1, 1, in, static_cast<int>(nb + nc), filters, bias);
  }
  w->anchors = get("Output/extra_dim");
  return w;
}

// ---------------------------------------------------------------------------------------------------------------
// Kernels.

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

/// Output rows [y0, y1) of a depthwise 3x3 convolution + bias + ReLU6, NHWC, `c` channels (a multiple of 16).
/// Portable version; the SIMD ones below compute the same sums in the same order.
inline void depthwise_rows_portable(const float* in, int h, int w, int c, int stride, int pad_top, int pad_left,
                                    const float* wt, const float* bias, float* out, int ow, int y0, int y1) {
  const std::size_t cs = static_cast<std::size_t>(c);
  for (int oy = y0; oy < y1; ++oy) {
    for (int ox = 0; ox < ow; ++ox) {
      float* dst = out + (static_cast<std::size_t>(oy) * static_cast<std::size_t>(ow) + static_cast<std::size_t>(ox)) * cs;
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

#if FACEAPP_X86_SIMD
__attribute__((target("avx512f"))) inline void depthwise_rows_avx512(const float* in, int h, int w, int c, int stride,
                                                                     int pad_top, int pad_left, const float* wt,
                                                                     const float* bias, float* out, int ow, int y0,
                                                                     int y1) {
  const std::size_t cs = static_cast<std::size_t>(c);
  const __m512 zero = _mm512_setzero_ps();
  const __m512 six = _mm512_set1_ps(6.0F);
  for (int oy = y0; oy < y1; ++oy) {
    for (int ox = 0; ox < ow; ++ox) {
      float* dst = out + (static_cast<std::size_t>(oy) * static_cast<std::size_t>(ow) + static_cast<std::size_t>(ox)) * cs;
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
  }
}

__attribute__((target("avx2,fma"))) inline void depthwise_rows_avx2(const float* in, int h, int w, int c, int stride,
                                                                   int pad_top, int pad_left, const float* wt,
                                                                   const float* bias, float* out, int ow, int y0,
                                                                   int y1) {
  const std::size_t cs = static_cast<std::size_t>(c);
  const __m256 zero = _mm256_setzero_ps();
  const __m256 six = _mm256_set1_ps(6.0F);
  for (int oy = y0; oy < y1; ++oy) {
    for (int ox = 0; ox < ow; ++ox) {
      float* dst = out + (static_cast<std::size_t>(oy) * static_cast<std::size_t>(ow) + static_cast<std::size_t>(ox)) * cs;
      const float* src[9];
      const float* ker[9];
      const int taps = depthwise_taps(in, h, w, cs, stride, pad_top, pad_left, wt, oy, ox, src, ker);
      for (std::size_t ch = 0; ch < cs; ch += 8) {
        __m256 acc = _mm256_loadu_ps(bias + ch);
        for (int t = 0; t < taps; ++t) acc = _mm256_fmadd_ps(_mm256_loadu_ps(src[t] + ch), _mm256_loadu_ps(ker[t] + ch), acc);
        _mm256_storeu_ps(dst + ch, _mm256_min_ps(_mm256_max_ps(acc, zero), six));
      }
    }
  }
}
#endif

// ---------------------------------------------------------------------------------------------------------------
// The engine.

/// One anchor's network output: the face probability and the decoded box, relative to the padded square input
/// (ymin, xmin, ymax, xmax, unclipped), as face-api.js's outputLayer returns them.
struct raw_detection {
  float score = 0;
  std::array<float, 4> box{};
};

/// A detection in the pixels of the image the engine was given.
struct detection {
  float score = 0;
  double left = 0, top = 0, right = 0, bottom = 0;
};

/// Activations of one image, NHWC.
struct tensor {
  int h = 0, w = 0, c = 0;
  std::vector<float> data;
  void resize(int h_, int w_, int c_) {
    h = h_, w = w_, c = c_;
    data.resize(static_cast<std::size_t>(h) * static_cast<std::size_t>(w) * static_cast<std::size_t>(c));
  }
  [[nodiscard]] std::size_t pixels() const { return static_cast<std::size_t>(h) * static_cast<std::size_t>(w); }
};

/// The detector's forward pass. Not thread-safe (scratch memory); copies share the weights.
class engine {
 public:
  explicit engine(std::shared_ptr<const weights> w, simd_level level = best_simd_level())
      : weights_(std::move(w)), level_(level) {
    if (!simd_supported(level_)) throw std::invalid_argument("ssd_mobilenetv1: this CPU lacks the requested kernels");
  }
  engine(const engine& o) : weights_(o.weights_), level_(o.level_), threads_(o.threads_) {}
  engine& operator=(const engine& o) {
    weights_ = o.weights_;
    level_ = o.level_;
    threads_ = o.threads_;
    return *this;
  }
  engine(engine&&) noexcept = default;
  engine& operator=(engine&&) noexcept = default;
  ~engine() = default;

  [[nodiscard]] simd_level level() const noexcept { return level_; }

  /// The arithmetic of one forward pass (a multiply-add counts 2, padding columns not counted): what
  /// bench_detect divides by the CPU time of a pass to compare it with the FMA peak.
  [[nodiscard]] double forward_flops() const {
    const auto& w = *weights_;
    double flops = 0;
    int side = input_size;
    const auto dense_flops = [&](const dense_conv& cv, int in_side) {
      const int out_side = same(in_side, cv.k, cv.stride).out;
      flops += 2.0 * out_side * out_side * cv.k * cv.k * cv.in * cv.out;
      return out_side;
    };
    side = dense_flops(w.stem, side);
    int conv11 = 0;
    for (std::size_t i = 0; i < 13; ++i) {
      const int out_side = same(side, 3, w.depthwise[i].stride).out;
      flops += 2.0 * out_side * out_side * 9 * w.depthwise[i].channels;
      side = dense_flops(w.pointwise[i], out_side);
      if (i == 10) conv11 = side;
    }
    int sources[6] = {conv11, side, 0, 0, 0, 0};
    for (std::size_t e = 0; e < 8; e += 2) {
      side = dense_flops(w.extra[e + 1], dense_flops(w.extra[e], side));
      sources[2 + e / 2] = side;
    }
    for (std::size_t p = 0; p < 6; ++p) dense_flops(w.heads[p], sources[p]);
    return flops;
  }

  /// Threads each layer's rows are split over (1: only the calling thread). Results do not depend on it.
  void set_threads(unsigned n) noexcept { threads_ = std::max(1U, n); }
  [[nodiscard]] unsigned threads() const noexcept { return threads_; }

  /// The network's output for every anchor, for an 8-bit RGB image (rows of `width * 3` bytes, `stride` apart),
  /// preprocessed as face-api.js does: zero-padded at the bottom or right to a square, resized to 512x512 with
  /// TensorFlow's legacy bilinear resize (source = destination * in / out), scaled to [-1, 1].
  const std::vector<raw_detection>& run(const unsigned char* rgb, int width, int height, std::size_t stride) {
    preprocess(rgb, width, height, stride);
    forward();
    return raw_;
  }

  /// face-api.js's locateFaces: run(), then non-maximum suppression at IoU 0.5 among the anchors scoring above
  /// `min_confidence`, at most `max_results`, boxes clipped to the square and mapped to the image's pixels.
  std::vector<detection> detect(const unsigned char* rgb, int width, int height, std::size_t stride,
                                float min_confidence = 0.5F, int max_results = 100) {
    run(rgb, width, height, stride);
    const auto kept = non_max_suppression(raw_, max_results, 0.5, min_confidence);
    // face-api.js: the box relative to the square, times input / reshaped size, times the image size.
    const double side = std::max(width, height);
    const double rw = std::round(width * (input_size / side));
    const double rh = std::round(height * (input_size / side));
    const double pad_x = input_size / rw;
    const double pad_y = input_size / rh;
    std::vector<detection> out;
    for (const int i : kept) {
      const auto& b = raw_[static_cast<std::size_t>(i)].box;
      detection d;
      d.score = raw_[static_cast<std::size_t>(i)].score;
      d.top = std::max(0.0, static_cast<double>(b[0])) * pad_y * height;
      d.bottom = std::min(1.0, static_cast<double>(b[2])) * pad_y * height;
      d.left = std::max(0.0, static_cast<double>(b[1])) * pad_x * width;
      d.right = std::min(1.0, static_cast<double>(b[3])) * pad_x * width;
      out.push_back(d);
    }
    return out;
  }

  /// face-api.js's nonMaxSuppression: candidates above `score_threshold` by falling score; each is kept unless
  /// it overlaps a kept one by more than `iou_threshold`.
  static std::vector<int> non_max_suppression(const std::vector<raw_detection>& raw, int max_output,
                                              double iou_threshold, double score_threshold) {
    std::vector<int> candidates;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i].score > score_threshold) candidates.push_back(static_cast<int>(i));
    }
    std::stable_sort(candidates.begin(), candidates.end(), [&](int a, int b) {
      return raw[static_cast<std::size_t>(a)].score > raw[static_cast<std::size_t>(b)].score;
    });
    const std::size_t limit = std::min(static_cast<std::size_t>(std::max(max_output, 0)), raw.size());
    std::vector<int> selected;
    for (const int c : candidates) {
      if (selected.size() >= limit) break;
      bool keep = true;
      for (auto it = selected.rbegin(); it != selected.rend(); ++it) {
        if (iou(raw[static_cast<std::size_t>(c)].box, raw[static_cast<std::size_t>(*it)].box) > iou_threshold) {
          keep = false;
          break;
        }
      }
      if (keep) selected.push_back(c);
    }
    return selected;
  }

  static double iou(const std::array<float, 4>& a, const std::array<float, 4>& b) {
    const double ay0 = std::min(a[0], a[2]), ax0 = std::min(a[1], a[3]), ay1 = std::max(a[0], a[2]),
                 ax1 = std::max(a[1], a[3]);
    const double by0 = std::min(b[0], b[2]), bx0 = std::min(b[1], b[3]), by1 = std::max(b[0], b[2]),
                 bx1 = std::max(b[1], b[3]);
    const double area_a = (ay1 - ay0) * (ax1 - ax0);
    const double area_b = (by1 - by0) * (bx1 - bx0);
    if (area_a <= 0 || area_b <= 0) return 0.0;
    const double inter = std::max(std::min(ay1, by1) - std::max(ay0, by0), 0.0) *
                         std::max(std::min(ax1, bx1) - std::max(ax0, bx0), 0.0);
    return inter / (area_a + area_b - inter);
  }

 private:
  void preprocess(const unsigned char* rgb, int width, int height, std::size_t stride) {
    if (width <= 0 || height <= 0) throw std::invalid_argument("ssd_mobilenetv1: empty image");
    const int side = std::max(width, height);
    input_.resize(input_size, input_size, 3);
    const double ratio = static_cast<double>(side) / input_size;
    const auto pixel = [&](int y, int x, int ch) -> double {
      return y < height && x < width ? rgb[static_cast<std::size_t>(y) * stride + static_cast<std::size_t>(x) * 3 +
                                           static_cast<std::size_t>(ch)]
                                     : 0.0;
    };
    float* dst = input_.data.data();
    for (int y = 0; y < input_size; ++y) {
      const double sy = ratio * y;
      const int y0 = static_cast<int>(std::floor(sy));
      const int y1 = std::min(side - 1, static_cast<int>(std::ceil(sy)));
      const double fy = sy - y0;
      for (int x = 0; x < input_size; ++x) {
        const double sx = ratio * x;
        const int x0 = static_cast<int>(std::floor(sx));
        const int x1 = std::min(side - 1, static_cast<int>(std::ceil(sx)));
        const double fx = sx - x0;
        for (int ch = 0; ch < 3; ++ch) {
          const double tl = pixel(y0, x0, ch), tr = pixel(y0, x1, ch);
          const double bl = pixel(y1, x0, ch), br = pixel(y1, x1, ch);
          const double top = tl + (tr - tl) * fx;
          const double bottom = bl + (br - bl) * fx;
          const auto v = static_cast<float>(top + (bottom - top) * fy);
          // tf.sub(tf.div(x, 127.5), 1), each op rounded to float32.
          const auto scaled = static_cast<float>(static_cast<double>(v) / 127.5);
          *dst++ = static_cast<float>(static_cast<double>(scaled) - 1.0);
        }
      }
    }
  }

  void forward() {
    const auto& w = *weights_;
    dense(w.stem, input_, a_, true);
    tensor* x = &a_;
    tensor* y = &b_;
    for (std::size_t i = 0; i < 13; ++i) {
      depthwise(w.depthwise[i], *x, t_);
      dense(w.pointwise[i], t_, *y, true);
      std::swap(x, y);
      if (i == 10) conv11_ = *x;
    }
    // x: 16x16x1024.
    dense(w.extra[0], *x, e_[0], true);
    dense(w.extra[1], e_[0], f_[0], true);
    dense(w.extra[2], f_[0], e_[1], true);
    dense(w.extra[3], e_[1], f_[1], true);
    dense(w.extra[4], f_[1], e_[2], true);
    dense(w.extra[5], e_[2], f_[2], true);
    dense(w.extra[6], f_[2], e_[3], true);
    dense(w.extra[7], e_[3], f_[3], true);

    raw_.resize(anchor_count);
    std::size_t anchor = 0;
    const tensor* sources[6] = {&conv11_, x, &f_[0], &f_[1], &f_[2], &f_[3]};
    for (std::size_t p = 0; p < 6; ++p) {
      const auto& head = w.heads[p];
      dense(head, *sources[p], head_out_, false);
      const std::size_t a_per_cell = static_cast<std::size_t>(box_predictors[p][1]);
      const std::size_t np = static_cast<std::size_t>(head.out_padded);
      for (std::size_t px = 0; px < head_out_.pixels(); ++px) {
        const float* row = head_out_.data.data() + px * np;
        for (std::size_t a = 0; a < a_per_cell; ++a, ++anchor) {
          if (anchor >= static_cast<std::size_t>(anchor_count)) throw std::logic_error("ssd_mobilenetv1: anchor count");
          decode(row + 4 * a, row[4 * a_per_cell + 3 * a + 1], w.anchors.data() + 4 * anchor, raw_[anchor]);
        }
      }
    }
    if (anchor != static_cast<std::size_t>(anchor_count)) throw std::logic_error("ssd_mobilenetv1: anchor count");
  }

  /// face-api.js's decodeBoxesLayer for one anchor, and the sigmoid of its face logit.
  static void decode(const float* e, float logit, const float* anchor, raw_detection& out) {
    const double size0 = static_cast<double>(anchor[2]) - anchor[0];
    const double size1 = static_cast<double>(anchor[3]) - anchor[1];
    const double center0 = anchor[0] + size0 / 2;
    const double center1 = anchor[1] + size1 / 2;
    const double half0 = std::exp(e[2] / 5.0) * size0 / 2;
    const double mid0 = e[0] / 10.0 * size0 + center0;
    const double half1 = std::exp(e[3] / 5.0) * size1 / 2;
    const double mid1 = e[1] / 10.0 * size1 + center1;
    out.box = {static_cast<float>(mid0 - half0), static_cast<float>(mid1 - half1), static_cast<float>(mid0 + half0),
               static_cast<float>(mid1 + half1)};
    out.score = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(logit))));
  }

  /// out = conv(in) + bias, then ReLU6 when `relu6`; 'same' padding.
  void dense(const dense_conv& cv, const tensor& in, tensor& out, bool relu6) {
    if (in.c != cv.in) throw std::logic_error("ssd_mobilenetv1: channel count mismatch");
    const auto py = same(in.h, cv.k, cv.stride);
    const auto px = same(in.w, cv.k, cv.stride);
    out.resize(py.out, px.out, cv.out_padded);
    const std::size_t k = static_cast<std::size_t>(cv.k * cv.k * cv.in);
    const std::size_t rows = out.pixels();
    const std::size_t np = static_cast<std::size_t>(cv.out_padded);
    const unsigned workers = rows >= 256 ? threads_ : 1U;
    const std::size_t chunk = (rows + workers - 1) / workers;
    const std::size_t block_rows =
        cv.k == 1 ? chunk : std::min(chunk, std::max<std::size_t>(64, panel_floats / k));
    if (panels_.size() < workers) panels_.resize(workers);
    parallel(workers, [&](unsigned t) {
      const std::size_t first = std::min(rows, t * chunk);
      const std::size_t last = std::min(rows, first + chunk);
      for (std::size_t r0 = first; r0 < last; r0 += block_rows) {
        const std::size_t nr = std::min(block_rows, last - r0);
        const float* a = in.data.data() + r0 * k;
        if (cv.k != 1) {
          im2col(cv, in, py, px, r0, nr, panels_[t]);
          a = panels_[t].data();
        }
        float* c = out.data.data() + r0 * np;
        gemm(level_, nr, np, k, a, k, cv.weights.data(), c, np);
        const float* bias = cv.bias.data();
        for (std::size_t r = 0; r < nr; ++r) {
          float* row = c + r * np;
          if (relu6) {
            for (std::size_t f = 0; f < np; ++f) row[f] = std::min(std::max(row[f] + bias[f], 0.0F), 6.0F);
          } else {
            for (std::size_t f = 0; f < np; ++f) row[f] += bias[f];
          }
        }
      }
    });
  }

  /// Runs f(0) .. f(n - 1), f(0) on the calling thread and the others on threads of their own.
  template <class F>
  static void parallel(unsigned n, F&& f) {
    if (n <= 1) {
      f(0U);
      return;
    }
    std::vector<std::thread> helpers;
    helpers.reserve(n - 1);
    for (unsigned t = 1; t < n; ++t) helpers.emplace_back([&f, t] { f(t); });
    f(0U);
    for (auto& h : helpers) h.join();
  }

  static void im2col(const dense_conv& cv, const tensor& in, same_padding py, same_padding px, std::size_t r0,
                     std::size_t nr, std::vector<float>& panel) {
    const std::size_t cin = static_cast<std::size_t>(in.c);
    panel.resize(nr * static_cast<std::size_t>(cv.k * cv.k) * cin);
    float* dst = panel.data();
    for (std::size_t r = r0; r < r0 + nr; ++r) {
      const int oy = static_cast<int>(r / static_cast<std::size_t>(px.out));
      const int ox = static_cast<int>(r % static_cast<std::size_t>(px.out));
      for (int ky = 0; ky < cv.k; ++ky) {
        const int iy = oy * cv.stride - py.before + ky;
        for (int kx = 0; kx < cv.k; ++kx) {
          const int ix = ox * cv.stride - px.before + kx;
          if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w) {
            dst = std::fill_n(dst, cin, 0.0F);
          } else {
            dst = std::copy_n(in.data.data() + (static_cast<std::size_t>(iy) * static_cast<std::size_t>(in.w) +
                                                static_cast<std::size_t>(ix)) * cin,
                              cin, dst);
          }
        }
      }
    }
  }

  void depthwise(const depthwise_conv& dw, const tensor& in, tensor& out) {
    if (in.c != dw.channels || dw.channels % 16 != 0) throw std::logic_error("ssd_mobilenetv1: depthwise channels");
    const auto py = same(in.h, 3, dw.stride);
    const auto px = same(in.w, 3, dw.stride);
    out.resize(py.out, px.out, in.c);
    const float* src = in.data.data();
    float* dst = out.data.data();
    const unsigned workers = py.out >= 16 ? threads_ : 1U;
    const int chunk = (py.out + static_cast<int>(workers) - 1) / static_cast<int>(workers);
    parallel(workers, [&](unsigned t) {
      const int y0 = std::min(py.out, static_cast<int>(t) * chunk);
      const int y1 = std::min(py.out, y0 + chunk);
#if FACEAPP_X86_SIMD
      if (level_ == simd_level::avx512) {
        depthwise_rows_avx512(src, in.h, in.w, in.c, dw.stride, py.before, px.before, dw.weights.data(),
                              dw.bias.data(), dst, px.out, y0, y1);
        return;
      }
      if (level_ == simd_level::avx2) {
        depthwise_rows_avx2(src, in.h, in.w, in.c, dw.stride, py.before, px.before, dw.weights.data(),
                            dw.bias.data(), dst, px.out, y0, y1);
        return;
      }
#endif
      depthwise_rows_portable(src, in.h, in.w, in.c, dw.stride, py.before, px.before, dw.weights.data(),
                              dw.bias.data(), dst, px.out, y0, y1);
    });
  }

  // Floats of im2col panel per GEMM call: about half of a 1 MB L2.
  static constexpr std::size_t panel_floats = 64 * 1024;

  std::shared_ptr<const weights> weights_;
  simd_level level_ = simd_level::portable;
  tensor input_, a_, b_, t_, conv11_, head_out_;
  std::array<tensor, 4> e_, f_;
  std::vector<std::vector<float>> panels_;  // one im2col panel per thread
  std::vector<raw_detection> raw_;
  unsigned threads_ = 1;
};

}  // namespace faceapp::detail::ssd
