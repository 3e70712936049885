// faceapp stages `distance_to(reference)` and `compare(tolerance)`: encoded_faces -> encoded_faces.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <variant>

#include "faceapp/core/chunked_gallery.hpp"
#include "faceapp/core/encoding.hpp"
#include "faceapp/core/gallery.hpp"
#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"
#include "faceapp/faces.hpp"

namespace faceapp {

/// `distance_to(reference, tolerance = 0.6)`: encoded_faces -> the same faces with `distance` and `match` set.
///  - reference an encoding (or an encoded_face): Euclidean distance of every face to it;
///  - reference a gallery of named encodings (a `gallery`, or a snapshot of a `chunked_gallery`): distance to
///    the nearest entry, whose name goes into `name` (an empty gallery leaves distance unset and match false).
/// `match` is distance <= tolerance; `compare(t)` re-decides it with another tolerance.
/// A gallery passed by reference must outlive the stage; pass a shared_ptr to share ownership.
/// Thread-safe. Example: `read | encode | distance_to(known, 0.5)`.
struct distance_to_stage : stage_base<distance_to_stage> {
  using input_type = encoded_faces;
  using output_type = encoded_faces;
  static constexpr const char* name = "distance_to";

  std::variant<encoding, std::shared_ptr<const gallery>, std::shared_ptr<const chunked_gallery::view>> reference;
  float tolerance = default_tolerance;

  [[nodiscard]] result<encoded_faces> run(const encoded_faces& in) const {
    encoded_faces out = in;
    for (auto& f : out.items) {
      if (const auto* e = std::get_if<encoding>(&reference)) {
        f.distance = distance(f.encoding, *e);
        f.name.clear();
      } else if (const auto* g = std::get_if<1>(&reference)) {
        if (const auto hit = (*g)->nearest(f.encoding)) {
          f.distance = hit->distance;
          f.name = std::string((*g)->name(hit->index));
        } else {
          f.distance.reset();
          f.name.clear();
        }
      } else if (const auto hit = std::get<2>(reference)->nearest(f.encoding)) {
        f.distance = hit->distance;
        f.name = std::string(std::get<2>(reference)->name(hit->row));
      } else {
        f.distance.reset();
        f.name.clear();
      }
      f.match = f.distance.has_value() && *f.distance <= tolerance;
    }
    return out;
  }
};

struct distance_to_fn {
  [[nodiscard]] distance_to_stage operator()(const encoding& reference,
                                             float tolerance = default_tolerance) const {
    return {{}, reference, tolerance};
  }
  [[nodiscard]] distance_to_stage operator()(const encoded_face& reference,
                                             float tolerance = default_tolerance) const {
    return {{}, reference.encoding, tolerance};
  }
  [[nodiscard]] distance_to_stage operator()(std::shared_ptr<const gallery> known,
                                             float tolerance = default_tolerance) const {
    return {{}, std::move(known), tolerance};
  }
  /// A snapshot of a growing gallery; the stage keeps it (later adds are not seen by this stage).
  [[nodiscard]] distance_to_stage operator()(std::shared_ptr<const chunked_gallery::view> known,
                                             float tolerance = default_tolerance) const {
    return {{}, std::move(known), tolerance};
  }
  /// Does not copy the gallery: it must outlive the stage.
  [[nodiscard]] distance_to_stage operator()(const gallery& known, float tolerance = default_tolerance) const {
    return {{}, std::shared_ptr<const gallery>(std::shared_ptr<const gallery>{}, &known), tolerance};
  }
};

inline constexpr distance_to_fn distance_to{};

/// `compare(tolerance = 0.6)`: encoded_faces with distances -> match = distance <= tolerance.
/// A face without a distance (nothing in the gallery it was compared with) does not match. Thread-safe.
/// Example: `read | encode | distance_to(known) | compare(0.5)`.
struct compare_stage : stage_base<compare_stage> {
  using input_type = encoded_faces;
  using output_type = encoded_faces;
  static constexpr const char* name = "compare";

  float tolerance = default_tolerance;

  [[nodiscard]] result<encoded_faces> run(const encoded_faces& in) const {
    if (!(tolerance >= 0)) return fail(name, in.source(), "tolerance must be >= 0");
    encoded_faces out = in;
    for (auto& f : out.items) f.match = f.distance.has_value() && *f.distance <= tolerance;
    return out;
  }
};

struct compare_fn : compare_stage {
  using compare_stage::operator();
  [[nodiscard]] constexpr compare_stage operator()(float tolerance) const { return compare_stage{{}, tolerance}; }
  [[nodiscard]] constexpr compare_stage operator()(double tolerance) const {
    return compare_stage{{}, static_cast<float>(tolerance)};
  }
};

/// Match decision at the default tolerance 0.6; `compare(0.5)` for a stricter one.
inline constexpr compare_fn compare{};

}  // namespace faceapp
