// faceapp-web's store layer: the records (what the `record` stage writes) as rows of the results table. One
// mapping, used by both databases: the columns in their order, and each cell as text or NULL, which SQLite
// (by its column affinity) and PostgreSQL (by the casts in its statement) store as numbers.
#pragma once

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <faceapp/core/geometry.hpp>
#include <faceapp/stages/record.hpp>

namespace faceapp_web {

/// The results table's columns besides its id, in the CSV's order.
inline constexpr std::array<std::string_view, 10> results_columns{
    "time", "input", "face", "box_top", "box_right", "box_bottom", "box_left", "name", "distance", "match"};

/// One row's cells, in results_columns' order; nothing is NULL.
using results_cells = std::array<std::optional<std::string>, results_columns.size()>;

/// "time, input, ..., match", for statements.
inline std::string results_column_list() {
  std::string out;
  for (const auto c : results_columns) out += (out.empty() ? "" : ", ") + std::string(c);
  return out;
}

/// A record as cells: the face index and the box as integers, the distance with 9 significant digits (it reads
/// back as the same float), match as 1 or 0.
inline results_cells results_cells_of(const faceapp::record_row& r) {
  results_cells c;
  c[0] = r.time;
  c[1] = r.input;
  if (r.face) c[2] = std::to_string(*r.face);
  if (r.box) {
    c[3] = std::to_string(r.box->top);
    c[4] = std::to_string(r.box->right);
    c[5] = std::to_string(r.box->bottom);
    c[6] = std::to_string(r.box->left);
  }
  c[7] = r.name;
  if (r.distance) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(*r.distance));
    c[8] = buf;
  }
  if (r.match) c[9] = *r.match ? "1" : "0";
  return c;
}

/// The record a row's cells hold (the inverse of results_cells_of). Throws std::runtime_error naming the column
/// when a cell is not what that column holds.
inline faceapp::record_row record_row_of(const results_cells& c) {
  const auto integer = [&](std::size_t i) -> long long {
    const std::string& t = *c[i];
    long long v = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc{} || end != t.data() + t.size()) {
      throw std::runtime_error("results table: column " + std::string(results_columns[i]) + " holds '" + t +
                               "', not a whole number");
    }
    return v;
  };
  faceapp::record_row r;
  r.time = c[0].value_or("");
  r.input = c[1].value_or("");
  if (c[2]) r.face = static_cast<std::size_t>(integer(2));
  if (c[3] && c[4] && c[5] && c[6]) {
    r.box = faceapp::box{static_cast<int>(integer(3)), static_cast<int>(integer(4)), static_cast<int>(integer(5)),
                         static_cast<int>(integer(6))};
  }
  r.name = c[7].value_or("");
  if (c[8]) {
    char* end = nullptr;
    r.distance = std::strtof(c[8]->c_str(), &end);
    if (end == c[8]->c_str()) throw std::runtime_error("results table: column distance holds '" + *c[8] + "'");
  }
  if (c[9]) r.match = integer(9) != 0;
  return r;
}

}  // namespace faceapp_web
