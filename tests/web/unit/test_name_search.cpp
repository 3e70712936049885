// The name search through the trigram indexes of schema 3 (SQLite FTS5, PostgreSQL pg_trgm) and the keyset pages,
// on a database of schema 2 (written here as faceapp-web wrote it) that the store migrates: every person and
// face is kept, and every search answers what schema 2's scan (LIKE, ILIKE over persons) answers on the same
// rows, for every substring of the test data's names. Searches of 1 and 2 characters count at most
// short_query_count_cap people (checked at it, just below and just above); 3 characters are never capped.
// PostgreSQL runs through tests/web/with_postgres.py (ctest -R web_unit_name_search_postgres), also as a role
// that may not create the extension: the search then works by the scan.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <faceapp/faceapp.hpp>

#include "store/face_store.hpp"
#include "store/sqlite_store.hpp"
#include "keyset_checks.hpp"
#include "test_args.hpp"
#include "test_data.hpp"
#ifdef FACEAPP_WEB_POSTGRESQL
#include "store/pg_store.hpp"
#endif

namespace {

using faceapp_web::page_test::check_keyset;
using faceapp_web::page_test::ids_of;

/// The identities of the test data's manifest, and variants of them a search must tell apart or find: case,
/// spaces, LIKE's wildcards and escape, quotes, and non-ASCII letters (which LIKE does not fold).
std::vector<std::string> test_names() {
  std::set<std::string> ids;
  for (const auto& row : faceapp::test::manifest()) {
    if (!row.identity.empty()) ids.insert(row.identity);
  }
  std::vector<std::string> out(ids.begin(), ids.end());
  for (const auto& id : ids) {
    std::string upper = id;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    out.push_back(upper);
  }
  for (const char* extra : {"Barack Obama", "50%_off", "back\\slash", "say \"cheese\"", "o'brien", "Zoë Élodie",
                            "ZOË ÉLODIE", "zoë élodie", "Ab", "x"}) {
    out.emplace_back(extra);
  }
  return out;
}

/// Every substring of 1 to 5 characters of the names (bytes of a UTF-8 character kept together), each also
/// with its ASCII case flipped, and some that match nothing.
std::vector<std::string> test_queries(const std::vector<std::string>& names) {
  std::set<std::string> out{"zzz", "%", "_", "\\", "\"", "%%%", "é", "É", "ë élo", "q#", "#"};
  for (const auto& name : names) {
    std::vector<std::size_t> starts;
    for (std::size_t i = 0; i < name.size(); ++i) {
      if ((static_cast<unsigned char>(name[i]) & 0xC0U) != 0x80U) starts.push_back(i);
    }
    starts.push_back(name.size());
    for (std::size_t a = 0; a + 1 < starts.size(); ++a) {
      for (std::size_t n = 1; n <= 5 && a + n < starts.size(); ++n) {
        std::string q = name.substr(starts[a], starts[a + n] - starts[a]);
        out.insert(q);
        for (auto& c : q) {
          if (std::isalpha(static_cast<unsigned char>(c)) != 0) c = static_cast<char>(c ^ 0x20);
        }
        out.insert(q);
      }
    }
  }
  return {out.begin(), out.end()};
}

/// Schema 2's search: the ids of the people whose name the scan matches, in id order.
using scan_fn = std::function<std::vector<std::uint64_t>(const std::string& pattern)>;

/// Each query answers the scan's people, total and all, by offset and by keyset pages of 3.
void check_same_as_scan(const faceapp_web::face_store& store, const scan_fn& scan,
                        const std::vector<std::string>& queries) {
  for (const auto& q : queries) {
    CAPTURE(q);
    const auto expected = scan(faceapp_web::like_pattern(q));
    REQUIRE(expected.size() < faceapp_web::short_query_count_cap);
    const auto page = store.list_persons(q, 0, 1000);
    CHECK(ids_of(page) == expected);
    CHECK(page.total == expected.size());
    CHECK_FALSE(page.total_capped);
    CHECK_FALSE(page.next.has_value());
    std::vector<std::uint64_t> walked;
    std::uint64_t after = 0;
    for (int n = 0; n < 1000; ++n) {
      const auto p = store.list_persons_after(q, after, 3);
      CHECK(p.total == expected.size());
      for (const auto id : ids_of(p)) walked.push_back(id);
      if (!p.next) break;
      CHECK(p.people.size() == 3);
      after = *p.next;
    }
    CHECK(walked == expected);
  }
}

/// The count of a 2-character search at short_query_count_cap - 1, at it and at it + 1 people (`add_many(k)`
/// adds k people named "q#-NNNN", N from 0); 3 characters count them all.
void check_cap(faceapp_web::face_store& store, const std::function<void(std::uint64_t)>& add_many) {
  constexpr auto cap = faceapp_web::short_query_count_cap;
  add_many(cap - 1);
  auto p = store.list_persons("q#", 0, 5);
  CHECK(p.total == cap - 1);
  CHECK_FALSE(p.total_capped);
  CHECK(p.people.size() == 5);
  CHECK(p.next == p.people.back().id);
  store.create_person("q#-9998");
  p = store.list_persons("Q#", 0, 5);
  CHECK(p.total == cap);
  CHECK_FALSE(p.total_capped);
  store.create_person("q#-9999");
  p = store.list_persons("q#", 0, 5);
  CHECK(p.total == cap);
  CHECK(p.total_capped);
  CHECK(p.people.size() == 5);
  CHECK(store.list_persons("#", 0, 5).total_capped);
  p = store.list_persons("Q#-", 0, 5);  // 3 characters: the index, every match counted
  CHECK(p.total == cap + 1);
  CHECK_FALSE(p.total_capped);
  CHECK(store.list_persons("#-9", 0, 5).total == 2);
  // The last page of a capped search by keyset: every person is reachable past the count's cap.
  std::uint64_t after = 0;
  std::uint64_t seen = 0;
  for (;;) {
    const auto page = store.list_persons_after("q#", after, 1000);
    seen += page.people.size();
    if (!page.next) break;
    after = *page.next;
  }
  CHECK(seen == cap + 1);
}

/// Real encodings of four photos, for faces the schema-2 database holds.
std::vector<faceapp::encoding> test_encodings() {
  std::vector<faceapp::encoding> out;
  for (const char* file : {"obama_1.jpg", "penny_1.png", "biden_1.jpg", "penny_2.png"}) {
    const auto pipeline = faceapp::read | faceapp::detect(faceapp::hog) | faceapp::encode;
    auto r = pipeline(faceapp::test::data_file(std::string("faces/") + file).string());
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    out.push_back((*r)[0].encoding);
  }
  return out;
}

/// Schema 2 as faceapp-web wrote it on SQLite: schema 1, then its upgrade.
constexpr const char* sqlite_schema_2 =
    "CREATE TABLE schema_version (version INTEGER NOT NULL);"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE people (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, added TEXT NOT NULL);"
    "CREATE TABLE encodings (person_id INTEGER PRIMARY KEY, encoding BLOB NOT NULL);"
    "CREATE TABLE boxes (person_id INTEGER PRIMARY KEY, box_top INTEGER NOT NULL, box_right INTEGER NOT NULL, "
    "  box_bottom INTEGER NOT NULL, box_left INTEGER NOT NULL);"
    "CREATE TABLE sources (person_id INTEGER PRIMARY KEY, source TEXT NOT NULL);"
    "CREATE TABLE thumbnails (person_id INTEGER PRIMARY KEY, jpeg BLOB NOT NULL);"
    "INSERT INTO schema_version (version) VALUES (1);"
    "CREATE TABLE persons (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);"
    "ALTER TABLE people ADD COLUMN person_id INTEGER;"
    "CREATE INDEX persons_name ON persons (name);"
    "CREATE INDEX people_person ON people (person_id);"
    "UPDATE schema_version SET version = 2;";

struct sqlite_db {
  sqlite3* db = nullptr;
  explicit sqlite_db(const std::filesystem::path& file) { REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK); }
  sqlite_db(const sqlite_db&) = delete;
  sqlite_db& operator=(const sqlite_db&) = delete;
  ~sqlite_db() { sqlite3_close(db); }
  void exec(const std::string& sql) const {
    char* error = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    const std::string message = error != nullptr ? error : "";
    sqlite3_free(error);
    REQUIRE_MESSAGE(rc == SQLITE_OK, message);
  }
  [[nodiscard]] std::vector<std::int64_t> column(const std::string& sql, const std::string& text = {}) const {
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
    if (!text.empty()) sqlite3_bind_text(s, 1, text.c_str(), -1, SQLITE_TRANSIENT);
    std::vector<std::int64_t> out;
    while (sqlite3_step(s) == SQLITE_ROW) out.push_back(sqlite3_column_int64(s, 0));
    sqlite3_finalize(s);
    return out;
  }
};

