// faceapp's Python extension: the models, found as the C++ library finds them, after an extra folder the package
// may name (an installed package names its share/faceapp/models). Loaded once, on first use; a failed load is not
// remembered. A load runs without the GIL, under the mutex below: a caller waiting for the mutex may hold the GIL,
// which is safe because nothing done under the mutex needs the GIL.
#include "model_cache.hpp"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <pybind11/pybind11.h>

#include "errors.hpp"
#include "faceapp/models/model_files.hpp"

namespace py = pybind11;

namespace faceapp_py {

namespace {

struct model_state {
  std::mutex mutex;
  std::filesystem::path extra_dir;
  std::optional<faceapp::landmark_model> landmarks68;
  std::optional<faceapp::landmark_model> landmarks5;
  bool looked_for_5 = false;
  std::optional<faceapp::encoder_model> encoder;
  std::optional<faceapp::cnn_detector_model> cnn;
};

model_state& models() {
  static model_state state;
  return state;
}

std::vector<std::filesystem::path> model_dirs(const model_state& s) {
  std::vector<std::filesystem::path> dirs;
  if (const char* env = std::getenv("FACEAPP_MODEL_DIR"); env != nullptr && *env != '\0') dirs.emplace_back(env);
  if (!s.extra_dir.empty()) dirs.push_back(s.extra_dir);
  for (auto& d : faceapp::models::search_path()) {
    if (std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(std::move(d));
  }
  return dirs;
}

std::optional<std::filesystem::path> find_in(const std::vector<std::filesystem::path>& dirs, const char* file) {
  for (const auto& d : dirs) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(d / file, ec)) return d / file;
  }
  return std::nullopt;
}

faceapp::stage_error not_found(const std::vector<std::filesystem::path>& dirs, const char* file) {
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) about std::string's operator+ here.
  std::string msg(file);
  msg.append(" not found; looked in:");
  for (const auto& d : dirs) {
    msg.push_back(' ');
    msg.append((d / file).string());
    msg.push_back(';');
  }
  msg.append(" build faceapp (its build fetches or converts the models) or set FACEAPP_MODEL_DIR to a folder that "
             "holds it");
  return {"models", file, std::move(msg), faceapp::errc::not_found};
}

template <class Model>
const Model& load_into(std::optional<Model>& slot, std::vector<std::filesystem::path> dirs, const char* file) {
  if (slot) return *slot;
  const auto path = find_in(dirs, file);
  if (!path) raise(not_found(dirs, file));
  slot.emplace(value_or_raise(Model::load(*path)));
  return *slot;
}

}  // namespace

const faceapp::landmark_model& landmarks68() {
  const py::gil_scoped_release release;  // a first load takes a second: let other threads run
  auto& s = models();
  const std::lock_guard lock(s.mutex);
  auto dirs = model_dirs(s);
  dirs.push_back(faceapp::models::debian_dlib_data_dir);
  return load_into(s.landmarks68, dirs, faceapp::models::landmarks68_file);
}

/// The 5-point model when there is one (dlib.net's file; Debian does not ship it), else nothing.
const faceapp::landmark_model* landmarks5() {
  const py::gil_scoped_release release;  // a first load takes a second: let other threads run
  auto& s = models();
  const std::lock_guard lock(s.mutex);
  if (s.landmarks5) return &*s.landmarks5;
  const auto path = find_in(model_dirs(s), faceapp::models::landmarks5_file);
  if (!path) return nullptr;
  s.landmarks5.emplace(value_or_raise(faceapp::landmark_model::load(*path)));
  return &*s.landmarks5;
}

const faceapp::encoder_model& encoder() {
  const py::gil_scoped_release release;  // a first load takes a second: let other threads run
  auto& s = models();
  const std::lock_guard lock(s.mutex);
  return load_into(s.encoder, model_dirs(s), faceapp::models::encoder_file);
}

const faceapp::cnn_detector_model& cnn_model() {
  const py::gil_scoped_release release;  // a first load takes a second: let other threads run
  auto& s = models();
  const std::lock_guard lock(s.mutex);
  return load_into(s.cnn, model_dirs(s), faceapp::models::cnn_detector_file);
}

/// The models the pipeline's stages use: the 5-point landmarks when present (as the C++ library prefers them),
/// else the 68-point ones; the cnn when its file is there.
faceapp::model_set stage_models() {
  const faceapp::landmark_model* five = landmarks5();
  faceapp::model_set set{five != nullptr ? *five : landmarks68(), encoder()};
  try {
    set.cnn = cnn_model();
  } catch (const stage_exception& e) {
    set.cnn = faceapp::unexpected(e.error);
  }
  return set;
}

void set_package_model_dir(const std::string& dir) {
  auto& s = models();
  const std::lock_guard lock(s.mutex);
  s.extra_dir = dir;
}

std::vector<std::string> model_search_path() {
  std::vector<std::string> out;
  auto& s = models();
  const std::lock_guard lock(s.mutex);
  for (const auto& d : model_dirs(s)) out.push_back(d.string());
  return out;
}

}  // namespace faceapp_py
