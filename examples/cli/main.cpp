// faceapp: the command line. compare, detect, recognize, encode and cluster faces; watch a video.
//
// Output formats follow face_recognition's two command-line tools (face_recognition, face_detection) where
// they overlap, so scripts written for those keep working. Written only against the public headers.
//
// This file turns the arguments into options; commands.cpp (compare, detect, recognize), encode.cpp,
// cluster.cpp and watch.cpp run them, over the inputs of input_paths.hpp, with the progress bar of progress_bar.hpp.
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "output.hpp"
#include "watch.hpp"

namespace {

using namespace faceapp_cli;

/// --model hog|cnn (face_recognition's face_detection --model): which detector finds the faces.
void add_model_option(CLI::App& cmd, std::string& model) {
  cmd.add_option("-m,--model", model,
                 "Face detector: hog (dlib's HOG, the default) or cnn (an SSD MobileNetV1 network: more turned and "
                 "small faces, faster on large photos)")
      ->check(CLI::IsMember({"hog", "cnn"}))
      ->capture_default_str();
}

/// The inputs and the detector of the subcommands that encode faces (encode, cluster).
void add_encoding_options(CLI::App& cmd, encoding_options& opt) {
  cmd.add_option("PATH", opt.paths, "Images, folders of images, or - for paths on stdin")->required();
  add_model_option(cmd, opt.model);
}

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
  // Options every subcommand shares (such as a choice of face detector) go here, with their field in
  // common_options (commands.hpp).
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
  // Its outputs (encodings, records of whose face is in which photo) are personal data: files 0600, directories
  // 0700, whatever the caller's umask.
  ::umask(077);
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
                         "Times to double the image before detecting; finds smaller faces, each step ~4x slower "
                         "(cnn: levels of overlapping tiles, default 0; 1 costs ~5x)")
      ->check(CLI::Range(0, 4))
      ->capture_default_str()
      ->each([&](const std::string&) { detect_opt.upsample_given = true; });
  add_model_option(*detect_cmd, detect_opt.model);
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
  add_model_option(*recognize_cmd, recognize_opt.model);
  add_common_options(*recognize_cmd, common);
  recognize_cmd->footer(
      "Output, per face of each image: PATH,NAME for every known person within tolerance, PATH,unknown_person\n"
      "when none is; PATH,no_persons_found for an image without a face. --show-distance adds ,DISTANCE.\n"
      "Images over 1600 px on a side are shrunk before detection. Known images with several faces use the\n"
      "first; known images without a face are skipped (a WARNING on stderr for both).");

  encode_options encode_opt;
  auto* encode_cmd = app.add_subcommand("encode", "Print the 128-D encoding of every face");
  add_encoding_options(*encode_cmd, encode_opt.encoding);
  encode_cmd->add_option("-f,--format", encode_opt.format, "Output format")
      ->check(CLI::IsMember({"csv", "jsonl"}))
      ->capture_default_str();
  encode_cmd->add_flag("--header", encode_opt.header, "Start the CSV output with a line of column names");
  encode_cmd
      ->add_option_function<std::string>(
          "--shard",
          [&](const std::string& text) {
            std::string why;  // the check below lets only good ones through
            if (const auto part = parse_shard(text, why)) encode_opt.part = *part;
          },
          "Encode only part K of N of the inputs: those whose position in the whole list is K modulo N; N tasks "
          "with K = 0..N-1 split any list between them")
      ->type_name("K/N")
      ->check(CLI::Validator(
          [](std::string& text) {
            std::string why;
            return parse_shard(text, why) ? std::string() : why;
          },
          "K/N"));
  encode_cmd
      ->add_option("-o,--output", encode_opt.output,
                   "Write the rows to FILE instead of stdout, and the inputs that failed to FILE.errors (CSV: path,"
                   "stage,reason). Both appear only once all inputs are done (written to FILE.tmp, synced, renamed): "
                   "a killed run leaves no FILE, and a rerun writes the same FILE again")
      ->type_name("FILE");
  add_common_options(*encode_cmd, common);
  encode_cmd->footer(
      "Output (csv): one row per face, PATH,FACE,TOP,RIGHT,BOTTOM,LEFT,E0,...,E127; values print with 9\n"
      "significant digits, so they read back exactly. (jsonl): one object per face with the keys path, face,\n"
      "top, right, bottom, left and encoding (128 numbers). Nothing for an image without a face.\n"
      "Example, as the map step of a batch job: find photos -name '*.jpg' | faceapp encode - > encodings.csv;\n"
      "as task K of N: faceapp encode --shard K/N --output part-K.csv - < list.txt (cat the parts to merge).");

  cluster_options cluster_opt;
  auto* cluster_cmd = app.add_subcommand("cluster", "Group every face of the inputs by person");
  add_encoding_options(*cluster_cmd, cluster_opt.encoding);
  cluster_cmd
      ->add_option("-t,--tolerance", cluster_opt.tolerance,
                   "Largest distance that links two faces; clusters chain through their links, so keep it under the "
                   "matching tolerance")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cluster_cmd
      ->add_option("-o,--output", cluster_opt.output,
                   "Also write each face's 150x150 chip as DIR/CLUSTER/N.jpg (N from 0 in output order); files 0600, "
                   "folders 0700")
      ->type_name("DIR");
  add_common_options(*cluster_cmd, common);
  cluster_cmd->footer(
      "Output: one row per face, PATH,CLUSTER,TOP,RIGHT,BOTTOM,LEFT, in input order; clusters are numbered from 0 in\n"
      "order of first appearance (dlib's chinese whispers over the faces within --tolerance of each other).\n"
      "The rows come once every input is encoded.");

  watch_options watch_opt;
  auto* watch_cmd = add_watch_command(app, watch_opt);
  add_common_options(*watch_cmd, common);

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
  if (*cluster_cmd) return run_cluster(cluster_opt, common);
  if (*watch_cmd) return run_watch(watch_opt, common);
  return exit_error;
}
