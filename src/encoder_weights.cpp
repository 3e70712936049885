// faceapp runtime: the face encoder's weights, read from dlib's file and folded for the fast engine.
//
// Its own file because dlib's deserialize of the whole network is the costliest template instantiation in the
// runtime: kept apart, it compiles once, and sanitizer builds can compile it without optimisation (CMakeLists).
#include <filesystem>
#include <memory>

#include <dlib/dnn.h>

#include "faceapp/detail/encoder_weights.hpp"
#include "faceapp/models/network.hpp"

namespace faceapp::detail {

std::shared_ptr<const encoder_weights> load_encoder_weights(const std::filesystem::path& file) {
  // dlib's network is only the carrier of the weights: they are folded and the network is dropped.
  auto net = std::make_unique<models::encoder_net>();
  dlib::deserialize(file.string()) >> *net;
  return fold_encoder_weights(*net);
}

}  // namespace faceapp::detail
