// faceapp-web: the list of known people in pages: 50 a page on the main page, searched by name, and the
// offset/limit of GET /api/faces. Independent of the HTTP library: handlers pass the query strings' values.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "app.hpp"
#include "face_store.hpp"
#include "util.hpp"

namespace faceapp_web {

inline constexpr std::uint64_t people_per_page = 50;
inline constexpr std::uint64_t api_faces_default_limit = 100;
inline constexpr std::uint64_t api_faces_max_limit = 1000;

/// Text as a URL query value (RFC 3986 unreserved characters kept, everything else %XX).
inline std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// A non-negative integer query parameter: empty -> `fallback`; not a number or above `max` -> 400 naming it.
inline std::uint64_t parse_count(std::string_view text, std::string_view name, std::uint64_t fallback,
                                 std::uint64_t max) {
  if (text.empty()) return fallback;
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v > max) {
    throw http_error(400, std::string(name) + " must be a whole number from 0 to " + std::to_string(max));
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
  if (l.query.size() > 100 || !is_clean_utf8(l.query)) l.query.clear();
  std::uint64_t wanted = 1;
  try {
    wanted = std::max<std::uint64_t>(1, parse_count(page, "page", 1, std::uint64_t{1} << 40));
  } catch (const http_error&) {
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

namespace pages {

/// A link to page n of the list, keeping the search.
inline std::string list_link(const people_listing& l, std::uint64_t n) {
  std::string href = "/?page=" + std::to_string(n);
  if (!l.query.empty()) href += "&amp;q=" + html_escape(url_encode(l.query));
  return href;
}

/// The search form, the people of this page and the links to the other pages.
inline std::string people_list(const people_listing& l) {
  std::string b = "<h2>Known people (" + std::to_string(l.page.total) + (l.query.empty() ? "" : " named like this") +
                  ")</h2>";
  b += "<form class=\"search\" id=\"search\" method=\"get\" action=\"/\"><label for=\"q\">Search by name</label>"
       "<input type=\"search\" id=\"q\" name=\"q\" maxlength=\"100\" value=\"" +
       html_escape(l.query) + "\"><button type=\"submit\">Search</button></form>";
  if (l.page.people.empty()) {
    b += l.query.empty() ? "<p id=\"empty\">Nobody yet: add a photo above.</p>"
                         : "<p id=\"empty\">Nobody with a name containing this.</p>";
    return b;
  }
  b += "<ul class=\"people\">";
  for (const auto& p : l.page.people) {
    const auto id = std::to_string(p.id);
    b += "<li data-id=\"" + id + "\">";
    b += p.has_thumbnail ? "<img src=\"/faces/" + id + "/thumbnail.jpg\" alt=\"" + html_escape(p.name) +
                               "\" width=\"56\" height=\"56\" loading=\"lazy\">"
                         : std::string("<span class=\"nothumb\" title=\"imported without a photo\"></span>");
    b += "<span class=\"who\"><span class=\"name\">" + html_escape(p.name) + "</span><small>added " +
         html_escape(p.added.substr(0, 10)) + "</small></span><form method=\"post\" action=\"/faces/" + id +
         "/delete\"><button class=\"delete\" type=\"submit\" aria-label=\"Delete " + html_escape(p.name) +
         "\">Delete</button></form></li>";
  }
  b += "</ul>";
  if (l.pages > 1) {
    b += "<nav class=\"pages\" aria-label=\"pages\">";
    if (l.number > 1) b += "<a rel=\"prev\" href=\"" + list_link(l, l.number - 1) + "\">← previous</a> ";
    b += "<span>page " + std::to_string(l.number) + " of " + std::to_string(l.pages) + "</span>";
    if (l.number < l.pages) b += " <a rel=\"next\" href=\"" + list_link(l, l.number + 1) + "\">next →</a>";
    b += "</nav>";
  }
  return b;
}

}  // namespace pages

}  // namespace faceapp_web
