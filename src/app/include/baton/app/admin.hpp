// The operations behind `baton agent add`, `baton agent passwd` and
// `baton queue add`: each edits a config file in place.
//
// An edit loads and validates the file, applies the change, validates again and
// replaces the file atomically (a temporary file in the same folder, fsync,
// rename), keeping its mode and, where permitted, its owner. A symbolic link is
// followed and its target replaced. On any error the file is left as it was.
// The file is rewritten by to_toml, so its comments are lost.
//
// These block (file I/O, and password hashing takes tens of milliseconds and
// ~64 MiB); they are meant for the command line, not for a server thread. Two
// edits of the same file at the same time are not serialized: the last one wins.
// A running server reads its configuration only at start.
#pragma once

#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "baton/core/error.hpp"

namespace baton::app {

struct AgentAddArgs {
  std::string name;                 // sign-in name: 1..64 of a-z 0-9 . _ -
  std::string display_name;         // empty = the name
  std::vector<std::string> queues;  // at least one; each must be defined
  int capacity = 3;                 // 1..100
  std::string password;             // plain text; only its hash is stored
};

// Adds an agent. Errors: conflict if an agent of that name exists; bad_request
// (naming the key) for a value the config would refuse; bad_request / too_large
// for an empty or over-long password; whatever load_config returns for the file.
core::Status agent_add(const std::string& config_path, const AgentAddArgs& args);

// Replaces an agent's password hash. Works even when that agent's current hash
// is missing or malformed (e.g. written by hand), so that it can be repaired.
// Then ends the agent's stored sessions (in data_dir's database, if any): a
// running server applies both at its next start.
// Errors: not_found if there is no such agent; bad_request / too_large for the
// password; file errors as for agent_add.
core::Status agent_passwd(const std::string& config_path, const std::string& name,
                          std::string_view password);

// Adds a queue (display_name empty = the name). Errors: conflict if a queue of
// that name exists (names that differ only in case count as the same);
// bad_request for an invalid name; file errors as for agent_add.
core::Status queue_add(const std::string& config_path, const std::string& name,
                       const std::string& display_name);

// Reads a new password for the command line.
// from_tty: `in` must be standard input and a terminal. Echo is turned off
// while reading (and restored before returning); the password is asked twice,
// with prompts on standard error. Errors: bad_request if standard input is not
// a terminal, if the two entries differ, or on end of input.
// Otherwise (`--password-stdin`): reads one line from `in`; a trailing "\r" is
// dropped. Errors: bad_request for no input or an empty line, too_large for a
// line past federation::kMaxPasswordBytes.
core::Result<std::string> read_password(std::istream& in, bool from_tty);

}  // namespace baton::app
