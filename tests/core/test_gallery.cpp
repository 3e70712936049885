#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "faceapp/core/gallery.hpp"

namespace {
faceapp::encoding random_encoding(std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0F, 0.09F);
  faceapp::encoding e;
  for (auto& v : e) v = dist(rng);
  return e;
}
}  // namespace

TEST_CASE("a gallery finds the nearest named encoding") {
  std::mt19937 rng(7);
  faceapp::gallery g;
  CHECK(g.empty());
  CHECK_FALSE(g.nearest(random_encoding(rng)).has_value());

  std::vector<faceapp::encoding> stored;
  for (int i = 0; i < 300; ++i) {
    stored.push_back(random_encoding(rng));
    g.add("person_" + std::to_string(i), stored.back());
  }
  REQUIRE(g.size() == 300);
  CHECK(g.name(17) == "person_17");
  CHECK(g.at(17) == stored[17]);

  SUBCASE("nearest and distances agree with the reference distance") {
    const auto q = random_encoding(rng);
    const auto d = g.distances(q);
    std::size_t best = 0;
    for (std::size_t i = 0; i < d.size(); ++i) {
      CHECK(d[i] == doctest::Approx(faceapp::distance(q, stored[i])).epsilon(1e-5));
      if (faceapp::distance(q, stored[i]) < faceapp::distance(q, stored[best])) best = i;
    }
    const auto hit = g.nearest(q);
    REQUIRE(hit.has_value());
    CHECK(hit->index == best);
  }
  SUBCASE("top_k is the k smallest distances, nearest first") {
    const auto q = random_encoding(rng);
    auto d = g.distances(q);
    const auto top = g.top_k(q, 10);
    REQUIRE(top.size() == 10);
    std::sort(d.begin(), d.end());
    for (std::size_t i = 0; i < top.size(); ++i) CHECK(top[i].distance == doctest::Approx(d[i]).epsilon(1e-6));
    CHECK(g.top_k(q, 1000).size() == 300);
  }
  SUBCASE("erase keeps names and encodings together") {
    g.erase(0);
    CHECK(g.size() == 299);
    CHECK(g.name(0) == "person_1");
    CHECK(g.at(0) == stored[1]);
    CHECK(g.name(298) == "person_299");
    CHECK_THROWS_AS(g.erase(299), std::out_of_range);
  }
}

TEST_CASE("similarity is 100% at distance 0, 50% at the tolerance, and falls beyond") {
  CHECK(faceapp::similarity_percent(0.0F) == doctest::Approx(100));
  CHECK(faceapp::similarity_percent(0.6F) == doctest::Approx(50));
  CHECK(faceapp::similarity_percent(0.3F) > 90);
  CHECK(faceapp::similarity_percent(1.0F) < 15);
  SUBCASE("at tolerance 0 it is a number, never NaN: 100% for identical faces, 0% otherwise") {
    CHECK(faceapp::similarity_percent(0.0F, 0.0F) == doctest::Approx(100));
    CHECK(faceapp::similarity_percent(0.3F, 0.0F) == doctest::Approx(0));
  }
}
