// faceapp command line: compare, detect and recognize. Written only against the public headers.
#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <faceapp/faceapp.hpp>

#include "commands.hpp"
#include "output.hpp"
#include "running.hpp"

namespace faceapp_cli {

namespace {

/// face_recognition shrinks images to check so that no side exceeds this before detection.
constexpr int recognize_max_side = 1600;

}  // namespace

/// The known people: the first face of each image in the folder, named by the file's stem. Warns as
/// face_recognition does about images with several faces or none. Built at once from the encodings, in the
/// folder's order.
std::shared_ptr<const faceapp::gallery> load_known(const std::string& dir, const faceapp::model_set& models,
                                                   faceapp::detector_model detector, unsigned jobs, bool& all_ok) {
  std::vector<std::string> names;
  std::vector<float> values;
  const auto pipeline = faceapp::read | faceapp::detect(models, detector) | faceapp::encode(models);
  all_ok &= run_over_inputs(pipeline, {dir}, {}, jobs, nullptr, [&](const faceapp::encoded_faces& found) {
    const std::string& file = found.source();
    if (found.size() > 1) {
      std::fprintf(stderr, "WARNING: More than one face found in %s. Only considering the first face.\n",
                   file.c_str());
    }
    if (found.empty()) {
      std::fprintf(stderr, "WARNING: No faces found in %s. Ignoring file.\n", file.c_str());
      return;
    }
    names.push_back(std::filesystem::path(file).stem().string());
    values.insert(values.end(), found[0].encoding.begin(), found[0].encoding.end());
  });
  return std::make_shared<const faceapp::gallery>(faceapp::gallery::from_matrix(names, values));
}

/// Looked up at run time, so that the program runs on whichever BLAS dlib was built with. A multi-threaded
/// BLAS under dlib's network would have every worker start its own threads as well, and N workers would then
/// fight over the cores instead of scaling with N.
void single_threaded_blas() {
  using set_threads_fn = void (*)(int);
  if (void* f = ::dlsym(RTLD_DEFAULT, "openblas_set_num_threads")) {
    reinterpret_cast<set_threads_fn>(f)(1);
  }
}

int run_detect(const detect_options& opt, const common_options& common) {
  const auto sink = open_record(common.record_file);
  // With the cnn, -u counts levels of tiles, and none unless asked.
  const auto m = detector_of(opt.model);
  const auto pipeline =
      faceapp::read | faceapp::detect(m, m == faceapp::cnn && !opt.upsample_given ? 0 : opt.upsample);
  const bool ok = run_over_inputs(pipeline, opt.paths, {}, common.jobs, sink.get(), [](const faceapp::faces& found) {
    std::string out;
    for (const auto& f : found) {
      out += csv_field(found.source()) + ',' + box_fields(f.box) + '\n';
    }
    write_out(out);
  });
  return ok ? 0 : exit_error;
}

int run_recognize(const recognize_options& opt, const common_options& common) {
  const auto models = load_models_or_exit(common.model_dir);
  const auto sink = open_record(common.record_file);
  bool all_ok = true;
  const auto known = load_known(opt.known_dir, models, detector_of(opt.model), common.jobs, all_ok);
  const auto known_now = known->snapshot();  // complete: nothing is added while recognizing

  // The record gets each face's nearest known person; the output lists every known person within tolerance.
  const auto pipeline = faceapp::read | faceapp::fit(recognize_max_side) |
                        faceapp::detect(models, detector_of(opt.model)) | faceapp::encode(models) |
                        faceapp::distance_to(known_now, opt.tolerance);
  const auto line = [&](const std::string& path, std::string_view name, std::optional<float> distance) {
    std::string out = csv_field(path) + ',' + csv_field(std::string(name));
    // face_recognition prints Python's None where there is no distance; so do we, for its scripts' sake.
    if (opt.show_distance) out += ',' + (distance ? fixed6(*distance) : std::string("None"));
    return out + '\n';
  };
  const auto print = [&](const faceapp::encoded_faces& found) {
    std::string out;
    std::vector<float> distances(known_now->rows());
    for (const auto& f : found) {
      known_now->distances(f.encoding, distances);
      bool any = false;
      for (std::size_t k = 0; k < distances.size(); ++k) {
        if (distances[k] <= opt.tolerance) {
          out += line(found.source(), known_now->name(k), distances[k]);
          any = true;
        }
      }
      if (!any) out += line(found.source(), "unknown_person", std::nullopt);
    }
    if (found.empty()) out += line(found.source(), "no_persons_found", std::nullopt);
    write_out(out);
  };
  all_ok &= run_over_inputs(pipeline, opt.paths, {}, common.jobs, sink.get(), print);
  return all_ok ? 0 : exit_error;
}

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
    const auto rec = faceapp::record(*sink);
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

}  // namespace faceapp_cli
