// JSON in and out of the api, with the limits untrusted input needs.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "baton/core/conversation.hpp"
#include "baton/core/error.hpp"
#include "baton/core/transfer.hpp"

namespace baton::api {

// Parses `text` as a JSON object no deeper than `max_depth`.
core::Result<boost::json::object> parse_object(std::string_view text, int max_depth);

// Field readers: absent -> `fallback` (or an error when required); wrong type or
// too long -> bad_request/too_large naming the field.
core::Result<std::string> get_string(const boost::json::object& o, std::string_view key,
                                     std::size_t max_bytes, bool required,
                                     std::string fallback = {});
core::Result<std::int64_t> get_int(const boost::json::object& o, std::string_view key,
                                   std::int64_t min, std::int64_t max, std::int64_t fallback);
core::Result<bool> get_bool(const boost::json::object& o, std::string_view key, bool fallback);

std::string error_json(const core::Error& e);
std::string error_json(core::Errc code, std::string_view message);

boost::json::object event_json(const core::Event& e);
// A conversation as agents see it in lists; `place` is its place in line (0 if not waiting).
boost::json::object summary_json(const core::Conversation& c, std::size_t place);
// A transfer as agents see it: no codes, no hashes.
boost::json::object transfer_json(const core::Transfer& t);

}  // namespace baton::api
