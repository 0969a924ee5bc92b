// Transfers: a conversation handed from one agent to another agent, to a queue,
// through a consultation, or to another organization (DESIGN.md §2.2-2.4).
// A transfer is a durable record with a state; the conversation it moves keeps
// exactly one owner throughout.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/error.hpp"

namespace baton::core {

enum class TransferKind {
  agent,    // offered to one agent, who accepts or declines
  queue,    // back to waiting in a queue, with its context
  consult,  // the sender talks privately with an agent, brings them in, then leaves
  peer,     // to another organization's server
};

enum class TransferState {
  // open states: each has a deadline and a way back
  offered,     // agent: waiting for the target's answer
  consulting,  // consult: the two agents talk privately
  joined,      // consult: three-way, the visitor sees both agents
  offering,    // peer: offer sent, waiting for the destination
  moving,      // peer: holding conversation ready, the visitor's browser is being moved
  // final states
  accepted,    // agent/queue: the target owns it now
  completed,   // consult: the consultant owns it; peer: the visitor arrived
  declined,
  expired,     // nobody answered in time, or the join code ran out
  cancelled,   // called off by the sender (or the visitor's way back)
  failed,      // the destination refused or could not be reached
  recalled,    // peer: the destination sent the visitor back
};

std::string_view transfer_kind_name(TransferKind k);
std::optional<TransferKind> parse_transfer_kind(std::string_view s);
std::string_view transfer_state_name(TransferState s);
std::optional<TransferState> parse_transfer_state(std::string_view s);
bool is_open(TransferState s);

struct Transfer {
  std::string id;
  std::string conversation_id;
  TransferKind kind = TransferKind::agent;
  TransferState state = TransferState::offered;
  std::string from_agent;
  std::string to_agent;  // agent and consult
  std::string to_queue;  // queue, and the destination queue of a peer transfer
  std::string to_peer;   // peer
  std::string note;      // the sender's note, shown to the receiver
  std::string reason;    // why it ended as it did, for people
  Millis created_at = 0;
  Millis updated_at = 0;
  Millis deadline = 0;   // when an open transfer times out; 0 when final
  // Kind-specific data as a JSON object (federation codes' hashes, remote ids, ...).
  std::string detail = "{}";
};

// Moves `t` to `to` if allowed, stamping updated_at (and clearing the deadline
// when final). conflict otherwise, leaving `t` unchanged.
Status advance(Transfer& t, TransferState to, Millis now, std::string reason = {});

}  // namespace baton::core
