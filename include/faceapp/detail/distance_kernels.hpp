// faceapp: the 1:N distance kernels behind the gallery and distance_to.
//
// Encodings are stored back to back, 128 floats (512 bytes) each, 64-byte aligned. The scan streams the gallery
// once: at 1 M encodings that is 512 MB, so the kernel is bound by memory bandwidth, not arithmetic. The work
// is done in blocks: a SIMD kernel writes the squared distances of one block into a small buffer that stays in
// L1, and nearest / top-k then look at that buffer, so they stream memory as fast as the plain scan does.
//
// The SIMD kernels (detail/distance_simd.hpp, compiled in the runtime library) are built for AVX-512 and
// AVX2+FMA with function attributes and picked once at run time from what the CPU supports
// (detail/cpu_features.hpp), so a binary built for baseline x86-64 still uses AVX-512 where it exists and runs
// where it does not. Other targets get the portable kernel, which compilers vectorize on their own.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "faceapp/core/encoding.hpp"
#include "faceapp/detail/cpu_features.hpp"

namespace faceapp::detail {

/// Squared Euclidean distance of one stored encoding to the query. Sixteen independent partial sums let the
/// compiler keep the loop in vector registers without reassociating floating-point adds.
[[nodiscard]] inline float squared_distance_128(const float* __restrict a, const float* __restrict b) noexcept {
  constexpr std::size_t lanes = 16;
  float acc[lanes] = {};
  for (std::size_t j = 0; j < encoding_size; j += lanes) {
    for (std::size_t l = 0; l < lanes; ++l) {
      const float d = a[j + l] - b[j + l];
      acc[l] += d * d;
    }
  }
  float sum = 0;
  for (float v : acc) sum += v;
  return sum;
}

/// out[i] = squared distance of encoding i (of n, stored back to back at base) to the query: portable.
inline void squared_distances_portable(const float* __restrict base, std::size_t n, const float* __restrict query,
                                       float* __restrict out) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = squared_distance_128(base + i * encoding_size, query);
}


using squared_distances_fn = void (*)(const float* __restrict, std::size_t, const float* __restrict,
                                      float* __restrict) noexcept;

/// The block kernel for `level`, which the caller has checked with simd_supported. Compiled once, in the runtime
/// library (src/distance.cpp), with the AVX kernels of detail/distance_simd.hpp: their intrinsics headers cost
/// every including file a second of compile time.
[[nodiscard]] squared_distances_fn squared_distances_kernel(simd_level level) noexcept;

/// out[i] = squared distance of encoding i (of n, stored back to back at base) to the query.
inline void squared_distances(const float* __restrict base, std::size_t n, const float* __restrict query,
                              float* __restrict out, simd_level level = best_simd_level()) noexcept {
  squared_distances_kernel(level)(base, n, query, out);
}

/// Encodings per block: 512 KB of gallery, 4 KB of distances (which stay in L1).
inline constexpr std::size_t scan_block = 1024;

struct nearest_hit {
  std::size_t index = 0;
  float squared_distance = 0;
};

// The one block scan under every 1:N query (gallery::view's nearest, top_k and distances, with float32 or compact
// rows, one query or many, and the flat-array functions below): a kernel fills a block of squared distances that
// stays in L1, and a consumer looks at the block. A consumer is called as f(index of the block's first encoding,
// squared distances, count); with many queries, f(query index, first, distances, count).

/// Rows a scan reads: rows(first, count, query, out) writes the squared distances of rows [first, first + count).
struct float32_rows {
  squared_distances_fn kernel;
  const float* base;
  void operator()(std::size_t first, std::size_t count, const float* query, float* out) const noexcept {
    kernel(base + first * encoding_size, count, query, out);
  }
};

/// Calls f(query index, first, distances, count) for the blocks of at most scan_block rows of [0, n), in order;
/// each block for every query in turn, so that with several queries a block is read from memory once and from
/// cache for the others (all faces of one photo in one pass over the gallery).
template <class Rows, class Query, class F>
void scan_blocks(const Rows& rows, std::size_t n, const Query* const* queries, std::size_t query_count, F&& f) {
  alignas(64) float block[scan_block];
  for (std::size_t start = 0; start < n; start += scan_block) {
    const std::size_t count = std::min(scan_block, n - start);
    for (std::size_t q = 0; q < query_count; ++q) {
      rows(start, count, queries[q], block);
      f(q, start, static_cast<const float*>(block), count);
    }
  }
}

