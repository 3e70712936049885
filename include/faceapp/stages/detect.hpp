// faceapp stage `detect`: image -> faces, with dlib's HOG frontal face detector (`detect(upsample)`, the default)
// or the cnn detector (`detect(faceapp::cnn)`: face-api.js's ssd_mobilenetv1 on faceapp's own kernels).
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>
#include <string_view>
#include <thread>
#include <string>
#include <vector>

#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <dlib/opencv/cv_image.h>
#include <opencv2/imgproc.hpp>

#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"
#include "faceapp/core/threading.hpp"
#include "faceapp/detail/parallel_hog.hpp"
#include "faceapp/faces.hpp"
#include "faceapp/image.hpp"
#include "faceapp/models/models.hpp"

namespace faceapp {

/// The face detectors: dlib's HOG frontal face detector, or the cnn (SSD MobileNetV1, trained on WIDER FACE).
enum class detector_model { hog, cnn };
inline constexpr detector_model hog = detector_model::hog;
inline constexpr detector_model cnn = detector_model::cnn;

/// "hog" / "cnn" -> the model; anything else is nothing.
[[nodiscard]] inline std::optional<detector_model> parse_detector_model(std::string_view name) noexcept {
  if (name == "hog") return hog;
  if (name == "cnn") return cnn;
  return std::nullopt;
}

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

/// A cnn box (pixels, fractional) -> the box dlib's HOG detector gives the same face, which is what the landmark
/// models were trained on. HOG's boxes are square and sit lower on the face: side = side_scale * sqrt(w * h),
/// centre shifted by dx * w and dy * h. Measured on the 68 faces of tests/data/faces that both detectors find
/// (tools/fit_cnn_boxes.cpp: the mean of each ratio; their spread is 0.105 / 0.041 / 0.080).
struct cnn_box_fit {
  double dx = 0, dy = 0, side_scale = 1;
};
inline constexpr cnn_box_fit cnn_to_hog{0.0, 0.061, 0.96};

inline box cnn_box_to_hog(const ssd::detection& d, int width, int height) {
  const double w = d.right - d.left;
  const double h = d.bottom - d.top;
  const double cx = (d.left + d.right) / 2 + cnn_to_hog.dx * w;
  const double cy = (d.top + d.bottom) / 2 + cnn_to_hog.dy * h;
  const double half = cnn_to_hog.side_scale * std::sqrt(std::max(w * h, 0.0)) / 2;
  const dlib::rectangle r(std::lround(cx - half), std::lround(cy - half), std::lround(cx + half), std::lround(cy + half));
  return to_box(r, width, height);
}

/// The cnn's second look when a pass finds no face at all: a face that fills the whole photo (a cropped face
/// chip) has no context around it and scores low, so the photo is shrunk to a third of the network's input and
/// centred on black, and the network runs once more. Costs one more pass, only on photos without a face.
inline std::vector<ssd::detection> cnn_detect_with_context(const cv::Mat& px, ssd::engine& engine) {
  const int longer = std::max(px.cols, px.rows);
  const double scale = std::min(1.0, (ssd::input_size / 3.0) / longer);
  cv::Mat small = px;
  if (scale < 1.0) {
    cv::resize(px, small, cv::Size(std::max(1, static_cast<int>(std::lround(px.cols * scale))),
                                   std::max(1, static_cast<int>(std::lround(px.rows * scale)))),
               0, 0, cv::INTER_AREA);
  }
  const int b = std::max(small.cols, small.rows);
  cv::Mat canvas;
  cv::copyMakeBorder(small, canvas, b, b, b, b, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
  const double sx = static_cast<double>(px.cols) / small.cols;
  const double sy = static_cast<double>(px.rows) / small.rows;
  std::vector<ssd::detection> out;
  for (auto d : engine.detect(canvas.data, canvas.cols, canvas.rows, canvas.step)) {
    d.left = std::clamp((d.left - b) * sx, 0.0, static_cast<double>(px.cols));
    d.right = std::clamp((d.right - b) * sx, 0.0, static_cast<double>(px.cols));
    d.top = std::clamp((d.top - b) * sy, 0.0, static_cast<double>(px.rows));
    d.bottom = std::clamp((d.bottom - b) * sy, 0.0, static_cast<double>(px.rows));
    if (d.right - d.left >= 1 && d.bottom - d.top >= 1) out.push_back(d);
  }
  return out;
}

/// The cnn detector on the whole image and, with `tiles` > 0, also on overlapping square tiles of side
/// 1.25 * max(width, height) / 2^tiles (2^tiles per side of the longer axis), each seen at 512x512 by the network:
/// faces 2^tiles times smaller are found, at the cost of one more network pass per tile. Tile detections that
/// touch a tile's inner edge are dropped (a cut face), the rest merged with face-api.js's suppression at IoU 0.5.
inline std::vector<ssd::detection> cnn_detect(const image& img, ssd::engine& engine, int tiles) {
  // Each layer's rows on all cores, as HOG's pyramid levels; on one on a pool's worker thread.
  engine.set_threads(is_worker_thread() ? 1U : std::max(1U, std::thread::hardware_concurrency()));
  const cv::Mat& px = img.pixels;
  auto found = engine.detect(px.data, px.cols, px.rows, px.step);
  const int longer = std::max(px.cols, px.rows);
  const int side = static_cast<int>(std::ceil(1.25 * longer / static_cast<double>(1 << std::max(tiles, 0))));
  if (tiles <= 0 || side >= longer || side < 64) return found.empty() ? cnn_detect_with_context(px, engine) : found;
  const auto starts = [&](int extent) {
    std::vector<int> s{0};
    if (extent > side) {
      const int n = static_cast<int>(std::ceil((extent - side) / (0.8 * side))) + 1;
      for (int i = 1; i < n; ++i) s.push_back(static_cast<int>(std::lround(static_cast<double>(extent - side) * i / (n - 1))));
    }
    return s;
  };
  constexpr double edge = 2.0;
  for (const int y0 : starts(px.rows)) {
    for (const int x0 : starts(px.cols)) {
      const int tw = std::min(side, px.cols - x0);
      const int th = std::min(side, px.rows - y0);
      const cv::Mat tile = px(cv::Rect(x0, y0, tw, th));
      for (auto d : engine.detect(tile.data, tile.cols, tile.rows, tile.step)) {
        const bool cut = (x0 > 0 && d.left < edge) || (y0 > 0 && d.top < edge) ||
                         (x0 + tw < px.cols && d.right > tw - edge) || (y0 + th < px.rows && d.bottom > th - edge);
        if (cut) continue;
        d.left += x0, d.right += x0, d.top += y0, d.bottom += y0;
        found.push_back(d);
      }
    }
  }
  // Merge: face-api.js's suppression over all boxes, in the image's pixels.
  std::vector<ssd::raw_detection> all(found.size());
  for (std::size_t i = 0; i < found.size(); ++i) {
    all[i].score = found[i].score;
    all[i].box = {static_cast<float>(found[i].top), static_cast<float>(found[i].left),
                  static_cast<float>(found[i].bottom), static_cast<float>(found[i].right)};
  }
  std::vector<ssd::detection> merged;
  for (const int i : ssd::engine::non_max_suppression(all, 100, 0.5, 0.0)) merged.push_back(found[static_cast<std::size_t>(i)]);
  return merged.empty() ? cnn_detect_with_context(px, engine) : merged;
}

inline result<faces> cnn_detect_faces(const image& img, int tiles, const char* stage) {
  const auto model = detail::default_cnn_detector_model_ptr();
  if (!model) return fail(stage, img.source, model.error().message, model.error().code);
  faces out;
  out.image = img;
  for (const auto& d : cnn_detect(img, (*model)->for_this_thread(), tiles)) {
    face f;
    f.box_in_image = cnn_box_to_hog(d, img.width(), img.height());
    // A sliver at the border, once clipped to the image, is no face box.
    if (f.box_in_image.right - f.box_in_image.left < 2 || f.box_in_image.bottom - f.box_in_image.top < 2) continue;
    f.box = img.to_original(f.box_in_image);
    f.score = d.score;
    out.items.push_back(std::move(f));
  }
  return out;
}

}  // namespace detail

/// `detect(upsample = 1)`: image -> faces (boxes, most confident first; an empty list when there is none).
/// Upsampling doubles the image `upsample` times first, finding faces down to about 40 px / 2^upsample; each
/// step costs about 4x the time. Boxes are in the coordinates of the image as read. Thread-safe (each thread
/// has its own detector). Example: `(read | detect(2))("group.jpg")`.
///
/// `detect(faceapp::cnn, tiles = 0)`: the cnn detector instead (face-api.js's ssd_mobilenetv1, trained on WIDER
/// FACE: also turned and tilted faces; about 6 GFLOP per pass, the image seen at 512x512; a photo where it finds
/// nothing gets a second pass with context around it, see detail::cnn_detect_with_context). Its boxes are mapped
/// to HOG's box of the same face, so landmarks and encodings work on them. `tiles` > 0 also scans overlapping
/// tiles (see detail::cnn_detect) for faces smaller than about 1/25 of the image's longer side; tiles = 1 costs
/// 4 or 5 passes instead of 1. An error when the cnn model file is not found.
struct detect_stage : stage_base<detect_stage> {
  using input_type = image;
  using output_type = faces;
  static constexpr const char* name = "detect";

  int upsample = 1;  // hog: doublings of the image; cnn: levels of tiles
  detector_model model = hog;

  [[nodiscard]] result<faces> run(const image& img) const {
    if (upsample < 0 || upsample > 4) {
      return fail(name, img.source, "upsample must be in [0, 4], got " + std::to_string(upsample));
    }
    if (model == cnn) return detail::cnn_detect_faces(img, upsample, name);
    return detail::detect_faces(img, upsample);
  }
};

struct detect_fn : detect_stage {
  using detect_stage::operator();
  [[nodiscard]] constexpr detect_stage operator()(int upsample) const { return detect_stage{{}, upsample, hog}; }
  /// detect(hog) upsamples once, detect(cnn) scans no tiles; a second argument sets either.
  [[nodiscard]] constexpr detect_stage operator()(detector_model m) const {
    return detect_stage{{}, m == hog ? 1 : 0, m};
  }
  [[nodiscard]] constexpr detect_stage operator()(detector_model m, int upsample) const {
    return detect_stage{{}, upsample, m};
  }
};

/// HOG detection, upsampling once (face_recognition's default).
inline constexpr detect_fn detect{};

}  // namespace faceapp
