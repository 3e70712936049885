// faceapp-web: pending clusters in the SQLite store (cluster_store.hpp): a row of pending_clusters each, and a
// row of pending_faces for each of its faces (n: its place in the cluster). Created when missing, so a database
// of schema version 2 gets them without a version change. These run inside the caller's transaction.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/cluster_store.hpp"
#include "store/sqlite_db.hpp"

namespace faceapp_web::sqlite_clusters {

inline void create_tables(const sqlite::connection& w) {
  w.exec(
      "CREATE TABLE IF NOT EXISTS pending_clusters (id INTEGER PRIMARY KEY AUTOINCREMENT, "
      "  created_s INTEGER NOT NULL, suggested TEXT);"
      "CREATE TABLE IF NOT EXISTS pending_faces (cluster_id INTEGER NOT NULL, n INTEGER NOT NULL, "
      "  photo TEXT NOT NULL, source TEXT NOT NULL, box_top INTEGER NOT NULL, box_right INTEGER NOT NULL, "
      "  box_bottom INTEGER NOT NULL, box_left INTEGER NOT NULL, encoding BLOB NOT NULL, thumbnail BLOB NOT NULL, "
      "  PRIMARY KEY (cluster_id, n));");
}

/// Deletes the clusters expired at `now_s`.
inline void expire(const sqlite::connection& w, std::int64_t now_s) {
  const auto before = now_s - pending_cluster_lifetime_s;  // created at or before this: expired
  sqlite::statement(w, "DELETE FROM pending_faces WHERE cluster_id IN (SELECT id FROM pending_clusters "
                       "WHERE created_s <= ?)").bind(1, before).run();
  sqlite::statement(w, "DELETE FROM pending_clusters WHERE created_s <= ?").bind(1, before).run();
}

inline std::vector<std::uint64_t> save(const sqlite::connection& w, std::span<const pending_cluster> clusters,
                                       std::int64_t now_s) {
  expire(w, now_s);
  std::vector<std::uint64_t> ids;
  sqlite::statement c(w, "INSERT INTO pending_clusters (created_s, suggested) VALUES (?, ?)");
  sqlite::statement f(w, "INSERT INTO pending_faces (cluster_id, n, photo, source, box_top, box_right, box_bottom, "
                         "box_left, encoding, thumbnail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  for (const auto& cl : clusters) {
    c.bind(1, cl.created_s);
    if (cl.suggested) c.bind(2, *cl.suggested);
    c.run();
    const auto id = sqlite3_last_insert_rowid(w.get());
    ids.push_back(static_cast<std::uint64_t>(id));
    std::int64_t n = 0;
    for (const auto& face : cl.faces) {
      f.bind(1, id).bind(2, n++).bind(3, face.photo).bind(4, face.source);
      f.bind(5, face.box.top).bind(6, face.box.right).bind(7, face.box.bottom).bind(8, face.box.left);
      f.bind_blob(9, face.encoding.data(), sizeof(float) * faceapp::encoding_size);
      f.bind_blob(10, face.thumbnail.data(), face.thumbnail.size());
      f.run();
    }
  }
  return ids;
}

/// The clusters not expired at `now_s`: all of them, or only `only`.
inline std::vector<pending_cluster> read(const sqlite::connection& c, std::int64_t now_s,
                                         std::optional<std::uint64_t> only) {
  std::vector<pending_cluster> out;
  const auto after = now_s - pending_cluster_lifetime_s;
  {
    sqlite::statement s(c, std::string("SELECT id, created_s, suggested FROM pending_clusters WHERE created_s > ?") +
                               (only ? " AND id = ?" : "") + " ORDER BY id");
    s.bind(1, after);
    if (only) s.bind(2, static_cast<std::int64_t>(*only));
    while (s.step()) {
      pending_cluster p;
      p.id = static_cast<std::uint64_t>(s.integer(0));
      p.created_s = s.integer(1);
      if (!s.is_null(2)) p.suggested = std::string(s.text(2));
      out.push_back(std::move(p));
    }
  }
  sqlite::statement s(c, "SELECT photo, source, box_top, box_right, box_bottom, box_left, encoding, thumbnail "
                         "FROM pending_faces WHERE cluster_id = ? ORDER BY n");
  for (auto& p : out) {
    s.bind(1, static_cast<std::int64_t>(p.id));
    while (s.step()) {
      pending_face f;
      f.photo = s.text(0);
      f.source = s.text(1);
      f.box = faceapp::box{static_cast<int>(s.integer(2)), static_cast<int>(s.integer(3)),
                           static_cast<int>(s.integer(4)), static_cast<int>(s.integer(5))};
      const auto blob = s.blob(6);
      if (blob.size() != sizeof(float) * faceapp::encoding_size) {
        throw std::runtime_error("pending cluster " + std::to_string(p.id) + ": an encoding of " +
                                 std::to_string(blob.size()) + " bytes, not 512");
      }
      std::memcpy(f.encoding.data(), blob.data(), blob.size());
      f.thumbnail = std::string(s.blob(7));
      p.faces.push_back(std::move(f));
    }
    s.reset();
  }
  return out;
}

/// Deletes a cluster not expired at `now_s`; false when there is none.
inline bool remove(const sqlite::connection& w, std::uint64_t id, std::int64_t now_s) {
  sqlite::statement(w, "DELETE FROM pending_clusters WHERE id = ? AND created_s > ?")
      .bind(1, static_cast<std::int64_t>(id))
      .bind(2, now_s - pending_cluster_lifetime_s)
      .run();
  if (sqlite3_changes(w.get()) == 0) return false;
  sqlite::statement(w, "DELETE FROM pending_faces WHERE cluster_id = ?").bind(1, static_cast<std::int64_t>(id)).run();
  return true;
}

}  // namespace faceapp_web::sqlite_clusters
