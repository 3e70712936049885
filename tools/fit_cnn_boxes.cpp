// faceapp_fit_cnn_boxes <faces dir>: measures how the cnn detector's boxes relate to dlib's HOG boxes of the same
// faces, the fit detail::cnn_to_hog (stages/detect.hpp) uses so that the landmark models, trained on HOG boxes,
// see what they expect.
//
// For every photo of <faces dir>/manifest.csv: HOG at upsample 1 and one cnn pass; each cnn box is paired with the
// HOG box it overlaps most (IoU > 0.3). Prints the pairs and, over all of them, the mean and spread of
// dx = (HOG centre x - cnn centre x) / cnn width, dy likewise over the height, and side = HOG side / sqrt(cnn w * h).
#include <faceapp/detail/detect_impl.hpp>
#include <faceapp/faceapp.hpp>

#include <cmath>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: faceapp_fit_cnn_boxes <folder with manifest.csv and its photos>\n";
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
  std::vector<double> dx, dy, side;
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
      dx.push_back(((match->left() + match->right()) / 2.0 - (d.left + d.right) / 2) / w);
      dy.push_back(((match->top() + match->bottom()) / 2.0 - (d.top + d.bottom) / 2) / h);
      side.push_back(static_cast<double>(match->right() - match->left()) / std::sqrt(w * h));
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
  if (dx.empty()) return 1;
  report("dx", dx);
  report("dy", dy);
  report("side", side);
  return 0;
}
