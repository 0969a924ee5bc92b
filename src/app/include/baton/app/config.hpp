// The server's configuration: a plain struct, read from a TOML file and checked
// once at start. docs/operations.md is the reference for every key.
//
// Every function here is pure apart from load_config, which reads one file.
// Errors are core::Errc::bad_request with a message that starts with the key's
// path, e.g. "agents[0].capacity: must be an integer from 1 to 100 (line 31)";
// load_config adds too_large / not_found / unavailable for the file itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "baton/core/desk.hpp"
#include "baton/core/error.hpp"

namespace baton::app {

// Section [limits]. Every size has a limit; going past one is a clear error to
// the client (STYLE.md). The ranges accepted for each key are in config.cpp and
// docs/operations.md.
struct Limits {
  std::size_t max_body_bytes = 65536;        // HTTP request body
  std::size_t max_frame_bytes = 16384;       // one incoming WebSocket message
  std::size_t max_message_bytes = 4000;      // the text of one chat message
  int max_json_depth = 16;                   // nesting of incoming JSON
  std::size_t max_header_bytes = 8192;       // all request headers together
  std::size_t max_connections_per_ip = 256;  // open connections from one address
  std::size_t ws_queue_messages = 256;       // outgoing WebSocket queue, in messages
  std::size_t ws_queue_bytes = 1 << 20;      // outgoing WebSocket queue, in bytes
  int idle_timeout_s = 60;     // WebSocket: pinged after half of this in silence; closed after all of it
  int request_timeout_s = 30;  // time to receive one whole HTTP request
  int session_ttl_h = 12;      // agent sign-in session lifetime

  bool operator==(const Limits&) const = default;
};

// One [[queues]] entry.
struct QueueConfig {
  std::string name;          // 1..64 of letters, digits, space, '-', '_'; unique
  std::string display_name;  // shown to visitors and agents; defaults to name

  bool operator==(const QueueConfig&) const = default;
};

// One [[agents]] entry.
struct AgentConfig {
  std::string name;           // sign-in name: 1..64 of a-z 0-9 . _ -; unique
  std::string display_name;   // defaults to name
  std::string password_hash;  // Argon2id, as written by `baton agent add/passwd`
  std::vector<std::string> queues;  // at least one; each a defined queue
  int capacity = 3;                 // conversations at once, 1..100

  bool operator==(const AgentConfig&) const = default;
};

// One [[sites]] entry: a website allowed to embed the widget.
struct SiteConfig {
  std::string name;                  // unique
  std::vector<std::string> origins;  // web origins, normalized: "https://shop.example.com"
  std::string queue;                 // where its visitors go; defaults to the first queue

  bool operator==(const SiteConfig&) const = default;
};

// Section [federation]: this server's identity towards partner organizations.
struct FederationConfig {
  // The Ed25519 secret key written by `baton keygen`; empty = no federation.
  std::string key_file;
  // Earlier public keys ("ed25519:BASE64"), still published at /.well-known/baton
  // while peers move to the new one.
  std::vector<std::string> previous_public_keys;
  int hop_limit = 3;          // transfers a visitor may go through in a row, 1..10
  int join_code_ttl_s = 120;  // how long a join code is good for, 30..600
  int peer_timeout_s = 10;    // how long to wait for a peer's answer, 1..60

  bool operator==(const FederationConfig&) const = default;
};

// One [[peers]] entry: a partner organization's Baton server. Nothing is trusted
// that is not listed here.
struct PeerConfig {
  std::string name;          // how this server refers to the peer: 1..64 of a-z 0-9 . _ -; unique
  std::string display_name;  // the organization's name, shown to agents and visitors; defaults to name
  std::string base_url;      // the peer's public_url
  std::vector<std::string> public_keys;    // pinned "ed25519:BASE64" keys; at least one
  std::vector<std::string> queues;         // our queues this peer may transfer visitors into
  std::vector<std::string> embed_origins;  // the peer's websites that may frame our chat page
                                           // for visitors they send us

  bool operator==(const PeerConfig&) const = default;
};

struct Config {
  std::string organization;  // required; shown to visitors and to peers
  std::string public_url;    // required; "https://chat.example.com", no trailing slash
  std::string listen = "127.0.0.1:8080";  // host:port or [v6]:port; port 0 = any free port
  std::string listen_host = "127.0.0.1";  // derived from listen by validate_config
  std::uint16_t listen_port = 8080;       // derived from listen by validate_config
  // Paths below are absolute or relative to the process's working folder: a
  // relative path in the file is resolved against config_dir when parsed.
  std::string data_dir = "./data";
  int threads = 0;       // network threads; 0 = std::thread::hardware_concurrency()
  std::string tls_cert;  // PEM certificate chain; empty = plain HTTP
  std::string tls_key;   // PEM private key; set exactly when tls_cert is
  Limits limits;
  std::vector<QueueConfig> queues;  // at least one
  std::vector<AgentConfig> agents;
  std::vector<SiteConfig> sites;
  FederationConfig federation;
  std::vector<PeerConfig> peers;
  // The folder of the file this came from ("" when built in code). Not a key in
  // the file; to_toml writes paths inside it relative to it.
  std::string config_dir;

  bool tls_enabled() const { return !tls_cert.empty(); }
  const QueueConfig* find_queue(std::string_view name) const;
  const AgentConfig* find_agent(std::string_view name) const;
  const PeerConfig* find_peer(std::string_view name) const;
  AgentConfig* find_agent(std::string_view name);

  bool operator==(const Config&) const = default;
};

struct CheckOptions {
  // False accepts any agents[].password_hash, even a missing one. Only for
  // `baton agent passwd`, so that it can repair a hash written by hand; a
  // server must never run with it.
  bool password_hashes = true;
};

// Reads and parses the file at `path`; relative paths inside it are taken
// relative to the file's folder. Errors about the file itself name `path`;
// syntax and value errors do not repeat it.
core::Result<Config> load_config(const std::string& path, CheckOptions options = {});

// Parses TOML text. Strict: an unknown key, a wrong type or a value out of range
// anywhere is an error naming the key. Relative paths are resolved against
// `base_dir` ("" leaves them as written). Runs validate_config on the result.
core::Result<Config> parse_config(std::string_view toml_text, const std::string& base_dir,
                                  CheckOptions options = {});

// Checks every rule that does not depend on TOML (ranges, names, references
// between sections, URLs, origins) on a Config however it was made, and brings
// it to normal form: derives listen_host and listen_port, drops public_url's
// trailing slash, normalizes origins, fills empty display names and empty
// site queues with their defaults.
core::Status validate_config(Config& config, CheckOptions options = {});

// The config as TOML that parse_config reads back to an equal Config (given the
// same base_dir). Comments and key order of an original file are not kept.
// Limits equal to their defaults and display names equal to names are left out.
std::string to_toml(const Config& config);

// The agents as the desk knows them (no password hashes).
std::vector<core::AgentProfile> agent_profiles(const Config& config);

}  // namespace baton::app
