// faceapp command line: cluster, every face of the inputs grouped by person (dlib's chinese whispers through the
// library's cluster). Written only against the public headers.
#include <sys/stat.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <faceapp/faceapp.hpp>

#include "common/atomic_file.hpp"
#include "commands.hpp"
#include "output.hpp"
#include "running.hpp"

namespace faceapp_cli {

namespace {

/// One face of the inputs, kept until all are clustered: where it is, its encoding and, for --output, its chip.
struct found_face {
  std::string path;
  faceapp::box box;
  faceapp::encoding encoding;
  cv::Mat chip;  // RGB, 150x150; empty without --output
};

/// A folder of mode 0700 (the files in it are the operator's only); an existing one is left as it is.
bool make_private_folder(const std::filesystem::path& dir, std::string& why) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) {
    if (std::filesystem::is_directory(dir)) return true;
    why = dir.string() + ": not a folder";
    return false;
  }
  why = dir.string() + ": cannot create the folder: " + std::strerror(errno);
  return false;
}

/// The chips as DIR/<cluster>/<n>.jpg, n counting the faces of each cluster from 0 in output order.
bool write_chips(const std::string& dir, const std::vector<found_face>& faces, const std::vector<std::size_t>& ids) {
  std::string why;
  if (!make_private_folder(dir, why)) {
    report("cluster: " + why);
    return false;
  }
  std::map<std::size_t, std::size_t> written;
  for (std::size_t i = 0; i < faces.size(); ++i) {
    const auto folder = std::filesystem::path(dir) / std::to_string(ids[i]);
    if (written.find(ids[i]) == written.end() && !make_private_folder(folder, why)) {
      report("cluster: " + why);
      return false;
    }
    const auto file = folder / (std::to_string(written[ids[i]]++) + ".jpg");
    cv::Mat bgr;
    cv::cvtColor(faces[i].chip, bgr, cv::COLOR_RGB2BGR);
    std::vector<unsigned char> jpeg;
    try {
      if (!cv::imencode(".jpg", bgr, jpeg)) throw std::runtime_error("cannot encode the chip as JPEG");
      faceapp_examples::write_file_atomically(
          file, std::string_view(reinterpret_cast<const char*>(jpeg.data()), jpeg.size()));
    } catch (const std::exception& e) {
      report("cluster: " + file.string() + ": " + e.what());
      return false;
    }
  }
  return true;
}

}  // namespace

int run_cluster(const cluster_options& opt, const common_options& common) {
  const auto models = load_models_or_exit(common.model_dir);
  const auto sink = open_record(common.record_file);
  const bool chips = !opt.output.empty();

  std::vector<found_face> faces;
  const auto keep = [&](const faceapp::encoded_faces& found) {
    for (const auto& f : found) {
      found_face k{found.source(), f.box, f.encoding, {}};
      if (chips) k.chip = faceapp::face_chip(found.image, f).pixels;
      faces.push_back(std::move(k));
    }
  };
  const bool all_ok =
      run_over_inputs(encode_pipeline(models, opt.encoding), opt.encoding.paths, {}, common.jobs, sink.get(), keep);

  std::vector<faceapp::encoding> encodings;
  encodings.reserve(faces.size());
  for (const auto& f : faces) encodings.push_back(f.encoding);
  const auto ids = faceapp::cluster(encodings, opt.tolerance);

  std::string out;
  for (std::size_t i = 0; i < faces.size(); ++i) {
    out += csv_field(faces[i].path) + ',' + std::to_string(ids[i]) + ',' + box_fields(faces[i].box) + '\n';
  }
  write_out(out);
  if (chips && !write_chips(opt.output, faces, ids)) return exit_error;
  return all_ok ? 0 : exit_error;
}

}  // namespace faceapp_cli
