// faceapp runtime: the face encoder's weights, read from dlib's file and folded for the fast engine.
//
// The file is dlib's serialisation of models/network.hpp's network: the loss layer, the version number of each
// layer's wrapper from the output end down, then from the input end up each layer's own record (its name with a
// version, its shape, its parameters as little-endian floats, dlib's bookkeeping). It is read here against that
// network's list of layers, without dlib's deserialiser: instantiating that one for the whole network type was the
// costliest compile of the runtime, paid again by every project that builds the runtime from the installed
// package. What dlib accepts for these layers (every version dlib 19.24 reads) is accepted; anything else is an
// error naming the byte and the layer. tests/encoder checks the result against dlib's own deserialize, bit for bit.
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "faceapp/detail/encoder_weights.hpp"

namespace faceapp::detail {

namespace {

// ---- models/network.hpp's network, from the input end ----

enum class kind { tag, skip, con, affine, relu, max_pool, avg_pool, add_prev, fc };

struct layer {
  kind what;
  long filters = 0;  // con: the filters; fc: the outputs
  long size = 0;     // con and pools: the window's side (0 for avg_pool_everything)
  int stride = 1;
};

const char* kind_name(kind k) {
  switch (k) {
    case kind::tag: return "tag";
    case kind::skip: return "skip";
    case kind::con: return "con_";
    case kind::affine: return "affine_";
    case kind::relu: return "relu_";
    case kind::max_pool: return "max_pool_";
    case kind::avg_pool: return "avg_pool_";
    case kind::add_prev: return "add_prev_";
    case kind::fc: return "fc_";
  }
  return "?";
}

// ares<N> (and ares_down<N>): relu(add_prev(block(tag1(x)))), the downsampling one with the skip average-pooled.
void residual(std::vector<layer>& net, long n, bool down) {
  net.push_back({kind::tag});
  net.push_back({kind::con, n, 3, down ? 2 : 1});
  net.push_back({kind::affine});
  net.push_back({kind::relu});
  net.push_back({kind::con, n, 3, 1});
  net.push_back({kind::affine});
  if (down) {
    net.push_back({kind::tag});
    net.push_back({kind::skip});
    net.push_back({kind::avg_pool, 0, 2, 2});
  }
  net.push_back({kind::add_prev});
  net.push_back({kind::relu});
}

/// Every layer above the stem's convolution (which dlib writes with the input layer), in forward order.
std::vector<layer> encoder_layers() {
  std::vector<layer> net{{kind::affine}, {kind::relu}, {kind::max_pool, 0, 3, 2}};
  // alevel4 to alevel0: the width and the number of residual blocks; every level but the first starts with
  // a downsampling block.
  const struct {
    long width;
    int blocks;
  } levels[] = {{32, 3}, {64, 4}, {128, 3}, {256, 3}, {256, 1}};
  for (std::size_t l = 0; l < std::size(levels); ++l) {
    for (int b = 0; b < levels[l].blocks; ++b) residual(net, levels[l].width, l > 0 && b == 0);
  }
  net.push_back({kind::avg_pool, 0, 0, 1});  // avg_pool_everything
  net.push_back({kind::fc, static_cast<long>(encoding_size)});
  return net;
}

constexpr layer stem_layer{kind::con, 32, 7, 2};
constexpr long chip_side = 150;

// dlib's default padding for a window of `size` and `stride`: half the window at stride 1, none otherwise.
long default_padding(long size, int stride) { return stride != 1 ? 0 : size / 2; }

// ---- dlib's serialisation of numbers, strings and tensors (dlib/serialize.h, dlib/cuda/tensor.h) ----

class reader {
 public:
  explicit reader(std::vector<unsigned char> bytes) : bytes_(std::move(bytes)) {}

  void at_layer(std::string where) { where_ = std::move(where); }

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("not dlib's face encoder network: at byte " + std::to_string(at_) + ", " + where_ +
                             ": " + what);
  }

  std::uint8_t byte() {
    if (at_ >= bytes_.size()) fail("the file ends early");
    return bytes_[at_++];
  }

