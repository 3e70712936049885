// faceapp-web: where the known faces are kept. `store_backend` is the interface a database implements (the
// embedded SQLite one in sqlite_store.hpp); face_store.hpp keeps the in-memory gallery in front of it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <faceapp/core/encoding.hpp>
#include <faceapp/core/geometry.hpp>

namespace faceapp_web {

/// What the pages show about a known face besides its encoding.
struct person {
  std::uint64_t id = 0;
  std::string name;
  std::string added;   // UTC ISO-8601
  std::string source;  // "sha256:<hex> (<file name>)" of the photo it came from, or where it was imported from
  faceapp::box box;    // in that photo (all zero when imported without one)
  std::shared_ptr<const std::string> thumbnail;  // JPEG bytes of the face; null in listings (see has_thumbnail)
  bool has_thumbnail = false;
};

/// A face to store.
struct new_face {
  std::string name;
  faceapp::encoding encoding;
  std::string source;
  std::optional<faceapp::box> box;  // none for imported encodings
  std::string thumbnail;            // JPEG; empty for imported encodings
  std::string added;                // UTC ISO-8601
};

/// One page of the list of known faces, in id order.
struct people_page {
  std::vector<person> people;
  std::uint64_t total = 0;  // matching the search, over all pages
};

/// A durable store of known faces. Every method is thread-safe. Ids are assigned by the store, increase with
/// every add and are never reused (the in-memory gallery relies on it). Errors throw std::runtime_error naming
/// the store.
class store_backend {
 public:
  virtual ~store_backend() = default;

  /// Streams (id, name, encoding) of every face in increasing id order.
  using row_fn = std::function<void(std::uint64_t, std::string_view, const faceapp::encoding&)>;
  virtual void load(const row_fn& row) const = 0;

  /// Stores one face in one transaction, committed before it returns; returns it with its new id.
  virtual person add(const new_face& f) = 0;
  /// Stores many faces in one transaction; returns the number stored.
  virtual std::uint64_t add_many(std::span<const new_face> faces) = 0;
  /// Deletes a face in one committed transaction; false when there is none with this id.
  virtual bool remove(std::uint64_t id) = 0;

  /// One face without its thumbnail bytes.
  [[nodiscard]] virtual std::optional<person> find(std::uint64_t id) const = 0;
  /// Faces whose name contains `query` (case-insensitive for ASCII; all when empty), in id order.
  /// `total` is filled only when `count` is true (a count of a search scans the names).
  [[nodiscard]] virtual people_page list(std::string_view query, std::uint64_t offset, std::uint64_t limit,
                                         bool count) const = 0;
  [[nodiscard]] virtual std::optional<std::string> thumbnail(std::uint64_t id) const = 0;

  /// For messages: where the data lives.
  [[nodiscard]] virtual std::string describe() const = 0;
};

}  // namespace faceapp_web
