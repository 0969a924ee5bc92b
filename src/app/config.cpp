#include "baton/app/config.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include <boost/url/parse.hpp>
#include <toml++/toml.h>

#include "baton/core/text.hpp"
#include "baton/federation/password.hpp"

namespace baton::app {
namespace {

namespace fs = std::filesystem;
using core::Errc;
using core::Error;
using core::Status;

// A config file is a few kilobytes; anything much bigger is a mistake.
constexpr std::size_t kMaxConfigBytes = 1 << 20;
constexpr std::size_t kMaxNameChars = 64;
constexpr std::size_t kMaxDisplayNameChars = 64;
constexpr std::size_t kMaxOrganizationChars = 128;

struct IntRange {
  std::int64_t min;
  std::int64_t max;
};

constexpr IntRange kThreadsRange{0, 64};
constexpr IntRange kHopLimitRange{1, 10};
constexpr IntRange kJoinTtlRange{30, 600};
constexpr IntRange kPeerTimeoutRange{1, 60};
constexpr IntRange kCapacityRange{1, 100};

// Visits every [limits] key with its member and accepted range, so that the
// reader, the validator and the writer cannot disagree about the list.
template <typename L, typename F>
void for_each_limit(L& limits, F&& f) {
  f("max_body_bytes", limits.max_body_bytes, IntRange{1024, 64 << 20});
  f("max_frame_bytes", limits.max_frame_bytes, IntRange{1024, 16 << 20});
  f("max_message_bytes", limits.max_message_bytes, IntRange{1, 1 << 20});
  f("max_json_depth", limits.max_json_depth, IntRange{2, 128});
  f("max_header_bytes", limits.max_header_bytes, IntRange{1024, 1 << 20});
  f("max_connections_per_ip", limits.max_connections_per_ip, IntRange{1, 1'000'000});
  f("ws_queue_messages", limits.ws_queue_messages, IntRange{1, 1'000'000});
  f("ws_queue_bytes", limits.ws_queue_bytes, IntRange{1024, 1 << 30});
  f("idle_timeout_s", limits.idle_timeout_s, IntRange{5, 3600});
  f("request_timeout_s", limits.request_timeout_s, IntRange{1, 3600});
  f("session_ttl_h", limits.session_ttl_h, IntRange{1, 24 * 90});
}

std::string range_text(IntRange r) {
  return "must be an integer from " + std::to_string(r.min) + " to " + std::to_string(r.max);
}

std::string in_quotes(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

bool is_bare_key(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
  });
}

// "limits" + "max_body_bytes" -> "limits.max_body_bytes"; keys that TOML would
// need quotes for are shown quoted so that the path can be found in the file.
std::string key_path(const std::string& prefix, std::string_view key) {
  std::string k = is_bare_key(key) ? std::string(key) : in_quotes(key);
  return prefix.empty() ? k : prefix + "." + k;
}

std::string index_path(const std::string& prefix, std::size_t i) {
  return prefix + "[" + std::to_string(i) + "]";
}

// Line numbers by key path, so that errors found after reading can still point
// into the file. Absent when the Config was built in code.
using Lines = std::map<std::string, std::uint32_t, std::less<>>;

class Reporter {
 public:
  explicit Reporter(const Lines* lines) : lines_(lines) {}

  Error fail(const std::string& path, const std::string& what) const {
    std::string message = path + ": " + what;
    if (lines_ != nullptr) {
      if (auto it = lines_->find(path); it != lines_->end() && it->second > 0) {
        message += " (line " + std::to_string(it->second) + ")";
      }
    }
    return Error{Errc::bad_request, std::move(message)};
  }

 private:
  const Lines* lines_;
};

// ---------------------------------------------------------------------------
// Reading TOML into the struct: shapes and types. Values are checked by
// validate() afterwards, except integer ranges, which must be checked before
// narrowing.

std::string found(const toml::node& node) {
  std::ostringstream out;
  out << " (found " << node.type() << ")";
  return out.str();
}

class Reader {
 public:
  explicit Reader(CheckOptions options) : options_(options), report_(&lines_) {}

  const Lines& lines() const { return lines_; }

  void record_lines(const toml::node& node, const std::string& path) {
    if (const auto* table = node.as_table()) {
      for (auto&& [key, child] : *table) {
        const std::string child_path = key_path(path, key.str());
        lines_[child_path] = key.source().begin.line;
        record_lines(child, child_path);
      }
    } else if (const auto* array = node.as_array()) {
      for (std::size_t i = 0; i < array->size(); ++i) {
        const std::string child_path = index_path(path, i);
        lines_[child_path] = (*array)[i].source().begin.line;
        record_lines((*array)[i], child_path);
      }
    }
  }

