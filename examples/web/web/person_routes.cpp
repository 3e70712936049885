// faceapp-web's web layer: a person's page and the forms it posts (see person_page.hpp). Each form calls the
// same service function as its JSON route and answers 303 to the resulting page with a message, or the person's
// page with the error and its status; a person that does not exist is a 404 page.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "web/person_page.hpp"
#include "web/route_support.hpp"
#include "web/routes.hpp"

namespace faceapp_web {

namespace {

/// The messages a form's 303 asks the person's page to show (?done=...).
std::string done_message(const std::string& done) {
  if (done == "added") return "Added the photo's face.";
  if (done == "removed") return "Removed the face.";
  if (done == "renamed") return "Renamed.";
  if (done == "merged") return "Merged: their faces are this person's now.";
  return {};
}

http::response see_other(const std::string& location) {
  auto res = html_answer("", 303);
  res.set_header("Location", location);
  return res;
}

/// The person the merge form names, to merge into `into`: a number is an id; otherwise the one other person of
/// exactly that name (not_found when there is none, bad_input naming their ids when there are several).
std::uint64_t merge_source(const face_service& s, const std::string& text, std::uint64_t into) {
  const auto first = text.find_first_not_of(" \t");
  const std::string typed = first == std::string::npos ? std::string()
                                                       : text.substr(first, text.find_last_not_of(" \t") - first + 1);
  if (typed.empty()) {
    throw service_error(errc::bad_input, "type the name or the id of the person to merge into this one");
  }
  if (std::all_of(typed.begin(), typed.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (const auto id = parse_id(typed)) return *id;
    throw service_error(errc::not_found, "no person with id " + typed);
  }
  const auto name = check_person_name(typed);
  std::vector<std::uint64_t> same;
  for (std::uint64_t offset = 0;; offset += api_faces_max_limit) {  // a name search finds every name containing it
    const auto page = s.list_persons(name, offset, api_faces_max_limit);
    for (const auto& p : page.people) {
      if (p.name == name && p.id != into) same.push_back(p.id);
    }
    if (page.people.size() < api_faces_max_limit) break;
  }
  if (same.empty()) throw service_error(errc::not_found, "nobody else is named '" + name + "'");
  if (same.size() > 1) {
    std::string ids;
    for (const auto id : same) ids += (ids.empty() ? "" : ", ") + std::to_string(id);
    throw service_error(errc::bad_input, std::to_string(same.size()) + " people are named '" + name + "' (ids " + ids +
                                             "): type the id of the one to merge");
  }
  return same.front();
}

}  // namespace

void routes::person_page(const http::request& req, http::response& res, const matched& m) const {
  try {
    const auto id = parse_id(m.id);
    if (!id) throw service_error(errc::not_found, "no person with id " + m.id);
    const auto d = s_.find_person(*id);
    page(req, res, pages::person_page(o_, d, done_message(query_value(req, "done")), false));
  } catch (const std::exception& e) {
    const auto [status, message] = status_of(e, req);
    res = error_answer(req, status, message);
  }
}

void routes::person_form(const http::request& req, http::response& res, const matched& m) {
  if (refuse_without_token(req, res)) return;
  const auto id = parse_id(m.id);
  try {
    if (!id) throw service_error(errc::not_found, "no person with id " + m.id);
    const auto back = "/people/" + std::to_string(*id);
    switch (m.what) {
      case route::person_add_face_form:
        require_multipart(req);
        s_.add_person_face(*id, std::move(*image_field(req, "image", true)));
        res = see_other(back + "?done=added");
        return;
      case route::person_delete_face_form: {
        const auto face = parse_id(m.face);
        if (!face) {
          throw service_error(errc::not_found, "person " + std::to_string(*id) + " has no face with id " + m.face);
        }
        s_.remove_person_face(*id, *face);
        res = see_other(back + "?done=removed");
        return;
      }
      case route::person_rename_form:
        s_.rename_person(*id, text_field(req, "name"));
        res = see_other(back + "?done=renamed");
        return;
      case route::person_merge_form:
        s_.merge_persons(*id, merge_source(s_, text_field(req, "from"), *id));
        res = see_other(back + "?done=merged");
        return;
      case route::person_delete_form:
        s_.remove_person(*id);
        res = see_other("/?deleted=1");
        return;
      default: throw service_error(errc::internal, "not a person form");
    }
  } catch (const std::exception& e) {
    const auto [status, message] = status_of(e, req);
    // The person's page with the error, as the person is now; a 404 page when there is no such person.
    try {
      if (id) {
        page(req, res, pages::person_page(o_, s_.find_person(*id), message, true), status);
        return;
      }
    } catch (const std::exception&) {
    }
    res = error_answer(req, status, message);
  }
}

}  // namespace faceapp_web
