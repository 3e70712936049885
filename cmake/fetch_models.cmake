# Script mode: puts dlib's face encoder (and, if possible, the 5-point landmark model) into a build's model dir.
#
#   cmake -D model_dir=<dir> -D work_dir=<dir> -D converter=<faceapp_convert_model> [-D dlib_files_url=<url>]
#         [-D convert_only=ON] -P fetch_models.cmake
#
# The encoder comes from the first source that works:
#   1. the user cache ($XDG_CACHE_HOME/faceapp, else ~/.cache/faceapp): fresh build trees reuse it, no network;
#   2. dlib.net (short timeouts: often unreachable from CI and sandboxes);
#   3. the npm package @vladmandic/face-api, whose TensorFlow.js weights faceapp_convert_model turns into
#      dlib's format. The npm tarball is kept in the cache too, so a later conversion does not hit npm.
# Whatever is fetched or converted is copied into the cache. Nothing is ever written into the source tree.
cmake_minimum_required(VERSION 3.20)

foreach(var model_dir work_dir converter)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "fetch_models.cmake: pass -D ${var}=...")
  endif()
endforeach()

set(encoder_file "dlib_face_recognition_resnet_model_v1.dat")
set(landmarks5_file "shape_predictor_5_face_landmarks.dat")
set(detector_file "faceapp_ssd_mobilenetv1.dat")  # models::cnn_detector_file
if(NOT DEFINED dlib_files_url)  # -D overridable, for a mirror or to test this script against a local server
  set(dlib_files_url "http://dlib.net/files")
endif()
set(npm_package "@vladmandic/face-api@1.7.15")
set(npm_tarball "vladmandic-face-api-1.7.15.tgz")  # the name `npm pack` gives it

if(DEFINED ENV{XDG_CACHE_HOME} AND NOT "$ENV{XDG_CACHE_HOME}" STREQUAL "")
  set(cache_dir "$ENV{XDG_CACHE_HOME}/faceapp")
elseif(DEFINED ENV{HOME} AND NOT "$ENV{HOME}" STREQUAL "")
  set(cache_dir "$ENV{HOME}/.cache/faceapp")
else()
  set(cache_dir "${work_dir}/cache")  # no home (some CI sandboxes): cache within this build tree only
endif()

file(MAKE_DIRECTORY "${model_dir}" "${work_dir}")
# An unusable cache dir (read-only home) is not an error: the models are then only kept in this build tree.
execute_process(COMMAND "${CMAKE_COMMAND}" -E make_directory "${cache_dir}" RESULT_VARIABLE result ERROR_QUIET)
if(NOT result EQUAL 0)
  message(STATUS "faceapp models: cannot create ${cache_dir}, caching in ${work_dir}/cache instead")
  set(cache_dir "${work_dir}/cache")
  file(MAKE_DIRECTORY "${cache_dir}")
endif()

set(manual_help
  "To provide the encoder by hand, download ${dlib_files_url}/${encoder_file}.bz2, decompress it "
  "(bzip2 -d) and put ${encoder_file} into ${cache_dir}/ (or ${model_dir}/), then build again. "
  "Or configure with -DFACEAPP_FETCH_MODELS=OFF and point $FACEAPP_MODEL_DIR at a folder holding the models.")
string(JOIN "" manual_help ${manual_help})

# Copies <src> to <dst> through a temporary name, so that no reader ever sees a partial file.
# (execute_process rather than file(COPY_FILE/RENAME ... RESULT), which need CMake 3.21.)
function(copy_atomically src dst out_ok)
  execute_process(COMMAND "${CMAKE_COMMAND}" -E copy "${src}" "${dst}.part" RESULT_VARIABLE result ERROR_QUIET)
  if(result EQUAL 0)
    execute_process(COMMAND "${CMAKE_COMMAND}" -E rename "${dst}.part" "${dst}" RESULT_VARIABLE result ERROR_QUIET)
  endif()
  if(result EQUAL 0)
    set(${out_ok} TRUE PARENT_SCOPE)
  else()
    file(REMOVE "${dst}.part")
    set(${out_ok} FALSE PARENT_SCOPE)
  endif()
endfunction()

# Copies a finished file into the cache, quietly: a read-only cache only costs a later re-fetch.
function(store_in_cache file)
  get_filename_component(name "${file}" NAME)
  copy_atomically("${file}" "${cache_dir}/${name}" ok)
  if(NOT ok)
    message(STATUS "faceapp models: could not store ${name} in ${cache_dir}")
  endif()
endfunction()

