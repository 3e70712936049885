// faceapp: the 128-D face encoder network type.
//
// This is the ResNet of dlib's dnn_face_recognition_ex.cpp ("dlib_face_recognition_resnet_model_v1.dat"),
// spelled out once for the whole project: the model loader, the weight converter in tools/ and the
// benches all name it from here. Changing a single layer makes official model files fail to load.
// Including it instantiates dlib's DNN templates (seconds of compile time): only the compiled runtime and the
// tests and tools that run dlib's own network include it; the public headers do not.
#pragma once

#include <dlib/dnn.h>

#include "faceapp/models/model_files.hpp"

namespace faceapp::models {

namespace net_detail {
// clang-format off
template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual = dlib::add_prev1<block<N, BN, 1, dlib::tag1<SUBNET>>>;

template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual_down =
    dlib::add_prev2<dlib::avg_pool<2, 2, 2, 2, dlib::skip1<dlib::tag2<block<N, BN, 2, dlib::tag1<SUBNET>>>>>>;

template <int N, template <typename> class BN, int stride, typename SUBNET>
using block = BN<dlib::con<N, 3, 3, 1, 1, dlib::relu<BN<dlib::con<N, 3, 3, stride, stride, SUBNET>>>>>;

template <int N, typename SUBNET> using ares      = dlib::relu<residual<block, N, dlib::affine, SUBNET>>;
template <int N, typename SUBNET> using ares_down = dlib::relu<residual_down<block, N, dlib::affine, SUBNET>>;

template <typename SUBNET> using alevel0 = ares_down<256, SUBNET>;
template <typename SUBNET> using alevel1 = ares<256, ares<256, ares_down<256, SUBNET>>>;
template <typename SUBNET> using alevel2 = ares<128, ares<128, ares_down<128, SUBNET>>>;
template <typename SUBNET> using alevel3 = ares<64, ares<64, ares<64, ares_down<64, SUBNET>>>>;
template <typename SUBNET> using alevel4 = ares<32, ares<32, ares<32, SUBNET>>>;
// clang-format on
}  // namespace net_detail

/// The face encoder: a 150x150 RGB chip in, a 128-D unit-scale descriptor out.
using encoder_net = dlib::loss_metric<dlib::fc_no_bias<
    128, dlib::avg_pool_everything<net_detail::alevel0<net_detail::alevel1<net_detail::alevel2<
             net_detail::alevel3<net_detail::alevel4<dlib::max_pool<
                 3, 3, 2, 2,
                 dlib::relu<dlib::affine<dlib::con<32, 7, 7, 2, 2, dlib::input_rgb_image_sized<150>>>>>>>>>>>>>;

}  // namespace faceapp::models
