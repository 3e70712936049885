// The usual stages over video frames: names, windows and tracks on the test video (video_files.hpp), from the
// file and from a live TCP stream, against the manifest's identities.
#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <range/v3/view/transform.hpp>

#include "faceapp/core/views.hpp"
#include "faceapp/faceapp.hpp"
#include "video_files.hpp"

namespace tv = faceapp::test::video;

namespace {

const faceapp::model_set& models() {
  static const faceapp::model_set m = [] {
    auto loaded = faceapp::load_models();
    REQUIRE_MESSAGE(loaded.has_value(), loaded.error().what());
    return *std::move(loaded);
  }();
  return m;
}

/// The known people of the test video, from their other photo.
const faceapp::gallery& known() {
  static const faceapp::gallery g = [] {
    std::vector<std::string> names;
    std::vector<float> values;
    const auto pipe = faceapp::read | faceapp::encode(models());
    for (const auto& s : tv::segments()) {
      if (s.known_photo.empty()) continue;
      const auto found = pipe(faceapp::test::data_file("faces/" + s.known_photo));
      REQUIRE_MESSAGE(found.has_value(), found.error().what());
      REQUIRE(found->size() == 1);
      names.push_back(tv::identity_of(s.photo));
      values.insert(values.end(), (*found)[0].encoding.begin(), (*found)[0].encoding.end());
    }
    return faceapp::gallery::from_matrix(names, values);
  }();
  return g;
}

/// One analysed frame every second (the middle of nothing: segments are 2 s), HOG on the frame fitted to 640.
constexpr int every = tv::fps;

struct face_seen {
  double time;
  std::string name;
  std::size_t track;
};

/// Checks each segment's faces against the manifest: one face with the expected name in each analysed frame of a
/// segment with a person, none where there is nobody, and one track per person.
void check_segments(const std::vector<face_seen>& faces, std::size_t frames, const faceapp::tracker& people) {
  CHECK(frames == 10);
  std::map<std::size_t, std::vector<face_seen>> by_segment;
  for (const auto& f : faces) by_segment[tv::segment_at(f.time)].push_back(f);
  std::set<std::size_t> tracks;
  for (std::size_t i = 0; i < tv::segments().size(); ++i) {
    const auto expected = tv::expected_name(tv::segments()[i]);
    CAPTURE(i);
    if (!expected) {
      CHECK(by_segment[i].empty());  // nobody in the gray segment
      continue;
    }
    REQUIRE(by_segment[i].size() == 2);  // one face in each of its two analysed frames
    for (const auto& f : by_segment[i]) CHECK(f.name == *expected);
    CHECK(by_segment[i][0].track == by_segment[i][1].track);
    CHECK(tracks.insert(by_segment[i][0].track).second);  // a track of its own
  }
  const auto summary = people.tracks();
  REQUIRE(summary.size() == 4);
  for (const auto& t : summary) {
    const auto& s = tv::segments()[tv::segment_at(t.first.time)];
    CHECK(t.name == *tv::expected_name(s));
    CHECK(t.faces == 2);
    CHECK(t.votes == 2);
    CHECK(tv::segment_at(t.last.time) == tv::segment_at(t.first.time));
    REQUIRE(t.best_distance.has_value());
    CHECK((*t.best_distance <= faceapp::default_tolerance) == !t.name.empty());
  }
}

auto frame_pipeline(faceapp::tracker& people) {
  return faceapp::fit(640) | faceapp::detect | faceapp::encode(models()) |
         faceapp::distance_to(known().snapshot()) | faceapp::track(people);
}

template <class Results>
std::vector<face_seen> collect(Results&& results, std::size_t& frames, std::vector<faceapp::stage_error>& errors) {
  std::vector<face_seen> out;
  for (const auto& r : results) {
    if (!r) {
      errors.push_back(r.error());
      continue;
    }
    ++frames;
    for (const auto& f : *r) {
      out.push_back({r->image.frame->time, f.match.value_or(false) ? f.name : std::string(), *f.track});
    }
  }
  return out;
}

}  // namespace

TEST_CASE("video | transform(fit | detect | encode | distance_to | track): each segment's person, one track each") {
  const auto path = tv::shared_files().mp4.string();
  faceapp::tracker people;
  std::size_t frames = 0;
  std::vector<faceapp::stage_error> errors;
  const auto faces = collect(faceapp::video(path, {.every = every}) | ranges::views::transform(frame_pipeline(people)),
                             frames, errors);
  CHECK(errors.empty());
  check_segments(faces, frames, people);
}

TEST_CASE("video | views::apply(pipeline) gives the same names and tracks") {
  faceapp::tracker people;
  std::size_t frames = 0;
  std::vector<faceapp::stage_error> errors;
  const auto faces = collect(faceapp::video(tv::shared_files().mp4.string(), {.every = every}) |
                                 faceapp::views::apply(frame_pipeline(people)),
                             frames, errors);
  CHECK(errors.empty());
  check_segments(faces, frames, people);
}

TEST_CASE("a live TCP stream gives the same names in the same windows, then reports that it dropped") {
  const tv::live_stream live(tv::shared_files().mp4);
  faceapp::tracker people;
  std::size_t frames = 0;
  std::vector<faceapp::stage_error> errors;
  const auto faces = collect(faceapp::video(live.url(), {.every = every, .reconnects = 2, .reconnect_delay = 0.05}) |
                                 ranges::views::transform(frame_pipeline(people)),
                             frames, errors);
  check_segments(faces, frames, people);
  // The server sends the file once and goes: the stream stops, and both reconnects find nobody.
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].stage == "video");
  CHECK(errors[0].input == live.url());
  CHECK(errors[0].message.find("did not come back after 2 reconnects") != std::string::npos);
}