# Tries dlib.net for <name>.bz2; on success <dest>/<name> exists and is nonempty. Never fatal.
function(download_from_dlib name dest out_ok)
  set(${out_ok} FALSE PARENT_SCOPE)
  find_program(bzip2_exe bzip2)
  if(NOT bzip2_exe)
    message(STATUS "faceapp models: bzip2 not found, not downloading ${name} from ${dlib_files_url}")
    return()
  endif()
  set(archive "${work_dir}/${name}.bz2")
  file(DOWNLOAD "${dlib_files_url}/${name}.bz2" "${archive}" TIMEOUT 15 INACTIVITY_TIMEOUT 10 STATUS status)
  list(GET status 0 code)
  if(NOT code EQUAL 0)
    list(GET status 1 reason)
    message(STATUS "faceapp models: ${name}.bz2 not downloaded from ${dlib_files_url} (${reason})")
    file(REMOVE "${archive}")  # file(DOWNLOAD) leaves an empty file behind on failure
    return()
  endif()
  # Decompress to a temporary name: the build must never see a truncated model.
  execute_process(COMMAND "${bzip2_exe}" -dc "${archive}" OUTPUT_FILE "${dest}/${name}.part"
                  RESULT_VARIABLE result ERROR_QUIET)
  file(REMOVE "${archive}")
  set(size 0)
  if(EXISTS "${dest}/${name}.part")
    file(SIZE "${dest}/${name}.part" size)
  endif()
  if(NOT result EQUAL 0 OR size EQUAL 0)
    message(STATUS "faceapp models: ${name}.bz2 from ${dlib_files_url} did not decompress (${result})")
    file(REMOVE "${dest}/${name}.part")
    return()
  endif()
  file(RENAME "${dest}/${name}.part" "${dest}/${name}")
  set(${out_ok} TRUE PARENT_SCOPE)
endfunction()

# Cache first, then dlib.net; <out_ok> tells whether <model_dir>/<name> is now there.
function(fetch_model name out_ok)
  if(EXISTS "${cache_dir}/${name}")
    copy_atomically("${cache_dir}/${name}" "${model_dir}/${name}" ok)
    if(NOT ok)
      message(FATAL_ERROR "faceapp models: could not copy ${cache_dir}/${name} into ${model_dir}")
    endif()
    message(STATUS "faceapp models: ${name} from the cache ${cache_dir}")
    set(${out_ok} TRUE PARENT_SCOPE)
    return()
  endif()
  download_from_dlib(${name} "${model_dir}" ok)
  if(ok)
    message(STATUS "faceapp models: ${name} downloaded from ${dlib_files_url}")
    store_in_cache("${model_dir}/${name}")
  endif()
  set(${out_ok} ${ok} PARENT_SCOPE)
endfunction()

