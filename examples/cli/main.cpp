// faceapp: the command line. compare, detect, recognize and encode faces.
//
// Output formats follow face_recognition's two command-line tools (face_recognition, face_detection) where
// they overlap, so scripts written for those keep working. Written only against the public headers.
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <faceapp/faceapp.hpp>

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

/// Exit status for errors (compare uses 0 and 1 for its answer).
constexpr int exit_error = 2;
/// face_recognition shrinks images to check so that no side exceeds this before detection.
constexpr int recognize_max_side = 1600;

unsigned all_cores() { return std::max(1U, std::thread::hardware_concurrency()); }

/// The options every subcommand takes.
struct common_options {
  unsigned jobs = all_cores();
  std::string record_file;
  std::string model_dir;
};

// ---------------------------------------------------------------------------------------------------------------
// Output helpers

/// A CSV field: quoted (RFC 4180) only when it has to be, so ordinary paths print exactly as
/// face_recognition prints them.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

std::string format_number(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

/// Six decimals, as compare prints distances.
std::string fixed6(float value) { return format_number("%.6f", static_cast<double>(value)); }

/// Nine significant digits are enough for any float to read back bit for bit.
std::string exact(float value) { return format_number("%.9g", static_cast<double>(value)); }

void write_out(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

/// A progress bar with rate and ETA on stderr, only when stderr is a terminal; nothing otherwise. It appears
/// after half a second, so quick runs do not flash one.
class progress_bar {
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

// ---------------------------------------------------------------------------------------------------------------
// Inputs

bool has_image_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".webp";
}

/// The image files of a folder (not its subfolders), chosen by extension and sorted, like face_recognition's
/// image_files_in_folder. Whether each is really an image, the read stage decides by its bytes.
std::vector<std::string> image_files_in_folder(const fs::path& dir, std::error_code& ec) {
  std::vector<std::string> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (has_image_extension(it->path())) files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

bool is_folder(const std::string& arg) {
  std::error_code ec;
  return arg != "-" && fs::is_directory(arg, ec);
}

/// How many inputs the arguments name, when that is known before reading stdin.
std::optional<std::size_t> count_inputs(const std::vector<std::string>& args) {
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
  /// `on_error` hears about folders that cannot be listed; the other inputs go on.
  input_paths(std::vector<std::string> args, std::function<void(const std::string&)> on_error)
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
        if (ec) on_error_(arg + ": cannot list the folder: " + ec.message());
      } else {
        current_ = arg;
        return;
      }
    }
  }

  std::vector<std::string> args_;
  std::function<void(const std::string&)> on_error_;
  std::size_t next_arg_ = 0;
  std::vector<std::string> folder_;
  std::size_t next_in_folder_ = 0;
  bool reading_stdin_ = false;
  std::string current_;
  bool done_ = false;
};

static_assert(std::ranges::input_range<input_paths>);

// ---------------------------------------------------------------------------------------------------------------
// Models, record, running

/// The sink --record names, or nothing; exits with a message when the file cannot take results.
std::unique_ptr<faceapp::csv_sink> open_record(const std::string& file) {
  if (file.empty()) return nullptr;
  auto sink = std::make_unique<faceapp::csv_sink>(file);
  if (!sink->ok()) {
    std::fprintf(stderr, "faceapp: %s\n", sink->error()->what().c_str());
    std::exit(exit_error);
  }
  return sink;
}

/// The models --model-dir names, or those on the search path; exits with a message when they are missing.
faceapp::model_set load_models_or_exit(const std::string& dir) {
  auto models = faceapp::load_models(dir);
  if (!models) {
    std::fprintf(stderr, "faceapp: %s\n", models.error().what().c_str());
    std::exit(exit_error);
  }
  return *std::move(models);
}

/// --jobs workers are the only parallelism: a multi-threaded BLAS under dlib's network would have every worker
/// start its own threads as well, and N workers would then fight over the cores instead of scaling with N.
/// Looked up at run time, so that the program runs on whichever BLAS dlib was built with.
void single_threaded_blas() {
  using set_threads_fn = void (*)(int);
  if (void* f = ::dlsym(RTLD_DEFAULT, "openblas_set_num_threads")) {
    reinterpret_cast<set_threads_fn>(f)(1);
  }
}

