// faceapp command line: models, the record, and running a pipeline over the inputs. Shared by the subcommands.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <faceapp/faceapp.hpp>

#include "commands.hpp"
#include "input_paths.hpp"
#include "output.hpp"
#include "progress_bar.hpp"

namespace faceapp_cli {

/// The sink --record names, or nothing; exits with a message when the file cannot take results.
inline std::unique_ptr<faceapp::csv_sink> open_record(const std::string& file) {
  if (file.empty()) return nullptr;
  auto sink = std::make_unique<faceapp::csv_sink>(file);
  if (!sink->ok()) {
    report(sink->error()->what());
    std::exit(exit_error);
  }
  return sink;
}

/// --model hog|cnn (face_recognition's face_detection --model): which detector finds the faces.
inline faceapp::detector_model detector_of(const std::string& model) {
  return faceapp::parse_detector_model(model).value_or(faceapp::hog);
}

/// The models --model-dir names, or those on the search path; exits with a message when they are missing.
inline faceapp::model_set load_models_or_exit(const std::string& dir) {
  auto models = faceapp::load_models(dir);
  if (!models) {
    report(models.error().what());
    std::exit(exit_error);
  }
  return *std::move(models);
}

/// The pipeline of the subcommands that encode (encode, cluster): read, detect with --model, encode.
inline auto encode_pipeline(const faceapp::model_set& models, const encoding_options& opt) {
  return faceapp::read | faceapp::detect(detector_of(opt.model)) | faceapp::encode(models);
}

/// Does nothing with an error beyond the line on stderr.
struct ignore_errors {
  void operator()(const faceapp::stage_error&) const noexcept {}
};

/// Runs `pipeline` over the inputs `args` name (those of shard `part`) on `jobs` threads and hands each image's faces to `print` in
/// input order; a bad input gets one line on stderr, is handed to `on_error`, and the others go on. With a sink,
/// each result also goes through the library's record stage, here in input order too, so that the record does
/// not depend on --jobs. Returns whether all went through.
template <class Pipeline, class Print, class OnError = ignore_errors>
bool run_over_inputs(const Pipeline& pipeline, const std::vector<std::string>& args, shard part, unsigned jobs,
                     faceapp::record_sink* sink, Print&& print, OnError&& on_error = {}) {
  const auto total = count_inputs(args);
  progress_bar bar(total ? std::optional(part.size_of(*total)) : std::nullopt);
  bool all_ok = true;
  const auto failed = [&](const faceapp::stage_error& error) {
    bar.hide();
    std::fflush(stdout);
    report(error.what());
    on_error(error);
    all_ok = false;
  };
  input_paths inputs(args, [&](const std::string& folder, const std::string& why) {
    // Not a stage's error, but reported like one, so that it reads and lists the same way.
    failed(faceapp::stage_error{"list", folder, why, faceapp::errc::failed});
  }, part);
  const auto started = faceapp::run_ordered(
      pipeline, inputs,
      [&](std::size_t, auto r) {
        if (r && sink != nullptr) {
          if (auto recorded = faceapp::record(*sink)(*r); !recorded) {
            r = faceapp::unexpected(recorded.error());
          }
        }
        bar.hide();  // print may warn on stderr too
        if (r) {
          print(*r);
        } else {
          failed(r.error());
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

}  // namespace faceapp_cli
