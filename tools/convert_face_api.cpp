// faceapp_convert_model: turns face-api.js's face recognition weights into a dlib model file, and its
// ssd_mobilenetv1 face detector's weights into faceapp's cnn detector file.
//
//   faceapp_convert_model <weights_manifest.json> <model.bin> <out.dat>
//   faceapp_convert_model --ssd-mobilenetv1 <weights_manifest.json> <model.bin> <out.dat>
//
// face-api.js's faceRecognitionNet is a TensorFlow.js port of dlib's face recognition ResNet
// (dlib_face_recognition_resnet_model_v1.dat). Its weights ship on npm (@vladmandic/face-api,
// model/face_recognition_model*), so a build without access to dlib.net can still get the encoder:
// this tool writes the weights into faceapp::models::encoder_net and serializes it the way dlib does,
// so that `dlib::deserialize(path) >> net` loads the result like the official file.
//
// Most tensors in the npm package are uint8-quantized, so the converted model is that quantized net,
// not a bit-exact copy of dlib.net's file.
//
// Every inconsistency (unknown dtype, byte count, tensor name or shape, layer count) is an error:
// a silently wrong encoder still produces plausible-looking descriptors.

#include <faceapp/detail/ssd_detector.hpp>
#include <faceapp/models/network.hpp>

#include <dlib/dnn.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

std::string shape_string(const std::vector<long>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + ']';
}

// ---------------------------------------------------------------------------------------------
// Reading the TensorFlow.js weights

/// One decoded tensor of the manifest, values in TF.js's own layout.
struct tf_tensor {
  std::vector<long> shape;
  std::vector<float> values;
  bool used = false;  // every tensor must end up in exactly one layer
  bool is_int = false;  // an int32 tensor: a constant of the TensorFlow graph, never a weight
};

std::vector<char> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Decodes all tensors of the manifest from the bytes of its (single) .bin file, in manifest order,
/// exactly like tf.io.decodeWeights: uint8 quantized -> q * scale + min; float32 -> 4 bytes LE.
std::map<std::string, tf_tensor> read_weights(const fs::path& manifest_path, const fs::path& bin_path) {
  nlohmann::json manifest;
  {
    std::ifstream in(manifest_path);
    if (!in) fail("cannot open " + manifest_path.string());
    try {
      in >> manifest;
    } catch (const nlohmann::json::exception& e) {
      fail(manifest_path.string() + " is not valid JSON: " + e.what());
    }
  }
  if (!manifest.is_array()) fail(manifest_path.string() + ": expected a JSON array of weight groups");

  // The command line takes one .bin, so the manifest must name exactly one shard.
  std::size_t shards = 0;
  for (const auto& group : manifest) shards += group.at("paths").size();
  if (shards != 1) {
    fail(manifest_path.string() + " names " + std::to_string(shards) + " weight files; this tool reads exactly one");
  }

  const auto bytes = read_bytes(bin_path);
  std::size_t offset = 0;
  std::map<std::string, tf_tensor> tensors;

  for (const auto& group : manifest) {
    for (const auto& w : group.at("weights")) {
      const auto name = w.at("name").get<std::string>();
      const auto dtype = w.at("dtype").get<std::string>();
      if (dtype != "float32" && dtype != "int32") {
        fail("tensor " + name + ": dtype " + dtype + " is not supported (expected float32 or int32)");
      }

      tf_tensor t;
      t.is_int = dtype == "int32";
      t.shape = w.at("shape").get<std::vector<long>>();
      long count = 1;
      for (const long d : t.shape) count *= d;
      t.values.resize(static_cast<std::size_t>(count));

      const bool quantized = w.contains("quantization");
      const std::size_t width = quantized ? 1 : 4;
      const std::size_t need = t.values.size() * width;
      if (offset + need > bytes.size()) {
        fail("tensor " + name + " needs bytes " + std::to_string(offset) + ".." + std::to_string(offset + need) +
             " but " + bin_path.string() + " has only " + std::to_string(bytes.size()));
      }
      const char* src = bytes.data() + offset;

      if (quantized) {
        const auto& q = w.at("quantization");
        const auto qdtype = q.at("dtype").get<std::string>();
        if (qdtype != "uint8") fail("tensor " + name + ": quantization dtype " + qdtype + " is not supported");
        // TF.js computes in double and stores float32; do the same so values match to the bit.
        const double scale = q.at("scale").get<double>();
        const double min = q.at("min").get<double>();
        for (std::size_t i = 0; i < t.values.size(); ++i) {
          t.values[i] = static_cast<float>(static_cast<unsigned char>(src[i]) * scale + min);
        }
      } else {
        static_assert(std::endian::native == std::endian::little, "the .bin holds little-endian floats");
        if (t.is_int) {
          for (std::size_t i = 0; i < t.values.size(); ++i) {
            std::int32_t v = 0;
            std::memcpy(&v, src + 4 * i, 4);
            t.values[i] = static_cast<float>(v);
          }
        } else {
          std::memcpy(t.values.data(), src, need);
        }
      }
      offset += need;

      if (!tensors.emplace(name, std::move(t)).second) fail("tensor " + name + " appears twice in the manifest");
    }
  }
  if (offset != bytes.size()) {
    fail("the manifest accounts for " + std::to_string(offset) + " bytes but " + bin_path.string() + " has " +
         std::to_string(bytes.size()) + ": manifest and weights do not belong together");
  }
  return tensors;
}

