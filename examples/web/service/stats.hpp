// faceapp-web's service layer: what the service measures of itself, for the web layer's /metrics. Plain C++:
// counters and fixed-bucket histograms of atomics, written by any thread without a lock.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace faceapp_web {

/// Durations in fixed buckets (Prometheus' cumulative `le` buckets are made from these when rendered).
class histogram {
 public:
  /// Upper bounds in seconds: from a fast scan (milliseconds) to a large photo on a busy machine.
  static constexpr std::array<double, 14> bounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                 0.25,  0.5,    1,     2.5,  5,     10,   30};

  void observe(std::chrono::steady_clock::duration d) noexcept {
    const double s = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < bounds.size() && s > bounds[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);  // counts_[bounds.size()]: above the last bound
    sum_ns_.fetch_add(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()),
                      std::memory_order_relaxed);
  }

  /// The observations at most bounds[i] seconds (i == bounds.size(): all of them).
  [[nodiscard]] std::uint64_t cumulative(std::size_t i) const noexcept {
    std::uint64_t n = 0;
    for (std::size_t k = 0; k <= i && k < counts_.size(); ++k) n += counts_[k].load(std::memory_order_relaxed);
    return n;
  }
  [[nodiscard]] std::uint64_t count() const noexcept { return cumulative(bounds.size()); }
  [[nodiscard]] double sum_seconds() const noexcept {
    return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  }

 private:
  std::array<std::atomic<std::uint64_t>, bounds.size() + 1> counts_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

/// The times of the service's stages.
struct service_stats {
  histogram detect;  // decode, shrink and detect one upload
  histogram encode;  // the 128-D encodings of one upload's kept faces
  histogram scan;    // a recognize's or a search's 1:N pass over the gallery
};

/// Measures the scope it lives in into a histogram.
class timed {
 public:
  explicit timed(histogram& h) noexcept : h_(h) {}
  timed(const timed&) = delete;
  timed& operator=(const timed&) = delete;
  ~timed() { h_.observe(std::chrono::steady_clock::now() - start_); }

 private:
  histogram& h_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace faceapp_web
