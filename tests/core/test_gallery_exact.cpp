// The gallery's compact copies (int8, float16) and its many-queries pass against the plain float32 scan of the
// same rows: the same row and the same distance, bit for bit, on adversarial near-ties, duplicates, exact ties,
// tombstones and rows the codes cannot hold, at sizes that cross chunks and scan blocks. The split scans and the
// mapped rows are in test_gallery_threads.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "faceapp/core/gallery.hpp"
#include "faceapp/detail/compact_codes.hpp"
#include "faceapp/detail/distance_simd.hpp"
#include "faceapp/detail/exact_rerank.hpp"
#include "faceapp/detail/int8_query.hpp"
#include "gallery_pairs.hpp"

namespace {
using faceapp::compact_codes;
using namespace gallery_test;  // encoding, gallery, gallery_options, pair_of_galleries, random_encoding

const std::vector<compact_codes> both_codes = {compact_codes::int8, compact_codes::float16};
}  // namespace

TEST_CASE("compact codes: the int8 scale is a power of two, and a row beyond 2^60 or not finite has no bound") {
  encoding x{};
  std::int8_t codes[faceapp::encoding_size];
  float scale = 0;
  x[3] = 0.3F;
  CHECK(faceapp::detail::quantize_int8(x.data(), codes, scale) < 0.3 / 127);
  CHECK(scale == std::ldexp(1.0F, std::ilogb(scale)));
  CHECK(scale >= 0.3F / 127);
  CHECK(scale < 2 * 0.3F / 127);
  CHECK(codes[3] * scale == doctest::Approx(0.3F).epsilon(1.0 / 64));
  x[3] = 0x1p60F;  // at the limit: coded
  CHECK(std::isfinite(faceapp::detail::quantize_int8(x.data(), codes, scale)));
  x[3] = std::nextafter(0x1p60F, INFINITY);  // just above
  CHECK(std::isinf(faceapp::detail::quantize_int8(x.data(), codes, scale)));
  x[3] = std::nextafter(0x1p60F, 0.0F);  // just below
  CHECK(std::isfinite(faceapp::detail::quantize_int8(x.data(), codes, scale)));
  x[3] = std::numeric_limits<float>::quiet_NaN();
  CHECK(std::isinf(faceapp::detail::quantize_int8(x.data(), codes, scale)));
  x = encoding{};  // all zero: exact
  CHECK(faceapp::detail::quantize_int8(x.data(), codes, scale) == 0);
}

TEST_CASE("compact codes: every half converts to float and back unchanged; the float16 range ends at 65520") {
  for (std::uint32_t h = 0; h < 0x10000U; ++h) {
    const float f = faceapp::detail::half_to_float(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) continue;
    CHECK(faceapp::detail::float_to_half(f) == h);
  }
  CHECK(faceapp::detail::half_to_float(0x3C00) == 1.0F);
  CHECK(faceapp::detail::half_to_float(0x0001) == 0x1p-24F);
  encoding x{};
  std::uint16_t halves[faceapp::encoding_size];
  x[0] = 65504;  // the largest half
  CHECK(faceapp::detail::quantize_float16(x.data(), halves) == 0);
  x[0] = std::nextafter(65520.0F, 0.0F);  // just below: rounds to 65504
  CHECK(std::isfinite(faceapp::detail::quantize_float16(x.data(), halves)));
  x[0] = 65520;  // at the limit: infinity
  CHECK(std::isinf(faceapp::detail::quantize_float16(x.data(), halves)));
}

