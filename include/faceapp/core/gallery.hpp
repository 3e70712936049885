// faceapp: a gallery of named encodings, searched 1:N.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "faceapp/core/encoding.hpp"
#include "faceapp/detail/aligned_allocator.hpp"
#include "faceapp/detail/distance_kernels.hpp"

namespace faceapp {

/// Named encodings stored back to back (512 bytes each, cache-line aligned) with their names in one string
/// buffer: a million entries cost about 520 MB, not the ~3 GB of a list of numpy arrays.
///
/// Not synchronised: share a const gallery between threads freely, but do not modify it while others read it.
class gallery {
 public:
  struct match {
    std::size_t index = 0;
    float distance = 0;
    friend bool operator==(const match&, const match&) = default;
  };

  gallery() { name_offsets_.push_back(0); }

  void reserve(std::size_t n) {
    values_.reserve(n * encoding_size);
    name_offsets_.reserve(n + 1);
  }

  /// Adds an entry and returns its index.
  std::size_t add(std::string_view name, const encoding& e) {
    values_.insert(values_.end(), e.begin(), e.end());
    names_.append(name);
    name_offsets_.push_back(static_cast<std::uint64_t>(names_.size()));
    return size() - 1;
  }

  /// Removes entry i; later entries move down by one.
  void erase(std::size_t i) {
    if (i >= size()) throw std::out_of_range("gallery::erase: index out of range");
    values_.erase(values_.begin() + static_cast<std::ptrdiff_t>(i * encoding_size),
                  values_.begin() + static_cast<std::ptrdiff_t>((i + 1) * encoding_size));
    const auto begin = name_offsets_[i];
    const auto length = name_offsets_[i + 1] - begin;
    names_.erase(begin, length);
    name_offsets_.erase(name_offsets_.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    for (std::size_t k = i + 1; k < name_offsets_.size(); ++k) name_offsets_[k] -= length;
  }

  [[nodiscard]] std::size_t size() const noexcept { return name_offsets_.size() - 1; }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }

  [[nodiscard]] std::string_view name(std::size_t i) const {
    return std::string_view(names_).substr(name_offsets_.at(i), name_offsets_.at(i + 1) - name_offsets_[i]);
  }
  [[nodiscard]] encoding at(std::size_t i) const {
    if (i >= size()) throw std::out_of_range("gallery::at: index out of range");
    encoding e;
    std::copy_n(values_.data() + i * encoding_size, encoding_size, e.data());
    return e;
  }
  /// The stored floats, size() x 128, row-major.
  [[nodiscard]] std::span<const float> values() const noexcept { return values_; }

  /// The nearest entry, or nothing for an empty gallery.
  [[nodiscard]] std::optional<match> nearest(const encoding& query) const noexcept {
    if (empty()) return std::nullopt;
    const auto hit = detail::nearest(values_.data(), size(), query.data());
    return match{hit.index, std::sqrt(hit.squared_distance)};
  }

  /// Distances of every entry to the query, in entry order.
  void distances(const encoding& query, std::span<float> out) const {
    if (out.size() != size()) throw std::invalid_argument("gallery::distances: output size != gallery size");
    detail::squared_distances(values_.data(), size(), query.data(), out.data());
    for (float& d : out) d = std::sqrt(d);
  }
  [[nodiscard]] std::vector<float> distances(const encoding& query) const {
    std::vector<float> out(size());
    distances(query, out);
    return out;
  }

  /// The k nearest entries, nearest first (fewer when the gallery is smaller).
  [[nodiscard]] std::vector<match> top_k(const encoding& query, std::size_t k) const {
    std::vector<detail::nearest_hit> hits;
    detail::top_k(values_.data(), size(), query.data(), k, hits);
    std::vector<match> out;
    out.reserve(hits.size());
    for (const auto& h : hits) out.push_back({h.index, std::sqrt(h.squared_distance)});
    return out;
  }

 private:
  std::vector<float, detail::aligned_allocator<float>> values_;
  std::string names_;
  std::vector<std::uint64_t> name_offsets_;
};

}  // namespace faceapp
