// faceapp: one thread's face encoder, as encoder_model::for_this_thread() hands it out.
//
// Separate from models.hpp because it needs dlib's matrix and image types (and the engine's kernels): a file that
// only builds pipelines does not pay for them.
#pragma once

#include <vector>

#include <dlib/array.h>
#include <dlib/matrix.h>
#include <dlib/pixel.h>

#include "faceapp/detail/fast_encoder.hpp"
#include "faceapp/faces.hpp"
#include "faceapp/models/models.hpp"

namespace faceapp {

/// One thread's encoder: the forward pass of the face encoder on 150 x 150 chips, with its own scratch memory
/// (the weights are shared). Not thread-safe; encoder_model::for_this_thread() gives each thread its own.
class encoder_engine {
 public:
  /// Chip side the network expects.
  static constexpr int chip_size = detail::fast_encoder::chip_size;

  /// Encodes chips (as dlib::extract_image_chips cuts them) in order; throws std::invalid_argument on a chip of
  /// another size.
  [[nodiscard]] std::vector<encoding> encode(const dlib::array<dlib::matrix<dlib::rgb_pixel>>& chips) {
    return engine_.encode(chips);
  }
  [[nodiscard]] std::vector<encoding> encode(const std::vector<dlib::matrix<dlib::rgb_pixel>>& chips) {
    return engine_.encode(chips);
  }
  [[nodiscard]] encoding encode(const dlib::matrix<dlib::rgb_pixel>& chip) { return engine_.encode(chip); }
  /// The matrix-product kernel it runs: "avx512", "avx2" or "blas".
  [[nodiscard]] const char* kernel_name() const noexcept { return engine_.kernel_name(); }

  /// A thread's own engine over shared weights (encoder_model::for_this_thread() keeps one per thread).
  explicit encoder_engine(const detail::fast_encoder& prototype) : engine_(prototype) {}

 private:
  detail::fast_encoder engine_;
};

}  // namespace faceapp
