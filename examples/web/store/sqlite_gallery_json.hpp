// faceapp-web: the SQLite store's import of gallery.json, the JSON file earlier versions kept the known faces in
// (format "faceapp-web gallery", version 1): done once, when the store opens a --data directory that has one.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <faceapp/detail/csv.hpp>

#include "store/sqlite_db.hpp"
#include "store/store.hpp"
#include "util.hpp"

namespace faceapp_web::sqlite_gallery_json {

/// Copies `json_file` into the database `db_file` through its writer `w`, each face through `insert(face, id)`,
/// once: the copy and a mark that it was made commit together, then the file is renamed gallery.json.bak. A crash
/// before the rename leaves the file and the mark, and the next start only renames it.
inline void migrate(const sqlite::connection& w, const std::filesystem::path& json_file,
                    const std::filesystem::path& db_file,
                    const std::function<void(const new_face&, std::uint64_t)>& insert) {
  if (!std::filesystem::exists(json_file)) return;
  sqlite::statement done(w, "SELECT value FROM meta WHERE key = 'migrated_gallery_json'");
  const bool migrated = done.step();
  done.reset();
  if (!migrated) {
    std::ifstream in(json_file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    const auto doc = nlohmann::json::parse(text.str(), nullptr, false);
    const auto bad = [&](const std::string& why) {
      return std::runtime_error(json_file.string() + ": cannot migrate it into " + db_file.string() + ": " + why +
                                "; move it away or pick another --data directory");
    };
    if (doc.is_discarded() || !doc.is_object() || doc.value("format", "") != "faceapp-web gallery") {
      throw bad("not a faceapp-web gallery file");
    }
    sqlite::transaction t(w);
    std::uint64_t next_id = 1;
    try {
      next_id = doc.at("next_id").get<std::uint64_t>();
      for (const auto& j : doc.at("people")) {
        new_face f;
        const auto values = j.at("encoding").get<std::vector<float>>();
        if (values.size() != faceapp::encoding_size) throw bad("an encoding has not 128 numbers");
        std::copy(values.begin(), values.end(), f.encoding.begin());
        const auto b = j.at("box").get<std::vector<int>>();
        if (b.size() != 4) throw bad("a box has not 4 numbers");
        f.box = faceapp::box{b[0], b[1], b[2], b[3]};
        auto thumb = base64_decode(j.at("thumbnail_jpeg_base64").get<std::string>());
        if (!thumb) throw bad("a thumbnail is not base64");
        f.thumbnail = std::move(*thumb);
        f.name = j.at("name").get<std::string>();
        f.added = j.at("added").get<std::string>();
        f.source = j.at("source").get<std::string>();
        const auto id = j.at("id").get<std::uint64_t>();
        insert(f, id);
        next_id = std::max(next_id, id + 1);
      }
    } catch (const nlohmann::json::exception& e) {
      throw bad(e.what());
    }
    // Ids of faces deleted before the migration stay unused.
    w.exec("DELETE FROM sqlite_sequence WHERE name = 'people'");
    sqlite::statement(w, "INSERT INTO sqlite_sequence (name, seq) VALUES ('people', ?)")
        .bind(1, static_cast<std::int64_t>(next_id - 1))
        .run();
    sqlite::statement(w, "INSERT INTO meta (key, value) VALUES ('migrated_gallery_json', ?)")
        .bind(1, faceapp::detail::utc_timestamp())
        .run();
    t.commit();
  }
  auto backup = json_file;
  backup += ".bak";
  for (int n = 2; std::filesystem::exists(backup); ++n) {
    backup = json_file;
    backup += ".bak" + std::to_string(n);
  }
  std::filesystem::rename(json_file, backup);
}

}  // namespace faceapp_web::sqlite_gallery_json
