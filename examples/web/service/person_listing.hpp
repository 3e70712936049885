// faceapp-web's service layer: the main page's list of people (persons, not faces): 50 a page, searched by name,
// each with the ids of its first few faces for their thumbnails. The web layer passes the query strings' values.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/names.hpp"
#include "service/listing.hpp"
#include "store/face_store.hpp"

namespace faceapp_web {

/// Thumbnails a person's row shows on the main page (the rest is "+N more").
inline constexpr std::size_t thumbnails_per_person = 6;

/// What the main page lists: one page of people with their first faces, the search and where it is.
struct persons_listing {
  persons_page page;
  std::map<std::uint64_t, std::vector<face_ref>> faces;  // by person: the first thumbnails_per_person faces
  std::string query;         // as typed (trimmed), possibly empty
  std::uint64_t number = 1;  // 1-based
  std::uint64_t pages = 1;
};

/// The list for `?q=` and `?page=`: pages past the end show the last one, a bad page is 1, a query that is not a
/// name (too long, not UTF-8) is no search.
inline persons_listing list_persons_page(const face_store& store, std::string_view query, std::string_view page) {
  persons_listing l;
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
  l.page = store.list_persons(l.query, (wanted - 1) * people_per_page, people_per_page);
  l.pages = std::max<std::uint64_t>(1, (l.page.total + people_per_page - 1) / people_per_page);
  if (wanted > l.pages) {  // past the end: the last page
    wanted = l.pages;
    l.page = store.list_persons(l.query, (wanted - 1) * people_per_page, people_per_page);
  }
  l.number = wanted;
  std::vector<std::uint64_t> ids;
  for (const auto& p : l.page.people) ids.push_back(p.id);
  for (const auto& f : store.first_faces(ids, thumbnails_per_person)) l.faces[f.person_id].push_back(f);
  return l;
}

}  // namespace faceapp_web
