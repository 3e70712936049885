#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "faceapp/faceapp.hpp"
#include "test_data.hpp"

using faceapp::test::data_file;

namespace {

/// Every photo of the test data through read | detect | landmarks, once per process.
const std::vector<faceapp::faces>& all_photos() {
  static const std::vector<faceapp::faces> photos = [] {
    std::vector<faceapp::source> sources;
    for (const auto& row : faceapp::test::manifest()) sources.emplace_back(data_file("faces/" + row.file));
    const auto results =
        faceapp::run_batch(faceapp::read | faceapp::detect | faceapp::landmarks, sources, {.threads = 2});
    std::vector<faceapp::faces> out;
    for (const auto& r : results) {
      REQUIRE_MESSAGE(r.has_value(), r.error().what());
      out.push_back(*r);
    }
    return out;
  }();
  return photos;
}

/// The photo with the whole image blurred by a Gaussian of sigma = `fraction` of face `i`'s width.
faceapp::faces blurred(const faceapp::faces& photo, std::size_t i, double fraction) {
  faceapp::faces out = photo;
  out.image.pixels = photo.image.pixels.clone();
  const double sigma = fraction * photo[i].box_in_image.width();
  cv::GaussianBlur(photo.image.pixels, out.image.pixels, cv::Size(0, 0), sigma);
  out.items = {photo[i]};
  return out;
}

}  // namespace

TEST_CASE("quality: what the gate measures on every face of the test data, sharp and blurred") {
  struct scored {
    double value;
    std::string where;
    bool operator<(const scored& o) const { return value < o.value; }
  };
  std::vector<scored> sharp;
  std::vector<scored> blur;
  std::vector<scored> sides;
  for (const auto& photo : all_photos()) {
    for (std::size_t i = 0; i < photo.size(); ++i) {
      const std::string where = photo.source().substr(photo.source().rfind('/') + 1) + " face " + std::to_string(i);
      sides.push_back({static_cast<double>(std::min(photo[i].box.width(), photo[i].box.height())), where});
      sharp.push_back({faceapp::detail::chip_sharpness(photo.image, photo[i]), where});
      const auto b = blurred(photo, i, 0.04);
      blur.push_back({faceapp::detail::chip_sharpness(b.image, b[0]), where});
    }
  }
  std::sort(sharp.begin(), sharp.end());
  std::sort(blur.begin(), blur.end());
  std::sort(sides.begin(), sides.end());
  std::string text = std::to_string(sharp.size()) + " faces\nleast sharp:";
  for (std::size_t k = 0; k < 6; ++k) text += " " + std::to_string(sharp[k].value) + " (" + sharp[k].where + ")";
  text += "\nmost blurred at sigma 4%:";
  for (std::size_t k = 0; k < 6; ++k) {
    const auto& b = blur[blur.size() - 1 - k];
    text += " " + std::to_string(b.value) + " (" + b.where + ")";
  }
  text += "\nsmallest sides:";
  for (std::size_t k = 0; k < 6; ++k) text += " " + std::to_string(sides[k].value) + " (" + sides[k].where + ")";
  MESSAGE(text);
}
