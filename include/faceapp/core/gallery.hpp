// faceapp: the gallery of named encodings, searched 1:N. It grows in place: encodings live in fixed-size chunks
// that snapshots share, so adding one costs O(1) whatever the size, readers take immutable snapshots without
// waiting for a writer, and the 1:N scan streams contiguous, cache-line aligned memory through the SIMD kernels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "faceapp/core/encoding.hpp"
#include "faceapp/core/gallery_view.hpp"
#include "faceapp/detail/compact_codes.hpp"

namespace faceapp {

/// Named encodings under keys (strictly increasing: database row ids, or the ones `add(name, e)` and
/// `from_matrix` number from 0), kept in chunks of `chunk_rows` rows (8192 by default: 4 MB of encodings, 64-byte
/// aligned, beside the names). A million entries cost about 520 MB plus their names.
///
/// - Queries are asked of a snapshot: `g.snapshot()->nearest(q)`, `top_k`, `distances`, `find`, and the row's
///   `name` / `key` / `at` of the same snapshot (a match's row is only meaningful in the view it came from).
///
/// - A chunk is append-only: a row is written once, before the snapshot that contains it is published, and
///   never again. Snapshots (`view`) carry their own row count and share the chunks, so an add neither copies
///   the gallery nor disturbs anyone reading an older snapshot.
/// - `erase` marks a tombstone in a per-chunk bitmap (the bitmap of that one chunk is copied, 1 KB); a
///   tombstoned row never matches. When a quarter of the rows are tombstones, the writer compacts (rebuilds
///   the chunks from the live rows, O(n), so O(1) amortised per erase); `compact()` does it on demand.
/// - `nearest`, `top_k` and `distances` scan each chunk's contiguous memory with the one block scan of
///   detail/distance_kernels.hpp and its block consumers (nearest_of_blocks, top_k_of_blocks);
///   `nearest_each` / `top_k_each` answer many queries in one pass. With `gallery_options::codes` the gallery
///   keeps a compact copy (int8 or float16) beside the float32 rows, scans it first and re-scores in float32
///   every row its error bound cannot rule out (detail/exact_rerank.hpp): the answers stay those of the float32
///   scan, bit for bit. `scan_threads` splits a large view's chunks between threads of its own or a
///   `scan_executor`'s (gallery_view.hpp); `rows_dir` keeps the float32 rows in a mapped file, a full chunk's
///   not resident (detail/mapped_rows.hpp).
///
/// Thread safety: `snapshot()` is safe from any thread at any time and never waits for a writer's work: it
/// copies a shared_ptr under a lock held only for that copy (a writer holds it only to swap the pointer). A
/// view is immutable and may be shared freely. Writers (`add`, `erase`, `compact`) are serialised by another
/// mutex. Moving a gallery is a writer's operation too: not while other threads use the one moved from. (std::atomic<std::shared_ptr> would do the same with a lock bit, but libstdc++ 12 releases that bit
/// with a relaxed store after reading the pointer, which ThreadSanitizer rightly reports as a race.)
class gallery {
 public:
  static constexpr std::size_t default_chunk_rows = 8192;

  using match = gallery_match;
  using view = gallery_view;

 private:
  using chunk = detail::gallery_chunk;
  using bitmap = detail::gallery_bitmap;
  using slot = detail::gallery_slot;
  using directory = detail::gallery_directory;

 public:
  /// chunk_rows: a positive multiple of 64.
  explicit gallery(std::size_t chunk_rows = default_chunk_rows)
      : gallery(gallery_options{.chunk_rows = chunk_rows}) {}

  /// std::invalid_argument when options.chunk_rows is not a positive multiple of 64.
  explicit gallery(const gallery_options& options) : options_(options), chunk_rows_(options.chunk_rows) {
    if (chunk_rows_ == 0 || chunk_rows_ % 64 != 0) {
      throw std::invalid_argument("gallery: chunk_rows must be a positive multiple of 64");
    }
    if (!options_.rows_dir.empty()) {
      rows_file_ = std::make_shared<detail::mapped_rows_file>(options_.rows_dir,
                                                              chunk_rows_ * encoding_size * sizeof(float));
    }
    dir_ = std::make_shared<directory>(16);
    publish();
  }

