#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "faceapp/faceapp.hpp"
#include "people_data.hpp"
#include "test_data.hpp"

using faceapp::test::identity_faces;

TEST_CASE("cluster: the tolerance table on the identity photos (pairwise F1 and cluster count)") {
  const auto& faces = identity_faces();
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
