// faceapp stage `quality`: faces -> the same faces, or an error naming the photo when one is too small or too
// blurred to enrol. And `face_chip`, the 150x150 aligned chip the encoder sees.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <string>
#include <utility>

#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"
#include "faceapp/faces.hpp"
#include "faceapp/image.hpp"
#include "faceapp/models/models.hpp"
#include "faceapp/stages/landmarks.hpp"

namespace faceapp {

/// The chip dlib's encoder sees: the face rotated and scaled by its landmarks onto `size` x `size` RGB pixels,
/// with padding 0.25 (as encode cuts it). `f` must have landmarks (5 or 68) in `img`'s pixels, as the faces of
/// `landmarks` and `encode` have; std::invalid_argument otherwise. Compiled once (src/quality.cpp).
[[nodiscard]] image face_chip(const image& img, const face& f, int size = 150);

/// What `quality` refuses.
struct quality_options {
  /// Shortest side of a face's box, in pixels of the image as read (Rekognition's and Frigate's bound).
  int min_side = 40;
  /// Variance of the Laplacian of the face on its 150x150 chip, in gray levels squared: below it a face is too
  /// blurred. On the 92 faces of tests/data/faces the least sharp scores 8.33 and the same faces blurred by a
  /// Gaussian of sigma 4% of their width score 3.46 at most; 5 lies between (docs/people.md#quality).
  double min_sharpness = 5.0;
};

namespace detail {
/// Variance of the Laplacian (OpenCV's 3x3 aperture, on 8-bit gray) of the face on its 150x150 chip (the middle
/// 100x100, without the padding, and only the pixels that lie inside the photo): high for a sharp face, low for a
/// blurred one. Compiled once (src/quality.cpp).
[[nodiscard]] double chip_sharpness(const image& img, const face& f);

/// Why `f` does not pass `opt`, or an empty string when it does.
inline std::string quality_refusal(const image& img, const face& f, const quality_options& opt) {
  const int side = std::min(f.box.width(), f.box.height());
  if (side < opt.min_side) {
    return "face too small: " + std::to_string(side) + " px < " + std::to_string(opt.min_side) + " px";
  }
  const double sharpness = chip_sharpness(img, f);
  if (sharpness < opt.min_sharpness) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "face too blurred: sharpness %.2f < %.2f (variance of the Laplacian of its chip)",
                  sharpness, opt.min_sharpness);
    return buf;
  }
  return {};
}
}  // namespace detail

/// `quality`, `quality(quality_options)`: faces -> the same faces (with landmarks: it finds them when the faces
/// have none, so a later `encode` does not again), or an error when a face is not fit to enrol:
///  - "face too small: 35 px < 40 px" when the shortest side of its box (in the image as read) is under min_side;
///  - "face too blurred: sharpness ... < ..." when its chip's variance of the Laplacian is under min_sharpness.
/// The error names the photo and, in a photo of several faces, which one ("face 2 of 3: ..."). No face passes
/// (an empty list). Thread-safe. Example: `read | detect | quality | encode` (enrol only what passes).
template <class Models = default_models_t>
struct quality_stage : stage_base<quality_stage<Models>> {
  using input_type = faces;
  using output_type = faces;
  static constexpr const char* name = "quality";

  Models models{};
  quality_options options{};

  [[nodiscard]] result<faces> run(const faces& in) const { return run(faces(in)); }
  [[nodiscard]] result<faces> run(faces&& in) const {
    if (detail::lacks_landmarks(in)) {
      auto lm = detail::landmarks_of(models);
      if (!lm) return fail(name, in.source(), lm.error().what());
      detail::add_landmarks(in, **lm);
    }
    for (std::size_t i = 0; i < in.size(); ++i) {
      auto why = detail::quality_refusal(in.image, in[i], options);
      if (why.empty()) continue;
      if (in.size() > 1) why = "face " + std::to_string(i + 1) + " of " + std::to_string(in.size()) + ": " + why;
      return fail(name, in.source(), why);
    }
    return std::move(in);
  }
};

struct quality_fn : quality_stage<> {
  using quality_stage<>::operator();
  /// `quality(options)`: other limits, the default models.
  [[nodiscard]] quality_stage<> operator()(const quality_options& o) const { return {{}, {}, o}; }
  /// `quality(models, options)`: explicit models (see load_models()).
  [[nodiscard]] quality_stage<model_set> operator()(const model_set& m, const quality_options& o = {}) const {
    return {{}, m, o};
  }
};

/// Refuses faces under 40 px or too blurred, with the default models.
inline constexpr quality_fn quality{};

}  // namespace faceapp
