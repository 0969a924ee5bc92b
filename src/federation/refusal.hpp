// Why a signed federation message was refused. Each refusal travels as a
// core::Error whose message starts with the refusal's stable name and ": ",
// e.g. "signature_expired: expired at 1700000120, now 1700000250", and whose
// code is the core::Errc the HTTP layer maps to a status (listed below).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "baton/core/error.hpp"

namespace baton::federation {

enum class Refusal {
  missing_header,             // Signature-Input or Signature absent            (unauthorized)
  header_too_large,           // a signature field past its size limit          (too_large)
  malformed_header,           // not valid structured fields, or wrong types    (bad_request)
  ambiguous_signature,        // more than one signature carries our tag        (bad_request)
  component_not_covered,      // a required component is not signed             (unauthorized)
  component_missing,          // a covered field is absent from the message     (unauthorized)
  unsupported_component,      // a covered component we cannot derive           (unauthorized)
  tag_missing,                // no signature carries a tag                     (unauthorized)
  tag_mismatch,               // tag is not "baton-federation-v1"               (unauthorized)
  alg_mismatch,               // alg present and not "ed25519"                  (unauthorized)
  keyid_missing,              // no keyid parameter                             (unauthorized)
  unknown_key,                // keyid not among the pinned keys                (unauthorized)
  created_missing,            // no created parameter                           (unauthorized)
  expires_missing,            // no expires parameter                           (unauthorized)
  created_in_future,          // created later than now + max skew              (unauthorized)
  signature_expired,          // expires earlier than now - max skew            (unauthorized)
  validity_too_long,          // expires - created > 120 s, or not positive     (unauthorized)
  nonce_missing,              // no nonce parameter                             (unauthorized)
  nonce_invalid,              // nonce not base64url, or shorter than 128 bits  (unauthorized)
  nonce_replayed,             // nonce already seen while still valid           (unauthorized)
  replay_cache_full,          // too many live nonces to remember another       (unavailable)
  content_digest_missing,     // no Content-Digest field                        (unauthorized)
  content_digest_unsupported, // Content-Digest without sha-256                 (unauthorized)
  content_digest_mismatch,    // Content-Digest does not match the body         (unauthorized)
  bad_signature,              // the Ed25519 signature does not verify          (unauthorized)
};

// Stable machine-readable name, e.g. "nonce_replayed".
std::string_view refusal_name(Refusal r);

// The Error for `r`: code as listed above, message "<name>: <detail>".
core::Error refuse(Refusal r, std::string_view detail);

// The refusal an Error made by refuse() carries; nullopt for any other Error.
std::optional<Refusal> refusal_of(const core::Error& error);

}  // namespace baton::federation