  Status check_keys(const toml::table& table, const std::string& prefix,
                    std::initializer_list<std::string_view> known) const {
    for (auto&& [key, value] : table) {
      if (std::find(known.begin(), known.end(), key.str()) == known.end()) {
        return report_.fail(key_path(prefix, key.str()), "unknown key");
      }
    }
    return core::ok_status();
  }

  Status read_string(const toml::table& table, const std::string& prefix, std::string_view key,
                     std::string& out, bool required) const {
    const toml::node* node = table.get(key);
    const std::string path = key_path(prefix, key);
    if (node == nullptr) {
      if (required) return report_.fail(path, "missing; this key is required");
      return core::ok_status();
    }
    const auto* value = node->as_string();
    if (value == nullptr) return report_.fail(path, "must be a string" + found(*node));
    out = value->get();
    return core::ok_status();
  }

  template <typename Int>
  Status read_int(const toml::table& table, const std::string& prefix, std::string_view key,
                  Int& out, IntRange range) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return core::ok_status();
    const std::string path = key_path(prefix, key);
    const auto* value = node->as_integer();
    if (value == nullptr) return report_.fail(path, range_text(range) + found(*node));
    const std::int64_t v = value->get();
    if (v < range.min || v > range.max) return report_.fail(path, range_text(range));
    out = static_cast<Int>(v);
    return core::ok_status();
  }

  Status read_string_array(const toml::table& table, const std::string& prefix,
                           std::string_view key, std::vector<std::string>& out,
                           bool required) const {
    const toml::node* node = table.get(key);
    const std::string path = key_path(prefix, key);
    if (node == nullptr) {
      if (required) return report_.fail(path, "missing; this key is required");
      return core::ok_status();
    }
    const auto* array = node->as_array();
    if (array == nullptr) return report_.fail(path, "must be an array of strings" + found(*node));
    out.clear();
    for (std::size_t i = 0; i < array->size(); ++i) {
      const auto* value = (*array)[i].as_string();
      if (value == nullptr) {
        return report_.fail(index_path(path, i), "must be a string" + found((*array)[i]));
      }
      out.push_back(value->get());
    }
    return core::ok_status();
  }

  // A table such as [limits]; null when absent.
  core::Result<const toml::table*> table_at(const toml::table& parent, std::string_view key) const {
    const toml::node* node = parent.get(key);
    if (node == nullptr) return static_cast<const toml::table*>(nullptr);
    const auto* table = node->as_table();
    if (table == nullptr) return report_.fail(key_path("", key), "must be a table" + found(*node));
    return table;
  }

  // An array of tables such as [[agents]]; empty when absent.
  core::Result<std::vector<const toml::table*>> tables_at(const toml::table& parent,
                                                    std::string_view key) const {
    std::vector<const toml::table*> out;
    const toml::node* node = parent.get(key);
    if (node == nullptr) return out;
    const std::string path = key_path("", key);
    const auto* array = node->as_array();
    if (array == nullptr) {
      return report_.fail(path, "must be an array of tables, written [[" + std::string(key) +
                                    "]]" + found(*node));
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
      const auto* table = (*array)[i].as_table();
      if (table == nullptr) {
        return report_.fail(index_path(path, i), "must be a table" + found((*array)[i]));
      }
      out.push_back(table);
    }
    return out;
  }

