// faceapp: the 128-D face encoding and the distance between two.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>

namespace faceapp {

inline constexpr std::size_t encoding_size = 128;

/// dlib's 128-D face descriptor. Two encodings of the same person lie at Euclidean distance <= 0.6 for
/// 99.38% of the pairs of the LFW benchmark; that is the default tolerance.
struct encoding {
  alignas(64) std::array<float, encoding_size> values{};

  [[nodiscard]] static constexpr std::size_t size() noexcept { return encoding_size; }
  [[nodiscard]] float* data() noexcept { return values.data(); }
  [[nodiscard]] const float* data() const noexcept { return values.data(); }
  [[nodiscard]] float& operator[](std::size_t i) noexcept { return values[i]; }
  [[nodiscard]] float operator[](std::size_t i) const noexcept { return values[i]; }
  [[nodiscard]] auto begin() noexcept { return values.begin(); }
  [[nodiscard]] auto end() noexcept { return values.end(); }
  [[nodiscard]] auto begin() const noexcept { return values.begin(); }
  [[nodiscard]] auto end() const noexcept { return values.end(); }
  friend bool operator==(const encoding&, const encoding&) = default;
};

/// Default tolerance: a match when the distance is at most this (face_recognition's and dlib's 0.6).
inline constexpr float default_tolerance = 0.6F;

/// Euclidean distance, accumulated in double: the reference the fast kernels are tested against.
[[nodiscard]] inline float distance(const encoding& a, const encoding& b) noexcept {
  double sum = 0;
  for (std::size_t i = 0; i < encoding_size; ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    sum += d * d;
  }
  return static_cast<float>(std::sqrt(sum));
}

/// How alike two faces look, in percent: 100 at distance 0, 50 at the tolerance, falling towards 0 beyond.
/// A presentation aid for people (the web page shows it); decisions use the distance.
[[nodiscard]] inline float similarity_percent(float distance, float tolerance = default_tolerance) noexcept {
  if (!(distance >= 0)) return 0;
  if (distance == 0) return 100;  // also at tolerance 0, where the ratio below would be 0/0
  const double x = distance / static_cast<double>(tolerance);
  return static_cast<float>(100.0 / (1.0 + x * x * x * x));  // smooth, 50% exactly at the tolerance
}

}  // namespace faceapp
