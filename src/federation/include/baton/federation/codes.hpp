// The secrets of a federated transfer (docs/federation.md §7): record ids,
// authorization and join codes, recall tickets, and the digests that tell a
// resent request from a reused transfer id. All on libsodium.
#pragma once

#include <string>
#include <string_view>

#include "baton/federation/tokens.hpp"

namespace baton::federation {

// The destination's record id for `peer`'s transfer `transfer_id`: "i" and 24 hex
// digits of SHA-256(peer + "|" + transfer_id). Stable, so that a resent offer
// finds its record, and a reused transfer id finds the old one.
std::string inbound_id(std::string_view peer, std::string_view transfer_id);

// A code of 43 base64url characters (256 bits): HMAC-SHA-256 with `secret` of
// purpose|record id|nonce. The nonce is fresh randomness drawn once per code
// issued and kept in the record, so that a resent request gets the same code
// while nothing but its hash and the nonce is stored. (Records of version 2 have
// no nonce: their codes were purpose|record id.)
std::string derive_code(std::string_view secret, std::string_view purpose, std::string_view record_id,
                        std::string_view nonce);

// What is stored instead of a code or ticket: hex of BLAKE2b-256 (the codes carry
// 256 random bits, so a fast hash is enough).
std::string hash_code(std::string_view code);

// Hex of SHA-256 of a request body.
std::string body_digest(std::string_view body);

}  // namespace baton::federation
