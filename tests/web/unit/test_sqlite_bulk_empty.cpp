// The SQLite store's bulk import into an empty store (sqlite_store::add_all_or_nothing): with no person to look
// up, the import drops the index of persons by name and builds it again at the end of its transaction. After an
// import that fails part-way and one that goes through, the schema is the one the store made, the index holds every
// person, and the name look-ups of a later add and a later import go through it. The import's table of names
// through its growth; a new database's page size.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "sqlite_bulk_fixtures.hpp"
#include "store/sqlite_store.hpp"
#include "test_data.hpp"

using faceapp_web::new_face;
using faceapp_web::sqlite_store;
using namespace faceapp_web::bulk_test;

TEST_CASE("a bulk import into an empty store builds the index by name at the end, the same index as before") {
  const faceapp::test::scratch_dir dir("web_unit_sqlite_bulk_empty");
  sqlite_store store(dir.dir);
  const raw_db raw(store.file());
  const auto schema = raw.rows("SELECT type, name, sql FROM sqlite_master ORDER BY type, name");
  REQUIRE(raw.integer("SELECT count(*) FROM sqlite_master WHERE name = 'persons_name'") == 1);
  // 130 faces: by turns a name new or met before ("Empty Person 0" to "Empty Person 8") and, every fourth, by
  // the id of person 1, whom the import itself creates (its first face's name).
  const auto empty_face = [](std::size_t k) {
    new_face f;
    f.encoding = encoding_of(k);
    f.source = "empty " + std::to_string(k);
    f.added = added_at;
    f.name = "Empty Person " + std::to_string((k / 2) % 9);
    if (k % 4 == 3) f.person = 1;
    return f;
  };
  constexpr std::size_t n = 2 * per_statement + 2;
  {  // failing part-way: the dropped index is back with the rest
    std::size_t k = 0;
    CHECK_THROWS_AS(store.add_all_or_nothing([&](new_face& f) {
      if (k == 100) throw std::runtime_error("the source broke");
      f = empty_face(k++);
      return true;
    }),
                    std::runtime_error);
    CHECK(raw.rows("SELECT type, name, sql FROM sqlite_master ORDER BY type, name") == schema);
    CHECK(raw.integer("SELECT count(*) FROM persons") == 0);
  }
  std::size_t k = 0;
  CHECK(store.add_all_or_nothing([&](new_face& f) {
    if (k == n) return false;
    f = empty_face(k++);
    return true;
  }) == n);
  CHECK(raw.rows("SELECT type, name, sql FROM sqlite_master ORDER BY type, name") == schema);
  CHECK(raw.text("PRAGMA integrity_check") == "ok");  // the index holds every person
  CHECK(raw.rows("SELECT id, name FROM persons ORDER BY id") ==
        std::vector<std::string>{"1|Empty Person 0", "2|Empty Person 1", "3|Empty Person 2", "4|Empty Person 3",
                                 "5|Empty Person 4", "6|Empty Person 5", "7|Empty Person 6", "8|Empty Person 7",
                                 "9|Empty Person 8"});
  CHECK(raw.integer("SELECT seq FROM sqlite_sequence WHERE name = 'persons'") == 9);
  for (std::size_t i = 0; i < n; ++i) {
    CAPTURE(i);
    const auto found = store.find(1 + i);
    REQUIRE(found);
    const std::uint64_t want = i % 4 == 3 ? 1 : 1 + (i / 2) % 9;
    CHECK(found->person_id == want);
    CHECK(found->source == "empty " + std::to_string(i));
  }
  CHECK(raw.fts_consistent());
  const auto plan = raw.rows("EXPLAIN QUERY PLAN SELECT min(id) FROM persons WHERE name = 'Empty Person 3'");
  REQUIRE(!plan.empty());
  CHECK(plan.back().find("persons_name") != std::string::npos);
  // A later add by an imported name joins that person; a second import looks the names up through the index.
  const auto later = store.add(new_face{"Empty Person 4", std::nullopt, encoding_of(9000), "after", std::nullopt, "",
                                        added_at});
  CHECK(later.person_id == 5);
  k = 0;
  CHECK(store.add_all_or_nothing([&](new_face& f) {
    if (k == 3) return false;
    f = empty_face(k++);
    return true;
  }) == 3);
  CHECK(raw.integer("SELECT count(*) FROM persons") == 9);
  CHECK(raw.rows("SELECT type, name, sql FROM sqlite_master ORDER BY type, name") == schema);
}

TEST_CASE("the import's table of names finds each name again through every growth, its entries never moving") {
  faceapp_web::import_names names;  // no reserve(): it grows from 16 slots, doubling at half full
  constexpr std::size_t n = 50000;
  std::vector<const faceapp_web::import_names::entry*> first(n);
  for (std::size_t k = 0; k < n; ++k) {
    auto& e = names.find_or_add("person " + std::to_string(k));
    CHECK(e.id == 0);  // new
    e.id = k + 1;
    first[k] = &e;
    if (k % 3 == 0) {  // a name met before, while the table grows
      const std::size_t back = k / 2;
      CHECK(&names.find_or_add("person " + std::to_string(back)) == first[back]);
    }
  }
  for (std::size_t k = 0; k < n; ++k) {
    auto& e = names.find_or_add("person " + std::to_string(k));
    CHECK(&e == first[k]);
    CHECK(e.id == k + 1);
    CHECK(e.name == "person " + std::to_string(k));
  }
  CHECK(names.find_or_add("").id == 0);  // the empty name is a name like another
  CHECK(&names.find_or_add("") == &names.find_or_add(""));
}

TEST_CASE("a new store's database has 16 KB pages") {
  const faceapp::test::scratch_dir dir("web_unit_sqlite_bulk_pages");
  sqlite_store store(dir.dir);
  std::size_t k = 0;
  store.add_all_or_nothing([&](new_face& f) {
    if (k == 100) return false;
    f = new_face{};
    f.encoding = encoding_of(k);
    f.source = "pages " + std::to_string(k);
    f.added = added_at;
    f.name = "Paged Person " + std::to_string(k++);
    return true;
  });
  const raw_db raw(store.file());
  CHECK(raw.integer("PRAGMA page_size") == 16384);
  CHECK(raw.integer("SELECT count(*) FROM persons") == 100);
}
