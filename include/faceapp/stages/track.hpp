// faceapp `tracker` and the stage `track(tracker)`: the faces of consecutive video frames -> tracks of one person.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "faceapp/core/encoding.hpp"
#include "faceapp/core/geometry.hpp"
#include "faceapp/core/keep.hpp"
#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"
#include "faceapp/faces.hpp"

namespace faceapp {

/// How the tracker links a frame's faces to the tracks of the frames before it.
struct track_options {
  /// A face joins a track by overlap when its box and the track's last box overlap by at least this much
  /// (intersection over union, boxes inclusive as dlib's) and its encoding is within max_distance.
  double min_overlap = 0.3;
  /// The largest encoding distance to a track's last face at which a face may join it, by overlap or, when no
  /// box overlaps enough, by distance alone (a face that moved far between two analysed frames).
  float max_distance = default_tolerance;
  /// Analysed frames in a row a track may go without a face before it ends (is no longer joined).
  int max_missed = 2;
};

/// One track: a person's faces over consecutive analysed frames.
struct track_info {
  std::size_t id = 0;            // 0, 1, ... in the order the tracks began
  frame_position first;          // the first and last frame with a face of the track
  frame_position last;
  std::size_t faces = 0;         // frames (faces) in the track
  std::string name;              // the vote of its faces: the name most of them matched; empty for unknown
  std::size_t votes = 0;         // faces that voted for `name`
  std::optional<float> best_distance;  // the smallest distance among the faces that voted for `name`
};

/// Intersection over union of two boxes (right and bottom inclusive, as dlib's).
[[nodiscard]] inline double overlap(const box& a, const box& b) noexcept {
  const long w = std::min(a.right, b.right) - std::max(a.left, b.left) + 1;
  const long h = std::min(a.bottom, b.bottom) - std::max(a.top, b.top) + 1;
  if (w <= 0 || h <= 0) return 0;
  const long inter = w * h;
  return static_cast<double>(inter) / static_cast<double>(a.area() + b.area() - inter);
}

/// Links the faces of consecutive analysed frames into tracks: first each face to the track whose last box it
/// overlaps most (at least min_overlap, encoding within max_distance), then the faces left to the nearest track
/// left by encoding distance (within max_distance), then a new track for each face still left. A track's
/// identity is the vote of its faces (Frigate's way): the name matched most often (`match` set by distance_to
/// or compare; an unmatched face votes for unknown), ties to the smaller best distance. Not thread-safe: frames
/// go through one tracker in order.
class tracker {
 public:
  explicit tracker(track_options options = {}) : options_(options) {}

  /// The track of each face of the next analysed frame, in face order (and sets each face's `track`).
  std::vector<std::size_t> update(encoded_faces& frame) {
    ++frame_number_;
    const frame_position where = frame.image.frame.value_or(frame_position{frame_number_, 0});
    std::vector<std::size_t> active;
    for (std::size_t t = 0; t < tracks_.size(); ++t) {
      if (frame_number_ - tracks_[t].last_frame - 1 <= options_.max_missed) active.push_back(t);
    }
    const std::size_t n = frame.items.size();
    std::vector<std::optional<std::size_t>> joined(n);
    std::vector<bool> taken(tracks_.size(), false);
    // (key, face, track): overlaps descending first, then distances ascending.
    std::vector<std::tuple<double, std::size_t, std::size_t>> pairs;
    const auto link = [&](bool by_overlap) {
      pairs.clear();
      for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t t : active) {
          const auto& f = frame.items[i];
          const float d = distance(f.encoding, tracks_[t].last_encoding);
          if (d > options_.max_distance) continue;
          if (by_overlap) {
            const double o = overlap(f.box, tracks_[t].last_box);
            if (o >= options_.min_overlap) pairs.emplace_back(-o, i, t);
          } else {
            pairs.emplace_back(d, i, t);
          }
        }
      }
      std::sort(pairs.begin(), pairs.end());
      for (const auto& [key, i, t] : pairs) {
        if (joined[i] || taken[t]) continue;
        joined[i] = t;
        taken[t] = true;
      }
    };
    link(true);
    link(false);
    std::vector<std::size_t> ids(n);
    for (std::size_t i = 0; i < n; ++i) {
      auto& f = frame.items[i];
      if (!joined[i]) {
        joined[i] = tracks_.size();
        tracks_.push_back(state{});
        tracks_.back().info.id = *joined[i];
        tracks_.back().info.first = where;
      }
      auto& s = tracks_[*joined[i]];
      s.last_frame = frame_number_;
      s.last_box = f.box;
      s.last_encoding = f.encoding;
      s.info.last = where;
      ++s.info.faces;
      auto& vote = s.votes[f.match.value_or(false) ? f.name : std::string()];
      ++vote.count;
      if (f.distance && (!vote.best || *f.distance < *vote.best)) vote.best = f.distance;
      f.track = ids[i] = *joined[i];
    }
    return ids;
  }

  /// Every track so far, in the order they began, each with its identity as voted so far.
  [[nodiscard]] std::vector<track_info> tracks() const {
    std::vector<track_info> out;
    for (const auto& s : tracks_) {
      track_info info = s.info;
      for (const auto& [name, vote] : s.votes) {
        const bool better = vote.count > info.votes ||
                            (vote.count == info.votes && vote.best && (!info.best_distance || *vote.best <
                                                                                             *info.best_distance));
        if (info.votes == 0 || better) {
          info.name = name;
          info.votes = vote.count;
          info.best_distance = vote.best;
        }
      }
      out.push_back(std::move(info));
    }
    return out;
  }

  [[nodiscard]] const track_options& options() const noexcept { return options_; }

 private:
  struct vote_count {
    std::size_t count = 0;
    std::optional<float> best;
  };
  struct state {
    track_info info;
    std::int64_t last_frame = 0;
    box last_box;
    encoding last_encoding;
    std::map<std::string, vote_count> votes;
  };

  track_options options_;
  std::int64_t frame_number_ = -1;  // of update calls: analysed frames
  std::vector<state> tracks_;
};

/// `track(tracker)`: encoded_faces -> the same faces, each with `track` set by the tracker (tracker::update).
/// The tracker is kept by the rule of std::views::all (core/keep.hpp): an lvalue is borrowed and must outlive
/// the stage. The frames must come in order, through one thread: the stage is not thread-safe. Example:
/// `video("door.mp4") | ranges::views::transform(detect | encode | distance_to(known) | track(people))`.
struct track_stage : stage_base<track_stage> {
  using input_type = encoded_faces;
  using output_type = encoded_faces;
  static constexpr const char* name = "track";

  std::shared_ptr<faceapp::tracker> tracker;

  [[nodiscard]] result<encoded_faces> run(encoded_faces in) const {
    if (!tracker) return fail(name, in.source(), "not tracked: the stage has no tracker (a null shared_ptr)");
    tracker->update(in);
    return in;
  }
};

struct track_fn : detail::stage_factory_base {
  struct track_is_a_stage_factory_call_it_with_a_tracker_eg_track_people;
  using call_it_first = track_is_a_stage_factory_call_it_with_a_tracker_eg_track_people;

  template <class T>
    requires std::same_as<std::remove_cvref_t<T>, faceapp::tracker> && (!std::is_const_v<std::remove_reference_t<T>>)
  [[nodiscard]] track_stage operator()(T&& t) const {
    return track_stage{{}, detail::keep(std::forward<T>(t))};
  }
  [[nodiscard]] track_stage operator()(std::shared_ptr<faceapp::tracker> t) const {
    return track_stage{{}, std::move(t)};
  }
};

inline constexpr track_fn track{};

}  // namespace faceapp
