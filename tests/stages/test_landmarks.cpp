#include <doctest/doctest.h>

#include <cmath>
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
  for (const auto& f : *r) {
    REQUIRE(f.landmarks.size() == model->points());
    for (const auto& p : f.landmarks) {  // near the face: within the box grown by half its size
      CHECK(p.x >= f.box.left - f.box.width() / 2);
      CHECK(p.x <= f.box.right + f.box.width() / 2);
      CHECK(p.y >= f.box.top - f.box.height() / 2);
      CHECK(p.y <= f.box.bottom + f.box.height() / 2);
    }
    const auto groups = faceapp::landmark_groups(f);
    CHECK(groups.size() == (model->points() == 68 ? 9U : 3U));
    CHECK(groups.at("left_eye").size() == (model->points() == 68 ? 6U : 2U));
  }
}

TEST_CASE("68-point landmarks agree with dlib's on the hand-labelled PASCAL faces") {
  const auto model = faceapp::default_landmark_model();
  REQUIRE(model.has_value());
  if (model->points() != 68) return;  // landmarks_68.csv is for the 68-point model
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
    const auto r = (faceapp::read | faceapp::detect | faceapp::landmarks)(data_file("faces/" + file));
    REQUIRE(r.has_value());
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