  /// A gallery of `names.size()` rows whose encodings are `values` (row-major, 128 floats a row), keyed 0, 1, ...
  /// in order, built and published at once (the CLI's known faces, an import). std::invalid_argument when
  /// values.size() is not 128 x names.size().
  [[nodiscard]] static gallery from_matrix(std::span<const std::string> names, std::span<const float> values,
                                           std::size_t chunk_rows = default_chunk_rows) {
    return from_matrix(names, values, gallery_options{.chunk_rows = chunk_rows});
  }
  [[nodiscard]] static gallery from_matrix(std::span<const std::string> names, std::span<const float> values,
                                           const gallery_options& options) {
    if (values.size() != names.size() * encoding_size) {
      throw std::invalid_argument("gallery::from_matrix: " + std::to_string(values.size()) + " values for " +
                                  std::to_string(names.size()) + " names (128 a name)");
    }
    gallery g(options);
    {
      const std::lock_guard lock(g.writer_);
      for (std::size_t i = 0; i < names.size(); ++i) g.append(i, names[i], values.data() + i * encoding_size);
      g.publish();
    }
    return g;
  }

  gallery(const gallery&) = delete;
  gallery& operator=(const gallery&) = delete;
  /// Takes the other's rows and state; the other is left empty. Not while other threads use either.
  gallery(gallery&& other) : options_(other.options_), chunk_rows_(other.chunk_rows_), rows_file_(other.rows_file_) {
    const std::lock_guard lock(other.writer_);
    take(other);
  }
  gallery& operator=(gallery&& other) {
    if (this != &other) {
      const std::scoped_lock lock(writer_, other.writer_);
      options_ = other.options_;
      chunk_rows_ = other.chunk_rows_;
      rows_file_ = other.rows_file_;  // (shared: the other's later chunks take slots of the same file)
      take(other);
    }
    return *this;
  }
  ~gallery() = default;

  /// The current state; never changes under the caller. Safe beside a writer.
  [[nodiscard]] std::shared_ptr<const view> snapshot() const noexcept {
    const std::lock_guard lock(current_mutex_);
    return current_;
  }

  [[nodiscard]] std::size_t chunk_rows() const noexcept { return chunk_rows_; }
  [[nodiscard]] const gallery_options& options() const noexcept { return options_; }
  /// Live rows now (the current snapshot's size()).
  [[nodiscard]] std::size_t size() const noexcept { return snapshot()->size(); }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }

  /// Appends a row. Keys must be strictly increasing over the gallery's life (std::invalid_argument otherwise).
  /// O(1) amortised: writes one row into the last chunk (or a new one) and publishes a new view.
  void add(std::uint64_t key, std::string_view name, const encoding& e) {
    const std::lock_guard lock(writer_);
    append(key, name, e.data());
    publish();
  }

  /// Appends a row under the next key (0 for the first, else one above the last key used) and returns that key.
  std::uint64_t add(std::string_view name, const encoding& e) {
    const std::lock_guard lock(writer_);
    const std::uint64_t key = has_key_ ? last_key_ + 1 : 0;
    append(key, name, e.data());
    publish();
    return key;
  }

  /// Appends many rows and publishes once. Same rule for keys.
  template <class Rows>  // a range of something with .key, .name, .encoding
  void add_all(const Rows& rows) {
    const std::lock_guard lock(writer_);
    for (const auto& r : rows) append(r.key, r.name, r.encoding.data());
    publish();
  }

  /// Tombstones the row with this key; false when there is no live row with it.
  bool erase(std::uint64_t key) {
    const std::lock_guard lock(writer_);
    const auto v = snapshot();
    const auto row = v->find(key);
    if (!row) return false;
    const std::size_t c = *row / chunk_rows_;
    const std::size_t r = *row % chunk_rows_;
    auto next = std::make_shared<directory>(dir_->capacity);
    const std::size_t chunks = (rows_ + chunk_rows_ - 1) / chunk_rows_;
    for (std::size_t i = 0; i < chunks; ++i) next->slots[i] = dir_->slots[i];
    auto bits = dir_->slots[c].dead ? std::make_shared<bitmap>(*dir_->slots[c].dead)
                                    : std::make_shared<bitmap>(chunk_rows_ / 64, 0);
    (*bits)[r / 64] |= std::uint64_t{1} << (r % 64);
    next->slots[c].dead = std::move(bits);
    dir_ = std::move(next);
    --live_;
    publish();
    if (rows_ - live_ >= chunk_rows_ && rows_ - live_ > rows_ / 4) compact_locked();
    return true;
  }

