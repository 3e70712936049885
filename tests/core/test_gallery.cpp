// The gallery's own API: keys it numbers itself, the bulk build from a matrix, moves, and the 1:N queries against
// a brute-force reference in double. (Growth, tombstones, snapshots and threads: test_gallery_growth.cpp.)
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "faceapp/core/gallery.hpp"

namespace {
faceapp::encoding random_encoding(std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0F, 0.09F);
  faceapp::encoding e;
  for (auto& v : e) v = dist(rng);
  return e;
}

std::string person(int i) {
  std::string s = "person_";
  s += std::to_string(i);
  return s;
}
}  // namespace

TEST_CASE("gallery: add(name, e) numbers keys from 0, and the queries agree with a brute force") {
  std::mt19937 rng(7);
  faceapp::gallery g(64);  // small chunks: 300 rows span five of them
  CHECK(g.empty());
  CHECK_FALSE(g.snapshot()->nearest(random_encoding(rng)).has_value());

  std::vector<faceapp::encoding> stored;
  for (int i = 0; i < 300; ++i) {
    stored.push_back(random_encoding(rng));
    CHECK(g.add(person(i), stored.back()) == static_cast<std::uint64_t>(i));
  }
  REQUIRE(g.size() == 300);
  const auto v = g.snapshot();
  CHECK(v->chunk_count() == 5);
  CHECK(v->name(17) == "person_17");
  CHECK(v->key(17) == 17);
  CHECK(v->at(17) == stored[17]);

  SUBCASE("nearest and distances agree with the reference distance") {
    const auto q = random_encoding(rng);
    const auto d = v->distances(q);
    std::size_t best = 0;
    for (std::size_t i = 0; i < d.size(); ++i) {
      CHECK(d[i] == doctest::Approx(faceapp::distance(q, stored[i])).epsilon(1e-5));
      if (faceapp::distance(q, stored[i]) < faceapp::distance(q, stored[best])) best = i;
    }
    const auto hit = v->nearest(q);
    REQUIRE(hit.has_value());
    CHECK(hit->row == best);
    CHECK(hit->key == best);
  }
  SUBCASE("top_k is the k smallest distances, nearest first; k past the size gives every row") {
    const auto q = random_encoding(rng);
    auto d = v->distances(q);
    const auto top = v->top_k(q, 10);
    REQUIRE(top.size() == 10);
    std::sort(d.begin(), d.end());
    for (std::size_t i = 0; i < top.size(); ++i) CHECK(top[i].distance == doctest::Approx(d[i]).epsilon(1e-6));
    CHECK(v->top_k(q, 299).size() == 299);
    CHECK(v->top_k(q, 300).size() == 300);
    CHECK(v->top_k(q, 301).size() == 300);
    CHECK(v->top_k(q, 0).empty());
  }
  SUBCASE("after an erase the next key still goes up: keys are never reused") {
    REQUIRE(g.erase(299));
    CHECK(g.add("again", stored[0]) == 300);
    CHECK_THROWS_AS(g.add(300, "same key", stored[0]), std::invalid_argument);
  }
}

TEST_CASE("gallery: from_matrix builds rows 0..n-1 at once, and refuses a matrix of the wrong size") {
  std::mt19937 rng(11);
  std::vector<std::string> names;
  std::vector<float> values;
  for (int i = 0; i < 130; ++i) {
    names.push_back(person(i));
    const auto e = random_encoding(rng);
    values.insert(values.end(), e.begin(), e.end());
  }
  const auto g = faceapp::gallery::from_matrix(names, values, 64);
  const auto v = g.snapshot();
  REQUIRE(v->size() == 130);
  CHECK(v->chunk_count() == 3);
  CHECK(v->key(129) == 129);
  CHECK(v->name(129) == "person_129");
  faceapp::encoding last;
  std::copy_n(values.end() - 128, 128, last.begin());
  CHECK(v->at(129) == last);
  CHECK(v->nearest(last)->row == 129);

  // Exactly 128 values a name, not one fewer or one more.
  std::vector<float> short_by_one(values.begin(), values.end() - 1);
  CHECK_THROWS_AS(faceapp::gallery::from_matrix(names, short_by_one), std::invalid_argument);
  std::vector<float> one_more = values;
  one_more.push_back(0);
  CHECK_THROWS_AS(faceapp::gallery::from_matrix(names, one_more), std::invalid_argument);
  CHECK(faceapp::gallery::from_matrix({}, {}).empty());
}

