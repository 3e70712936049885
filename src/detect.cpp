// faceapp runtime: the face detectors (dlib's HOG, the cnn), the landmark model and the cnn model's loading,
// behind the detect and landmarks stages.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/opencv/cv_image.h>

#include "faceapp/detail/detect_impl.hpp"
#include "faceapp/detail/ssd_detector.hpp"
#include "faceapp/models/models.hpp"
#include "faceapp/stages/detect.hpp"
#include "faceapp/stages/landmarks.hpp"

namespace faceapp {

dlib::frontal_face_detector& thread_face_detector() {
  thread_local dlib::frontal_face_detector detector = dlib::get_frontal_face_detector();
  return detector;
}

result<landmark_model> landmark_model::load(const std::filesystem::path& file) {
  try {
    auto sp = std::make_shared<dlib::shape_predictor>();
    dlib::deserialize(file.string()) >> *sp;
    if (sp->num_parts() != 5 && sp->num_parts() != 68) {
      return fail("models", file.string(),
                  "a shape predictor with " + std::to_string(sp->num_parts()) + " parts; expected 5 or 68");
    }
    const std::size_t points = sp->num_parts();
    return landmark_model(std::move(sp), points, file);
  } catch (const std::exception& e) {
    return fail("models", file.string(), std::string("cannot load the landmark model: ") + e.what());
  }
}

result<cnn_detector_model> cnn_detector_model::load(const std::filesystem::path& file) {
  try {
    return cnn_detector_model(detail::ssd::fold(detail::ssd::read_weight_file(file)), file);
  } catch (const std::exception& e) {
    return fail("models", file.string(), std::string("cannot load the cnn face detector: ") + e.what());
  }
}

detail::ssd::engine& cnn_detector_model::for_this_thread() const {
  struct entry {
    std::weak_ptr<const detail::ssd::weights> weights;
    std::unique_ptr<detail::ssd::engine> engine;
  };
  thread_local std::vector<entry> engines;
  for (auto& e : engines) {
    if (!e.weights.owner_before(weights_) && !weights_.owner_before(e.weights)) return *e.engine;
  }
  std::erase_if(engines, [](const entry& e) { return e.weights.expired(); });
  engines.push_back({weights_, std::make_unique<detail::ssd::engine>(weights_)});
  return *engines.back().engine;
}

namespace detail {

faces detect_faces(const image& img, int upsample) {
  faces out;
  out.image = img;
  for (const auto& d : hog_detect(img, upsample)) {
    face f;
    f.box_in_image = to_box(d.rect, img.width(), img.height());
    f.box = img.to_original(f.box_in_image);
    f.score = {d.detection_confidence, hog};
    out.items.push_back(std::move(f));
  }
  return out;
}

faces cnn_detect_faces(const image& img, const cnn_detector_model& model, int tiles, bool second_look) {
  faces out;
  out.image = img;
  for (const auto& d : cnn_detect(img, model.for_this_thread(), tiles, second_look)) {
    face f;
    f.box_in_image = cnn_box_to_hog(d, img.width(), img.height());
    // A sliver at the border, once clipped to the image, is no face box.
    if (f.box_in_image.right - f.box_in_image.left < 2 || f.box_in_image.bottom - f.box_in_image.top < 2) continue;
    f.box = img.to_original(f.box_in_image);
    f.score = {d.score, cnn};
    out.items.push_back(std::move(f));
  }
  return out;
}


void add_landmarks(faces& found, const landmark_model& model) {
  const dlib::cv_image<dlib::rgb_pixel> view(found.image.pixels);
  for (auto& f : found.items) {
    const auto shape = model.predictor()(view, to_rectangle(f.box_in_image));
    f.landmarks_in_image.clear();
    f.landmarks.clear();
    for (unsigned long i = 0; i < shape.num_parts(); ++i) {
      const point p{static_cast<float>(shape.part(i).x()), static_cast<float>(shape.part(i).y())};
      f.landmarks_in_image.push_back(p);
      f.landmarks.push_back(found.image.to_original(p));
    }
  }
}

}  // namespace detail

}  // namespace faceapp
