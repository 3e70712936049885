// detail::ssd::engine must compute what face-api.js's ssd_mobilenetv1 computes (TensorFlow.js CPU backend) from
// the same pixels: every anchor's score and box within 1e-4 of tests/data/cnn's raw outputs, and the same faces
// after non-maximum suppression, on each kernel path this CPU runs (AVX-512, AVX2 + FMA, portable); the anchors
// of a smaller input (grid_anchors) and what a pass at a small photo's own size finds.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <faceapp/detail/ssd_detector.hpp>
#include <faceapp/models/model_files.hpp>
#include <test_data.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
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

TEST_CASE("grid_anchors gives face-api.js's 5118 anchors at 512, and each smaller input its own grid") {
  const auto& stored = detector_weights()->anchors;
  CHECK(ssd::predictor_map_sides(512) == std::array<int, 6>{32, 16, 8, 4, 2, 1});
  CHECK(ssd::predictor_map_sides(320) == std::array<int, 6>{20, 10, 5, 3, 2, 1});
  const auto at_512 = ssd::grid_anchors(stored, 512);
  REQUIRE(at_512.size() == stored.size());
  double worst = 0;
  for (std::size_t i = 0; i < stored.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(at_512[i]) - stored[i]));
  }
  CHECK(worst < 1e-7);  // TensorFlow's own float rounding of the same grid
  // At 320: 3 * 20 * 20 + 6 * (10 * 10 + 5 * 5 + 3 * 3 + 2 * 2 + 1) anchors; the first cell's first box is the
  // 0.1 * 512 px square, 0.16 of the square, centred on the cell.
  const auto at_320 = ssd::grid_anchors(stored, 320);
  REQUIRE(at_320.size() == 4U * 2034U);
  CHECK(at_320[2] - at_320[0] == doctest::Approx(0.16).epsilon(1e-5));
  CHECK((at_320[0] + at_320[2]) / 2 == doctest::Approx(0.5 / 20).epsilon(1e-5));
}

TEST_CASE("run takes square inputs from min_input_size to input_size, and refuses the sides beyond") {
  const cv::Mat rgb = rgb_of("obama_1.jpg");
  ssd::engine engine(detector_weights());
  CHECK_THROWS_AS(engine.run(rgb.data, rgb.cols, rgb.rows, rgb.step, ssd::min_input_size - 1), std::invalid_argument);
  CHECK(engine.run(rgb.data, rgb.cols, rgb.rows, rgb.step, ssd::min_input_size).size() == 42U);  // 3 * 4 + 6 * 5
  CHECK(engine.run(rgb.data, rgb.cols, rgb.rows, rgb.step, ssd::min_input_size + 1).size() == 75U);  // 3 * 9 + 6 * 8
  CHECK(engine.run(rgb.data, rgb.cols, rgb.rows, rgb.step, ssd::input_size - 1).size() ==
        static_cast<std::size_t>(ssd::anchor_count));
  CHECK(engine.run(rgb.data, rgb.cols, rgb.rows, rgb.step, ssd::input_size).size() ==
        static_cast<std::size_t>(ssd::anchor_count));
  CHECK_THROWS_AS(engine.run(rgb.data, rgb.cols, rgb.rows, rgb.step, ssd::input_size + 1), std::invalid_argument);
  // The pass at 320 costs (320 / 512)^2 of the arithmetic, to the rounding of its maps' sides.
  CHECK(engine.forward_flops(320) / engine.forward_flops() == doctest::Approx(0.39).epsilon(0.03));
}

TEST_CASE("a photo under 512 px seen at its own size: every face found, where face-api.js's stretched pass misses") {
  // The measurement behind detect(cnn) keeping face-api.js's pass: at their own size the small photos' faces are
  // all found, the 150x150 face chips among them (stretched to 512 they fill the square, where the network boxes
  // poorly, and need detect(cnn)'s context pass); the same-size pass is not the stage's default because its boxes
  // of faces under the smallest anchor (51 px at 512) are worse (bench/README.md, "Small photos").
  ssd::engine engine(detector_weights());
  int photos = 0, faces = 0, own = 0, stretched = 0;
  for (const auto& row : faceapp::test::manifest()) {
    if (row.faces < 0) continue;
    const cv::Mat rgb = rgb_of(row.file);
    const int longer = std::max(rgb.cols, rgb.rows);
    if (longer >= ssd::input_size) continue;
    CAPTURE(row.file);
    const auto at_own = engine.detect(rgb.data, rgb.cols, rgb.rows, rgb.step, 0.5F, 100, longer);
    CHECK(static_cast<int>(at_own.size()) == row.faces);
    ++photos;
    faces += row.faces;
    own += static_cast<int>(at_own.size());
    stretched += static_cast<int>(engine.detect(rgb.data, rgb.cols, rgb.rows, rgb.step).size());
  }
  MESSAGE(photos, " photos under 512 px, ", faces, " faces: at their own size ", own, " found, stretched to 512 ",
          stretched);
  CHECK(photos >= 30);
  CHECK(stretched < own);
}
