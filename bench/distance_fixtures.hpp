// bench_distance's fixtures: the synthetic encodings (made once per size), the galleries over them with each
// option, the queries, and the same rows as flat compact codes for the kernels alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "faceapp/core/gallery.hpp"
#include "faceapp/detail/aligned_allocator.hpp"
#include "faceapp/detail/compact_codes.hpp"
#include "faceapp/detail/cpu_features.hpp"
#include "faceapp/detail/distance_simd.hpp"

namespace faceapp::bench::distance_fixtures {

using faceapp::encoding;
using faceapp::encoding_size;
using faceapp::gallery;

/// Encoding-like vectors: the values of real encodings are spread about 0 with a deviation of about 0.09.
inline encoding random_encoding(std::mt19937& rng) {
  std::normal_distribution<float> value(0.0F, 0.09F);
  encoding e;
  for (float& v : e) v = value(rng);
  return e;
}

/// n random encodings back to back (64-byte aligned), made once per n: the flat baselines read these.
inline const std::vector<float, faceapp::detail::aligned_allocator<float>>& matrix_of(std::size_t n) {
  static std::map<std::size_t, std::vector<float, faceapp::detail::aligned_allocator<float>>> made;
  auto& m = made[n];
  if (m.size() != n * encoding_size) {
    m.clear();
    m.reserve(n * encoding_size);
    std::mt19937 rng(42);
    for (std::size_t i = 0; i < n; ++i) {
      const auto e = random_encoding(rng);
      m.insert(m.end(), e.begin(), e.end());
    }
  }
  return m;
}

/// A gallery of the same n encodings, named, built once per n with from_matrix.
inline const gallery& gallery_of(std::size_t n) {
  static std::map<std::size_t, std::unique_ptr<gallery>> made;
  auto& g = made[n];
  if (!g) {
    std::vector<std::string> names;
    names.reserve(n);
    for (std::size_t i = 0; i < n; ++i) names.push_back("person_" + std::to_string(i));
    g = std::make_unique<gallery>(gallery::from_matrix(names, matrix_of(n)));
  }
  return *g;
}

inline encoding query() {
  std::mt19937 rng(7);
  return random_encoding(rng);
}

/// The same n encodings in a gallery with these options (codes, scan threads, float32 rows in a mapped file in
/// the temporary directory or on the heap), built once per (n, options); names left empty: the scans do not
/// read them.
inline const gallery& gallery_with(std::size_t n, faceapp::compact_codes codes, unsigned threads, bool mapped = false) {
  static std::map<std::tuple<std::size_t, faceapp::compact_codes, unsigned, bool>, std::unique_ptr<gallery>> made;
  auto& g = made[{n, codes, threads, mapped}];
  if (!g) {
    const std::vector<std::string> names(n);
    g = std::make_unique<gallery>(gallery::from_matrix(
        names, matrix_of(n),
        faceapp::gallery_options{.codes = codes,
                                 .scan_threads = threads,
                                 .parallel_min_rows = 0,
                                 .rows_dir = mapped ? std::filesystem::temp_directory_path()
                                                    : std::filesystem::path{}}));
  }
  return *g;
}

/// Queries near a stored row (a known face seen again: the usual recognize), 1 in 8 a stranger.
inline std::vector<encoding> queries_of(std::size_t n, std::size_t count) {
  std::mt19937 rng(99);
  std::normal_distribution<float> noise(0.0F, 0.02F);
  const auto& m = matrix_of(n);
  std::vector<encoding> out;
  for (std::size_t i = 0; i < count; ++i) {
    if (i % 8 == 7) {
      out.push_back(random_encoding(rng));
      continue;
    }
    encoding e;
    const std::size_t row = (i * 7919 + 13) % n;
    for (std::size_t j = 0; j < encoding_size; ++j) e[j] = m[row * encoding_size + j] + noise(rng);
    out.push_back(e);
  }
  return out;
}


/// The n encodings of matrix_of(n) as int8 codes and scales, or float16 halves, flat; made once per (n, codes).
struct flat_codes {
  std::vector<std::int8_t> int8;
  std::vector<float> scales;
  std::vector<std::uint16_t> halves;
  double residual = 0;
};
inline const flat_codes& codes_of(std::size_t n, faceapp::compact_codes codes) {
  static std::map<std::pair<std::size_t, faceapp::compact_codes>, flat_codes> made;
  auto& f = made[{n, codes}];
  if (f.int8.empty() && f.halves.empty()) {
    const auto& m = matrix_of(n);
    if (codes == faceapp::compact_codes::int8) {
      f.int8.resize(n * encoding_size);
      f.scales.resize(n);
    } else {
      f.halves.resize(n * encoding_size);
    }
    for (std::size_t i = 0; i < n; ++i) {
      const float* x = m.data() + i * encoding_size;
      f.residual = std::max(f.residual, f.int8.empty()
                                            ? faceapp::detail::quantize_float16(x, f.halves.data() + i * encoding_size)
                                            : faceapp::detail::quantize_int8(x, f.int8.data() + i * encoding_size,
                                                                             f.scales[i]));
    }
  }
  return f;
}

/// Rows of flat codes for detail::scan_blocks, through the kernels of one instruction set.
struct flat_rows {
  const flat_codes& f;
  faceapp::detail::simd_level level;
  void operator()(std::size_t first, std::size_t count, const float* q, float* out) const {
    if (f.int8.empty()) {
      faceapp::detail::squared_distances_float16_kernel(level)(f.halves.data() + first * encoding_size, count, q, out);
    } else {
      faceapp::detail::squared_distances_int8_kernel(level)(f.int8.data() + first * encoding_size,
                                                            f.scales.data() + first, count, q, out);
    }
  }
};

}  // namespace faceapp::bench::distance_fixtures
