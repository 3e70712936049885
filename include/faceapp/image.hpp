// faceapp: the image that flows from read to the later stages.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include <opencv2/core/mat.hpp>  // cv::Mat only: all of opencv2/core.hpp costs every including file half a second

#include "faceapp/core/geometry.hpp"

namespace faceapp {

/// Where a frame of a video sits in its source: its index among the decoded frames (0 first, skipped ones
/// counted) and its presentation time in seconds from the start of the source.
struct frame_position {
  std::int64_t index = 0;
  double time = 0;
  friend bool operator==(const frame_position&, const frame_position&) = default;
};

/// 8-bit RGB pixels (CV_8UC3, R first) plus where they came from. Copies share the pixels (cv::Mat counts
/// references). `scale_x`/`scale_y` are pixels of this image per pixel of the image as read: resize and fit
/// change them, so later stages can report boxes in the coordinates of the image as read.
struct image {
  cv::Mat pixels;
  std::string source;  // a path, or "<bytes: name>" for images read from memory
  int original_width = 0;
  int original_height = 0;
  double scale_x = 1.0;
  double scale_y = 1.0;
  std::optional<frame_position> frame;  // set by `video` (stages/video.hpp); nothing for a still image

  [[nodiscard]] int width() const noexcept { return pixels.cols; }
  [[nodiscard]] int height() const noexcept { return pixels.rows; }

  /// A box in these pixels -> the same box in the image as read, clipped to it.
  [[nodiscard]] faceapp::box to_original(const faceapp::box& b) const noexcept {
    const auto x = [&](int v) { return static_cast<int>(std::lround(v / scale_x)); };
    const auto y = [&](int v) { return static_cast<int>(std::lround(v / scale_y)); };
    return {std::clamp(y(b.top), 0, original_height), std::clamp(x(b.right), 0, original_width),
            std::clamp(y(b.bottom), 0, original_height), std::clamp(x(b.left), 0, original_width)};
  }
  [[nodiscard]] point to_original(point p) const noexcept {
    return {static_cast<float>(p.x / scale_x), static_cast<float>(p.y / scale_y)};
  }
};

inline std::string describe(const image& img) { return img.source; }

}  // namespace faceapp
