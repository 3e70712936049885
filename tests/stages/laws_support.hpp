// The composition-law tests' shared pieces (test_laws.cpp, test_laws_triples.cpp): field-by-field equality of
// what two groupings give, the input a pipeline takes, and whether two or three stages compose.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "faceapp/faceapp.hpp"

namespace faceapp::test::laws {

/// The largest face of an image, alone: the web app keeps it before it records.
inline faceapp::encoded_faces keep_largest(faceapp::encoded_faces found) {
  if (const auto i = found.largest()) {
    auto kept = std::move(found.items[*i]);
    found.items.assign(1, std::move(kept));
  }
  return found;
}

inline std::vector<std::string> lines_of(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

/// A row without its time cell (the first): what two runs of the same pipeline must both write.
inline std::string without_time(const std::string& row) { return row.substr(row.find(',')); }

// Photos: group_10.jpg (500x375, three faces that HOG and the cnn both find) wherever a case runs many
// pipelines, as the sanitizer builds run these too; group_3.jpg (2000x1428, three) once, for the card.

// Field by field equality of what two groupings give.
inline void check_same(const faceapp::image& a, const faceapp::image& b) {
  CHECK(a.source == b.source);
  REQUIRE(a.width() == b.width());
  REQUIRE(a.height() == b.height());
  CHECK(a.scale_x == b.scale_x);
  CHECK(a.scale_y == b.scale_y);
  const auto bytes = static_cast<std::size_t>(a.width()) * static_cast<std::size_t>(a.height()) * 3;
  REQUIRE(a.pixels.isContinuous());
  REQUIRE(b.pixels.isContinuous());
  CHECK(std::equal(a.pixels.data, a.pixels.data + bytes, b.pixels.data));
}
inline void check_same_face(const faceapp::face& a, const faceapp::face& b) {
  CHECK(a.box == b.box);
  CHECK(a.box_in_image == b.box_in_image);
  CHECK(a.score == b.score);
  CHECK(a.landmarks == b.landmarks);
}
template <class Face>
inline void check_same(const faceapp::basic_faces<Face>& a, const faceapp::basic_faces<Face>& b) {
  check_same(a.image, b.image);
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    check_same_face(a[i], b[i]);
    if constexpr (std::is_same_v<Face, faceapp::encoded_face>) {
      CHECK(a[i].encoding == b[i].encoding);
      CHECK(a[i].distance == b[i].distance);
      CHECK(a[i].name == b[i].name);
      CHECK(a[i].match == b[i].match);
      CHECK(a[i].cluster == b[i].cluster);
    }
  }
}

/// The same input for a pipeline whose first stage is S: a path for read, else what read (| detect (| encode))
/// gives for the photo.
template <class Pipe>
auto input_for(const std::string& photo) {
  using in = typename Pipe::input_type;
  if constexpr (std::is_same_v<in, faceapp::source>) {
    return faceapp::source(photo);
  } else if constexpr (std::is_same_v<in, faceapp::image>) {
    return faceapp::read(photo).value();
  } else if constexpr (std::is_same_v<in, faceapp::faces>) {
    return (faceapp::read | faceapp::detect)(photo).value();
  } else {
    static_assert(std::is_same_v<in, faceapp::encoded_faces>);
    return (faceapp::read | faceapp::encode)(photo).value();
  }
}

template <class A, class B>
constexpr bool pipes = requires(const A& a, const B& b) { a | b; };

template <class R, class Closure>
constexpr bool applies = requires(R& r, Closure c) { r | c; };

template <class A, class B, class C>
constexpr bool left_grouping = pipes<A, B> && requires(const A& a, const B& b, const C& c) { (a | b) | c; };
template <class A, class B, class C>
constexpr bool right_grouping = pipes<B, C> && requires(const A& a, const B& b, const C& c) { a | (b | c); };

}  // namespace faceapp::test::laws
