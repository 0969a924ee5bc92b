#include "baton/federation/structured_fields.hpp"

#include <optional>
#include <utility>

#include "base64.hpp"

namespace baton::federation::sf {
namespace {

constexpr std::int64_t kMaxInteger = 999'999'999'999'999;
constexpr int kMaxIntegerDigits = 15;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lcalpha(char c) { return c >= 'a' && c <= 'z'; }
bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || is_lcalpha(c); }

// RFC 9110 §5.6.2 tchar.
bool is_tchar(char c) {
  if (is_alpha(c) || is_digit(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_key_start(char c) { return is_lcalpha(c) || c == '*'; }
bool is_key_char(char c) {
  return is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' || c == '.' || c == '*';
}
bool is_token_start(char c) { return is_alpha(c) || c == '*'; }
bool is_token_char(char c) { return is_tchar(c) || c == ':' || c == '/'; }
bool is_base64_char(char c) {
  return is_alpha(c) || is_digit(c) || c == '+' || c == '/' || c == '=';
}

// One parse over one field value. Each parse_* returns false after recording the
// first error; callers stop at the first false.
class Parser {
 public:
  Parser(std::string_view input, const SfLimits& limits) : in_(input), limits_(limits) {}

  const core::Error& error() const { return *error_; }

  bool check_size() {
    if (in_.size() > limits_.max_field_bytes) {
      return too_large("field value is " + std::to_string(in_.size()) + " bytes; the limit is " +
                       std::to_string(limits_.max_field_bytes));
    }
    return true;
  }

  void skip_ows_both_ends() {
    while (!in_.empty() && (in_.front() == ' ' || in_.front() == '\t')) in_.remove_prefix(1);
    while (!in_.empty() && (in_.back() == ' ' || in_.back() == '\t')) in_.remove_suffix(1);
  }

  bool at_end() const { return pos_ >= in_.size(); }

  bool parse_dictionary(Dictionary& out) {
    while (!at_end()) {
      if (out.size() >= limits_.max_members) {
        return too_large("more than " + std::to_string(limits_.max_members) + " dictionary members");
      }
      DictMember member;
      if (!parse_key(member.key)) return false;
      if (peek() == '=') {
        ++pos_;
        if (peek() == '(') {
          InnerList list;
          if (!parse_inner_list(list)) return false;
          member.value = std::move(list);
        } else {
          Item item;
          if (!parse_item(item)) return false;
          member.value = std::move(item);
        }
      } else {
        Item item{true, {}};
        if (!parse_params(item.params)) return false;
        member.value = std::move(item);
      }
      for (const auto& m : out) {
        if (m.key == member.key) return bad("dictionary key '" + member.key + "' appears twice");
      }
      out.push_back(std::move(member));
      skip_ows();
      if (at_end()) return true;
      if (in_[pos_] != ',') return bad_here("expected ',' between dictionary members");
      ++pos_;
      skip_ows();
      if (at_end()) return bad("trailing ',' in dictionary");
    }
    return true;
  }

  bool parse_item(Item& out) {
    if (!parse_bare_item(out.value)) return false;
    return parse_params(out.params);
  }

 private:
  char peek() const { return at_end() ? '\0' : in_[pos_]; }

  void skip_ows() {
    while (!at_end() && (in_[pos_] == ' ' || in_[pos_] == '\t')) ++pos_;
  }
  void skip_sp() {
    while (!at_end() && in_[pos_] == ' ') ++pos_;
  }

  bool fail(core::Errc code, std::string message) {
    if (!error_) error_ = core::Error{code, std::move(message)};
    return false;
  }
  bool bad(std::string message) { return fail(core::Errc::bad_request, std::move(message)); }
  bool bad_here(const std::string& message) {
    return bad(message + " at offset " + std::to_string(pos_));
  }
  bool too_large(std::string message) { return fail(core::Errc::too_large, std::move(message)); }

  bool parse_inner_list(InnerList& out) {
    ++pos_;  // '('
    while (true) {
      skip_sp();
      if (at_end()) return bad("inner list is not closed with ')'");
      if (in_[pos_] == ')') {
        ++pos_;
        return parse_params(out.params);
      }
      if (out.items.size() >= limits_.max_inner_list_items) {
        return too_large("more than " + std::to_string(limits_.max_inner_list_items) +
                         " items in an inner list");
      }
      Item item;
      if (!parse_item(item)) return false;
      out.items.push_back(std::move(item));
      if (at_end()) return bad("inner list is not closed with ')'");
      if (in_[pos_] != ' ' && in_[pos_] != ')') {
        return bad_here("expected ' ' or ')' after an inner list item");
      }
    }
  }

  bool parse_params(Parameters& out) {
    while (peek() == ';') {
      ++pos_;
      skip_sp();
      if (out.size() >= limits_.max_params) {
        return too_large("more than " + std::to_string(limits_.max_params) + " parameters");
      }
      Parameter param{{}, true};
      if (!parse_key(param.key)) return false;
      if (peek() == '=') {
        ++pos_;
        if (!parse_bare_item(param.value)) return false;
      }
      for (const auto& p : out) {
        if (p.key == param.key) return bad("parameter '" + param.key + "' appears twice");
      }
      out.push_back(std::move(param));
    }
    return true;
  }

  bool parse_key(std::string& out) {
    if (at_end() || !is_key_start(in_[pos_])) {
      return bad_here("expected a key (lower-case letter or '*')");
    }
    std::size_t start = pos_;
    while (!at_end() && is_key_char(in_[pos_])) ++pos_;
    if (pos_ - start > limits_.max_key_bytes) {
      return too_large("a key is longer than " + std::to_string(limits_.max_key_bytes) + " bytes");
    }
    out.assign(in_.substr(start, pos_ - start));
    return true;
  }

  bool parse_bare_item(BareItem& out) {
    char c = peek();
    if (c == '-' || is_digit(c)) return parse_integer(out);
    if (c == '"') return parse_string(out);
    if (is_token_start(c)) return parse_token(out);
    if (c == ':') return parse_bytes(out);
    if (c == '?') return parse_boolean(out);
    if (at_end()) return bad("value missing at end of field");
    return bad_here("unexpected character in value");
  }

  bool parse_integer(BareItem& out) {
    bool negative = false;
    if (in_[pos_] == '-') {
      negative = true;
      ++pos_;
    }
    if (!is_digit(peek())) return bad_here("expected a digit");
    std::int64_t value = 0;
    int digits = 0;
    while (is_digit(peek())) {
      if (++digits > kMaxIntegerDigits) return bad("integer has more than 15 digits");
      value = value * 10 + (in_[pos_] - '0');
      ++pos_;
    }
    if (peek() == '.') return bad_here("decimal numbers are not supported");
    out = negative ? -value : value;
    return true;
  }

  bool parse_string(BareItem& out) {
    ++pos_;  // '"'
    std::string value;
    while (true) {
      if (at_end()) return bad("string is not closed with '\"'");
      char c = in_[pos_++];
      if (c == '"') break;
      if (c == '\\') {
        if (at_end()) return bad("string ends inside an escape");
        char next = in_[pos_++];
        if (next != '"' && next != '\\') return bad("string has an escape other than \\\" or \\\\");
        c = next;
      } else if (c < 0x20 || c > 0x7E) {
        return bad("string has a byte outside printable ASCII");
      }
      if (value.size() >= limits_.max_string_bytes) {
        return too_large("a string is longer than " + std::to_string(limits_.max_string_bytes) +
                         " bytes");
      }
      value += c;
    }
    out = std::move(value);
    return true;
  }

  bool parse_token(BareItem& out) {
    std::size_t start = pos_;
    while (!at_end() && is_token_char(in_[pos_])) ++pos_;
    if (pos_ - start > limits_.max_string_bytes) {
      return too_large("a token is longer than " + std::to_string(limits_.max_string_bytes) +
                       " bytes");
    }
    out = Token{std::string(in_.substr(start, pos_ - start))};
    return true;
  }

  bool parse_bytes(BareItem& out) {
    ++pos_;  // ':'
    std::size_t start = pos_;
    while (!at_end() && in_[pos_] != ':') {
      if (!is_base64_char(in_[pos_])) return bad_here("byte sequence has a non-base64 character");
      if (pos_ - start >= limits_.max_bytes_chars) {
        return too_large("a byte sequence is longer than " +
                         std::to_string(limits_.max_bytes_chars) + " characters");
      }
      ++pos_;
    }
    if (at_end()) return bad("byte sequence is not closed with ':'");
    std::string_view text = in_.substr(start, pos_ - start);
    ++pos_;  // ':'
    auto decoded = base64_decode(text, Base64Alphabet::standard, Base64Padding::optional,
                                 /*canonical=*/false);
    if (!decoded) return bad("byte sequence is not valid base64");
    out = Bytes{std::move(*decoded)};
    return true;
  }

  bool parse_boolean(BareItem& out) {
    ++pos_;  // '?'
    char c = peek();
    if (c != '0' && c != '1') return bad_here("expected ?0 or ?1");
    ++pos_;
    out = c == '1';
    return true;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  const SfLimits& limits_;
  std::optional<core::Error> error_;
};

core::Error bad_value(std::string message) {
  return core::Error{core::Errc::bad_request, std::move(message)};
}

bool valid_key(std::string_view key) {
  if (key.empty() || !is_key_start(key.front())) return false;
  for (char c : key) {
    if (!is_key_char(c)) return false;
  }
  return true;
}

}  // namespace

core::Result<Dictionary> parse_dictionary(std::string_view field, const SfLimits& limits) {
  Parser parser(field, limits);
  if (!parser.check_size()) return parser.error();
  parser.skip_ows_both_ends();
  Dictionary dict;
  if (!parser.parse_dictionary(dict)) return parser.error();
  return dict;
}

core::Result<Item> parse_item(std::string_view field, const SfLimits& limits) {
  Parser parser(field, limits);
  if (!parser.check_size()) return parser.error();
  parser.skip_ows_both_ends();
  Item item;
  if (!parser.parse_item(item)) return parser.error();
  if (!parser.at_end()) {
    return core::Error{core::Errc::bad_request, "unexpected characters after the item"};
  }
  return item;
}

core::Result<std::string> serialize_bare_item(const BareItem& value) {
  if (const auto* n = std::get_if<std::int64_t>(&value)) {
    if (*n > kMaxInteger || *n < -kMaxInteger) return bad_value("integer out of range");
    return std::to_string(*n);
  }
  if (const auto* s = std::get_if<std::string>(&value)) {
    std::string out = "\"";
    for (char c : *s) {
      if (c < 0x20 || c > 0x7E) return bad_value("string has a byte outside printable ASCII");
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
    return out;
  }
  if (const auto* t = std::get_if<Token>(&value)) {
    if (t->text.empty() || !is_token_start(t->text.front())) {
      return bad_value("token must start with a letter or '*'");
    }
    for (char c : t->text) {
      if (!is_token_char(c)) return bad_value("token has a character outside its grammar");
    }
    return t->text;
  }
  if (const auto* b = std::get_if<Bytes>(&value)) {
    return ":" + base64_encode(b->data) + ":";
  }
  return std::string(std::get<bool>(value) ? "?1" : "?0");
}

core::Result<std::string> serialize_params(const Parameters& params) {
  std::string out;
  for (const auto& p : params) {
    if (!valid_key(p.key)) return bad_value("parameter key '" + p.key + "' is not valid");
    out += ';';
    out += p.key;
    if (const auto* b = std::get_if<bool>(&p.value); b && *b) continue;
    auto value = serialize_bare_item(p.value);
    if (!value) return value.error();
    out += '=';
    out += *value;
  }
  return out;
}

core::Result<std::string> serialize_item(const Item& item) {
  auto value = serialize_bare_item(item.value);
  if (!value) return value.error();
  auto params = serialize_params(item.params);
  if (!params) return params.error();
  return *value + *params;
}

core::Result<std::string> serialize_inner_list(const InnerList& list) {
  std::string out = "(";
  for (std::size_t i = 0; i < list.items.size(); ++i) {
    if (i > 0) out += ' ';
    auto item = serialize_item(list.items[i]);
    if (!item) return item.error();
    out += *item;
  }
  out += ')';
  auto params = serialize_params(list.params);
  if (!params) return params.error();
  return out + *params;
}

core::Result<std::string> serialize_dictionary(const Dictionary& dict) {
  std::string out;
  for (std::size_t i = 0; i < dict.size(); ++i) {
    const auto& member = dict[i];
    if (!valid_key(member.key)) {
      return bad_value("dictionary key '" + member.key + "' is not valid");
    }
    if (i > 0) out += ", ";
    out += member.key;
    if (const auto* list = std::get_if<InnerList>(&member.value)) {
      auto text = serialize_inner_list(*list);
      if (!text) return text.error();
      out += '=';
      out += *text;
      continue;
    }
    const auto& item = std::get<Item>(member.value);
    if (const auto* b = std::get_if<bool>(&item.value); b && *b) {
      auto params = serialize_params(item.params);
      if (!params) return params.error();
      out += *params;
      continue;
    }
    auto text = serialize_item(item);
    if (!text) return text.error();
    out += '=';
    out += *text;
  }
  return out;
}

const Parameter* find_param(const Parameters& params, std::string_view key) {
  for (const auto& p : params) {
    if (p.key == key) return &p;
  }
  return nullptr;
}

const DictMember* find_member(const Dictionary& dict, std::string_view key) {
  for (const auto& m : dict) {
    if (m.key == key) return &m;
  }
  return nullptr;
}

}  // namespace baton::federation::sf
