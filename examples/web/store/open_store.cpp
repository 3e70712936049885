// faceapp-web's store layer: the store a `--db` value names (see open_store.hpp).
#include "store/open_store.hpp"

#include <stdexcept>

#include "store/sqlite_store.hpp"
#ifdef FACEAPP_WEB_POSTGRESQL
#include "store/pg_store.hpp"
#endif

namespace faceapp_web {

std::unique_ptr<store_backend> open_store(const std::string& db, const std::filesystem::path& data_dir) {
  if (db.empty()) return std::make_unique<sqlite_store>(data_dir);
  if (db.rfind("sqlite:", 0) == 0 && db.size() > 7) {
    return std::make_unique<sqlite_store>(db.substr(7), sqlite_store::at_file{});
  }
  if (db.rfind("postgresql://", 0) == 0 || db.rfind("postgres://", 0) == 0) {
#ifdef FACEAPP_WEB_POSTGRESQL
    return std::make_unique<pg_store>(db);
#else
    throw std::runtime_error("--db " + db.substr(0, db.find("://") + 3) +
                             "...: this faceapp-web was built without PostgreSQL (install libpq-dev and rebuild)");
#endif
  }
  throw std::runtime_error("--db must be postgresql://USER@HOST:PORT/DBNAME or sqlite:PATH");
}

bool has_postgresql() noexcept {
#ifdef FACEAPP_WEB_POSTGRESQL
  return true;
#else
  return false;
#endif
}

}  // namespace faceapp_web