  /// Tombstones the live rows with these keys under one writer lock, publishing one view (a person's faces
  /// deleted at once: no reader sees some of them gone and not the others); returns how many it erased. Keys
  /// that are not live are skipped. Each chunk's bitmap is copied once, however many of its rows go.
  std::size_t erase(std::span<const std::uint64_t> keys) {
    const std::lock_guard lock(writer_);
    const auto v = snapshot();
    const std::size_t chunks = (rows_ + chunk_rows_ - 1) / chunk_rows_;
    std::vector<std::shared_ptr<bitmap>> fresh(chunks);  // the new bitmap of each chunk touched
    std::size_t erased = 0;
    for (const auto key : keys) {
      const auto row = v->find(key);
      if (!row) continue;
      const std::size_t c = *row / chunk_rows_;
      const std::size_t r = *row % chunk_rows_;
      auto& bits = fresh[c];
      if (!bits) {
        bits = dir_->slots[c].dead ? std::make_shared<bitmap>(*dir_->slots[c].dead)
                                   : std::make_shared<bitmap>(chunk_rows_ / 64, 0);
      }
      const std::uint64_t bit = std::uint64_t{1} << (r % 64);
      if (((*bits)[r / 64] & bit) != 0) continue;  // the same key twice
      (*bits)[r / 64] |= bit;
      ++erased;
    }
    if (erased == 0) return 0;
    auto next = std::make_shared<directory>(dir_->capacity);
    for (std::size_t i = 0; i < chunks; ++i) {
      next->slots[i] = dir_->slots[i];
      if (fresh[i]) next->slots[i].dead = std::move(fresh[i]);
    }
    dir_ = std::move(next);
    live_ -= erased;
    publish();
    if (rows_ - live_ >= chunk_rows_ && rows_ - live_ > rows_ / 4) compact_locked();
    return erased;
  }

  /// Gives the live rows with these keys the name `name` (a person renamed, or merged into another); returns how
  /// many it renamed. A chunk that holds one of them is copied first (published views keep the old one), so a
  /// rename costs a copy of each chunk it touches.
  std::size_t rename(std::span<const std::uint64_t> keys, std::string_view name) {
    const std::lock_guard lock(writer_);
    const auto v = snapshot();
    std::shared_ptr<directory> next;
    std::vector<bool> copied;
    std::size_t renamed = 0;
    for (const auto key : keys) {
      const auto row = v->find(key);
      if (!row) continue;
      const std::size_t c = *row / chunk_rows_;
      if (!next) {
        next = std::make_shared<directory>(dir_->capacity);
        const std::size_t chunks = (rows_ + chunk_rows_ - 1) / chunk_rows_;
        for (std::size_t i = 0; i < chunks; ++i) next->slots[i] = dir_->slots[i];
        copied.assign(chunks, false);
      }
      if (!copied[c]) {
        next->slots[c].data = copy_of(*dir_->slots[c].data, std::min(chunk_rows_, rows_ - c * chunk_rows_));
        copied[c] = true;
      }
      next->slots[c].data->names[*row % chunk_rows_] = std::string(name);
      ++renamed;
    }
    if (next) {
      dir_ = std::move(next);
      publish();
    }
    return renamed;
  }

  /// Rebuilds the chunks from the live rows (rows are renumbered; keys and order stay). Readers keep their
  /// views; the old chunks are freed when the last view that uses them goes.
  void compact() {
    const std::lock_guard lock(writer_);
    compact_locked();
  }

 private:
  void take(gallery& other) {
    dir_ = std::exchange(other.dir_, std::make_shared<directory>(16));
    rows_ = std::exchange(other.rows_, 0);
    live_ = std::exchange(other.live_, 0);
    last_key_ = std::exchange(other.last_key_, 0);
    has_key_ = std::exchange(other.has_key_, false);
    residual_ = std::exchange(other.residual_, 0);
    code_norm_ = std::exchange(other.code_norm_, 0);
    published_ = std::max(published_, other.published_);  // versions keep increasing across the move
    publish();
    other.publish();
  }

  /// A new chunk with the first `rows` rows of `from` (the rows written so far).
  [[nodiscard]] std::shared_ptr<chunk> copy_of(const chunk& from, std::size_t rows) const {
    auto to = std::make_shared<chunk>(chunk_rows_, options_.codes, rows_file_);
    std::copy_n(from.values.get(), rows * encoding_size, to->values.get());
    std::copy_n(from.keys.get(), rows, to->keys.get());
    std::copy_n(from.names.get(), rows, to->names.get());
    if (from.compact) std::copy_n(from.compact.get(), rows * detail::code_bytes(options_.codes), to->compact.get());
    if (from.scales) std::copy_n(from.scales.get(), rows, to->scales.get());
    if (from.norms) std::copy_n(from.norms.get(), rows, to->norms.get());
    if (rows_file_ && rows == chunk_rows_) rows_file_->release(to->values.get());
    return to;
  }

