// The face encoder, in chips per second: the library's engine (what the encode stage runs) against dlib's own
// network with its BLAS, on chips of the same face, in the same run. Wall-clock time: both use every core.
// BM_fma_peak is this core's fp32 FMA peak; each encoder figure also reads as work per second against it: the
// direct convolutions of one chip are 0.542 GFLOP (multiply-adds counted as 2), so the direct-convolution
// ceiling is peak / 0.542 GFLOP chips per second and `of_peak` (chips/s x 0.542 GFLOP / peak) is the fraction
// of that ceiling a figure reaches, per CPU second (the engine runs on the calling thread; dlib's figures count
// all of its threads). Winograd layers do less arithmetic than they are credited with, which is
// how a figure can pass 1.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <dlib/dnn.h>
#include <dlib/image_processing.h>
#include <dlib/opencv/cv_image.h>

#include "bench_common.hpp"
#include "fma_peak.hpp"
#include "faceapp/detail/detect_impl.hpp"
#include "faceapp/detail/encoder_weights_dlib.hpp"
#include "faceapp/detail/fast_encoder.hpp"
#include "faceapp/models/models.hpp"
#include "faceapp/models/network.hpp"
#include "faceapp/stages/detect.hpp"
#include "faceapp/stages/encode.hpp"
#include "faceapp/stages/landmarks.hpp"
#include "faceapp/stages/read.hpp"

namespace {

/// The direct convolutions' arithmetic of one chip, the yardstick: 0.542 GFLOP.
constexpr double direct_flops_per_chip = 0.542e9;

/// The one face of a photo with its landmarks, repeated `n` times: n faces of one image, which the encode
/// stage encodes in one batch.
const faceapp::faces& faces_of(std::size_t n) {
  static const faceapp::faces one = [] {
    auto found = (faceapp::read | faceapp::detect | faceapp::landmarks)(
        faceapp::bench::data_file("faces/obama_1.jpg").string());
    if (!found) throw std::runtime_error(found.error().what());
    if (found->size() != 1) throw std::runtime_error("expected one face in obama_1.jpg");
    return *found;
  }();
  static std::map<std::size_t, faceapp::faces> made;
  auto& f = made[n];
  if (f.size() != n) {
    f = one;
    f.items.assign(n, one.items.front());
  }
  return f;
}

/// The library's path from faces with landmarks to encodings: chip extraction and the engine encode uses.
void encode_library(benchmark::State& state, std::size_t chips) {
  const auto& found = faces_of(chips);
  const auto stage = faceapp::encode;
  if (auto warm = stage.run(found); !warm) {  // loads the model and makes this thread's working copy
    state.SkipWithError(warm.error().what().c_str());
    return;
  }
  const double cpu0 = faceapp::bench::cpu_seconds();  // the engine runs on this thread
  for (auto _ : state) {
    auto encoded = stage.run(found);
    benchmark::DoNotOptimize(encoded);
  }
  const double cpu = faceapp::bench::cpu_seconds() - cpu0;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * chips));
  faceapp::bench::report_flops(state, static_cast<double>(state.iterations() * chips) * direct_flops_per_chip, cpu);
  faceapp::bench::report_peak_rss(state);
}

void BM_encode_chip(benchmark::State& state) { encode_library(state, 1); }
void BM_encode_batch(benchmark::State& state) { encode_library(state, static_cast<std::size_t>(state.range(0))); }

