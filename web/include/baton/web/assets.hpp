// Web assets built into the binary (web/static, embedded at build time).
#pragma once

#include <string_view>

namespace baton::web {

struct Asset {
  std::string_view name;  // file name, e.g. "chat.js"
  std::string_view content_type;
  std::string_view body;
};

// The embedded asset with that file name, or nullptr.
const Asset* find_embedded_asset(std::string_view name);

}  // namespace baton::web
