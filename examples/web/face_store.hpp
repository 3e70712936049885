// faceapp-web: the gallery of known people, kept on disk and swapped copy-on-write.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <faceapp/faceapp.hpp>
#include <nlohmann/json.hpp>

#include "util.hpp"

namespace faceapp_web {

/// What the pages show about a known face besides its encoding.
struct person {
  std::uint64_t id = 0;
  std::string name;
  std::string added;   // UTC ISO-8601
  std::string source;  // "sha256:<hex> (<file name>)" of the photo it came from
  faceapp::box box;    // in that photo
  std::shared_ptr<const std::string> thumbnail;  // JPEG bytes of the face
};

/// One state of the gallery: entry i of `known` is people[i]. Never changed once published.
struct gallery_snapshot {
  faceapp::gallery known;
  std::vector<person> people;

  [[nodiscard]] const person* find(std::uint64_t id) const {
    for (const auto& p : people) {
      if (p.id == id) return &p;
    }
    return nullptr;
  }
};

/// The gallery, persisted as one JSON file (names, encodings, boxes, thumbnails) written atomically on every
/// change, before the change is published or answered: an added face survives a restart and a kill -9.
/// Readers take a snapshot (a shared_ptr to an immutable state) and never see it change under them; writers
/// copy the state, change the copy, save it and swap it in.
class face_store {
 public:
  explicit face_store(std::filesystem::path file) : file_(std::move(file)) { load(); }

  [[nodiscard]] std::shared_ptr<const gallery_snapshot> snapshot() const {
    const std::lock_guard lock(current_mutex_);
    return current_;
  }

  /// The gallery of a snapshot, sharing its ownership, as distance_to takes it.
  static std::shared_ptr<const faceapp::gallery> gallery_of(std::shared_ptr<const gallery_snapshot> s) {
    const faceapp::gallery* g = &s->known;
    return {std::move(s), g};
  }

  person add(std::string name, const faceapp::encoding& e, std::string source, faceapp::box box,
             std::string thumbnail) {
    const std::lock_guard writer(write_mutex_);
    auto next = std::make_shared<gallery_snapshot>(*snapshot());
    person p{next_id_, std::move(name), faceapp::utc_timestamp(), std::move(source), box,
             std::make_shared<const std::string>(std::move(thumbnail))};
    next->known.add(p.name, e);
    next->people.push_back(p);
    save(*next, next_id_ + 1);
    ++next_id_;
    publish(std::move(next));
    return p;
  }

  /// Removes the entry with this id; false when there is none.
  bool remove(std::uint64_t id) {
    const std::lock_guard writer(write_mutex_);
    auto next = std::make_shared<gallery_snapshot>(*snapshot());
    for (std::size_t i = 0; i < next->people.size(); ++i) {
      if (next->people[i].id == id) {
        next->people.erase(next->people.begin() + static_cast<std::ptrdiff_t>(i));
        next->known.erase(i);
        save(*next, next_id_);
        publish(std::move(next));
        return true;
      }
    }
    return false;
  }

  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }

 private:
  void publish(std::shared_ptr<const gallery_snapshot> next) {
    const std::lock_guard lock(current_mutex_);
    current_ = std::move(next);
  }

  void save(const gallery_snapshot& s, std::uint64_t next_id) const {
    nlohmann::json people = nlohmann::json::array();
    for (std::size_t i = 0; i < s.people.size(); ++i) {
      const auto& p = s.people[i];
      const auto e = s.known.at(i);
      people.push_back({{"id", p.id},
                        {"name", p.name},
                        {"added", p.added},
                        {"source", p.source},
                        {"box", {p.box.top, p.box.right, p.box.bottom, p.box.left}},
                        {"encoding", std::vector<float>(e.begin(), e.end())},
                        {"thumbnail_jpeg_base64", base64_encode(*p.thumbnail)}});
    }
    const nlohmann::json doc{{"format", "faceapp-web gallery"}, {"version", 1}, {"next_id", next_id},
                             {"people", std::move(people)}};
    write_file_atomically(file_, doc.dump());
  }

  void load() {
    auto state = std::make_shared<gallery_snapshot>();
    if (std::filesystem::exists(file_)) {
      std::ifstream in(file_, std::ios::binary);
      std::stringstream text;
      text << in.rdbuf();
      const auto doc = nlohmann::json::parse(text.str(), nullptr, false);
      if (doc.is_discarded() || !doc.is_object() || doc.value("format", "") != "faceapp-web gallery") {
        throw std::runtime_error(file_.string() + " is not a faceapp-web gallery file; move it away or pick "
                                                  "another --data directory");
      }
      next_id_ = doc.at("next_id").get<std::uint64_t>();
      for (const auto& j : doc.at("people")) {
        const auto values = j.at("encoding").get<std::vector<float>>();
        if (values.size() != faceapp::encoding_size) throw std::runtime_error(file_.string() + ": bad encoding");
        faceapp::encoding e;
        std::copy(values.begin(), values.end(), e.begin());
        const auto b = j.at("box").get<std::vector<int>>();
        if (b.size() != 4) throw std::runtime_error(file_.string() + ": bad box");
        auto thumb = base64_decode(j.at("thumbnail_jpeg_base64").get<std::string>());
        if (!thumb) throw std::runtime_error(file_.string() + ": bad thumbnail");
        person p{j.at("id").get<std::uint64_t>(), j.at("name").get<std::string>(), j.at("added").get<std::string>(),
                 j.at("source").get<std::string>(), faceapp::box{b[0], b[1], b[2], b[3]},
                 std::make_shared<const std::string>(std::move(*thumb))};
        state->known.add(p.name, e);
        state->people.push_back(std::move(p));
      }
    }
    current_ = std::move(state);
  }

  std::filesystem::path file_;
  std::uint64_t next_id_ = 1;
  std::mutex write_mutex_;             // one writer at a time, held across save
  mutable std::mutex current_mutex_;   // guards only the pointer swap and copy
  std::shared_ptr<const gallery_snapshot> current_;
};

}  // namespace faceapp_web