TEST_CASE("compact kernels: within the error bound the re-score relies on, on every instruction set") {
  std::mt19937 rng(5);
  const std::size_t n = 300;
  std::vector<std::int8_t> codes(n * faceapp::encoding_size);
  std::vector<std::uint16_t> halves(n * faceapp::encoding_size);
  std::vector<float> scales(n);
  std::vector<encoding> rows;
  for (std::size_t i = 0; i < n; ++i) {
    rows.push_back(random_encoding(rng, i % 2 == 0 ? 0.09F : 3.0F));
    faceapp::detail::quantize_int8(rows[i].data(), codes.data() + i * 128, scales[i]);
    faceapp::detail::quantize_float16(rows[i].data(), halves.data() + i * 128);
  }
  const auto q = random_encoding(rng);
  for (const auto level : {faceapp::detail::simd_level::portable, faceapp::detail::simd_level::avx2,
                           faceapp::detail::simd_level::avx512}) {
    if (!faceapp::detail::simd_supported(level)) continue;
    CAPTURE(faceapp::detail::simd_level_name(level));
    std::vector<float> a8(n), a16(n);
    faceapp::detail::squared_distances_int8_kernel(level)(codes.data(), scales.data(), n, q.data(), a8.data());
    faceapp::detail::squared_distances_float16_kernel(level)(halves.data(), n, q.data(), a16.data());
    for (std::size_t i = 0; i < n; ++i) {
      double e8 = 0, e16 = 0;
      for (std::size_t j = 0; j < 128; ++j) {
        const double d8 = q[j] - static_cast<double>(scales[i]) * codes[i * 128 + j];
        const double d16 = q[j] - static_cast<double>(faceapp::detail::half_to_float(halves[i * 128 + j]));
        e8 += d8 * d8;
        e16 += d16 * d16;
      }
      CHECK(std::abs(a8[i] - e8) <= 1e-5 * e8);
      CHECK(std::abs(a16[i] - e16) <= 1e-5 * e16);
    }
  }
}

TEST_CASE("int8 query kernel: the same bits on every instruction set, within its stated error of the exact value") {
  std::mt19937 rng(15);
  const std::size_t n = 301;  // not a multiple of any step
  std::vector<std::int8_t> codes(n * faceapp::encoding_size);
  std::vector<float> scales(n);
  std::vector<std::int32_t> norms(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto row = random_encoding(rng, i % 3 == 0 ? 3.0F : 0.09F);
    faceapp::detail::quantize_int8(row.data(), codes.data() + i * 128, scales[i]);
    norms[i] = faceapp::detail::code_norm(codes.data() + i * 128);
  }
  double max_norm = 0;
  for (std::size_t i = 0; i < n; ++i) max_norm = std::max(max_norm, double{scales[i]} * scales[i] * norms[i]);
  for (const float sigma : {0.09F, 2.0F}) {
    auto query = random_encoding(rng, sigma);
    query[3] = codes[3] * scales[0];  // some components on a row's grid
    faceapp::detail::int8_query q;
    faceapp::detail::quantize_query_int16(query.data(), q);
    REQUIRE(std::isfinite(q.residual));
    CHECK(q.residual <= std::sqrt(128.0) * q.scale / 2 * 1.0001);  // half a step a component at most
    std::vector<float> portable(n);
    faceapp::detail::squared_distances_int8q_portable(codes.data(), scales.data(), norms.data(), n, q,
                                                      portable.data());
    const double eta = faceapp::detail::int8_query_eta(q, max_norm);
    for (std::size_t i = 0; i < n; ++i) {
      long double exact = 0;  // ||t p - s c||^2, every term exact in long double's 64-bit mantissa
      for (std::size_t j = 0; j < 128; ++j) {
        const long double d = static_cast<long double>(q.scale) * q.codes[j] -
                              static_cast<long double>(scales[i]) * codes[i * 128 + j];
        exact += d * d;
      }
      CHECK(std::abs(static_cast<long double>(portable[i]) - exact) <= eta + 1e-6L * exact);
    }
    for (const auto level : {faceapp::detail::simd_level::avx2, faceapp::detail::simd_level::avx512}) {
      if (!faceapp::detail::simd_supported(level)) continue;
      CAPTURE(faceapp::detail::simd_level_name(level));
      std::vector<float> simd(n);
      faceapp::detail::squared_distances_int8q_kernel(level)(codes.data(), scales.data(), norms.data(), n, q,
                                                            simd.data());
      CHECK(simd == portable);
    }
#if FACEAPP_X86_SIMD
    if (__builtin_cpu_supports("avx512bw")) {  // the variant the dispatcher passes over (src/distance.cpp)
      std::vector<float> bw(n);
      faceapp::detail::squared_distances_int8q_avx512(codes.data(), scales.data(), norms.data(), n, q, bw.data());
      CHECK(bw == portable);
    }
#endif
  }
  // The query's coding: up to 2^60 (at it: coded), beyond it and NaN not (the float32 scan answers those).
  encoding big{};
  faceapp::detail::int8_query q;
  big[0] = 0x1p60F;
  faceapp::detail::quantize_query_int16(big.data(), q);
  CHECK(std::isfinite(q.residual));
  big[0] = std::nextafter(0x1p60F, INFINITY);
  faceapp::detail::quantize_query_int16(big.data(), q);
  CHECK(std::isinf(q.residual));
  big[0] = std::numeric_limits<float>::quiet_NaN();
  faceapp::detail::quantize_query_int16(big.data(), q);
  CHECK(std::isinf(q.residual));
}

