// The default models are loaded on first use and kept once loaded, but a failed first load (the model not there
// yet) is not remembered: the next call looks again. The landmark case comes first: encode loads landmarks too. Its
// own binary, so that no other case has loaded the models of this process before. The build's model folder is taken
// out of the search path here, so that the only places looked in are $FACEAPP_MODEL_DIR and
// $XDG_CACHE_HOME/faceapp, which the cases point where they need.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <optional>
#include <vector>

namespace {
// The folder that holds the real models: $FACEAPP_MODEL_DIR as the test was started with (the sanitizer builds
// use the Release build's models), else the build's own.
std::filesystem::path real_model_dir() {
  static const std::filesystem::path dir = [] {
    const char* env = std::getenv("FACEAPP_MODEL_DIR");
    return std::filesystem::path(env != nullptr && *env != '\0' ? env : FACEAPP_BUILD_MODEL_DIR);
  }();
  return dir;
}
}  // namespace
#undef FACEAPP_BUILD_MODEL_DIR

#include <faceapp/faceapp.hpp>
#include <test_data.hpp>

using faceapp::test::data_file;
using faceapp::test::scratch_dir;

namespace {

void point_models_at(const std::filesystem::path& dir) { ::setenv("FACEAPP_MODEL_DIR", dir.c_str(), 1); }

}  // namespace

TEST_CASE("default_landmark_model: a model that fails to load is retried, from another folder") {
  const auto real = real_model_dir();  // before any case changes $FACEAPP_MODEL_DIR
  const scratch_dir broken("default_models_broken");
  const scratch_dir empty("default_models_empty_lm");
  ::setenv("XDG_CACHE_HOME", empty.dir.c_str(), 1);
  {
    std::ofstream out(broken.dir / faceapp::models::landmarks5_file);
    out << "not a shape predictor";
  }
  point_models_at(broken.dir);
  const auto bad = faceapp::default_landmark_model();
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().input.find(faceapp::models::landmarks5_file) != std::string::npos);

  point_models_at(real);
  const auto good = faceapp::default_landmark_model();
  REQUIRE(good.has_value());
  CHECK((good->points() == 5 || good->points() == 68));
}

TEST_CASE("default_encoder_model: a missing model is looked for again, a loaded one is kept") {
  const auto real = real_model_dir();
  REQUIRE(std::filesystem::is_regular_file(real / faceapp::models::encoder_file));
  const scratch_dir empty("default_models_empty");
  ::setenv("XDG_CACHE_HOME", empty.dir.c_str(), 1);

  point_models_at(empty.dir);
  const auto missing = faceapp::default_encoder_model();
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == faceapp::errc::not_found);
  CHECK(missing.error().message.find(empty.dir.string()) != std::string::npos);
  // The stage says the same, and so does a second try.
  const auto photo = data_file("faces/obama_1.jpg");
  const auto failed = (faceapp::read | faceapp::encode)(photo);
  REQUIRE_FALSE(failed.has_value());
  CHECK(failed.error().stage == "encode");

  // Several threads ask at once: one loads, all get that one model.
  point_models_at(real);
  constexpr std::size_t n = 4;
  std::vector<std::optional<faceapp::encoder_model>> seen(n);
  {
    std::vector<std::jthread> threads;
    for (std::size_t i = 0; i < n; ++i) {
      threads.emplace_back([&seen, i] {
        if (auto m = faceapp::default_encoder_model()) seen[i] = *std::move(m);
      });
    }
  }
  for (const auto& m : seen) {
    REQUIRE(m.has_value());
    CHECK(m->shares_weights_with(*seen[0]));
  }
  const auto found = faceapp::default_encoder_model();
  REQUIRE(found.has_value());
  CHECK(found->shares_weights_with(*seen[0]));
  CHECK(found->file() == real / faceapp::models::encoder_file);
  const auto encoded = (faceapp::read | faceapp::encode)(photo);
  REQUIRE(encoded.has_value());
  CHECK(encoded->size() == 1);

  // Kept: the folder no longer matters once the model is loaded.
  point_models_at(empty.dir);
  const auto again = faceapp::default_encoder_model();
  REQUIRE(again.has_value());
  CHECK(again->shares_weights_with(*found));
}

TEST_CASE("default_cnn_detector_model: a missing model is looked for again, a loaded one is kept") {
  const auto real = real_model_dir();
  REQUIRE(std::filesystem::is_regular_file(real / faceapp::models::cnn_detector_file));
  const scratch_dir empty("default_models_empty_cnn");
  ::setenv("XDG_CACHE_HOME", empty.dir.c_str(), 1);
  const auto photo = data_file("faces/obama_1.jpg");

  point_models_at(empty.dir);
  const auto missing = faceapp::default_cnn_detector_model();
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == faceapp::errc::not_found);
  const auto failed = (faceapp::read | faceapp::detect(faceapp::cnn))(photo);
  REQUIRE_FALSE(failed.has_value());
  CHECK(failed.error().stage == "detect");

  point_models_at(real);
  const auto found = (faceapp::read | faceapp::detect(faceapp::cnn))(photo);
  REQUIRE(found.has_value());
  CHECK(found->size() == 1);  // faces/manifest.csv: one face

  point_models_at(empty.dir);
  const auto again = faceapp::default_cnn_detector_model();
  REQUIRE(again.has_value());
  CHECK(again->file() == real / faceapp::models::cnn_detector_file);
}
