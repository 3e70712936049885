// Keyset pages and their cursors on a face_store of either backend (test_name_search.cpp runs them on a migrated
// SQLite and a migrated PostgreSQL store): where a page ends, what `next` says at limit 0 and 1, by offset and by
// `after`, and the totals after deletes.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include <faceapp/faceapp.hpp>

#include "store/face_store.hpp"

namespace faceapp_web::page_test {

/// The ids of a page's people, in its order.
inline std::vector<std::uint64_t> ids_of(const faceapp_web::persons_page& page) {
  std::vector<std::uint64_t> out;
  for (const auto& p : page.people) out.push_back(p.id);
  return out;
}

/// Keyset pages of people and of faces: a page ending exactly at the last row has no next, after= the last id
/// (or beyond it) is an empty page with no next, and rows deleted between pages are skipped, not repeated.
inline void check_keyset(faceapp_web::face_store& store, const std::vector<faceapp::encoding>& encodings) {
  for (const auto& e : encodings) store.add("keyset", e, "test", faceapp::box{1, 2, 3, 0}, "");
  const auto all = ids_of(store.list_persons("", 0, 1000));
  REQUIRE(all.size() >= 6);
  const auto n = all.size();
  auto p = store.list_persons_after("", all[n - 3], 2);  // the last two
  CHECK(ids_of(p) == std::vector<std::uint64_t>{all[n - 2], all[n - 1]});
  CHECK_FALSE(p.next.has_value());
  p = store.list_persons_after("", all[n - 4], 2);  // one before them: a next page of one
  CHECK(ids_of(p) == std::vector<std::uint64_t>{all[n - 3], all[n - 2]});
  CHECK(p.next == all[n - 2]);
  p = store.list_persons_after("", all[n - 1], 2);
  CHECK(p.people.empty());
  CHECK_FALSE(p.next.has_value());
  CHECK(store.list_persons_after("", all[n - 1] + 1000, 2).people.empty());
  p = store.list_persons_after("", 0, 0);  // no rows asked: the cursor stays where it was
  CHECK(p.people.empty());
  CHECK(p.next == 0U);
  p = store.list_persons_after("", all[2], 0);
  CHECK(p.next == all[2]);
  // By offset: limit 1 ends at the offset's row; limit 0 after an offset has no cursor (not the first page's).
  CHECK(store.list_persons("", 3, 1).next == all[3]);
  CHECK(store.list_persons("", 0, 0).next == 0U);
  p = store.list_persons("", 3, 0);
  CHECK(p.people.empty());
  CHECK_FALSE(p.next.has_value());
  CHECK(p.total == n);
  // The page's last person and the one after it deleted before the next page.
  p = store.list_persons_after("", 0, 2);
  REQUIRE(p.next == all[1]);
  REQUIRE(store.remove_person(all[1]));
  REQUIRE(store.remove_person(all[2]));
  CHECK(ids_of(store.list_persons_after("", *p.next, 2)) == std::vector<std::uint64_t>{all[3], all[4]});
  CHECK(store.list_persons_after("", 0, 1000).total == n - 2);

  std::vector<std::uint64_t> faces;
  for (const auto& f : store.list("", 0, 1000).people) faces.push_back(f.id);
  REQUIRE(faces.size() >= 4);
  const auto m = faces.size();
  auto f = store.list_after(faces[m - 3], 2);
  REQUIRE(f.people.size() == 2);
  CHECK(f.people[1].id == faces[m - 1]);
  CHECK_FALSE(f.next.has_value());
  CHECK(f.total == m);
  f = store.list_after(faces[m - 4], 2);
  CHECK(f.next == faces[m - 2]);
  f = store.list_after(faces[m - 1], 2);
  CHECK(f.people.empty());
  CHECK_FALSE(f.next.has_value());
  CHECK(store.list_after(faces[1], 0).next == faces[1]);  // limit 0: the cursor stays
  CHECK(store.list("", 2, 1).next == faces[2]);
  CHECK(store.list("", 0, 0).next == 0U);
  f = store.list("", 2, 0);
  CHECK(f.people.empty());
  CHECK_FALSE(f.next.has_value());  // not 0, which would restart at the first page
  CHECK(f.total == m);
  f = store.list_after(0, 1);
  REQUIRE(f.next == faces[0]);
  REQUIRE(store.remove(faces[1]));
  f = store.list_after(*f.next, 1);
  REQUIRE(f.people.size() == 1);
  CHECK(f.people[0].id == faces[2]);
}

}  // namespace faceapp_web::page_test
