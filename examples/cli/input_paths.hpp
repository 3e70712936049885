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

/// Part K of N of the inputs: those whose position in the expanded list (files, folders' images, stdin's lines,
/// in that order) is K modulo N. N tasks, each given its own K, split any list between them without a pre-split
/// step and each input goes to exactly one of them. The numbers come from the command line, not from a
/// scheduler's environment, so that any scheduler can drive it.
struct shard {
  std::size_t index = 0;
  std::size_t count = 1;

  [[nodiscard]] bool takes(std::size_t position) const noexcept { return position % count == index; }
  /// How many of `total` inputs are this shard's.
  [[nodiscard]] std::size_t size_of(std::size_t total) const noexcept {
    return total > index ? (total - index + count - 1) / count : 0;
  }
};

/// "K/N" with 0 <= K < N, or why not.
inline std::optional<shard> parse_shard(const std::string& text, std::string& why) {
  const auto slash = text.find('/');
  const auto number = [](const std::string& digits) -> std::optional<std::size_t> {
    if (digits.empty() || digits.size() > 9 ||
        !std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
      return std::nullopt;
    }
    return std::stoul(digits);
  };
  const auto k = slash == std::string::npos ? std::nullopt : number(text.substr(0, slash));
  const auto n = slash == std::string::npos ? std::nullopt : number(text.substr(slash + 1));
  if (!k || !n) {
    why = "'" + text + "' is not K/N (two whole numbers, e.g. 3/16)";
    return std::nullopt;
  }
  if (*n == 0 || *k >= *n) {
    why = "'" + text + "' needs 0 <= K < N";
    return std::nullopt;
  }
  return shard{*k, *n};
}

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
/// at once and holds only the paths in flight, however many come. With a shard, only that shard's paths.
class input_paths {
 public:
  /// `on_error` hears about folders that cannot be listed (the folder, and why); the other inputs go on.
  input_paths(std::vector<std::string> args, std::function<void(const std::string&, const std::string&)> on_error,
              shard part = {})
      : args_(std::move(args)), on_error_(std::move(on_error)), part_(part) {}

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
      next();
      if (done_ || part_.takes(position_++)) return;
    }
  }

  /// The next path of the whole list.
  void next() {
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
  shard part_;
  std::size_t position_ = 0;
  std::size_t next_arg_ = 0;
  std::vector<std::string> folder_;
  std::size_t next_in_folder_ = 0;
  bool reading_stdin_ = false;
  std::string current_;
  bool done_ = false;
};

static_assert(std::ranges::input_range<input_paths>);

}  // namespace faceapp_cli