void report(const std::string& message) { std::fprintf(stderr, "faceapp: %s\n", message.c_str()); }

/// Runs `pipeline` over the inputs `args` name on `jobs` threads and hands each image's faces to `print` in
/// input order; a bad input gets one line on stderr and the others go on. With a sink, each result also goes
/// through the library's record stage, here in input order too, so that the record does not depend on --jobs.
/// Returns whether all went through.
template <class Pipeline, class Print>
bool run_over_inputs(const Pipeline& pipeline, const std::vector<std::string>& args, unsigned jobs,
                     faceapp::record_sink* sink, Print&& print) {
  progress_bar bar(count_inputs(args));
  bool all_ok = true;
  input_paths inputs(args, [&](const std::string& message) {
    bar.hide();
    report(message);
    all_ok = false;
  });
  const auto started = faceapp::run_ordered(
      pipeline, inputs,
      [&](std::size_t, auto r) {
        if (r && sink != nullptr) {
          if (auto recorded = faceapp::record(std::ref(*sink))(*r); !recorded) {
            r = faceapp::unexpected(recorded.error());
          }
        }
        bar.hide();  // print may warn on stderr too
        if (r) {
          print(*r);
        } else {
          std::fflush(stdout);
          report(r.error().what());
          all_ok = false;
        }
        bar.step();
      },
      faceapp::batch_options{.threads = jobs});
  bar.hide();
  std::fflush(stdout);
  if (!started) {
    report(started.error().what());
    return false;
  }
  return all_ok;
}

// ---------------------------------------------------------------------------------------------------------------
// Subcommands

struct detect_options {
  std::vector<std::string> paths;
  int upsample = 1;
};

int run_detect(const detect_options& opt, const common_options& common) {
  const auto sink = open_record(common.record_file);
  const auto pipeline = faceapp::read | faceapp::detect(opt.upsample);
  const bool ok = run_over_inputs(pipeline, opt.paths, common.jobs, sink.get(), [](const faceapp::faces& found) {
    std::string out;
    for (const auto& f : found) {
      out += csv_field(found.source()) + ',' + std::to_string(f.box.top) + ',' + std::to_string(f.box.right) + ',' +
             std::to_string(f.box.bottom) + ',' + std::to_string(f.box.left) + '\n';
    }
    write_out(out);
  });
  return ok ? 0 : exit_error;
}

struct encode_options {
  std::vector<std::string> paths;
  std::string format = "csv";
  bool header = false;
};

std::string encode_csv_header() {
  std::string h = "path,face,top,right,bottom,left";
  for (std::size_t i = 0; i < faceapp::encoding_size; ++i) h += ",e" + std::to_string(i);
  return h + '\n';
}

std::string encode_csv_rows(const faceapp::encoded_faces& found) {
  std::string out;
  for (std::size_t i = 0; i < found.size(); ++i) {
    const auto& f = found[i];
    out += csv_field(found.source()) + ',' + std::to_string(i) + ',' + std::to_string(f.box.top) + ',' +
           std::to_string(f.box.right) + ',' + std::to_string(f.box.bottom) + ',' + std::to_string(f.box.left);
    for (float v : f.encoding) out += ',' + exact(v);
    out += '\n';
  }
  return out;
}

/// JSON whose numbers are floats, so that they print as the shortest text that reads back to the same float
/// (-0.09871414, not the double's -0.09871414303779602).
using float_json = nlohmann::basic_json<nlohmann::ordered_map, std::vector, std::string, bool, std::int64_t,
                                        std::uint64_t, float>;

