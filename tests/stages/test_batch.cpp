#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "faceapp/faceapp.hpp"
#include "test_data.hpp"

using faceapp::test::data_file;

TEST_CASE("run_batch gives what the pipeline gives alone, in input order, each bad input its error") {
  std::vector<std::string> inputs;
  std::vector<int> expected;  // the manifest's face count, -1 for a bad input
  for (const auto& row : faceapp::test::manifest()) {
    // Small photos only: this test also runs under ThreadSanitizer, which makes detection ~10x slower.
    if (row.faces < 0 || inputs.size() >= 14 || std::filesystem::file_size(data_file("faces/" + row.file)) > 60000) {
      continue;
    }
    inputs.push_back(data_file("faces/" + row.file).string());
    expected.push_back(row.faces);
    if (inputs.size() % 5 == 0) {  // a bad input every few
      inputs.push_back(data_file("faces/README.md").string());
      expected.push_back(-1);
    }
  }
  REQUIRE(inputs.size() >= 14);
  const auto pipe = faceapp::read | faceapp::encode;
  // The pipeline alone, on this thread, one input after the other: what every batch must reproduce exactly.
  std::vector<faceapp::result<faceapp::encoded_faces>> alone;
  for (const auto& input : inputs) alone.push_back(pipe(input));
  int faces = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    CAPTURE(inputs[i]);
    if (expected[i] < 0) {
      REQUIRE_FALSE(alone[i].has_value());
      CHECK(alone[i].error().stage == "read");
      CHECK(alone[i].error().input == inputs[i]);
    } else {
      REQUIRE_MESSAGE(alone[i].has_value(), alone[i].error().what());
      CHECK(static_cast<int>(alone[i]->size()) == expected[i]);  // these small photos have no known misses
      faces += static_cast<int>(alone[i]->size());
    }
  }
  CHECK(faces > 0);
  for (unsigned threads : {1U, 2U, 4U}) {
    CAPTURE(threads);
    const auto results = faceapp::run_batch(pipe, inputs, {.threads = threads});
    REQUIRE(results.size() == inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      CAPTURE(inputs[i]);
      REQUIRE(results[i].has_value() == alone[i].has_value());
      if (!alone[i]) {
        CHECK(results[i].error().stage == alone[i].error().stage);
        CHECK(results[i].error().input == alone[i].error().input);
        CHECK(results[i].error().message == alone[i].error().message);
        continue;
      }
      CHECK(results[i]->source() == inputs[i]);
      REQUIRE(results[i]->size() == alone[i]->size());
      for (std::size_t k = 0; k < alone[i]->size(); ++k) {
        CAPTURE(k);
        const auto& a = alone[i]->at(k);
        const auto& b = results[i]->at(k);
        CHECK(b.box == a.box);
        CHECK(b.box_in_image == a.box_in_image);
        CHECK(b.score == a.score);
        CHECK(b.landmarks == a.landmarks);
        CHECK(b.encoding == a.encoding);  // bit for bit: each worker's own engine computes the same floats
      }
    }
  }
}

TEST_CASE("run_ordered streams results in input order from a single-pass range") {
  std::istringstream lines(data_file("faces/obama_1.jpg").string() + "\n" + "missing.jpg\n" +
                           data_file("faces/group_9.jpg").string() + "\n");
  std::vector<std::size_t> order;
  std::vector<std::size_t> counts;
  faceapp::run_ordered(
      faceapp::read | faceapp::encode, std::ranges::istream_view<std::string>(lines),
      [&](std::size_t i, const faceapp::result<faceapp::encoded_faces>& r) {
        order.push_back(i);
        counts.push_back(r ? r->size() : 99);
      },
      {.threads = 2, .window = 2});
  CHECK(order == std::vector<std::size_t>{0, 1, 2});
  CHECK(counts == std::vector<std::size_t>{1, 99, 2});
}