TEST_CASE("gallery int8: the query's own coding error is in the bound (rows on the int8 grid, queries on bisectors)") {
  // Rows exactly on the int8 grid have residual 0, so the re-score's window is the query's residual alone (plus
  // rounding): a query just off the bisector of two such rows, whose int16 coding lands on the other side of it,
  // is answered right only if the bound counts that residual.
  constexpr float s = 0x1p-7F;  // the rows' scale: their largest value is 100 s
  std::mt19937 rng(17);
  std::uniform_int_distribution<int> grid(-60, 60);
  std::uniform_real_distribution<float> offset(-0x1p-15F, 0x1p-15F);  // about the query's step, 2^-15
  std::normal_distribution<float> direction(0.0F, 1.0F);
  std::size_t flipped = 0;
  for (int trial = 0; trial < 1000; ++trial) {
    encoding x1;
    for (auto& v : x1) v = s * static_cast<float>(grid(rng));
    x1[127] = 100 * s;
    encoding x2 = x1;
    for (int j = 0; j < 3; ++j) x2[static_cast<std::size_t>(j)] += s * (direction(rng) < 0 ? -1.0F : 1.0F);
    encoding q;
    for (std::size_t j = 0; j < faceapp::encoding_size; ++j) q[j] = (x1[j] + x2[j]) / 2;
    for (std::size_t j = 0; j < 3; ++j) q[j] += offset(rng);  // off the bisector by about the query's step
    pair_of_galleries g({.chunk_rows = 64, .codes = compact_codes::int8});
    g.add(x1);
    g.add(x2);
    REQUIRE(g.coded.snapshot()->code_residual() == 0);
    const auto p = g.plain.snapshot()->nearest(q);
    CHECK(g.coded.snapshot()->nearest(q) == p);
    CHECK(g.coded.snapshot()->top_k(q, 1) == g.plain.snapshot()->top_k(q, 1));
    // Count the cases the query's coding reverses: what the test is about must happen.
    faceapp::detail::int8_query coded;
    faceapp::detail::quantize_query_int16(q.data(), coded);
    double a1 = 0, a2 = 0;
    for (std::size_t j = 0; j < faceapp::encoding_size; ++j) {
      const double qj = coded.scale * coded.codes[j];
      a1 += (qj - x1[j]) * (qj - x1[j]);
      a2 += (qj - x2[j]) * (qj - x2[j]);
    }
    if ((a1 < a2) != (p->row == 0) && a1 != a2) ++flipped;
  }
  CHECK(flipped >= 10);
}

