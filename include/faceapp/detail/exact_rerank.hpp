// faceapp: exact answers from a compact scan. The gallery scans its compact copy (compact_codes.hpp), keeps every
// row that could still be among the k nearest in float32, and re-scores those rows with the float32 kernel, so
// that nearest / top_k give the row and the distance, bit for bit, of the float32 scan.
//
// Why the kept rows are enough, whatever the quantization did. For a row, a = ||q - x'||^2 (x' the decoded row)
// and e = ||q - x||^2 in exact arithmetic, A and E what the float kernels compute. A float32 squared distance
// of 128 terms is within gamma * value + eta of the exact one (gamma = 1e-5 covers the 131 roundings of each
// term's path, 131 * 2^-24 = 7.8e-6, whatever the order of the sums; eta = 1e-35 the absolute error of
// underflow), and |sqrt(a) - sqrt(e)| <= R, R the largest residual of the gallery's rows.
//  - With A_k the k-th smallest A, the k rows at or below it have sqrt(e) <= T = sqrt((A_k + eta)/(1 - gamma)) + R,
//    so the k-th smallest E is at most E_max = (1 + gamma) T^2 + eta.
//  - A row with E <= E_max (ties included) has sqrt(e) <= sqrt((E_max + eta)/(1 - gamma)), so sqrt(a) is at most
//    that + R, and A <= bound = (1 + gamma)(sqrt((E_max + eta)/(1 - gamma)) + R)^2 + eta.
// Every row with A <= bound is re-scored: that is the float32 top k, by construction. The integer int8 kernel
// (int8_query.hpp) computes A against the coded query q' instead, so its R includes ||q - q'||, and its
// absolute error (double sums whose terms may cancel) is larger than eta: rerank_bound takes it as eta_a. In
// distances, the window is the k-th best approximate distance plus 2R (and the rounding terms). A_k only falls
// as the scan goes on, so a row left out under an earlier bound stays out under the final one.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <utility>
#include <vector>

#include "faceapp/detail/distance_kernels.hpp"

namespace faceapp::detail {

/// The largest approximate squared distance of a row that may be among the k nearest in float32, given the k-th
/// smallest approximate squared distance and the residual bound R; +infinity when either is not finite.
/// `eta_a`: the approximate kernel's absolute error besides its relative gamma (1e-35, underflow, for the float
/// kernels; more for the integer int8 kernel, int8_query.hpp).
[[nodiscard]] inline float rerank_bound(float a_k, double residual, double eta_a = 1e-35) noexcept {
  constexpr double gamma = 1e-5;
  constexpr double eta = 1e-35;  // the float32 kernel's
  if (!(a_k < std::numeric_limits<float>::infinity()) || !(residual < std::numeric_limits<double>::infinity())) {
    return std::numeric_limits<float>::infinity();
  }
  const double t = std::sqrt((a_k + eta_a) / (1 - gamma)) + residual;
  const double e_max = (1 + gamma) * t * t + eta;
  const double d = std::sqrt((e_max + eta) / (1 - gamma)) + residual;
  const double bound = ((1 + gamma) * d * d + eta_a) * (1 + 1e-12);  // the double roundings, generously
  if (!(bound < std::numeric_limits<float>::max())) return std::numeric_limits<float>::infinity();
  const auto f = static_cast<float>(bound);
  return f < bound ? std::nextafter(f, std::numeric_limits<float>::infinity()) : f;
}

/// A block consumer over approximate distances: the k smallest (for the bound) and every row within the bound,
/// in the order seen. +infinity (a tombstone) and NaN are never kept.
class candidates_of_blocks {
 public:
  candidates_of_blocks(std::size_t k, double residual, double eta_a = 1e-35)
      : best_(k), k_(k), residual_(residual), eta_a_(eta_a), next_prune_(2 * (k + scan_block)) {}

  void operator()(std::size_t first, const float* block, std::size_t count) {
    best_(first, block, count);
    const float bound = rerank_bound(best_.worst(), residual_, eta_a_);
    for (std::size_t j = 0; j < count; ++j) {
      if (block[j] <= bound && block[j] < std::numeric_limits<float>::infinity()) {
        kept_.push_back({first + j, block[j]});
      }
    }
    if (kept_.size() > next_prune_) {  // many rows within the bound (duplicates) do not make this quadratic
      prune(bound);
      next_prune_ = std::max(2 * (k_ + scan_block), 2 * kept_.size());
    }
  }

  /// The k smallest approximate distances seen, nearest first.
  [[nodiscard]] std::vector<nearest_hit> take_best() { return std::move(best_).take(); }
  /// The rows kept so far, in the order seen (some above the final bound: the caller filters).
  [[nodiscard]] std::vector<nearest_hit>& kept() noexcept { return kept_; }
  [[nodiscard]] std::size_t k() const noexcept { return k_; }
  [[nodiscard]] double residual() const noexcept { return residual_; }
  [[nodiscard]] double eta_a() const noexcept { return eta_a_; }

 private:
  void prune(float bound) {
    std::erase_if(kept_, [&](const nearest_hit& h) { return !(h.squared_distance <= bound); });
  }
  top_k_of_blocks best_;
  std::size_t k_;
  double residual_;
  double eta_a_;
  std::size_t next_prune_;
  std::vector<nearest_hit> kept_;
};

/// The k best of several partial top-k lists (each nearest first), nearest first; lower index on ties.
[[nodiscard]] inline std::vector<nearest_hit> merge_hits(std::vector<std::vector<nearest_hit>> parts, std::size_t k) {
  std::vector<nearest_hit> all;
  for (auto& p : parts) all.insert(all.end(), p.begin(), p.end());
  std::sort(all.begin(), all.end(), hit_before);
  if (all.size() > k) all.resize(k);
  return all;
}

/// The candidates of one query over all parts of a scan (each part's collector covers rows above the one
/// before), in row order, and the bound they were kept under; +infinity when fewer than k rows had a finite
/// approximate distance (then the caller scans float32).
[[nodiscard]] inline std::pair<std::vector<nearest_hit>, float> merge_candidates(
    std::vector<candidates_of_blocks>& parts) {
  std::vector<std::vector<nearest_hit>> bests;
  for (auto& p : parts) bests.push_back(p.take_best());
  const std::size_t k = parts.front().k();
  const auto best = merge_hits(std::move(bests), k);
  const float bound = best.size() == k && k > 0 ? rerank_bound(best.back().squared_distance, parts.front().residual(),
                                                               parts.front().eta_a())
                                                : std::numeric_limits<float>::infinity();
  std::vector<nearest_hit> kept;
  for (auto& p : parts) {
    for (const auto& h : p.kept()) {
      if (h.squared_distance <= bound) kept.push_back(h);
    }
  }
  return {std::move(kept), bound};
}

}  // namespace faceapp::detail
