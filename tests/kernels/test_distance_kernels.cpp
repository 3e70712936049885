// The SIMD distance kernels (every instruction set this CPU has) against faceapp::distance, which accumulates
// in double: to 1e-5 relative, on random encodings and on the real descriptors of reference/descriptors.csv.
// top_k must equal a sort and nearest must equal brute force.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <faceapp/core/gallery.hpp>
#include <test_data.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

using faceapp::encoding;
using faceapp::gallery;
using faceapp::detail::simd_level;

constexpr double relative_tolerance = 1e-5;

std::vector<simd_level> levels_of_this_cpu() {
  std::vector<simd_level> out;
  for (auto l : {simd_level::portable, simd_level::avx2, simd_level::avx512}) {
    if (faceapp::detail::simd_supported(l)) out.push_back(l);
  }
  return out;
}

std::string name_of(simd_level l) {
  return l == simd_level::avx512 ? "avx512" : l == simd_level::avx2 ? "avx2" : "portable";
}

std::vector<encoding> random_encodings(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> value(0.0F, 0.09F);
  std::vector<encoding> out(n);
  for (auto& e : out) {
    for (float& v : e) v = value(rng);
  }
  return out;
}

/// The 12 real descriptors of the reference chips.
std::vector<encoding> real_encodings() {
  std::ifstream in(faceapp::test::data_file("reference/descriptors.csv"));
  std::string line;
  std::getline(in, line);
  std::vector<encoding> out;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto cells = faceapp::test::split_csv_line(line);
    REQUIRE(cells.size() == 129);
    encoding e;
    for (std::size_t i = 0; i < 128; ++i) e[i] = std::stof(cells[i + 1]);
    out.push_back(e);
  }
  return out;
}

/// The encodings back to back, as the kernels read them, and the same rows in a gallery (chunks of 1024 rows,
/// so that the gallery's scans cross chunk boundaries too).
struct stored_rows {
  std::vector<float> flat;
  gallery rows;

  explicit stored_rows(const std::vector<encoding>& encodings) : rows(gallery_of(encodings)) {
    for (const auto& e : encodings) flat.insert(flat.end(), e.begin(), e.end());
  }
  [[nodiscard]] const std::vector<float>& values() const noexcept { return flat; }
  [[nodiscard]] std::size_t size() const noexcept { return flat.size() / faceapp::encoding_size; }
  [[nodiscard]] std::vector<float> distances(const encoding& q) const { return rows.snapshot()->distances(q); }
  [[nodiscard]] auto nearest(const encoding& q) const { return rows.snapshot()->nearest(q); }
  [[nodiscard]] auto top_k(const encoding& q, std::size_t k) const { return rows.snapshot()->top_k(q, k); }

 private:
  static gallery gallery_of(const std::vector<encoding>& encodings) {
    std::vector<std::string> names;
    std::vector<float> values;
    for (std::size_t i = 0; i < encodings.size(); ++i) {
      names.push_back("entry " + std::to_string(i));
      values.insert(values.end(), encodings[i].begin(), encodings[i].end());
    }
    return gallery::from_matrix(names, values, 1024);
  }
};

stored_rows gallery_of(const std::vector<encoding>& encodings) { return stored_rows(encodings); }

void check_close(float fast, float reference) {
  CHECK(std::abs(static_cast<double>(fast) - reference) <= relative_tolerance * std::abs(reference) + 1e-30);
}

/// Every kernel's distances against the double reference.
void check_all_distances(const std::vector<encoding>& stored, const std::vector<encoding>& queries) {
  const auto g = gallery_of(stored);
  std::vector<float> squared(stored.size());
  for (auto level : levels_of_this_cpu()) {
    CAPTURE(name_of(level));
    for (const auto& q : queries) {
      faceapp::detail::squared_distances(g.values().data(), g.size(), q.data(), squared.data(), level);
      for (std::size_t i = 0; i < stored.size(); ++i) {
        check_close(std::sqrt(squared[i]), faceapp::distance(stored[i], q));
      }
    }
  }
  for (const auto& q : queries) {
    const auto d = g.distances(q);
    for (std::size_t i = 0; i < stored.size(); ++i) check_close(d[i], faceapp::distance(stored[i], q));
  }
}

}  // namespace

