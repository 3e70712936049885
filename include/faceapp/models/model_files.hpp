// faceapp: where model files are found.
//
// In this order: the directory named by $FACEAPP_MODEL_DIR; the model directory of the build that faceapp came
// from (compiled in as FACEAPP_BUILD_MODEL_DIR); $XDG_CACHE_HOME/faceapp (default ~/.cache/faceapp). The 68-point
// landmark model is also looked for where Debian's libdlib-data puts it.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "faceapp/core/result.hpp"

namespace faceapp::models {

/// File names of the models, as dlib.net publishes them.
inline constexpr const char* encoder_file = "dlib_face_recognition_resnet_model_v1.dat";
inline constexpr const char* landmarks5_file = "shape_predictor_5_face_landmarks.dat";
inline constexpr const char* landmarks68_file = "shape_predictor_68_face_landmarks.dat";

/// The cnn face detector's weights: face-api.js's ssd_mobilenetv1, converted at build time (tools/).
inline constexpr const char* cnn_detector_file = "faceapp_ssd_mobilenetv1.dat";

/// The directories searched for model files, in order.
inline std::vector<std::filesystem::path> search_path() {
  std::vector<std::filesystem::path> dirs;
  if (const char* env = std::getenv("FACEAPP_MODEL_DIR"); env != nullptr && *env != '\0') dirs.emplace_back(env);
#ifdef FACEAPP_BUILD_MODEL_DIR
  dirs.emplace_back(FACEAPP_BUILD_MODEL_DIR);
#endif
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    dirs.emplace_back(std::filesystem::path(xdg) / "faceapp");
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    dirs.emplace_back(std::filesystem::path(home) / ".cache" / "faceapp");
  }
  return dirs;
}

/// Where Debian's libdlib-data installs the 68-point landmark model.
inline const std::filesystem::path debian_dlib_data_dir{"/usr/share/dlib"};

namespace detail {
inline bool is_file(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec);
}

inline std::string not_found_message(const std::string& what, const std::vector<std::filesystem::path>& looked,
                                     const std::string& how) {
  std::string msg = what;
  msg += " not found; looked in:";
  for (const auto& p : looked) {
    msg += ' ';
    msg += p.string();
    msg += ';';
  }
  msg += ' ';
  msg += how;
  return msg;
}
}  // namespace detail

/// The full path of the model file `name` in an explicit directory, or in the search path when `dir` is empty.
inline result<std::filesystem::path> find_model_file(const std::string& name, const std::filesystem::path& dir = {}) {
  std::vector<std::filesystem::path> looked;
  for (const auto& d : dir.empty() ? search_path() : std::vector<std::filesystem::path>{dir}) {
    looked.push_back(d / name);
    if (detail::is_file(looked.back())) return looked.back();
  }
  return fail("models", name,
              detail::not_found_message(name, looked,
                                        "build faceapp (its build fetches or converts the model into the build's "
                                        "models/ folder) or set FACEAPP_MODEL_DIR to a folder that holds it"),
              errc::not_found);
}

/// The landmark model: the 5-point model wherever it is found first (what face_recognition uses by default),
/// else the 68-point one, also in Debian's /usr/share/dlib (package libdlib-data).
inline result<std::filesystem::path> find_landmark_model(const std::filesystem::path& dir = {}) {
  auto dirs = dir.empty() ? search_path() : std::vector<std::filesystem::path>{dir};
  std::vector<std::filesystem::path> looked;
  for (const auto& d : dirs) {
    looked.push_back(d / landmarks5_file);
    if (detail::is_file(looked.back())) return looked.back();
  }
  if (dir.empty()) dirs.push_back(debian_dlib_data_dir);
  for (const auto& d : dirs) {
    looked.push_back(d / landmarks68_file);
    if (detail::is_file(looked.back())) return looked.back();
  }
  return fail("models", "landmark model",
              detail::not_found_message(std::string(landmarks5_file) + " or " + landmarks68_file, looked,
                                        "install Debian's libdlib-data (it ships the 68-point model) or set "
                                        "FACEAPP_MODEL_DIR to a folder that holds either file"),
              errc::not_found);
}

}  // namespace faceapp::models
