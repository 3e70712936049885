// The records as rows of the results table: one mapping, both stores. Rows written through each store read
// back as the CSV lines the `record` stage writes for them (faceapp::csv_sink::format of the rows written).
// PostgreSQL: run through tests/web/with_postgres.py, which starts a throwaway cluster and passes its URL.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "store/results.hpp"
#include "store/sqlite_store.hpp"
#include "test_args.hpp"
#include "test_data.hpp"
#ifdef FACEAPP_WEB_POSTGRESQL
#include "store/pg_store.hpp"
#endif

namespace {

std::vector<faceapp::record_row> sample_rows() {
  std::vector<faceapp::record_row> rows;
  faceapp::record_row full;
  full.time = "2026-12-01T21:00:00.123Z";
  full.input = "sha256:ab (obama_1.jpg)";
  full.face = 0;
  full.box = faceapp::box{68, 211, 175, 103};
  full.name = "Barack Obama";
  full.distance = 0.3712345F;
  full.match = true;
  rows.push_back(full);

  faceapp::record_row none;  // an image without a face: empty face cells
  none.time = "2026-12-01T21:00:01.000Z";
  none.input = "sha256:cd (dogs.jpg) vs sha256:ab (obama_1.jpg)";
  rows.push_back(none);

  faceapp::record_row edge = full;  // just over the default tolerance, at the edges of the integers
  edge.face = 99;
  edge.box = faceapp::box{0, 2147483647, -1, -2147483647};
  edge.name = "=Smith, \"Jane\"; x";  // a formula, a separator and quotes: the CSV defuses and quotes them
  edge.distance = 0.6000001F;
  edge.match = false;
  rows.push_back(edge);

  faceapp::record_row unknown = full;  // a face with no gallery to compare with
  unknown.name.clear();
  unknown.distance.reset();
  unknown.match.reset();
  unknown.input = "sha256:ef (Zoë.png)";
  rows.push_back(unknown);
  return rows;
}

std::string expected_csv(const std::vector<faceapp::record_row>& rows) {
  std::string out;
  for (const auto& r : rows) out += faceapp::csv_sink::format(r);
  return out;
}

std::string read_back(const faceapp_web::results_store& store) {
  std::string out;
  store.read_results([&](const std::string& lines) { out += lines; });
  return out;
}

void check_store(faceapp_web::results_store& store) {
  const auto rows = sample_rows();
  CHECK(read_back(store).empty());
  store.insert_results(rows);
  CHECK(read_back(store) == expected_csv(rows));
  store.insert_results(std::span(rows).subspan(1, 1));  // appended, in order
  auto twice = rows;
  twice.push_back(rows[1]);
  CHECK(read_back(store) == expected_csv(twice));
  store.insert_results({});  // nothing to insert: nothing changes
  CHECK(read_back(store) == expected_csv(twice));

  // since: a record exactly at it is in, one a millisecond or a second before it is out (rows 1 and 3 are at
  // .123, rows 2 and 4 a second later, at 21:00:01.000)
  const auto since = [&](std::string_view t) {
    std::string out;
    store.read_results([&](const std::string& lines) { out += lines; }, t);
    return out;
  };
  const std::vector<faceapp::record_row> later{rows[1], rows[1]};
  CHECK(since("2026-12-01T21:00:00.123Z") == expected_csv(twice));
  CHECK(since("2026-12-01T21:00:00.124Z") == expected_csv(later));
  CHECK(since("2026-12-01T21:00:01.000Z") == expected_csv(later));
  CHECK(since("2026-12-01T21:00:01.001Z").empty());
  CHECK(since("2026-12-01T21:00:00.000Z") == expected_csv(twice));  // the second before the later ones
}

}  // namespace

TEST_CASE("a record's cells read back as the same record, exactly") {
  for (const auto& r : sample_rows()) {
    CAPTURE(r.input);
    const auto back = faceapp_web::record_row_of(faceapp_web::results_cells_of(r));
    CHECK(back.time == r.time);
    CHECK(back.input == r.input);
    CHECK(back.face == r.face);
    CHECK(back.box == r.box);
    CHECK(back.name == r.name);
    CHECK(back.distance == r.distance);  // the same float, not a rounded one
    CHECK(back.match == r.match);
  }
}

TEST_CASE("a cell that is not a whole number is an error naming its column") {
  faceapp_web::results_cells c = faceapp_web::results_cells_of(sample_rows()[0]);
  c[2] = "1x";
  CHECK_THROWS_WITH(faceapp_web::record_row_of(c), doctest::Contains("face"));
}

TEST_CASE("the results mapping on SQLite") {
  const faceapp::test::scratch_dir dir("web_unit_results");
  faceapp_web::sqlite_store store(dir.dir / "faceapp.db", faceapp_web::sqlite_store::at_file{});
  check_store(store);
}

TEST_CASE("the results mapping on PostgreSQL") {
#ifdef FACEAPP_WEB_POSTGRESQL
  const auto& args = faceapp::test::args();
  if (args.empty()) {
    MESSAGE("no database URL given: run through tests/web/with_postgres.py (ctest -R web_unit_results_postgres)");
    return;
  }
  faceapp_web::pg_store store(args.front());
  check_store(store);
#else
  MESSAGE("built without libpq: no PostgreSQL store");
#endif
}