TEST_CASE("gallery int8: a query the integer kernel cannot code is answered by the float32 scan") {
  pair_of_galleries g({.chunk_rows = 64, .codes = compact_codes::int8});
  std::mt19937 rng(16);
  for (int i = 0; i < 300; ++i) g.add(random_encoding(rng));
  encoding huge = random_encoding(rng);
  huge[5] = 0x1p61F;
  encoding nan = random_encoding(rng);
  nan[7] = std::numeric_limits<float>::quiet_NaN();
  for (const auto& q : {huge, nan}) {
    CHECK(g.coded.snapshot()->nearest(q) == g.plain.snapshot()->nearest(q));
    CHECK(g.coded.snapshot()->top_k(q, 5) == g.plain.snapshot()->top_k(q, 5));
  }
  CHECK(g.coded.snapshot()->top_k_each(std::vector<encoding>{huge, nan, g.plain.snapshot()->at(4)}, 3) ==
        g.plain.snapshot()->top_k_each(std::vector<encoding>{huge, nan, g.plain.snapshot()->at(4)}, 3));
}

TEST_CASE("rerank bound: the k-th best plus twice the residual, +infinity when either is not finite") {
  const float a_k = 0.25F;
  const double r = 0.01;
  const float bound = faceapp::detail::rerank_bound(a_k, r);
  CHECK(bound >= (0.5 + 2 * r) * (0.5 + 2 * r));
  CHECK(bound <= (0.5 + 2 * r) * (0.5 + 2 * r) * 1.001);
  CHECK(faceapp::detail::rerank_bound(a_k, 0) >= a_k);
  CHECK(std::isinf(faceapp::detail::rerank_bound(INFINITY, r)));
  CHECK(std::isinf(faceapp::detail::rerank_bound(a_k, INFINITY)));
  CHECK(std::isinf(faceapp::detail::rerank_bound(std::numeric_limits<float>::max(), r)));
}

TEST_CASE("gallery compact codes: random galleries across chunks and scan blocks give the float32 answers") {
  for (const auto codes : both_codes) {
    CAPTURE(static_cast<int>(codes));
    pair_of_galleries g({.chunk_rows = 2048, .codes = codes});
    std::mt19937 rng(21);
    for (int i = 0; i < 2 * 2048 + 1030; ++i) g.add(random_encoding(rng));
    CHECK(g.coded.snapshot()->codes() == codes);
    CHECK(g.coded.snapshot()->code_residual() > 0);
    std::vector<encoding> queries;
    for (int i = 0; i < 6; ++i) queries.push_back(random_encoding(rng));
    g.check(queries);
    SUBCASE("after tombstones, among them each query's nearest") {
      for (const auto& q : queries) g.erase(g.plain.snapshot()->nearest(q)->key);
      g.check(queries);
    }
  }
}

TEST_CASE("gallery compact codes: adversarial near-ties, duplicates and exact ties go the float32 scan's way") {
  std::mt19937 rng(33);
  const auto q = random_encoding(rng);
  for (const auto codes : both_codes) {
    CAPTURE(static_cast<int>(codes));
    pair_of_galleries g({.chunk_rows = 1024, .codes = codes});
    for (int i = 0; i < 1500; ++i) g.add(random_encoding(rng));  // the crowd, far from q
    // Rows that differ from a point near q by far less than a quantization step: their codes are equal or
    // nearly so, their float32 distances differ in the last bits; the best of them comes late.
    encoding near = q;
    for (std::size_t j = 0; j < 128; ++j) near[j] += 0.004F * (j % 2 == 0 ? 1.0F : -1.0F);
    std::uniform_real_distribution<float> tiny(-2e-6F, 2e-6F);
    for (int i = 0; i < 300; ++i) {
      encoding e = near;
      for (auto& v : e) v += tiny(rng);
      g.add(e);
      if (i % 50 == 0) g.add(near);  // duplicates of the same row
    }
    // Exact ties: sign flips of one offset from a zero query give the same squares in the same order.
    encoding offset = random_encoding(rng, 0.02F);
    for (int i = 0; i < 40; ++i) {
      encoding e = offset;
      for (std::size_t j = 0; j < 128; ++j) {
        if ((i >> (j % 5) & 1) != 0) e[j] = -e[j];
      }
      g.add(e);
    }
    const encoding zero{};
    g.check({q, near, zero, offset});
    const auto tie = g.coded.snapshot()->top_k(zero, 40);
    for (std::size_t i = 1; i < tie.size(); ++i) {
      if (tie[i].distance == tie[i - 1].distance) CHECK(tie[i].row > tie[i - 1].row);
    }
  }
}

