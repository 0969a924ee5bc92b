#include "baton/core/error.hpp"

namespace baton::core {

std::string_view errc_name(Errc code) {
  switch (code) {
    case Errc::bad_request: return "bad_request";
    case Errc::too_large: return "too_large";
    case Errc::unauthorized: return "unauthorized";
    case Errc::forbidden: return "forbidden";
    case Errc::not_found: return "not_found";
    case Errc::conflict: return "conflict";
    case Errc::rate_limited: return "rate_limited";
    case Errc::unavailable: return "unavailable";
    case Errc::internal: return "internal";
  }
  return "internal";
}

}  // namespace baton::core
