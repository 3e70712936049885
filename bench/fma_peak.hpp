// The fp32 FMA peak of the core a benchmark runs on: the baseline every kernel figure of bench_encode and
// bench_detect is a fraction of. The loop keeps more independent accumulators than the FMA units' latency times
// their count (Zen 3/4: 2 units x 4 cycles = 8 in flight), so it runs at the issue rate and nothing else: no
// loads, no stores. The AVX-512 and AVX2 loops are picked at run time like the library's kernels; on a core
// that splits 512-bit FMAs in two (Zen 4) both give the same figure.
#pragma once

#include <benchmark/benchmark.h>

#include <time.h>

#include <algorithm>
#include <cstdint>

#include "faceapp/detail/cpu_features.hpp"

#if FACEAPP_X86_SIMD
#include <immintrin.h>
#endif

namespace faceapp::bench {

namespace fma_impl {

/// Accumulators of each loop: 12 on AVX2 (16 ymm registers: 12 + the two operands), 24 on AVX-512 (of 32).
inline constexpr int avx2_accumulators = 12;
inline constexpr int avx512_accumulators = 24;
/// FMAs per accumulator per call.
inline constexpr std::int64_t rounds = 4096;

#if FACEAPP_X86_SIMD
/// 24 x 16-lane FMAs per round; returns the FLOPs done (2 per lane per FMA).
__attribute__((target("avx512f"))) inline double avx512_loop(float seed) {
  __m512 acc[avx512_accumulators];
  const __m512 a = _mm512_set1_ps(0.999999F);
  const __m512 b = _mm512_set1_ps(seed);
#pragma GCC unroll 24
  for (int i = 0; i < avx512_accumulators; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  for (std::int64_t r = 0; r < rounds; ++r) {
#pragma GCC unroll 24
    for (int i = 0; i < avx512_accumulators; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  __m512 sum = acc[0];
#pragma GCC unroll 24
  for (int i = 1; i < avx512_accumulators; ++i) sum = _mm512_add_ps(sum, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sum);
  benchmark::DoNotOptimize(lanes);
  return 2.0 * 16.0 * avx512_accumulators * static_cast<double>(rounds);
}

/// 12 x 8-lane FMAs per round.
__attribute__((target("avx2,fma"))) inline double avx2_loop(float seed) {
  __m256 acc[avx2_accumulators];
  const __m256 a = _mm256_set1_ps(0.999999F);
  const __m256 b = _mm256_set1_ps(seed);
#pragma GCC unroll 12
  for (int i = 0; i < avx2_accumulators; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  for (std::int64_t r = 0; r < rounds; ++r) {
#pragma GCC unroll 12
    for (int i = 0; i < avx2_accumulators; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  __m256 sum = acc[0];
#pragma GCC unroll 12
  for (int i = 1; i < avx2_accumulators; ++i) sum = _mm256_add_ps(sum, acc[i]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  benchmark::DoNotOptimize(lanes);
  return 2.0 * 8.0 * avx2_accumulators * static_cast<double>(rounds);
}
#endif

/// One call of the loop `level` runs (the portable one: 12 scalar multiply-adds chains, what the compiler makes
/// of them); returns its FLOPs.
inline double loop(detail::simd_level level, float seed) {
#if FACEAPP_X86_SIMD
  if (level == detail::simd_level::avx512) return avx512_loop(seed);
  if (level == detail::simd_level::avx2) return avx2_loop(seed);
#endif
  float acc[avx2_accumulators];
  for (int i = 0; i < avx2_accumulators; ++i) acc[i] = static_cast<float>(i);
  for (std::int64_t r = 0; r < rounds; ++r) {
    for (float& x : acc) x = x * 0.999999F + seed;
  }
  benchmark::DoNotOptimize(acc);
  return 2.0 * avx2_accumulators * static_cast<double>(rounds);
}

inline double thread_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

}  // namespace fma_impl

/// This core's FMA peak in FLOP per CPU second at the best level it runs, measured once per process: the best
/// of 7 runs of about 20 ms of thread CPU time each (the peak cannot be beaten, so the best run is the one least
/// disturbed by whatever else the machine does). The counters `of_peak` divide by this value. The clock is read
/// once per `calls_per_read` loops: reading the thread's CPU time is a system call (no vDSO), about 1.5 us
/// under KVM against the 8 us of one AVX2 loop, which read after every loop made the peak 17 % low.
inline double fma_peak_flops() {
  static const double peak = [] {
    constexpr int calls_per_read = 64;
    const auto level = detail::best_simd_level();
    double best = 0;
    for (int run = 0; run < 7; ++run) {
      double flops = 0;
      const double t0 = fma_impl::thread_seconds();
      double t = 0;
      while ((t = fma_impl::thread_seconds() - t0) < 0.02) {
        for (int i = 0; i < calls_per_read; ++i) flops += fma_impl::loop(level, 1e-3F);
      }
      best = std::max(best, flops / t);
    }
    return best;
  }();
  return peak;
}

/// BM_fma_peak: the FMA loop at the best level (range(0) = 0), or forced to AVX2 (1) or the portable loop (2)
/// where the CPU runs them; a `GFLOPs` counter per second of the benchmark's clock (CPU time unless the
/// registration asks for real time).
inline void fma_peak_benchmark(benchmark::State& state) {
  auto level = detail::best_simd_level();
  if (state.range(0) == 1) level = detail::simd_supported(detail::simd_level::avx2) ? detail::simd_level::avx2 : level;
  if (state.range(0) == 2) level = detail::simd_level::portable;
  double flops = 0;
  for (auto _ : state) flops += fma_impl::loop(level, 1e-3F);
  state.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsRate);
  state.counters["of_peak"] = benchmark::Counter(flops / fma_peak_flops(), benchmark::Counter::kIsRate);
  state.SetLabel(detail::simd_level_name(level));
}

/// Seconds of CPU time this thread has used (CLOCK_THREAD_CPUTIME_ID) or, with `process`, all threads.
inline double cpu_seconds(bool process = false) {
  timespec t{};
  clock_gettime(process ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

/// Counters of a benchmark that did `flops` of work in `cpu_s` seconds of CPU time: `GFLOPs` and `of_peak`, the
/// fraction of fma_peak_flops(). Per CPU second, like the peak: on a machine shared with other work the wall
/// clock charges a kernel for the time it waited for a core.
inline void report_flops(benchmark::State& state, double flops, double cpu_s) {
  if (cpu_s <= 0) return;
  state.counters["GFLOPs"] = flops / cpu_s * 1e-9;
  state.counters["of_peak"] = flops / cpu_s / fma_peak_flops();
}

}  // namespace faceapp::bench