std::string encode_jsonl_rows(const faceapp::encoded_faces& found) {
  std::string out;
  for (std::size_t i = 0; i < found.size(); ++i) {
    const auto& f = found[i];
    float_json row;
    row["path"] = found.source();
    row["face"] = i;
    row["top"] = f.box.top;
    row["right"] = f.box.right;
    row["bottom"] = f.box.bottom;
    row["left"] = f.box.left;
    row["encoding"] = std::vector<float>(f.encoding.begin(), f.encoding.end());
    out += row.dump() + '\n';
  }
  return out;
}

int run_encode(const encode_options& opt, const common_options& common) {
  const auto models = load_models_or_exit(common.model_dir);
  const auto sink = open_record(common.record_file);
  const auto pipeline = faceapp::read | faceapp::encode(models);
  const bool jsonl = opt.format == "jsonl";
  if (opt.header && !jsonl) write_out(encode_csv_header());
  const auto print = [&](const faceapp::encoded_faces& found) {
    write_out(jsonl ? encode_jsonl_rows(found) : encode_csv_rows(found));
  };
  const bool ok = run_over_inputs(pipeline, opt.paths, common.jobs, sink.get(), print);
  return ok ? 0 : exit_error;
}

struct recognize_options {
  std::string known_dir;
  std::vector<std::string> paths;
  float tolerance = faceapp::default_tolerance;
  bool show_distance = false;
};

/// The known people: the first face of each image in the folder, named by the file's stem. Warns as
/// face_recognition does about images with several faces or none.
std::shared_ptr<faceapp::gallery> load_known(const std::string& dir, const faceapp::model_set& models,
                                             unsigned jobs, bool& all_ok) {
  auto known = std::make_shared<faceapp::gallery>();
  const auto pipeline = faceapp::read | faceapp::encode(models);
  all_ok &= run_over_inputs(pipeline, {dir}, jobs, nullptr, [&](const faceapp::encoded_faces& found) {
    const std::string& file = found.source();
    if (found.size() > 1) {
      std::fprintf(stderr, "WARNING: More than one face found in %s. Only considering the first face.\n",
                   file.c_str());
    }
    if (found.empty()) {
      std::fprintf(stderr, "WARNING: No faces found in %s. Ignoring file.\n", file.c_str());
      return;
    }
    known->add(fs::path(file).stem().string(), found[0].encoding);
  });
  return known;
}

int run_recognize(const recognize_options& opt, const common_options& common) {
  const auto models = load_models_or_exit(common.model_dir);
  const auto sink = open_record(common.record_file);
  bool all_ok = true;
  const std::shared_ptr<const faceapp::gallery> known = load_known(opt.known_dir, models, common.jobs, all_ok);

  // The record gets each face's nearest known person; the output lists every known person within tolerance.
  const auto pipeline = faceapp::read | faceapp::fit(recognize_max_side) | faceapp::encode(models) |
                        faceapp::distance_to(known, opt.tolerance);
  const auto line = [&](const std::string& path, std::string_view name, std::optional<float> distance) {
    std::string out = csv_field(path) + ',' + csv_field(std::string(name));
    // face_recognition prints Python's None where there is no distance; so do we, for its scripts' sake.
    if (opt.show_distance) out += ',' + (distance ? fixed6(*distance) : std::string("None"));
    return out + '\n';
  };
  const auto print = [&](const faceapp::encoded_faces& found) {
    std::string out;
    std::vector<float> distances(known->size());
    for (const auto& f : found) {
      known->distances(f.encoding, distances);
      bool any = false;
      for (std::size_t k = 0; k < distances.size(); ++k) {
        if (distances[k] <= opt.tolerance) {
          out += line(found.source(), known->name(k), distances[k]);
          any = true;
        }
      }
      if (!any) out += line(found.source(), "unknown_person", std::nullopt);
    }
    if (found.empty()) out += line(found.source(), "no_persons_found", std::nullopt);
    write_out(out);
  };
  all_ok &= run_over_inputs(pipeline, opt.paths, common.jobs, sink.get(), print);
  return all_ok ? 0 : exit_error;
}

struct compare_options {
  std::string first;
  std::string second;
  float tolerance = faceapp::default_tolerance;
};

