// faceapp::video on videos made at test time (video_files.hpp): the frames, the options at their limits, the
// errors as values, a truncated copy and a live TCP stream.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "faceapp/faceapp.hpp"
#include "video_files.hpp"

namespace tv = faceapp::test::video;

namespace {

struct seen {
  std::vector<std::int64_t> indices;
  std::vector<double> times;
  std::vector<faceapp::stage_error> errors;
};

seen read_all(faceapp::video_frames frames) {
  seen s;
  for (const auto& f : frames) {
    if (!f) {
      s.errors.push_back(f.error());
      continue;
    }
    REQUIRE(f->frame.has_value());
    s.indices.push_back(f->frame->index);
    s.times.push_back(f->frame->time);
  }
  return s;
}

seen read_all(const std::string& source, faceapp::video_options o = {}) {
  return read_all(faceapp::video(source, o));
}

constexpr std::int64_t total_frames = 250;  // 5 segments of 2 s at 25 fps

}  // namespace

TEST_CASE("video gives every frame of a file as an RGB image with its index and presentation time") {
  const auto& files = tv::shared_files();
  std::int64_t n = 0;
  for (const auto& f : faceapp::video(files.mp4.string())) {
    REQUIRE_MESSAGE(f.has_value(), f.error().what());
    CHECK(f->width() == tv::width);
    CHECK(f->height() == tv::height);
    CHECK(f->pixels.type() == CV_8UC3);
    CHECK(f->source == files.mp4.string());
    CHECK(f->frame->index == n);
    CHECK(f->frame->time == doctest::Approx(static_cast<double>(n) / tv::fps).epsilon(1e-6));
    ++n;
  }
  CHECK(n == total_frames);
}

TEST_CASE("video's every keeps frames 0, N, 2N, ... at and around the length of the video") {
  const auto path = tv::shared_files().mp4.string();
  for (const auto& [every, kept] : std::vector<std::pair<int, std::size_t>>{
           {1, 250}, {2, 125}, {249, 2}, {250, 1}, {251, 1}, {125, 2}, {124, 3}}) {
    CAPTURE(every);
    const auto s = read_all(path, {.every = every});
    CHECK(s.errors.empty());
    REQUIRE(s.indices.size() == kept);
    for (std::size_t k = 0; k < kept; ++k) CHECK(s.indices[k] == static_cast<std::int64_t>(k) * every);
  }
  SUBCASE("an every below 1 is an error value naming the stage and the source, and the only element") {
    const auto s = read_all(path, {.every = 0});
    REQUIRE(s.errors.size() == 1);
    CHECK(s.indices.empty());
    CHECK(s.errors[0].stage == "video");
    CHECK(s.errors[0].input == path);
    CHECK(s.errors[0].message.find("every") != std::string::npos);
  }
}

TEST_CASE("video's max_fps keeps at most that many frames a second, all of them at the video's own rate") {
  const auto path = tv::shared_files().mp4.string();
  CHECK(read_all(path, {.max_fps = 25}).indices.size() == 250);     // exactly the rate: every frame
  CHECK(read_all(path, {.max_fps = 25.01}).indices.size() == 250);  // above it: every frame
  // Just below: the slots fall behind the frames, so the second frame (0.04 s) misses the slot at 0.040016 s.
  const auto below = read_all(path, {.max_fps = 24.99});
  REQUIRE(below.indices.size() == 249);
  CHECK(below.indices[1] == 2);
  const auto half = read_all(path, {.max_fps = 12.5});
  REQUIRE(half.indices.size() == 125);
  for (std::size_t k = 0; k < half.indices.size(); ++k) CHECK(half.indices[k] == static_cast<std::int64_t>(2 * k));
  const auto one = read_all(path, {.max_fps = 1});
  REQUIRE(one.indices.size() == 10);
  for (std::size_t k = 0; k < one.times.size(); ++k) CHECK(one.times[k] == doctest::Approx(static_cast<double>(k)));
  SUBCASE("with every, the limit applies to the frames every keeps") {
    const auto s = read_all(path, {.every = 5, .max_fps = 2});  // every 0.2 s, then at most one per 0.5 s
    REQUIRE(s.times.size() == 20);
    CHECK(s.times[1] == doctest::Approx(0.6));
  }
  SUBCASE("a negative limit is an error value") {
    const auto s = read_all(path, {.max_fps = -1});
    REQUIRE(s.errors.size() == 1);
    CHECK(s.errors[0].message.find("max_fps") != std::string::npos);
  }
}

