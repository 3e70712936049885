#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "faceapp/faceapp.hpp"
#include "test_data.hpp"

using faceapp::test::data_file;

TEST_CASE("run_batch keeps input order, gives each bad input its error, and goes on") {
  std::vector<std::string> inputs;
  std::vector<int> expected;
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
  const auto pipe = faceapp::read | faceapp::detect;
  for (unsigned threads : {1U, 2U, 4U}) {
    CAPTURE(threads);
    const auto results = faceapp::run_batch(pipe, inputs, {.threads = threads});
    REQUIRE(results.size() == inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      CAPTURE(inputs[i]);
      if (expected[i] < 0) {
        REQUIRE_FALSE(results[i].has_value());
        CHECK(results[i].error().stage == "read");
        CHECK(results[i].error().input == inputs[i]);
      } else {
        REQUIRE(results[i].has_value());
        CHECK(results[i]->source() == inputs[i]);
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
