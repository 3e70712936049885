// faceapp command line: watch, the known people in a video file or a live stream. main.cpp registers it.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "commands.hpp"

namespace faceapp_cli {

struct watch_options {
  std::string source;
  std::string known_dir;
  int every = 5;
  float tolerance = faceapp::default_tolerance;
  std::string model = "hog";
  std::string output;  // empty: stdout
};

/// Adds the `watch` subcommand and its options (all but the common ones) to `app`.
CLI::App* add_watch_command(CLI::App& app, watch_options& opt);

/// Returns the exit status: 0 done, 1 when some frames failed, 2 when the source cannot be opened.
int run_watch(const watch_options& opt, const common_options& common);

}  // namespace faceapp_cli
