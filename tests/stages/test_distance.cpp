// distance_to and compare on real encodings (the reference descriptors of tests/data/reference): the distances
// they report, and the match decision exactly at the tolerance.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "faceapp/stages/distance.hpp"
#include "test_data.hpp"

namespace {

std::vector<faceapp::encoding> reference_encodings() {
  std::ifstream in(faceapp::test::data_file("reference/descriptors.csv"));
  std::string line;
  std::getline(in, line);  // header: chip,d0..d127
  std::vector<faceapp::encoding> out;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto cells = faceapp::test::split_csv_line(line);
    REQUIRE(cells.size() == 129);
    faceapp::encoding e;
    for (std::size_t i = 0; i < 128; ++i) e[i] = std::stof(cells[i + 1]);
    out.push_back(e);
  }
  return out;
}

faceapp::encoded_faces faces_of(const std::vector<faceapp::encoding>& encodings) {
  faceapp::encoded_faces f;
  f.image.source = "reference descriptors";
  for (const auto& e : encodings) {
    faceapp::encoded_face x;
    x.encoding = e;
    f.items.push_back(x);
  }
  return f;
}

float below(float x) { return std::nextafter(x, 0.0F); }

}  // namespace

TEST_CASE("a distance equal to the tolerance is a match; one float below it is not") {
  const auto e = reference_encodings();
  REQUIRE(e.size() >= 3);
  const auto in = faces_of({e[0], e[2]});
  const float d0 = faceapp::distance(e[0], e[1]);
  const float d2 = faceapp::distance(e[2], e[1]);
  REQUIRE(d0 != d2);

  SUBCASE("distance_to an encoding") {
    const auto at = faceapp::distance_to(e[1], d0)(in);
    REQUIRE(at.has_value());
    REQUIRE(at->size() == 2);
    CHECK(*at->at(0).distance == d0);
    CHECK(*at->at(1).distance == d2);
    CHECK(*at->at(0).match);
    CHECK(*at->at(1).match == (d2 <= d0));
    const auto under = faceapp::distance_to(e[1], below(d0))(in);
    REQUIRE(under.has_value());
    CHECK_FALSE(*under->at(0).match);
  }
  SUBCASE("compare re-decides with another tolerance") {
    const auto measured = faceapp::distance_to(e[1])(in);
    REQUIRE(measured.has_value());
    const auto at = faceapp::compare(d2)(*measured);
    REQUIRE(at.has_value());
    CHECK(*at->at(1).match);
    CHECK(*at->at(0).match == (d0 <= d2));
    const auto under = faceapp::compare(below(d2))(*measured);
    REQUIRE(under.has_value());
    CHECK_FALSE(*under->at(1).match);
    CHECK(*under->at(0).distance == d0);  // compare keeps the distances
    CHECK_FALSE(faceapp::compare(-0.1)(*measured).has_value());
  }
  SUBCASE("distance_to a gallery: the nearest entry, its name, the same boundary") {
    faceapp::gallery known;
    for (std::size_t i = 1; i < e.size(); ++i) known.add("entry " + std::to_string(i), e[i]);
    const auto measured = faceapp::distance_to(std::cref(known))(faces_of({e[0]}));
    REQUIRE(measured.has_value());
    std::size_t nearest = 1;
    for (std::size_t i = 1; i < e.size(); ++i) {
      if (faceapp::distance(e[0], e[i]) < faceapp::distance(e[0], e[nearest])) nearest = i;
    }
    CHECK(measured->at(0).name == "entry " + std::to_string(nearest));
    const float d = *measured->at(0).distance;
    CHECK(d == doctest::Approx(faceapp::distance(e[0], e[nearest])).epsilon(1e-5));
    CHECK(*faceapp::compare(d)(*measured)->at(0).match);
    CHECK_FALSE(*faceapp::compare(below(d))(*measured)->at(0).match);
    CHECK(*faceapp::distance_to(std::cref(known), d)(faces_of({e[0]}))->at(0).match);
    CHECK_FALSE(*faceapp::distance_to(std::cref(known), below(d))(faces_of({e[0]}))->at(0).match);
  }
}

TEST_CASE("distance_to a gallery scores all faces of an input in one pass, as one face at a time would") {
  const auto e = reference_encodings();
  REQUIRE(e.size() >= 4);
  for (const auto codes : {faceapp::compact_codes::none, faceapp::compact_codes::int8}) {
    faceapp::gallery known({.chunk_rows = 64, .codes = codes});
    for (std::size_t i = 0; i < e.size(); i += 2) known.add("entry " + std::to_string(i), e[i]);
    const auto all = faceapp::distance_to(std::cref(known))(faces_of(e));  // the odd ones are strangers
    REQUIRE(all.has_value());
    REQUIRE(all->size() == e.size());
    const auto view = known.snapshot();
    for (std::size_t i = 0; i < e.size(); ++i) {
      const auto hit = view->nearest(e[i]);
      REQUIRE(hit.has_value());
      CHECK(all->at(i).name == view->name(hit->row));
      CHECK(*all->at(i).distance == hit->distance);
      if (i % 2 == 0) CHECK(*all->at(i).distance == 0);
    }
  }
  faceapp::gallery empty;
  const auto none = faceapp::distance_to(std::cref(empty))(faces_of(e));
  REQUIRE(none.has_value());
  CHECK_FALSE(none->at(0).distance.has_value());
  CHECK_FALSE(*none->at(0).match);
}
