#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
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

static void measure_all() {
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

namespace {

/// One photo of tests/data/faces through read | detect | landmarks, on first use.
const faceapp::faces& photo_named(const std::string& file) {
  static std::map<std::string, faceapp::faces> cache;
  if (const auto it = cache.find(file); it != cache.end()) return it->second;
  auto found = (faceapp::read | faceapp::detect | faceapp::landmarks)(data_file("faces/" + file).string());
  if (!found) throw std::runtime_error(found.error().what());
  return cache.emplace(file, *std::move(found)).first->second;
}

/// The photo's first face alone, in the photo resized so that the shortest side of the face's box is `side` px:
/// the box and landmarks scaled with it, the shorter side set to exactly `side`.
faceapp::faces resized_to_side(const faceapp::faces& photo, int side) {
  const auto& f = photo[0];
  const int shortest = std::min(f.box.width(), f.box.height());
  const double scale = static_cast<double>(side) / shortest;
  faceapp::faces out;
  cv::resize(photo.image.pixels, out.image.pixels, cv::Size(), scale, scale, cv::INTER_AREA);
  out.image.source = photo.source() + " at " + std::to_string(side) + " px";
  out.image.original_width = out.image.pixels.cols;
  out.image.original_height = out.image.pixels.rows;
  faceapp::face g = f;
  const auto at = [&](int v) { return static_cast<int>(std::lround(v * scale)); };
  g.box.left = at(f.box.left);
  g.box.top = at(f.box.top);
  const int w = f.box.width() <= f.box.height() ? side : std::max(side, at(f.box.width()));
  const int h = f.box.height() < f.box.width() ? side : std::max(side, at(f.box.height()));
  g.box.right = g.box.left + w - 1;
  g.box.bottom = g.box.top + h - 1;
  g.box_in_image = g.box;
  for (auto* points : {&g.landmarks, &g.landmarks_in_image}) {
    for (auto& p : *points) p = {static_cast<float>(p.x * scale), static_cast<float>(p.y * scale)};
  }
  out.items = {g};
  return out;
}

}  // namespace

static void sharp_faces_pass() {
  std::size_t checked = 0;
  std::size_t small = 0;
  for (const auto& photo : all_photos()) {
    for (std::size_t i = 0; i < photo.size(); ++i) {
      ++checked;
      CAPTURE(photo.source());
      CAPTURE(i);
      CHECK(faceapp::detail::chip_sharpness(photo.image, photo[i]) >= faceapp::quality_options{}.min_sharpness);
      const bool big = std::min(photo[i].box.width(), photo[i].box.height()) >= 40;
      small += big ? 0 : 1;
      faceapp::faces one = photo;
      one.items = {photo[i]};
      const auto r = faceapp::quality(one);
      CHECK(r.has_value() == big);
      if (!r) CHECK(r.error().message.find("face too small: ") == 0);
    }
  }
  CHECK(all_photos().size() == faceapp::test::manifest().size());  // every photo of the manifest was read
  CHECK(checked > 0);
  MESSAGE(small, " of ", checked, " faces are under 40 px (in the group photos) and refused for that alone");
  for (const auto& row : faceapp::test::manifest()) {
    if (row.identity.empty()) continue;
    CAPTURE(row.file);
    const auto photo = std::find_if(all_photos().begin(), all_photos().end(), [&](const faceapp::faces& p) {
      return p.source() == data_file("faces/" + row.file).string();
    });
    REQUIRE(photo != all_photos().end());
    const auto r = faceapp::quality(*photo);
    CHECK_MESSAGE(r.has_value(), (r ? std::string() : r.error().what()));
  }
}

static void blurred_faces_are_refused() {
  for (const auto& photo : all_photos()) {
    for (std::size_t i = 0; i < photo.size(); ++i) {
      if (std::min(photo[i].box.width(), photo[i].box.height()) < 40) continue;  // refused for its size first
      CAPTURE(photo.source());
      CAPTURE(i);
      const auto r = faceapp::quality(blurred(photo, i, 0.04));
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().stage == "quality");
      CHECK(r.error().input == photo.source());
      CHECK(r.error().message.find("face too blurred: sharpness ") == 0);
    }
  }
}

