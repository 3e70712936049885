// End-to-end parity with dlib's own pipeline, computed here with dlib directly, the way face_recognition does:
//   face_locations(img, n): dlib's frontal face detector on the image pyramid_up'ed n times, the boxes mapped back
//     with pyramid_down<2>::rect_down (dlib's Python binding), trimmed to the image (_trim_css_to_bounds);
//   face_encodings(img, locations): the shape predictor on those boxes, get_face_chip_details(shape, 150, 0.25),
//     extract_image_chips, and dlib's network (models::encoder_net loaded from the file the library uses).
// faceapp's `read | encode`, `read | detect(0) | encode` and `read | resize(0.5) | encode` must give the same boxes,
// landmarks and, to 1e-4 per component, encodings on every photo with faces. A box one pixel off moves an
// encoding by about 0.05, so a mistake in detection, box mapping, landmarks or chip cutting shows up here even
// when each stage's own test passes.
//
// dlib gets the photo as OpenCV decodes it for face_recognition's load_image_file: cv::imread with IMREAD_COLOR
// (EXIF orientation applied, grayscale and RGBA made 3-channel), BGR turned RGB; and `read` must give exactly
// those pixels.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <dlib/dnn.h>
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <dlib/opencv/cv_image.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "faceapp/faceapp.hpp"
#include "faceapp/models/network.hpp"
#include "test_data.hpp"

namespace {

namespace fs = std::filesystem;
using faceapp::test::data_file;

constexpr double tolerance = 1e-4;  // per component, as the fast encoder's own test against dlib's forward pass

struct reference_face {
  faceapp::box box;                   // trimmed, in the pixels dlib saw
  bool trimmed = false;               // dlib's box reached beyond the image
  std::vector<faceapp::point> parts;  // in the pixels dlib saw
  dlib::matrix<float, 0, 1> encoding;
};

/// face_recognition's pipeline, written against dlib alone.
class dlib_pipeline {
 public:
  dlib_pipeline(const fs::path& landmark_file, const fs::path& encoder_file) {
    dlib::deserialize(landmark_file.string()) >> predictor_;
    dlib::deserialize(encoder_file.string()) >> net_;
  }

  std::vector<reference_face> run(const cv::Mat& rgb, int upsample) {
    dlib::matrix<dlib::rgb_pixel> img;
    dlib::assign_image(img, dlib::cv_image<dlib::rgb_pixel>(rgb));
    std::vector<reference_face> out;
    std::vector<dlib::full_object_detection> shapes;
    for (const auto& rect : face_locations(img, upsample)) {
      // _trim_css_to_bounds, then _css_to_rect: the box the predictor sees is the trimmed one.
      const faceapp::box b{std::max(static_cast<int>(rect.top()), 0),
                           std::min(static_cast<int>(rect.right()), static_cast<int>(img.nc())),
                           std::min(static_cast<int>(rect.bottom()), static_cast<int>(img.nr())),
                           std::max(static_cast<int>(rect.left()), 0)};
      const auto shape = predictor_(img, dlib::rectangle(b.left, b.top, b.right, b.bottom));
      reference_face f;
      f.box = b;
      f.trimmed = b != faceapp::box{static_cast<int>(rect.top()), static_cast<int>(rect.right()),
                                    static_cast<int>(rect.bottom()), static_cast<int>(rect.left())};
      for (unsigned long i = 0; i < shape.num_parts(); ++i) {
        f.parts.push_back({static_cast<float>(shape.part(i).x()), static_cast<float>(shape.part(i).y())});
      }
      shapes.push_back(shape);
      out.push_back(std::move(f));
    }
    // compute_face_descriptor(img, shape): one chip per face, 150 px, padding 0.25.
    for (std::size_t k = 0; k < shapes.size(); ++k) {
      dlib::matrix<dlib::rgb_pixel> chip;
      dlib::extract_image_chip(img, dlib::get_face_chip_details(shapes[k], 150, 0.25), chip);
      out[k].encoding = net_(chip);
    }
    return out;
  }

 private:
  /// dlib's Python binding, detector(img, upsample): pyramid_up n times, detect, rect_down n times.
  std::vector<dlib::rectangle> face_locations(const dlib::matrix<dlib::rgb_pixel>& img, int upsample) {
    std::vector<dlib::rect_detection> found;
    if (upsample == 0) {
      detector_(img, found, 0.0);
    } else {
      dlib::pyramid_down<2> pyr;
      dlib::array2d<dlib::rgb_pixel> up;
      dlib::pyramid_up(img, up, pyr);
      for (int i = 1; i < upsample; ++i) dlib::pyramid_up(up, pyr);
      detector_(up, found, 0.0);
      for (auto& d : found) d.rect = pyr.rect_down(d.rect, static_cast<unsigned>(upsample));
    }
    std::vector<dlib::rectangle> rects;
    for (const auto& d : found) rects.push_back(d.rect);
    return rects;
  }