/// Takes the tensor `name`, checking its shape; each tensor may be taken once.
const std::vector<float>& take(std::map<std::string, tf_tensor>& tensors, const std::string& name,
                               const std::vector<long>& shape) {
  const auto it = tensors.find(name);
  if (it == tensors.end()) fail("the manifest has no tensor " + name);
  if (it->second.used) fail("tensor " + name + " is used twice");
  if (it->second.shape != shape) {
    fail("tensor " + name + " has shape " + shape_string(it->second.shape) + ", the dlib layer needs " +
         shape_string(shape));
  }
  it->second.used = true;
  return it->second.values;
}

// ---------------------------------------------------------------------------------------------
// Finding the layers of the dlib network

template <typename T> struct is_con : std::false_type {};
template <long F, long R, long C, int SY, int SX, int PY, int PX> struct is_con<dlib::con_<F, R, C, SY, SX, PY, PX>>
    : std::true_type {};

template <typename T> struct is_fc : std::false_type {};
template <unsigned long N, dlib::fc_bias_mode M> struct is_fc<dlib::fc_<N, M>> : std::true_type {};

using fc_layer = dlib::fc_<128, dlib::FC_NO_BIAS>;

/// Shape of one dlib con_ layer: num_filters x in_channels x rows x cols.
struct con_shape {
  long out, in, nr, nc;
};

struct con_layer {
  dlib::tensor* params;
  con_shape shape;
};

/// The layers with weights, input end first (the order of face-api.js's manifest).
struct layers {
  std::vector<con_layer> cons;
  std::vector<dlib::affine_*> affines;
  fc_layer* fc = nullptr;
};

/// Finds the layers with weights of a net whose tensors are allocated (after one forward pass).
layers find_layers(faceapp::models::encoder_net& net) {
  layers found;
  // visit_computational_layers walks from the output end: collect, then reverse.
  dlib::visit_computational_layers(net, [&](auto& l) {
    using layer_t = std::decay_t<decltype(l)>;
    if constexpr (is_con<layer_t>::value) {
      // The input channel count is only known from the allocated tensor: filters + one bias each.
      auto& params = l.get_layer_params();
      const long per_filter = static_cast<long>(params.size()) / l.num_filters() - 1;
      found.cons.push_back({&params, {l.num_filters(), per_filter / (l.nr() * l.nc()), l.nr(), l.nc()}});
    } else if constexpr (std::is_same_v<layer_t, dlib::affine_>) {
      found.affines.push_back(&l);
    } else if constexpr (is_fc<layer_t>::value) {
      static_assert(std::is_same_v<layer_t, fc_layer>, "the encoder ends in fc_no_bias<128>");
      if (found.fc != nullptr) fail("the network has more than one fc layer");
      found.fc = &l;
    }
  });
  std::reverse(found.cons.begin(), found.cons.end());
  std::reverse(found.affines.begin(), found.affines.end());
  return found;
}

// ---------------------------------------------------------------------------------------------
// Writing the weights

/// face-api.js's layer names, input end first: one conv+scale, then 14 residual blocks of two each.
std::vector<std::string> face_api_layer_names() {
  std::vector<std::string> names{"conv32_down"};
  const char* blocks[] = {"conv32_1",     "conv32_2",  "conv32_3",     "conv64_down",     "conv64_1",
                          "conv64_2",     "conv64_3",  "conv128_down", "conv128_1",       "conv128_2",
                          "conv256_down", "conv256_1", "conv256_2",    "conv256_down_out"};
  for (const char* block : blocks) {
    // conv1 is the block's first (inner) convolution, the one with the stride in *_down blocks.
    names.push_back(std::string(block) + "/conv1");
    names.push_back(std::string(block) + "/conv2");
  }
  return names;
}

