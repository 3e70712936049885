// faceapp-web's web layer: a person's page, GET /people/{id}: the name, every face (thumbnail, when it was added,
// a remove button) and the forms that add a photo, rename, merge another person in and delete the person. Plain
// HTML and CSS like the other pages; every name escaped.
#pragma once

#include <string>

#include "service/service.hpp"
#include "util.hpp"
#include "web/pages.hpp"
#include "web/people_list.hpp"

namespace faceapp_web::pages {

inline std::string person_page(const service_options& o, const person_detail& d, const std::string& message,
                               bool error) {
  const auto id = std::to_string(d.id);
  const auto base = "/people/" + id;
  const auto name = html_escape(d.name);
  std::string b = "<p class=\"back\"><a href=\"/\">← All people</a></p><h1 id=\"person\" data-id=\"" + id + "\">" +
                  name + "</h1>";
  b += message_block(message, error);
  b += "<p id=\"count\">" + face_count_text(d.faces.size()) + "</p>";
  if (d.faces.empty()) {
    b += "<p id=\"nofaces\">No faces yet: add a photo below.</p>";
  } else {
    b += "<ul class=\"faces\" id=\"faces\">";
    for (const auto& f : d.faces) {
      const auto face = std::to_string(f.id);
      b += "<li data-face=\"" + face + "\">" + thumbnail_img(f.id, f.has_thumbnail, d.name, 56) +
           "<span class=\"when\">Face " + face + "<small>added " + html_escape(f.added.substr(0, 10)) +
           "</small></span><form method=\"post\" action=\"" + base + "/faces/" + face +
           "/delete\"><button class=\"delete\" type=\"submit\" aria-label=\"Remove face " + face +
           "\">Remove</button></form></li>";
    }
    b += "</ul>";
  }
  b += "<h2>Add a photo</h2><form class=\"card\" id=\"add-face\" method=\"post\" action=\"" + base +
       "/faces\" enctype=\"multipart/form-data\"><label for=\"image\">Photo <small>(JPEG, PNG, BMP or WebP; the "
       "largest face is used, and it must be large and sharp enough)</small></label>"
       "<input type=\"file\" id=\"image\" name=\"image\" required accept=\"image/jpeg,image/png,image/bmp,image/webp\">"
       "<button type=\"submit\">Add this photo</button></form>";
  b += "<h2>Rename</h2><form class=\"card\" id=\"rename\" method=\"post\" action=\"" + base +
       "/rename\"><label for=\"name\">New name</label><input type=\"text\" id=\"name\" name=\"name\" required "
       "maxlength=\"100\" autocomplete=\"off\" value=\"" + name + "\"><button type=\"submit\">Rename</button></form>";
  b += "<h2>Merge another person into this one</h2><form class=\"card\" id=\"merge\" method=\"post\" action=\"" + base +
       "/merge\"><label for=\"from\">Their name or id <small>(their faces join " + name +
       "; they are then deleted. A number is read as an id.)</small></label><input type=\"text\" id=\"from\" "
       "name=\"from\" required maxlength=\"100\" autocomplete=\"off\"><button type=\"submit\">Merge</button></form>";
  const std::string with_faces = d.faces.empty()       ? std::string()
                                 : d.faces.size() == 1 ? std::string(" and their face")
                                                       : " and all " + face_count_text(d.faces.size());
  b += "<h2>Delete</h2><form class=\"card\" id=\"delete-person\" method=\"post\" action=\"" + base +
       "/delete\"><p>Deletes " + name + with_faces + " for good.</p><button class=\"delete\" type=\"submit\">Delete " + name + "</button></form>";
  return layout(o, d.name, "", b);
}

}  // namespace faceapp_web::pages
