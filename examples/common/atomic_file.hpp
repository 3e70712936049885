// faceapp's example programs (the command line and faceapp-web): a file that appears whole or not at all.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace faceapp_examples {

/// Writes go to PATH.tmp; commit() syncs it, renames it to PATH and syncs the folder, so PATH exists only
/// with everything in it, even across a crash or a SIGKILL. A process that dies before commit() leaves at most
/// PATH.tmp, which the next run truncates: rerunning is idempotent. Unbuffered: what write() has taken is in
/// the file (for whoever watches PATH.tmp grow), though not yet on disk.
class atomic_file {
 public:
  /// `mode` is the new file's (the process umask applies as usual).
  explicit atomic_file(std::string path, ::mode_t mode = 0644) : path_(std::move(path)), tmp_(path_ + ".tmp") {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd_ < 0) fail("cannot create it");
  }
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;
  /// Not committed: the partial PATH.tmp goes.
  ~atomic_file() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(tmp_.c_str());
    }
  }

  /// The first thing that went wrong ("PATH.tmp: cannot write: No space left on device"), or nothing.
  [[nodiscard]] const std::optional<std::string>& error() const noexcept { return error_; }

  void write(std::string_view text) {
    while (!error_ && !text.empty()) {
      const ::ssize_t n = ::write(fd_, text.data(), text.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fail("cannot write");
        return;
      }
      text.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  /// Makes PATH the file written, durably. Returns false (and error() says why) when it could not.
  bool commit() {
    if (error_) return false;
    if (::fsync(fd_) != 0) fail("cannot sync");
    if (::close(fd_) != 0 && !error_) fail("cannot close");
    fd_ = -1;
    if (error_) {
      ::unlink(tmp_.c_str());
      return false;
    }
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
      fail("cannot rename it to " + path_);
      ::unlink(tmp_.c_str());
      return false;
    }
    // The rename is durable once the folder that holds the name is synced.
    auto dir = std::filesystem::path(path_).parent_path();
    if (dir.empty()) dir = ".";
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 || ::fsync(dir_fd) != 0) {
      error_ = dir.string() + ": cannot sync the folder: " + std::strerror(errno);
    }
    if (dir_fd >= 0) ::close(dir_fd);
    return !error_;
  }

 private:
  void fail(const std::string& what) {
    if (!error_) error_ = tmp_ + ": " + what + ": " + std::strerror(errno);
  }

  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  std::optional<std::string> error_;
};

/// Writes `data` to `path` whole through an atomic_file (mode 0600: what a server keeps is its operator's); a
/// reader, or a restart after kill -9 or a power cut, sees the old file or the new one, never a part. Throws
/// std::runtime_error naming the file and the step that failed.
inline void write_file_atomically(const std::filesystem::path& path, std::string_view data) {
  atomic_file f(path.string(), 0600);
  f.write(data);
  if (!f.commit()) throw std::runtime_error(*f.error());
}

}  // namespace faceapp_examples