/// The baseline: dlib's network as dlib's example and face_recognition run it, on the same chips.
void encode_dlib(benchmark::State& state, std::size_t chips) {
  const auto file = faceapp::models::find_model_file(faceapp::models::encoder_file);
  if (!file) {
    state.SkipWithError(file.error().what().c_str());
    return;
  }
  faceapp::models::encoder_net net;
  dlib::deserialize(file->string()) >> net;
  const auto& found = faces_of(chips);
  std::vector<dlib::chip_details> where;
  for (const auto& f : found) where.push_back(dlib::get_face_chip_details(faceapp::detail::to_shape(f), 150, 0.25));
  dlib::array<dlib::matrix<dlib::rgb_pixel>> batch;
  dlib::extract_image_chips(dlib::cv_image<dlib::rgb_pixel>(found.image.pixels), where, batch);
  benchmark::DoNotOptimize(net(batch, batch.size()));  // warm-up: first-call allocations
  const double cpu0 = faceapp::bench::cpu_seconds(true);  // the BLAS may run threads of its own
  for (auto _ : state) {
    auto d = net(batch, batch.size());
    benchmark::DoNotOptimize(d.data());
  }
  const double cpu = faceapp::bench::cpu_seconds(true) - cpu0;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * chips));
  faceapp::bench::report_flops(state, static_cast<double>(state.iterations() * chips) * direct_flops_per_chip, cpu);
  faceapp::bench::report_peak_rss(state);
}

void BM_encode_dlib_chip(benchmark::State& state) { encode_dlib(state, 1); }
void BM_encode_dlib_batch(benchmark::State& state) { encode_dlib(state, static_cast<std::size_t>(state.range(0))); }

/// 150x150 chips of the bench face, cut as the encode stage cuts them: the engine's input alone.
const dlib::array<dlib::matrix<dlib::rgb_pixel>>& chips_of(std::size_t n) {
  static std::map<std::size_t, dlib::array<dlib::matrix<dlib::rgb_pixel>>> made;
  auto& c = made[n];
  if (c.size() != n) {
    const auto& found = faces_of(n);
    std::vector<dlib::chip_details> where;
    for (const auto& f : found) where.push_back(dlib::get_face_chip_details(faceapp::detail::to_shape(f), 150, 0.25));
    dlib::extract_image_chips(dlib::cv_image<dlib::rgb_pixel>(found.image.pixels), where, c);
  }
  return c;
}

/// The engine alone, no detection, landmarks or chip cutting: range(0) chips in one call, on the best kernel path
/// (range(1) = 0) or AVX2 forced (1), its stride-1 3x3 layers run as range(2) says (0: automatic, 1: direct,
/// 2: F(2x2,3x3) wherever it applies, 3: F(4x4,3x3)). CPU time of the calling thread, which runs it all;
/// `of_peak` is the fraction of the direct-convolution ceiling (0.542 GFLOP a chip at BM_fma_peak).
void BM_encoder_engine(benchmark::State& state) {
  using engine_t = faceapp::detail::fast_encoder;
  const auto file = faceapp::models::find_model_file(faceapp::models::encoder_file);
  if (!file) {
    state.SkipWithError(file.error().what().c_str());
    return;
  }
  static const auto weights = faceapp::detail::load_encoder_weights(*file);
  const auto chips = static_cast<std::size_t>(state.range(0));
  const auto k = state.range(1) == 1 ? engine_t::kernel::avx2 : engine_t::kernel::automatic;
  static constexpr engine_t::convolution convs[] = {engine_t::convolution::automatic, engine_t::convolution::direct,
                                                     engine_t::convolution::winograd2, engine_t::convolution::winograd4};
  engine_t engine(weights, k, convs[state.range(2)]);
  const auto& input = chips_of(chips);
  benchmark::DoNotOptimize(engine.encode(input));  // warm-up: scratch allocations
  const double cpu0 = faceapp::bench::cpu_seconds();
  for (auto _ : state) {
    auto e = engine.encode(input);
    benchmark::DoNotOptimize(e.data());
  }
  const double cpu = faceapp::bench::cpu_seconds() - cpu0;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * chips));
  faceapp::bench::report_flops(state, static_cast<double>(state.iterations() * chips) * direct_flops_per_chip, cpu);
  static constexpr const char* conv_names[] = {"auto", "direct", "f2", "f4"};
  state.SetLabel(std::string(engine.kernel_name()) + " " + conv_names[state.range(2)]);
}