void fill_con(dlib::tensor& params, const con_shape& s, const std::vector<float>& filters,
              const std::vector<float>& bias, const std::string& name) {
  const auto n_filters = static_cast<std::size_t>(s.out * s.in * s.nr * s.nc);
  if (params.size() != n_filters + static_cast<std::size_t>(s.out)) {
    fail("layer " + name + ": dlib's parameter tensor holds " + std::to_string(params.size()) + " values, expected " +
         std::to_string(n_filters + static_cast<std::size_t>(s.out)));
  }
  float* dst = params.host();
  // TF.js filters are [kh][kw][in][out]; dlib's are [out][in][kh][kw] (both cross-correlate: no flip).
  for (long o = 0; o < s.out; ++o)
    for (long i = 0; i < s.in; ++i)
      for (long r = 0; r < s.nr; ++r)
        for (long c = 0; c < s.nc; ++c)
          *dst++ = filters[static_cast<std::size_t>(((r * s.nc + c) * s.in + i) * s.out + o)];
  // dlib stores the biases after all filters.
  std::copy(bias.begin(), bias.end(), dst);
}

void fill_affine(dlib::affine_& layer, const std::vector<float>& gamma, const std::vector<float>& beta,
                 const std::string& name) {
  auto g = layer.get_gamma();
  auto b = layer.get_beta();
  if (g.size() != gamma.size() || b.size() != beta.size()) {
    fail("layer " + name + ": dlib's affine layer has " + std::to_string(g.size()) + " channels, the weights " +
         std::to_string(gamma.size()));
  }
  std::copy(gamma.begin(), gamma.end(), g.host());
  std::copy(beta.begin(), beta.end(), b.host());
}

std::size_t parameter_count(faceapp::models::encoder_net& net) {
  std::size_t n = 0;
  dlib::visit_computational_layers(net, [&](auto& l) {
    if constexpr (std::is_same_v<std::decay_t<decltype(l)>, dlib::affine_>) {
      n += l.get_gamma().size() + l.get_beta().size();  // affine_ keeps its parameters out of get_layer_params()
    } else {
      n += l.get_layer_params().size();
    }
  });
  return n;
}

void convert(const fs::path& manifest_path, const fs::path& bin_path, const fs::path& out_path) {
  auto tensors = read_weights(manifest_path, bin_path);

  faceapp::models::encoder_net net;
  // A default affine_ is in FC mode (one gamma per value); the encoder's affines replace batch norm
  // after convolutions, so they need CONV mode (one gamma per channel), set before setup() runs.
  dlib::visit_computational_layers(net, [](auto& l) {
    if constexpr (std::is_same_v<std::decay_t<decltype(l)>, dlib::affine_>) l = dlib::affine_(dlib::CONV_MODE);
  });

  // One forward pass allocates every parameter tensor with its final shape.
  // A textured chip, so that the round-trip check below exercises every channel.
  dlib::matrix<dlib::rgb_pixel> dummy(150, 150);
  for (long r = 0; r < dummy.nr(); ++r)
    for (long c = 0; c < dummy.nc(); ++c)
      dummy(r, c) = dlib::rgb_pixel(static_cast<unsigned char>(r + c), static_cast<unsigned char>(3 * r),
                                    static_cast<unsigned char>(255 - c));
  (void)net(dummy);

  auto found = find_layers(net);
  const auto names = face_api_layer_names();
  if (found.cons.size() != names.size() || found.affines.size() != names.size() || found.fc == nullptr) {
    fail("the dlib network has " + std::to_string(found.cons.size()) + " con, " + std::to_string(found.affines.size()) +
         " affine and " + (found.fc ? "1" : "0") + " fc layers; face-api.js has " + std::to_string(names.size()) +
         ", " + std::to_string(names.size()) + " and 1");
  }

  for (std::size_t k = 0; k < names.size(); ++k) {
    const auto& [params, s] = found.cons[k];
    const auto& name = names[k];
    fill_con(*params, s, take(tensors, name + "/conv/filters", {s.nr, s.nc, s.in, s.out}),
             take(tensors, name + "/conv/bias", {s.out}), name);
    fill_affine(*found.affines[k], take(tensors, name + "/scale/weights", {s.out}),
                take(tensors, name + "/scale/biases", {s.out}), name);
  }
  {
    // TF.js's fc is [in][out], which is dlib's fc_no_bias layout already.
    auto& params = found.fc->get_layer_params();
    const auto n_in = static_cast<long>(params.size() / found.fc->get_num_outputs());
    const auto& fc = take(tensors, "fc", {n_in, static_cast<long>(found.fc->get_num_outputs())});
    if (fc.size() != params.size())
      fail("fc: " + std::to_string(fc.size()) + " weights for " + std::to_string(params.size()) + " parameters");
    std::copy(fc.begin(), fc.end(), params.host());
  }

  std::size_t written = 0;
  for (const auto& [name, t] : tensors) {
    if (!t.used) fail("tensor " + name + " of the manifest has no place in the dlib network");
    written += t.values.size();
  }

  // Descriptor of the dummy chip, to check the written file below.
  const dlib::matrix<float, 0, 1> expected = net(dummy);
  net.clean();

  // Write beside the target and rename, so an interrupted run never leaves a truncated model behind.
  auto tmp_path = out_path;
  tmp_path += ".part";
  dlib::serialize(tmp_path.string()) << net;

  faceapp::models::encoder_net reloaded;
  dlib::deserialize(tmp_path.string()) >> reloaded;
  const dlib::matrix<float, 0, 1> got = reloaded(dummy);
  if (got.size() != 128 || dlib::max(dlib::abs(got - expected)) > 1e-6f) {
    fs::remove(tmp_path);
    fail("the written model does not reproduce the converted network after loading");
  }
  // Every parameter of the file must come from the manifest: none left at its initial value.
  if (const auto in_file = parameter_count(reloaded); in_file != written) {
    fs::remove(tmp_path);
    fail("the model holds " + std::to_string(in_file) + " parameters but " + std::to_string(written) +
         " were converted");
  }
  fs::rename(tmp_path, out_path);

  std::cout << "faceapp_convert_model: wrote " << out_path.string() << " (" << names.size() << " con, " << names.size()
            << " affine, 1 fc layers; " << written << " parameters)\n";
}

