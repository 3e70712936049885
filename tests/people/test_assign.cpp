#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "faceapp/faceapp.hpp"
#include "people_data.hpp"
#include "test_data.hpp"

using faceapp::test::data_file;
using faceapp::test::encoding_of;


TEST_CASE("assign: a face of a known person joins that person, a stranger starts a cluster of its own") {
  faceapp::face_clusters people;
  CHECK(people.tolerance() == faceapp::default_cluster_tolerance);
  CHECK(people.add_person("obama", encoding_of("obama_1.jpg")) == 0);
  const auto same = people.assign(encoding_of("obama_2.jpg"));
  CHECK(same.joined);
  CHECK(same.cluster == 0);
  CHECK(same.name == "obama");
  REQUIRE(same.distance.has_value());
  CHECK(*same.distance <= faceapp::default_cluster_tolerance);
  const auto stranger = people.assign(encoding_of("biden_1.jpg"));
  CHECK_FALSE(stranger.joined);
  CHECK(stranger.cluster == 1);
  CHECK(stranger.name.empty());
  REQUIRE(stranger.distance.has_value());
  CHECK(*stranger.distance > faceapp::default_cluster_tolerance);
  // A new cluster is a member like any other: the next face of that person joins it.
  CHECK(people.assign(encoding_of("kit_harington_1.jpeg")).cluster == 2);
  const auto again = people.assign(encoding_of("kit_harington_2.jpeg"));
  CHECK(again.joined);
  CHECK(again.cluster == 2);
  CHECK(people.size() == 3);
  CHECK(people.name(0) == "obama");
  CHECK(people.name(2).empty());
  CHECK(people.members().size() == 5);
  CHECK_THROWS_AS((void)people.name(3), std::out_of_range);
  // A second face of a known person joins by name, whatever the distance.
  CHECK(people.add_person("obama", encoding_of("biden_1.jpg")) == 0);
  CHECK(people.size() == 3);
}

TEST_CASE("assign joins at exactly the tolerance and starts a new cluster just above it") {
  const auto& a = encoding_of("obama_1.jpg");
  const auto& b = encoding_of("obama_3.jpg");
  faceapp::gallery probe;
  probe.add("a", a);
  const float d = probe.snapshot()->nearest(b)->distance;  // the distance assign's gallery scan finds
  {
    faceapp::face_clusters at(d);
    at.add_person("obama", a);
    CHECK(at.assign(b).joined);
  }
  {
    faceapp::face_clusters below(std::nextafter(d, 0.0F));  // the distance is just above this tolerance
    below.add_person("obama", a);
    const auto r = below.assign(b);
    CHECK_FALSE(r.joined);
    CHECK(r.cluster == 1);
  }
  CHECK_THROWS_AS(faceapp::face_clusters(-0.1F), std::invalid_argument);
  faceapp::face_clusters any;
  CHECK_THROWS_AS(any.add_person("", a), std::invalid_argument);
}

TEST_CASE("the assign stage: read | encode | assign(people) sets cluster, name, distance and match") {
  const auto photo = [](const char* file) { return data_file(std::string("faces/") + file).string(); };
  SUBCASE("a known person's face joins that person, the others of a group start clusters") {
    faceapp::face_clusters people;
    people.add_person("obama", encoding_of("obama_1.jpg"));
    const auto pipe = faceapp::read | faceapp::encode | faceapp::assign(people);
    static_assert(std::is_same_v<decltype(pipe)::output_type, faceapp::encoded_faces>);
    const auto same = pipe(photo("obama_2.jpg"));
    REQUIRE(same.has_value());
    REQUIRE(same->size() == 1);
    CHECK(same->at(0).cluster == 0);
    CHECK(same->at(0).name == "obama");
    CHECK(*same->at(0).match);
    const auto group = pipe(photo("group_3.jpg"));  // Obama, Biden and a child
    REQUIRE(group.has_value());
    REQUIRE(group->size() == 3);
    int obama = 0;
    for (const auto& f : *group) obama += f.name == "obama" ? 1 : 0;
    CHECK(obama == 1);
    CHECK(people.size() == 3);  // two new clusters: Biden and the child
  }
  SUBCASE("both groupings give the same clusters, each on a fresh face_clusters") {
    faceapp::face_clusters left_people;
    faceapp::face_clusters right_people;
    const auto left = (faceapp::read | faceapp::encode) | faceapp::assign(left_people);
    const auto right = faceapp::read | (faceapp::encode | faceapp::assign(std::ref(right_people)));
    for (const auto* file : {"obama_1.jpg", "biden_1.jpg", "obama_2.jpg"}) {
      const auto l = left(photo(file));
      const auto r = right(photo(file));
      REQUIRE(l.has_value());
      REQUIRE(r.has_value());
      REQUIRE(l->size() == r->size());
      for (std::size_t i = 0; i < l->size(); ++i) CHECK(l->at(i).cluster == r->at(i).cluster);
    }
    CHECK(left_people.size() == right_people.size());
  }
  SUBCASE("after the quality gate, and shared through a shared_ptr") {
    auto shared = std::make_shared<faceapp::face_clusters>();
    const auto gated = faceapp::read | faceapp::detect | faceapp::quality | faceapp::encode | faceapp::assign(shared);
    const auto r = gated(photo("biden_1.jpg"));
    REQUIRE(r.has_value());
    CHECK(r->at(0).cluster == 0);
    CHECK_FALSE(*r->at(0).match);
    CHECK_THROWS_AS((void)faceapp::assign(std::shared_ptr<faceapp::face_clusters>{}), std::invalid_argument);
  }
  SUBCASE("an error passes through and names its stage") {
    faceapp::face_clusters people;
    const auto r = (faceapp::read | faceapp::encode | faceapp::assign(people))(photo("obama_1.jpg") + ".missing");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().stage == "read");
  }
}
