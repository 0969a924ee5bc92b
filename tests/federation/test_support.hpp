// Helpers shared by the federation tests: deterministic randomness and a
// hand-rolled signer for messages our Signer would never produce.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "baton/core/clock.hpp"
#include "baton/federation/keys.hpp"
#include "baton/federation/signature.hpp"
#include "baton/federation/structured_fields.hpp"

namespace baton::federation::test_support {

// A Random whose bytes come from a counter through splitmix64: different on
// every call, the same on every run.
class CountingRandom final : public core::Random {
 public:
  explicit CountingRandom(std::uint64_t seed = 1) : state_(seed) {}
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
  std::uint64_t state_;
};

inline sf::Item component(std::string name, sf::Parameters params = {}) {
  return sf::Item{std::move(name), std::move(params)};
}

inline std::vector<sf::Item> request_components() {
  return {component("@method"), component("@authority"),   component("@path"),
          component("@query"),  component("content-type"), component("content-digest")};
}

// Signs `message` with `key` over exactly `params` (covered components and
// signature parameters as given), replacing any signature fields it had.
inline RequestMessage sign_raw(RequestMessage message, const sf::InnerList& params,
                               const KeyPair& key, const std::string& label = "sig1") {
  std::erase_if(message.headers, [](const auto& h) {
    return h.first == "signature-input" || h.first == "signature";
  });
  auto base = signature_base(params, message);
  std::string signature = base ? sign_detached(key.secret_key, *base) : std::string(64, '\0');
  message.headers.emplace_back("signature-input",
                               *sf::serialize_dictionary({sf::DictMember{label, params}}));
  message.headers.emplace_back(
      "signature",
      *sf::serialize_dictionary({sf::DictMember{label, sf::Item{sf::Bytes{signature}, {}}}}));
  return message;
}

}  // namespace baton::federation::test_support