std::string quoted(const std::string& text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

}  // namespace

TEST_CASE("SQLite: a schema-2 database is migrated; the FTS5 search answers what the scan did; keyset pages") {
  const faceapp::test::scratch_dir dir("web_unit_name_search");
  const auto names = test_names();
  const auto encodings = test_encodings();
  const auto file = dir.dir / "faceapp.db";
  {
    const sqlite_db db(file);
    db.exec(sqlite_schema_2);
    db.exec("BEGIN");
    for (std::size_t i = 0; i < names.size(); ++i) {  // ids with gaps: people deleted before
      db.exec("INSERT INTO persons (id, name) VALUES (" + std::to_string(3 * i + 1) + ", " + quoted(names[i]) + ")");
    }
    for (std::size_t i = 0; i < encodings.size(); ++i) {
      const auto id = std::to_string(i + 1);
      const auto person = 3 * i + 1;
      db.exec("INSERT INTO people (id, name, added, person_id) VALUES (" + id + ", " + quoted(names[i]) +
              ", '2026-01-01T00:00:00Z', " + std::to_string(person) + ")");
      sqlite3_stmt* s = nullptr;
      REQUIRE(sqlite3_prepare_v2(db.db, "INSERT INTO encodings (person_id, encoding) VALUES (?, ?)", -1, &s,
                                 nullptr) == SQLITE_OK);
      sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(i + 1));
      sqlite3_bind_blob(s, 2, encodings[i].data(), 512, SQLITE_TRANSIENT);
      CHECK(sqlite3_step(s) == SQLITE_DONE);
      sqlite3_finalize(s);
      db.exec("INSERT INTO sources (person_id, source) VALUES (" + id + ", 'test')");
    }
    db.exec("COMMIT");
  }
  faceapp_web::face_store store(dir.dir);
  const sqlite_db db(file);
  CHECK(db.column("SELECT max(version) FROM schema_version").at(0) == faceapp_web::sqlite_store::schema_version);
  // Every person and face kept; the index holds every name.
  const auto all = store.list_persons("", 0, 1000);
  REQUIRE(all.total == names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    CHECK(all.people[i].id == 3 * i + 1);
    CHECK(all.people[i].name == names[i]);
    CHECK(all.people[i].face_count == (i < encodings.size() ? 1U : 0U));
  }
  CHECK(store.size() == encodings.size());
  for (std::size_t i = 0; i < encodings.size(); ++i) {
    const auto hit = store.snapshot()->nearest(encodings[i]);
    REQUIRE(hit);
    CHECK(hit->key == i + 1);
  }
  CHECK(db.column("SELECT count(*) FROM persons_fts WHERE persons_fts MATCH '\"ama\"'").at(0) ==
        db.column("SELECT count(*) FROM persons WHERE name LIKE '%ama%'").at(0));

  const auto scan = [&](const std::string& pattern) {
    std::vector<std::uint64_t> out;
    for (const auto id : db.column("SELECT id FROM persons WHERE name LIKE ?1 ESCAPE '\\' ORDER BY id", pattern)) {
      out.push_back(static_cast<std::uint64_t>(id));
    }
    return out;
  };
  const auto queries = test_queries(names);
  check_same_as_scan(store, scan, queries);
  // The index follows a rename, a merge and a delete.
  const auto obama = store.list_persons("Barack Obama", 0, 10);
  REQUIRE(obama.people.size() == 1);
  REQUIRE(store.rename_person(obama.people[0].id, "Michelle Obama"));
  REQUIRE(store.merge_persons(all.people[2].id, all.people[3].id));
  REQUIRE(store.remove_person(all.people[1].id));
  store.create_person("Élodie Barack");
  check_same_as_scan(store, scan, queries);
  CHECK(store.list_persons("Michelle", 0, 10).total == 1);
  CHECK(store.list_persons("Barack Obama", 0, 10).total == 0);

  check_keyset(store, encodings);
  check_cap(store, [&](std::uint64_t k) {
    db.exec("BEGIN");
    for (std::uint64_t i = 0; i < k; ++i) {
      db.exec("INSERT INTO persons (name) VALUES ('q#-" + std::string(4 - std::to_string(i).size(), '0') +
              std::to_string(i) + "')");
    }
    db.exec("COMMIT");
  });
}

