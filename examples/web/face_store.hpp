// faceapp-web: the gallery of known people: a database (store_backend) as the source of truth, and in front of
// it the whole gallery in memory, growing in place (faceapp::chunked_gallery), for the 1:N scan.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <faceapp/core/chunked_gallery.hpp>
#include <faceapp/stages/record.hpp>

#include "sqlite_store.hpp"
#include "store.hpp"

namespace faceapp_web {

/// One state of the gallery: the rows (key = the face's id, name, encoding) that a recognize scans. Never
/// changes once published; taking one costs an atomic load.
using gallery_snapshot = faceapp::chunked_gallery::view;

/// Every change is committed to the database first and then published to the in-memory gallery, under one
/// writer mutex, so the gallery's ids keep increasing and nothing answered is only in memory. Readers take a
/// snapshot without a lock; pages and thumbnails are read from the database.
class face_store {
 public:
  explicit face_store(std::unique_ptr<store_backend> backend) : backend_(std::move(backend)) {
    struct row {
      std::uint64_t key;
      std::string name;
      faceapp::encoding encoding;
    };
    std::vector<row> batch;
    batch.reserve(4096);
    const auto flush = [&] {
      gallery_.add_all(batch);
      batch.clear();
    };
    backend_->load([&](std::uint64_t id, std::string_view name, const faceapp::encoding& e) {
      batch.push_back({id, std::string(name), e});
      if (batch.size() == batch.capacity()) flush();
    });
    flush();
  }

  /// The embedded store in `data_dir` (faceapp.db; a gallery.json there is migrated into it).
  explicit face_store(const std::filesystem::path& data_dir)
      : face_store(std::make_unique<sqlite_store>(data_dir)) {}

  [[nodiscard]] std::shared_ptr<const gallery_snapshot> snapshot() const noexcept { return gallery_.snapshot(); }

  /// The gallery of a snapshot, as distance_to takes it.
  static std::shared_ptr<const gallery_snapshot> gallery_of(std::shared_ptr<const gallery_snapshot> s) {
    return s;
  }

  person add(std::string name, const faceapp::encoding& e, std::string source, faceapp::box box,
             std::string thumbnail) {
    new_face f{std::move(name), e, std::move(source), box, std::move(thumbnail), faceapp::utc_timestamp()};
    const std::lock_guard writer(write_mutex_);
    auto p = backend_->add(f);  // committed
    gallery_.add(p.id, p.name, e);
    return p;
  }

  /// Removes the face with this id; false when there is none.
  bool remove(std::uint64_t id) {
    const std::lock_guard writer(write_mutex_);
    if (!backend_->remove(id)) return false;  // committed
    gallery_.erase(id);
    return true;
  }

  [[nodiscard]] std::optional<person> find(std::uint64_t id) const { return backend_->find(id); }

  /// Faces whose name contains `query` (all when empty), in id order, with the total over all pages.
  [[nodiscard]] people_page list(std::string_view query, std::uint64_t offset, std::uint64_t limit) const {
    const auto size = snapshot()->size();
    auto page = backend_->list(query, offset, limit, !query.empty());
    if (query.empty()) page.total = size;  // the gallery knows it: no count over the table
    return page;
  }

  [[nodiscard]] std::optional<std::string> thumbnail(std::uint64_t id) const { return backend_->thumbnail(id); }

  [[nodiscard]] std::size_t size() const noexcept { return snapshot()->size(); }
  [[nodiscard]] store_backend& backend() noexcept { return *backend_; }

 private:
  std::unique_ptr<store_backend> backend_;
  faceapp::chunked_gallery gallery_;
  std::mutex write_mutex_;
};

}  // namespace faceapp_web
