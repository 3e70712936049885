// faceapp runtime: clustering many faces at once with dlib's chinese whispers, behind `cluster`.
#include <cstddef>
#include <span>
#include <stdexcept>
#include <vector>

#include <dlib/clustering.h>

#include "faceapp/stages/cluster.hpp"

namespace faceapp::detail {

std::vector<std::size_t> chinese_whispers_ids(std::span<const encoding> encodings, float tolerance) {
  // A negative (or NaN) tolerance links no face, not even to itself: chinese_whispers would give no labels.
  if (!(tolerance >= 0)) throw std::invalid_argument("cluster: tolerance must be >= 0");
  // The graph of dlib's dnn_face_clustering_ex: an edge between every two faces within the tolerance, and each
  // face to itself, so that a face with no neighbour is a cluster of its own.
  std::vector<dlib::sample_pair> edges;
  for (std::size_t i = 0; i < encodings.size(); ++i) {
    for (std::size_t j = i; j < encodings.size(); ++j) {
      if (distance(encodings[i], encodings[j]) <= tolerance) edges.emplace_back(i, j);
    }
  }
  std::vector<unsigned long> labels;
  dlib::rand rnd;  // its fixed default seed: the same order of visits, so the same labels, every run
  dlib::chinese_whispers(edges, labels, 100, rnd);
  // chinese_whispers numbers clusters by its own order; renumber by first appearance in the input.
  std::vector<std::size_t> ids(encodings.size());
  std::vector<unsigned long> seen;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    std::size_t id = seen.size();
    for (std::size_t k = 0; k < seen.size(); ++k) {
      if (seen[k] == labels[i]) id = k;
    }
    if (id == seen.size()) seen.push_back(labels[i]);
    ids[i] = id;
  }
  return ids;
}

}  // namespace faceapp::detail
