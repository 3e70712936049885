// faceapp: a gallery that grows in place. Encodings live in fixed-size chunks that snapshots share, so adding
// one costs O(1) whatever the size, readers take lock-free immutable snapshots, and the 1:N scan still streams
// contiguous, cache-line aligned memory through the SIMD kernels.
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

/// Named encodings under caller-chosen keys (strictly increasing, e.g. database row ids), kept in chunks of
/// `chunk_rows` rows (8192 by default: 4 MB of encodings, 64-byte aligned).
///
/// - A chunk is append-only: a row is written once, before the snapshot that contains it is published, and
///   never again. Snapshots (`view`) carry their own row count and share the chunks, so an add neither copies
///   the gallery nor disturbs anyone reading an older snapshot.
/// - `erase` marks a tombstone in a per-chunk bitmap (the bitmap of that one chunk is copied, 1 KB); a
///   tombstoned row never matches. When a quarter of the rows are tombstones, the writer compacts (rebuilds
///   the chunks from the live rows, O(n), so O(1) amortised per erase); `compact()` does it on demand.
/// - `nearest`, `top_k` and `distances` scan each chunk's contiguous memory with the SIMD block kernels and
///   merge the per-chunk results.
///
/// Thread safety: `snapshot()` is safe from any thread at any time and never waits for a writer's work: it
/// copies a shared_ptr under a lock held only for that copy (a writer holds it only to swap the pointer). A
/// view is immutable and may be shared freely. Writers (`add`, `erase`, `compact`) are serialised by another
/// mutex. (std::atomic<std::shared_ptr> would do the same with a lock bit, but libstdc++ 12 releases that bit
/// with a relaxed store after reading the pointer, which ThreadSanitizer rightly reports as a race.)
class chunked_gallery {
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
      if (c >= chunk_count()) throw std::out_of_range("chunked_gallery::view::chunk_values: no such chunk");
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
      std::size_t best_row = npos;
      float best = std::numeric_limits<float>::infinity();
      scan(query, [&](std::size_t first_row, const float* block, std::size_t count, bool) {
        for (std::size_t j = 0; j < count; ++j) {
          if (block[j] < best) {
            best = block[j];
            best_row = first_row + j;
          }
        }
      });
      if (best_row == npos) return std::nullopt;
      return match{best_row, key_unchecked(best_row), std::sqrt(best)};
    }

    /// The k nearest live rows, nearest first; equal distances keep row order. Fewer when fewer are live.
    [[nodiscard]] std::vector<match> top_k(const encoding& query, std::size_t k) const {
      std::vector<detail::nearest_hit> heap;
      k = std::min(k, live_);
      if (k == 0) return {};
      heap.reserve(k);
      const auto before = [](const detail::nearest_hit& a, const detail::nearest_hit& b) {
        return a.squared_distance < b.squared_distance ||
               (a.squared_distance == b.squared_distance && a.index < b.index);
      };
      float worst = std::numeric_limits<float>::infinity();
      scan(query, [&](std::size_t first_row, const float* block, std::size_t count, bool has_dead) {
        std::size_t j = 0;
        for (; j < count && heap.size() < k; ++j) {  // filling the heap: dead rows are +inf, skip them
          if (has_dead && block[j] == std::numeric_limits<float>::infinity()) continue;
          heap.push_back({first_row + j, block[j]});
          std::push_heap(heap.begin(), heap.end(), before);
          if (heap.size() == k) worst = heap.front().squared_distance;
        }
        for (; j < count; ++j) {  // steady state: one compare per row; +inf never gets in
          if (block[j] < worst) {
            std::pop_heap(heap.begin(), heap.end(), before);
            heap.back() = {first_row + j, block[j]};
            std::push_heap(heap.begin(), heap.end(), before);
            worst = heap.front().squared_distance;
          }
        }
      });
      std::sort_heap(heap.begin(), heap.end(), before);
      std::vector<match> out;
      out.reserve(heap.size());
      for (const auto& h : heap) out.push_back({h.index, key_unchecked(h.index), std::sqrt(h.squared_distance)});
      return out;
    }

    /// Distance of every row to the query, in row order; +infinity for tombstones. out.size() must be rows().
    void distances(const encoding& query, std::span<float> out) const {
      if (out.size() != rows_) throw std::invalid_argument("chunked_gallery::distances: output size != rows()");
      scan(query, [&](std::size_t first_row, const float* block, std::size_t count, bool) {
        for (std::size_t j = 0; j < count; ++j) out[first_row + j] = std::sqrt(block[j]);
      });
    }
    [[nodiscard]] std::vector<float> distances(const encoding& query) const {
      std::vector<float> out(rows_);
      distances(query, out);
      return out;
    }

   private:
    friend class chunked_gallery;
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    void check(std::size_t row) const {
      if (row >= rows_) throw std::out_of_range("chunked_gallery::view: row out of range");
    }
    [[nodiscard]] const slot& slot_of(std::size_t row) const noexcept { return dir_->slots[row / chunk_rows_]; }
    [[nodiscard]] std::uint64_t key_unchecked(std::size_t row) const noexcept {
      return slot_of(row).data->keys[row % chunk_rows_];
    }
    [[nodiscard]] std::size_t rows_in(std::size_t c) const noexcept {
      return std::min(chunk_rows_, rows_ - c * chunk_rows_);
    }

    /// Calls f(first_row, squared distances, count, block has tombstones) for blocks of at most
    /// detail::scan_block rows, in row order; tombstones read +infinity.
    template <class F>
    void scan(const encoding& query, F&& f) const noexcept {
      const auto kernel = detail::squared_distances_kernel(detail::best_simd_level());
      alignas(64) float block[detail::scan_block];
      const std::size_t chunks = chunk_count();
      for (std::size_t c = 0; c < chunks; ++c) {
        const slot& s = dir_->slots[c];
        const float* base = s.data->values.get();
        const std::size_t n = rows_in(c);
        for (std::size_t start = 0; start < n; start += detail::scan_block) {
          const std::size_t count = std::min(detail::scan_block, n - start);
          kernel(base + start * encoding_size, count, query.data(), block);
          bool has_dead = false;
          if (s.dead) {
            const auto& bits = *s.dead;
            for (std::size_t w = start / 64; w < (start + count + 63) / 64; ++w) {
              for (std::uint64_t m = bits[w]; m != 0; m &= m - 1) {
                const std::size_t r = w * 64 + static_cast<std::size_t>(__builtin_ctzll(m));
                if (r >= start && r < start + count) {
                  block[r - start] = std::numeric_limits<float>::infinity();
                  has_dead = true;
                }
              }
            }
          }
          f(c * chunk_rows_ + start, static_cast<const float*>(block), count, has_dead);
        }
      }
    }

    std::shared_ptr<const directory> dir_;
    std::size_t rows_ = 0;
    std::size_t live_ = 0;
    std::size_t chunk_rows_ = default_chunk_rows;
  };

  /// chunk_rows: a positive multiple of 64.
  explicit chunked_gallery(std::size_t chunk_rows = default_chunk_rows) : chunk_rows_(chunk_rows) {
    if (chunk_rows == 0 || chunk_rows % 64 != 0) {
      throw std::invalid_argument("chunked_gallery: chunk_rows must be a positive multiple of 64");
    }
    dir_ = std::make_shared<directory>(16);
    publish();
  }

  chunked_gallery(const chunked_gallery&) = delete;
  chunked_gallery& operator=(const chunked_gallery&) = delete;

  /// The current state; never changes under the caller. Safe beside a writer.
  [[nodiscard]] std::shared_ptr<const view> snapshot() const noexcept {
    const std::lock_guard lock(current_mutex_);
    return current_;
  }

  [[nodiscard]] std::size_t chunk_rows() const noexcept { return chunk_rows_; }

  /// Appends a row. Keys must be strictly increasing over the gallery's life (std::invalid_argument otherwise).
  /// O(1) amortised: writes one row into the last chunk (or a new one) and publishes a new view.
  void add(std::uint64_t key, std::string_view name, const encoding& e) {
    const std::lock_guard lock(writer_);
    append(key, name, e);
    publish();
  }

  /// Appends many rows and publishes once. Same rule for keys.
  template <class Rows>  // a range of something with .key, .name, .encoding
  void add_all(const Rows& rows) {
    const std::lock_guard lock(writer_);
    for (const auto& r : rows) append(r.key, r.name, r.encoding);
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
  void append(std::uint64_t key, std::string_view name, const encoding& e) {
    if (has_key_ && key <= last_key_) {
      throw std::invalid_argument("chunked_gallery::add: key " + std::to_string(key) +
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
    std::copy(e.begin(), e.end(), ch.values.get() + r * encoding_size);
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
