// Wiring: the only place where Baton's objects are put together (STYLE.md).
// An App is one organization's server: store, hub, sessions, HTTP service and
// listener, all running on an io_context the caller owns and runs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "baton/app/config.hpp"
#include "baton/core/clock.hpp"
#include "baton/core/error.hpp"

namespace boost::asio {
class io_context;
}

namespace baton::app {

struct AppOptions {
  bool demo = false;        // serve /demo
  std::string assets_dir;   // serve web files from this folder instead of the embedded ones
  int blocking_threads = 2; // threads for store reads and password hashing
  // Agents whose last console closed go offline after this long.
  std::int64_t agent_offline_grace_ms = 30'000;
  // How long an agent has to answer a transfer offer (DESIGN.md §2.2).
  std::int64_t transfer_offer_ms = 20'000;
  // How long a consult may stay open before it ends by itself (api.md §3.6).
  std::int64_t consult_timeout_ms = 15 * 60'000;
  // Tests only: shorter authorization and join code lifetimes than the configuration
  // allows (0 = as configured).
  std::int64_t join_code_ttl_ms = 0;
  // How long a visitor from a partner waits for an agent to come online before
  // being sent back (DESIGN.md §2.4).
  std::int64_t unserved_recall_ms = 5 * 60'000;
  // Tests only: the longest wait between two tries of a notice to a partner.
  std::int64_t notice_retry_max_ms = 30'000;
  // Tests only: the clock that sign-in sessions and the failed sign-in limits use
  // (nullptr = the system clock). Must outlive the App.
  core::Clock* sessions_clock = nullptr;
  // Tests only: the server's clock for everything else (conversations, transfers,
  // signing and verifying federation messages), e.g. a skewed one (nullptr = the
  // system clock). Must outlive the App.
  core::Clock* clock = nullptr;
};

class App {
 public:
  // Opens the data folder and store, loads live conversations, binds the listen
  // address and starts accepting on `io`. With port 0 a free port is taken and
  // public_url is rewritten to use it. Blocking; call before running `io`.
  static core::Result<std::unique_ptr<App>> start(const Config& config, boost::asio::io_context& io,
                                                  const AppOptions& options = {});
  ~App();

  std::uint16_t port() const;
  const std::string& public_url() const;
  const std::string& organization() const;
  // Stops accepting and closes every connection. Thread-safe. The store is
  // flushed and closed when the App is destroyed (after `io` stopped running).
  void stop();

 private:
  struct Parts;
  explicit App(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

// `baton serve`: runs one server until SIGINT or SIGTERM. Returns the exit code.
int run_serve(const Config& config, const AppOptions& options);

// `baton demo`: Acme Bank on `port`, Northwind Insurance on port+1, with sample
// agents, queues and the /demo website, until interrupted. `data_dir` empty =
// a new temporary folder.
int run_demo(std::uint16_t port, const std::string& data_dir, const AppOptions& options);

}  // namespace baton::app
