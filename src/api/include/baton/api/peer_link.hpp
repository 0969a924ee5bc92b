// federation::PeerLink for the server: each request is a blocking PeerClient::post
// on a thread pool of its own, so that a slow partner holds up only that pool.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>

#include "baton/federation/peer_client.hpp"

namespace baton::api {

class PooledPeerLink final : public federation::PeerLink {
 public:
  // `client` and the pool behind `pool` must outlive every request sent.
  PooledPeerLink(federation::PeerClient& client, boost::asio::any_io_executor pool)
      : client_(client), pool_(std::move(pool)) {}

  void post(const federation::PeerEndpoint& peer, std::string path, std::string body, Done done) override {
    boost::asio::post(pool_, [this, peer, path = std::move(path), body = std::move(body), done = std::move(done)] {
      done(client_.post(peer, path, body));
    });
  }

 private:
  federation::PeerClient& client_;
  boost::asio::any_io_executor pool_;
};

}  // namespace baton::api
