// Three organizations for the federation tests that speak for a partner
// themselves: Acme (origin; queue General, agent alice) and Northwind
// (destination; queues Claims and Sales, agent bob) as in-process servers on fixed
// ports, peered both ways, and a third organization, "stranger", that both have
// pinned as a partner too but that runs no server here: the test holds its key
// (and Acme's) and speaks for it. Used by attack_federation_test.cpp and
// federation_restart_test.cpp.
#pragma once

#include <atomic>
#include <boost/json.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "baton/core/clock.hpp"
#include "baton/federation/keys.hpp"
#include "harness.hpp"

namespace baton::testing {

std::uint16_t unused_port();

// The system clock, shifted: a signer (or a server) whose clock is off. The shift
// may change while servers read it.
class ShiftedClock final : public core::Clock {
 public:
  explicit ShiftedClock(core::Millis shift = 0) : shift_(shift) {}
  core::Millis now() const override { return system_.now() + shift_.load(); }
  void shift(core::Millis by) { shift_ += by; }

 private:
  core::SystemClock system_;
  std::atomic<core::Millis> shift_;
};

struct SodiumRandom final : core::Random {
  void fill(void* out, std::size_t n) override;
};

struct Trio {
  TempDir dir;
  app::Config oc, dc;
  std::unique_ptr<TestServer> origin, dest;
  federation::KeyPair stranger = federation::generate_key_pair();
  federation::KeyPair acme_key;  // Acme's own key, to speak for it as a compromised partner would
  std::string stranger_url = "http://127.0.0.1:" + std::to_string(unused_port());

  explicit Trio(app::AppOptions options = TestServer::default_options());

 private:
  void build(const app::AppOptions& options);
};

// A request to `server` signed with `key` by a signer whose clock is `shift_ms` off.
HttpResult signed_post(const TestServer& server, const std::string& path, const boost::json::object& body,
                       const federation::KeyPair& key, core::Millis shift_ms = 0);

extern const std::vector<std::pair<std::string, std::string>> kForm;

// A visitor with alice at Acme, moved as far as the transfer page to Northwind.
struct Moving {
  Trio& t;
  Visitor v;
  std::unique_ptr<WsClient> alice, visitor;
  std::string transfer_id, join_url, code;

  explicit Moving(Trio& trio);
  boost::json::object transfer_in(const std::string& state);
};

}  // namespace baton::testing
