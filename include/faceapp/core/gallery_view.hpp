// faceapp: a gallery's immutable snapshot (gallery::view) and the queries it answers: the chunked storage it
// shares with the gallery, and the 1:N scan over it, float32 or through a compact copy with an exact float32
// re-score (detail/exact_rerank.hpp), on one thread or several, for one query or many. gallery.hpp is the writer.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "faceapp/core/encoding.hpp"
#include "faceapp/core/threading.hpp"
#include "faceapp/detail/compact_codes.hpp"
#include "faceapp/detail/distance_kernels.hpp"
#include "faceapp/detail/exact_rerank.hpp"
#include "faceapp/detail/int8_query.hpp"
#include "faceapp/detail/mapped_rows.hpp"

namespace faceapp {

class gallery;

/// How a gallery stores and scans its rows (docs/library.md, "The gallery").
struct gallery_options {
  std::size_t chunk_rows = 8192;  // a positive multiple of 64
  /// A compact copy kept beside the float32 rows and scanned first; the best rows are re-scored in float32, so
  /// answers stay those of the float32 scan, bit for bit. int8: 136 bytes a row more, float16: 256.
  compact_codes codes = compact_codes::none;
  /// Threads a query's scan uses (0: one per core), when the view has at least parallel_min_rows rows, more
  /// than one chunk, and the caller is not a worker of a pool (set_worker_thread) or there is a scan_executor.
  unsigned scan_threads = 1;
  std::size_t parallel_min_rows = 65536;
  /// Where the parts of a split scan run besides the caller's thread (threading.hpp): a pool's submit, so that a
  /// server's workers scan a query together instead of starting threads for it. Empty: threads started per query,
  /// and none on a worker thread. A part no job has begun when the caller is free is scanned by the caller.
  part_executor scan_executor{};
  /// Where the float32 rows live: empty (the default), on the heap; a directory, in an unnamed file there,
  /// mapped, a full chunk's rows not resident (detail/mapped_rows.hpp). For a large gallery with compact codes,
  /// whose queries read a few float32 rows each; without codes every query would read them all from the page
  /// cache. Linux only.
  std::filesystem::path rows_dir{};
};

/// A row a query found, in the view it came from.
struct gallery_match {
  std::size_t row = 0;      // in the view it came from (rows are renumbered by compaction)
  std::uint64_t key = 0;
  float distance = 0;
  friend bool operator==(const gallery_match&, const gallery_match&) = default;
};

namespace detail {

struct gallery_byte_deleter {
  void operator()(std::byte* p) const noexcept { ::operator delete(p, std::align_val_t{64}); }
};

/// Storage for chunk_rows rows (and their compact codes). Rows below a published count are immutable.
struct gallery_chunk {
  /// The rows on the heap, or in a slot of `file`.
  gallery_chunk(std::size_t rows, compact_codes codes, const std::shared_ptr<mapped_rows_file>& file = nullptr)
      : values(allocate(rows, file)),
        keys(new std::uint64_t[rows]),
        names(new std::string[rows]) {
    if (codes == compact_codes::none) return;
    compact.reset(static_cast<std::byte*>(::operator new(rows * detail::code_bytes(codes), std::align_val_t{64})));
    if (codes == compact_codes::int8) {
      scales.reset(new float[rows]);
      norms.reset(new std::int32_t[rows]);
    }
  }
  std::unique_ptr<float, gallery_values_deleter> values;
  std::unique_ptr<std::uint64_t[]> keys;
  std::unique_ptr<std::string[]> names;
  std::unique_ptr<std::byte, gallery_byte_deleter> compact;  // int8 codes or float16 halves, 128 a row
  std::unique_ptr<float[]> scales;                   // int8: one a row
  std::unique_ptr<std::int32_t[]> norms;             // int8: the sum of the row's codes squared

