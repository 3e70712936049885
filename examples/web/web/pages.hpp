// faceapp-web's web layer: the HTML pages. Plain HTML and CSS, no JavaScript; every name a user typed or uploaded is
// escaped. Boxes are drawn as positioned elements over the photo, in percent, so they stay on the faces at any
// screen width.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "service/service.hpp"
#include "util.hpp"
#include "web/people_list.hpp"

namespace faceapp_web::pages {

inline constexpr std::string_view style = R"css(
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d232a;background:#f4f6f8}
header{background:#1f3b57;color:#fff}
nav{max-width:46rem;margin:0 auto;display:flex;flex-wrap:wrap;gap:.25rem 1.25rem;padding:.75rem 1rem;align-items:center}
nav .brand{font-weight:700;margin-right:auto}
nav a{color:#fff;text-decoration:none;padding:.2rem 0;border-bottom:2px solid transparent}
nav a.here{border-bottom-color:#ffd166}
main,footer{max-width:46rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
h2{font-size:1.2rem;margin:1.5rem 0 .75rem}
form.card,section.card{background:#fff;border-radius:.5rem;padding:1rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
label small{font-weight:400;color:#59636e}
input[type=text],input[type=number],input[type=file]{width:100%;font-size:1rem;padding:.5rem;border:1px solid #b8c2cc;border-radius:.35rem;background:#fff}
button{font-size:1rem;padding:.6rem 1.1rem;border:0;border-radius:.35rem;background:#1f6feb;color:#fff;cursor:pointer;margin-top:1rem}
button.delete{background:#c62828;padding:.4rem .8rem;margin:0}
.message{padding:.75rem 1rem;border-radius:.35rem;margin:0 0 1rem;background:#e3f2e6;border:1px solid #9ccc9f}
.error{background:#fdecea;border-color:#f5a5a0}
ul.people{list-style:none;margin:0;padding:0}
ul.people li,ul.faces li{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem .75rem;background:#fff;border-radius:.5rem;padding:.5rem;margin-bottom:.5rem;box-shadow:0 1px 2px rgba(0,0,0,.1)}
ul.people a{color:inherit;text-decoration:none}
ul.people .who{flex:1 1 8rem;min-width:0;overflow-wrap:anywhere}
ul.people .who .name{color:#1f6feb;font-weight:600}
ul.people .thumbs{display:flex;flex-wrap:wrap;align-items:center;gap:.25rem}
ul.people img,ul.people .nothumb{width:44px;height:44px;border-radius:.3rem;object-fit:cover;flex:none}
ul.faces img,ul.faces .nothumb{width:56px;height:56px;border-radius:.35rem;object-fit:cover;flex:none}
ul.people small,ul.faces small{display:block;color:#59636e}
ul.people .more{font-size:.85rem;color:#59636e;padding:0 .25rem}
.nothumb{display:inline-block;background:#dde3e8}
ul.faces{list-style:none;margin:0;padding:0}
ul.faces .when{flex:1;min-width:0}
ul.faces form{margin:0}
p.back{margin:0 0 .5rem}
form.search{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin-bottom:.75rem}
form.search label{margin:0}
form.search input{flex:1;min-width:8rem;font-size:1rem;padding:.4rem;border:1px solid #b8c2cc;border-radius:.35rem}
form.search button{margin:0;padding:.45rem .9rem}
nav.pages{display:flex;gap:1rem;justify-content:center;margin:1rem 0}
.photo{position:relative;display:inline-block;max-width:100%;margin:0;overflow:hidden}
.photo img{display:block;max-width:100%;height:auto;border-radius:.25rem}
.box{position:absolute;border:3px solid #ffd166;box-shadow:0 0 0 1px rgba(0,0,0,.6)}
.box.known{border-color:#2ecc71}
.box.other{border-style:dashed;border-color:#b0bec5}
.box .label{position:absolute;left:-3px;top:100%;margin-top:3px;background:rgba(0,0,0,.78);color:#fff;font-size:.75rem;line-height:1.2;padding:.1rem .3rem;border-radius:.2rem;white-space:nowrap}
.box.right .label{left:auto;right:-3px}
.box.low .label{top:auto;bottom:100%;margin:0 0 3px}
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:1rem;align-items:start}
figcaption{font-size:.85rem;color:#59636e;overflow-wrap:anywhere;margin-top:1.6rem}
table{border-collapse:collapse;width:100%;font-size:.9rem;background:#fff}
th,td{text-align:left;padding:.3rem .35rem;border-bottom:1px solid #dde3e8}
.table{overflow-x:auto;margin-top:1.75rem}
td{overflow-wrap:break-word}
td.distance,td.coords{white-space:nowrap;font-size:.8rem}
.verdict{font-size:1.2rem;font-weight:700;padding:.75rem 1rem;border-radius:.35rem}
.verdict.match{background:#e3f2e6}
.verdict.nomatch{background:#fdecea}
footer{font-size:.9rem;color:#3d4852}
footer section{border-top:1px solid #cfd6dd;padding-top:.5rem}
ul.clusters{list-style:none;margin:0;padding:0}
ul.clusters>li{background:#fff;border-radius:.5rem;padding:.75rem;margin-bottom:.75rem;box-shadow:0 1px 2px rgba(0,0,0,.1)}
ul.clusters .thumbs{display:flex;flex-wrap:wrap;gap:.25rem}
ul.clusters img{width:56px;height:56px;border-radius:.35rem;object-fit:cover;flex:none}
ul.clusters small{display:block;color:#59636e;overflow-wrap:anywhere}
ul.clusters .actions{display:flex;flex-wrap:wrap;gap:.5rem;align-items:flex-end}
ul.clusters .actions form{margin:0}
ul.clusters form.enrol{flex:1 1 12rem;display:flex;flex-wrap:wrap;gap:.5rem;align-items:flex-end}
ul.clusters form.enrol label{flex:1 1 100%;margin:.5rem 0 0}
ul.clusters form.enrol input{flex:1 1 8rem;width:auto}
ul.clusters button{margin:0}
@media (max-width:30rem){body{font-size:15px}h1{font-size:1.3rem}}
)css";

inline std::string fixed(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

/// What the server keeps and for how long, and that there is no liveness check: on every page.
inline std::string notice(const service_options& o) {
  std::string s = R"(<section id="privacy"><h2>No liveness check</h2>
<p><strong>faceapp compares faces in pictures, nothing more.</strong> It cannot tell a live person from a printed
photo or a phone screen held up to a camera: a printed photo passes as the person. Do not use it to unlock doors or
grant access.</p>
<h2>What is kept, and for how long</h2><ul>
<li><strong>Remembered faces</strong> (name, face encoding, a small thumbnail of the face, the hash of the photo):
kept in the data directory until you delete them on the person's page.</li>
<li><strong>Every recognize and compare</strong> is logged (time, content hash and file name of each photo, face
boxes, names, distances): kept in <code>results.csv</code> in the data directory until the operator deletes it.</li>
)";
  s += o.keep_uploads
           ? "<li><strong>Uploaded photos</strong> are stored under their content hash, because this server was "
             "started with <code>--keep-uploads</code>: kept until the operator deletes them.</li>"
           : "<li><strong>Uploaded photos</strong> are not stored: they are analysed in memory and dropped once "
             "the answer is sent.</li>";
  s += "</ul></section>";
  return s;
}

inline std::string layout(const service_options& o, std::string_view title, std::string_view here,
                          const std::string& body) {
  std::string s = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>";
  s += html_escape(title);
  s += " · faceapp</title><style>";
  s += style;
  s += "</style></head><body><header><nav><span class=\"brand\">faceapp</span>";
  s += std::string("<a href=\"/\"") + (here == "/" ? " class=\"here\"" : "") + ">Remember a face</a>";
  s += std::string("<a href=\"/faceapp\"") + (here == "/faceapp" ? " class=\"here\"" : "") + ">Recognize</a>";
  s += std::string("<a href=\"/clusters\"") + (here == "/clusters" ? " class=\"here\"" : "") + ">Enrol many</a>";
  s += "<a href=\"#privacy\">Privacy</a></nav></header><main>";
  s += body;
  s += "</main><footer>";
  s += notice(o);
  s += "</footer></body></html>\n";
  return s;
}

inline std::string message_block(const std::string& message, bool error) {
  if (message.empty()) return {};
  return std::string("<p class=\"message") + (error ? " error\" role=\"alert\"" : "\"") + ">" +
         html_escape(message) + "</p>";
}

/// GET /: remember a face, and one page of the people known so far (service/person_listing.hpp).
inline std::string main_page(const service_options& o, const persons_listing& list, const std::string& message,
                             bool error) {
  std::string b = "<h1>Remember a face</h1>";
  b += message_block(message, error);
  b += R"(<form class="card" id="add" method="post" action="/faces" enctype="multipart/form-data">
<label for="name">Name</label><input type="text" id="name" name="name" required maxlength="100" autocomplete="off">
<label for="image">Photo <small>(JPEG, PNG, BMP or WebP; the largest face is used)</small></label>
<input type="file" id="image" name="image" required accept="image/jpeg,image/png,image/bmp,image/webp">
<button type="submit">Remember this face</button></form>)";
  b += people_list(list);
  return layout(o, "Remember a face", "/", b);
}

inline std::string recognize_form(float tolerance) {
  return R"(<form class="card" id="recognize" method="post" action="/faceapp" enctype="multipart/form-data">
<label for="a">Photo</label>
<input type="file" id="a" name="a" required accept="image/jpeg,image/png,image/bmp,image/webp">
<label for="b">Second photo <small>(optional: to compare the two faces)</small></label>
<input type="file" id="b" name="b" accept="image/jpeg,image/png,image/bmp,image/webp">
<label for="tolerance">Tolerance <small>(a match when the distance is at most this; 0.6 is usual, lower is stricter)</small></label>
<input type="number" id="tolerance" name="tolerance" min="0" max="1" step="0.01" value=")" +
         fixed(tolerance, 2) + R"(">
<button type="submit">Recognize or compare</button></form>)";
}

/// A box over the photo, in percent of the image as read.
inline std::string box_div(const faceapp::image& img, const faceapp::box& bx, std::size_t index,
                           const std::string& cls, const std::string& label, const std::string& data) {
  const double w = img.original_width > 0 ? img.original_width : 1;
  const double h = img.original_height > 0 ? img.original_height : 1;
  // Labels of boxes on the right half hang leftwards, so they stay inside the photo and a narrow screen never
  // scrolls sideways. Every other label goes above its box (always near the bottom, never near the top), so
  // the labels of faces side by side do not cover each other.
  const std::string side = (bx.left + bx.right) / 2.0 > w / 2 ? " right" : "";
  const bool above = bx.bottom > 0.85 * h || (index % 2 == 0 && bx.top > 0.12 * h);
  const std::string low = above ? " low" : "";
  std::string s = "<div class=\"box " + cls + side + low + "\" " + data + " data-top=\"" + std::to_string(bx.top) +
                  "\" data-right=\"" + std::to_string(bx.right) + "\" data-bottom=\"" + std::to_string(bx.bottom) +
                  "\" data-left=\"" + std::to_string(bx.left) + "\" style=\"left:" + fixed(100 * bx.left / w, 3) +
                  "%;top:" + fixed(100 * bx.top / h, 3) + "%;width:" + fixed(100 * bx.width() / w, 3) +
                  "%;height:" + fixed(100 * bx.height() / h, 3) + "%\">";
  if (!label.empty()) s += "<span class=\"label\">" + html_escape(label) + "</span>";
  s += "</div>";
  return s;
}

inline std::string photo_open(const analysed& p, const std::string& id) {
  return "<figure class=\"photo\" id=\"" + id + "\"><img src=\"data:image/jpeg;base64," +
         base64_encode(p.display_jpeg) + "\" alt=\"the uploaded photo with the faces marked\">";
}

inline std::string box_text(const faceapp::box& b) {
  return std::to_string(b.top) + ", " + std::to_string(b.right) + ",<br>" + std::to_string(b.bottom) + ", " +
         std::to_string(b.left);
}

inline std::string faceapp_page(const service_options& o, float tolerance, const std::string& result,
                                const std::string& message, bool error) {
  std::string b = "<h1>Recognize</h1>";
  b += message_block(message, error);
  b += result;
  b += recognize_form(tolerance);
  return layout(o, "Recognize", "/faceapp", b);
}

/// The result of one photo against the gallery.
inline std::string recognition_result(const recognition& r, std::size_t gallery_size) {
  const auto& faces = r.faces;
  std::string s = "<section id=\"result\" class=\"card\"><h2>";
  s += faces.empty() ? "No face found" : std::to_string(faces.size()) + (faces.size() == 1 ? " face" : " faces");
  s += "</h2>";
  if (gallery_size == 0) {
    s += "<p>Nobody is remembered yet, so every face is unknown: add people on the <a href=\"/\">main page</a>.</p>";
  }
  s += photo_open(r.photo, "photo");
  std::string rows;
  for (std::size_t i = 0; i < faces.size(); ++i) {
    const auto& f = faces[i];
    const bool known = f.match.value_or(false);
    const std::string name = known ? f.name : "unknown";
    std::string label = name;
    std::string dist = "–";
    std::string sim = "–";
    if (f.distance) {
      dist = fixed(*f.distance, 3);
      sim = fixed(faceapp::similarity_percent(*f.distance, r.tolerance), 0) + "%";
      label += " · " + dist + " · " + sim;
    }
    const std::string data = "data-face=\"" + std::to_string(i) + "\" data-name=\"" +
                             (known ? html_escape(f.name) : std::string()) + "\" data-distance=\"" +
                             (f.distance ? dist : std::string()) + "\"";
    s += box_div(faces.image, f.box, i, known ? "known" : "unknown", label, data);
    rows += "<tr><td>" + std::to_string(i + 1) + "</td><td class=\"name\">" + html_escape(name) +
            (known || f.name.empty() ? std::string() : " <small>(nearest: " + html_escape(f.name) + ")</small>") +
            "</td><td class=\"distance\">" + dist + "</td><td>" + sim + "</td><td class=\"coords\">" +
            box_text(f.box) + "</td></tr>";
  }
  s += "</figure>";
  if (!faces.empty()) {
    s += "<div class=\"table\"><table class=\"faces\"><tr><th>#</th><th>Name</th><th>Distance</th><th>Similarity</th>"
         "<th>Box <small>(top, right, bottom, left)</small></th></tr>" +
         rows + "</table></div>";
  }
  s += "<p><small>Tolerance " + fixed(r.tolerance, 2) + ". Distances are to the nearest remembered face.</small></p>";
  s += "</section>";
  return s;
}

/// The result of comparing two photos.
inline std::string comparison_result(const comparison& c, const std::string& name_a, const std::string& name_b) {
  std::string s = "<section id=\"result\" class=\"card\"><h2>Comparison</h2>";
  if (!c.distance) {
    std::string why = !c.face_a && !c.face_b ? "no face found in either photo"
                      : !c.face_a            ? "no face found in the first photo"
                                             : "no face found in the second photo";
    s += "<p class=\"verdict nomatch\" id=\"verdict\" data-match=\"false\">Cannot compare: " + why + "</p>";
  } else {
    s += std::string("<p class=\"verdict ") + (c.match ? "match" : "nomatch") + "\" id=\"verdict\" data-match=\"" +
         (c.match ? "true" : "false") + "\" data-distance=\"" + fixed(*c.distance, 3) + "\">" +
         (c.match ? "Same person" : "Not the same person") + ": distance " + fixed(*c.distance, 3) +
         (c.match ? " ≤ " : " > ") + "tolerance " + fixed(c.tolerance, 2) + ", similarity " +
         fixed(c.similarity.value_or(0), 0) + "%</p>";
  }
  s += "<div class=\"pair\">";
  const auto one = [&](const analysed& p, const std::optional<std::size_t>& used, const char* tag,
                       const std::string& file) {
    std::string f = photo_open(p, std::string("photo-") + tag);
    for (std::size_t i = 0; i < p.faces.size(); ++i) {
      const bool is_used = used && *used == i;
      std::string label;
      if (is_used) {
        label = tag;
        if (c.distance) label += " · " + fixed(*c.distance, 3) + " · " + fixed(c.similarity.value_or(0), 0) + "%";
      }
      f += box_div(p.faces.image, p.faces[i].box, i, is_used ? (c.match ? "known" : "used") : "other", label,
                   "data-face=\"" + std::to_string(i) + "\"" + (is_used ? " data-used=\"true\"" : ""));
    }
    f += "<figcaption>" + std::string(tag) + ": " + html_escape(file) + " — " + std::to_string(p.faces.size()) +
         (p.faces.size() == 1 ? " face" : " faces") + "</figcaption></figure>";
    return f;
  };
  s += one(c.a, c.face_a, "A", name_a);
  s += one(c.b, c.face_b, "B", name_b);
  s += "</div><p><small>The largest face of each photo is compared.</small></p></section>";
  return s;
}

/// The page with a hidden field holding the session's CSRF token in every form that posts (the token is hex: no
/// escaping needed, but it is escaped anyway). Forms that get, such as the name search, never carry it: it would
/// end up in the address bar and the history.
inline std::string with_csrf_fields(std::string html, const std::string& token) {
  const std::string field = "<input type=\"hidden\" name=\"csrf\" value=\"" + html_escape(token) + "\">";
  for (std::size_t at = html.find("<form "); at != std::string::npos; at = html.find("<form ", at)) {
    const auto end = html.find('>', at);
    if (end == std::string::npos) break;
    if (html.substr(at, end - at).find("method=\"post\"") == std::string::npos) {
      at = end + 1;
      continue;
    }
    html.insert(end + 1, field);
    at = end + 1 + field.size();
  }
  return html;
}

/// A page for an error on a plain HTML request (413 from the body limit, 404 for an unknown page).
inline std::string error_page(const service_options& o, int status, const std::string& message) {
  std::string b = "<h1>" + std::to_string(status) + "</h1>" + message_block(message, true) +
                  "<p><a href=\"/\">Main page</a> · <a href=\"/faceapp\">Recognize</a></p>";
  return layout(o, "Error " + std::to_string(status), "", b);
}

}  // namespace faceapp_web::pages
