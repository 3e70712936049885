// faceapp-web: the gallery of known people: a database (store_backend) as the source of truth, and in front of
// it the whole gallery in memory, growing in place (gallery_type), for the 1:N scan.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <faceapp/core/gallery.hpp>
#include <faceapp/stages/record.hpp>

#include "store/sqlite_store.hpp"
#include "store/store.hpp"

namespace faceapp_web {

/// The library's growing gallery: the one place faceapp-web names its type.
using gallery_type = faceapp::gallery;

/// One state of the gallery: the rows (key = the face's id, name, encoding) that a recognize scans. Never
/// changes once published; taking one copies a shared_ptr under a mutex held for that copy only.
using gallery_snapshot = gallery_type::view;

/// Every change is committed to the database first and then published to the in-memory gallery, so nothing
/// answered is only in memory. An embedded store's writes take one writer mutex, so the gallery's ids keep
/// increasing; a shared store's do not, since no local mutex is held across a wait for the database: a stalled
/// transaction elsewhere makes an add wait (until the database's lock_timeout) without holding up anyone here.
/// Readers take a snapshot under the gallery's own short lock, never a writer's mutex; pages and thumbnails are
/// read from the database.
///
/// A shared store (PostgreSQL, several servers): the gallery follows the database's change feed instead. A
/// thread waits for the database's notifications (or half a second, as a poll), then applies every change after
/// the last one applied, in change-number order; a local add or delete commits and then catches up the same way,
/// so it is in the gallery before it is answered. A catch-up reads the changes without a lock and applies them
/// under the apply mutex, skipping those another catch-up applied meanwhile. When the database goes away the
/// thread reconnects with a growing pause (0.1 s to 2 s) and catches up from the changes table. A recognize is refused (unavailable) while
/// the last successful catch-up is older than `max_staleness_s`.
class face_store {
 public:
  /// `gallery`: how the in-memory gallery stores and scans its rows (compact codes, threads, executor).
  explicit face_store(std::unique_ptr<store_backend> backend, double max_staleness_s = 5,
                      const faceapp::gallery_options& gallery = {})
      : backend_(std::move(backend)),
        gallery_(gallery),
        max_staleness_(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(max_staleness_s))) {
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
    const auto started = clock::now();
    applied_ = backend_->load_at([&](std::uint64_t id, std::string_view name, const faceapp::encoding& e) {
      batch.push_back({id, std::string(name), e});
      if (batch.size() == batch.capacity()) flush();
    });
    flush();
    synced_at_.store(started.time_since_epoch().count());
    if (backend_->shared()) follower_ = std::jthread([this](std::stop_token stop) { follow(stop); });
  }

  face_store(const face_store&) = delete;
  face_store& operator=(const face_store&) = delete;
  ~face_store() {
    if (follower_.joinable()) {
      follower_.request_stop();
      follower_.join();
    }
  }

  /// The embedded store in `data_dir` (faceapp.db; a gallery.json there is migrated into it).
  explicit face_store(const std::filesystem::path& data_dir)
      : face_store(std::make_unique<sqlite_store>(data_dir)) {}

  [[nodiscard]] std::shared_ptr<const gallery_snapshot> snapshot() const noexcept { return gallery_.snapshot(); }

  /// The gallery of a snapshot, as distance_to takes it.
  static std::shared_ptr<const gallery_snapshot> gallery_of(std::shared_ptr<const gallery_snapshot> s) {
    return s;
  }

  /// Adds a face to the person `to` (not_found when there is none), or without one to the person of that exact
  /// name (created when there is none).
  person add(std::string name, const faceapp::encoding& e, std::string source, faceapp::box box,
             std::string thumbnail, std::optional<std::uint64_t> to = std::nullopt) {
    new_face f{std::move(name), to, e, std::move(source), box, std::move(thumbnail), faceapp::utc_timestamp()};
    if (backend_->shared()) {
      auto p = backend_->add(f);  // committed
      catch_up_after_write();
      return p;
    }
    const std::lock_guard writer(write_mutex_);
    auto p = backend_->add(f);  // committed
    gallery_.add(p.id, p.name, e);
    return p;
  }

  /// Removes the face with this id; false when there is none.
  bool remove(std::uint64_t id) {
    if (backend_->shared()) {
      if (!backend_->remove(id)) return false;  // committed
      catch_up_after_write();
      return true;
    }
    const std::lock_guard writer(write_mutex_);
    if (!backend_->remove(id)) return false;  // committed
    gallery_.erase(id);
    return true;
  }

  // ---- people: committed, then in the gallery before they return, as add and remove ----