void engine_args(benchmark::internal::Benchmark* b) {
  for (const int chips : {1, 16}) {
    for (const int k : {0, 1}) {
      for (const int conv : {0, 1, 2, 3}) b->Args({chips, k, conv});
    }
  }
}

/// The engine's tile rule with layers of output side `Size` run as `Tile` says (0: direct, 2 or 4).
template <int Size, int Tile>
int tile_at(int size, int images) {
  return size == Size ? Tile : faceapp::detail::fast_encoder::winograd_tile(size, images);
}

template <int... Sizes>
constexpr auto tile_rules(std::integer_sequence<int, Sizes...> /*sizes*/) {
  return std::array<std::array<faceapp::detail::fast_encoder::tile_rule, 3>, sizeof...(Sizes)>{
      {{&tile_at<Sizes, 0>, &tile_at<Sizes, 2>, &tile_at<Sizes, 4>}...}};
}

/// The residual blocks' output sides, largest first.
constexpr int block_sizes[] = {35, 17, 8, 4, 2};

/// The whole engine as BM_encoder_engine times it (range(0) chips, range(1): best path or AVX2), automatic except
/// that the layers of side block_sizes[range(2)] run direct (range(3) = 0), F(2x2) (2) or F(4x4) (4): what the
/// choice of tile per layer size and batch (fast_encoder::winograd_tile) is made from, the whole pass's memory
/// traffic included.
void BM_encoder_engine_tile(benchmark::State& state) {
  using engine_t = faceapp::detail::fast_encoder;
  static constexpr auto rules = tile_rules(std::integer_sequence<int, 35, 17, 8, 4, 2>{});
  const auto file = faceapp::models::find_model_file(faceapp::models::encoder_file);
  if (!file) {
    state.SkipWithError(file.error().what().c_str());
    return;
  }
  static const auto weights = faceapp::detail::load_encoder_weights(*file);
  const auto chips = static_cast<std::size_t>(state.range(0));
  const auto k = state.range(1) == 1 ? engine_t::kernel::avx2 : engine_t::kernel::automatic;
  const auto size_index = static_cast<std::size_t>(state.range(2));
  const auto tile = state.range(3);
  engine_t engine(weights, k, rules.at(size_index).at(static_cast<std::size_t>(tile / 2)));
  const auto& input = chips_of(chips);
  benchmark::DoNotOptimize(engine.encode(input));  // warm-up: scratch allocations
  const double cpu0 = faceapp::bench::cpu_seconds();
  for (auto _ : state) {
    auto e = engine.encode(input);
    benchmark::DoNotOptimize(e.data());
  }
  const double cpu = faceapp::bench::cpu_seconds() - cpu0;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * chips));
  faceapp::bench::report_flops(state, static_cast<double>(state.iterations() * chips) * direct_flops_per_chip, cpu);
  state.SetLabel(std::string(engine.kernel_name()) + " " + std::to_string(block_sizes[size_index]) + ": " +
                 (tile == 0 ? "direct" : "F" + std::to_string(tile)));
}

void engine_tile_args(benchmark::internal::Benchmark* b) {
  for (const int chips : {1, 16}) {
    for (const int k : {0, 1}) {
      for (int size = 0; size < 5; ++size) {
        for (const int tile : {0, 2, 4}) b->Args({chips, k, size, tile});
      }
    }
  }
}

