// What the soak and the load generator need to run servers as child processes
// on loopback: a free port, TOML quoting for the configurations they write, and
// starting a child that cannot outlive its parent.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace baton::loopback {

// A TCP port on 127.0.0.1 that was free a moment ago. Throws std::runtime_error.
std::uint16_t free_port();

// `s` as a TOML basic string, quotes included; and a TOML array of such strings.
std::string toml_string(const std::string& s);
std::string toml_list(const std::vector<std::string>& v);

// Forks and runs argv (argv[0] looked up in PATH when it has no slash), with
// stdin from /dev/null, stdout and stderr to `output_fd` and no other descriptor
// of ours. The child is sent SIGTERM when this process dies. With `own_group`
// it leads a process group of its own (set from both sides, so that it holds
// when this returns). Returns the child's pid, or -1 when fork failed. The caller
// still owns `output_fd` and reaps the child.
pid_t spawn(const std::vector<std::string>& argv, int output_fd, bool own_group = false);

}  // namespace baton::loopback
