// faceapp runtime: OpenCV's FFmpeg reader behind `video`.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "faceapp/stages/video.hpp"

namespace faceapp::detail {

namespace {

constexpr const char* stage_name = "video";

/// A URL (scheme://...) rather than a file: FFmpeg opens it over the network, and it may drop and come back.
bool is_network(const std::string& source) {
  const auto colon = source.find("://");
  return colon != std::string::npos && colon > 0;
}

std::string seconds(double t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f s", t);
  return buf;
}

/// What is wrong with the options, or nothing.
std::optional<std::string> options_problem(const video_options& o) {
  if (o.every < 1) return "every is " + std::to_string(o.every) + ": it must be at least 1";
  if (!(o.max_fps >= 0) || !std::isfinite(o.max_fps)) return "max_fps must be 0 (no limit) or a positive number";
  if (o.reconnects < 0) return "reconnects is " + std::to_string(o.reconnects) + ": it must be at least 0";
  if (!(o.reconnect_delay >= 0) || !std::isfinite(o.reconnect_delay)) {
    return "reconnect_delay must be 0 or a positive number of seconds";
  }
  if (!(o.timeout > 0) || !std::isfinite(o.timeout)) return "timeout must be a positive number of seconds";
  return std::nullopt;
}

}  // namespace

struct video_decoder::impl {
  impl(std::string s, video_options o) : source(std::move(s)), options(o) {}

  std::string source;
  video_options options;
  bool network = is_network(source);
  cv::VideoCapture capture;
  bool started = false;
  bool done = false;
  double fps = 0;
  std::int64_t announced_frames = 0;  // the header's frame count, for files; 0 when unknown
  std::int64_t index = -1;             // of the last frame decoded, over all (re)connections
  std::int64_t decoded_since_open = 0;
  double time_offset = 0;  // presentation time at which the current connection starts
  double last_time = -1;
  double next_due = 0;  // max_fps: the time of the next slot
  bool any_kept = false;
  std::int64_t corrupt = 0;
  // request_stop(), from the thread that destroys the range: ends a reconnect's wait at once, and the source.
  std::mutex stop_mutex;
  std::condition_variable stop_changed;
  bool stop_requested = false;

