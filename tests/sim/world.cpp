#include "sim/world.hpp"

#include <boost/asio/post.hpp>

namespace baton::sim {

std::uint64_t Rng::next() {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::int64_t Rng::between(std::int64_t lo, std::int64_t hi) {
  if (hi <= lo) return lo;
  return lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo + 1));
}

bool Rng::chance(double p) { return p > 0 && static_cast<double>(next() >> 11) / 9007199254740992.0 < p; }

void World::at(core::Millis when, std::function<void()> fn) {
  events_.emplace(std::make_pair(std::max(when, now_), seq_++), std::move(fn));
}

bool World::step(core::Millis until) {
  if (events_.empty() || events_.begin()->first.first > until) return false;
  auto node = events_.extract(events_.begin());
  now_ = node.key().first;
  node.mapped()();
  if (settle) settle();
  return true;
}

void SimRandom::fill(void* out, std::size_t n) {
  auto* p = static_cast<unsigned char*>(out);
  while (n > 0) {
    std::uint64_t v = rng_.next();
    for (int i = 0; i < 8 && n > 0; ++i, --n) {
      *p++ = static_cast<unsigned char>(v);
      v >>= 8;
    }
  }
}

namespace {

class SimTimer final : public api::Timer {
 public:
  SimTimer(World& world, const SimClock& clock, boost::asio::any_io_executor executor)
      : world_(world), clock_(clock), executor_(std::move(executor)) {}
  ~SimTimer() override { cancel(); }

  void wait_until(core::Millis at, std::function<void()> fn) override {
    // The world's queue holds only a weak reference: a timer gone with its crashed
    // server must leave nothing behind that names its io_context.
    wait_ = std::make_shared<Wait>(Wait{executor_, std::move(fn)});
    world_.at(at - clock_.skew(), [weak = std::weak_ptr<Wait>(wait_)] {
      if (auto w = weak.lock()) boost::asio::post(w->executor, w->fn);
    });
  }
  void cancel() override { wait_.reset(); }

 private:
  struct Wait {
    boost::asio::any_io_executor executor;
    std::function<void()> fn;
  };
  World& world_;
  const SimClock& clock_;
  boost::asio::any_io_executor executor_;
  std::shared_ptr<Wait> wait_;
};

}  // namespace

std::unique_ptr<api::Timer> SimTimers::make(boost::asio::any_io_executor executor) {
  return std::make_unique<SimTimer>(world_, clock_, std::move(executor));
}

// ---- the network ----------------------------------------------------------------

void Network::post(Org& from, const std::string& base_url, const std::string& path, std::string body,
                   federation::PeerLink::Done done) {
  Org* to = nullptr;
  for (Org* o : orgs_)
    if (o->settings.public_url == base_url) to = o;
  // Exactly once, as PeerClient: the answer, or no answer once the client gives up.
  auto once = std::make_shared<bool>(false);
  auto shared_done = std::make_shared<federation::PeerLink::Done>(
      [once, done = std::move(done)](core::Result<federation::PeerReply> r) {
        if (*once) return;
        *once = true;
        done(std::move(r));
      });
  world_.after(kNoAnswerMs + faults_.max_delay * 2 + 10, [&from, incarnation = from.incarnation(), shared_done] {
    if (from.incarnation() == incarnation) (*shared_done)(core::Error{core::Errc::unavailable, "timed out"});
  });
  int incarnation = from.incarnation();
  auto fail_later = [this, &from, incarnation, shared_done](std::string why) {
    world_.after(kNoAnswerMs, [&from, incarnation, shared_done, why] {
      if (from.incarnation() == incarnation) (*shared_done)(core::Error{core::Errc::unavailable, why});
    });
  };
  bool faulty = faults_.on;
  if (trace) trace(from.settings.organization + " -> " + path);
  if (!to || (faulty && world_.rng.chance(faults_.lose_request))) {
    if (trace) trace("  lost: " + path);
    return fail_later("the request was lost");
  }
  bool answer_lost = faulty && world_.rng.chance(faults_.lose_answer);
  core::Millis delay = world_.rng.between(1, faulty ? faults_.max_delay : 5);
  world_.after(delay, [this, &from, incarnation, to, path, body, shared_done, answer_lost] {
    deliver(from, incarnation, *to, path, body, shared_done, answer_lost);
  });
  if (faulty && world_.rng.chance(faults_.duplicate)) {
    // The same bytes again (the client's retry of an answer it never saw): its answer goes nowhere.
    auto nobody = std::make_shared<federation::PeerLink::Done>([](core::Result<federation::PeerReply>) {});
    world_.after(world_.rng.between(1, faults_.max_delay * 3),
                 [this, &from, incarnation, to, path, body, nobody] { deliver(from, incarnation, *to, path, body, nobody, true); });
  }
}

