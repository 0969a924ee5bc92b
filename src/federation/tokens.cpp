#include "baton/federation/tokens.hpp"

#include <sodium.h>

#include <stdexcept>

#include "baton/core/text.hpp"

namespace baton::federation {

SodiumRandom::SodiumRandom() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
}

void SodiumRandom::fill(void* out, std::size_t n) { randombytes_buf(out, n); }

std::string hash_token(std::string_view token) {
  unsigned char digest[32];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), nullptr, 0);
  return core::hex_encode(digest, sizeof digest);
}

bool equal_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace baton::federation
