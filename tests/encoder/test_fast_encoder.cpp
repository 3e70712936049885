// detail::fast_encoder must compute what dlib's forward pass of models::encoder_net computes, to float
// rounding, on real face chips: the reference chips and chips cut from photos of tests/data/faces, one
// at a time, in batches (including batches longer than the engine's sub-batch) and from several threads.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <faceapp/detail/encoder_weights_dlib.hpp>
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
#include <fstream>
#include <memory>
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

/// The weights of dlib's deserialized network, folded: what the engines below run (the runtime's own reader of the
/// file is checked against them below).
std::shared_ptr<const faceapp::detail::encoder_weights> reference_weights() {
  static const auto weights = faceapp::detail::fold_encoder_weights(reference_net());
  return weights;
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
  dlib::array<chip_t> arr;  // as extract_image_chips returns them
  for (auto chip : chips) arr.push_back(chip);
  std::vector<chip_t> many;  // longer than the sub-batch, with a partial last group
  while (many.size() < fast_encoder::sub_batch * 2 + 3) many.push_back(chips[many.size() % chips.size()]);
  std::vector<dlib::matrix<float, 0, 1>> many_expected;
  for (std::size_t i = 0; i < many.size(); ++i) many_expected.push_back(expected[i % chips.size()]);
  // Every matrix-product path this machine runs (on an AVX-512 machine: all three), and on each every way of
  // running the stride-1 3x3 convolutions. Loops, not sibling SUBCASEs: doctest enters one subcase of a level per
  // run, so a path chosen in one sibling never reached the checks in the others.
  int engines = 0;
  const auto convolutions_all = {convolution::automatic, convolution::direct, convolution::winograd2,
                                 convolution::winograd4};
  for (const auto kind : {fast_encoder::kernel::automatic, fast_encoder::kernel::avx2, fast_encoder::kernel::blas}) {
    for (const auto conv : convolutions_all) {
      fast_encoder engine(reference_weights(), kind, conv);
      const std::string kernel_name = engine.kernel_name();
      const std::string convolutions = convolution_name(conv);
      CAPTURE(kernel_name);
      CAPTURE(convolutions);
      double worst = check_equal(expected, engine.encode(chips));  // all chips in one batch
      std::vector<faceapp::encoding> one_by_one;
      for (const auto& chip : chips) one_by_one.push_back(engine.encode(chip));
      worst = std::max(worst, check_equal(expected, one_by_one));
      worst = std::max(worst, check_equal(expected, engine.encode(arr)));
      worst = std::max(worst, check_equal(many_expected, engine.encode(many)));
      MESSAGE(kernel_name, ", ", convolutions, ": max |fast - dlib| = ", worst);
      ++engines;
    }
  }
  CHECK(engines == 12);
}

TEST_CASE("the fast encoder computes dlib's encodings of faces cut from photos") {
  const auto chips = photo_chips();
  REQUIRE_MESSAGE(chips.size() >= 4, "the photos gave only ", chips.size(), " faces");
  const auto expected = dlib_encode(chips);
  for (const auto kind : {fast_encoder::kernel::automatic, fast_encoder::kernel::avx2, fast_encoder::kernel::blas}) {
    for (const auto conv : {convolution::automatic, convolution::direct, convolution::winograd2, convolution::winograd4}) {
      fast_encoder engine(reference_weights(), kind, conv);
      const std::string kernel_name = engine.kernel_name();
      const std::string convolutions = convolution_name(conv);
      CAPTURE(kernel_name);
      CAPTURE(convolutions);
      const double worst = check_equal(expected, engine.encode(chips));
      MESSAGE(kernel_name, ", ", convolutions, ": max |fast - dlib| = ", worst, " over ", chips.size(), " chips");
    }
  }
  fast_encoder engine(reference_weights());
  check_equal(expected, engine.encode(chips));
  // The same engine again: scratch memory left from a larger batch must not leak into a single chip.
  check_equal({expected.back()}, {engine.encode(chips.back())});
}

TEST_CASE("copies of the fast encoder encode concurrently, one per thread") {
  const auto chips = reference_chips();
  const auto expected = dlib_encode(chips);
  const fast_encoder prototype(reference_weights());
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
  fast_encoder engine(reference_weights());
  chip_t small(100, 100);
  CHECK_THROWS_AS((void)engine.encode(small), std::invalid_argument);
}

