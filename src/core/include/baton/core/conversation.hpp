// Conversations, their events and their state machine. Pure data and rules:
// no I/O, no threads. Callers (api::Hub) serialise access.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "baton/core/clock.hpp"
#include "baton/core/error.hpp"

namespace baton::core {

// waiting -> active -> closed is the everyday path. The transfer states are
// entered by the transfer flows (DESIGN.md §2.2-2.4).
enum class ConversationState {
  waiting,       // in a queue, no agent yet
  active,        // an agent owns it
  transferring,  // offered to another agent, queue or organization; the sender still owns it
  closed,        // ended by the visitor or an agent
  transferred,   // handed to another organization, which confirmed arrival
  abandoned,     // the visitor left before being served
};

std::string_view state_name(ConversationState s);
std::optional<ConversationState> parse_state(std::string_view s);
bool is_terminal(ConversationState s);

// Whether the state machine allows `from` -> `to`. Returns conflict otherwise.
Status check_transition(ConversationState from, ConversationState to);

enum class EventKind {
  message,  // visible text from visitor or agent
  note,     // internal note, agents only
  joined,   // an agent was connected
  left,     // an agent left (went offline, transferred away)
  closed,   // the conversation ended; text holds the reason
  system,   // anything else the visitor should read (e.g. "offline message")
};

std::string_view kind_name(EventKind k);
std::optional<EventKind> parse_kind(std::string_view s);

enum class AuthorKind { visitor, agent, system };
std::string_view author_kind_name(AuthorKind k);
std::optional<AuthorKind> parse_author_kind(std::string_view s);

// One entry in a conversation's log. `seq` is unique and increasing within the
// conversation; gaps are allowed (a failed write burns its number).
struct Event {
  std::string conversation_id;
  std::int64_t seq = 0;
  EventKind kind = EventKind::message;
  AuthorKind author_kind = AuthorKind::system;
  std::string author_id;    // agent name; empty for visitors and the system
  std::string author_name;  // display name at the time of writing
  std::string client_id;    // the sender's own id for de-duplication; may be empty
  std::string text;
  Millis at = 0;
};

// Notes stay among agents.
inline bool visible_to_visitor(const Event& e) { return e.kind != EventKind::note; }

struct VisitorInfo {
  std::string name;
  std::string email;
  std::string page;        // URL of the page they came from
  std::string user_agent;  // browser
  std::string origin;      // the embedding website's origin, if any
};

struct Conversation {
  std::string id;
  std::string site;
  std::string queue;
  ConversationState state = ConversationState::waiting;
  std::string agent;  // the owning agent's name while active/transferring
  VisitorInfo visitor;
  std::string visitor_token_hash;  // hex of a hash; the token itself is never stored
  Millis created_at = 0;
  Millis waiting_since = 0;  // when it last entered a queue
  Millis updated_at = 0;
  Millis closed_at = 0;
  std::string close_reason;
  std::int64_t last_seq = 0;
  bool offline = false;       // left as an offline message
  std::string last_message;   // preview for lists (visible messages only)
  // A consult (warm transfer): the agent consulted, and whether the visitor sees them yet.
  std::string consultant;
  bool consultant_joined = false;
};

// Moves `c` to `to` if allowed and stamps the time. On error `c` is unchanged.
Status transition(Conversation& c, ConversationState to, Millis now);

// Text limits shared by every entry point.
inline constexpr std::size_t kMaxMessageBytes = 4000;
inline constexpr std::size_t kMaxNameBytes = 200;
inline constexpr std::size_t kMaxEmailBytes = 254;
inline constexpr std::size_t kMaxPageBytes = 2000;
inline constexpr std::size_t kMaxClientIdBytes = 64;
inline constexpr std::size_t kPreviewBytes = 140;

// Checks text typed by a person: valid UTF-8, not empty after trimming, within
// `max_bytes`. `what` names the field in the error message.
Status check_text(std::string_view text, std::size_t max_bytes, std::string_view what,
                  bool allow_empty = false);

}  // namespace baton::core
