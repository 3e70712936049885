// What the SQLite bulk import's tests share (test_sqlite_bulk.cpp, test_sqlite_bulk_empty.cpp): a connection of
// their own to the store's file, the faces' encodings and date, and the statement's row count.
#pragma once

#include <doctest/doctest.h>

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "store/sqlite_bulk.hpp"
#include "store/store.hpp"

namespace faceapp_web::bulk_test {

inline constexpr std::size_t per_statement = faceapp_web::sqlite_bulk_insert::rows_per_statement;

/// A connection of the test's own, for what the store's interface does not show (counts, sequences, the schema).
struct raw_db {
  sqlite3* db = nullptr;
  explicit raw_db(const std::filesystem::path& file) {
    REQUIRE(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;
  ~raw_db() { sqlite3_close(db); }

  /// SQLite's result code for `sql` (its message in `error`).
  int exec(const std::string& sql, std::string* error = nullptr) const {
    char* message = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
    if (error != nullptr) *error = message != nullptr ? message : "";
    sqlite3_free(message);
    return rc;
  }
  /// The rows of `sql`, each its columns' text joined by '|' (NULL as "NULL").
  [[nodiscard]] std::vector<std::string> rows(const std::string& sql) const {
    sqlite3_stmt* s = nullptr;
    REQUIRE_MESSAGE(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK, sqlite3_errmsg(db));
    std::vector<std::string> out;
    int rc = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      std::string row;
      for (int c = 0; c < sqlite3_column_count(s); ++c) {
        if (c != 0) row += '|';
        const auto* text = sqlite3_column_text(s, c);
        row += text != nullptr ? reinterpret_cast<const char*>(text) : "NULL";
      }
      out.push_back(std::move(row));
    }
    sqlite3_finalize(s);
    REQUIRE_MESSAGE(rc == SQLITE_DONE, sqlite3_errmsg(db));
    return out;
  }
  [[nodiscard]] std::int64_t integer(const std::string& sql) const { return std::stoll(rows(sql).at(0)); }
  [[nodiscard]] std::string text(const std::string& sql) const { return rows(sql).at(0); }

  /// FTS5's check of persons_fts against its content table, persons. The rank of 1 asks for the comparison with
  /// an external content table; the plain 'integrity-check' only checks the index within itself (the test case
  /// "the FTS check ... notices" below shows this one failing where it should).
  [[nodiscard]] bool fts_consistent() const {
    std::string error;
    const int rc = exec("INSERT INTO persons_fts (persons_fts, rank) VALUES ('integrity-check', 1)", &error);
    if (rc != SQLITE_OK) MESSAGE("integrity-check: " << error);
    return rc == SQLITE_OK;
  }

  /// Everything the store keeps for faces and persons, row by row, with the schema and the id sequences.
  [[nodiscard]] std::vector<std::string> state() const {
    std::vector<std::string> out;
    for (const char* sql : {"SELECT type, name, sql FROM sqlite_master ORDER BY type, name",
                            "SELECT name, seq FROM sqlite_sequence ORDER BY name",
                            "SELECT id, name, added, person_id FROM people ORDER BY id",
                            "SELECT id, name FROM persons ORDER BY id",
                            "SELECT person_id, hex(encoding) FROM encodings ORDER BY person_id",
                            "SELECT person_id, source FROM sources ORDER BY person_id",
                            "SELECT * FROM boxes ORDER BY person_id",
                            "SELECT person_id, hex(jpeg) FROM thumbnails ORDER BY person_id",
                            "SELECT rowid FROM persons_fts WHERE persons_fts MATCH '\"ace\" OR \"ers\"' "
                            "ORDER BY rowid"}) {
      out.emplace_back(sql);
      for (auto& row : rows(sql)) out.push_back(std::move(row));
    }
    return out;
  }
};

inline faceapp::encoding encoding_of(std::size_t k) {
  faceapp::encoding e{};
  for (std::size_t i = 0; i < e.size(); ++i) e[i] = static_cast<float>(k) + static_cast<float>(i) / 256.0F;
  return e;
}

inline constexpr const char* added_at = "2026-01-02T03:04:05Z";

}  // namespace faceapp_web::bulk_test
