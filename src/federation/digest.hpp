// Content-Digest (RFC 9530): the integrity of a message body, which the
// signature covers in place of the body itself.
#pragma once

#include <string>
#include <string_view>

#include "baton/core/error.hpp"
#include "baton/federation/structured_fields.hpp"

namespace baton::federation {

// The Content-Digest field value for `body`: "sha-256=:<base64 of SHA-256>:".
std::string make_content_digest(std::string_view body);

// Checks a received Content-Digest field value against `body`. Members with
// algorithms other than sha-256 and sha-512 are ignored; sha-256 must be present;
// every member we know (sha-256, sha-512) must match. Errors are refusals
// (federation/refusal.hpp): malformed_header or header_too_large for a bad field,
// content_digest_unsupported without sha-256, content_digest_mismatch otherwise.
core::Status verify_content_digest(std::string_view field, std::string_view body,
                                   const sf::SfLimits& limits = {});

}  // namespace baton::federation
