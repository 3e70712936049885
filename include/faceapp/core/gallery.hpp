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
#include "faceapp/detail/distance_kernels.hpp"

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
///   detail/distance_kernels.hpp and its block consumers (nearest_of_blocks, top_k_of_blocks).
///
/// Thread safety: `snapshot()` is safe from any thread at any time and never waits for a writer's work: it
/// copies a shared_ptr under a lock held only for that copy (a writer holds it only to swap the pointer). A
/// view is immutable and may be shared freely. Writers (`add`, `erase`, `compact`) are serialised by another
/// mutex. Moving a gallery is a writer's operation too: not while other threads use the one moved from. (std::atomic<std::shared_ptr> would do the same with a lock bit, but libstdc++ 12 releases that bit
/// with a relaxed store after reading the pointer, which ThreadSanitizer rightly reports as a race.)
class gallery {
 public:
  static constexpr std::size_t default_chunk_rows = 8192;

  struct match {
    std::size_t row = 0;      // in the view it came from (rows are renumbered by compaction)
    std::uint64_t key = 0;
    float distance = 0;
    friend bool operator==(const match&, const match&) = default;
  };

 private:
  struct free_deleter {
    void operator()(float* p) const noexcept { ::operator delete(p, std::align_val_t{64}); }
  };

  /// Storage for chunk_rows rows. Rows below a published count are immutable.
  struct chunk {
    explicit chunk(std::size_t rows)
        : values(static_cast<float*>(::operator new(rows * encoding_size * sizeof(float), std::align_val_t{64}))),
          keys(new std::uint64_t[rows]),
          names(new std::string[rows]) {}
    std::unique_ptr<float, free_deleter> values;
    std::unique_ptr<std::uint64_t[]> keys;
    std::unique_ptr<std::string[]> names;
  };

  using bitmap = std::vector<std::uint64_t>;

  struct slot {
    std::shared_ptr<chunk> data;
    std::shared_ptr<const bitmap> dead;  // null: no tombstone in this chunk
  };

  /// The list of chunks. Append-only like a chunk: slots past a published chunk count may be filled while
  /// readers use the others; changing a published slot (a tombstone) makes a new directory.
  struct directory {
    explicit directory(std::size_t cap) : slots(new slot[cap]), capacity(cap) {}
    std::unique_ptr<slot[]> slots;
    std::size_t capacity;
  };

