// faceapp-web import / export (see import_export.hpp): in a translation unit of its own, which includes
// neither OpenCV nor dlib.
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <faceapp/detail/csv.hpp>
#include <nlohmann/json.hpp>

#include "common/names.hpp"
#include "store/import_export.hpp"
#include "store/npy.hpp"
#include "store/sqlite_store.hpp"
#include "store/store.hpp"

namespace faceapp_web {

inline constexpr std::size_t import_batch_rows = 50'000;

namespace detail {

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

using faceapp_examples::name_problem;  // the one name rule, as the web form checks it

/// A name as export wrote it, without the apostrophes faceapp::detail::csv_cell put before a formula's first
/// character (at the start, or after a `,` `;` or tab), so that an exported file imports back as it was. A name
/// that itself has an apostrophe just there loses it.
inline std::string without_formula_guard(std::string name) {
  const auto starts_formula = [](char c) { return c == '=' || c == '+' || c == '-' || c == '@'; };
  std::string out;
  out.reserve(name.size());
  for (std::size_t i = 0; i < name.size(); ++i) {
    const bool guard = name[i] == '\'' && i + 1 < name.size() &&
                       (i == 0 ? starts_formula(name[1]) || name[1] == '\t'
                               : starts_formula(name[i + 1]) &&
                                     (name[i - 1] == ',' || name[i - 1] == ';' || name[i - 1] == '\t'));
    if (!guard) out += name[i];
  }
  return out;
}

/// One CSV line: name (optionally "quoted", "" for a quote) then 128 numbers. Returns the problem, if any.
inline std::optional<std::string> parse_csv_line(std::string_view line, new_face& f) {
  std::size_t pos = 0;
  f.name.clear();
  if (!line.empty() && line.front() == '"') {
    pos = 1;
    for (;;) {
      const auto q = line.find('"', pos);
      if (q == std::string_view::npos) return "the quoted name has no closing quote";
      f.name.append(line.substr(pos, q - pos));
      if (q + 1 < line.size() && line[q + 1] == '"') {
        f.name += '"';
        pos = q + 2;
        continue;
      }
      pos = q + 1;
      break;
    }
    if (pos < line.size() && line[pos] != ',') return "text after the quoted name";
  } else {
    const auto comma = line.find(',');
    f.name = std::string(line.substr(0, comma));
    pos = comma == std::string_view::npos ? line.size() : comma;
  }
  std::size_t count = 0;
  std::optional<std::string> problem;
  while (pos < line.size()) {  // at a comma
    ++pos;
    auto end = line.find(',', pos);
    if (end == std::string_view::npos) end = line.size();
    const auto field = trim(line.substr(pos, end - pos));
    if (count < faceapp::encoding_size && !problem) {
      float v = 0;
      const char* first = field.data();
      if (!field.empty() && *first == '+') ++first;
      const auto [p, ec] = std::from_chars(first, field.data() + field.size(), v);
      if (field.empty() || ec != std::errc{} || p != field.data() + field.size()) {
        problem = "e" + std::to_string(count) + " (\"" + std::string(field.substr(0, 30)) + "\") is not a number";
      } else if (!std::isfinite(v)) {
        problem = "e" + std::to_string(count) + " is not finite";
      } else {
        f.encoding[count] = v;
      }
    }
    ++count;
    pos = end;
  }
  if (count != faceapp::encoding_size) {
    return std::to_string(count) + " values after the name, expected 128";
  }
  if (problem) return problem;
  f.name = without_formula_guard(std::move(f.name));
  return name_problem(f.name);
}

inline std::optional<std::string> parse_json_line(std::string_view line, new_face& f) {
  const auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "not a JSON object";
  const auto name = j.find("name");
  if (name == j.end() || !name->is_string()) return "no \"name\" string";
  const auto enc = j.find("encoding");
  if (enc == j.end() || !enc->is_array()) return "no \"encoding\" array";
  if (enc->size() != faceapp::encoding_size) {
    return "\"encoding\" has " + std::to_string(enc->size()) + " values, expected 128";
  }
  for (std::size_t i = 0; i < faceapp::encoding_size; ++i) {
    const auto& v = (*enc)[i];
    if (!v.is_number()) return "e" + std::to_string(i) + " is not a number";
    const auto x = static_cast<float>(v.get<double>());
    if (!std::isfinite(x)) return "e" + std::to_string(i) + " is not finite";
    f.encoding[i] = x;
  }
  f.name = name->get<std::string>();
  return name_problem(f.name);
}


}  // namespace detail

struct import_summary {
  std::uint64_t imported = 0;
  std::uint64_t skipped = 0;
};

/// Imports the faces in `in` (named `label` in messages) into `store`; problems go to `errors`.
inline import_summary import_faces(std::istream& in, const std::string& label, store_backend& store,
                                   std::ostream& errors) {
  import_summary s;
  std::vector<new_face> batch;
  batch.reserve(import_batch_rows);
  const auto added = faceapp::detail::utc_timestamp();
  const std::string source = "imported from " + clean_file_name(label);
  std::string line;
  std::uint64_t number = 0;
  new_face f;
  while (std::getline(in, line)) {
    ++number;
    const auto text = detail::trim(line);
    if (text.empty()) continue;
    std::optional<std::string> problem;
    if (text.front() == '{') {
      problem = detail::parse_json_line(text, f);
    } else {
      if (number == 1 && text.substr(0, 8) == "name,e0,") continue;  // the header
      problem = detail::parse_csv_line(text, f);
    }
    if (problem) {
      errors << label << ":" << number << ": skipped: " << *problem << '\n';
      ++s.skipped;
      continue;
    }
    f.added = added;
    f.source = source;
    batch.push_back(std::move(f));
    f = new_face{};
    if (batch.size() == import_batch_rows) {
      s.imported += store.add_many(batch);
      batch.clear();
    }
  }
  if (in.bad()) throw std::runtime_error(label + ": read error after line " + std::to_string(number));
  if (!batch.empty()) s.imported += store.add_many(batch);
  return s;
}

/// The names of NAMES.txt, one a line (a final line break is optional; a CR before it is dropped), each by the
/// name rule; throws naming the file and the line.
inline std::vector<std::string> read_names(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open it: " + std::strerror(errno));
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (auto problem = detail::name_problem(line)) {
      throw std::runtime_error(path + ":" + std::to_string(names.size() + 1) + ": " + *problem);
    }
    names.push_back(std::move(line));
  }
  if (in.bad()) throw std::runtime_error(path + ": read error after line " + std::to_string(names.size()));
  return names;
}

