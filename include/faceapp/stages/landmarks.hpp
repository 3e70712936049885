// faceapp stage `landmarks`: faces -> faces with 5 or 68 landmark points each.
#pragma once

#include <algorithm>
#include <utility>

#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"
#include "faceapp/faces.hpp"
#include "faceapp/models/models.hpp"
#include "faceapp/stages/detect.hpp"

namespace faceapp {

namespace detail {
/// Runs the landmark model on every face of `found`, replacing their landmarks. Compiled once, in the runtime
/// library (src/detect.cpp).
void add_landmarks(faces& found, const landmark_model& model);

/// Whether a face of `found` has no landmarks yet (neither 5 nor 68 points): encode and quality find them then.
inline bool lacks_landmarks(const faces& found) {
  return std::any_of(found.begin(), found.end(), [](const face& f) {
    return f.landmarks_in_image.size() != 5 && f.landmarks_in_image.size() != 68;
  });
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
