// faceapp `video(source, options)`: a video file or a live stream -> a single-pass range of frames, each a
// result<image> (the image's `frame` says its index and presentation time). A view for the standard ranges and for
// range-v3 alike; include this header on its own: the umbrella does not, so that programs that do not read video
// do not parse range-v3's declarations.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <thread>
#include <utility>

#include <range/v3/range_fwd.hpp>

#include "faceapp/core/result.hpp"
#include "faceapp/image.hpp"

namespace faceapp {

/// Which frames `video` gives, and how it reads them.
struct video_options {
  /// Keep every N-th decoded frame (1: all): frames 0, N, 2N, ...
  int every = 1;
  /// At most this many kept frames a second of presentation time (0: no limit), on top of `every`: a frame is
  /// kept once its time reaches the next slot, the slots 1/max_fps apart from the first frame kept.
  double max_fps = 0;
  /// Frames decoded ahead on a thread of their own, so that decoding overlaps what the reader does with the
  /// frames; 0 decodes on the reading thread instead.
  std::size_t read_ahead = 4;
  /// A network source (a URL: tcp://, udp://, rtsp://, http://...) that stops giving frames is opened again, up
  /// to this many times in a row, after reconnect_delay seconds, doubled after each failed attempt.
  int reconnects = 3;
  double reconnect_delay = 0.25;
  /// Seconds FFmpeg may wait to open a network source, and for each of its packets, before it gives up.
  double timeout = 10;
};

namespace detail {

/// OpenCV's FFmpeg reader behind `video`, compiled once in the runtime library (src/video.cpp), so that
/// OpenCV's videoio headers stay out of the files that include this one. next() gives the next kept frame or
/// an error value, and nothing once the source is done. Not thread-safe: one reader at a time.
class video_decoder {
 public:
  video_decoder(std::string source, video_options options);
  video_decoder(const video_decoder&) = delete;
  video_decoder& operator=(const video_decoder&) = delete;
  ~video_decoder();
  std::optional<result<image>> next();
  /// From another thread: a reconnect's wait ends at once and next() gives nothing more (a packet FFmpeg is
  /// waiting for still takes up to options.timeout).
  void request_stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace detail

/// What `video` returns: the frames of one source, in decoding order, read once. A view: copies share the one
/// stream (as copies of an input stream's view do), and destroying the last one stops the read-ahead thread
/// (after the packet FFmpeg is waiting for: at most `timeout` seconds on a live source).
class video_frames : public std::ranges::view_base, public ranges::view_base {
  struct state;

 public:
  using value_type = result<image>;

  video_frames() = default;  // no source: an empty range
  video_frames(std::string source, video_options options)
      : state_(std::make_shared<state>(std::move(source), options)) {}

  class iterator {
   public:
    using value_type = result<image>;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::input_iterator_tag;

    iterator() = default;
    value_type& operator*() const { return *state_->current; }
    value_type* operator->() const { return &*state_->current; }
    iterator& operator++() {
      state_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) {
      return it.state_ == nullptr || !it.state_->current;
    }

   private:
    friend class video_frames;
    explicit iterator(state* s) : state_(s) {}
    state* state_ = nullptr;
  };

  /// Opens the source and starts the read-ahead; a single-pass range: a later call gives an iterator at the frame
  /// the first one has reached.
  iterator begin() {
    if (!state_) return {};
    if (!state_->started) {
      state_->started = true;
      state_->start();
      state_->next();
    }
    return iterator(state_.get());
  }
  std::default_sentinel_t end() const noexcept { return {}; }

  /// The most frames the read-ahead queue has held at once (at most options.read_ahead).
  [[nodiscard]] std::size_t peak_queued() const {
    if (!state_) return 0;
    const std::lock_guard lock(state_->mutex);
    return state_->peak;
  }

 private:
  struct state {
    detail::video_decoder decoder;
    std::size_t capacity;
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<value_type> ready;
    std::optional<value_type> current;
    std::size_t peak = 0;
    bool finished = false;
    bool stopping = false;
    bool started = false;  // begin() has run
    std::jthread reader;

    state(std::string source, video_options options)
        : decoder(std::move(source), options), capacity(options.read_ahead) {}
    ~state() {
      {
        const std::lock_guard lock(mutex);
        stopping = true;
        changed.notify_all();
      }
      decoder.request_stop();
      if (reader.joinable()) reader.join();
    }

    void start() {
      if (capacity == 0) return;
      reader = std::jthread([this] {
        while (auto frame = decoder.next()) {
          std::unique_lock lock(mutex);
          changed.wait(lock, [&] { return ready.size() < capacity || stopping; });
          if (stopping) break;
          ready.push_back(*std::move(frame));
          peak = std::max(peak, ready.size());
          changed.notify_all();
        }
        const std::lock_guard lock(mutex);
        finished = true;
        changed.notify_all();
      });
    }

    void next() {
      if (capacity == 0) {
        current = decoder.next();
        return;
      }
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return !ready.empty() || finished; });
      if (ready.empty()) {
        current.reset();
        return;
      }
      current.emplace(std::move(ready.front()));
      ready.pop_front();
      changed.notify_all();
    }
  };

  std::shared_ptr<state> state_;
};

/// `video(source, options)`: the frames of a video file, or of a stream at a URL that OpenCV's FFmpeg backend
/// opens (tcp://, udp://, rtsp://, http://...), as a single-pass input range of result<image>: 8-bit RGB
/// images whose `frame` holds their index (among all decoded frames) and presentation time in seconds, and
/// whose `source` is the source's name. Every stage takes its elements (a stage passes an error through), so
/// `video("door.mp4") | ranges::views::transform(detect | encode)` is a range of faces per frame.
///  - Errors are values, in the range where they happen: a source that does not open (the only element; errc
///    not_found for a missing file, unsupported for anything FFmpeg cannot open); options out of range (the
///    only element); a file that ends before the frame count its header announces (the frames before the cut,
///    then an errc::corrupt error saying so); frames that could not be decoded (skipped, then one errc::corrupt
///    error at the end counting them); a network source that stops (one error per reconnect, and a last one
///    when options.reconnects attempts in a row failed).
///  - Network sources: OpenCV's FFmpeg backend waits at most options.timeout seconds to open or read.
/// Thread safety: one reader per range; the read-ahead thread is internal. Example:
/// `for (const auto& f : faceapp::video("door.mp4", {.every = 5})) if (f) use(f->frame->time, f->pixels);`
inline video_frames video(std::string source, video_options options = {}) {
  return video_frames(std::move(source), options);
}

}  // namespace faceapp