/// One residual-block convolution alone (range(0): its index, 0..27, two per block), run as `conv` says for a
/// batch of range(1) chips on the best kernel path: the per-layer figures the engine's choice of Winograd tile
/// (fast_encoder::winograd_tile) comes from. GFLOPs counts the direct convolution's arithmetic per CPU second.
void encoder_layer(benchmark::State& state, faceapp::detail::fast_encoder::convolution conv) {
  const auto file = faceapp::models::find_model_file(faceapp::models::encoder_file);
  if (!file) {
    state.SkipWithError(file.error().what().c_str());
    return;
  }
  static const auto weights = faceapp::detail::load_encoder_weights(*file);
  faceapp::detail::fast_encoder engine(weights, faceapp::detail::fast_encoder::kernel::automatic, conv);
  const auto index = static_cast<std::size_t>(state.range(0));
  const int images = static_cast<int>(state.range(1));
  if (index >= engine.layers()) {
    state.SkipWithError("no such layer");
    return;
  }
  if (conv != faceapp::detail::fast_encoder::convolution::direct && engine.layer_tile(index, images) == 0) {
    state.SkipWithError("direct: Winograd does not apply or is not chosen");
    return;
  }
  double flops = engine.run_layer_alone(index, images);  // warm-up: scratch allocations
  flops = 0;
  const double cpu0 = faceapp::bench::cpu_seconds();
  for (auto _ : state) flops += engine.run_layer_alone(index, images);
  faceapp::bench::report_flops(state, flops, faceapp::bench::cpu_seconds() - cpu0);
  state.SetLabel(engine.kernel_name());
}

void BM_encoder_layer_direct(benchmark::State& state) {
  encoder_layer(state, faceapp::detail::fast_encoder::convolution::direct);
}
void BM_encoder_layer_f2(benchmark::State& state) {
  encoder_layer(state, faceapp::detail::fast_encoder::convolution::winograd2);
}
void BM_encoder_layer_f4(benchmark::State& state) {
  encoder_layer(state, faceapp::detail::fast_encoder::convolution::winograd4);
}
void BM_encoder_layer_auto(benchmark::State& state) {
  encoder_layer(state, faceapp::detail::fast_encoder::convolution::automatic);
}

/// The first layer of each size (and, at 17, 8, 4 and 2, the stride-2 one into it), for 1 and 16 chips.
void layer_args(benchmark::internal::Benchmark* b) {
  for (const int images : {1, 16}) {
    for (const int layer : {0, 6, 7, 14, 15, 20, 21, 26, 27}) b->Args({layer, images});
  }
}

/// Loading the encoder's weights: dlib's deserialize of the network, then the fold (what the runtime did), against
/// the runtime's own reader of the same file (src/encoder_weights.cpp); the weights come out the same.
void BM_encoder_load_dlib(benchmark::State& state) {
  const auto file = faceapp::models::find_model_file(faceapp::models::encoder_file);
  if (!file) {
    state.SkipWithError(file.error().what().c_str());
    return;
  }
  for (auto _ : state) {
    auto net = std::make_unique<faceapp::models::encoder_net>();
    dlib::deserialize(file->string()) >> *net;
    benchmark::DoNotOptimize(faceapp::detail::fold_encoder_weights(*net));
  }
}
void BM_encoder_load(benchmark::State& state) {
  const auto file = faceapp::models::find_model_file(faceapp::models::encoder_file);
  if (!file) {
    state.SkipWithError(file.error().what().c_str());
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(faceapp::detail::load_encoder_weights(*file));
}

}  // namespace

// 0: the best level (what the encoder runs), 1: AVX2. CPU time, like the `of_peak` of the encoder figures.
BENCHMARK(faceapp::bench::fma_peak_benchmark)->Name("BM_fma_peak")->Arg(0)->Arg(1);
BENCHMARK(BM_encoder_engine)->Apply(engine_args)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encoder_engine_tile)->Apply(engine_tile_args)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encoder_layer_direct)->Apply(layer_args);
BENCHMARK(BM_encoder_layer_f2)->Apply(layer_args);
BENCHMARK(BM_encoder_layer_f4)->Apply(layer_args);
BENCHMARK(BM_encoder_layer_auto)->Apply(layer_args);
BENCHMARK(BM_encode_dlib_chip)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encode_chip)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encode_dlib_batch)->Arg(16)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encode_batch)->Arg(16)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encoder_load_dlib)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_encoder_load)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
