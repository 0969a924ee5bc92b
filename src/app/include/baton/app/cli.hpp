// The command line: `baton serve|demo|agent|queue ...`.
#pragma once

namespace baton::app {

// Parses argv and runs the command. Returns the process exit code.
int run_cli(int argc, char** argv);

}  // namespace baton::app
