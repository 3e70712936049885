// The SQLite store's bulk import (sqlite_store::add_all_or_nothing, sqlite_bulk.hpp: faces written 64 to a
// statement) on a real store in a scratch folder, beside persons and faces added one at a time before it:
// imports of 63, 64, 65 and 130 faces (below, at and above rows_per_statement, and two full statements and a
// partial one) put every face in once under the right person (an existing one by name or id, or one new to the
// import), continue the ids after the existing ones, and leave the name index (persons_fts) consistent and
// searchable. An import that fails part-way, by its source throwing or by a face naming no person, leaves the
// database as it was, the name index's insert trigger included, in the WAL and in the bulk mode, whose rollback
// journal goes back to the WAL when the store goes.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sqlite_bulk_fixtures.hpp"
#include "store/sqlite_store.hpp"
#include "test_data.hpp"

namespace {

using faceapp_web::new_face;
using faceapp_web::sqlite_store;
using namespace faceapp_web::bulk_test;


/// What the store holds before each import, added one at a time: faces 1 to 3 (persons 1 to 3: Ada Lovelace,
/// Grace Hopper, Alan Turing), person 4 a second Grace Hopper with no face, and a face 4 and person 5 added and
/// deleted again, so the sequences stand above the largest ids: the import's first face is 5, its first new
/// person 6.
constexpr std::uint64_t first_new_face = 5;
constexpr std::uint64_t first_new_person = 6;
const std::map<std::uint64_t, std::string> existing_persons{
    {1, "Ada Lovelace"}, {2, "Grace Hopper"}, {3, "Alan Turing"}, {4, "Grace Hopper"}};

void add_existing(sqlite_store& store) {
  const auto face = [](const std::string& name, std::size_t k) {
    return new_face{name, std::nullopt, encoding_of(1000 + k), "before", std::nullopt, "", added_at};
  };
  CHECK(store.add(face("Ada Lovelace", 1)).person_id == 1);
  CHECK(store.add(face("Grace Hopper", 2)).person_id == 2);
  CHECK(store.add(face("Alan Turing", 3)).person_id == 3);
  CHECK(store.create_person("Grace Hopper").id == 4);
  const auto temp = store.add(face("Temporary", 4));
  REQUIRE(temp.id == 4);
  REQUIRE(temp.person_id == 5);
  REQUIRE(store.remove_person(5));
}

/// The import's face k: by turns a face by an existing person's name, a face by a person's id (the second Grace
/// Hopper, Alan Turing, or the first person new to this import), and two faces by names new to the import
/// ("Bulk Person 0" to "Bulk Person 8", each met again in later statements). A few carry a box and a thumbnail.
new_face face_of(std::size_t k, std::size_t n) {
  new_face f;
  f.encoding = encoding_of(k);
  f.source = "bulk " + std::to_string(k);
  f.added = added_at;
  switch (k % 4) {
    case 0: {
      static const char* const names[] = {"Ada Lovelace", "Grace Hopper", "Alan Turing"};
      f.name = names[(k / 4) % 3];
      break;
    }
    case 1: {
      static const std::uint64_t ids[] = {4, 3, first_new_person};
      f.person = ids[(k / 4) % 3];
      f.name = "not this name";  // the face takes its person's
      break;
    }
    default: f.name = "Bulk Person " + std::to_string((k / 2) % 9);
  }
  if (k == 2 || k == 65 || k + 1 == n) {
    f.box = faceapp::box{static_cast<int>(k), 20, 30, 10};
    f.thumbnail = "jpeg of " + std::to_string(k);
  }
  return f;
}

/// The `next` of add_all_or_nothing over face_of(0) to face_of(n - 1).
auto source_of(std::size_t n, std::size_t& k) {
  return [n, &k](new_face& f) {
    if (k == n) return false;
    f = face_of(k, n);
    ++k;
    return true;
  };
}

/// What the import of n faces should make, worked out from the rule of new_face: each face's person, and the
/// names of the persons new to the import in the order of their ids.
struct expected_import {
  std::vector<std::uint64_t> person_of_face;
  std::vector<std::string> new_names;
  std::map<std::uint64_t, std::string> names;  // every person's
};

expected_import expect(std::size_t n) {
  expected_import out;
  out.names = existing_persons;
  std::map<std::string, std::uint64_t> lowest{{"Ada Lovelace", 1}, {"Grace Hopper", 2}, {"Alan Turing", 3}};
  for (std::size_t k = 0; k < n; ++k) {
    const auto f = face_of(k, n);
    if (f.person) {
      out.person_of_face.push_back(*f.person);
      continue;
    }
    auto [it, added] = lowest.try_emplace(f.name, first_new_person + out.new_names.size());
    if (added) {
      out.new_names.push_back(f.name);
      out.names[it->second] = f.name;
    }
    out.person_of_face.push_back(it->second);
  }
  return out;
}

/// The store after add_existing and the import of face_of(0..n-1): every face once, under its person, with its
/// encoding, source, box and thumbnail; no person twice by the import; the ids after the existing ones; the name
/// index consistent and finding old and new persons.
void check_imported(const sqlite_store& store, const raw_db& raw, std::size_t n) {
  const auto want = expect(n);
  REQUIRE(want.person_of_face.size() == n);
  const auto faces = static_cast<std::int64_t>(3 + n);
  CHECK(raw.integer("SELECT count(*) FROM people") == faces);
  CHECK(raw.integer("SELECT count(DISTINCT id) FROM people") == faces);
  CHECK(raw.integer("SELECT count(*) FROM encodings") == faces);
  CHECK(raw.integer("SELECT count(*) FROM sources") == faces);
  std::int64_t with_box = 0;
  for (std::size_t k = 0; k < n; ++k) with_box += face_of(k, n).box ? 1 : 0;
  CHECK(with_box == (n > 66 ? 3 : 2));  // faces 2, 65 (when imported) and the last
  CHECK(raw.integer("SELECT count(*) FROM boxes") == with_box);
  CHECK(raw.integer("SELECT count(*) FROM thumbnails") == with_box);
  CHECK(raw.integer("SELECT min(id) FROM people WHERE id > 3") == static_cast<std::int64_t>(first_new_face));
  CHECK(raw.integer("SELECT max(id) FROM people") == static_cast<std::int64_t>(first_new_face + n - 1));
  CHECK(raw.integer("SELECT seq FROM sqlite_sequence WHERE name = 'people'") ==
        static_cast<std::int64_t>(first_new_face + n - 1));
  // The persons: the existing four, once each (no second Ada Lovelace, still two Grace Hoppers), and the new
  // ones in the order they were met, from 6 on.
  CHECK(raw.integer("SELECT count(*) FROM persons") == static_cast<std::int64_t>(4 + want.new_names.size()));
  CHECK(raw.integer("SELECT count(*) FROM persons WHERE name = 'Ada Lovelace'") == 1);
  CHECK(raw.integer("SELECT count(*) FROM persons WHERE name = 'Grace Hopper'") == 2);
  CHECK(raw.integer("SELECT count(*) FROM persons WHERE name = 'Alan Turing'") == 1);
  CHECK(raw.integer("SELECT count(*) FROM (SELECT name FROM persons GROUP BY name HAVING count(*) > 1)") == 1);
  std::vector<std::string> new_rows;
  for (std::size_t i = 0; i < want.new_names.size(); ++i) {
    new_rows.push_back(std::to_string(first_new_person + i) + "|" + want.new_names[i]);
  }
  CHECK(raw.rows("SELECT id, name FROM persons WHERE id > 4 ORDER BY id") == new_rows);
  // Every face, through the store.
  std::map<std::uint64_t, std::uint64_t> face_count;
  for (std::size_t k = 0; k < n; ++k) {
    CAPTURE(k);
    const auto f = face_of(k, n);
    const auto id = first_new_face + k;
    const auto person = want.person_of_face[k];
    ++face_count[person];
    const auto found = store.find(id);
    REQUIRE(found);
    CHECK(found->person_id == person);
    CHECK(found->name == want.names.at(person));
    CHECK(found->source == f.source);
    CHECK(found->added == added_at);
    CHECK(found->has_thumbnail == !f.thumbnail.empty());
    if (f.box) {
      CHECK(found->box.top == f.box->top);
      CHECK(found->box.right == f.box->right);
      CHECK(found->box.bottom == f.box->bottom);
      CHECK(found->box.left == f.box->left);
      CHECK(store.thumbnail(id) == f.thumbnail);
    } else {
      CHECK_FALSE(store.thumbnail(id).has_value());
    }
  }
  CHECK_FALSE(store.find(first_new_face + n).has_value());
  std::map<std::uint64_t, faceapp::encoding> loaded;
  store.load([&](std::uint64_t id, std::string_view, const faceapp::encoding& e) {
    CHECK(loaded.emplace(id, e).second);
  });
  CHECK(loaded.size() == 3 + n);
  for (std::size_t k = 0; k < n; ++k) CHECK(loaded[first_new_face + k] == encoding_of(k));
  for (std::uint64_t id = 1; id <= 3; ++id) CHECK(loaded[id] == encoding_of(1000 + id));
  // Every person's faces counted, the existing ones' old face included.
  for (std::uint64_t id = 1; id <= 3; ++id) ++face_count[id];
  const auto all = store.list_persons("", 0, 1000);
  REQUIRE(all.people.size() == want.names.size());
  for (const auto& p : all.people) {
    CAPTURE(p.id);
    CHECK(p.name == want.names.at(p.id));
    CHECK(p.face_count == face_count[p.id]);
  }
  // The name index: consistent with persons, and finding the old persons and the new ones (3 characters or more:
  // the index's search).
  CHECK(raw.fts_consistent());
  const auto ids_found = [&](const std::string& query) {
    std::vector<std::uint64_t> out;
    for (const auto& p : store.list_persons(query, 0, 1000).people) out.push_back(p.id);
    return out;
  };
  CHECK(ids_found("Ada") == std::vector<std::uint64_t>{1});
  CHECK(ids_found("hopper") == std::vector<std::uint64_t>{2, 4});
  CHECK(ids_found("Turing") == std::vector<std::uint64_t>{3});
  std::vector<std::uint64_t> new_ids;
  for (std::size_t i = 0; i < want.new_names.size(); ++i) {
    CAPTURE(want.new_names[i]);
    const auto id = first_new_person + i;
    new_ids.push_back(id);
    CHECK(ids_found(want.new_names[i]) == std::vector<std::uint64_t>{id});
  }
  CHECK(ids_found("bulk PERSON") == new_ids);
  CHECK(store.list_persons("ulk", 0, 1000).total == want.new_names.size());
}

/// After an import (or a failed one), an ordinary add takes the next ids and its new person is found by the name
/// index, through the insert trigger.
void check_add_after(sqlite_store& store, const raw_db& raw, std::uint64_t face_id, std::uint64_t person_id) {
  CHECK(raw.integer("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'persons_fts_insert'") ==
        1);
  CHECK(raw.integer("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'persons_count_insert'") ==
        1);
  const auto persons_before = raw.integer("SELECT count(*) FROM persons");
  const auto later = store.add(new_face{"Late Arrival", std::nullopt, encoding_of(5000), "after", std::nullopt, "",
                                        added_at});
  CHECK(later.id == face_id);
  CHECK(later.person_id == person_id);
  const auto found = store.list_persons("late arr", 0, 10);
  REQUIRE(found.people.size() == 1);
  CHECK(found.people[0].id == person_id);
  CHECK(found.people[0].face_count == 1);
  CHECK(raw.fts_consistent());
  // The persons' count, kept by the import and then by the trigger, is the table's.
  CHECK(raw.integer("SELECT count(*) FROM persons") == persons_before + 1);
  CHECK(raw.integer("SELECT n FROM persons_count") == persons_before + 1);
  CHECK(store.list_persons("", 0, 0).total == static_cast<std::uint64_t>(persons_before + 1));
}

}  // namespace

