// faceapp-web's service layer: people, a name and its faces (see service.hpp).
#include <utility>

#include "common/names.hpp"
#include "service/service.hpp"

namespace faceapp_web {

namespace {

service_error no_person(std::uint64_t id) { return {errc::not_found, "no person with id " + std::to_string(id)}; }

}  // namespace

person_summary face_service::create_person(std::string name) {
  return store_.create_person(check_person_name(std::move(name)));
}

namespace {

void check_query(std::string_view query) {
  if (query.size() > faceapp_examples::max_name_bytes) {
    throw service_error(errc::bad_input, "q is " + std::to_string(query.size()) + " bytes long (at most " +
                                             std::to_string(faceapp_examples::max_name_bytes) + ")");
  }
  // A trigram search splits the query by UTF-8 characters: bytes that are not UTF-8 are refused, not guessed at.
  if (!faceapp_examples::is_clean_utf8(query)) {
    throw service_error(errc::bad_input, "q is not valid UTF-8 text without control characters");
  }
}

}  // namespace

persons_page face_service::list_persons(std::string_view query, std::uint64_t offset, std::uint64_t limit) const {
  check_query(query);
  return store_.list_persons(query, offset, limit);
}

persons_page face_service::list_persons_after(std::string_view query, std::uint64_t after,
                                              std::uint64_t limit) const {
  check_query(query);
  return store_.list_persons_after(query, after, limit);
}

person_detail face_service::find_person(std::uint64_t id) const {
  auto d = store_.find_person(id);
  if (!d) throw no_person(id);
  return std::move(*d);
}

persons_listing face_service::search_persons(std::string_view query, std::string_view page) const {
  return list_persons_page(store_, query, page);
}

person_detail face_service::rename_person(std::uint64_t id, std::string name) {
  auto after = store_.rename_person(id, check_person_name(std::move(name)));
  if (!after) throw no_person(id);
  return std::move(*after);
}

void face_service::remove_person(std::uint64_t id) {
  if (!store_.remove_person(id)) throw no_person(id);
}

person_detail face_service::merge_persons(std::uint64_t into, std::uint64_t from) {
  if (into == from) throw service_error(errc::bad_input, "person " + std::to_string(into) + " cannot be merged into itself");
  auto after = store_.merge_persons(into, from);
  if (!after) throw no_person(store_.find_person(into) ? from : into);
  return std::move(*after);
}

person face_service::add_person_face(std::uint64_t id, upload u) {
  const auto who = store_.find_person(id);  // before the work: a missing person is not worth encoding
  if (!who) throw no_person(id);
  return enrol(who->name, std::move(u), id, true);  // the store checks again, in the add's transaction
}

void face_service::remove_person_face(std::uint64_t id, std::uint64_t face) {
  if (!store_.remove_person_face(id, face)) {
    throw service_error(errc::not_found,
                        "person " + std::to_string(id) + " has no face with id " + std::to_string(face));
  }
}

}  // namespace faceapp_web
