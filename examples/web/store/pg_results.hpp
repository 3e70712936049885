// faceapp-web: the records in the PostgreSQL store's results table (results.hpp's columns): appended a batch per
// statement, read back in pages by id. Each runs on a connection the caller holds.
#pragma once

#include <libpq-fe.h>

#include <cstddef>
#include <functional>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <faceapp/stages/record.hpp>

#include "store/pg_db.hpp"
#include "store/results.hpp"

namespace faceapp_web::pg_results {

/// Appends `rows` in one statement (all or none).
inline void insert(PGconn* c, const std::string& url, std::span<const faceapp::record_row> rows) {
  if (rows.empty()) return;
  static constexpr const char* types[] = {"::text",    "::text",    "::integer", "::integer", "::integer",
                                          "::integer", "::integer", "::text",    "::real",    "::integer::boolean"};
  static_assert(std::size(types) == results_columns.size());
  std::string sql = "INSERT INTO results (" + results_column_list() + ") VALUES ";
  std::vector<results_cells> cells;
  cells.reserve(rows.size());
  std::vector<const char*> params;
  params.reserve(rows.size() * results_columns.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    cells.push_back(results_cells_of(rows[i]));
    sql += i == 0 ? "(" : ",(";
    for (std::size_t k = 0; k < results_columns.size(); ++k) {
      sql += (k == 0 ? "$" : ",$") + std::to_string(i * results_columns.size() + k + 1) + types[k];
      params.push_back(cells.back()[k] ? cells.back()[k]->c_str() : nullptr);
    }
    sql += ')';
  }
  pg::run(c, url, sql.c_str(), params);
}

/// Every record with a time at or after `since` (all when empty), in the order they were inserted, through `fn`
/// in batches of CSV lines (csv_sink's format).
inline void read(PGconn* c, const std::string& url, const std::function<void(const std::string&)>& fn,
                 std::string_view since) {
  std::string columns = results_column_list();
  columns.replace(columns.rfind("match"), 5, "match::integer");  // 1 or 0, as results_cells has it
  // Pages by id, one statement each, so that no transaction stays open while a slow client takes a page (the
  // server's idle_in_transaction_session_timeout would end it). The times are all written alike (ISO-8601 UTC to
  // the millisecond): byte order is time order.
  const std::string query = "SELECT id, " + columns + " FROM results WHERE id > $1" +
                            (since.empty() ? "" : " AND time COLLATE \"C\" >= $2") + " ORDER BY id LIMIT 5000";
  const std::string since_text(since);
  std::string after = "0";
  results_cells cells;
  for (;;) {
    const char* params[] = {after.c_str(), since_text.c_str()};
    const auto r = pg::run(c, url, query.c_str(), std::span<const char* const>(params, since.empty() ? 1 : 2));
    const int n = PQntuples(r.get());
    if (n == 0) break;
    std::string text;
    for (int i = 0; i < n; ++i) {
      for (std::size_t k = 0; k < cells.size(); ++k) {
        const int col = static_cast<int>(k) + 1;
        cells[k] = PQgetisnull(r.get(), i, col) != 0 ? std::nullopt
                                                     : std::optional<std::string>(PQgetvalue(r.get(), i, col));
      }
      text += faceapp::csv_sink::format(record_row_of(cells));
    }
    after = PQgetvalue(r.get(), n - 1, 0);
    fn(text);
  }
}

}  // namespace faceapp_web::pg_results
