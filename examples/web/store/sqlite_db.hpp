// faceapp-web's store layer: a thin C++ face on SQLite's C API (a connection, a prepared statement, a
// transaction), used by sqlite_store.hpp.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace faceapp_web {

namespace sqlite {

/// An error from SQLite, naming the database and what was being done.
[[noreturn]] inline void fail(sqlite3* db, const std::string& what) {
  throw std::runtime_error("database " + std::string(db != nullptr ? sqlite3_db_filename(db, "main") : "") + ": " +
                           what + ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
}

/// One connection, used by one thread at a time.
class connection {
 public:
  connection(const std::filesystem::path& file, bool create) {
    const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(file.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw std::runtime_error("cannot open database " + file.string() + ": " + message);
    }
    sqlite3_busy_timeout(db_, 10000);  // another connection holding the write lock: wait, do not fail
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection() { sqlite3_close_v2(db_); }

  [[nodiscard]] sqlite3* get() const noexcept { return db_; }

  void exec(const std::string& sql) const {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string message = error != nullptr ? error : "unknown error";
      sqlite3_free(error);
      throw std::runtime_error("database " + std::string(sqlite3_db_filename(db_, "main")) + ": " + message +
                               " (in: " + sql.substr(0, 80) + ")");
    }
  }

 private:
  sqlite3* db_ = nullptr;
};

/// A prepared statement, reset when a step sequence ends.
class statement {
 public:
  statement(const connection& c, std::string_view sql) : db_(c.get()) {
    if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt_,
                           nullptr) != SQLITE_OK) {
      fail(db_, "cannot prepare \"" + std::string(sql.substr(0, 80)) + "\"");
    }
  }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement() { sqlite3_finalize(stmt_); }

  statement& bind(int i, std::int64_t v) { return check(sqlite3_bind_int64(stmt_, i, v)); }
  statement& bind(int i, std::string_view v) {
    return check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  statement& bind_real(int i, double v) { return check(sqlite3_bind_double(stmt_, i, v)); }
  statement& bind_blob(int i, const void* p, std::size_t n) {
    return check(sqlite3_bind_blob(stmt_, i, p, static_cast<int>(n), SQLITE_TRANSIENT));
  }
  /// bind() and bind_blob() without SQLite's copy: the caller keeps the bytes as they are until run() or
  /// reset() (both clear the bindings) or the statement's end.
  statement& bind_unowned(int i, std::string_view v) {
    return check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC));
  }
  statement& bind_blob_unowned(int i, const void* p, std::size_t n) {
    return check(sqlite3_bind_blob(stmt_, i, p, static_cast<int>(n), SQLITE_STATIC));
  }

  /// True while there is a row.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    sqlite3_reset(stmt_);
    if (rc != SQLITE_DONE) fail(db_, "cannot run \"" + std::string(sqlite3_sql(stmt_)).substr(0, 80) + "\"");
    return false;
  }
  /// Runs a statement that returns no row.
  void run() {
    while (step()) {
    }
    sqlite3_clear_bindings(stmt_);
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  [[nodiscard]] std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  [[nodiscard]] double real(int col) const { return sqlite3_column_double(stmt_, col); }
  [[nodiscard]] bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  [[nodiscard]] std::string_view text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(p),
                                                                static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  [[nodiscard]] std::string_view blob(int col) const {
    const auto* p = sqlite3_column_blob(stmt_, col);
    return p == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(p),
                                                                static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
  }

 private:
  statement& check(int rc) {
    if (rc != SQLITE_OK) fail(db_, "cannot bind a parameter");
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

/// BEGIN IMMEDIATE ... COMMIT, rolled back when left by an exception.
class transaction {
 public:
  explicit transaction(const connection& c) : c_(c) { c_.exec("BEGIN IMMEDIATE"); }
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  ~transaction() {
    if (!done_) sqlite3_exec(c_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    c_.exec("COMMIT");
    done_ = true;
  }

 private:
  const connection& c_;
  bool done_ = false;
};

}  // namespace sqlite

}  // namespace faceapp_web