  dlib::frontal_face_detector detector_ = dlib::get_frontal_face_detector();
  dlib::shape_predictor predictor_;
  faceapp::models::encoder_net net_;
};

/// The photos of the manifest that have faces (uncertain counts included: parity does not need the count).
std::vector<std::string> photos_with_faces() {
  std::vector<std::string> files;
  for (const auto& row : faceapp::test::manifest()) {
    if (row.faces != 0) files.push_back(row.file);
  }
  return files;
}

double max_abs_difference(const faceapp::encoding& a, const dlib::matrix<float, 0, 1>& b) {
  REQUIRE(b.size() == 128);
  double d = 0;
  for (long i = 0; i < 128; ++i) {
    d = std::max(d, std::abs(static_cast<double>(a[static_cast<std::size_t>(i)]) - static_cast<double>(b(i))));
  }
  return d;
}

/// A box in the pixels dlib saw, mapped to the image as read as the library documents (image::to_original):
/// divided by the scale of the resized image, rounded, clipped to the original image.
faceapp::box to_original(const faceapp::box& b, double sx, double sy, int width, int height) {
  const auto x = [&](int v) { return std::clamp(static_cast<int>(std::lround(v / sx)), 0, width); };
  const auto y = [&](int v) { return std::clamp(static_cast<int>(std::lround(v / sy)), 0, height); };
  return {y(b.top), x(b.right), y(b.bottom), x(b.left)};
}

std::string str(const faceapp::box& b) {
  std::ostringstream s;
  s << "(top " << b.top << ", right " << b.right << ", bottom " << b.bottom << ", left " << b.left << ")";
  return s.str();
}

struct parity_totals {
  int images = 0;
  int images_with_faces = 0;
  int faces = 0;
  int trimmed = 0;  // faces whose dlib box reached beyond the image
  double worst = 0;
};

/// Runs `pipeline` and dlib on one photo and checks every face: same count and order, same boxes (in the image
/// the detector saw and in the image as read), same landmarks, encodings within the tolerance.
template <class Pipeline>
void check_photo(const std::string& file, const Pipeline& pipeline, dlib_pipeline& dlib_run, int upsample,
                 double scale, parity_totals& totals) {
  CAPTURE(file);
  const auto path = data_file("faces/" + file);
  const auto img = faceapp::read(path);
  REQUIRE_MESSAGE(img.has_value(), img.error().what());
  cv::Mat decoded;
  cv::cvtColor(cv::imread(path.string(), cv::IMREAD_COLOR), decoded, cv::COLOR_BGR2RGB);
  REQUIRE(img->pixels.type() == CV_8UC3);
  REQUIRE(img->pixels.size() == decoded.size());
  REQUIRE(cv::norm(img->pixels, decoded, cv::NORM_INF) == 0);
  cv::Mat seen = decoded;
  if (scale != 1.0) {  // resize(s) as documented: lround(side * s) pixels, INTER_AREA
    const int w = std::max(1, static_cast<int>(std::lround(img->width() * scale)));
    const int h = std::max(1, static_cast<int>(std::lround(img->height() * scale)));
    cv::resize(decoded, seen, cv::Size(w, h), 0, 0, cv::INTER_AREA);
  }
  const double sx = static_cast<double>(seen.cols) / img->width();
  const double sy = static_cast<double>(seen.rows) / img->height();

  const auto expected = dlib_run.run(seen, upsample);
  const auto got = pipeline(path);
  REQUIRE_MESSAGE(got.has_value(), got.error().what());
  REQUIRE(got->image.width() == seen.cols);
  REQUIRE(got->image.height() == seen.rows);
  REQUIRE(got->size() == expected.size());
  ++totals.images;
  if (!expected.empty()) ++totals.images_with_faces;
  for (std::size_t k = 0; k < expected.size(); ++k) {
    CAPTURE(k);
    const auto& e = expected[k];
    const auto& f = got->at(k);
    const auto original = to_original(e.box, sx, sy, img->width(), img->height());
    CHECK_MESSAGE(f.box_in_image == e.box, str(f.box_in_image), " != dlib's ", str(e.box));
    CHECK_MESSAGE(f.box == original, str(f.box), " != dlib's mapped ", str(original));
    REQUIRE(f.landmarks_in_image.size() == e.parts.size());
    REQUIRE(f.landmarks.size() == e.parts.size());
    for (std::size_t i = 0; i < e.parts.size(); ++i) {
      CAPTURE(i);
      CHECK(f.landmarks_in_image[i] == e.parts[i]);
      CHECK(std::abs(f.landmarks[i].x - e.parts[i].x / sx) < 1e-3);
      CHECK(std::abs(f.landmarks[i].y - e.parts[i].y / sy) < 1e-3);
    }
    const double d = max_abs_difference(f.encoding, e.encoding);
    CHECK_MESSAGE(d <= tolerance, "max |faceapp - dlib| = ", d);
    totals.worst = std::max(totals.worst, d);
    ++totals.faces;
    if (e.trimmed) ++totals.trimmed;
  }
}

/// The library's default models, as files, so dlib loads exactly what `encode` uses.
struct default_model_files {
  fs::path landmarks;
  fs::path encoder;
};

default_model_files model_files() {
  const auto& lm = faceapp::default_landmark_model();
  REQUIRE_MESSAGE(lm.has_value(), lm.error().what());
  const auto& enc = faceapp::default_encoder_model();
  REQUIRE_MESSAGE(enc.has_value(), enc.error().what());
  return {lm->file(), enc->file()};
}

void report(const std::string& what, const parity_totals& t) {
  MESSAGE(what, ": ", t.faces, " faces on ", t.images_with_faces, " of ", t.images, " photos equal dlib's (",
          t.trimmed, " of them with boxes trimmed to the image); largest encoding difference ", t.worst);
}

/// Parity on photos where neither side finds a face would prove nothing: most photos must have faces compared.
void check_not_vacuous(const parity_totals& t) {
  CHECK(t.images == static_cast<int>(photos_with_faces().size()));
  CHECK(t.images_with_faces * 2 > t.images);
}

/// The 68-point model wherever the library would look for it (its search path, then Debian's libdlib-data).
fs::path landmarks68_file() {
  auto dirs = faceapp::models::search_path();
  dirs.push_back(faceapp::models::debian_dlib_data_dir);
  for (const auto& d : dirs) {
    if (fs::is_regular_file(d / faceapp::models::landmarks68_file)) return d / faceapp::models::landmarks68_file;
  }
  FAIL(faceapp::models::landmarks68_file, " not found on the model search path nor in ",
       faceapp::models::debian_dlib_data_dir.string());
  return {};
}

}  // namespace

