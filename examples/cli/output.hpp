// faceapp command line: how results and errors are written.
#pragma once

#include <cstdio>
#include <string>

namespace faceapp_cli {

/// Exit status for errors (compare uses 0 and 1 for its answer).
inline constexpr int exit_error = 2;

/// A CSV field: quoted (RFC 4180) only when it has to be, so ordinary paths print exactly as
/// face_recognition prints them.
inline std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

inline std::string format_number(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

/// Six decimals, as compare prints distances.
inline std::string fixed6(float value) { return format_number("%.6f", static_cast<double>(value)); }

/// Nine significant digits are enough for any float to read back bit for bit.
inline std::string exact(float value) { return format_number("%.9g", static_cast<double>(value)); }

inline void write_out(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

inline void report(const std::string& message) { std::fprintf(stderr, "faceapp: %s\n", message.c_str()); }

}  // namespace faceapp_cli
