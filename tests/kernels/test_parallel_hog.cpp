// The parallel HOG scan (what detect runs) must give exactly dlib's single-threaded detections: the same
// boxes, the same scores to the last bit, the same filter bank and the same order, on every photo of
// tests/data/faces at upsample 0 and 1, whatever the number of threads.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <faceapp/detail/detect_impl.hpp>
#include <faceapp/detail/parallel_hog.hpp>
#include <faceapp/stages/detect.hpp>
#include <faceapp/stages/read.hpp>
#include <test_data.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <dlib/opencv/cv_image.h>

namespace {

std::vector<std::filesystem::path> photos() {
  std::vector<std::filesystem::path> out;
  for (const auto& entry : std::filesystem::directory_iterator(faceapp::test::data_file("faces"))) {
    const auto ext = entry.path().extension().string();
    if (ext == ".jpg" || ext == ".jpeg" || ext == ".png") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// The image the detector sees: the pixels as read, upsampled with dlib's pyramid_up as hog_detect does.
dlib::array2d<dlib::rgb_pixel> detector_input(const faceapp::image& img, int upsample) {
  dlib::array2d<dlib::rgb_pixel> out;
  dlib::assign_image(out, dlib::cv_image<dlib::rgb_pixel>(img.pixels));
  dlib::pyramid_down<2> pyr;
  for (int i = 0; i < upsample; ++i) dlib::pyramid_up(out, pyr);
  return out;
}

/// dlib's own detector, single-threaded, mapped back to the image as read.
std::vector<dlib::rect_detection> dlib_detect(const faceapp::image& img, int upsample) {
  static dlib::frontal_face_detector detector = dlib::get_frontal_face_detector();
  std::vector<dlib::rect_detection> found;
  detector(detector_input(img, upsample), found, 0.0);
  dlib::pyramid_down<2> pyr;
  for (auto& d : found) d.rect = pyr.rect_down(d.rect, static_cast<unsigned>(upsample));
  return found;
}

void check_equal(const std::vector<dlib::rect_detection>& fast, const std::vector<dlib::rect_detection>& reference) {
  REQUIRE(fast.size() == reference.size());
  for (std::size_t i = 0; i < fast.size(); ++i) {
    CAPTURE(i);
    CHECK(fast[i].rect == reference[i].rect);
    CHECK(fast[i].detection_confidence == reference[i].detection_confidence);  // bit for bit
    CHECK(fast[i].weight_index == reference[i].weight_index);
  }
}

}  // namespace

TEST_CASE("detect's parallel HOG scan equals dlib's single-threaded detector on every photo") {
  const auto files = photos();
  REQUIRE(files.size() >= 50);
  std::size_t with_faces = 0;
  for (const auto& file : files) {
    CAPTURE(file.filename().string());
    const auto img = faceapp::read(file.string());
    REQUIRE_MESSAGE(img.has_value(), img.error().what());
    for (int upsample : {0, 1}) {
      CAPTURE(upsample);
      const auto reference = dlib_detect(*img, upsample);
      check_equal(faceapp::detail::hog_detect(*img, upsample), reference);
      if (upsample == 1 && !reference.empty()) ++with_faces;
    }
  }
  CHECK(with_faces >= 40);  // the comparison saw real detections, not only empty lists
}

TEST_CASE("the parallel scan gives the same detections with any number of threads") {
  static const dlib::frontal_face_detector detector = dlib::get_frontal_face_detector();
  for (const char* name : {"group_3.jpg", "group_2.jpg", "obama_1.jpg", "noface_2.jpg"}) {
    CAPTURE(name);
    const auto img = faceapp::read(faceapp::test::data_file(std::string("faces/") + name).string());
    REQUIRE(img.has_value());
    const auto input = detector_input(*img, 1);
    dlib::frontal_face_detector single = detector;
    std::vector<dlib::rect_detection> reference;
    single(input, reference, 0.0);
    for (unsigned threads : {1U, 2U, 3U, 8U}) {
      CAPTURE(threads);
      faceapp::detail::parallel_hog<dlib::frontal_face_detector> parallel(detector, threads);
      std::vector<dlib::rect_detection> found;
      parallel(input, found, 0.0);
      check_equal(found, reference);
      // A lower threshold finds many more candidates, so the merge and the suppression have more to order.
      std::vector<dlib::rect_detection> loose_reference;
      single(input, loose_reference, -0.5);
      parallel(input, found, -0.5);
      check_equal(found, loose_reference);
    }
  }
}

TEST_CASE("the parallel pyramid_up gives dlib's pixels, whatever the number of threads") {
  for (const auto& path : photos()) {
    CAPTURE(path.filename().string());
    const auto img = faceapp::read(path.string());
    REQUIRE(img.has_value());
    const dlib::cv_image<dlib::rgb_pixel> view(img->pixels);
    dlib::array2d<dlib::rgb_pixel> expected;
    dlib::pyramid_up(view, expected, dlib::pyramid_down<2>());
    for (const unsigned threads : {1U, 2U, 3U}) {
      CAPTURE(threads);
      dlib::array2d<dlib::rgb_pixel> got;
      faceapp::detail::parallel_pyramid_up(view, got, threads);
      REQUIRE(got.nr() == expected.nr());
      REQUIRE(got.nc() == expected.nc());
      long differing = 0;
      for (long r = 0; r < got.nr(); ++r) {
        for (long c = 0; c < got.nc(); ++c) {
          const auto& a = got[r][c];
          const auto& b = expected[r][c];
          differing += (a.red != b.red || a.green != b.green || a.blue != b.blue) ? 1 : 0;
        }
      }
      CHECK(differing == 0);
    }
  }
}
