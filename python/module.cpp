// faceapp's Python extension (faceapp._faceapp): the detectors, landmark models and encoder of the runtime
// library, on numpy arrays, and the stages and the gallery as Python values. The Python package
// (python/faceapp/) builds face_recognition's API and the pipeline on top of these functions.
//
// Every call that detects, finds landmarks or encodes copies its input out of numpy while holding the GIL and
// then releases it, so Python threads run those calls on several cores at once.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "errors.hpp"
#include "faceapp/detail/detect_impl.hpp"
#include "faceapp/faceapp.hpp"
#include "model_cache.hpp"

namespace py = pybind11;
using namespace faceapp_py;  // the extension's own helpers: errors.hpp, model_cache.hpp

namespace {

// ---------------------------------------------------------------------------------------------------------------
// numpy <-> faceapp::image

/// A copy of a numpy image (H x W x 3 RGB, or H x W gray, uint8) as faceapp's RGB image. TypeError otherwise, as
/// dlib's binding refuses what it cannot take.
faceapp::image to_image(const py::array& in, std::string source = "<numpy array>") {
  if (!py::isinstance<py::array_t<std::uint8_t>>(in) || in.dtype().kind() != 'u' || in.itemsize() != 1) {
    throw py::type_error("expected a numpy array of uint8 (H x W x 3 RGB, or H x W grayscale), got dtype " +
                         std::string(py::str(in.dtype())));
  }
  const auto arr = py::array_t<std::uint8_t, py::array::c_style>::ensure(in);
  const bool gray = arr.ndim() == 2;
  if (!(gray || (arr.ndim() == 3 && arr.shape(2) == 3))) {
    std::string shape = "(";
    for (py::ssize_t i = 0; i < arr.ndim(); ++i) shape += (i ? ", " : "") + std::to_string(arr.shape(i));
    throw py::type_error("expected an image of shape (H, W, 3) or (H, W), got " + shape + ")");
  }
  const int h = static_cast<int>(arr.shape(0));
  const int w = static_cast<int>(arr.shape(1));
  faceapp::image img;
  img.pixels.create(h, w, CV_8UC3);
  const std::uint8_t* src = arr.data();
  for (int y = 0; y < h; ++y) {
    auto* row = img.pixels.ptr<std::uint8_t>(y);
    if (gray) {
      for (int x = 0; x < w; ++x) row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = src[static_cast<std::size_t>(y) * w + x];
    } else {
      std::memcpy(row, src + static_cast<std::size_t>(y) * w * 3, static_cast<std::size_t>(w) * 3);
    }
  }
  img.source = std::move(source);
  img.original_width = w;
  img.original_height = h;
  return img;
}

py::array_t<std::uint8_t> to_numpy(const cv::Mat& m) {
  py::array_t<std::uint8_t> out({m.rows, m.cols, 3});
  auto* dst = out.mutable_data();
  for (int y = 0; y < m.rows; ++y) {
    std::memcpy(dst + static_cast<std::size_t>(y) * m.cols * 3, m.ptr<std::uint8_t>(y), static_cast<std::size_t>(m.cols) * 3);
  }
  return out;
}

/// PIL's convert("L"): L = R * 299/1000 + G * 587/1000 + B * 114/1000, in its fixed point.
py::array_t<std::uint8_t> to_numpy_gray(const cv::Mat& m) {
  py::array_t<std::uint8_t> out({m.rows, m.cols});
  auto* dst = out.mutable_data();
  for (int y = 0; y < m.rows; ++y) {
    const auto* p = m.ptr<std::uint8_t>(y);
    for (int x = 0; x < m.cols; ++x, p += 3) {
      dst[static_cast<std::size_t>(y) * m.cols + x] =
          static_cast<std::uint8_t>((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
    }
  }
  return out;
}

/// f() with the GIL released; the result is made before the GIL is taken back.
template <class F>
auto without_gil(F&& f) {
  const py::gil_scoped_release release;
  return std::forward<F>(f)();
}

faceapp::image read_source(const faceapp::source& src, std::int64_t max_pixels) {
  faceapp::read_options opts;
  if (max_pixels > 0) opts.max_pixels = max_pixels;
  return value_or_raise(without_gil([&] { return faceapp::read(opts)(src); }));
}

using css = std::array<int, 4>;  // (top, right, bottom, left)

faceapp::faces faces_at(const faceapp::image& img, const std::vector<css>& boxes) {
  faceapp::faces f;
  f.image = img;
  for (const auto& b : boxes) {
    faceapp::face one;
    one.box_in_image = {b[0], b[1], b[2], b[3]};
    one.box = one.box_in_image;
    f.items.push_back(std::move(one));
  }
  return f;
}

// The five points of dlib's 5-point model from the 68 of the 68-point one: the outer and inner corners of the
// eye on the image's right (45, 42), of the one on its left (36, 39), and the bottom of the nose (33).
constexpr std::array<int, 5> five_of_68{45, 42, 36, 39, 33};

using points = std::vector<std::pair<long, long>>;

// ---------------------------------------------------------------------------------------------------------------
// face_recognition's primitives

/// dlib's HOG boxes as dlib's Python binding gives them (not trimmed to the image), with their scores.
std::vector<std::pair<css, double>> hog_locations(const py::array& arr, int upsample) {
  const auto img = to_image(arr);
  std::vector<dlib::rect_detection> found;
  {
    const py::gil_scoped_release release;
    found = faceapp::detail::hog_detect(img, upsample);
  }
  std::vector<std::pair<css, double>> out;
  for (const auto& d : found) {
    out.push_back({css{static_cast<int>(d.rect.top()), static_cast<int>(d.rect.right()),
                       static_cast<int>(d.rect.bottom()), static_cast<int>(d.rect.left())},
                   d.detection_confidence});
  }
  return out;
}

std::vector<std::pair<css, double>> cnn_locations(const py::array& arr, int tiles) {
  const auto img = to_image(arr);
  const auto& model = cnn_model();
  faceapp::faces found;
  {
    const py::gil_scoped_release release;
    found = faceapp::detail::cnn_detect_faces(img, model, tiles);
  }
  std::vector<std::pair<css, double>> out;
  for (const auto& f : found) {
    out.push_back({css{f.box.top, f.box.right, f.box.bottom, f.box.left}, f.score.value});
  }
  return out;
}

/// Landmarks per box: "large" the 68 points, "small" the 5-point model's 5 (derived from the 68 when that
/// model is not there, see five_of_68). Returns the points and whether they came from a 5-point model.
std::pair<std::vector<points>, bool> landmark_points(const py::array& arr, const std::vector<css>& boxes,
                                                     const std::string& model) {
  if (model != "large" && model != "small") {
    throw py::value_error("Invalid landmarks model type. Supported models are ['small', 'large'].");
  }
  auto found = faces_at(to_image(arr), boxes);
  const faceapp::landmark_model* five = model == "small" ? landmarks5() : nullptr;
  const faceapp::landmark_model& lm = five != nullptr ? *five : landmarks68();
  {
    const py::gil_scoped_release release;
    faceapp::detail::add_landmarks(found, lm);
  }
  std::vector<points> out;
  for (const auto& f : found) {
    points p;
    const auto take = [&](std::size_t i) {
      p.emplace_back(static_cast<long>(f.landmarks_in_image[i].x), static_cast<long>(f.landmarks_in_image[i].y));
    };
    if (model == "small" && five == nullptr) {
      for (int i : five_of_68) take(static_cast<std::size_t>(i));
    } else {
      for (std::size_t i = 0; i < f.landmarks_in_image.size(); ++i) take(i);
    }
    out.push_back(std::move(p));
  }
  return {std::move(out), five != nullptr};
}

/// Encodings (n x 128, float64) of the faces at `boxes`: landmarks from the 5-point model for "small" when it
/// is there, else from the 68-point one (dlib aligns the chip from either), then dlib's ResNet.
py::array_t<double> encodings(const py::array& arr, const std::vector<css>& boxes, int jitters,
                              const std::string& model) {
  if (jitters < 1 || jitters > 1000) throw py::value_error("num_jitters must be in [1, 1000]");
  auto found = faces_at(to_image(arr), boxes);
  const faceapp::landmark_model* five = model == "small" ? landmarks5() : nullptr;
  const faceapp::landmark_model& lm = five != nullptr ? *five : landmarks68();
  const auto& enc = encoder();
  std::vector<faceapp::encoding> e;
  {
    const py::gil_scoped_release release;
    faceapp::detail::add_landmarks(found, lm);
    e = faceapp::detail::encode_faces(found, enc, jitters);
  }
  py::array_t<double> out({static_cast<py::ssize_t>(e.size()), static_cast<py::ssize_t>(faceapp::encoding_size)});
  auto* d = out.mutable_data();
  for (std::size_t i = 0; i < e.size(); ++i) {
    for (std::size_t j = 0; j < faceapp::encoding_size; ++j) d[i * faceapp::encoding_size + j] = e[i][j];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The pipeline's values: images and faces as faceapp's own types.

faceapp::encoding to_encoding(const py::array& a) {
  const auto arr = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
  if (!arr || arr.size() != static_cast<py::ssize_t>(faceapp::encoding_size)) {
    throw py::value_error("an encoding has 128 values");
  }
  faceapp::encoding e;
  std::memcpy(e.data(), arr.data(), sizeof(float) * faceapp::encoding_size);
  return e;
}

py::array_t<double> encoding_array(const faceapp::encoding& e) {
  py::array_t<double> out(static_cast<py::ssize_t>(faceapp::encoding_size));
  for (std::size_t j = 0; j < faceapp::encoding_size; ++j) out.mutable_data()[j] = e[j];
  return out;
}

py::tuple box_tuple(const faceapp::box& b) { return py::make_tuple(b.top, b.right, b.bottom, b.left); }

py::list point_list(const std::vector<faceapp::point>& ps) {
  py::list l;
  for (const auto& p : ps) l.append(py::make_tuple(p.x, p.y));
  return l;
}

template <class Stage, class In>
auto run_stage(const Stage& stage, In&& in) {
  return value_or_raise(without_gil([&] { return stage(std::forward<In>(in)); }));
}

// ---------------------------------------------------------------------------------------------------------------
// The gallery: faceapp::gallery's SIMD scans, named rows.

class py_gallery {
 public:
  py_gallery() = default;
  explicit py_gallery(faceapp::gallery g) : g_(std::move(g)) {}

  std::uint64_t add(const std::string& name, const py::array& e) { return g_.add(name, to_encoding(e)); }
  std::size_t size() const { return g_.size(); }

  std::optional<std::pair<std::string, float>> nearest(const py::array& q) const {
    const auto e = to_encoding(q);
    const auto view = g_.snapshot();
    const auto m = view->nearest(e);
    if (!m) return std::nullopt;
    return std::pair{std::string(view->name(m->row)), m->distance};
  }

  std::vector<std::pair<std::string, float>> top_k(const py::array& q, std::size_t k) const {
    const auto e = to_encoding(q);
    const auto view = g_.snapshot();
    std::vector<std::pair<std::string, float>> out;
    for (const auto& m : view->top_k(e, k)) out.emplace_back(std::string(view->name(m.row)), m.distance);
    return out;
  }

  std::vector<std::string> names() const {
    const auto view = g_.snapshot();
    std::vector<std::string> out;
    for (std::size_t r = 0; r < view->rows(); ++r) out.emplace_back(view->name(r));
    return out;
  }

  py::array_t<float> matrix() const {
    const auto view = g_.snapshot();
    py::array_t<float> out({static_cast<py::ssize_t>(view->rows()), static_cast<py::ssize_t>(faceapp::encoding_size)});
    for (std::size_t r = 0; r < view->rows(); ++r) {
      std::memcpy(out.mutable_data() + r * faceapp::encoding_size, view->at(r).data(),
                  sizeof(float) * faceapp::encoding_size);
    }
    return out;
  }

  static py_gallery from_matrix(const std::vector<std::string>& names, const py::array& values) {
    const auto arr = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(values);
    if (!arr) throw py::value_error("from_matrix: values must be a numeric array");
    try {
      return py_gallery(faceapp::gallery::from_matrix(names, std::span<const float>(arr.data(), static_cast<std::size_t>(arr.size()))));
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
  }

  const faceapp::gallery& get() const { return g_; }

 private:
  faceapp::gallery g_;
};

}  // namespace

PYBIND11_MODULE(_faceapp, m) {
  m.doc() = "faceapp's compiled core: detectors, landmarks, encoder and gallery (see the faceapp package)";

  static py::object make_error = py::module_::import("faceapp._errors").attr("make_error");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const stage_exception& e) {
      const py::object err = make_error(e.error.stage, e.error.input, e.error.message, errc_name(e.error.code));
      PyErr_SetObject(err.get_type().ptr(), err.ptr());
    }
  });

  m.def("set_package_model_dir", &faceapp_py::set_package_model_dir);
  m.def("model_search_path", &faceapp_py::model_search_path);
  m.def("has_five_point_model", [] { return landmarks5() != nullptr; });

  // face_recognition's primitives
  m.def("read_image", [](const std::string& path, const std::string& mode, std::int64_t max_pixels) -> py::array {
    const auto img = read_source(faceapp::source(std::filesystem::path(path)), max_pixels);
    return mode == "L" ? py::array(to_numpy_gray(img.pixels)) : py::array(to_numpy(img.pixels));
  }, py::arg("path"), py::arg("mode") = "RGB", py::arg("max_pixels") = 0);
  m.def("read_image_bytes", [](const py::bytes& data, const std::string& name, const std::string& mode,
                               std::int64_t max_pixels) -> py::array {
    const std::string_view v = data;
    std::vector<std::uint8_t> bytes(v.begin(), v.end());
    const auto img = read_source(faceapp::source::from_bytes(std::move(bytes), name), max_pixels);
    return mode == "L" ? py::array(to_numpy_gray(img.pixels)) : py::array(to_numpy(img.pixels));
  }, py::arg("data"), py::arg("name"), py::arg("mode") = "RGB", py::arg("max_pixels") = 0);
  m.def("hog_locations", &hog_locations, py::arg("img"), py::arg("upsample"));
  m.def("cnn_locations", &cnn_locations, py::arg("img"), py::arg("tiles"));
  m.def("landmark_points", &landmark_points, py::arg("img"), py::arg("boxes"), py::arg("model"));
  m.def("encodings", &encodings, py::arg("img"), py::arg("boxes"), py::arg("jitters"), py::arg("model"));

  // The pipeline's values
  py::class_<faceapp::image>(m, "Image", "An RGB image as read, with where it came from")
      .def_property_readonly("width", &faceapp::image::width)
      .def_property_readonly("height", &faceapp::image::height)
      .def_readonly("source", &faceapp::image::source)
      .def_property_readonly("scale", [](const faceapp::image& i) { return py::make_tuple(i.scale_x, i.scale_y); })
      .def_property_readonly("pixels", [](const faceapp::image& i) { return to_numpy(i.pixels); })
      .def_static("from_array", [](const py::array& a, const std::string& source) { return to_image(a, source); },
                  py::arg("array"), py::arg("source") = "<numpy array>")
      .def("__repr__", [](const faceapp::image& i) {
        return "<faceapp.Image " + i.source + " " + std::to_string(i.width()) + "x" + std::to_string(i.height()) + ">";
      });

  py::class_<faceapp::encoded_face>(m, "Face", "A face: box (top, right, bottom, left), score, landmarks, encoding")
      .def_property_readonly("box", [](const faceapp::encoded_face& f) { return box_tuple(f.box); })
      .def_property_readonly("score", [](const faceapp::encoded_face& f) { return f.score.value; })
      .def_property_readonly("detector", [](const faceapp::encoded_face& f) {
        return f.score.detector == faceapp::cnn ? "cnn" : "hog";
      })
      .def_property_readonly("landmarks", [](const faceapp::encoded_face& f) { return point_list(f.landmarks); })
      .def_property_readonly("encoding", [](const faceapp::encoded_face& f) -> py::object {
        if (f.encoding.values == faceapp::encoding{}.values) return py::none();
        return encoding_array(f.encoding);
      })
      .def_property("distance", [](const faceapp::encoded_face& f) { return f.distance; },
                    [](faceapp::encoded_face& f, std::optional<float> d) { f.distance = d; })
      .def_property("match", [](const faceapp::encoded_face& f) { return f.match; },
                    [](faceapp::encoded_face& f, std::optional<bool> v) { f.match = v; })
      .def_readwrite("name", &faceapp::encoded_face::name)
      .def("__repr__", [](const faceapp::encoded_face& f) {
        return "<faceapp.Face (" + std::to_string(f.box.top) + ", " + std::to_string(f.box.right) + ", " +
               std::to_string(f.box.bottom) + ", " + std::to_string(f.box.left) + ")>";
      });

  // faces and encoded_faces are both shown as Faces: a list of Face with the image they were found in.
  py::class_<faceapp::encoded_faces>(m, "Faces", "The faces of one image, in the detector's order")
      .def_readonly("image", &faceapp::encoded_faces::image)
      .def_property_readonly("source", [](const faceapp::encoded_faces& f) { return f.image.source; })
      .def("__len__", &faceapp::encoded_faces::size)
      .def("__getitem__", [](faceapp::encoded_faces& f, py::ssize_t i) -> faceapp::encoded_face& {
        const auto n = static_cast<py::ssize_t>(f.size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) throw py::index_error("face index out of range");
        return f.items[static_cast<std::size_t>(i)];
      }, py::return_value_policy::reference_internal)
      .def("__iter__", [](faceapp::encoded_faces& f) { return py::make_iterator(f.items.begin(), f.items.end()); },
           py::keep_alive<0, 1>())
      .def("largest", &faceapp::encoded_faces::largest)
      .def("__repr__", [](const faceapp::encoded_faces& f) {
        return "<faceapp.Faces " + f.image.source + ": " + std::to_string(f.size()) + " face(s)>";
      });

  // The stages, each a function of its input; faceapp/_pipeline.py composes them.
  m.def("stage_read", [](const py::object& src, std::int64_t max_pixels) {
    faceapp::read_options opts;
    if (max_pixels > 0) opts.max_pixels = max_pixels;
    if (py::isinstance<py::bytes>(src)) {
      const std::string_view v = src.cast<py::bytes>();
      return run_stage(faceapp::read(opts), faceapp::source::from_bytes({v.begin(), v.end()}, "bytes"));
    }
    return run_stage(faceapp::read(opts), faceapp::source(std::filesystem::path(py::str(src).cast<std::string>())));
  });
  m.def("stage_read_named_bytes", [](const py::bytes& data, const std::string& name, std::int64_t max_pixels) {
    faceapp::read_options opts;
    if (max_pixels > 0) opts.max_pixels = max_pixels;
    const std::string_view v = data;
    return run_stage(faceapp::read(opts), faceapp::source::from_bytes({v.begin(), v.end()}, name));
  });
  m.def("stage_resize", [](const faceapp::image& img, double s) { return run_stage(faceapp::resize(s), img); });
  m.def("stage_fit", [](const faceapp::image& img, int side) { return run_stage(faceapp::fit(side), img); });
  const auto widen = [](faceapp::faces&& f) {
    faceapp::encoded_faces out;
    out.image = std::move(f.image);
    for (auto& one : f.items) {
      faceapp::encoded_face e;
      static_cast<faceapp::face&>(e) = std::move(one);
      out.items.push_back(std::move(e));
    }
    return out;
  };
  const auto narrow = [](const faceapp::encoded_faces& in) {
    faceapp::faces out;
    out.image = in.image;
    for (const auto& one : in.items) out.items.push_back(static_cast<const faceapp::face&>(one));
    return out;
  };
  m.def("stage_detect", [widen](const faceapp::image& img, int upsample, const std::string& model) {
    const auto which = faceapp::parse_detector_model(model);
    if (!which) throw py::value_error("model must be 'hog' or 'cnn', got '" + model + "'");
    if (*which == faceapp::cnn) return widen(run_stage(faceapp::detect(stage_models(), faceapp::cnn, upsample), img));
    return widen(run_stage(faceapp::detect(upsample), img));
  });
  m.def("stage_landmarks", [widen, narrow](const faceapp::encoded_faces& in) {
    return widen(run_stage(faceapp::landmarks(stage_models()), narrow(in)));
  });
  m.def("stage_encode_image", [](const faceapp::image& img, int jitters) {
    return run_stage(faceapp::encode(stage_models(), jitters), img);
  });
  m.def("stage_encode_faces", [narrow](const faceapp::encoded_faces& in, int jitters) {
    return run_stage(faceapp::encode(stage_models(), jitters), narrow(in));
  });

  py::class_<py_gallery>(m, "Gallery", "Named encodings, searched 1:N with faceapp's SIMD kernels")
      .def(py::init<>())
      .def("add", &py_gallery::add, py::arg("name"), py::arg("encoding"))
      .def("nearest", &py_gallery::nearest, py::arg("encoding"))
      .def("top_k", &py_gallery::top_k, py::arg("encoding"), py::arg("k"))
      .def("names", &py_gallery::names)
      .def("matrix", &py_gallery::matrix)
      .def_static("from_matrix", &py_gallery::from_matrix, py::arg("names"), py::arg("values"))
      .def("__len__", &py_gallery::size);
}
