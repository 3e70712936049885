// faceapp: the face encoder's weights as the fast engine reads them, folded from dlib's network.
//
// Each affine layer (dlib's inference form of batch normalisation) is folded into the convolution before it,
// w' = gamma * w and b' = gamma * b + beta, and the filters are reordered to (ky, kx, input channel) rows, the
// order of an NHWC im2col row, and packed for detail::gemm. assemble_encoder_weights checks that the layers
// come in the order detail::fast_encoder's forward pass assumes.
//
// Nothing here names dlib's network type: load_encoder_weights reads dlib's file itself (src/encoder_weights.cpp),
// and encoder_weights_dlib.hpp folds a network already deserialized by dlib, through the same functions.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include "faceapp/core/encoding.hpp"
#include "faceapp/detail/gemm.hpp"

namespace faceapp::detail {

/// One convolution with its affine layer folded in; weights as a (kh*kw*in) x out matrix whose rows run over
/// (ky, kx, input channel), the order of an NHWC im2col row, packed for gemm().
struct folded_conv {
  int in = 0, out = 0, kh = 0, kw = 0, stride = 1, pad = 0;
  std::vector<float> weights;
  std::vector<float> bias;

  [[nodiscard]] int out_size(int n) const { return (n + 2 * pad - kh) / stride + 1; }
};

/// A residual block: relu(b(relu(a(x))) + skip(x)), the skip being x itself or, when `a` has stride 2, x
/// average-pooled 2x2/2 with its channels zero-padded up to b.out (dlib's add_prev).
struct residual_block {
  folded_conv a, b;
  [[nodiscard]] bool down() const { return a.stride != 1; }
};

/// Everything the forward pass reads: immutable once built, so threads share it.
struct encoder_weights {
  float mean_r = 0, mean_g = 0, mean_b = 0;
  folded_conv stem;
  int pool_size = 3, pool_stride = 2;  // the max_pool after the stem (fixed by models/network.hpp)
  std::vector<residual_block> blocks;
  int fc_in = 0, fc_out = 0;
  std::vector<float> fc;  // fc_in x fc_out, packed for gemm()
};

/// Reads dlib's face encoder file (models/network.hpp's network, as dlib serialises it) and folds its weights
/// (src/encoder_weights.cpp, in faceapp::runtime). Throws std::runtime_error saying where (the byte and the layer)
/// the file stops being that network; the caller names the file.
std::shared_ptr<const encoder_weights> load_encoder_weights(const std::filesystem::path& file);

/// A dlib con_ layer as its file holds it: params are the filters, [filter][in channel][ky][kx], then the biases
/// unless `bias` is false.
struct conv_layer_view {
  long filters = 0, rows = 0, cols = 0;
  int stride_y = 1, stride_x = 1, pad_y = 0, pad_x = 0;
  bool bias = true;
  std::span<const float> params;
};

/// A dlib affine_ layer: per channel (CONV_MODE, 0) or per element (FC_MODE, 1), or disabled (no parameters).
struct affine_layer_view {
  bool disabled = false;
  int mode = 0;
  std::span<const float> gamma, beta;
};

/// The convolution `c` followed by the affine layer `aff`, folded.
inline folded_conv fold_conv_affine(const conv_layer_view& c, const affine_layer_view& aff) {
  folded_conv out;
  out.out = static_cast<int>(c.filters);
  out.kh = static_cast<int>(c.rows);
  out.kw = static_cast<int>(c.cols);
  if (c.stride_y != c.stride_x || c.pad_y != c.pad_x) {
    throw std::runtime_error("encoder weights: only square strides and paddings are supported");
  }
  out.stride = c.stride_y;
  out.pad = c.pad_y;
  if (c.filters <= 0 || c.rows <= 0 || c.cols <= 0) throw std::runtime_error("encoder weights: an empty convolution");
  const std::size_t taps = static_cast<std::size_t>(out.kh) * static_cast<std::size_t>(out.kw);
  const std::size_t nf = static_cast<std::size_t>(out.out);
  const std::size_t nbias = c.bias ? nf : 0;
  if (c.params.size() < nbias) throw std::runtime_error("encoder weights: unexpected conv shape");
  out.in = static_cast<int>((c.params.size() - nbias) / (nf * taps));
  const std::size_t nin = static_cast<std::size_t>(out.in);
  if (nin == 0 || nin * nf * taps + nbias != c.params.size()) {
    throw std::runtime_error("encoder weights: unexpected conv shape");
  }
  if (!aff.disabled && aff.mode != 0) {
    throw std::runtime_error("encoder weights: the affine layers must be per channel (CONV_MODE)");
  }
  if (!aff.disabled && (aff.gamma.size() != nf || aff.beta.size() != nf)) {
    throw std::runtime_error("encoder weights: an affine layer of another width than its convolution");
  }

  const float* w = c.params.data();
  const float* gamma = aff.disabled ? nullptr : aff.gamma.data();
  const float* beta = aff.disabled ? nullptr : aff.beta.data();
  out.weights.assign(taps * nin * nf, 0.0F);
  out.bias.assign(nf, 0.0F);
  for (std::size_t f = 0; f < nf; ++f) {
    const float g = gamma ? gamma[f] : 1.0F;
    for (std::size_t ch = 0; ch < nin; ++ch) {
      for (std::size_t t = 0; t < taps; ++t) {
        out.weights[(t * nin + ch) * nf + f] = g * w[(f * nin + ch) * taps + t];
      }
    }
    const float b = nbias ? w[nin * nf * taps + f] : 0.0F;
    out.bias[f] = g * b + (beta ? beta[f] : 0.0F);
  }
  out.weights = pack_gemm_panels(out.weights, taps * nin, nf);
  return out;
}

/// The encoder from its parts in forward order: the input layer's channel means, every convolution folded with
/// its affine layer (the stem, then two per residual block), and the fc layer's num_inputs x outputs matrix.
inline std::shared_ptr<const encoder_weights> assemble_encoder_weights(float mean_r, float mean_g, float mean_b,
                                                                      std::vector<folded_conv> convs,
                                                                      std::span<const float> fc, int fc_out) {
  if (convs.size() < 3 || convs.size() % 2 != 1 || fc_out != static_cast<int>(encoding_size) || fc.empty() ||
      fc.size() % static_cast<std::size_t>(fc_out) != 0) {
    throw std::runtime_error("encoder weights: the network is not the face encoder");
  }
  auto w = std::make_shared<encoder_weights>();
  w->mean_r = mean_r;
  w->mean_g = mean_g;
  w->mean_b = mean_b;
  w->fc_out = fc_out;
  w->fc_in = static_cast<int>(fc.size() / static_cast<std::size_t>(fc_out));
  w->fc = pack_gemm_panels(std::vector<float>(fc.begin(), fc.end()), static_cast<std::size_t>(w->fc_in),
                           static_cast<std::size_t>(w->fc_out));
  w->stem = std::move(convs[0]);
  for (std::size_t i = 1; i + 1 < convs.size(); i += 2) {
    w->blocks.push_back({std::move(convs[i]), std::move(convs[i + 1])});
  }
  return w;
}

}  // namespace faceapp::detail
