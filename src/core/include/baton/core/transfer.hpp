// Transfers: a conversation handed from one agent to another agent, to a queue,
// through a consultation, or to another organization (DESIGN.md §2.2-2.4).
//
// A transfer is a durable record with a state. Its fields are typed here and
// mapped to columns by the store; nothing in it is JSON. It changes only through
// the transitions below, each of which checks that the record may make that move
// and returns a verdict the caller must use: on error the record is unchanged.
//
// A transfer to another organization has two records, one on each server: the
// origin's (direction `out`, id = the transfer id it chose) and the destination's
// (direction `in`, id = inbound_id of the origin's name and id). docs/federation.md
// §8 draws both machines; `step` says where a record is inside its public state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "baton/core/clock.hpp"
#include "baton/core/error.hpp"

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
  offering,    // peer: offer sent, waiting for the destination or for the agent to pick a queue
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

// Which record of a transfer between organizations this is.
enum class Direction {
  local,  // agent, queue and consult transfers
  out,    // the origin's record
  in,     // the destination's record
};

// Where a peer record is inside its public state (docs/federation.md §8).
enum class PeerStep {
  none,
  // Origin, state offering:
  offer_sent,      // the offer is in the outbox; no answer yet
  offer_answered,  // the destination's code and queues are here; the agent picks a queue
  context_sent,    // the context packet is in the outbox
  // Origin, state moving: the destination was asked to call it off, and the origin
  // takes the visitor back only on its word (the visitor may be there already).
  stayed,          // the visitor chose to stay
  overdue,         // the arrival did not come in time
  // Destination, state completed:
  unserved,        // arrived while nobody could serve it; sent back if still so at the deadline
  recalling,       // asked the origin to take the visitor back; waiting for its answer
};

// What one server asks another about a transfer (docs/federation.md §6).
enum class PeerAction { offer, context, cancel, arrived, expired, recall };

std::string_view transfer_kind_name(TransferKind k);
std::optional<TransferKind> parse_transfer_kind(std::string_view s);
std::string_view transfer_state_name(TransferState s);
std::optional<TransferState> parse_transfer_state(std::string_view s);
std::string_view direction_name(Direction d);
std::optional<Direction> parse_direction(std::string_view s);
std::string_view peer_step_name(PeerStep s);
std::optional<PeerStep> parse_peer_step(std::string_view s);
std::string_view peer_action_name(PeerAction a);
std::optional<PeerAction> parse_peer_action(std::string_view s);
bool is_open(TransferState s);
// stayed or overdue: the origin asked the destination to call a moving transfer off.
bool reclaiming(PeerStep s);

// A queue the destination offered, with its wait figures at the time.
struct OfferedQueue {
  std::string name;
  std::string display_name;
  std::int64_t waiting = 0;
  std::int64_t longest_wait_ms = 0;
  std::int64_t agents_online = 0;
  bool operator==(const OfferedQueue&) const = default;
};

struct Transfer {
  std::string id;
  std::string conversation_id;  // at the destination: the holding conversation, "" until the context
  TransferKind kind = TransferKind::agent;
  TransferState state = TransferState::offered;
  std::string from_agent;  // at the destination of a peer transfer: the sender's display name there
  std::string to_agent;    // agent and consult
  std::string to_queue;    // queue, and the destination queue of a peer transfer
  std::string to_peer;     // peer: our configured name for the other organization
  std::string note;        // the sender's note, shown to the receiver
  std::string reason;      // why it ended as it did, for people
  Millis created_at = 0;
  Millis updated_at = 0;
  Millis deadline = 0;     // when the record's timer fires; 0 when nothing waits

