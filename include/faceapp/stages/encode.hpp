// faceapp stage `encode(jitters)`: image or faces -> encoded_faces (128-D encodings).
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"
#include "faceapp/faces.hpp"
#include "faceapp/models/models.hpp"
#include "faceapp/stages/detect.hpp"
#include "faceapp/stages/landmarks.hpp"

namespace faceapp {

namespace detail {

/// Encodes the faces of one image, as dlib's Python binding (and so face_recognition) does: chips of 150x150
/// with padding 0.25 around the landmarks; with jitters > 1 each chip is jittered that many times and the
/// encodings are averaged (dlib::rand with its fixed default seed, so the result is reproducible). Compiled once,
/// in the runtime library (src/encode.cpp).
std::vector<encoding> encode_faces(const faces& found, const encoder_model& model, int jitters);

}  // namespace detail

/// `encode(jitters = 1)`: image or faces -> encoded_faces.
///  - From an image it detects (upsample 1) and finds landmarks first; from faces it adds landmarks when the
///    faces have none yet. An image with no face gives an empty list.
///  - jitters > 1 averages that many randomly jittered chips per face (face_recognition's num_jitters): slower
///    by that factor, slightly more stable.
///  - Errors: a missing model (the message says where it looked).
/// Thread-safe: each thread encodes with its own copy of the network. Example: `(read | encode)("me.jpg")`.
template <class Models = default_models_t>
struct encode_stage : stage_base<encode_stage<Models>> {
  using input_type = image;
  using input_types = input_list<image, faces>;  // faces from detect or landmarks
  using output_type = encoded_faces;
  static constexpr const char* name = "encode";

  Models models{};
  int jitters = 1;

  [[nodiscard]] result<encoded_faces> run(const image& img) const {
    return run(detail::detect_faces(img, 1));
  }

  [[nodiscard]] result<encoded_faces> run(const faces& in) const {
    if (jitters < 1 || jitters > 1000) {
      return fail(name, in.source(), "jitters must be in [1, 1000], got " + std::to_string(jitters));
    }
    auto encoder = detail::encoder_of(models);
    if (!encoder) return fail(name, in.source(), encoder.error().what());
    const faces* with_landmarks = &in;
    faces filled;
    if (detail::lacks_landmarks(in)) {
      auto lm = detail::landmarks_of(models);
      if (!lm) return fail(name, in.source(), lm.error().what());
      filled = in;
      detail::add_landmarks(filled, **lm);
      with_landmarks = &filled;
    }
    const auto encodings = detail::encode_faces(*with_landmarks, **encoder, jitters);
    encoded_faces out;
    out.image = in.image;
    out.items.reserve(encodings.size());
    for (std::size_t i = 0; i < encodings.size(); ++i) {
      encoded_face f;
      static_cast<face&>(f) = with_landmarks->items[i];
      f.encoding = encodings[i];
      out.items.push_back(std::move(f));
    }
    return out;
  }
};

struct encode_fn : encode_stage<> {
  using encode_stage<>::operator();
  /// `encode(jitters)`: the default models, `jitters` chips per face.
  [[nodiscard]] constexpr encode_stage<> operator()(int jitters) const { return {{}, {}, jitters}; }
  /// `encode(models, jitters)`: explicit models (see load_models()).
  [[nodiscard]] encode_stage<model_set> operator()(const model_set& m, int jitters = 1) const {
    return {{}, m, jitters};
  }
};

/// Detect (if needed), find landmarks and encode every face, with the default models.
inline constexpr encode_fn encode{};

}  // namespace faceapp
