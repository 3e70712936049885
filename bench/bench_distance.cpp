// The 1:N distance scan against its limit: one pass over N x 512 bytes of encodings is bound by how fast one
// core reads memory, which BM_memory_read measures in the same run.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bench_common.hpp"
#include "distance_fixtures.hpp"
#include "faceapp/core/gallery.hpp"
#include "faceapp/detail/aligned_allocator.hpp"
#include "faceapp/detail/compact_codes.hpp"
#include "faceapp/detail/exact_rerank.hpp"
#include "faceapp/detail/int8_query.hpp"
#include "faceapp/detail/distance_simd.hpp"

namespace {

using faceapp::encoding;
using faceapp::encoding_size;
using faceapp::gallery;
using namespace faceapp::bench::distance_fixtures;

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
/// One encoding (512 bytes, 8 loads) a step into 8 accumulators, as the scan reads: with 4 over 256 bytes a step
/// this measured below the distance scan's own rate on a shared Zen 4 (the limit must not be the slower reader).
__attribute__((target("avx512f"))) float sum_avx512(const float* p, std::size_t n) {
  __m512 a[8];
  for (auto& v : a) v = _mm512_setzero_ps();
  for (std::size_t i = 0; i < n; i += 128) {
    for (int j = 0; j < 8; ++j) a[j] = _mm512_add_ps(a[j], _mm512_loadu_ps(p + i + 16 * j));
  }
  for (int j = 1; j < 8; ++j) a[0] = _mm512_add_ps(a[0], a[j]);
  return faceapp::detail::horizontal_sum_avx512(a[0]);
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

/// The machine's two-core read bandwidth: each of two threads sums its half of the same bytes.
void BM_memory_read_2threads(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto& values = matrix_of(n);
  const std::size_t half = (n / 2) * encoding_size;
  for (auto _ : state) {
    float a = 0;
    std::thread other([&] { a = sum_floats(values.data() + half, values.size() - half); });
    const float b = sum_floats(values.data(), half);
    other.join();
    benchmark::DoNotOptimize(a + b);
  }
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

/// gallery::view::nearest with a compact copy (arg 1: 0 none, 1 int8, 2 float16) on 1 or 2 threads (arg 2):
/// the compact scan, then the float32 re-score of the rows within its error bound. Queries near stored rows
/// (one in eight a stranger), cycled. Bytes: what the scan streams (codes + scales, or float32 rows).
void BM_gallery_scan_rows(benchmark::State& state, bool mapped) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto codes = static_cast<faceapp::compact_codes>(state.range(1));
  const auto threads = static_cast<unsigned>(state.range(2));
  const auto snapshot = gallery_with(n, codes, threads, mapped).snapshot();
  const auto queries = queries_of(n, 64);
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(snapshot->nearest(queries[i++ % queries.size()]));
  // int8: the codes, the scale and the codes' norm; float16: the halves.
  constexpr std::size_t int8_row = encoding_size + sizeof(float) + sizeof(std::int32_t);
  const std::size_t row_bytes = codes == faceapp::compact_codes::none   ? sizeof(encoding)
                                : codes == faceapp::compact_codes::int8 ? int8_row
                                                                        : 2 * encoding_size;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * row_bytes));
  state.SetLabel(codes == faceapp::compact_codes::none   ? "float32"
                 : codes == faceapp::compact_codes::int8 ? "int8"
                                                         : "float16");
  faceapp::bench::report_peak_rss(state);
}
void BM_gallery_scan(benchmark::State& state) { BM_gallery_scan_rows(state, false); }
/// The same, the float32 rows in a mapped file and not resident (gallery_options::rows_dir): the re-score's
/// rows come back from the page cache.
void BM_gallery_scan_mapped(benchmark::State& state) { BM_gallery_scan_rows(state, true); }

/// The compact kernels alone over 1M flat codes (arg 1: 1 int8, 2 float16), forced to one instruction set
/// (float16 has no AVX-512 kernel of its own: it runs the F16C one there).
void BM_compact_kernel_level(benchmark::State& state, faceapp::detail::simd_level level) {
  if (!faceapp::detail::simd_supported(level)) {
    state.SkipWithError("this CPU lacks the instruction set");
    return;
  }
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto& f = codes_of(n, static_cast<faceapp::compact_codes>(state.range(1)));
  const auto q = query();
  const float* queries[] = {q.data()};
  for (auto _ : state) {
    faceapp::detail::nearest_of_blocks best;
    faceapp::detail::scan_blocks(flat_rows{f, level}, n, queries, 1,
                                 [&](std::size_t, std::size_t first, const float* block, std::size_t count) {
                                   best(first, block, count);
                                 });
    benchmark::DoNotOptimize(best.hit());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.SetLabel(state.range(1) == 1 ? "int8" : "float16");
}

/// The integer int8 kernel's variants (the query coded as int16, int8_query.hpp; the gallery scans with the one
/// src/distance.cpp picks) over the same 1M codes: against BM_compact_kernel_level's float int8 kernel in the
/// same run.
void BM_int8q_kernel_variant(benchmark::State& state, faceapp::detail::squared_distances_int8q_fn kernel,
                             bool supported) {
  if (!supported) {
    state.SkipWithError("this CPU lacks the instruction set");
    return;
  }
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto& f = codes_of(n, faceapp::compact_codes::int8);
  std::vector<std::int32_t> norms(n);
  for (std::size_t i = 0; i < n; ++i) norms[i] = faceapp::detail::code_norm(f.int8.data() + i * encoding_size);
  const auto q = query();
  faceapp::detail::int8_query coded;
  faceapp::detail::quantize_query_int16(q.data(), coded);
  const faceapp::detail::int8_query* queries[] = {&coded};
  const auto rows = [&](std::size_t first, std::size_t count, const faceapp::detail::int8_query* query, float* out) {
    kernel(f.int8.data() + first * encoding_size, f.scales.data() + first, norms.data() + first, count, *query, out);
  };
  for (auto _ : state) {
    faceapp::detail::nearest_of_blocks best;
    faceapp::detail::scan_blocks(rows, n, queries, 1,
                                 [&](std::size_t, std::size_t first, const float* block, std::size_t count) {
                                   best(first, block, count);
                                 });
    benchmark::DoNotOptimize(best.hit());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * (encoding_size + 8)));
}

