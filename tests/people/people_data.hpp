// What the people tests share: the largest face of every identity photo of the manifest, encoded once per
// process, and the pairwise F1 of a clustering against the identities.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "faceapp/faceapp.hpp"
#include "test_data.hpp"

namespace faceapp::test {

struct identity_face {
  std::string file;
  std::string identity;
  faceapp::encoding encoding;
};

/// The largest face of each identity photo, in manifest order (photos where none is found are left out: the
/// stage tests check that there are none).
inline const std::vector<identity_face>& identity_faces() {
  static const std::vector<identity_face> faces = [] {
    std::vector<manifest_row> rows;
    std::vector<faceapp::source> sources;
    for (const auto& row : manifest()) {
      if (row.identity.empty()) continue;
      rows.push_back(row);
      sources.emplace_back(data_file("faces/" + row.file));
    }
    const auto results = faceapp::run_batch(faceapp::read | faceapp::encode, sources, {.threads = 2});
    std::vector<identity_face> out;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (!results[i]) continue;
      if (const auto largest = results[i]->largest()) {
        out.push_back({rows[i].file, rows[i].identity, results[i]->at(*largest).encoding});
      }
    }
    return out;
  }();
  return faces;
}

/// The largest face of one photo of tests/data/faces, encoded on first use (the cases that need only a few).
inline const faceapp::encoding& encoding_of(const std::string& file) {
  static std::map<std::string, faceapp::encoding> cache;
  if (const auto it = cache.find(file); it != cache.end()) return it->second;
  const auto found = (faceapp::read | faceapp::encode)(data_file("faces/" + file));
  if (!found) throw std::runtime_error(found.error().what());
  const auto largest = found->largest();
  if (!largest) throw std::runtime_error("no face in " + file);
  return cache.emplace(file, found->at(*largest).encoding).first->second;
}

inline std::vector<faceapp::encoding> encodings_of(const std::vector<identity_face>& faces) {
  std::vector<faceapp::encoding> out;
  for (const auto& f : faces) out.push_back(f.encoding);
  return out;
}

inline std::size_t people_in(const std::vector<identity_face>& faces) {
  std::set<std::string> names;
  for (const auto& f : faces) names.insert(f.identity);
  return names.size();
}

/// Pairwise F1 of cluster ids against the identities: precision over the pairs put together, recall over the
/// pairs of one person.
inline double pairwise_f1(const std::vector<identity_face>& faces, const std::vector<std::size_t>& ids) {
  double together = 0;
  double same = 0;
  double both = 0;
  for (std::size_t i = 0; i < faces.size(); ++i) {
    for (std::size_t j = i + 1; j < faces.size(); ++j) {
      const bool t = ids[i] == ids[j];
      const bool s = faces[i].identity == faces[j].identity;
      together += t ? 1 : 0;
      same += s ? 1 : 0;
      both += (t && s) ? 1 : 0;
    }
  }
  if (together == 0 || same == 0) return 0;
  const double precision = both / together;
  const double recall = both / same;
  return precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
}

inline std::size_t clusters_in(const std::vector<std::size_t>& ids) {
  return std::set<std::size_t>(ids.begin(), ids.end()).size();
}

}  // namespace faceapp::test
