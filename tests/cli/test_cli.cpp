// The `faceapp` program, driven as a user drives it: real models on tests/data/faces, its output checked
// against what the library computes for the same images and against the manifest's ground truth.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "faceapp/faceapp.hpp"
#include "cli_harness.hpp"
#include "test_data.hpp"

namespace {

namespace fs = std::filesystem;
using faceapp::test::data_dir;
using faceapp::test::data_file;
using namespace faceapp::test::cli;

}  // namespace

TEST_CASE("detect prints the library's boxes, one line per face, in folder order") {
  const auto paths = face_images();
  REQUIRE(paths.size() == 71);

  SUBCASE("default upsample 1, a folder as input") {
    const auto r = run({"detect", "--jobs", "2", faces_dir().string()});
    CHECK(r.status == 0);
    CHECK(r.err.empty());  // no progress bar when stderr is not a terminal
    std::vector<std::string> expected;
    for (const auto& found : library_results(faceapp::read | faceapp::detect(1), paths)) {
      REQUIRE_MESSAGE(found.has_value(), found.error().what());
      for (const auto& f : *found) expected.push_back(found->source() + ',' + box_text(f.box));
    }
    CHECK(lines_of(r.out) == expected);
    // And the manifest agrees on the images with a single, certain face where HOG finds one.
    std::map<std::string, int> per_file;
    for (const auto& line : lines_of(r.out)) ++per_file[split(line)[0]];
    for (const auto& row : faceapp::test::manifest()) {
      if (row.faces == 0) CHECK_MESSAGE(per_file[path_of(row.file)] == 0, row.file);
    }
  }

  SUBCASE("--upsample 0 on files named one by one") {
    const std::vector<std::string> files{path_of("group_1.jpg"), path_of("obama_1.jpg"), path_of("group_7.jpg")};
    const auto r = run({"detect", "--upsample", "0", files[0], files[1], files[2]});
    CHECK(r.status == 0);
    std::vector<std::string> expected;
    for (const auto& found : library_results(faceapp::read | faceapp::detect(0), files)) {
      REQUIRE(found.has_value());
      for (const auto& f : *found) expected.push_back(found->source() + ',' + box_text(f.box));
    }
    CHECK(lines_of(r.out) == expected);
  }
}

TEST_CASE("recognize finds each identity's other photos with its first photo as the only known image") {
  // KNOWN_DIR: <identity>.<ext> -> <identity>_1.<ext>, for every identity of the manifest.
  const temp_folder known;
  std::map<std::string, std::string> identity_of;  // path -> identity
  std::set<std::string> identities;
  for (const auto& row : faceapp::test::manifest()) {
    if (row.identity.empty()) continue;
    identity_of[path_of(row.file)] = row.identity;
    const auto stem = fs::path(row.file).stem().string();
    if (stem == row.identity + "_1") {
      const auto link = known.path / (row.identity + fs::path(row.file).extension().string());
      fs::create_symlink(data_file("faces/" + row.file), link);
      identities.insert(row.identity);
    }
  }
  REQUIRE(identities.size() >= 15);

  const auto r = run({"recognize", known.path.string(), faces_dir().string(), "--show-distance", "--jobs", "2"});
  REQUIRE(r.status == 0);
  std::map<std::string, std::set<std::string>> names;  // path -> names printed for it
  std::map<std::string, float> distance_of;            // "path,name" -> distance
  for (const auto& line : lines_of(r.out)) {
    const auto cells = split(line);
    REQUIRE_MESSAGE(cells.size() == 3, line);
    names[cells[0]].insert(cells[1]);
    if (cells[2] != "None") distance_of[cells[0] + ',' + cells[1]] = std::stof(cells[2]);
  }

  for (const auto& [path, identity] : identity_of) {
    if (identities.count(identity) == 0) continue;
    INFO(path);
    // Its own identity, and no one else: at tolerance 0.6 no identity of this data set is taken for another.
    CHECK(names[path] == std::set<std::string>{identity});
  }
  for (const auto& row : faceapp::test::manifest()) {
    if (row.faces == 0) CHECK(names[path_of(row.file)] == std::set<std::string>{"no_persons_found"});
    if (row.file.rfind("unknown_", 0) == 0) CHECK(names[path_of(row.file)] == std::set<std::string>{"unknown_person"});
  }

  // The distances printed are the library's, with images over 1600 px shrunk first.
  {
    for (const std::string file : {"obama_2.jpg", "deepface_p05_3.jpg", "deepface_p07_1.jpg"}) {
      const auto identity = identity_of.at(path_of(file));
      const auto known_faces = (faceapp::read | faceapp::encode)(path_of(identity + "_1.jpg"));
      const auto checked = (faceapp::read | faceapp::fit(1600) | faceapp::encode)(path_of(file));
      REQUIRE(known_faces.has_value());
      REQUIRE(checked.has_value());
      REQUIRE(checked->size() >= 1);
      float nearest = 10;
      for (const auto& f : *checked) {
        nearest = std::min(nearest, faceapp::distance(f.encoding, known_faces->at(0).encoding));
      }
      CHECK(std::abs(distance_of.at(path_of(file) + ',' + identity) - nearest) < 2e-5F);
    }
  }
}

