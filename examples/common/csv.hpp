// faceapp's example programs: a CSV field as RFC 4180 writes it, for files that must read back exactly (the
// command line's outputs). The records the library writes and faceapp-web's export use faceapp::detail::csv_cell,
// which also defuses spreadsheet formulas; these fields are data to be read back, so nothing is added to them.
#pragma once

#include <string>
#include <string_view>

namespace faceapp_examples {

/// `text` quoted only when it has to be: when it holds a comma, a quote or a line break, or starts or ends with
/// a blank (which readers that trim would lose); quotes inside are doubled. Ordinary paths and names print as
/// they are.
inline std::string csv_field(std::string_view text) {
  const bool edge_blank = !text.empty() && (text.front() == ' ' || text.front() == '\t' || text.back() == ' ' ||
                                            text.back() == '\t');
  if (text.find_first_of(",\"\r\n") == std::string_view::npos && !edge_blank) return std::string(text);
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

}  // namespace faceapp_examples
