// Agent passwords: Argon2id through libsodium's crypto_pwhash_str family.
//
// Cost: hash_password and verify_password each take tens of milliseconds of CPU
// and about 64 MiB of memory (libsodium's INTERACTIVE limits). They block; never
// call them on a network thread — post them to the blocking-work pool.
// All functions are thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "baton/core/error.hpp"

namespace baton::federation {

// Accepted password lengths, in bytes.
inline constexpr std::size_t kMinPasswordBytes = 1;
inline constexpr std::size_t kMaxPasswordBytes = 1024;

// Initializes libsodium once per process; later calls return at once.
// Throws std::runtime_error if libsodium cannot be initialized.
void ensure_sodium();

// An encoded Argon2id hash ("$argon2id$v=19$m=...,t=...,p=...$salt$hash") with a
// fresh random salt. Errors: bad_request for an empty password, too_large past
// kMaxPasswordBytes, unavailable if memory for hashing cannot be had.
// Throws std::runtime_error only if libsodium cannot be initialized.
core::Result<std::string> hash_password(std::string_view password);

// Whether `password` matches `hash`. Never throws. False for a wrong password,
// for a password outside the accepted lengths, and for anything that does not
// pass looks_like_password_hash, whatever its length.
bool verify_password(std::string_view hash, std::string_view password) noexcept;

// Whether `s` is shaped like an encoded Argon2id hash: the "$argon2id$" prefix,
// numeric version and parameters, base64 salt and hash, shorter than libsodium's
// limit. Parameters are bounded (memory at most 1 GiB, at most 64 passes, at
// most 16 lanes) so that a stored hash cannot make verification exhaust the machine.
// Does not prove that the hash was made from any particular password.
bool looks_like_password_hash(std::string_view s) noexcept;

// Whether `hash` was made with other parameters than hash_password uses now
// (or is malformed); the caller may store a fresh hash after a successful sign-in.
bool password_needs_rehash(std::string_view hash) noexcept;

}  // namespace baton::federation