  Status read_root(const toml::table& root, Config& c) const {
    if (auto s = check_keys(root, "", {"organization", "public_url", "listen", "data_dir",
                                       "threads", "tls", "limits", "queues", "agents", "sites",
                                       "federation", "peers"});
        !s) {
      return s;
    }
    if (auto s = read_string(root, "", "organization", c.organization, true); !s) return s;
    if (auto s = read_string(root, "", "public_url", c.public_url, true); !s) return s;
    if (auto s = read_string(root, "", "listen", c.listen, false); !s) return s;
    if (auto s = read_string(root, "", "data_dir", c.data_dir, false); !s) return s;
    if (auto s = read_int(root, "", "threads", c.threads, kThreadsRange); !s) return s;

    auto tls = table_at(root, "tls");
    if (!tls) return tls.error();
    if (*tls != nullptr) {
      if (auto s = check_keys(**tls, "tls", {"cert", "key"}); !s) return s;
      if (auto s = read_string(**tls, "tls", "cert", c.tls_cert, false); !s) return s;
      if (auto s = read_string(**tls, "tls", "key", c.tls_key, false); !s) return s;
    }

    auto limits = table_at(root, "limits");
    if (!limits) return limits.error();
    if (*limits != nullptr) {
      if (auto s = read_limits(**limits, c.limits); !s) return s;
    }

    auto queues = tables_at(root, "queues");
    if (!queues) return queues.error();
    for (std::size_t i = 0; i < queues->size(); ++i) {
      const toml::table& t = *(*queues)[i];
      const std::string p = index_path("queues", i);
      QueueConfig q;
      if (auto s = check_keys(t, p, {"name", "display_name"}); !s) return s;
      if (auto s = read_string(t, p, "name", q.name, true); !s) return s;
      if (auto s = read_string(t, p, "display_name", q.display_name, false); !s) return s;
      c.queues.push_back(std::move(q));
    }

    auto agents = tables_at(root, "agents");
    if (!agents) return agents.error();
    for (std::size_t i = 0; i < agents->size(); ++i) {
      const toml::table& t = *(*agents)[i];
      const std::string p = index_path("agents", i);
      AgentConfig a;
      if (auto s = check_keys(t, p, {"name", "display_name", "password_hash", "queues", "capacity"});
          !s) {
        return s;
      }
      if (auto s = read_string(t, p, "name", a.name, true); !s) return s;
      if (auto s = read_string(t, p, "display_name", a.display_name, false); !s) return s;
      if (auto s = read_string(t, p, "password_hash", a.password_hash, options_.password_hashes);
          !s) {
        return s;
      }
      if (auto s = read_string_array(t, p, "queues", a.queues, true); !s) return s;
      if (auto s = read_int(t, p, "capacity", a.capacity, kCapacityRange); !s) return s;
      c.agents.push_back(std::move(a));
    }

    auto sites = tables_at(root, "sites");
    if (!sites) return sites.error();
    for (std::size_t i = 0; i < sites->size(); ++i) {
      const toml::table& t = *(*sites)[i];
      const std::string p = index_path("sites", i);
      SiteConfig site;
      if (auto s = check_keys(t, p, {"name", "origins", "queue"}); !s) return s;
      if (auto s = read_string(t, p, "name", site.name, true); !s) return s;
      if (auto s = read_string_array(t, p, "origins", site.origins, true); !s) return s;
      if (auto s = read_string(t, p, "queue", site.queue, false); !s) return s;
      c.sites.push_back(std::move(site));
    }

    auto federation = table_at(root, "federation");
    if (!federation) return federation.error();
    if (*federation != nullptr) {
      const toml::table& t = **federation;
      FederationConfig& f = c.federation;
      if (auto s = check_keys(t, "federation", {"key_file", "previous_public_keys", "hop_limit",
                                                "join_code_ttl_s", "peer_timeout_s"});
          !s) {
        return s;
      }
      if (auto s = read_string(t, "federation", "key_file", f.key_file, false); !s) return s;
      if (auto s = read_string_array(t, "federation", "previous_public_keys", f.previous_public_keys, false);
          !s) {
        return s;
      }
      if (auto s = read_int(t, "federation", "hop_limit", f.hop_limit, kHopLimitRange); !s) return s;
      if (auto s = read_int(t, "federation", "join_code_ttl_s", f.join_code_ttl_s, kJoinTtlRange); !s) return s;
      if (auto s = read_int(t, "federation", "peer_timeout_s", f.peer_timeout_s, kPeerTimeoutRange); !s) return s;
    }

    auto peers = tables_at(root, "peers");
    if (!peers) return peers.error();
    for (std::size_t i = 0; i < peers->size(); ++i) {
      const toml::table& t = *(*peers)[i];
      const std::string p = index_path("peers", i);
      PeerConfig peer;
      if (auto s = check_keys(t, p, {"name", "display_name", "base_url", "public_keys", "queues", "embed_origins"});
          !s) {
        return s;
      }
      if (auto s = read_string(t, p, "name", peer.name, true); !s) return s;
      if (auto s = read_string(t, p, "display_name", peer.display_name, false); !s) return s;
      if (auto s = read_string(t, p, "base_url", peer.base_url, true); !s) return s;
      if (auto s = read_string_array(t, p, "public_keys", peer.public_keys, true); !s) return s;
      if (auto s = read_string_array(t, p, "queues", peer.queues, false); !s) return s;
      if (auto s = read_string_array(t, p, "embed_origins", peer.embed_origins, false); !s) return s;
      c.peers.push_back(std::move(peer));
    }
    return core::ok_status();
  }

