// faceapp stages `distance_to(reference)` and `compare(tolerance)`: encoded_faces -> encoded_faces.
#pragma once

#include <concepts>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "faceapp/core/encoding.hpp"
#include "faceapp/core/gallery.hpp"
#include "faceapp/core/keep.hpp"
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
  void score(encoded_face& f, const encoding_reference&) const {
    f.distance = distance(f.encoding, reference);
    f.name.clear();
  }
  [[nodiscard]] const encoding_reference& view() const noexcept { return *this; }
};

/// distance_to's reference when it is a gallery: the distance to the nearest live entry, and its name. `live` is
/// a gallery, borrowed or owned (core/keep.hpp), read through the snapshot of the moment of each call, so a
/// borrowed gallery's later adds are seen; `fixed` is one snapshot, kept as it was.
struct gallery_reference {
  std::shared_ptr<const gallery> live;
  std::shared_ptr<const gallery::view> fixed;

  /// All faces of one input in one pass over the gallery (gallery::view::nearest_each).
  void score_all(std::vector<encoded_face>& faces, const gallery::view& known) const {
    std::vector<encoding> queries;
    queries.reserve(faces.size());
    for (const auto& f : faces) queries.push_back(f.encoding);
    const auto hits = known.nearest_each(queries);
    for (std::size_t i = 0; i < faces.size(); ++i) {
      if (hits[i]) {
        faces[i].distance = hits[i]->distance;
        faces[i].name = std::string(known.name(hits[i]->row));
      } else {
        faces[i].distance.reset();
        faces[i].name.clear();
      }
    }
  }
  /// The view every face of one input is scored against.
  [[nodiscard]] std::shared_ptr<const gallery::view> view() const { return fixed ? fixed : live->snapshot(); }
};

}  // namespace detail

/// `distance_to(reference, tolerance = 0.6)`: encoded_faces -> the same faces with `distance` and `match` set.
///  - reference an encoding (or an encoded_face): Euclidean distance of every face to it;
///  - reference a gallery: distance to the nearest live entry, whose name goes into `name` (an empty gallery
///    leaves distance unset and match false). The gallery is kept by the rule of std::views::all
///    (core/keep.hpp): `distance_to(known)` borrows an lvalue, which must outlive the stage, and sees its later
///    adds and erasures (each input is scored against the snapshot of that moment); `distance_to(std::move(g))`
///    owns it; `std::cref(g)` borrows; a shared_ptr shares; `distance_to(g.snapshot())` keeps that snapshot.
/// `match` is distance <= tolerance; `compare(t)` re-decides it with another tolerance. Thread-safe.
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
    const auto& known = reference.view();
    if constexpr (requires { reference.score_all(in.items, known_of(known)); }) {
      reference.score_all(in.items, known_of(known));
    } else {
      for (auto& f : in.items) reference.score(f, known_of(known));
    }
    for (auto& f : in.items) {
      f.match = f.distance.has_value() && *f.distance <= tolerance;
    }
    return std::move(in);
  }

 private:
  template <class V>
  static const auto& known_of(const std::shared_ptr<V>& v) noexcept {
    return *v;
  }
  template <class V>
  static const V& known_of(const V& v) noexcept {
    return v;
  }
};

struct distance_to_fn : detail::stage_factory_base {
  struct distance_to_is_a_stage_factory_call_it_with_a_reference_eg_distance_to_known;
  using call_it_first = distance_to_is_a_stage_factory_call_it_with_a_reference_eg_distance_to_known;

  using to_encoding = distance_to_stage<detail::encoding_reference>;
  using to_gallery = distance_to_stage<detail::gallery_reference>;

  [[nodiscard]] to_encoding operator()(const encoding& reference, tolerance_value t = {}) const {
    return {{}, {reference}, t.value};
  }
  [[nodiscard]] to_encoding operator()(const encoded_face& reference, tolerance_value t = {}) const {
    return {{}, {reference.encoding}, t.value};
  }
  /// A gallery lvalue is borrowed (it must outlive the stage), an rvalue moved in and owned.
  template <class G>
    requires std::same_as<std::remove_cvref_t<G>, gallery>
  [[nodiscard]] to_gallery operator()(G&& g, tolerance_value t = {}) const {
    if constexpr (std::is_lvalue_reference_v<G>) {
      return {{}, {detail::keep(std::as_const(g)), nullptr}, t.value};
    } else {
      return {{}, {detail::keep(std::move(g)), nullptr}, t.value};
    }
  }
  /// Borrows, and says so at the call site.
  [[nodiscard]] to_gallery operator()(std::reference_wrapper<const gallery> g, tolerance_value t = {}) const {
    return {{}, {detail::keep(g), nullptr}, t.value};
  }
  [[nodiscard]] to_gallery operator()(std::reference_wrapper<gallery> g, tolerance_value t = {}) const {
    return (*this)(std::cref(g.get()), t);
  }
  /// Shares the gallery; a null pointer is an empty gallery.
  [[nodiscard]] to_gallery operator()(std::shared_ptr<const gallery> known, tolerance_value t = {}) const {
    if (!known) known = std::make_shared<const gallery>();
    return {{}, {std::move(known), nullptr}, t.value};
  }
  [[nodiscard]] to_gallery operator()(std::shared_ptr<gallery> known, tolerance_value t = {}) const {
    return (*this)(std::shared_ptr<const gallery>(std::move(known)), t);
  }
  /// One snapshot, kept as it is (later adds are not seen by this stage); a null pointer is an empty gallery.
  [[nodiscard]] to_gallery operator()(std::shared_ptr<const gallery::view> known, tolerance_value t = {}) const {
    if (!known) known = gallery{}.snapshot();
    return {{}, {nullptr, std::move(known)}, t.value};
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
