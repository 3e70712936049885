#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "faceapp/core/gallery.hpp"

namespace {
/// "<prefix><key>", built by appending (GCC 12 warns falsely, -Wrestrict, on "literal" + std::string).
std::string label(const char* prefix, std::uint64_t key) {
  std::string s(prefix);
  s += std::to_string(key);
  return s;
}

faceapp::encoding random_encoding(std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0F, 0.09F);
  faceapp::encoding e;
  for (auto& v : e) v = dist(rng);
  return e;
}

/// What the gallery should hold: key -> (name, encoding), in key order.
struct reference_gallery {
  std::map<std::uint64_t, std::pair<std::string, faceapp::encoding>> rows;

  /// Brute force, in double: (key, distance) of the nearest; ties to the lower key.
  [[nodiscard]] std::optional<std::pair<std::uint64_t, float>> nearest(const faceapp::encoding& q) const {
    std::optional<std::pair<std::uint64_t, float>> best;
    for (const auto& [key, row] : rows) {
      const float d = faceapp::distance(q, row.second);
      if (!best || d < best->second) best = {key, d};
    }
    return best;
  }
  [[nodiscard]] std::vector<float> sorted_distances(const faceapp::encoding& q) const {
    std::vector<float> d;
    for (const auto& [key, row] : rows) d.push_back(faceapp::distance(q, row.second));
    std::sort(d.begin(), d.end());
    return d;
  }
};

void check_against(const faceapp::gallery::view& v, const reference_gallery& ref, std::mt19937& rng) {
  REQUIRE(v.size() == ref.rows.size());
  std::size_t live = 0;
  for (std::size_t row = 0; row < v.rows(); ++row) {
    if (!v.alive(row)) continue;
    ++live;
    const auto it = ref.rows.find(v.key(row));
    REQUIRE(it != ref.rows.end());
    CHECK(v.name(row) == it->second.first);
    CHECK(v.at(row) == it->second.second);
    CHECK(v.find(v.key(row)) == row);
  }
  CHECK(live == ref.rows.size());
  for (int i = 0; i < 5; ++i) {
    const auto q = random_encoding(rng);
    const auto want = ref.nearest(q);
    const auto got = v.nearest(q);
    REQUIRE(got.has_value() == want.has_value());
    if (!want) continue;
    // The kernel sums in float: allow a tie within rounding, but the distance must be the true minimum.
    CHECK(got->distance == doctest::Approx(want->second).epsilon(1e-5));
    CHECK(ref.rows.count(got->key) == 1);
    if (got->key != want->first) {
      CHECK(faceapp::distance(q, ref.rows.at(got->key).second) == doctest::Approx(want->second).epsilon(1e-5));
    }
    const auto top = v.top_k(q, 20);
    const auto d = ref.sorted_distances(q);
    REQUIRE(top.size() == std::min<std::size_t>(20, d.size()));
    for (std::size_t k = 0; k < top.size(); ++k) {
      CHECK(top[k].distance == doctest::Approx(d[k]).epsilon(1e-5));
      CHECK(ref.rows.count(top[k].key) == 1);  // never a tombstone
    }
    const auto all = v.distances(q);
    for (std::size_t row = 0; row < v.rows(); ++row) {
      if (v.alive(row)) {
        CHECK(all[row] == doctest::Approx(faceapp::distance(q, v.at(row))).epsilon(1e-5));
      } else {
        CHECK(all[row] == std::numeric_limits<float>::infinity());
      }
    }
  }
}
}  // namespace

TEST_CASE("gallery: nearest and top_k equal a brute-force reference after random adds and erases") {
  std::mt19937 rng(11);
  faceapp::gallery g(64);  // small chunks: many chunk boundaries and a compaction or two
  reference_gallery ref;
  CHECK(g.snapshot()->empty());
  CHECK_FALSE(g.snapshot()->nearest(random_encoding(rng)).has_value());
  CHECK(g.snapshot()->top_k(random_encoding(rng), 3).empty());

  std::uint64_t next_key = 1;
  std::uniform_int_distribution<int> action(0, 9);
  for (int step = 0; step < 1500; ++step) {
    if (action(rng) < 3 && !ref.rows.empty()) {  // erase a random live key
      auto it = ref.rows.begin();
      std::advance(it, std::uniform_int_distribution<std::size_t>(0, ref.rows.size() - 1)(rng));
      CHECK(g.erase(it->first));
      CHECK_FALSE(g.erase(it->first));  // already gone
      ref.rows.erase(it);
    } else {
      const auto e = random_encoding(rng);
      const auto name = label("person_", next_key);
      g.add(next_key, name, e);
      ref.rows[next_key] = {name, e};
      next_key += 1 + static_cast<std::uint64_t>(action(rng) % 3);  // keys with gaps
    }
    if (step % 250 == 0) check_against(*g.snapshot(), ref, rng);
  }
  check_against(*g.snapshot(), ref, rng);
  g.compact();
  CHECK(g.snapshot()->rows() == ref.rows.size());
  check_against(*g.snapshot(), ref, rng);
  CHECK_FALSE(g.erase(999999));
  CHECK_THROWS_AS(g.add(1, "old key", random_encoding(rng)), std::invalid_argument);
}

