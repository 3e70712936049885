// faceapp-web: small helpers: hashing, base64, HTML escaping, upload sniffing, atomic file writes.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <chrono>
#include <ctime>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace faceapp_web {

/// SHA-256 of `data` as 64 lower-case hex digits: the name an upload is recorded and stored under.
inline std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xF];
  }
  return out;
}

inline std::string base64_encode(std::string_view data) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{static_cast<unsigned char>(data[i])} << 16) |
                            (std::uint32_t{static_cast<unsigned char>(data[i + 1])} << 8) |
                            static_cast<unsigned char>(data[i + 2]);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i < data.size()) {
    std::uint32_t v = std::uint32_t{static_cast<unsigned char>(data[i])} << 16;
    if (i + 1 < data.size()) v |= std::uint32_t{static_cast<unsigned char>(data[i + 1])} << 8;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < data.size() ? table[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

/// Decodes standard base64; nothing on malformed input.
inline std::optional<std::string> base64_decode(std::string_view text) {
  const auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + static_cast<std::size_t>(k)];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else {
        if (pad > 0) return std::nullopt;
        v[k] = value(c);
        if (v[k] < 0) return std::nullopt;
      }
    }
    const std::uint32_t n = (static_cast<std::uint32_t>(v[0]) << 18) | (static_cast<std::uint32_t>(v[1]) << 12) |
                            (static_cast<std::uint32_t>(v[2]) << 6) | static_cast<std::uint32_t>(v[3]);
    out += static_cast<char>((n >> 16) & 0xFF);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(n & 0xFF);
  }
  return out;
}

/// Text made safe for HTML element content and quoted attribute values.
inline std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

/// Whether `text` is well-formed UTF-8 without control characters (tab excepted). Well-formed as RFC 3629 says:
/// no overlong forms (C0, C1, E0 80..9F, F0 80..8F), no UTF-16 surrogates (ED A0..BF), nothing above U+10FFFF.
inline bool is_clean_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    unsigned char low = 0x80;  // the range the second byte must be in
    unsigned char high = 0xBF;
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t') || c == 0x7F) return false;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      if (c == 0xE0) low = 0xA0;   // below: overlong
      if (c == 0xED) high = 0x9F;  // above: surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      if (c == 0xF0) low = 0x90;   // below: overlong
      if (c == 0xF4) high = 0x8F;  // above: beyond U+10FFFF
    } else {
      return false;
    }
    if (i + extra >= text.size() && extra > 0) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      if (k == 1 ? (b < low || b > high) : (b & 0xC0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

/// Whether two secrets are equal, in time that depends on neither (their SHA-256 digests are compared with
/// OpenSSL's constant-time memcmp, so not even the length leaks).
inline bool same_secret(std::string_view a, std::string_view b) {
  const auto da = sha256_hex(a);
  const auto db = sha256_hex(b);
  return CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0;
}

/// `bytes` random bytes from OpenSSL's generator, as hex.
inline std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    throw std::runtime_error("no random bytes from OpenSSL");
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (char ch : raw) {
    out += hex[static_cast<unsigned char>(ch) >> 4];
    out += hex[static_cast<unsigned char>(ch) & 0xF];
  }
  return out;
}

/// An uploaded file's name as it may appear in records and pages: no path, no control characters, at most
/// 120 bytes (cut at a character boundary). It only labels things; it never names a file on disk.
inline std::string clean_file_name(std::string_view name) {
  if (const auto slash = name.find_last_of("/\\"); slash != std::string_view::npos) name.remove_prefix(slash + 1);
  std::string out;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7F) ? '?' : c;
  }
  if (!is_clean_utf8(out)) {
    for (char& c : out) {
      if (static_cast<unsigned char>(c) >= 0x80) c = '?';
    }
  }
  if (out.size() > 120) {
    std::size_t cut = 120;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
  }
  return out.empty() ? "upload" : out;
}

/// The image types read accepts, recognised by their first bytes as read does; the extension an upload is
/// stored under with --keep-uploads.
inline std::optional<std::string_view> sniff_image_type(std::string_view bytes) {
  const auto starts = [&](std::string_view magic, std::size_t at = 0) {
    return bytes.size() >= at + magic.size() && bytes.substr(at, magic.size()) == magic;
  };
  if (starts("\xFF\xD8\xFF")) return "jpg";
  if (starts("\x89PNG\r\n\x1A\n")) return "png";
  if (starts("BM")) return "bmp";
  if (starts("RIFF") && starts("WEBP", 8)) return "webp";
  return std::nullopt;
}

/// Writes `data` to `path` so that a reader (or a restart after kill -9 or a power cut) sees either the old
/// file or the new one, never a part: temporary file, fsync, rename, fsync of the directory.
inline void write_file_atomically(const std::filesystem::path& path, std::string_view data) {
  const auto fail = [&](const char* what) {
    throw std::runtime_error(std::string(what) + " " + path.string() + ": " + std::strerror(errno));
  };
  const std::filesystem::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) fail("cannot create");
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      fail("cannot write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("cannot sync");
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename into");
  const auto dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);  // makes the rename itself durable
    ::close(dfd);
  }
}

}  // namespace faceapp_web