TEST_CASE("the distance kernels equal the double-accumulating reference to 1e-5 relative") {
  SUBCASE("on random encodings, across block boundaries") {
    check_all_distances(random_encodings(2 * faceapp::detail::scan_block + 37, 1), random_encodings(5, 2));
  }
  SUBCASE("on the real descriptors of the reference chips, each against all") {
    const auto real = real_encodings();
    REQUIRE(real.size() >= 10);
    check_all_distances(real, real);
  }
  SUBCASE("an encoding is at distance 0 from itself") {
    const auto real = real_encodings();
    const auto g = gallery_of(real);
    for (std::size_t i = 0; i < real.size(); ++i) CHECK(g.distances(real[i])[i] == 0.0F);
  }
}

TEST_CASE("nearest equals brute force over the reference distance, the first index on ties") {
  auto stored = random_encodings(3 * faceapp::detail::scan_block + 5, 3);
  const auto queries = random_encodings(20, 4);
  stored[2500] = stored[700];  // an exact tie: the earlier entry wins
  const auto g = gallery_of(stored);
  for (auto level : levels_of_this_cpu()) {
    CAPTURE(name_of(level));
    for (const auto& q : queries) {
      std::size_t best = 0;
      for (std::size_t i = 1; i < stored.size(); ++i) {
        if (faceapp::distance(stored[i], q) < faceapp::distance(stored[best], q)) best = i;
      }
      const auto hit = faceapp::detail::nearest(g.values().data(), g.size(), q.data(), level);
      CHECK(hit.index == best);
      check_close(std::sqrt(hit.squared_distance), faceapp::distance(stored[best], q));
    }
    const auto tie = faceapp::detail::nearest(g.values().data(), g.size(), stored[2500].data(), level);
    CHECK(tie.index == 700);
    CHECK(tie.squared_distance == 0.0F);
  }
  SUBCASE("through the gallery") {
    const auto hit = g.nearest(queries[0]);
    REQUIRE(hit.has_value());
    CHECK(hit->row == faceapp::detail::nearest(g.values().data(), g.size(), queries[0].data()).index);
    CHECK_FALSE(gallery{}.snapshot()->nearest(queries[0]).has_value());
  }
}

TEST_CASE("top_k equals sorting every distance and taking the first k") {
  auto stored = random_encodings(2 * faceapp::detail::scan_block + 300, 5);
  for (std::size_t i = 0; i < 50; ++i) stored[1000 + i] = stored[10 + i];  // ties, kept in index order
  const auto g = gallery_of(stored);
  auto queries = random_encodings(5, 6);
  queries.push_back(stored[20]);  // its own duplicates come first
  std::vector<float> squared(g.size());
  for (auto level : levels_of_this_cpu()) {
    CAPTURE(name_of(level));
    for (const auto& q : queries) {
      faceapp::detail::squared_distances(g.values().data(), g.size(), q.data(), squared.data(), level);
      std::vector<std::size_t> order(g.size());
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return squared[a] < squared[b]; });
      for (std::size_t k : {std::size_t{1}, std::size_t{10}, std::size_t{100}, g.size(), g.size() + 7}) {
        CAPTURE(k);
        std::vector<faceapp::detail::nearest_hit> hits;
        faceapp::detail::top_k(g.values().data(), g.size(), q.data(), k, hits, level);
        REQUIRE(hits.size() == std::min(k, g.size()));
        for (std::size_t i = 0; i < hits.size(); ++i) {
          CHECK(hits[i].index == order[i]);
          CHECK(hits[i].squared_distance == squared[order[i]]);
        }
      }
    }
  }
  SUBCASE("through the gallery, with distances") {
    const auto top = g.top_k(queries[0], 10);
    REQUIRE(top.size() == 10);
    for (std::size_t i = 0; i < top.size(); ++i) {
      check_close(top[i].distance, faceapp::distance(stored[top[i].row], queries[0]));
      if (i > 0) CHECK(top[i - 1].distance <= top[i].distance);
    }
    CHECK(g.top_k(queries[0], 0).empty());
    CHECK(gallery{}.snapshot()->top_k(queries[0], 3).empty());
  }
}
