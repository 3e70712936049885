// dump_rgb <image> <out.rgb>: the image's pixels exactly as faceapp's `read` decodes them (OpenCV, IMREAD_COLOR,
// EXIF orientation applied, BGR -> RGB), written as "<width> <height>\n" followed by width*height*3 bytes, so
// that make_reference.mjs feeds face-api.js the very pixels the C++ side sees (no second JPEG decoder).
#include <cstdio>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: dump_rgb <image> <out.rgb>\n");
    return 2;
  }
  const cv::Mat bgr = cv::imread(argv[1], cv::IMREAD_COLOR);
  if (bgr.empty()) {
    std::fprintf(stderr, "dump_rgb: cannot decode %s\n", argv[1]);
    return 1;
  }
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  std::ofstream out(argv[2], std::ios::binary);
  out << rgb.cols << ' ' << rgb.rows << '\n';
  for (int r = 0; r < rgb.rows; ++r) out.write(reinterpret_cast<const char*>(rgb.ptr(r)), rgb.cols * 3);
  return out ? 0 : 1;
}
