// faceapp-web: people in the PostgreSQL store (pg_store.hpp): a person is a row of `persons` (id, name), and
// each face (a row of `people`, whose name keeps a copy of its person's name) names its person in `person_id`.
// Schema version 2 added them; a version 1 database is migrated, each face becoming a person of its own under
// the face's id. Version 3 added the name search's trigram index (create_name_index), version 4 the number of
// persons (upgrade_to_v4). A rename or merge adds an 'n' change (the face has a new name) for every face it
// touches, a person's delete a 'd' for each of its faces, so the other servers' galleries follow (face_store's feed).
//
// These run on a connection inside the caller's transaction (which holds the write lock).
#pragma once

#include <libpq-fe.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "service/errors.hpp"
#include "store/pg_db.hpp"
#include "store/store.hpp"

namespace faceapp_web::pg_people {

/// Version 1 -> 2 (run_script; the caller sets the version).
/// It rewrites every face row: no statement timeout (a large gallery takes longer than the 8 s of ordinary
/// statements), and a minute to take its locks. person_id is NOT NULL after it, so that a version-1 server still
/// running fails its adds loudly instead of storing faces of no person.
inline constexpr const char* upgrade_to_v2 =
    "SET LOCAL statement_timeout = 0;"
    "SET LOCAL lock_timeout = '60s';"
    "CREATE SEQUENCE persons_id_seq;"
    "CREATE TABLE persons (id bigint PRIMARY KEY, name text NOT NULL);"
    "ALTER TABLE people ADD COLUMN person_id bigint;"
    "INSERT INTO persons (id, name) SELECT id, name FROM people;"
    "UPDATE people SET person_id = id;"
    "ALTER TABLE people ALTER COLUMN person_id SET NOT NULL;"
    "SELECT setval('persons_id_seq', coalesce((SELECT max(id) FROM persons), 0) + 1, false);"
    "CREATE INDEX persons_name ON persons (name);"
    "CREATE INDEX people_person ON people (person_id);"
    "ALTER TABLE changes DROP CONSTRAINT IF EXISTS changes_kind_check;"
    "ALTER TABLE changes ADD CONSTRAINT changes_kind_check CHECK (kind IN ('a', 'd', 'n'));"
    "INSERT INTO schema_version (version) VALUES (2)";

/// A face's columns, in face_of's order.
inline constexpr const char* select_face =
    "SELECT id, name, added, source, box_top, box_right, box_bottom, box_left, thumbnail IS NOT NULL, person_id "
    "FROM people";

inline person face_of(const PGresult* r, int i) {
  person p;
  p.id = std::strtoull(PQgetvalue(r, i, 0), nullptr, 10);
  p.name = PQgetvalue(r, i, 1);
  p.added = PQgetvalue(r, i, 2);
  p.source = PQgetvalue(r, i, 3);
  if (PQgetisnull(r, i, 4) == 0) {
    p.box = faceapp::box{*pg::int_of(r, i, 4), *pg::int_of(r, i, 5), *pg::int_of(r, i, 6), *pg::int_of(r, i, 7)};
  }
  p.has_thumbnail = *PQgetvalue(r, i, 8) == 't';
  p.person_id = std::strtoull(PQgetvalue(r, i, 9), nullptr, 10);
  return p;
}

inline std::optional<std::string> name_of(PGconn* c, const std::string& url, std::uint64_t id) {
  const std::string id_text = std::to_string(id);
  const char* params[] = {id_text.c_str()};
  const auto r = pg::run(c, url, "SELECT name FROM persons WHERE id = $1::bigint", params);
  if (PQntuples(r.get()) == 0) return std::nullopt;
  return std::string(PQgetvalue(r.get(), 0, 0));
}

inline std::uint64_t create(PGconn* c, const std::string& url, const std::string& name) {
  const char* params[] = {name.c_str()};
  const auto r = pg::run(c, url, "INSERT INTO persons (id, name) VALUES (nextval('persons_id_seq'), $1) RETURNING id",
                         params);
  return std::strtoull(PQgetvalue(r.get(), 0, 0), nullptr, 10);
}

/// A person and its faces as `c` sees them (inside a write's transaction: as that transaction left them).
inline std::optional<person_detail> find(PGconn* c, const std::string& url, std::uint64_t id) {
  auto name = name_of(c, url, id);
  if (!name) return std::nullopt;
  person_detail d{id, std::move(*name), {}};
  const std::string id_text = std::to_string(id);
  const char* params[] = {id_text.c_str()};
  const auto r =
      pg::run(c, url, (std::string(select_face) + " WHERE person_id = $1::bigint ORDER BY id").c_str(), params);
  for (int i = 0, n = PQntuples(r.get()); i < n; ++i) d.faces.push_back(face_of(r.get(), i));
  return d;
}

/// The first `per_person` faces of each person, in one statement (an indexed look-up a person).
inline std::vector<face_ref> first_faces(PGconn* c, const std::string& url, std::span<const std::uint64_t> persons,
                                         std::size_t per_person) {
  std::string ids = "{";
  for (const auto id : persons) {  // appended piece by piece: GCC 12 warns (-Wrestrict) on "," + to_string(id)
    if (ids.size() > 1) ids += ',';
    ids += std::to_string(id);
  }
  ids += "}";
  const std::string limit = std::to_string(std::min<std::size_t>(per_person, 1U << 30));
  const char* params[] = {ids.c_str(), limit.c_str()};
  const auto r = pg::run(c, url,
                         "SELECT s.person, f.id, f.has FROM unnest($1::bigint[]) WITH ORDINALITY AS s(person, n) "
                         "CROSS JOIN LATERAL (SELECT id, thumbnail IS NOT NULL AS has FROM people "
                         "WHERE person_id = s.person ORDER BY id LIMIT $2::bigint) f ORDER BY s.n, f.id",
                         params);
  std::vector<face_ref> out;
  for (int i = 0, n = PQntuples(r.get()); i < n; ++i) {
    out.push_back({std::strtoull(PQgetvalue(r.get(), i, 0), nullptr, 10),
                   std::strtoull(PQgetvalue(r.get(), i, 1), nullptr, 10), *PQgetvalue(r.get(), i, 2) == 't'});
  }
  return out;
}

/// The person a new face joins (see new_face), and that person's name.
inline std::pair<std::uint64_t, std::string> person_for(PGconn* c, const std::string& url, const new_face& f) {
  if (f.person) {
    auto name = name_of(c, url, *f.person);
    if (!name) throw service_error(errc::not_found, "no person with id " + std::to_string(*f.person));
    return {*f.person, std::move(*name)};
  }
  const char* params[] = {f.name.c_str()};
  const auto r = pg::run(c, url, "SELECT min(id) FROM persons WHERE name = $1", params);
  if (PQgetisnull(r.get(), 0, 0) == 0) return {std::strtoull(PQgetvalue(r.get(), 0, 0), nullptr, 10), f.name};
  return {create(c, url, f.name), f.name};
}

/// Version 2 -> 3: the name search's trigram index, a GIN index of pg_trgm over persons' names (ILIKE uses it
/// for a query of trigram_min_chars characters or more). Run in a savepoint of the schema's transaction at every
/// start until the index exists: when the extension cannot be created (not installed, or the role may not), the
/// search works as before, by a scan, and the server says so on stderr. Returns whether the index exists.
inline bool create_name_index(PGconn* c, const std::string& url) {
  // The index of this schema (the one persons resolves to), not one of that name in another schema.
  const auto have = pg::run(c, url, "SELECT to_regclass('persons_name_trgm') IS NOT NULL");
  if (std::string_view(PQgetvalue(have.get(), 0, 0)) == "t") return true;
  pg::run(c, url, "SAVEPOINT name_index");
  try {
    pg::run(c, url, "SET LOCAL statement_timeout = 0");  // a large gallery's index takes longer than 8 s
    pg::run(c, url, "CREATE EXTENSION IF NOT EXISTS pg_trgm");
    pg::run(c, url, "CREATE INDEX persons_name_trgm ON persons USING gin (name gin_trgm_ops)");
    pg::run(c, url, "RELEASE SAVEPOINT name_index");
    return true;
  } catch (const unavailable_error&) {
    throw;
  } catch (const std::exception& e) {
    pg::run(c, url, "ROLLBACK TO SAVEPOINT name_index");
    std::fprintf(stderr,
                 "faceapp-web: warning: %s: no trigram index for the name search (%s); a search scans the "
                 "people's names\n",
                 pg::shown(url).c_str(), e.what());
    return false;
  }
}

/// Version 3 -> 4 (run_script; the caller sets the version): the number of persons in a row of its own
/// (persons_count), kept by statement triggers that add the rows each statement inserted or deleted (one update a
/// statement, an import's too), so that a page of all the people reads its total instead of counting the table.
/// persons is locked against writes from the count to the triggers, so that a version-3 server still running
/// cannot add a person the count misses.
inline constexpr const char* upgrade_to_v4 =
    "SET LOCAL statement_timeout = 0;"
    "SET LOCAL lock_timeout = '60s';"
    "LOCK TABLE persons IN SHARE ROW EXCLUSIVE MODE;"
    "CREATE TABLE persons_count (n bigint NOT NULL);"
    "INSERT INTO persons_count (n) SELECT count(*) FROM persons;"
    "CREATE FUNCTION persons_count_added() RETURNS trigger LANGUAGE plpgsql AS "
    "  $$BEGIN UPDATE persons_count SET n = n + (SELECT count(*) FROM added); RETURN NULL; END$$;"
    "CREATE FUNCTION persons_count_removed() RETURNS trigger LANGUAGE plpgsql AS "
    "  $$BEGIN UPDATE persons_count SET n = n - (SELECT count(*) FROM removed); RETURN NULL; END$$;"
    "CREATE TRIGGER persons_count_insert AFTER INSERT ON persons REFERENCING NEW TABLE AS added "
    "  FOR EACH STATEMENT EXECUTE FUNCTION persons_count_added();"
    "CREATE TRIGGER persons_count_delete AFTER DELETE ON persons REFERENCING OLD TABLE AS removed "
    "  FOR EACH STATEMENT EXECUTE FUNCTION persons_count_removed();"
    "INSERT INTO schema_version (version) VALUES (4)";

/// People whose name contains `query` (ILIKE), in id order, from the first with an id above `after`, `offset` of
/// them skipped. A query of fewer than trigram_min_chars characters counts at most short_query_count_cap matches
/// (pg_trgm cannot help it: its page is a scan in id order that stops when the page is full).
inline persons_page list(PGconn* c, const std::string& url, std::string_view query, std::uint64_t offset,
                         std::uint64_t after, std::uint64_t limit) {
  persons_page page;
  const std::string pattern = like_pattern(query);
  const auto wanted = std::min<std::uint64_t>(limit, 1U << 30);
  const std::string lim = std::to_string(wanted + 1);  // one more: whether a next page exists
  const std::string off = std::to_string(std::min<std::uint64_t>(offset, std::uint64_t{1} << 62));
  const std::string aft = std::to_string(std::min<std::uint64_t>(after, std::uint64_t{1} << 62));
  const std::string where = query.empty() ? " WHERE $1::text IS NULL" : " WHERE s.name ILIKE $1::text";
  const char* params[] = {query.empty() ? nullptr : pattern.c_str(), lim.c_str(), off.c_str(), aft.c_str()};
  const auto r = pg::run(c, url,
                         ("SELECT s.id, s.name, (SELECT count(*) FROM people p WHERE p.person_id = s.id) "
                          "FROM persons s" + where + " AND s.id > $4::bigint ORDER BY s.id "
                          "LIMIT $2::bigint OFFSET $3::bigint").c_str(),
                         params);
  for (int i = 0, n = PQntuples(r.get()); i < n; ++i) {
    if (page.people.size() == wanted) {
      page.next = next_cursor(page, offset, after);
      break;
    }
    page.people.push_back({std::strtoull(PQgetvalue(r.get(), i, 0), nullptr, 10), PQgetvalue(r.get(), i, 1),
                           std::strtoull(PQgetvalue(r.get(), i, 2), nullptr, 10)});
  }
  if (query.empty()) {
    const auto n = pg::run(c, url, "SELECT n FROM persons_count");
    page.total = std::strtoull(PQgetvalue(n.get(), 0, 0), nullptr, 10);
    return page;
  }
  const bool capped = utf8_chars(query) < trigram_min_chars;
  const std::string cap = std::to_string(short_query_count_cap + 1);
  const char* count_params[] = {params[0], cap.c_str()};
  const auto t = capped ? pg::run(c, url, ("SELECT count(*) FROM (SELECT 1 FROM persons s" + where +
                                           " LIMIT $2::bigint) m").c_str(), count_params)
                        : pg::run(c, url, ("SELECT count(*) FROM persons s" + where).c_str(),
                                  std::span<const char* const>(params, 1));
  page.total = std::strtoull(PQgetvalue(t.get(), 0, 0), nullptr, 10);
  if (capped && page.total > short_query_count_cap) {
    page.total = short_query_count_cap;
    page.total_capped = true;
  }
  return page;
}

/// The ids of a statement's first column.
inline std::vector<std::uint64_t> ids_of(const pg::result& r) {
  std::vector<std::uint64_t> out;
  for (int i = 0, n = PQntuples(r.get()); i < n; ++i) {
    out.push_back(std::strtoull(PQgetvalue(r.get(), i, 0), nullptr, 10));
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// The tail of a statement `WITH touched AS (... RETURNING id)`: one change of `kind` per face touched, returning
/// the faces.
inline std::string changes_for_touched(char kind) {
  return std::string(" INSERT INTO changes (seq, kind, person_id) SELECT nextval('change_seq'), '") + kind +
         "', id FROM touched RETURNING person_id";
}

inline std::optional<person_change> rename(PGconn* c, const std::string& url, std::uint64_t id,
                                           const std::string& name) {
  const std::string id_text = std::to_string(id);
  const char* params[] = {name.c_str(), id_text.c_str()};
  const auto r = pg::run(c, url, "UPDATE persons SET name = $1 WHERE id = $2::bigint", params);
  if (std::string_view(PQcmdTuples(r.get())) == "0") return std::nullopt;
  const auto renamed = pg::run(
      c, url,
      ("WITH touched AS (UPDATE people SET name = $1 WHERE person_id = $2::bigint RETURNING id)" +
       changes_for_touched('n')).c_str(),
      params);
  pg::run(c, url, "NOTIFY faceapp_changes");
  return person_change{name, ids_of(renamed), find(c, url, id)};
}

/// Deletes face `face` if it is one of person `id`'s, in one statement (a face a merge moved meanwhile stays);
/// false when nothing matched.
inline bool remove_face(PGconn* c, const std::string& url, std::uint64_t id, std::uint64_t face) {
  const std::string id_text = std::to_string(id);
  const std::string face_text = std::to_string(face);
  const char* params[] = {face_text.c_str(), id_text.c_str()};
  const auto gone = pg::run(
      c, url, ("WITH touched AS (DELETE FROM people WHERE id = $1::bigint AND person_id = $2::bigint RETURNING id)" +
               changes_for_touched('d')).c_str(),
      params);
  if (PQntuples(gone.get()) == 0) return false;
  pg::run(c, url, "NOTIFY faceapp_changes");
  return true;
}

inline std::optional<person_change> remove(PGconn* c, const std::string& url, std::uint64_t id) {
  const std::string id_text = std::to_string(id);
  const char* params[] = {id_text.c_str()};
  const auto r = pg::run(c, url, "DELETE FROM persons WHERE id = $1::bigint RETURNING name", params);
  if (PQntuples(r.get()) == 0) return std::nullopt;
  const auto gone = pg::run(
      c, url, ("WITH touched AS (DELETE FROM people WHERE person_id = $1::bigint RETURNING id)" +
               changes_for_touched('d')).c_str(),
      params);
  pg::run(c, url, "NOTIFY faceapp_changes");
  return person_change{PQgetvalue(r.get(), 0, 0), ids_of(gone), {}};
}

inline std::optional<person_change> merge(PGconn* c, const std::string& url, std::uint64_t into, std::uint64_t from) {
  if (into == from) {  // the DELETE of `from` below would take `into` with it
    throw service_error(errc::bad_input, "person " + std::to_string(into) + " cannot be merged into itself");
  }
  auto name = name_of(c, url, into);
  if (!name) return std::nullopt;
  const std::string into_text = std::to_string(into);
  const std::string from_text = std::to_string(from);
  const char* params[] = {from_text.c_str()};
  const auto r = pg::run(c, url, "DELETE FROM persons WHERE id = $1::bigint", params);
  if (std::string_view(PQcmdTuples(r.get())) == "0") return std::nullopt;
  const char* move[] = {into_text.c_str(), from_text.c_str(), name->c_str()};
  const auto moved = pg::run(c, url,
                             ("WITH touched AS (UPDATE people SET person_id = $1::bigint, name = $3 "
                              "WHERE person_id = $2::bigint RETURNING id)" + changes_for_touched('n')).c_str(),
                             move);
  pg::run(c, url, "NOTIFY faceapp_changes");
  return person_change{std::move(*name), ids_of(moved), find(c, url, into)};
}

}  // namespace faceapp_web::pg_people