int run_compare(const compare_options& opt, const common_options& common) {
  const auto models = load_models_or_exit(common.model_dir);
  const auto sink = open_record(common.record_file);
  const auto encode = faceapp::read | faceapp::encode(models);
  const std::vector<faceapp::source> inputs{opt.first, opt.second};
  const auto results = faceapp::run_batch(encode, inputs, {.threads = std::min(common.jobs, 2U)});

  bool ok = true;
  for (const auto& r : results) {
    if (!r) {
      report(r.error().what());
      ok = false;
    } else if (r->empty()) {
      report("compare: " + r->source() + ": no face found");
      ok = false;
    }
  }
  if (!ok) return exit_error;

  const auto& a = *results[0];
  const auto& b = *results[1];
  const auto& a_face = a[*a.largest()];
  auto compared = faceapp::distance_to(a_face, opt.tolerance)(b);
  if (!compared) {
    report(compared.error().what());
    return exit_error;
  }
  if (sink) {
    // Both images go into the record; the second one's faces with their distance to the first one's largest.
    const auto rec = faceapp::record(std::ref(*sink));
    auto recorded = rec(a).and_then([&](const auto&) { return rec(compared); });
    if (!recorded) {
      report(recorded.error().what());
      return exit_error;
    }
  }
  const auto& b_face = (*compared)[*compared->largest()];
  const float distance = *b_face.distance;
  const bool match = *b_face.match;
  write_out(csv_field(opt.first) + ',' + csv_field(opt.second) + ',' + fixed6(distance) + ',' +
            (match ? "true" : "false") + '\n');
  std::fflush(stdout);
  return match ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------------------------
// Arguments

void add_common_options(CLI::App& cmd, common_options& common) {
  cmd.add_option("-j,--jobs", common.jobs,
                 "Worker threads, each with its own detector and network (default: all cores)")
      ->check(CLI::Range(1U, 1024U))
      ->capture_default_str();
  cmd.add_option("--record", common.record_file,
                 "Also append every result to this CSV file (time,input,face,top,right,bottom,left,name,distance,"
                 "match), through the library's record stage; created with its header when new")
      ->type_name("FILE.csv");
  cmd.add_option("--model-dir", common.model_dir,
                 "Load the models from this folder (default: $FACEAPP_MODEL_DIR, then the build's models, then "
                 "~/.cache/faceapp); detect needs none, its detector is built into dlib")
      ->type_name("DIR")
      ->check(CLI::ExistingDirectory);
}

/// face_recognition's `--show-distance` takes a value (`--show-distance true`); ours is a flag. Joins such a
/// value to the flag (`--show-distance=true`, which CLI11 reads) so that those command lines keep working.
std::vector<std::string> with_flag_values_joined(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  const auto is_bool_word = [](std::string w) {
    std::transform(w.begin(), w.end(), w.begin(), [](unsigned char c) { return std::tolower(c); });
    return w == "true" || w == "false" || w == "1" || w == "0";
  };
  for (std::size_t i = 1; i + 1 < args.size(); ++i) {
    if (args[i] == "--show-distance" && is_bool_word(args[i + 1])) {
      args[i] += '=' + args[i + 1];
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    }
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"faceapp: find, compare and recognise faces in images (dlib's HOG detector and 128-D encoder)",
               "faceapp"};
  app.require_subcommand(1);
  app.footer(
      "Run `faceapp SUBCOMMAND --help` for a subcommand's options and output.\n"
      "Inputs: files, folders (their .jpg/.jpeg/.png/.bmp/.webp files, sorted) or - (paths on stdin, one a line).\n"
      "An input that cannot be read gets one line on stderr; the others go on and the exit status is 2.\n"
      "Output is in input order whatever --jobs is.");

  common_options common;

  compare_options compare_opt;
  auto* compare_cmd = app.add_subcommand("compare", "Compare the largest face of two images");
  compare_cmd->add_option("A", compare_opt.first, "First image")->required();
  compare_cmd->add_option("B", compare_opt.second, "Second image")->required();
  compare_cmd->add_option("-t,--tolerance", compare_opt.tolerance, "Largest distance that counts as the same person")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  add_common_options(*compare_cmd, common);
  compare_cmd->footer(
      "Output: A,B,DISTANCE,true|false (Euclidean distance of the two largest faces, 6 decimals).\n"
      "Exit status: 0 same person, 1 different people, 2 error (including an image without a face).");

  detect_options detect_opt;
  auto* detect_cmd = app.add_subcommand("detect", "Print the box of every face (like face_detection)");
  detect_cmd->add_option("PATH", detect_opt.paths, "Images, folders of images, or - for paths on stdin")
      ->required();
  detect_cmd->add_option("-u,--upsample", detect_opt.upsample,
                         "Times to double the image before detecting; finds smaller faces, each step ~4x slower")
      ->check(CLI::Range(0, 4))
      ->capture_default_str();
  add_common_options(*detect_cmd, common);
  detect_cmd->footer(
      "Output: one line per face, PATH,TOP,RIGHT,BOTTOM,LEFT in pixels of the image as read; nothing for an image\n"
      "without a face.");

  recognize_options recognize_opt;
  auto* recognize_cmd =
      app.add_subcommand("recognize", "Name the known people in images (like face_recognition)");
  recognize_cmd->add_option("KNOWN_DIR", recognize_opt.known_dir,
                            "Folder of known people, one image each, named by file stem (obama.jpg is obama)")
      ->required()
      ->check(CLI::ExistingDirectory);
  recognize_cmd->add_option("PATH", recognize_opt.paths, "Images, folders of images, or - for paths on stdin")
      ->required();
  recognize_cmd
      ->add_option("-t,--tolerance", recognize_opt.tolerance,
                   "Largest distance that counts as a match; lower is stricter")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  recognize_cmd->add_flag("--show-distance", recognize_opt.show_distance,
                          "Append the distance to each line (None where there is none, as face_recognition)");
  add_common_options(*recognize_cmd, common);
  recognize_cmd->footer(
      "Output, per face of each image: PATH,NAME for every known person within tolerance, PATH,unknown_person\n"
      "when none is; PATH,no_persons_found for an image without a face. --show-distance adds ,DISTANCE.\n"
      "Images over 1600 px on a side are shrunk before detection. Known images with several faces use the\n"
      "first; known images without a face are skipped (a WARNING on stderr for both).");

  encode_options encode_opt;
  auto* encode_cmd = app.add_subcommand("encode", "Print the 128-D encoding of every face");
  encode_cmd->add_option("PATH", encode_opt.paths, "Images, folders of images, or - for paths on stdin")
      ->required();
  encode_cmd->add_option("-f,--format", encode_opt.format, "Output format")
      ->check(CLI::IsMember({"csv", "jsonl"}))
      ->capture_default_str();
  encode_cmd->add_flag("--header", encode_opt.header, "Start the CSV output with a line of column names");
  add_common_options(*encode_cmd, common);
  encode_cmd->footer(
      "Output (csv): one row per face, PATH,FACE,TOP,RIGHT,BOTTOM,LEFT,E0,...,E127; values print with 9\n"
      "significant digits, so they read back exactly. (jsonl): one object per face with the keys path, face,\n"
      "top, right, bottom, left and encoding (128 numbers). Nothing for an image without a face.\n"
      "Example, as the map step of a batch job: find photos -name '*.jpg' | faceapp encode - > encodings.csv");

  try {
    auto args = with_flag_values_joined(argc, argv);
    args.erase(args.begin());  // CLI11 takes the arguments without the program name, last first
    std::reverse(args.begin(), args.end());
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : exit_error;
  }

  single_threaded_blas();
  if (*compare_cmd) return run_compare(compare_opt, common);
  if (*detect_cmd) return run_detect(detect_opt, common);
  if (*recognize_cmd) return run_recognize(recognize_opt, common);
  if (*encode_cmd) return run_encode(encode_opt, common);
  return exit_error;
}
