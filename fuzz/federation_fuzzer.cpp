// The federation messages: a partner's signed request, as Acme Bank's server
// would send it (signed with its pinned key, so it passes verification), to
// /federation/v1/offers or /federation/v1/transfers/{id}/{action}, through
// ApiService::federation_request and the hub's handlers on a live organization
// (fuzz/harness.hpp). Signature and digest parsing have their own fuzzers.
//
// Input: a first line "offer" or "<action> <transfer id>", then the JSON body;
// several such messages may follow one another, separated by lines of "=====".
// Checks that every answer is a JSON object (the protocol's replies and errors).
#include <boost/json/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz/check.hpp"
#include "fuzz/harness.hpp"
#include "baton/http/message.hpp"
#include "baton/http/server.hpp"

namespace {

void one_message(baton::fuzz::Org& org, const std::string& in) {
  auto nl = in.find('\n');
  std::string first = in.substr(0, nl);
  std::string body = nl == std::string::npos ? std::string() : in.substr(nl + 1);
  std::string path;
  // Whether the path reaches the federation endpoints at all: the server decodes
  // the path before splitting it, so a '/' in an id or action makes another path.
  bool routed = true;
  auto space = first.find(' ');
  if (first == "offer") {
    path = "/federation/v1/offers";
  } else if (space != std::string::npos) {
    // The id as a client would put it in a URL.
    std::string action = first.substr(0, space), id = first.substr(space + 1);
    path = "/federation/v1/transfers/" + baton::http::percent_encode(id) + "/" + baton::http::percent_encode(action);
    auto plain = [](const std::string& s) { return !s.empty() && s.find('/') == std::string::npos; };
    routed = plain(action) && plain(id);
  } else {
    return;
  }
  auto res = org.signed_from_acme(path, body);
  if (std::getenv("FUZZ_VERBOSE")) std::fprintf(stderr, "%s -> %d %.300s\n", path.c_str(), res.status, res.body.c_str());
  FUZZ_CHECK(res.status >= 200 && res.status <= 599);
  boost::system::error_code ec;
  auto v = boost::json::parse(res.body, ec);
  FUZZ_CHECK(!ec && v.is_object());
  // Every answer of the federation endpoints is signed (docs/federation.md §4).
  bool signed_answer = false;
  for (const auto& [name, value] : res.headers) signed_answer = signed_answer || name == "Signature";
  FUZZ_CHECK(signed_answer || !routed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& org = baton::fuzz::Org::get();
  org.begin_input();
  std::string in = org.replace_placeholders(std::string_view(reinterpret_cast<const char*>(data), size));
  // Several messages in a row (an offer, then its context packet, ...), split at
  // lines of "=====".
  const std::string kSeparator = "\n=====\n";
  std::size_t pos = 0;
  for (int n = 0; n < 8; ++n) {
    auto end = in.find(kSeparator, pos);
    std::string message = in.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (message.size() <= baton::http::ServerOptions{}.max_body_bytes) one_message(org, message);
    if (end == std::string::npos) break;
    pos = end + kSeparator.size();
  }
  return 0;
}
