// What faceapp-web makes of a --db postgresql:// URL before it connects: a password in it is refused (with where
// to put it instead), sslmode is verify-full off this machine unless the URL or PGSSLMODE says otherwise, and
// every session's waits are bounded.
#include <doctest/doctest.h>

#ifdef FACEAPP_WEB_POSTGRESQL

#include <cstdlib>
#include <string>

#include "store/pg_db.hpp"

namespace pg = faceapp_web::pg;

TEST_CASE("a password in --db is refused, pointing at .pgpass and PGPASSFILE, without echoing it") {
  ::unsetenv("PGSSLMODE");
  ::unsetenv("PGHOST");
  for (const char* url : {"postgresql://faceapp:hunter2@db.example.org/faceapp",
                          "postgresql://faceapp@127.0.0.1/faceapp?password=hunter2",
                          "postgres://faceapp:hunter2@[::1]:5432/faceapp"}) {
    CAPTURE(url);
    const auto s = pg::settings_of(url);
    REQUIRE(s.problem);
    CHECK(s.problem->find(".pgpass") != std::string::npos);
    CHECK(s.problem->find("PGPASSFILE") != std::string::npos);
    CHECK(s.problem->find("hunter2") == std::string::npos);
  }
  CHECK(pg::settings_of("postgresql://faceapp@%2Fnowhere/faceapp?foo=bar").problem);  // libpq cannot read it
}

TEST_CASE("sslmode is verify-full off this machine, and not forced on loopback or a socket") {
  ::unsetenv("PGSSLMODE");
  ::unsetenv("PGHOST");
  const struct {
    const char* url;
    const char* sslmode;
  } table[] = {
      {"postgresql://faceapp@db.example.org/faceapp", "verify-full"},
      {"postgresql://faceapp@192.0.2.10:5432/faceapp", "verify-full"},
      {"postgresql://faceapp@127.0.0.1:5432/faceapp", ""},
      {"postgresql://faceapp@127.1.2.3/faceapp", ""},
      {"postgresql://faceapp@localhost/faceapp", ""},
      {"postgresql://faceapp@[::1]:5432/faceapp", ""},
      {"postgresql://faceapp@%2Fvar%2Frun%2Fpostgresql/faceapp", ""},  // a Unix socket directory
      {"postgresql:///faceapp", ""},                                     // the default socket
      {"postgresql://faceapp@127.0.0.1,db.example.org/faceapp", "verify-full"},  // one host is remote
      {"postgresql://faceapp@db.example.org/faceapp?sslmode=require", ""},       // the URL decides
  };
  for (const auto& row : table) {
    CAPTURE(row.url);
    const auto s = pg::settings_of(row.url);
    CHECK_FALSE(s.problem);
    CHECK(s.sslmode == row.sslmode);
  }
  ::setenv("PGSSLMODE", "disable", 1);  // the environment decides too
  CHECK(pg::settings_of("postgresql://faceapp@db.example.org/faceapp").sslmode.empty());
  ::unsetenv("PGSSLMODE");
  ::setenv("PGHOST", "db.example.org", 1);  // no host in the URL: libpq takes PGHOST's
  CHECK(pg::settings_of("postgresql:///faceapp").sslmode == "verify-full");
  ::unsetenv("PGHOST");
}

TEST_CASE("every session bounds its waits, and the lock wait stays well under the 10 s an add may take") {
  const auto o = pg::session_options();
  CHECK(o.find("-c lock_timeout=2000") != std::string::npos);
  CHECK(o.find("-c statement_timeout=8000") != std::string::npos);
  CHECK(o.find("-c idle_in_transaction_session_timeout=10000") != std::string::npos);
  // An add waits for the lock after its detection and encoding: the lock's share must leave room for them.
  CHECK(pg::lock_timeout_ms * 4 <= 10000);
  CHECK(pg::lock_timeout_ms < pg::statement_timeout_ms);  // the lock gives up first, with its own error
  CHECK(pg::connect_timeout_s * 1000 < 10000);
}

#endif