TEST_CASE("read | encode equals dlib's pipeline at upsample 1 on every photo with faces") {
  const auto files = model_files();
  dlib_pipeline dlib_run(files.landmarks, files.encoder);
  parity_totals totals;
  for (const auto& file : photos_with_faces()) check_photo(file, faceapp::read | faceapp::encode, dlib_run, 1, 1.0, totals);
  report("upsample 1", totals);
  check_not_vacuous(totals);
  // Some faces of these photos reach beyond the border (group_5's, a cropped portrait's): the trimming of boxes
  // to the image, which decides what the landmark model sees, is exercised here.
  CHECK(totals.trimmed > 0);
}

TEST_CASE("read | detect(0) | encode equals dlib's pipeline at upsample 0 on every photo with faces") {
  const auto files = model_files();
  dlib_pipeline dlib_run(files.landmarks, files.encoder);
  parity_totals totals;
  for (const auto& file : photos_with_faces()) {
    check_photo(file, faceapp::read | faceapp::detect(0) | faceapp::encode, dlib_run, 0, 1.0, totals);
  }
  report("upsample 0", totals);
  check_not_vacuous(totals);
}

TEST_CASE("read | resize(0.5) | encode equals dlib's pipeline on the resized photo, boxes mapped back") {
  const auto files = model_files();
  dlib_pipeline dlib_run(files.landmarks, files.encoder);
  parity_totals totals;
  for (const auto& file : photos_with_faces()) {
    check_photo(file, faceapp::read | faceapp::resize(0.5) | faceapp::encode, dlib_run, 1, 0.5, totals);
  }
  report("resize(0.5), upsample 1", totals);
  check_not_vacuous(totals);
}

TEST_CASE("with the 68-point landmark model named explicitly, encode equals dlib's pipeline with it") {
  // Whichever landmark model is the default, the 68-point one is checked too (the default may be the 5-point one).
  const auto lm = faceapp::landmark_model::load(landmarks68_file());
  REQUIRE_MESSAGE(lm.has_value(), lm.error().what());
  REQUIRE(lm->points() == 68);
  const auto& enc = faceapp::default_encoder_model();
  REQUIRE_MESSAGE(enc.has_value(), enc.error().what());
  const faceapp::model_set models{*lm, *enc};
  dlib_pipeline dlib_run(lm->file(), enc->file());
  parity_totals totals;
  for (const char* file : {"group_3.jpg", "group_6.jpg", "rose_leslie_3.jpg", "obama_3.jpg", "amy_1.png"}) {
    check_photo(file, faceapp::read | faceapp::encode(models), dlib_run, 1, 1.0, totals);
  }
  report("68-point model", totals);
  CHECK(totals.faces >= 11);  // 3 + 5 + 1 + 1 + 1 in the manifest
}
