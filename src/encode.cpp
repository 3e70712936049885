// faceapp runtime: the face encoder (its model, the engine per thread, chips and jitter), behind the encode stage.
// Reading the weights is in encoder_weights.cpp.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <dlib/image_transforms.h>
#include <dlib/image_processing.h>
#include <dlib/opencv/cv_image.h>

#include "faceapp/detail/detect_impl.hpp"
#include "faceapp/detail/fast_encoder.hpp"
#include "faceapp/models/encoder_engine.hpp"
#include "faceapp/models/models.hpp"
#include "faceapp/stages/encode.hpp"

namespace faceapp {

result<encoder_model> encoder_model::load(const std::filesystem::path& file) {
  try {
    auto engine = std::make_shared<const detail::fast_encoder>(detail::load_encoder_weights(file));
    return encoder_model(std::move(engine), file);
  } catch (const std::exception& e) {
    return fail("models", file.string(), std::string("cannot load the face encoder: ") + e.what());
  }
}

encoder_engine& encoder_model::for_this_thread() const {
  struct entry {
    std::weak_ptr<const detail::fast_encoder> prototype;
    std::unique_ptr<encoder_engine> copy;
  };
  thread_local std::vector<entry> copies;
  for (auto& e : copies) {
    if (!e.prototype.owner_before(engine_) && !engine_.owner_before(e.prototype)) return *e.copy;
  }
  std::erase_if(copies, [](const entry& e) { return e.prototype.expired(); });
  copies.push_back({engine_, std::make_unique<encoder_engine>(*engine_)});
  return *copies.back().copy;
}

namespace detail {

std::vector<encoding> encode_faces(const faces& found, const encoder_model& model, int jitters) {
  std::vector<encoding> out;
  if (found.empty()) return out;
  std::vector<dlib::chip_details> chip_locations;
  chip_locations.reserve(found.size());
  for (const auto& f : found.items) chip_locations.push_back(dlib::get_face_chip_details(to_shape(f), 150, 0.25));
  dlib::array<dlib::matrix<dlib::rgb_pixel>> chips;
  dlib::extract_image_chips(dlib::cv_image<dlib::rgb_pixel>(found.image.pixels), chip_locations, chips);

  auto& engine = model.for_this_thread();
  if (jitters <= 1) return engine.encode(chips);
  for (const auto& chip : chips) {
    dlib::rand rnd;
    std::vector<dlib::matrix<dlib::rgb_pixel>> crops;
    crops.reserve(static_cast<std::size_t>(jitters));
    for (int j = 0; j < jitters; ++j) crops.push_back(dlib::jitter_image(chip, rnd));
    encoding mean;  // dlib::mean(mat(ds)): a float sum in order, then one division
    for (const auto& e : engine.encode(crops)) {
      for (std::size_t i = 0; i < encoding_size; ++i) mean[i] += e[i];
    }
    for (auto& v : mean) v /= static_cast<float>(jitters);
    out.push_back(mean);
  }
  return out;
}

}  // namespace detail

}  // namespace faceapp
