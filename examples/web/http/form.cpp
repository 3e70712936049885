// faceapp-web's HTTP layer: a request's form (multipart/form-data or urlencoded), as libmicrohttpd's post
// processor hands it over in pieces: fields by name, the repeated file field (server.hpp's request::files) part by
// part, with the limits on fields and files; and what a malformed form or a refused body is answered with.
#include "http/server.hpp"

namespace faceapp_web::http {

MHD_Result server::on_form_data(void* cls, MHD_ValueKind, const char* key, const char* filename, const char*,
                               const char*, const char* data, std::uint64_t offset, std::size_t size) {
  auto* ex = static_cast<exchange*>(cls);
  if (key == nullptr) return MHD_YES;
  try {
    if (!ex->req.repeated_file_field.empty() && ex->req.repeated_file_field == key) {
      auto& files = ex->req.files;
      // A piece at offset 0 after some bytes of the last part (or under another file name) starts a new part.
      const bool next = files.empty() || (offset == 0 && (files.back().started ||
                                                           (filename != nullptr && files.back().filename != filename)));
      if (next) {
        if (files.size() == ex->req.max_files) {
          ex->too_many_files = true;
          return MHD_NO;
        }
        files.emplace_back();
      }
      auto& part = files.back();
      part.started = part.started || size > 0;
      if (filename != nullptr) {
        part.filename = filename;
        part.has_filename = true;
      }
      if (size > 0) part.content.append(data, size);
      return MHD_YES;
    }
    auto [it, fresh] = ex->req.form.try_emplace(key);
    if (fresh && ex->req.form.size() > max_form_fields) return MHD_NO;
    // A field's value arrives in pieces from offset 0 (the first may be empty): a piece at offset 0 after some
    // of its bytes is the field sent again. Which of two values counts is a guess the routes must not make.
    if (!fresh && offset == 0 && it->second.started) {
      ex->repeated_field = key;
      return MHD_NO;
    }
    it->second.started = it->second.started || size > 0;
    if (filename != nullptr) {
      it->second.filename = filename;
      it->second.has_filename = true;
    }
    if (size > 0) it->second.content.append(data, size);
    return MHD_YES;
  } catch (...) {
    return MHD_NO;
  }
}

void server::drop_body(exchange& ex, int status, std::string message) {
  ex.refusal = status;
  ex.refusal_message = std::move(message);
  if (ex.post != nullptr) {
    MHD_destroy_post_processor(ex.post);
    ex.post = nullptr;
  }
  ex.req.form.clear();
  std::vector<form_part>().swap(ex.req.files);
  std::string().swap(ex.req.body);
  buffered_.fetch_sub(ex.body_bytes);
  ex.body_bytes = 0;
}

std::string server::form_problem(const exchange& ex) {
  if (!ex.repeated_field.empty()) {
    return "the form field '" + ex.repeated_field.substr(0, 64) + "' is sent more than once";
  }
  return "the form data is malformed or cut short (or has more than " + std::to_string(max_form_fields) +
         " fields)";
}

}  // namespace faceapp_web::http
