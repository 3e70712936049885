// The 1:N distance scan against its limit: one pass over N x 512 bytes of encodings is bound by how fast one
// core reads memory, which BM_memory_read measures in the same run.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "faceapp/core/gallery.hpp"
#include "faceapp/detail/aligned_allocator.hpp"
#include "faceapp/detail/distance_simd.hpp"

namespace {

using faceapp::encoding;
using faceapp::encoding_size;
using faceapp::gallery;

/// Encoding-like vectors: the values of real encodings are spread about 0 with a deviation of about 0.09.
encoding random_encoding(std::mt19937& rng) {
  std::normal_distribution<float> value(0.0F, 0.09F);
  encoding e;
  for (float& v : e) v = value(rng);
  return e;
}

/// n random encodings back to back (64-byte aligned), made once per n: the flat baselines read these.
const std::vector<float, faceapp::detail::aligned_allocator<float>>& matrix_of(std::size_t n) {
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
const gallery& gallery_of(std::size_t n) {
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

encoding query() {
  std::mt19937 rng(7);
  return random_encoding(rng);
}

// ---- the bandwidth baseline: the fastest way to read the same bytes -------------------------------------

float sum_portable(const float* p, std::size_t n) {
  float acc[16] = {};
  for (std::size_t i = 0; i < n; i += 16) {
    for (std::size_t l = 0; l < 16; ++l) acc[l] += p[i + l];
  }
  float s = 0;
  for (float v : acc) s += v;
  return s;
}

#if FACEAPP_X86_SIMD
__attribute__((target("avx512f"))) float sum_avx512(const float* p, std::size_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (std::size_t i = 0; i < n; i += 64) {
    a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_loadu_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_loadu_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_loadu_ps(p + i + 48));
  }
  return faceapp::detail::horizontal_sum_avx512(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}
#endif

float sum_floats(const float* p, std::size_t n) {
#if FACEAPP_X86_SIMD
  if (faceapp::detail::simd_supported(faceapp::detail::simd_level::avx512)) return sum_avx512(p, n);
#endif
  return sum_portable(p, n);
}

void BM_memory_read(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto& values = matrix_of(n);
  for (auto _ : state) benchmark::DoNotOptimize(sum_floats(values.data(), values.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(values.size() * sizeof(float)));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  faceapp::bench::report_peak_rss(state);
}

// ---- the scans -------------------------------------------------------------------------------------------

/// What one writes first: a scalar loop, one running sum per encoding (the compiler may not reorder it).
[[gnu::noinline]] std::size_t nearest_naive(const float* base, std::size_t n, const float* q) {
  std::size_t best = 0;
  float best_d = 0;
  for (std::size_t i = 0; i < n; ++i) {
    float s = 0;
    for (std::size_t j = 0; j < encoding_size; ++j) {
      const float d = base[i * encoding_size + j] - q[j];
      s += d * d;
    }
    if (i == 0 || s < best_d) {
      best = i;
      best_d = s;
    }
  }
  return best;
}

void BM_distance_naive(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto& m = matrix_of(n);
  const auto q = query();
  for (auto _ : state) benchmark::DoNotOptimize(nearest_naive(m.data(), n, q.data()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * sizeof(encoding)));
  faceapp::bench::report_peak_rss(state);
}

/// The library's 1:N query: gallery::view::nearest, which distance_to(gallery) calls once per face (the block scan
/// chunk by chunk, 8192 rows a chunk).
void BM_distance_scan(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto snapshot = gallery_of(n).snapshot();
  const auto q = query();
  for (auto _ : state) benchmark::DoNotOptimize(snapshot->nearest(q));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * sizeof(encoding)));
  state.SetLabel(faceapp::detail::best_simd_level() == faceapp::detail::simd_level::avx512 ? "avx512"
                 : faceapp::detail::best_simd_level() == faceapp::detail::simd_level::avx2 ? "avx2"
                                                                                           : "portable");
  faceapp::bench::report_peak_rss(state);
}

/// The same block scan over one flat matrix (no chunks), forced to one instruction set: what the dispatch picks
/// on machines without AVX-512, and (against BM_distance_scan) what the chunking costs.
void BM_distance_scan_level(benchmark::State& state, faceapp::detail::simd_level level) {
  if (!faceapp::detail::simd_supported(level)) {
    state.SkipWithError("this CPU lacks the instruction set");
    return;
  }
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto& m = matrix_of(n);
  const auto q = query();
  for (auto _ : state) benchmark::DoNotOptimize(faceapp::detail::nearest(m.data(), n, q.data(), level));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * sizeof(encoding)));
  faceapp::bench::report_peak_rss(state);
}

