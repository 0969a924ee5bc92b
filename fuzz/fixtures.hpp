// Fixed keys, clock and randomness for the fuzz targets: those of the worked
// example in docs/federation.md §5, so that its signed messages are seeds that verify.
#pragma once

#include <cstdint>
#include <string>

#include "baton/core/clock.hpp"
#include "baton/federation/keys.hpp"
#include "baton/federation/signature.hpp"

namespace baton::fuzz {

// docs/federation.md §5: the clock and both organizations' keys.
inline constexpr core::Millis kExampleNowMs = 1'795'739'700'000;
inline constexpr const char* kAcmeSeedHex = "9f8362f87a484a954e6e740c5b4c0e84229139a20aa8ab56ff66586f6a7d29c5";
inline constexpr const char* kAcmeKeyId = "sWwtG-rRJiY5dk_bDuTTdw";
inline constexpr const char* kNorthwindSeedHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
inline constexpr const char* kNorthwindKeyId = "Vkdap1RjR0wChd9dvyvKtw";

inline federation::KeyPair key_from_hex(const char* hex) {
  std::string seed;
  for (int i = 0; hex[i] && hex[i + 1]; i += 2) seed += static_cast<char>(std::stoi(std::string(hex + i, 2), nullptr, 16));
  return *federation::key_pair_from_seed(seed);
}

// Different bytes on every call, the same sequence on every run.
class CountingRandom final : public core::Random {
 public:
  void fill(void* out, std::size_t n) override {
    auto* p = static_cast<unsigned char*>(out);
    for (std::size_t i = 0; i < n; i += 8) {
      std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      for (std::size_t j = 0; j < 8 && i + j < n; ++j) p[i + j] = static_cast<unsigned char>(z >> (8 * j));
    }
  }

 private:
  std::uint64_t state_ = 1;
};

}  // namespace baton::fuzz
