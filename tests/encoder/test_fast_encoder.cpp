// detail::fast_encoder must compute what dlib's forward pass of models::encoder_net computes, to float
// rounding, on real face chips: the reference chips and chips cut from photos of tests/data/faces, one
// at a time, in batches (including batches longer than the engine's sub-batch) and from several threads.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <faceapp/detail/fast_encoder.hpp>
#include <faceapp/models/network.hpp>
#include <test_data.hpp>

#include <dlib/dnn.h>
#include <dlib/image_io.h>
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using chip_t = dlib::matrix<dlib::rgb_pixel>;
using faceapp::detail::fast_encoder;
using faceapp::models::encoder_net;

constexpr double tolerance = 1e-4;

const encoder_net& reference_net() {
  static const encoder_net net = [] {
    const auto path = fs::path(FACEAPP_BUILD_MODEL_DIR) / faceapp::models::encoder_file;
    if (!fs::exists(path)) throw std::runtime_error(path.string() + " is missing: build the faceapp_models target");
    encoder_net n;
    dlib::deserialize(path.string()) >> n;
    return n;
  }();
  return net;
}

/// dlib's own forward pass (on a copy: dlib's network keeps scratch state).
std::vector<dlib::matrix<float, 0, 1>> dlib_encode(const std::vector<chip_t>& chips) {
  encoder_net net = reference_net();
  return net(chips, 16);
}

std::vector<chip_t> reference_chips() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(faceapp::test::data_file("reference/chips"))) {
    if (entry.path().extension() == ".png") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  REQUIRE_MESSAGE(!files.empty(), "no reference chips");
  std::vector<chip_t> chips(files.size());
  for (std::size_t i = 0; i < files.size(); ++i) dlib::load_png(chips[i], files[i].string());
  return chips;
}

/// 150x150 chips of every face dlib's HOG detector finds in a few photos of tests/data/faces (group
/// photos for many faces at once), cut from the detection box: what matters here is real face content, not
/// the alignment the encode stage adds with landmarks.
std::vector<chip_t> photo_chips() {
  auto detector = dlib::get_frontal_face_detector();
  std::vector<chip_t> chips;
  for (const char* name : {"group_1.jpg", "group_2.jpg", "obama_1.jpg", "biden_1.jpg"}) {
    dlib::array2d<dlib::rgb_pixel> img;
    dlib::load_image(img, faceapp::test::data_file(fs::path("faces") / name).string());
    for (const auto& box : detector(img)) {
      chip_t chip;
      dlib::extract_image_chip(img, dlib::chip_details(box, dlib::chip_dims(150, 150)), chip);
      chips.push_back(std::move(chip));
    }
  }
  return chips;
}

double max_abs_difference(const dlib::matrix<float, 0, 1>& expected, const faceapp::encoding& got) {
  REQUIRE(expected.size() == static_cast<long>(faceapp::encoding_size));
  double worst = 0;
  for (std::size_t i = 0; i < faceapp::encoding_size; ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(expected(static_cast<long>(i))) - got[i]));
  }
  return worst;
}

/// The largest |fast - dlib| over all chips and components, each chip checked against the tolerance.
double check_equal(const std::vector<dlib::matrix<float, 0, 1>>& expected, const std::vector<faceapp::encoding>& got) {
  REQUIRE(got.size() == expected.size());
  double worst = 0;
  for (std::size_t k = 0; k < got.size(); ++k) {
    const double d = max_abs_difference(expected[k], got[k]);
    CHECK_MESSAGE(d <= tolerance, "chip ", k, ": max |fast - dlib| = ", d);
    worst = std::max(worst, d);
  }
  return worst;
}

using convolution = fast_encoder::convolution;

const char* convolution_name(convolution c) {
  switch (c) {
    case convolution::direct: return "direct";
    case convolution::winograd2: return "winograd F(2x2,3x3)";
    case convolution::winograd4: return "winograd F(4x4,3x3)";
    case convolution::automatic: break;
  }
  return "automatic";
}

}  // namespace