 public:
  /// An immutable state of the gallery: what `snapshot()` returns.
  class view {
   public:
    /// Rows in this view, tombstones included; row indices run from 0 to rows() - 1.
    [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
    /// Live (not erased) rows.
    [[nodiscard]] std::size_t size() const noexcept { return live_; }
    [[nodiscard]] bool empty() const noexcept { return live_ == 0; }
    [[nodiscard]] std::size_t chunk_rows() const noexcept { return chunk_rows_; }
    [[nodiscard]] std::size_t chunk_count() const noexcept { return (rows_ + chunk_rows_ - 1) / chunk_rows_; }

    [[nodiscard]] bool alive(std::size_t row) const {
      check(row);
      const auto& d = slot_of(row).dead;
      const auto r = row % chunk_rows_;
      return !d || ((*d)[r / 64] >> (r % 64) & 1U) == 0;
    }
    [[nodiscard]] std::uint64_t key(std::size_t row) const {
      check(row);
      return slot_of(row).data->keys[row % chunk_rows_];
    }
    [[nodiscard]] std::string_view name(std::size_t row) const {
      check(row);
      return slot_of(row).data->names[row % chunk_rows_];
    }
    [[nodiscard]] encoding at(std::size_t row) const {
      check(row);
      encoding e;
      std::copy_n(slot_of(row).data->values.get() + (row % chunk_rows_) * encoding_size, encoding_size, e.data());
      return e;
    }
    /// The encodings of chunk c, rows x 128 floats, contiguous and 64-byte aligned (tombstones included).
    [[nodiscard]] std::span<const float> chunk_values(std::size_t c) const {
      if (c >= chunk_count()) throw std::out_of_range("gallery::view::chunk_values: no such chunk");
      return {dir_->slots[c].data->values.get(), rows_in(c) * encoding_size};
    }

    /// The live row with this key.
    [[nodiscard]] std::optional<std::size_t> find(std::uint64_t key) const noexcept {
      const std::size_t chunks = chunk_count();
      // The last chunk whose first key is <= key; keys ascend across and within chunks.
      std::size_t lo = 0;
      std::size_t hi = chunks;
      while (hi - lo > 1) {
        const std::size_t mid = (lo + hi) / 2;
        if (dir_->slots[mid].data->keys[0] <= key) lo = mid; else hi = mid;
      }
      if (chunks == 0) return std::nullopt;
      const auto* keys = dir_->slots[lo].data->keys.get();
      const auto* end = keys + rows_in(lo);
      const auto* it = std::lower_bound(keys, end, key);
      if (it == end || *it != key) return std::nullopt;
      const std::size_t row = lo * chunk_rows_ + static_cast<std::size_t>(it - keys);
      if (!alive(row)) return std::nullopt;
      return row;
    }

    /// The nearest live row, or nothing when there is none. Ties go to the lower row.
    [[nodiscard]] std::optional<match> nearest(const encoding& query) const noexcept {
      detail::nearest_of_blocks best;
      scan(query, best);
      const auto hit = best.hit();
      if (!hit) return std::nullopt;
      return match{hit->index, key_unchecked(hit->index), std::sqrt(hit->squared_distance)};
    }

    /// The k nearest live rows, nearest first; equal distances keep row order. Fewer when fewer are live.
    [[nodiscard]] std::vector<match> top_k(const encoding& query, std::size_t k) const {
      detail::top_k_of_blocks best(std::min(k, live_));
      scan(query, best);
      const auto hits = std::move(best).take();
      std::vector<match> out;
      out.reserve(hits.size());
      for (const auto& h : hits) out.push_back({h.index, key_unchecked(h.index), std::sqrt(h.squared_distance)});
      return out;
    }

    /// Distance of every row to the query, in row order; +infinity for tombstones. out.size() must be rows().
    void distances(const encoding& query, std::span<float> out) const {
      if (out.size() != rows_) throw std::invalid_argument("gallery::distances: output size != rows()");
      scan(query, [&](std::size_t first_row, const float* block, std::size_t count) {
        for (std::size_t j = 0; j < count; ++j) out[first_row + j] = std::sqrt(block[j]);
      });
    }
    [[nodiscard]] std::vector<float> distances(const encoding& query) const {
      std::vector<float> out(rows_);
      distances(query, out);
      return out;
    }

   private:
    friend class gallery;
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    void check(std::size_t row) const {
      if (row >= rows_) throw std::out_of_range("gallery::view: row out of range");
    }
    [[nodiscard]] const slot& slot_of(std::size_t row) const noexcept { return dir_->slots[row / chunk_rows_]; }
    [[nodiscard]] std::uint64_t key_unchecked(std::size_t row) const noexcept {
      return slot_of(row).data->keys[row % chunk_rows_];
    }
    [[nodiscard]] std::size_t rows_in(std::size_t c) const noexcept {
      return std::min(chunk_rows_, rows_ - c * chunk_rows_);
    }

    /// Calls f(first_row, squared distances, count) for blocks of at most detail::scan_block rows, in row
    /// order, chunk by chunk (detail::scan_blocks); tombstones read +infinity.
    template <class F>
    void scan(const encoding& query, F&& f) const {
      const auto level = detail::best_simd_level();
      const std::size_t chunks = chunk_count();
      for (std::size_t c = 0; c < chunks; ++c) {
        const slot& s = dir_->slots[c];
        const std::size_t first_of_chunk = c * chunk_rows_;
        detail::scan_blocks(
            s.data->values.get(), rows_in(c), query.data(),
            [&](std::size_t start, const float* block, std::size_t count) {
              if (!s.dead) {
                f(first_of_chunk + start, block, count);
                return;
              }
              alignas(64) float masked[detail::scan_block];
              std::copy_n(block, count, masked);
              const auto& bits = *s.dead;
              for (std::size_t w = start / 64; w < (start + count + 63) / 64; ++w) {
                for (std::uint64_t m = bits[w]; m != 0; m &= m - 1) {
                  const std::size_t r = w * 64 + static_cast<std::size_t>(__builtin_ctzll(m));
                  if (r >= start && r < start + count) masked[r - start] = std::numeric_limits<float>::infinity();
                }
              }
              f(first_of_chunk + start, static_cast<const float*>(masked), count);
            },
            level);
      }
    }

    std::shared_ptr<const directory> dir_;
    std::size_t rows_ = 0;
    std::size_t live_ = 0;
    std::size_t chunk_rows_ = default_chunk_rows;
  };