TEST_CASE("gallery: a tombstoned row never matches, even an exact copy of the query") {
  std::mt19937 rng(5);
  faceapp::gallery g(64);
  std::vector<faceapp::encoding> stored;
  for (std::uint64_t k = 1; k <= 200; ++k) {
    stored.push_back(random_encoding(rng));
    g.add(k, label("p", k), stored.back());
  }
  const auto before = g.snapshot();
  REQUIRE(g.erase(70));
  const auto after = g.snapshot();
  const auto hit = after->nearest(stored[69]);
  REQUIRE(hit.has_value());
  CHECK(hit->key != 70);
  CHECK(hit->distance > 0.1F);
  for (const auto& m : after->top_k(stored[69], 200)) CHECK(m.key != 70);
  CHECK(after->top_k(stored[69], 500).size() == 199);
  CHECK_FALSE(after->find(70).has_value());
  // The snapshot taken before the erase still has it.
  const auto old_hit = before->nearest(stored[69]);
  REQUIRE(old_hit.has_value());
  CHECK(old_hit->key == 70);
  CHECK(old_hit->distance == 0.0F);

  SUBCASE("a gallery whose rows are all tombstones finds nothing") {
    for (std::uint64_t k = 1; k <= 200; ++k) g.erase(k);
    CHECK(g.snapshot()->empty());
    CHECK_FALSE(g.snapshot()->nearest(stored[0]).has_value());
    CHECK(g.snapshot()->top_k(stored[0], 5).empty());
  }
}

TEST_CASE("gallery: snapshots stay valid and unchanged while the gallery grows and shrinks") {
  std::mt19937 rng(3);
  faceapp::gallery g(64);
  std::vector<faceapp::encoding> stored;
  for (std::uint64_t k = 1; k <= 100; ++k) {
    stored.push_back(random_encoding(rng));
    g.add(k, label("p", k), stored.back());
  }
  const auto old = g.snapshot();
  const auto q = random_encoding(rng);
  const auto old_distances = old->distances(q);
  const auto old_nearest = old->nearest(q);
  // Fill the partly used last chunk (rows the old view does not count), add chunks, erase, compact.
  for (std::uint64_t k = 101; k <= 1000; ++k) g.add(k, label("p", k), random_encoding(rng));
  for (std::uint64_t k = 1; k <= 600; k += 2) g.erase(k);
  g.compact();
  CHECK(old->rows() == 100);
  CHECK(old->size() == 100);
  CHECK(old->distances(q) == old_distances);
  CHECK(old->nearest(q) == old_nearest);
  for (std::size_t row = 0; row < 100; ++row) {
    CHECK(old->alive(row));
    CHECK(old->key(row) == row + 1);
    CHECK(old->at(row) == stored[row]);
  }
  CHECK(g.snapshot()->size() == 1000 - 300);
}

TEST_CASE("gallery: concurrent readers and one writer") {
  // Readers scan snapshots while the writer adds and erases; each reader checks its snapshot is self-consistent:
  // every live row's encoding is a function of its key, so the nearest to key k's encoding is k itself.
  constexpr std::size_t chunk_rows = 64;
  faceapp::gallery g(chunk_rows);
  const auto encoding_of = [](std::uint64_t key) {
    std::mt19937 rng(static_cast<unsigned>(key));
    return random_encoding(rng);
  };
  std::atomic<bool> done{false};
  std::atomic<std::size_t> checks{0};
  std::vector<std::thread> readers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(100 + t));
      while (!done.load()) {
        const auto v = g.snapshot();
        if (v->rows() == 0) continue;
        const auto row = std::uniform_int_distribution<std::size_t>(0, v->rows() - 1)(rng);
        if (!v->alive(row)) continue;
        const auto key = v->key(row);
        const auto hit = v->nearest(encoding_of(key));
        if (!hit || hit->key != key || hit->distance != 0.0F || v->name(row) != label("k", key)) {
          failures.fetch_add(1);
        }
        if (v->top_k(encoding_of(key), 3).front().key != key) failures.fetch_add(1);
        checks.fetch_add(1);
      }
    });
  }
  std::uint64_t key = 1;
  for (int round = 0; round < 40; ++round) {
    for (int i = 0; i < 50; ++i, ++key) g.add(key, label("k", key), encoding_of(key));
    for (std::uint64_t k = key - 50; k < key; k += 3) g.erase(k);
    if (round % 10 == 9) g.compact();
  }
  // Let the readers finish some checks on the final state too (bounded: at most about a second).
  for (int i = 0; i < 1000 && checks.load() < 300; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  done = true;
  for (auto& r : readers) r.join();
  CHECK(failures.load() == 0);
  CHECK(checks.load() > 0);
  CHECK(g.snapshot()->size() == 40 * (50 - 17));
}