# Sets <out_var> to the npm package's tarball: from the cache, else fetched with `npm pack` (and cached).
function(get_npm_tarball npm_dir out_var)
  if(EXISTS "${cache_dir}/${npm_tarball}")
    set(tarball "${cache_dir}/${npm_tarball}")
    message(STATUS "faceapp models: ${npm_package} from the cache ${cache_dir}")
  else()
    find_program(npm_exe npm)
    if(NOT npm_exe)
      message(FATAL_ERROR "faceapp models: ${encoder_file} is neither cached nor downloadable from dlib.net, "
                          "and npm (needed to fetch ${npm_package} and convert it) is not installed. ${manual_help}")
    endif()
    message(STATUS "faceapp models: fetching ${npm_package} with npm")
    # --ignore-scripts: we only want the files; --loglevel=error: npm pack otherwise lists every file it packs,
    # but its errors (registry, proxy) must still reach the user.
    execute_process(COMMAND "${npm_exe}" pack "${npm_package}" --ignore-scripts --loglevel=error
                    WORKING_DIRECTORY "${npm_dir}" RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
    set(tarball "${npm_dir}/${npm_tarball}")
    if(NOT result EQUAL 0 OR NOT EXISTS "${tarball}")
      message(FATAL_ERROR "faceapp models: `npm pack ${npm_package}` failed (${result}):\n${err}${out}\n"
                          "Check npm's registry access (npm config get registry). ${manual_help}")
    endif()
    store_in_cache("${tarball}")
  endif()
  set(${out_var} "${tarball}" PARENT_SCOPE)
endfunction()

# Offline route for the encoder: npm tarball -> TF.js weights -> faceapp_convert_model.
function(convert_encoder_from_npm)
  set(npm_dir "${work_dir}/npm")
  file(REMOVE_RECURSE "${npm_dir}")
  file(MAKE_DIRECTORY "${npm_dir}")
  get_npm_tarball("${npm_dir}" tarball)

  set(model_bin "package/model/face_recognition_model.bin")
  set(model_manifest "package/model/face_recognition_model-weights_manifest.json")
  execute_process(COMMAND "${CMAKE_COMMAND}" -E tar xzf "${tarball}" "${model_bin}" "${model_manifest}"
                  WORKING_DIRECTORY "${npm_dir}" RESULT_VARIABLE result ERROR_VARIABLE err)
  if(NOT result EQUAL 0 OR NOT EXISTS "${npm_dir}/${model_bin}" OR NOT EXISTS "${npm_dir}/${model_manifest}")
    # A broken cached tarball would otherwise fail every build: drop it so the next one fetches again.
    file(REMOVE "${cache_dir}/${npm_tarball}")
    message(FATAL_ERROR "faceapp models: could not extract ${model_bin} and ${model_manifest} from ${tarball} "
                        "(${result}): ${err}\nBuild again to fetch the package anew. ${manual_help}")
  endif()

  execute_process(COMMAND "${converter}" "${npm_dir}/${model_manifest}" "${npm_dir}/${model_bin}"
                          "${model_dir}/${encoder_file}"
                  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0 OR NOT EXISTS "${model_dir}/${encoder_file}")
    message(FATAL_ERROR "faceapp models: converting ${npm_package}'s face recognition weights failed (${result}):\n"
                        "${err}${out}\n${manual_help}")
  endif()
  string(STRIP "${out}" out)
  message(STATUS "${out}")
  if(NOT convert_only)
    store_in_cache("${model_dir}/${encoder_file}")
  endif()
  file(REMOVE_RECURSE "${npm_dir}")  # 13 MB tarball + 6 MB weights, no longer needed
endfunction()


# The cnn face detector: always converted from the npm package's ssd_mobilenetv1 weights (there is no other
# source). The SHA-256 of the manifest and the weights pin the package: a changed package fails here, loudly,
# instead of yielding a detector that silently finds other faces.
set(detector_manifest_sha256 "888f744dffbc84f5f060d1f8427d9742341943a2dfaaf9205d10029b7e7a2955")
set(detector_bin_sha256 "2835640602d53718aa6ae9a42896327eaa21beefed056c218d32ca7d79e1e2f8")
function(convert_detector_from_npm)
  set(npm_dir "${work_dir}/npm-detector")
  file(REMOVE_RECURSE "${npm_dir}")
  file(MAKE_DIRECTORY "${npm_dir}")
  get_npm_tarball("${npm_dir}" tarball)
  set(model_bin "package/model/ssd_mobilenetv1_model.bin")
  set(model_manifest "package/model/ssd_mobilenetv1_model-weights_manifest.json")
  execute_process(COMMAND "${CMAKE_COMMAND}" -E tar xzf "${tarball}" "${model_bin}" "${model_manifest}"
                  WORKING_DIRECTORY "${npm_dir}" RESULT_VARIABLE result ERROR_VARIABLE err)
  if(NOT result EQUAL 0 OR NOT EXISTS "${npm_dir}/${model_bin}" OR NOT EXISTS "${npm_dir}/${model_manifest}")
    file(REMOVE "${cache_dir}/${npm_tarball}")
    message(FATAL_ERROR "faceapp models: could not extract ${model_bin} and ${model_manifest} from ${tarball} "
                        "(${result}): ${err}\nBuild again to fetch the package anew.")
  endif()
  file(SHA256 "${npm_dir}/${model_manifest}" manifest_hash)
  file(SHA256 "${npm_dir}/${model_bin}" bin_hash)
  if(NOT manifest_hash STREQUAL detector_manifest_sha256 OR NOT bin_hash STREQUAL detector_bin_sha256)
    message(FATAL_ERROR "faceapp models: ${npm_package}'s ssd_mobilenetv1 weights are not the ones faceapp was "
                        "checked against (SHA-256 ${manifest_hash} / ${bin_hash}, expected "
                        "${detector_manifest_sha256} / ${detector_bin_sha256}). Delete ${cache_dir}/${npm_tarball} "
                        "if it is damaged; a new package version needs a new reference check (tests/data/cnn).")
  endif()
  execute_process(COMMAND "${converter}" --ssd-mobilenetv1 "${npm_dir}/${model_manifest}" "${npm_dir}/${model_bin}"
                          "${model_dir}/${detector_file}"
                  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0 OR NOT EXISTS "${model_dir}/${detector_file}")
    message(FATAL_ERROR "faceapp models: converting ${npm_package}'s ssd_mobilenetv1 weights failed (${result}):\n"
                        "${err}${out}")
  endif()
  string(STRIP "${out}" out)
  message(STATUS "${out}")
  store_in_cache("${model_dir}/${detector_file}")
  file(REMOVE_RECURSE "${npm_dir}")
endfunction()

# -D convert_only=ON: always convert (the reference test checks the converter's own output, whatever the
# build's runtime model came from).
if(convert_only)
  convert_encoder_from_npm()
  return()
endif()

fetch_model(${encoder_file} encoder_ok)
if(NOT encoder_ok)
  convert_encoder_from_npm()
endif()
convert_detector_from_npm()

# Optional: the 5-point landmark model has no offline route (Debian's libdlib-data only has the 68-point one).
fetch_model(${landmarks5_file} landmarks5_ok)
if(NOT landmarks5_ok)
  message(STATUS "faceapp models: ${landmarks5_file} not available (optional; put it into ${cache_dir} to use it)")
endif()
