// Signed requests to partner organizations' servers, with retries. The wire is
// behind Transport (http::BeastTransport in production; tests inject faults).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "baton/core/error.hpp"
#include "baton/federation/signature.hpp"

namespace baton::federation {

struct TransportRequest {
  std::string method;
  std::string path;
  std::string query;  // without '?'
  Fields headers;
  std::string body;
};

struct TransportResponse {
  int status = 0;
  Fields headers;
  std::string body;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Sends one request to `base_url` (scheme://host[:port]) and reads the answer.
  // Blocking; errors are unavailable (connection, timeout) with a message.
  virtual core::Result<TransportResponse> send(const std::string& base_url, const TransportRequest& request,
                                               std::chrono::milliseconds timeout) = 0;
};

struct PeerEndpoint {
  std::string name;      // configured peer name: the owner its responses must be signed by
  std::string base_url;  // scheme://host[:port]
};

struct PeerReply {
  int status = 0;
  std::string body;  // JSON, signature verified
};

// Thread-safe if the transport is.
class PeerClient {
 public:
  // `attempts` >= 1: a request whose answer does not arrive (connection error,
  // timeout, 5xx, or an answer that fails verification) is sent again, same body.
  PeerClient(Transport& transport, const Signer& signer, Verifier& verifier,
             std::chrono::milliseconds timeout, int attempts = 3);

  // POSTs `json_body` to the peer, signed; verifies that the answer is signed by
  // that peer and bound to this request. Blocking: call off network threads.
  // Errors: unavailable (unreachable, timed out, unverifiable answer, after every
  // attempt). A verified 4xx answer is returned as a PeerReply, not an error.
  core::Result<PeerReply> post(const PeerEndpoint& peer, const std::string& path, const std::string& json_body);

 private:
  Transport& transport_;
  const Signer& signer_;
  Verifier& verifier_;
  std::chrono::milliseconds timeout_;
  int attempts_;
};

// Requests to peers as the transfer logic makes them: asynchronous, so that the
// production server runs PeerClient on a thread pool and the simulation carries
// them over its own network (tests/sim).
class PeerLink {
 public:
  using Done = std::function<void(core::Result<PeerReply>)>;
  virtual ~PeerLink() = default;
  // POSTs `body` to `path` at `peer`, signed, with the client's attempts. `done`
  // runs once, on any thread, with the verified answer (any status) or
  // unavailable when no answer could be had.
  virtual void post(const PeerEndpoint& peer, std::string path, std::string body, Done done) = 0;
};

// host[:port] of scheme://host[:port]; "" when malformed.
std::string authority_of(const std::string& base_url);

}  // namespace baton::federation
