// The simulated world of the transfer simulation (docs/federation.md §14): one
// thread, one clock, one queue of events, all randomness from one seed. Two
// organizations run the real api::Hub on it, each on an io_context of its own
// that the world drains after every event, with an injected clock (the world's
// time plus a skew), timers, randomness, store (MemoryStore) and network
// (Link), so that a seed replays exactly.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "baton/api/hub.hpp"
#include "baton/api/settings.hpp"
#include "baton/api/timers.hpp"
#include "baton/federation/peer_client.hpp"
#include "sim/memory_store.hpp"

namespace baton::sim {

// splitmix64: small, fast, and the same on every machine.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  // Uniform in [lo, hi].
  std::int64_t between(std::int64_t lo, std::int64_t hi);
  bool chance(double p);

 private:
  std::uint64_t state_;
};

class World {
 public:
  explicit World(std::uint64_t seed) : rng(seed) {}
  core::Millis now() const { return now_; }
  // Runs `fn` at `when` (now, if that has passed), after what is due before it.
  void at(core::Millis when, std::function<void()> fn);
  void after(core::Millis delay, std::function<void()> fn) { at(now_ + delay, std::move(fn)); }
  // Runs the next event if it is due by `until`, then `settle`; false when none is.
  bool step(core::Millis until);
  // Run after every event: the organizations drain their io_contexts.
  std::function<void()> settle;
  Rng rng;

 private:
  core::Millis now_ = 1'800'000'000'000;
  std::uint64_t seq_ = 0;
  std::map<std::pair<core::Millis, std::uint64_t>, std::function<void()>> events_;
};

class SimClock final : public core::Clock {
 public:
  SimClock(const World& world, core::Millis skew) : world_(world), skew_(skew) {}
  core::Millis now() const override { return world_.now() + skew_; }
  core::Millis skew() const { return skew_; }

 private:
  const World& world_;
  core::Millis skew_;
};

class SimRandom final : public core::Random {
 public:
  explicit SimRandom(std::uint64_t seed) : rng_(seed) {}
  void fill(void* out, std::size_t n) override;

 private:
  Rng rng_;
};

// Timers on the world's queue: a wait for a time on `clock` fires at the world time
// it corresponds to, posting its callback to the timer's executor.
class SimTimers final : public api::Timers {
 public:
  SimTimers(World& world, const SimClock& clock) : world_(world), clock_(clock) {}
  std::unique_ptr<api::Timer> make(boost::asio::any_io_executor executor) override;

 private:
  World& world_;
  const SimClock& clock_;
};

// What the network does to requests between the two servers while faults are on.
struct Faults {
  bool on = false;
  double lose_request = 0;
  double lose_answer = 0;
  double duplicate = 0;
  core::Millis max_delay = 20;  // each way; reordering comes from the spread
  double fail_write = 0;        // the store fails a write (a full disk)
};

class Org;

// The two organizations and the wire between them.
class Network {
 public:
  Network(World& world, Faults& faults) : world_(world), faults_(faults) {}
  void add(Org& org) { orgs_.push_back(&org); }
  // Carries `path` with `body` from `from` to the organization at `base_url`.
  void post(Org& from, const std::string& base_url, const std::string& path, std::string body,
            federation::PeerLink::Done done);
  // How long a request that gets no answer takes to fail (the client's attempts).
  static constexpr core::Millis kNoAnswerMs = 3 * 2'000;
  // Told of every request and answer, for the trace of a replayed seed.
  std::function<void(const std::string&)> trace;

 private:
  void deliver(Org& from, int incarnation, Org& to, const std::string& path, std::string body,
               std::shared_ptr<federation::PeerLink::Done> done, bool answer_lost);
  World& world_;
  Faults& faults_;
  std::vector<Org*> orgs_;
};

// One organization: its configuration and its disk outlive a crash; the hub, its
// io_context and its timers do not.
class Org {
 public:
  Org(World& world, Network& net, std::string public_url, core::Millis skew, std::uint64_t seed);
  // Builds the hub from what the store holds, as `baton serve` does at start.
  void start();
  // SIGKILL: what is not committed is lost, and every callback with it.
  void crash();
  bool up() const { return hub_ != nullptr; }
  int incarnation() const { return incarnation_; }
  // Runs the handlers that are ready; how many ran.
  std::size_t poll();
  api::Hub& hub() { return *hub_; }

  api::Settings settings;
  MemoryStore store;
  SimClock clock;

 private:
  class Link;
  SimRandom random_;
  SimTimers timers_;
  std::unique_ptr<federation::PeerLink> link_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<api::Hub> hub_;
  int incarnation_ = 0;
};

}  // namespace baton::sim
