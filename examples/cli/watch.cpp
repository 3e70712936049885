// faceapp command line: watch, the known people in a video file or a live stream. Written only against the
// public headers.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <optional>
#include <set>
#include <string>

#include <faceapp/faceapp.hpp>
#include <faceapp/stages/video.hpp>

#include "common/atomic_file.hpp"
#include "output.hpp"
#include "running.hpp"
#include "watch.hpp"

namespace faceapp_cli {

namespace {

/// Frames are shrunk so that no side exceeds this, and HOG runs on them without upsampling: it then finds faces of
/// 80 px and more of the fitted frame (160 px of a 1280x720 frame), at a third of the CPU time of HOG on the whole
/// frame and a quarter of the cnn's, the one setting that kept up with 25 fps at --every 5 on a busy 2-core
/// machine (bench/bench_video.cpp, bench/README.md).
constexpr int watch_max_side = 640;
constexpr int watch_upsample = 0;  // the cnn's tiles, for --model cnn: none

std::atomic<bool> stop_requested{false};

extern "C" void request_stop(int) { stop_requested.store(true); }

/// SIGINT and SIGTERM end the loop after the frame at hand, so that the output is complete.
void stop_on_signals() {
  struct sigaction action {};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

std::string seconds3(double t) { return format_number("%.3f", t); }

std::string watch_rows(const faceapp::encoded_faces& found) {
  std::string out;
  const auto& at = *found.image.frame;
  for (const auto& f : found) {
    const bool named = f.match.value_or(false);
    out += seconds3(at.time) + ',' + std::to_string(at.index) + ',' + std::to_string(*f.track) + ',' +
           (named ? csv_field(f.name) : std::string()) + ',' + (f.distance ? fixed6(*f.distance) : std::string()) +
           ',' + std::to_string(f.box.top) + ',' + std::to_string(f.box.right) + ',' +
           std::to_string(f.box.bottom) + ',' + std::to_string(f.box.left) + '\n';
  }
  return out;
}

/// The progress line a terminal gets: frames analysed, their rate, faces and people seen.
class progress_line {
 public:
  progress_line() : shown_(::isatty(STDERR_FILENO) == 1) {}
  void update(std::size_t frames, std::size_t faces, std::size_t people) {
    if (!shown_) return;
    const double s = std::chrono::duration<double>(clock::now() - started_).count();
    std::fprintf(stderr, "\r%zu frames, %.1f fps, %zu faces, %zu people", frames, s > 0 ? frames / s : 0.0, faces,
                 people);
    std::fflush(stderr);
  }
  void end() {
    if (shown_) std::fputc('\n', stderr);
  }

 private:
  using clock = std::chrono::steady_clock;
  bool shown_;
  clock::time_point started_ = clock::now();
};

}  // namespace

CLI::App* add_watch_command(CLI::App& app, watch_options& opt) {
  auto* cmd = app.add_subcommand("watch", "Name the known people in a video file or a live stream, frame by frame");
  cmd->add_option("SOURCE", opt.source,
                  "A video file, or a URL that FFmpeg opens (tcp://, udp://, rtsp://, http://...)")
      ->required();
  cmd->add_option("-k,--known", opt.known_dir,
                  "Folder of known people, one image each, named by file stem (obama.jpg is obama), as recognize's "
                  "KNOWN_DIR")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("-e,--every", opt.every, "Analyse every N-th frame")->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  cmd->add_option("-t,--tolerance", opt.tolerance, "Largest distance that counts as a match; lower is stricter")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("-m,--model", opt.model, "Face detector: hog (dlib's HOG, the default) or cnn")
      ->check(CLI::IsMember({"hog", "cnn"}))
      ->capture_default_str();
  cmd->add_option("-o,--output", opt.output,
                  "Write the rows to FILE instead of stdout: to FILE.tmp as they come, renamed to FILE at the end "
                  "(also after SIGINT or SIGTERM), so FILE is always whole")
      ->type_name("FILE");
  cmd->footer(
      "Output: CSV rows time,frame,track,name,distance,top,right,bottom,left, one per face of each analysed frame;\n"
      "time in seconds from the start of the source, name empty for an unknown face, distance to the nearest\n"
      "known person. Frames are shrunk to 640 px on their longest side before detection (HOG then finds faces of\n"
      "160 px and more in a 1280x720 frame); boxes are in pixels of the frame as decoded.\n"
      "At the end, one line per track on stderr (first and last time, name).\n"
      "A stream that stops is opened again up to 3 times (0.25 s, 0.5 s, 1 s apart), each time reported.\n"
      "Exit status: 0 done (or stopped by SIGINT/SIGTERM), 1 some frames failed, 2 the source cannot be opened.");
  return cmd;
}

int run_watch(const watch_options& opt, const common_options& common) {
  // The source first: one that does not open ends the run before the models load.
  auto frames = faceapp::video(opt.source, {.every = opt.every});
  auto frame = frames.begin();
  if (frame != frames.end() && !*frame) {
    const auto& e = frame->error();
    if (e.stage == "video" && (e.code == faceapp::errc::not_found || e.code == faceapp::errc::unsupported)) {
      report(e.what());
      return exit_error;
    }
  }
  const auto models = load_models_or_exit(common.model_dir);
  const auto detector = detector_of(opt.model);
  bool all_ok = true;
  const auto known = load_known(opt.known_dir, models, detector, common.jobs, all_ok)->snapshot();

  std::optional<faceapp_examples::atomic_file> file;
  if (!opt.output.empty()) {
    file.emplace(opt.output);
    if (file->error()) {
      report("watch: " + *file->error());
      return exit_error;
    }
  }
  const auto emit = [&](const std::string& text) {
    if (file) {
      file->write(text);  // unbuffered: FILE.tmp grows as frames are analysed
    } else {
      write_out(text);
      std::fflush(stdout);
    }
  };

  faceapp::tracker people;
  const auto pipeline = faceapp::fit(watch_max_side) | faceapp::detect(models, detector, watch_upsample) |
                        faceapp::encode(models) | faceapp::distance_to(known, opt.tolerance) | faceapp::track(people);
  stop_on_signals();
  emit("time,frame,track,name,distance,top,right,bottom,left\n");
  progress_line progress;
  std::size_t analysed = 0;
  std::size_t faces = 0;
  bool frames_failed = false;
  for (; frame != frames.end() && !stop_requested.load(); ++frame) {
    const auto found = pipeline(*frame);
    if (!found) {
      progress.end();
      report(found.error().what());
      frames_failed = true;
      continue;
    }
    ++analysed;
    faces += found->size();
    emit(watch_rows(*found));
    progress.update(analysed, faces, people.tracks().size());
  }
  progress.end();

  for (const auto& t : people.tracks()) {
    std::fprintf(stderr, "track %zu: %s to %s s, %s (%zu of %zu faces%s)\n", t.id, seconds3(t.first.time).c_str(),
                 seconds3(t.last.time).c_str(), t.name.empty() ? "unknown" : t.name.c_str(), t.votes, t.faces,
                 t.best_distance ? (", best distance " + fixed6(*t.best_distance)).c_str() : "");
  }
  if (file && !file->commit()) {
    report("watch: " + *file->error());
    return exit_error;
  }
  if (!all_ok) return exit_error;
  return frames_failed ? 1 : 0;
}

}  // namespace faceapp_cli