TEST_CASE("a bulk import of 63, 64, 65 and 130 faces: each face once, under the right person, the name index kept") {
  static_assert(per_statement == 64, "the counts below are the statement's boundary");
  for (const std::size_t n : {per_statement - 1, per_statement, per_statement + 1, 2 * per_statement + 2}) {
    CAPTURE(n);
    const faceapp::test::scratch_dir dir("web_unit_sqlite_bulk");
    sqlite_store store(dir.dir);
    add_existing(store);
    const raw_db raw(store.file());
    REQUIRE(raw.fts_consistent());
    std::size_t k = 0;
    CHECK(store.add_all_or_nothing(source_of(n, k)) == n);
    CHECK(k == n);
    check_imported(store, raw, n);
    check_add_after(store, raw, first_new_face + n, first_new_person + expect(n).new_names.size());
  }
}

TEST_CASE("a bulk import that fails part-way leaves the database as it was, the name index's trigger back") {
  const faceapp::test::scratch_dir dir("web_unit_sqlite_bulk_fail");
  sqlite_store store(dir.dir);
  add_existing(store);
  const raw_db raw(store.file());
  const auto before = raw.state();
  CHECK(store.add_all_or_nothing([](new_face&) { return false; }) == 0);  // an empty import changes nothing
  CHECK(raw.state() == before);
  // The source throws after 100 faces (a full statement written, 36 faces queued), after exactly 64 (the full
  // statement written, none queued), and after 63 (none written); then face 65 names a person that is not there.
  for (const std::size_t fail_after : {std::size_t{100}, per_statement, per_statement - 1}) {
    CAPTURE(fail_after);
    std::size_t k = 0;
    const auto source = source_of(130, k);
    CHECK_THROWS_WITH_AS(store.add_all_or_nothing([&](new_face& f) {
      if (k == fail_after) throw std::runtime_error("the source broke");
      return source(f);
    }),
                         "the source broke", std::runtime_error);
    CHECK(k == fail_after);
    CHECK(raw.state() == before);
    CHECK(raw.fts_consistent());
  }
  {
    std::size_t k = 0;
    const auto source = source_of(130, k);
    CHECK_THROWS_AS(store.add_all_or_nothing([&](new_face& f) {
      if (!source(f)) return false;
      if (k == 66) f.person = 999;  // face 65, in the second statement
      return true;
    }),
                    faceapp_web::service_error);
    CHECK(k == 66);
    CHECK(raw.state() == before);
  }
  CHECK(raw.integer("SELECT count(*) FROM people") == 3);
  CHECK(raw.integer("SELECT count(*) FROM persons") == 4);
  // The trigger is back: an ordinary add's new person is indexed, under the ids the failed imports did not keep.
  check_add_after(store, raw, first_new_face, first_new_person);
  // And a later import goes through.
  std::size_t k = 0;
  CHECK(store.add_all_or_nothing(source_of(per_statement + 1, k)) == per_statement + 1);
  CHECK(raw.integer("SELECT count(*) FROM people") == static_cast<std::int64_t>(4 + per_statement + 1));
  CHECK(raw.integer("SELECT max(id) FROM people") == static_cast<std::int64_t>(first_new_face + 1 + per_statement));
  CHECK(raw.fts_consistent());
  CHECK(store.list_persons("bulk person", 0, 100).total == expect(per_statement + 1).new_names.size());
}