 private:
  Status read_limits(const toml::table& table, Limits& limits) const {
    // Unknown keys first, so that a misspelt limit is named as such.
    for (auto&& [key, value] : table) {
      bool known = false;
      for_each_limit(limits, [&, k = key.str()](std::string_view name, auto&, IntRange) {
        known = known || name == k;
      });
      if (!known) return report_.fail(key_path("limits", key.str()), "unknown key");
    }
    Status status = core::ok_status();
    for_each_limit(limits, [&](std::string_view name, auto& member, IntRange range) {
      if (status) status = read_int(table, "limits", name, member, range);
    });
    return status;
  }

  CheckOptions options_;
  Lines lines_;
  Reporter report_;
};

// ---------------------------------------------------------------------------
// Values.

bool is_ascii_alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// Queue and site names: letters, digits, space, '-', '_'; no space at either end.
bool valid_queue_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameChars || s.front() == ' ' || s.back() == ' ') return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_ascii_alnum(c) || c == ' ' || c == '-' || c == '_'; });
}

bool valid_agent_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameChars) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

// Free text shown to people: UTF-8, no control characters, 1..max code points.
bool valid_label(std::string_view s, std::size_t max_chars) {
  if (s.empty() || !core::valid_utf8(s) || core::utf8_length(s) > max_chars) return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

std::string label_rule(std::size_t max_chars) {
  return "must be 1 to " + std::to_string(max_chars) +
         " characters of UTF-8 text without control characters";
}

// Parses a decimal TCP port. `allow_zero` for listening (0 = any free port).
std::optional<std::uint16_t> parse_port(std::string_view s, bool allow_zero) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535 || (value == 0 && !allow_zero)) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

bool valid_host_name(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.front() == '-') return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_ascii_alnum(c) || c == '.' || c == '-'; });
}

struct HostPort {
  std::string host;  // without brackets
  bool ipv6 = false;
  std::optional<std::uint16_t> port;
};

// The host and port of an authority as Boost.URL parsed it: no user info, an IP
// literal or a plain host name, a port if any.
std::optional<HostPort> host_port_of(const boost::urls::authority_view& a, bool allow_port_zero) {
  if (a.has_userinfo()) return std::nullopt;
  HostPort out;
  switch (a.host_type()) {
    case boost::urls::host_type::ipv6:
      out.host = a.host_ipv6_address().to_string();
      out.ipv6 = true;
      break;
    case boost::urls::host_type::ipv4: out.host = a.host_ipv4_address().to_string(); break;
    case boost::urls::host_type::name:
      out.host = a.host_name();
      if (!valid_host_name(out.host)) return std::nullopt;
      break;
    default: return std::nullopt;
  }
  if (a.has_port()) {
    out.port = parse_port(a.port(), allow_port_zero);
    if (!out.port) return std::nullopt;
  }
  return out;
}

// "host", "host:port", "[v6]" or "[v6]:port".
std::optional<HostPort> parse_host_port(std::string_view s, bool allow_port_zero) {
  auto a = boost::urls::parse_authority(s);
  if (!a) return std::nullopt;
  return host_port_of(*a, allow_port_zero);
}

// Brings "HTTPS://Shop.Example.com:443/" to the form browsers send in the Origin
// header, "https://shop.example.com". A path of "/" is dropped; any other path,
// a query, a fragment or user info is refused.
std::optional<std::string> normalize_origin(std::string_view s) {
  auto url = boost::urls::parse_absolute_uri(s);
  if (!url || !url->has_authority()) return std::nullopt;
  const std::string scheme = core::ascii_lower(url->scheme());
  if (scheme != "http" && scheme != "https") return std::nullopt;
  if ((!url->encoded_path().empty() && url->encoded_path() != "/") || url->has_query() || url->has_fragment())
    return std::nullopt;
  auto hp = host_port_of(url->authority(), false);
  if (!hp) return std::nullopt;
  std::string out = scheme + "://";
  out += hp->ipv6 ? "[" + core::ascii_lower(hp->host) + "]" : core::ascii_lower(hp->host);
  const std::uint16_t default_port = scheme == "https" ? 443 : 80;
  if (hp->port && *hp->port != default_port) out += ":" + std::to_string(*hp->port);
  return out;
}

constexpr const char* kPublicKeyRule =
    "must be an Ed25519 public key \"ed25519:BASE64\" (32 bytes), as printed by `baton keygen`";

