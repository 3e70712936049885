// faceapp's Python extension: the models it uses, loaded once on first use without the GIL (model_cache.cpp).
// Each getter raises (stage_exception, errors.hpp) with the places it looked when the model is not found.
#pragma once

#include <string>
#include <vector>

#include "faceapp/models/models.hpp"

namespace faceapp_py {

/// A folder looked in after $FACEAPP_MODEL_DIR and before the library's search path (the installed package's).
void set_package_model_dir(const std::string& dir);
/// Every folder looked in, in order.
std::vector<std::string> model_search_path();

/// dlib's 68-point shape predictor (Debian's libdlib-data has it).
const faceapp::landmark_model& landmarks68();
/// The 5-point model when there is one (dlib.net's file; Debian does not ship it), else nothing.
const faceapp::landmark_model* landmarks5();
const faceapp::encoder_model& encoder();
const faceapp::cnn_detector_model& cnn_model();
/// The models the pipeline's stages use: the 5-point landmarks when present (as the C++ library prefers them),
/// else the 68-point ones; the cnn when its file is there.
faceapp::model_set stage_models();

}  // namespace faceapp_py
