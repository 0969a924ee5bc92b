// What the api needs to know about its organization; built by app from the config.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/desk.hpp"

namespace baton::api {

struct Site {
  std::string name;
  std::vector<std::string> origins;  // web origins allowed to embed the widget
  std::string queue;                 // where its visitors wait
};

struct AgentAccount {
  core::AgentProfile profile;
  std::string password_hash;  // Argon2id, libsodium string format
};

struct Settings {
  std::string organization;
  std::string public_url;  // scheme://host[:port], no trailing slash
  std::vector<std::string> queues;
  std::vector<AgentAccount> agents;
  std::vector<Site> sites;
  std::size_t max_message_bytes = 4000;
  int max_json_depth = 16;
  std::size_t max_inflight_per_socket = 64;
  core::Millis session_ttl_ms = 12LL * 3600 * 1000;
  // An agent whose last socket closed goes offline after this grace period.
  core::Millis agent_offline_grace_ms = 30'000;
  // Failed sign-ins allowed per address in a window before 429.
  int login_failures_per_window = 10;
  core::Millis login_window_ms = 5 * 60'000;
  // How long an agent has to answer a transfer offer (DESIGN.md §2.2: 20 s).
  core::Millis transfer_offer_ms = 20'000;
  // How long a consult may stay open before it ends by itself.
  core::Millis consult_timeout_ms = 15 * 60'000;
  bool demo = false;
  std::string assets_dir;  // when set, web assets are read from this folder (development)
};

}  // namespace baton::api
