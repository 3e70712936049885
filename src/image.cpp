// faceapp runtime: OpenCV's decoder and resize, behind the read, resize and fit stages.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "faceapp/stages/read.hpp"
#include "faceapp/stages/resize.hpp"

namespace faceapp::detail {

cv::Mat decode_rgb(std::span<const std::uint8_t> bytes) {
  // IMREAD_COLOR: 8-bit, 3 channels (gray expanded, alpha dropped), EXIF orientation applied.
  const cv::Mat encoded(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<std::uint8_t*>(bytes.data()));
  const cv::Mat bgr = cv::imdecode(encoded, cv::IMREAD_COLOR);
  cv::Mat rgb;
  if (!bgr.empty()) cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

image resized(const image& in, double fx, double fy) {
  image out = in;
  const int w = std::max(1, static_cast<int>(std::lround(in.width() * fx)));
  const int h = std::max(1, static_cast<int>(std::lround(in.height() * fy)));
  cv::resize(in.pixels, out.pixels, cv::Size(w, h), 0, 0, cv::INTER_AREA);
  // Track the exact factor per axis (rounding makes it differ from s), so boxes map back precisely.
  out.scale_x = in.scale_x * w / in.width();
  out.scale_y = in.scale_y * h / in.height();
  return out;
}

}  // namespace faceapp::detail
