// faceapp stages `distance_to(reference)` and `compare(tolerance)`: encoded_faces -> encoded_faces.
#pragma once

#include <concepts>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "faceapp/core/chunked_gallery.hpp"
#include "faceapp/core/encoding.hpp"
#include "faceapp/core/gallery.hpp"
#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"
#include "faceapp/faces.hpp"

namespace faceapp {

/// A match tolerance given as any arithmetic value: `compare(1)`, `compare(0.5)` and `compare(0.5F)` all work.
struct tolerance_value {
  float value = default_tolerance;

  constexpr tolerance_value() = default;
  template <class T>
    requires std::is_arithmetic_v<T> && (!std::same_as<T, bool>)
  constexpr tolerance_value(T t) : value(static_cast<float>(t)) {}  // NOLINT: implicit, it is only a number
};

namespace detail {

/// distance_to's reference when it is one encoding: the Euclidean distance to it.
struct encoding_reference {
  encoding reference;
  void score(encoded_face& f) const {
    f.distance = distance(f.encoding, reference);
    f.name.clear();
  }
};

/// distance_to's reference when it is a gallery (`gallery`, or `chunked_gallery::view`, a snapshot of a growing
/// one): the distance to the nearest entry, and its name. The pointer owns the gallery (or shares it) unless it
/// was made from std::cref(g), which borrows. A snapshot is the rows of the moment it was taken.
template <class Known>
struct gallery_reference {
  std::shared_ptr<const Known> known;
  void score(encoded_face& f) const {
    if (const auto hit = known->nearest(f.encoding)) {
      f.distance = hit->distance;
      if constexpr (requires { hit->row; }) {
        f.name = std::string(known->name(hit->row));
      } else {
        f.name = std::string(known->name(hit->index));
      }
    } else {
      f.distance.reset();
      f.name.clear();
    }
  }
};

}  // namespace detail

/// `distance_to(reference, tolerance = 0.6)`: encoded_faces -> the same faces with `distance` and `match` set.
///  - reference an encoding (or an encoded_face): Euclidean distance of every face to it;
///  - reference a gallery of named encodings (a `gallery`, or a snapshot of a `chunked_gallery`): distance to
///    the nearest entry, whose name goes into `name` (an empty gallery leaves distance unset and match false).
///    `distance_to(std::cref(g))` borrows `g`, which must then outlive the stage; `distance_to(shared_ptr)`
///    shares it; `distance_to(std::move(g))` owns it; `distance_to(g.snapshot())` keeps that snapshot.
/// `match` is distance <= tolerance; `compare(t)` re-decides it with another tolerance. Which kind of
/// reference it is was decided when the stage was made: the type says it. Thread-safe.
/// Example: `read | encode | distance_to(known, 0.5)`.
template <class Reference>
struct distance_to_stage : stage_base<distance_to_stage<Reference>> {
  using input_type = encoded_faces;
  using output_type = encoded_faces;
  static constexpr const char* name = "distance_to";

  Reference reference;
  float tolerance = default_tolerance;

  [[nodiscard]] result<encoded_faces> run(const encoded_faces& in) const { return run(encoded_faces(in)); }
  [[nodiscard]] result<encoded_faces> run(encoded_faces&& in) const {
    for (auto& f : in.items) {
      reference.score(f);
      f.match = f.distance.has_value() && *f.distance <= tolerance;
    }
    return std::move(in);
  }
};

struct distance_to_fn {
  using to_encoding = distance_to_stage<detail::encoding_reference>;
  using to_gallery = distance_to_stage<detail::gallery_reference<gallery>>;
  using to_snapshot = distance_to_stage<detail::gallery_reference<chunked_gallery::view>>;

  [[nodiscard]] to_encoding operator()(const encoding& reference, tolerance_value t = {}) const {
    return {{}, {reference}, t.value};
  }
  [[nodiscard]] to_encoding operator()(const encoded_face& reference, tolerance_value t = {}) const {
    return {{}, {reference.encoding}, t.value};
  }
  /// Shares the gallery; a null pointer is an empty gallery.
  [[nodiscard]] to_gallery operator()(std::shared_ptr<const gallery> known, tolerance_value t = {}) const {
    if (!known) known = std::make_shared<const gallery>();
    return {{}, {std::move(known)}, t.value};
  }
  /// A snapshot of a growing gallery; the stage keeps it (later adds are not seen by this stage). A null pointer
  /// is an empty gallery.
  [[nodiscard]] to_snapshot operator()(std::shared_ptr<const chunked_gallery::view> known,
                                       tolerance_value t = {}) const {
    if (!known) known = chunked_gallery{}.snapshot();
    return {{}, {std::move(known)}, t.value};
  }
  /// Borrows: `g` must outlive the stage.
  [[nodiscard]] to_gallery operator()(std::reference_wrapper<const gallery> g, tolerance_value t = {}) const {
    return {{}, {std::shared_ptr<const gallery>(std::shared_ptr<const gallery>{}, &g.get())}, t.value};
  }
  [[nodiscard]] to_gallery operator()(std::reference_wrapper<gallery> g, tolerance_value t = {}) const {
    return (*this)(std::cref(g.get()), t);
  }
  /// Owns the gallery it is given.
  [[nodiscard]] to_gallery operator()(gallery&& g, tolerance_value t = {}) const {
    return (*this)(std::make_shared<const gallery>(std::move(g)), t);
  }
  /// A gallery lvalue is not taken silently by reference: write `distance_to(std::cref(g))` to borrow it (it
  /// must outlive the stage), or pass a shared_ptr or an rvalue to give the stage a share or the gallery itself.
  void operator()(const gallery& g, tolerance_value t = {}) const = delete;
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
    return run(encoded_faces(in));
  }
  [[nodiscard]] result<encoded_faces> run(encoded_faces&& in) const {
    if (!(tolerance >= 0)) return fail(name, in.source(), "tolerance must be >= 0");
    for (auto& f : in.items) f.match = f.distance.has_value() && *f.distance <= tolerance;
    return std::move(in);
  }
};

struct compare_fn : compare_stage {
  using compare_stage::operator();
  [[nodiscard]] constexpr compare_stage operator()(tolerance_value t) const { return compare_stage{{}, t.value}; }
};

/// Match decision at the default tolerance 0.6; `compare(0.5)` for a stricter one.
inline constexpr compare_fn compare{};

}  // namespace faceapp