  /// chunk_rows: a positive multiple of 64.
  explicit gallery(std::size_t chunk_rows = default_chunk_rows) : chunk_rows_(chunk_rows) {
    if (chunk_rows == 0 || chunk_rows % 64 != 0) {
      throw std::invalid_argument("gallery: chunk_rows must be a positive multiple of 64");
    }
    dir_ = std::make_shared<directory>(16);
    publish();
  }

  /// A gallery of `names.size()` rows whose encodings are `values` (row-major, 128 floats a row), keyed 0, 1, ...
  /// in order, built and published at once (the CLI's known faces, an import). std::invalid_argument when
  /// values.size() is not 128 x names.size().
  [[nodiscard]] static gallery from_matrix(std::span<const std::string> names, std::span<const float> values,
                                           std::size_t chunk_rows = default_chunk_rows) {
    if (values.size() != names.size() * encoding_size) {
      throw std::invalid_argument("gallery::from_matrix: " + std::to_string(values.size()) + " values for " +
                                  std::to_string(names.size()) + " names (128 a name)");
    }
    gallery g(chunk_rows);
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
  gallery(gallery&& other) : chunk_rows_(other.chunk_rows_) {
    const std::lock_guard lock(other.writer_);
    take(other);
  }
  gallery& operator=(gallery&& other) {
    if (this != &other) {
      const std::scoped_lock lock(writer_, other.writer_);
      chunk_rows_ = other.chunk_rows_;
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
    publish();
    other.publish();
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
      dir_->slots[c].data = std::make_shared<chunk>(chunk_rows_);
    }
    chunk& ch = *dir_->slots[c].data;
    std::copy_n(e, encoding_size, ch.values.get() + r * encoding_size);
    ch.keys[r] = key;
    ch.names[r] = std::string(name);
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
    for (std::size_t row = 0; row < old->rows(); ++row) {
      if (!old->alive(row)) continue;
      const std::size_t c = rows_ / chunk_rows_;
      const std::size_t r = rows_ % chunk_rows_;
      if (r == 0) dir_->slots[c].data = std::make_shared<chunk>(chunk_rows_);
      chunk& ch = *dir_->slots[c].data;
      const auto& from = *old->slot_of(row).data;
      const std::size_t fr = row % chunk_rows_;
      std::copy_n(from.values.get() + fr * encoding_size, encoding_size, ch.values.get() + r * encoding_size);
      ch.keys[r] = from.keys[fr];
      ch.names[r] = from.names[fr];
      ++rows_;
      ++live_;
    }
    // last_key_ stays: erased keys stay used, keys keep increasing past them.
    publish();
  }

  void publish() {
    auto v = std::make_shared<view>();
    v->dir_ = dir_;
    v->rows_ = rows_;
    v->live_ = live_;
    v->chunk_rows_ = chunk_rows_;
    std::shared_ptr<const view> old = std::move(v);
    {
      const std::lock_guard lock(current_mutex_);
      current_.swap(old);
    }
    // `old` (and, if no reader holds it, its chunks) is freed here, outside the lock.
  }

  std::size_t chunk_rows_;
  std::mutex writer_;
  // The writer's state; readers see it only through published views.
  std::shared_ptr<directory> dir_;
  std::size_t rows_ = 0;
  std::size_t live_ = 0;
  std::uint64_t last_key_ = 0;
  bool has_key_ = false;
  mutable std::mutex current_mutex_;  // held only to copy or swap current_
  std::shared_ptr<const view> current_;
};

}  // namespace faceapp
