// faceapp runtime: the distance kernels' SIMD variants, picked by what the CPU runs.
#include "faceapp/detail/cpu_features.hpp"
#include "faceapp/detail/distance_kernels.hpp"
#include "faceapp/detail/distance_simd.hpp"

namespace faceapp::detail {

squared_distances_fn squared_distances_kernel(simd_level level) noexcept {
#if FACEAPP_X86_SIMD
  if (level == simd_level::avx512) return &squared_distances_avx512;
  if (level == simd_level::avx2) return &squared_distances_avx2;
#endif
  (void)level;
  return &squared_distances_portable;
}


squared_distances_int8_fn squared_distances_int8_kernel(simd_level level) noexcept {
#if FACEAPP_X86_SIMD
  if (level == simd_level::avx512) return &squared_distances_int8_avx512;
  if (level == simd_level::avx2) return &squared_distances_int8_avx2;
#endif
  (void)level;
  return &squared_distances_int8_portable;
}

squared_distances_int8q_fn squared_distances_int8q_kernel(simd_level level) noexcept {
#if FACEAPP_X86_SIMD
  // The AVX2 variant at the AVX-512 level too: for 1 M rows it took 12.9 ms of CPU against the AVX-512 BW
  // variant's 15.0 (a VNNI variant with vpdpwssd measured 14.6) on an Intel Xeon, family 6 model 167, in a run of
  // bench_distance's BM_int8q_kernel_variant, which measures both wherever it runs.
  if (level != simd_level::portable) return &squared_distances_int8q_avx2;
#endif
  (void)level;
  return &squared_distances_int8q_portable;
}

squared_distances_float16_fn squared_distances_float16_kernel(simd_level level) noexcept {
#if FACEAPP_X86_SIMD
  // No AVX-512 variant: converting 16 halves a step measured no faster than 8 on a Zen 4 (bench_distance's
  // BM_compact_kernel_level); int8's 16 codes a step measured 1.25x faster than 8 there.
  static const bool f16c = __builtin_cpu_supports("f16c");
  if (level != simd_level::portable && f16c) return &squared_distances_float16_avx2;
#endif
  (void)level;
  return &squared_distances_float16_portable;
}

}  // namespace faceapp::detail
