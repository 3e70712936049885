// Drives the built `faceapp` program as a user does: runs it with arguments and stdin (or starts it in the
// background, to watch or stop it midway), captures stdout and stderr apart, and reads its CSV output back. For the tests of tests/cli (and any other test of the program);
// FACEAPP_CLI_PROGRAM is the program's path, set by the test's CMakeLists.
#pragma once

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "faceapp/faceapp.hpp"
#include "test_data.hpp"

#ifndef FACEAPP_CLI_PROGRAM
#error "FACEAPP_CLI_PROGRAM must name the faceapp program (target_compile_definitions in the test's CMakeLists)"
#endif

namespace faceapp::test::cli {

namespace fs = std::filesystem;

/// What a run of the program gave.
struct run_result {
  int status = -1;
  std::string out;
  std::string err;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

inline std::vector<std::string> split(const std::string& line, char sep = ',') {
  std::vector<std::string> cells;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, sep)) cells.push_back(cell);
  if (!line.empty() && line.back() == sep) cells.emplace_back();
  return cells;
}

/// A folder of its own below the system's temporary folder, removed at the end of the test.
struct temp_folder {
  fs::path path;
  temp_folder() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("faceapp_cli_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  temp_folder(const temp_folder&) = delete;
  temp_folder& operator=(const temp_folder&) = delete;
  ~temp_folder() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

/// Runs the program with `args` (and `stdin_text` on its stdin), capturing stdout and stderr apart.
inline run_result run(const std::vector<std::string>& args, const std::string& stdin_text = {}) {
  const temp_folder io;
  {
    std::ofstream(io.path / "in") << stdin_text;
  }
  std::string command = shell_quote(FACEAPP_CLI_PROGRAM);
  for (const auto& a : args) command += ' ' + shell_quote(a);
  command += " <" + shell_quote((io.path / "in").string()) + " >" + shell_quote((io.path / "out").string()) +
             " 2>" + shell_quote((io.path / "err").string());
  const int raw = std::system(command.c_str());
  run_result r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = read_text(io.path / "out");
  r.err = read_text(io.path / "err");
  return r;
}

/// The program started in the background (stdin from `stdin_text`, stdout and stderr to files), for tests that
/// watch it run or stop it midway. Killed and reaped at the end of the scope if still running.
class spawned {
 public:
  explicit spawned(const std::vector<std::string>& args, const std::string& stdin_text = {}) {
    {
      std::ofstream(io_.path / "in") << stdin_text;
    }
    std::vector<std::string> argv_text{FACEAPP_CLI_PROGRAM};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    const auto in = (io_.path / "in").string();
    const auto out = (io_.path / "out").string();
    const auto err = (io_.path / "err").string();
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      // Only async-signal-safe calls until exec.
      std::vector<char*> argv;
      for (auto& a : argv_text) argv.push_back(a.data());
      argv.push_back(nullptr);
      const int fd_in = ::open(in.c_str(), O_RDONLY);
      const int fd_out = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int fd_err = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd_in < 0 || fd_out < 0 || fd_err < 0) ::_exit(127);
      ::dup2(fd_in, 0);
      ::dup2(fd_out, 1);
      ::dup2(fd_err, 2);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  spawned(const spawned&) = delete;
  spawned& operator=(const spawned&) = delete;
  ~spawned() {
    if (running_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }

  /// Whether it is still running (reaps it when it has ended).
  bool running() {
    if (!running_) return false;
    int raw = 0;
    if (::waitpid(pid_, &raw, WNOHANG) == pid_) finish(raw);
    return running_;
  }
  void kill(int signal) { ::kill(pid_, signal); }
  /// Waits for the end; returns how it ended as run() does (-1: killed by a signal).
  run_result wait() {
    int raw = 0;
    if (running_ && ::waitpid(pid_, &raw, 0) == pid_) finish(raw);
    run_result r;
    r.status = status_;
    r.out = read_text(io_.path / "out");
    r.err = read_text(io_.path / "err");
    return r;
  }
  /// The signal that ended it, or 0.
  [[nodiscard]] int signal() const noexcept { return signal_; }

 private:
  void finish(int raw) {
    running_ = false;
    status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    signal_ = WIFSIGNALED(raw) ? WTERMSIG(raw) : 0;
  }

  temp_folder io_;
  pid_t pid_ = -1;
  bool running_ = true;
  int status_ = -1;
  int signal_ = 0;
};

inline fs::path faces_dir() { return data_dir() / "faces"; }

/// The image files of the faces folder, sorted, as the program lists a folder.
inline std::vector<std::string> face_images() {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(data_file("faces"))) {
    const auto ext = e.path().extension().string();
    if (ext == ".jpg" || ext == ".jpeg" || ext == ".png") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

inline std::string path_of(const std::string& file) { return (faces_dir() / file).string(); }

/// A box as the program prints it.
inline std::string box_text(const faceapp::box& b) {
  return std::to_string(b.top) + ',' + std::to_string(b.right) + ',' + std::to_string(b.bottom) + ',' +
         std::to_string(b.left);
}

/// One `encode` row read back.
struct encoded_row {
  std::string path;
  std::size_t face = 0;
  faceapp::box box;
  faceapp::encoding encoding;
};

inline std::vector<encoded_row> parse_encode_csv(const std::string& out) {
  std::vector<encoded_row> rows;
  for (const auto& line : lines_of(out)) {
    const auto cells = split(line);
    REQUIRE_MESSAGE(cells.size() == 6 + faceapp::encoding_size, line);
    encoded_row r;
    r.path = cells[0];
    r.face = std::stoul(cells[1]);
    r.box = {std::stoi(cells[2]), std::stoi(cells[3]), std::stoi(cells[4]), std::stoi(cells[5])};
    for (std::size_t i = 0; i < faceapp::encoding_size; ++i) r.encoding[i] = std::strtof(cells[6 + i].c_str(), nullptr);
    rows.push_back(r);
  }
  return rows;
}

/// The library's own answer for the same images, computed in this process.
template <class Pipeline>
auto library_results(const Pipeline& pipeline, const std::vector<std::string>& paths) {
  std::vector<faceapp::source> sources(paths.begin(), paths.end());
  return faceapp::run_batch(pipeline, sources, {.threads = 2});
}

}  // namespace faceapp::test::cli
