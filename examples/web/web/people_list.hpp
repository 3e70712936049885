// faceapp-web's web layer: the main page's list of people (search form, one page of people with a few thumbnails
// each and a link to their page, links to the other pages).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "service/person_listing.hpp"
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
inline std::string list_link(const persons_listing& l, std::uint64_t n) {
  std::string href = "/?page=" + std::to_string(n);
  if (!l.query.empty()) href += "&amp;q=" + html_escape(url_encode(l.query));
  return href;
}

inline std::string face_count_text(std::uint64_t n) { return std::to_string(n) + (n == 1 ? " face" : " faces"); }

/// A face's thumbnail (a grey square for a face imported without a photo).
inline std::string thumbnail_img(std::uint64_t face, bool has_thumbnail, const std::string& alt, int side) {
  const auto px = std::to_string(side);
  return has_thumbnail ? "<img src=\"/faces/" + std::to_string(face) + "/thumbnail.jpg\" alt=\"" + html_escape(alt) +
                             "\" width=\"" + px + "\" height=\"" + px + "\" loading=\"lazy\">"
                       : std::string("<span class=\"nothumb\" title=\"imported without a photo\"></span>");
}

/// The search form, the people of this page (name, face count, the first thumbnails, each row a link to the
/// person's page) and the links to the other pages.
inline std::string people_list(const persons_listing& l) {
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
    const auto href = "/people/" + id;
    b += "<li data-id=\"" + id + "\" data-faces=\"" + std::to_string(p.face_count) + "\"><a class=\"who\" href=\"" +
         href + "\"><span class=\"name\">" + html_escape(p.name) + "</span><small class=\"count\">" +
         face_count_text(p.face_count) + "</small></a><a class=\"thumbs\" href=\"" + href +
         "\" tabindex=\"-1\">";
    std::size_t shown = 0;
    if (const auto f = l.faces.find(p.id); f != l.faces.end()) {
      for (const auto& face : f->second) b += thumbnail_img(face.id, face.has_thumbnail, p.name, 44);
      shown = f->second.size();
    }
    if (p.face_count > shown) b += "<span class=\"more\">+" + std::to_string(p.face_count - shown) + " more</span>";
    b += "</a></li>";
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
