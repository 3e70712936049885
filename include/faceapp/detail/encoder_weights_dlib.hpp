// faceapp: the face encoder's weights folded from a network dlib has deserialized (models::encoder_net), through
// the same folding as load_encoder_weights. For the tests, benches and tools that run dlib's own network beside
// the fast engine: including it instantiates dlib's DNN templates, which the runtime does not.
#pragma once

#include <iterator>
#include <memory>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include <dlib/dnn.h>

#include "faceapp/detail/encoder_weights.hpp"
#include "faceapp/models/network.hpp"

namespace faceapp::detail {

namespace encoder_weights_impl {
template <typename T> struct is_con : std::false_type {};
template <long F, long R, long C, int SY, int SX, int PY, int PX>
struct is_con<dlib::con_<F, R, C, SY, SX, PY, PX>> : std::true_type {};
template <typename T> struct is_fc : std::false_type {};
template <unsigned long N, dlib::fc_bias_mode M> struct is_fc<dlib::fc_<N, M>> : std::true_type {};

inline std::span<const float> values(const dlib::tensor& t) { return {t.host(), t.size()}; }
}  // namespace encoder_weights_impl

/// Reads the weights of `net`, checking that the layers come in the order the forward pass assumes.
inline std::shared_ptr<const encoder_weights> fold_encoder_weights(const models::encoder_net& net) {
  using encoder_weights_impl::values;
  const auto& input = net.subnet().input_layer();
  // visit_computational_layers walks from the output end; collect, then read in forward order.
  std::vector<folded_conv> convs_rev;
  const dlib::affine_* pending_affine = nullptr;
  std::vector<float> fc;
  int fc_out = 0;
  // The visitor only reads; dlib offers no const overload of the walk.
  dlib::visit_computational_layers(const_cast<models::encoder_net&>(net), [&](const auto& l) {
    using layer_t = std::decay_t<decltype(l)>;
    if constexpr (std::is_same_v<layer_t, dlib::affine_>) {
      pending_affine = &l;
    } else if constexpr (encoder_weights_impl::is_con<layer_t>::value) {
      if (!pending_affine) throw std::runtime_error("encoder weights: a convolution without an affine layer");
      const conv_layer_view c{l.num_filters(),
                              l.nr(),
                              l.nc(),
                              static_cast<int>(l.stride_y()),
                              static_cast<int>(l.stride_x()),
                              static_cast<int>(l.padding_y()),
                              static_cast<int>(l.padding_x()),
                              !l.bias_is_disabled(),
                              values(l.get_layer_params())};
      const auto& aff = *pending_affine;
      affine_layer_view a{aff.is_disabled(), static_cast<int>(aff.get_mode()), {}, {}};
      if (!a.disabled) {
        a.gamma = values(aff.get_gamma().get());
        a.beta = values(aff.get_beta().get());
      }
      convs_rev.push_back(fold_conv_affine(c, a));
      pending_affine = nullptr;
    } else if constexpr (encoder_weights_impl::is_fc<layer_t>::value) {
      if (l.get_bias_mode() != dlib::FC_NO_BIAS) throw std::runtime_error("encoder weights: fc with a bias");
      const auto p = values(l.get_layer_params());
      fc.assign(p.begin(), p.end());
      fc_out = static_cast<int>(l.get_num_outputs());
    }
  });
  return assemble_encoder_weights(input.get_avg_red(), input.get_avg_green(), input.get_avg_blue(),
                                  std::vector<folded_conv>(std::make_move_iterator(convs_rev.rbegin()),
                                                           std::make_move_iterator(convs_rev.rend())), fc, fc_out);
}

}  // namespace faceapp::detail