/// How many rows the error bound sends to the float32 re-score (arg 1: 1 int8, 2 float16; k = arg 2), over the
/// same queries as BM_gallery_scan: the compact scan of detail::scan_blocks with the gallery's candidate
/// consumer over one flat array of codes. Counters: candidates a query (mean) and the residual bound R.
void BM_rerank_candidates(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto codes = static_cast<faceapp::compact_codes>(state.range(1));
  const auto k = static_cast<std::size_t>(state.range(2));
  const auto& f = codes_of(n, codes);
  const double residual = f.residual;
  const flat_rows rows{f, faceapp::detail::best_simd_level()};
  const auto queries = queries_of(n, 64);
  std::size_t total = 0;
  std::size_t asked = 0;
  for (auto _ : state) {
    const float* q = queries[asked++ % queries.size()].data();
    std::vector<faceapp::detail::candidates_of_blocks> parts(1, faceapp::detail::candidates_of_blocks(k, residual));
    faceapp::detail::scan_blocks(rows, n, &q, 1, [&](std::size_t, std::size_t first, const float* block,
                                                     std::size_t count) { parts[0](first, block, count); });
    total += faceapp::detail::merge_candidates(parts).first.size();
  }
  state.counters["candidates"] = static_cast<double>(total) / static_cast<double>(asked);
  state.counters["residual"] = residual;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

/// All faces of one photo (arg 1 queries) matched in one pass (nearest_each) against the same queries one at a
/// time (arg 2: 0 one pass, 1 one query at a time); float32, one thread. Items: rows x queries.
void BM_gallery_many(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto count = static_cast<std::size_t>(state.range(1));
  const auto snapshot = gallery_with(n, faceapp::compact_codes::none, 1).snapshot();
  const auto queries = queries_of(n, count);
  for (auto _ : state) {
    if (state.range(2) == 0) {
      benchmark::DoNotOptimize(snapshot->nearest_each(queries));
    } else {
      for (const auto& q : queries) benchmark::DoNotOptimize(snapshot->nearest(q));
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n * count));
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
BENCHMARK(BM_memory_read_2threads)->Arg(1000000)->Repetitions(bandwidth_repetitions)->UseRealTime();
// args: rows, codes (0 none, 1 int8, 2 float16), threads; wall clock (the two-thread scans' figure)
BENCHMARK(BM_gallery_scan)
    ->ArgsProduct({{1000000}, {0, 1, 2}, {1, 2}})
    ->Args({20000, 0, 1})->Args({20000, 0, 2})->Args({50000, 0, 1})->Args({50000, 0, 2})
    ->Args({100000, 0, 1})->Args({100000, 0, 2})
    ->Repetitions(bandwidth_repetitions)->UseRealTime();
BENCHMARK(BM_gallery_scan_mapped)
    ->ArgsProduct({{1000000}, {1}, {1, 2}})
    ->Repetitions(bandwidth_repetitions)->UseRealTime();
BENCHMARK_CAPTURE(BM_compact_kernel_level, avx512, faceapp::detail::simd_level::avx512)->ArgsProduct({{1000000}, {1}});
BENCHMARK_CAPTURE(BM_compact_kernel_level, avx2, faceapp::detail::simd_level::avx2)->ArgsProduct({{1000000}, {1, 2}});
#if FACEAPP_X86_SIMD
BENCHMARK_CAPTURE(BM_int8q_kernel_variant, avx512bw, &faceapp::detail::squared_distances_int8q_avx512,
                  __builtin_cpu_supports("avx512bw") != 0)->Arg(1000000);
BENCHMARK_CAPTURE(BM_int8q_kernel_variant, avx2, &faceapp::detail::squared_distances_int8q_avx2,
                  __builtin_cpu_supports("avx2") != 0)->Arg(1000000);
#endif
BENCHMARK_CAPTURE(BM_int8q_kernel_variant, portable, &faceapp::detail::squared_distances_int8q_portable, true)
    ->Arg(1000000);
BENCHMARK(BM_rerank_candidates)->ArgsProduct({{1000000}, {1, 2}, {1, 10}})->Iterations(64);
BENCHMARK(BM_gallery_many)->ArgsProduct({{1000000}, {8}, {0, 1}})->Repetitions(3);
BENCHMARK(BM_distance_naive)->Arg(1000)->Arg(100000)->Arg(1000000);
BENCHMARK(BM_distance_scan)->Arg(1000)->Arg(100000)->Arg(1000000)->Repetitions(bandwidth_repetitions);
BENCHMARK_CAPTURE(BM_distance_scan_level, avx2, faceapp::detail::simd_level::avx2)->Arg(1000000);
BENCHMARK_CAPTURE(BM_distance_scan_level, portable, faceapp::detail::simd_level::portable)->Arg(1000000);
BENCHMARK(BM_distance_all)->Arg(1000000);
BENCHMARK(BM_topk_scan)->Arg(1000)->Arg(100000)->Arg(1000000)->Repetitions(bandwidth_repetitions);
BENCHMARK(BM_gallery_add)->Arg(0)->Arg(1000000)->Iterations(200000);
BENCHMARK(BM_gallery_memory)->Arg(1000000)->Iterations(1)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
