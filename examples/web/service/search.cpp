// faceapp-web's service layer: the search by encoding (see service.hpp), for clients that encode at the edge
// (`faceapp encode`, the Python module) and send only the 128 numbers of each face.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "service/service.hpp"

namespace faceapp_web {

void check_search_bounds(std::size_t encodings, std::int64_t k, const service_options& o) {
  if (encodings == 0) throw service_error(errc::bad_input, "\"encodings\" is empty: send at least one encoding");
  if (encodings > o.max_search_encodings) {
    throw service_error(errc::bad_input, "\"encodings\" holds " + std::to_string(encodings) +
                                             " encodings, more than the limit of " +
                                             std::to_string(o.max_search_encodings) + " per request");
  }
  if (k < 1 || static_cast<std::uint64_t>(k) > o.max_search_k) {
    throw service_error(errc::bad_input, "\"k\" must be from 1 to " + std::to_string(o.max_search_k) + ", not " +
                                             std::to_string(k));
  }
}

std::vector<std::vector<search_hit>> face_service::search_encodings(std::vector<faceapp::encoding> queries,
                                                                    std::int64_t k) {
  check_search_bounds(queries.size(), k, options_);
  // One job on the worker pool: every query in one pass over the gallery (top_k_each), never on an HTTP thread.
  return pool_
      .submit([this, queries = std::move(queries), k = static_cast<std::size_t>(k)] {
        store_.check_fresh();
        const auto view = store_.snapshot();
        const auto tops = [&] {
          const timed t(stats_.scan);
          return view->top_k_each(queries, k);
        }();
        std::vector<std::vector<search_hit>> out(tops.size());
        for (std::size_t q = 0; q < tops.size(); ++q) {
          out[q].reserve(tops[q].size());
          for (const auto& m : tops[q]) out[q].push_back({m.key, std::string(view->name(m.row)), m.distance});
        }
        return out;
      })
      .get();
}

}  // namespace faceapp_web