  person_summary create_person(const std::string& name) { return backend_->create_person(name); }
  [[nodiscard]] persons_page list_persons(std::string_view query, std::uint64_t offset, std::uint64_t limit) const {
    return backend_->list_persons(query, offset, limit);
  }
  [[nodiscard]] persons_page list_persons_after(std::string_view query, std::uint64_t after,
                                                std::uint64_t limit) const {
    return backend_->list_persons_after(query, after, limit);
  }
  [[nodiscard]] std::optional<person_detail> find_person(std::uint64_t id) const { return backend_->find_person(id); }
  /// Renames a person: the person as the rename's transaction left it; nothing when there is none.
  std::optional<person_detail> rename_person(std::uint64_t id, const std::string& name) {
    return after_of(change_person([&] { return backend_->rename_person(id, name); }, false));
  }
  /// Deletes a person and its faces; false when there is none.
  bool remove_person(std::uint64_t id) {
    return change_person([&] { return backend_->remove_person(id); }, true).has_value();
  }
  /// Moves the faces of `from` to `into` and deletes `from`: `into` as the merge's transaction left it; nothing
  /// when either is missing.
  std::optional<person_detail> merge_persons(std::uint64_t into, std::uint64_t from) {
    return after_of(change_person([&] { return backend_->merge_persons(into, from); }, false));
  }
  /// The first `per_person` faces of each of `persons` (for the thumbnails of a list of people).
  [[nodiscard]] std::vector<face_ref> first_faces(std::span<const std::uint64_t> persons,
                                                  std::size_t per_person) const {
    return backend_->first_faces(persons, per_person);
  }
  /// Removes face `face` of person `id` (one statement in the store); false when that person has no such face.
  bool remove_person_face(std::uint64_t id, std::uint64_t face) {
    if (backend_->shared()) {
      if (!backend_->remove_person_face(id, face)) return false;  // committed
      catch_up_after_write();
      return true;
    }
    const std::lock_guard writer(write_mutex_);
    if (!backend_->remove_person_face(id, face)) return false;  // committed
    gallery_.erase(face);
    return true;
  }

  /// Runs `write`, a backend call that stores faces in one transaction and returns them (nothing when it stored
  /// none), then puts them in the gallery with `encodings` (theirs, in the same order) before returning.
  template <class F>
  std::optional<std::vector<person>> add_written(F write, std::span<const faceapp::encoding> encodings) {
    if (backend_->shared()) {
      auto done = write();  // committed
      if (done) catch_up_after_write();
      return done;
    }
    const std::lock_guard writer(write_mutex_);
    auto done = write();  // committed
    if (!done) return done;
    for (std::size_t i = 0; i < done->size() && i < encodings.size(); ++i) {
      gallery_.add((*done)[i].id, (*done)[i].name, encodings[i]);
    }
    return done;
  }

  /// Seconds since the last catch-up with a shared database began (what the gallery may miss); 0 when the store
  /// is not shared.
  [[nodiscard]] double lag_seconds() const noexcept {
    if (!backend_->shared()) return 0;
    return std::chrono::duration<double>(clock::now() - clock::time_point(clock::duration(synced_at_.load()))).count();
  }
  [[nodiscard]] double max_staleness_seconds() const noexcept {
    return std::chrono::duration<double>(max_staleness_).count();
  }

  /// Throws unavailable_error when the gallery may miss changes committed more than max_staleness ago.
  void check_fresh() const {
    if (!backend_->shared()) return;
    const auto age = clock::now() - clock::time_point(clock::duration(synced_at_.load()));
    if (age > max_staleness_) {
      throw unavailable_error("the gallery is " + std::to_string(std::chrono::duration<double>(age).count()) +
                              " s behind the database " + backend_->describe() +
                              " (more than --max-staleness): try again when it is back");
    }
  }