  /// An integer: a byte with the sign (0x80) and the length (the low four bits), then that many bytes,
  /// least significant first.
  std::int64_t integer() {
    const std::size_t start = at_;
    const std::uint8_t head = byte();
    const unsigned length = head & 0x0FU;
    if (length == 0 || length > 8 || (head & 0x70U) != 0) {
      at_ = start;
      fail("no integer here");
    }
    std::uint64_t value = 0;
    for (unsigned i = 0; i < length; ++i) value |= std::uint64_t{byte()} << (8 * i);
    if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      at_ = start;
      fail("an integer out of range");
    }
    const auto v = static_cast<std::int64_t>(value);
    return (head & 0x80U) != 0 ? -v : v;
  }

  std::int64_t count() {
    const std::size_t start = at_;
    const auto v = integer();
    if (v < 0) {
      at_ = start;
      fail("a negative size");
    }
    return v;
  }

  int version(int lowest, int highest, const char* of) {
    const std::size_t start = at_;
    const auto v = integer();
    if (v < lowest || v > highest) {
      at_ = start;
      fail(std::string("version ") + std::to_string(v) + " of " + of + " (dlib reads " + std::to_string(lowest) +
           (lowest == highest ? "" : " to " + std::to_string(highest)) + ")");
    }
    return static_cast<int>(v);
  }

  bool boolean() {
    const std::uint8_t c = byte();
    if (c != '0' && c != '1') {
      --at_;
      fail("no boolean here");
    }
    return c == '1';
  }

  std::string text() {
    const auto n = static_cast<std::size_t>(count());
    if (n > remaining()) fail("a string longer than the rest of the file");
    std::string s(reinterpret_cast<const char*>(bytes_.data() + at_), n);
    at_ += n;
    return s;
  }

  /// A float as dlib writes it: its mantissa and exponent as two integers, converted as dlib converts them.
  float real() {
    if (at_ < bytes_.size() && (bytes_[at_] & 0x70U) != 0) fail("a number in dlib's old text format");
    const auto mantissa = integer();
    const std::size_t exponent_at = at_;
    const auto exponent = integer();
    constexpr std::int64_t is_inf = 32000, is_ninf = 32001, is_nan = 32002;
    if (exponent < std::numeric_limits<std::int16_t>::min() || exponent > is_nan) {
      at_ = exponent_at;
      fail("a float's exponent out of range");
    }
    if (exponent == is_inf) return std::numeric_limits<float>::infinity();
    if (exponent == is_ninf) return -std::numeric_limits<float>::infinity();
    if (exponent == is_nan) return std::numeric_limits<float>::quiet_NaN();
    return std::ldexp(static_cast<float>(mantissa), static_cast<int>(exponent));
  }

  /// A tensor: version 2, its four dimensions, then its values as 4-byte little-endian floats.
  std::vector<float> tensor() {
    const std::size_t n = tensor_head();
    std::vector<float> values(n);
    static_assert(std::endian::native == std::endian::little, "dlib's tensors are little-endian floats");
    if (n != 0) std::memcpy(values.data(), bytes_.data() + at_, n * sizeof(float));
    at_ += n * sizeof(float);
    return values;
  }

  void skip_tensor() { at_ += tensor_head() * sizeof(float); }

  /// An alias_tensor (a view's shape, no values): version 1 and four dimensions; its size.
  std::size_t alias_tensor() {
    version(1, 1, "dlib::alias_tensor");
    return dimensions();
  }

  void expect(const std::string& name) {
    const std::size_t start = at_;
    const std::string found = text();
    if (found != name) {
      at_ = start;
      fail("'" + found + "' where '" + name + "' is");
    }
  }

 private:
  std::size_t remaining() const { return bytes_.size() - at_; }

  std::size_t dimensions() {
    std::size_t n = 1;
    for (int d = 0; d < 4; ++d) {
      const auto extent = static_cast<std::uint64_t>(count());
      if (extent != 0 && n > std::numeric_limits<std::size_t>::max() / sizeof(float) / extent) {
        fail("a tensor larger than memory");
      }
      n *= static_cast<std::size_t>(extent);
    }
    return n;
  }

  std::size_t tensor_head() {
    version(2, 2, "dlib::resizable_tensor");
    const std::size_t n = dimensions();
    if (n > remaining() / sizeof(float)) fail("a tensor of " + std::to_string(n) + " floats past the file's end");
    return n;
  }

  std::vector<unsigned char> bytes_;
  std::size_t at_ = 0;
  std::string where_;
};

// ---- the layers' own records (dlib/dnn/layers.h, input.h, loss.h) ----