/// Calls f for the blocks of at most scan_block encodings of base[0, n), in order.
template <class F>
void scan_blocks(const float* __restrict base, std::size_t n, const float* __restrict query, F&& f,
                 simd_level level = best_simd_level()) {
  const float* queries[] = {query};
  scan_blocks(float32_rows{squared_distances_kernel(level), base}, n, queries, 1,
              [&](std::size_t, std::size_t first, const float* block, std::size_t count) { f(first, block, count); });
}

/// The order of hits: by distance, then by index (the lower row wins a tie).
[[nodiscard]] inline bool hit_before(const nearest_hit& a, const nearest_hit& b) noexcept {
  return a.squared_distance < b.squared_distance ||
         (a.squared_distance == b.squared_distance && a.index < b.index);
}

/// A block consumer that keeps the nearest encoding: the lowest index on ties; +infinity (a tombstone) and NaN
/// never win.
class nearest_of_blocks {
 public:
  void operator()(std::size_t first, const float* block, std::size_t count) noexcept {
    for (std::size_t j = 0; j < count; ++j) {
      if (block[j] < best_.squared_distance) best_ = {first + j, block[j]};
    }
  }
  /// The nearest seen, or nothing when every distance seen was +infinity (or none was seen).
  [[nodiscard]] std::optional<nearest_hit> hit() const noexcept {
    if (!(best_.squared_distance < std::numeric_limits<float>::infinity())) return std::nullopt;
    return best_;
  }

 private:
  nearest_hit best_{0, std::numeric_limits<float>::infinity()};
};

/// A block consumer that keeps the k nearest, ordered by (distance, index): equal distances keep index order,
/// +infinity (a tombstone) never gets in. A max-heap holds the k best so far; only a distance below the k-th best
/// touches it, which after the first few blocks is rare, so this runs at the speed of the plain scan.
class top_k_of_blocks {
 public:
  /// k: at most the number of encodings the scan will show (the heap is reserved for k).
  explicit top_k_of_blocks(std::size_t k) : k_(k) { heap_.reserve(k); }

  void operator()(std::size_t first, const float* block, std::size_t count) {
    if (k_ == 0) return;
    std::size_t j = 0;
    for (; j < count && heap_.size() < k_; ++j) {  // filling the heap: only in the first block(s)
      if (!(block[j] < std::numeric_limits<float>::infinity())) continue;
      heap_.push_back({first + j, block[j]});
      std::push_heap(heap_.begin(), heap_.end(), before);
      if (heap_.size() == k_) worst_ = heap_.front().squared_distance;
    }
    for (; j < count; ++j) {  // the steady state: one compare per entry; +inf and NaN never get in
      if (block[j] < worst_) {
        std::pop_heap(heap_.begin(), heap_.end(), before);
        heap_.back() = {first + j, block[j]};
        std::push_heap(heap_.begin(), heap_.end(), before);
        worst_ = heap_.front().squared_distance;
      }
    }
  }
  /// The k-th smallest distance seen so far; +infinity until k finite distances were seen.
  [[nodiscard]] float worst() const noexcept { return worst_; }
  /// The k nearest seen, nearest first (fewer when fewer were seen).
  [[nodiscard]] std::vector<nearest_hit> take() && {
    std::sort_heap(heap_.begin(), heap_.end(), before);
    return std::move(heap_);
  }

 private:
  static bool before(const nearest_hit& a, const nearest_hit& b) noexcept { return hit_before(a, b); }
  std::size_t k_;
  std::vector<nearest_hit> heap_;
  float worst_ = std::numeric_limits<float>::infinity();
};

/// The stored encoding nearest to the query (the first one on ties) of n > 0 back to back at base.
[[nodiscard]] inline nearest_hit nearest(const float* __restrict base, std::size_t n, const float* __restrict query,
                                         simd_level level = best_simd_level()) noexcept {
  nearest_of_blocks best;
  scan_blocks(base, n, query, best, level);
  return best.hit().value_or(nearest_hit{0, std::numeric_limits<float>::infinity()});
}

/// The k stored encodings nearest to the query, nearest first; equal distances keep index order. Fewer when
/// n < k.
inline void top_k(const float* __restrict base, std::size_t n, const float* __restrict query, std::size_t k,
                  std::vector<nearest_hit>& out, simd_level level = best_simd_level()) {
  top_k_of_blocks best(std::min(k, n));
  scan_blocks(base, n, query, std::ref(best), level);
  out = std::move(best).take();
}

}  // namespace faceapp::detail
