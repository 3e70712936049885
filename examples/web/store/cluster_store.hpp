// faceapp-web's store layer: pending clusters, the faces of a bulk upload grouped by person and waiting for a
// name (POST /api/cluster). A database that keeps them implements cluster_store (SQLite: sqlite_clusters.hpp).
// They live in their own tables, created when missing, and expire pending_cluster_lifetime_s after they were
// made: a read at or after that time no longer sees them, and the next save or expire_clusters deletes them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <faceapp/core/encoding.hpp>
#include <faceapp/core/geometry.hpp>

#include "store/store.hpp"

namespace faceapp_web {

/// How long a pending cluster is kept: a day.
inline constexpr std::int64_t pending_cluster_lifetime_s = 24 * 60 * 60;

/// One face of a pending cluster.
struct pending_face {
  std::string photo;   // the uploaded file name
  std::string source;  // the upload's label ("sha256:<hex> (<file name>)"), as an enrolled face keeps it
  faceapp::box box;    // in that photo
  faceapp::encoding encoding{};
  std::string thumbnail;  // JPEG; empty when read without thumbnails
  bool known = false;     // already in the gallery (face_is_known); set by the service when read, never stored
};

struct pending_cluster {
  std::uint64_t id = 0;
  std::int64_t created_s = 0;  // seconds since the epoch, by the service's clock
  std::optional<std::string> suggested;  // the known person its faces match, when one does
  std::vector<pending_face> faces;
};

/// A pending face is already known when its nearest gallery face is at most this far: the same photo's face
/// encoded again gives the same encoding (distance 0), while two photos of one person are ~0.3 apart.
inline constexpr float known_face_distance = 1e-6F;

/// Whether a face whose nearest gallery face is at `distance` is already known (and so not enrolled again).
inline bool face_is_known(float distance) { return distance <= known_face_distance; }

/// Whether a cluster made at `created_s` has expired at `now_s`.
inline bool pending_cluster_expired(std::int64_t created_s, std::int64_t now_s) {
  return now_s - created_s >= pending_cluster_lifetime_s;
}

/// Pending clusters in a database. Every change is one committed transaction. Thread-safe.
class cluster_store {
 public:
  cluster_store() = default;
  cluster_store(const cluster_store&) = delete;
  cluster_store& operator=(const cluster_store&) = delete;
  virtual ~cluster_store() = default;

  /// Stores the clusters (their ids are ignored) and deletes the expired ones; returns the new ids, in order.
  virtual std::vector<std::uint64_t> save_clusters(std::span<const pending_cluster> clusters, std::int64_t now_s) = 0;
  /// Deletes the clusters expired at `now_s` (the service does when it opens the store and before each read).
  virtual void expire_clusters(std::int64_t now_s) = 0;
  /// The clusters not expired at `now_s`, in id order, with their faces and thumbnails.
  [[nodiscard]] virtual std::vector<pending_cluster> pending_clusters(std::int64_t now_s) const = 0;
  [[nodiscard]] virtual std::optional<pending_cluster> find_cluster(std::uint64_t id, std::int64_t now_s) const = 0;
  /// Deletes a cluster; false when there is none (or it has expired).
  virtual bool discard_cluster(std::uint64_t id, std::int64_t now_s) = 0;
  /// Adds every face of the cluster but those whose place is true in `skip` to the person of exactly `name`
  /// (created when there is none) and deletes the cluster, in one transaction; the faces stored, in order;
  /// nothing when there is no such cluster.
  virtual std::optional<std::vector<person>> enrol_cluster(std::uint64_t id, const std::string& name,
                                                           const std::string& added, std::int64_t now_s,
                                                           const std::vector<bool>& skip) = 0;
};

}  // namespace faceapp_web