TEST_CASE("the bulk mode: refused beside another connection; a rollback journal while it lasts, the WAL after") {
  const faceapp::test::scratch_dir dir("web_unit_sqlite_bulk_mode");
  const auto file = dir.dir / "faceapp.db";
  constexpr std::size_t n = 2 * per_statement + 2;
  {
    sqlite_store store(dir.dir);
    add_existing(store);
    {
      const raw_db raw(file);
      CHECK(raw.text("PRAGMA journal_mode") == "wal");
      CHECK_FALSE(store.begin_bulk());  // the WAL is open here too: the store keeps it
      CHECK(raw.text("PRAGMA journal_mode") == "wal");
    }
    REQUIRE(store.begin_bulk());
    {  // a failure part-way under the rollback journal: nothing kept either
      const raw_db raw(file);
      const auto before = raw.state();
      std::size_t k = 0;
      const auto source = source_of(n, k);
      CHECK_THROWS_AS(store.add_all_or_nothing([&](new_face& f) {
        if (k == 100) throw std::runtime_error("the source broke");
        return source(f);
      }),
                      std::runtime_error);
      CHECK(raw.state() == before);
    }
    std::size_t k = 0;
    CHECK(store.add_all_or_nothing(source_of(n, k)) == n);
    {
      const raw_db raw(file);
      CHECK(raw.text("PRAGMA journal_mode") == "delete");  // no WAL in the file's header now
      CHECK_FALSE(std::filesystem::exists(dir.dir / "faceapp.db-wal"));
      check_imported(store, raw, n);  // its searches leave a reader connection in the store's pool
    }
  }
  const raw_db raw(file);
  CHECK(raw.text("PRAGMA journal_mode") == "wal");
  sqlite_store store(dir.dir);
  check_imported(store, raw, n);
  check_add_after(store, raw, first_new_face + n, first_new_person + expect(n).new_names.size());
}

TEST_CASE("the FTS check used here notices a person the name index lacks, and one it holds twice") {
  const faceapp::test::scratch_dir dir("web_unit_sqlite_bulk_check");
  sqlite_store store(dir.dir);
  add_existing(store);
  const raw_db raw(store.file());
  REQUIRE(raw.fts_consistent());
  REQUIRE(raw.exec("SAVEPOINT unindexed; DROP TRIGGER persons_fts_insert; "
                   "INSERT INTO persons (name) VALUES ('Unindexed')") == SQLITE_OK);
  CHECK_FALSE(raw.fts_consistent());
  REQUIRE(raw.exec("ROLLBACK TO unindexed; RELEASE unindexed") == SQLITE_OK);
  CHECK(raw.fts_consistent());
  REQUIRE(raw.exec("SAVEPOINT twice; INSERT INTO persons_fts (rowid, name) VALUES (1, 'Ada Lovelace')") ==
          SQLITE_OK);
  CHECK_FALSE(raw.fts_consistent());
  REQUIRE(raw.exec("ROLLBACK TO twice; RELEASE twice") == SQLITE_OK);
  CHECK(raw.fts_consistent());
}
