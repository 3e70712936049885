// The records' `since`: the ISO-8601 UTC forms it takes, in the records' own form, each field at its bounds; a
// fraction finer than the records' milliseconds rounds up, so "at or after" keeps its meaning.
#include <doctest/doctest.h>

#include <string>

#include "service/errors.hpp"
#include "service/service.hpp"

using faceapp_web::parse_since;

TEST_CASE("since takes a date, or a date and time in UTC, and gives the records' form") {
  CHECK(parse_since("2026-12-01") == "2026-12-01T00:00:00.000Z");
  CHECK(parse_since("2026-12-01T10:00Z") == "2026-12-01T10:00:00.000Z");
  CHECK(parse_since("2026-12-01T10:00:05Z") == "2026-12-01T10:00:05.000Z");
  CHECK(parse_since("2026-12-01T10:00:05.153Z") == "2026-12-01T10:00:05.153Z");
  CHECK(parse_since("2026-12-01T10:00:05.15+00:00") == "2026-12-01T10:00:05.150Z");
  CHECK(parse_since("2026-12-01T23:59:59.999Z") == "2026-12-01T23:59:59.999Z");
  CHECK(parse_since("2024-02-29T00:00:00Z") == "2024-02-29T00:00:00.000Z");
  // finer than a millisecond: up to the next one (a record at .153 is before .1531)
  CHECK(parse_since("2026-12-01T10:00:05.1531Z") == "2026-12-01T10:00:05.154Z");
  CHECK(parse_since("2026-12-01T10:00:05.1530000Z") == "2026-12-01T10:00:05.153Z");
  CHECK(parse_since("2026-12-31T23:59:59.9999Z") == "2027-01-01T00:00:00.000Z");
}

TEST_CASE("since refuses what is not a UTC time, naming the value") {
  for (const char* bad : {"", "bad", "2026-13-01", "2026-00-10", "2026-02-29", "2026-12-32", "2026-12-01T24:00Z",
                          "2026-12-01T10:60Z", "2026-12-01T10:00:60Z", "2026-12-01T10:00:00", "2026-12-01T10:00:00+01:00",
                          "2026-12-01T10:00:00.Z", "2026-12-01T10Z", "2026/12/01", "2026-12-01T10:00:00Zjunk",
                          "12026-01-01"}) {
    CAPTURE(bad);
    try {
      (void)parse_since(bad);
      FAIL("accepted");
    } catch (const faceapp_web::service_error& e) {
      CHECK(e.code == faceapp_web::errc::bad_input);
      CHECK(std::string(e.what()).find("since must be an ISO-8601 UTC time") != std::string::npos);
    }
  }
}