// "ed25519:" followed by standard base64 of exactly 32 bytes (44 characters, one '=').
bool valid_public_key(std::string_view key) {
  constexpr std::string_view kPrefix = "ed25519:";
  if (key.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view b64 = key.substr(kPrefix.size());
  if (b64.size() != 44 || b64[43] != '=') return false;
  for (std::size_t i = 0; i < 43; ++i) {
    char ch = b64[i];
    bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
    if (!ok) return false;
  }
  return true;
}

Status validate(Config& c, CheckOptions options, const Reporter& r) {
  if (!valid_label(c.organization, kMaxOrganizationChars)) {
    return r.fail("organization", label_rule(kMaxOrganizationChars));
  }
  {
    auto url = normalize_origin(c.public_url);
    if (!url) {
      return r.fail("public_url",
                    "must be an absolute http:// or https:// URL with no path, query or fragment, "
                    "e.g. \"https://chat.example.com\"");
    }
    c.public_url = *url;
  }
  {
    auto hp = parse_host_port(c.listen, true);
    if (!hp || !hp->port) {
      return r.fail("listen",
                    "must be host:port or [IPv6]:port, e.g. \"127.0.0.1:8080\" or \"[::]:443\"");
    }
    c.listen_host = hp->host;
    c.listen_port = *hp->port;
  }
  if (c.data_dir.empty()) return r.fail("data_dir", "must not be empty");
  if (c.threads < kThreadsRange.min || c.threads > kThreadsRange.max) {
    return r.fail("threads", range_text(kThreadsRange));
  }
  if (!c.tls_cert.empty() && c.tls_key.empty()) {
    return r.fail("tls.key", "missing; required when tls.cert is set");
  }
  if (c.tls_cert.empty() && !c.tls_key.empty()) {
    return r.fail("tls.cert", "missing; required when tls.key is set");
  }

  Status status = core::ok_status();
  for_each_limit(c.limits, [&](std::string_view name, auto& member, IntRange range) {
    const auto v = static_cast<std::int64_t>(member);
    if (status && (v < range.min || v > range.max)) {
      status = r.fail("limits." + std::string(name), range_text(range));
    }
  });
  if (!status) return status;
  if (c.limits.max_message_bytes >= c.limits.max_frame_bytes) {
    return r.fail("limits.max_message_bytes",
                  "must be smaller than limits.max_frame_bytes (" +
                      std::to_string(c.limits.max_frame_bytes) + ")");
  }
  if (c.limits.max_message_bytes >= c.limits.max_body_bytes) {
    return r.fail("limits.max_message_bytes",
                  "must be smaller than limits.max_body_bytes (" +
                      std::to_string(c.limits.max_body_bytes) + ")");
  }

  if (c.queues.empty()) return r.fail("queues", "at least one [[queues]] entry is required");
  for (std::size_t i = 0; i < c.queues.size(); ++i) {
    QueueConfig& q = c.queues[i];
    const std::string p = index_path("queues", i);
    if (!valid_queue_name(q.name)) {
      return r.fail(p + ".name",
                    "must be 1 to 64 letters, digits, spaces, '-' or '_', without a space at "
                    "either end");
    }
    for (std::size_t j = 0; j < i; ++j) {
      // Names that differ only in case would confuse people, so they clash too.
      if (core::ascii_lower(c.queues[j].name) == core::ascii_lower(q.name)) {
        return r.fail(p + ".name", "queue " + in_quotes(q.name) + " is already defined by " +
                                       index_path("queues", j));
      }
    }
    if (q.display_name.empty()) q.display_name = q.name;
    if (!valid_label(q.display_name, kMaxDisplayNameChars)) {
      return r.fail(p + ".display_name", label_rule(kMaxDisplayNameChars));
    }
  }

  for (std::size_t i = 0; i < c.agents.size(); ++i) {
    AgentConfig& a = c.agents[i];
    const std::string p = index_path("agents", i);
    if (!valid_agent_name(a.name)) {
      return r.fail(p + ".name", "must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-'");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (c.agents[j].name == a.name) {
        return r.fail(p + ".name", "agent " + in_quotes(a.name) + " is already defined by " +
                                       index_path("agents", j));
      }
    }
    if (a.display_name.empty()) a.display_name = a.name;
    if (!valid_label(a.display_name, kMaxDisplayNameChars)) {
      return r.fail(p + ".display_name", label_rule(kMaxDisplayNameChars));
    }
    if (options.password_hashes && !federation::looks_like_password_hash(a.password_hash)) {
      return r.fail(p + ".password_hash",
                    "must be an Argon2id hash (\"$argon2id$...\"); set one with `baton agent "
                    "passwd`");
    }
    if (a.queues.empty()) return r.fail(p + ".queues", "must list at least one queue");
    for (std::size_t k = 0; k < a.queues.size(); ++k) {
      const std::string qp = index_path(p + ".queues", k);
      if (c.find_queue(a.queues[k]) == nullptr) {
        return r.fail(qp, "queue " + in_quotes(a.queues[k]) + " is not defined in [[queues]]");
      }
      if (std::find(a.queues.begin(), a.queues.begin() + static_cast<std::ptrdiff_t>(k),
                    a.queues[k]) != a.queues.begin() + static_cast<std::ptrdiff_t>(k)) {
        return r.fail(qp, "queue " + in_quotes(a.queues[k]) + " is listed twice");
      }
    }
    if (a.capacity < kCapacityRange.min || a.capacity > kCapacityRange.max) {
      return r.fail(p + ".capacity", range_text(kCapacityRange));
    }
  }

  std::map<std::string, std::string, std::less<>> origin_owner;  // origin -> path of its site
  for (std::size_t i = 0; i < c.sites.size(); ++i) {
    SiteConfig& site = c.sites[i];
    const std::string p = index_path("sites", i);
    if (!valid_queue_name(site.name)) {
      return r.fail(p + ".name",
                    "must be 1 to 64 letters, digits, spaces, '-' or '_', without a space at "
                    "either end");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (core::ascii_lower(c.sites[j].name) == core::ascii_lower(site.name)) {
        return r.fail(p + ".name", "site " + in_quotes(site.name) + " is already defined by " +
                                       index_path("sites", j));
      }
    }
    if (site.origins.empty()) return r.fail(p + ".origins", "must list at least one origin");
    for (std::size_t k = 0; k < site.origins.size(); ++k) {
      const std::string op = index_path(p + ".origins", k);
      if (site.origins[k] == "*") {
        return r.fail(op, "\"*\" is not allowed; list each website's origin, e.g. "
                          "\"https://www.example.com\"");
      }
      auto origin = normalize_origin(site.origins[k]);
      if (!origin) {
        return r.fail(op, "must be a web origin \"scheme://host[:port]\" with scheme http or "
                          "https and no path, e.g. \"https://www.example.com\"");
      }
      site.origins[k] = *origin;
      auto [it, inserted] = origin_owner.emplace(*origin, op);
      if (!inserted) return r.fail(op, "origin " + in_quotes(*origin) + " is already listed at " + it->second);
    }
    if (site.queue.empty()) site.queue = c.queues.front().name;
    if (c.find_queue(site.queue) == nullptr) {
      return r.fail(p + ".queue", "queue " + in_quotes(site.queue) + " is not defined in [[queues]]");
    }
  }

  const FederationConfig& f = c.federation;
  if (f.hop_limit < kHopLimitRange.min || f.hop_limit > kHopLimitRange.max)
    return r.fail("federation.hop_limit", range_text(kHopLimitRange));
  if (f.join_code_ttl_s < kJoinTtlRange.min || f.join_code_ttl_s > kJoinTtlRange.max)
    return r.fail("federation.join_code_ttl_s", range_text(kJoinTtlRange));
  if (f.peer_timeout_s < kPeerTimeoutRange.min || f.peer_timeout_s > kPeerTimeoutRange.max)
    return r.fail("federation.peer_timeout_s", range_text(kPeerTimeoutRange));
  for (std::size_t k = 0; k < f.previous_public_keys.size(); ++k) {
    if (!valid_public_key(f.previous_public_keys[k]))
      return r.fail(index_path("federation.previous_public_keys", k), kPublicKeyRule);
  }
  if (!c.peers.empty() && f.key_file.empty())
    return r.fail("federation.key_file", "is required when [[peers]] are listed; make one with `baton keygen`");
  for (std::size_t i = 0; i < c.peers.size(); ++i) {
    PeerConfig& peer = c.peers[i];
    const std::string p = index_path("peers", i);
    if (!valid_agent_name(peer.name)) return r.fail(p + ".name", "must be 1 to 64 of a-z 0-9 . _ -");
    for (std::size_t j = 0; j < i; ++j) {
      if (c.peers[j].name == peer.name)
        return r.fail(p + ".name", "peer " + in_quotes(peer.name) + " is already defined by " + index_path("peers", j));
    }
    if (peer.display_name.empty()) peer.display_name = peer.name;
    if (!valid_label(peer.display_name, kMaxOrganizationChars))
      return r.fail(p + ".display_name", label_rule(kMaxOrganizationChars));
    auto url = normalize_origin(peer.base_url);
    if (!url) {
      return r.fail(p + ".base_url", "must be an absolute http:// or https:// URL with no path, e.g. "
                                     "\"https://chat.partner.example\"");
    }
    peer.base_url = *url;
    if (peer.public_keys.empty()) return r.fail(p + ".public_keys", "must list at least one key");
    for (std::size_t k = 0; k < peer.public_keys.size(); ++k) {
      if (!valid_public_key(peer.public_keys[k])) return r.fail(index_path(p + ".public_keys", k), kPublicKeyRule);
    }
    for (std::size_t k = 0; k < peer.queues.size(); ++k) {
      if (c.find_queue(peer.queues[k]) == nullptr)
        return r.fail(index_path(p + ".queues", k), "queue " + in_quotes(peer.queues[k]) + " is not defined in [[queues]]");
    }
    for (std::size_t k = 0; k < peer.embed_origins.size(); ++k) {
      auto origin = normalize_origin(peer.embed_origins[k]);
      if (!origin || peer.embed_origins[k] == "*") {
        return r.fail(index_path(p + ".embed_origins", k),
                      "must be a web origin \"scheme://host[:port]\" with scheme http or https and no path");
      }
      peer.embed_origins[k] = *origin;
    }
  }
  return core::ok_status();
}

// A path from the file: relative ones are relative to the file's folder.
std::string resolve_path(const std::string& path, const std::string& base_dir) {
  if (path.empty() || base_dir.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(base_dir) / path).lexically_normal().string();
}

// The inverse of resolve_path where that is possible: paths inside config_dir
// are written relative to it, so that the folder can be moved as a whole.
std::string path_for_file(const std::string& path, const std::string& config_dir) {
  if (path.empty() || config_dir.empty()) return path;
  const fs::path rel = fs::path(path).lexically_relative(config_dir);
  if (rel.empty() || *rel.begin() == "..") return path;
  return rel.generic_string();
}

// A TOML basic string.
std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (u < 0x20 || u == 0x7f) {
          static constexpr char kHex[] = "0123456789ABCDEF";
          out += "\\u00";
          out += kHex[u >> 4];
          out += kHex[u & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string toml_string_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += toml_string(items[i]);
  }
  out += "]";
  return out;
}

}  // namespace

