// HOG face detection at upsample 1: the library's detect (pyramid levels on all cores) against dlib's own
// single-threaded detector on the same pixels, in the same run. Wall-clock time, since one of them is parallel.
// BM_detect_cnn: the cnn detector as detect(faceapp::cnn) runs it (the whole-image pass and the second look at
// doubtful candidates, which runs `looks` more passes), BM_detect_cnn_one: the whole-image pass alone,
// BM_detect_cnn_tiles: with tiles = 1; each layer's rows on all cores, on the same photos; BM_detect_cnn_one_avx2
// (machines with AVX-512 only): the whole-image pass on the AVX2 kernels; BM_detect_cnn_own_size (photos under
// 512 px): the pass at the photo's own size, not stretched to 512. BM_fma_peak: this core's fp32 FMA
// peak (bench/fma_peak.hpp), the baseline of the cnn's arithmetic rate: BM_detect_cnn_one's (and _avx2's)
// `GFLOPs` and `of_peak` are one pass's arithmetic over the CPU time of all its threads.
#include <benchmark/benchmark.h>

#include <time.h>

#include <algorithm>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <dlib/opencv/cv_image.h>

#include "bench_common.hpp"
#include "fma_peak.hpp"
#include "faceapp/detail/detect_impl.hpp"
#include "faceapp/stages/detect.hpp"
#include "faceapp/stages/read.hpp"

