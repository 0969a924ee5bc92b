// Structured Field Values for HTTP (RFC 8941), cut down to what HTTP Message
// Signatures (RFC 9421) and Content-Digest (RFC 9530) carry: Dictionaries whose
// members are Items or Inner Lists, Items with parameters, and bare items that
// are Integers, Strings, Tokens, Byte Sequences or Booleans. Decimals and
// top-level Lists are refused as unsupported.
//
// The parser is strict and bounded: every input, whatever its bytes, gives either
// a value or an Error (bad_request, or too_large past a limit); it never throws,
// asserts or reads out of bounds. Two deliberate departures from RFC 8941, both
// toward refusing: a repeated dictionary or parameter key is an error (the RFC
// keeps the last), and so is anything past a limit in `SfLimits`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "baton/core/error.hpp"

namespace baton::federation::sf {

struct Token {
  std::string text;
  friend bool operator==(const Token&, const Token&) = default;
};

// Raw bytes of a Byte Sequence (already base64-decoded).
struct Bytes {
  std::string data;
  friend bool operator==(const Bytes&, const Bytes&) = default;
};

// Integer (|n| <= 999,999,999,999,999), String (printable ASCII), Token, Bytes, Boolean.
using BareItem = std::variant<std::int64_t, std::string, Token, Bytes, bool>;

struct Parameter {
  std::string key;
  BareItem value;
  friend bool operator==(const Parameter&, const Parameter&) = default;
};
// In order of appearance; keys are unique.
using Parameters = std::vector<Parameter>;

struct Item {
  BareItem value;
  Parameters params;
  friend bool operator==(const Item&, const Item&) = default;
};

struct InnerList {
  std::vector<Item> items;
  Parameters params;
  friend bool operator==(const InnerList&, const InnerList&) = default;
};

struct DictMember {
  std::string key;
  std::variant<Item, InnerList> value;
  friend bool operator==(const DictMember&, const DictMember&) = default;
};
// In order of appearance; keys are unique.
using Dictionary = std::vector<DictMember>;

// Bounds on what the parser accepts. The defaults fit RFC 9421 signatures with
// room to spare; each one exceeded is a too_large error naming the limit.
struct SfLimits {
  std::size_t max_field_bytes = 8 * 1024;  // the whole field value
  std::size_t max_members = 8;             // dictionary members
  std::size_t max_inner_list_items = 32;   // items in one inner list
  std::size_t max_params = 16;             // parameters on one item or inner list
  std::size_t max_key_bytes = 64;          // dictionary and parameter keys
  std::size_t max_string_bytes = 1024;     // a String or Token, as written
  std::size_t max_bytes_chars = 1024;      // a Byte Sequence's base64 text
};

// Parses a Dictionary field value (several field lines joined with ", " first).
// Leading and trailing SP/HTAB are ignored. An empty value is an empty Dictionary.
core::Result<Dictionary> parse_dictionary(std::string_view field, const SfLimits& limits = {});

// Parses a single Item (bare item and parameters), e.g. a component identifier.
core::Result<Item> parse_item(std::string_view field, const SfLimits& limits = {});

// Serializers (RFC 8941 §4.1). They fail with bad_request when a value cannot be
// written (a key or token with a character outside its grammar, a String with a
// byte outside %x20-7E, an Integer out of range, an empty dictionary key, ...);
// whatever parse_* returned always serializes.
core::Result<std::string> serialize_bare_item(const BareItem& value);
core::Result<std::string> serialize_params(const Parameters& params);
core::Result<std::string> serialize_item(const Item& item);
core::Result<std::string> serialize_inner_list(const InnerList& list);
core::Result<std::string> serialize_dictionary(const Dictionary& dict);

// Lookups; nullptr when absent.
const Parameter* find_param(const Parameters& params, std::string_view key);
const DictMember* find_member(const Dictionary& dict, std::string_view key);

}  // namespace baton::federation::sf
