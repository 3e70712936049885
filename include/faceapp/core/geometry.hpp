// faceapp: face boxes and landmark points.
#pragma once

#include <algorithm>

namespace faceapp {

/// A face box as face_recognition reports it: (top, right, bottom, left) in pixels of the image as read,
/// right and bottom inclusive as in dlib, clipped to [0, width] x [0, height].
struct box {
  int top = 0;
  int right = 0;
  int bottom = 0;
  int left = 0;

  [[nodiscard]] constexpr int width() const noexcept { return right - left + 1; }
  [[nodiscard]] constexpr int height() const noexcept { return bottom - top + 1; }
  [[nodiscard]] constexpr long area() const noexcept { return static_cast<long>(width()) * height(); }
  friend constexpr bool operator==(const box&, const box&) = default;
};

/// A landmark point in pixels of the image as read.
struct point {
  float x = 0;
  float y = 0;
  friend constexpr bool operator==(const point&, const point&) = default;
};

}  // namespace faceapp
