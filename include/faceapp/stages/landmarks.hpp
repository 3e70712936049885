// faceapp stage `landmarks`: faces -> faces with 5 or 68 landmark points each.
#pragma once

#include <utility>

#include <dlib/image_processing.h>
#include <dlib/opencv/cv_image.h>

#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"
#include "faceapp/faces.hpp"
#include "faceapp/models/models.hpp"
#include "faceapp/stages/detect.hpp"

namespace faceapp {

namespace detail {

inline void add_landmarks(faces& found, const landmark_model& model) {
  const dlib::cv_image<dlib::rgb_pixel> view(found.image.pixels);
  for (auto& f : found.items) {
    const auto shape = model.predictor()(view, to_rectangle(f.box_in_image));
    f.landmarks_in_image.clear();
    f.landmarks.clear();
    for (unsigned long i = 0; i < shape.num_parts(); ++i) {
      const point p{static_cast<float>(shape.part(i).x()), static_cast<float>(shape.part(i).y())};
      f.landmarks_in_image.push_back(p);
      f.landmarks.push_back(found.image.to_original(p));
    }
  }
}

inline dlib::full_object_detection to_shape(const face& f) {
  std::vector<dlib::point> parts;
  parts.reserve(f.landmarks_in_image.size());
  for (const auto& p : f.landmarks_in_image) parts.emplace_back(static_cast<long>(p.x), static_cast<long>(p.y));
  return dlib::full_object_detection(to_rectangle(f.box_in_image), parts);
}

}  // namespace detail

/// `landmarks`: faces -> the same faces with landmark points, 5 or 68 per face, whichever model was found
/// (see models/model_files.hpp); `landmark_groups(face)` names them as face_recognition does. Thread-safe (the
/// predictor is shared read-only). Example: `(read | detect | landmarks)("photo.jpg")`.
template <class Models = default_models_t>
struct landmarks_stage : stage_base<landmarks_stage<Models>> {
  using input_type = faces;
  using output_type = faces;
  static constexpr const char* name = "landmarks";

  Models models{};

  [[nodiscard]] result<faces> run(const faces& in) const { return run(faces(in)); }
  [[nodiscard]] result<faces> run(faces&& in) const {
    auto model = detail::landmarks_of(models);
    if (!model) return fail(name, in.source(), model.error().what());
    detail::add_landmarks(in, **model);
    return std::move(in);
  }
};

struct landmarks_fn : landmarks_stage<> {
  using landmarks_stage<>::operator();
  /// The landmarks stage with explicit models.
  [[nodiscard]] landmarks_stage<model_set> operator()(const model_set& m) const { return {{}, m}; }
};

inline constexpr landmarks_fn landmarks{};

}  // namespace faceapp