namespace {

/// Three photos of tests/data/faces, small to large.
const std::vector<std::string> photos = {"obama_1.jpg", "lin_manuel_miranda_1.png", "alex_lacamoire_3.jpg"};

faceapp::image load(const std::string& file) {
  auto img = faceapp::read(faceapp::bench::data_file("faces/" + file).string());
  if (!img) throw std::runtime_error(img.error().what());
  return *img;
}

double cpu_ms(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

/// CPU time per detection: of this thread and of the whole process. On a machine busy with other work the
/// wall-clock speedup is not visible; max(this thread, the rest) is the parallel scan's critical path, which
/// is what the wall clock shows on idle cores.
struct cpu_meter {
  double thread_ms = 0;
  double process_ms = 0;
  template <class F>
  void measure(F&& f) {
    const double t0 = cpu_ms(CLOCK_THREAD_CPUTIME_ID);
    const double p0 = cpu_ms(CLOCK_PROCESS_CPUTIME_ID);
    f();
    thread_ms += cpu_ms(CLOCK_THREAD_CPUTIME_ID) - t0;
    process_ms += cpu_ms(CLOCK_PROCESS_CPUTIME_ID) - p0;
  }
  void report(benchmark::State& state) const {
    const auto n = static_cast<double>(state.iterations());
    state.counters["cpu_total_ms"] = process_ms / n;
    state.counters["cpu_critical_ms"] = std::max(thread_ms, process_ms - thread_ms) / n;
  }
};

std::string size_label(const faceapp::image& img) {
  return std::to_string(img.width()) + "x" + std::to_string(img.height());
}

/// The library's path: detail::hog_detect, what the detect stage runs.
void BM_detect(benchmark::State& state, const std::string& file, int upsample) {
  const auto img = load(file);
  std::size_t found = 0;
  cpu_meter cpu;
  for (auto _ : state) {
    cpu.measure([&] {
      const auto dets = faceapp::detail::hog_detect(img, upsample);
      found = dets.size();
      benchmark::DoNotOptimize(dets.data());
    });
  }
  cpu.report(state);
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(size_label(img) + ", " + std::to_string(found) + " faces");
  faceapp::bench::report_peak_rss(state);
}

/// The baseline: dlib's frontal face detector on one thread, upsampled the same way.
void BM_detect_dlib(benchmark::State& state, const std::string& file, int upsample) {
  const auto img = load(file);
  const dlib::cv_image<dlib::rgb_pixel> view(img.pixels);
  dlib::frontal_face_detector detector = dlib::get_frontal_face_detector();
  std::size_t found = 0;
  cpu_meter cpu;
  for (auto _ : state) {
    cpu.measure([&] {
      std::vector<dlib::rect_detection> dets;
      if (upsample == 0) {
        detector(view, dets, 0.0);
      } else {
        dlib::pyramid_down<2> pyr;
        dlib::array2d<dlib::rgb_pixel> up;
        dlib::pyramid_up(view, up, pyr);
        for (int i = 1; i < upsample; ++i) dlib::pyramid_up(up, pyr);
        detector(up, dets, 0.0);
        for (auto& d : dets) d.rect = pyr.rect_down(d.rect, static_cast<unsigned>(upsample));
      }
      found = dets.size();
      benchmark::DoNotOptimize(dets.data());
    });
  }
  cpu.report(state);
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(size_label(img) + ", " + std::to_string(found) + " faces");
  faceapp::bench::report_peak_rss(state);
}

/// The cnn detector: detail::cnn_detect, what detect(faceapp::cnn, tiles) runs (with `second_look`), on the
/// thread's engine, or on one of the same threads forced to `level` (BM_detect_cnn_one_avx2: the AVX2 kernels
/// on a machine that has AVX-512, against the same peak).
void BM_detect_cnn(benchmark::State& state, const std::string& file, int tiles, bool second_look,
                   std::optional<faceapp::detail::simd_level> level) {
  const auto img = load(file);
  const auto& model = faceapp::default_cnn_detector_model();
  if (!model) {
    state.SkipWithError(model.error().what().c_str());
    return;
  }
  std::optional<faceapp::detail::ssd::engine> forced;
  if (level) {
    forced.emplace(faceapp::detail::ssd::fold(faceapp::detail::ssd::read_weight_file(model->file())), *level);
    forced->set_threads(model->for_this_thread().threads());
  }
  auto& engine = forced ? *forced : model->for_this_thread();
  std::size_t found = 0;
  cpu_meter cpu;
  for (auto _ : state) {
    cpu.measure([&] {
      const auto dets = faceapp::detail::cnn_detect(img, engine, tiles, second_look);
      found = dets.size();
      benchmark::DoNotOptimize(dets.data());
    });
  }
  cpu.report(state);
  if (tiles == 0 && !second_look) {  // one whole-image pass: its arithmetic per CPU second of all threads
    faceapp::bench::report_flops(state, engine.forward_flops() * static_cast<double>(state.iterations()),
                                 cpu.process_ms / 1e3);
  }
  if (tiles == 0 && second_look) {  // the second look's extra passes on this photo, counted outside the timing
    auto candidates = engine.detect(img.pixels.data, img.pixels.cols, img.pixels.rows, img.pixels.step,
                                    faceapp::detail::cnn_doubtful_score);
    state.counters["looks"] = faceapp::detail::cnn_second_look(img.pixels, engine, candidates);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(size_label(img) + ", " + std::to_string(found) + " faces, " +
                 faceapp::detail::simd_level_name(engine.level()));
  faceapp::bench::report_peak_rss(state);
}

/// The network's pass at a photo's own size (a photo under 512 px, not stretched to 512: ssd::grid_anchors), on
/// the thread's engine: what the smaller input costs against BM_detect_cnn_one's pass on the same photo.
void BM_detect_cnn_own_size(benchmark::State& state, const std::string& file) {
  const auto img = load(file);
  const auto& model = faceapp::default_cnn_detector_model();
  if (!model) {
    state.SkipWithError(model.error().what().c_str());
    return;
  }
  auto& engine = model->for_this_thread();
  engine.set_threads(std::max(1U, std::thread::hardware_concurrency()));  // as cnn_detect does off a pool
  const cv::Mat& px = img.pixels;
  const int side = std::max(px.cols, px.rows);
  std::size_t found = 0;
  cpu_meter cpu;
  for (auto _ : state) {
    cpu.measure([&] {
      const auto dets = engine.detect(px.data, px.cols, px.rows, px.step, 0.5F, 100, side);
      found = dets.size();
      benchmark::DoNotOptimize(dets.data());
    });
  }
  cpu.report(state);
  faceapp::bench::report_flops(state, engine.forward_flops(side) * static_cast<double>(state.iterations()),
                               cpu.process_ms / 1e3);
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(size_label(img) + ", " + std::to_string(found) + " faces, " +
                 faceapp::detail::simd_level_name(engine.level()));
}

std::string stem(const std::string& file) { return file.substr(0, file.find('.')); }

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // CPU time: the cnn's figure is its arithmetic per CPU second of all its threads against this.
  benchmark::RegisterBenchmark("BM_fma_peak", faceapp::bench::fma_peak_benchmark)->Arg(0)->Arg(1);
  for (const auto& file : photos) {
    benchmark::RegisterBenchmark(("BM_detect_dlib/" + stem(file)).c_str(), BM_detect_dlib, file, 1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("BM_detect/" + stem(file)).c_str(), BM_detect, file, 1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("BM_detect_cnn_one/" + stem(file)).c_str(), BM_detect_cnn, file, 0, false,
                                 std::nullopt)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    if (faceapp::detail::best_simd_level() == faceapp::detail::simd_level::avx512) {
      benchmark::RegisterBenchmark(("BM_detect_cnn_one_avx2/" + stem(file)).c_str(), BM_detect_cnn, file, 0, false,
                                   faceapp::detail::simd_level::avx2)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
    if (std::max(load(file).pixels.cols, load(file).pixels.rows) < faceapp::detail::ssd::input_size) {
      benchmark::RegisterBenchmark(("BM_detect_cnn_own_size/" + stem(file)).c_str(), BM_detect_cnn_own_size, file)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
    benchmark::RegisterBenchmark(("BM_detect_cnn/" + stem(file)).c_str(), BM_detect_cnn, file, 0, true, std::nullopt)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("BM_detect_cnn_tiles/" + stem(file)).c_str(), BM_detect_cnn, file, 1, true,
                                 std::nullopt)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