TEST_CASE("recognize warns about known images with several faces or none, as face_recognition does") {
  const temp_folder known;
  fs::create_symlink(data_file("faces/group_1.jpg"), known.path / "two_people.jpg");
  fs::create_symlink(data_file("faces/noface_1.png"), known.path / "nobody.png");
  fs::create_symlink(data_file("faces/tom_cruise_1.jpg"), known.path / "tom.jpg");
  const auto r = run({"recognize", known.path.string(), path_of("tom_cruise_1.jpg"), path_of("noface_2.jpg")});
  CHECK(r.status == 0);
  CHECK(r.err.find("WARNING: More than one face found in " + (known.path / "two_people.jpg").string() +
                   ". Only considering the first face.") != std::string::npos);
  CHECK(r.err.find("WARNING: No faces found in " + (known.path / "nobody.png").string() + ". Ignoring file.") !=
        std::string::npos);
  const auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == path_of("tom_cruise_1.jpg") + ",tom");
  CHECK(lines[1] == path_of("noface_2.jpg") + ",no_persons_found");
}

TEST_CASE("recognize takes face_recognition's `--show-distance true|false` as well as the bare flag") {
  const temp_folder known;
  fs::create_symlink(data_file("faces/obama_1.jpg"), known.path / "obama.jpg");
  const auto obama_2 = path_of("obama_2.jpg");
  const auto with_value = run({"recognize", "--show-distance", "true", known.path.string(), obama_2});
  const auto bare = run({"recognize", known.path.string(), obama_2, "--show-distance"});
  const auto off = run({"recognize", "--show-distance", "false", known.path.string(), obama_2});
  CHECK(with_value.status == 0);
  CHECK(with_value.out.rfind(obama_2 + ",obama,0.", 0) == 0);
  CHECK(with_value.out == bare.out);
  CHECK(off.out == obama_2 + ",obama\n");
}

TEST_CASE("compare exits 0 for the same person, 1 for different people and 2 for an error") {
  const auto encode_largest = [](const std::string& file) {
    const auto found = (faceapp::read | faceapp::encode)(path_of(file));
    REQUIRE(found.has_value());
    REQUIRE(found->largest().has_value());
    return found->at(*found->largest()).encoding;
  };

  SUBCASE("same person: 0, true, the library's distance") {
    const auto r = run({"compare", path_of("obama_1.jpg"), path_of("obama_2.jpg")});
    CHECK(r.status == 0);
    const auto cells = split(lines_of(r.out).at(0));
    REQUIRE(cells.size() == 4);
    CHECK(cells[0] == path_of("obama_1.jpg"));
    CHECK(cells[1] == path_of("obama_2.jpg"));
    CHECK(cells[2].size() == cells[2].find('.') + 7);  // six decimals
    const double expected = faceapp::distance(encode_largest("obama_1.jpg"), encode_largest("obama_2.jpg"));
    CHECK(std::abs(std::stod(cells[2]) - expected) < 2e-5);
    CHECK(cells[3] == "true");
  }
  SUBCASE("different people: 1, false") {
    const auto r = run({"compare", path_of("obama_1.jpg"), path_of("biden_1.jpg")});
    CHECK(r.status == 1);
    CHECK(split(lines_of(r.out).at(0)).at(3) == "false");
  }
  SUBCASE("a stricter tolerance turns a match into none") {
    const auto r = run({"compare", "--tolerance", "0.2", path_of("obama_1.jpg"), path_of("obama_2.jpg")});
    CHECK(r.status == 1);
    CHECK(split(lines_of(r.out).at(0)).at(3) == "false");
  }
  SUBCASE("the largest face of a group photo is compared") {
    // group_3: Obama, Biden and a child; its largest face must be one of the two adults, so one of the two
    // comparisons matches.
    const auto with_obama = run({"compare", path_of("obama_1.jpg"), path_of("group_3.jpg")});
    const auto with_biden = run({"compare", path_of("biden_1.jpg"), path_of("group_3.jpg")});
    CHECK(with_obama.status + with_biden.status == 1);
  }
  SUBCASE("no face in an image: 2, naming it") {
    const auto r = run({"compare", path_of("obama_1.jpg"), path_of("noface_1.png")});
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    CHECK(r.err.find("noface_1.png") != std::string::npos);
    CHECK(r.err.find("no face") != std::string::npos);
  }
  SUBCASE("a missing file: 2, naming it") {
    const temp_folder tmp;
    const auto missing = (tmp.path / "missing.jpg").string();
    const auto r = run({"compare", missing, path_of("obama_1.jpg")});
    CHECK(r.status == 2);
    CHECK(r.err.find(missing) != std::string::npos);
  }
}

