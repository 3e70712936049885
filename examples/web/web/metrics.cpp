// faceapp-web's web layer: /metrics (see metrics.hpp).
#include "web/metrics.hpp"

#include <cstdio>

namespace faceapp_web {

namespace {

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", v);
  return text;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

/// The series of one histogram: cumulative buckets, +Inf, sum and count. `labels` is `key="value",` or empty.
void series(std::string& out, const std::string& name, const std::string& labels, const histogram& h) {
  for (std::size_t i = 0; i < histogram::bounds.size(); ++i) {
    out += name + "_bucket{" + labels + "le=\"" + number(histogram::bounds[i]) + "\"} " +
           std::to_string(h.cumulative(i)) + '\n';
  }
  const auto count = h.count();
  out += name + "_bucket{" + labels + "le=\"+Inf\"} " + std::to_string(count) + '\n';
  std::string plain;  // the labels without the trailing comma, braced
  if (!labels.empty()) {
    plain = "{";
    plain.append(labels, 0, labels.size() - 1);
    plain += '}';
  }
  out += name + "_sum" + plain + ' ' + number(h.sum_seconds()) + '\n';
  out += name + "_count" + plain + ' ' + std::to_string(count) + '\n';
}

}  // namespace

std::string_view request_metrics::refusal_reason(int status) noexcept {
  switch (status) {
    case 400: return "malformed";        // a bad form, a field twice, no image
    case 401: case 403: case 421: case 429: return "access";
    case 408: return "too_slow";          // the body did not arrive in time
    case 413: return "too_large";         // body, pixels
    case 415: return "unsupported";       // not an image we read, a compressed body
    case 503: return "busy";              // too many bodies buffered, or the database away
    case 507: return "disk_full";
    default: return {};
  }
}

void request_metrics::observe(std::string_view route, std::string_view method, int status,
                              std::chrono::steady_clock::duration took, bool handled) {
  const std::lock_guard lock(mutex_);
  ++requests_[{std::string(route), status}];
  auto& h = latency_[std::string(route)];
  if (!h) h = std::make_unique<histogram>();
  h->observe(took);
  if (method == "POST") {
    if (const auto reason = refusal_reason(status); !reason.empty()) ++refused_[std::string(reason)];
  }
  if (handled && status == 503) ++store_errors_;  // a handler's 503: the store was away or too far behind
}

std::string request_metrics::render(const face_service& s) const {
  std::string out;
  {
    const std::lock_guard lock(mutex_);
    header(out, "faceapp_http_requests_total", "counter", "Answers sent, by route and status.");
    for (const auto& [key, n] : requests_) {
      out += "faceapp_http_requests_total{route=\"" + key.first + "\",status=\"" + std::to_string(key.second) +
             "\"} " + std::to_string(n) + '\n';
    }
    header(out, "faceapp_http_request_duration_seconds", "histogram",
           "Time from a request's head to its answer, by route.");
    for (const auto& [route, h] : latency_) {
      series(out, "faceapp_http_request_duration_seconds", "route=\"" + route + "\",", *h);
    }
    header(out, "faceapp_uploads_refused_total", "counter", "POST requests refused, by reason.");
    for (const auto& [reason, n] : refused_) {
      out += "faceapp_uploads_refused_total{reason=\"" + reason + "\"} " + std::to_string(n) + '\n';
    }
    header(out, "faceapp_store_errors_total", "counter",
           "Requests answered 503 because the store was unreachable or the gallery too far behind it.");
    out += "faceapp_store_errors_total " + std::to_string(store_errors_) + '\n';
  }
  header(out, "faceapp_stage_duration_seconds", "histogram", "Time of the service's stages, per upload.");
  const auto& stats = s.stats();
  series(out, "faceapp_stage_duration_seconds", "stage=\"detect\",", stats.detect);
  series(out, "faceapp_stage_duration_seconds", "stage=\"encode\",", stats.encode);
  series(out, "faceapp_stage_duration_seconds", "stage=\"scan\",", stats.scan);
  header(out, "faceapp_gallery_faces", "gauge", "Faces in the gallery held in memory.");
  out += "faceapp_gallery_faces " + std::to_string(s.gallery_size()) + '\n';
  header(out, "faceapp_change_feed_lag_seconds", "gauge",
         "Seconds since the gallery last caught up with a shared database (0 without one).");
  out += "faceapp_change_feed_lag_seconds " + number(s.lag_seconds()) + '\n';
  return out;
}

}  // namespace faceapp_web
