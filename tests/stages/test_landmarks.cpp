#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "faceapp/faceapp.hpp"
#include "test_data.hpp"

using faceapp::test::data_file;

TEST_CASE("landmarks gives 5 or 68 points per face, in the coordinates of the image as read") {
  const auto r = (faceapp::read | faceapp::resize(0.5) | faceapp::detect | faceapp::landmarks)(
      data_file("faces/group_3.jpg"));
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 3);
  const auto model = faceapp::default_landmark_model();
  REQUIRE(model.has_value());
  const double sx = static_cast<double>(r->image.width()) / r->image.original_width;
  const double sy = static_cast<double>(r->image.height()) / r->image.original_height;
  for (const auto& f : *r) {
    REQUIRE(f.landmarks.size() == model->points());
    REQUIRE(f.landmarks_in_image.size() == model->points());
    // The box the predictor saw lies in the resized image (clipped as face_recognition clips), and `box` is it
    // mapped back: both are checked, each against its own image.
    const auto& b = f.box_in_image;
    CHECK(b.left >= 0);
    CHECK(b.top >= 0);
    CHECK(b.right <= r->image.width());
    CHECK(b.bottom <= r->image.height());
    CHECK(b.left < b.right);
    CHECK(b.top < b.bottom);
    CHECK(std::abs(f.box.left * sx - b.left) <= 1.0);
    CHECK(std::abs(f.box.right * sx - b.right) <= 1.0);
    CHECK(std::abs(f.box.top * sy - b.top) <= 1.0);
    CHECK(std::abs(f.box.bottom * sy - b.bottom) <= 1.0);
    for (std::size_t i = 0; i < f.landmarks.size(); ++i) {
      const auto& p = f.landmarks[i];
      const auto& q = f.landmarks_in_image[i];
      // near the face: within the box grown by half its size, in both coordinate systems
      CHECK(p.x >= f.box.left - f.box.width() / 2);
      CHECK(p.x <= f.box.right + f.box.width() / 2);
      CHECK(p.y >= f.box.top - f.box.height() / 2);
      CHECK(p.y <= f.box.bottom + f.box.height() / 2);
      CHECK(q.x >= b.left - b.width() / 2);
      CHECK(q.x <= b.right + b.width() / 2);
      CHECK(q.y >= b.top - b.height() / 2);
      CHECK(q.y <= b.bottom + b.height() / 2);
      CHECK(std::abs(p.x * sx - q.x) < 1e-3);  // the same point, mapped back
      CHECK(std::abs(p.y * sy - q.y) < 1e-3);
    }
    const auto groups = faceapp::landmark_groups(f);
    CHECK(groups.size() == (model->points() == 68 ? 9U : 3U));
    CHECK(groups.at("left_eye").size() == (model->points() == 68 ? 6U : 2U));
  }
}

namespace {

/// The 68-point model wherever the library would look for it (its search path, then Debian's libdlib-data);
/// a failure naming the places when it is in none of them.
std::filesystem::path landmarks68_file() {
  auto dirs = faceapp::models::search_path();
  dirs.push_back(faceapp::models::debian_dlib_data_dir);
  std::string looked;
  for (const auto& d : dirs) {
    const auto p = d / faceapp::models::landmarks68_file;
    if (std::filesystem::is_regular_file(p)) return p;
    looked += ' ';  // not " " + ...: GCC 12 warns wrongly (-Wstringop-overflow) on that
    looked += p.string();
  }
  FAIL("the 68-point landmark model is needed for this test and was not found; looked in:", looked);
  return {};
}

}  // namespace

TEST_CASE("68-point landmarks agree with dlib's on the hand-labelled PASCAL faces") {
  // landmarks_68.csv is for the 68-point model: it is named explicitly, whichever model is the default.
  auto models = faceapp::load_models();
  REQUIRE_MESSAGE(models.has_value(), models.error().what());
  auto lm68 = faceapp::landmark_model::load(landmarks68_file());
  REQUIRE_MESSAGE(lm68.has_value(), lm68.error().what());
  REQUIRE(lm68->points() == 68);
  models->landmarks = *lm68;
  // landmarks_68.csv: dlib's 68-point model run on the hand boxes; ours start from our own detections, so a face's
  // mean point error is a few pixels, not zero.
  std::ifstream in(data_file("faces/landmarks_68.csv"));
  std::string line;
  std::getline(in, line);
  std::map<std::string, std::map<int, std::vector<faceapp::point>>> truth;
  while (std::getline(in, line)) {
    const auto c = faceapp::test::split_csv_line(line);
    truth[c[0]][std::stoi(c[1])].push_back({std::stof(c[3]), std::stof(c[4])});
  }
  int compared = 0;
  for (const auto& [file, by_face] : truth) {
    const auto r = (faceapp::read | faceapp::detect | faceapp::landmarks(*models))(data_file("faces/" + file));
    REQUIRE(r.has_value());
    for (const auto& f : *r) REQUIRE(f.landmarks.size() == 68);
    for (const auto& [index, points] : by_face) {
      REQUIRE(points.size() == 68);
      // Our detection for this face: the one whose landmarks are nearest on average.
      double best = 1e9;
      for (const auto& f : *r) {
        double sum = 0;
        for (std::size_t i = 0; i < 68; ++i) {
          sum += std::hypot(f.landmarks[i].x - points[i].x, f.landmarks[i].y - points[i].y);
        }
        best = std::min(best, sum / 68);
      }
      CAPTURE(file);
      CAPTURE(index);
      CHECK(best < 4.0);
      ++compared;
    }
  }
  CHECK(compared == 18);
}
