// RFC 8941 structured fields as the federation reads them (Signature-Input,
// Signature, Content-Digest), the base64 under their byte sequences, and the
// "ed25519:..." public keys of [[peers]]. Besides "no crash", checks the
// contract in structured_fields.hpp: whatever parses serializes, and reads back
// to the same value.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base64.hpp"
#include "digest.hpp"
#include "baton/federation/keys.hpp"
#include "baton/federation/structured_fields.hpp"
#include "fuzz/check.hpp"

namespace sf = baton::federation::sf;
using namespace baton::federation;

namespace {

// The serialized form may be a little longer than the input (padding added to a
// byte sequence), never otherwise different in what it says.
sf::SfLimits relaxed(sf::SfLimits l) {
  l.max_field_bytes = l.max_field_bytes * 2 + 16;
  l.max_bytes_chars += 4;
  return l;
}

void dictionary(std::string_view in, const sf::SfLimits& limits) {
  auto d = sf::parse_dictionary(in, limits);
  if (!d) return;
  auto text = sf::serialize_dictionary(*d);
  FUZZ_CHECK(text.ok());
  auto again = sf::parse_dictionary(*text, relaxed(limits));
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *d);
  for (const auto& m : *d) FUZZ_CHECK(sf::find_member(*d, m.key) != nullptr);
}

void item(std::string_view in, const sf::SfLimits& limits) {
  auto i = sf::parse_item(in, limits);
  if (!i) return;
  auto text = sf::serialize_item(*i);
  FUZZ_CHECK(text.ok());
  auto again = sf::parse_item(*text, relaxed(limits));
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *i);
}

void base64(std::string_view in) {
  for (auto alphabet : {Base64Alphabet::standard, Base64Alphabet::url}) {
    for (auto padding : {Base64Padding::required, Base64Padding::optional, Base64Padding::none}) {
      auto raw = base64_decode(in, alphabet, padding, true);
      if (!raw) continue;
      // A canonical spelling is the only one: encoding gives it back (up to padding).
      std::string text = base64_encode(*raw, alphabet);
      std::string_view unpadded = in;
      while (!unpadded.empty() && unpadded.back() == '=') unpadded.remove_suffix(1);
      std::string_view text_unpadded = text;
      while (!text_unpadded.empty() && text_unpadded.back() == '=') text_unpadded.remove_suffix(1);
      FUZZ_CHECK(unpadded == text_unpadded);
    }
    (void)base64_decode(in, alphabet, Base64Padding::optional, false);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // The limits the Verifier runs with, and very small ones to reach every limit.
  sf::SfLimits defaults;
  sf::SfLimits tiny{64, 2, 2, 2, 4, 8, 8};
  dictionary(in, defaults);
  dictionary(in, tiny);
  item(in, defaults);
  item(in, tiny);
  base64(in);
  (void)verify_content_digest(in, "{\"origin\":\"https://chat.acme.example\"}");
  auto key = parse_public_key(in);
  if (key) {
    auto back = parse_public_key(format_public_key(*key));
    FUZZ_CHECK(back.ok() && *back == *key);
  }
  return 0;
}
