// faceapp: model handles.
//
// A handle is a cheap-to-copy value around a model loaded once. What dlib only reads (the shape predictor) is
// shared by every thread; what keeps scratch state (the HOG detector, the encoder network) is copied once per
// thread that uses it, never locked.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "faceapp/core/result.hpp"
#include "faceapp/models/model_files.hpp"

// Only named here; defined by dlib and by detail/fast_encoder.hpp and detail/ssd_detector.hpp, which the compiled
// runtime (src/) includes. A translation unit that uses them includes those headers itself.
namespace dlib {
class shape_predictor;
}
namespace faceapp::detail {
class fast_encoder;
namespace ssd {
struct weights;
class engine;
}  // namespace ssd
}  // namespace faceapp::detail

namespace faceapp {
class encoder_engine;

// The member functions below that touch dlib or the engines are compiled once, in the runtime library
// (src/detect.cpp and src/encode.cpp), not in every file that includes this header.

/// dlib's shape predictor: 5 or 68 landmarks per face. Shared between threads (dlib only reads it).
class landmark_model {
 public:
  /// Loads a shape predictor file; an error naming the file if it is missing, corrupt or not 5 or 68 points.
  static result<landmark_model> load(const std::filesystem::path& file);

  [[nodiscard]] std::size_t points() const noexcept { return points_; }
  [[nodiscard]] const dlib::shape_predictor& predictor() const noexcept { return *predictor_; }
  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }

 private:
  landmark_model(std::shared_ptr<const dlib::shape_predictor> sp, std::size_t points, std::filesystem::path file)
      : predictor_(std::move(sp)), points_(points), file_(std::move(file)) {}
  std::shared_ptr<const dlib::shape_predictor> predictor_;
  std::size_t points_ = 0;
  std::filesystem::path file_;
};

/// dlib's 128-D ResNet face encoder. The weights are read once and shared; each thread encodes with its own
/// engine (encoder_engine, in models/encoder_engine.hpp: the same function as dlib's forward pass, faster).
class encoder_model {
 public:
  /// Loads dlib_face_recognition_resnet_model_v1.dat (or a file of the same network); an error naming the file.
  static result<encoder_model> load(const std::filesystem::path& file);

  /// The calling thread's encoder engine, made on first use (it shares the weights, owns its scratch memory).
  /// Its engine is a public type, defined in faceapp/models/encoder_engine.hpp (which includes dlib's matrix
  /// types): include that header to call it.
  [[nodiscard]] encoder_engine& for_this_thread() const;
  /// Whether two handles share one loaded set of weights (one load, however many copies of the handle).
  [[nodiscard]] bool shares_weights_with(const encoder_model& other) const noexcept { return engine_ == other.engine_; }
  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }

 private:
  encoder_model(std::shared_ptr<const detail::fast_encoder> engine, std::filesystem::path file)
      : engine_(std::move(engine)), file_(std::move(file)) {}
  std::shared_ptr<const detail::fast_encoder> engine_;
  std::filesystem::path file_;
};

/// The cnn face detector (face-api.js's ssd_mobilenetv1, see detail/ssd_detector.hpp). The weights are loaded
/// once and shared; each thread detects with its own engine.
class cnn_detector_model {
 public:
  static result<cnn_detector_model> load(const std::filesystem::path& file);

  /// The calling thread's engine for this model, made on first use.
  [[nodiscard]] detail::ssd::engine& for_this_thread() const;
  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }

 private:
  cnn_detector_model(std::shared_ptr<const detail::ssd::weights> w, std::filesystem::path file)
      : weights_(std::move(w)), file_(std::move(file)) {}
  std::shared_ptr<const detail::ssd::weights> weights_;
  std::filesystem::path file_;
};

/// The models the stages use: the landmark model and the encoder, which load_models() requires, and the cnn face
/// detector, which only `detect(models, cnn)` needs: when its file is not in the folder (dlib's own model files
/// do not include it) or does not load, `cnn` holds the error that says so, and only detect(models, cnn) fails.
struct model_set {
  landmark_model landmarks;
  encoder_model encoder;
  result<cnn_detector_model> cnn = fail("models", "<model_set>", "no cnn face detector in this model set",
                                        errc::not_found);
};

