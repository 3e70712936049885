// The body of POST /api/search and its bounds, with limits other than the defaults (the flags' values reach the
// check): the count of encodings and k at, below and above each limit; values named by encoding and index.
#include <doctest/doctest.h>

#include <string>

#include "service/errors.hpp"
#include "service/service.hpp"
#include "web/search_request.hpp"

namespace {

std::string encoding_text(std::size_t n, const std::string& value = "0.25") {
  std::string out = "[";
  for (std::size_t i = 0; i < n; ++i) {
    if (i != 0) out += ',';
    out += value;
  }
  out += ']';
  return out;
}

std::string body(std::size_t encodings, const std::string& k) {
  std::string out = "{\"encodings\": [";
  for (std::size_t i = 0; i < encodings; ++i) {
    if (i != 0) out += ',';
    out += encoding_text(128);
  }
  out += ']';
  if (!k.empty()) out += ", \"k\": " + k;
  out += '}';
  return out;
}

std::string error_of(const std::string& text, const faceapp_web::service_options& o) {
  try {
    faceapp_web::parse_search_request(text, o);
  } catch (const faceapp_web::service_error& e) {
    CHECK(e.code == faceapp_web::errc::bad_input);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a search holds from 1 to max_search_encodings encodings and asks for k from 1 to max_search_k") {
  faceapp_web::service_options o;
  o.max_search_encodings = 3;
  o.max_search_k = 7;
  CHECK(faceapp_web::parse_search_request(body(3, "7"), o).encodings.size() == 3);
  CHECK(faceapp_web::parse_search_request(body(1, "1"), o).k == 1);
  CHECK(faceapp_web::parse_search_request(body(2, ""), o).k == 1);  // absent: 1
  CHECK(error_of(body(4, "1"), o).find("holds 4 encodings, more than the limit of 3") != std::string::npos);
  CHECK(error_of(body(0, "1"), o).find("empty") != std::string::npos);
  CHECK(error_of(body(1, "8"), o).find("\"k\" must be from 1 to 7, not 8") != std::string::npos);
  CHECK(error_of(body(1, "0"), o).find("not 0") != std::string::npos);
  CHECK(error_of(body(1, "-3"), o).find("not -3") != std::string::npos);
  CHECK(error_of(body(1, "2.5"), o).find("\"k\" is not a whole number") != std::string::npos);
  // Beyond int64 the message names the number sent, not a clamped one.
  CHECK(error_of(body(1, "18446744073709551615"), o).find("not 18446744073709551615") != std::string::npos);
}

TEST_CASE("a body over max_search_body is too large before it is parsed; one exactly at it is read") {
  faceapp_web::service_options o;
  o.max_search_encodings = 2;
  const std::size_t limit = faceapp_web::max_search_body(o);
  CHECK(limit == 2 * 128 * 64 + 4096);
  const auto padded = [&](std::size_t size) {  // valid JSON of that many bytes: spaces before the last brace
    auto text = body(1, "1");
    text.insert(text.size() - 1, size - text.size(), ' ');
    return text;
  };
  CHECK(faceapp_web::parse_search_request(padded(limit - 1), o).encodings.size() == 1);
  CHECK(faceapp_web::parse_search_request(padded(limit), o).encodings.size() == 1);
  try {
    faceapp_web::parse_search_request(padded(limit + 1), o);
    FAIL("a body one byte over the limit was read");
  } catch (const faceapp_web::service_error& e) {
    CHECK(e.code == faceapp_web::errc::too_large);
    CHECK(std::string(e.what()).find(std::to_string(limit + 1) + " bytes, more than " + std::to_string(limit)) !=
          std::string::npos);
  }
}

TEST_CASE("each encoding has exactly 128 finite numbers; a bad one is named by encoding and index") {
  const faceapp_web::service_options o;
  const auto two = [](const std::string& second) {
    return "{\"encodings\": [" + encoding_text(128) + "," + second + "]}";
  };
  const auto r = faceapp_web::parse_search_request(two(encoding_text(128, "-0.5")), o);
  REQUIRE(r.encodings.size() == 2);
  CHECK(r.encodings[0][127] == 0.25F);
  CHECK(r.encodings[1][0] == -0.5F);
  CHECK(error_of(two(encoding_text(127)), o) == "encodings[1] has 127 values, expected 128");
  CHECK(error_of(two(encoding_text(129)), o) == "encodings[1] has 129 values, expected 128");
  std::string text = encoding_text(128);
  text.replace(text.find("0.25"), 4, "\"a\"");
  CHECK(error_of(two(text), o) == "encodings[1][0] is not a number");
  text = encoding_text(128);
  text.replace(text.rfind("0.25"), 4, "1e39");  // a double, but no float
  CHECK(error_of(two(text), o) == "encodings[1][127] is not a finite 32-bit number");
  text = encoding_text(128);
  text.replace(text.rfind("0.25"), 4, "3.4e38");  // the largest floats are fine
  CHECK(error_of(two(text), o).empty());
  CHECK(error_of(two("NaN"), o).find("not valid JSON") != std::string::npos);
  CHECK(error_of(two("\"x\""), o) == "encodings[1] is not an array of 128 numbers");
  CHECK(error_of("[]", o).find("not a JSON object") != std::string::npos);
  CHECK(error_of("{\"k\": 1}", o).find("missing \"encodings\"") != std::string::npos);
}
