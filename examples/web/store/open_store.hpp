// faceapp-web's store layer: the store a `--db` value names.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "store/store.hpp"

namespace faceapp_web {

/// `db` empty: the embedded SQLite store in `data_dir`; `sqlite:PATH`: SQLite in PATH; `postgresql://...` (or
/// `postgres://`): PostgreSQL, when built with libpq. Throws std::runtime_error saying which forms are taken.
std::unique_ptr<store_backend> open_store(const std::string& db, const std::filesystem::path& data_dir);

/// Whether this build has the PostgreSQL store.
bool has_postgresql() noexcept;

}  // namespace faceapp_web
