// Secrets handed to browsers: random tokens and how they are stored (hashed).
#pragma once

#include <string>
#include <string_view>

#include "baton/core/clock.hpp"

namespace baton::federation {

// libsodium's CSPRNG (randombytes_buf). Thread-safe.
class SodiumRandom final : public core::Random {
 public:
  SodiumRandom();
  void fill(void* out, std::size_t n) override;
};

// Hex of BLAKE2b-256 of `token`: what the store keeps instead of the token.
// Tokens carry 256 random bits, so a fast hash is enough.
std::string hash_token(std::string_view token);

// Constant-time comparison of equal-length strings (false when lengths differ).
bool equal_secret(std::string_view a, std::string_view b);

}  // namespace baton::federation
