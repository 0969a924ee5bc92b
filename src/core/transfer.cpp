#include "baton/core/transfer.hpp"

#include <algorithm>
#include <utility>

namespace baton::core {

namespace {

template <typename E>
struct Named {
  E value;
  std::string_view name;
};

constexpr Named<TransferKind> kKinds[] = {{TransferKind::agent, "agent"},
                                          {TransferKind::queue, "queue"},
                                          {TransferKind::consult, "consult"},
                                          {TransferKind::peer, "peer"}};
constexpr Named<TransferState> kStates[] = {
    {TransferState::offered, "offered"},     {TransferState::consulting, "consulting"},
    {TransferState::joined, "joined"},       {TransferState::offering, "offering"},
    {TransferState::moving, "moving"},       {TransferState::accepted, "accepted"},
    {TransferState::completed, "completed"}, {TransferState::declined, "declined"},
    {TransferState::expired, "expired"},     {TransferState::cancelled, "cancelled"},
    {TransferState::failed, "failed"},       {TransferState::recalled, "recalled"},
};
constexpr Named<Direction> kDirections[] = {
    {Direction::local, "local"}, {Direction::out, "out"}, {Direction::in, "in"}};
constexpr Named<PeerStep> kSteps[] = {
    {PeerStep::none, ""},
    {PeerStep::offer_sent, "offer_sent"},
    {PeerStep::offer_answered, "offer_answered"},
    {PeerStep::context_sent, "context_sent"},
    {PeerStep::stayed, "stayed"},
    {PeerStep::overdue, "overdue"},
    {PeerStep::unserved, "unserved"},
    {PeerStep::recalling, "recalling"},
};
constexpr Named<PeerAction> kActions[] = {
    {PeerAction::offer, "offer"},     {PeerAction::context, "context"}, {PeerAction::cancel, "cancel"},
    {PeerAction::arrived, "arrived"}, {PeerAction::expired, "expired"}, {PeerAction::recall, "recall"},
};

template <typename E, std::size_t N>
std::string_view name_of(const Named<E> (&table)[N], E value) {
  for (const auto& e : table)
    if (e.value == value) return e.name;
  return table[0].name;
}

template <typename E, std::size_t N>
std::optional<E> parse(const Named<E> (&table)[N], std::string_view s) {
  for (const auto& e : table)
    if (e.name == s) return e.value;
  return std::nullopt;
}

Error refuse(const Transfer& t, std::string_view what) {
  std::string at(transfer_state_name(t.state));
  if (t.step != PeerStep::none) at += "/" + std::string(peer_step_name(t.step));
  return Error{Errc::conflict, "transfer is " + at + ", cannot " + std::string(what)};
}

bool any_of(TransferState s, std::initializer_list<TransferState> set) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

// The moves each machine allows from an open (or, for peers, completed) state.
bool allowed(const Transfer& t, TransferState to) {
  using S = TransferState;
  switch (t.kind) {
    case TransferKind::agent:
      return t.state == S::offered && any_of(to, {S::accepted, S::declined, S::expired, S::cancelled, S::failed});
    case TransferKind::queue:
      return false;  // final when recorded
    case TransferKind::consult:
      if (t.state == S::consulting)
        return any_of(to, {S::joined, S::completed, S::cancelled, S::declined, S::expired, S::failed});
      return t.state == S::joined && any_of(to, {S::completed, S::cancelled, S::expired, S::failed});
    case TransferKind::peer:
      break;
  }
  if (t.direction == Direction::out) {
    switch (t.state) {
      case S::offering:
        // The visitor was never given a join code: the origin may end it by itself.
        return any_of(to, {S::failed, S::cancelled, S::expired});
      case S::moving:
        // The visitor may be at the destination: only the destination's word ends it
        // (arrived, expired), or, once reclaiming, its answer to the call-off.
        if (reclaiming(t.step)) return any_of(to, {S::completed, S::cancelled, S::expired});
        return any_of(to, {S::completed, S::expired});
      case S::completed:
        return to == S::recalled;
      default:
        return false;
    }
  }
  switch (t.state) {
    case S::offering:
      return any_of(to, {S::cancelled, S::expired});
    case S::moving:
      return any_of(to, {S::cancelled, S::expired});  // completed only through redeemed()
    case S::completed:
      // Sent back on the origin's word; or the origin kept the visitor (cancelled).
      return (to == S::recalled && t.step == PeerStep::recalling) || to == S::cancelled;
    default:
      return false;
  }
}

}  // namespace

std::string_view transfer_kind_name(TransferKind k) { return name_of(kKinds, k); }
std::optional<TransferKind> parse_transfer_kind(std::string_view s) { return parse(kKinds, s); }
std::string_view transfer_state_name(TransferState s) { return name_of(kStates, s); }
std::optional<TransferState> parse_transfer_state(std::string_view s) { return parse(kStates, s); }
std::string_view direction_name(Direction d) { return name_of(kDirections, d); }
std::optional<Direction> parse_direction(std::string_view s) { return parse(kDirections, s); }
std::string_view peer_step_name(PeerStep s) { return name_of(kSteps, s); }
std::optional<PeerStep> parse_peer_step(std::string_view s) { return parse(kSteps, s); }
std::string_view peer_action_name(PeerAction a) { return name_of(kActions, a); }
std::optional<PeerAction> parse_peer_action(std::string_view s) { return parse(kActions, s); }

bool reclaiming(PeerStep s) { return s == PeerStep::stayed || s == PeerStep::overdue; }

bool is_open(TransferState s) {
  return s == TransferState::offered || s == TransferState::consulting || s == TransferState::joined ||
         s == TransferState::offering || s == TransferState::moving;
}

Status advance(Transfer& t, TransferState to, Millis now, std::string reason) {
  if (!allowed(t, to)) return refuse(t, "become " + std::string(transfer_state_name(to)));
  t.state = to;
  t.updated_at = now;
  if (!reason.empty()) t.reason = std::move(reason);
  if (!is_open(to)) {
    t.deadline = 0;
    t.step = PeerStep::none;
    // Secrets a final record has no more use for.
    t.authorization_code.clear();
    t.join_code.clear();
    t.join_hash.clear();
    t.queues.clear();
    // A recalled record keeps its ticket: what was said here after the recall left
    // goes after it, presenting the ticket again.
    if (to != TransferState::completed && to != TransferState::recalled) t.recall_ticket.clear();
  }
  return ok_status();
}

// ---- origin --------------------------------------------------------------------

Transfer start_peer_offer(std::string id, std::string conversation_id, std::string from_agent, std::string peer,
                          std::string organization, std::int64_t hop_count, Millis now, Millis ttl) {
  Transfer t;
  t.id = std::move(id);
  t.conversation_id = std::move(conversation_id);
  t.kind = TransferKind::peer;
  t.state = TransferState::offering;
  t.direction = Direction::out;
  t.step = PeerStep::offer_sent;
  t.from_agent = std::move(from_agent);
  t.to_peer = std::move(peer);
  t.organization = std::move(organization);
  t.hop_count = hop_count;
  t.created_at = t.updated_at = now;
  t.deadline = now + ttl;
  return t;
}

namespace {
bool is_out(const Transfer& t, TransferState s, PeerStep step) {
  return t.kind == TransferKind::peer && t.direction == Direction::out && t.state == s && t.step == step;
}
bool is_in(const Transfer& t, TransferState s) {
  return t.kind == TransferKind::peer && t.direction == Direction::in && t.state == s;
}
}  // namespace

Status offer_answered(Transfer& t, std::string authorization_code, std::vector<OfferedQueue> queues, Millis now) {
  if (!is_out(t, TransferState::offering, PeerStep::offer_sent)) return refuse(t, "take the offer's answer");
  t.step = PeerStep::offer_answered;
  t.authorization_code = std::move(authorization_code);
  t.queues = std::move(queues);
  t.updated_at = now;
  return ok_status();
}

Status context_sent(Transfer& t, std::string queue, std::string note, std::string recall_hash,
                    std::int64_t context_seq, Millis now) {
  if (!is_out(t, TransferState::offering, PeerStep::offer_answered)) return refuse(t, "send the context");
  bool offered = std::any_of(t.queues.begin(), t.queues.end(), [&](const OfferedQueue& q) { return q.name == queue; });
  if (!offered) return Error{Errc::bad_request, "the partner does not accept transfers into " + queue};
  t.step = PeerStep::context_sent;
  t.to_queue = std::move(queue);
  t.note = std::move(note);
  t.recall_hash = std::move(recall_hash);
  t.context_seq = context_seq;
  t.updated_at = now;
  return ok_status();
}

Status context_answered(Transfer& t, std::string join_code, Millis join_expires_at, Millis grace, Millis now) {
  if (!is_out(t, TransferState::offering, PeerStep::context_sent)) return refuse(t, "take the context's answer");
  t.state = TransferState::moving;
  t.step = PeerStep::none;
  t.join_code = std::move(join_code);
  t.join_expires_at = join_expires_at;
  t.authorization_code.clear();
  t.deadline = join_expires_at + grace;
  t.updated_at = now;
  return ok_status();
}

Status reclaim(Transfer& t, bool overdue, std::string reason, Millis give_up_at, Millis now) {
  if (!is_out(t, TransferState::moving, PeerStep::none)) return refuse(t, "be called off");
  t.step = overdue ? PeerStep::overdue : PeerStep::stayed;
  t.reason = std::move(reason);
  t.join_code.clear();  // the transfer page is over
  t.deadline = give_up_at;
  t.updated_at = now;
  return ok_status();
}

// ---- destination ---------------------------------------------------------------

Transfer receive_peer_offer(std::string id, std::string peer, std::string organization, std::string remote_id,
                            std::string from_agent, std::int64_t hop_count, std::string offer_digest,
                            std::string auth_nonce, std::string auth_hash, Millis now, Millis ttl) {
  Transfer t;
  t.id = std::move(id);
  t.kind = TransferKind::peer;
  t.state = TransferState::offering;
  t.direction = Direction::in;
  t.to_peer = std::move(peer);
  t.organization = std::move(organization);
  t.remote_id = std::move(remote_id);
  t.from_agent = std::move(from_agent);
  t.hop_count = hop_count;
  t.offer_digest = std::move(offer_digest);
  t.auth_nonce = std::move(auth_nonce);
  t.auth_hash = std::move(auth_hash);
  t.created_at = t.updated_at = now;
  t.deadline = now + ttl;
  return t;
}

Status context_received(Transfer& t, ContextAccepted c, Millis now) {
  if (!is_in(t, TransferState::offering)) return refuse(t, "take a context packet");
  t.state = TransferState::moving;
  t.conversation_id = std::move(c.holding_conversation);
  t.to_queue = std::move(c.queue);
  t.note = std::move(c.note);
  t.from_agent = c.transferred_by;
  t.hop_count = c.hop_count;
  t.recall_ticket = std::move(c.recall_ticket);
  t.context_digest = std::move(c.context_digest);
  t.join_nonce = std::move(c.join_nonce);
  t.join_hash = std::move(c.join_hash);
  t.deadline = c.deadline;
  t.updated_at = now;
  return ok_status();
}

Status redeemed(Transfer& t, std::int64_t arrival_seq, Millis unserved_at, Millis now) {
  if (!is_in(t, TransferState::moving)) return refuse(t, "be redeemed");
  t.state = TransferState::completed;
  t.join_hash.clear();
  t.context_seq = arrival_seq;
  t.step = unserved_at > 0 ? PeerStep::unserved : PeerStep::none;
  t.deadline = unserved_at;
  t.updated_at = now;
  return ok_status();
}

Status recall_requested(Transfer& t, Millis now) {
  if (!is_in(t, TransferState::completed) || (t.step != PeerStep::none && t.step != PeerStep::unserved))
    return refuse(t, "send the visitor back");
  t.step = PeerStep::recalling;
  t.deadline = 0;
  t.updated_at = now;
  return ok_status();
}

Status recall_refused(Transfer& t, Millis now) {
  if (!is_in(t, TransferState::completed) || t.step != PeerStep::recalling) return refuse(t, "take a refused recall");
  t.step = PeerStep::none;
  t.updated_at = now;
  return ok_status();
}

Status served(Transfer& t, Millis now) {
  if (!is_in(t, TransferState::completed) || (t.step != PeerStep::unserved && t.step != PeerStep::none))
    return refuse(t, "be served");
  t.step = PeerStep::none;
  t.deadline = 0;
  t.updated_at = now;
  return ok_status();
}

}  // namespace baton::core
