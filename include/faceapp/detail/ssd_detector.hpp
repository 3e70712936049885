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
// the depthwise ones a kernel of their own with the same run-time dispatch (AVX-512, AVX2 + FMA, portable),
// fused with the pointwise convolution that follows (separable(): row bands of the depthwise output, in L2).
// By default everything runs on the calling thread: give each thread its own engine (copies share the weights).
// set_threads(n) splits each layer's rows over n threads for one image at a time (what detect does off a pool).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "faceapp/detail/cpu_features.hpp"
#include "faceapp/detail/gemm.hpp"
#include "faceapp/detail/ssd_kernels.hpp"   // the depthwise convolution
#include "faceapp/detail/ssd_weights.hpp"   // the weight file, the folded and packed weights

namespace faceapp::detail::ssd {

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

/// Activations of one image, NHWC. The buffer only grows: every layer writes all of its output, so a pass
/// neither frees nor zero-fills the tensors the previous pass left smaller (16 MB of memset a pass, else).
struct tensor {
  int h = 0, w = 0, c = 0;
  std::vector<float> data;  // at least h * w * c floats
  void resize(int h_, int w_, int c_) {
    h = h_, w = w_, c = c_;
    const std::size_t n = static_cast<std::size_t>(h) * static_cast<std::size_t>(w) * static_cast<std::size_t>(c);
    if (data.size() < n) data.resize(n);
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

  /// The arithmetic of one forward pass at `input` (a multiply-add counts 2, padding columns not counted): what
  /// bench_detect divides by the CPU time of a pass to compare it with the FMA peak.
  [[nodiscard]] double forward_flops(int input = input_size) const {
    const auto& w = *weights_;
    double flops = 0;
    int side = input;
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
  /// preprocessed as face-api.js does: zero-padded at the bottom or right to a square, resized to `side` x `side`
  /// (face-api.js: 512) with TensorFlow's legacy bilinear resize (source = destination * in / out), scaled to
  /// [-1, 1]. A smaller side, from min_input_size up, runs a smaller pass with the anchors grid_anchors gives it
  /// (a photo smaller than 512 seen at its own size: (side / 512)^2 of the arithmetic).
  const std::vector<raw_detection>& run(const unsigned char* rgb, int width, int height, std::size_t stride,
                                        int side = input_size) {
    if (side < min_input_size || side > input_size) {
      throw std::invalid_argument("ssd_mobilenetv1: input side " + std::to_string(side) + " outside [" +
                                  std::to_string(min_input_size) + ", " + std::to_string(input_size) + "]");
    }
    preprocess(rgb, width, height, stride, side);
    forward(side);
    return raw_;
  }

  /// face-api.js's locateFaces: run() (at `side`), then non-maximum suppression at IoU 0.5 among the anchors
  /// scoring above `min_confidence`, at most `max_results`, boxes clipped to the square and mapped to the image's
  /// pixels.
  std::vector<detection> detect(const unsigned char* rgb, int width, int height, std::size_t stride,
                                float min_confidence = 0.5F, int max_results = 100, int side = input_size) {
    run(rgb, width, height, stride, side);
    const auto kept = non_max_suppression(raw_, max_results, 0.5, min_confidence);
    // face-api.js: the box relative to the square, times input / reshaped size, times the image size.
    const double longer = std::max(width, height);
    const double rw = std::round(width * (side / longer));
    const double rh = std::round(height * (side / longer));
    const double pad_x = side / rw;
    const double pad_y = side / rh;
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
  /// face-api.js's preprocessing (see run()). Each source row is interpolated across once into a row of doubles
  /// (the columns' taps and weights computed once a pass), and each output row blends the two it falls between:
  /// the same double operations on the same values as the bilinear formula at every pixel, so the same floats.
  void preprocess(const unsigned char* rgb, int width, int height, std::size_t stride, int out_side) {
    if (width <= 0 || height <= 0) throw std::invalid_argument("ssd_mobilenetv1: empty image");
    const int side = std::max(width, height);
    input_.resize(out_side, out_side, 3);
    const double ratio = static_cast<double>(side) / out_side;
    columns_.resize(static_cast<std::size_t>(out_side));
    for (int x = 0; x < out_side; ++x) {
      const double sx = ratio * x;
      auto& col = columns_[static_cast<std::size_t>(x)];
      col.x0 = static_cast<int>(std::floor(sx));
      col.x1 = std::min(side - 1, static_cast<int>(std::ceil(sx)));
      col.fx = sx - col.x0;
    }
    const std::size_t row_values = static_cast<std::size_t>(out_side) * 3;
    // Source row y interpolated across (zero below the image and right of it, the square's padding).
    const auto across = [&](int y, std::vector<double>& out) {
      out.assign(row_values, 0.0);
      if (y >= height) return;
      const unsigned char* src = rgb + static_cast<std::size_t>(y) * stride;
      const auto at = [&](int x, std::size_t ch) -> double {
        return x < width ? src[static_cast<std::size_t>(x) * 3 + ch] : 0.0;
      };
      for (std::size_t x = 0; x < static_cast<std::size_t>(out_side); ++x) {
        const auto& col = columns_[x];
        for (std::size_t ch = 0; ch < 3; ++ch) {
          const double l = at(col.x0, ch), r = at(col.x1, ch);
          out[x * 3 + ch] = l + (r - l) * col.fx;
        }
      }
    };
    int top_row = -1, bottom_row = -1;  // the source rows top_ and bottom_ hold
    float* dst = input_.data.data();
    for (int y = 0; y < out_side; ++y) {
      const double sy = ratio * y;
      const int y0 = static_cast<int>(std::floor(sy));
      const int y1 = std::min(side - 1, static_cast<int>(std::ceil(sy)));
      const double fy = sy - y0;
      if (y0 != top_row) {
        if (y0 == bottom_row) {
          std::swap(top_, bottom_);
          std::swap(top_row, bottom_row);
        } else {
          across(y0, top_);
          top_row = y0;
        }
      }
      if (y1 != bottom_row) {
        if (y1 == top_row) {
          bottom_ = top_;
        } else {
          across(y1, bottom_);
        }
        bottom_row = y1;
      }
      for (std::size_t i = 0; i < row_values; ++i) {
        const double top = top_[i], bottom = bottom_[i];
        const auto v = static_cast<float>(top + (bottom - top) * fy);
        // tf.sub(tf.div(x, 127.5), 1), each op rounded to float32.
        const auto scaled = static_cast<float>(static_cast<double>(v) / 127.5);
        *dst++ = static_cast<float>(static_cast<double>(scaled) - 1.0);
      }
    }
  }

  void forward(int side) {
    const auto& w = *weights_;
    dense(w.stem, input_, a_, true);
    tensor* x = &a_;
    tensor* y = &b_;
    for (std::size_t i = 0; i < 13; ++i) {
      // Pair 11's output feeds a box predictor too: it is kept in conv11_ (buffers swapped, not copied), and
      // pair 12 reads it from there while the buffer it came in is free for pair 13.
      separable(w.depthwise[i], w.pointwise[i], i == 11 ? conv11_ : *x, *y);
      std::swap(x, y);
      if (i == 10) std::swap(conv11_, *x);
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

    if (side != input_size && side != anchors_side_) {
      anchors_ = grid_anchors(w.anchors, side);
      anchors_side_ = side;
    }
    const std::vector<float>& anchors = side == input_size ? w.anchors : anchors_;
    const std::size_t count = anchors.size() / 4;
    raw_.resize(count);
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
          if (anchor >= count) throw std::logic_error("ssd_mobilenetv1: anchor count");
          decode(row + 4 * a, row[4 * a_per_cell + 3 * a + 1], anchors.data() + 4 * anchor, raw_[anchor]);
        }
      }
    }
    if (anchor != count) throw std::logic_error("ssd_mobilenetv1: anchor count");
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
        gemm(level_, nr, np, k, a, k, cv.weights.data(), c, np, bias_epilogue(cv.bias.data(), relu6));
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

  /// One depthwise + pointwise pair, fused: each thread takes a contiguous share of the output rows and goes
  /// through it in bands of a few rows, whose depthwise result (about 256 KB) the pointwise GEMM reads while it
  /// is still in L2, adding the bias and clamping as its tiles store those rows. The same sums in the same order as
  /// the two layers one after the other, so the same floats, without the depthwise output's round trip to memory.
  void separable(const depthwise_conv& dw, const dense_conv& pw, const tensor& in, tensor& out) {
    if (in.c != dw.channels || dw.channels % 16 != 0) throw std::logic_error("ssd_mobilenetv1: depthwise channels");
    if (pw.k != 1 || pw.in != dw.channels) throw std::logic_error("ssd_mobilenetv1: pointwise after depthwise");
    const auto py = same(in.h, 3, dw.stride);
    const auto px = same(in.w, 3, dw.stride);
    out.resize(py.out, px.out, pw.out_padded);
    const std::size_t k = static_cast<std::size_t>(in.c);
    const std::size_t np = static_cast<std::size_t>(pw.out_padded);
    const std::size_t row_pixels = static_cast<std::size_t>(px.out);
    const int band = static_cast<int>(std::max<std::size_t>(1, band_floats / (row_pixels * k)));
    const unsigned workers = py.out >= 16 ? threads_ : 1U;
    const int chunk = (py.out + static_cast<int>(workers) - 1) / static_cast<int>(workers);
    if (panels_.size() < workers) panels_.resize(workers);
    parallel(workers, [&](unsigned t) {
      const int first = std::min(py.out, static_cast<int>(t) * chunk);
      const int last = std::min(py.out, first + chunk);
      auto& panel = panels_[t];
      panel.resize(std::max(panel.size(), static_cast<std::size_t>(band) * row_pixels * k));
      for (int y0 = first; y0 < last; y0 += band) {
        const int y1 = std::min(last, y0 + band);
        depthwise_rows(level_, in.data.data(), in.h, in.w, in.c, dw.stride, py.before, px.before,
                       dw.weights.data(), dw.bias.data(), panel.data(), px.out, y0, y1);
        const std::size_t nr = static_cast<std::size_t>(y1 - y0) * row_pixels;
        float* c = out.data.data() + static_cast<std::size_t>(y0) * row_pixels * np;
        gemm(level_, nr, np, k, panel.data(), k, pw.weights.data(), c, np, bias_epilogue(pw.bias.data(), true));
      }
    });
  }

  /// The bias, then ReLU6 when `relu6`, applied by the GEMM's tiles as they store their rows.
  static gemm_epilogue bias_epilogue(const float* bias, bool relu6) {
    gemm_epilogue ep;
    ep.bias = bias;
    if (relu6) {
      ep.low = 0.0F;
      ep.high = 6.0F;
    }
    return ep;
  }

  // Floats of im2col panel per GEMM call: about half of a 1 MB L2.
  static constexpr std::size_t panel_floats = 64 * 1024;
  // Floats of depthwise output per band of separable(): a quarter of L2, beside the GEMM's output rows.
  static constexpr std::size_t band_floats = 64 * 1024;

  std::shared_ptr<const weights> weights_;
  simd_level level_ = simd_level::portable;
  tensor input_, a_, b_, conv11_, head_out_;
  std::array<tensor, 4> e_, f_;
  std::vector<std::vector<float>> panels_;  // one im2col panel per thread
  std::vector<raw_detection> raw_;
  struct column_taps {
    int x0 = 0, x1 = 0;
    double fx = 0;
  };
  std::vector<column_taps> columns_;  // preprocess(): each output column's source columns and weight
  std::vector<double> top_, bottom_;  // preprocess(): the two source rows interpolated across
  std::vector<float> anchors_;        // grid_anchors(anchors_side_), for a pass at a side other than 512
  int anchors_side_ = 0;
  unsigned threads_ = 1;
};

}  // namespace faceapp::detail::ssd