TEST_CASE("video's read-ahead gives the same frames as reading on the caller's thread, and holds at most its bound") {
  const auto path = tv::shared_files().mp4.string();
  const auto direct = read_all(path, {.every = 10, .read_ahead = 0});
  CHECK(direct.indices.size() == 25);
  for (std::size_t ahead : {1U, 2U, 8U}) {
    CAPTURE(ahead);
    auto frames = faceapp::video(path, {.every = 10, .read_ahead = ahead});
    std::vector<std::int64_t> indices;
    for (const auto& f : frames) {
      REQUIRE(f.has_value());
      indices.push_back(f->frame->index);
      // A slow reader: the decoder fills the queue up to its bound (waited for here), and no further.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (indices.size() == 1 && frames.peak_queued() < ahead && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (indices.size() == 1) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(indices == direct.indices);
    CHECK(frames.peak_queued() == ahead);
  }
  SUBCASE("leaving the loop early stops the read-ahead thread") {
    auto frames = faceapp::video(path, {.read_ahead = 2});
    for (const auto& f : frames) {
      CHECK(f.has_value());
      break;
    }
  }  // destroying `frames` joins the thread, blocked on a full queue
}

TEST_CASE("video's errors are values naming the source and the stage") {
  const auto& files = tv::shared_files();
  SUBCASE("a missing file") {
    const auto missing = (files.dir.dir / "nothing_here.mp4").string();
    const auto s = read_all(missing);
    REQUIRE(s.errors.size() == 1);
    CHECK(s.indices.empty());
    CHECK(s.errors[0].code == faceapp::errc::not_found);
    CHECK(s.errors[0].stage == "video");
    CHECK(s.errors[0].input == missing);
    CHECK(s.errors[0].message == "no such file");
  }
  SUBCASE("a text file named .mp4") {
    const auto s = read_all(files.text.string());
    REQUIRE(s.errors.size() == 1);
    CHECK(s.indices.empty());
    CHECK(s.errors[0].code == faceapp::errc::unsupported);
    CHECK(s.errors[0].stage == "video");
    CHECK(s.errors[0].input == files.text.string());
    CHECK(s.errors[0].message.find("could not open it as a video") != std::string::npos);
  }
  SUBCASE("a folder") {
    const auto s = read_all(files.known.string());
    REQUIRE(s.errors.size() == 1);
    CHECK(s.errors[0].message.find("directory") != std::string::npos);
    CHECK(s.errors[0].code == faceapp::errc::unsupported);  // not a video: watch's exit 2, as for a text file
  }
  SUBCASE("a stream nobody serves, after its reconnects") {
    const auto url = "tcp://127.0.0.1:" + std::to_string(tv::free_port());
    const auto s = read_all(url, {.reconnects = 1, .reconnect_delay = 0.01, .timeout = 2});
    REQUIRE(s.errors.size() == 1);
    CHECK(s.errors[0].input == url);
    CHECK(s.errors[0].code == faceapp::errc::unsupported);
  }
}

TEST_CASE("a live stream that drops and comes back is reconnected, reported, and its times carry on") {
  const auto& files = tv::shared_files();
  tv::live_stream first(files.first_segment);
  // A second server on the same port once the first has sent its 2 s and gone, as a camera that restarts.
  std::optional<tv::live_stream> second;
  std::exception_ptr restart_failed;
  std::thread restart([&] {
    try {
      first.wait();
      second.emplace(files.first_segment, first.port());
    } catch (...) {
      restart_failed = std::current_exception();
    }
  });
  // Attempts 0.5, 1.5, 3.5 and 7.5 s after the drop: room for the second ffmpeg to start on a loaded machine.
  const auto s = read_all(first.url(), {.every = 25, .reconnects = 4, .reconnect_delay = 0.5});
  restart.join();
  if (restart_failed) std::rethrow_exception(restart_failed);
  // 0 and 1 s from the first server, then the same two frames again, 2 s later, from the second.
  REQUIRE(s.errors.size() == 2);
  CHECK(s.errors[0].message.find("the stream stopped after frame 49") == 0);
  CHECK(s.errors[0].message.find("; reconnected at attempt ") != std::string::npos);
  CHECK(s.errors[1].message.find("did not come back after 4 reconnects") != std::string::npos);
  REQUIRE(s.indices.size() == 4);
  CHECK(s.indices == std::vector<std::int64_t>{0, 25, 50, 75});
  CHECK(s.times[1] == doctest::Approx(1.0));
  CHECK(s.times[2] == doctest::Approx(2.0));  // the first server's last frame was at 1.96 s
  CHECK(s.times[3] == doctest::Approx(3.0));
}

TEST_CASE("destroying the range of a stream that waits to reconnect stops it at once, not after the delay") {
  tv::live_stream live(tv::shared_files().first_segment);
  std::optional<faceapp::video_frames> frames =
      faceapp::video(live.url(), {.every = 25, .reconnects = 3, .reconnect_delay = 30});
  std::vector<std::int64_t> indices;
  for (const auto& f : *frames) {
    REQUIRE_MESSAGE(f.has_value(), f.error().what());
    indices.push_back(f->frame->index);
    if (indices.size() == 2) break;
  }
  CHECK(indices == std::vector<std::int64_t>{0, 25});
  live.wait();  // the server has sent its 2 s and gone: the read-ahead is at the drop, or about to wait there
  const auto t0 = std::chrono::steady_clock::now();
  frames.reset();
  const auto waited = std::chrono::steady_clock::now() - t0;
  CHECK_MESSAGE(waited < std::chrono::seconds(5),
                std::chrono::duration<double>(waited).count(), " s: not the 30 s before the first reconnect");
}

TEST_CASE("a truncated video gives the frames before the cut, in order, then an error value that says so") {
  const auto s = read_all(tv::shared_files().truncated.string());
  REQUIRE(s.indices.size() > 10);
  CHECK(s.indices.size() < static_cast<std::size_t>(total_frames));
  for (std::size_t k = 0; k < s.indices.size(); ++k) CHECK(s.indices[k] == static_cast<std::int64_t>(k));
  REQUIRE(s.errors.size() == 1);
  CHECK(s.errors[0].code == faceapp::errc::corrupt);
  CHECK(s.errors[0].message.find("truncated") != std::string::npos);
  CHECK(s.errors[0].message.find("of the 250 frames") != std::string::npos);
  SUBCASE("the whole file has no such error") { CHECK(read_all(tv::shared_files().mp4.string()).errors.empty()); }
}