// One case, so that one process reads and detects the 71 photos once for all its subcases.
TEST_CASE("quality on every face of the test data") {
  SUBCASE("what the gate measures, sharp and blurred by a Gaussian of sigma 4% of the face's width") {
    measure_all();
  }
  SUBCASE("it passes every face of at least 40 px, and every identity photo") { sharp_faces_pass(); }
  SUBCASE("it refuses every face blurred by a Gaussian of sigma 4% of its width") { blurred_faces_are_refused(); }
}

TEST_CASE("quality's size limit: a real face resized to 39 px is refused, to 40 and 41 px it passes") {
  const auto& photo = photo_named("obama_1.jpg");
  REQUIRE(photo.size() == 1);
  for (const int side : {35, 39, 40, 41}) {
    CAPTURE(side);
    const auto face = resized_to_side(photo, side);
    REQUIRE(std::min(face[0].box.width(), face[0].box.height()) == side);
    const auto r = faceapp::quality(face);
    if (side < 40) {
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().stage == "quality");
      CHECK(r.error().input == face.source());
      CHECK(r.error().message == "face too small: " + std::to_string(side) + " px < 40 px");
    } else {
      CHECK_MESSAGE(r.has_value(), (r ? std::string() : r.error().what()));
    }
  }
  SUBCASE("another limit is another boundary") {
    const auto face = resized_to_side(photo, 60);
    CHECK(faceapp::quality({.min_side = 60})(face).has_value());
    CHECK_FALSE(faceapp::quality({.min_side = 61})(face).has_value());
  }
}

TEST_CASE("quality's blur limit: a blurred real face passes at its own sharpness and is refused just above it") {
  const auto& photo = photo_named("obama_1.jpg");
  const auto face = blurred(photo, 0, 0.02);
  const double s = faceapp::detail::chip_sharpness(face.image, face[0]);
  MESSAGE("obama_1.jpg blurred by sigma 2% of its width: sharpness ", s);
  CHECK(faceapp::quality({.min_sharpness = std::nextafter(s, 0.0)})(face).has_value());
  CHECK(faceapp::quality({.min_sharpness = s})(face).has_value());
  const auto r = faceapp::quality({.min_sharpness = std::nextafter(s, 1e9)})(face);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.find("face too blurred: sharpness ") == 0);
}

TEST_CASE("quality in a pipeline: it adds the landmarks encode uses, and names the face of a group it refuses") {
  const auto photo = data_file("faces/obama_2.jpg").string();
  const auto gated = (faceapp::read | faceapp::detect | faceapp::quality | faceapp::encode)(photo);
  const auto plain = (faceapp::read | faceapp::detect | faceapp::encode)(photo);
  REQUIRE(gated.has_value());
  REQUIRE(plain.has_value());
  REQUIRE(gated->size() == plain->size());
  CHECK(gated->at(0).encoding == plain->at(0).encoding);
  CHECK(gated->at(0).landmarks.size() == plain->at(0).landmarks.size());

  const auto group = (faceapp::read | faceapp::detect | faceapp::quality)(data_file("faces/group_7.jpg").string());
  REQUIRE_FALSE(group.has_value());
  CHECK(group.error().stage == "quality");
  CHECK(group.error().message.find(" of 7: face too small: ") != std::string::npos);

  const auto none = (faceapp::read | faceapp::detect | faceapp::quality)(data_file("faces/noface_1.png").string());
  REQUIRE(none.has_value());
  CHECK(none->empty());

  faceapp::face bare;
  CHECK_THROWS_AS((void)faceapp::face_chip(photo_named("obama_1.jpg").image, bare), std::invalid_argument);
  const auto chip = faceapp::face_chip(photo_named("obama_1.jpg").image, photo_named("obama_1.jpg")[0]);
  CHECK(chip.width() == 150);
  CHECK(chip.height() == 150);
}
