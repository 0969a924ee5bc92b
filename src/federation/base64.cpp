#include "base64.hpp"

#include <cstdint>

namespace baton::federation {
namespace {

constexpr char kStandard[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int value_of(char c, Base64Alphabet alphabet) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (alphabet == Base64Alphabet::standard) {
    if (c == '+') return 62;
    if (c == '/') return 63;
  } else {
    if (c == '-') return 62;
    if (c == '_') return 63;
  }
  return -1;
}

}  // namespace

std::string base64_encode(std::string_view data, Base64Alphabet alphabet) {
  const char* table = alphabet == Base64Alphabet::standard ? kStandard : kUrl;
  const bool pad = alphabet == Base64Alphabet::standard;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const std::size_t n = data.size();
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < n; i += 3) {
    std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (n - i == 1) {
    std::uint32_t v = std::uint32_t{p[i]} << 16;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (n - i == 2) {
    std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text, Base64Alphabet alphabet,
                                         Base64Padding padding, bool canonical) {
  std::size_t pad_count = 0;
  while (pad_count < text.size() && pad_count < 3 && text[text.size() - 1 - pad_count] == '=') {
    ++pad_count;
  }
  std::string_view digits = text.substr(0, text.size() - pad_count);
  if (pad_count > 2) return std::nullopt;
  if (pad_count > 0) {
    if (padding == Base64Padding::none) return std::nullopt;
    if (text.size() % 4 != 0) return std::nullopt;
  } else if (padding == Base64Padding::required && text.size() % 4 != 0) {
    return std::nullopt;
  }
  // A lone digit in the last group carries only 6 bits: no byte can come of it.
  const std::size_t tail = digits.size() % 4;
  if (tail == 1) return std::nullopt;
  if (pad_count > 0 && pad_count != (4 - tail) % 4) return std::nullopt;

  std::string out;
  out.reserve(digits.size() / 4 * 3 + 2);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : digits) {
    int v = value_of(c, alphabet);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  // Leftover bits (2 or 4) must be zero in the canonical spelling.
  if (canonical && bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

}  // namespace baton::federation
