// tracker's limits at their boundaries, on faces built by hand: overlaps, distances and gaps that exact values
// of real frames cannot pin down. (test_video_faces.cpp runs the tracker on real frames.)
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "faceapp/faceapp.hpp"

namespace {

/// A face at `b` whose encoding is 0 but for `first` in its first component (distance to another such face:
/// the difference of the two, exactly).
faceapp::encoded_face face_at(faceapp::box b, float first, const std::string& name = {}, float distance = 1) {
  faceapp::encoded_face f;
  f.box = b;
  f.encoding[0] = first;
  f.name = name;
  f.distance = distance;
  f.match = !name.empty();
  return f;
}

faceapp::encoded_faces frame_of(std::int64_t index, std::vector<faceapp::encoded_face> faces) {
  faceapp::encoded_faces f;
  f.image.frame = faceapp::frame_position{index, static_cast<double>(index)};
  f.items = std::move(faces);
  return f;
}

constexpr faceapp::box a{0, 9, 9, 0};        // 10 x 10
constexpr faceapp::box b{0, 14, 9, 5};       // 10 x 10, half of it over a: IoU 50 / 150 = 1/3
constexpr faceapp::box far{500, 609, 509, 600};

}  // namespace

TEST_CASE("overlap is intersection over union of inclusive boxes") {
  CHECK(faceapp::overlap(a, a) == 1.0);
  CHECK(faceapp::overlap(a, b) == 50.0 / 150.0);
  CHECK(faceapp::overlap(a, far) == 0.0);
  CHECK(faceapp::overlap(a, {10, 19, 19, 10}) == 0.0);  // touching corners share no pixel
}

TEST_CASE("tracker links by overlap first, at min_overlap exactly, and by distance below it") {
  // Track 0 at a (encoding 0), track 1 far away (encoding 0.2). The new face at b has encoding 0.1... 0.3 apart:
  // by distance it is nearer track 1, by overlap it is track 0's.
  for (const auto& [min_overlap, expected] : std::vector<std::pair<double, std::size_t>>{
           {1.0 / 3.0, 0}, {std::nextafter(1.0 / 3.0, 0.0), 0}, {std::nextafter(1.0 / 3.0, 1.0), 1}}) {
    CAPTURE(min_overlap);
    faceapp::tracker t({.min_overlap = min_overlap, .max_distance = 0.5F});
    auto first = frame_of(0, {face_at(a, 0), face_at(far, 0.25F)});
    CHECK(t.update(first) == std::vector<std::size_t>{0, 1});
    auto second = frame_of(1, {face_at(b, 0.375F)});
    CHECK(t.update(second) == std::vector<std::size_t>{expected});
    CHECK(second[0].track == expected);
  }
}

TEST_CASE("tracker joins a face within max_distance of a track's last face, exactly at it, and not beyond") {
  for (const auto& [max_distance, tracks] : std::vector<std::pair<float, std::size_t>>{
           {0.5F, 1}, {std::nextafter(0.5F, 1.0F), 1}, {std::nextafter(0.5F, 0.0F), 2}}) {
    CAPTURE(max_distance);
    faceapp::tracker t({.max_distance = max_distance});
    auto first = frame_of(0, {face_at(a, 0)});
    t.update(first);
    auto second = frame_of(1, {face_at(a, 0.5F)});  // same place, distance 0.5 exactly
    t.update(second);
    CHECK(t.tracks().size() == tracks);
  }
}

TEST_CASE("tracker keeps a track through max_missed frames without it, and ends it one frame later") {
  for (const auto& [gap, tracks] : std::vector<std::pair<int, std::size_t>>{{1, 1}, {2, 1}, {3, 2}}) {
    CAPTURE(gap);
    faceapp::tracker t({.max_missed = 2});
    auto first = frame_of(0, {face_at(a, 0)});
    t.update(first);
    for (int k = 1; k <= gap; ++k) {
      auto empty = frame_of(k, {});
      t.update(empty);
    }
    auto back = frame_of(gap + 1, {face_at(far, 0)});  // elsewhere: joins by distance, if at all
    t.update(back);
    CHECK(t.tracks().size() == tracks);
  }
}

TEST_CASE("a track's identity is the vote of its faces, ties to the smaller distance, with its best distance") {
  faceapp::tracker t;
  const std::vector<std::vector<faceapp::encoded_face>> frames{
      {face_at(a, 0, "obama", 0.40F)}, {face_at(a, 0, "biden", 0.30F)}, {face_at(a, 0, "obama", 0.45F)},
      {face_at(a, 0, "", 0.7F)}};
  std::int64_t i = 0;
  for (const auto& faces : frames) {
    auto f = frame_of(i++, faces);
    t.update(f);
  }
  auto tracks = t.tracks();
  REQUIRE(tracks.size() == 1);
  CHECK(tracks[0].name == "obama");
  CHECK(tracks[0].votes == 2);
  CHECK(tracks[0].faces == 4);
  CHECK(tracks[0].best_distance == 0.40F);
  CHECK(tracks[0].first.index == 0);
  CHECK(tracks[0].last.index == 3);
  SUBCASE("a tie goes to the name with the smaller best distance") {
    auto f = frame_of(4, {face_at(a, 0, "biden", 0.35F)});
    t.update(f);
    tracks = t.tracks();
    CHECK(tracks[0].name == "biden");
    CHECK(tracks[0].best_distance == 0.30F);
  }
}

TEST_CASE("track(tracker) sets each face's track as the tracker links them") {
  faceapp::tracker people;
  const auto stage = faceapp::track(people);
  const auto out = stage(frame_of(0, {face_at(a, 0), face_at(far, 0.5F)}));
  REQUIRE(out.has_value());
  CHECK(out->items[0].track == 0U);
  CHECK(out->items[1].track == 1U);
  CHECK(people.tracks().size() == 2);
}