namespace {

/// The stem of `net` over the left `width` columns of `chip` (normalised as the engine does), in double
/// precision straight from the definition: out(y, x, f) = relu(bias_f + sum over ky, kx, c of
/// in(y * stride + ky, x * stride + kx, c) * w(ky, kx, c, f)).
std::vector<double> stem_by_definition(const faceapp::detail::encoder_weights& w, const std::vector<float>& in,
                                       int h, int width) {
  const auto& cv = w.stem;
  const int oh = cv.out_size(h), ow = cv.out_size(width);
  const std::size_t k = static_cast<std::size_t>(cv.kh * cv.kw * cv.in);
  const std::size_t panel = faceapp::detail::gemm_panel_width;
  std::vector<double> out(static_cast<std::size_t>(oh * ow * cv.out));
  for (int y = 0; y < oh; ++y) {
    for (int x = 0; x < ow; ++x) {
      for (int f = 0; f < cv.out; ++f) {
        double sum = cv.bias[static_cast<std::size_t>(f)];
        for (int ky = 0; ky < cv.kh; ++ky) {
          for (int kx = 0; kx < cv.kw; ++kx) {
            for (int c = 0; c < cv.in; ++c) {
              const std::size_t row = static_cast<std::size_t>((ky * cv.kw + kx) * cv.in + c);
              const std::size_t fu = static_cast<std::size_t>(f);
              const double wt = cv.weights[(fu / panel) * k * panel + row * panel + fu % panel];
              const std::size_t at = (static_cast<std::size_t>(y * cv.stride + ky) * static_cast<std::size_t>(width) +
                                      static_cast<std::size_t>(x * cv.stride + kx)) * static_cast<std::size_t>(cv.in) +
                                     static_cast<std::size_t>(c);
              sum += static_cast<double>(in[at]) * wt;
            }
          }
        }
        out[(static_cast<std::size_t>(y * ow + x)) * static_cast<std::size_t>(cv.out) + static_cast<std::size_t>(f)] =
            std::max(sum, 0.0);
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("the stem read in place computes the 7x7/2 convolution of a chip, on each x86 kernel") {
  using faceapp::detail::simd_level;
  const auto weights = reference_weights();
  const auto chip = reference_chips().front();
  // 150 columns give 72 outputs a row, whole register tiles on both kernels; 147 give 71, which leaves 11 pixels
  // (AVX-512 tiles of 12) and 5 (AVX2 tiles of 6) for the remainder path.
  for (const int width : {150, 147}) {
    std::vector<float> in;
    for (long r = 0; r < fast_encoder::chip_size; ++r) {
      for (long c = 0; c < width; ++c) {
        in.push_back((static_cast<float>(chip(r, c).red) - weights->mean_r) / 256.0F);
        in.push_back((static_cast<float>(chip(r, c).green) - weights->mean_g) / 256.0F);
        in.push_back((static_cast<float>(chip(r, c).blue) - weights->mean_b) / 256.0F);
      }
    }
    const auto expected = stem_by_definition(*weights, in, fast_encoder::chip_size, width);
    for (const auto level : {simd_level::avx512, simd_level::avx2}) {
      if (!faceapp::detail::simd_supported(level)) continue;
      CAPTURE(width);
      const std::string kernel_name = faceapp::detail::simd_level_name(level);
      CAPTURE(kernel_name);
      REQUIRE(faceapp::detail::stem_conv_applies(level, weights->stem));
      std::vector<float> got(expected.size(), -1.0F);
      faceapp::detail::stem_conv(level, weights->stem, in.data(), fast_encoder::chip_size, width, got.data());
      double worst = 0;
      for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - expected[i]));
      CHECK(worst <= 1e-5);
      MESSAGE(kernel_name, ", ", width, " columns: max |in place - definition| = ", worst);
    }
  }
  CHECK_FALSE(faceapp::detail::stem_conv_applies(simd_level::portable, weights->stem));
}

TEST_CASE("automatic mode runs F(4x4) from 8x8 layers up, and on the smaller layers for a full sub-batch only") {
  constexpr int full = static_cast<int>(fast_encoder::sub_batch);
  for (const int size : {35, 17, 9, 8}) {
    CAPTURE(size);
    CHECK(fast_encoder::winograd_tile(size, 1) == 4);
    CHECK(fast_encoder::winograd_tile(size, full) == 4);
  }
  for (const int size : {7, 4, 2}) {
    CAPTURE(size);
    CHECK(fast_encoder::winograd_tile(size, 1) == 0);
    CHECK(fast_encoder::winograd_tile(size, full - 1) == 0);
    CHECK(fast_encoder::winograd_tile(size, full) == 4);
    CHECK(fast_encoder::winograd_tile(size, full + 1) == 4);
  }
  // The engine follows the rule on the network's layers: the last layer (2x2) by batch, the first (35x35) always.
  fast_encoder engine(reference_weights());
  const std::size_t last = engine.layers() - 1;
  CHECK(engine.layer_tile(0, 1) == 4);
  CHECK(engine.layer_tile(last, full - 1) == 0);
  CHECK(engine.layer_tile(last, full) == 4);
  // Batches on each side of the boundary still give dlib's encodings (the 16 and 15 chips of 31).
  const auto chips = reference_chips();
  std::vector<chip_t> many;
  while (many.size() < 2 * fast_encoder::sub_batch - 1) many.push_back(chips[many.size() % chips.size()]);
  const auto expected = dlib_encode(chips);
  std::vector<dlib::matrix<float, 0, 1>> many_expected;
  for (std::size_t i = 0; i < many.size(); ++i) many_expected.push_back(expected[i % chips.size()]);
  check_equal(many_expected, engine.encode(many));
}

TEST_CASE("the fast encoder refuses a missing tile rule") {
  const auto weights = reference_weights();
  CHECK_THROWS_WITH_AS(fast_encoder(weights, fast_encoder::kernel::automatic, nullptr), "fast_encoder: no tile rule",
                       std::invalid_argument);
}

namespace {

void check_same_conv(const faceapp::detail::folded_conv& a, const faceapp::detail::folded_conv& b) {
  CHECK(a.in == b.in);
  CHECK(a.out == b.out);
  CHECK(a.kh == b.kh);
  CHECK(a.kw == b.kw);
  CHECK(a.stride == b.stride);
  CHECK(a.pad == b.pad);
  CHECK(a.weights == b.weights);
  CHECK(a.bias == b.bias);
}

fs::path encoder_file() { return fs::path(FACEAPP_BUILD_MODEL_DIR) / faceapp::models::encoder_file; }

std::vector<char> file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// `bytes` written to a file of their own; load_encoder_weights' error (empty when it loads).
std::string load_error(const std::vector<char>& bytes, const std::string& name) {
  const auto path = fs::temp_directory_path() / ("faceapp_test_encoder_" + name + ".dat");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  std::string error;
  try {
    (void)faceapp::detail::load_encoder_weights(path);
  } catch (const std::runtime_error& e) {
    error = e.what();
  }
  fs::remove(path);
  return error;
}

}  // namespace

TEST_CASE("the runtime reads the encoder's file to the same folded weights as dlib's deserialize, bit for bit") {
  const auto mine = faceapp::detail::load_encoder_weights(encoder_file());
  const auto& dlibs = *reference_weights();
  CHECK(mine->mean_r == dlibs.mean_r);
  CHECK(mine->mean_g == dlibs.mean_g);
  CHECK(mine->mean_b == dlibs.mean_b);
  check_same_conv(mine->stem, dlibs.stem);
  REQUIRE(mine->blocks.size() == dlibs.blocks.size());
  CHECK(mine->blocks.size() == 14);  // 29 convolutions: the stem and two per residual block
  for (std::size_t i = 0; i < mine->blocks.size(); ++i) {
    CAPTURE(i);
    check_same_conv(mine->blocks[i].a, dlibs.blocks[i].a);
    check_same_conv(mine->blocks[i].b, dlibs.blocks[i].b);
  }
  CHECK(mine->fc_in == dlibs.fc_in);
  CHECK(mine->fc_out == dlibs.fc_out);
  CHECK(mine->fc == dlibs.fc);
}

TEST_CASE("a file that is not the whole encoder network is an error saying where it stops being one") {
  const auto bytes = file_bytes(encoder_file());
  REQUIRE(bytes.size() > 1000);
  // The whole file loads; one byte less, or any cut, does not.
  CHECK(load_error(bytes, "whole").empty());
  for (const std::size_t keep : {bytes.size() - 1, bytes.size() / 2, std::size_t{100}, std::size_t{1}}) {
    CAPTURE(keep);
    const std::string error = load_error(std::vector<char>(bytes.begin(), bytes.begin() + static_cast<long>(keep)),
                                         "cut");
    CHECK(error.find("not dlib's face encoder network: at byte ") == 0);
    const bool ends = error.find("the file ends early") != std::string::npos ||
                      error.find("past the file's end") != std::string::npos;
    CHECK_MESSAGE(ends, error);
  }
  CHECK(load_error({}, "empty") == "the file is empty");
  // The first relu_ record, the stem's (layer 3), renamed: the error names the layer and what it found.
  const std::string relu = "relu_";
  const auto at = std::search(bytes.begin(), bytes.end(), relu.begin(), relu.end());
  REQUIRE(at != bytes.end());
  auto renamed = bytes;
  renamed[static_cast<std::size_t>(at - bytes.begin()) + 3] = 'v';
  const std::string error = load_error(renamed, "renamed");
  CHECK(error.find("layer 3 from the input (relu_): 'relv_' where 'relu_' is") != std::string::npos);
  MESSAGE(error);
  // Another model's file: the cnn detector's weights.
  const auto detector = fs::path(FACEAPP_BUILD_MODEL_DIR) / faceapp::models::cnn_detector_file;
  const std::string other = load_error(file_bytes(detector), "detector");
  CHECK(other.find("not dlib's face encoder network: at byte ") == 0);
  MESSAGE(other);
  CHECK_THROWS_WITH_AS((void)faceapp::detail::load_encoder_weights(encoder_file().string() + ".missing"),
                       "cannot open the file", std::runtime_error);
}