const QueueConfig* Config::find_queue(std::string_view name) const {
  auto it = std::find_if(queues.begin(), queues.end(),
                         [&](const QueueConfig& q) { return q.name == name; });
  return it == queues.end() ? nullptr : &*it;
}

const AgentConfig* Config::find_agent(std::string_view name) const {
  auto it = std::find_if(agents.begin(), agents.end(),
                         [&](const AgentConfig& a) { return a.name == name; });
  return it == agents.end() ? nullptr : &*it;
}

const PeerConfig* Config::find_peer(std::string_view name) const {
  auto it = std::find_if(peers.begin(), peers.end(), [&](const PeerConfig& p) { return p.name == name; });
  return it == peers.end() ? nullptr : &*it;
}

AgentConfig* Config::find_agent(std::string_view name) {
  return const_cast<AgentConfig*>(std::as_const(*this).find_agent(name));
}

core::Result<Config> load_config(const std::string& path, CheckOptions options) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const Errc code = err == ENOENT ? Errc::not_found
                      : err == EACCES ? Errc::forbidden
                                      : Errc::unavailable;
    return Error{code, "cannot open " + path + ": " + std::strerror(err)};
  }
  std::string text;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Error{Errc::unavailable, "cannot read " + path + ": " + std::strerror(err)};
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxConfigBytes) {
      ::close(fd);
      return Error{Errc::too_large, path + ": larger than " + std::to_string(kMaxConfigBytes) +
                                        " bytes; is this the right file?"};
    }
  }
  ::close(fd);
  std::error_code ec;
  fs::path absolute = fs::absolute(path, ec);
  if (ec) absolute = path;
  return parse_config(text, absolute.lexically_normal().parent_path().string(), options);
}

