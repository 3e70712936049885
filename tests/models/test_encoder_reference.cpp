// The encoder converted from @vladmandic/face-api's weights must compute, to 1e-4 per component, the descriptors
// face-api.js computes for the reference chips (see reference/README.md), and a deliberately damaged copy must
// not: the second case shows that the comparison is able to fail.
//
// The reference comes from face-api.js's 8-bit quantized weights, so the build converts them for this test even
// when its runtime model came from dlib.net (whose float original is about 1e-2 away from them).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <faceapp/models/network.hpp>
#include <test_data.hpp>

#include <dlib/dnn.h>
#include <dlib/image_io.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

namespace {

namespace fs = std::filesystem;
using faceapp::models::encoder_net;
using descriptor = std::array<double, 128>;

constexpr double tolerance = 1e-4;

struct reference_chip {
  std::string name;
  dlib::matrix<dlib::rgb_pixel> image;
  descriptor expected{};
};

std::map<std::string, descriptor> read_reference_descriptors() {
  std::ifstream in(faceapp::test::data_file("reference/descriptors.csv"));
  std::string line;
  std::getline(in, line);  // header: chip,d0..d127
  std::map<std::string, descriptor> rows;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto cells = faceapp::test::split_csv_line(line);
    REQUIRE_MESSAGE(cells.size() == 129, "malformed descriptors.csv row: ", line);
    descriptor d{};
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = std::stod(cells[i + 1]);
    rows.emplace(cells[0], d);
  }
  return rows;
}

/// Every chip of reference/chips with its descriptor; each chip must have one and vice versa.
std::vector<reference_chip> reference_chips() {
  auto expected = read_reference_descriptors();
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(faceapp::test::data_file("reference/chips"))) {
    if (entry.path().extension() == ".png") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  REQUIRE_MESSAGE(!files.empty(), "no chips in ", faceapp::test::data_file("reference/chips").string());
  REQUIRE_MESSAGE(files.size() == expected.size(), files.size(), " chips but ", expected.size(), " descriptors");

  std::vector<reference_chip> chips;
  for (const auto& file : files) {
    reference_chip chip;
    chip.name = file.filename().string();
    const auto it = expected.find(chip.name);
    REQUIRE_MESSAGE(it != expected.end(), "descriptors.csv has no row for ", chip.name);
    chip.expected = it->second;
    dlib::load_png(chip.image, file.string());
    REQUIRE_MESSAGE((chip.image.nr() == 150 && chip.image.nc() == 150), chip.name, " is not a 150x150 chip");
    chips.push_back(std::move(chip));
  }
  return chips;
}

fs::path encoder_path() {
  const auto path = fs::path(FACEAPP_CONVERTED_ENCODER);
  REQUIRE_MESSAGE(fs::exists(path), path.string(),
                  " is missing: build the faceapp_converted_encoder target, which converts the npm package's weights");
  return path;
}

encoder_net load_encoder() {
  encoder_net net;
  dlib::deserialize(encoder_path().string()) >> net;
  return net;
}

/// Largest |computed - expected| over the 128 components, and where it is.
struct difference {
  double max_abs = 0;
  std::size_t component = 0;
};

std::vector<difference> compare(encoder_net& net, const std::vector<reference_chip>& chips) {
  std::vector<dlib::matrix<dlib::rgb_pixel>> images;
  for (const auto& chip : chips) images.push_back(chip.image);
  const auto computed = net(images);
  REQUIRE(computed.size() == chips.size());

  std::vector<difference> diffs;
  for (std::size_t k = 0; k < chips.size(); ++k) {
    REQUIRE(computed[k].size() == 128);
    difference d;
    for (std::size_t i = 0; i < 128; ++i) {
      const double e = std::abs(static_cast<double>(computed[k](static_cast<long>(i))) - chips[k].expected[i]);
      if (e > d.max_abs) d = {e, i};
    }
    diffs.push_back(d);
  }
  return diffs;
}

template <typename T> struct is_con : std::false_type {};
template <long F, long R, long C, int SY, int SX, int PY, int PX> struct is_con<dlib::con_<F, R, C, SY, SX, PY, PX>>
    : std::true_type {};

/// Parameter tensors of the convolutions and the affine layers, output end first (dlib's visiting
/// order): index 0 and 1 are the two layers of the last residual block, both 256 -> 256 channels.
struct weights {
  std::vector<dlib::tensor*> con_params;
  std::vector<dlib::affine_*> affines;
};

weights weights_of(encoder_net& net) {
  weights w;
  dlib::visit_computational_layers(net, [&](auto& l) {
    using layer_t = std::decay_t<decltype(l)>;
    if constexpr (is_con<layer_t>::value) w.con_params.push_back(&l.get_layer_params());
    if constexpr (std::is_same_v<layer_t, dlib::affine_>) w.affines.push_back(&l);
  });
  return w;
}

void swap_values(dlib::tensor& a, dlib::tensor& b) {
  REQUIRE(a.size() == b.size());
  REQUIRE_FALSE(std::equal(a.begin(), a.end(), b.begin()));  // swapping equal tensors would prove nothing
  std::swap_ranges(a.host(), a.host() + a.size(), b.host());
}

}  // namespace

TEST_CASE("the encoder reproduces face-api.js's descriptors of the reference chips") {
  const auto chips = reference_chips();
  auto net = load_encoder();
  const auto diffs = compare(net, chips);

  double worst = 0;
  for (std::size_t k = 0; k < chips.size(); ++k) {
    CHECK_MESSAGE(diffs[k].max_abs <= tolerance, chips[k].name, ": component ", diffs[k].component, " is off by ",
                  diffs[k].max_abs);
    worst = std::max(worst, diffs[k].max_abs);
  }
  MESSAGE(chips.size(), " chips, max abs difference ", worst);
}

TEST_CASE("a damaged encoder fails the same comparison") {
  const auto chips = reference_chips();
  auto net = load_encoder();

  auto w = weights_of(net);
  REQUIRE(w.con_params.size() == 29);
  REQUIRE(w.affines.size() == 29);
  SUBCASE("gammas of two affine layers swapped") {
    auto a = w.affines[0]->get_gamma();
    auto b = w.affines[1]->get_gamma();
    swap_values(a, b);
  }
  SUBCASE("filters of two convolutions swapped") { swap_values(*w.con_params[0], *w.con_params[1]); }

  const auto diffs = compare(net, chips);
  for (std::size_t k = 0; k < chips.size(); ++k) {
    CHECK_MESSAGE(diffs[k].max_abs > tolerance, chips[k].name,
                  ": the damaged encoder still matches (max abs difference ", diffs[k].max_abs, ")");
  }
}
