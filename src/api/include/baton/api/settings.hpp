// What the api needs to know about its organization; built by app from the config.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "baton/core/clock.hpp"
#include "baton/core/desk.hpp"

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

// A partner organization (DESIGN.md §2.5), from [[peers]].
struct PeerSettings {
  std::string name;          // our name for it; what its signatures are checked against
  std::string display_name;  // its organization's name, shown to agents and visitors
  std::string base_url;      // its public_url: the only place a visitor is ever sent
  std::vector<std::string> queues;         // our queues it may transfer into
  std::vector<std::string> embed_origins;  // its websites that may frame our chat page
};

struct FederationSettings {
  bool enabled = false;
  std::vector<PeerSettings> peers;
  int hop_limit = 3;
  core::Millis auth_code_ttl_ms = 120'000;
  core::Millis join_code_ttl_ms = 120'000;
  // A visitor who arrived from a partner while no agent of its queue was online is
  // sent back if that is still so after this long.
  core::Millis unserved_recall_ms = 5 * 60'000;
  // Notices to a partner (arrived, expired) are retried after 1 s, 2 s, 4 s ... up
  // to this; an arrival notice is retried until the partner answers it.
  core::Millis notice_retry_max_ms = 30'000;
  // Key for deriving authorization and join codes from transfer ids, so that a
  // retried request gets the same code while only the code's hash is stored.
  std::string code_secret;
  const PeerSettings* find(std::string_view name) const {
    for (const auto& p : peers)
      if (p.name == name) return &p;
    return nullptr;
  }
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
  // Failed sign-ins allowed per address, and per agent name, in a window before 429
  // (api::Sessions::sign_in has the whole rule).
  int login_failures_per_window = 10;
  // How many of one address's failures count toward an agent name's limit.
  int login_account_failures_per_address = 3;
  core::Millis login_window_ms = 5 * 60'000;
  // How long an agent has to answer a transfer offer (DESIGN.md §2.2: 20 s).
  core::Millis transfer_offer_ms = 20'000;
  // How long a consult may stay open before it ends by itself.
  core::Millis consult_timeout_ms = 15 * 60'000;
  FederationSettings federation;
  bool demo = false;
  std::string assets_dir;  // when set, web assets are read from this folder (development)
};

}  // namespace baton::api