/// The rows of ENCODINGS.npy under the names of NAMES.txt (row i is line i + 1), into the store in `data_dir`:
/// the file, every row and every name are checked before the store is opened, and the rows go in one
/// transaction, so an error stores nothing. Returns the rows imported.
inline std::uint64_t import_npy(const std::string& npy_path, const std::string& names_path,
                                const std::filesystem::path& data_dir) {
  const npy_encodings matrix(npy_path);
  const auto names = read_names(names_path);
  if (names.size() != matrix.rows()) {
    throw std::runtime_error(names_path + " has " + std::to_string(names.size()) + " names, but " + npy_path +
                             " has " + std::to_string(matrix.rows()) + " rows: one name a row");
  }
  faceapp::encoding e;
  for (std::size_t r = 0; r < matrix.rows(); ++r) matrix.row(r, e);  // throws at the first value not finite
  std::filesystem::create_directories(data_dir);
  sqlite_store store(data_dir);
  store.begin_bulk();  // only when no server has the database open
  const auto added = faceapp::detail::utc_timestamp();
  const std::string source = "imported from " + clean_file_name(npy_path);
  std::size_t r = 0;
  const auto rows = store.add_all_or_nothing([&](new_face& f) {
    if (r == matrix.rows()) return false;
    matrix.row(r, f.encoding);
    f.name = names[r];
    f.added = added;
    f.source = source;
    ++r;
    return true;
  }, matrix.rows());
  std::cerr << "faceapp-web import: " << rows << " faces imported into " << store.describe() << '\n';
  return rows;
}