  /// Applies every change committed after the last one applied (a shared store). Throws unavailable_error when
  /// the database cannot be reached.
  void catch_up() {
    const auto started = clock::now();  // everything committed before this is in the answer
    std::uint64_t from = 0;
    {
      const std::lock_guard apply(apply_mutex_);
      from = applied_;
    }
    std::vector<change> found;  // read without a lock: the read may wait for the database
    backend_->changes_since(from, [&](const change& c) { found.push_back(c); });
    {
      const std::lock_guard apply(apply_mutex_);
      // A rename or merge is one change a face, in a row (writers hold the database's lock): they are applied
      // as one rename of all those faces, since each rename copies the chunks it touches. Deletes in a row (a
      // person's faces) are one erase, so that no recognize sees some of them gone and the others still there.
      std::vector<std::uint64_t> renamed;
      std::vector<std::uint64_t> erased;
      for (std::size_t i = 0; i < found.size(); ++i) {
        const auto& c = found[i];
        if (c.seq <= applied_) continue;  // another catch-up applied it meanwhile
        if (c.renamed) {
          if (!c.gone) renamed.push_back(c.id);
          const bool last = i + 1 == found.size() || !found[i + 1].renamed || found[i + 1].name != c.name;
          if (last && !renamed.empty()) {
            gallery_.rename(renamed, c.name);
            renamed.clear();
          }
        } else if (!c.added) {
          erased.push_back(c.id);
          if (i + 1 == found.size() || found[i + 1].added || found[i + 1].renamed) {
            gallery_.erase(erased);
            erased.clear();
          }
        } else if (!c.gone) {
          gallery_.add(c.id, c.name, c.encoding);
        }
        applied_ = c.seq;
      }
    }
    // The newest catch-up's start, whichever finishes last.
    auto seen = synced_at_.load();
    while (seen < started.time_since_epoch().count() &&
           !synced_at_.compare_exchange_weak(seen, started.time_since_epoch().count())) {
    }
  }

  [[nodiscard]] std::optional<person> find(std::uint64_t id) const { return backend_->find(id); }

  /// Faces whose name contains `query` (all when empty), in id order, with the total over all pages.
  [[nodiscard]] people_page list(std::string_view query, std::uint64_t offset, std::uint64_t limit) const {
    const auto size = snapshot()->size();
    auto page = backend_->list(query, offset, limit, !query.empty());
    if (query.empty()) page.total = size;  // the gallery knows it: no count over the table
    return page;
  }

  /// Every face from the first with an id above `after` (a keyset page), with the total over all pages.
  [[nodiscard]] people_page list_after(std::uint64_t after, std::uint64_t limit) const {
    const auto size = snapshot()->size();
    auto page = backend_->list_after(after, limit);
    page.total = size;
    return page;
  }

  [[nodiscard]] std::optional<std::string> thumbnail(std::uint64_t id) const { return backend_->thumbnail(id); }

  [[nodiscard]] std::size_t size() const noexcept { return snapshot()->size(); }
  [[nodiscard]] store_backend& backend() noexcept { return *backend_; }
  [[nodiscard]] const store_backend& backend() const noexcept { return *backend_; }

 private:
  using clock = std::chrono::steady_clock;

  /// After a committed write: the write is done whatever happens here; when the database went away just
  /// after the commit, the follower applies it once the database is back.
  void catch_up_after_write() {
    try {
      catch_up();
    } catch (const unavailable_error&) {
    }
  }

  /// A person's change `f` (the backend's call), then its faces renamed or (`erase`) erased in the gallery, each
  /// in one gallery call; what the change did, nothing when there was no such person.
  template <class F>
  std::optional<person_change> change_person(F f, bool erase) {
    if (backend_->shared()) {
      std::optional<person_change> done = f();  // committed
      if (done) catch_up_after_write();
      return done;
    }
    const std::lock_guard writer(write_mutex_);
    std::optional<person_change> done = f();  // committed
    if (!done) return done;
    if (erase) {
      gallery_.erase(done->faces);
    } else {
      gallery_.rename(done->faces, done->name);
    }
    return done;
  }

  static std::optional<person_detail> after_of(std::optional<person_change> done) {
    if (!done) return std::nullopt;
    return std::move(done->after);
  }

  void follow(const std::stop_token& stop) {
    int pause_ms = 100;
    bool lost = false;
    while (!stop.stop_requested()) {
      try {
        backend_->wait_for_change(500);
        catch_up();
        if (lost) std::fprintf(stderr, "faceapp-web: database %s is back; the gallery caught up\n", backend_->describe().c_str());
        lost = false;
        pause_ms = 100;
      } catch (const std::exception& e) {
        if (!lost) std::fprintf(stderr, "faceapp-web: %s (reconnecting)\n", e.what());
        lost = true;
        for (int waited = 0; waited < pause_ms && !stop.stop_requested(); waited += 50) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        pause_ms = std::min(pause_ms * 2, 2000);
      }
    }
  }

  std::unique_ptr<store_backend> backend_;
  gallery_type gallery_;
  std::mutex write_mutex_;      // an embedded store's writes, with their gallery change
  std::mutex apply_mutex_;      // a shared store's catch-ups applying changes; never held across a database wait
  std::uint64_t applied_ = 0;  // the last change applied (under apply_mutex_)
  clock::duration max_staleness_;
  std::atomic<clock::rep> synced_at_{0};  // when the last successful catch-up started
  std::jthread follower_;                 // last: stopped before the rest goes
};

}  // namespace faceapp_web
