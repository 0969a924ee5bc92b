// One run of the transfer simulation: a visitor at Acme (the origin) chats with
// alice, who passes it to Northwind (the destination), whose bob may send it
// back; the network loses, repeats, delays and reorders requests and answers,
// either server crashes and restarts from what it stored, the browser follows
// the move, stays, goes twice, comes back or is closed, and the clocks are
// skewed within the bounds docs/federation.md §4.4 allows. Every choice comes
// from the seed.
//
// Checked after every event, on what both servers stored:
//   - the origin takes the visitor back only if the destination does not have it
//     (never two owners);
//   - the origin lets go only once the destination has the visitor, and the
//     destination lets go of a recalled visitor only once the origin has it back;
//   - no join code is redeemed twice.
// Checked once the faults have stopped and every timer has had its time:
//   - no transfer is left open and no request waits in an outbox;
//   - the visitor is live in at most one conversation, the owner's;
//   - every message the visitor was told was stored is in the owner's
//     transcript exactly once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace baton::sim {

struct Outcome {
  bool ok = true;
  std::string failure;             // the first invariant broken
  std::vector<std::string> trace;  // what happened, when asked for
  std::string summary;             // the transfers' ends, for statistics
};

Outcome run_seed(std::uint64_t seed, bool trace);

}  // namespace baton::sim
