// faceapp_fit_cnn_boxes <faces dir> [<photo>...]: measures how the cnn detector's boxes relate to dlib's HOG boxes
// of the same faces, the fit detail::cnn_to_hog (detail/detect_impl.hpp) uses so that the landmark models, trained
// on HOG boxes, see what they expect.
//
// For every photo of <faces dir>/manifest.csv: HOG at upsample 1 and one cnn pass; each cnn box is paired with the
// HOG box it overlaps most (IoU > 0.3). Prints the pairs and, over all of them, the mean and spread of
// dx = (HOG centre x - cnn centre x) / cnn width, dy likewise over the height, and side = HOG side / sqrt(cnn w * h);
// the root-mean-square and the largest error of the fitted box's top and bottom against HOG's, in % of HOG's side,
// for the fit in the code and for a fit by the box's aspect (side / h and dy linear in w / h, least squares).
// Photos named after the folder are checked, not fitted: their cnn box as the network gives it, mapped by either
// fit, and HOG's box; and the network's box on a square crop 1.5 times its box's longer side centred on it
// (shifted into the photo), which the network sees without the padding of the whole photo to a square.
#include <faceapp/detail/detect_impl.hpp>
#include <faceapp/faceapp.hpp>

#include <array>
#include <cmath>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

struct pair_of {
  double l, t, r, b;     // the cnn box
  double ht, hb, hside;  // HOG's top, bottom and side
};

// y = a + b x by least squares.
std::array<double, 2> line_fit(const std::vector<double>& x, const std::vector<double>& y) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const auto n = static_cast<double>(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) sx += x[i], sy += y[i], sxx += x[i] * x[i], sxy += x[i] * y[i];
  const double b = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  return {(sy - b * sx) / n, b};
}

struct aspect_fit {
  std::array<double, 2> side, dy;  // side / h and dy as a + b * (w / h)
  // top and bottom of the box this fit gives for a cnn box
  [[nodiscard]] std::array<double, 2> top_bottom(double t, double b, double w) const {
    const double h = b - t, a = w / h;
    const double cy = (t + b) / 2 + (dy[0] + dy[1] * a) * h, half = (side[0] + side[1] * a) * h / 2;
    return {cy - half, cy + half};
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: faceapp_fit_cnn_boxes <folder with manifest.csv and its photos> [<photo to check>...]\n";
    return 2;
  }
  const auto& model = faceapp::default_cnn_detector_model();
  if (!model) {
    std::cerr << model.error().what() << '\n';
    return 1;
  }
  auto& engine = model->for_this_thread();
  const std::string dir = argv[1];
  std::ifstream manifest(dir + "/manifest.csv");
  std::string line;
  std::getline(manifest, line);
  std::vector<double> dx, dy, side, aspect, side_h;
  std::vector<pair_of> pairs;
  while (std::getline(manifest, line)) {
    const auto file = line.substr(0, line.find(','));
    const auto img = faceapp::read(dir + "/" + file);
    if (!img) continue;
    const auto hog = faceapp::detail::hog_detect(*img, 1);
    for (const auto& d : engine.detect(img->pixels.data, img->width(), img->height(), img->pixels.step)) {
      double best = 0;
      const dlib::rectangle* match = nullptr;
      for (const auto& h : hog) {
        const double l = std::max<double>(d.left, h.rect.left()), r = std::min<double>(d.right, h.rect.right());
        const double t = std::max<double>(d.top, h.rect.top()), b = std::min<double>(d.bottom, h.rect.bottom());
        const double inter = std::max(0.0, r - l) * std::max(0.0, b - t);
        const double uni = (d.right - d.left) * (d.bottom - d.top) +
                           static_cast<double>(h.rect.width()) * static_cast<double>(h.rect.height()) - inter;
        if (inter / uni > best) best = inter / uni, match = &h.rect;
      }
      if (match == nullptr || best <= 0.3) continue;
      const double w = d.right - d.left, h = d.bottom - d.top;
      const auto hside = static_cast<double>(match->right() - match->left());
      dx.push_back(((match->left() + match->right()) / 2.0 - (d.left + d.right) / 2) / w);
      dy.push_back(((match->top() + match->bottom()) / 2.0 - (d.top + d.bottom) / 2) / h);
      side.push_back(hside / std::sqrt(w * h));
      aspect.push_back(w / h);
      side_h.push_back(hside / h);
      pairs.push_back({d.left, d.top, d.right, d.bottom, static_cast<double>(match->top()),
                       static_cast<double>(match->bottom()), hside});
      std::cout << file << ": cnn " << d.left << ' ' << d.top << ' ' << d.right << ' ' << d.bottom << ", hog "
                << match->left() << ' ' << match->top() << ' ' << match->right() << ' ' << match->bottom() << '\n';
    }
  }
  const auto report = [](const char* name, const std::vector<double>& v) {
    double mean = 0, sq = 0;
    for (const double x : v) mean += x;
    mean /= static_cast<double>(v.size());
    for (const double x : v) sq += (x - mean) * (x - mean);
    std::cout << name << ": mean " << mean << ", spread " << std::sqrt(sq / static_cast<double>(v.size())) << '\n';
  };
  std::cout << dx.size() << " faces found by both\n";
  if (dx.size() < 2) return 1;
  report("dx", dx);
  report("dy", dy);
  report("side", side);

