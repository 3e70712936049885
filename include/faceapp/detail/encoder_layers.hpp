// faceapp: the layers of the face encoder's forward pass (fast_encoder.hpp) besides the convolutions' GEMMs and
// Winograd transforms: activations channels-last (NHWC), the im2col rows a direct convolution multiplies, the
// epilogue that adds the bias (and the residual) and applies the relu while the GEMM result is in cache, the
// downsampling blocks' pooled skip, and the stem's max pooling. Each computes what dlib's layer of the same
// name does, in this layout.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "faceapp/detail/encoder_weights.hpp"

namespace faceapp::detail {

/// Activations of `n` images, NHWC.
struct nhwc_tensor {
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

/// n floats from src to dst, inline: the stem's im2col rows are runs of 21 floats (7 pixels of 3 channels),
/// 36 of them per output pixel, and a call to memmove for each cost more than the stem's GEMM.
inline float* copy_floats(const float* src, std::size_t n, float* dst) {
  if (n > 32) return std::copy_n(src, n, dst);  // the library's copy is the faster one for long runs
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) std::memcpy(dst + i, src + i, 8 * sizeof(float));
  if (i + 4 <= n) {
    std::memcpy(dst + i, src + i, 4 * sizeof(float));
    i += 4;
  }
  if (i < n) dst[i] = src[i];
  if (i + 1 < n) dst[i + 1] = src[i + 1];
  if (i + 2 < n) dst[i + 2] = src[i + 2];
  return dst + n;
}

/// Rows r0 .. r0+nr of the im2col matrix of convolution `cv` over `in` (its output oh x ow) into `dst`, which
/// holds nr * kh * kw * channels floats.
inline void im2col(const folded_conv& cv, const nhwc_tensor& in, int oh, int ow, std::size_t r0, std::size_t nr,
                   float* dst) {
  const std::size_t cin = static_cast<std::size_t>(in.c);
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
        dst = copy_floats(src, static_cast<std::size_t>(cv.kw) * cin, dst);
        continue;
      }
      for (int kx = 0; kx < cv.kw; ++kx) {
        const int ix = ix0 + kx;
        if (ix < 0 || ix >= in.w) {
          dst = std::fill_n(dst, cin, 0.0F);
        } else {
          const float* src = base + (static_cast<std::size_t>(iy) * static_cast<std::size_t>(in.w) +
                                     static_cast<std::size_t>(ix)) * cin;
          dst = copy_floats(src, cin, dst);
        }
      }
    }
  }
}

/// Bias, skip and relu over the GEMM result rows r0 .. r0+nr (still in cache).
inline void epilogue(const folded_conv& cv, float* c, std::size_t r0, std::size_t nr, int oh, int ow, skip_kind kind,
                     const nhwc_tensor* skip_src) {
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
inline void add_pooled_skip(const nhwc_tensor& main, const nhwc_tensor& skip, nhwc_tensor& out) {
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
inline void max_pool(const nhwc_tensor& in, int size, int stride, nhwc_tensor& out, int index) {
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

}  // namespace faceapp::detail
