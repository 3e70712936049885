// faceapp command line: encode, the 128-D encoding of every face. Written only against the public headers.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <faceapp/faceapp.hpp>

#include "common/atomic_file.hpp"
#include "commands.hpp"
#include "output.hpp"
#include "running.hpp"

namespace faceapp_cli {

using faceapp_examples::atomic_file;

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
    out += csv_field(found.source()) + ',' + std::to_string(i) + ',' + box_fields(f.box);
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

/// One line of FILE.errors: path,stage,reason.
std::string error_row(const faceapp::stage_error& error) {
  return csv_field(error.input) + ',' + csv_field(error.stage) + ',' + csv_field(error.message) + '\n';
}

}  // namespace

int run_encode(const encode_options& opt, const common_options& common) {
  const auto models = load_models_or_exit(common.model_dir);
  const auto sink = open_record(common.record_file);

  // --output: rows into FILE, bad inputs into FILE.errors, both whole or not at all (a map task's output).
  std::optional<atomic_file> rows;
  std::optional<atomic_file> errors;
  if (!opt.output.empty()) {
    rows.emplace(opt.output);
    errors.emplace(opt.output + ".errors");
    for (const auto* f : {&*rows, &*errors}) {
      if (f->error()) {
        report("encode: " + *f->error());
        return exit_error;
      }
    }
  }
  const auto emit = [&](const std::string& text) {
    if (rows) {
      rows->write(text);
    } else {
      write_out(text);
    }
  };

  const auto pipeline = encode_pipeline(models, opt.encoding);
  const bool jsonl = opt.format == "jsonl";
  if (opt.header && !jsonl) emit(encode_csv_header());
  const auto print = [&](const faceapp::encoded_faces& found) {
    emit(jsonl ? encode_jsonl_rows(found) : encode_csv_rows(found));
  };
  const auto failed = [&](const faceapp::stage_error& error) {
    if (errors) errors->write(error_row(error));
  };
  const bool all_ok = run_over_inputs(pipeline, opt.encoding.paths, opt.part, common.jobs, sink.get(), print, failed);

  // The shard is complete: FILE.errors first, then FILE, whose presence says that both are whole.
  if (rows) {
    for (auto* f : {&*errors, &*rows}) {
      if (!f->commit()) {
        report("encode: " + *f->error());
        return exit_error;
      }
    }
  }
  return all_ok ? 0 : exit_error;
}

}  // namespace faceapp_cli
