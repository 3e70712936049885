// The test videos, made at test time with FFmpeg from the photos of tests/data/faces, so that nothing large is
// committed: a 10 s, 1280x720, 25 fps H.264 MP4 of five 2 s segments (known people, a plain gray frame with
// nobody, a person the known folder does not have), and what to expect in each segment from the manifest.
// FACEAPP_FFMPEG is the ffmpeg program (tests/video/CMakeLists.txt).
#pragma once

#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "faceapp/faceapp.hpp"
#include "faceapp/stages/video.hpp"
#include "test_data.hpp"

#ifndef FACEAPP_FFMPEG
#error "FACEAPP_FFMPEG must name the ffmpeg program (target_compile_definitions in the test's CMakeLists)"
#endif

extern char** environ;

namespace faceapp::test::video {

namespace fs = std::filesystem;

inline constexpr int width = 1280;
inline constexpr int height = 720;
inline constexpr int fps = 25;
inline constexpr double segment_seconds = 2;

/// One segment: the photo shown (none: plain gray) and the known photo of the same person (none: not known).
struct segment {
  std::string photo;
  std::string known_photo;
};

/// obama, nobody, rose_leslie, kit_harington (not among the known), alex_lacamoire.
inline const std::vector<segment>& segments() {
  static const std::vector<segment> s{{"obama_1.jpg", "obama_2.jpg"},
                                      {"", ""},
                                      {"rose_leslie_1.jpg", "rose_leslie_2.jpg"},
                                      {"kit_harington_1.jpeg", ""},
                                      {"alex_lacamoire_2.jpg", "alex_lacamoire_1.png"}};
  return s;
}

inline std::string identity_of(const std::string& file) {
  for (const auto& row : manifest()) {
    if (row.file == file) return row.identity;
  }
  throw std::runtime_error("not in the manifest: " + file);
}

/// The name a segment's face must get: its manifest identity when the known folder has the person, else empty
/// (unknown); nothing for the segment without a face.
inline std::optional<std::string> expected_name(const segment& s) {
  if (s.photo.empty()) return std::nullopt;
  return s.known_photo.empty() ? std::string() : identity_of(s.photo);
}

/// Runs a program (no shell) and returns its exit status.
inline int run_program(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// The files every test of the process shares, made once: the video, its truncated copy, a text file named
/// .mp4, and the known folder (one photo per known person, named after the person).
struct files {
  scratch_dir dir{"video"};
  fs::path mp4 = dir.dir / "people.mp4";
  fs::path truncated = dir.dir / "people_cut.mp4";
  fs::path text = dir.dir / "notes.mp4";
  fs::path first_segment = dir.dir / "obama.mp4";  // the first 2 s alone
  fs::path known = dir.dir / "known";

  files() {
    std::vector<std::string> args{FACEAPP_FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"};
    std::string filter;
    const std::string fit = "scale=" + std::to_string(width) + ":" + std::to_string(height) +
                            ":force_original_aspect_ratio=decrease,pad=" + std::to_string(width) + ":" +
                            std::to_string(height) + ":-1:-1,setsar=1,format=yuv420p";
    const std::string seconds = std::to_string(segment_seconds);
    for (std::size_t i = 0; i < segments().size(); ++i) {
      const auto& s = segments()[i];
      if (s.photo.empty()) {
        args.insert(args.end(), {"-f", "lavfi", "-t", seconds, "-i",
                                 "color=c=gray:s=" + std::to_string(width) + "x" + std::to_string(height) +
                                     ":r=" + std::to_string(fps)});
      } else {
        args.insert(args.end(), {"-loop", "1", "-framerate", std::to_string(fps), "-t", seconds, "-i",
                                 data_file("faces/" + s.photo).string()});
      }
      const std::string n = std::to_string(i);
      filter.append("[").append(n).append("]").append(fit).append("[s").append(n).append("];");
    }
    for (std::size_t i = 0; i < segments().size(); ++i) filter.append("[s").append(std::to_string(i)).append("]");
    filter.append("concat=n=").append(std::to_string(segments().size())).append(":v=1:a=0[v]");
    // +faststart puts the index (and so the frame count) first: a copy cut short still opens.
    args.insert(args.end(), {"-filter_complex", filter, "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast",
                             "-g", std::to_string(fps), "-movflags", "+faststart", mp4.string()});
    if (run_program(args) != 0) throw std::runtime_error("ffmpeg could not make " + mp4.string());

    if (run_program({FACEAPP_FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", mp4.string(), "-t",
                     seconds, "-c", "copy", first_segment.string()}) != 0) {
      throw std::runtime_error("ffmpeg could not cut " + first_segment.string());
    }
    const auto size = fs::file_size(mp4);
    fs::copy_file(mp4, truncated);
    fs::resize_file(truncated, size * 6 / 10);
    std::ofstream(text) << "not a video: a few words of text\n";
    fs::create_directories(known);
    for (const auto& s : segments()) {
      if (s.known_photo.empty()) continue;
      const fs::path from = data_file("faces/" + s.known_photo);
      fs::copy_file(from, known / (identity_of(s.photo) + from.extension().string()));
    }
  }
};

inline const files& shared_files() {
  static const files f;
  return f;
}

/// The segment a presentation time falls in.
inline std::size_t segment_at(double time) { return static_cast<std::size_t>(time / segment_seconds); }

/// A TCP port nobody listens on now (the kernel's pick).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("no free TCP port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// Whether something listens on 127.0.0.1:port (read from /proc/net/tcp, so that no connection is used up).
inline bool listening(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  char wanted[16];
  std::snprintf(wanted, sizeof wanted, ":%04X", port);
  while (std::getline(in, line)) {
    std::istringstream cells(line);
    std::string slot, local, remote, state;
    cells >> slot >> local >> remote >> state;
    if (local.size() > 5 && local.substr(local.size() - 5) == wanted && state == "0A") return true;
  }
  return false;
}

/// `ffmpeg -re` serving a file as MPEG-TS on tcp://127.0.0.1:PORT?listen=1 at its own pace, as a camera does;
/// the constructor returns once it listens, the destructor waits for it (or stops it).
class live_stream {
 public:
  explicit live_stream(const fs::path& file, int port = free_port()) : port_(port) {
    const std::vector<std::string> args{FACEAPP_FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-re",
                                        "-i", file.string(), "-c", "copy", "-f", "mpegts",
                                        "tcp://127.0.0.1:" + std::to_string(port_) + "?listen=1"};
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (::posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error("cannot start ffmpeg");
    }
    for (int i = 0; i < 200 && !listening(port_); ++i) ::usleep(25'000);
    if (!listening(port_)) throw std::runtime_error("ffmpeg does not listen on port " + std::to_string(port_));
  }
  live_stream(const live_stream&) = delete;
  live_stream& operator=(const live_stream&) = delete;
  ~live_stream() {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == 0) {  // still running (waitpid gives -1 once wait() reaped it)
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, &status, 0);
    }
  }
  [[nodiscard]] int port() const noexcept { return port_; }
  /// Waits until the server has sent the whole file and gone.
  void wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  [[nodiscard]] std::string url() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  pid_t pid_ = 0;
};

}  // namespace faceapp::test::video