/// face-api.js's ssd_mobilenetv1 weights -> faceapp's cnn detector file (detail/ssd_detector.hpp): every tensor
/// the network reads, by name and shape, dequantized as tf.io.decodeWeights does (min + scale * q). The manifest's
/// remaining tensors must be int32 constants of the TensorFlow graph (shapes, slice bounds) or its two
/// preprocessing scalars, never weights.
void convert_ssd(const fs::path& manifest_path, const fs::path& bin_path, const fs::path& out_path) {
  auto tensors = read_weights(manifest_path, bin_path);
  namespace ssd = faceapp::detail::ssd;
  ssd::tensor_map out;
  std::size_t written = 0;
  for (const auto& spec : ssd::weight_schema()) {
    const auto it = tensors.find(spec.name);
    if (it != tensors.end() && it->second.is_int) fail("tensor " + spec.name + " is int32, expected float32");
    out.emplace(spec.name, take(tensors, spec.name, spec.shape));
    written += out.at(spec.name).size();
  }
  // The exported graph's own preprocessing constants; face-api.js hard-codes x / 127.5 - 1 instead.
  const std::vector<std::string> unused_floats{"Preprocessor/mul/x", "Preprocessor/sub/y"};
  for (const auto& [name, t] : tensors) {
    const bool known = std::find(unused_floats.begin(), unused_floats.end(), name) != unused_floats.end();
    if (!t.used && !t.is_int && !known) {
      fail("tensor " + name + " of the manifest has no place in the ssd_mobilenetv1 network");
    }
  }
  auto tmp_path = out_path;
  tmp_path += ".part";
  ssd::write_weight_file(tmp_path, out);
  // Read it back the way the runtime does, and fold it: a file the detector cannot load is never installed.
  try {
    (void)ssd::fold(ssd::read_weight_file(tmp_path));
  } catch (const std::exception& e) {
    fs::remove(tmp_path);
    fail(std::string("the written detector file does not load: ") + e.what());
  }
  fs::rename(tmp_path, out_path);
  std::cout << "faceapp_convert_model: wrote " << out_path.string() << " (ssd_mobilenetv1, "
            << ssd::weight_schema().size() << " tensors, " << written << " parameters)\n";
}

}  // namespace

int main(int argc, char** argv) {
  const bool ssd = argc == 5 && std::string(argv[1]) == "--ssd-mobilenetv1";
  if (argc != 4 && !ssd) {
    std::cerr << "usage: faceapp_convert_model [--ssd-mobilenetv1] <weights_manifest.json> <model.bin> <out.dat>\n"
                 "  converts face-api.js's face_recognition_model-weights_manifest.json and\n"
                 "  face_recognition_model.bin into dlib_face_recognition_resnet_model_v1.dat, or with\n"
                 "  --ssd-mobilenetv1 its ssd_mobilenetv1_model* into faceapp's cnn face detector file\n";
    return 2;
  }
  try {
    if (ssd) {
      convert_ssd(argv[2], argv[3], argv[4]);
    } else {
      convert(argv[1], argv[2], argv[3]);
    }
  } catch (const std::exception& e) {
    std::cerr << "faceapp_convert_model: error: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
