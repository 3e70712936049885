// faceapp: model handles.
//
// A handle is a cheap-to-copy value around a model loaded once. What dlib only reads (the shape predictor) is
// shared by every thread; what keeps scratch state (the HOG detector, the encoder network) is copied once per
// thread that uses it, never locked.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>

#include "faceapp/core/result.hpp"
#include "faceapp/detail/fast_encoder.hpp"
#include "faceapp/detail/ssd_detector.hpp"
#include "faceapp/models/model_files.hpp"
#include "faceapp/models/network.hpp"

namespace faceapp {

/// dlib's shape predictor: 5 or 68 landmarks per face. Shared between threads (dlib only reads it).
class landmark_model {
 public:
  static result<landmark_model> load(const std::filesystem::path& file) {
    try {
      auto sp = std::make_shared<dlib::shape_predictor>();
      dlib::deserialize(file.string()) >> *sp;
      if (sp->num_parts() != 5 && sp->num_parts() != 68) {
        return fail("models", file.string(),
                    "a shape predictor with " + std::to_string(sp->num_parts()) + " parts; expected 5 or 68");
      }
      return landmark_model(std::move(sp), file);
    } catch (const std::exception& e) {
      return fail("models", file.string(), std::string("cannot load the landmark model: ") + e.what());
    }
  }

  [[nodiscard]] std::size_t points() const noexcept { return predictor_->num_parts(); }
  [[nodiscard]] const dlib::shape_predictor& predictor() const noexcept { return *predictor_; }
  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }

 private:
  landmark_model(std::shared_ptr<const dlib::shape_predictor> sp, std::filesystem::path file)
      : predictor_(std::move(sp)), file_(std::move(file)) {}
  std::shared_ptr<const dlib::shape_predictor> predictor_;
  std::filesystem::path file_;
};

/// dlib's 128-D ResNet face encoder. The loaded network is a prototype; each thread encodes with its own
/// engine (detail::fast_encoder: the same function as dlib's forward pass, faster), which shares the weights.
class encoder_model {
 public:
  static result<encoder_model> load(const std::filesystem::path& file) {
    try {
      auto net = std::make_shared<models::encoder_net>();
      dlib::deserialize(file.string()) >> *net;
      auto engine = std::make_shared<const detail::fast_encoder>(*net);
      return encoder_model(std::move(net), std::move(engine), file);
    } catch (const std::exception& e) {
      return fail("models", file.string(), std::string("cannot load the face encoder: ") + e.what());
    }
  }

  /// The calling thread's encoder engine, made on first use (it shares the weights, owns its scratch memory).
  [[nodiscard]] detail::fast_encoder& for_this_thread() const {
    struct entry {
      std::weak_ptr<const detail::fast_encoder> prototype;
      std::unique_ptr<detail::fast_encoder> copy;
    };
    thread_local std::vector<entry> copies;
    for (auto& e : copies) {
      if (!e.prototype.owner_before(engine_) && !engine_.owner_before(e.prototype)) return *e.copy;
    }
    std::erase_if(copies, [](const entry& e) { return e.prototype.expired(); });
    copies.push_back({engine_, std::make_unique<detail::fast_encoder>(*engine_)});
    return *copies.back().copy;
  }
  [[nodiscard]] const models::encoder_net& prototype() const noexcept { return *prototype_; }
  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }

 private:
  encoder_model(std::shared_ptr<const models::encoder_net> net, std::shared_ptr<const detail::fast_encoder> engine,
                std::filesystem::path file)
      : prototype_(std::move(net)), engine_(std::move(engine)), file_(std::move(file)) {}
  std::shared_ptr<const models::encoder_net> prototype_;
  std::shared_ptr<const detail::fast_encoder> engine_;
  std::filesystem::path file_;
};