#ifdef FACEAPP_WEB_POSTGRESQL
namespace {

/// Schema 2 as faceapp-web wrote it on PostgreSQL: schema 1, then its upgrade.
constexpr const char* pg_schema_2 =
    "CREATE TABLE schema_version (version integer NOT NULL);"
    "CREATE SEQUENCE people_id_seq;"
    "CREATE SEQUENCE change_seq;"
    "CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL, added text NOT NULL, "
    "  source text NOT NULL, box_top integer, box_right integer, box_bottom integer, box_left integer, "
    "  encoding bytea NOT NULL CHECK (length(encoding) = 512), thumbnail bytea);"
    "CREATE TABLE changes (seq bigint PRIMARY KEY, kind char(1) NOT NULL "
    "  CHECK (kind IN ('a', 'd')), person_id bigint NOT NULL);"
    "CREATE TABLE results (id bigserial PRIMARY KEY, time text NOT NULL, input text NOT NULL, "
    "  face integer, box_top integer, box_right integer, box_bottom integer, box_left integer, "
    "  name text NOT NULL, distance real, match boolean);"
    "INSERT INTO schema_version (version) VALUES (1);"
    "CREATE SEQUENCE persons_id_seq;"
    "CREATE TABLE persons (id bigint PRIMARY KEY, name text NOT NULL);"
    "ALTER TABLE people ADD COLUMN person_id bigint NOT NULL;"
    "CREATE INDEX persons_name ON persons (name);"
    "CREATE INDEX people_person ON people (person_id);"
    "ALTER TABLE changes DROP CONSTRAINT IF EXISTS changes_kind_check;"
    "ALTER TABLE changes ADD CONSTRAINT changes_kind_check CHECK (kind IN ('a', 'd', 'n'));"
    "INSERT INTO schema_version (version) VALUES (2)";

/// A schema-2 database at `url` holding the test names (ids with gaps) and faces of four of them.
void make_pg_schema_2(const std::string& url, const std::vector<std::string>& names,
                      const std::vector<faceapp::encoding>& encodings) {
  auto c = faceapp_web::pg::connect(url);
  faceapp_web::pg::run_script(c.get(), url, pg_schema_2);
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto id = std::to_string(3 * i + 1);
    const char* params[] = {id.c_str(), names[i].c_str()};
    faceapp_web::pg::run(c.get(), url, "INSERT INTO persons (id, name) VALUES ($1::bigint, $2)", params);
  }
  faceapp_web::pg::run(c.get(), url, "SELECT setval('persons_id_seq', (SELECT max(id) FROM persons) + 1, false)");
  for (std::size_t i = 0; i < encodings.size(); ++i) {
    const auto id = std::to_string(i + 1);
    const auto person = std::to_string(3 * i + 1);
    const char* params[] = {id.c_str(), names[i].c_str(), reinterpret_cast<const char*>(encodings[i].data()),
                            person.c_str()};
    const int lengths[] = {0, 0, 512, 0};
    const int formats[] = {0, 0, 1, 0};
    faceapp_web::pg::run(c.get(), url,
                         "INSERT INTO people (id, name, added, source, encoding, person_id) VALUES ($1::bigint, $2, "
                         "'2026-01-01T00:00:00Z', 'test', $3::bytea, $4::bigint)",
                         params, lengths, formats);
    faceapp_web::pg::run(c.get(), url,
                         "INSERT INTO changes (seq, kind, person_id) VALUES (nextval('change_seq'), 'a', $1::bigint)",
                         std::span<const char* const>(params, 1));
  }
  faceapp_web::pg::run(c.get(), url, "SELECT setval('people_id_seq', (SELECT max(id) FROM people))");
}

