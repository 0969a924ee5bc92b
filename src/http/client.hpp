// A small blocking HTTP(S) client for server-to-server calls (federation).
// Beast stays in client.cpp.
#pragma once

#include "federation/peer_client.hpp"

namespace baton::http {

// One connection per request; TLS (with certificate and host name checks) for
// https:// base URLs. Thread-safe. Responses are limited to 1 MiB.
class BeastTransport final : public federation::Transport {
 public:
  core::Result<federation::TransportResponse> send(const std::string& base_url,
                                                   const federation::TransportRequest& request,
                                                   std::chrono::milliseconds timeout) override;
};

}  // namespace baton::http
