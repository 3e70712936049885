// /metrics' parts: the histogram's buckets at their bounds (Prometheus' `le` is "at most"), the route names it
// labels with, and the reasons an upload is refused for.
#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <string>

#include "service/stats.hpp"
#include "web/metrics.hpp"
#include "web/route_table.hpp"

using faceapp_web::histogram;
using namespace std::chrono_literals;

TEST_CASE("a duration exactly at a bucket's bound is in that bucket, a nanosecond more in the next") {
  histogram h;
  h.observe(5ms);                          // bounds[2] == 0.005
  CHECK(h.cumulative(1) == 0);             // le 0.0025
  CHECK(h.cumulative(2) == 1);             // le 0.005
  h.observe(5ms + 1ns);
  CHECK(h.cumulative(2) == 1);
  CHECK(h.cumulative(3) == 2);             // le 0.01
  h.observe(30s + 1ns);                    // above the last bound: in +Inf only
  CHECK(h.cumulative(histogram::bounds.size() - 1) == 2);
  CHECK(h.count() == 3);
  CHECK(h.sum_seconds() == doctest::Approx(30.010).epsilon(1e-6));
}

TEST_CASE("every route has its own label; unmatched requests share one") {
  using faceapp_web::route;
  std::set<std::string> names;
  for (int r = static_cast<int>(route::main_page); r <= static_cast<int>(route::api_search); ++r) {
    CHECK(names.insert(std::string(faceapp_web::route_name(static_cast<route>(r)))).second);
  }
  CHECK(faceapp_web::route_name(route::none) == "unmatched");
  CHECK(faceapp_web::route_name(route::wrong_method) == "unmatched");
  CHECK(faceapp_web::match_route("GET", "/metrics").what == route::metrics);
  CHECK(faceapp_web::match_route("HEAD", "/healthz").what == route::healthz);
  CHECK(faceapp_web::match_route("POST", "/readyz").what == route::wrong_method);
}

TEST_CASE("an upload's refusal is labelled by why; a success or a wrong method is no refusal") {
  using faceapp_web::request_metrics;
  CHECK(request_metrics::refusal_reason(413) == "too_large");
  CHECK(request_metrics::refusal_reason(415) == "unsupported");
  CHECK(request_metrics::refusal_reason(400) == "malformed");
  CHECK(request_metrics::refusal_reason(429) == "access");
  CHECK(request_metrics::refusal_reason(503) == "busy");
  CHECK(request_metrics::refusal_reason(201).empty());
  CHECK(request_metrics::refusal_reason(405).empty());
}
