// Agent sign-in: password checks (off the network threads), session tokens kept
// hashed in the store and cached in memory, and a limit on failed attempts.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include "api/hub.hpp"
#include "api/settings.hpp"
#include "core/store.hpp"

namespace baton::api {

struct SignedIn {
  std::string token;  // give to the browser once; only its hash is kept
  Actor actor;
  core::Millis expires_at = 0;
};

class Sessions {
 public:
  // All references must outlive this object.
  Sessions(const Settings& settings, core::Store& store, core::Clock& clock, core::Random& random,
           boost::asio::thread_pool& blocking);

  // Checks the password on the blocking pool; `done` runs there too.
  // Too many failures from `ip` or for `username` in the window give rate_limited.
  void sign_in(const std::string& username, const std::string& password, const std::string& ip,
               std::function<void(core::Result<SignedIn>)> done);
  // The agent behind a token, from the cache or the store; `done` may run on the blocking pool.
  void resolve(const std::string& token, std::function<void(core::Result<Actor>)> done);
  void sign_out(const std::string& token, std::function<void(core::Status)> done);

 private:
  const AgentAccount* account(const std::string& name) const;
  bool limited(const std::string& key, core::Millis now);
  void failed(const std::string& key, core::Millis now);
  Actor actor_for(const AgentAccount& a) const;

  const Settings& settings_;
  core::Store& store_;
  core::Clock& clock_;
  core::Random& random_;
  boost::asio::thread_pool& blocking_;
  std::string dummy_hash_;  // verified against for unknown names, so timing does not tell

  std::mutex mu_;
  std::unordered_map<std::string, core::AgentSession> cache_;  // by token hash
  std::unordered_map<std::string, std::deque<core::Millis>> failures_;  // "ip:..." / "user:..."
};

}  // namespace baton::api