// A layer's parameters with its shape; view() points into the record's own parameters, wherever it has moved.
struct conv_record {
  conv_layer_view shape;
  std::vector<float> params;
  [[nodiscard]] conv_layer_view view() const {
    conv_layer_view v = shape;
    v.params = params;
    return v;
  }
};

conv_record read_con(reader& in, const layer& spec) {
  const std::string version = in.text();
  if (version != "con_4" && version != "con_5") in.fail("'" + version + "' where a con_ layer is");
  conv_record r;
  r.params = in.tensor();
  auto& v = r.shape;
  v.filters = in.integer();
  v.rows = in.integer();
  v.cols = in.integer();
  v.stride_y = static_cast<int>(in.integer());
  v.stride_x = static_cast<int>(in.integer());
  v.pad_y = static_cast<int>(in.integer());
  v.pad_x = static_cast<int>(in.integer());
  in.alias_tensor();  // the filters' view
  in.alias_tensor();  // the biases' view
  for (int i = 0; i < 4; ++i) in.real();  // learning rate and weight decay multipliers
  if (version == "con_5") v.bias = in.boolean();
  const long pad = default_padding(spec.size, spec.stride);
  if (v.filters != spec.filters || v.rows != spec.size || v.cols != spec.size || v.stride_y != spec.stride ||
      v.stride_x != spec.stride || v.pad_y != pad || v.pad_x != pad) {
    in.fail("a " + std::to_string(v.filters) + "-filter " + std::to_string(v.rows) + "x" + std::to_string(v.cols) +
            "/" + std::to_string(v.stride_y) + " convolution where the network has " + std::to_string(spec.filters) +
            " filters " + std::to_string(spec.size) + "x" + std::to_string(spec.size) + "/" +
            std::to_string(spec.stride));
  }
  return r;
}

struct affine_record {
  bool disabled = false;
  int mode = 0;
  std::size_t gamma = 0;  // gamma's values, then beta's, fill params
  std::vector<float> params;
  [[nodiscard]] affine_layer_view view() const {
    affine_layer_view v{disabled, mode, {}, {}};
    if (!disabled) {
      v.gamma = std::span<const float>(params).first(gamma);
      v.beta = std::span<const float>(params).subspan(gamma);
    }
    return v;
  }
};

affine_record read_affine(reader& in) {
  const std::string version = in.text();
  if (version == "bn_con2" || version == "bn_fc2") {
    in.fail("a training network's batch normalisation ('" + version + "'): the encoder's file has affine layers");
  }
  if (version != "affine_" && version != "affine_2") in.fail("'" + version + "' where an affine_ layer is");
  affine_record r;
  r.params = in.tensor();
  r.gamma = in.alias_tensor();
  const std::size_t beta = in.alias_tensor();
  r.mode = static_cast<int>(in.integer());
  if (version == "affine_2") r.disabled = in.boolean();
  if (!r.disabled && r.gamma + beta != r.params.size()) {
    in.fail("an affine layer whose gamma and beta are not its parameters");
  }
  return r;
}

void read_pool(reader& in, const layer& spec) {
  const char* name = spec.what == kind::max_pool ? "max_pool_2" : "avg_pool_2";
  in.expect(name);
  const auto rows = in.integer(), cols = in.integer(), stride_y = in.integer(), stride_x = in.integer();
  const auto pad_y = in.integer(), pad_x = in.integer();
  const long pad = default_padding(spec.size, spec.stride);
  if (rows != spec.size || cols != spec.size || stride_y != spec.stride || stride_x != spec.stride || pad_y != pad ||
      pad_x != pad) {
    in.fail(std::string("a pooling window other than the network's ") + std::to_string(spec.size) + "x" +
            std::to_string(spec.size) + "/" + std::to_string(spec.stride));
  }
}

std::vector<float> read_fc(reader& in, const layer& spec) {
  const std::string version = in.text();
  if (version != "fc_2" && version != "fc_3") in.fail("'" + version + "' where an fc_ layer is");
  const auto outputs = in.count();
  in.count();  // num_inputs
  auto params = in.tensor();
  in.alias_tensor();  // the weights' view
  in.alias_tensor();  // the biases' view
  if (in.integer() != 1) in.fail("an fc layer with a bias (the encoder's is fc_no_bias)");
  for (int i = 0; i < 4; ++i) in.real();
  if (version == "fc_3") in.boolean();
  if (outputs != spec.filters) {
    in.fail("an fc layer of " + std::to_string(outputs) + " outputs where the encoder has " +
            std::to_string(spec.filters));
  }
  return params;
}

