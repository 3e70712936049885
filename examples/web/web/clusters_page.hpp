// faceapp-web's web layer: the page /clusters, bulk enrolment without JavaScript: a form that uploads many photos
// (POST /clusters), and every pending cluster as a row of its face thumbnails with a name field (prefilled with
// the suggested known person), an Enrol button (POST /clusters/{id}/enrol) and a Discard button
// (POST /clusters/{id}/delete). Plain HTML and CSS like the other pages; every name escaped.
#pragma once

#include <string>
#include <vector>

#include "service/service.hpp"
#include "util.hpp"
#include "web/pages.hpp"

namespace faceapp_web::pages {

/// A pending face's thumbnail as a data: URL (the page's policy allows data: images).
inline std::string pending_thumbnail_url(const pending_face& f) {
  return "data:image/jpeg;base64," + base64_encode(f.thumbnail);
}

inline std::string clusters_page(const service_options& o, const std::vector<pending_cluster>& clusters,
                                 const std::string& message, bool error) {
  std::string b = "<h1>Enrol many people</h1>";
  b += message_block(message, error);
  b += "<form class=\"card\" id=\"upload\" method=\"post\" action=\"/clusters\" enctype=\"multipart/form-data\">"
       "<label for=\"image\">Photos <small>(up to " + std::to_string(o.max_cluster_photos) +
       " at once; their faces are grouped by person, and each group waits here for a name for a day)</small>"
       "</label><input type=\"file\" id=\"image\" name=\"image\" multiple required "
       "accept=\"image/jpeg,image/png,image/bmp,image/webp\"><button type=\"submit\">Group their faces</button>"
       "</form>";
  b += "<h2>Waiting for a name</h2>";
  if (clusters.empty()) {
    b += "<p id=\"noclusters\">Nothing is waiting: upload photos above.</p>";
    return layout(o, "Enrol many people", "/clusters", b);
  }
  b += "<ul class=\"clusters\" id=\"clusters\">";
  for (const auto& c : clusters) {
    const auto id = std::to_string(c.id);
    const auto faces = std::to_string(c.faces.size()) + (c.faces.size() == 1 ? " face" : " faces");
    b += "<li data-cluster=\"" + id + "\"><div class=\"thumbs\">";
    for (const auto& f : c.faces) {
      b += "<img src=\"" + pending_thumbnail_url(f) + "\" alt=\"a face in " + html_escape(f.photo) +
           "\" title=\"" + html_escape(f.photo) + "\" width=\"56\" height=\"56\">";
    }
    b += "</div><small>" + faces + (c.suggested ? ", like " + html_escape(*c.suggested) + ", whom we know" : "") +
         "</small><div class=\"actions\"><form class=\"enrol\" method=\"post\" action=\"/clusters/" + id +
         "/enrol\"><label for=\"name-" + id + "\">Name</label><input type=\"text\" id=\"name-" + id +
         "\" name=\"name\" required maxlength=\"100\" autocomplete=\"off\" value=\"" +
         html_escape(c.suggested.value_or("")) + "\"><button type=\"submit\">Enrol</button></form>"
         "<form method=\"post\" action=\"/clusters/" + id + "/delete\"><button class=\"delete\" type=\"submit\" "
         "aria-label=\"Discard group " + id + "\">Discard</button></form></div></li>";
  }
  b += "</ul>";
  return layout(o, "Enrol many people", "/clusters", b);
}

}  // namespace faceapp_web::pages