  /// Waits `seconds`, or less when a stop is requested; true when one was.
  bool wait_or_stop(double seconds) {
    std::unique_lock lock(stop_mutex);
    return stop_changed.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return stop_requested; });
  }
  bool stopped() {
    const std::lock_guard lock(stop_mutex);
    return stop_requested;
  }

  unexpected error(std::string message, errc code = errc::failed) const {
    return fail(stage_name, source, std::move(message), code);
  }

  bool open() {
    const int ms = static_cast<int>(std::min(options.timeout * 1000.0, 2.0e9));
    const std::vector<int> params{cv::CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv::CAP_PROP_READ_TIMEOUT_MSEC, ms};
    try {
      capture.open(source, cv::CAP_FFMPEG, params);
    } catch (const cv::Exception&) {
      return false;
    }
    if (!capture.isOpened()) return false;
    fps = capture.get(cv::CAP_PROP_FPS);
    if (!(fps > 0) || !std::isfinite(fps)) fps = 0;
    decoded_since_open = 0;
    return true;
  }

  std::optional<result<image>> first_open() {
    started = true;
    if (auto problem = options_problem(options)) {
      done = true;
      return error(*problem);
    }
    if (!network) {
      std::error_code ec;
      const auto status = std::filesystem::status(source, ec);
      if (ec || !std::filesystem::exists(status)) {
        done = true;
        return error("no such file", errc::not_found);
      }
      if (std::filesystem::is_directory(status)) {
        done = true;
        return error("is a directory, not a video file", errc::unsupported);
      }
    }
    if (!open()) {
      done = true;
      return error(network ? "OpenCV's FFmpeg backend could not open the stream (nothing answers there, or it "
                             "is not a video stream it knows)"
                           : "OpenCV's FFmpeg backend could not open it as a video (not a video, or a container "
                             "or codec it does not know)",
                   errc::unsupported);
    }
    const double count = capture.get(cv::CAP_PROP_FRAME_COUNT);
    if (!network && count > 0 && std::isfinite(count)) announced_frames = static_cast<std::int64_t>(count);
    return std::nullopt;
  }

  /// The presentation time of the frame just decoded: FFmpeg's, or from the frame rate where it has none.
  double frame_time() {
    const double ms = capture.get(cv::CAP_PROP_POS_MSEC);
    double t = time_offset + (std::isfinite(ms) && ms >= 0 ? ms / 1000.0 : 0.0);
    if (decoded_since_open > 1 && t <= last_time) t = last_time + (fps > 0 ? 1.0 / fps : 0.0);
    return t;
  }

  bool kept(double t) {
    if (index % options.every != 0) return false;
    if (options.max_fps <= 0) return true;
    const double period = 1.0 / options.max_fps;
    constexpr double slack = 1e-6;  // times are sums of frame durations: a slot hit exactly may read a hair early
    if (any_kept && t + slack < next_due) return false;
    next_due = any_kept ? next_due + period : t + period;
    if (next_due <= t) next_due = t + period;
    any_kept = true;
    return true;
  }

  /// The source stopped giving frames: the error that says why, or a reconnect (network sources).
  std::optional<result<image>> at_end() {
    if (network) {
      const std::string where = "the stream stopped after frame " + std::to_string(index) + " (" +
                                seconds(std::max(last_time, 0.0)) + ")";
      double delay = options.reconnect_delay;
      for (int attempt = 1; attempt <= options.reconnects; ++attempt) {
        if (wait_or_stop(delay)) {
          done = true;
          return std::nullopt;
        }
        capture.release();
        if (open()) {
          time_offset = last_time + (fps > 0 ? 1.0 / fps : 0.0);
          return error(where + "; reconnected at attempt " + std::to_string(attempt) + " of " +
                       std::to_string(options.reconnects));
        }
        delay *= 2;
      }
      done = true;
      return error(where + " and did not come back after " + std::to_string(options.reconnects) + " reconnect" +
                   (options.reconnects == 1 ? "" : "s"));
    }
    done = true;
    const std::int64_t decoded = index + 1;
    if (announced_frames > 0 && decoded < announced_frames) {
      return error("truncated: the data ends after " + std::to_string(decoded) + " of the " +
                       std::to_string(announced_frames) + " frames its header announces",
                   errc::corrupt);
    }
    if (corrupt > 0) {
      return error(std::to_string(corrupt) + " frame" + (corrupt == 1 ? "" : "s") +
                       " could not be decoded and were skipped",
                   errc::corrupt);
    }
    return std::nullopt;
  }

  std::optional<result<image>> next() {
    if (!started) {
      if (auto failed = first_open()) return failed;
    }
    while (!done && !stopped()) {
      bool grabbed = false;
      try {
        grabbed = capture.grab();
      } catch (const cv::Exception&) {
        grabbed = false;
      }
      if (!grabbed) {
        if (auto end = at_end()) return end;
        continue;
      }
      ++index;
      ++decoded_since_open;
      const double t = frame_time();
      last_time = t;
      if (!kept(t)) continue;
      cv::Mat bgr;
      bool retrieved = false;
      try {
        retrieved = capture.retrieve(bgr) && !bgr.empty() && bgr.type() == CV_8UC3;
      } catch (const cv::Exception&) {
        retrieved = false;
      }
      if (!retrieved) {
        ++corrupt;
        continue;
      }
      image img;
      cv::cvtColor(bgr, img.pixels, cv::COLOR_BGR2RGB);
      img.source = source;
      img.original_width = img.pixels.cols;
      img.original_height = img.pixels.rows;
      img.frame = frame_position{index, t};
      return img;
    }
    return std::nullopt;
  }
};

video_decoder::video_decoder(std::string source, video_options options)
    : impl_(std::make_unique<impl>(std::move(source), options)) {}
video_decoder::~video_decoder() = default;
void video_decoder::request_stop() {
  {
    const std::lock_guard lock(impl_->stop_mutex);
    impl_->stop_requested = true;
  }
  impl_->stop_changed.notify_all();
}
std::optional<result<image>> video_decoder::next() {
  try {
    return impl_->next();
  } catch (const std::exception& e) {  // (bad_alloc, an OpenCV error): the source ends here, as an error value
    impl_->done = true;
    return impl_->error(std::string("decoding failed: ") + e.what());
  }
}

}  // namespace faceapp::detail
