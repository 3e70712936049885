# Builds the weight converter and makes the build produce dlib's face encoder in ${FACEAPP_MODEL_BUILD_DIR}.
# Included by the top-level CMakeLists.txt when FACEAPP_FETCH_MODELS is ON; the work is done at build time
# by cmake/fetch_models.cmake (user cache, then dlib.net, then conversion of the npm package's weights).

find_package(nlohmann_json 3 REQUIRED)

# faceapp_convert_model <weights_manifest.json> <model.bin> <out.dat>: face-api.js weights -> dlib model file.
add_executable(faceapp_convert_model tools/convert_face_api.cpp)
target_link_libraries(faceapp_convert_model PRIVATE faceapp::faceapp nlohmann_json::nlohmann_json)
faceapp_own_target(faceapp_convert_model)

set(faceapp_encoder_model "${FACEAPP_MODEL_BUILD_DIR}/dlib_face_recognition_resnet_model_v1.dat")
set(faceapp_detector_model "${FACEAPP_MODEL_BUILD_DIR}/faceapp_ssd_mobilenetv1.dat")

# The encoder and the cnn detector are OUTPUTs: the 5-point landmark model is optional and is tried along the way.
# Depending on the converter reruns the script when it changes; with a warm cache that is a copy.
add_custom_command(
  OUTPUT "${faceapp_encoder_model}" "${faceapp_detector_model}"
  COMMAND "${CMAKE_COMMAND}"
          "-Dmodel_dir=${FACEAPP_MODEL_BUILD_DIR}"
          "-Dwork_dir=${PROJECT_BINARY_DIR}/model-work"
          "-Dconverter=$<TARGET_FILE:faceapp_convert_model>"
          -P "${PROJECT_SOURCE_DIR}/cmake/fetch_models.cmake"
  DEPENDS faceapp_convert_model "${PROJECT_SOURCE_DIR}/cmake/fetch_models.cmake"
  COMMENT "Fetching or converting the face models into ${FACEAPP_MODEL_BUILD_DIR}"
  VERBATIM)
add_custom_target(faceapp_models ALL DEPENDS "${faceapp_encoder_model}" "${faceapp_detector_model}")

# The converter's own output, whatever the runtime model above came from (dlib.net's original differs from the
# 8-bit quantized npm weights by ~0.01 per component): what tests/models checks against face-api.js's descriptors.
set(FACEAPP_CONVERTED_ENCODER "${PROJECT_BINARY_DIR}/model-work/converted/dlib_face_recognition_resnet_model_v1.dat")
add_custom_command(
  OUTPUT "${FACEAPP_CONVERTED_ENCODER}"
  COMMAND "${CMAKE_COMMAND}"
          "-Dmodel_dir=${PROJECT_BINARY_DIR}/model-work/converted"
          "-Dwork_dir=${PROJECT_BINARY_DIR}/model-work/convert-only"
          "-Dconverter=$<TARGET_FILE:faceapp_convert_model>"
          -Dconvert_only=ON
          -P "${PROJECT_SOURCE_DIR}/cmake/fetch_models.cmake"
  DEPENDS faceapp_convert_model "${PROJECT_SOURCE_DIR}/cmake/fetch_models.cmake"
  COMMENT "Converting @vladmandic/face-api's weights for the reference test"
  VERBATIM)
add_custom_target(faceapp_converted_encoder DEPENDS "${FACEAPP_CONVERTED_ENCODER}")

# faceapp_fit_cnn_boxes <faces dir>: measures the cnn -> HOG box fit of stages/detect.hpp (built on demand).
add_executable(faceapp_fit_cnn_boxes EXCLUDE_FROM_ALL tools/fit_cnn_boxes.cpp)
target_link_libraries(faceapp_fit_cnn_boxes PRIVATE faceapp::faceapp)
faceapp_own_target(faceapp_fit_cnn_boxes)