  const aspect_fit by_aspect{line_fit(aspect, side_h), line_fit(aspect, dy)};
  const auto in_code = [](const faceapp::detail::ssd::detection& d) {
    const auto b = faceapp::detail::cnn_box_to_hog(d, 1 << 20, 1 << 20);
    return std::array<double, 2>{static_cast<double>(b.top), static_cast<double>(b.bottom)};
  };
  // The root-mean-square and the largest error of top and bottom, in % of HOG's side.
  const auto errors = [&](auto&& fit) {
    std::array<double, 4> e{};  // rms top, rms bottom, largest top, largest bottom
    for (const auto& p : pairs) {
      const auto [t, b] = fit(p);
      const double et = std::abs(t - p.ht) / p.hside, eb = std::abs(b - p.hb) / p.hside;
      e[0] += et * et, e[1] += eb * eb, e[2] = std::max(e[2], et), e[3] = std::max(e[3], eb);
    }
    const auto n = static_cast<double>(pairs.size());
    return std::array<double, 4>{100 * std::sqrt(e[0] / n), 100 * std::sqrt(e[1] / n), 100 * e[2], 100 * e[3]};
  };
  const auto print = [](const std::array<double, 4>& e) {
    std::cout << e[0] << "% and " << e[1] << "% of the side (rms; at most " << e[2] << "% and " << e[3] << "%)\n";
  };
  std::cout << "fit in the code: top and bottom off HOG's by ";
  print(errors([&](const pair_of& p) { return in_code({1, p.l, p.t, p.r, p.b}); }));
  std::cout << "fit by aspect: side / h = " << by_aspect.side[0] << " + " << by_aspect.side[1] << " w / h, dy = "
            << by_aspect.dy[0] << " + " << by_aspect.dy[1] << " w / h: ";
  print(errors([&](const pair_of& p) { return by_aspect.top_bottom(p.t, p.b, p.r - p.l); }));

  for (int i = 2; i < argc; ++i) {
    const auto img = faceapp::read(argv[i]);
    if (!img) {
      std::cerr << img.error().what() << '\n';
      return 1;
    }
    std::cout << argv[i] << ":\n";
    for (const auto& h : faceapp::detail::hog_detect(*img, 1)) {
      std::cout << "  hog top " << h.rect.top() << ", bottom " << h.rect.bottom() << '\n';
    }
    for (const auto& d : engine.detect(img->pixels.data, img->width(), img->height(), img->pixels.step)) {
      const auto code = in_code(d);
      const auto aspect_tb = by_aspect.top_bottom(d.top, d.bottom, d.right - d.left);
      std::cout << "  cnn top " << std::lround(d.top) << ", bottom " << std::lround(d.bottom) << " (w / h "
                << (d.right - d.left) / (d.bottom - d.top) << "); fit in the code " << code[0] << ", " << code[1]
                << "; fit by aspect " << std::lround(aspect_tb[0]) << ", " << std::lround(aspect_tb[1]) << '\n';
      const int side = static_cast<int>(std::lround(1.5 * std::max(d.right - d.left, d.bottom - d.top)));
      if (side > img->width() || side > img->height()) continue;
      const auto start = [&](double centre, int extent) {
        return std::clamp(static_cast<int>(std::lround(centre - side / 2.0)), 0, extent - side);
      };
      const int x0 = start((d.left + d.right) / 2, img->width()), y0 = start((d.top + d.bottom) / 2, img->height());
      const cv::Mat crop = img->pixels(cv::Rect(x0, y0, side, side));
      for (const auto& c : engine.detect(crop.data, crop.cols, crop.rows, crop.step)) {
        std::cout << "    on a crop of " << side << " px: cnn top " << std::lround(c.top + y0) << ", bottom "
                  << std::lround(c.bottom + y0) << '\n';
      }
    }
  }
  return 0;
}
