// Where the tests find their data: $FACEAPP_TEST_DATA, else tests/data in the source tree
// (OpenCV's OPENCV_TEST_DATA_PATH convention). A missing file fails the test with a message
// that names the path and the variable, never a silent skip.
#pragma once

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

namespace faceapp::test {

inline std::filesystem::path data_dir() {
  if (const char* env = std::getenv("FACEAPP_TEST_DATA"); env != nullptr && *env != '\0') {
    return env;
  }
  return FACEAPP_DEFAULT_TEST_DATA;
}

/// Path of a file below the test data folder; throws with a clear message when it is absent.
inline std::filesystem::path data_file(const std::filesystem::path& relative) {
  const auto path = data_dir() / relative;
  if (!std::filesystem::exists(path)) {
    throw std::runtime_error("test data missing: " + path.string() +
                             " (set FACEAPP_TEST_DATA to the folder that holds faces/ and reference/)");
  }
  return path;
}

/// The bytes of a file of the test data (data_file's path and its error).
inline std::string data_bytes(const std::filesystem::path& relative) {
  std::ifstream in(data_file(relative), std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A fresh, empty scratch folder for one test case, removed again at its end. Unique per instance (process id and
/// a counter), so two with the same name, in one process or in two, never share a folder.
struct scratch_dir {
  std::filesystem::path dir;
  explicit scratch_dir(const std::string& name)
      : dir(std::filesystem::temp_directory_path() /
            ("faceapp_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(next_serial()))) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

 private:
  static unsigned long next_serial() {
    static std::atomic<unsigned long> serial{0};
    return serial.fetch_add(1);
  }
};

/// One row of faces/manifest.csv.
struct manifest_row {
  std::string file;
  std::string identity;  // empty: group photo, unnamed person or no face
  int faces = -1;        // -1: uncertain (empty in the manifest)
};

inline std::vector<std::string> split_csv_line(const std::string& line) {
  // The manifest has no quoted commas in the first three columns, which is all we read.
  std::vector<std::string> cells;
  std::stringstream in(line);
  for (std::string cell; std::getline(in, cell, ',');) cells.push_back(cell);
  return cells;
}

inline std::vector<manifest_row> manifest() {
  std::ifstream in(data_file("faces/manifest.csv"));
  std::string line;
  std::getline(in, line);  // header
  std::vector<manifest_row> rows;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto cells = split_csv_line(line);
    if (cells.size() < 3) throw std::runtime_error("malformed manifest row: " + line);
    rows.push_back({cells[0], cells[1], cells[2].empty() ? -1 : std::stoi(cells[2])});
  }
  return rows;
}

}  // namespace faceapp::test
