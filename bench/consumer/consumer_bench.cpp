// `(read | encode)(photo)` as another project calls it: the whole path, file to encodings, on one photo.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include <faceapp/faceapp.hpp>

namespace {

std::string photo() {
  const char* p = std::getenv("FACEAPP_BENCH_PHOTO");
  if (p == nullptr || *p == '\0') throw std::runtime_error("set FACEAPP_BENCH_PHOTO to a photo with a face");
  return p;
}

void BM_read_encode(benchmark::State& state) {
  const auto pipe = faceapp::read | faceapp::encode;
  const std::string path = photo();
  if (const auto warm = pipe(path); !warm || warm->empty()) {  // loads the models
    state.SkipWithError(warm ? "no face in the photo" : warm.error().what().c_str());
    return;
  }
  for (auto _ : state) {
    auto r = pipe(path);
    benchmark::DoNotOptimize(r);
  }
}

}  // namespace

BENCHMARK(BM_read_encode)->Unit(benchmark::kMillisecond)->MinTime(2.0);

BENCHMARK_MAIN();
