// faceapp stage `detect`: image -> faces, with dlib's HOG frontal face detector (`detect(upsample)`, the default)
// or the cnn detector (`detect(faceapp::cnn)`: face-api.js's ssd_mobilenetv1 on faceapp's own kernels).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"
#include "faceapp/faces.hpp"
#include "faceapp/image.hpp"
#include "faceapp/models/models.hpp"

namespace faceapp {

/// "hog" / "cnn" -> the model; anything else is nothing.
[[nodiscard]] inline std::optional<detector_model> parse_detector_model(std::string_view name) noexcept {
  if (name == "hog") return hog;
  if (name == "cnn") return cnn;
  return std::nullopt;
}

namespace detail {
// Compiled once, in the runtime library (src/detect.cpp); detail/detect_impl.hpp has the parts they are made of.

/// HOG detection with dlib's Python-binding semantics (see detail::hog_detect), as face boxes.
faces detect_faces(const image& img, int upsample);

/// The cnn detector with `model` (see detail::cnn_detect; `second_look` false: the whole pass alone, for
/// comparison).
faces cnn_detect_faces(const image& img, const cnn_detector_model& model, int tiles, bool second_look = true);

/// The same with the default model; an error naming `stage` and the image when the model file is not found.
inline result<faces> cnn_detect_faces(const image& img, int tiles, const char* stage, bool second_look = true) {
  const auto model = default_cnn_detector_model_ptr();
  if (!model) return fail(stage, img.source, model.error().message, model.error().code);
  return cnn_detect_faces(img, **model, tiles, second_look);
}
}  // namespace detail

/// `detect(upsample = 1)`: image -> faces (boxes, most confident first; an empty list when there is none).
/// Upsampling doubles the image `upsample` times first, finding faces down to about 40 px / 2^upsample; each
/// step costs about 4x the time. Boxes are in the coordinates of the image as read. Thread-safe (each thread
/// has its own detector). Example: `(read | detect(2))("group.jpg")`.
///
/// `detect(faceapp::cnn, tiles = 0)`: the cnn detector instead (face-api.js's ssd_mobilenetv1, trained on WIDER
/// FACE: also turned and tilted faces; about 6 GFLOP per pass, the image seen at 512x512). A doubtful candidate
/// (scoring 0.25 to 0.5) gets a second look on a crop where it is seen 1.6x larger, at most 3 per photo (see
/// detail::cnn_second_look; most photos have none); a photo where it finds nothing gets a second pass with
/// context around it (detail::cnn_detect_with_context). Its boxes are mapped
/// to HOG's box of the same face, so landmarks and encodings work on them. `tiles` > 0 also scans overlapping
/// tiles (see detail::cnn_detect) for faces smaller than about 1/25 of the image's longer side; tiles = 1 costs
/// 4 or 5 passes instead of 1 (and no second look). An error when the cnn model file is not found.
/// `detect(models, ...)` takes the cnn from a model_set (load_models()) instead of the default one, as
/// `encode(models)` takes its models; HOG needs no model file.
template <class Models = default_models_t>
struct detect_stage : stage_base<detect_stage<Models>> {
  using input_type = image;
  using output_type = faces;
  static constexpr const char* name = "detect";

  int upsample = 1;  // hog: doublings of the image; cnn: levels of tiles
  detector_model model = hog;
  Models models{};

  [[nodiscard]] result<faces> run(const image& img) const {
    if (upsample < 0 || upsample > 4) {
      return fail(name, img.source, "upsample must be in [0, 4], got " + std::to_string(upsample));
    }
    if (model == cnn) {
      const auto net = detail::cnn_of(models);
      if (!net) return fail(name, img.source, net.error().what(), net.error().code);
      return detail::cnn_detect_faces(img, **net, upsample);
    }
    return detail::detect_faces(img, upsample);
  }
};

struct detect_fn : detect_stage<> {
  using detect_stage<>::operator();
  [[nodiscard]] constexpr detect_stage<> operator()(int upsample) const { return {{}, upsample, hog, {}}; }
  /// detect(hog) upsamples once, detect(cnn) scans no tiles; a second argument sets either.
  [[nodiscard]] constexpr detect_stage<> operator()(detector_model m) const { return {{}, m == hog ? 1 : 0, m, {}}; }
  [[nodiscard]] constexpr detect_stage<> operator()(detector_model m, int upsample) const {
    return {{}, upsample, m, {}};
  }
  /// The same with explicit models: detect(models) is HOG, detect(models, cnn) the cnn of the set.
  [[nodiscard]] detect_stage<model_set> operator()(const model_set& set, detector_model m = hog) const {
    return {{}, m == hog ? 1 : 0, m, set};
  }
  [[nodiscard]] detect_stage<model_set> operator()(const model_set& set, detector_model m, int upsample) const {
    return {{}, upsample, m, set};
  }
};

/// HOG detection, upsampling once (face_recognition's default).
inline constexpr detect_fn detect{};

}  // namespace faceapp
