// faceapp's example programs: the rule for a person's name, wherever one is typed or imported.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace faceapp_examples {

/// Whether `text` is well-formed UTF-8 without control characters (tab excepted). Well-formed as RFC 3629 says:
/// no overlong forms (C0, C1, E0 80..9F, F0 80..8F), no UTF-16 surrogates (ED A0..BF), nothing above U+10FFFF.
inline bool is_clean_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    unsigned char low = 0x80;  // the range the second byte must be in
    unsigned char high = 0xBF;
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t') || c == 0x7F) return false;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      if (c == 0xE0) low = 0xA0;   // below: overlong
      if (c == 0xED) high = 0x9F;  // above: surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      if (c == 0xF0) low = 0x90;   // below: overlong
      if (c == 0xF4) high = 0x8F;  // above: beyond U+10FFFF
    } else {
      return false;
    }
    if (i + extra >= text.size() && extra > 0) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      if (k == 1 ? (b < low || b > high) : (b & 0xC0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

/// `s` without leading and trailing spaces and tabs.
inline std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// The longest name, in bytes of UTF-8.
inline constexpr std::size_t max_name_bytes = 100;

/// A person's name as typed: trimmed of blanks, then 1 to max_name_bytes bytes of UTF-8 without control
/// characters. Trims `name` in place and returns what is wrong with it, or nothing when it is fine.
inline std::optional<std::string> name_problem(std::string& name) {
  name = std::string(trim_blanks(name));
  if (name.empty()) return "the name is empty";
  if (name.size() > max_name_bytes) {
    return "the name is " + std::to_string(name.size()) + " bytes long (at most " + std::to_string(max_name_bytes) +
           ")";
  }
  if (!is_clean_utf8(name)) return "the name is not valid UTF-8 text without control characters";
  return std::nullopt;
}

}  // namespace faceapp_examples