TEST_CASE("encode rows read back into the library's encodings and distances") {
  const auto paths = face_images();
  const auto r = run({"encode", "--jobs", "2", faces_dir().string()});
  CHECK(r.status == 0);
  const auto rows = parse_encode_csv(r.out);

  std::vector<encoded_row> expected;
  for (const auto& found : library_results(faceapp::read | faceapp::encode, paths)) {
    REQUIRE(found.has_value());
    for (std::size_t i = 0; i < found->size(); ++i) {
      expected.push_back({found->source(), i, found->at(i).box, found->at(i).encoding});
    }
  }
  REQUIRE(rows.size() == expected.size());
  REQUIRE(rows.size() > 60);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    INFO(rows[i].path);
    CHECK(rows[i].path == expected[i].path);
    CHECK(rows[i].face == expected[i].face);
    CHECK(rows[i].box == expected[i].box);
  }
  // Every pairwise distance, from the rows read back and from the library's encodings.
  double worst = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t j = i + 1; j < rows.size(); ++j) {
      const double from_rows = faceapp::distance(rows[i].encoding, rows[j].encoding);
      const double from_library = faceapp::distance(expected[i].encoding, expected[j].encoding);
      worst = std::max(worst, std::abs(from_rows - from_library));
    }
  }
  CHECK(worst < 1e-5);
}

TEST_CASE("encode's other output forms") {
  SUBCASE("--format jsonl carries the same numbers as the CSV rows, bit for bit") {
    const std::vector<std::string> some{path_of("group_3.jpg"), path_of("obama_1.jpg")};
    const auto csv = run({"encode", some[0], some[1]});
    const auto jsonl = run({"encode", "--format", "jsonl", some[0], some[1]});
    REQUIRE(csv.status == 0);
    REQUIRE(jsonl.status == 0);
    const auto csv_rows = parse_encode_csv(csv.out);
    const auto json_lines = lines_of(jsonl.out);
    REQUIRE(json_lines.size() == csv_rows.size());
    for (std::size_t i = 0; i < json_lines.size(); ++i) {
      const auto j = nlohmann::json::parse(json_lines[i]);
      CHECK(j.at("path") == csv_rows[i].path);
      CHECK(j.at("face") == csv_rows[i].face);
      CHECK(faceapp::box{j.at("top"), j.at("right"), j.at("bottom"), j.at("left")} == csv_rows[i].box);
      REQUIRE(j.at("encoding").size() == faceapp::encoding_size);
      for (std::size_t k = 0; k < faceapp::encoding_size; ++k) {
        CHECK(j.at("encoding")[k].get<float>() == csv_rows[i].encoding[k]);
      }
    }
  }
  SUBCASE("--header names the columns") {
    const auto h = run({"encode", "--header", path_of("obama_1.jpg")});
    const auto lines = lines_of(h.out);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].rfind("path,face,top,right,bottom,left,e0,e1,", 0) == 0);
    CHECK(split(lines[0]).size() == 6 + faceapp::encoding_size);
    CHECK(split(lines[0]).back() == "e127");
  }
}

