// faceapp: the one CPU feature test. The SIMD kernels (distances, GEMM) are compiled for AVX-512 and AVX2+FMA
// with function attributes and picked once at run time, so one binary built for baseline x86-64 uses AVX-512
// where it exists and runs where it does not.
#pragma once

// The kernels include <immintrin.h> themselves: the feature test needs only the compiler's builtins, and the
// intrinsics headers cost a second of compile time in every file that includes them.
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define FACEAPP_X86_SIMD 1
#else
#define FACEAPP_X86_SIMD 0
#endif

namespace faceapp::detail {

/// The instruction sets the kernels come in, best last.
enum class simd_level { portable, avx2, avx512 };

/// Whether this CPU (and OS) runs code built for `level`.
[[nodiscard]] inline bool simd_supported(simd_level level) noexcept {
#if FACEAPP_X86_SIMD
  __builtin_cpu_init();
  switch (level) {
    case simd_level::portable: return true;
    case simd_level::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case simd_level::avx512: return __builtin_cpu_supports("avx512f");
  }
  return false;
#else
  return level == simd_level::portable;
#endif
}

/// The best level this CPU supports, found once.
[[nodiscard]] inline simd_level best_simd_level() noexcept {
  static const simd_level best = simd_supported(simd_level::avx512) ? simd_level::avx512
                                 : simd_supported(simd_level::avx2) ? simd_level::avx2
                                                                    : simd_level::portable;
  return best;
}

/// The name of a level: "avx512", "avx2" or "portable".
[[nodiscard]] constexpr const char* simd_level_name(simd_level level) noexcept {
  switch (level) {
    case simd_level::avx512: return "avx512";
    case simd_level::avx2: return "avx2";
    case simd_level::portable: break;
  }
  return "portable";
}

}  // namespace faceapp::detail
