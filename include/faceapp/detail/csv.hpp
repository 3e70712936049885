// faceapp: CSV cells per RFC 4180, safe to open in a spreadsheet.
#pragma once

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

namespace faceapp::detail {

/// One CSV cell. A cell that a spreadsheet would run as a formula (it starts with = + - @, a tab or a carriage
/// return) gets a leading apostrophe (OWASP's advice), and so does every = + - @ that follows a `,` `;` or tab
/// inside the cell: a spreadsheet that splits on `;` (the separator in many locales) would start a cell there.
/// A cell with such a separator, a quote, a line break or edge spaces is quoted, with quotes doubled (RFC 4180).
inline std::string csv_cell(std::string_view text) {
  const auto starts_formula = [](char c) { return c == '=' || c == '+' || c == '-' || c == '@'; };
  const auto separator = [](char c) { return c == ',' || c == ';' || c == '\t'; };
  std::string cell;
  if (!text.empty() && (starts_formula(text[0]) || text[0] == '\t' || text[0] == '\r')) cell += '\'';
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i > 0 && starts_formula(text[i]) && separator(text[i - 1])) cell += '\'';
    cell += text[i];
  }
  const bool quote = cell.find_first_of(",;\t\"\r\n") != std::string::npos ||
                     (!cell.empty() && (cell.front() == ' ' || cell.back() == ' '));
  if (!quote) return cell;
  std::string quoted = "\"";
  for (char c : cell) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

/// Now, as UTC ISO-8601 with milliseconds: 2026-11-28T19:20:00.123Z.
inline std::string utc_timestamp(std::chrono::system_clock::time_point t = std::chrono::system_clock::now()) {
  // floor, not duration_cast: before 1970 the milliseconds must count up from the second, not be negative.
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const auto s = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(s);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms - s * 1000));
  return buf;
}

}  // namespace faceapp::detail