 private:
  static std::unique_ptr<float, gallery_values_deleter> allocate(std::size_t rows,
                                                                 const std::shared_ptr<mapped_rows_file>& file) {
    if (!file) {
      return std::unique_ptr<float, gallery_values_deleter>(
          static_cast<float*>(::operator new(rows * encoding_size * sizeof(float), std::align_val_t{64})));
    }
    const auto [p, slot] = file->map();
    return std::unique_ptr<float, gallery_values_deleter>(p, gallery_values_deleter{file, slot});
  }
};

using gallery_bitmap = std::vector<std::uint64_t>;

struct gallery_slot {
  std::shared_ptr<gallery_chunk> data;
  std::shared_ptr<const gallery_bitmap> dead;  // null: no tombstone in this chunk
};

/// The list of chunks. Append-only like a chunk: slots past a published chunk count may be filled while
/// readers use the others; changing a published slot (a tombstone) makes a new directory.
struct gallery_directory {
  explicit gallery_directory(std::size_t cap) : slots(new gallery_slot[cap]), capacity(cap) {}
  std::unique_ptr<gallery_slot[]> slots;
  std::size_t capacity;
};

}  // namespace detail

/// An immutable state of a gallery: what `gallery::snapshot()` returns (`gallery::view`).
class gallery_view {
 public:
  /// Rows in this view, tombstones included; row indices run from 0 to rows() - 1.
  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  /// Live (not erased) rows.
  [[nodiscard]] std::size_t size() const noexcept { return live_; }
  [[nodiscard]] bool empty() const noexcept { return live_ == 0; }
  [[nodiscard]] std::size_t chunk_rows() const noexcept { return chunk_rows_; }
  [[nodiscard]] std::size_t chunk_count() const noexcept { return (rows_ + chunk_rows_ - 1) / chunk_rows_; }
  /// How many views the gallery published before this one: each change publishes exactly one, so two views of
  /// one gallery with the same version are the same state, and a reader can tell how many changes lie between.
  [[nodiscard]] std::uint64_t version() const noexcept { return version_; }

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
    const float* values = row_values(row, e.data());
    if (values != e.data()) std::copy_n(values, encoding_size, e.data());
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

  /// The nearest live row, or nothing when there is none. Ties go to the lower row. The same row and
  /// distance whatever the options (compact codes, threads).
  [[nodiscard]] std::optional<gallery_match> nearest(const encoding& query) const {
    if (codes_ == compact_codes::none && scan_threads_used() == 1) {
      detail::nearest_of_blocks best;
      scan(query, best);
      const auto hit = best.hit();
      if (!hit) return std::nullopt;
      return to_match(*hit);
    }
    auto top = top_k(query, 1);
    if (top.empty()) return std::nullopt;
    return top.front();
  }

  /// The k nearest live rows, nearest first; equal distances keep row order. Fewer when fewer are live.
  [[nodiscard]] std::vector<gallery_match> top_k(const encoding& query, std::size_t k) const {
    return std::move(top_k_each(std::span<const encoding>(&query, 1), k).front());
  }

  /// nearest for each query, in one pass over the rows (all faces of one photo): the same answers as one
  /// query at a time.
  [[nodiscard]] std::vector<std::optional<gallery_match>> nearest_each(std::span<const encoding> queries) const {
    auto tops = top_k_each(queries, 1);
    std::vector<std::optional<gallery_match>> out(tops.size());
    for (std::size_t q = 0; q < tops.size(); ++q) {
      if (!tops[q].empty()) out[q] = tops[q].front();
    }
    return out;
  }

  /// top_k for each query, in one pass over the rows: the same answers as one query at a time.
  [[nodiscard]] std::vector<std::vector<gallery_match>> top_k_each(std::span<const encoding> queries,
                                                                   std::size_t k) const {
    const auto hits = search(queries, std::min(k, live_));
    std::vector<std::vector<gallery_match>> out(hits.size());
    for (std::size_t q = 0; q < hits.size(); ++q) {
      out[q].reserve(hits[q].size());
      for (const auto& h : hits[q]) out[q].push_back(to_match(h));
    }
    return out;
  }

