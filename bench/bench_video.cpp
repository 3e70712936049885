// Frames a second through `video` on the 10 s, 1280x720, 25 fps test video (made with ffmpeg, as the tests
// make it: tests/video/video_files.hpp): decoding alone, with and without read-ahead (the baseline), then the
// whole per-frame pipeline (detect, encode, distance to the known people, track) for each detector setting,
// every 5th frame, with and without read-ahead. `realtime` is seconds of video per second of wall clock: at
// least 1 keeps up with a live camera.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "faceapp/faceapp.hpp"
#include "faceapp/stages/video.hpp"
#include "video_files.hpp"

namespace {

namespace tv = faceapp::test::video;

constexpr double video_seconds = 10;

void report_realtime(benchmark::State& state, double wall_seconds) {
  state.counters["realtime"] = video_seconds * static_cast<double>(state.iterations()) / wall_seconds;
}

/// Decoding alone, every frame: range(0) is the read-ahead queue (0: decode on the reading thread).
void BM_video_decode(benchmark::State& state) {
  const auto path = tv::shared_files().mp4.string();
  const auto ahead = static_cast<std::size_t>(state.range(0));
  std::size_t frames = 0;
  const auto started = std::chrono::steady_clock::now();
  for (auto _ : state) {
    for (const auto& f : faceapp::video(path, {.read_ahead = ahead})) {
      benchmark::DoNotOptimize(f);
      ++frames;
    }
  }
  report_realtime(state, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  state.SetItemsProcessed(static_cast<std::int64_t>(frames));
}

enum class setting { hog_fit640_up1, hog_fit640_up0, hog_full_up0, cnn };

/// detect, encode, distance_to and track over every 5th frame: range(0) the detector setting, range(1) the
/// read-ahead queue.
void BM_video_pipeline(benchmark::State& state) {
  const auto path = tv::shared_files().mp4.string();
  auto models = faceapp::load_models();
  if (!models) {
    state.SkipWithError(models.error().what().c_str());
    return;
  }
  const auto s = static_cast<setting>(state.range(0));
  const auto ahead = static_cast<std::size_t>(state.range(1));
  const std::vector<std::string> names{"someone"};
  const std::vector<float> values(faceapp::encoding_size, 0.0F);
  const auto known = faceapp::gallery::from_matrix(names, values);
  const int upsample = s == setting::hog_fit640_up1 ? 1 : 0;
  const auto detector =
      s == setting::cnn ? faceapp::detect(*models, faceapp::cnn) : faceapp::detect(*models, faceapp::hog, upsample);
  static const char* const labels[] = {"hog, fit 640, upsample 1", "hog, fit 640, upsample 0",
                                       "hog, 1280x720, upsample 0", "cnn, 1280x720"};
  const int side = s == setting::hog_full_up0 || s == setting::cnn ? tv::width : 640;
  std::size_t frames = 0;
  std::size_t faces = 0;
  const auto started = std::chrono::steady_clock::now();
  for (auto _ : state) {
    faceapp::tracker people;
    const auto pipeline = faceapp::fit(side) | detector | faceapp::encode(*models) |
                          faceapp::distance_to(known.snapshot()) | faceapp::track(people);
    for (const auto& f : faceapp::video(path, {.every = 5, .read_ahead = ahead})) {
      auto r = pipeline(f);
      faces += r ? r->size() : 0;
      ++frames;
      benchmark::DoNotOptimize(r);
    }
  }
  report_realtime(state, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  state.SetItemsProcessed(static_cast<std::int64_t>(frames));
  state.SetLabel(std::string(labels[state.range(0)]) + ": " + std::to_string(faces) + " faces in " +
                 std::to_string(frames) + " frames");
  faceapp::bench::report_peak_rss(state);
}

}  // namespace

BENCHMARK(BM_video_decode)->Arg(0)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_video_pipeline)
    ->ArgsProduct({{0, 1, 2, 3}, {0, 4}})
    ->ArgNames({"setting", "read_ahead"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

BENCHMARK_MAIN();
