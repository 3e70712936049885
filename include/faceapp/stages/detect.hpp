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

/// The face detectors: dlib's HOG frontal face detector, or the cnn (SSD MobileNetV1, trained on WIDER FACE).
enum class detector_model { hog, cnn };
inline constexpr detector_model hog = detector_model::hog;
inline constexpr detector_model cnn = detector_model::cnn;

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

/// The cnn detector with the default model (see detail::cnn_detect; `second_look` false: the whole pass alone, for
/// comparison); an error naming `stage` and the image when the model file is not found.
result<faces> cnn_detect_faces(const image& img, int tiles, const char* stage, bool second_look = true);
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
struct detect_stage : stage_base<detect_stage> {
  using input_type = image;
  using output_type = faces;
  static constexpr const char* name = "detect";

  int upsample = 1;  // hog: doublings of the image; cnn: levels of tiles
  detector_model model = hog;

  [[nodiscard]] result<faces> run(const image& img) const {
    if (upsample < 0 || upsample > 4) {
      return fail(name, img.source, "upsample must be in [0, 4], got " + std::to_string(upsample));
    }
    if (model == cnn) return detail::cnn_detect_faces(img, upsample, name);
    return detail::detect_faces(img, upsample);
  }
};

struct detect_fn : detect_stage {
  using detect_stage::operator();
  [[nodiscard]] constexpr detect_stage operator()(int upsample) const { return detect_stage{{}, upsample, hog}; }
  /// detect(hog) upsamples once, detect(cnn) scans no tiles; a second argument sets either.
  [[nodiscard]] constexpr detect_stage operator()(detector_model m) const {
    return detect_stage{{}, m == hog ? 1 : 0, m};
  }
  [[nodiscard]] constexpr detect_stage operator()(detector_model m, int upsample) const {
    return detect_stage{{}, upsample, m};
  }
};

/// HOG detection, upsampling once (face_recognition's default).
inline constexpr detect_fn detect{};

}  // namespace faceapp