void check_pg(const std::string& url, bool indexed) {
  const auto names = test_names();
  const auto encodings = test_encodings();
  make_pg_schema_2(url, names, encodings);
  faceapp_web::face_store store(std::make_unique<faceapp_web::pg_store>(url));
  auto c = faceapp_web::pg::connect(url);
  const auto one = [&](const char* sql) {
    const auto r = faceapp_web::pg::run(c.get(), url, sql);
    return std::string(PQgetvalue(r.get(), 0, 0));
  };
  CHECK(one("SELECT max(version) FROM schema_version") == std::to_string(faceapp_web::pg::schema_version));
  CHECK(one("SELECT count(*) FROM pg_class WHERE relname = 'persons_name_trgm'") == (indexed ? "1" : "0"));
  const auto all = store.list_persons("", 0, 1000);
  REQUIRE(all.total == names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    CHECK(all.people[i].id == 3 * i + 1);
    CHECK(all.people[i].name == names[i]);
    CHECK(all.people[i].face_count == (i < encodings.size() ? 1U : 0U));
  }
  CHECK(store.size() == encodings.size());
  for (std::size_t i = 0; i < encodings.size(); ++i) {
    const auto hit = store.snapshot()->nearest(encodings[i]);
    REQUIRE(hit);
    CHECK(hit->key == i + 1);
  }
  if (indexed) {  // the planner takes the index for a 3-character search when scans are made dear
    faceapp_web::pg::run(c.get(), url, "SET enable_seqscan = off");
    const auto plan = faceapp_web::pg::run(c.get(), url, "EXPLAIN SELECT id FROM persons WHERE name ILIKE '%enn%'");
    std::string text;
    for (int i = 0; i < PQntuples(plan.get()); ++i) text += PQgetvalue(plan.get(), i, 0);
    CHECK_MESSAGE(text.find("persons_name_trgm") != std::string::npos, text);
    faceapp_web::pg::run(c.get(), url, "RESET enable_seqscan");
  }
  const scan_fn scan = [&](const std::string& pattern) {
    const char* params[] = {pattern.c_str()};
    const auto r = faceapp_web::pg::run(c.get(), url, "SELECT id FROM persons WHERE name ILIKE $1 ORDER BY id", params);
    std::vector<std::uint64_t> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(std::stoull(PQgetvalue(r.get(), i, 0)));
    return out;
  };
  check_same_as_scan(store, scan, test_queries(names));
  check_keyset(store, encodings);
  check_cap(store, [&](std::uint64_t k) {
    const auto n = std::to_string(k - 1);
    const char* params[] = {n.c_str()};
    faceapp_web::pg::run(c.get(), url,
                         "INSERT INTO persons (id, name) SELECT nextval('persons_id_seq'), 'q#-' || lpad(i::text, 4, '0') "
                         "FROM generate_series(0, $1::int) i",
                         params);
  });
}

}  // namespace
#endif

