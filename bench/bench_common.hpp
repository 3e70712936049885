// Shared helpers of the benchmark binaries: where the test data is (the tests' lookup), and the process's peak
// memory.
#pragma once

#include <sys/resource.h>

#include <benchmark/benchmark.h>

#include <test_data.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace faceapp::bench {

/// The test data in tests/data, or $FACEAPP_TEST_DATA: the tests' own lookup.
using faceapp::test::data_dir;
using faceapp::test::data_file;

/// Peak resident memory of this process so far, in MB (the kernel's high-water mark).
inline double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KB on Linux
}

/// Resident memory of this process now, in MB (VmRSS of /proc/self/status).
inline double current_rss_mb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // the value is in kB
  }
  return 0;
}

/// Every benchmark reports the peak so far; the run script takes the largest per binary.
inline void report_peak_rss(benchmark::State& state) {
  state.counters["peak_rss_MB"] = benchmark::Counter(peak_rss_mb());
}

}  // namespace faceapp::bench
