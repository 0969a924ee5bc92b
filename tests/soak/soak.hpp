// The soak: thousands of visitor conversations with real `baton serve`
// processes, exchanging messages both ways at a steady rate for minutes, with
// transfers in between (agent to agent, agent to queue, and to a partner
// organization on a second server), every message counted end to end, and the
// servers' memory and file descriptors sampled to show they stay flat.
//
// Each of the C conversation slots runs a loop of conversation lifetimes, all on
// ONE io_context thread:
//
//   create (POST /api/visitor/conversations), WebSocket hello, wait for an agent
//   chat: `messages_per_phase` messages, one every `message_interval_s`, from the
//         visitor and the agent in turn
//   drain (every message acknowledged and received), then one transfer, in turn:
//         none, to a colleague, to another queue, to the partner (the visitor
//         follows the move as the chat page does: transfer page, join, handoff,
//         hello at the partner)
//   chat again with whoever has it now; drain; the visitor closes; next lifetime
//
// A message counts as delivered when the side it was meant for (the agent that
// owned the conversation when it was sent, or the visitor) receives its event;
// it is lost if it is never acknowledged or never delivered, duplicated if its
// receiver gets it twice.
#pragma once

#include <boost/json/object.hpp>
#include <string>

namespace baton::soak {

struct Options {
  std::string baton;           // the server binary
  std::string workdir = "build/soak";
  std::string out;             // results JSON; empty: workdir/results.json
  int conversations = 500;     // concurrent conversation slots
  double seconds = 75;         // how long slots start new lifetimes
  double message_interval_s = 2;
  int messages_per_phase = 4;  // before and after the transfer
  bool federation = true;      // a partner server and transfers to it
  int capacity = 50;           // per agent
  int agents_per_queue = 4;
  double spare = 1.5;          // agent capacity over the conversations
  double ramp_s = -1;          // conversations start spread over this; < 0: one lifetime
  double sample_interval_s = 2;
  int sources = 4;             // client addresses 127.0.0.1..N
  int server_threads = 0;
  // Flatness after the warm-up (the first third): the largest sample of the last
  // third may exceed the largest of the second third by at most these.
  double rss_slack_mib = 5;
  double rss_slack_percent = 5;
  bool check_rss = true;       // off under sanitizers (their quarantine grows)
  // Descriptors flat: beyond the connections the soak holds open to the server
  // when sampled, the last third's peak over the second third's; plus one per
  // 200 conversations.
  int fd_slack = 16;
  int end_fd_slack = 8;        // after every visitor left, vs. before any came
  double settle_s = 120;       // to finish lifetimes and deliveries at the end
};

// Runs the soak. The object has the figures and "passed"; throws only when the
// servers cannot be set up.
boost::json::object run(const Options& o);

}  // namespace baton::soak