void Network::deliver(Org& from, int incarnation, Org& to, const std::string& path, std::string body,
                      std::shared_ptr<federation::PeerLink::Done> done, bool answer_lost) {
  auto no_answer = [this, &from, incarnation, done](const std::string& why) {
    world_.after(kNoAnswerMs, [&from, incarnation, done, why] {
      if (from.incarnation() == incarnation) (*done)(core::Error{core::Errc::unavailable, why});
    });
  };
  if (!to.up()) return no_answer("connection refused");
  // /federation/v1/offers or /federation/v1/transfers/{id}/{action}
  std::string action = "offer", id;
  const std::string prefix = "/federation/v1/transfers/";
  if (path.rfind(prefix, 0) == 0) {
    std::string rest = path.substr(prefix.size());
    auto slash = rest.find('/');
    id = rest.substr(0, slash);
    action = rest.substr(slash + 1);
  }
  // The receiver knows the sender by its own configured name for it (the key's owner).
  std::string sender;
  for (const auto& p : to.settings.federation.peers)
    if (p.base_url == from.settings.public_url) sender = p.name;
  int to_incarnation = to.incarnation();
  to.hub().on_federation(sender, action, id, std::move(body),
                         [this, &from, &to, to_incarnation, incarnation, done, answer_lost, no_answer](api::Hub::FedReply r) {
                           // The receiver crashed before answering: the answer never left.
                           if (trace) trace("  " + to.settings.organization + " answers " + std::to_string(r.status) + " " + r.body.substr(0, 160) + (answer_lost ? " (lost)" : ""));
                           if (to.incarnation() != to_incarnation || answer_lost) return no_answer("no answer");
                           core::Millis delay = world_.rng.between(1, faults_.on ? faults_.max_delay : 5);
                           world_.after(delay, [&from, incarnation, done, r = std::move(r)] {
                             if (from.incarnation() == incarnation) (*done)(federation::PeerReply{r.status, r.body});
                           });
                         });
}

// ---- an organization ----------------------------------------------------------------

class Org::Link final : public federation::PeerLink {
 public:
  Link(Network& net, Org& self) : net_(net), self_(self) {}
  void post(const federation::PeerEndpoint& peer, std::string path, std::string body, Done done) override {
    net_.post(self_, peer.base_url, path, std::move(body), std::move(done));
  }

 private:
  Network& net_;
  Org& self_;
};

Org::Org(World& world, Network& net, std::string public_url, core::Millis skew, std::uint64_t seed)
    : clock(world, skew), random_(seed), timers_(world, clock),
      link_(std::make_unique<Link>(net, *this)) {
  settings.public_url = std::move(public_url);
  net.add(*this);
}

void Org::start() {
  ++incarnation_;
  io_ = std::make_unique<boost::asio::io_context>(1);
  hub_ = std::make_unique<api::Hub>(io_->get_executor(), store, clock, random_, io_->get_executor(), timers_, settings);
  if (auto st = hub_->load(); !st) throw std::runtime_error("load: " + st.error().message);
  hub_->enable_federation(*link_);
}

void Org::crash() {
  if (!hub_) return;
  ++incarnation_;
  hub_.reset();
  store.crash();
  io_.reset();
}

std::size_t Org::poll() {
  if (!io_) return 0;
  io_->restart();
  return io_->poll();
}

}  // namespace baton::sim
