#include "baton/federation/codes.hpp"

#include <sodium.h>

#include "baton/core/text.hpp"

namespace baton::federation {

namespace {
const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
}  // namespace

std::string inbound_id(std::string_view peer, std::string_view transfer_id) {
  std::string key = std::string(peer) + "|" + std::string(transfer_id);
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, bytes(key), key.size());
  return "i" + core::hex_encode(digest, 12);
}

std::string derive_code(std::string_view secret, std::string_view purpose, std::string_view record_id,
                        std::string_view nonce) {
  std::string msg = std::string(purpose) + "|" + std::string(record_id);
  if (!nonce.empty()) msg += "|" + std::string(nonce);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, bytes(secret), secret.size());
  crypto_auth_hmacsha256_update(&st, bytes(msg), msg.size());
  crypto_auth_hmacsha256_final(&st, mac);
  return core::base64url_encode(mac, sizeof mac);
}

std::string hash_code(std::string_view code) { return hash_token(code); }

std::string body_digest(std::string_view body) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, bytes(body), body.size());
  return core::hex_encode(digest, sizeof digest);
}

}  // namespace baton::federation