/// The cnn face detector (face-api.js's ssd_mobilenetv1, see detail/ssd_detector.hpp). The weights are loaded
/// once and shared; each thread detects with its own engine.
class cnn_detector_model {
 public:
  static result<cnn_detector_model> load(const std::filesystem::path& file) {
    try {
      return cnn_detector_model(detail::ssd::fold(detail::ssd::read_weight_file(file)), file);
    } catch (const std::exception& e) {
      return fail("models", file.string(), std::string("cannot load the cnn face detector: ") + e.what());
    }
  }

  /// The calling thread's engine for this model, made on first use.
  [[nodiscard]] detail::ssd::engine& for_this_thread() const {
    struct entry {
      std::weak_ptr<const detail::ssd::weights> weights;
      std::unique_ptr<detail::ssd::engine> engine;
    };
    thread_local std::vector<entry> engines;
    for (auto& e : engines) {
      if (!e.weights.owner_before(weights_) && !weights_.owner_before(e.weights)) return *e.engine;
    }
    std::erase_if(engines, [](const entry& e) { return e.weights.expired(); });
    engines.push_back({weights_, std::make_unique<detail::ssd::engine>(weights_)});
    return *engines.back().engine;
  }
  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }

 private:
  cnn_detector_model(std::shared_ptr<const detail::ssd::weights> w, std::filesystem::path file)
      : weights_(std::move(w)), file_(std::move(file)) {}
  std::shared_ptr<const detail::ssd::weights> weights_;
  std::filesystem::path file_;
};

/// The default cnn face detector, found on the search path and loaded once, on first use.
inline const result<cnn_detector_model>& default_cnn_detector_model() {
  static const result<cnn_detector_model> model = models::find_model_file(models::cnn_detector_file).and_then(
      [](const std::filesystem::path& p) { return cnn_detector_model::load(p); });
  return model;
}

/// The models encode needs.
struct model_set {
  landmark_model landmarks;
  encoder_model encoder;
};

/// Loads both models from `dir`, or from the search path (see model_files.hpp) when `dir` is empty.
inline result<model_set> load_models(const std::filesystem::path& dir = {}) {
  auto lm_file = models::find_landmark_model(dir);
  if (!lm_file) return unexpected(lm_file.error());
  auto enc_file = models::find_model_file(models::encoder_file, dir);
  if (!enc_file) return unexpected(enc_file.error());
  auto lm = landmark_model::load(*lm_file);
  if (!lm) return unexpected(lm.error());
  auto enc = encoder_model::load(*enc_file);
  if (!enc) return unexpected(enc.error());
  return model_set{*std::move(lm), *std::move(enc)};
}

/// The default landmark model, found on the search path and loaded once, on first use.
inline const result<landmark_model>& default_landmark_model() {
  static const result<landmark_model> model = models::find_landmark_model().and_then(
      [](const std::filesystem::path& p) { return landmark_model::load(p); });
  return model;
}

/// The default encoder, found on the search path and loaded once, on first use.
inline const result<encoder_model>& default_encoder_model() {
  static const result<encoder_model> model = models::find_model_file(models::encoder_file).and_then(
      [](const std::filesystem::path& p) { return encoder_model::load(p); });
  return model;
}

/// The calling thread's HOG frontal face detector (built from data compiled into dlib; no file needed).
inline dlib::frontal_face_detector& thread_face_detector() {
  thread_local dlib::frontal_face_detector detector = dlib::get_frontal_face_detector();
  return detector;
}

}  // namespace faceapp

namespace faceapp {

/// Stages built without model handles use the default models (see default_landmark_model()).
struct default_models_t {
  friend constexpr bool operator==(default_models_t, default_models_t) = default;
};

namespace detail {
inline result<const landmark_model*> landmarks_of(const default_models_t&) {
  const auto& m = default_landmark_model();
  if (!m) return unexpected(m.error());
  return &*m;
}
inline result<const landmark_model*> landmarks_of(const model_set& m) { return &m.landmarks; }
inline result<const encoder_model*> encoder_of(const default_models_t&) {
  const auto& m = default_encoder_model();
  if (!m) return unexpected(m.error());
  return &*m;
}
inline result<const encoder_model*> encoder_of(const model_set& m) { return &m.encoder; }
}  // namespace detail

}  // namespace faceapp
