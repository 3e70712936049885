// faceapp-web's web layer: the main page's list of people (search form, one page of people, links to the others).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "service/listing.hpp"
#include "util.hpp"

namespace faceapp_web {

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
