// Ed25519 keys for federation (libsodium): the server's own key pair, kept in a
// file readable by its owner only, and the public keys of peers, written
// "ed25519:" + base64 of the 32 raw bytes in configuration.
#pragma once

#include <array>
#include <filesystem>
#include <string>
#include <string_view>

#include "baton/core/error.hpp"

namespace baton::federation {

inline constexpr std::size_t kPublicKeyBytes = 32;
inline constexpr std::size_t kSeedBytes = 32;
inline constexpr std::size_t kSignatureBytes = 64;
inline constexpr std::string_view kPublicKeyPrefix = "ed25519:";

struct PublicKey {
  std::array<unsigned char, kPublicKeyBytes> bytes{};
  friend bool operator==(const PublicKey&, const PublicKey&) = default;
};

// libsodium's 64-byte secret key (seed followed by public key). Wiped from
// memory when destroyed. Copyable so that a Signer can own one.
class SecretKey {
 public:
  SecretKey();
  ~SecretKey();
  SecretKey(const SecretKey& other);
  SecretKey& operator=(const SecretKey& other);

  const unsigned char* data() const { return bytes_.data(); }
  unsigned char* data() { return bytes_.data(); }
  // The 32-byte seed it was made from: what the key file stores.
  std::string_view seed() const;

 private:
  std::array<unsigned char, 64> bytes_{};
};

struct KeyPair {
  PublicKey public_key;
  SecretKey secret_key;
};

// A fresh key pair from libsodium's CSPRNG. Thread-safe.
KeyPair generate_key_pair();

// The key pair for a 32-byte seed (RFC 8032 private key); bad_request when the
// seed is not 32 bytes. Used for loading and for published test vectors.
core::Result<KeyPair> key_pair_from_seed(std::string_view seed);

// "ed25519:" + standard base64 (with padding) of the 32 raw bytes.
std::string format_public_key(const PublicKey& key);

// Parses format_public_key's output. bad_request, with a message saying what is
// wrong (prefix, base64, length, not a curve point), for anything else.
core::Result<PublicKey> parse_public_key(std::string_view text);

// The key id a peer pins and a signature names: the first 16 bytes of
// SHA-256(raw public key), base64url without padding (22 characters).
std::string key_id(const PublicKey& key);

// Writes the seed of `pair` to `path` as one line of base64, mode 0600. The file
// appears complete or not at all (written beside it, then linked into place),
// and an existing file is never replaced (conflict). Other failures: unavailable
// with the OS error.
core::Status save_secret_key(const std::filesystem::path& path, const KeyPair& pair);

// Reads a key written by save_secret_key. Errors, each naming the path:
// not_found (missing), forbidden (unreadable, or group/other permission bits set:
// "chmod 600"), bad_request (not a regular file, too big, not base64 of 32 bytes,
// or a public key put there by mistake).
core::Result<KeyPair> load_secret_key(const std::filesystem::path& path);

// Ed25519 over `message`; returns the 64-byte signature.
std::string sign_detached(const SecretKey& key, std::string_view message);

// True when `signature` is a valid 64-byte Ed25519 signature of `message` by `key`.
// libsodium refuses non-canonical signatures and small-order keys.
bool verify_detached(const PublicKey& key, std::string_view message, std::string_view signature);

}  // namespace baton::federation