TEST_CASE("PostgreSQL: a schema-2 database is migrated; the pg_trgm search answers what the scan did; keyset pages") {
#ifdef FACEAPP_WEB_POSTGRESQL
  const auto& args = faceapp::test::args();
  if (args.empty()) {
    MESSAGE("no database URL given: run through tests/web/with_postgres.py (ctest -R web_unit_name_search_postgres)");
    return;
  }
  check_pg(args.front(), true);
#else
  MESSAGE("built without libpq: no PostgreSQL store");
#endif
}

TEST_CASE("PostgreSQL: a role that may not create pg_trgm gets the same answers by the scan") {
#ifdef FACEAPP_WEB_POSTGRESQL
  const auto& args = faceapp::test::args();
  if (args.empty()) {
    MESSAGE("no database URL given: run through tests/web/with_postgres.py (ctest -R web_unit_name_search_postgres)");
    return;
  }
  // A database of its own, owned by a role without the CREATE privilege on it (which a trusted extension needs).
  const std::string& url = args.front();
  const auto slash = url.rfind('/');
  const auto at = url.find('@');
  REQUIRE(slash != std::string::npos);
  REQUIRE(at != std::string::npos);
  {
    auto c = faceapp_web::pg::connect(url);
    faceapp_web::pg::run(c.get(), url, "CREATE ROLE plain LOGIN");
    faceapp_web::pg::run(c.get(), url, "CREATE DATABASE noext");
    faceapp_web::pg::run(c.get(), url, "REVOKE CREATE ON DATABASE noext FROM PUBLIC");
    faceapp_web::pg::run(c.get(), url, "GRANT CONNECT ON DATABASE noext TO plain");
  }
  const std::string admin_url = url.substr(0, slash) + "/noext";
  {
    auto c = faceapp_web::pg::connect(admin_url);
    faceapp_web::pg::run(c.get(), admin_url, "GRANT USAGE, CREATE ON SCHEMA public TO plain");
  }
  const std::string plain_url = url.substr(0, url.find("://") + 3) + "plain" + url.substr(at, slash - at) + "/noext";
  check_pg(plain_url, false);
#else
  MESSAGE("built without libpq: no PostgreSQL store");
#endif
}
