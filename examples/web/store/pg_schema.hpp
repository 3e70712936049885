// faceapp-web: the PostgreSQL store's schema (pg_store.hpp): created on a new database, upgraded in place on an
// older one (version 1: people, changes, results; 2: persons, pg_people.hpp; 3: the name index and the pending
// clusters; 4: the persons' count), refused on a newer one. Runs under an advisory lock of its own, so that servers
// starting together do not race on CREATE TABLE IF NOT EXISTS.
#pragma once

#include <libpq-fe.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "store/pg_clusters.hpp"
#include "store/pg_db.hpp"
#include "store/pg_people.hpp"

namespace faceapp_web::pg_schema {

/// Creates or upgrades the schema on `c` in one transaction. Throws when the database has a newer schema than
/// this faceapp-web knows.
inline void create(PGconn* c, const std::string& url) {
  // One server at a time: two starting together would otherwise race on CREATE TABLE IF NOT EXISTS.
  pg::run(c, url, "BEGIN");
  pg::run(c, url, "SELECT pg_advisory_xact_lock(7234307576302018673)");
  pg::run(c, url, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)");
  const auto v = pg::run(c, url, "SELECT coalesce(max(version), 0) FROM schema_version");
  const int version = std::atoi(PQgetvalue(v.get(), 0, 0));
  if (version > pg::schema_version) {
    pg::run(c, url, "ROLLBACK");
    throw std::runtime_error("database " + pg::shown(url) + " has schema version " + std::to_string(version) +
                             ", newer than this faceapp-web knows (" + std::to_string(pg::schema_version) +
                             "): use a newer faceapp-web");
  }
  if (version < 1) {
    pg::run_script(c, url,
                   "CREATE SEQUENCE IF NOT EXISTS people_id_seq;"
                   "CREATE SEQUENCE IF NOT EXISTS change_seq;"
                   "CREATE TABLE IF NOT EXISTS people (id bigint PRIMARY KEY, name text NOT NULL, added text NOT NULL, "
                   "  source text NOT NULL, box_top integer, box_right integer, box_bottom integer, box_left integer, "
                   "  encoding bytea NOT NULL CHECK (length(encoding) = 512), thumbnail bytea);"
                   "CREATE TABLE IF NOT EXISTS changes (seq bigint PRIMARY KEY, kind char(1) NOT NULL "
                   "  CHECK (kind IN ('a', 'd')), person_id bigint NOT NULL);"
                   "CREATE TABLE IF NOT EXISTS results (id bigserial PRIMARY KEY, time text NOT NULL, "
                   "  input text NOT NULL, face integer, box_top integer, box_right integer, box_bottom integer, "
                   "  box_left integer, name text NOT NULL, distance real, match boolean);"
                   "INSERT INTO schema_version (version) VALUES (1)");
  }
  if (version < 2) pg::run_script(c, url, pg_people::upgrade_to_v2);
  pg::run_script(c, url, pg_clusters::create_tables);
  pg_people::create_name_index(c, url);
  if (version < 3) pg::run(c, url, "INSERT INTO schema_version (version) VALUES (3)");
  if (version < 4) pg::run_script(c, url, pg_people::upgrade_to_v4);
  pg::run(c, url, "COMMIT");
}

}  // namespace faceapp_web::pg_schema