/// Writes every face as CSV (header "name,e0,...,e127"), in id order. Names are written by the records' rule
/// (faceapp::detail::csv_cell): one that a spreadsheet would run as a formula gets an apostrophe first, which
/// import takes off again.
inline std::uint64_t export_faces(const store_backend& store, std::FILE* out) {
  std::string buf = "name";
  for (std::size_t i = 0; i < faceapp::encoding_size; ++i) buf += ",e" + std::to_string(i);
  buf += '\n';
  std::uint64_t rows = 0;
  const auto flush = [&] {
    if (std::fwrite(buf.data(), 1, buf.size(), out) != buf.size()) {
      throw std::runtime_error(std::string("cannot write the export: ") + std::strerror(errno));
    }
    buf.clear();
  };
  store.load([&](std::uint64_t, std::string_view name, const faceapp::encoding& e) {
    buf += faceapp::detail::csv_cell(name);
    char num[32];
    for (float v : e) {
      buf += ',';
      const auto r = std::to_chars(num, num + sizeof num, v);  // shortest text that reads back exactly
      buf.append(num, r.ptr);
    }
    buf += '\n';
    ++rows;
    if (buf.size() > (1U << 20)) flush();
  });
  flush();
  if (std::fflush(out) != 0) throw std::runtime_error(std::string("cannot write the export: ") + std::strerror(errno));
  return rows;
}

int run_tool(int argc, char** argv) {
  const std::string command = argv[1];
  std::filesystem::path data_dir = "faceapp-data";
  std::string file;
  std::string names_file;
  CLI::App cli{command == "import" ? "faceapp-web import: add named encodings (CSV, JSONL or .npy) to the gallery"
                                   : "faceapp-web export: write the gallery's names and encodings as CSV"};
  cli.name("faceapp-web " + command);
  cli.add_option("--data", data_dir, "The server's data directory (holds faceapp.db)")->capture_default_str();
  if (command == "import") {
    cli.add_option("FILE", file, "CSV (name,e0,...,e127; header optional) or JSONL ({\"name\":..,\"encoding\":[..]}); "
                                 "- for stdin; or a numpy .npy of shape (N, 128), float32 or float64, with --names")
        ->required();
    cli.add_option("--names", names_file, "With a .npy FILE: a text file of its N names, one a line, row i on line i+1");
  }
  try {
    cli.parse(argc - 1, argv + 1);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }
  try {
    if (command == "export") {
      if (!std::filesystem::exists(data_dir / "faceapp.db")) {
        throw std::runtime_error("no gallery in " + data_dir.string() + " (no faceapp.db there)");
      }
      sqlite_store store(data_dir);
      const auto rows = export_faces(store, stdout);
      std::cerr << "faceapp-web export: " << rows << " faces from " << store.describe() << '\n';
      return 0;
    }
    std::string ext = std::filesystem::path(file).extension().string();
    for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const bool npy = ext == ".npy";
    if (npy != !names_file.empty()) {
      throw std::runtime_error(npy ? file + ": a .npy file needs --names NAMES.txt (one name a row)"
                                   : "--names " + names_file + " goes with a .npy FILE only, not " + file);
    }
    if (npy) {
      import_npy(file, names_file, data_dir);
      return 0;
    }
    std::ifstream in_file;
    std::istream* in = &std::cin;
    if (file != "-") {
      in_file.open(file, std::ios::binary);
      if (!in_file) throw std::runtime_error("cannot open " + file + ": " + std::strerror(errno));
      in = &in_file;
    }
    std::filesystem::create_directories(data_dir);
    sqlite_store store(data_dir);
    store.begin_bulk();  // only when no server has the database open
    const auto s = import_faces(*in, file == "-" ? std::string("stdin") : file, store, std::cerr);
    std::cerr << "faceapp-web import: " << s.imported << " faces imported into " << store.describe() << ", "
              << s.skipped << " lines skipped\n";
    return s.skipped == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    std::cerr << "faceapp-web " << command << ": " << e.what() << '\n';
    return 1;
  }
}

}  // namespace faceapp_web
