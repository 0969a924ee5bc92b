// Our signatures against an independent implementation: npm's
// http-message-signatures, driven by verify_with_npm.mjs beside this file.
// Time is the real clock here: the library checks expiry against Date.now().
#include <gtest/gtest.h>
#include <boost/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "base64.hpp"
#include "baton/federation/keys.hpp"
#include "refusal.hpp"
#include "baton/federation/signature.hpp"
#include "test_support.hpp"

namespace baton::federation {
namespace {

namespace fs = std::filesystem;

// From CMake, not __FILE__: with ccache's CCACHE_BASEDIR, __FILE__ is a path relative to
// the build folder, and the tests found no node_modules and skipped themselves.
const fs::path kHere = fs::path(BATON_SOURCE_DIR) / "tests" / "federation";
const fs::path kScript = kHere / "verify_with_npm.mjs";

struct ProcessResult {
  int exit_code = -1;
  std::string output;
};

ProcessResult run(const std::string& command) {
  ProcessResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

// Why the interop tests cannot run here, or "" when they can.
std::string missing_prerequisite() {
  if (run("node --version").exit_code != 0) return "node is not installed (not on PATH)";
  if (!fs::exists(kHere / "node_modules" / "http-message-signatures" / "package.json")) {
    return "npm package http-message-signatures is not installed; run: npm ci --prefix " +
           kHere.string();
  }
  return "";
}

std::string json_string(std::string_view s) { return boost::json::serialize(boost::json::string(s)); }

std::string json_headers(const Fields& fields) {
  std::string out = "{";
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ", ";
    out += json_string(fields[i].first) + ": " + json_string(fields[i].second);
  }
  return out + "}";
}

// {"<key id>": "ed25519:...", ...}
std::string json_keys(std::initializer_list<const KeyPair*> pairs) {
  std::string out = "{";
  for (const KeyPair* pair : pairs) {
    if (out.size() > 1) out += ", ";
    out += json_string(key_id(pair->public_key)) + ": " + json_string(format_public_key(pair->public_key));
  }
  return out + "}";
}

std::string url_of(const RequestMessage& m) {
  std::string query = m.query;
  if (!query.empty() && query.front() != '?') query = "?" + query;
  return "https://" + m.authority + m.path + query;
}

std::string json_request(const RequestMessage& m) {
  return "{\"method\": " + json_string(m.method) + ", \"url\": " + json_string(url_of(m)) +
         ", \"headers\": " + json_headers(m.headers) + ", \"body\": " + json_string(m.body) + "}";
}

std::string json_response(const ResponseMessage& m) {
  return "{\"status\": " + std::to_string(m.status) + ", \"headers\": " + json_headers(m.headers) +
         ", \"body\": " + json_string(m.body) + "}";
}

// A file under the temp folder, removed afterwards.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    std::string pattern = (fs::temp_directory_path() / "baton-npm-XXXXXX").string();
    int fd = ::mkstemp(pattern.data());
    ::close(fd);
    path_ = pattern;
    std::ofstream(path_) << content;
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Parses the script's "name: value" lines into fields.
Fields parse_lines(const std::string& output) {
  Fields fields;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(": ");
    if (colon != std::string::npos) fields.emplace_back(line.substr(0, colon), line.substr(colon + 2));
  }
  return fields;
}

class NpmInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = missing_prerequisite();
    // scripts/install-deps (run by `make test`) installs both: a missing one is a
    // broken set-up, not a reason to pass without checking.
    if (!why.empty()) FAIL() << "the npm interop check cannot run: " << why;
  }

  core::SystemClock clock;
  test_support::CountingRandom random;
  KeyPair acme = generate_key_pair();
  KeyPair northwind = generate_key_pair();
  OutgoingRequest request{"POST",
                          "northwind.example:8443",
                          "/federation/v1/transfers/t-42/context",
                          "attempt=2&lang=en",
                          "application/json",
                          R"({"transfer_id":"t-42","note":"caller \"urgent\", café ☕","hops":1})"};
};