/// What add_layer writes after its layer: three flags and the tensors of its training state.
void skip_layer_state(reader& in, int version) {
  for (int i = 0; i < 3; ++i) in.boolean();
  in.skip_tensor();  // x_grad
  in.skip_tensor();  // cached_output
  if (version == 2) in.skip_tensor();  // params_grad
}

std::string layer_name(std::size_t index, kind k) {
  // Layer 1 is the stem's convolution (written with the input layer); these are counted from there.
  return "layer " + std::to_string(index + 2) + " from the input (" + kind_name(k) + ")";
}

std::shared_ptr<const encoder_weights> read_encoder(reader& in) {
  const std::vector<layer> net = encoder_layers();

  in.at_layer("the loss layer");
  in.version(1, 1, "dlib::add_loss_layer");
  const std::string loss = in.text();
  if (loss == "loss_metric_2") {
    in.real();  // margin
    in.real();  // distance threshold
  } else if (loss != "loss_metric_") {
    in.fail("'" + loss + "' where the encoder's loss_metric_ is");
  }

  // The wrappers' versions, from the output end down; an add_layer's says whether params_grad follows its layer.
  std::vector<int> versions(net.size());
  for (std::size_t i = net.size(); i-- > 0;) {
    in.at_layer(layer_name(i, net[i].what));
    if (net[i].what == kind::tag) {
      versions[i] = in.version(1, 1, "dlib::add_tag_layer");
    } else if (net[i].what == kind::skip) {
      versions[i] = in.version(1, 1, "dlib::add_skip_layer");
    } else {
      versions[i] = in.version(1, 2, "dlib::add_layer");
    }
  }

  in.at_layer("layer 1 from the input (the stem's con_ on input_rgb_image_sized)");
  const int input_version = in.version(2, 3, "dlib::add_layer");
  in.expect("input_rgb_image_sized");
  const float mean_r = in.real(), mean_g = in.real(), mean_b = in.real();
  if (in.count() != chip_side || in.count() != chip_side) in.fail("an input other than a 150x150 chip");
  // The convolution waiting for its affine layer, which the network's list puts right after it.
  conv_record pending = read_con(in, stem_layer);
  for (int i = 0; i < 3; ++i) in.boolean();
  in.skip_tensor();  // x_grad
  in.skip_tensor();  // cached_output
  in.skip_tensor();  // grad_final
  if (input_version >= 3) in.integer();  // the sample expansion factor

  std::vector<folded_conv> convs;
  std::vector<float> fc;
  for (std::size_t i = 0; i < net.size(); ++i) {
    const layer& spec = net[i];
    in.at_layer(layer_name(i, spec.what));
    switch (spec.what) {
      case kind::tag:
      case kind::skip: continue;  // a tag or a skip writes nothing after the layers under it
      case kind::con: pending = read_con(in, spec); break;
      case kind::affine: convs.push_back(fold_conv_affine(pending.view(), read_affine(in).view())); break;
      case kind::relu: in.expect("relu_"); break;
      case kind::max_pool:
      case kind::avg_pool: read_pool(in, spec); break;
      case kind::add_prev: in.expect("add_prev_"); break;
      case kind::fc: fc = read_fc(in, spec); break;
    }
    skip_layer_state(in, versions[i]);
  }
  return assemble_encoder_weights(mean_r, mean_g, mean_b, std::move(convs), fc, static_cast<int>(encoding_size));
}

}  // namespace

std::shared_ptr<const encoder_weights> load_encoder_weights(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open the file");
  std::vector<unsigned char> bytes;
  in.seekg(0, std::ios::end);
  const auto size = in.tellg();
  if (size < 0) throw std::runtime_error("cannot read the file");
  bytes.resize(static_cast<std::size_t>(size));
  in.seekg(0, std::ios::beg);
  if (!bytes.empty() && !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()))) {
    throw std::runtime_error("cannot read the file");
  }
  if (bytes.empty()) throw std::runtime_error("the file is empty");
  reader r(std::move(bytes));
  return read_encoder(r);
}

}  // namespace faceapp::detail