TEST_CASE("--jobs 1 and --jobs 2 print the same output, in input order") {
  // Paths on stdin, as a batch system's map step feeds them.
  std::string list;
  for (const auto& p : face_images()) list += p + '\n';
  const auto one = run({"encode", "--jobs", "1", "-"}, list);
  const auto two = run({"encode", "--jobs", "2", "-"}, list);
  CHECK(one.status == 0);
  CHECK(two.status == 0);
  CHECK(one.out.size() > 0);
  CHECK(one.out == two.out);

  const temp_folder known;
  for (const std::string file : {"obama_1.jpg", "biden_1.jpg", "kit_harington_1.jpeg", "rose_leslie_1.jpg"}) {
    fs::create_symlink(data_file("faces/" + file), known.path / file);
  }
  const std::vector<std::string> checked{path_of("group_1.jpg"), path_of("group_2.jpg"), path_of("group_3.jpg"),
                                         path_of("obama_2.jpg"),  path_of("noface_2.jpg"), path_of("unknown_1.jpg")};
  std::vector<std::string> args1{"recognize", "--jobs", "1", "--show-distance", known.path.string()};
  args1.insert(args1.end(), checked.begin(), checked.end());
  auto args2 = args1;
  args2[2] = "2";
  const auto rec1 = run(args1);
  const auto rec2 = run(args2);
  CHECK(rec1.status == 0);
  CHECK(rec1.out == rec2.out);
  // Input order: the first line is about the first input.
  CHECK(rec1.out.rfind(checked[0] + ',', 0) == 0);
}

TEST_CASE("bad inputs get one line on stderr each, naming them and why, and the others go on") {
  const temp_folder tmp;
  const auto good_1 = path_of("obama_1.jpg");
  const auto good_2 = path_of("biden_1.jpg");
  const auto not_image = (tmp.path / "notes.jpg").string();
  std::ofstream(not_image) << "these are not the bytes of an image\n";
  const auto missing = (tmp.path / "missing.jpg").string();
  const auto folder = (tmp.path / "a_folder.jpg").string();
  fs::create_directories(folder);
  const auto truncated = (tmp.path / "truncated.jpg").string();
  {
    const auto bytes = read_text(good_1);
    std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  const auto empty = (tmp.path / "empty.png").string();
  std::ofstream{empty};

  SUBCASE("encode, paths on stdin") {
    const std::vector<std::string> inputs{good_1, not_image, missing, folder, truncated, empty, good_2};
    std::string list;
    for (const auto& p : inputs) list += p + '\n';
    const auto r = run({"encode", "--jobs", "2", "-"}, list);
    CHECK(r.status == 2);
    const auto rows = parse_encode_csv(r.out);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].path == good_1);
    CHECK(rows[1].path == good_2);
    const auto errors = lines_of(r.err);
    REQUIRE(errors.size() == 5);
    const std::vector<std::pair<std::string, std::string>> why{
        {not_image, "not an image"}, {missing, "no such file"}, {folder, "directory"},
        {truncated, "truncated JPEG"}, {empty, "empty"}};
    for (std::size_t i = 0; i < why.size(); ++i) {
      INFO(errors[i]);
      CHECK(errors[i].find(why[i].first + ':') != std::string::npos);
      CHECK(errors[i].find(why[i].second) != std::string::npos);
    }
  }
  SUBCASE("detect, a folder with bad files among good ones") {
    fs::create_symlink(good_1, tmp.path / "good.jpg");
    const auto r = run({"detect", tmp.path.string()});
    CHECK(r.status == 2);
    // Folder order: a_folder.jpg, empty.png, good.jpg, notes.jpg, truncated.jpg (missing.jpg does not exist).
    const auto errors = lines_of(r.err);
    REQUIRE(errors.size() == 4);
    CHECK(errors[0].find("a_folder.jpg") != std::string::npos);
    CHECK(errors[1].find("empty.png") != std::string::npos);
    CHECK(errors[2].find("notes.jpg") != std::string::npos);
    CHECK(errors[3].find("truncated.jpg") != std::string::npos);
    const auto lines = lines_of(r.out);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].rfind((tmp.path / "good.jpg").string() + ',', 0) == 0);
  }
  SUBCASE("recognize goes on past a bad image to check") {
    const temp_folder known;
    fs::create_symlink(good_1, known.path / "obama.jpg");
    const auto r = run({"recognize", known.path.string(), not_image, path_of("obama_2.jpg")});
    CHECK(r.status == 2);
    CHECK(lines_of(r.err).size() == 1);
    CHECK(r.out == path_of("obama_2.jpg") + ",obama\n");
  }
  SUBCASE("a usage error exits 2") {
    CHECK(run({"frobnicate"}).status == 2);
    CHECK(run({"detect"}).status == 2);
    CHECK(run({"detect", "--upsample", "9", good_1}).status == 2);
  }
}