TEST_F(NpmInterop, NpmVerifiesRequestWeSigned) {
  Signer signer(acme, clock, random);
  auto headers = signer.sign_request(request);
  ASSERT_TRUE(headers.ok()) << headers.error().message;
  TempFile file("{\"request\": " + json_request(signed_message(request, *headers)) +
                ", \"keys\": " + json_keys({&acme}) + "}");
  ProcessResult result = run("node " + quoted(kScript) + " " + quoted(file.path()));
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST_F(NpmInterop, NpmRefusesRequestWeSignedThenChanged) {
  Signer signer(acme, clock, random);
  auto headers = signer.sign_request(request);
  ASSERT_TRUE(headers.ok());
  RequestMessage changed = signed_message(request, *headers);
  changed.path = "/federation/v1/transfers/t-43/context";
  TempFile file("{\"request\": " + json_request(changed) +
                ", \"keys\": " + json_keys({&acme}) + "}");
  ProcessResult result = run("node " + quoted(kScript) + " " + quoted(file.path()));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("request: signature does not verify"), std::string::npos)
      << result.output;
}

TEST_F(NpmInterop, NpmVerifiesResponseWeSignedBoundToTheRequest) {
  Signer client(acme, clock, random);
  Signer server(northwind, clock, random);
  auto request_headers = client.sign_request(request);
  ASSERT_TRUE(request_headers.ok());
  RequestMessage sent = signed_message(request, *request_headers);
  OutgoingResponse answer{201, "application/json", R"({"join_code":"j","join_address":"https://x/join"})"};
  auto response_headers = server.sign_response(answer, sent);
  ASSERT_TRUE(response_headers.ok()) << response_headers.error().message;
  TempFile file("{\"request\": " + json_request(sent) +
                ", \"response\": " + json_response(signed_message(answer, *response_headers)) +
                ", \"keys\": " + json_keys({&acme, &northwind}) + "}");
  ProcessResult result = run("node " + quoted(kScript) + " " + quoted(file.path()));
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST_F(NpmInterop, WeVerifyRequestNpmSigned) {
  const std::string keyid = key_id(acme.public_key);
  RequestMessage unsigned_request{request.method, request.authority, request.path, request.query,
                                  {{"Content-Type", request.content_type}}, request.body};
  TempFile file("{\"request\": " + json_request(unsigned_request) +
                ", \"seed\": " + json_string(base64_encode(acme.secret_key.seed())) +
                ", \"keyid\": " + json_string(keyid) + "}");
  ProcessResult result = run("node " + quoted(kScript) + " --sign " + quoted(file.path()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  Fields produced = parse_lines(result.output);
  ASSERT_EQ(produced.size(), 3u) << result.output;

  RequestMessage received = unsigned_request;
  for (auto& field : produced) received.headers.push_back(field);
  VerifierOptions options;
  options.keys.emplace(keyid, PinnedKey{acme.public_key, "acme"});
  Verifier verifier(options, clock);
  auto verdict = verifier.verify_request(received);
  ASSERT_TRUE(verdict.ok()) << verdict.error().message << "\n" << result.output;
  EXPECT_EQ(verdict->peer, "acme");

  // And our refusals hold for npm's signatures too.
  auto replay = verifier.verify_request(received);
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(refusal_of(replay.error()), Refusal::nonce_replayed);
  received.body += " ";
  auto changed = verifier.verify_request(received);
  ASSERT_FALSE(changed.ok());
  EXPECT_EQ(refusal_of(changed.error()), Refusal::content_digest_mismatch);
}

TEST_F(NpmInterop, WeVerifyResponseNpmSignedBoundToOurRequest) {
  Signer client(acme, clock, random);
  auto request_headers = client.sign_request(request);
  ASSERT_TRUE(request_headers.ok());
  RequestMessage sent = signed_message(request, *request_headers);
  ResponseMessage unsigned_response{200, {{"Content-Type", "application/json"}}, R"({"ok":true})"};
  TempFile file("{\"request\": " + json_request(sent) +
                ", \"response\": " + json_response(unsigned_response) +
                ", \"seed\": " + json_string(base64_encode(northwind.secret_key.seed())) +
                ", \"keyid\": " + json_string(key_id(northwind.public_key)) + "}");
  ProcessResult result = run("node " + quoted(kScript) + " --sign-response " + quoted(file.path()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  ResponseMessage received = unsigned_response;
  for (auto& field : parse_lines(result.output)) received.headers.push_back(field);

  VerifierOptions options;
  options.keys.emplace(key_id(northwind.public_key), PinnedKey{northwind.public_key, "northwind"});
  Verifier verifier(options, clock);
  auto verdict = verifier.verify_response(received, sent);
  ASSERT_TRUE(verdict.ok()) << verdict.error().message << "\n" << result.output;
  EXPECT_EQ(verdict->peer, "northwind");
}

}  // namespace
}  // namespace baton::federation