/// All N distances written out (gallery::view::distances, with the square roots).
void BM_distance_all(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto snapshot = gallery_of(n).snapshot();
  const auto q = query();
  std::vector<float> out(n);
  for (auto _ : state) {
    snapshot->distances(q, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  faceapp::bench::report_peak_rss(state);
}

void BM_topk_scan(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto snapshot = gallery_of(n).snapshot();
  const auto q = query();
  for (auto _ : state) benchmark::DoNotOptimize(snapshot->top_k(q, 10));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  faceapp::bench::report_peak_rss(state);
}

/// Resident memory of a gallery of 1 M named encodings ("person_123456" names), added one by one without a
/// reserve, as an application loading a database would.
void BM_gallery_memory(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  double resident = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::mt19937 rng(3);
    std::vector<encoding> source;  // made outside the measured growth
    source.reserve(1024);
    for (int i = 0; i < 1024; ++i) source.push_back(random_encoding(rng));
    const double before = faceapp::bench::current_rss_mb();
    state.ResumeTiming();
    auto g = std::make_unique<gallery>();
    for (std::size_t i = 0; i < n; ++i) g->add("person_" + std::to_string(i), source[i % source.size()]);
    state.PauseTiming();
    resident = faceapp::bench::current_rss_mb() - before;
    g.reset();
    state.ResumeTiming();
  }
  state.counters["gallery_MB"] = resident;
  state.counters["bytes_per_entry"] = resident * 1024 * 1024 / static_cast<double>(n);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  faceapp::bench::report_peak_rss(state);
}

// ---- the growing gallery: chunks of 8192 rows that snapshots share ------------------------------------------

/// One add (row written, new snapshot published) to a gallery that already holds n rows: the same at 0 and at
/// 1 M, where a contiguous array copied under copy-on-write would cost O(n).
void BM_gallery_add(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto g = std::make_unique<gallery>();
  {
    std::mt19937 rng(42);
    std::vector<encoding> source;
    for (int i = 0; i < 1024; ++i) source.push_back(random_encoding(rng));
    for (std::size_t i = 0; i < n; ++i) g->add(i + 1, "person_" + std::to_string(i), source[i % source.size()]);
  }
  const auto e = query();
  std::uint64_t key = n + 1;
  const auto reader = g->snapshot();  // a reader holds an old snapshot meanwhile, as recognizes do
  for (auto _ : state) {
    g->add(key, "new person", e);
    ++key;
  }
  benchmark::DoNotOptimize(reader->size());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  faceapp::bench::report_peak_rss(state);
}

}  // namespace

// The bandwidth ratio compares two benchmarks that each take ~20 ms a pass: nine repetitions (interleaved
// by run.sh) give medians that other work on a shared machine moves little.
constexpr int bandwidth_repetitions = 9;
BENCHMARK(BM_memory_read)->Arg(1000)->Arg(100000)->Arg(1000000)->Repetitions(bandwidth_repetitions);
BENCHMARK(BM_distance_naive)->Arg(1000)->Arg(100000)->Arg(1000000);
BENCHMARK(BM_distance_scan)->Arg(1000)->Arg(100000)->Arg(1000000)->Repetitions(bandwidth_repetitions);
BENCHMARK_CAPTURE(BM_distance_scan_level, avx2, faceapp::detail::simd_level::avx2)->Arg(1000000);
BENCHMARK_CAPTURE(BM_distance_scan_level, portable, faceapp::detail::simd_level::portable)->Arg(1000000);
BENCHMARK(BM_distance_all)->Arg(1000000);
BENCHMARK(BM_topk_scan)->Arg(1000)->Arg(100000)->Arg(1000000)->Repetitions(bandwidth_repetitions);
BENCHMARK(BM_gallery_add)->Arg(0)->Arg(1000000)->Iterations(200000);
BENCHMARK(BM_gallery_memory)->Arg(1000000)->Iterations(1)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