  /// The compact copy this view's queries scan first.
  [[nodiscard]] compact_codes codes() const noexcept { return codes_; }
  /// The largest residual ||x - decoded x|| of the compact copy's rows (the error bound of exact_rerank.hpp);
  /// +infinity when some row cannot be coded (queries then scan float32); 0 without a compact copy.
  [[nodiscard]] double code_residual() const noexcept { return residual_; }
  /// Threads a query on this view scans with (gallery_options::scan_threads, parallel_min_rows and
  /// scan_executor): with an executor, the most it may use.
  [[nodiscard]] unsigned scan_threads_used() const noexcept {
    const unsigned wanted = scan_threads_ != 0 ? scan_threads_ : std::max(1U, std::thread::hardware_concurrency());
    if (wanted <= 1 || rows_ < parallel_min_rows_ || chunk_count() < 2) return 1;
    if (is_worker_thread() && !executor_) return 1;
    return static_cast<unsigned>(std::min<std::size_t>(wanted, chunk_count()));
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
  friend class faceapp::gallery;
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  void check(std::size_t row) const {
    if (row >= rows_) throw std::out_of_range("gallery::view: row out of range");
  }
  [[nodiscard]] const detail::gallery_slot& slot_of(std::size_t row) const noexcept {
    return dir_->slots[row / chunk_rows_];
  }
  [[nodiscard]] std::uint64_t key_unchecked(std::size_t row) const noexcept {
    return slot_of(row).data->keys[row % chunk_rows_];
  }
  [[nodiscard]] std::size_t rows_in(std::size_t c) const noexcept {
    return std::min(chunk_rows_, rows_ - c * chunk_rows_);
  }

  [[nodiscard]] gallery_match to_match(const detail::nearest_hit& h) const noexcept {
    return {h.index, key_unchecked(h.index), std::sqrt(h.squared_distance)};
  }

  /// Calls f(first_row, squared distances, count) for blocks of at most detail::scan_block rows, in row
  /// order, chunk by chunk (detail::scan_blocks); tombstones read +infinity.
  template <class F>
  void scan(const encoding& query, F&& f) const {
    const float* q = query.data();
    scan(&q, nullptr, 1, compact_codes::none, 0, chunk_count(),
         [&](std::size_t, std::size_t first, const float* block, std::size_t count) { f(first, block, count); });
  }

  /// Calls f(query, first_row, squared distances, count) for the blocks of chunks [c0, c1), in row order,
  /// each block for every query (detail::scan_blocks), over the float32 rows or the compact copy `codes` (int8:
  /// through the queries as `coded`, int8_query.hpp); tombstones read +infinity.
  template <class F>
  void scan(const float* const* queries, const detail::int8_query* const* coded, std::size_t query_count,
            compact_codes codes, std::size_t c0, std::size_t c1, F&& f) const {
    const auto level = detail::best_simd_level();
    for (std::size_t c = c0; c < c1; ++c) {
      const detail::gallery_slot& s = dir_->slots[c];
      const std::size_t first_of_chunk = c * chunk_rows_;
      const auto masked_f = [&](std::size_t q, std::size_t start, const float* block, std::size_t count) {
        if (!s.dead) {
          f(q, first_of_chunk + start, block, count);
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
        f(q, first_of_chunk + start, static_cast<const float*>(masked), count);
      };
      const detail::gallery_chunk& ch = *s.data;
      if (codes == compact_codes::int8) {
        const auto* codes8 = reinterpret_cast<const std::int8_t*>(ch.compact.get());
        const auto kernel = detail::squared_distances_int8q_kernel(level);
        const auto rows = [&](std::size_t first, std::size_t count, const detail::int8_query* query, float* out) {
          kernel(codes8 + first * encoding_size, ch.scales.get() + first, ch.norms.get() + first, count, *query,
                 out);
        };
        detail::scan_blocks(rows, rows_in(c), coded, query_count, masked_f);
      } else if (codes == compact_codes::float16) {
        const auto* halves = reinterpret_cast<const std::uint16_t*>(ch.compact.get());
        const auto kernel = detail::squared_distances_float16_kernel(level);
        const auto rows = [&](std::size_t first, std::size_t count, const float* query, float* out) {
          kernel(halves + first * encoding_size, count, query, out);
        };
        detail::scan_blocks(rows, rows_in(c), queries, query_count, masked_f);
      } else {
        detail::scan_blocks(detail::float32_rows{detail::squared_distances_kernel(level), ch.values.get()},
                            rows_in(c), queries, query_count, masked_f);
      }
    }
  }

  /// The k nearest of each query (k <= live rows), on scan_threads_used() threads, each over a run of chunks:
  /// through the compact copy and a float32 re-score of the rows within its error bound, or float32 alone.
  [[nodiscard]] std::vector<std::vector<detail::nearest_hit>> search(std::span<const encoding> queries,
                                                                    std::size_t k) const {
    std::vector<std::vector<detail::nearest_hit>> out(queries.size());
    if (k == 0 || queries.empty()) return out;
    const unsigned parts = scan_threads_used();
    const std::size_t chunks = chunk_count();
    const auto part_begin = [&](unsigned p) { return chunks * p / parts; };
    std::vector<const float*> pointers;
    std::vector<std::size_t> exact;  // the queries the float32 scan answers
    for (const auto& q : queries) pointers.push_back(q.data());
    if (codes_ != compact_codes::none && residual_ < std::numeric_limits<double>::infinity()) {
      // int8: the queries coded too; one that cannot be (not finite) is answered by the float32 scan.
      std::vector<detail::int8_query> coded(codes_ == compact_codes::int8 ? queries.size() : 0);
      std::vector<std::size_t> approx;  // the queries the compact scan answers
      std::vector<const float*> approx_pointers;
      std::vector<const detail::int8_query*> approx_coded;
      std::vector<std::vector<detail::candidates_of_blocks>> found;
      for (std::size_t q = 0; q < queries.size(); ++q) {
        double residual = residual_;
        double eta_a = 1e-35;
        if (codes_ == compact_codes::int8) {
          detail::quantize_query_int16(pointers[q], coded[q]);
          if (!(coded[q].residual < std::numeric_limits<double>::infinity())) {
            exact.push_back(q);
            continue;
          }
          residual += coded[q].residual;
          eta_a = detail::int8_query_eta(coded[q], code_norm_);
          approx_coded.push_back(&coded[q]);
        }
        approx.push_back(q);
        approx_pointers.push_back(pointers[q]);
        found.emplace_back(parts, detail::candidates_of_blocks(k, residual, eta_a));
      }
      run_parts(parts, [&](unsigned p) {
        scan(approx_pointers.data(), approx_coded.data(), approx.size(), codes_, part_begin(p), part_begin(p + 1),
             [&](std::size_t i, std::size_t first, const float* block, std::size_t count) {
               found[i][p](first, block, count);
             });
      });
      const auto kernel = detail::squared_distances_kernel(detail::best_simd_level());
      alignas(64) float row[encoding_size];
      for (std::size_t i = 0; i < approx.size(); ++i) {
        const std::size_t q = approx[i];
        const auto [kept, bound] = detail::merge_candidates(found[i]);
        if (!(bound < std::numeric_limits<float>::infinity())) {
          exact.push_back(q);
          continue;
        }
        detail::top_k_of_blocks best(k);  // fed in row order: the float32 scan's tie rule
        for (const auto& h : kept) {
          float e = 0;
          kernel(row_values(h.index, row), 1, pointers[q], &e);
          best(h.index, &e, 1);
        }
        out[q] = std::move(best).take();
      }
    } else {
      for (std::size_t q = 0; q < queries.size(); ++q) exact.push_back(q);
    }
    if (exact.empty()) return out;
    std::vector<const float*> exact_pointers;
    for (const auto q : exact) exact_pointers.push_back(pointers[q]);
    std::vector<std::vector<detail::top_k_of_blocks>> best(exact.size(),
                                                           std::vector(parts, detail::top_k_of_blocks(k)));
    run_parts(parts, [&](unsigned p) {
      scan(exact_pointers.data(), nullptr, exact_pointers.size(), compact_codes::none, part_begin(p),
           part_begin(p + 1),
           [&](std::size_t q, std::size_t first, const float* block, std::size_t count) {
             best[q][p](first, block, count);
           });
    });
    for (std::size_t i = 0; i < exact.size(); ++i) {
      std::vector<std::vector<detail::nearest_hit>> hits;
      for (auto& b : best[i]) hits.push_back(std::move(b).take());
      out[exact[i]] = detail::merge_hits(std::move(hits), k);
    }
    return out;
  }

  /// f(0), ..., f(parts - 1) on the executor's threads and this one, or on threads started for them.
  template <class F>
  void run_parts(unsigned parts, F&& f) const {
    if (executor_) {
      detail::run_parts_on(parts, f, executor_);
    } else {
      detail::run_parts(parts, f);
    }
  }

  /// Row `row`'s float32 values: where they are on the heap, or read from the rows file (detail/mapped_rows.hpp)
  /// into `buffer` (128 floats), which is then returned.
  const float* row_values(std::size_t row, float* buffer) const {
    const auto& values = slot_of(row).data->values;
    const std::size_t r = row % chunk_rows_;
    const auto& file = values.get_deleter().file;
    if (!file) return values.get() + r * encoding_size;
    file->read(values.get_deleter().slot, r * encoding_size * sizeof(float), buffer, encoding_size * sizeof(float));
    return buffer;
  }

  std::shared_ptr<const detail::gallery_directory> dir_;
  std::size_t rows_ = 0;
  std::size_t live_ = 0;
  std::size_t chunk_rows_ = gallery_options{}.chunk_rows;
  compact_codes codes_ = compact_codes::none;
  double residual_ = 0;
  double code_norm_ = 0;  // int8: the largest s^2 C of the rows (the integer kernel's slack, int8_query.hpp)
  unsigned scan_threads_ = 1;
  std::size_t parallel_min_rows_ = 0;
  part_executor executor_;
  std::uint64_t version_ = 0;
};

}  // namespace faceapp