TEST_CASE("gallery: a move takes the rows and leaves an empty gallery that works") {
  std::mt19937 rng(3);
  faceapp::gallery a;
  const auto e = random_encoding(rng);
  a.add("kept", e);
  const auto before = a.snapshot();
  faceapp::gallery b(std::move(a));
  CHECK(b.size() == 1);
  CHECK(b.snapshot()->name(0) == "kept");
  CHECK(before->size() == 1);  // a snapshot taken before the move is unchanged
  CHECK(a.empty());            // NOLINT(bugprone-use-after-move): moved-from is empty and usable
  CHECK(a.add("new", e) == 0);
  faceapp::gallery c;
  c = std::move(b);
  CHECK(c.snapshot()->name(0) == "kept");
  CHECK(b.empty());  // NOLINT(bugprone-use-after-move)
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

TEST_CASE("gallery: rename changes the names of live rows in new views only; an erased or unknown key is skipped") {
  std::mt19937 rng(11);
  faceapp::gallery g(64);
  for (int i = 0; i < 130; ++i) g.add(person(i), random_encoding(rng));  // three chunks, the last one partly filled
  REQUIRE(g.erase(65));
  const auto before = g.snapshot();
  const std::vector<std::uint64_t> keys{3, 65, 64, 129, 500};
  CHECK(g.rename(keys, "penny") == 3);  // 65 is erased, 500 was never added
  const auto after = g.snapshot();
  CHECK(after->name(*after->find(3)) == "penny");
  CHECK(after->name(*after->find(64)) == "penny");
  CHECK(after->name(*after->find(129)) == "penny");
  CHECK(after->name(*after->find(4)) == "person_4");
  CHECK(before->name(*before->find(3)) == "person_3");  // an older view keeps its names
  CHECK(after->at(*after->find(129)) == before->at(*before->find(129)));
  const auto q = after->at(*after->find(64));
  CHECK(after->nearest(q)->key == 64);
  g.add(person(130), random_encoding(rng));  // appending after a rename writes into the copied last chunk
  CHECK(g.snapshot()->name(*g.snapshot()->find(130)) == "person_130");
  CHECK(g.snapshot()->name(*g.snapshot()->find(129)) == "penny");
  CHECK(g.rename(std::vector<std::uint64_t>{}, "x") == 0);
}

TEST_CASE("gallery: erase(keys) tombstones many rows in one new view; erased, unknown and repeated keys are skipped") {
  std::mt19937 rng(13);
  faceapp::gallery g(64);
  std::vector<faceapp::encoding> stored;
  for (int i = 0; i < 130; ++i) {  // three chunks, the last one partly filled
    stored.push_back(random_encoding(rng));
    g.add(person(i), stored.back());
  }
  REQUIRE(g.erase(65));
  const auto before = g.snapshot();
  const std::vector<std::uint64_t> keys{3, 65, 64, 129, 500, 3, 70};
  CHECK(g.erase(keys) == 4);  // 65 is erased already, 500 was never added, 3 comes twice
  const auto after = g.snapshot();
  CHECK(after->version() == before->version() + 1);  // one view for the four: no reader saw some of them gone
  CHECK(after->size() == 125);
  CHECK(before->size() == 129);  // the view before keeps every row
  for (const auto key : {3, 64, 70, 129}) {
    CHECK_FALSE(after->find(static_cast<std::uint64_t>(key)).has_value());
    CHECK(before->find(static_cast<std::uint64_t>(key)).has_value());
    const auto hit = after->nearest(stored[static_cast<std::size_t>(key)]);
    REQUIRE(hit.has_value());
    CHECK(hit->key != static_cast<std::uint64_t>(key));  // an erased row never matches
  }
  CHECK(after->find(4).has_value());
  CHECK(g.erase(std::vector<std::uint64_t>{}) == 0);
  CHECK(g.erase(keys) == 0);
  CHECK(g.snapshot() == after);  // nothing erased: no new view
  CHECK(g.snapshot()->version() == after->version());
  SUBCASE("the rows compact when the tombstones reach a chunk's worth and a quarter of the rows, not before") {
    std::vector<std::uint64_t> more;
    for (std::uint64_t k = 0; more.size() < 59; ++k) {  // 5 tombstones so far: 59 more make 64
      if (after->find(k)) more.push_back(k);
    }
    const auto last = more.back();
    more.pop_back();
    CHECK(g.erase(more) == 58);
    CHECK(g.snapshot()->rows() == 130);  // 63 tombstones: below a chunk's worth, not compacted
    CHECK(g.erase(std::vector<std::uint64_t>{last}) == 1);
    CHECK(g.snapshot()->rows() == 66);  // 64: compacted to the live rows
    CHECK(g.size() == 66);
  }
}