TEST_CASE("the fast encoder computes dlib's encodings of the reference chips") {
  const auto chips = reference_chips();
  const auto expected = dlib_encode(chips);
  // Every matrix-product path this machine runs (on an AVX-512 machine: all three).
  auto kind = fast_encoder::kernel::automatic;
  SUBCASE("default kernel") {}
  SUBCASE("AVX2 kernel") { kind = fast_encoder::kernel::avx2; }
  SUBCASE("BLAS kernel") { kind = fast_encoder::kernel::blas; }
  // Every way of running the stride-1 3x3 convolutions, on each of those paths.
  auto conv = convolution::automatic;
  SUBCASE("per-layer choice") {}
  SUBCASE("direct convolutions") { conv = convolution::direct; }
  SUBCASE("Winograd F(2x2,3x3) everywhere") { conv = convolution::winograd2; }
  SUBCASE("Winograd F(4x4,3x3) everywhere") { conv = convolution::winograd4; }
  fast_encoder engine(reference_net(), kind, conv);
  const std::string kernel_name = engine.kernel_name();
  const std::string convolutions = convolution_name(conv);
  CAPTURE(kernel_name);
  CAPTURE(convolutions);

  SUBCASE("all chips in one batch") { check_equal(expected, engine.encode(chips)); }
  SUBCASE("one chip at a time") {
    std::vector<faceapp::encoding> got;
    for (const auto& chip : chips) got.push_back(engine.encode(chip));
    check_equal(expected, got);
  }
  SUBCASE("from a dlib::array, as extract_image_chips returns them") {
    dlib::array<chip_t> arr;
    for (auto chip : chips) arr.push_back(chip);
    check_equal(expected, engine.encode(arr));
  }
  SUBCASE("a batch longer than the sub-batch, with a partial last group") {
    std::vector<chip_t> many;
    while (many.size() < fast_encoder::sub_batch * 2 + 3) many.push_back(chips[many.size() % chips.size()]);
    std::vector<dlib::matrix<float, 0, 1>> many_expected;
    for (std::size_t i = 0; i < many.size(); ++i) many_expected.push_back(expected[i % chips.size()]);
    check_equal(many_expected, engine.encode(many));
  }
}

TEST_CASE("the fast encoder computes dlib's encodings of faces cut from photos") {
  const auto chips = photo_chips();
  REQUIRE_MESSAGE(chips.size() >= 4, "the photos gave only ", chips.size(), " faces");
  const auto expected = dlib_encode(chips);
  for (const auto kind : {fast_encoder::kernel::automatic, fast_encoder::kernel::avx2, fast_encoder::kernel::blas}) {
    for (const auto conv : {convolution::automatic, convolution::direct, convolution::winograd2, convolution::winograd4}) {
      fast_encoder engine(reference_net(), kind, conv);
      const std::string kernel_name = engine.kernel_name();
      const std::string convolutions = convolution_name(conv);
      CAPTURE(kernel_name);
      CAPTURE(convolutions);
      const double worst = check_equal(expected, engine.encode(chips));
      MESSAGE(kernel_name, ", ", convolutions, ": max |fast - dlib| = ", worst, " over ", chips.size(), " chips");
    }
  }
  fast_encoder engine(reference_net());
  check_equal(expected, engine.encode(chips));
  // The same engine again: scratch memory left from a larger batch must not leak into a single chip.
  check_equal({expected.back()}, {engine.encode(chips.back())});
}

TEST_CASE("copies of the fast encoder encode concurrently, one per thread") {
  const auto chips = reference_chips();
  const auto expected = dlib_encode(chips);
  const fast_encoder prototype(reference_net());
  std::vector<std::vector<faceapp::encoding>> results(2);
  {
    std::vector<std::jthread> workers;
    for (auto& r : results) {
      workers.emplace_back([&prototype, &chips, &r] {
        fast_encoder mine = prototype;  // shares the weights, owns its scratch
        for (int round = 0; round < 3; ++round) r = mine.encode(chips);
      });
    }
  }
  for (const auto& r : results) check_equal(expected, r);
}

TEST_CASE("the fast encoder rejects chips of another size") {
  fast_encoder engine(reference_net());
  chip_t small(100, 100);
  CHECK_THROWS_AS((void)engine.encode(small), std::invalid_argument);
}
