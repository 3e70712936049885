// faceapp-web's web layer: /metrics in Prometheus' text format (version 0.0.4). Requests by route and status,
// their latency by route, uploads refused by reason and store errors are counted here, from every answer the
// HTTP layer sends; the stages' times come from the service (service/stats.hpp), the gallery's size and the
// change feed's lag from its store.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "service/service.hpp"
#include "service/stats.hpp"

namespace faceapp_web {

class request_metrics {
 public:
  /// One answer: `route` is the route table's name for it ("unmatched" when none), `handled` whether its
  /// handler ran (false: refused before, by the security or HTTP layer).
  void observe(std::string_view route, std::string_view method, int status, std::chrono::steady_clock::duration took,
               bool handled);

  /// The whole scrape.
  [[nodiscard]] std::string render(const face_service& s) const;

  /// Why an upload (a POST) answered `status` was refused, as the label of faceapp_uploads_refused_total; empty
  /// when the status is not a refusal of it.
  static std::string_view refusal_reason(int status) noexcept;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;  // (route, status) -> answers
  std::map<std::string, std::unique_ptr<histogram>> latency_;     // route -> durations
  std::map<std::string, std::uint64_t> refused_;                  // reason -> uploads
  std::uint64_t store_errors_ = 0;
};

}  // namespace faceapp_web
