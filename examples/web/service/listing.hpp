// faceapp-web's service layer: the list of known people in pages: 50 a page on the main page, searched by name,
// and the offset/limit of the API's list. The web layer passes the query strings' values.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/names.hpp"
#include "service/errors.hpp"
#include "store/face_store.hpp"

namespace faceapp_web {

inline constexpr std::uint64_t people_per_page = 50;
inline constexpr std::uint64_t api_faces_default_limit = 100;
inline constexpr std::uint64_t api_faces_max_limit = 1000;

/// A non-negative integer query parameter: empty -> `fallback`; not a number or above `max` -> bad_input naming
/// it.
inline std::uint64_t parse_count(std::string_view text, std::string_view name, std::uint64_t fallback,
                                 std::uint64_t max) {
  if (text.empty()) return fallback;
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v > max) {
    throw service_error(errc::bad_input,
                        std::string(name) + " must be a whole number from 0 to " + std::to_string(max));
  }
  return v;
}

/// What the main page lists: one page of people, the search and where it is.
struct people_listing {
  people_page page;
  std::string query;         // as typed (trimmed), possibly empty
  std::uint64_t number = 1;  // 1-based
  std::uint64_t pages = 1;
};

/// The main page's list for `?q=` and `?page=` (pages past the end show the last one). Bad values of page
/// are read as 1, so a hand-edited link still shows a page.
inline people_listing list_people(const face_store& store, std::string_view query, std::string_view page) {
  people_listing l;
  const auto first = query.find_first_not_of(" \t");
  l.query = first == std::string_view::npos
                ? std::string()
                : std::string(query.substr(first, query.find_last_not_of(" \t") - first + 1));
  if (l.query.size() > faceapp_examples::max_name_bytes || !faceapp_examples::is_clean_utf8(l.query)) l.query.clear();
  std::uint64_t wanted = 1;
  try {
    wanted = std::max<std::uint64_t>(1, parse_count(page, "page", 1, std::uint64_t{1} << 40));
  } catch (const service_error&) {
    wanted = 1;
  }
  l.page = store.list(l.query, (wanted - 1) * people_per_page, people_per_page);
  l.pages = std::max<std::uint64_t>(1, (l.page.total + people_per_page - 1) / people_per_page);
  if (wanted > l.pages) {  // past the end: the last page
    wanted = l.pages;
    l.page = store.list(l.query, (wanted - 1) * people_per_page, people_per_page);
  }
  l.number = wanted;
  return l;
}

}  // namespace faceapp_web
