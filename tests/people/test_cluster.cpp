#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "faceapp/faceapp.hpp"
#include "people_data.hpp"
#include "test_data.hpp"

using faceapp::test::encoding_of;
using faceapp::test::identity_faces;

namespace {

void table_of(const std::vector<faceapp::test::identity_face>& faces) {
  const auto encodings = faceapp::test::encodings_of(faces);
  std::string table = "tolerance  clusters  people  pairwise F1\n";
  for (int step = 0; step <= 25; ++step) {
    const float t = 0.40F + 0.01F * static_cast<float>(step);
    const auto ids = faceapp::cluster(encodings, t);
    char line[96];
    std::snprintf(line, sizeof line, "%.2f       %zu        %zu      %.4f\n", static_cast<double>(t),
                  faceapp::test::clusters_in(ids), faceapp::test::people_in(faces),
                  faceapp::test::pairwise_f1(faces, ids));
    table += line;
  }
  MESSAGE(faces.size(), " faces\n", table);
}


void default_tolerance(const std::vector<faceapp::test::identity_face>& faces) {
  const auto ids = faceapp::cluster(faceapp::test::encodings_of(faces));
  const auto people = faceapp::test::people_in(faces);
  const auto clusters = faceapp::test::clusters_in(ids);
  const double f1 = faceapp::test::pairwise_f1(faces, ids);
  MESSAGE("tolerance ", faceapp::default_cluster_tolerance, ": ", clusters, " clusters for ", people,
          " people, pairwise F1 ", f1);
  CHECK(f1 >= 0.99);
  CHECK(clusters + 1 >= people);
  CHECK(clusters <= people + 2);
  // What docs/people.md's table says and the default rests on: from 0.50 to 0.60 one cluster per person, exactly;
  // 0.49 splits a person and 0.61 merges two.
  const auto encodings = faceapp::test::encodings_of(faces);
  for (const float t : {0.50F, 0.55F, 0.60F}) {
    CAPTURE(t);
    const auto at = faceapp::cluster(encodings, t);
    CHECK(faceapp::test::clusters_in(at) == people);
    CHECK(faceapp::test::pairwise_f1(faces, at) == 1.0);
  }
  CHECK(faceapp::test::clusters_in(faceapp::cluster(encodings, 0.49F)) > people);
  CHECK(faceapp::test::clusters_in(faceapp::cluster(encodings, 0.61F)) < people);
}

void deterministic(const std::vector<faceapp::test::identity_face>& faces) {
  const auto encodings = faceapp::test::encodings_of(faces);
  const auto first = faceapp::cluster(encodings);
  CHECK(faceapp::cluster(encodings) == first);  // the same order, the same ids
  std::size_t next = 0;  // ids start at 0 and each new one is one above the highest so far
  for (const auto id : first) {
    CHECK(id <= next);
    if (id == next) ++next;
  }
  CHECK(first.at(0) == 0);
  CHECK(faceapp::cluster(0.45)(encodings) == faceapp::cluster(encodings, 0.45));
  CHECK(faceapp::cluster(std::span<const faceapp::encoding>(encodings)) == first);
  CHECK(faceapp::cluster(std::vector<faceapp::encoding>{}).empty());
  // A tolerance that links no face, not even to itself, is refused rather than answered with one cluster.
  CHECK_THROWS_AS(faceapp::cluster(encodings, -0.01F), std::invalid_argument);
  CHECK_THROWS_AS(faceapp::cluster(encodings, std::nanf("")), std::invalid_argument);
  CHECK(faceapp::test::clusters_in(faceapp::cluster(encodings, 0.0F)) == encodings.size());  // 0: each alone
}

}  // namespace

// One case, so that one process encodes the 52 identity photos once for all its subcases.
TEST_CASE("cluster and assign on the 52 identity photos of the manifest") {
  const auto& faces = identity_faces();
  std::size_t identity_photos = 0;  // every photo with an identity in the manifest gives its largest face
  for (const auto& row : faceapp::test::manifest()) identity_photos += row.identity.empty() ? 0 : 1;
  REQUIRE(faces.size() == identity_photos);
  SUBCASE("the tolerance table: pairwise F1 and cluster count") {
    table_of(faces);
  }
  SUBCASE("at the default tolerance: one cluster per person") {
    default_tolerance(faces);
  }
  SUBCASE("deterministic, numbered from 0 in order of first appearance") {
    deterministic(faces);
  }
  SUBCASE("assign, one face at a time in manifest order, groups them as cluster does") {
    faceapp::face_clusters people;
    std::vector<std::size_t> ids;
    for (const auto& f : faces) ids.push_back(people.assign(f.encoding).cluster);
    const double f1 = faceapp::test::pairwise_f1(faces, ids);
    const auto count = faceapp::test::clusters_in(ids);
    MESSAGE("assign: ", count, " clusters, pairwise F1 ", f1);
    CHECK(f1 >= 0.99);
    CHECK(count + 1 >= faceapp::test::people_in(faces));
    CHECK(count <= faceapp::test::people_in(faces) + 2);
  }
}

TEST_CASE("cluster takes the faces of many images, in order, as their encodings") {
  std::vector<faceapp::source> sources;
  for (const auto* file : {"obama_1.jpg", "group_3.jpg", "biden_1.jpg", "obama_2.jpg"}) {
    sources.emplace_back(faceapp::test::data_file(std::string("faces/") + file));
  }
  std::vector<faceapp::encoded_faces> images;
  std::vector<faceapp::encoding> flat;
  for (const auto& r : faceapp::run_batch(faceapp::read | faceapp::encode, sources, {.threads = 2})) {
    REQUIRE(r.has_value());
    images.push_back(*r);
    for (const auto& f : *r) flat.push_back(f.encoding);
  }
  const auto ids = faceapp::cluster(images);
  CHECK(ids == faceapp::cluster(flat));
  REQUIRE(ids.size() == 1 + 3 + 1 + 1);
  CHECK(ids.front() == 0);
  CHECK(ids.back() == 0);  // obama_2 with obama_1
  CHECK(ids[4] != 0);      // biden_1 apart
}

TEST_CASE("cluster links two faces exactly at the tolerance and not just below it") {
  const auto& a = encoding_of("obama_1.jpg");
  const auto& b = encoding_of("obama_2.jpg");
  const float d = faceapp::distance(a, b);
  const std::vector<faceapp::encoding> pair{a, b};
  CHECK(faceapp::cluster(pair, d) == std::vector<std::size_t>{0, 0});
  CHECK(faceapp::cluster(pair, std::nextafter(d, 2.0F)) == std::vector<std::size_t>{0, 0});
  CHECK(faceapp::cluster(pair, std::nextafter(d, 0.0F)) == std::vector<std::size_t>{0, 1});
}