core::Result<Config> parse_config(std::string_view toml_text, const std::string& base_dir,
                                  CheckOptions options) {
  toml::table root;
  try {
    root = toml::parse(toml_text);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return Error{Errc::bad_request, "line " + std::to_string(where.line) + ", column " +
                                        std::to_string(where.column) + ": " +
                                        std::string(e.description())};
  }
  Reader reader(options);
  reader.record_lines(root, "");
  Config config;
  config.config_dir = base_dir;
  if (auto s = reader.read_root(root, config); !s) return s.error();
  config.data_dir = resolve_path(config.data_dir, base_dir);
  config.tls_cert = resolve_path(config.tls_cert, base_dir);
  config.tls_key = resolve_path(config.tls_key, base_dir);
  config.federation.key_file = resolve_path(config.federation.key_file, base_dir);
  if (auto s = validate(config, options, Reporter(&reader.lines())); !s) return s.error();
  return config;
}

core::Status validate_config(Config& config, CheckOptions options) {
  return validate(config, options, Reporter(nullptr));
}

std::string to_toml(const Config& c) {
  std::string out;
  out += "# Baton configuration; see docs/operations.md for every key.\n";
  out += "# Written by `baton`: comments from an earlier version of this file are not kept.\n\n";
  out += "organization = " + toml_string(c.organization) + "\n";
  out += "public_url = " + toml_string(c.public_url) + "\n";
  out += "listen = " + toml_string(c.listen) + "\n";
  out += "data_dir = " + toml_string(path_for_file(c.data_dir, c.config_dir)) + "\n";
  out += "threads = " + std::to_string(c.threads) + "\n";

  if (!c.tls_cert.empty() || !c.tls_key.empty()) {
    out += "\n[tls]\n";
    out += "cert = " + toml_string(path_for_file(c.tls_cert, c.config_dir)) + "\n";
    out += "key = " + toml_string(path_for_file(c.tls_key, c.config_dir)) + "\n";
  }

  std::map<std::string_view, std::int64_t> defaults;
  const Limits default_limits;
  for_each_limit(default_limits, [&](std::string_view name, const auto& member, IntRange) {
    defaults[name] = static_cast<std::int64_t>(member);
  });
  std::string limits;
  for_each_limit(c.limits, [&](std::string_view name, const auto& member, IntRange) {
    if (defaults[name] != static_cast<std::int64_t>(member)) {
      limits += std::string(name) + " = " + std::to_string(member) + "\n";
    }
  });
  if (!limits.empty()) out += "\n[limits]\n" + limits;

  for (const auto& q : c.queues) {
    out += "\n[[queues]]\nname = " + toml_string(q.name) + "\n";
    if (!q.display_name.empty() && q.display_name != q.name) {
      out += "display_name = " + toml_string(q.display_name) + "\n";
    }
  }
  for (const auto& a : c.agents) {
    out += "\n[[agents]]\nname = " + toml_string(a.name) + "\n";
    if (!a.display_name.empty() && a.display_name != a.name) {
      out += "display_name = " + toml_string(a.display_name) + "\n";
    }
    out += "password_hash = " + toml_string(a.password_hash) + "\n";
    out += "queues = " + toml_string_array(a.queues) + "\n";
    out += "capacity = " + std::to_string(a.capacity) + "\n";
  }
  for (const auto& s : c.sites) {
    out += "\n[[sites]]\nname = " + toml_string(s.name) + "\n";
    out += "origins = " + toml_string_array(s.origins) + "\n";
    if (!s.queue.empty()) out += "queue = " + toml_string(s.queue) + "\n";
  }
  const FederationConfig default_federation;
  if (!(c.federation == default_federation)) {
    const FederationConfig& f = c.federation;
    out += "\n[federation]\n";
    if (!f.key_file.empty()) out += "key_file = " + toml_string(path_for_file(f.key_file, c.config_dir)) + "\n";
    if (!f.previous_public_keys.empty())
      out += "previous_public_keys = " + toml_string_array(f.previous_public_keys) + "\n";
    out += "hop_limit = " + std::to_string(f.hop_limit) + "\n";
    out += "join_code_ttl_s = " + std::to_string(f.join_code_ttl_s) + "\n";
    out += "peer_timeout_s = " + std::to_string(f.peer_timeout_s) + "\n";
  }
  for (const auto& p : c.peers) {
    out += "\n[[peers]]\nname = " + toml_string(p.name) + "\n";
    if (!p.display_name.empty() && p.display_name != p.name)
      out += "display_name = " + toml_string(p.display_name) + "\n";
    out += "base_url = " + toml_string(p.base_url) + "\n";
    out += "public_keys = " + toml_string_array(p.public_keys) + "\n";
    out += "queues = " + toml_string_array(p.queues) + "\n";
    if (!p.embed_origins.empty()) out += "embed_origins = " + toml_string_array(p.embed_origins) + "\n";
  }
  return out;
}

std::vector<core::AgentProfile> agent_profiles(const Config& config) {
  std::vector<core::AgentProfile> out;
  out.reserve(config.agents.size());
  for (const auto& a : config.agents) {
    out.push_back(core::AgentProfile{a.name, a.display_name.empty() ? a.name : a.display_name,
                                     a.queues, a.capacity});
  }
  return out;
}

}  // namespace baton::app