TEST_CASE("--record appends every result through the library's record stage") {
  const temp_folder tmp;
  const auto csv = (tmp.path / "results.csv").string();
  const auto r = run({"detect", "--record", csv, path_of("group_1.jpg"), path_of("noface_1.png")});
  CHECK(r.status == 0);
  auto lines = lines_of(read_text(csv));
  REQUIRE(lines.size() == 1 + 2 + 1);  // header, two faces, one row for the image without any
  CHECK(lines[0] == faceapp::csv_sink::header);
  // In input order, whatever --jobs is.
  CHECK(split(lines[1]).at(1) == path_of("group_1.jpg"));
  CHECK(split(lines[2]).at(1) == path_of("group_1.jpg"));
  CHECK(split(lines[3]).at(1) == path_of("noface_1.png"));
  CHECK(split(lines[3]).at(2).empty());  // no face index

  const temp_folder known;
  fs::create_symlink(data_file("faces/obama_1.jpg"), known.path / "obama.jpg");
  const auto rec = run({"recognize", "--record", csv, known.path.string(), path_of("obama_2.jpg")});
  CHECK(rec.status == 0);
  lines = lines_of(read_text(csv));
  REQUIRE(lines.size() == 5);  // appended to
  const auto cells = split(lines[4]);
  CHECK(cells.at(1) == path_of("obama_2.jpg"));
  CHECK(cells.at(7) == "obama");
  CHECK(cells.at(9) == "true");

  const auto not_csv = (tmp.path / "notes.txt").string();
  std::ofstream(not_csv) << "something else\n";
  const auto refused = run({"detect", "--record", not_csv, path_of("obama_1.jpg")});
  CHECK(refused.status == 2);
  CHECK(refused.err.find(not_csv) != std::string::npos);
}

TEST_CASE("--model-dir loads the models from the folder it names") {
  const auto landmarks = faceapp::models::find_landmark_model();
  const auto encoder = faceapp::models::find_model_file(faceapp::models::encoder_file);
  REQUIRE_MESSAGE(landmarks.has_value(), landmarks.error().what());
  REQUIRE_MESSAGE(encoder.has_value(), encoder.error().what());
  const temp_folder models;
  fs::create_symlink(*landmarks, models.path / landmarks->filename());
  fs::create_symlink(*encoder, models.path / encoder->filename());
  const auto r = run({"compare", "--model-dir", models.path.string(), path_of("obama_1.jpg"), path_of("obama_2.jpg")});
  CHECK(r.status == 0);
  const auto usual = run({"compare", path_of("obama_1.jpg"), path_of("obama_2.jpg")});
  CHECK(r.out == usual.out);

  const temp_folder empty;
  const auto missing = run({"encode", "--model-dir", empty.path.string(), path_of("obama_1.jpg")});
  CHECK(missing.status == 2);
  CHECK(missing.err.find("not found") != std::string::npos);
}

TEST_CASE("--help describes every subcommand and every option") {
  const auto top = run({"--help"});
  CHECK(top.status == 0);
  for (const std::string cmd : {"compare", "detect", "recognize", "encode"}) {
    CHECK(top.out.find(cmd) != std::string::npos);
  }

  const std::map<std::string, std::vector<std::string>> options{
      {"compare", {"--tolerance", "A", "B"}},
      {"detect", {"--upsample", "PATH"}},
      {"recognize", {"--tolerance", "--show-distance", "KNOWN_DIR", "PATH", "unknown_person", "no_persons_found"}},
      {"encode", {"--format", "--header", "PATH", "jsonl"}},
  };
  for (const auto& [cmd, names] : options) {
    const auto help = run({cmd, "--help"});
    INFO(cmd);
    CHECK(help.status == 0);
    for (const std::string common : {"--jobs", "--record", "--model-dir", "Output"}) {
      CHECK_MESSAGE(help.out.find(common) != std::string::npos, common);
    }
    for (const auto& name : names) CHECK_MESSAGE(help.out.find(name) != std::string::npos, name);
  }
}
