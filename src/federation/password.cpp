#include "baton/federation/password.hpp"

#include <sodium.h>

#include <array>
#include <cstdint>
#include <stdexcept>

namespace baton::federation {
namespace {

constexpr std::string_view kPrefix = "$argon2id$";
// Bounds on the parameters a stored hash may ask for. A hash is only as
// trusted as the config file it came from, but a typo in "m=" should give a
// failed sign-in, not a server that tries to allocate a terabyte.
constexpr std::uint64_t kMaxMemoryKib = 1u << 20;  // 1 GiB
constexpr std::uint64_t kMaxPasses = 64;
constexpr std::uint64_t kMaxLanes = 16;

// Consumes `literal` at the front of `s`.
bool eat(std::string_view& s, std::string_view literal) {
  if (!s.starts_with(literal)) return false;
  s.remove_prefix(literal.size());
  return true;
}

// Consumes a decimal number (no sign, no leading zero, 1..9 digits) into `out`.
bool eat_number(std::string_view& s, std::uint64_t& out) {
  std::size_t n = 0;
  while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
  if (n == 0 || n > 9 || (n > 1 && s[0] == '0')) return false;
  out = 0;
  for (std::size_t i = 0; i < n; ++i) out = out * 10 + static_cast<std::uint64_t>(s[i] - '0');
  s.remove_prefix(n);
  return true;
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// Consumes unpadded standard base64 of at least `min_chars` characters, up to `stop`
// (or the end when stop is '\0').
bool eat_base64(std::string_view& s, std::size_t min_chars, char stop) {
  std::size_t n = 0;
  while (n < s.size() && s[n] != stop) {
    if (!is_base64_char(s[n])) return false;
    ++n;
  }
  // A base64 length of 1 (mod 4) encodes no whole byte.
  if (n < min_chars || n % 4 == 1) return false;
  s.remove_prefix(n);
  return true;
}

bool password_length_ok(std::string_view password) {
  return password.size() >= kMinPasswordBytes && password.size() <= kMaxPasswordBytes;
}

// libsodium wants a NUL-terminated hash in a buffer of crypto_pwhash_STRBYTES.
using HashBuffer = std::array<char, crypto_pwhash_STRBYTES>;

HashBuffer to_buffer(std::string_view hash) {
  HashBuffer buf{};
  hash.copy(buf.data(), hash.size());
  return buf;
}

}  // namespace

void ensure_sodium() {
  // sodium_init is itself idempotent and thread-safe; the static only saves
  // the call and turns failure into one clear exception.
  static const bool initialized = sodium_init() >= 0;
  if (!initialized) throw std::runtime_error("libsodium could not be initialized");
}

core::Result<std::string> hash_password(std::string_view password) {
  if (password.size() < kMinPasswordBytes) {
    return core::Error{core::Errc::bad_request, "password: must not be empty"};
  }
  if (password.size() > kMaxPasswordBytes) {
    return core::Error{core::Errc::too_large, "password: must be at most " +
                                                  std::to_string(kMaxPasswordBytes) + " bytes"};
  }
  ensure_sodium();
  HashBuffer out{};
  if (crypto_pwhash_str(out.data(), password.data(), password.size(),
                        crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return core::Error{core::Errc::unavailable, "password: hashing failed (out of memory)"};
  }
  return std::string(out.data());
}

bool verify_password(std::string_view hash, std::string_view password) noexcept {
  if (!password_length_ok(password) || !looks_like_password_hash(hash)) return false;
  try {
    ensure_sodium();
  } catch (...) {
    return false;
  }
  const HashBuffer buf = to_buffer(hash);
  return crypto_pwhash_str_verify(buf.data(), password.data(), password.size()) == 0;
}

bool looks_like_password_hash(std::string_view s) noexcept {
  // Leave room for the terminating NUL that libsodium needs.
  if (s.size() >= crypto_pwhash_STRBYTES) return false;
  std::uint64_t version = 0, memory = 0, passes = 0, lanes = 0;
  if (!eat(s, kPrefix) || !eat(s, "v=") || !eat_number(s, version) || !eat(s, "$m=") ||
      !eat_number(s, memory) || !eat(s, ",t=") || !eat_number(s, passes) || !eat(s, ",p=") ||
      !eat_number(s, lanes) || !eat(s, "$")) {
    return false;
  }
  if (memory == 0 || memory > kMaxMemoryKib || passes == 0 || passes > kMaxPasses || lanes == 0 ||
      lanes > kMaxLanes) {
    return false;
  }
  // Argon2's minimums: an 8-byte salt (11 base64 characters), a 12-byte hash (16).
  if (!eat_base64(s, 11, '$') || !eat(s, "$") || !eat_base64(s, 16, '\0')) return false;
  return s.empty();
}

bool password_needs_rehash(std::string_view hash) noexcept {
  if (!looks_like_password_hash(hash)) return true;
  try {
    ensure_sodium();
  } catch (...) {
    return true;
  }
  const HashBuffer buf = to_buffer(hash);
  return crypto_pwhash_str_needs_rehash(buf.data(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0;
}

}  // namespace baton::federation
