// faceapp command line: the subcommands' options and entry points. main.cpp turns the arguments into these;
// commands.cpp, encode.cpp and cluster.cpp run them.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <faceapp/core/clusters.hpp>
#include <faceapp/core/encoding.hpp>
#include <faceapp/core/gallery.hpp>
#include <faceapp/faces.hpp>
#include <faceapp/models/models.hpp>

#include "input_paths.hpp"

namespace faceapp_cli {

inline unsigned all_cores() { return std::max(1U, std::thread::hardware_concurrency()); }

/// The options every subcommand takes.
struct common_options {
  unsigned jobs = all_cores();
  std::string record_file;
  std::string model_dir;
};

struct compare_options {
  std::string first;
  std::string second;
  float tolerance = faceapp::default_tolerance;
};

struct detect_options {
  std::vector<std::string> paths;
  int upsample = 1;
  bool upsample_given = false;
  std::string model = "hog";
};

struct recognize_options {
  std::string known_dir;
  std::vector<std::string> paths;
  float tolerance = faceapp::default_tolerance;
  bool show_distance = false;
  std::string model = "hog";
};

/// What every subcommand that encodes faces takes (encode, cluster): the inputs and the detector.
struct encoding_options {
  std::vector<std::string> paths;
  std::string model = "hog";
};

struct encode_options {
  encoding_options encoding;
  std::string format = "csv";
  bool header = false;
  shard part;
  std::string output;  // empty: stdout
};

struct cluster_options {
  encoding_options encoding;
  float tolerance = faceapp::default_cluster_tolerance;
  std::string output;  // empty: no chips
};

/// Each returns the program's exit status.
int run_compare(const compare_options& opt, const common_options& common);
int run_detect(const detect_options& opt, const common_options& common);
int run_recognize(const recognize_options& opt, const common_options& common);
int run_encode(const encode_options& opt, const common_options& common);
int run_cluster(const cluster_options& opt, const common_options& common);

/// The known people of a folder (recognize's KNOWN_DIR, watch's --known): the first face of each image, named by
/// the file's stem; warns about images with several faces or none; clears all_ok when an image cannot be read.
std::shared_ptr<const faceapp::gallery> load_known(const std::string& dir, const faceapp::model_set& models,
                                                   faceapp::detector_model detector, unsigned jobs, bool& all_ok);

/// --jobs workers are the only parallelism: makes a multi-threaded BLAS under dlib's network run on one thread.
void single_threaded_blas();

}  // namespace faceapp_cli
