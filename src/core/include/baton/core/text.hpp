// Small text helpers for untrusted input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace baton::core {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates).
bool valid_utf8(std::string_view s);

// Number of Unicode code points in valid UTF-8 `s`.
std::size_t utf8_length(std::string_view s);

// `s` with every byte that does not belong to a well-formed sequence replaced by
// U+FFFD, so that it can go into JSON (which must be UTF-8) whatever it held.
std::string to_valid_utf8(std::string_view s);
// At most `max_bytes` bytes of `s`, cut on a code point boundary.
std::string utf8_prefix(std::string_view s, std::size_t max_bytes);

std::string hex_encode(const void* data, std::size_t n);
std::string base64url_encode(const void* data, std::size_t n);

// Lower-cases ASCII letters only.
std::string ascii_lower(std::string_view s);

}  // namespace baton::core
