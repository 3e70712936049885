// faceapp-web: pending clusters in the PostgreSQL store (cluster_store.hpp): a row of pending_clusters each, and
// a row of pending_faces for each of its faces (n: its place in the cluster). Created when missing (IF NOT EXISTS,
// under the schema lock), so a database of schema version 2 gets them without a version change. These run on a
// connection inside the caller's transaction (which holds the write lock), or alone for a read.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/cluster_store.hpp"
#include "store/pg_db.hpp"

namespace faceapp_web::pg_clusters {

inline constexpr const char* create_tables =
    "CREATE TABLE IF NOT EXISTS pending_clusters (id bigserial PRIMARY KEY, created_s bigint NOT NULL, "
    "  suggested text);"
    "CREATE TABLE IF NOT EXISTS pending_faces (cluster_id bigint NOT NULL, n bigint NOT NULL, photo text NOT NULL, "
    "  source text NOT NULL, box_top bigint NOT NULL, box_right bigint NOT NULL, box_bottom bigint NOT NULL, "
    "  box_left bigint NOT NULL, encoding bytea NOT NULL CHECK (length(encoding) = 512), thumbnail bytea NOT NULL, "
    "  PRIMARY KEY (cluster_id, n))";

/// Deletes the clusters expired at `now_s`.
inline void expire(PGconn* c, const std::string& url, std::int64_t now_s) {
  const std::string before = std::to_string(now_s - pending_cluster_lifetime_s);
  const char* expired[] = {before.c_str()};
  pg::run(c, url, "DELETE FROM pending_faces WHERE cluster_id IN (SELECT id FROM pending_clusters "
                  "WHERE created_s <= $1::bigint)", expired);
  pg::run(c, url, "DELETE FROM pending_clusters WHERE created_s <= $1::bigint", expired);
}

inline std::vector<std::uint64_t> save(PGconn* c, const std::string& url, std::span<const pending_cluster> clusters,
                                       std::int64_t now_s) {
  expire(c, url, now_s);
  std::vector<std::uint64_t> ids;
  for (const auto& cl : clusters) {
    const std::string created = std::to_string(cl.created_s);
    const char* head[] = {created.c_str(), cl.suggested ? cl.suggested->c_str() : nullptr};
    const auto r = pg::run(c, url, "INSERT INTO pending_clusters (created_s, suggested) VALUES ($1::bigint, $2) "
                                   "RETURNING id", head);
    const std::string id = PQgetvalue(r.get(), 0, 0);
    ids.push_back(std::strtoull(id.c_str(), nullptr, 10));
    for (std::size_t n = 0; n < cl.faces.size(); ++n) {
      const auto& f = cl.faces[n];
      const std::string place = std::to_string(n), top = std::to_string(f.box.top), right = std::to_string(f.box.right),
                        bottom = std::to_string(f.box.bottom), left = std::to_string(f.box.left);
      const char* params[] = {id.c_str(), place.c_str(), f.photo.c_str(), f.source.c_str(), top.c_str(), right.c_str(),
                              bottom.c_str(), left.c_str(), reinterpret_cast<const char*>(f.encoding.data()),
                              f.thumbnail.data()};
      const int lengths[] = {0, 0, 0, 0, 0, 0, 0, 0, static_cast<int>(sizeof(float) * faceapp::encoding_size),
                             static_cast<int>(f.thumbnail.size())};
      const int formats[] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1};
      pg::run(c, url, "INSERT INTO pending_faces (cluster_id, n, photo, source, box_top, box_right, box_bottom, "
                      "box_left, encoding, thumbnail) VALUES ($1::bigint, $2::bigint, $3, $4, $5::bigint, $6::bigint, "
                      "$7::bigint, $8::bigint, $9::bytea, $10::bytea)", params, lengths, formats);
    }
  }
  return ids;
}

/// The clusters not expired at `now_s`: all of them, or only `only`.
inline std::vector<pending_cluster> read(PGconn* c, const std::string& url, std::int64_t now_s,
                                         std::optional<std::uint64_t> only) {
  const std::string after = std::to_string(now_s - pending_cluster_lifetime_s);
  const std::string id = only ? std::to_string(*only) : std::string("0");
  const char* params[] = {after.c_str(), only ? id.c_str() : nullptr};
  // Binary results: bigints arrive big-endian, text and bytea as their bytes.
  const auto r = pg::run(c, url,
                         "SELECT k.id, k.created_s, k.suggested, f.photo, f.source, f.box_top, f.box_right, "
                         "f.box_bottom, f.box_left, f.encoding, f.thumbnail FROM pending_clusters k "
                         "JOIN pending_faces f ON f.cluster_id = k.id WHERE k.created_s > $1::bigint "
                         "AND ($2::bigint IS NULL OR k.id = $2::bigint) ORDER BY k.id, f.n",
                         params, {}, {}, true);
  std::vector<pending_cluster> out;
  const auto text = [&](int i, int col) {
    return std::string(PQgetvalue(r.get(), i, col), static_cast<std::size_t>(PQgetlength(r.get(), i, col)));
  };
  const auto number = [&](int i, int col) { return static_cast<std::int64_t>(pg::be64(PQgetvalue(r.get(), i, col))); };
  for (int i = 0, rows = PQntuples(r.get()); i < rows; ++i) {
    const auto cluster = static_cast<std::uint64_t>(number(i, 0));
    if (out.empty() || out.back().id != cluster) {
      pending_cluster p;
      p.id = cluster;
      p.created_s = number(i, 1);
      if (PQgetisnull(r.get(), i, 2) == 0) p.suggested = text(i, 2);
      out.push_back(std::move(p));
    }
    pending_face f;
    f.photo = text(i, 3);
    f.source = text(i, 4);
    f.box = faceapp::box{static_cast<int>(number(i, 5)), static_cast<int>(number(i, 6)), static_cast<int>(number(i, 7)),
                         static_cast<int>(number(i, 8))};
    if (PQgetlength(r.get(), i, 9) != static_cast<int>(sizeof(float) * faceapp::encoding_size)) {
      throw std::runtime_error("database " + pg::shown(url) + ": pending cluster " + std::to_string(cluster) +
                               " has an encoding of " + std::to_string(PQgetlength(r.get(), i, 9)) + " bytes, not 512");
    }
    std::memcpy(f.encoding.data(), PQgetvalue(r.get(), i, 9), sizeof(float) * faceapp::encoding_size);
    f.thumbnail = text(i, 10);
    out.back().faces.push_back(std::move(f));
  }
  return out;
}

/// Deletes a cluster not expired at `now_s`; false when there is none.
inline bool remove(PGconn* c, const std::string& url, std::uint64_t id, std::int64_t now_s) {
  const std::string id_text = std::to_string(id), after = std::to_string(now_s - pending_cluster_lifetime_s);
  const char* params[] = {id_text.c_str(), after.c_str()};
  const auto r = pg::run(c, url, "DELETE FROM pending_clusters WHERE id = $1::bigint AND created_s > $2::bigint",
                         params);
  if (std::strcmp(PQcmdTuples(r.get()), "0") == 0) return false;
  const char* one[] = {id_text.c_str()};
  pg::run(c, url, "DELETE FROM pending_faces WHERE cluster_id = $1::bigint", one);
  return true;
}

}  // namespace faceapp_web::pg_clusters
