// Shared by the gallery tests that compare a gallery with options against a plain float32 one of the same rows.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "faceapp/core/gallery.hpp"

namespace gallery_test {

using faceapp::encoding;
using faceapp::gallery;
using faceapp::gallery_options;

/// A random encoding (normal components, sigma 0.09 like real encodings).
inline encoding random_encoding(std::mt19937& rng, float sigma = 0.09F) {
  std::normal_distribution<float> dist(0.0F, sigma);
  encoding e;
  for (auto& v : e) v = dist(rng);
  return e;
}

/// The same rows in a float32 gallery and in one with the given options.
struct pair_of_galleries {
  gallery plain;
  gallery coded;
  pair_of_galleries(const gallery_options& options)
      : plain(gallery_options{.chunk_rows = options.chunk_rows}), coded(options) {}
  void add(const encoding& e) {
    plain.add("row", e);
    coded.add("row", e);
  }
  void erase(std::uint64_t key) {
    plain.erase(key);
    coded.erase(key);
  }
  /// nearest and top_k (k around the size too) of every query agree exactly, one at a time and all at once.
  void check(const std::vector<encoding>& queries) const {
    const auto p = plain.snapshot();
    const auto c = coded.snapshot();
    const std::vector<std::size_t> ks = {1, 2, 10, p->size() - 1, p->size(), p->size() + 1};
    for (const auto& q : queries) {
      CHECK(c->nearest(q) == p->nearest(q));
      for (const auto k : ks) CHECK(c->top_k(q, k) == p->top_k(q, k));
    }
    const auto each = c->nearest_each(queries);
    const auto top_each = c->top_k_each(queries, 10);
    REQUIRE(each.size() == queries.size());
    for (std::size_t i = 0; i < queries.size(); ++i) {
      CHECK(each[i] == p->nearest(queries[i]));
      CHECK(top_each[i] == p->top_k(queries[i], 10));
    }
  }
};

}  // namespace gallery_test