TEST_CASE("gallery compact codes: a row the codes cannot hold makes the scan float32, with the same answers") {
  for (const auto codes : both_codes) {
    pair_of_galleries g({.chunk_rows = 64, .codes = codes});
    std::mt19937 rng(4);
    for (int i = 0; i < 200; ++i) g.add(random_encoding(rng));
    CHECK(std::isfinite(g.coded.snapshot()->code_residual()));
    encoding huge = random_encoding(rng);
    huge[7] = 1e30F;
    g.add(huge);
    encoding nan = random_encoding(rng);
    nan[9] = std::numeric_limits<float>::quiet_NaN();
    g.add(nan);
    CHECK(std::isinf(g.coded.snapshot()->code_residual()));
    g.check({random_encoding(rng), huge});
  }
}

TEST_CASE("gallery many queries: nearest_each and top_k_each equal one query at a time, empty inputs included") {
  gallery g(64);
  const encoding zero{};
  CHECK(g.snapshot()->nearest_each(std::vector<encoding>{zero}).front() == std::nullopt);
  std::mt19937 rng(12);
  for (int i = 0; i < 700; ++i) g.add("row", random_encoding(rng));
  const auto v = g.snapshot();
  std::vector<encoding> queries;
  for (int i = 0; i < 9; ++i) queries.push_back(random_encoding(rng));
  const auto each = v->nearest_each(queries);
  const auto top = v->top_k_each(queries, 5);
  for (std::size_t i = 0; i < queries.size(); ++i) {
    CHECK(each[i] == v->nearest(queries[i]));
    CHECK(top[i] == v->top_k(queries[i], 5));
  }
  CHECK(v->nearest_each({}).empty());
  CHECK(v->top_k_each(queries, 0).front().empty());
}

TEST_CASE("gallery compact codes: more equal rows within the bound than the candidate list prunes at") {
  std::mt19937 rng(17);
  const auto row = random_encoding(rng);
  encoding q = row;
  q[0] += 0.01F;
  encoding nearer = row;
  nearer[0] += 1e-5F;  // nearer to q than every copy, by far less than a quantization step
  // k = 1 prunes its candidates first past 2 x (k + scan_block); every copy stays within the bound
  const std::size_t copies = 2 * (1 + faceapp::detail::scan_block) + 1;
  for (const auto codes : both_codes) {
    pair_of_galleries g({.chunk_rows = 4096, .codes = codes});
    for (std::size_t i = 0; i < copies; ++i) g.add(row);
    g.add(nearer);
    g.check({q, row});
    CHECK(g.coded.snapshot()->nearest(q)->row == copies);  // the last row
    CHECK(g.coded.snapshot()->nearest(row)->row == 0);      // a tie of copies: the first
  }
}

TEST_CASE("gallery compact codes: the re-score window needs both rows' residuals, 2R past the best code") {
  // From a zero query, x (128 values of 90.52/128, step 1/128) is nearer than y (19 values of 117.48/64, step
  // 1/64) by 0.0004, but its codes round up and y's round down: x's approximate distance is 1.76 R above y's.
  // A window of one R past the best approximate distance would miss x.
  encoding x;
  for (auto& v : x) v = 90.52F / 128;
  encoding y{};
  for (std::size_t j = 0; j < 19; ++j) y[j] = 117.48F / 64;
  pair_of_galleries g({.chunk_rows = 64, .codes = compact_codes::int8});
  g.add(y);
  g.add(x);
  const encoding zero{};
  REQUIRE(g.plain.snapshot()->nearest(zero)->row == 1);  // x, in float32
  const double r = g.coded.snapshot()->code_residual();
  CHECK(r == doctest::Approx(std::sqrt(128.0) * 0.48 / 128).epsilon(1e-4));
  CHECK(g.coded.snapshot()->nearest(zero)->row == 1);
  g.check({zero});
}
