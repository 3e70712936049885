// faceapp: clusters of faces that grow one face at a time (`assign`), beside the known people, on the gallery.
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "faceapp/core/encoding.hpp"
#include "faceapp/core/gallery.hpp"

namespace faceapp {

/// Default tolerance of clustering and assignment: faces at most this far apart are linked. Below the matching
/// tolerance (0.6) because clusters chain: on the identity photos of the test data every tolerance from 0.50 to
/// 0.60 gives one cluster per person, 0.49 splits a person and 0.61 merges two; 0.55 is the middle of that range
/// (docs/people.md#clustering has the table).
inline constexpr float default_cluster_tolerance = 0.55F;

/// Clusters of faces, numbered from 0 in order of creation, some named (known people), the others not. Each
/// face assigned joins the cluster of its nearest face within the tolerance (a known person's face counts as
/// one), else starts a new cluster; every face assigned becomes a member that later faces are compared with.
/// Nothing is ever re-clustered: assignment costs one gallery scan of the members (core/gallery.hpp).
///
/// Thread safety: assign and add_person are serialised (each is a scan and an add that must not interleave);
/// the accessors are safe beside them. Not copyable or movable (it holds a gallery and a mutex).
class face_clusters {
 public:
  /// What assign decided for one face.
  struct assignment {
    std::size_t cluster = 0;        // the cluster's id
    std::string name;               // the cluster's name: a known person's, or empty
    std::optional<float> distance;  // to the nearest member, when there was one
    bool joined = false;            // true: an existing cluster; false: a new one
  };

  /// tolerance: a face joins a cluster when its nearest member is at most this far. >= 0, else
  /// std::invalid_argument.
  explicit face_clusters(float tolerance = default_cluster_tolerance) : tolerance_(tolerance) {
    if (!(tolerance >= 0)) throw std::invalid_argument("face_clusters: tolerance must be >= 0");
  }

  /// A known person's face: joins that person's cluster (made on the first face of that name) whatever the
  /// distances. Returns the cluster's id. An empty name is std::invalid_argument.
  std::size_t add_person(std::string_view name, const encoding& e) {
    if (name.empty()) throw std::invalid_argument("face_clusters::add_person: a known person needs a name");
    const std::lock_guard lock(writer_);
    std::size_t id = names_.size();
    for (std::size_t c = 0; c < names_.size(); ++c) {
      if (names_[c] == name) id = c;
    }
    if (id == names_.size()) names_.emplace_back(name);
    add_member(id, e);
    return id;
  }

  /// Puts one face into the cluster of its nearest member within the tolerance (distance <= tolerance), or into
  /// a new cluster, and returns which.
  assignment assign(const encoding& e) {
    const std::lock_guard lock(writer_);
    assignment a;
    const auto view = members_.snapshot();
    if (const auto hit = view->nearest(e)) {
      a.distance = hit->distance;
      if (hit->distance <= tolerance_) {
        a.cluster = cluster_of_member_[hit->key];
        a.joined = true;
      }
    }
    if (!a.joined) {
      a.cluster = names_.size();
      names_.emplace_back();
    }
    a.name = names_[a.cluster];
    add_member(a.cluster, e);
    return a;
  }

  [[nodiscard]] float tolerance() const noexcept { return tolerance_; }
  /// Clusters so far (named and not).
  [[nodiscard]] std::size_t size() const {
    const std::lock_guard lock(writer_);
    return names_.size();
  }
  /// A cluster's name (empty for an unnamed one); std::out_of_range for an id never given.
  [[nodiscard]] std::string name(std::size_t cluster) const {
    const std::lock_guard lock(writer_);
    if (cluster >= names_.size()) throw std::out_of_range("face_clusters::name: no cluster " + std::to_string(cluster));
    return names_[cluster];
  }
  /// Every face added so far, its cluster's name on each row (key n: the n-th face).
  [[nodiscard]] const gallery& members() const noexcept { return members_; }

 private:
  void add_member(std::size_t cluster, const encoding& e) {
    members_.add(cluster_of_member_.size(), names_[cluster], e);
    cluster_of_member_.push_back(cluster);
  }

  float tolerance_;
  mutable std::mutex writer_;
  gallery members_;
  std::vector<std::size_t> cluster_of_member_;  // by member key
  std::vector<std::string> names_;              // by cluster id
};

}  // namespace faceapp
