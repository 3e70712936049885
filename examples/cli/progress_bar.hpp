// faceapp command line: the progress bar on stderr.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <optional>
#include <string>

#include "output.hpp"

namespace faceapp_cli {

/// A progress bar with rate and ETA on stderr, only when stderr is a terminal; nothing otherwise. It appears
/// after half a second, so quick runs do not flash one.
class progress_bar {
  using clock_type = std::chrono::steady_clock;

 public:
  explicit progress_bar(std::optional<std::size_t> total)
      : enabled_(::isatty(STDERR_FILENO) == 1), total_(total), start_(clock_type::now()) {}
  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;
  ~progress_bar() { hide(); }

  /// One more input done.
  void step() {
    ++done_;
    if (!enabled_) return;
    const auto now = clock_type::now();
    if (now - start_ < std::chrono::milliseconds(500)) return;
    if (shown_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    draw(now);
  }

  /// Clears the bar, before anything else is written to the terminal; the next step draws it again.
  void hide() {
    if (!shown_) return;
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    shown_ = false;
  }

 private:
  void draw(clock_type::time_point now) {
    std::fflush(stdout);
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(done_) / seconds : 0;
    std::string line = "\r";
    if (total_ && *total_ > 0) {
      constexpr std::size_t width = 30;
      const std::size_t filled = std::min(width, done_ * width / *total_);
      line += '[' + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
      line += std::to_string(done_) + '/' + std::to_string(*total_);
      line += format_number(" %.1f img/s", rate);
      if (rate > 0 && done_ < *total_) {
        const auto left = static_cast<long>(static_cast<double>(*total_ - done_) / rate);
        char eta[32];
        std::snprintf(eta, sizeof eta, " ETA %ld:%02ld", left / 60, left % 60);
        line += eta;
      }
    } else {
      line += std::to_string(done_) + " images" + format_number(" %.1f img/s", rate);
    }
    line += "\033[K";
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
    shown_ = true;
  }

  bool enabled_;
  std::optional<std::size_t> total_;
  std::size_t done_ = 0;
  clock_type::time_point start_;
  clock_type::time_point last_draw_{};
  bool shown_ = false;
};

}  // namespace faceapp_cli
