// faceapp-web: people in the SQLite store (sqlite_store.hpp): a person is a row of `persons` (id, name), and each
// face (a row of the `people` table, whose name keeps a copy of its person's name, so the gallery loads as
// before) names its person in `person_id`. Schema version 2 added them; version 1 databases are migrated, each
// face becoming a person of its own under the face's id. Version 3 added the name search's trigram index
// (persons_fts), version 4 the number of persons (persons_count).
//
// These run on the store's writer connection (or a reader, for the queries) inside the caller's transaction.
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "service/errors.hpp"
#include "store/sqlite_db.hpp"
#include "store/store.hpp"

namespace faceapp_web::sqlite_people {

/// A face's columns, in person_of's order.
inline constexpr const char* select_face =
    "SELECT p.id, p.name, p.added, s.source, b.box_top, b.box_right, b.box_bottom, b.box_left, "
    "EXISTS (SELECT 1 FROM thumbnails t WHERE t.person_id = p.id), p.person_id FROM people p "
    "LEFT JOIN sources s ON s.person_id = p.id LEFT JOIN boxes b ON b.person_id = p.id";

inline person face_of(const sqlite::statement& s) {
  person p;
  p.id = static_cast<std::uint64_t>(s.integer(0));
  p.name = s.text(1);
  p.added = s.text(2);
  p.source = s.text(3);
  if (!s.is_null(4)) {
    p.box = faceapp::box{static_cast<int>(s.integer(4)), static_cast<int>(s.integer(5)),
                         static_cast<int>(s.integer(6)), static_cast<int>(s.integer(7))};
  }
  p.has_thumbnail = s.integer(8) != 0;
  p.person_id = static_cast<std::uint64_t>(s.integer(9));
  return p;
}

/// Version 1 -> 2: the persons table, and every face a person of its own (the person's id is the face's).
inline void upgrade_to_v2(const sqlite::connection& w) {
  w.exec(
      "CREATE TABLE persons (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);"
      "ALTER TABLE people ADD COLUMN person_id INTEGER;"
      "INSERT INTO persons (id, name) SELECT id, name FROM people ORDER BY id;"
      "UPDATE people SET person_id = id;"
      "CREATE INDEX persons_name ON persons (name);"
      "CREATE INDEX people_person ON people (person_id);"
      "UPDATE schema_version SET version = 2;");
}

/// The index of persons by name, as upgrade_to_v2 made it: a bulk import into an empty persons table drops it
/// and builds it again at the end, one sort instead of a B-tree insert a person in the names' order.
inline constexpr const char* create_persons_name_index = "CREATE INDEX persons_name ON persons (name)";

/// The largest id `table` (people or persons: a name of ours, put into the SQL) has given so far, deleted ones
/// included: its AUTOINCREMENT sequence, or its largest id.
inline std::uint64_t id_sequence(const sqlite::connection& w, std::string_view table) {
  const std::string name(table);
  sqlite::statement s(w, "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = '" + name + "'), 0), "
                         "coalesce((SELECT max(id) FROM " + name + "), 0))");
  const auto seq = s.step() ? static_cast<std::uint64_t>(s.integer(0)) : 0;
  s.reset();
  return seq;
}

inline std::optional<std::string> name_of(const sqlite::connection& c, std::uint64_t id) {
  sqlite::statement s(c, "SELECT name FROM persons WHERE id = ?");
  s.bind(1, static_cast<std::int64_t>(id));
  if (!s.step()) return std::nullopt;
  std::string name(s.text(0));
  s.reset();
  return name;
}

inline std::vector<std::uint64_t> faces_of(const sqlite::connection& c, std::uint64_t id) {
  sqlite::statement s(c, "SELECT id FROM people WHERE person_id = ? ORDER BY id");
  s.bind(1, static_cast<std::int64_t>(id));
  std::vector<std::uint64_t> out;
  while (s.step()) out.push_back(static_cast<std::uint64_t>(s.integer(0)));
  return out;
}

inline std::uint64_t create(const sqlite::connection& w, const std::string& name) {
  sqlite::statement(w, "INSERT INTO persons (name) VALUES (?)").bind(1, name).run();
  return static_cast<std::uint64_t>(sqlite3_last_insert_rowid(w.get()));
}

/// The statements every add runs, prepared once (a bulk import adds a million faces: preparing them for each
/// took most of its time). The store drops them when it changes its journal mode.
struct person_statements {
  std::optional<sqlite::statement> by_name, insert;
  void reset() noexcept {
    by_name.reset();
    insert.reset();
  }
};

/// The person a new face joins (see new_face), and that person's name.
inline std::pair<std::uint64_t, std::string> person_for(const sqlite::connection& w, const new_face& f,
                                                        person_statements& st) {
  if (f.person) {
    auto name = name_of(w, *f.person);
    if (!name) throw service_error(errc::not_found, "no person with id " + std::to_string(*f.person));
    return {*f.person, std::move(*name)};
  }
  if (!st.by_name) st.by_name.emplace(w, "SELECT min(id) FROM persons WHERE name = ?");
  st.by_name->bind(1, f.name);
  const bool found = st.by_name->step() && !st.by_name->is_null(0);
  const auto id = found ? static_cast<std::uint64_t>(st.by_name->integer(0)) : 0;
  st.by_name->reset();
  if (found) return {id, f.name};
  if (!st.insert) st.insert.emplace(w, "INSERT INTO persons (name) VALUES (?)");
  st.insert->bind(1, f.name).run();
  return {static_cast<std::uint64_t>(sqlite3_last_insert_rowid(w.get())), f.name};
}

/// Deletes one face's rows.
inline void delete_face(const sqlite::connection& w, std::uint64_t face) {
  for (const char* table : {"encodings", "boxes", "sources", "thumbnails"}) {
    sqlite::statement(w, std::string("DELETE FROM ") + table + " WHERE person_id = ?")
        .bind(1, static_cast<std::int64_t>(face))
        .run();
  }
  sqlite::statement(w, "DELETE FROM people WHERE id = ?").bind(1, static_cast<std::int64_t>(face)).run();
}

/// Deletes face `face` when it is one of person `id`'s: the people row in one statement, then (only when it
/// matched) the face's other rows; false when nothing matched.
inline bool delete_face_of(const sqlite::connection& w, std::uint64_t id, std::uint64_t face) {
  sqlite::statement(w, "DELETE FROM people WHERE id = ? AND person_id = ?")
      .bind(1, static_cast<std::int64_t>(face))
      .bind(2, static_cast<std::int64_t>(id))
      .run();
  if (sqlite3_changes(w.get()) == 0) return false;
  for (const char* table : {"encodings", "boxes", "sources", "thumbnails"}) {
    sqlite::statement(w, std::string("DELETE FROM ") + table + " WHERE person_id = ?")
        .bind(1, static_cast<std::int64_t>(face))
        .run();
  }
  return true;
}

/// Version 2 -> 3: the name search's trigram index, persons_fts, an FTS5 table over persons' names (external
/// content: it keeps the trigrams, not the names), built for the existing rows and kept by triggers.
/// A bulk import drops persons_fts_insert in its transaction and indexes its new people in one statement at the
/// end (index_persons_after): a trigger's row at a time made the import five times slower.
inline constexpr const char* create_insert_trigger =
    "CREATE TRIGGER persons_fts_insert AFTER INSERT ON persons BEGIN "
    "  INSERT INTO persons_fts (rowid, name) VALUES (new.id, new.name); END;";
inline constexpr const char* create_name_index =
    "CREATE VIRTUAL TABLE persons_fts USING fts5(name, content='persons', content_rowid='id', tokenize='trigram', "
    "detail='none', columnsize=0);"
    "CREATE TRIGGER persons_fts_delete AFTER DELETE ON persons BEGIN "
    "  INSERT INTO persons_fts (persons_fts, rowid, name) VALUES ('delete', old.id, old.name); END;"
    "CREATE TRIGGER persons_fts_rename AFTER UPDATE OF name ON persons BEGIN "
    "  INSERT INTO persons_fts (persons_fts, rowid, name) VALUES ('delete', old.id, old.name);"
    "  INSERT INTO persons_fts (rowid, name) VALUES (new.id, new.name); END;";

inline void upgrade_to_v3(const sqlite::connection& w) {
  w.exec(create_name_index);
  w.exec(create_insert_trigger);
  w.exec("INSERT INTO persons_fts (persons_fts) VALUES ('rebuild');"
         "UPDATE schema_version SET version = 3;");
}

/// Version 3 -> 4: the number of persons in a row of its own (persons_count), kept by triggers, so that a page of
/// all the people reads its total instead of counting the table on every page. A bulk import drops the insert
/// trigger with the name index's and adds its new people's number at the end (index_persons_after).
inline constexpr const char* create_count_insert_trigger =
    "CREATE TRIGGER persons_count_insert AFTER INSERT ON persons BEGIN "
    "  UPDATE persons_count SET n = n + 1; END;";

inline void upgrade_to_v4(const sqlite::connection& w) {
  w.exec(
      "CREATE TABLE persons_count (n INTEGER NOT NULL);"
      "INSERT INTO persons_count (n) SELECT count(*) FROM persons;"
      "CREATE TRIGGER persons_count_delete AFTER DELETE ON persons BEGIN "
      "  UPDATE persons_count SET n = n - 1; END;");
  w.exec(create_count_insert_trigger);
  w.exec("UPDATE schema_version SET version = 4;");
}

/// The number of persons (persons_count).
inline std::uint64_t count(const sqlite::connection& c) {
  sqlite::statement s(c, "SELECT n FROM persons_count");
  const auto n = s.step() ? static_cast<std::uint64_t>(s.integer(0)) : 0;
  s.reset();
  return n;
}

/// The largest person id so far (0 when none): persons' AUTOINCREMENT gives every new person a larger one.
inline std::uint64_t last_person_id(const sqlite::connection& w) {
  sqlite::statement s(w, "SELECT coalesce(max(id), 0) FROM persons");
  const auto id = s.step() ? static_cast<std::uint64_t>(s.integer(0)) : 0;
  s.reset();
  return id;
}

/// Indexes the people with an id above `after`, the `added` persons a bulk import made without the insert
/// triggers, and adds them to persons_count. FTS5's 'hashsize' at 256 MB makes this statement twice as fast at
/// 10 M names (11 -> 6 s) but leaves the index as one segment at level 0, which automerge then merges whole with
/// the next adds' segments (an add of 3.7 s at 10 M, 0.3-0.5 s at 1 M): it stays at its 1 MB default.
inline void index_persons_after(const sqlite::connection& w, std::uint64_t after, std::uint64_t added) {
  sqlite::statement(w, "INSERT INTO persons_fts (rowid, name) SELECT id, name FROM persons WHERE id > ?")
      .bind(1, static_cast<std::int64_t>(after))
      .run();
  sqlite::statement(w, "UPDATE persons_count SET n = n + ?").bind(1, static_cast<std::int64_t>(added)).run();
}

/// `query` (trigram_min_chars characters or more) as an FTS5 query: each of its trigrams, all of them present
/// (detail='none' keeps no positions, so no phrase; the LIKE on the names checks their order).
inline std::string fts_trigrams(std::string_view query) {
  std::vector<std::size_t> starts;
  for (std::size_t i = 0; i < query.size(); ++i) {
    if ((static_cast<unsigned char>(query[i]) & 0xC0U) != 0x80U) starts.push_back(i);
  }
  starts.push_back(query.size());
  std::string out;
  for (std::size_t a = 0; a + 3 < starts.size(); ++a) {
    out += out.empty() ? "\"" : " AND \"";
    for (const char ch : query.substr(starts[a], starts[a + 3] - starts[a])) {
      if (ch == '"') out += '"';
      out += ch;
    }
    out += '"';
  }
  return out;
}

/// People whose name contains `query` as LIKE matches it (ASCII case-insensitive), in id order, from the first
/// with an id above `after`, `offset` of them skipped. A query of trigram_min_chars characters or more looks its
/// candidates up in persons_fts (which folds case more widely than LIKE: the LIKE on the names keeps the
/// meaning); a shorter one scans persons in id order until the page is full, and counts at most
/// short_query_count_cap matches.
inline persons_page list(const sqlite::connection& c, std::string_view query, std::uint64_t offset,
                         std::uint64_t after, std::uint64_t limit) {
  persons_page page;
  const std::string pattern = like_pattern(query);
  const bool indexed = utf8_chars(query) >= trigram_min_chars;
  const std::string from =
      query.empty() ? " FROM persons s WHERE 1"
      : indexed     ? " FROM persons_fts f JOIN persons s ON s.id = f.rowid WHERE persons_fts MATCH ?5 "
                      "AND s.name LIKE ?1 ESCAPE '\\'"
                    : " FROM persons s WHERE s.name LIKE ?1 ESCAPE '\\'";
  const auto bind_query = [&](sqlite::statement& s) {
    if (query.empty()) return;
    s.bind(1, pattern);
    if (indexed) s.bind(5, fts_trigrams(query));
  };
  const auto wanted = std::min<std::uint64_t>(limit, 1U << 30);
  {
    sqlite::statement s(c, "SELECT s.id, s.name, (SELECT count(*) FROM people p WHERE p.person_id = s.id)" + from +
                               " AND s.id > ?4 ORDER BY s.id LIMIT ?2 OFFSET ?3");
    bind_query(s);
    s.bind(2, static_cast<std::int64_t>(wanted + 1));  // one more: whether a next page exists
    s.bind(3, static_cast<std::int64_t>(std::min<std::uint64_t>(offset, std::uint64_t{1} << 62)));
    s.bind(4, static_cast<std::int64_t>(std::min<std::uint64_t>(after, std::uint64_t{1} << 62)));
    while (s.step()) {
      if (page.people.size() == wanted) {
        page.next = next_cursor(page, offset, after);
        break;
      }
      page.people.push_back({static_cast<std::uint64_t>(s.integer(0)), std::string(s.text(1)),
                             static_cast<std::uint64_t>(s.integer(2))});
    }
  }
  if (query.empty()) {
    page.total = count(c);
    return page;
  }
  const bool capped = !indexed;
  sqlite::statement s(c, capped ? "SELECT count(*) FROM (SELECT 1" + from + " LIMIT ?2)"
                                : "SELECT count(*)" + from);
  bind_query(s);
  if (capped) s.bind(2, static_cast<std::int64_t>(short_query_count_cap + 1));
  if (s.step()) page.total = static_cast<std::uint64_t>(s.integer(0));
  s.reset();
  if (capped && page.total > short_query_count_cap) {
    page.total = short_query_count_cap;
    page.total_capped = true;
  }
  return page;
}

/// The first `per_person` faces of each person: one indexed look-up each (people_person orders by id within a
/// person), so a person with many faces costs no more than one with a few.
inline std::vector<face_ref> first_faces(const sqlite::connection& c, std::span<const std::uint64_t> persons,
                                         std::size_t per_person) {
  std::vector<face_ref> out;
  sqlite::statement s(c, "SELECT p.id, EXISTS (SELECT 1 FROM thumbnails t WHERE t.person_id = p.id) FROM people p "
                         "WHERE p.person_id = ? ORDER BY p.id LIMIT ?");
  for (const auto id : persons) {
    s.bind(1, static_cast<std::int64_t>(id));
    s.bind(2, static_cast<std::int64_t>(std::min<std::size_t>(per_person, 1U << 30)));
    while (s.step()) out.push_back({id, static_cast<std::uint64_t>(s.integer(0)), s.integer(1) != 0});
    s.reset();
  }
  return out;
}

inline std::optional<person_detail> find(const sqlite::connection& c, std::uint64_t id) {
  auto name = name_of(c, id);
  if (!name) return std::nullopt;
  person_detail d{id, std::move(*name), {}};
  sqlite::statement s(c, std::string(select_face) + " WHERE p.person_id = ? ORDER BY p.id");
  s.bind(1, static_cast<std::int64_t>(id));
  while (s.step()) d.faces.push_back(face_of(s));
  return d;
}

inline std::optional<person_change> rename(const sqlite::connection& w, std::uint64_t id, const std::string& name) {
  if (!name_of(w, id)) return std::nullopt;
  sqlite::statement(w, "UPDATE persons SET name = ? WHERE id = ?")
      .bind(1, name)
      .bind(2, static_cast<std::int64_t>(id))
      .run();
  sqlite::statement(w, "UPDATE people SET name = ? WHERE person_id = ?")
      .bind(1, name)
      .bind(2, static_cast<std::int64_t>(id))
      .run();
  return person_change{name, faces_of(w, id), find(w, id)};
}

inline std::optional<person_change> remove(const sqlite::connection& w, std::uint64_t id) {
  auto name = name_of(w, id);
  if (!name) return std::nullopt;
  person_change out{std::move(*name), faces_of(w, id), {}};
  for (const auto face : out.faces) delete_face(w, face);
  sqlite::statement(w, "DELETE FROM persons WHERE id = ?").bind(1, static_cast<std::int64_t>(id)).run();
  return out;
}

inline std::optional<person_change> merge(const sqlite::connection& w, std::uint64_t into, std::uint64_t from) {
  if (into == from) {  // the DELETE of `from` below would take `into` with it
    throw service_error(errc::bad_input, "person " + std::to_string(into) + " cannot be merged into itself");
  }
  auto name = name_of(w, into);
  if (!name || !name_of(w, from)) return std::nullopt;
  person_change out{std::move(*name), faces_of(w, from), {}};
  sqlite::statement(w, "UPDATE people SET person_id = ?, name = ? WHERE person_id = ?")
      .bind(1, static_cast<std::int64_t>(into))
      .bind(2, out.name)
      .bind(3, static_cast<std::int64_t>(from))
      .run();
  sqlite::statement(w, "DELETE FROM persons WHERE id = ?").bind(1, static_cast<std::int64_t>(from)).run();
  out.after = find(w, into);
  return out;
}

}  // namespace faceapp_web::sqlite_people
