// faceapp command line: the inputs named on the command line, as a lazy range of paths.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <iostream>
#include <iterator>
#include <optional>
#include <ranges>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace faceapp_cli {

inline bool has_image_extension(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".webp";
}

/// The image files of a folder (not its subfolders), chosen by extension and sorted, like face_recognition's
/// image_files_in_folder. Whether each is really an image, the read stage decides by its bytes.
inline std::vector<std::string> image_files_in_folder(const std::filesystem::path& dir, std::error_code& ec) {
  std::vector<std::string> files;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (has_image_extension(it->path())) files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

inline bool is_folder(const std::string& arg) {
  std::error_code ec;
  return arg != "-" && std::filesystem::is_directory(arg, ec);
}

/// How many inputs the arguments name, when that is known before reading stdin.
inline std::optional<std::size_t> count_inputs(const std::vector<std::string>& args) {
  std::size_t n = 0;
  for (const auto& arg : args) {
    if (arg == "-") return std::nullopt;
    if (is_folder(arg)) {
      std::error_code ec;
      n += image_files_in_folder(arg, ec).size();
    } else {
      ++n;
    }
  }
  return n;
}

/// The paths named on the command line, read lazily as a single-pass input range: files as they are, folders
/// expanded to their image files, `-` to the lines of stdin (one path a line). Lazy, so that `encode -` starts
/// at once and holds only the paths in flight, however many come.
class input_paths {
 public:
  /// `on_error` hears about folders that cannot be listed (the folder, and why); the other inputs go on.
  input_paths(std::vector<std::string> args, std::function<void(const std::string&, const std::string&)> on_error)
      : args_(std::move(args)), on_error_(std::move(on_error)) {}

  class iterator {
   public:
    using iterator_concept = std::input_iterator_tag;
    using value_type = std::string;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    explicit iterator(input_paths* owner) : owner_(owner) {}
    const std::string& operator*() const { return owner_->current_; }
    iterator& operator++() {
      owner_->advance();
      return *this;
    }
    void operator++(int) { owner_->advance(); }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.owner_->done(); }

   private:
    input_paths* owner_ = nullptr;
  };

  iterator begin() {
    advance();
    return iterator(this);
  }
  std::default_sentinel_t end() const noexcept { return {}; }
  [[nodiscard]] bool done() const noexcept { return done_; }

 private:
  void advance() {
    for (;;) {
      if (next_in_folder_ < folder_.size()) {
        current_ = std::move(folder_[next_in_folder_++]);
        return;
      }
      if (reading_stdin_) {
        if (std::getline(std::cin, current_)) {
          if (!current_.empty() && current_.back() == '\r') current_.pop_back();
          if (!current_.empty()) return;
          continue;
        }
        reading_stdin_ = false;
      }
      if (next_arg_ == args_.size()) {
        done_ = true;
        return;
      }
      const std::string& arg = args_[next_arg_++];
      if (arg == "-") {
        reading_stdin_ = true;
      } else if (is_folder(arg)) {
        std::error_code ec;
        folder_ = image_files_in_folder(arg, ec);
        next_in_folder_ = 0;
        if (ec) on_error_(arg, "cannot list the folder: " + ec.message());
      } else {
        current_ = arg;
        return;
      }
    }
  }

  std::vector<std::string> args_;
  std::function<void(const std::string&, const std::string&)> on_error_;
  std::size_t next_arg_ = 0;
  std::vector<std::string> folder_;
  std::size_t next_in_folder_ = 0;
  bool reading_stdin_ = false;
  std::string current_;
  bool done_ = false;
};

static_assert(std::ranges::input_range<input_paths>);

}  // namespace faceapp_cli
