// faceapp: `cluster`, many faces at once -> a cluster id per face (dlib's chinese whispers), and the stage
// `assign(clusters)`: encoded_faces -> the same faces, each put into a cluster of a growing face_clusters.
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "faceapp/core/clusters.hpp"
#include "faceapp/core/encoding.hpp"
#include "faceapp/core/keep.hpp"
#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"
#include "faceapp/faces.hpp"
#include "faceapp/stages/distance.hpp"

namespace faceapp {

namespace detail {
/// dlib's chinese_whispers over the graph whose edges join faces at distance <= tolerance (and each face to
/// itself), as dlib's dnn_face_clustering_ex does; its random order comes from a dlib::rand of fixed seed, so
/// one input order always gives the same labels. Ids are renumbered from 0 in order of first appearance.
/// O(n^2) distances. Compiled once (src/cluster.cpp).
std::vector<std::size_t> chinese_whispers_ids(std::span<const encoding> encodings, float tolerance);
}  // namespace detail

/// `cluster(encodings, tolerance = 0.55)`: a cluster id per encoding, from 0 in order of first appearance.
/// `cluster(many_encoded_faces, tolerance)`: the same over every face of every image, in order (an image's faces,
/// then the next image's). `cluster(tolerance)` is the function with its tolerance bound. Deterministic for a given
/// order; thread-safe; a negative or NaN tolerance is std::invalid_argument. Example:
/// `auto ids = cluster(encodings, 0.5);` (ids[i]: the cluster of encodings[i]).
struct cluster_fn {
  /// The function with its tolerance bound: `cluster(0.45)(encodings)`.
  struct bound {
    float tolerance = default_cluster_tolerance;
    template <class R>
    [[nodiscard]] std::vector<std::size_t> operator()(const R& many) const {
      return cluster_fn{}(many, tolerance);
    }
  };

  [[nodiscard]] std::vector<std::size_t> operator()(std::span<const encoding> encodings,
                                                    tolerance_value t = default_cluster_tolerance) const {
    return detail::chinese_whispers_ids(encodings, t.value);
  }
  [[nodiscard]] std::vector<std::size_t> operator()(const std::vector<encoding>& encodings,
                                                    tolerance_value t = default_cluster_tolerance) const {
    return detail::chinese_whispers_ids(encodings, t.value);
  }
  /// A range of encoded_faces (the faces of many images).
  template <std::ranges::input_range R>
    requires std::same_as<std::remove_cvref_t<std::ranges::range_reference_t<R>>, encoded_faces>
  [[nodiscard]] std::vector<std::size_t> operator()(const R& images,
                                                    tolerance_value t = default_cluster_tolerance) const {
    std::vector<encoding> all;
    for (const encoded_faces& img : images) {
      for (const auto& f : img) all.push_back(f.encoding);
    }
    return detail::chinese_whispers_ids(all, t.value);
  }
  [[nodiscard]] constexpr bound operator()(tolerance_value t) const { return {t.value}; }
};

inline constexpr cluster_fn cluster{};

/// `assign(clusters)`: encoded_faces -> the same faces, each put into a cluster of `clusters` (a face_clusters,
/// at its tolerance): `cluster` is its id, `name` the cluster's name (a known person's, or empty), `distance` the
/// distance to the nearest member before it joined, `match` whether it joined an existing cluster. The faces of
/// one image are assigned in order, and later faces (of this image too) see the earlier ones. face_clusters is
/// kept by the rule of std::views::all (core/keep.hpp): an lvalue is borrowed and must outlive the stage,
/// `std::ref` borrows, a shared_ptr shares. Thread-safe (face_clusters serialises its assignments). Example:
/// `face_clusters people; auto pipe = read | encode | assign(people);`.
struct assign_stage : stage_base<assign_stage> {
  using input_type = encoded_faces;
  using output_type = encoded_faces;
  static constexpr const char* name = "assign";

  std::shared_ptr<face_clusters> clusters;

  [[nodiscard]] result<encoded_faces> run(const encoded_faces& in) const { return run(encoded_faces(in)); }
  [[nodiscard]] result<encoded_faces> run(encoded_faces&& in) const {
    if (!clusters) return fail(name, in.source(), "not assigned: the stage has no face_clusters (a null shared_ptr)");
    for (auto& f : in.items) {
      auto a = clusters->assign(f.encoding);
      f.cluster = a.cluster;
      f.name = std::move(a.name);
      f.distance = a.distance;
      f.match = a.joined;
    }
    return std::move(in);
  }
};

struct assign_fn : detail::stage_factory_base {
  struct assign_is_a_stage_factory_call_it_with_clusters_eg_assign_people;
  using call_it_first = assign_is_a_stage_factory_call_it_with_clusters_eg_assign_people;

  /// Borrows: `clusters` must outlive the stage.
  [[nodiscard]] assign_stage operator()(face_clusters& clusters) const { return {{}, detail::keep(clusters)}; }
  [[nodiscard]] assign_stage operator()(std::reference_wrapper<face_clusters> clusters) const {
    return {{}, detail::keep(clusters)};
  }
  /// Shares; a null pointer is std::invalid_argument.
  [[nodiscard]] assign_stage operator()(std::shared_ptr<face_clusters> clusters) const {
    if (!clusters) throw std::invalid_argument("assign: no face_clusters (a null pointer)");
    return {{}, std::move(clusters)};
  }
};

inline constexpr assign_fn assign{};

}  // namespace faceapp
