#include "digest.hpp"

#include <sodium.h>

#include "base64.hpp"
#include "refusal.hpp"

namespace baton::federation {
namespace {

std::string sha256(std::string_view data) {
  std::string out(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(out.data()),
                     reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return out;
}

std::string sha512(std::string_view data) {
  std::string out(crypto_hash_sha512_BYTES, '\0');
  crypto_hash_sha512(reinterpret_cast<unsigned char*>(out.data()),
                     reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return out;
}

}  // namespace

std::string make_content_digest(std::string_view body) {
  return "sha-256=:" + base64_encode(sha256(body)) + ":";
}

core::Status verify_content_digest(std::string_view field, std::string_view body,
                                   const sf::SfLimits& limits) {
  auto dict = sf::parse_dictionary(field, limits);
  if (!dict) {
    return refuse(dict.error().code == core::Errc::too_large ? Refusal::header_too_large
                                                              : Refusal::malformed_header,
                  "Content-Digest: " + dict.error().message);
  }
  bool saw_sha256 = false;
  for (const auto& member : *dict) {
    const bool is256 = member.key == "sha-256";
    if (!is256 && member.key != "sha-512") continue;  // RFC 9530 §2: ignore what we do not know
    const auto* item = std::get_if<sf::Item>(&member.value);
    const auto* bytes = item ? std::get_if<sf::Bytes>(&item->value) : nullptr;
    if (bytes == nullptr) {
      return refuse(Refusal::malformed_header,
                    "Content-Digest member " + member.key + " is not a byte sequence");
    }
    const std::string expected = is256 ? sha256(body) : sha512(body);
    // Digests are public values, but a constant-time compare costs nothing here.
    if (bytes->data.size() != expected.size() ||
        sodium_memcmp(bytes->data.data(), expected.data(), expected.size()) != 0) {
      return refuse(Refusal::content_digest_mismatch,
                    "Content-Digest " + member.key + " does not match the body");
    }
    saw_sha256 = saw_sha256 || is256;
  }
  if (!saw_sha256) {
    return refuse(Refusal::content_digest_unsupported, "Content-Digest has no sha-256 member");
  }
  return core::ok_status();
}

}  // namespace baton::federation
