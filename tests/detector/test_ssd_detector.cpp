// detail::ssd::engine must compute what face-api.js's ssd_mobilenetv1 computes (TensorFlow.js CPU backend) from
// the same pixels: every anchor's score and box within 1e-4 of tests/data/cnn's raw outputs, and the same faces
// after non-maximum suppression, on each kernel path this CPU runs (AVX-512, AVX2 + FMA, portable).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <faceapp/detail/ssd_detector.hpp>
#include <faceapp/models/model_files.hpp>
#include <test_data.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace ssd = faceapp::detail::ssd;
using faceapp::detail::simd_level;

constexpr double tolerance = 1e-4;

std::shared_ptr<const ssd::weights> detector_weights() {
  static const auto w = [] {
    // The search path ($FACEAPP_MODEL_DIR first): sanitizer builds without a model step test the main build's file.
    const auto path = faceapp::models::find_model_file(faceapp::models::cnn_detector_file);
    if (!path) throw std::runtime_error(path.error().what());
    return ssd::fold(ssd::read_weight_file(*path));
  }();
  return w;
}

/// The photo's pixels as faceapp's read decodes them (and as dump_rgb gave them to face-api.js).
cv::Mat rgb_of(const std::string& photo) {
  const cv::Mat bgr = cv::imread(faceapp::test::data_file("faces/" + photo).string(), cv::IMREAD_COLOR);
  REQUIRE_MESSAGE(!bgr.empty(), photo);
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

std::vector<simd_level> levels() {
  std::vector<simd_level> out;
  for (const auto l : {simd_level::portable, simd_level::avx2, simd_level::avx512}) {
    if (faceapp::detail::simd_supported(l)) out.push_back(l);
  }
  return out;
}

struct reference_face {
  double score, left, top, right, bottom;
  int width, height;
};

std::vector<reference_face> reference_faces(const std::string& photo) {
  std::ifstream in(faceapp::test::data_file("cnn/ssd_mobilenetv1.csv"));
  std::string line;
  std::getline(in, line);
  std::vector<reference_face> out;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::vector<std::string> cells;
    for (std::string cell; std::getline(ss, cell, ',');) cells.push_back(cell);
    REQUIRE(cells.size() == 9);
    if (cells[0] != photo) continue;
    out.push_back({std::stod(cells[4]), std::stod(cells[5]), std::stod(cells[6]), std::stod(cells[7]),
                   std::stod(cells[8]), std::stoi(cells[1]), std::stoi(cells[2])});
  }
  REQUIRE_MESSAGE(!out.empty(), "no reference faces for " << photo);
  return out;
}

void check_raw(const std::string& photo, simd_level level) {
  std::ifstream in(faceapp::test::data_file("cnn/" + fs::path(photo).stem().string() + ".ssd_raw.f32"),
                   std::ios::binary);
  const std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  REQUIRE(bytes.size() == static_cast<std::size_t>(ssd::anchor_count) * 5 * 4);
  std::vector<float> ref(bytes.size() / 4);
  std::memcpy(ref.data(), bytes.data(), bytes.size());

  const cv::Mat rgb = rgb_of(photo);
  ssd::engine engine(detector_weights(), level);
  const auto& raw = engine.run(rgb.data, rgb.cols, rgb.rows, rgb.step);
  REQUIRE(raw.size() == static_cast<std::size_t>(ssd::anchor_count));
  double worst_score = 0;
  double worst_box = 0;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    worst_score = std::max(worst_score, std::abs(static_cast<double>(raw[i].score) - ref[i * 5]));
    for (std::size_t k = 0; k < 4; ++k) {
      worst_box = std::max(worst_box, std::abs(static_cast<double>(raw[i].box[k]) - ref[i * 5 + 1 + k]));
    }
  }
  MESSAGE(photo << " on " << std::string(faceapp::detail::simd_level_name(level)) << ": largest difference score "
                << worst_score << ", box " << worst_box);
  CHECK(worst_score < tolerance);
  CHECK(worst_box < tolerance);
}

}  // namespace

TEST_CASE("every anchor's score and box equal face-api.js's on every kernel path") {
  for (const auto level : levels()) {
    SUBCASE(faceapp::detail::simd_level_name(level)) {
      check_raw("obama_1.jpg", level);
      check_raw("group_7.jpg", level);
    }
  }
}

TEST_CASE("the faces after non-maximum suppression equal face-api.js's locateFaces") {
  for (const std::string photo :
       {"obama_1.jpg", "group_3.jpg", "alex_lacamoire_3.jpg", "group_7.jpg", "group_1.jpg", "tom_cruise_1.jpg"}) {
    SUBCASE(photo.c_str()) {
      const auto ref = reference_faces(photo);
      const cv::Mat rgb = rgb_of(photo);
      REQUIRE(rgb.cols == ref[0].width);
      REQUIRE(rgb.rows == ref[0].height);
      ssd::engine engine(detector_weights());
      const auto found = engine.detect(rgb.data, rgb.cols, rgb.rows, rgb.step);
      REQUIRE(found.size() == ref.size());
      const double side = std::max(rgb.cols, rgb.rows);
      for (std::size_t i = 0; i < ref.size(); ++i) {
        CHECK(std::abs(found[i].score - ref[i].score) < tolerance);
        // Corners relative to the image, as the network computes them.
        CHECK(std::abs(found[i].left - ref[i].left) / side < tolerance);
        CHECK(std::abs(found[i].top - ref[i].top) / side < tolerance);
        CHECK(std::abs(found[i].right - ref[i].right) / side < tolerance);
        CHECK(std::abs(found[i].bottom - ref[i].bottom) / side < tolerance);
      }
    }
  }
}

TEST_CASE("engines on several threads give the single-threaded result") {
  const cv::Mat rgb = rgb_of("group_7.jpg");
  ssd::engine prototype(detector_weights());
  const auto expected = prototype.detect(rgb.data, rgb.cols, rgb.rows, rgb.step);
  std::vector<std::vector<ssd::detection>> got(3);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&, t] {
      ssd::engine copy(prototype);
      got[t] = copy.detect(rgb.data, rgb.cols, rgb.rows, rgb.step);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& g : got) {
    REQUIRE(g.size() == expected.size());
    for (std::size_t i = 0; i < g.size(); ++i) CHECK(g[i].score == expected[i].score);
  }
}

TEST_CASE("an engine that splits its layers over threads gives the one-thread result (to rounding on the BLAS)") {
  const cv::Mat rgb = rgb_of("group_3.jpg");
  for (const auto level : levels()) {
    CAPTURE(std::string(faceapp::detail::simd_level_name(level)));
    ssd::engine one(detector_weights(), level);
    ssd::engine three(detector_weights(), level);
    three.set_threads(3);
    const auto a = one.run(rgb.data, rgb.cols, rgb.rows, rgb.step);  // a copy: run() reuses its buffer
    const auto& b = three.run(rgb.data, rgb.cols, rgb.rows, rgb.step);
    REQUIRE(a.size() == b.size());
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      worst = std::max(worst, std::abs(static_cast<double>(a[i].score) - b[i].score));
      for (std::size_t k = 0; k < 4; ++k) worst = std::max(worst, std::abs(static_cast<double>(a[i].box[k]) - b[i].box[k]));
    }
    // Our kernels sum each output in the same order whatever the split; the BLAS may block shorter products
    // differently, which changes the rounding only.
    if (level == simd_level::portable) {
      CHECK(worst < 1e-5);
    } else {
      CHECK(worst == 0);
    }
  }
}
