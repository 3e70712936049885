// faceapp: the faces found in an image, as they flow from detect to record.
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "faceapp/core/encoding.hpp"
#include "faceapp/core/geometry.hpp"
#include "faceapp/image.hpp"

namespace faceapp {

/// The face detectors: dlib's HOG frontal face detector, or the cnn (SSD MobileNetV1, trained on WIDER FACE).
enum class detector_model { hog, cnn };
inline constexpr detector_model hog = detector_model::hog;
inline constexpr detector_model cnn = detector_model::cnn;

/// How sure a detector is of a face, on that detector's own scale, and which detector it was: HOG's is the SVM
/// margin (unbounded, >= 0 for what it reports), the cnn's a probability in (0, 1]. The two are not one scale:
/// compare scores of one detector only.
struct detection_score {
  double value = 0;
  detector_model detector = hog;
  friend bool operator==(const detection_score&, const detection_score&) = default;
};

/// A detected face. `box` and `landmarks` are in the coordinates of the image as read; `box_in_image` is the same
/// box in the pixels the detector saw (after resize), which later stages work on.
struct face {
  faceapp::box box;
  faceapp::box box_in_image;
  detection_score score;            // higher is surer, on the scale of the detector that found it
  std::vector<point> landmarks;     // 5 or 68 points once `landmarks` ran; empty before
  std::vector<point> landmarks_in_image;
};

/// A face with its 128-D encoding and, after distance_to / compare, how it relates to the reference.
struct encoded_face : face {
  faceapp::encoding encoding;
  std::optional<float> distance;  // to the reference, or to the nearest gallery entry
  std::string name;               // the nearest gallery entry's name (distance_to(gallery))
  std::optional<bool> match;      // distance <= tolerance
  std::optional<std::size_t> cluster;  // the cluster `assign` put it in
  std::optional<std::size_t> track;  // the tracker's track this face joined (track(tracker), stages/track.hpp)
};

/// The faces of one image, in the detector's order, with the image they were found in. Behaves like a
/// read-only vector of faces. No face is an empty list, not an error.
template <class Face>
struct basic_faces {
  faceapp::image image;
  std::vector<Face> items;

  [[nodiscard]] std::size_t size() const noexcept { return items.size(); }
  [[nodiscard]] bool empty() const noexcept { return items.empty(); }
  [[nodiscard]] const Face& at(std::size_t i) const { return items.at(i); }
  [[nodiscard]] const Face& operator[](std::size_t i) const noexcept { return items[i]; }
  [[nodiscard]] auto begin() const noexcept { return items.begin(); }
  [[nodiscard]] auto end() const noexcept { return items.end(); }
  [[nodiscard]] const std::string& source() const noexcept { return image.source; }

  /// Index of the face with the largest box, or nothing when there is none.
  [[nodiscard]] std::optional<std::size_t> largest() const noexcept {
    if (items.empty()) return std::nullopt;
    const auto it = std::max_element(items.begin(), items.end(),
                                     [](const Face& a, const Face& b) { return a.box.area() < b.box.area(); });
    return static_cast<std::size_t>(it - items.begin());
  }
};

using faces = basic_faces<face>;
using encoded_faces = basic_faces<encoded_face>;

template <class Face>
std::string describe(const basic_faces<Face>& f) {
  return f.image.source;
}

/// face_recognition's named landmark groups (chin, left_eye, ...). 68-point shapes give all nine groups,
/// 5-point shapes give nose_tip, left_eye and right_eye, as face_recognition's model="small" does.
inline std::map<std::string, std::vector<point>> landmark_groups(const face& f) {
  const auto& p = f.landmarks;
  const auto pick = [&](std::initializer_list<int> idx) {
    std::vector<point> out;
    for (int i : idx) out.push_back(p.at(static_cast<std::size_t>(i)));
    return out;
  };
  const auto range = [&](int first, int last) {
    std::vector<point> out(p.begin() + first, p.begin() + last);
    return out;
  };
  std::map<std::string, std::vector<point>> g;
  if (p.size() == 68) {
    g["chin"] = range(0, 17);
    g["left_eyebrow"] = range(17, 22);
    g["right_eyebrow"] = range(22, 27);
    g["nose_bridge"] = range(27, 31);
    g["nose_tip"] = range(31, 36);
    g["left_eye"] = range(36, 42);
    g["right_eye"] = range(42, 48);
    g["top_lip"] = pick({48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60});
    g["bottom_lip"] = pick({54, 55, 56, 57, 58, 59, 48, 60, 67, 66, 65, 64});
  } else if (p.size() == 5) {
    g["nose_tip"] = pick({4});
    g["left_eye"] = pick({2, 3});
    g["right_eye"] = pick({0, 1});
  } else if (!p.empty()) {
    throw std::invalid_argument("landmark_groups: expected 5 or 68 points, got " + std::to_string(p.size()));
  }
  return g;
}

}  // namespace faceapp
