// The bodies of the server-to-server requests and answers (docs/federation.md §6),
// as types, with their parsing and serialization and every limit in one place.
//
// Parsing checks shape and size only: what a field must be and how long it may
// be. What depends on the receiver's state and configuration (is there such a
// transfer, may this peer use this queue, the hop limit) is the caller's. Errors
// are bad_request or too_large with a message for people. Strings in a parsed
// body are valid UTF-8 (the JSON parser refuses anything else); fields said to
// be cut are cut on a code point boundary. Unknown fields are ignored, and
// missing optional ones read as "" or 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "baton/core/clock.hpp"
#include "baton/core/conversation.hpp"
#include "baton/core/error.hpp"
#include "baton/core/transfer.hpp"

namespace baton::federation::wire {

inline constexpr std::size_t kMaxIdBytes = 64;            // transfer ids
inline constexpr std::size_t kMaxCodeBytes = 128;         // authorization and join codes, recall tickets
inline constexpr std::size_t kMaxTranscriptEntries = 500; // context transcript, late and recalled messages
inline constexpr std::size_t kMaxPacketBytes = 56 * 1024; // a context packet, under a peer's 64 KiB body limit
inline constexpr std::size_t kMaxOfferedQueues = 50;
inline constexpr std::size_t kMaxQueueNameBytes = 64;
inline constexpr std::size_t kMaxPersonNameBytes = 100;   // agents' names as sent between servers
inline constexpr std::size_t kMaxBrowserBytes = 300;
inline constexpr std::size_t kMaxEmbedOriginBytes = 200;

// Per receiver: its max_message_bytes and max_json_depth.
struct Limits {
  std::size_t max_message_bytes = 4000;
  int max_json_depth = 16;
};

// 1 to 64 of A-Z a-z 0-9 - _ (transfer ids, and the site of a recall's answer).
bool valid_id(std::string_view id);

struct Person {
  std::string name;
  std::string display_name;
  std::string organization;  // transferred_by only
};

// POST /federation/v1/offers (§6.2).
struct Offer {
  std::string transfer_id;
  std::string organization;
  Person agent;
  std::string language = "en";
  std::int64_t hop_count = 0;  // >= 0
  std::string origin;
};
core::Result<Offer> parse_offer(std::string_view body, const Limits& limits);
std::string serialize(const Offer& m);

struct OfferAnswer {
  std::string transfer_id;
  std::string authorization_code;  // 1 to 128 bytes
  core::Millis expires_at = 0;
  std::vector<core::OfferedQueue> queues;  // at most 50, names cut to 64 bytes
};
// What the origin accepts of a destination's 200: bad_request ("incomplete") without
// a usable code or a queues array.
core::Result<OfferAnswer> parse_offer_answer(std::string_view body);
std::string serialize(const OfferAnswer& m);

struct TranscriptEntry {
  core::AuthorKind author_kind = core::AuthorKind::system;
  std::string author_name;  // cut to 100 bytes
  std::string text;
  core::Millis at = 0;
  std::int64_t seq = 0;     // late and recalled messages: the sender's seq (0 when absent)
};

struct VisitorDetails {
  std::string name;      // cut to core::kMaxNameBytes
  std::string email;     // cut to core::kMaxEmailBytes
  std::string page;      // cut to core::kMaxPageBytes
  std::string browser;   // cut to 300 bytes
  std::string language = "en";
};

// POST /federation/v1/transfers/{id}/context (§6.3).
struct Context {
  std::string transfer_id;
  std::string authorization_code;  // compared by the receiver; past 128 bytes it cannot match
  std::string queue;
  std::string note;                // at most max_message_bytes
  std::string organization;
  Person transferred_by;
  std::int64_t hop_count = -1;     // -1 when not an integer: the receiver refuses it (hop_limit)
  std::string recall_ticket;       // at most 128 bytes
  std::string embed_origin;        // cut to 200 bytes
  VisitorDetails visitor;
  // At most 500 entries; entries with an empty or over-long text are dropped.
  std::vector<TranscriptEntry> transcript;
  std::string origin;
};
core::Result<Context> parse_context(std::string_view body, const Limits& limits);
std::string serialize(const Context& m);
// Drops the oldest transcript entries until the packet is at most kMaxPacketBytes.
void fit_to_packet(Context& m);

struct ContextAnswer {
  std::string transfer_id;
  std::string join_code;  // 1 to 128 bytes
  std::string join_url;
  core::Millis expires_at = 0;
};
core::Result<ContextAnswer> parse_context_answer(std::string_view body);
std::string serialize(const ContextAnswer& m);

// cancel (O -> D), arrived and expired (D -> O): who and which transfer.
struct Notice {
  std::string transfer_id;
  std::string destination;  // arrived, expired: the destination's public_url
  std::string origin;
};
core::Result<Notice> parse_notice(std::string_view body);
std::string serialize(const Notice& m);

// The answer to cancel and expired, and the state part of every other answer:
// the receiver's record's state.
struct StateAnswer {
  std::string transfer_id;
  std::string state;
};
core::Result<StateAnswer> parse_state_answer(std::string_view body);
std::string serialize(const StateAnswer& m);

// The answer to arrived: what the visitor wrote at the origin after the context left.
struct ArrivedAnswer {
  std::string transfer_id;
  std::string state;  // "completed"
  std::vector<TranscriptEntry> late_messages;  // at most 500, visitor messages
};
core::Result<ArrivedAnswer> parse_arrived_answer(std::string_view body, const Limits& limits);
std::string serialize(const ArrivedAnswer& m);

// POST /federation/v1/transfers/{id}/recall (§6.7).
struct Recall {
  std::string transfer_id;
  std::string destination;
  std::string recall_ticket;  // the receiver compares it; past 128 bytes it cannot match
  // What was said at the destination since the visitor arrived (at most 500).
  std::vector<TranscriptEntry> messages;
  std::string origin;
};
core::Result<Recall> parse_recall(std::string_view body, const Limits& limits);
std::string serialize(const Recall& m);

struct RecallAnswer {
  std::string transfer_id;
  std::string state;  // "recalled"
  std::string site;   // "" unless a valid id
};
core::Result<RecallAnswer> parse_recall_answer(std::string_view body);
std::string serialize(const RecallAnswer& m);

// {"error": {"code", "message"}}. `code` is an Errc name or one of the
// federation's own (unknown_peer, origin_mismatch, bad_authorization_code,
// bad_recall_ticket, hop_limit; docs/federation.md §12).
std::string serialize_error(std::string_view code, std::string_view message);
// The message of an error answer, or "" when it has none.
std::string error_message(std::string_view body);

}  // namespace baton::federation::wire
