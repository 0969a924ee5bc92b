// Base64 (RFC 4648 §4) and base64url (§5) for the federation wire formats:
// byte sequences in structured fields, public keys, key ids and nonces.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace baton::federation {

enum class Base64Alphabet { standard, url };

enum class Base64Padding {
  required,  // length a multiple of 4, '=' where the RFC puts it
  optional,  // either of the above or none at all (RFC 8941 §4.2.7 asks parsers to allow both)
  none,      // no '=' at all
};

// Encodes `data`; standard alphabet with '=' padding, url alphabet without.
std::string base64_encode(std::string_view data, Base64Alphabet alphabet = Base64Alphabet::standard);

// Decodes `text`, or nullopt when any character is outside the alphabet, the
// padding breaks `padding`, or the length is impossible. Non-zero bits in the last
// character are refused when `canonical` is true (so that one value has one spelling).
// Never reads past `text`; safe on any input.
std::optional<std::string> base64_decode(std::string_view text, Base64Alphabet alphabet,
                                         Base64Padding padding, bool canonical);

}  // namespace baton::federation