/// Loads the models from `dir`, or from the search path (see model_files.hpp) when `dir` is empty: the landmark
/// model and the encoder (an error naming what is missing), and the cnn detector when its file is there.
inline result<model_set> load_models(const std::filesystem::path& dir = {}) {
  auto lm_file = models::find_landmark_model(dir);
  if (!lm_file) return unexpected(lm_file.error());
  auto enc_file = models::find_model_file(models::encoder_file, dir);
  if (!enc_file) return unexpected(enc_file.error());
  auto lm = landmark_model::load(*lm_file);
  if (!lm) return unexpected(lm.error());
  auto enc = encoder_model::load(*enc_file);
  if (!enc) return unexpected(enc.error());
  model_set set{*std::move(lm), *std::move(enc)};
  set.cnn = models::find_model_file(models::cnn_detector_file, dir).and_then(
      [](const std::filesystem::path& p) { return cnn_detector_model::load(p); });
  return set;
}

namespace detail {

/// A model loaded on first use and kept for the life of the process once loaded. A failed load (the file not
/// there yet, or unreadable) is not remembered: the next call tries again. Thread-safe; after the first
/// success a call is one atomic load.
template <class Model>
class default_model_slot {
 public:
  template <class Load>
  result<const Model*> get(Load&& load) {
    if (const Model* m = loaded_.load(std::memory_order_acquire)) return m;
    const std::lock_guard lock(mutex_);
    if (const Model* m = loaded_.load(std::memory_order_relaxed)) return m;
    result<Model> r = std::forward<Load>(load)();
    if (!r) return unexpected(std::move(r).error());
    model_.emplace(*std::move(r));
    loaded_.store(&*model_, std::memory_order_release);
    return &*model_;
  }

 private:
  std::mutex mutex_;
  std::optional<Model> model_;
  std::atomic<const Model*> loaded_{nullptr};
};

inline result<const landmark_model*> default_landmark_model_ptr() {
  static default_model_slot<landmark_model> slot;
  return slot.get([] {
    return models::find_landmark_model().and_then(
        [](const std::filesystem::path& p) { return landmark_model::load(p); });
  });
}

inline result<const encoder_model*> default_encoder_model_ptr() {
  static default_model_slot<encoder_model> slot;
  return slot.get([] {
    return models::find_model_file(models::encoder_file).and_then(
        [](const std::filesystem::path& p) { return encoder_model::load(p); });
  });
}

inline result<const cnn_detector_model*> default_cnn_detector_model_ptr() {
  static default_model_slot<cnn_detector_model> slot;
  return slot.get([] {
    return models::find_model_file(models::cnn_detector_file).and_then(
        [](const std::filesystem::path& p) { return cnn_detector_model::load(p); });
  });
}

template <class Model>
result<Model> copy_of(const result<const Model*>& m) {
  if (!m) return unexpected(m.error());
  return **m;
}

}  // namespace detail

/// The default landmark model, found on the search path and loaded on first use. A handle (cheap to copy). After
/// a failure (no model found yet) the next call looks again; once loaded it stays loaded.
inline result<landmark_model> default_landmark_model() { return detail::copy_of(detail::default_landmark_model_ptr()); }

/// The default encoder, found on the search path and loaded on first use; retried after a failure, like
/// default_landmark_model().
inline result<encoder_model> default_encoder_model() { return detail::copy_of(detail::default_encoder_model_ptr()); }

/// The default cnn face detector, found on the search path and loaded on first use; retried after a failure,
/// like default_landmark_model().
inline result<cnn_detector_model> default_cnn_detector_model() {
  return detail::copy_of(detail::default_cnn_detector_model_ptr());
}

}  // namespace faceapp

namespace faceapp {

/// Stages built without model handles use the default models (see default_landmark_model()).
struct default_models_t {
  friend constexpr bool operator==(default_models_t, default_models_t) = default;
};

namespace detail {
inline result<const landmark_model*> landmarks_of(const default_models_t&) { return default_landmark_model_ptr(); }
inline result<const landmark_model*> landmarks_of(const model_set& m) { return &m.landmarks; }
inline result<const encoder_model*> encoder_of(const default_models_t&) { return default_encoder_model_ptr(); }
inline result<const encoder_model*> encoder_of(const model_set& m) { return &m.encoder; }
inline result<const cnn_detector_model*> cnn_of(const default_models_t&) { return default_cnn_detector_model_ptr(); }
inline result<const cnn_detector_model*> cnn_of(const model_set& m) {
  if (!m.cnn) return unexpected(m.cnn.error());
  return &*m.cnn;
}
}  // namespace detail

}  // namespace faceapp
