// faceapp-web: the SQLite store's schema (sqlite_store.hpp): the tables made on a new database, upgraded in
// place on an older one (version 1: people, encodings, boxes, sources, thumbnails, meta; 2 to 4: persons, the
// name index and the persons' count, sqlite_people.hpp; the pending clusters, sqlite_clusters.hpp, whatever the
// version), refused on a newer one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "store/sqlite_clusters.hpp"
#include "store/sqlite_db.hpp"
#include "store/sqlite_people.hpp"

namespace faceapp_web::sqlite_schema {

/// The newest schema this faceapp-web knows and writes.
inline constexpr int version_known = 4;

/// Creates or upgrades the schema of the database `file` through its writer `w`, in one transaction. Throws when
/// the database has a newer schema than version_known.
inline void create(const sqlite::connection& w, const std::filesystem::path& file) {
  sqlite::transaction t(w);
  w.exec(
      "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
      "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, "
      "  added TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS encodings (person_id INTEGER PRIMARY KEY, encoding BLOB NOT NULL);"
      "CREATE TABLE IF NOT EXISTS boxes (person_id INTEGER PRIMARY KEY, box_top INTEGER NOT NULL, "
      "  box_right INTEGER NOT NULL, box_bottom INTEGER NOT NULL, box_left INTEGER NOT NULL);"
      "CREATE TABLE IF NOT EXISTS sources (person_id INTEGER PRIMARY KEY, source TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS thumbnails (person_id INTEGER PRIMARY KEY, jpeg BLOB NOT NULL);");
  sqlite::statement v(w, "SELECT max(version) FROM schema_version");
  std::int64_t version = 0;
  if (v.step() && !v.is_null(0)) version = v.integer(0);
  v.reset();
  if (version > version_known) {
    throw std::runtime_error("database " + file.string() + " has schema version " + std::to_string(version) +
                             ", newer than this faceapp-web knows (" + std::to_string(version_known) +
                             "): use a newer faceapp-web");
  }
  if (version == 0) w.exec("INSERT INTO schema_version (version) VALUES (1)");  // the tables just made
  if (version < 2) sqlite_people::upgrade_to_v2(w);
  if (version < 3) sqlite_people::upgrade_to_v3(w);
  if (version < 4) sqlite_people::upgrade_to_v4(w);
  sqlite_clusters::create_tables(w);
  t.commit();
}

}  // namespace faceapp_web::sqlite_schema
