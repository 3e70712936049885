// The whole path for one photo: read + detect (upsample 1) + landmarks + encode, the library's pipeline
// against the same steps written directly on OpenCV and dlib (what face_recognition does), in the same run.
#include <benchmark/benchmark.h>

#include <stdexcept>
#include <string>
#include <vector>

#include <dlib/dnn.h>
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/opencv/cv_image.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "bench_common.hpp"
#include "faceapp/faceapp.hpp"
#include "faceapp/models/network.hpp"

namespace {

const char* const photo = "faces/group_3.jpg";  // three faces

void BM_pipeline_image(benchmark::State& state) {
  const auto path = faceapp::bench::data_file(photo).string();
  const auto pipeline = faceapp::read | faceapp::encode;
  std::size_t faces = 0;
  if (auto warm = pipeline(path); !warm) {  // loads the models
    state.SkipWithError(warm.error().what().c_str());
    return;
  }
  for (auto _ : state) {
    auto r = pipeline(path);
    faces = r ? r->size() : 0;
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::to_string(faces) + " faces");
  faceapp::bench::report_peak_rss(state);
}

/// The baseline: imread, dlib's detector on one thread, the shape predictor, dlib's network.
void BM_pipeline_dlib_image(benchmark::State& state) {
  const auto path = faceapp::bench::data_file(photo).string();
  const auto landmark_file = faceapp::models::find_landmark_model();
  const auto encoder_file = faceapp::models::find_model_file(faceapp::models::encoder_file);
  if (!landmark_file || !encoder_file) {
    state.SkipWithError("models not found");
    return;
  }
  dlib::shape_predictor predictor;
  dlib::deserialize(landmark_file->string()) >> predictor;
  faceapp::models::encoder_net net;
  dlib::deserialize(encoder_file->string()) >> net;
  dlib::frontal_face_detector detector = dlib::get_frontal_face_detector();
  std::size_t faces = 0;
  for (auto _ : state) {
    cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    const dlib::cv_image<dlib::rgb_pixel> view(rgb);
    dlib::pyramid_down<2> pyr;
    dlib::array2d<dlib::rgb_pixel> up;
    dlib::pyramid_up(view, up, pyr);
    std::vector<dlib::rect_detection> dets;
    detector(up, dets, 0.0);
    std::vector<dlib::chip_details> where;
    for (auto& d : dets) {
      const auto shape = predictor(view, pyr.rect_down(d.rect));
      where.push_back(dlib::get_face_chip_details(shape, 150, 0.25));
    }
    dlib::array<dlib::matrix<dlib::rgb_pixel>> chips;
    dlib::extract_image_chips(view, where, chips);
    auto descriptors = net(chips, chips.size());
    faces = descriptors.size();
    benchmark::DoNotOptimize(descriptors.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::to_string(faces) + " faces");
  faceapp::bench::report_peak_rss(state);
}

}  // namespace

BENCHMARK(BM_pipeline_dlib_image)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_pipeline_image)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
