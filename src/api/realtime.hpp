// The realtime protocol: one WebSocket client (a visitor's chat page or an
// agent's console) speaking JSON events. See docs/api.md, "Realtime events".
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "baton/api/hub.hpp"
#include "baton/http/message.hpp"

namespace baton::api {

// Resolves an agent's token (from "hello", or the upgrade request's cookie when
// "hello" has none) to an actor. `connection` is the socket saying hello: signing
// that session out later closes it.
using AgentAuthenticator = std::function<void(std::string token, std::shared_ptr<http::WsConnection> connection,
                                              Hub::Callback<Actor> done)>;

class RealtimeClient final : public http::WsHandler,
                             public Subscriber,
                             public std::enable_shared_from_this<RealtimeClient> {
 public:
  RealtimeClient(Hub& hub, AgentAuthenticator authenticate);

  void on_open(std::shared_ptr<http::WsConnection> connection) override;
  void on_text(std::string_view text) override;
  void on_close() override;

  void deliver(const std::string& conversation_id, std::int64_t seq,
               std::shared_ptr<const std::string> payload) override;
  void backfill(const std::string& conversation_id, Batch events, bool last) override;

 private:
  enum class Phase { fresh, authenticating, ready, closed };
  struct Stream {
    std::int64_t sent = 0;       // highest seq sent
    bool backfilling = false;
    Batch held;                  // live events held back while backfilling
  };

  void send(std::shared_ptr<const std::string> payload);
  void send_error(core::Errc code, std::string_view message, const std::string& type,
                  const std::string& client_id = {}, const std::string& conversation = {});
  void start_session(Actor actor, const std::string& conversation, std::int64_t last_seq);
  void subscribe(const Actor& actor, const std::string& conversation, std::int64_t after_seq);
  void set_phase(Phase phase);
  void send_in_order(Stream& s, std::int64_t seq, const std::shared_ptr<const std::string>& payload);

  Hub& hub_;
  AgentAuthenticator authenticate_;
  std::shared_ptr<http::WsConnection> conn_;

  // Touched from the connection's strand, the hub's strand and the blocking pool.
  std::mutex mu_;
  Phase phase_ = Phase::fresh;
  std::optional<Actor> actor_;
  std::map<std::string, Stream> streams_;
  int inflight_ = 0;
  bool closed_ = false;
};

}  // namespace baton::api
