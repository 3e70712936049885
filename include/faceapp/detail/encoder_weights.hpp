// faceapp: the face encoder's weights as the fast engine reads them, folded from dlib's network.
//
// Each affine layer (dlib's inference form of batch normalisation) is folded into the convolution before it,
// w' = gamma * w and b' = gamma * b + beta, and the filters are reordered to (ky, kx, input channel) rows, the
// order of an NHWC im2col row, and packed for detail::gemm. The walk checks that the layers come in the order
// detail::fast_encoder's forward pass assumes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include <dlib/dnn.h>

#include "faceapp/core/encoding.hpp"
#include "faceapp/detail/gemm.hpp"
#include "faceapp/models/network.hpp"

namespace faceapp::detail {

namespace encoder_weights_impl {
template <typename T> struct is_con : std::false_type {};
template <long F, long R, long C, int SY, int SX, int PY, int PX>
struct is_con<dlib::con_<F, R, C, SY, SX, PY, PX>> : std::true_type {};
template <typename T> struct is_fc : std::false_type {};
template <unsigned long N, dlib::fc_bias_mode M> struct is_fc<dlib::fc_<N, M>> : std::true_type {};
}  // namespace encoder_weights_impl

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

/// Reads dlib's face encoder file and folds its weights (src/encoder_weights.cpp, in faceapp::runtime); throws
/// what dlib's deserialize or fold_encoder_weights throws.
std::shared_ptr<const encoder_weights> load_encoder_weights(const std::filesystem::path& file);

/// The convolution `c` followed by the affine layer `aff`, folded.
template <typename Con>
folded_conv fold_conv_affine(const Con& c, const dlib::affine_& aff) {
  folded_conv out;
  const auto& params = c.get_layer_params();
  out.out = static_cast<int>(c.num_filters());
  out.kh = static_cast<int>(c.nr());
  out.kw = static_cast<int>(c.nc());
  if (c.stride_y() != c.stride_x() || c.padding_y() != c.padding_x()) {
    throw std::runtime_error("encoder weights: only square strides and paddings are supported");
  }
  out.stride = static_cast<int>(c.stride_y());
  out.pad = static_cast<int>(c.padding_y());
  const std::size_t taps = static_cast<std::size_t>(out.kh) * static_cast<std::size_t>(out.kw);
  const std::size_t nf = static_cast<std::size_t>(out.out);
  const std::size_t nbias = c.bias_is_disabled() ? 0 : nf;
  out.in = static_cast<int>((params.size() - nbias) / (nf * taps));
  const std::size_t nin = static_cast<std::size_t>(out.in);
  if (nin * nf * taps + nbias != params.size()) throw std::runtime_error("encoder weights: unexpected conv shape");
  if (!aff.is_disabled() && aff.get_mode() != dlib::CONV_MODE) {
    throw std::runtime_error("encoder weights: the affine layers must be per channel (CONV_MODE)");
  }

  const float* w = params.host();
  const float* gamma = aff.is_disabled() ? nullptr : aff.get_gamma().get().host();
  const float* beta = aff.is_disabled() ? nullptr : aff.get_beta().get().host();
  out.weights.assign(taps * nin * nf, 0.0F);
  out.bias.assign(nf, 0.0F);
  for (std::size_t f = 0; f < nf; ++f) {
    const float g = gamma ? gamma[f] : 1.0F;
    // dlib's filter layout: [filter][in channel][ky][kx].
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

/// Reads the weights of `net`, checking that the layers come in the order the forward pass assumes.
inline std::shared_ptr<const encoder_weights> fold_encoder_weights(const models::encoder_net& net) {
  auto w = std::make_shared<encoder_weights>();
  const auto& input = net.subnet().input_layer();
  w->mean_r = input.get_avg_red();
  w->mean_g = input.get_avg_green();
  w->mean_b = input.get_avg_blue();

  // visit_computational_layers walks from the output end; collect, then read in forward order.
  std::vector<folded_conv> convs_rev;
  const dlib::affine_* pending_affine = nullptr;
  bool fc_seen = false;
  // The visitor only reads; dlib offers no const overload of the walk.
  dlib::visit_computational_layers(const_cast<models::encoder_net&>(net), [&](const auto& l) {
    using layer_t = std::decay_t<decltype(l)>;
    if constexpr (std::is_same_v<layer_t, dlib::affine_>) {
      pending_affine = &l;
    } else if constexpr (encoder_weights_impl::is_con<layer_t>::value) {
      if (!pending_affine) throw std::runtime_error("encoder weights: a convolution without an affine layer");
      convs_rev.push_back(fold_conv_affine(l, *pending_affine));
      pending_affine = nullptr;
    } else if constexpr (encoder_weights_impl::is_fc<layer_t>::value) {
      const auto& p = l.get_layer_params();
      w->fc_out = static_cast<int>(l.get_num_outputs());
      w->fc_in = static_cast<int>(p.size() / l.get_num_outputs());
      if (l.get_bias_mode() != dlib::FC_NO_BIAS) throw std::runtime_error("encoder weights: fc with a bias");
      w->fc = pack_gemm_panels(std::vector<float>(p.host(), p.host() + p.size()), static_cast<std::size_t>(w->fc_in),
                   static_cast<std::size_t>(w->fc_out));
      fc_seen = true;
    }
  });
  if (!fc_seen || convs_rev.size() < 3 || convs_rev.size() % 2 != 1 || w->fc_out != static_cast<int>(encoding_size)) {
    throw std::runtime_error("encoder weights: the network is not the face encoder");
  }
  std::reverse(convs_rev.begin(), convs_rev.end());
  w->stem = std::move(convs_rev[0]);
  for (std::size_t i = 1; i + 1 < convs_rev.size(); i += 2) {
    w->blocks.push_back({std::move(convs_rev[i]), std::move(convs_rev[i + 1])});
  }
  return w;
}

}  // namespace faceapp::detail
