// faceapp: what the detect stage is made of (dlib's HOG detector, the cnn detector, dlib <-> faceapp boxes).
//
// The detect stage's bodies are compiled once, in the runtime library (src/detect.cpp), which includes this
// header; so do the tests, benches and tools that look inside the detectors. Including it costs seconds of
// compile time (dlib's image processing templates); the public headers do not.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <optional>
#include <thread>
#include <vector>

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <dlib/opencv/cv_image.h>
#include <opencv2/imgproc.hpp>

#include "faceapp/core/threading.hpp"
#include "faceapp/detail/parallel_hog.hpp"
#include "faceapp/detail/ssd_detector.hpp"
#include "faceapp/faces.hpp"
#include "faceapp/image.hpp"
#include "faceapp/models/models.hpp"

namespace faceapp {

/// The calling thread's HOG frontal face detector (built from data compiled into dlib; no file needed).
dlib::frontal_face_detector& thread_face_detector();

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
  const unsigned threads = is_worker_thread() ? 1U : std::max(1U, std::thread::hardware_concurrency());
  detector.set_threads(threads);
  std::vector<dlib::rect_detection> found;
  if (upsample <= 0) {
    detector(view, found, 0.0);
    return found;
  }
  dlib::pyramid_down<2> pyr;
  dlib::array2d<dlib::rgb_pixel> up;
  parallel_pyramid_up(view, up, threads);  // dlib::pyramid_up's pixels, its rows on all the threads
  for (int i = 1; i < upsample; ++i) {
    dlib::array2d<dlib::rgb_pixel> next;
    parallel_pyramid_up(up, next, threads);
    dlib::swap(up, next);
  }
  detector(up, found, 0.0);
  for (auto& d : found) d.rect = pyr.rect_down(d.rect, static_cast<unsigned>(upsample));
  return found;
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

/// A detection's box as the engine's suppression reads boxes: (top, left, bottom, right).
inline std::array<float, 4> cnn_corners(const ssd::detection& d) {
  return {static_cast<float>(d.top), static_cast<float>(d.left), static_cast<float>(d.bottom),
          static_cast<float>(d.right)};
}

/// The side of cnn_detect's square tiles at `tiles` levels for a photo whose longer side is `longer`:
/// 1.25 * longer / 2^tiles. No tiles are cut (0) when that is the whole photo or under 64 pixels.
inline int cnn_tile_side(int longer, int tiles) {
  const int side = static_cast<int>(std::ceil(1.25 * longer / static_cast<double>(1 << std::max(tiles, 0))));
  return tiles <= 0 || side >= longer || side < 64 ? 0 : side;
}

/// face-api.js's suppression at IoU 0.5 over boxes in the image's pixels: the boxes kept, by falling score.
inline std::vector<ssd::detection> cnn_suppress(const std::vector<ssd::detection>& found) {
  std::vector<ssd::raw_detection> all(found.size());
  for (std::size_t i = 0; i < found.size(); ++i) all[i] = {found[i].score, cnn_corners(found[i])};
  std::vector<ssd::detection> kept;
  for (const int i : ssd::engine::non_max_suppression(all, 100, 0.5, 0.0)) kept.push_back(found[static_cast<std::size_t>(i)]);
  return kept;
}

/// The second look's parameters (see cnn_second_look). Doubtful: a whole-pass candidate scoring above half of
/// face-api.js's threshold of 0.5 (the faces found this way score 0.33 and 0.45; counts on tests/data hold for
/// any value from 0.23 to 0.32). At most 3 looks per photo, so a photo costs at most 4 passes, fewer than tiles.
inline constexpr float cnn_doubtful_score = 0.25F;
inline constexpr int cnn_second_looks = 3;

/// The cnn's second look at doubtful faces, a zoom-in verification cascade. A face turned away, or small in a
/// large photo, may score under 0.5 in the whole-image pass yet well above it seen larger. `found` holds the
/// whole pass's suppressed candidates scoring above cnn_doubtful_score (engine::detect at that threshold keeps
/// the same faces above 0.5 as at 0.5); the faces stay, the doubtful ones leave it. A doubtful candidate that
/// overlaps a face (IoU > 0.3: a part of it, or a second box on it) or spans more than half a crop (already
/// large for the network: a face chip, which cnn_detect_with_context is for) is passed over; the others, by
/// falling score and at most cnn_second_looks of them, are each seen once more on a square crop centred on them
/// (shifted into the image) of the side of cnn_detect's tiles at tiles = 1, 1.25 * the longer side / 2: 1.6
/// times as large as in the whole pass. The crop's best detection above 0.5 that boxes the candidate (IoU >= 0.3
/// in the image's pixels; another face in the crop does not count) joins the faces, merged by cnn_suppress.
/// Returns the network passes it ran (0 for most photos).
inline int cnn_second_look(const cv::Mat& px, ssd::engine& engine, std::vector<ssd::detection>& found) {
  const auto iou = [](const ssd::detection& a, const ssd::detection& b) {
    return ssd::engine::iou(cnn_corners(a), cnn_corners(b));
  };
  std::vector<ssd::detection> doubtful;
  std::erase_if(found, [&](const ssd::detection& d) {
    if (d.score > 0.5F) return false;
    doubtful.push_back(d);
    return true;
  });
  const int side = cnn_tile_side(std::max(px.cols, px.rows), 1);
  if (doubtful.empty() || side == 0) return 0;
  const std::size_t faces = found.size();
  int passes = 0;
  for (const auto& c : doubtful) {  // by falling score, as the suppression returns them
    if (passes >= cnn_second_looks) break;
    const bool on_face = std::any_of(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(faces),
                                     [&](const ssd::detection& f) { return iou(c, f) > 0.3; });
    if (on_face || std::max(c.right - c.left, c.bottom - c.top) > side / 2.0) continue;
    const auto start = [&](double centre, int extent) {
      return std::clamp(static_cast<int>(std::lround(centre - side / 2.0)), 0, std::max(extent - side, 0));
    };
    const int x0 = start((c.left + c.right) / 2, px.cols);
    const int y0 = start((c.top + c.bottom) / 2, px.rows);
    const cv::Mat crop = px(cv::Rect(x0, y0, std::min(side, px.cols - x0), std::min(side, px.rows - y0)));
    ++passes;
    std::optional<ssd::detection> best;
    for (auto d : engine.detect(crop.data, crop.cols, crop.rows, crop.step)) {
      d.left += x0, d.right += x0, d.top += y0, d.bottom += y0;
      if (iou(c, d) >= 0.3 && (!best || d.score > best->score)) best = d;
    }
    if (best) found.push_back(*best);
  }
  if (found.size() > faces) found = cnn_suppress(found);
  return passes;
}

/// The cnn detector on the whole image and, with `tiles` > 0, also on overlapping square tiles of side
/// 1.25 * max(width, height) / 2^tiles (2^tiles per side of the longer axis), each seen at 512x512 by the network:
/// faces 2^tiles times smaller are found, at the cost of one more network pass per tile. Tile detections that
/// touch a tile's inner edge or lie mostly inside a larger box are dropped (a cut face), the rest merged with
/// face-api.js's suppression at IoU 0.5. Without tiles and with `second_look` (the detect stage's choice), the
/// whole pass's doubtful candidates get cnn_second_look instead. A photo where no face is found gets
/// cnn_detect_with_context.
inline std::vector<ssd::detection> cnn_detect(const image& img, ssd::engine& engine, int tiles, bool second_look = true) {
  // Each layer's rows on all cores, as HOG's pyramid levels; on one on a pool's worker thread.
  engine.set_threads(is_worker_thread() ? 1U : std::max(1U, std::thread::hardware_concurrency()));
  const cv::Mat& px = img.pixels;
  const int side = cnn_tile_side(std::max(px.cols, px.rows), tiles);
  if (side == 0) {
    auto found = engine.detect(px.data, px.cols, px.rows, px.step, second_look ? cnn_doubtful_score : 0.5F);
    if (second_look) cnn_second_look(px, engine, found);
    return found.empty() ? cnn_detect_with_context(px, engine) : found;
  }
  auto found = engine.detect(px.data, px.cols, px.rows, px.step);
  const auto starts = [&](int extent) {
    std::vector<int> s{0};
    if (extent > side) {
      const int n = static_cast<int>(std::ceil((extent - side) / (0.8 * side))) + 1;
      for (int i = 1; i < n; ++i) s.push_back(static_cast<int>(std::lround(static_cast<double>(extent - side) * i / (n - 1))));
    }
    return s;
  };
  constexpr double edge = 2.0;
  const std::size_t whole = found.size();  // found[0, whole): the whole-image pass
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
  // A tile that cuts a face a few pixels inside it may still box the part it holds (a chin, half a face): such a
  // box lies mostly inside the whole face's box, from the whole-image pass or from a tile that holds all of it,
  // while its IoU with that box stays under 0.5. Drop tile boxes more than half inside a larger box.
  const auto area = [](const ssd::detection& d) { return (d.right - d.left) * (d.bottom - d.top); };
  const auto inside_larger = [&](std::size_t i) {
    const auto& d = found[i];
    for (std::size_t j = 0; j < found.size(); ++j) {
      const auto& o = found[j];
      if (j == i || area(o) <= area(d)) continue;
      const double iw = std::min(d.right, o.right) - std::max(d.left, o.left);
      const double ih = std::min(d.bottom, o.bottom) - std::max(d.top, o.top);
      if (iw > 0 && ih > 0 && iw * ih > 0.5 * area(d)) return true;
    }
    return false;
  };
  std::vector<ssd::detection> kept(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(whole));
  for (std::size_t i = whole; i < found.size(); ++i) {
    if (!inside_larger(i)) kept.push_back(found[i]);
  }
  found = std::move(kept);
  const auto merged = cnn_suppress(found);
  return merged.empty() ? cnn_detect_with_context(px, engine) : merged;
}


/// A face's box and landmarks as dlib's shape, for dlib's chip extraction.
inline dlib::full_object_detection to_shape(const face& f) {
  std::vector<dlib::point> parts;
  parts.reserve(f.landmarks_in_image.size());
  for (const auto& p : f.landmarks_in_image) parts.emplace_back(static_cast<long>(p.x), static_cast<long>(p.y));
  return dlib::full_object_detection(to_rectangle(f.box_in_image), parts);
}

}  // namespace detail

}  // namespace faceapp
