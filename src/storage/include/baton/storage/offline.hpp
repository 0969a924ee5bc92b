// Changes made to a database file by the command line (`baton agent passwd`),
// whether or not a server has it open. Blocking.
#pragma once

#include <string>
#include <string_view>

#include "baton/core/error.hpp"

namespace baton::storage {

// Deletes every stored sign-in session of `agent` from the database at `path`
// (which must exist). A server running meanwhile keeps those it holds in memory
// until it restarts. Waits up to 5 s for a running server's write lock. Errors:
// unavailable, with SQLite's message.
core::Status end_agent_sessions(const std::string& path, std::string_view agent);

}  // namespace baton::storage
