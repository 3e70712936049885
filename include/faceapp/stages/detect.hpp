// faceapp stage `detect(upsample)`: image -> faces, with dlib's HOG frontal face detector.
#pragma once

#include <algorithm>
#include <thread>
#include <string>
#include <vector>

#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <dlib/opencv/cv_image.h>

#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"
#include "faceapp/core/threading.hpp"
#include "faceapp/detail/parallel_hog.hpp"
#include "faceapp/faces.hpp"
#include "faceapp/image.hpp"
#include "faceapp/models/models.hpp"

namespace faceapp {

namespace detail {

/// dlib's rectangle -> face_recognition's (top, right, bottom, left), trimmed to the image as
/// face_recognition's _trim_css_to_bounds does.
inline box to_box(const dlib::rectangle& r, int width, int height) {
  return {std::max(static_cast<int>(r.top()), 0), std::min(static_cast<int>(r.right()), width),
          std::min(static_cast<int>(r.bottom()), height), std::max(static_cast<int>(r.left()), 0)};
}

inline dlib::rectangle to_rectangle(const box& b) { return {b.left, b.top, b.right, b.bottom}; }

/// HOG detection with dlib's Python-binding semantics: upsampling means pyramid_up n times and mapping the
/// boxes back down (the C++ detector's own second argument is a threshold adjustment, not an upsample count).
inline std::vector<dlib::rect_detection> hog_detect(const image& img, int upsample) {
  const dlib::cv_image<dlib::rgb_pixel> view(img.pixels);
  // The thread's own detector, its pyramid levels scanned on all cores (on one, on a pool's worker thread):
  // the same boxes as the detector alone.
  thread_local parallel_hog<dlib::frontal_face_detector> detector(thread_face_detector());
  detector.set_threads(is_worker_thread() ? 1U : std::max(1U, std::thread::hardware_concurrency()));
  std::vector<dlib::rect_detection> found;
  if (upsample <= 0) {
    detector(view, found, 0.0);
    return found;
  }
  dlib::pyramid_down<2> pyr;
  dlib::array2d<dlib::rgb_pixel> up;
  dlib::pyramid_up(view, up, pyr);
  for (int i = 1; i < upsample; ++i) dlib::pyramid_up(up, pyr);
  detector(up, found, 0.0);
  for (auto& d : found) d.rect = pyr.rect_down(d.rect, static_cast<unsigned>(upsample));
  return found;
}

inline faces detect_faces(const image& img, int upsample) {
  faces out;
  out.image = img;
  for (const auto& d : hog_detect(img, upsample)) {
    face f;
    f.box_in_image = to_box(d.rect, img.width(), img.height());
    f.box = img.to_original(f.box_in_image);
    f.score = d.detection_confidence;
    out.items.push_back(std::move(f));
  }
  return out;
}

}  // namespace detail

/// `detect(upsample = 1)`: image -> faces (boxes, most confident first; an empty list when there is none).
/// Upsampling doubles the image `upsample` times first, finding faces down to about 40 px / 2^upsample; each
/// step costs about 4x the time. Boxes are in the coordinates of the image as read. Thread-safe (each thread
/// has its own detector). Example: `(read | detect(2))("group.jpg")`.
struct detect_stage : stage_base<detect_stage> {
  using input_type = image;
  using output_type = faces;
  static constexpr const char* name = "detect";

  int upsample = 1;

  [[nodiscard]] result<faces> run(const image& img) const {
    if (upsample < 0 || upsample > 4) {
      return fail(name, img.source, "upsample must be in [0, 4], got " + std::to_string(upsample));
    }
    return detail::detect_faces(img, upsample);
  }
};

struct detect_fn : detect_stage {
  using detect_stage::operator();
  [[nodiscard]] constexpr detect_stage operator()(int upsample) const { return detect_stage{{}, upsample}; }
};

/// HOG detection, upsampling once (face_recognition's default).
inline constexpr detect_fn detect{};

}  // namespace faceapp
