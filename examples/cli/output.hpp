// faceapp command line: how results and errors are written.
#pragma once

#include <cstdio>
#include <string>

#include <faceapp/core/geometry.hpp>

#include "common/csv.hpp"

namespace faceapp_cli {

/// Exit status for errors (compare uses 0 and 1 for its answer).
inline constexpr int exit_error = 2;

/// A CSV field (quoted only when it has to be, so ordinary paths print exactly as face_recognition prints
/// them): the one rule of the example programs.
using faceapp_examples::csv_field;

inline std::string format_number(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

/// Six decimals, as compare prints distances.
inline std::string fixed6(float value) { return format_number("%.6f", static_cast<double>(value)); }

/// Nine significant digits are enough for any float to read back bit for bit.
inline std::string exact(float value) { return format_number("%.9g", static_cast<double>(value)); }

/// A face's box as the four CSV fields top,right,bottom,left (face_recognition's order).
inline std::string box_fields(const faceapp::box& b) {
  return std::to_string(b.top) + ',' + std::to_string(b.right) + ',' + std::to_string(b.bottom) + ',' +
         std::to_string(b.left);
}

inline void write_out(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

inline void report(const std::string& message) { std::fprintf(stderr, "faceapp: %s\n", message.c_str()); }

}  // namespace faceapp_cli
