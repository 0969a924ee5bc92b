// Small helpers for Baton's realtime protocol (docs/api.md §3) as the load
// generator speaks it: building requests, and reading fields on the hot path
// without a full JSON parse.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace baton::bench {

// JSON string literal with the escapes JSON needs.
std::string json_quote(std::string_view s);

// The "type" of a server event. The server writes "type" first, so this is a
// prefix check in the common case, with a search as a fallback.
std::string_view event_type(std::string_view msg);

// The first string value of `"key":"..."` in `msg` (no unescaping: the values the
// bench reads — ids, client ids, codes — never hold escapes). Empty if absent.
// Note: a chat text that contained `"key":"` could mislead it; the bench's own
// texts never do.
std::string_view string_field(std::string_view msg, std::string_view key);

// The first integer value of `"key":N` in `msg`; `fallback` if absent.
std::int64_t int_field(std::string_view msg, std::string_view key, std::int64_t fallback = -1);

}  // namespace baton::bench
