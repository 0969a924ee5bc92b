#include "proto.hpp"

#include <cstdio>

namespace baton::bench {

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string_view string_field(std::string_view msg, std::string_view key) {
  // Looks for "key":" with the key quoted, so "id" does not match "client_id".
  std::size_t from = 0;
  while (from < msg.size()) {
    auto pos = msg.find(key, from);
    if (pos == std::string_view::npos) return {};
    from = pos + key.size();
    if (pos == 0 || msg[pos - 1] != '"') continue;
    if (msg.substr(from, 3) != "\":\"") continue;
    auto start = from + 3;
    auto end = msg.find('"', start);
    if (end == std::string_view::npos) return {};
    return msg.substr(start, end - start);
  }
  return {};
}

std::int64_t int_field(std::string_view msg, std::string_view key, std::int64_t fallback) {
  std::size_t from = 0;
  while (from < msg.size()) {
    auto pos = msg.find(key, from);
    if (pos == std::string_view::npos) return fallback;
    from = pos + key.size();
    if (pos == 0 || msg[pos - 1] != '"') continue;
    if (msg.substr(from, 2) != "\":") continue;
    std::size_t i = from + 2;
    bool neg = i < msg.size() && msg[i] == '-';
    if (neg) ++i;
    if (i >= msg.size() || msg[i] < '0' || msg[i] > '9') return fallback;
    std::int64_t v = 0;
    while (i < msg.size() && msg[i] >= '0' && msg[i] <= '9') v = v * 10 + (msg[i++] - '0');
    return neg ? -v : v;
  }
  return fallback;
}

std::string_view event_type(std::string_view msg) {
  constexpr std::string_view prefix = "{\"type\":\"";
  if (msg.substr(0, prefix.size()) == prefix) {
    auto end = msg.find('"', prefix.size());
    if (end != std::string_view::npos) return msg.substr(prefix.size(), end - prefix.size());
  }
  return string_field(msg, "type");
}

}  // namespace baton::bench
