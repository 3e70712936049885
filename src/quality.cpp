// faceapp runtime: face chips and how sharp they are, behind the quality stage and face_chip.
#include <stdexcept>
#include <string>

#include <dlib/image_processing.h>
#include <dlib/opencv/cv_image.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "faceapp/detail/detect_impl.hpp"
#include "faceapp/stages/quality.hpp"

namespace faceapp {

image face_chip(const image& img, const face& f, int size) {
  if (f.landmarks_in_image.size() != 5 && f.landmarks_in_image.size() != 68) {
    throw std::invalid_argument("face_chip: the face has " + std::to_string(f.landmarks_in_image.size()) +
                                " landmarks, not 5 or 68 (run landmarks first)");
  }
  if (size < 1) throw std::invalid_argument("face_chip: size must be >= 1, got " + std::to_string(size));
  dlib::matrix<dlib::rgb_pixel> chip;
  dlib::extract_image_chip(dlib::cv_image<dlib::rgb_pixel>(img.pixels),
                           dlib::get_face_chip_details(detail::to_shape(f), static_cast<unsigned long>(size), 0.25),
                           chip);
  image out;
  out.pixels = cv::Mat(size, size, CV_8UC3);
  for (int r = 0; r < size; ++r) {
    auto* row = out.pixels.ptr<unsigned char>(r);
    for (int c = 0; c < size; ++c) {
      const auto& p = chip(r, c);
      row[3 * c] = p.red;
      row[3 * c + 1] = p.green;
      row[3 * c + 2] = p.blue;
    }
  }
  out.source = img.source;
  out.original_width = size;
  out.original_height = size;
  return out;
}

namespace detail {

double chip_sharpness(const image& img, const face& f) {
  // The face proper: the chip's centre without its padding (0.25 a side: the middle 100 of 150 pixels), and of
  // that only what lies inside the photo. A chip that reaches past the photo's edge is black there, and the edge
  // between photo and black would count as detail.
  constexpr int size = 150;
  constexpr int pad = 25;
  const auto details = dlib::get_face_chip_details(to_shape(f), size, 0.25);
  const image chip = face_chip(img, f, size);
  cv::Mat inside_photo(img.pixels.rows, img.pixels.cols, CV_8UC1, cv::Scalar(255));
  dlib::matrix<unsigned char> mask_chip;
  dlib::extract_image_chip(dlib::cv_image<unsigned char>(inside_photo), details, mask_chip);
  cv::Mat mask(size, size, CV_8UC1);
  for (int r = 0; r < size; ++r) {
    for (int c = 0; c < size; ++c) mask.at<unsigned char>(r, c) = mask_chip(r, c) == 255 ? 255 : 0;
  }
  cv::erode(mask, mask, cv::Mat());  // the Laplacian's 3x3 neighbourhood of a kept pixel is inside too
  const cv::Rect centre(pad, pad, size - 2 * pad, size - 2 * pad);
  cv::Mat gray;
  cv::cvtColor(chip.pixels, gray, cv::COLOR_RGB2GRAY);
  cv::Mat lap;
  cv::Laplacian(gray, lap, CV_64F);
  const cv::Mat kept = mask(centre);
  if (cv::countNonZero(kept) == 0) return 0;  // no pixel of the face inside the photo: no detail to see
  cv::Scalar mean;
  cv::Scalar stddev;
  cv::meanStdDev(lap(centre), mean, stddev, kept);
  return stddev[0] * stddev[0];
}

}  // namespace detail

}  // namespace faceapp
