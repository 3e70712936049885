// faceapp command line: encode, the 128-D encoding of every face. Written only against the public headers.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <faceapp/faceapp.hpp>

#include "commands.hpp"
#include "output.hpp"
#include "running.hpp"

namespace faceapp_cli {

namespace {

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

}  // namespace

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

}  // namespace faceapp_cli