  // ---- peer transfers (kind peer) ----
  Direction direction = Direction::local;
  PeerStep step = PeerStep::none;
  std::string organization;   // the other organization's display name when it started
  // Origin: federated hops this visitor made before this transfer.
  // Destination: hops including this transfer (what a further offer starts from).
  std::int64_t hop_count = 0;
  // Origin only.
  std::string authorization_code;     // the destination's, kept until the context is answered
  std::vector<OfferedQueue> queues;   // what the destination offered
  std::string recall_hash;            // hash of the recall ticket given to the destination
  std::string join_code;              // while moving: what the transfer page hands the browser
  Millis join_expires_at = 0;         // the destination's expiry of that code
  // Origin: the last event of the conversation in the context packet; what the
  // visitor wrote after it goes with the answer to *arrived*.
  // Destination: the last event of the holding conversation when the visitor
  // arrived; what was written after it goes with a recall.
  std::int64_t context_seq = 0;
  // Destination only.
  std::string remote_id;       // the origin's transfer id
  std::string offer_digest;    // of the offer's body: a resend is the same bytes
  std::string context_digest;  // of the context packet's body
  std::string auth_nonce;      // fresh randomness of this record's authorization code
  std::string auth_hash;       // the code's hash; the code itself is never stored
  std::string join_nonce;      // fresh randomness of its join code
  std::string join_hash;       // "" once redeemed
  std::string recall_ticket;   // given by the origin; presented to send the visitor back
  // Where the visitor's page goes once this server let it go (recalled, or kept by
  // the origin): the origin's chat page, from our configuration.
  std::string return_url;
};

// Moves `t` to `to` if the kind's machine allows it (docs/federation.md §8 for
// peer transfers), stamping updated_at, clearing the deadline and the step when
// `to` is final, and dropping the codes a final record no longer needs. conflict
// otherwise, leaving `t` unchanged.
[[nodiscard]] Status advance(Transfer& t, TransferState to, Millis now, std::string reason = {});

// ---- The origin's record (direction out) ---------------------------------------
// Each REQUIRES the state and step named; otherwise conflict and `t` is unchanged.

// A new record: offering / offer_sent, its deadline `now + ttl`.
Transfer start_peer_offer(std::string id, std::string conversation_id, std::string from_agent,
                          std::string peer, std::string organization, std::int64_t hop_count,
                          Millis now, Millis ttl);
// offering/offer_sent -> offering/offer_answered.
[[nodiscard]] Status offer_answered(Transfer& t, std::string authorization_code,
                                    std::vector<OfferedQueue> queues, Millis now);
// offering/offer_answered -> offering/context_sent; `queue` must be among the offered.
[[nodiscard]] Status context_sent(Transfer& t, std::string queue, std::string note,
                                  std::string recall_hash, std::int64_t context_seq, Millis now);
// offering/context_sent -> moving; deadline `join_expires_at + grace`.
[[nodiscard]] Status context_answered(Transfer& t, std::string join_code, Millis join_expires_at,
                                      Millis grace, Millis now);
// moving -> moving/stayed (or overdue); deadline `give_up_at`. The visitor may be
// at the destination already, so the origin may not take it back until it hears.
[[nodiscard]] Status reclaim(Transfer& t, bool overdue, std::string reason, Millis give_up_at, Millis now);

// ---- The destination's record (direction in) ---------------------------------

// A new record: offering, deadline `now + ttl`.
Transfer receive_peer_offer(std::string id, std::string peer, std::string organization,
                            std::string remote_id, std::string from_agent, std::int64_t hop_count,
                            std::string offer_digest, std::string auth_nonce, std::string auth_hash,
                            Millis now, Millis ttl);
// offering -> moving: the holding conversation waits for the visitor until `deadline`.
struct ContextAccepted {
  std::string holding_conversation;
  std::string queue;
  std::string note;
  std::string transferred_by;
  std::int64_t hop_count = 0;
  std::string recall_ticket;
  std::string context_digest;
  std::string join_nonce;
  std::string join_hash;
  Millis deadline = 0;
};
[[nodiscard]] Status context_received(Transfer& t, ContextAccepted c, Millis now);
// moving -> completed: the join code is spent. `unserved_at` > 0 arms the
// send-back timer (step unserved).
[[nodiscard]] Status redeemed(Transfer& t, std::int64_t arrival_seq, Millis unserved_at, Millis now);
// completed (step none or unserved) -> completed/recalling.
[[nodiscard]] Status recall_requested(Transfer& t, Millis now);
// completed/recalling -> completed: the origin refused to take the visitor back.
[[nodiscard]] Status recall_refused(Transfer& t, Millis now);
// completed/unserved -> completed: somebody serves the visitor now (or it ended).
[[nodiscard]] Status served(Transfer& t, Millis now);

}  // namespace baton::core
