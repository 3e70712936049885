// faceapp: the weights of the cnn face detector (face-api.js's ssd_mobilenetv1, detail/ssd_detector.hpp):
// which tensors the network reads, with which shapes; the weight file tools/convert_face_api.cpp writes and the
// detector reads, checked against that schema; and the weights folded (batch norm into the depthwise filters)
// and packed for the GEMM.
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
#include <string_view>
#include <utility>
#include <vector>

#include "faceapp/detail/gemm.hpp"

namespace faceapp::detail::ssd {

/// Side of the square the network sees in face-api.js (and engine::run's default).
inline constexpr int input_size = 512;
/// The smallest square engine::run takes (a smaller pass, for a smaller photo: see grid_anchors).
inline constexpr int min_input_size = 32;
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

/// The sides of the six maps the box predictors read for a square input of `side`: pair 11's map is side / 16
/// and each stride-2 layer after it halves it, rounding up as 'same' padding does: 32 16 8 4 2 1 at 512.
[[nodiscard]] inline std::array<int, 6> predictor_map_sides(int side) {
  std::array<int, 6> out{};
  int n = (side + 15) / 16;
  for (auto& o : out) {
    o = n;
    n = (n + 1) / 2;
  }
  return out;
}

/// The anchors of a square input of `side`, given face-api.js's for 512 (`stored`, anchor_count boxes). Those are
/// TensorFlow's grid anchors: on each predictor's n x n map, centres at ((y + 0.5) / n, (x + 0.5) / n) of the
/// square and the same boxes in every cell, from 0.1 of the square at pair 11 to 0.95 on the 1x1 map. The
/// network is convolutional, so a smaller input gives smaller maps whose cells cover the same pixels; their
/// boxes keep their size in pixels (512 / side times as large a share of the square), so each map's boxes stay
/// the faces its features were trained to box. Cell-major, as the heads emit them.
[[nodiscard]] inline std::vector<float> grid_anchors(const std::vector<float>& stored, int side) {
  if (stored.size() != static_cast<std::size_t>(anchor_count) * 4) throw std::logic_error("ssd: anchor count");
  const auto at_512 = predictor_map_sides(input_size);
  const auto maps = predictor_map_sides(side);
  const double scale = static_cast<double>(input_size) / side;
  std::vector<float> out;
  std::size_t first = 0;  // the stored anchors of map p's first cell
  for (std::size_t p = 0; p < maps.size(); ++p) {
    const auto boxes = static_cast<std::size_t>(box_predictors[p][1]);
    const int n = maps[p];
    for (int y = 0; y < n; ++y) {
      for (int x = 0; x < n; ++x) {
        const double cy = (y + 0.5) / n, cx = (x + 0.5) / n;
        for (std::size_t b = 0; b < boxes; ++b) {
          const float* a = stored.data() + 4 * (first + b);
          const double half_h = (static_cast<double>(a[2]) - a[0]) * scale / 2;
          const double half_w = (static_cast<double>(a[3]) - a[1]) * scale / 2;
          for (const double v : {cy - half_h, cx - half_w, cy + half_h, cx + half_w}) {
            out.push_back(static_cast<float>(v));
          }
        }
      }
    }
    first += static_cast<std::size_t>(at_512[p]) * static_cast<std::size_t>(at_512[p]) * boxes;
  }
  return out;
}

}  // namespace faceapp::detail::ssd