  void append(std::uint64_t key, std::string_view name, const float* e) {
    if (has_key_ && key <= last_key_) {
      throw std::invalid_argument("gallery::add: key " + std::to_string(key) +
                                  " is not above the last key " + std::to_string(last_key_));
    }
    const std::size_t c = rows_ / chunk_rows_;
    const std::size_t r = rows_ % chunk_rows_;
    if (r == 0) {  // a new chunk, in a slot no published view reads
      if (c == dir_->capacity) {
        auto bigger = std::make_shared<directory>(dir_->capacity * 2);
        for (std::size_t i = 0; i < c; ++i) bigger->slots[i] = dir_->slots[i];
        dir_ = std::move(bigger);
      }
      dir_->slots[c].data = std::make_shared<chunk>(chunk_rows_, options_.codes, rows_file_);
    }
    chunk& ch = *dir_->slots[c].data;
    std::copy_n(e, encoding_size, ch.values.get() + r * encoding_size);
    code(ch, r);
    ch.keys[r] = key;
    ch.names[r] = std::string(name);
    if (rows_file_ && r + 1 == chunk_rows_) rows_file_->release(ch.values.get());  // full: not resident
    last_key_ = key;
    has_key_ = true;
    ++rows_;
    ++live_;
  }

  void compact_locked() {
    const auto old = snapshot();  // the writer's state is always published when this runs
    dir_ = std::make_shared<directory>(std::max<std::size_t>(16, dir_->capacity));
    rows_ = 0;
    live_ = 0;
    residual_ = 0;
    code_norm_ = 0;
    for (std::size_t row = 0; row < old->rows(); ++row) {
      if (!old->alive(row)) continue;
      const std::size_t c = rows_ / chunk_rows_;
      const std::size_t r = rows_ % chunk_rows_;
      if (r == 0) dir_->slots[c].data = std::make_shared<chunk>(chunk_rows_, options_.codes, rows_file_);
      chunk& ch = *dir_->slots[c].data;
      const auto& from = *old->slot_of(row).data;
      const std::size_t fr = row % chunk_rows_;
      std::copy_n(from.values.get() + fr * encoding_size, encoding_size, ch.values.get() + r * encoding_size);
      code(ch, r);
      ch.keys[r] = from.keys[fr];
      ch.names[r] = from.names[fr];
      if (rows_file_ && r + 1 == chunk_rows_) rows_file_->release(ch.values.get());
      ++rows_;
      ++live_;
    }
    // last_key_ stays: erased keys stay used, keys keep increasing past them.
    publish();
  }

  /// Writes row r's compact code (from its float32 values) and widens the residual bound.
  void code(chunk& ch, std::size_t r) {
    const float* x = ch.values.get() + r * encoding_size;
    double residual = 0;
    if (options_.codes == compact_codes::int8) {
      auto* codes = reinterpret_cast<std::int8_t*>(ch.compact.get()) + r * encoding_size;
      residual = detail::quantize_int8(x, codes, ch.scales[r]);
      ch.norms[r] = detail::code_norm(codes);
      const double s = ch.scales[r];
      code_norm_ = std::max(code_norm_, s * s * ch.norms[r]);
    } else if (options_.codes == compact_codes::float16) {
      residual = detail::quantize_float16(x, reinterpret_cast<std::uint16_t*>(ch.compact.get()) + r * encoding_size);
    }
    residual_ = std::max(residual_, residual);
  }

  void publish() {
    auto v = std::make_shared<view>();
    v->dir_ = dir_;
    v->rows_ = rows_;
    v->live_ = live_;
    v->chunk_rows_ = chunk_rows_;
    v->codes_ = options_.codes;
    v->residual_ = residual_;
    v->code_norm_ = code_norm_;
    v->scan_threads_ = options_.scan_threads;
    v->parallel_min_rows_ = options_.parallel_min_rows;
    v->executor_ = options_.scan_executor;
    v->version_ = published_++;
    std::shared_ptr<const view> old = std::move(v);
    {
      const std::lock_guard lock(current_mutex_);
      current_.swap(old);
    }
    // `old` (and, if no reader holds it, its chunks) is freed here, outside the lock.
  }

  gallery_options options_;
  std::size_t chunk_rows_;
  std::shared_ptr<detail::mapped_rows_file> rows_file_;  // options_.rows_dir's, or null: rows on the heap
  std::mutex writer_;
  // The writer's state; readers see it only through published views.
  std::shared_ptr<directory> dir_;
  std::size_t rows_ = 0;
  std::size_t live_ = 0;
  std::uint64_t last_key_ = 0;
  bool has_key_ = false;
  double residual_ = 0;  // the largest residual of the compact codes written
  double code_norm_ = 0;  // int8: the largest ||decoded row||^2 (s^2 C) written
  std::uint64_t published_ = 0;  // views published so far: the next view's version
  mutable std::mutex current_mutex_;  // held only to copy or swap current_
  std::shared_ptr<const view> current_;
};

}  // namespace faceapp
